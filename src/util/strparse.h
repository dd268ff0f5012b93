/* Strict number parsing for untrusted text: the whole string must be the
 * number, with no sign surprises, no trailing junk and no overflow. */
#ifndef GPULSE_UTIL_STRPARSE_H
#define GPULSE_UTIL_STRPARSE_H

#include <stdint.h>

#include "common.h"

/* Parses a decimal unsigned integer in [0, max]. Returns 0, -EINVAL for text
 * that is not such a number, or -ERANGE when it exceeds max. */
GP_NODISCARD int strparse_u64(const char *s, uint64_t max, uint64_t *out);

/* Parses a finite decimal number (e.g. "0.5", "2") in [min, max]. Returns 0,
 * -EINVAL or -ERANGE as strparse_u64. */
GP_NODISCARD int strparse_double(const char *s, double min, double max, double *out);

/* Parses a duration: a number with an optional unit "ms", "s", "m", "h",
 * "d", "w" or "y" (365 days; seconds when none), into milliseconds in
 * [min_ms, max_ms]. Returns 0, -EINVAL or -ERANGE. */
GP_NODISCARD int strparse_duration_ms(const char *s, uint64_t min_ms, uint64_t max_ms,
                                      uint64_t *out_ms);

#endif
