/* Formatting shared by every resource's output: JSON values from host
 * text and times, CSV fields, human units for tables. */
#ifndef GPULSE_REPORT_FORMAT_H
#define GPULSE_REPORT_FORMAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/common.h"
#include "util/dynbuf.h"

/* The output formats of the commands that print data. */
enum report_format {
    REPORT_FORMAT_TABLE,
    REPORT_FORMAT_JSON,
    REPORT_FORMAT_CSV,
};

/* How every resource's JSON is written: compact, keys in the order built,
 * and reals with 15 significant digits so that a value rounded by
 * report_json_real prints as rounded (0.1, not 0.10000000000000001). */
#define REPORT_JSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

/* Decimals that mean something, for report_json_real. */
#define REPORT_DECIMALS_PCT     2 /* a percentage: 76.05 */
#define REPORT_DECIMALS_SECONDS 3 /* a duration in s: ms resolution */

/* Temperature colours, one pair for `gpulse now`'s table and the dashboard
 * (which reads them from /api/v1/info). A GPU under sustained load in a
 * well-cooled server holds 60 to 80 °C, so below 80 °C nothing is shown;
 * from 80 °C it is running warm (yellow); from 90 °C it is close to where
 * NVIDIA's parts begin to slow their clocks (NVML's slowdown threshold is
 * typically 87 to 95 °C): hot (red). */
#define REPORT_TEMP_WARN_C 80
#define REPORT_TEMP_HOT_C  90

/* v rounded to decimals places as a JSON real, or null when v is not a
 * finite number. Caller owns the result. */
json_t *report_json_real(double v, int decimals);

/* The longest number report_format_json_real and report_format_json_int
 * write, with its terminator. */
#define REPORT_JSON_NUMBER_MAX 32

/* Writes into buf (REPORT_JSON_NUMBER_MAX bytes) the bytes json_dumps
 * (REPORT_JSON_FLAGS) writes for report_json_real(v, decimals), without
 * making the value: "76.05", "76.0", "-0.0", "null" when v is not finite.
 * Returns the length. For a history of 100 000 numbers this is most of the
 * work: the fixed-point value is formatted as a scaled integer, and only
 * values past 15 digits (or decimals past 4) go through printf's %.15g as
 * jansson's do. tests/unit/test_render.c holds it to jansson's bytes. */
size_t report_format_json_real(double v, int decimals, char *buf);

/* Writes v in decimal into buf (REPORT_JSON_NUMBER_MAX bytes), as jansson
 * writes an integer. Returns the length. */
size_t report_format_json_int(int64_t v, char *buf);

/* Writes root (which it takes) as one line of JSON (REPORT_JSON_FLAGS).
 * Returns 0 or -EIO. */
GP_NODISCARD int report_json_write(FILE *out, json_t *root);

/* Appends root (which it takes) to out as one line of JSON. Returns 0, or
 * -ENOMEM or out's error (which also sticks in out: dynbuf_error). */
int report_json_append(struct dynbuf *out, json_t *root);

/* Text from the host as a JSON string (null when empty), made safe by
 * text_sanitize (util/text.h): valid UTF-8, as jansson needs, and no
 * control characters, which a consumer printing the value would pass to
 * its terminal. Caller owns the result. */
json_t *report_json_text(const char *text);

/* Writes one CSV field of host text, preceded by a comma unless first, as
 * text_csv_append makes it (util/text.h): safe, a formula neutralised,
 * quoted as RFC 4180 says. */
void report_csv_field(FILE *out, const char *text, bool first);

/* "52.5 GiB" or "412 MiB". */
void report_format_bytes(uint64_t bytes, char *buf, size_t size);

/* Milliwatts for people: "412 W", "12.5 W" under 100 W. */
void report_format_watts(int64_t mw, char *buf, size_t size);

/* "C", "G", "C+G", "M"... for a process's type mask (gpu.h GPU_PROC_*). */
const char *report_process_type(unsigned type_mask);

/* A Unix time in ms as a JSON string "2026-11-22T10:00:00.123Z", or null
 * when it is 0 or less (unknown). Caller owns the result. */
json_t *report_json_time(int64_t ms);

/* Formats a Unix time in ms as "2026-11-22T10:00:00.123Z". */
void report_format_time_ms(int64_t ms, char *buf, size_t size);

#endif
