/* Parsing the times people type on the command line: ISO 8601
 * ("2026-11-02", "2026-11-02T14:00", "...Z", "...+02:00"), Unix epoch
 * seconds ("1793577600"), relative to now ("-24h", "-7d", "now"). */
#ifndef GPULSE_UTIL_TIMEPARSE_H
#define GPULSE_UTIL_TIMEPARSE_H

#include <stdint.h>

#include "util/common.h"

/* Parses text into Unix epoch milliseconds. now_ms anchors relative forms;
 * ISO times without a zone are read in the local time zone (TZ); an offset
 * must lie in -12:00..+14:00 with minutes 0..59. Returns 0,
 * or -EINVAL for text that is none of the forms above. */
GP_NODISCARD int timeparse_ms(const char *text, int64_t now_ms, int64_t *out_ms);

#endif
