/* The "now" resource: a GPU snapshot for people and programs: a table, JSON (schema in
 * docs/json.md) and CSV. Absent metrics are "N/A", null and an empty
 * field respectively, never 0. */
#ifndef GPULSE_REPORT_NOW_H
#define GPULSE_REPORT_NOW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "gpu/gpu.h"
#include "report/format.h"

struct report_now_opts {
    bool color;         /* ANSI colours (table) */
    unsigned width;     /* terminal columns (table) */
    bool csv_processes; /* CSV: one row per process instead of per GPU */
    bool csv_header;    /* CSV: write the header row */
    const char *host;   /* host name shown and reported */
    /* JSON: the agent's start and sampling period (/api/v1/now); 0 gives
     * null (gpulse now, which has neither) */
    int64_t agent_start_ms;
    int64_t interval_ms;
};

/* The snapshot as a table of GPUs with their processes beneath. */
void report_now_table(FILE *out, const struct gpu_snapshot *snap,
                      const struct report_now_opts *opts);

/* The snapshot as a JSON object (schema gpulse.now.v1); the caller owns it. */
json_t *report_now_json(const struct gpu_snapshot *snap, const struct report_now_opts *opts);

/* The snapshot as one JSON document on one line. Returns 0 or -EIO. */
GP_NODISCARD int report_now_write_json(FILE *out, const struct gpu_snapshot *snap,
                                       const struct report_now_opts *opts);

/* The snapshot as CSV rows (RFC 4180 quoting). */
void report_now_csv(FILE *out, const struct gpu_snapshot *snap, const struct report_now_opts *opts);

#endif
