/* gzip (RFC 1952) compression of a buffer in one call, for HTTP responses
 * that are made once and sent many times. */
#ifndef GPULSE_UTIL_GZIP_H
#define GPULSE_UTIL_GZIP_H

#include <stddef.h>

#include "util/common.h"

/* Compresses len bytes at in into a new buffer (*out, *out_len; the caller
 * frees it). Returns 0, or -EIO when zlib fails. */
GP_NODISCARD int gzip_compress(const void *in, size_t len, char **out, size_t *out_len);

#endif
