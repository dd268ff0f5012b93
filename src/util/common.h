/* Project-wide attribute macros and the error record every fallible function fills. */
#ifndef GPULSE_UTIL_COMMON_H
#define GPULSE_UTIL_COMMON_H

#include <stddef.h>

#define GP_NODISCARD         __attribute__((warn_unused_result))
#define GP_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define GP_UNUSED            __attribute__((unused))
#define GP_ARRAY_LEN(a)      (sizeof(a) / sizeof((a)[0]))
#define GP_FALLTHROUGH       __attribute__((fallthrough)) /* a deliberate case fall-through */

/* Exit codes of the gpulse binary. */
enum gp_exit {
    GP_EXIT_OK = 0,
    GP_EXIT_FAILURE = 1, /* runtime failure: no NVML, no GPU, I/O error */
    GP_EXIT_USAGE = 2,   /* bad command line or configuration */
};

/* The human-readable cause of a failure, filled by the function that failed.
 * `code` is the negative value the function returned. */
struct gp_err {
    int code;
    char msg[512];
};

/* Records a failure: formats the message into err (which may be NULL) and
 * returns code, so callers can write `return gp_err_set(err, -EINVAL, ...)`. */
int gp_err_set(struct gp_err *err, int code, const char *fmt, ...) GP_PRINTF(3, 4);

#endif
