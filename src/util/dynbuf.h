/* A growable byte buffer with a cap set at init: anything built from
 * outside input (an HTTP response made of host strings, a rendered page)
 * grows only up to its cap, and overflow is an error rather than an OOM. */
#ifndef GPULSE_UTIL_DYNBUF_H
#define GPULSE_UTIL_DYNBUF_H

#include <stdarg.h>
#include <stddef.h>

#include "util/common.h"

struct dynbuf {
    char *data; /* NUL-terminated; NULL until something is added */
    size_t len;
    size_t cap;     /* allocated */
    size_t max_len; /* the cap: adding past it fails with -E2BIG */
};

/* Prepares an empty buffer that may hold up to max_len bytes. */
void dynbuf_init(struct dynbuf *b, size_t max_len);

/* Frees the buffer's memory and empties it. */
void dynbuf_fini(struct dynbuf *b);

/* Empties the buffer, keeping its memory. */
void dynbuf_reset(struct dynbuf *b);

/* Appends n bytes. Returns 0, or -E2BIG (and leaves the buffer as it was)
 * when that would pass the cap. */
GP_NODISCARD int dynbuf_add(struct dynbuf *b, const void *data, size_t n);

/* Appends a NUL-terminated string; as dynbuf_add. */
GP_NODISCARD int dynbuf_adds(struct dynbuf *b, const char *s);

/* Appends formatted text; as dynbuf_add. */
GP_NODISCARD int dynbuf_printf(struct dynbuf *b, const char *fmt, ...) GP_PRINTF(2, 3);

/* Hands the contents over ("" when empty) and empties the buffer; the caller
 * frees the result with free(). *len_out (may be NULL) gets the length. */
char *dynbuf_take(struct dynbuf *b, size_t *len_out);

#endif
