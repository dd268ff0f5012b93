/* The schema, version by version. Each migration runs in its own
 * transaction; PRAGMA user_version records the version reached. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store/blocks.h"
#include "store/store_int.h"

/* Version 1. Times are Unix epoch milliseconds (UTC). Absent metrics are
 * NULL. samples' columns carry the names of the fields in gpu/fields.c
 * (those that change per read); a unit test holds the two together. */
static const char schema_v1[] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE gpus ("
    "  id INTEGER PRIMARY KEY,"
    "  uuid TEXT NOT NULL UNIQUE,"
    "  idx INTEGER NOT NULL,"
    "  name TEXT, serial TEXT, pci_bus_id TEXT, pci_device_id INTEGER,"
    "  memory_total_bytes INTEGER,"
    "  clock_sm_max_mhz INTEGER, clock_graphics_max_mhz INTEGER, clock_memory_max_mhz INTEGER,"
    "  first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL);"
    "CREATE TABLE samples ("
    "  gpu INTEGER NOT NULL, t INTEGER NOT NULL,"
    "  lost INTEGER NOT NULL DEFAULT 0,"
    "  busy_us INTEGER, window_us INTEGER,"
    "  utilization_gpu_pct INTEGER, utilization_memory_pct INTEGER,"
    "  utilization_encoder_pct INTEGER, utilization_decoder_pct INTEGER,"
    "  memory_used_bytes INTEGER, memory_free_bytes INTEGER, memory_reserved_bytes INTEGER,"
    "  temperature_c INTEGER, fan_pct INTEGER, power_mw INTEGER, power_limit_mw INTEGER,"
    "  energy_mj INTEGER,"
    "  clock_sm_mhz INTEGER, clock_graphics_mhz INTEGER, clock_memory_mhz INTEGER,"
    "  pstate INTEGER, clock_event_reasons INTEGER,"
    "  pcie_tx_kbps INTEGER, pcie_rx_kbps INTEGER,"
    "  ecc_enabled INTEGER, ecc_corrected_volatile INTEGER, ecc_uncorrected_volatile INTEGER,"
    "  ecc_corrected_aggregate INTEGER, ecc_uncorrected_aggregate INTEGER,"
    "  remapped_rows_correctable INTEGER, remapped_rows_uncorrectable INTEGER,"
    "  remapped_rows_pending INTEGER, remapped_rows_failure INTEGER,"
    "  PRIMARY KEY (gpu, t)) WITHOUT ROWID;"
    "CREATE TABLE processes ("
    "  id INTEGER PRIMARY KEY,"
    "  gpu INTEGER NOT NULL, pid INTEGER NOT NULL,"
    "  start_ticks INTEGER NOT NULL," /* with pid: one lifetime; 0 when /proc did not show it */
    "  start_time INTEGER,"
    "  type INTEGER NOT NULL DEFAULT 0,"
    "  uid INTEGER, user TEXT, command TEXT, cmdline TEXT,"
    "  container TEXT, container_id TEXT, pod_uid TEXT, slurm_job TEXT,"
    "  first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
    "  samples INTEGER NOT NULL DEFAULT 0,"
    "  memory_max_bytes INTEGER, memory_sum_bytes REAL NOT NULL DEFAULT 0,"
    "  gpu_seconds REAL NOT NULL DEFAULT 0, sm_seconds REAL NOT NULL DEFAULT 0,"
    "  UNIQUE (gpu, pid, start_ticks));"
    "CREATE INDEX processes_last_seen ON processes (last_seen);"
    "CREATE TABLE process_samples ("
    "  process INTEGER NOT NULL, t INTEGER NOT NULL,"
    "  memory_bytes INTEGER, sm_pct INTEGER, memory_pct INTEGER,"
    "  encoder_pct INTEGER, decoder_pct INTEGER,"
    "  PRIMARY KEY (process, t)) WITHOUT ROWID;";

/* Version 2: rollups, their watermarks and daily activity. A rollup row is
 * a few hundred bytes, too wide for a WITHOUT ROWID table (whose inner
 * pages would hold whole rows), so its rowid is the key: GPU id in the high
 * 32 bits, the period's start in minutes since the epoch in the low ones
 * (store_rollup_key), which keeps a GPU's periods together in time order
 * without a second index. After (key, gpu), each rollup table has the
 * period's totals, then <field>_n, _sum, _min and _max for each field that
 * samples had at version 2, in its column order (store/agg.c reads and
 * writes them by name, so a later step may append columns). */
#define ROLLUP_V2_COLUMNS                                                                \
    "t INTEGER, count INTEGER, lost INTEGER, busy_us INTEGER, window_us INTEGER"         \
    ", energy_mj INTEGER"                                                                \
    ", utilization_gpu_pct_n INTEGER, utilization_gpu_pct_sum INTEGER"                   \
    ", utilization_gpu_pct_min INTEGER, utilization_gpu_pct_max INTEGER"                 \
    ", utilization_memory_pct_n INTEGER, utilization_memory_pct_sum INTEGER"             \
    ", utilization_memory_pct_min INTEGER, utilization_memory_pct_max INTEGER"           \
    ", utilization_encoder_pct_n INTEGER, utilization_encoder_pct_sum INTEGER"           \
    ", utilization_encoder_pct_min INTEGER, utilization_encoder_pct_max INTEGER"         \
    ", utilization_decoder_pct_n INTEGER, utilization_decoder_pct_sum INTEGER"           \
    ", utilization_decoder_pct_min INTEGER, utilization_decoder_pct_max INTEGER"         \
    ", memory_used_bytes_n INTEGER, memory_used_bytes_sum INTEGER"                       \
    ", memory_used_bytes_min INTEGER, memory_used_bytes_max INTEGER"                     \
    ", memory_free_bytes_n INTEGER, memory_free_bytes_sum INTEGER"                       \
    ", memory_free_bytes_min INTEGER, memory_free_bytes_max INTEGER"                     \
    ", memory_reserved_bytes_n INTEGER, memory_reserved_bytes_sum INTEGER"               \
    ", memory_reserved_bytes_min INTEGER, memory_reserved_bytes_max INTEGER"             \
    ", temperature_c_n INTEGER, temperature_c_sum INTEGER"                               \
    ", temperature_c_min INTEGER, temperature_c_max INTEGER"                             \
    ", fan_pct_n INTEGER, fan_pct_sum INTEGER"                                           \
    ", fan_pct_min INTEGER, fan_pct_max INTEGER"                                         \
    ", power_mw_n INTEGER, power_mw_sum INTEGER"                                         \
    ", power_mw_min INTEGER, power_mw_max INTEGER"                                       \
    ", power_limit_mw_n INTEGER, power_limit_mw_sum INTEGER"                             \
    ", power_limit_mw_min INTEGER, power_limit_mw_max INTEGER"                           \
    ", energy_mj_n INTEGER, energy_mj_sum INTEGER"                                       \
    ", energy_mj_min INTEGER, energy_mj_max INTEGER"                                     \
    ", clock_sm_mhz_n INTEGER, clock_sm_mhz_sum INTEGER"                                 \
    ", clock_sm_mhz_min INTEGER, clock_sm_mhz_max INTEGER"                               \
    ", clock_graphics_mhz_n INTEGER, clock_graphics_mhz_sum INTEGER"                     \
    ", clock_graphics_mhz_min INTEGER, clock_graphics_mhz_max INTEGER"                   \
    ", clock_memory_mhz_n INTEGER, clock_memory_mhz_sum INTEGER"                         \
    ", clock_memory_mhz_min INTEGER, clock_memory_mhz_max INTEGER"                       \
    ", pstate_n INTEGER, pstate_sum INTEGER"                                             \
    ", pstate_min INTEGER, pstate_max INTEGER"                                           \
    ", clock_event_reasons_n INTEGER, clock_event_reasons_sum INTEGER"                   \
    ", clock_event_reasons_min INTEGER, clock_event_reasons_max INTEGER"                 \
    ", pcie_tx_kbps_n INTEGER, pcie_tx_kbps_sum INTEGER"                                 \
    ", pcie_tx_kbps_min INTEGER, pcie_tx_kbps_max INTEGER"                               \
    ", pcie_rx_kbps_n INTEGER, pcie_rx_kbps_sum INTEGER"                                 \
    ", pcie_rx_kbps_min INTEGER, pcie_rx_kbps_max INTEGER"                               \
    ", ecc_enabled_n INTEGER, ecc_enabled_sum INTEGER"                                   \
    ", ecc_enabled_min INTEGER, ecc_enabled_max INTEGER"                                 \
    ", ecc_corrected_volatile_n INTEGER, ecc_corrected_volatile_sum INTEGER"             \
    ", ecc_corrected_volatile_min INTEGER, ecc_corrected_volatile_max INTEGER"           \
    ", ecc_uncorrected_volatile_n INTEGER, ecc_uncorrected_volatile_sum INTEGER"         \
    ", ecc_uncorrected_volatile_min INTEGER, ecc_uncorrected_volatile_max INTEGER"       \
    ", ecc_corrected_aggregate_n INTEGER, ecc_corrected_aggregate_sum INTEGER"           \
    ", ecc_corrected_aggregate_min INTEGER, ecc_corrected_aggregate_max INTEGER"         \
    ", ecc_uncorrected_aggregate_n INTEGER, ecc_uncorrected_aggregate_sum INTEGER"       \
    ", ecc_uncorrected_aggregate_min INTEGER, ecc_uncorrected_aggregate_max INTEGER"     \
    ", remapped_rows_correctable_n INTEGER, remapped_rows_correctable_sum INTEGER"       \
    ", remapped_rows_correctable_min INTEGER, remapped_rows_correctable_max INTEGER"     \
    ", remapped_rows_uncorrectable_n INTEGER, remapped_rows_uncorrectable_sum INTEGER"   \
    ", remapped_rows_uncorrectable_min INTEGER, remapped_rows_uncorrectable_max INTEGER" \
    ", remapped_rows_pending_n INTEGER, remapped_rows_pending_sum INTEGER"               \
    ", remapped_rows_pending_min INTEGER, remapped_rows_pending_max INTEGER"             \
    ", remapped_rows_failure_n INTEGER, remapped_rows_failure_sum INTEGER"               \
    ", remapped_rows_failure_min INTEGER, remapped_rows_failure_max INTEGER"

static const char schema_v2_minute[] =
    "CREATE TABLE rollup_minute (key INTEGER PRIMARY KEY, gpu INTEGER NOT NULL, " ROLLUP_V2_COLUMNS
    ");";
static const char schema_v2_hour[] =
    "CREATE TABLE rollup_hour (key INTEGER PRIMARY KEY, gpu INTEGER NOT NULL, " ROLLUP_V2_COLUMNS
    ");";
static const char schema_v2_day[] =
    "CREATE TABLE rollup_day (key INTEGER PRIMARY KEY, gpu INTEGER NOT NULL, " ROLLUP_V2_COLUMNS
    ");";
static const char schema_v2_state[] =
    /* Each GPU's rollups are final for periods that start before through
     * (per level: 0 minute, 1 hour, 2 day). */
    "CREATE TABLE rollup_state (gpu INTEGER NOT NULL, level INTEGER NOT NULL,"
    "  through INTEGER NOT NULL, PRIMARY KEY (gpu, level)) WITHOUT ROWID;"
    /* gpu 0 is the machine: a minute is active when any GPU is. */
    "CREATE TABLE activity_day (gpu INTEGER NOT NULL, day INTEGER NOT NULL,"
    "  date TEXT NOT NULL, minutes INTEGER NOT NULL,"
    "  active_minutes INTEGER NOT NULL, active_gpu_minutes INTEGER NOT NULL,"
    "  peak_pct REAL, avg_pct REAL, threshold_pct REAL NOT NULL,"
    "  PRIMARY KEY (gpu, day)) WITHOUT ROWID;";

/* Version 3: the OR of the clock-event reason bits per period (a bit mask
 * has no meaningful average). Periods rolled up before it have NULL: not
 * known, until `gpulse db rebuild` recomputes them from raw samples. */
static const char schema_v3[] =
    "ALTER TABLE rollup_minute ADD COLUMN clock_event_reasons_or INTEGER;"
    "ALTER TABLE rollup_hour ADD COLUMN clock_event_reasons_or INTEGER;"
    "ALTER TABLE rollup_day ADD COLUMN clock_event_reasons_or INTEGER;";

/* Version 4: raw samples in blocks (store/blocks.h, docs/storage.md): a
 * row per GPU per minute and per process lifetime per minute, keyed like
 * the rollups (owner's id in the high 32 bits, minutes since the epoch in
 * the low ones), with the span and count of the samples it holds. The
 * step's hook moves every row of samples and process_samples into blocks;
 * the old tables go after it. */
static const char schema_v4_blocks[] =
    "CREATE TABLE sample_blocks (key INTEGER PRIMARY KEY, gpu INTEGER NOT NULL,"
    "  t_first INTEGER NOT NULL, t_last INTEGER NOT NULL, samples INTEGER NOT NULL,"
    "  data BLOB NOT NULL);"
    "CREATE TABLE process_blocks (key INTEGER PRIMARY KEY, process INTEGER NOT NULL,"
    "  t_first INTEGER NOT NULL, t_last INTEGER NOT NULL, samples INTEGER NOT NULL,"
    "  data BLOB NOT NULL);";
static const char schema_v4_drop[] = "DROP TABLE samples; DROP TABLE process_samples;";

/* Version 5: how long each lifetime's SM utilization was known, within
 * gpu_seconds. A process on a GPU whose utilization the driver does not
 * give has sm_seconds 0 that means nothing: it is shown as unknown, and an
 * average is over the known time. NULL for lifetimes stored before it:
 * known throughout, as they were shown. */
static const char schema_v5[] = "ALTER TABLE processes ADD COLUMN sm_known_seconds REAL;";

/* A step's SQL in up to this many parts, run in order in one transaction
 * (C guarantees string literals up to 4095 bytes only). */
#define MIGRATION_PARTS 4

/* The migrations, in order: migrations[v - 1] takes a database from version
 * v - 1 to version v. The rule: a released migration is never edited (not
 * even to add a column), since the files that ran it keep what it made and
 * would then differ from fresh ones; a later version only adds a step at
 * the end, frozen SQL text such as ALTER TABLE ... ADD COLUMN, and raises
 * STORE_SCHEMA_VERSION. Nothing here depends on the live field list:
 * tests/unit/test_schema.c checks that a migrated file equals a fresh one
 * and that the tables have a column for every stored field. */
static const char *const migrations[][MIGRATION_PARTS] = {
    { schema_v1 }, { schema_v2_minute, schema_v2_hour, schema_v2_day, schema_v2_state },
    { schema_v3 }, { schema_v4_blocks, schema_v4_drop },
    { schema_v5 },
};

/* A step whose rows must be converted by C (the block encoder) names a
 * hook, run after its first SQL part and before the others. Like the SQL,
 * a hook is never changed once released: it reads the columns of the
 * schema it starts from, by name. */
static int (*const migration_hooks[])(struct store *s, char **msg) = {
    NULL, NULL, NULL, store_blocks_migrate_v4, NULL,
};

_Static_assert(GP_ARRAY_LEN(migration_hooks) == STORE_SCHEMA_VERSION,
               "one hook slot per schema version");

_Static_assert(GP_ARRAY_LEN(migrations) == STORE_SCHEMA_VERSION,
               "one migration per schema version");

/* Runs the step to version to in its own transaction, with the version. */
static int migrate_to(struct store *s, int to, char **msg)
{
    char set_version[64];
    snprintf(set_version, sizeof(set_version), "PRAGMA user_version = %d", to);
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, msg);
    for (size_t i = 0; i < MIGRATION_PARTS && migrations[to - 1][i] && rc == SQLITE_OK; i++) {
        rc = sqlite3_exec(s->db, migrations[to - 1][i], NULL, NULL, msg);
        if (i == 0 && rc == SQLITE_OK && migration_hooks[to - 1]) {
            rc = migration_hooks[to - 1](s, msg);
        }
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(s->db, set_version, NULL, NULL, msg);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, msg);
    }
    return rc;
}

