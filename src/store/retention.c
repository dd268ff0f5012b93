/* Retention: old rows leave in small time-bounded steps, each its own
 * short transaction, one GPU at a time along the tables' keys (never a
 * scan of a whole table), and the freed pages go back to the file system
 * by incremental vacuum, outside any write transaction, so the writer (and
 * the sampler behind it) never waits long. Nothing is deleted that a
 * coarser rollup has not taken in yet: raw samples stay until their minute
 * is rolled up, minutes until their hour and day are. Raw samples go a
 * whole block (a minute) at a time. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "store/store_int.h"
#include "util/clock.h"

/* Pages returned to the file system per incremental-vacuum statement. */
#define VACUUM_PAGES 256

enum rule_kind {
    BY_BLOCK, /* raw samples: rowid = gpu << 32 | minute, whole minutes */
    BY_KEY,   /* rollups: rowid = gpu << 32 | minute */
    BY_SQL,   /* small tables: one statement over a time column */
};

struct table_rule {
    const char *table;
    size_t limit_offset;    /* of the limit in struct store_retention */
    int64_t chunk_ms;       /* one transaction deletes at most this span */
    const char *delete_sql; /* BY_SQL: ?1 is the cutoff */
    enum rule_kind kind;
    /* Watermarks (rollup levels, as a bit mask) a deletion must stay under. */
    unsigned guard_levels;
};

#define LIMIT(field) offsetof(struct store_retention, field)

static const struct table_rule rules[] = {
    { .table = "sample_blocks",
      .kind = BY_BLOCK,
      .limit_offset = LIMIT(samples_ms),
      .chunk_ms = CLOCK_HOUR_MS,
      .guard_levels = 1U << STORE_LEVEL_MINUTE },
    { .table = "process_blocks",
      .kind = BY_SQL,
      .limit_offset = LIMIT(process_samples_ms),
      /* along each older lifetime's keys, not a scan of the table; whole
       * minutes that end by the cutoff */
      .delete_sql = "DELETE FROM process_blocks WHERE key IN (SELECT b.key FROM processes p"
                    " JOIN process_blocks b ON b.key >= p.id * 4294967296"
                    " AND b.key < p.id * 4294967296 + ?1 / 60000 WHERE p.first_seen < ?1)" },
    { .table = "rollup_minute",
      .kind = BY_KEY,
      .limit_offset = LIMIT(minute_ms),
      .chunk_ms = CLOCK_DAY_MS,
      .guard_levels = (1U << STORE_LEVEL_HOUR) | (1U << STORE_LEVEL_DAY) },
    { .table = "rollup_hour",
      .kind = BY_KEY,
      .limit_offset = LIMIT(hour_ms),
      .chunk_ms = 30 * CLOCK_DAY_MS },
    { .table = "rollup_day",
      .kind = BY_KEY,
      .limit_offset = LIMIT(day_ms),
      .chunk_ms = 3650 * CLOCK_DAY_MS },
    { .table = "activity_day",
      .kind = BY_SQL,
      .limit_offset = LIMIT(day_ms),
      .delete_sql = "DELETE FROM activity_day WHERE day < ?1" },
    { .table = "processes",
      .kind = BY_SQL,
      .limit_offset = LIMIT(processes_ms),
      /* a lifetime that goes takes its samples with it */
      .delete_sql = "DELETE FROM process_blocks WHERE key IN (SELECT b.key FROM processes p"
                    " JOIN process_blocks b ON b.key >= p.id * 4294967296"
                    " AND b.key < (p.id + 1) * 4294967296 WHERE p.last_seen < ?1);"
                    "DELETE FROM processes WHERE last_seen < ?1" },
};

void store_retention_from_config(const struct config *cfg, struct store_retention *out)
{
    *out = (struct store_retention){
        .samples_ms = (int64_t)cfg->retention_samples_ms,
        .process_samples_ms = (int64_t)cfg->retention_process_samples_ms,
        .minute_ms = (int64_t)cfg->retention_minute_ms,
        .hour_ms = (int64_t)cfg->retention_hour_ms,
        .day_ms = (int64_t)cfg->retention_day_ms,
        .processes_ms = (int64_t)cfg->retention_processes_ms,
    };
}

/* Runs one or more statements (separated by ';') with ?1 bound to cutoff
 * and ?2 / ?3 to a and b, in the caller's transaction; adds the rows
 * changed to *deleted. */
static int run(struct store *s, const char *sql, int64_t p1, int64_t p2, int64_t p3,
               int64_t *deleted)
{
    const char *tail = sql;
    int rc = SQLITE_OK;
    while (rc == SQLITE_OK && tail && *tail) {
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(s->db, tail, -1, &st, &tail);
        if (rc != SQLITE_OK || !st) {
            break;
        }
        int params = sqlite3_bind_parameter_count(st);
        sqlite3_bind_int64(st, 1, p1);
        if (params >= 2) {
            sqlite3_bind_int64(st, 2, p2);
        }
        if (params >= 3) {
            sqlite3_bind_int64(st, 3, p3);
        }
        rc = sqlite3_step(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        if (rc == SQLITE_OK) {
            *deleted += sqlite3_changes64(s->db);
        }
        sqlite3_finalize(st);
    }
    return rc;
}

static int in_transaction(struct store *s, const char *sql, int64_t p1, int64_t p2, int64_t p3,
                          int64_t *deleted)
{
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        rc = run(s, sql, p1, p2, p3, deleted);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

/* The oldest time (or key) a rule still has for one owner (GPU or
 * process); *any false when it has none. */
static int oldest(struct store *s, const struct table_rule *r, int64_t owner, int64_t *t, bool *any)
{
    /* A block's time is its minute's start, from the key. */
    char sql[200];
    snprintf(sql, sizeof(sql),
             "SELECT %s FROM %s WHERE key >= ?1 AND key < ?2 ORDER BY key"
             " LIMIT 1",
             r->kind == BY_BLOCK ? "(key & 4294967295) * 60000" : "t", r->table);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    *any = false;
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, store_rollup_key(owner, 0));
        sqlite3_bind_int64(st, 2, store_rollup_key(owner + 1, 0));
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
            *any = true;
            *t = sqlite3_column_int64(st, 0);
        }
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc;
}

