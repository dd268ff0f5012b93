/* Retention: old rows leave in small time-bounded steps, each its own
 * short transaction, and the freed pages go back to the file system by
 * incremental vacuum, outside any write transaction, so the writer (and
 * the sampler behind it) never waits long. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store/store_int.h"
#include "util/clock.h"

/* One DELETE covers at most this much time of one table, so a first prune
 * over months of history is many short transactions, not one long one. */
#define CHUNK_MS (3600LL * 1000)
/* Pages returned to the file system per incremental-vacuum statement. */
#define VACUUM_PAGES 256

struct table_rule {
    const char *table;
    const char *time_column;
    size_t limit_offset; /* of the limit in struct store_retention */
    bool takes_samples;  /* a process row takes its process_samples along */
};

static const struct table_rule rules[] = {
    { "samples", "t", offsetof(struct store_retention, samples_ms), false },
    { "process_samples", "t", offsetof(struct store_retention, process_samples_ms), false },
    { "processes", "last_seen", offsetof(struct store_retention, processes_ms), true },
};

static int oldest(struct store *s, const struct table_rule *r, int64_t *t, bool *any)
{
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT min(%s) FROM %s", r->time_column, r->table);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *any = sqlite3_column_type(st, 0) != SQLITE_NULL;
        *t = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Deletes rows of one table older than cutoff, oldest first, one chunk. */
static int delete_chunk(struct store *s, const struct table_rule *r, int64_t cutoff,
                        int64_t *deleted, bool *done, struct gp_err *err)
{
    int64_t first = 0;
    bool any = false;
    int rc = oldest(s, r, &first, &any);
    if (rc != SQLITE_OK) {
        return gp_err_set(err, store_errno(rc), "cannot prune '%s': %s", s->path,
                          sqlite3_errmsg(s->db));
    }
    if (!any || first >= cutoff) {
        *done = true;
        return 0;
    }
    int64_t upto = first + CHUNK_MS < cutoff ? first + CHUNK_MS : cutoff;
    char sql[200];
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE %s < ?1", r->table, r->time_column);
    sqlite3_stmt *st = NULL;
    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    /* A process lifetime that goes takes its samples with it. */
    if (rc == SQLITE_OK && r->takes_samples) {
        rc = sqlite3_prepare_v2(s->db,
                                "DELETE FROM process_samples WHERE process IN (SELECT id FROM "
                                "processes WHERE last_seen < ?1)",
                                -1, &st, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, upto);
            rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    }
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, upto);
        rc = sqlite3_step(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK) {
        *deleted += sqlite3_changes64(s->db);
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        int e = gp_err_set(err, store_errno(rc), "cannot prune %s in '%s': %s", r->table, s->path,
                           sqlite3_errmsg(s->db));
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return e;
    }
    *done = upto >= cutoff;
    return 0;
}

int store_prune(struct store *s, const struct store_retention *ret, int64_t now_ms,
                int64_t budget_ms, struct store_prune_result *out, struct gp_err *err)
{
    int64_t start = (int64_t)(clock_monotonic_us() / 1000);
    bool finished = true;
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        int64_t limit = 0;
        memcpy(&limit, (const char *)ret + rules[i].limit_offset, sizeof(limit));
        if (limit <= 0) {
            continue; /* kept forever */
        }
        bool done = false;
        while (!done) {
            int rc = delete_chunk(s, &rules[i], now_ms - limit, &out->rows_deleted, &done, err);
            if (rc) {
                return rc;
            }
            if (!done && budget_ms > 0 &&
                (int64_t)(clock_monotonic_us() / 1000) - start >= budget_ms) {
                out->finished = false;
                return 0;
            }
        }
    }
    /* Give the space back, a few pages at a time, outside any transaction. */
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
                              sqlite3_errmsg(s->db));
        }
        out->pages_freed += free_pages < VACUUM_PAGES ? free_pages : VACUUM_PAGES;
        if (budget_ms > 0 && (int64_t)(clock_monotonic_us() / 1000) - start >= budget_ms) {
            finished = false;
            break;
        }
    }
    out->finished = finished;
    return 0;
}
