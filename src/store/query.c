/* Read-side queries for the CLI (and later the HTTP API): prepared, with
 * every filter bound as a parameter, never pasted into SQL. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "util/xalloc.h"

static const struct {
    enum store_process_sort key;
    const char *order_by;
} sort_orders[] = {
    { STORE_SORT_GPU_SECONDS, "p.gpu_seconds DESC" },
    { STORE_SORT_SM_SECONDS, "p.sm_seconds DESC" },
    { STORE_SORT_MEMORY, "p.memory_max_bytes DESC" },
    { STORE_SORT_FIRST_SEEN, "p.first_seen DESC" },
    { STORE_SORT_LAST_SEEN, "p.last_seen DESC" },
    { STORE_SORT_PID, "p.pid ASC" },
    { STORE_SORT_USER, "p.user ASC" },
};

static char *column_text_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? xstrdup((const char *)t) : NULL;
}

int store_query_processes(struct store *s, const struct store_process_filter *f,
                          struct store_process_row **rows_out, size_t *count_out,
                          struct gp_err *err)
{
    const char *order = sort_orders[0].order_by;
    for (size_t i = 0; i < sizeof(sort_orders) / sizeof(sort_orders[0]); i++) {
        if (sort_orders[i].key == f->sort) {
            order = sort_orders[i].order_by;
        }
    }
    char sql[1400];
    snprintf(sql, sizeof(sql),
             "SELECT g.idx, g.uuid, p.pid, p.start_time, p.type, p.uid, p.user, p.command,"
             " p.cmdline, p.container, p.first_seen, p.last_seen, p.samples,"
             " p.memory_max_bytes, p.memory_sum_bytes, p.gpu_seconds, p.sm_seconds"
             " FROM processes p JOIN gpus g ON g.id = p.gpu"
             " WHERE p.last_seen >= ?1"
             " AND (?2 IS NULL OR p.user = ?2)"
             " AND (?3 IS NULL OR g.idx = ?3 OR g.uuid = ?4)"
             " AND (?5 = 0 OR p.last_seen >= (SELECT max(t) FROM samples) - ?5)"
             " ORDER BY %s, p.id LIMIT ?6",
             order);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        return gp_err_set(err, store_errno(rc), "cannot query '%s': %s", s->path,
                          sqlite3_errmsg(s->db));
    }
    sqlite3_bind_int64(st, 1, f->since_ms);
    if (f->user) {
        sqlite3_bind_text(st, 2, f->user, -1, SQLITE_STATIC);
    }
    if (f->gpu) {
        sqlite3_bind_text(st, 3, f->gpu, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, f->gpu, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 5, f->active_within_ms);
    sqlite3_bind_int64(st, 6, f->limit > 0 ? f->limit : -1);

    struct store_process_row *rows = NULL;
    size_t n = 0;
    size_t cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            rows = xrealloc(rows, cap * sizeof(*rows));
        }
        struct store_process_row *r = &rows[n++];
        int64_t samples = sqlite3_column_int64(st, 12);
        *r = (struct store_process_row){
            .gpu_index = sqlite3_column_int(st, 0),
            .gpu_uuid = column_text_dup(st, 1),
            .pid = (uint32_t)sqlite3_column_int64(st, 2),
            .start_time_ms = sqlite3_column_int64(st, 3),
            .type_mask = (unsigned)sqlite3_column_int(st, 4),
            .has_uid = sqlite3_column_type(st, 5) != SQLITE_NULL,
            .uid = (uint32_t)sqlite3_column_int64(st, 5),
            .user = column_text_dup(st, 6),
            .command = column_text_dup(st, 7),
            .cmdline = column_text_dup(st, 8),
            .container = column_text_dup(st, 9),
            .first_seen_ms = sqlite3_column_int64(st, 10),
            .last_seen_ms = sqlite3_column_int64(st, 11),
            .samples = samples,
            .has_memory = sqlite3_column_type(st, 13) != SQLITE_NULL,
            .memory_max_bytes = sqlite3_column_int64(st, 13),
            .memory_avg_bytes = samples > 0 ? sqlite3_column_double(st, 14) / (double)samples : 0,
            .gpu_seconds = sqlite3_column_double(st, 15),
            .sm_seconds = sqlite3_column_double(st, 16),
        };
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        store_process_rows_free(rows, n);
        return gp_err_set(err, store_errno(rc), "cannot query '%s': %s", s->path,
                          sqlite3_errmsg(s->db));
    }
    *rows_out = rows;
    *count_out = n;
    return 0;
}

void store_process_rows_free(struct store_process_row *rows, size_t n)
{
    for (size_t i = 0; i < n && rows; i++) {
        free(rows[i].gpu_uuid);
        free(rows[i].user);
        free(rows[i].command);
        free(rows[i].cmdline);
        free(rows[i].container);
    }
    free(rows);
}

int store_query_history(struct store *s, const struct store_history_query *q,
                        struct store_history_row **rows_out, size_t *count_out, struct gp_err *err)
{
    /* Column names come from the field table, never from the user. */
    char cols[2048] = "";
    size_t len = 0;
    for (size_t i = 0; i < q->metric_count && i < STORE_HISTORY_MAX_METRICS; i++) {
        const char *k = gpu_field_info(q->metrics[i])->key;
        len += (size_t)snprintf(cols + len, sizeof(cols) - len, ", avg(%s), min(%s), max(%s)", k, k,
                                k);
    }
    char sql[4096];
    snprintf(sql, sizeof(sql),
             "SELECT g.idx, CASE WHEN ?4 > 0 THEN (s.t / ?4) * ?4 ELSE s.t END AS b, count(*),"
             " CASE WHEN sum(s.window_us) > 0 THEN 100.0 * sum(s.busy_us) / sum(s.window_us)"
             " END%s"
             " FROM samples s JOIN gpus g ON g.id = s.gpu"
             " WHERE s.t >= ?1 AND s.t < ?2 AND (?3 IS NULL OR g.idx = ?3 OR g.uuid = ?3)"
             " GROUP BY g.idx, b ORDER BY g.idx, b",
             cols);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        return gp_err_set(err, store_errno(rc), "cannot query '%s': %s", s->path,
                          sqlite3_errmsg(s->db));
    }
    sqlite3_bind_int64(st, 1, q->from_ms);
    sqlite3_bind_int64(st, 2, q->to_ms);
    if (q->gpu) {
        sqlite3_bind_text(st, 3, q->gpu, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 4, q->step_ms);
    struct store_history_row *rows = NULL;
    size_t n = 0;
    size_t cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            rows = xrealloc(rows, cap * sizeof(*rows));
        }
        struct store_history_row *r = &rows[n++];
        *r = (struct store_history_row){
            .gpu_index = sqlite3_column_int(st, 0),
            .t_ms = sqlite3_column_int64(st, 1),
            .count = sqlite3_column_int64(st, 2),
            .has_busy = sqlite3_column_type(st, 3) != SQLITE_NULL,
            .busy_pct = sqlite3_column_double(st, 3),
        };
        for (size_t i = 0; i < q->metric_count && i < STORE_HISTORY_MAX_METRICS; i++) {
            int c = 4 + (int)i * 3;
            r->has[i] = sqlite3_column_type(st, c) != SQLITE_NULL;
            r->avg[i] = sqlite3_column_double(st, c);
            r->min[i] = sqlite3_column_double(st, c + 1);
            r->max[i] = sqlite3_column_double(st, c + 2);
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(rows);
        return gp_err_set(err, store_errno(rc), "cannot query '%s': %s", s->path,
                          sqlite3_errmsg(s->db));
    }
    *rows_out = rows;
    *count_out = n;
    return 0;
}
