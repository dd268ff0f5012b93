/* The schema across versions, on files that older gpulse builds wrote
 * (tests/fixtures/db/README.md says how each was made): a schema-1 file
 * migrates to exactly the tables, columns, keys and indexes a fresh file
 * gets, and keeps its rows; a file from the 0.1.0 release reads back
 * through the history, activity and process queries as its own raw samples
 * say; every stored field has its columns; and a file from a newer gpulse
 * is left byte for byte as it was. */
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gp_cmocka.h"
#include "gp_testdb.h"
#include "store/store.h"
#include "util/clock.h"

#define SCHEMA1_FIXTURE FIXTURES "/db/schema1.db"
#define RELEASE_FIXTURE FIXTURES "/db/release-0.1.0.db"

static const char *const dir = gp_testdb_dir;

static void in_dir(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

/* The whole file; free() it. */
static char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail_msg("cannot open %s", path);
    }
    size_t cap = 1 << 16;
    char *buf = malloc(cap);
    assert_non_null(buf);
    *size = 0;
    size_t got = 0;
    while ((got = fread(buf + *size, 1, cap - *size, f)) > 0) {
        *size += got;
        if (*size == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    return buf;
}

/* Copies a fixture into the test directory, so that nothing is ever
 * written next to the committed file. */
static void copy_fixture(const char *from, const char *to)
{
    size_t size = 0;
    char *data = read_all(from, &size);
    FILE *f = fopen(to, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
    free(data);
}

static sqlite3 *open_raw(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fail_msg("cannot open %s: %s", path, sqlite3_errmsg(db));
    }
    return db;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    }
    return st;
}

static int64_t scalar(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = prepare(db, sql);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void store_open_close(const char *path)
{
    struct store *s = NULL;
    struct gp_err err = { 0 };
    if (store_open(path, STORE_READ_WRITE, &s, &err) != 0) {
        fail_msg("store_open(%s): %s", path, err.msg);
    }
    store_close(s);
}

/* ------------------------------------------------ the schema as facts -- */

/* What a file's schema says, one line per fact, in a fixed order: each
 * table (by name) with its kind, its columns in order, then its indexes
 * (by name) with their flags and columns. Every line starts with the table
 * it is about, so the first line where two files differ names the table
 * and column. */
struct facts {
    char (*line)[200];
    size_t n;
    size_t cap;
};

static void fact(struct facts *f, const char *fmt, ...) GP_PRINTF(2, 3);

static void fact(struct facts *f, const char *fmt, ...)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 256;
        f->line = realloc(f->line, f->cap * sizeof(*f->line));
        assert_non_null(f->line);
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->line[f->n++], sizeof(*f->line), fmt, ap);
    va_end(ap);
}

static const char *text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? (const char *)t : "NULL";
}

static void describe_index(sqlite3 *db, const char *table, sqlite3_stmt *list, struct facts *f)
{
    const char *index = text(list, 0);
    fact(f, "%s: index %s unique=%d origin=%s partial=%d", table, index,
         sqlite3_column_int(list, 1), text(list, 2), sqlite3_column_int(list, 3));
    sqlite3_stmt *st = prepare(db, "SELECT seqno, cid, name, desc, coll, key"
                                   " FROM pragma_index_xinfo(?1) ORDER BY seqno");
    sqlite3_bind_text(st, 1, index, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
        fact(f, "%s: index %s column %d: cid=%d name=%s desc=%d coll=%s key=%d", table, index,
             sqlite3_column_int(st, 0), sqlite3_column_int(st, 1), text(st, 2),
             sqlite3_column_int(st, 3), text(st, 4), sqlite3_column_int(st, 5));
    }
    sqlite3_finalize(st);
}

static void describe_table(sqlite3 *db, const char *table, struct facts *f)
{
    /* A WITHOUT ROWID table has no rowid to select (PRAGMA table_list
     * would say so too, but only from SQLite 3.37). */
    char sql[200];
    snprintf(sql, sizeof(sql), "SELECT rowid FROM \"%s\" LIMIT 0", table);
    sqlite3_stmt *st = NULL;
    bool rowid = sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK;
    sqlite3_finalize(st);
    fact(f, "%s: table%s", table, rowid ? "" : " WITHOUT ROWID");

    st = prepare(db, "SELECT cid, name, type, \"notnull\", dflt_value, pk, hidden"
                     " FROM pragma_table_xinfo(?1) ORDER BY cid");
    sqlite3_bind_text(st, 1, table, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
        fact(f, "%s: column %d %s %s notnull=%d default=%s pk=%d hidden=%d", table,
             sqlite3_column_int(st, 0), text(st, 1), text(st, 2), sqlite3_column_int(st, 3),
             text(st, 4), sqlite3_column_int(st, 5), sqlite3_column_int(st, 6));
    }
    sqlite3_finalize(st);

    st = prepare(db, "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1)"
                     " ORDER BY name");
    sqlite3_bind_text(st, 1, table, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
        describe_index(db, table, st, f);
    }
    sqlite3_finalize(st);
}

