/* The store subsystem's facade: one SQLite file (WAL) holding GPU identity,
 * raw samples, process lifetimes and per-process samples. Schema and
 * migrations in schema.c, writing in writer.c. */
#ifndef GPULSE_STORE_STORE_H
#define GPULSE_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gpu/gpu.h"
#include "util/common.h"

/* The schema this gpulse writes; a database with a higher version was
 * written by a newer gpulse and is refused, untouched. */
#define STORE_SCHEMA_VERSION 5

struct store;

enum store_mode {
    STORE_READ_WRITE, /* creates the file and migrates it */
    STORE_READ_ONLY,  /* the CLI's queries: never writes */
};

/* Opens (and with STORE_READ_WRITE creates and migrates) the database at
 * path. Returns 0, or a negative code with err naming the file and the
 * problem: -ENOENT (missing, read-only mode, or its directory is missing),
 * -EACCES (not writable), -EPROTO (a newer schema), -EILSEQ (not a gpulse
 * database or corrupt), -EBUSY (locked), -EIO otherwise. Nothing in an
 * existing file is changed on failure. Close with store_close(). */
GP_NODISCARD int store_open(const char *path, enum store_mode mode, struct store **out,
                            struct gp_err *err);

/* As store_open(), and refuses too a database, WAL, shm or journal that
 * is a symbolic link or not a regular file (-ELOOP, -EINVAL; store_open()
 * does the same); with STORE_READ_WRITE a missing database is created mode
 * 0640 (FILEIO_PRIVATE_MODE, whatever the umask; SQLite gives its WAL and
 * shm the same) and, when group (a name or number: database_group) is not
 * NULL or "", with that group, which its WAL and shm are given too
 * (-ENOENT: no such group; -EPERM: the process may not give it). An
 * existing database keeps its mode and group. With STORE_READ_WRITE an
 * existing database's every page is read first (PRAGMA quick_check: ~11 s
 * a GiB, docs/performance.md) and a damaged one refused (-EILSEQ, SQLite's
 * words), unless unchanged_since_clean_stop: the caller knows the file is
 * byte for byte as a clean close left it (the agent's clean-stop mark). */
GP_NODISCARD int store_open_private(const char *path, enum store_mode mode, const char *group,
                                    bool unchanged_since_clean_stop, struct store **out,
                                    struct gp_err *err);

/* Closes the database; NULL is a no-op. */
void store_close(struct store *s);

/* The path it was opened with. */
const char *store_path(const struct store *s);

/* Writes snapshots (in time order) in one transaction: GPU identity,
 * samples, process lifetimes and per-process samples. period_ms is the
 * sampling period, which a process's first sighting counts as GPU time.
 * Returns 0, or a negative code with err set; on failure nothing of the
 * batch is kept and it can be written again (-ENOSPC when the disk is full;
 * -ESTALE, and nothing written, once the file at the path it was opened
 * with has been deleted or replaced: SQLITE_FCNTL_HAS_MOVED, a stat). */
GP_NODISCARD int store_write(struct store *s, const struct gpu_snapshot *const *snaps, size_t n,
                             int64_t period_ms, struct gp_err *err);

/* The fields stored per sample, in the samples table's column order. */
size_t store_sample_field_count(void);
enum gpu_field store_sample_field(size_t i);

/* The position of f among the stored fields, or -1 when it is not stored. */
int store_sample_slot(enum gpu_field f);

/* How long rows are kept, in ms; 0 keeps them forever. */
struct store_retention {
    int64_t samples_ms;
    int64_t process_samples_ms;
    int64_t minute_ms; /* rollups */
    int64_t hour_ms;
    int64_t day_ms;       /* day rollups and daily activity */
    int64_t processes_ms; /* by last_seen; a lifetime's samples go with it */
};

struct config;

/* The retention the configuration asks for (keys retention.*). */
void store_retention_from_config(const struct config *cfg, struct store_retention *out);

struct store_prune_result {
    int64_t rows_deleted;
    int64_t pages_freed;
    bool finished; /* false: the budget ran out; call again to go on */
};

