/* Private to the store subsystem: the open database and its caches. */
#ifndef GPULSE_STORE_STORE_INT_H
#define GPULSE_STORE_STORE_INT_H

#include <sqlite3.h>

#include "store/codec.h"
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
    double pending_sm_known_seconds; /* of pending_gpu_seconds, with SM utilization */
};

/* A batch's raw samples of one GPU (process false) or process lifetime
 * in one minute, before they join the stored block. */
struct store_pending_block {
    bool process;
    int64_t owner; /* gpus.id or processes.id */
    int64_t minute_ms;
    struct store_codec_block rows;
};

struct store_gpu_entry {
    char uuid[96];
    int64_t row_id;
    int64_t last_ms; /* newest sample written in this batch, for gpus.last_seen */
    /* The span of this batch's samples, for closing rollup periods. */
    bool in_batch;
    int64_t batch_first_ms;
    int64_t batch_last_ms;
};

/* Rollup levels; the values are stored in rollup_state.level. */
enum store_level {
    STORE_LEVEL_MINUTE = 0,
    STORE_LEVEL_HOUR = 1,
    STORE_LEVEL_DAY = 2, /* local days of the configured time zone */
    STORE_LEVEL_COUNT
};

/* Statements the rollup code keeps prepared. */
enum store_rollup_stmt {
    ROLLUP_STMT_INSERT_MINUTE,
    ROLLUP_STMT_INSERT_HOUR,
    ROLLUP_STMT_INSERT_DAY,
    ROLLUP_STMT_GET_STATE,
    ROLLUP_STMT_SET_STATE,
    ROLLUP_STMT_COUNT
};

struct store {
    sqlite3 *db;
    char path[512];
    enum store_mode mode;
    /* writer state, prepared on first write */
    sqlite3_stmt *upsert_gpu;
    sqlite3_stmt *upsert_process;
    sqlite3_stmt *find_process;
    sqlite3_stmt *touch_gpu;
    sqlite3_stmt *update_process;
    struct store_gpu_entry gpus[64];
    size_t gpu_count;
    struct store_process_entry *procs;
    size_t proc_count;
    size_t proc_cap;
    uint64_t batch;
    sqlite3_stmt *rollup_stmts[ROLLUP_STMT_COUNT];
    /* store/blocks.c's statements, per kind of block: read, replace */
    sqlite3_stmt *block_stmts[2][2];
    /* the batch's raw samples, a block per GPU (or lifetime) and minute,
     * added to the stored blocks at the end of the batch (writer.c) */
    struct store_pending_block *pending;
    size_t pending_count;
    size_t pending_cap;
    double activity_threshold_pct;
    int migrated_from; /* the schema version found at open */
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

/* The rowid of a rollup row: the GPU's id in the high 32 bits, the
 * period's start in minutes since the epoch in the low ones. */
int64_t store_rollup_key(int64_t gpu_id, int64_t t_ms);

/* The table of a rollup level. */
const char *store_level_table(enum store_level level);

/* The start of the level's period that holds t, and the next one's. */
int64_t store_level_start(enum store_level level, int64_t t_ms);
int64_t store_level_next(enum store_level level, int64_t start_ms);

/* Reads every GPU's watermark for each level (0: nothing rolled up yet). */
GP_NODISCARD int store_rollup_through(struct store *s, int64_t gpu_id,
                                      int64_t through[STORE_LEVEL_COUNT]);

/* Closes the rollup periods that this batch's samples of gpu_id finished
 * (and redoes any period a late sample fell into), inside the writer's
 * transaction. day_from and day_to widen to the local days whose activity
 * must be recomputed. Returns 0 or a negative code with err set. */
GP_NODISCARD int store_rollup_advance(struct store *s, int64_t gpu_id, int64_t first_ms,
                                      int64_t last_ms, int64_t *day_from, int64_t *day_to,
                                      struct gp_err *err);

/* Recomputes and stores the activity rows (each GPU and the machine) of the
 * local days in [day_from, day_to). Returns 0 or a negative code. */
GP_NODISCARD int store_activity_build(struct store *s, int64_t day_from, int64_t day_to,
                                      struct gp_err *err);

/* Frees the rollup statements. */
void store_rollup_fini(struct store *s);

/* SQLite's message for the failure rc: the connection's own when it is
 * about rc, else SQLite's text for rc (a ROLLBACK or reset after the
 * failure leaves "not an error" behind). Static or owned by the
 * connection: use before the next call on it. */
const char *store_errmsg(struct store *s, int rc);

/* Maps an SQLite result code to a negative errno for our callers. */
int store_errno(int sqlite_rc);

#endif
