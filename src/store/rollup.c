/* Rollups: per-GPU aggregates per minute, hour and local day, written as
 * periods close. A minute closes when a sample of a later minute arrives;
 * hours and days close with their last minute. Each GPU's progress is a
 * watermark per level in rollup_state, moved in the same transaction as the
 * samples, so after a crash or a restart the open periods are simply
 * finished from the raw samples already stored: no hole, no double count.
 * Minutes come from raw samples, hours and days from minutes (days from
 * minutes, not hours, so zones half an hour off UTC cut right). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store/agg.h"
#include "store/blocks.h"
#include "store/store_int.h"
#include "util/clock.h"
#include "util/log.h"

static const char *const level_tables[STORE_LEVEL_COUNT] = { "rollup_minute", "rollup_hour",
                                                             "rollup_day" };

int64_t store_rollup_key(int64_t gpu_id, int64_t t_ms)
{
    return (gpu_id << 32) | ((t_ms / CLOCK_MINUTE_MS) & 0xFFFFFFFFLL);
}

const char *store_level_table(enum store_level level)
{
    return level_tables[level];
}

static int64_t floor_to(int64_t t, int64_t width)
{
    return t >= 0 ? t - t % width : t - (width + t % width) % width;
}

int64_t store_level_start(enum store_level level, int64_t t_ms)
{
    switch (level) {
    case STORE_LEVEL_MINUTE:
        return floor_to(t_ms, CLOCK_MINUTE_MS);
    case STORE_LEVEL_HOUR:
        return floor_to(t_ms, CLOCK_HOUR_MS);
    default:
        return clock_local_day_start(t_ms);
    }
}

int64_t store_level_next(enum store_level level, int64_t start_ms)
{
    switch (level) {
    case STORE_LEVEL_MINUTE:
        return start_ms + CLOCK_MINUTE_MS;
    case STORE_LEVEL_HOUR:
        return start_ms + CLOCK_HOUR_MS;
    default:
        return clock_local_day_next(start_ms);
    }
}

static int fail(struct store *s, int rc, const char *what, struct gp_err *err)
{
    return gp_err_set(err, store_errno(rc), "cannot %s in '%s': %s", what, s->path,
                      store_errmsg(s, rc));
}

static int cached(struct store *s, enum store_rollup_stmt which, sqlite3_stmt **out)
{
    if (s->rollup_stmts[which]) {
        *out = s->rollup_stmts[which];
        return SQLITE_OK;
    }
    char sql[8192];
    int n = 0;
    switch (which) {
    case ROLLUP_STMT_INSERT_MINUTE:
    case ROLLUP_STMT_INSERT_HOUR:
    case ROLLUP_STMT_INSERT_DAY: {
        char cols[6144];
        store_agg_columns(cols, sizeof(cols), store_agg_all_slots, STORE_AGG_FIELDS);
        n = snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO %s (key, gpu, %s) VALUES (?1, ?2",
                     level_tables[which - ROLLUP_STMT_INSERT_MINUTE], cols);
        size_t ncols = store_agg_column_count(store_agg_all_slots, STORE_AGG_FIELDS);
        for (size_t i = 0; i < ncols; i++) {
            n += snprintf(sql + n, sizeof(sql) - (size_t)n, ", ?%zu", i + 3);
        }
        snprintf(sql + n, sizeof(sql) - (size_t)n, ")");
        break;
    }
    case ROLLUP_STMT_GET_STATE:
        snprintf(sql, sizeof(sql), "SELECT level, through FROM rollup_state WHERE gpu = ?1");
        break;
    default:
        snprintf(sql, sizeof(sql),
                 "INSERT OR REPLACE INTO rollup_state (gpu, level, through) VALUES (?1, ?2, ?3)");
        break;
    }
    int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->rollup_stmts[which],
                                NULL);
    *out = s->rollup_stmts[which];
    return rc;
}

void store_rollup_fini(struct store *s)
{
    for (size_t i = 0; i < ROLLUP_STMT_COUNT; i++) {
        sqlite3_finalize(s->rollup_stmts[i]);
        s->rollup_stmts[i] = NULL;
    }
}

int store_rollup_through(struct store *s, int64_t gpu_id, int64_t through[STORE_LEVEL_COUNT])
{
    memset(through, 0, sizeof(int64_t) * STORE_LEVEL_COUNT);
    sqlite3_stmt *st = NULL;
    int rc = cached(s, ROLLUP_STMT_GET_STATE, &st);
    if (rc != SQLITE_OK) {
        return store_errno(rc);
    }
    sqlite3_bind_int64(st, 1, gpu_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int level = sqlite3_column_int(st, 0);
        if (level >= 0 && level < STORE_LEVEL_COUNT) {
            through[level] = sqlite3_column_int64(st, 1);
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_errno(rc);
}

static int set_through(struct store *s, int64_t gpu_id, enum store_level level, int64_t through)
{
    sqlite3_stmt *st = NULL;
    int rc = cached(s, ROLLUP_STMT_SET_STATE, &st);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, gpu_id);
        sqlite3_bind_int(st, 2, (int)level);
        sqlite3_bind_int64(st, 3, through);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
    }
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int insert_row(struct store *s, enum store_level level, int64_t gpu_id,
                      const struct store_agg *a)
{
    sqlite3_stmt *st = NULL;
    int rc = cached(s, (enum store_rollup_stmt)(ROLLUP_STMT_INSERT_MINUTE + level), &st);
    if (rc != SQLITE_OK) {
        return rc;
    }
    sqlite3_bind_int64(st, 1, store_rollup_key(gpu_id, a->t));
    sqlite3_bind_int64(st, 2, gpu_id);
    store_agg_bind(st, 3, a);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int delete_range(struct store *s, enum store_level level, int64_t gpu_id, int64_t from,
                        int64_t to)
{
    char sql[160];
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE key >= ?1 AND key < ?2", level_tables[level]);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, store_rollup_key(gpu_id, from));
        sqlite3_bind_int64(st, 2, store_rollup_key(gpu_id, to));
        rc = sqlite3_step(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Recomputes the minutes [from, to) of a GPU from its raw samples. */
