#include "dynbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void dynbuf_init(struct dynbuf *b, size_t max_len)
{
    *b = (struct dynbuf){ .max_len = max_len };
}

void dynbuf_fini(struct dynbuf *b)
{
    free(b->data);
    dynbuf_init(b, b->max_len);
}

void dynbuf_reset(struct dynbuf *b)
{
    b->len = 0;
    if (b->data) {
        b->data[0] = '\0';
    }
}

static int ensure_room(struct dynbuf *b, size_t extra)
{
    if (extra > b->max_len || b->len > b->max_len - extra) {
        return -E2BIG;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->alloc) {
        return 0;
    }
    size_t alloc = b->alloc ? b->alloc : 64;
    while (alloc < need) {
        alloc *= 2;
    }
    if (alloc > b->max_len + 1) {
        alloc = b->max_len + 1;
    }
    b->data = xrealloc(b->data, alloc);
    b->alloc = alloc;
    return 0;
}

int dynbuf_add(struct dynbuf *b, const void *data, size_t n)
{
    int rc = ensure_room(b, n);
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

int dynbuf_printf(struct dynbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return -EINVAL;
    }
    int rc = ensure_room(b, (size_t)n);
    if (rc) {
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

const char *dynbuf_str(const struct dynbuf *b)
{
    return b->data ? b->data : "";
}

char *dynbuf_take(struct dynbuf *b)
{
    char *p = b->data ? b->data : xstrdup("");
    dynbuf_init(b, b->max_len);
    return p;
}
