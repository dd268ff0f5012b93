#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

long fileio_read_capped(const char *path, char *out, size_t max_len, int *truncated)
{
    return fileio_read_capped_at(AT_FDCWD, path, out, max_len, truncated);
}

long fileio_read_capped_at(int dir_fd, const char *name, char *out, size_t max_len, int *truncated)
{
    if (truncated) {
        *truncated = 0;
    }
    int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    size_t len = 0;
    long rc = 0;
    while (len < max_len) {
        ssize_t n = read(fd, out + len, max_len - len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            rc = -errno;
            goto out;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    if (len == max_len && truncated) {
        char probe = 0;
        *truncated = read(fd, &probe, 1) > 0;
    }
    rc = (long)len;
out:
    out[len] = '\0';
    close(fd);
    return rc;
}