static void describe(const char *path, struct facts *f)
{
    sqlite3 *db = open_raw(path);
    /* Every object in sqlite_master: tables, indexes (also through their
     * tables, with the implicit ones of WITHOUT ROWID keys), views, triggers. */
    sqlite3_stmt *st = prepare(db, "SELECT type, name, tbl_name FROM sqlite_master"
                                   " ORDER BY tbl_name, type = 'table' DESC, type, name");
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *type = text(st, 0);
        fact(f, "%s: %s %s", text(st, 2), type, text(st, 1));
        if (strcmp(type, "table") == 0) {
            describe_table(db, text(st, 1), f);
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void assert_same_schema(const char *migrated, const char *created)
{
    struct facts a = { 0 };
    struct facts b = { 0 };
    describe(migrated, &a);
    describe(created, &b);
    for (size_t i = 0; i < a.n || i < b.n; i++) {
        const char *x = i < a.n ? a.line[i] : "(nothing more)";
        const char *y = i < b.n ? b.line[i] : "(nothing more)";
        if (strcmp(x, y) != 0) {
            fail_msg(
                "a migrated database differs from a fresh one:\n  migrated: %s\n  fresh:    %s", x,
                y);
        }
    }
    /* not two empty descriptions: the raw samples' table is there */
    bool seen = false;
    for (size_t i = 0; i < a.n; i++) {
        seen = seen || strcmp(a.line[i], "sample_blocks: table") == 0;
    }
    assert_true(seen);
    free(a.line);
    free(b.line);
}

/* ------------------------------------------------------- migration -- */

struct row_counts {
    int64_t gpus;
    int64_t samples;
    int64_t processes;
    int64_t process_samples;
};

/* Counts rows; raw samples decoded from their blocks when the file has
 * them (schema 4 on). */
static void count_rows(const char *path, struct row_counts *c)
{
    sqlite3 *db = open_raw(path);
    if (scalar(db, "PRAGMA user_version") >= 4) {
        gp_testdb_attach_raw(db, path);
    }
    c->gpus = scalar(db, "SELECT count(*) FROM gpus");
    c->samples = scalar(db, "SELECT count(*) FROM samples");
    c->processes = scalar(db, "SELECT count(*) FROM processes");
    c->process_samples = scalar(db, "SELECT count(*) FROM process_samples");
    sqlite3_close(db);
}

static void schema1_file_migrates_to_a_fresh_files_schema(void **state)
{
    (void)state;
    char migrated[128];
    char created[128];
    in_dir(migrated, sizeof(migrated), "migrated.db");
    in_dir(created, sizeof(created), "fresh.db");
    copy_fixture(SCHEMA1_FIXTURE, migrated);

    sqlite3 *db = open_raw(migrated);
    assert_int_equal(scalar(db, "PRAGMA user_version"), 1);
    sqlite3_close(db);
    struct row_counts before;
    count_rows(migrated, &before);
    /* the fixture holds what a migration must carry over */
    assert_true(before.gpus > 0 && before.samples > 0);
    assert_true(before.processes > 0 && before.process_samples > 0);

    store_open_close(migrated);
    store_open_close(created);
    assert_same_schema(migrated, created);

    db = open_raw(migrated);
    assert_int_equal(scalar(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    sqlite3_close(db);
    struct row_counts after;
    count_rows(migrated, &after);
    assert_int_equal(after.gpus, before.gpus);
    assert_int_equal(after.samples, before.samples);
    assert_int_equal(after.processes, before.processes);
    assert_int_equal(after.process_samples, before.process_samples);
}

/* Steps two queries side by side: the same rows, value for value (NULL
 * stays NULL). */
static void assert_same_rows(sqlite3 *want_db, sqlite3 *got_db, const char *sql)
{
    sqlite3_stmt *want = prepare(want_db, sql);
    sqlite3_stmt *got = prepare(got_db, sql);
    int64_t rows = 0;
    for (;;) {
        int a = sqlite3_step(want);
        int b = sqlite3_step(got);
        if (a != b) {
            fail_msg("%s: row %lld: %s in the old file, %s after migrating", sql, (long long)rows,
                     a == SQLITE_ROW ? "a row" : "no row", b == SQLITE_ROW ? "a row" : "no row");
        }
        if (a != SQLITE_ROW) {
            break;
        }
        assert_int_equal(sqlite3_column_count(want), sqlite3_column_count(got));
        for (int c = 0; c < sqlite3_column_count(want); c++) {
            bool null_a = sqlite3_column_type(want, c) == SQLITE_NULL;
            bool null_b = sqlite3_column_type(got, c) == SQLITE_NULL;
            if (null_a != null_b || sqlite3_column_int64(want, c) != sqlite3_column_int64(got, c)) {
                fail_msg("%s: owner %lld at %lld: %s is %s in the old file, %s after migrating",
                         sql, (long long)sqlite3_column_int64(want, 0),
                         (long long)sqlite3_column_int64(want, 1), sqlite3_column_name(want, c),
                         text(want, c), text(got, c));
            }
        }
        rows++;
    }
    assert_true(rows > 0);
    sqlite3_finalize(want);
    sqlite3_finalize(got);
}

/* Schema 4 moves raw samples into blocks: every value of every row of
 * both fixtures comes back out of them as it was. */
static void migration_keeps_every_sample_value(void **state)
{
    (void)state;
    static const char *const fixtures[] = { SCHEMA1_FIXTURE, RELEASE_FIXTURE };
    for (size_t i = 0; i < GP_ARRAY_LEN(fixtures); i++) {
        char old[128];
        char migrated[128];
        in_dir(old, sizeof(old), "old.db");
        in_dir(migrated, sizeof(migrated), "migrated.db");
        copy_fixture(fixtures[i], old);
        copy_fixture(fixtures[i], migrated);
        store_open_close(migrated);
        sqlite3 *want = open_raw(old);
        sqlite3 *got = open_raw(migrated);
        gp_testdb_attach_raw(got, migrated);
        assert_same_rows(want, got, "SELECT * FROM samples ORDER BY gpu, t");
        assert_same_rows(want, got, "SELECT * FROM process_samples ORDER BY process, t");
        sqlite3_close(want);
        sqlite3_close(got);
    }
}

/* The release file too, migrated from what 0.1.0 wrote (nothing to do
 * while STORE_SCHEMA_VERSION is 2). */
static void release_file_migrates_to_a_fresh_files_schema(void **state)
{
    (void)state;
    char migrated[128];
    char created[128];
    in_dir(migrated, sizeof(migrated), "release.db");
    in_dir(created, sizeof(created), "fresh.db");
    copy_fixture(RELEASE_FIXTURE, migrated);
    store_open_close(migrated);
    store_open_close(created);
    assert_same_schema(migrated, created);
}

/* ------------------------------------------------ fields and columns -- */

static bool has_column(sqlite3 *db, const char *table, const char *column)
{
    sqlite3_stmt *st = prepare(db, "SELECT count(*) FROM pragma_table_xinfo(?1) WHERE name = ?2");
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    bool has = sqlite3_column_int(st, 0) == 1;
    sqlite3_finalize(st);
    return has;
}

/* A field added to the list without a migration step that adds its
 * columns fails here, naming the column. */
static void every_stored_field_has_its_columns(void **state)
{
    (void)state;
    char path[128];
    in_dir(path, sizeof(path), "fresh.db");
    store_open_close(path);
    sqlite3 *db = open_raw(path);
    static const char *const rollups[] = { "rollup_minute", "rollup_hour", "rollup_day" };
    static const char *const parts[] = { "_n", "_sum", "_min", "_max" };
    gp_testdb_attach_raw(db, path); /* the raw samples' columns, decoded from blocks */
    assert_true(store_sample_field_count() > 0);
    for (size_t i = 0; i < store_sample_field_count(); i++) {
        const char *key = gpu_field_info(store_sample_field(i))->key;
        if (!has_column(db, "samples", key)) {
            fail_msg("field %s is stored but raw-sample blocks have no column %s: append it to "
                     "store/blocks.c's list",
                     key, key);
        }
        for (size_t t = 0; t < GP_ARRAY_LEN(rollups); t++) {
            for (size_t p = 0; p < GP_ARRAY_LEN(parts); p++) {
                char column[96];
                snprintf(column, sizeof(column), "%s%s", key, parts[p]);
                if (!has_column(db, rollups[t], column)) {
                    fail_msg("field %s is stored but %s has no column %s: add a migration step",
                             key, rollups[t], column);
                }
            }
        }
    }
    sqlite3_close(db);
}

/* --------------------------------------------- the old release's file -- */

/* got within rel (relative) of want: 0 for values the store copies or
 * picks (counts, minima, maxima), a rounding error for quotients. */
#define EXACT    0.0
#define QUOTIENT 1e-12

static void assert_close(double got, double want, double rel, const char *what, int gpu, int64_t t)
{
    if (fabs(got - want) > rel * fabs(want)) {
        fail_msg("%s of GPU %d at %lld: %.12g from the store, %.12g from the samples", what, gpu,
                 (long long)t, got, want);
    }
}

/* One GPU's raw samples in [?2, ?3): count, utilization and power (avg,
 * min, max), busy time over observed time, and the energy counter's rises
 * (after a reset the new reading; not across gaps over an hour), counted
 * from the sample before each. */
static const char bucket_sql[] =
    "WITH s AS (SELECT samples.*, lag(t) OVER w AS prev_t, lag(energy_mj) OVER w AS prev_mj"
    "  FROM samples JOIN gpus ON gpus.id = samples.gpu WHERE gpus.idx = ?1"
    "  WINDOW w AS (ORDER BY t))"
    " SELECT count(*), avg(utilization_gpu_pct), min(utilization_gpu_pct),"
    "  max(utilization_gpu_pct), avg(power_mw), min(power_mw), max(power_mw),"
    "  100.0 * sum(busy_us) / sum(window_us),"
    "  sum(CASE WHEN energy_mj >= prev_mj THEN energy_mj - prev_mj ELSE energy_mj END)"
    "   FILTER (WHERE t - prev_t <= 3600000 AND energy_mj IS NOT NULL AND prev_mj IS NOT NULL)"
    " FROM s WHERE t >= ?2 AND t < ?3";

static void check_bucket(sqlite3_stmt *st, const struct store_history_row *r, int64_t end_ms)
{
    sqlite3_reset(st);
    sqlite3_bind_int(st, 1, r->gpu_index);
    sqlite3_bind_int64(st, 2, r->t_ms);
    sqlite3_bind_int64(st, 3, end_ms);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    if (r->count != sqlite3_column_int64(st, 0)) {
        fail_msg("GPU %d at %lld: %lld samples from the store, %lld in the file", r->gpu_index,
                 (long long)r->t_ms, (long long)r->count, (long long)sqlite3_column_int64(st, 0));
    }
    static const char *const names[] = { "utilization_gpu_pct", "power_mw" };
    for (int m = 0; m < 2; m++) {
        assert_true(r->has[m]);
        assert_close(r->avg[m], sqlite3_column_double(st, 1 + 3 * m), QUOTIENT, names[m],
                     r->gpu_index, r->t_ms);
        assert_close(r->min[m], sqlite3_column_double(st, 2 + 3 * m), EXACT, names[m], r->gpu_index,
                     r->t_ms);
        assert_close(r->max[m], sqlite3_column_double(st, 3 + 3 * m), EXACT, names[m], r->gpu_index,
                     r->t_ms);
    }
    assert_int_equal(r->has_busy, sqlite3_column_type(st, 7) != SQLITE_NULL);
    if (r->has_busy) {
        assert_close(r->busy_pct, sqlite3_column_double(st, 7), QUOTIENT, "busy", r->gpu_index,
                     r->t_ms);
    }
    assert_int_equal(r->has_energy, sqlite3_column_type(st, 8) != SQLITE_NULL);
    if (r->has_energy) {
        /* in mJ, as stored */
        assert_close((double)llround(r->energy_j * 1000.0), sqlite3_column_double(st, 8), EXACT,
                     "energy (mJ)", r->gpu_index, r->t_ms);
    }
}

/* Reads the whole file in hours or in local days and compares each bucket
 * with the raw samples it covers; every (GPU, period) that has samples is
 * answered once. */
static void check_history(struct store *s, sqlite3 *db, bool days)
{
    struct store_history_query q = {
        .from_ms = scalar(db, "SELECT min(t) FROM samples"),
        .to_ms = scalar(db, "SELECT max(t) FROM samples") + 1,
        .step_ms = days ? 0 : CLOCK_HOUR_MS,
        .local_days = days,
        .metrics = { GPU_FIELD_UTIL_GPU_PCT, GPU_FIELD_POWER_MW },
        .metric_count = 2,
    };
    struct store_history_row *rows = NULL;
    size_t n = 0;
    struct gp_err err = { 0 };
    if (store_query_history(s, &q, &rows, &n, &err) != 0) {
        fail_msg("store_query_history: %s", err.msg);
    }
    /* UTC (gp_testdb_fresh set it): a local day is a day since the epoch */
    assert_int_equal(n, scalar(db, days ? "SELECT count(DISTINCT gpu || '/' || (t / 86400000))"
                                          " FROM samples"
                                        : "SELECT count(DISTINCT gpu || '/' || (t / 3600000))"
                                          " FROM samples"));
    sqlite3_stmt *st = prepare(db, bucket_sql);
    for (size_t i = 0; i < n; i++) {
        int64_t end = days ? clock_local_day_next(rows[i].t_ms) : rows[i].t_ms + CLOCK_HOUR_MS;
        check_bucket(st, &rows[i], end);
    }
    sqlite3_finalize(st);
    free(rows);
}

/* One GPU's minutes in [?2, ?3) before its minute rollups' watermark (an
 * open day counts the minutes closed so far). A minute's utilization is
 * busy over observed time, or else the polled average; its peak the
 * highest polled reading, or else that utilization. Answers how many
 * minutes, how many at or above ?4, the peak and the mean. */
static const char activity_sql[] =
    "WITH m AS (SELECT CASE WHEN sum(window_us) > 0 THEN 100.0 * sum(busy_us) / sum(window_us)"
    "  ELSE avg(utilization_gpu_pct) END AS pct, max(utilization_gpu_pct) AS polled_max"
    "  FROM samples JOIN gpus ON gpus.id = samples.gpu WHERE gpus.idx = ?1"
    "  AND t >= ?2 AND t < ?3 AND t < (SELECT through FROM rollup_state"
    "   WHERE rollup_state.gpu = gpus.id AND level = 0)"
    "  GROUP BY t / 60000)"
    " SELECT count(pct), count(CASE WHEN pct >= ?4 THEN 1 END),"
    "  max(coalesce(polled_max, pct)) FILTER (WHERE pct IS NOT NULL), avg(pct) FROM m";

static void check_activity(struct store *s, sqlite3 *db)
{
    struct store_activity_row *rows = NULL;
    size_t n = 0;
    struct gp_err err = { 0 };
    if (store_query_activity(s, "all", scalar(db, "SELECT min(t) FROM samples"),
                             scalar(db, "SELECT max(t) FROM samples") + 1, &rows, &n, &err) != 0) {
        fail_msg("store_query_activity: %s", err.msg);
    }
    sqlite3_stmt *st = prepare(db, activity_sql);
    size_t gpu_rows = 0;
    size_t machine_rows = 0;
    for (size_t i = 0; i < n; i++) {
        const struct store_activity_row *r = &rows[i];
        if (r->gpu_index < 0) {
            machine_rows++;
            continue;
        }
        gpu_rows++;
        sqlite3_reset(st);
        sqlite3_bind_int(st, 1, r->gpu_index);
        sqlite3_bind_int64(st, 2, r->day_ms);
        sqlite3_bind_int64(st, 3, clock_local_day_next(r->day_ms));
        sqlite3_bind_double(st, 4, r->threshold_pct);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        if (r->minutes != sqlite3_column_int64(st, 0) ||
            r->active_minutes != sqlite3_column_int64(st, 1)) {
            fail_msg("GPU %d on %s: %lld minutes, %lld active from the store; %lld, %lld in the "
                     "samples",
                     r->gpu_index, r->date, (long long)r->minutes, (long long)r->active_minutes,
                     (long long)sqlite3_column_int64(st, 0),
                     (long long)sqlite3_column_int64(st, 1));
        }
        assert_true(r->has_peak);
        assert_close(r->peak_pct, sqlite3_column_double(st, 2), EXACT, "peak", r->gpu_index,
                     r->day_ms);
        assert_close(r->avg_pct, sqlite3_column_double(st, 3), QUOTIENT, "average", r->gpu_index,
                     r->day_ms);
    }
    sqlite3_finalize(st);
    assert_int_equal(gpu_rows, scalar(db, "SELECT count(DISTINCT gpu || '/' || (t / 86400000))"
                                          " FROM samples"));
    assert_int_equal(machine_rows, scalar(db, "SELECT count(DISTINCT t / 86400000) FROM samples"));
    free(rows);
}

static void check_processes(struct store *s, sqlite3 *db)
{
    struct store_process_filter f = { .sort = STORE_SORT_GPU_SECONDS };
    struct store_process_row *rows = NULL;
    size_t n = 0;
    struct gp_err err = { 0 };
    if (store_query_processes(s, &f, &rows, &n, &err) != 0) {
        fail_msg("store_query_processes: %s", err.msg);
    }
    assert_int_equal(n, scalar(db, "SELECT count(*) FROM processes"));
    int64_t samples = 0;
    for (size_t i = 0; i < n; i++) {
        samples += rows[i].samples;
    }
    assert_int_equal(samples, scalar(db, "SELECT count(*) FROM process_samples"));
    store_process_rows_free(rows, n);
}

/* What 0.1.0 wrote (samples, rollups closed by it, daily activity, process
 * lifetimes) is read by this gpulse as the samples in the same file say. */
static void release_file_reads_back(void **state)
{
    (void)state;
    char path[128];
    in_dir(path, sizeof(path), "release.db");
    copy_fixture(RELEASE_FIXTURE, path);
    store_open_close(path); /* migrates it once the schema has moved on */

    struct store *s = NULL;
    struct gp_err err = { 0 };
    if (store_open(path, STORE_READ_ONLY, &s, &err) != 0) {
        fail_msg("store_open: %s", err.msg);
    }
    /* the raw samples to compare with: the fixture's own rows, as 0.1.0
     * wrote them (the migrated file has them in blocks) */
    char old[128];
    in_dir(old, sizeof(old), "old.db");
    copy_fixture(RELEASE_FIXTURE, old);
    sqlite3 *db = open_raw(path);
    sqlite3_stmt *attach = prepare(db, "ATTACH ?1 AS old");
    sqlite3_bind_text(attach, 1, old, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(attach), SQLITE_DONE);
    sqlite3_finalize(attach);
    /* the fixture spans days, with rollups of each level */
    assert_true(scalar(db, "SELECT max(t) - min(t) FROM samples") > 2 * CLOCK_DAY_MS);
    assert_true(scalar(db, "SELECT count(*) FROM rollup_day") > 0);
    check_history(s, db, false);
    check_history(s, db, true);
    check_activity(s, db);
    check_processes(s, db);
    sqlite3_close(db);
    store_close(s);
}

/* ----------------------------------------------------- a newer file -- */

static void newer_file_is_left_byte_for_byte(void **state)
{
    (void)state;
    char path[128];
    char wal[160];
    in_dir(path, sizeof(path), "newer.db");
    snprintf(wal, sizeof(wal), "%s-wal", path);
    copy_fixture(RELEASE_FIXTURE, path);
    /* as a newer agent leaves it: WAL, a higher user_version */
    sqlite3 *db = open_raw(path);
    char sql[80];
    snprintf(sql, sizeof(sql), "PRAGMA journal_mode = WAL; PRAGMA user_version = %d",
             STORE_SCHEMA_VERSION + 1);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    size_t before_size = 0;
    char *before = read_all(path, &before_size);

    struct store *s = NULL;
    struct gp_err err = { 0 };
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "newer gpulse"));
    assert_int_equal(store_open(path, STORE_READ_ONLY, &s, &err), -EPROTO);

    size_t after_size = 0;
    char *after = read_all(path, &after_size);
    assert_int_equal(after_size, before_size);
    assert_memory_equal(after, before, before_size);
    struct stat st;
    assert_true(stat(wal, &st) != 0 || st.st_size == 0); /* nothing waiting to be written */
    free(before);
    free(after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(schema1_file_migrates_to_a_fresh_files_schema, gp_testdb_fresh),
        cmocka_unit_test_setup(release_file_migrates_to_a_fresh_files_schema, gp_testdb_fresh),
        cmocka_unit_test_setup(migration_keeps_every_sample_value, gp_testdb_fresh),
        cmocka_unit_test_setup(every_stored_field_has_its_columns, gp_testdb_fresh),
        cmocka_unit_test_setup(release_file_reads_back, gp_testdb_fresh),
        cmocka_unit_test_setup(newer_file_is_left_byte_for_byte, gp_testdb_fresh),
    };
    return cmocka_run_group_tests(tests, gp_testdb_make_dir, gp_testdb_remove_dir);
}