/* Deletes what is older than the limits (relative to now_ms, Unix ms), in
 * short transactions of a bounded span of data each, one GPU at a time,
 * never a sample or a minute that has not been rolled up yet, then returns the
 * freed pages to the file system by incremental vacuum. With budget_ms > 0
 * it stops after about that long and says so in out->finished; results
 * accumulate in out across calls. Returns 0 or a negative code. */
GP_NODISCARD int store_prune(struct store *s, const struct store_retention *ret, int64_t now_ms,
                             int64_t budget_ms, struct store_prune_result *out, struct gp_err *err);

enum store_process_sort {
    STORE_SORT_GPU_SECONDS,
    STORE_SORT_SM_SECONDS,
    STORE_SORT_MEMORY,
    STORE_SORT_FIRST_SEEN,
    STORE_SORT_LAST_SEEN,
    STORE_SORT_PID,
    STORE_SORT_USER,
};

/* Which process lifetimes to list. */
struct store_process_filter {
    int64_t since_ms;         /* last seen at or after (0: all) */
    int64_t active_within_ms; /* > 0: seen within this of the newest sample */
    const char *user;         /* NULL: anyone; a user name, or a uid in digits */
    const char *gpu;          /* NULL: any; an index ("0") or a UUID */
    const char *query;        /* NULL: any; else a substring (any case) of the command,
                                 command line, user or container */
    enum store_process_sort sort;
    int64_t limit; /* <= 0: no limit */
};

/* One process lifetime as stored. Strings are owned (NULL when unknown). */
struct store_process_row {
    int gpu_index;
    char *gpu_uuid;
    uint32_t pid;
    int64_t start_time_ms; /* 0 when unknown */
    unsigned type_mask;
    bool has_uid;
    uint32_t uid;
    char *user;
    char *command;
    char *cmdline;
    char *container;
    int64_t first_seen_ms;
    int64_t last_seen_ms;
    int64_t samples;
    bool has_memory;
    int64_t memory_max_bytes;
    double memory_avg_bytes;
    double gpu_seconds; /* time on the GPU */
    /* SM utilization integrated over the part of gpu_seconds where the
     * driver gave it (sm_known_seconds); has_sm false: never given (a GPU
     * without utilization), sm_seconds is unknown, not 0. */
    bool has_sm;
    double sm_seconds;
    double sm_known_seconds;
};

/* Lists process lifetimes. On success *rows_out (free with
 * store_process_rows_free) holds *count_out rows. Returns 0 or a negative
 * code with err set. */
GP_NODISCARD int store_query_processes(struct store *s, const struct store_process_filter *f,
                                       struct store_process_row **rows_out, size_t *count_out,
                                       struct gp_err *err);

/* Frees rows from store_query_processes; NULL is a no-op. */
void store_process_rows_free(struct store_process_row *rows, size_t n);

/* GPU time one user's processes had in a range. */
struct store_user_usage {
    char *user; /* owned; the uid as digits when the name is unknown, "" when neither */
    double gpu_seconds;
    double sm_seconds;
    int64_t processes; /* lifetimes that overlap the range */
};

/* GPU time per user in [from_ms, to_ms), most first: one row per uid,
 * named as its most recently seen lifetime was. A lifetime that
 * straddles an end of the range counts in proportion to its overlap.
 * *rows_out is freed with store_user_usage_free(). Returns 0 or a negative
 * code with err set. */
GP_NODISCARD int store_query_user_usage(struct store *s, int64_t from_ms, int64_t to_ms,
                                        struct store_user_usage **rows_out, size_t *count_out,
                                        struct gp_err *err);

/* Frees rows from store_query_user_usage; NULL is a no-op. */
void store_user_usage_free(struct store_user_usage *rows, size_t n);

/* One row of a history query: a raw sample, or a bucket's aggregates. What
 * sums a metric up depends on its kind (gpu_field_info(f)->kind):
 * GAUGE: avg, min, max. COUNTER: max is the last reading and delta the
 * growth between the bucket's first and last readings (counters only grow
 * within a driver load, so these are the maximum and maximum - minimum; a
 * driver reload inside the bucket, which restarts the volatile counters,
 * spoils both). FLAGS: bits, the OR of every mask read. avg, min and max
 * are filled for every kind. */
