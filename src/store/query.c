/* Read-side queries for the CLI (and later the HTTP API): prepared, with
 * every filter bound as a parameter, never pasted into SQL. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/agg.h"
#include "store/store_int.h"
#include "util/clock.h"
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
    char sql[1800];
    snprintf(sql, sizeof(sql),
             "SELECT g.idx, g.uuid, p.pid, p.start_time, p.type, p.uid, p.user, p.command,"
             " p.cmdline, p.container, p.first_seen, p.last_seen, p.samples,"
             " p.memory_max_bytes, p.memory_sum_bytes, p.gpu_seconds, p.sm_seconds,"
             " coalesce(p.sm_known_seconds, p.gpu_seconds)"
             " FROM processes p JOIN gpus g ON g.id = p.gpu"
             " WHERE p.last_seen >= ?1"
             " AND (?2 IS NULL OR p.user = ?2 OR CAST(p.uid AS TEXT) = ?2)"
             " AND (?3 IS NULL OR g.idx = ?3 OR g.uuid = ?4)"
             " AND (?5 = 0 OR p.last_seen >= (SELECT max(last_seen) FROM gpus) - ?5)"
             " AND (?7 IS NULL OR instr(lower(coalesce(p.command, '') || ' ' ||"
             "  coalesce(p.cmdline, '') || ' ' || coalesce(p.user, '') || ' ' ||"
             "  coalesce(p.container, '')), lower(?7)) > 0)"
             " ORDER BY %s, p.id LIMIT ?6",
             order);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        return gp_err_set(err, store_errno(rc), "cannot query '%s': %s", s->path,
                          store_errmsg(s, rc));
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
    if (f->query) {
        sqlite3_bind_text(st, 7, f->query, -1, SQLITE_STATIC);
    }

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
            .sm_known_seconds = sqlite3_column_double(st, 17),
        };
        r->has_sm = r->sm_known_seconds > 0;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        store_process_rows_free(rows, n);
        return gp_err_set(err, store_errno(rc), "cannot query '%s': %s", s->path,
                          store_errmsg(s, rc));
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

/* The local days a query has met, shared by its GPUs: each day's start is
 * worked out once per query, not once per row. */
struct day_cuts {
    int64_t *start_ms; /* ascending, at least 2: day i is [start_ms[i], start_ms[i + 1]) */
    size_t n;
    size_t cap;
    size_t at; /* the day the last lookup found: rows come in time order */
};

static void day_cuts_push(struct day_cuts *d, int64_t start_ms)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->start_ms = xrealloc(d->start_ms, d->cap * sizeof(*d->start_ms));
    }
    d->start_ms[d->n++] = start_ms;
}

/* The start of the local day holding t. */
static int64_t day_cuts_find(struct day_cuts *d, int64_t t)
{
    if (d->n == 0 || t < d->start_ms[0]) {
        d->n = 0;
        day_cuts_push(d, clock_local_day_start(t));
        day_cuts_push(d, clock_local_day_next(d->start_ms[0]));
        d->at = 0;
    }
    if (t < d->start_ms[d->at]) {
        d->at = 0; /* the next GPU starts over */
    }
    while (t >= d->start_ms[d->at + 1]) {
        d->at++;
        if (d->at + 1 == d->n) {
            day_cuts_push(d, clock_local_day_next(d->start_ms[d->at]));
        }
    }
    return d->start_ms[d->at];
}

/* A history query in progress: one GPU at a time, buckets filled in time
 * order as the sources (rollups, then finer rollups, then raw samples)
 * deliver periods. */
struct history_run {
    const struct store_history_query *q;
    struct day_cuts days; /* local_days only */
    size_t slots[STORE_HISTORY_MAX_METRICS];
    int gpu_index;
    bool have;
    struct store_agg cur;
    struct store_history_row *rows;
    size_t n;
    size_t cap;
    size_t gpu_rows; /* the current GPU's */
    bool over;       /* a GPU has more than q->max_rows_per_gpu */
};

static int64_t bucket_of(struct history_run *h, int64_t t)
{
    const struct store_history_query *q = h->q;
    if (q->local_days) {
        return day_cuts_find(&h->days, t);
    }
    if (q->step_ms <= 0) {
        return t;
    }
    return t - ((t % q->step_ms) + q->step_ms) % q->step_ms;
}

