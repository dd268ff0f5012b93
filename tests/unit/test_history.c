/* The history resource's plan: any range from a minute to two years gives
 * at most `points` rows per GPU, on buckets aligned as documented
 * (docs/json.md), at the finest resolution that fits; and the request's
 * metric and step names. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gp_cmocka.h"
#include "report/history.h"
#include "report/history_int.h"
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

/* ------------------------------------------- the document's exact bytes -- */

/* The oracle: the document as the jansson tree gpulse built before it wrote
 * the document itself, dumped with REPORT_JSON_FLAGS. */
static json_t *oracle_value(bool has, double v, int decimals)
{
    if (!has || !isfinite(v)) {
        return json_null();
    }
    return decimals > 0 ? report_json_real(v, decimals) : json_integer((json_int_t)llround(v));
}

static json_t *oracle_column(const struct report_history *h, size_t lo, size_t hi, size_t m,
                             const struct report_history_column *c, int decimals)
{
    json_t *vals = json_array();
    for (size_t i = lo; i < hi; i++) {
        double v = 0;
        bool has = c->read(&h->rows[i], m, &v);
        json_array_append_new(vals, oracle_value(has, v, decimals));
    }
    return vals;
}

static json_t *oracle_series(const struct report_history *h, size_t lo, size_t hi)
{
    json_t *o = json_object();
    json_t *cols[5];
    for (size_t c = 0; c < 5; c++) {
        cols[c] = json_array();
    }
    for (size_t i = lo; i < hi; i++) {
        const struct store_history_row *r = &h->rows[i];
        json_array_append_new(cols[0], json_integer(r->t_ms));
        json_array_append_new(cols[1], json_integer(r->count));
        json_array_append_new(cols[2], oracle_value(r->has_busy, r->busy_pct, 2));
        json_array_append_new(cols[3], oracle_value(r->has_busy, r->busy_seconds, 3));
        json_array_append_new(cols[4], oracle_value(r->has_energy, r->energy_j, 3));
    }
    json_object_set_new(o, "gpu", json_integer(h->rows[lo].gpu_index));
    static const char *const names[5] = { "t_ms", "samples", "busy_pct", "busy_seconds",
                                          "energy_j" };
    for (size_t c = 0; c < 5; c++) {
        json_object_set_new(o, names[c], cols[c]);
    }
    json_t *more = json_object();
    for (size_t m = 0; m < h->req.metric_count; m++) {
        const char *key = gpu_field_info(h->req.metrics[m])->key;
        struct report_history_presentation p = report_history_present(h->req.metrics[m]);
        for (size_t c = 0; c < p.kind->column_count; c++) {
            json_t *vals = oracle_column(h, lo, hi, m, &p.kind->columns[c], p.decimals);
            if (c == 0) {
                json_object_set_new(o, key, vals);
                continue;
            }
            json_t *group = json_object_get(more, p.kind->columns[c].name);
            if (!group) {
                group = json_object();
                json_object_set_new(more, p.kind->columns[c].name, group);
            }
            json_object_set_new(group, key, vals);
        }
    }
    const char *name = NULL;
    json_t *group = NULL;
    json_object_foreach(more, name, group)
    {
        json_object_set(o, name, group);
    }
    json_decref(more);
    return o;
}

static char *oracle_document(const struct report_history *h)
{
    json_t *names = json_array();
    for (size_t m = 0; m < h->req.metric_count; m++) {
        json_array_append_new(names, json_string(gpu_field_info(h->req.metrics[m])->key));
    }
    json_t *series = json_array();
    for (size_t lo = 0; lo < h->row_count;) {
        size_t hi = lo;
        while (hi < h->row_count && h->rows[hi].gpu_index == h->rows[lo].gpu_index) {
            hi++;
        }
        json_array_append_new(series, oracle_series(h, lo, hi));
        lo = hi;
    }
    const struct report_history_plan *p = &h->plan;
    json_t *root = json_pack("{s:s, s:o, s:o, s:I, s:I, s:s, s:I, s:I, s:o, s:o}", "schema",
                             "gpulse.history.v1", "from", report_json_time(p->from_ms), "to",
                             report_json_time(p->to_ms), "from_ms", (json_int_t)p->from_ms, "to_ms",
                             (json_int_t)p->to_ms, "resolution", p->resolution, "step_ms",
                             (json_int_t)p->step_ms, "points", (json_int_t)h->req.points, "metrics",
                             names, "series", series);
    char *text = json_dumps(root, REPORT_JSON_FLAGS);
    json_decref(root);
    size_t len = strlen(text);
    text = realloc(text, len + 2);
    memcpy(text + len, "\n", 2);
    return text;
}

