/* The SQLite store on real files: schema and field table agree, what is
 * written reads back (absent stays NULL), process lifetimes accumulate
 * across batches and restarts, and bad files are refused untouched. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gp_cmocka.h"
#include "gp_testdb.h"
#include "store/codec.h"
#include "store/store.h"
#include "util/clock.h"

static const char *const path = gp_testdb_path;

static double scalar_real(const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    double v = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_double(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void schema_matches_fields(void **state)
{
    (void)state;
    struct store *s = NULL;
    struct gp_err err = { 0 };
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), 0);
    store_close(s);
    for (size_t i = 0; i < store_sample_field_count(); i++) {
        if (gp_testdb_scalar("SELECT count(*) FROM pragma_table_info('samples') WHERE name = '%s'",
                             gpu_field_info(store_sample_field(i))->key) != 1) {
            fail_msg("samples has no column for field %s",
                     gpu_field_info(store_sample_field(i))->key);
        }
    }
    /* every field is stored: per sample, or as GPU identity */
    assert_int_equal(store_sample_field_count() + 4, GPU_FIELD_COUNT);
    assert_int_equal(gp_testdb_scalar("PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(gp_testdb_scalar("PRAGMA auto_vacuum"), 2); /* incremental */
}

static struct proc_info info_a = { .found = true,
                                   .has_uid = true,
                                   .uid = 1000,
                                   .user = "alice",
                                   .comm = "python3",
                                   .cmdline = "python3 train.py",
                                   .start_ticks = 777,
                                   .start_time_ms = 1000,
                                   .container = { .runtime = "docker", .id = "abc" } };

static struct gpu_process proc_a = {
    .pid = 100,
    .type_mask = GPU_PROCESS_COMPUTE,
    .has_used_memory = true,
    .used_memory_bytes = 1000,
    .has_utilization = true,
    .sm_pct = 50,
    .proc = &info_a,
};

static void snapshot_at(struct gpu_snapshot *snap, struct gpu_reading *r, int64_t t,
                        struct gpu_process *procs, size_t nprocs)
{
    *r = (struct gpu_reading){ .id = { .index = 0, .uuid = "GPU-test", .name = "Test GPU" } };
    gpu_values_set(&r->values, GPU_FIELD_TEMP_C, 55);
    gpu_values_set(&r->values, GPU_FIELD_POWER_MW, 123456);
    gpu_values_set(&r->values, GPU_FIELD_MEM_TOTAL_BYTES, 1 << 30);
    r->busy =
        (struct gpu_busy){ .source = GPU_BUSY_SAMPLES, .busy_us = 300000, .window_us = 1000000 };
    r->processes = procs;
    r->process_count = nprocs;
    *snap = (struct gpu_snapshot){ .time_ms = t, .gpu_count = 1, .gpus = r };
}

static void write_at(struct store *s, int64_t t, struct gpu_process *procs, size_t n)
{
    struct gpu_snapshot snap;
    struct gpu_reading r;
    snapshot_at(&snap, &r, t, procs, n);
    const struct gpu_snapshot *list[] = { &snap };
    struct gp_err err = { 0 };
    if (store_write(s, list, 1, 1000, &err) != 0) {
        fail_msg("%s", err.msg);
    }
}

static void writes_read_back(void **state)
{
    (void)state;
    struct store *s = NULL;
    struct gp_err err = { 0 };
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), 0);
    struct gpu_process b = proc_a;
    proc_a.used_memory_bytes = 1000;
    write_at(s, 10000, &proc_a, 1);
    proc_a.used_memory_bytes = 3000;
    write_at(s, 11000, &proc_a, 1);
    /* the same PID again, but a new process (another start time) */
    struct proc_info info_b = info_a;
    info_b.start_ticks = 888;
    b.proc = &info_b;
    struct gpu_process both[] = { proc_a, b };
    write_at(s, 12000, both, 2);
    store_close(s);

    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM samples"), 3);
    assert_int_equal(gp_testdb_scalar("SELECT temperature_c FROM samples WHERE t = 11000"), 55);
    assert_int_equal(gp_testdb_scalar("SELECT fan_pct FROM samples WHERE t = 11000"),
                     -999); /* NULL */
    assert_int_equal(gp_testdb_scalar("SELECT busy_us FROM samples WHERE t = 11000"), 300000);
    assert_int_equal(gp_testdb_scalar("SELECT memory_total_bytes FROM gpus"), 1 << 30);
    assert_int_equal(gp_testdb_scalar("SELECT first_seen FROM gpus"), 10000);
    assert_int_equal(gp_testdb_scalar("SELECT last_seen FROM gpus"), 12000);
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM processes"), 2);
    /* seen at 10 s (one period), 11 s, 12 s: 3 s on the GPU at 50 % SM */
    assert_true(scalar_real("SELECT gpu_seconds FROM processes WHERE start_ticks = 777") > 2.99);
    assert_true(scalar_real("SELECT gpu_seconds FROM processes WHERE start_ticks = 777") < 3.01);
    assert_true(scalar_real("SELECT sm_seconds FROM processes WHERE start_ticks = 777") > 1.49);
    assert_int_equal(
        gp_testdb_scalar("SELECT memory_max_bytes FROM processes WHERE start_ticks = 777"), 3000);
    assert_int_equal(gp_testdb_scalar("SELECT samples FROM processes WHERE start_ticks = 777"), 3);
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM processes WHERE user = 'alice' AND "
                                      "container = 'docker:abc' AND cmdline = 'python3 train.py'"),
                     2);
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM process_samples"), 4);
}

