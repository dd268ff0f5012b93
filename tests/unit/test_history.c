/* The history resource's plan: any range from a minute to two years gives
 * at most `points` rows per GPU, on buckets aligned as documented
 * (docs/json.md), at the finest resolution that fits; and the request's
 * metric and step names. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gp_cmocka.h"
#include "report/history.h"
#include "util/clock.h"

/* 2026-11-02T00:00:00Z, a Monday. */
#define T0 1793577600000LL

/* The documented fixed bucket widths, finest first. */
static const int64_t widths_ms[] = {
    2000,   5000,   10000,   15000,   30000,   60000,    120000,   300000,
    600000, 900000, 1800000, 3600000, 7200000, 10800000, 21600000,
};

static struct report_history_request request(int64_t from_ms, int64_t to_ms, int64_t points,
                                             enum report_history_step step)
{
    return (struct report_history_request){
        .from_ms = from_ms, .to_ms = to_ms, .points = points, .step = step
    };
}

/* Local days in [from, to), both local midnights, counted one by one. */
static int64_t count_days(int64_t from, int64_t to)
{
    int64_t n = 0;
    for (int64_t d = from; d < to; d = clock_local_day_next(d)) {
        n++;
    }
    return n;
}

/* Buckets of `days` days from `from` until `to`, walked one day at a time. */
static int64_t count_day_buckets(int64_t from, int64_t to, int64_t days)
{
    return (count_days(from, to) + days - 1) / days;
}

static int64_t floor_of(enum report_history_step step)
{
    return step == REPORT_HISTORY_STEP_MINUTE ? CLOCK_MINUTE_MS
           : step == REPORT_HISTORY_STEP_HOUR ? CLOCK_HOUR_MS
                                              : 0;
}

/* Every property the plan promises, for one request. */
static void check_plan(const struct report_history_request *req, int64_t interval_ms)
{
    struct report_history_plan p;
    report_history_plan(req, interval_ms, &p);
    char what[160];
    snprintf(what, sizeof(what), "range %lld ms, %lld points, step %d, interval %lld: %s",
             (long long)(req->to_ms - req->from_ms), (long long)req->points, (int)req->step,
             (long long)interval_ms, p.resolution);
    int64_t range = req->to_ms - req->from_ms;
    if (p.step_ms == 0) {
        /* Raw: only where allowed, and the range holds fewer samples. */
        assert_string_equal(p.resolution, "raw");
        assert_int_equal(req->step, REPORT_HISTORY_STEP_RAW);
        assert_true(range / interval_ms < req->points);
        assert_int_equal(p.from_ms, req->from_ms);
        assert_int_equal(p.to_ms, req->to_ms);
        return;
    }
    /* The range read covers the request. */
    assert_true(p.from_ms <= req->from_ms);
    assert_true(p.to_ms >= req->to_ms);
    bool raw_allowed = req->step == REPORT_HISTORY_STEP_RAW;
    if (p.days > 0) {
        assert_int_equal(p.from_ms, clock_local_day_start(req->from_ms));
        assert_int_equal(p.to_ms, clock_local_day_start(p.to_ms));
        assert_true(p.to_ms - CLOCK_DAY_MS - 2 * CLOCK_HOUR_MS < req->to_ms);
        int64_t n = count_day_buckets(p.from_ms, p.to_ms, p.days);
        if (n > req->points) {
            fail_msg("%s: %lld buckets", what, (long long)n);
        }
        /* Finest: a day fewer per bucket would not fit. */
        if (p.days > 1) {
            assert_true(count_day_buckets(p.from_ms, p.to_ms, p.days - 1) > req->points);
        }
        char name[24];
        snprintf(name, sizeof(name), "%lldd", (long long)p.days);
        assert_string_equal(p.resolution, name);
        assert_int_equal(p.step_ms, p.days * CLOCK_DAY_MS);
        return;
    }
    /* Fixed buckets: one of the documented widths, aligned to the epoch. */
    size_t i = 0;
    while (i < sizeof(widths_ms) / sizeof(widths_ms[0]) && widths_ms[i] != p.step_ms) {
        i++;
    }
    assert_true(i < sizeof(widths_ms) / sizeof(widths_ms[0]));
    assert_true(p.step_ms >= floor_of(req->step));
    assert_true(p.step_ms >= interval_ms);
    assert_int_equal(p.from_ms % p.step_ms, 0);
    assert_int_equal(p.to_ms % p.step_ms, 0);
    assert_true(p.from_ms > req->from_ms - p.step_ms);
    assert_true(p.to_ms < req->to_ms + p.step_ms);
    if ((p.to_ms - p.from_ms) / p.step_ms > req->points) {
        fail_msg("%s: %lld buckets", what, (long long)((p.to_ms - p.from_ms) / p.step_ms));
    }
    /* Finest: the next finer width allowed would not fit, nor raw samples. */
    for (size_t k = 0; k < i; k++) {
        int64_t w = widths_ms[k];
        if (w < floor_of(req->step) || w < interval_ms) {
            continue;
        }
        int64_t from = req->from_ms - ((req->from_ms % w) + w) % w;
        int64_t to = req->to_ms + (w - ((req->to_ms % w) + w) % w) % w;
        if ((to - from) / w <= req->points) {
            fail_msg("%s: %lld ms buckets would have fitted", what, (long long)w);
        }
    }
    if (raw_allowed && interval_ms > 0) {
        assert_true(range / interval_ms >= req->points);
    }
}

