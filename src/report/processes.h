/* The processes resource: stored process lifetimes (one per PID and start
 * time) as JSON (schema gpulse.processes.v1, docs/json.md), CSV and a
 * table. `gpulse processes` and /api/v1/processes build them here. */
#ifndef GPULSE_REPORT_PROCESSES_H
#define GPULSE_REPORT_PROCESSES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gpu/gpu.h"
#include "report/format.h"
#include "store/store.h"

/* The sort keys, for messages: the JSON fields they sort by. */
#define REPORT_PROCESSES_SORT_KEYS \
    "gpu_seconds, sm_seconds, memory, first_seen, last_seen, pid, user"

/* A stored lifetime as the agent's latest tick sees it. */
struct report_process_live {
    bool known;   /* its GPU's process list was known in the latest tick */
    bool running; /* in the latest tick */
    bool has_memory;
    uint64_t memory_bytes;
    bool has_sm;
    unsigned sm_pct;
};

/* What the three outputs are built from. */
struct report_processes {
    const struct store_process_row *rows;
    size_t count;
    /* count entries, or NULL where no agent's tick is at hand (the CLI):
     * active, memory_now_bytes and sm_pct_now are null then */
    const struct report_process_live *live;
    int64_t limit; /* the limit the rows were asked with; <= 0: none */
};

/* Parses a sort key: one of REPORT_PROCESSES_SORT_KEYS, or an older CLI
 * spelling (gpu-time, sm-time, first-seen, last-seen). Returns 0 or -EINVAL. */
GP_NODISCARD int report_processes_sort_parse(const char *name, enum store_process_sort *out);

/* Fills live[i] for each of the n rows from snap (NULL: none running). */
void report_processes_live(const struct gpu_snapshot *snap, const struct store_process_row *rows,
                           size_t n, struct report_process_live *live);

/* The rows as a JSON document; the caller owns it. */
json_t *report_processes_json(const struct report_processes *p);

/* The rows as CSV with a header row (RFC 4180 quoting, raw units). */
void report_processes_csv(FILE *out, const struct report_processes *p);

/* The rows as a table for people (local times, h:mm:ss, GiB). */
void report_processes_table(FILE *out, const struct report_processes *p);

#endif