/* A process whose SM utilization the driver never gave has unknown SM
 * time, not 0; once given, the average is over the time it was known. */
static void unknown_sm_time_is_not_zero(void **state)
{
    (void)state;
    struct store *s = NULL;
    struct gp_err err = { 0 };
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), 0);
    struct gpu_process p = proc_a;
    p.has_utilization = false;
    write_at(s, 10000, &p, 1);
    write_at(s, 11000, &p, 1);
    struct store_process_filter f = { .limit = 10 };
    struct store_process_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(store_query_processes(s, &f, &rows, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_false(rows[0].has_sm);
    assert_true(rows[0].gpu_seconds > 1.99);
    store_process_rows_free(rows, n);
    /* one second known at 50 %: 0.5 SM-seconds over 1 s, not over 3 s */
    write_at(s, 12000, &proc_a, 1);
    assert_int_equal(store_query_processes(s, &f, &rows, &n, &err), 0);
    assert_true(rows[0].has_sm);
    assert_true(rows[0].sm_known_seconds > 0.99 && rows[0].sm_known_seconds < 1.01);
    assert_true(rows[0].sm_seconds > 0.49 && rows[0].sm_seconds < 0.51);
    store_process_rows_free(rows, n);
    store_close(s);
}

static void unknown_memory_stays_null(void **state)
{
    (void)state;
    struct store *s = NULL;
    struct gp_err err = { 0 };
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), 0);
    struct gpu_process p = proc_a;
    p.has_used_memory = false; /* as under Windows WDDM, or an unsupported query */
    for (int64_t t = 1000; t <= 5000; t += 1000) {
        write_at(s, t, &p, 1);
    }
    store_close(s);
    assert_int_equal(gp_testdb_scalar("SELECT memory_max_bytes FROM processes"), -999); /* NULL */
    assert_int_equal(gp_testdb_scalar("SELECT samples FROM processes"), 5);
}

static void lifetime_continues_after_restart(void **state)
{
    (void)state;
    struct store *s = NULL;
    struct gp_err err = { 0 };
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), 0);
    write_at(s, 10000, &proc_a, 1);
    store_close(s);
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), 0);
    write_at(s, 11000, &proc_a, 1);
    /* after a long gap (agent down), only one period is counted */
    write_at(s, 60000, &proc_a, 1);
    store_close(s);
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM processes"), 1);
    assert_true(scalar_real("SELECT gpu_seconds FROM processes") > 2.99);
    assert_true(scalar_real("SELECT gpu_seconds FROM processes") < 3.01);
    assert_int_equal(gp_testdb_scalar("SELECT last_seen FROM processes"), 60000);
}

static void write_file(const char *p, const char *text, size_t n)
{
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    fclose(f);
}