static int build_minutes(struct store *s, int64_t gpu_id, int64_t from, int64_t to, int64_t *rows)
{
    int rc = delete_range(s, STORE_LEVEL_MINUTE, gpu_id, from, to);
    if (rc != SQLITE_OK) {
        return rc;
    }
    struct store_raw_reader r;
    rc = store_raw_reader_open(s->db, &r, gpu_id, from, to, store_agg_all_slots, STORE_AGG_FIELDS);
    struct store_agg cur;
    struct store_agg one;
    bool have = false;
    while (rc == SQLITE_OK && (rc = store_raw_reader_next(&r, &one)) == SQLITE_ROW) {
        int64_t start = floor_to(one.t, CLOCK_MINUTE_MS);
        if (have && cur.t != start) {
            rc = insert_row(s, STORE_LEVEL_MINUTE, gpu_id, &cur);
            *rows += 1;
            have = false;
        }
        if (!have) {
            store_agg_init(&cur, start);
            have = true;
        }
        store_agg_merge(&cur, &one);
        rc = rc == SQLITE_ROW ? SQLITE_OK : rc;
    }
    store_raw_reader_close(&r);
    if (rc == SQLITE_DONE && have) {
        rc = insert_row(s, STORE_LEVEL_MINUTE, gpu_id, &cur);
        *rows += 1;
    }
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Recomputes hours or days [from, to) of a GPU from its minutes. */
static int build_from_minutes(struct store *s, enum store_level level, int64_t gpu_id, int64_t from,
                              int64_t to, int64_t *rows)
{
    int rc = delete_range(s, level, gpu_id, from, to);
    sqlite3_stmt *st = NULL;
    if (rc == SQLITE_OK) {
        char cols[6144];
        store_agg_columns(cols, sizeof(cols), store_agg_all_slots, STORE_AGG_FIELDS);
        char sql[6400];
        snprintf(sql, sizeof(sql),
                 "SELECT %s FROM rollup_minute WHERE key >= ?1 AND key < ?2 ORDER BY key", cols);
        rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    }
    if (rc != SQLITE_OK) {
        return rc;
    }
    sqlite3_bind_int64(st, 1, store_rollup_key(gpu_id, from));
    sqlite3_bind_int64(st, 2, store_rollup_key(gpu_id, to));
    struct store_agg cur;
    struct store_agg minute;
    bool have = false;
    int64_t next = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_agg_read(&minute, st, 0, store_agg_all_slots, STORE_AGG_FIELDS);
        rc = SQLITE_OK;
        if (have && minute.t >= next) {
            rc = insert_row(s, level, gpu_id, &cur);
            *rows += 1;
            have = false;
        }
        if (!have) {
            int64_t start = store_level_start(level, minute.t);
            store_agg_init(&cur, start);
            next = store_level_next(level, start);
            have = true;
        }
        store_agg_merge(&cur, &minute);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE && have) {
        rc = insert_row(s, level, gpu_id, &cur);
        *rows += 1;
    }
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int first_sample(struct store *s, int64_t gpu_id, int64_t *t, bool *any)
{
    int64_t last = 0;
    return store_blocks_span(s->db, gpu_id, t, &last, any);
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

int store_rollup_advance(struct store *s, int64_t gpu_id, int64_t first_ms, int64_t last_ms,
                         int64_t *day_from, int64_t *day_to, struct gp_err *err)
{
    int64_t through[STORE_LEVEL_COUNT];
    int rc = store_rollup_through(s, gpu_id, through);
    if (rc) {
        return gp_err_set(err, rc, "cannot read rollup state in '%s': %s", s->path,
                          sqlite3_errmsg(s->db));
    }
    /* Minutes: everything before the minute of the newest sample is final.
     * A sample older than the watermark (the wall clock stepped back) sends
     * its minute, and the hour and day around it, back to be redone. */
    int64_t from = store_level_start(STORE_LEVEL_MINUTE, first_ms);
    if (through[STORE_LEVEL_MINUTE]) {
        from = min64(from, through[STORE_LEVEL_MINUTE]);
    } else {
        bool any = false;
        int64_t first = 0;
        rc = first_sample(s, gpu_id, &first, &any);
        if (rc != SQLITE_OK) {
            return fail(s, rc, "roll up", err);
        }
        from = any ? store_level_start(STORE_LEVEL_MINUTE, min64(first, first_ms)) : from;
    }
    int64_t to = max64(through[STORE_LEVEL_MINUTE], store_level_start(STORE_LEVEL_MINUTE, last_ms));
    if (from >= to) {
        return 0; /* still inside the open minute */
    }
    int64_t rows = 0;
    rc = build_minutes(s, gpu_id, from, to, &rows);
    if (rc == SQLITE_OK) {
        rc = set_through(s, gpu_id, STORE_LEVEL_MINUTE, to);
    }
    /* Hours and days: the periods that the redone minutes touch and that
     * have closed, i.e. end at or before the minute watermark. */
    for (enum store_level level = STORE_LEVEL_HOUR; rc == SQLITE_OK && level <= STORE_LEVEL_DAY;
         level++) {
        int64_t lfrom = store_level_start(level, from);
        if (through[level]) {
            lfrom = min64(lfrom, through[level]);
        }
        int64_t lto = max64(through[level], store_level_start(level, to));
        if (lfrom >= lto) {
            continue;
        }
        rc = build_from_minutes(s, level, gpu_id, lfrom, lto, &rows);
        if (rc == SQLITE_OK) {
            rc = set_through(s, gpu_id, level, lto);
        }
        if (level == STORE_LEVEL_DAY) {
            *day_from = *day_from ? min64(*day_from, lfrom) : lfrom;
            *day_to = max64(*day_to, lto);
        }
    }
    return rc == SQLITE_OK ? 0 : fail(s, rc, "roll up", err);
}

void store_set_activity_threshold(struct store *s, double pct)
{
    s->activity_threshold_pct = pct;
}

static int begin(struct store *s)
{
    return sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
}

static int end(struct store *s, int rc)
{
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

/* The first whole period of a level at or after t. */
static int64_t first_whole(enum store_level level, int64_t t)
{
    int64_t start = store_level_start(level, t);
    return start == t ? t : store_level_next(level, start);
}

static int first_minute(struct store *s, int64_t gpu_id, int64_t *t, bool *any)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT t FROM rollup_minute WHERE key >= ?1 AND key < ?2"
                                " ORDER BY key LIMIT 1",
                                -1, &st, NULL);
    *any = false;
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, store_rollup_key(gpu_id, 0));
        sqlite3_bind_int64(st, 2, store_rollup_key(gpu_id + 1, 0));
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *any = true;
            *t = sqlite3_column_int64(st, 0);
        }
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc;
}

