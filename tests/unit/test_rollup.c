/* Rollups and daily activity on real database files: minute, hour and day
 * aggregates equal what the raw samples give, energy survives a counter
 * reset, a restart or a late sample neither leaves a hole nor counts twice,
 * days follow the time zone through DST, and activity adds up per GPU and
 * for the machine. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gp_cmocka.h"
#include "gp_testdb.h"
#include "store/agg.h"
#include "store/store.h"
#include "util/clock.h"

#define MINUTE_MS 60000LL
#define HOUR_MS   3600000LL
#define DAY_MS    86400000LL
/* 2026-11-02T00:00:00Z, a Monday. */
#define T0 1793577600000LL

static const char *const path = gp_testdb_path;

/* A synthetic reading: utilization and busy time from util, an energy
 * counter reading. */
struct spec {
    const char *uuid;
    int64_t util;
    int64_t energy_mj; /* < 0: no energy counter */
};

static void reading(struct gpu_reading *r, const struct spec *sp, unsigned index)
{
    *r = (struct gpu_reading){ .id = { .index = index } };
    snprintf(r->id.uuid, sizeof(r->id.uuid), "%s", sp->uuid);
    gpu_values_set(&r->values, GPU_FIELD_UTIL_GPU_PCT, sp->util);
    gpu_values_set(&r->values, GPU_FIELD_TEMP_C, 40 + sp->util / 10);
    if (sp->energy_mj >= 0) {
        gpu_values_set(&r->values, GPU_FIELD_ENERGY_MJ, sp->energy_mj);
    }
    r->busy = (struct gpu_busy){ .source = GPU_BUSY_SAMPLES,
                                 .busy_us = (uint64_t)sp->util * 10000,
                                 .window_us = 1000000 };
}

/* Writes one snapshot per time, every GPU given by spec_at(t, gpu). */
typedef struct spec (*spec_fn)(int64_t t, unsigned gpu);

static void write_range(struct store *s, int64_t from, int64_t to, int64_t step, unsigned gpus,
                        spec_fn spec_at)
{
    enum {
        BATCH = 50
    };
    struct gpu_snapshot snaps[BATCH];
    struct gpu_reading readings[BATCH][2];
    const struct gpu_snapshot *list[BATCH];
    for (int64_t t = from; t < to;) {
        size_t n = 0;
        for (; n < BATCH && t < to; n++, t += step) {
            for (unsigned g = 0; g < gpus; g++) {
                struct spec sp = spec_at(t, g);
                reading(&readings[n][g], &sp, g);
            }
            snaps[n] =
                (struct gpu_snapshot){ .time_ms = t, .gpu_count = gpus, .gpus = readings[n] };
            list[n] = &snaps[n];
        }
        struct gp_err err = { 0 };
        if (store_write(s, list, n, step, &err) != 0) {
            fail_msg("%s", err.msg);
        }
    }
}

static struct spec saw(int64_t t, unsigned gpu)
{
    (void)gpu;
    /* utilization 0..99 by the sample's second; energy +1000 mJ a sample,
     * with a counter reset (driver reload) at T0 + 90 min */
    int64_t k = (t - T0) / 10000;
    int64_t reset_at = 90 * 6;
    int64_t e = k < reset_at ? 5000000 + 1000 * k : 500 + 1000 * (k - reset_at);
    return (struct spec){ "GPU-saw", ((t - T0) / 1000) % 100, e };
}