static void any_range_gives_at_most_points_buckets(void **state)
{
    (void)state;
    clock_use_timezone("UTC");
    static const int64_t ranges_ms[] = {
        CLOCK_MINUTE_MS,    5 * CLOCK_MINUTE_MS, CLOCK_HOUR_MS,     6 * CLOCK_HOUR_MS,
        CLOCK_DAY_MS,       CLOCK_WEEK_MS,       30 * CLOCK_DAY_MS, 90 * CLOCK_DAY_MS,
        365 * CLOCK_DAY_MS, 731 * CLOCK_DAY_MS,  1234567,           98765432,
    };
    static const int64_t points[] = { 1, 2, 7, 10, 100, 250, 974, 1000, 10000 };
    static const int64_t intervals_ms[] = { 100, 1000, 5 * CLOCK_MINUTE_MS };
    static const int64_t offsets_ms[] = { 0, 1, 12345, 7 * CLOCK_HOUR_MS + 59999 };
    static const enum report_history_step steps[] = {
        REPORT_HISTORY_STEP_RAW, REPORT_HISTORY_STEP_SECOND, REPORT_HISTORY_STEP_MINUTE,
        REPORT_HISTORY_STEP_HOUR, REPORT_HISTORY_STEP_DAY
    };
    for (size_t r = 0; r < sizeof(ranges_ms) / sizeof(ranges_ms[0]); r++) {
        for (size_t p = 0; p < sizeof(points) / sizeof(points[0]); p++) {
            for (size_t i = 0; i < sizeof(intervals_ms) / sizeof(intervals_ms[0]); i++) {
                for (size_t o = 0; o < sizeof(offsets_ms) / sizeof(offsets_ms[0]); o++) {
                    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
                        int64_t from = T0 + offsets_ms[o];
                        struct report_history_request req =
                            request(from, from + ranges_ms[r], points[p], steps[s]);
                        check_plan(&req, intervals_ms[i]);
                    }
                }
            }
        }
    }
}

static void expect_plan(int64_t range_ms, int64_t points, enum report_history_step step,
                        int64_t interval_ms, const char *resolution, int64_t rows)
{
    /* Ending mid-bucket, as "now" does. */
    int64_t to = T0 + 30 * CLOCK_DAY_MS + 1500;
    struct report_history_request req = request(to - range_ms, to, points, step);
    struct report_history_plan p;
    report_history_plan(&req, interval_ms, &p);
    assert_string_equal(p.resolution, resolution);
    int64_t n = p.days > 0      ? count_day_buckets(p.from_ms, p.to_ms, p.days)
                : p.step_ms > 0 ? (p.to_ms - p.from_ms) / p.step_ms
                                : range_ms / interval_ms;
    assert_int_equal(n, rows);
}

static void resolution_follows_range_and_points(void **state)
{
    (void)state;
    clock_use_timezone("UTC");
    int64_t s = CLOCK_SECOND_MS;
    expect_plan(CLOCK_MINUTE_MS, 1000, REPORT_HISTORY_STEP_RAW, s, "raw", 60);
    expect_plan(10 * CLOCK_MINUTE_MS, 1000, REPORT_HISTORY_STEP_RAW, s, "raw", 600);
    expect_plan(10 * CLOCK_MINUTE_MS, 250, REPORT_HISTORY_STEP_RAW, s, "5s", 121);
    expect_plan(CLOCK_HOUR_MS, 1000, REPORT_HISTORY_STEP_RAW, s, "5s", 721);
    expect_plan(CLOCK_DAY_MS, 1000, REPORT_HISTORY_STEP_RAW, s, "2min", 721);
    expect_plan(CLOCK_WEEK_MS, 1000, REPORT_HISTORY_STEP_RAW, s, "15min", 673);
    expect_plan(30 * CLOCK_DAY_MS, 1000, REPORT_HISTORY_STEP_RAW, s, "1h", 721);
    expect_plan(90 * CLOCK_DAY_MS, 1000, REPORT_HISTORY_STEP_RAW, s, "3h", 721);
    expect_plan(365 * CLOCK_DAY_MS, 1000, REPORT_HISTORY_STEP_RAW, s, "1d", 366);
    expect_plan(365 * CLOCK_DAY_MS, 100, REPORT_HISTORY_STEP_RAW, s, "4d", 92);
    expect_plan(730 * CLOCK_DAY_MS, 1000, REPORT_HISTORY_STEP_RAW, s, "1d", 731);
    expect_plan(730 * CLOCK_DAY_MS, 10, REPORT_HISTORY_STEP_RAW, s, "74d", 10);
    expect_plan(30 * CLOCK_DAY_MS, 10, REPORT_HISTORY_STEP_RAW, s, "4d", 8);
    /* A coarser sampling period allows raw samples over longer ranges,
     * and no bucket narrower than it. */
    expect_plan(CLOCK_DAY_MS, 1000, REPORT_HISTORY_STEP_RAW, 5 * CLOCK_MINUTE_MS, "raw", 288);
    expect_plan(CLOCK_DAY_MS, 100, REPORT_HISTORY_STEP_RAW, 5 * CLOCK_MINUTE_MS, "15min", 97);
    /* A step is the finest allowed: exact where it fits, coarser where not. */
    expect_plan(CLOCK_HOUR_MS, 1000, REPORT_HISTORY_STEP_SECOND, s, "5s", 721);
    expect_plan(CLOCK_HOUR_MS, 1000, REPORT_HISTORY_STEP_MINUTE, s, "1min", 61);
    expect_plan(CLOCK_DAY_MS, 1000, REPORT_HISTORY_STEP_HOUR, s, "1h", 25);
    expect_plan(2 * CLOCK_DAY_MS, 1000, REPORT_HISTORY_STEP_MINUTE, s, "5min", 577);
    expect_plan(CLOCK_DAY_MS, 1000, REPORT_HISTORY_STEP_DAY, s, "1d", 2);
}