/* A GPU never rolled up (a database from schema 1): rolls up everything up
 * to the newest sample, as the agent's next batch would, and counts the
 * rows that made. */
static int roll_up_all(struct store *s, int64_t gpu_id, int64_t t0,
                       struct store_rebuild_result *out, int64_t *day_from, int64_t *day_to)
{
    int64_t first = 0;
    int64_t last = 0;
    bool any = false;
    sqlite3_stmt *st = NULL;
    int rc = store_blocks_span(s->db, gpu_id, &first, &last, &any);
    struct gp_err err = { 0 };
    if (rc == SQLITE_OK && (rc = begin(s)) == SQLITE_OK) {
        rc = end(s, store_rollup_advance(s, gpu_id, t0, last, day_from, day_to, &err) == 0
                        ? SQLITE_OK
                        : SQLITE_ERROR);
    }
    static const char *const counts[] = {
        "SELECT count(*) FROM rollup_minute WHERE key >= ?1 AND key < ?2",
        "SELECT count(*) FROM rollup_hour WHERE key >= ?1 AND key < ?2",
        "SELECT count(*) FROM rollup_day WHERE key >= ?1 AND key < ?2",
    };
    int64_t *totals[] = { &out->minutes, &out->hours, &out->days };
    for (size_t i = 0; i < GP_ARRAY_LEN(counts) && rc == SQLITE_OK; i++) {
        rc = sqlite3_prepare_v2(s->db, counts[i], -1, &st, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, store_rollup_key(gpu_id, 0));
            sqlite3_bind_int64(st, 2, store_rollup_key(gpu_id + 1, 0));
            rc = sqlite3_step(st) == SQLITE_ROW ? SQLITE_OK : SQLITE_ERROR;
            *totals[i] += sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
    }
    return rc;
}