static struct store *open_rw(void)
{
    struct store *s = NULL;
    struct gp_err err = { 0 };
    if (store_open(path, STORE_READ_WRITE, &s, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    return s;
}

static void energy_delta_rules(void **state)
{
    (void)state;
    int64_t d = 0;
    assert_true(store_energy_delta(0, 1000, 1000, 1700, &d));
    assert_int_equal(d, 700);
    /* a reset: the counter restarted from 0 and reads 300 */
    assert_true(store_energy_delta(0, 9000, 1000, 300, &d));
    assert_int_equal(d, 300);
    /* A reading below the previous one but not near 0 is out of time order
     * (the wall clock stepped back), not a restart: it adds nothing. */
    assert_true(store_energy_delta(0, 91827364000, 1000, 91827000000, &d));
    assert_int_equal(d, 0);
    /* too long a gap, or time going backwards: not assigned */
    assert_false(store_energy_delta(0, 1000, STORE_ENERGY_MAX_GAP_MS + 1, 2000, &d));
    assert_false(store_energy_delta(1000, 1000, 1000, 2000, &d));
}

static void minutes_and_hours_equal_raw(void **state)
{
    (void)state;
    struct store *s = open_rw();
    /* 2 h of a sample every 10 s, and one in the third hour closing them */
    write_range(s, T0, T0 + 2 * HOUR_MS + 10000, 10000, 1, saw);
    store_close(s);

    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM rollup_minute"), 120);
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM rollup_hour"), 2);
    /* every closed minute: 6 samples, and the aggregates of exactly them */
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM rollup_minute WHERE count != 6"), 0);
    assert_int_equal(
        gp_testdb_scalar(
            "SELECT count(*) FROM rollup_minute r WHERE utilization_gpu_pct_sum !="
            " (SELECT sum(utilization_gpu_pct) FROM samples s WHERE s.t >= r.t"
            " AND s.t < r.t + 60000) OR utilization_gpu_pct_min != (SELECT"
            " min(utilization_gpu_pct) FROM samples s WHERE s.t >= r.t AND s.t < r.t + 60000)"
            " OR utilization_gpu_pct_max != (SELECT max(utilization_gpu_pct) FROM samples s"
            " WHERE s.t >= r.t AND s.t < r.t + 60000)"),
        0);
    /* hours: the sum of their minutes, and of the raw samples */
    assert_int_equal(gp_testdb_scalar("SELECT sum(count) FROM rollup_hour"), 720);
    assert_int_equal(
        gp_testdb_scalar("SELECT utilization_gpu_pct_sum FROM rollup_hour WHERE t = %lld",
                         (long long)T0),
        gp_testdb_scalar("SELECT sum(utilization_gpu_pct) FROM samples WHERE t < %lld",
                         (long long)(T0 + HOUR_MS)));
    assert_int_equal(
        gp_testdb_scalar("SELECT busy_us FROM rollup_hour WHERE t = %lld", (long long)T0),
        gp_testdb_scalar("SELECT sum(busy_us) FROM samples WHERE t < %lld",
                         (long long)(T0 + HOUR_MS)));
    /* energy: first hour 359 deltas of 1000 mJ (the first sample has no
     * predecessor); the second hour counts the reset as the new reading */
    assert_int_equal(
        gp_testdb_scalar("SELECT energy_mj FROM rollup_hour WHERE t = %lld", (long long)T0),
        359 * 1000);
    assert_int_equal(gp_testdb_scalar("SELECT energy_mj FROM rollup_hour WHERE t = %lld",
                                      (long long)(T0 + HOUR_MS)),
                     359 * 1000 + 500);
}

static void history_answers_from_rollups_and_tail(void **state)
{
    (void)state;
    struct store *s = open_rw();
    /* 2.5 h: two closed hours, and half an hour not rolled into an hour */
    write_range(s, T0, T0 + 150 * MINUTE_MS + 20000, 10000, 1, saw);
    struct store_history_query q = {
        .from_ms = T0,
        .to_ms = T0 + 3 * HOUR_MS,
        .step_ms = HOUR_MS,
        .metric_count = 1,
        .metrics = { GPU_FIELD_UTIL_GPU_PCT },
    };
    struct store_history_row *rows = NULL;
    size_t n = 0;
    struct gp_err err = { 0 };
    assert_int_equal(store_query_history(s, &q, &rows, &n, &err), 0);
    assert_int_equal(n, 3);
    /* the open hour holds every sample written to it: 30 min + 2 samples */
    assert_int_equal(rows[0].count + rows[1].count + rows[2].count, 150 * 6 + 2);
    assert_int_equal(rows[2].count, 30 * 6 + 2);
    assert_true(rows[0].has[0]);
    assert_float_equal(rows[0].avg[0], 45, 1e-9); /* 0, 10, .. 90, evenly */
    assert_float_equal(rows[0].min[0], 0, 0);
    assert_float_equal(rows[0].max[0], 90, 0);
    free(rows);
    /* raw: every sample, as written */
    q.step_ms = 0;
    q.from_ms = T0 + 150 * MINUTE_MS;
    assert_int_equal(store_query_history(s, &q, &rows, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_float_equal(rows[1].avg[0], 10, 0);
    free(rows);
    store_close(s);
}

static void restart_mid_minute_neither_holes_nor_doubles(void **state)
{
    (void)state;
    /* the agent stops 25 s into a minute and starts again 5 s later */
    struct store *s = open_rw();
    write_range(s, T0, T0 + 85000, 5000, 1, saw);
    store_close(s);
    s = open_rw();
    write_range(s, T0 + 90000, T0 + 200000, 5000, 1, saw);
    store_close(s);
    /* minutes 0, 1 and 2 are closed; minute 1 spans the restart */
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM rollup_minute"), 3);
    assert_int_equal(gp_testdb_scalar("SELECT count FROM rollup_minute WHERE t = %lld",
                                      (long long)(T0 + MINUTE_MS)),
                     11); /* 60..85 s and 90..115 s */
    assert_int_equal(gp_testdb_scalar("SELECT sum(count) FROM rollup_minute"),
                     gp_testdb_scalar("SELECT count(*) FROM samples WHERE t < %lld",
                                      (long long)(T0 + 3 * MINUTE_MS)));
}

static struct spec flat(int64_t t, unsigned gpu)
{
    (void)t;
    (void)gpu;
    return (struct spec){ "GPU-flat", 50, -1 };
}

static void late_sample_redoes_its_minute(void **state)
{
    (void)state;
    struct store *s = open_rw();
    write_range(s, T0, T0 + 3 * MINUTE_MS + 1000, 10000, 1, flat);
    assert_int_equal(
        gp_testdb_scalar("SELECT count FROM rollup_minute WHERE t = %lld", (long long)T0), 6);
    /* the wall clock stepped back: a sample lands in the closed minute 0 */
    write_range(s, T0 + 5000, T0 + 5001, 1, 1, flat);
    store_close(s);
    assert_int_equal(
        gp_testdb_scalar("SELECT count FROM rollup_minute WHERE t = %lld", (long long)T0), 7);
    assert_int_equal(gp_testdb_scalar("SELECT sum(count) FROM rollup_minute"), 19);
}

static void days_follow_dst(void **state)
{
    (void)state;
    clock_use_timezone("America/New_York");
    /* 2026-11-01 has 25 hours in New York, 2026-03-08 has 23 */
    int64_t nov1 = clock_local_day_start(1793505600000LL); /* 2026-11-01T12:00 EST */
    assert_int_equal(clock_local_day_next(nov1) - nov1, 25 * HOUR_MS);
    int64_t mar8 = clock_local_day_start(1772985600000LL); /* 2026-03-08T16:00Z */
    assert_int_equal(clock_local_day_next(mar8) - mar8, 23 * HOUR_MS);
    char date[16];
    clock_local_date(nov1, date, sizeof(date));
    assert_string_equal(date, "2026-11-01");

    /* a sample a minute from Oct 31 to Nov 2, local */
    struct store *s = open_rw();
    int64_t oct31 = clock_local_day_start(nov1 - 1);
    int64_t nov2 = clock_local_day_next(nov1);
    write_range(s, oct31, clock_local_day_next(nov2) + MINUTE_MS, MINUTE_MS, 1, flat);
    struct store_activity_row *rows = NULL;
    size_t n = 0;
    struct gp_err err = { 0 };
    assert_int_equal(store_query_activity(s, "0", oct31, nov2, &rows, &n, &err), 0);
    store_close(s);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].date, "2026-10-31");
    assert_int_equal(rows[0].active_minutes, 24 * 60);
    assert_string_equal(rows[1].date, "2026-11-01");
    assert_int_equal(rows[1].active_minutes, 25 * 60);
    free(rows);
    assert_int_equal(
        gp_testdb_scalar("SELECT count FROM rollup_day WHERE t = %lld", (long long)nov1), 25 * 60);
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM rollup_day"), 3);
}

/* History by local day in Berlin across both of 2026's clock changes (23 h
 * on March 29, 25 h on October 25): one row per local date, starting at
 * its midnight, holding that day's samples and no other's, for two GPUs
 * (the days are shared between them). */
static struct spec flat_pair(int64_t t, unsigned gpu)
{
    (void)t;
    return (struct spec){ gpu ? "GPU-b" : "GPU-a", 50, -1 };
}

static void history_days_across_berlin_dst(void **state)
{
    (void)state;
    clock_use_timezone("Europe/Berlin");
    static const struct {
        int64_t first;     /* local midnights, from Python's zoneinfo */
        int64_t starts[4]; /* the next four */
        int64_t counts[4]; /* 10-minute samples in each day */
    } weeks[] = {
        { 1774566000000LL, /* 2026-03-27 */
          { 1774566000000LL, 1774652400000LL, 1774738800000LL, 1774821600000LL },
          { 144, 144, 138, 144 } },
        { 1792706400000LL, /* 2026-10-23 */
          { 1792706400000LL, 1792792800000LL, 1792879200000LL, 1792969200000LL },
          { 144, 144, 150, 144 } },
    };
    struct store *s = open_rw();
    for (size_t w = 0; w < GP_ARRAY_LEN(weeks); w++) {
        write_range(s, weeks[w].first, weeks[w].starts[3] + DAY_MS, 10 * MINUTE_MS, 2, flat_pair);
    }
    struct store_history_query days = { .local_days = true, .metric_count = 1 };
    days.metrics[0] = GPU_FIELD_UTIL_GPU_PCT;
    struct gp_err err = { 0 };
    for (size_t w = 0; w < GP_ARRAY_LEN(weeks); w++) {
        /* from 05:00 of the first day: its whole day, as buckets are */
        days.from_ms = weeks[w].first + 5 * HOUR_MS;
        days.to_ms = weeks[w].starts[3] + DAY_MS;
        struct store_history_row *rows = NULL;
        size_t n = 0;
        assert_int_equal(store_query_history(s, &days, &rows, &n, &err), 0);
        assert_int_equal(n, 8);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(rows[i].gpu_index, (int)(i / 4));
            assert_int_equal(rows[i].t_ms, weeks[w].starts[i % 4]);
            assert_int_equal(rows[i].count, weeks[w].counts[i % 4]);
        }
        free(rows);
    }
    store_close(s);
}

/* GPU 0 busy (50%) in minutes 0-9, GPU 1 busy (100%) in minutes 5-14 of
 * the day; idle (0%) otherwise. */
static struct spec two_jobs(int64_t t, unsigned gpu)
{
    int64_t minute = (t - T0) / MINUTE_MS;
    if (gpu == 0) {
        return (struct spec){ "GPU-zero", minute < 10 ? 50 : 0, -1 };
    }
    return (struct spec){ "GPU-one", minute >= 5 && minute < 15 ? 100 : 0, -1 };
}

static void activity_per_gpu_and_machine(void **state)
{
    (void)state;
    struct store *s = open_rw();
    write_range(s, T0, T0 + DAY_MS + MINUTE_MS, 30000, 2, two_jobs);
    struct store_activity_row *rows = NULL;
    size_t n = 0;
    struct gp_err err = { 0 };
    assert_int_equal(store_query_activity(s, "all", T0, T0 + DAY_MS, &rows, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(rows[0].gpu_index, 0);
    assert_int_equal(rows[0].active_minutes, 10);
    assert_float_equal(rows[0].peak_pct, 50, 0);
    assert_float_equal(rows[0].avg_pct, 50.0 * 10 / 1440, 1e-9);
    assert_int_equal(rows[1].active_minutes, 10);
    assert_float_equal(rows[1].peak_pct, 100, 0);
    /* the machine: minutes 0-14 active (either GPU), 20 GPU-minutes */
    assert_int_equal(rows[2].gpu_id, 0);
    assert_int_equal(rows[2].active_minutes, 15);
    assert_int_equal(rows[2].active_gpu_minutes, 20);
    assert_int_equal(rows[2].minutes, 1440);
    free(rows);

    /* a higher threshold, applied by a rebuild: GPU 0 at 50% no longer counts */
    store_set_activity_threshold(s, 60);
    struct store_rebuild_result res;
    assert_int_equal(store_rebuild(s, &res, &err), 0);
    assert_int_equal(res.gpus, 2);
    assert_int_equal(store_query_activity(s, NULL, T0, T0 + DAY_MS, &rows, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].active_minutes, 10);
    assert_float_equal(rows[0].threshold_pct, 60, 0);
    free(rows);
    store_close(s);
}

static void rebuild_reproduces_the_rollups(void **state)
{
    (void)state;
    struct store *s = open_rw();
    write_range(s, T0, T0 + 3 * HOUR_MS + 10000, 10000, 1, saw);
    int64_t before = gp_testdb_scalar("SELECT sum(utilization_gpu_pct_sum + count + energy_mj)"
                                      " FROM rollup_minute");
    int64_t hours =
        gp_testdb_scalar("SELECT sum(utilization_gpu_pct_sum + energy_mj) FROM rollup_hour");
    struct store_rebuild_result res;
    struct gp_err err = { 0 };
    assert_int_equal(store_rebuild(s, &res, &err), 0);
    store_close(s);
    assert_int_equal(res.minutes, 180);
    assert_int_equal(res.hours, 3);
    assert_int_equal(gp_testdb_scalar("SELECT sum(utilization_gpu_pct_sum + count + energy_mj)"
                                      " FROM rollup_minute"),
                     before);
    assert_int_equal(
        gp_testdb_scalar("SELECT sum(utilization_gpu_pct_sum + energy_mj) FROM rollup_hour"),
        hours);
}

static void rebuild_rolls_up_a_database_that_never_was(void **state)
{
    (void)state;
    struct store *s = open_rw();
    write_range(s, T0, T0 + 2 * HOUR_MS + 10000, 10000, 1, saw);
    store_close(s);
    /* as a schema-1 database arrives: samples, no rollups, no watermarks */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DELETE FROM rollup_minute; DELETE FROM rollup_hour;"
                                  " DELETE FROM rollup_state",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    s = open_rw();
    struct store_rebuild_result res;
    struct gp_err err = { 0 };
    assert_int_equal(store_rebuild(s, &res, &err), 0);
    store_close(s);
    assert_int_equal(res.minutes, 120);
    assert_int_equal(res.hours, 2);
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM rollup_minute"), 120);
    assert_int_equal(gp_testdb_scalar("SELECT sum(count) FROM rollup_hour"), 720);
}

static void retention_keeps_what_is_not_rolled_up(void **state)
{
    (void)state;
    struct store *s = open_rw();
    /* two hours of samples; the second hour's minutes are still open for
     * the hour rollup */
    write_range(s, T0, T0 + 2 * HOUR_MS, 60000, 1, flat);
    struct store_retention ret = { .samples_ms = 1, .minute_ms = 1 };
    struct store_prune_result res = { 0 };
    struct gp_err err = { 0 };
    assert_int_equal(store_prune(s, &ret, T0 + 10 * DAY_MS, 0, &res, &err), 0);
    store_close(s);
    /* the newest sample's minute is open: that sample stays */
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM samples"), 1);
    /* minutes of the open hour stay until the hour (and day) take them in */
    assert_int_equal(gp_testdb_scalar("SELECT min(t) FROM rollup_minute"), T0);
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM rollup_hour"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(energy_delta_rules),
        cmocka_unit_test_setup(minutes_and_hours_equal_raw, gp_testdb_fresh),
        cmocka_unit_test_setup(history_answers_from_rollups_and_tail, gp_testdb_fresh),
        cmocka_unit_test_setup(restart_mid_minute_neither_holes_nor_doubles, gp_testdb_fresh),
        cmocka_unit_test_setup(late_sample_redoes_its_minute, gp_testdb_fresh),
        cmocka_unit_test_setup(history_days_across_berlin_dst, gp_testdb_fresh),
        cmocka_unit_test_setup(days_follow_dst, gp_testdb_fresh),
        cmocka_unit_test_setup(activity_per_gpu_and_machine, gp_testdb_fresh),
        cmocka_unit_test_setup(rebuild_reproduces_the_rollups, gp_testdb_fresh),
        cmocka_unit_test_setup(rebuild_rolls_up_a_database_that_never_was, gp_testdb_fresh),
        cmocka_unit_test_setup(retention_keeps_what_is_not_rolled_up, gp_testdb_fresh),
    };
    return cmocka_run_group_tests(tests, gp_testdb_make_dir, gp_testdb_remove_dir);
}