static void newer_schema_is_refused_untouched(void **state)
{
    (void)state;
    struct store *s = NULL;
    struct gp_err err = { 0 };
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), 0);
    store_close(s);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct stat before;
    assert_int_equal(stat(path, &before), 0);
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "newer gpulse"));
    assert_int_equal(gp_testdb_scalar("PRAGMA user_version"), 99);
    assert_int_equal(store_open(path, STORE_READ_ONLY, &s, &err), -EPROTO);
}

static void foreign_and_corrupt_files_are_refused(void **state)
{
    (void)state;
    struct store *s = NULL;
    struct gp_err err = { 0 };
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct stat before;
    assert_int_equal(stat(path, &before), 0);
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), -EILSEQ);
    assert_non_null(strstr(err.msg, "not gpulse's"));
    struct stat after;
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_size, after.st_size);
    /* not switched to WAL either */
    assert_int_equal(gp_testdb_scalar("SELECT journal_mode = 'delete' FROM pragma_journal_mode"),
                     1);

    static const char garbage[] = "this is not a database, it is a text file, long enough to "
                                  "look like a header............................................";
    write_file(path, garbage, sizeof(garbage));
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), -EILSEQ);
    assert_non_null(strstr(err.msg, "not a gpulse database or is corrupt"));
    char back[sizeof(garbage)] = { 0 };
    FILE *f = fopen(path, "rb");
    assert_int_equal(fread(back, 1, sizeof(back), f), sizeof(back));
    fclose(f);
    assert_memory_equal(back, garbage, sizeof(garbage));
}

static void missing_places(void **state)
{
    (void)state;
    struct store *s = NULL;
    struct gp_err err = { 0 };
    assert_int_equal(store_open("/nonexistent/dir/g.db", STORE_READ_WRITE, &s, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "directory '/nonexistent/dir' does not exist"));
    assert_int_equal(store_open(path, STORE_READ_ONLY, &s, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "does not exist"));
}

static void info_and_check(void **state)
{
    (void)state;
    struct store *s = NULL;
    struct gp_err err = { 0 };
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), 0);
    write_at(s, 5000, &proc_a, 1);
    write_at(s, 6000, &proc_a, 1);
    struct store_info info;
    assert_int_equal(store_read_info(s, &info, &err), 0);
    assert_int_equal(info.schema_version, STORE_SCHEMA_VERSION);
    assert_string_equal(info.tables[1].name, "samples");
    assert_int_equal(info.tables[1].rows, 2);
    assert_int_equal(info.tables[1].first_ms, 5000);
    assert_int_equal(info.tables[1].last_ms, 6000);
    bool ok = false;
    assert_int_equal(store_check(s, &ok, &err), 0);
    assert_true(ok);
    store_close(s);
}

#define DAY_MS (86400000LL)

static void retention_boundaries(void **state)
{
    (void)state;
    struct store *s = NULL;
    struct gp_err err = { 0 };
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), 0);
    const int64_t now = 1800000000000LL;
    struct gpu_process old_proc = proc_a;
    struct proc_info old_info = info_a;
    old_info.start_ticks = 1;
    old_proc.proc = &old_info;
    write_at(s, now - 40 * DAY_MS, &old_proc, 1);   /* a lifetime last seen 40 days ago */
    write_at(s, now - 30 * DAY_MS - 1, &proc_a, 1); /* just past the limit */
    write_at(s, now - 30 * DAY_MS, &proc_a, 1);     /* exactly at it: kept */
    write_at(s, now - DAY_MS, &proc_a, 1);

    struct store_retention ret = { .samples_ms = 30 * DAY_MS, .process_samples_ms = 30 * DAY_MS };
    struct store_prune_result res = { 0 };
    assert_int_equal(store_prune(s, &ret, now, 0, &res, &err), 0);
    assert_true(res.finished);
    store_close(s);
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM samples"), 2);
    assert_int_equal(gp_testdb_scalar("SELECT min(t) FROM samples"), now - 30 * DAY_MS);
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM process_samples"), 2);
    /* processes are kept forever unless asked */
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM processes"), 2);

    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), 0);
    ret.processes_ms = 7 * DAY_MS;
    ret.process_samples_ms = 0; /* forever: the lifetime still takes its own along */
    res = (struct store_prune_result){ 0 };
    assert_int_equal(store_prune(s, &ret, now, 0, &res, &err), 0);
    store_close(s);
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM processes"), 1);
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM process_samples WHERE process NOT IN "
                                      "(SELECT id FROM processes)"),
                     0);
}

