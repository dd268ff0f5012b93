/* Reading small files (procfs, fixtures) into memory with a size cap. */
#ifndef GPULSE_UTIL_FILEIO_H
#define GPULSE_UTIL_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common.h"

/* The mode of the files gpulse makes for itself (the database, its WAL and
 * shared-memory files, the lock): they hold every user's command lines, so
 * the owner writes, the group (database_group) reads, others nothing. */
#define FILEIO_PRIVATE_MODE 0640

/* Reads the whole file at path into out, which has room for max_len + 1
 * bytes (the content is NUL-terminated; it may
 * itself hold NULs, as /proc/PID/cmdline does), at most max_len bytes: a
 * longer file is cut at max_len and *truncated is set. Returns the number of
 * bytes read, or -errno (-ENOENT, -EACCES...) when it cannot be opened/read. */
GP_NODISCARD long fileio_read_capped(const char *path, char *out, size_t max_len, int *truncated);

/* As fileio_read_capped(), for name relative to the directory open at
 * dir_fd (AT_FDCWD: the working directory), as openat(2) resolves it: a
 * process's /proc files read through its /proc/PID descriptor are that
 * process's, never those of a later one given the same PID. */
GP_NODISCARD long fileio_read_capped_at(int dir_fd, const char *name, char *out, size_t max_len,
                                        int *truncated);

/* Resolves a group name or number (database_group) into *gid_out; NULL or
 * "" is none ((gid_t)-1: files keep the process's group). Returns 0, or
 * -ENOENT with err naming the group when the host has no such group. */
GP_NODISCARD int fileio_group_lookup(const char *group, gid_t *gid_out, struct gp_err *err);

/* Refuses what must not stand at path, by lstat: a symbolic link (-ELOOP),
 * anything but a regular file (-EINVAL) or a file with more than one hard
 * link (-EMLINK), with err naming what ("lock file") and path. A missing
 * path is fine (0). */
GP_NODISCARD int fileio_check_regular(const char *path, const char *what, struct gp_err *err);

/* Opens path read-write (O_CLOEXEC), creating it when missing with mode
 * FILEIO_PRIVATE_MODE whatever the umask and with group gid ((gid_t)-1:
 * the process's); an existing file keeps its mode and group. Never follows
 * a symbolic link at path (O_NOFOLLOW) and refuses anything but a regular
 * file with one name (fileio_check_regular's errors), so a link planted
 * there leaves its target untouched. Returns 0
 * with the descriptor in *fd_out (the caller closes it) and *created
 * (may be NULL) set, or a negative errno with err naming what and path. */
GP_NODISCARD int fileio_open_private(const char *path, const char *what, gid_t gid, int *fd_out,
                                     bool *created, struct gp_err *err);

#endif