struct store_history_row {
    int gpu_index;
    int64_t t_ms;  /* the sample time, or the bucket's start */
    int64_t count; /* samples in the bucket (1 for raw) */
    bool has_busy;
    double busy_pct;     /* busy time / observed time, over the bucket */
    double busy_seconds; /* busy time */
    bool has_energy;
    double energy_j; /* used in the bucket (from the energy counter) */
    bool has[16];    /* per requested metric */
    double avg[16];  /* the value for raw rows */
    double min[16];
    double max[16];
    double delta[16];  /* max - min: a counter's growth (0 for raw rows) */
    bool has_bits[16]; /* FLAGS: bits is known (not for periods rolled up
                          before schema 3 whose masks differed) */
    uint64_t bits[16]; /* FLAGS: the OR of the masks */
};

#define STORE_HISTORY_MAX_METRICS 16

struct store_history_query {
    const char *gpu; /* NULL: every GPU; an index or a UUID */
    int64_t from_ms; /* inclusive */
    int64_t to_ms;   /* exclusive */
    /* 0: raw samples; else buckets this wide, aligned to the epoch (a whole
     * number of minutes is read from the rollups) */
    int64_t step_ms;
    bool local_days; /* buckets are the configured time zone's days */
    enum gpu_field metrics[STORE_HISTORY_MAX_METRICS];
    size_t metric_count;
    /* 0: any number; else a GPU with more rows than this stops the query
     * (-E2BIG) before it reads the rest, so that asking whether raw
     * samples fit costs at most this many rows */
    size_t max_rows_per_gpu;
};

/* Reads samples, raw or aggregated into buckets, ordered by GPU and time.
 * Buckets are answered from the coarsest rollup that fits the step, and
 * the periods not rolled up yet (the last minutes) from finer rollups and
 * raw samples, so a year costs about what an hour does and the newest
 * bucket is complete. A bucket holds every period that starts in it from
 * the one holding from_ms. *rows_out is freed with free(). Returns 0 or a
 * negative code with err set. */
/* -E2BIG (no rows, err says so) when a GPU has more than q->max_rows_per_gpu. */
GP_NODISCARD int store_query_history(struct store *s, const struct store_history_query *q,
                                     struct store_history_row **rows_out, size_t *count_out,
                                     struct gp_err *err);

/* The earliest stored time that writing a sample taken at t_ms can change:
 * the start of its hour, or of its local day where that is earlier (the
 * periods its rollup rows cover; INT64_MIN for INT64_MIN). A history query
 * over buckets that end at or before it reads the same rows before and
 * after the write, since rollups equal the samples they hold: the HTTP
 * answers cache keeps such answers across flushes. */
int64_t store_changes_from_ms(int64_t t_ms);

/* Where retention has deleted raw samples that the minute rollups still
 * hold (it deletes raw samples first: 30 days by default), the time (Unix
 * ms) before which history finer than a minute has nothing to read, for the
 * GPUs gpu names (NULL: every GPU; an index or a UUID; the latest of them);
 * 0 when no GPU lost any (a young database). Two index lookups per GPU.
 * Returns 0 or a negative code with err set. */
GP_NODISCARD int store_raw_horizon_ms(struct store *s, const char *gpu, int64_t *out,
                                      struct gp_err *err);

/* One day of activity, for a GPU or the whole machine. */
struct store_activity_row {
    int64_t gpu_id;             /* 0: the machine */
    int gpu_index;              /* -1 for the machine */
    int64_t day_ms;             /* local midnight */
    char date[16];              /* YYYY-MM-DD, local */
    int64_t minutes;            /* minutes with a utilization reading */
    int64_t active_minutes;     /* at or above the threshold (the machine: any GPU) */
    int64_t active_gpu_minutes; /* summed over GPUs (a GPU: active_minutes) */
    bool has_peak;
    double peak_pct;      /* highest utilization read that day */
    double avg_pct;       /* mean utilization over the minutes with readings */
    double threshold_pct; /* the threshold the day was cut with */
};

