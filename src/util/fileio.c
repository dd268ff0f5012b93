#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/strparse.h"

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

int fileio_group_lookup(const char *group, gid_t *gid_out, struct gp_err *err)
{
    *gid_out = (gid_t)-1;
    if (!group || !group[0]) {
        return 0;
    }
    uint64_t number = 0;
    if (strparse_u64(group, UINT32_MAX - 1, &number) == 0) {
        *gid_out = (gid_t)number;
        return 0;
    }
    struct group grp;
    struct group *found = NULL;
    char buf[16384];
    int rc = getgrnam_r(group, &grp, buf, sizeof(buf), &found);
    if (rc != 0 || !found) {
        return gp_err_set(err, -ENOENT, "database_group '%s': no such group on this host%s%s",
                          group, rc ? ": " : "", rc ? strerror(rc) : "");
    }
    *gid_out = found->gr_gid;
    return 0;
}

/* The refusal for what st describes at path, or 0 for a regular file. */
static int refuse_unless_regular(const struct stat *st, const char *path, const char *what,
                                 struct gp_err *err)
{
    if (S_ISLNK(st->st_mode)) {
        return gp_err_set(err, -ELOOP,
                          "refusing %s '%s': it is a symbolic link, which gpulse never follows "
                          "there (remove it)",
                          what, path);
    }
    if (!S_ISREG(st->st_mode)) {
        return gp_err_set(err, -EINVAL, "refusing %s '%s': it is not a regular file", what, path);
    }
    /* A second name for the file: a hard link planted at the lock would
     * have its target rewritten, and two agents could write one database
     * through two names (each locking its own name's lock). */
    if (st->st_nlink > 1) {
        return gp_err_set(err, -EMLINK,
                          "refusing %s '%s': it has %lu hard links; gpulse wants it under one "
                          "name (remove the other links)",
                          what, path, (unsigned long)st->st_nlink);
    }
    return 0;
}

int fileio_check_regular(const char *path, const char *what, struct gp_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        return errno == ENOENT ? 0
                               : gp_err_set(err, -errno, "cannot examine %s '%s': %s", what, path,
                                            strerror(errno));
    }
    return refuse_unless_regular(&st, path, what, err);
}

int fileio_open_private(const char *path, const char *what, gid_t gid, int *fd_out, bool *created,
                        struct gp_err *err)
{
    /* O_NONBLOCK: a FIFO planted there must not hang the open. */
    const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;
    bool made = true;
    int fd = open(path, flags | O_CREAT | O_EXCL, FILEIO_PRIVATE_MODE);
    if (fd < 0 && errno == EEXIST) {
        made = false;
        fd = open(path, flags);
    }
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP) {
            struct stat st = { .st_mode = S_IFLNK };
            return refuse_unless_regular(&st, path, what, err);
        }
        return gp_err_set(err, -e, "cannot open %s '%s': %s", what, path, strerror(e));
    }
    struct stat st;
    int rc = fstat(fd, &st) == 0 ? refuse_unless_regular(&st, path, what, err)
                                 : gp_err_set(err, -errno, "cannot examine %s '%s': %s", what, path,
                                              strerror(errno));
    /* The umask narrows the mode open() gave; the mode is the same on
     * every host. */
    if (rc == 0 && made && fchmod(fd, FILEIO_PRIVATE_MODE) != 0) {
        rc = gp_err_set(err, -errno, "cannot set the mode of %s '%s': %s", what, path,
                        strerror(errno));
    }
    if (rc == 0 && made && gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid) != 0) {
        rc = gp_err_set(err, -errno, "cannot give %s '%s' to group %lu (database_group): %s", what,
                        path, (unsigned long)gid, strerror(errno));
    }
    if (rc == 0) {
        /* Back to blocking: a regular file never waits anyway. */
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
            rc = gp_err_set(err, -errno, "cannot open %s '%s': %s", what, path, strerror(errno));
        }
    }
    if (rc != 0) {
        close(fd);
        if (made) {
            unlink(path);
        }
        return rc;
    }
    *fd_out = fd;
    if (created) {
        *created = made;
    }
    return 0;
}