/* A pseudo-random double in [lo, hi), or a "nice" value now and then. */
static double value_between(uint64_t *x, double lo, double hi)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    double u = (double)(*x >> 11) / (double)(1ULL << 53);
    switch (*x % 7) {
    case 0:
        return round(lo + u * (hi - lo)); /* whole */
    case 1:
        return round((lo + u * (hi - lo)) * 200) / 200; /* a rounding tie at 2 places */
    default:
        return lo + u * (hi - lo);
    }
}

/* The document written straight into a buffer is byte for byte what the
 * jansson tree gave: gauges, a counter, flags, a repeated metric, unknown
 * values, a negative zero, values past 10^15, GPUs with different row
 * counts and a GPU with none. */
static void json_document_is_the_trees(void **state)
{
    (void)state;
    struct report_history h = {
        .req = { .points = 1000,
                 .metric_count = 8,
                 .metrics = { GPU_FIELD_UTIL_GPU_PCT, GPU_FIELD_MEM_USED_BYTES, GPU_FIELD_TEMP_C,
                              GPU_FIELD_ENERGY_MJ, GPU_FIELD_POWER_MW, GPU_FIELD_CLOCK_REASONS,
                              GPU_FIELD_TEMP_C, GPU_FIELD_PSTATE } },
        .plan = { .from_ms = T0,
                  .to_ms = T0 + CLOCK_DAY_MS,
                  .step_ms = 120000,
                  .resolution = "2min" },
    };
    size_t per_gpu[] = { 720, 1, 333, 0, 50 };
    size_t total = 0;
    for (size_t g = 0; g < GP_ARRAY_LEN(per_gpu); g++) {
        total += per_gpu[g];
    }
    h.rows = calloc(total, sizeof(*h.rows));
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (size_t g = 0; g < GP_ARRAY_LEN(per_gpu); g++) {
        for (size_t i = 0; i < per_gpu[g]; i++) {
            struct store_history_row *r = &h.rows[h.row_count++];
            *r = (struct store_history_row){
                .gpu_index = (int)g,
                .t_ms = T0 + (int64_t)i * 120000,
                .count = (int64_t)(value_between(&x, 0, 200)),
                .has_busy = x % 5 != 0,
                .busy_pct = value_between(&x, 0, 100),
                .busy_seconds = value_between(&x, 0, 120),
                .has_energy = x % 3 != 0,
                .energy_j = value_between(&x, 0, 1e6),
            };
            for (size_t m = 0; m < h.req.metric_count; m++) {
                double scale = m == 1 ? 8e10 : m == 3 ? 5e15 : 100;
                r->has[m] = x % 9 != 0;
                r->avg[m] = value_between(&x, -scale / 10, scale);
                r->min[m] = r->avg[m] - value_between(&x, 0, scale / 10);
                r->max[m] = r->avg[m] + value_between(&x, 0, scale / 10);
                r->delta[m] = r->max[m] - r->min[m];
                r->has_bits[m] = x % 4 != 0;
                r->bits[m] = x >> 40;
            }
        }
    }
    h.rows[3].busy_pct = -0.001; /* -0.0 at two places */
    h.rows[4].avg[0] = -0.004;
    h.rows[5].busy_seconds = (double)NAN;
    struct report_history variants[3] = { h, h, h };
    variants[1].req.metric_count = 4;
    variants[1].plan.from_ms = 0; /* "from": null */
    variants[2].row_count = 0;
    for (size_t v = 0; v < GP_ARRAY_LEN(variants); v++) {
        struct dynbuf b;
        dynbuf_init(&b, 64 << 20);
        assert_int_equal(report_history_json_append(&b, &variants[v]), 0);
        char *want = oracle_document(&variants[v]);
        size_t at = 0;
        while (want[at] && want[at] == b.data[at]) {
            at++;
        }
        if (want[at] != b.data[at]) {
            size_t from = at > 60 ? at - 60 : 0;
            fail_msg("variant %zu differs at byte %zu: ...%.100s against the tree's ...%.100s", v,
                     at, b.data + from, want + from);
        }
        free(want);
        dynbuf_fini(&b);
    }
    /* Past the buffer's cap: its error, not a cut document. */
    struct dynbuf small;
    dynbuf_init(&small, 4096);
    assert_int_equal(report_history_json_append(&small, &h), -E2BIG);
    dynbuf_fini(&small);
    free(h.rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(any_range_gives_at_most_points_buckets),
        cmocka_unit_test(resolution_follows_range_and_points),
        cmocka_unit_test(local_days_follow_the_zone),
        cmocka_unit_test(metric_and_step_names),
        cmocka_unit_test(json_document_is_the_trees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