/* Minutes [a, through) from raw samples, an hour of them per transaction. */
static int rebuild_minutes(struct store *s, int64_t gpu_id, int64_t a, int64_t through,
                           int64_t *rows)
{
    int rc = SQLITE_OK;
    while (rc == SQLITE_OK && a < through) {
        int64_t b = min64(store_level_start(STORE_LEVEL_HOUR, a) + CLOCK_HOUR_MS, through);
        rc = begin(s);
        if (rc == SQLITE_OK) {
            rc = end(s, build_minutes(s, gpu_id, a, b, rows));
        }
        a = b;
    }
    return rc;
}

/* Hours or days [a, through) from minutes, a day per transaction. */
static int rebuild_from_minutes(struct store *s, enum store_level level, int64_t gpu_id, int64_t a,
                                int64_t through, int64_t *rows)
{
    int rc = SQLITE_OK;
    while (rc == SQLITE_OK && a < through) {
        int64_t b = level == STORE_LEVEL_HOUR ? a + 24 * CLOCK_HOUR_MS
                                              : store_level_next(STORE_LEVEL_DAY, a);
        b = min64(b, through);
        rc = begin(s);
        if (rc == SQLITE_OK) {
            rc = end(s, build_from_minutes(s, level, gpu_id, a, b, rows));
        }
        a = b;
    }
    return rc;
}

static int rebuild_gpu(struct store *s, int64_t gpu_id, struct store_rebuild_result *out,
                       int64_t *day_from, int64_t *day_to)
{
    int64_t through[STORE_LEVEL_COUNT];
    int rc = store_rollup_through(s, gpu_id, through) == 0 ? SQLITE_OK : SQLITE_ERROR;
    bool any = false;
    int64_t t0 = 0;
    if (rc == SQLITE_OK) {
        rc = first_sample(s, gpu_id, &t0, &any);
    }
    if (rc == SQLITE_OK && any && through[STORE_LEVEL_MINUTE] == 0) {
        return roll_up_all(s, gpu_id, t0, out, day_from, day_to);
    }
    if (rc == SQLITE_OK) {
        rc = rebuild_minutes(s, gpu_id, any ? first_whole(STORE_LEVEL_MINUTE, t0) : INT64_MAX,
                             through[STORE_LEVEL_MINUTE], &out->minutes);
    }
    if (rc == SQLITE_OK) {
        rc = first_minute(s, gpu_id, &t0, &any);
    }
    for (enum store_level level = STORE_LEVEL_HOUR; rc == SQLITE_OK && level <= STORE_LEVEL_DAY;
         level++) {
        int64_t *count = level == STORE_LEVEL_HOUR ? &out->hours : &out->days;
        int64_t a = any ? first_whole(level, t0) : INT64_MAX;
        if (level == STORE_LEVEL_DAY && a < through[level]) {
            *day_from = *day_from ? min64(*day_from, a) : a;
            *day_to = max64(*day_to, through[level]);
        }
        rc = rebuild_from_minutes(s, level, gpu_id, a, through[level], count);
    }
    return rc;
}

int store_rebuild(struct store *s, struct store_rebuild_result *out, struct gp_err *err)
{
    *out = (struct store_rebuild_result){ 0 };
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT id FROM gpus ORDER BY id", -1, &st, NULL);
    int64_t ids[256];
    size_t n = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n < GP_ARRAY_LEN(ids)) {
            ids[n++] = sqlite3_column_int64(st, 0);
        }
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    int64_t day_from = 0;
    int64_t day_to = 0;
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        rc = rebuild_gpu(s, ids[i], out, &day_from, &day_to);
        out->gpus++;
    }
    if (rc != SQLITE_OK) {
        return fail(s, rc, "rebuild rollups", err);
    }
    for (int64_t day = day_from; day && day < day_to;) {
        int64_t next = clock_local_day_next(day);
        rc = begin(s);
        if (rc != SQLITE_OK) {
            return fail(s, rc, "rebuild activity", err);
        }
        int e = store_activity_build(s, day, next, err);
        rc = end(s, e ? SQLITE_ERROR : SQLITE_OK);
        if (e || rc != SQLITE_OK) {
            return e ? e : fail(s, rc, "rebuild activity", err);
        }
        day = next;
    }
    return 0;
}
