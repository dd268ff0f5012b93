/* Allocation wrappers for small internal allocations: they log and abort on
 * out-of-memory, so callers need no error path for a condition they cannot
 * handle anyway. Input-sized growth goes through dynbuf instead. */
#ifndef GPULSE_UTIL_XALLOC_H
#define GPULSE_UTIL_XALLOC_H

#include <stddef.h>

/* Each returns non-NULL or aborts. Caller frees with free(). */
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);

#endif
