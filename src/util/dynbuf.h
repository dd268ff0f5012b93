/* A growable byte buffer with a cap set at init: anything built from
 * outside input (an HTTP response made of host strings, a rendered page)
 * grows only up to its cap, and overflow is an error rather than an OOM.
 *
 * The error is sticky (SQLite's accError is the model): once an append
 * fails, the buffer keeps what it had and every later append does nothing
 * and returns the same error. Output code appends in straight lines and
 * checks dynbuf_error() once at the end. */
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
    int error;      /* the first failed append's code; 0 while none failed */
};

/* Prepares an empty buffer that may hold up to max_len bytes. */
void dynbuf_init(struct dynbuf *b, size_t max_len);

/* Frees the buffer's memory and empties it. */
void dynbuf_fini(struct dynbuf *b);

/* Empties the buffer, keeping its memory, and clears its error. */
void dynbuf_reset(struct dynbuf *b);

/* Appends n bytes. Returns 0, or -E2BIG (and leaves the buffer as it was)
 * when that would pass the cap, or the buffer's earlier error. A failure
 * is kept in the buffer (dynbuf_error), so callers may ignore the return. */
int dynbuf_add(struct dynbuf *b, const void *data, size_t n);

/* Appends a NUL-terminated string; as dynbuf_add. */
int dynbuf_adds(struct dynbuf *b, const char *s);

/* Appends formatted text; as dynbuf_add. */
int dynbuf_printf(struct dynbuf *b, const char *fmt, ...) GP_PRINTF(2, 3);

/* The first append that failed since init or reset: 0, -E2BIG (past the
 * cap) or -EINVAL (a format error). */
GP_NODISCARD int dynbuf_error(const struct dynbuf *b);

/* Hands the contents over ("" when empty) and empties the buffer; the caller
 * frees the result with free(). *len_out (may be NULL) gets the length. */
char *dynbuf_take(struct dynbuf *b, size_t *len_out);

#endif