static void local_days_follow_the_zone(void **state)
{
    (void)state;
    /* Europe/Berlin leaves summer time on 2026-10-25: that day has 25 h. */
    clock_use_timezone("Europe/Berlin");
    int64_t oct20 = 1792447200000LL; /* 2026-10-20T00:00+02:00 */
    struct report_history_request req = request(
        oct20 + 5 * CLOCK_HOUR_MS, oct20 + 10 * CLOCK_DAY_MS, 1000, REPORT_HISTORY_STEP_DAY);
    struct report_history_plan p;
    report_history_plan(&req, 1000, &p);
    assert_string_equal(p.resolution, "1d");
    assert_int_equal(p.from_ms, oct20);
    assert_int_equal(p.to_ms, oct20 + 10 * CLOCK_DAY_MS + CLOCK_HOUR_MS); /* a local midnight */
    assert_int_equal(count_days(p.from_ms, p.to_ms), 10);
    for (int64_t points = 1; points <= 12; points++) {
        req.points = points;
        check_plan(&req, 1000);
    }
    /* Two years of days across DST changes: the count is exact. */
    req = request(oct20 - 700 * CLOCK_DAY_MS, oct20, 1000, REPORT_HISTORY_STEP_RAW);
    for (int64_t points = 1; points <= 800; points += 17) {
        req.points = points;
        check_plan(&req, 1000);
    }
    clock_use_timezone("UTC");
}

static void metric_and_step_names(void **state)
{
    (void)state;
    struct report_history_request req = { 0 };
    struct gp_err err = { 0 };
    assert_int_equal(report_history_parse_metrics(REPORT_HISTORY_DEFAULT_METRICS, &req, &err), 0);
    assert_int_equal(req.metric_count, 4);
    assert_int_equal(req.metrics[0], GPU_FIELD_UTIL_GPU_PCT);
    assert_int_equal(req.metrics[3], GPU_FIELD_POWER_MW);
    assert_int_equal(report_history_parse_metrics("busy_pct,temperature_c", &req, &err), 0);
    assert_int_equal(req.metric_count, 1);
    assert_int_equal(req.metrics[0], GPU_FIELD_TEMP_C);
    assert_int_equal(report_history_parse_metrics("power_mw,watts", &req, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "'watts' is not a stored metric"));
    assert_int_equal(report_history_parse_metrics("power_mw,,temperature_c", &req, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "'' is not a stored metric"));
    assert_int_equal(report_history_parse_metrics("", &req, &err), -EINVAL);
    assert_string_equal(err.msg, "the list is empty");
    char many[1024] = "power_mw";
    for (int i = 0; i < STORE_HISTORY_MAX_METRICS; i++) {
        size_t len = strlen(many);
        snprintf(many + len, sizeof(many) - len, ",temperature_c");
    }
    assert_int_equal(report_history_parse_metrics(many, &req, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "more than 16 metrics"));

    enum report_history_step step = REPORT_HISTORY_STEP_DAY;
    assert_int_equal(report_history_parse_step("auto", &step), 0);
    assert_int_equal(step, REPORT_HISTORY_STEP_RAW);
    assert_int_equal(report_history_parse_step("minute", &step), 0);
    assert_int_equal(step, REPORT_HISTORY_STEP_MINUTE);
    assert_int_equal(report_history_parse_step("week", &step), -EINVAL);
    assert_int_equal(step, REPORT_HISTORY_STEP_MINUTE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(any_range_gives_at_most_points_buckets),
        cmocka_unit_test(resolution_follows_range_and_points),
        cmocka_unit_test(local_days_follow_the_zone),
        cmocka_unit_test(metric_and_step_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
