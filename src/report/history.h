/* The history resource (schema gpulse.history.v1): stored samples of each
 * GPU over a range, raw or in buckets, for `gpulse history` and
 * GET /api/v1/history alike. Built in steps: each front end turns its own
 * parameters into a struct report_history_request; report_history_plan()
 * chooses the resolution and the aligned range; report_history_query()
 * reads the store; the renderers write JSON, CSV and a table from what was
 * read. The document is described in docs/json.md. */
#ifndef GPULSE_REPORT_HISTORY_H
#define GPULSE_REPORT_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gpu/fields.h"
#include "report/format.h"
#include "store/store.h"
#include "util/common.h"
#include "util/dynbuf.h"

/* What a request shows when it names no metrics, and how many buckets. */
#define REPORT_HISTORY_DEFAULT_METRICS \
    "utilization_gpu_pct,memory_used_bytes,temperature_c,power_mw"
#define REPORT_HISTORY_DEFAULT_POINTS 1000

/* The finest resolution a request allows; the plan may choose coarser to
 * stay within its points. */
enum report_history_step {
    REPORT_HISTORY_STEP_RAW,    /* raw samples where they fit (the default) */
    REPORT_HISTORY_STEP_SECOND, /* buckets of seconds or more */
    REPORT_HISTORY_STEP_MINUTE, /* buckets of minutes or more */
    REPORT_HISTORY_STEP_HOUR,   /* buckets of hours or more */
    REPORT_HISTORY_STEP_DAY,    /* local days */
};

struct report_history_request {
    const char *gpu; /* NULL: every GPU; an index or a UUID (borrowed) */
    int64_t from_ms; /* inclusive */
    int64_t to_ms;   /* exclusive, after from_ms */
    enum gpu_field metrics[STORE_HISTORY_MAX_METRICS];
    size_t metric_count;
    int64_t points;                /* at most this many rows per GPU, >= 1 */
    enum report_history_step step; /* the finest resolution allowed */
};

/* How a request is answered. */
struct report_history_plan {
    int64_t from_ms; /* the range read: aligned to the buckets unless raw */
    int64_t to_ms;
    int64_t step_ms;     /* bucket width (days: that many nominal days); 0: raw */
    int64_t days;        /* local days per bucket, 0 unless the buckets are days */
    char resolution[24]; /* "raw", "5s", "10min", "6h", "1d", "4d" */
};

/* Parses a comma-separated list of stored field keys ("busy_pct", always
 * shown, is taken and ignored) into req's metrics. Returns 0, or -EINVAL
 * with err saying which name is wrong (quoted, at most 64 characters), that
 * the list is empty, or that it has too many. */
GP_NODISCARD int report_history_parse_metrics(const char *list, struct report_history_request *req,
                                              struct gp_err *err);

/* Parses a step name: raw (also auto), second, minute, hour or day.
 * Returns 0, or -EINVAL when the name is none of them. */
GP_NODISCARD int report_history_parse_step(const char *name, enum report_history_step *out);

/* Chooses the finest resolution the request allows that gives at most
 * req->points rows per GPU: raw samples (when the range holds that many at
 * interval_ms, the sampling period; 0 when unknown: never raw); buckets of
 * 2, 5, 10, 15 or 30 s, 1, 2, 5, 10, 15 or 30 min, 1, 2, 3 or 6 h, at
 * least interval_ms wide and aligned to the epoch; else local days (the
 * time zone of clock_use_timezone), N at a time when the range holds more
 * than points days. Bucketed ranges are widened to whole buckets. Depends
 * on nothing but its arguments and the time zone. */
void report_history_plan(const struct report_history_request *req, int64_t interval_ms,
                         struct report_history_plan *out);

/* A history read from the store: the request, its plan and the rows. */
struct report_history {
    struct report_history_request req;
    struct report_history_plan plan;
    struct store_history_row *rows; /* by GPU, then time; owned */
    size_t row_count;
};

/* Reads what plan says from s into out (release with
 * report_history_fini()); out->plan is what was read. A plan of raw
 * samples or sub-minute buckets over a range that starts before the oldest
 * raw sample stored (retention deletes those first) becomes one of a
 * minute or more, answered from the rollups. When raw samples turn out to be more than
 * req->points for a GPU (the database was sampled faster than the plan
 * assumed), it plans again without raw samples and reads buckets, so the
 * answer never has more than points rows per GPU. Returns 0, or a
 * negative code with err set (out then holds nothing to release). */
GP_NODISCARD int report_history_query(struct store *s, const struct report_history_request *req,
                                      const struct report_history_plan *plan,
                                      struct report_history *out, struct gp_err *err);

/* Frees what report_history_query read; a zeroed struct is a no-op. */
void report_history_fini(struct report_history *h);

/* Appends the document (gpulse.history.v1: the range, resolution and a
 * series of columns per GPU, docs/json.md) to out, as one line of compact
 * JSON with a newline. Returns 0, or out's error (dynbuf_error: -E2BIG
 * past its cap). */
int report_history_json_append(struct dynbuf *out, const struct report_history *h);

/* The document on one line, with a newline. Returns 0 or -EIO. */
GP_NODISCARD int report_history_write_json(FILE *out, const struct report_history *h);

/* One CSV row per bucket (or sample) per GPU, raw units, with a header. */
void report_history_csv(FILE *out, const struct report_history *h);

/* One table row per bucket (or sample) per GPU: local time, field labels,
 * human units. */
void report_history_table(FILE *out, const struct report_history *h);

#endif