static void emit(struct history_run *h)
{
    if (!h->have) {
        return;
    }
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 256;
        h->rows = xrealloc(h->rows, h->cap * sizeof(*h->rows));
    }
    const struct store_agg *a = &h->cur;
    struct store_history_row *r = &h->rows[h->n++];
    h->gpu_rows++;
    h->over = h->over || (h->q->max_rows_per_gpu > 0 && h->gpu_rows > h->q->max_rows_per_gpu);
    *r = (struct store_history_row){
        .gpu_index = h->gpu_index,
        .t_ms = a->t,
        .count = a->count,
        .has_busy = a->window_us > 0,
        .busy_pct = a->window_us > 0 ? 100.0 * (double)a->busy_us / (double)a->window_us : 0,
        .busy_seconds = (double)a->busy_us / 1e6,
        .has_energy = a->has_energy,
        .energy_j = (double)a->energy_mj / 1000.0,
    };
    for (size_t i = 0; i < h->q->metric_count; i++) {
        const struct store_metric_agg *m = &a->m[h->slots[i]];
        r->has[i] = m->n > 0;
        if (m->n > 0) {
            r->avg[i] = (double)m->sum / (double)m->n;
            r->min[i] = (double)m->min;
            r->max[i] = (double)m->max;
            r->delta[i] = (double)(m->max - m->min);
        }
        if (m->n > 0 && gpu_field_info(h->q->metrics[i])->kind == GPU_KIND_FLAGS) {
            r->has_bits[i] = m->bits_known;
            r->bits[i] = m->bits;
        }
    }
    h->have = false;
}

/* Takes one period (a sample or a rollup row) into its bucket. */
static void feed(struct history_run *h, const struct store_agg *a)
{
    int64_t b = bucket_of(h, a->t);
    if (h->have && h->cur.t != b) {
        emit(h);
    }
    if (!h->have) {
        store_agg_init(&h->cur, b);
        h->have = true;
    }
    store_agg_merge(&h->cur, a);
}

enum {
    LEVEL_RAW = -1
};

static int read_raw(struct store *s, struct history_run *h, int64_t gpu_id, int64_t from,
                    int64_t to)
{
    struct store_raw_reader r;
    int rc = store_raw_reader_open(s->db, &r, gpu_id, from, to, h->slots, h->q->metric_count);
    struct store_agg one;
    while (rc == SQLITE_OK && !h->over && (rc = store_raw_reader_next(&r, &one)) == SQLITE_ROW) {
        feed(h, &one);
        rc = SQLITE_OK;
    }
    store_raw_reader_close(&r);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Reads [from, to) of a GPU at a level: its rollup rows up to the level's
 * watermark, the rest from the next finer source. */
static int read_level(struct store *s, struct history_run *h, int64_t gpu_id, int level,
                      int64_t from, int64_t to, const int64_t through[STORE_LEVEL_COUNT])
{
    if (from >= to) {
        return SQLITE_OK;
    }
    if (level == LEVEL_RAW) {
        return read_raw(s, h, gpu_id, from, to);
    }
    int64_t w = through[level];
    int rc = SQLITE_OK;
    if (w > from) {
        char cols[4096];
        store_agg_columns(cols, sizeof(cols), h->slots, h->q->metric_count);
        char sql[4352];
        snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE key >= ?1 AND key < ?2 ORDER BY key",
                 cols, store_level_table((enum store_level)level));
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, store_rollup_key(gpu_id, from));
            /* Periods that start before the end: the key of its last ms, + 1. */
            sqlite3_bind_int64(st, 2, store_rollup_key(gpu_id, (w < to ? w : to) - 1) + 1);
        }
        struct store_agg a;
        while (rc == SQLITE_OK && !h->over && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            store_agg_read(&a, st, 0, h->slots, h->q->metric_count);
            feed(h, &a);
            rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        from = w;
    }
    /* Days hand over to hours where a day starts on the hour (every zone
     * but the half-hour ones), else to minutes. */
    int finer = level == STORE_LEVEL_MINUTE ? LEVEL_RAW : STORE_LEVEL_MINUTE;
    if (level == STORE_LEVEL_DAY && from % CLOCK_HOUR_MS == 0 && through[STORE_LEVEL_HOUR] > from) {
        finer = STORE_LEVEL_HOUR;
    }
    return rc == SQLITE_OK ? read_level(s, h, gpu_id, finer, from, to, through) : rc;
}

