/* Writing a GPU snapshot for people and programs: a table, JSON (schema in
 * docs/now-json.md) and CSV. Absent metrics are "N/A", null and an empty
 * field respectively, never 0. */
#ifndef GPULSE_CLI_RENDER_H
#define GPULSE_CLI_RENDER_H

#include <stdbool.h>
#include <stdio.h>

#include "gpu/gpu.h"

struct cli_render_opts {
    bool color;         /* ANSI colours (table) */
    unsigned width;     /* terminal columns (table) */
    bool csv_processes; /* CSV: one row per process instead of per GPU */
    bool csv_header;    /* CSV: write the header row */
    const char *host;   /* host name shown and reported */
};

/* The snapshot as a table of GPUs with their processes beneath. */
void cli_render_table(FILE *out, const struct gpu_snapshot *snap,
                      const struct cli_render_opts *opts);

/* The snapshot as one JSON document on one line. Returns 0 or -EIO. */
GP_NODISCARD int cli_render_json(FILE *out, const struct gpu_snapshot *snap,
                                 const struct cli_render_opts *opts);

/* The snapshot as CSV rows (RFC 4180 quoting). */
void cli_render_csv(FILE *out, const struct gpu_snapshot *snap, const struct cli_render_opts *opts);

/* "C", "G", "C+G", "M"... for a process's type mask. */
const char *cli_process_type(unsigned type_mask);

/* Formats a Unix time in ms as "2026-11-22T10:00:00.123Z". */
void cli_format_time_ms(int64_t ms, char *buf, size_t size);

#endif