static bool out_of_budget(int64_t start_ms, int64_t budget_ms)
{
    return budget_ms > 0 && (int64_t)(clock_monotonic_us() / 1000) - start_ms >= budget_ms;
}

/* Deletes one GPU's rows of a rule older than cutoff, a chunk per
 * transaction, until done or out of budget (*done false). */
static int prune_gpu(struct store *s, const struct table_rule *r, int64_t gpu_id, int64_t cutoff,
                     int64_t start_ms, int64_t budget_ms, int64_t *deleted, bool *done)
{
    int64_t through[STORE_LEVEL_COUNT];
    int rc = store_rollup_through(s, gpu_id, through) == 0 ? SQLITE_OK : SQLITE_ERROR;
    for (int level = 0; level < STORE_LEVEL_COUNT; level++) {
        if (r->guard_levels & (1U << level)) {
            cutoff = through[level] < cutoff ? through[level] : cutoff;
        }
    }
    if (r->kind == BY_BLOCK) {
        /* whole minutes only: a block goes once its minute ends by the cutoff */
        cutoff = store_level_start(STORE_LEVEL_MINUTE, cutoff);
    }
    char sql[200];
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE key >= ?1 AND key < ?2", r->table);
    *done = false;
    while (rc == SQLITE_OK) {
        int64_t first = 0;
        bool any = false;
        rc = oldest(s, r, gpu_id, &first, &any);
        if (rc != SQLITE_OK || !any || first >= cutoff) {
            *done = rc == SQLITE_OK;
            break;
        }
        int64_t upto = first + r->chunk_ms < cutoff ? first + r->chunk_ms : cutoff;
        if (r->kind == BY_BLOCK) {
            rc = in_transaction(s, sql, store_rollup_key(gpu_id, 0), store_rollup_key(gpu_id, upto),
                                0, deleted);
        } else {
            /* A rollup period is deleted once it starts before the cutoff. */
            rc = in_transaction(s, sql, store_rollup_key(gpu_id, 0),
                                store_rollup_key(gpu_id, upto - 1) + 1, 0, deleted);
        }
        if (rc == SQLITE_OK && out_of_budget(start_ms, budget_ms)) {
            break;
        }
    }
    return rc;
}

static int prune_rule(struct store *s, const struct table_rule *r, int64_t cutoff, int64_t start_ms,
                      int64_t budget_ms, int64_t *deleted, bool *done)
{
    if (r->kind == BY_SQL) {
        *done = true;
        return in_transaction(s, r->delete_sql, cutoff, 0, 0, deleted);
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT id FROM gpus ORDER BY id", -1, &st, NULL);
    int64_t ids[256];
    size_t n = 0;
    while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW && n < GP_ARRAY_LEN(ids)) {
        ids[n++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    *done = true;
    for (size_t i = 0; i < n && rc == SQLITE_OK && *done; i++) {
        rc = prune_gpu(s, r, ids[i], cutoff, start_ms, budget_ms, deleted, done);
    }
    return rc;
}

int store_prune(struct store *s, const struct store_retention *ret, int64_t now_ms,
                int64_t budget_ms, struct store_prune_result *out, struct gp_err *err)
{
    int64_t start = (int64_t)(clock_monotonic_us() / 1000);
    for (size_t i = 0; i < GP_ARRAY_LEN(rules); i++) {
        int64_t limit = 0;
        memcpy(&limit, (const char *)ret + rules[i].limit_offset, sizeof(limit));
        if (limit <= 0) {
            continue; /* kept forever */
        }
        bool done = false;
        int rc =
            prune_rule(s, &rules[i], now_ms - limit, start, budget_ms, &out->rows_deleted, &done);
        if (rc != SQLITE_OK) {
            int e = gp_err_set(err, store_errno(rc), "cannot prune %s in '%s': %s", rules[i].table,
                               s->path, store_errmsg(s, rc));
            return e;
        }
        if (!done) {
            out->finished = false;
            return 0;
        }
    }
    /* Give the space back, a few pages at a time, outside any transaction. */
    bool finished = true;
    for (;;) {
        sqlite3_stmt *st = NULL;
        int64_t free_pages = 0;
        if (sqlite3_prepare_v2(s->db, "PRAGMA freelist_count", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            free_pages = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
        if (free_pages == 0) {
            break;
        }
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA incremental_vacuum(%d)", VACUUM_PAGES);
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            return gp_err_set(err, store_errno(rc), "cannot vacuum '%s': %s", s->path,
                              store_errmsg(s, rc));
        }
        out->pages_freed += free_pages < VACUUM_PAGES ? free_pages : VACUUM_PAGES;
        if (out_of_budget(start, budget_ms)) {
            finished = false;
            break;
        }
    }
    out->finished = finished;
    return 0;
}