/* Sets the utilization at and above which a minute counts as active
 * (default 1%). Applies to days closed from now on and to rebuilds. */
void store_set_activity_threshold(struct store *s, double pct);

/* Daily activity for the local days that touch [from_ms, to_ms): gpu NULL
 * for the machine, "all" for every GPU and the machine, or one GPU's index
 * or UUID. Closed days come from the activity table, the open ones (today)
 * are computed from the minutes closed so far. Rows are by day, GPUs in
 * index order before the machine. *rows_out is freed with free(). */
GP_NODISCARD int store_query_activity(struct store *s, const char *gpu, int64_t from_ms,
                                      int64_t to_ms, struct store_activity_row **rows_out,
                                      size_t *count_out, struct gp_err *err);

/* What a run of days adds up to (the activity graph's footer). */
struct store_activity_summary {
    int64_t days;           /* in the range */
    int64_t active_days;    /* with at least one active minute */
    int64_t current_streak; /* active days in a row up to today (or yesterday,
                               while today has no active minute yet) */
    int64_t longest_streak;
    int64_t active_minutes;     /* summed over the days */
    int64_t active_gpu_minutes; /* summed over GPUs too */
};

/* Sums rows of one GPU (or the machine), ordered by day, over the local
 * days [first_day_ms, today_ms] (today_ms: the start of today). */
void store_activity_summarize(const struct store_activity_row *rows, size_t n, int64_t first_day_ms,
                              int64_t today_ms, struct store_activity_summary *out);

struct store_rebuild_result {
    int64_t gpus;
    int64_t minutes; /* periods recomputed, per level */
    int64_t hours;
    int64_t days;
};

/* Recomputes every rollup and activity row that the stored data still
 * covers: minutes from raw samples, hours and days from minutes (periods
 * older than the first whole period of their source are kept as they
 * are). Each GPU's closed periods only, one hour per transaction, so a
 * running agent keeps writing meanwhile. Returns 0 or a negative code. */
GP_NODISCARD int store_rebuild(struct store *s, struct store_rebuild_result *out,
                               struct gp_err *err);

/* Records a key/value in the meta table (agent counters, versions). Returns
 * 0 or a negative code with err set. */
GP_NODISCARD int store_put_meta(struct store *s, const char *key, const char *value,
                                struct gp_err *err);

/* Reads a meta value into buf ("" when absent). Returns 0 or a negative code. */
GP_NODISCARD int store_get_meta(struct store *s, const char *key, char *buf, size_t size);

/* Row count and time span of one table, for `gpulse db info`. */
struct store_table_info {
    const char *name;
    int64_t rows;
    int64_t first_ms; /* 0 when empty or not timed */
    int64_t last_ms;
};

struct store_info {
    int schema_version;
    int64_t file_bytes; /* the database file, without WAL */
    int64_t wal_bytes;
    int64_t free_pages;
    struct store_table_info tables[12];
    size_t table_count;
};

/* Reads sizes and per-table counts. Returns 0 or a negative code. */
GP_NODISCARD int store_read_info(struct store *s, struct store_info *out, struct gp_err *err);

/* Runs SQLite's integrity check, then decodes every raw-sample block; *ok
 * tells whether the file is sound, and err holds the first problem when
 * not (a damaged block is named by its GPU or process and minute).
 * Returns 0 unless the check itself could not run. */
GP_NODISCARD int store_check(struct store *s, bool *ok, struct gp_err *err);

/* Writes every raw sample, decoded from its block, into a new SQLite file
 * at path (replaced if it exists) as schema 3 kept them: tables samples
 * (gpu, t, lost, busy_us, window_us, a column per stored field) and
 * process_samples (process, t, memory_bytes, sm_pct, memory_pct,
 * encoder_pct, decoder_pct), gpu and process being ids in gpus and
 * processes; NULL where a value is absent. For sqlite3, tests and
 * exports (`gpulse db raw`). Blocks that do not decode are left out and
 * counted in *damaged, err naming the first. Returns 0 or a negative code
 * with err set. */
GP_NODISCARD int store_raw_export(struct store *s, const char *path, int64_t *damaged,
                                  struct gp_err *err);

#endif
