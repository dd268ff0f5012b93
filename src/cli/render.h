/* Writing a GPU snapshot for people and programs: a table, JSON (schema in
 * docs/now-json.md) and CSV. Absent metrics are "N/A", null and an empty
 * field respectively, never 0. */
#ifndef GPULSE_CLI_RENDER_H
#define GPULSE_CLI_RENDER_H

#include <jansson.h>
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

/* The snapshot as a JSON object (schema gpulse.now.v1); the caller owns it. */
json_t *cli_snapshot_json(const struct gpu_snapshot *snap, const struct cli_render_opts *opts);

/* The snapshot as one JSON document on one line. Returns 0 or -EIO. */
GP_NODISCARD int cli_render_json(FILE *out, const struct gpu_snapshot *snap,
                                 const struct cli_render_opts *opts);

/* The snapshot as CSV rows (RFC 4180 quoting). */
void cli_render_csv(FILE *out, const struct gpu_snapshot *snap, const struct cli_render_opts *opts);

/* The output formats of the commands that print data. */
enum cli_format {
    CLI_FORMAT_TABLE,
    CLI_FORMAT_JSON,
    CLI_FORMAT_CSV,
};

/* Parses a --format / --output-format value. Returns 0, or GP_EXIT_USAGE
 * after saying what is wrong (cmd names the command in the message). */
int cli_parse_format(const char *cmd, const char *arg, enum cli_format *out);

/* Text from the host as a JSON string (null when empty): made valid UTF-8,
 * invalid bytes becoming U+FFFD, since jansson refuses anything else. */
json_t *cli_json_text(const char *text);

/* Writes one CSV field, preceded by a comma unless first: made valid UTF-8
 * and quoted (RFC 4180) when it holds a comma, quote or line break. */
void cli_csv_field(FILE *out, const char *text, bool first);

/* "52.5 GiB" or "412 MiB". */
void cli_format_bytes(uint64_t bytes, char *buf, size_t size);

/* "C", "G", "C+G", "M"... for a process's type mask. */
const char *cli_process_type(unsigned type_mask);

/* A Unix time in ms as a JSON string "2026-11-22T10:00:00.123Z", or null
 * when it is 0 or less (unknown). */
json_t *cli_json_time(int64_t ms);

/* Formats a Unix time in ms as "2026-11-22T10:00:00.123Z". */
void cli_format_time_ms(int64_t ms, char *buf, size_t size);

#endif
