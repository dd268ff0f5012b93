/* The activity resource: daily GPU activity over whole Sunday-first weeks
 * ending today, in the configured time zone, with what the days add up to.
 * JSON (schema gpulse.activity.v1, docs/json.md), CSV and a table;
 * `gpulse activity`, /api/v1/activity and the activity graph (report/svg.h)
 * load it here. */
#ifndef GPULSE_REPORT_ACTIVITY_H
#define GPULSE_REPORT_ACTIVITY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report/format.h"
#include "store/store.h"

/* The most weeks a query or a graph covers: a year and its partial week. */
#define REPORT_ACTIVITY_MAX_WEEKS 53

struct report_activity_query {
    const char *gpu;      /* NULL: the machine; "all": each GPU and the machine; else
                             an index or a UUID */
    int weeks;            /* 1 to REPORT_ACTIVITY_MAX_WEEKS */
    int64_t now_ms;       /* today is the local day holding it */
    double threshold_pct; /* the configured activity_threshold_pct, reported */
};

struct report_activity {
    struct report_activity_query query;
    int64_t first_day_ms;            /* local midnight of the first day shown */
    int64_t today_ms;                /* local midnight of today */
    struct store_activity_row *rows; /* by day; with "all", GPUs before the machine */
    size_t count;
    struct store_activity_summary summary; /* of the machine, or the one GPU asked for */
};

/* Reads the days q asks for from s into out (free with
 * report_activity_fini). Returns 0 or a negative code with err set. */
GP_NODISCARD int report_activity_load(struct store *s, const struct report_activity_query *q,
                                      struct report_activity *out, struct gp_err *err);

/* Frees what report_activity_load read. */
void report_activity_fini(struct report_activity *a);

/* The graph's level (0 to 4) of a day with that many active minutes:
 * 0 none, 1 under 1 h, 2 under 3 h, 3 under 6 h, 4 from 6 h. */
int report_activity_level(int64_t active_minutes);

/* The activity as a JSON document; the caller owns it. */
json_t *report_activity_json(const struct report_activity *a);

/* The days as CSV with a header row. */
void report_activity_csv(FILE *out, const struct report_activity *a);

/* The days as a table, then a line summing them up. */
void report_activity_table(FILE *out, const struct report_activity *a);

/* Just the table of rows (show_gpu: a GPU column), for `gpulse db info`. */
void report_activity_table_rows(FILE *out, const struct store_activity_row *rows, size_t n,
                                bool show_gpu);

#endif