int store_schema_version(struct store *s, int *version, struct gp_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_ROW) {
        int e = store_errno(rc);
        gp_err_set(err, e, "cannot read database '%s': %s", s->path, store_errmsg(s, rc));
        sqlite3_finalize(st);
        return e;
    }
    *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return 0;
}

/* A file at version 0 is ours only if it has no tables yet. */
static int table_count(struct store *s, int *count)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        *count = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    } else {
        rc = SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    return rc;
}

int store_schema_check(struct store *s, int version, struct gp_err *err)
{
    if (version > STORE_SCHEMA_VERSION) {
        return gp_err_set(err, -EPROTO,
                          "database '%s' has schema version %d, written by a newer gpulse (this "
                          "one knows up to %d); it was left untouched: upgrade gpulse",
                          s->path, version, STORE_SCHEMA_VERSION);
    }
    int tables = 0;
    if (version == 0 && (table_count(s, &tables) != SQLITE_OK || tables > 0)) {
        return gp_err_set(err, -EILSEQ,
                          "'%s' is an SQLite database but not gpulse's; it was left untouched",
                          s->path);
    }
    return 0;
}

int store_schema_migrate(struct store *s, struct gp_err *err)
{
    int version = 0;
    int rc = store_schema_version(s, &version, err);
    if (rc == 0) {
        rc = store_schema_check(s, version, err);
    }
    if (rc) {
        return rc;
    }
    s->migrated_from = version;
    for (int v = version; v < STORE_SCHEMA_VERSION; v++) {
        char *msg = NULL;
        rc = migrate_to(s, v + 1, &msg);
        if (rc != SQLITE_OK) {
            int e = gp_err_set(err, store_errno(rc),
                               "cannot migrate database '%s' to schema version %d: %s", s->path,
                               v + 1, msg ? msg : store_errmsg(s, rc));
            sqlite3_free(msg);
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return e;
        }
    }
    return 0;
}
