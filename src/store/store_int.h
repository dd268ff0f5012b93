/* Private to the store subsystem: the open database and its caches. */
#ifndef GPULSE_STORE_STORE_INT_H
#define GPULSE_STORE_STORE_INT_H

#include <sqlite3.h>

#include "store/store.h"

/* What the writer remembers about a process lifetime it has written. */
struct store_process_entry {
    int64_t gpu_id;
    uint32_t pid;
    uint64_t start_ticks;
    int64_t row_id;
    int64_t last_ms;     /* when it was last written */
    uint64_t seen_batch; /* last batch that mentioned it */
    /* Sightings in this batch not yet added to its row: one UPDATE per
     * lifetime per batch instead of one per sample. */
    bool dirty;
    unsigned pending_type;
    int64_t pending_samples;
    bool pending_has_memory;
    int64_t pending_memory_max;
    double pending_memory_sum;
    double pending_gpu_seconds;
    double pending_sm_seconds;
};

struct store_gpu_entry {
    char uuid[96];
    int64_t row_id;
    int64_t last_ms; /* newest sample written in this batch, for gpus.last_seen */
};

struct store {
    sqlite3 *db;
    char path[512];
    enum store_mode mode;
    /* writer state, prepared on first write */
    sqlite3_stmt *upsert_gpu;
    sqlite3_stmt *insert_sample;
    sqlite3_stmt *upsert_process;
    sqlite3_stmt *insert_process_sample;
    sqlite3_stmt *find_process;
    sqlite3_stmt *touch_gpu;
    sqlite3_stmt *update_process;
    struct store_gpu_entry gpus[64];
    size_t gpu_count;
    struct store_process_entry *procs;
    size_t proc_count;
    size_t proc_cap;
    uint64_t batch;
};

/* Creates or upgrades the schema to STORE_SCHEMA_VERSION. Returns 0, or
 * -EPROTO for a newer schema, -EILSEQ for a file that is not gpulse's. */
GP_NODISCARD int store_schema_migrate(struct store *s, struct gp_err *err);

/* Refuses, before anything is written, a file this gpulse must not touch:
 * a newer schema (-EPROTO) or an SQLite file that is not gpulse's
 * (-EILSEQ). */
GP_NODISCARD int store_schema_check(struct store *s, int version, struct gp_err *err);

/* Reads PRAGMA user_version. Returns 0 or a negative code (corrupt file). */
GP_NODISCARD int store_schema_version(struct store *s, int *version, struct gp_err *err);

/* Frees the writer's statements and caches. */
void store_writer_fini(struct store *s);

/* Maps an SQLite result code to a negative errno for our callers. */
int store_errno(int sqlite_rc);

#endif