static void prune_in_slices_and_give_space_back(void **state)
{
    (void)state;
    struct store *s = NULL;
    struct gp_err err = { 0 };
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), 0);
    /* two days of a sample every 10 s, in batches like the agent's */
    const int64_t start = 1800000000000LL;
    for (int64_t t = start; t < start + 2 * DAY_MS; t += 10000 * 60) {
        struct gpu_snapshot snaps[60];
        struct gpu_reading readings[60];
        const struct gpu_snapshot *list[60];
        for (int i = 0; i < 60; i++) {
            snapshot_at(&snaps[i], &readings[i], t + i * 10000, NULL, 0);
            list[i] = &snaps[i];
        }
        assert_int_equal(store_write(s, list, 60, 10000, &err), 0);
    }
    struct store_info before;
    assert_int_equal(store_read_info(s, &before, &err), 0);
    struct store_retention ret = { .samples_ms = DAY_MS / 2 };
    struct store_prune_result res = { 0 };
    int rounds = 0;
    do {
        /* a 1 ms budget: at least one chunk per call, never all at once */
        assert_int_equal(store_prune(s, &ret, start + 2 * DAY_MS, 1, &res, &err), 0);
        rounds++;
    } while (!res.finished && rounds < 1000);
    assert_true(res.finished);
    assert_true(rounds > 1);
    /* raw samples go a block (a GPU's minute) at a time */
    assert_int_equal(res.rows_deleted, (2 * DAY_MS - DAY_MS / 2) / CLOCK_MINUTE_MS);
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM samples"), (DAY_MS / 2) / 10000);
    assert_true(res.pages_freed > 0);
    struct store_info after;
    assert_int_equal(store_read_info(s, &after, &err), 0);
    assert_int_equal(after.free_pages, 0);
    store_close(s);
}

/* Raw samples are kept a block per GPU per minute: a restarted writer
 * carries on in the minute's block, and a damaged block is named (GPU and
 * minute) by db check, skipped by queries and exports, replaced by the
 * next write into its minute; nothing else is lost. */
/* Opens the test database read-only and checks that db check finds it
 * damaged, naming each of the texts in the message. Returns the store,
 * open, for the caller's further checks. */
static struct store *check_finds_damage(const char *text1, const char *text2)
{
    struct store *s = NULL;
    struct gp_err err = { 0 };
    assert_int_equal(store_open(path, STORE_READ_ONLY, &s, &err), 0);
    bool ok = true;
    assert_int_equal(store_check(s, &ok, &err), 0);
    assert_false(ok);
    assert_non_null(strstr(err.msg, text1));
    assert_non_null(strstr(err.msg, text2));
    return s;
}

/* Exports the raw samples of s beside the test database, checks that
 * exactly one block was skipped as damaged, and closes s. */
static void export_skips_one_block(struct store *s)
{
    char raw[160];
    snprintf(raw, sizeof(raw), "%s.raw", path);
    int64_t damaged = 0;
    struct gp_err err = { 0 };
    assert_int_equal(store_raw_export(s, raw, &damaged, &err), 0);
    assert_int_equal(damaged, 1);
    store_close(s);
    unlink(raw);
}