int store_query_history(struct store *s, const struct store_history_query *q,
                        struct store_history_row **rows_out, size_t *count_out, struct gp_err *err)
{
    struct history_run h = { .q = q };
    for (size_t i = 0; i < q->metric_count && i < STORE_HISTORY_MAX_METRICS; i++) {
        int slot = store_sample_slot(q->metrics[i]);
        if (slot < 0) {
            return gp_err_set(err, -EINVAL, "'%s' is not a stored metric",
                              gpu_field_info(q->metrics[i])->key);
        }
        h.slots[i] = (size_t)slot;
    }
    int level = LEVEL_RAW;
    if (q->local_days) {
        level = STORE_LEVEL_DAY;
    } else if (q->step_ms > 0 && q->step_ms % CLOCK_HOUR_MS == 0) {
        level = STORE_LEVEL_HOUR;
    } else if (q->step_ms > 0 && q->step_ms % CLOCK_MINUTE_MS == 0) {
        level = STORE_LEVEL_MINUTE;
    }
    int64_t from = q->step_ms > 0 || q->local_days ? bucket_of(&h, q->from_ms) : q->from_ms;

    sqlite3_stmt *gpus = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT id, idx FROM gpus WHERE ?1 IS NULL OR idx = ?1 OR uuid = ?1"
                                " ORDER BY idx, id",
                                -1, &gpus, NULL);
    if (rc == SQLITE_OK && q->gpu) {
        sqlite3_bind_text(gpus, 1, q->gpu, -1, SQLITE_STATIC);
    }
    while (rc == SQLITE_OK && !h.over && (rc = sqlite3_step(gpus)) == SQLITE_ROW) {
        int64_t gpu_id = sqlite3_column_int64(gpus, 0);
        h.gpu_index = sqlite3_column_int(gpus, 1);
        h.gpu_rows = 0;
        int64_t through[STORE_LEVEL_COUNT];
        rc = store_rollup_through(s, gpu_id, through) == 0 ? SQLITE_OK : SQLITE_ERROR;
        if (rc == SQLITE_OK) {
            rc = read_level(s, &h, gpu_id, level, from, q->to_ms, through);
        }
        emit(&h);
    }
    sqlite3_finalize(gpus);
    free(h.days.start_ms);
    if (h.over) {
        free(h.rows);
        return gp_err_set(err, -E2BIG, "more than %zu rows for GPU %d", q->max_rows_per_gpu,
                          h.gpu_index);
    }
    if (rc != SQLITE_DONE) {
        free(h.rows);
        return gp_err_set(err, store_errno(rc ? rc : SQLITE_ERROR), "cannot query '%s': %s",
                          s->path, store_errmsg(s, rc ? rc : SQLITE_ERROR));
    }
    *rows_out = h.rows;
    *count_out = h.n;
    return 0;
}

int64_t store_changes_from_ms(int64_t t_ms)
{
    if (t_ms == INT64_MIN || t_ms == INT64_MAX) {
        return t_ms;
    }
    int64_t hour = t_ms - ((t_ms % CLOCK_HOUR_MS) + CLOCK_HOUR_MS) % CLOCK_HOUR_MS;
    int64_t day = clock_local_day_start(t_ms);
    return day < hour ? day : hour;
}

int store_raw_horizon_ms(struct store *s, const char *gpu, int64_t *out, struct gp_err *err)
{
    *out = 0;
    /* Per GPU: its oldest raw sample, and its oldest minute rollup (rowids
     * are the GPU's id in the high 32 bits: a range scan of the key). */
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        s->db,
        "SELECT (SELECT t_first FROM sample_blocks WHERE key >= gpus.id * 4294967296"
        "  AND key < (gpus.id + 1) * 4294967296 ORDER BY key LIMIT 1),"
        " (SELECT t FROM rollup_minute WHERE key >= gpus.id * 4294967296"
        "  AND key < (gpus.id + 1) * 4294967296 ORDER BY key LIMIT 1)"
        " FROM gpus WHERE ?1 IS NULL OR idx = ?1 OR uuid = ?1",
        -1, &st, NULL);
    if (rc == SQLITE_OK && gpu) {
        sqlite3_bind_text(st, 1, gpu, -1, SQLITE_STATIC);
    }
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 1) == SQLITE_NULL) {
            rc = SQLITE_OK;
            continue; /* nothing rolled up: nothing lost */
        }
        int64_t minute = sqlite3_column_int64(st, 1);
        bool any_raw = sqlite3_column_type(st, 0) != SQLITE_NULL;
        int64_t raw = any_raw ? sqlite3_column_int64(st, 0) : INT64_MAX;
        /* A whole minute rolled up before the first raw sample: its samples
         * were deleted. (A young database's first minute starts before its
         * first sample, but not a whole minute before.) */
        if (minute + CLOCK_MINUTE_MS <= raw && raw > *out) {
            *out = raw;
        }
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_OK) {
        return gp_err_set(err, store_errno(rc), "cannot query '%s': %s", s->path,
                          store_errmsg(s, rc));
    }
    return 0;
}
