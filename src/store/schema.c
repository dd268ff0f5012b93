/* The schema, version by version. Each migration runs in its own
 * transaction; PRAGMA user_version records the version reached. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/agg.h"
#include "store/store_int.h"
#include "util/xalloc.h"

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
 * without a second index. */
static int schema_v2(char *sql, size_t size)
{
    char cols[8192];
    if (store_agg_columns(cols, sizeof(cols), store_agg_all_slots, STORE_AGG_FIELDS, true) == 0) {
        return -1;
    }
    int n = 0;
    static const char *const tables[] = { "rollup_minute", "rollup_hour", "rollup_day" };
    for (size_t i = 0; i < GP_ARRAY_LEN(tables); i++) {
        n += snprintf(sql + n, size - (size_t)n,
                      "CREATE TABLE %s (key INTEGER PRIMARY KEY, gpu INTEGER NOT NULL, %s);",
                      tables[i], cols);
        if (n < 0 || (size_t)n >= size) {
            return -1;
        }
    }
    n += snprintf(sql + n, size - (size_t)n, "%s",
                  /* Each GPU's rollups are final for periods that start before
                   * through (per level: 0 minute, 1 hour, 2 day). */
                  "CREATE TABLE rollup_state (gpu INTEGER NOT NULL, level INTEGER NOT NULL,"
                  "  through INTEGER NOT NULL, PRIMARY KEY (gpu, level)) WITHOUT ROWID;"
                  /* gpu 0 is the machine: a minute is active when any GPU is. */
                  "CREATE TABLE activity_day (gpu INTEGER NOT NULL, day INTEGER NOT NULL,"
                  "  date TEXT NOT NULL, minutes INTEGER NOT NULL,"
                  "  active_minutes INTEGER NOT NULL, active_gpu_minutes INTEGER NOT NULL,"
                  "  peak_pct REAL, avg_pct REAL, threshold_pct REAL NOT NULL,"
                  "  PRIMARY KEY (gpu, day)) WITHOUT ROWID;");
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* Version 3: the OR of the clock-event reason bits per period (a bit mask
 * has no meaningful average). Periods rolled up before it have NULL: not
 * known, until `gpulse db rebuild` recomputes them from raw samples. */
static const char schema_v3[] =
    "ALTER TABLE rollup_minute ADD COLUMN clock_event_reasons_or INTEGER;"
    "ALTER TABLE rollup_hour ADD COLUMN clock_event_reasons_or INTEGER;"
    "ALTER TABLE rollup_day ADD COLUMN clock_event_reasons_or INTEGER;";

/* The SQL that takes a database from version to - 1 to version to. */
static int migration_sql(int to, char *sql, size_t size)
{
    switch (to) {
    case 1:
        snprintf(sql, size, "%s", schema_v1);
        return 0;
    case 2:
        return schema_v2(sql, size);
    case 3:
        snprintf(sql, size, "%s", schema_v3);
        return 0;
    default:
        return -1;
    }
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
        gp_err_set(err, e, "cannot read database '%s': %s", s->path, sqlite3_errmsg(s->db));
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
    const size_t sql_size = 32768;
    char *sql = xmalloc(sql_size);
    s->migrated_from = version;
    for (int v = version; v < STORE_SCHEMA_VERSION; v++) {
        if (migration_sql(v + 1, sql, sql_size) != 0) {
            free(sql);
            return gp_err_set(err, -EIO, "internal error: no migration to schema version %d",
                              v + 1);
        }
        char set_version[64];
        snprintf(set_version, sizeof(set_version), "PRAGMA user_version = %d", v + 1);
        char *msg = NULL;
        rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
        if (rc == SQLITE_OK) {
            rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
        }
        if (rc == SQLITE_OK) {
            rc = sqlite3_exec(s->db, set_version, NULL, NULL, &msg);
        }
        if (rc == SQLITE_OK) {
            rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, &msg);
        }
        if (rc != SQLITE_OK) {
            int e = gp_err_set(err, store_errno(rc),
                               "cannot migrate database '%s' to schema version %d: %s", s->path,
                               v + 1, msg ? msg : sqlite3_errmsg(s->db));
            sqlite3_free(msg);
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            free(sql);
            return e;
        }
    }
    free(sql);
    return 0;
}
