/* A growable byte buffer with a hard cap set at init. Anything fed by outside
 * input grows through one of these, so a hostile or broken input is an
 * error (-E2BIG), never an unbounded allocation. The content is always
 * NUL-terminated. */
#ifndef GPULSE_UTIL_DYNBUF_H
#define GPULSE_UTIL_DYNBUF_H

#include <stddef.h>

#include "common.h"

struct dynbuf {
    char *data;     /* NUL-terminated content, NULL until the first add */
    size_t len;     /* bytes of content, excluding the NUL */
    size_t alloc;   /* bytes allocated */
    size_t max_len; /* content may never exceed this many bytes */
};

/* Prepares an empty buffer that may hold up to max_len bytes. */
void dynbuf_init(struct dynbuf *b, size_t max_len);

/* Releases the memory; the buffer is empty and usable again. */
void dynbuf_fini(struct dynbuf *b);

/* Empties the content, keeping the allocation. */
void dynbuf_reset(struct dynbuf *b);

/* Appends n bytes. Returns 0, or -E2BIG if the cap would be passed (the
 * content is then unchanged). */
GP_NODISCARD int dynbuf_add(struct dynbuf *b, const void *data, size_t n);

/* Appends a formatted string; returns 0 or -E2BIG as dynbuf_add. */
GP_NODISCARD int dynbuf_printf(struct dynbuf *b, const char *fmt, ...) GP_PRINTF(2, 3);

/* The content, "" when empty; valid until the next change. */
const char *dynbuf_str(const struct dynbuf *b);

/* Hands the content over and leaves the buffer empty. Caller frees with free(). */
char *dynbuf_take(struct dynbuf *b);

#endif
