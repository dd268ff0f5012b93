/* Reading small files (procfs, fixtures) into memory with a size cap. */
#ifndef GPULSE_UTIL_FILEIO_H
#define GPULSE_UTIL_FILEIO_H

#include <stddef.h>

#include "common.h"

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

#endif
