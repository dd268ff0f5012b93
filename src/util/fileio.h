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

#endif