static void a_damaged_block_is_named_and_skipped(void **state)
{
    (void)state;
    const int64_t t0 = 1800000000000LL; /* 2027-01-15T08:00:00Z */
    struct store *s = NULL;
    struct gp_err err = { 0 };
    for (int64_t t = t0; t < t0 + 3 * CLOCK_MINUTE_MS; t += 10000) {
        if (!s) {
            assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), 0);
        }
        write_at(s, t, &proc_a, 1);
        if (t % 25000 == 0) { /* a restart now and then, mid-minute */
            store_close(s);
            s = NULL;
        }
    }
    store_close(s);
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM sample_blocks"), 3);
    assert_int_equal(gp_testdb_scalar("SELECT sum(samples) FROM sample_blocks"), 18);
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM process_blocks"), 3);
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM samples"), 18);

    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "UPDATE sample_blocks SET data = substr(data, 1, length(data) - 3)"
                     " WHERE t_first >= 1800000060000 AND t_first < 1800000120000",
                     NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_close(db);

    s = check_finds_damage("GPU 0 (GPU-test)", "2027-01-15T08:01Z");
    struct store_history_query q = { .from_ms = t0,
                                     .to_ms = t0 + 3 * CLOCK_MINUTE_MS,
                                     .metrics = { GPU_FIELD_TEMP_C },
                                     .metric_count = 1 };
    struct store_history_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(store_query_history(s, &q, &rows, &n, &err), 0);
    assert_int_equal(n, 12); /* the first and last minutes */
    for (size_t i = 0; i < n; i++) {
        assert_true(rows[i].t_ms < t0 + CLOCK_MINUTE_MS ||
                    rows[i].t_ms >= t0 + 2 * CLOCK_MINUTE_MS);
        assert_true(rows[i].has[0] && rows[i].max[0] > 54.5 && rows[i].max[0] < 55.5);
    }
    free(rows);
    export_skips_one_block(s);

    /* the writer replaces it with what it writes next there */
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), 0);
    write_at(s, t0 + 61000, &proc_a, 1);
    store_close(s);
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM samples"), 13);
}

/* A block that decodes, but to times outside its own minute (as a damaged
 * block can), is damaged too: db check names it, and history and the raw
 * export skip it rather than stopping at it. */
static void a_block_outside_its_minute_is_damaged(void **state)
{
    (void)state;
    const int64_t t0 = 1800000000000LL; /* 2027-01-15T08:00:00Z */
    struct store *s = NULL;
    struct gp_err err = { 0 };
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), 0);
    for (int64_t t = t0; t < t0 + 3 * CLOCK_MINUTE_MS; t += 10000) {
        write_at(s, t, &proc_a, 1);
    }
    store_close(s);

    /* The first minute's row now holds a sample 90 s after its start. */
    struct store_codec_block b;
    store_codec_init(&b, 4);
    long r = store_codec_row(&b, t0 + 90000);
    assert_true(r >= 0);
    store_codec_set(&b, (size_t)r, 0, 0);
    size_t len = 0;
    uint8_t *data = store_codec_encode(&b, t0, &len);
    store_codec_free(&b);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "UPDATE sample_blocks SET data = ?1 WHERE t_first = ?2",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(st, 1, data, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, t0);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(data);

    s = check_finds_damage("2027-01-15T08:00Z", "outside the block's minute");
    export_skips_one_block(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(schema_matches_fields, gp_testdb_fresh),
        cmocka_unit_test_setup(writes_read_back, gp_testdb_fresh),
        cmocka_unit_test_setup(unknown_memory_stays_null, gp_testdb_fresh),
        cmocka_unit_test_setup(unknown_sm_time_is_not_zero, gp_testdb_fresh),
        cmocka_unit_test_setup(lifetime_continues_after_restart, gp_testdb_fresh),
        cmocka_unit_test_setup(newer_schema_is_refused_untouched, gp_testdb_fresh),
        cmocka_unit_test_setup(foreign_and_corrupt_files_are_refused, gp_testdb_fresh),
        cmocka_unit_test_setup(missing_places, gp_testdb_fresh),
        cmocka_unit_test_setup(info_and_check, gp_testdb_fresh),
        cmocka_unit_test_setup(retention_boundaries, gp_testdb_fresh),
        cmocka_unit_test_setup(prune_in_slices_and_give_space_back, gp_testdb_fresh),
        cmocka_unit_test_setup(a_damaged_block_is_named_and_skipped, gp_testdb_fresh),
        cmocka_unit_test_setup(a_block_outside_its_minute_is_damaged, gp_testdb_fresh),
    };
    return cmocka_run_group_tests(tests, gp_testdb_make_dir, gp_testdb_remove_dir);
}
