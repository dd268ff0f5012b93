#include "agent/lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "util/fileio.h"
#include "util/log.h"

int agent_lock_take(const struct config *cfg, int *fd_out, struct gp_err *err)
{
    const char *database = cfg->database;
    char path[600];
    snprintf(path, sizeof(path), "%s.lock", database);
    gid_t gid = (gid_t)-1;
    int fd = -1;
    int rc = fileio_group_lookup(cfg->database_group, &gid, err);
    if (rc == 0) {
        rc = fileio_open_private(path, "lock file", gid, &fd, NULL, err);
    }
    if (rc) {
        return rc;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        return gp_err_set(err, -EBUSY,
                          "database '%s' is in use by another gpulse agent (pid %s); only one "
                          "agent may write it",
                          database, pid[0] ? pid : "unknown");
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        log_warn("agent", "cannot record our PID in '%s': %s", path, strerror(errno));
    }
    *fd_out = fd;
    return 0;
}

/* The mark, one line: "clean-stop DEV INO SIZE MTIME_S MTIME_NS". */
#define MARK_PREFIX "clean-stop "

/* The database's mark as text, into buf; false when it has none to give. */
static bool describe(const char *database, char *buf, size_t size)
{
    char wal[600];
    snprintf(wal, sizeof(wal), "%s-wal", database);
    struct stat st;
    if (lstat(wal, &st) == 0 && st.st_size > 0) {
        return false; /* not checkpointed: the WAL would be replayed */
    }
    if (lstat(database, &st) != 0 || !S_ISREG(st.st_mode)) {
        return false;
    }
    int n = snprintf(buf, size, MARK_PREFIX "%" PRIu64 " %" PRIu64 " %" PRId64 " %" PRId64 " %ld\n",
                     (uint64_t)st.st_dev, (uint64_t)st.st_ino, (int64_t)st.st_size,
                     (int64_t)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
    return n > 0 && (size_t)n < size;
}

bool agent_lock_clean_stop_matches(const char *database)
{
    char path[600];
    snprintf(path, sizeof(path), "%s.lock", database);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    char mark[160] = "";
    struct stat st;
    ssize_t n =
        fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? pread(fd, mark, sizeof(mark) - 1, 0) : -1;
    close(fd);
    mark[n > 0 ? n : 0] = '\0';
    char now[160];
    bool same = strncmp(mark, MARK_PREFIX, strlen(MARK_PREFIX)) == 0 &&
                describe(database, now, sizeof(now)) && strcmp(mark, now) == 0;
    log_debug("store", "'%s': %s", database,
              same ? "as the last clean stop left it; its pages are not read again"
                   : "no clean stop matches it; every page is checked before writing");
    return same;
}

void agent_lock_note_clean_stop(int lock_fd, const char *database)
{
    char mark[160];
    if (lock_fd < 0 || !describe(database, mark, sizeof(mark))) {
        return;
    }
    size_t len = strlen(mark);
    if (ftruncate(lock_fd, 0) != 0 || pwrite(lock_fd, mark, len, 0) != (ssize_t)len) {
        log_debug("agent", "cannot leave the clean-stop mark for '%s': %s", database,
                  strerror(errno));
    }
}
