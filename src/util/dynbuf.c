#include "util/dynbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

void dynbuf_init(struct dynbuf *b, size_t max_len)
{
    *b = (struct dynbuf){ .max_len = max_len };
}

void dynbuf_fini(struct dynbuf *b)
{
    free(b->data);
    *b = (struct dynbuf){ .max_len = b->max_len };
}

void dynbuf_reset(struct dynbuf *b)
{
    b->len = 0;
    b->error = 0;
    if (b->data) {
        b->data[0] = '\0';
    }
}

/* Makes room for n more bytes and the terminator; on failure the error
 * sticks to the buffer. */
static int reserve(struct dynbuf *b, size_t n)
{
    if (b->error) {
        return b->error;
    }
    if (n > b->max_len || b->len > b->max_len - n) {
        b->error = -E2BIG;
        return b->error;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap *= 2;
    }
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
    return 0;
}

int dynbuf_add(struct dynbuf *b, const void *data, size_t n)
{
    int rc = reserve(b, n);
    if (rc) {
        return rc;
    }
    if (n) {
        memcpy(b->data + b->len, data, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int dynbuf_adds(struct dynbuf *b, const char *s)
{
    return dynbuf_add(b, s, strlen(s));
}

int dynbuf_printf(struct dynbuf *b, const char *fmt, ...)
{
    if (b->error) {
        return b->error;
    }
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->error = -EINVAL;
        return b->error;
    }
    if ((size_t)n < sizeof(small)) {
        return dynbuf_add(b, small, (size_t)n);
    }
    int rc = reserve(b, (size_t)n);
    if (rc) {
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int dynbuf_error(const struct dynbuf *b)
{
    return b->error;
}

char *dynbuf_take(struct dynbuf *b, size_t *len_out)
{
    char *out = b->data ? b->data : xstrdup("");
    if (len_out) {
        *len_out = b->len;
    }
    *b = (struct dynbuf){ .max_len = b->max_len };
    return out;
}
