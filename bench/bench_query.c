/* Times history queries on a database that holds a generated year (see
 * bench/history.sh): one year for one GPU and for every GPU at chart
 * resolution (at most 1000 points), a year by local day, and the last day
 * by minute. Also, as the baseline in the same run, the same year answered
 * from raw samples where they exist. Then whole answers as
 * GET /api/v1/history makes them when not cached (plan, query, JSON), for
 * every GPU over 24 h, 30 days and a year, in the host's time zone as an
 * agent's: median and p99 of the query and of the document. Prints
 * figures; asserts nothing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/history.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/strparse.h"

#define HOUR_MS 3600000LL
#define DAY_MS  (24 * HOUR_MS)

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void run(struct store *s, const char *label, struct store_history_query q, int runs)
{
    uint64_t *us = calloc((size_t)runs, sizeof(*us));
    size_t rows = 0;
    for (int i = 0; i < runs; i++) {
        struct store_history_row *out = NULL;
        struct gp_err err = { 0 };
        uint64_t t0 = clock_monotonic_us();
        if (store_query_history(s, &q, &out, &rows, &err) != 0) {
            fprintf(stderr, "bench_query: %s\n", err.msg);
            exit(1);
        }
        us[i] = clock_monotonic_us() - t0;
        free(out);
    }
    qsort(us, (size_t)runs, sizeof(*us), cmp_u64);
    printf("  %-44s %5zu rows  median %8.2f ms  p90 %8.2f ms\n", label, rows,
           (double)us[runs / 2] / 1000.0, (double)us[(runs * 9) / 10] / 1000.0);
    free(us);
}

/* Whole answers, the way the API makes them, for every GPU over the last
 * `range_ms` at 1000 points (the API's default). */
static void run_answer(struct store *s, const char *label, int64_t range_ms, int runs)
{
    uint64_t *query_us = calloc((size_t)runs, sizeof(*query_us));
    uint64_t *total_us = calloc((size_t)runs, sizeof(*total_us));
    size_t rows = 0;
    size_t bytes = 0;
    struct dynbuf out;
    dynbuf_init(&out, (size_t)32 << 20);
    for (int i = 0; i < runs; i++) {
        uint64_t t0 = clock_monotonic_us();
        int64_t now = clock_realtime_ms();
        struct report_history_request req = { .from_ms = now - range_ms,
                                              .to_ms = now,
                                              .points = 1000 - i % 100 };
        struct gp_err err = { 0 };
        if (report_history_parse_metrics(REPORT_HISTORY_DEFAULT_METRICS, &req, &err) != 0) {
            exit(1);
        }
        struct report_history_plan plan;
        report_history_plan(&req, 1000, &plan);
        struct report_history h;
        if (report_history_query(s, &req, &plan, &h, &err) != 0) {
            fprintf(stderr, "bench_query: %s\n", err.msg);
            exit(1);
        }
        query_us[i] = clock_monotonic_us() - t0;
        dynbuf_reset(&out);
        if (report_history_json_append(&out, &h) != 0) {
            exit(1);
        }
        total_us[i] = clock_monotonic_us() - t0;
        rows = h.row_count;
        bytes = out.len;
        report_history_fini(&h);
    }
    dynbuf_fini(&out);
    qsort(query_us, (size_t)runs, sizeof(*query_us), cmp_u64);
    qsort(total_us, (size_t)runs, sizeof(*total_us), cmp_u64);
    int p99 = (runs * 99) / 100;
    printf("  %-10s %5zu rows %7zu bytes  query median %6.2f p99 %6.2f ms  "
           "answer median %6.2f p99 %6.2f ms\n",
           label, rows, bytes, (double)query_us[runs / 2] / 1000.0, (double)query_us[p99] / 1000.0,
           (double)total_us[runs / 2] / 1000.0, (double)total_us[p99] / 1000.0);
    free(query_us);
    free(total_us);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_query DATABASE [RUNS]\n");
        return 2;
    }
    uint64_t n = 21;
    if (argc > 2 && (strparse_u64(argv[2], 100000, &n) != 0 || n == 0)) {
        fprintf(stderr, "bench_query: '%s' is not a number of runs\n", argv[2]);
        return 2;
    }
    int runs = (int)n;
    clock_use_timezone("UTC");
    struct store *s = NULL;
    struct gp_err err = { 0 };
    if (store_open(argv[1], STORE_READ_ONLY, &s, &err) != 0) {
        fprintf(stderr, "bench_query: %s\n", err.msg);
        return 1;
    }
    int64_t now = clock_realtime_ms();
    struct store_history_query year = {
        .from_ms = now - 365 * DAY_MS,
        .to_ms = now,
        .step_ms = 9 * HOUR_MS, /* 974 points: what a chart of 1000 asks for */
        .metric_count = 4,
        .metrics = { GPU_FIELD_UTIL_GPU_PCT, GPU_FIELD_MEM_USED_BYTES, GPU_FIELD_TEMP_C,
                     GPU_FIELD_POWER_MW },
    };
    printf("== history queries, 4 metrics, %d runs each\n", runs);
    struct store_history_query q = year;
    q.gpu = "0";
    run(s, "one year, 1 GPU, 9 h buckets (hour rollups)", q, runs);
    q.gpu = NULL;
    run(s, "one year, every GPU, 9 h buckets", q, runs);
    q = year;
    q.gpu = "0";
    q.step_ms = 0;
    q.local_days = true;
    run(s, "one year, 1 GPU, by day (day rollups)", q, runs);
    q = year;
    q.gpu = "0";
    q.from_ms = now - DAY_MS;
    q.step_ms = 60000;
    run(s, "last 24 h, 1 GPU, by minute (minute rollups)", q, runs);
    /* The baseline: what the rollups save. Raw samples for 30 days (all
     * that retention keeps), bucketed the same way. */
    q = year;
    q.gpu = "0";
    q.from_ms = now - 30 * DAY_MS;
    q.step_ms = 9 * HOUR_MS + 1; /* not a whole minute: forces the raw samples */
    run(s, "baseline: 30 days, 1 GPU, from raw samples", q, runs > 5 ? 5 : runs);
    q.step_ms = 9 * HOUR_MS;
    run(s, "the same 30 days from hour rollups", q, runs);
    /* The host's zone, as an agent that is not configured with one. */
    clock_use_timezone("");
    unsetenv("TZ");
    clock_use_timezone("");
    printf("== whole answers, every GPU, 4 metrics, 1000 points, %d runs each\n", runs * 5);
    run_answer(s, "24 h", DAY_MS, runs * 5);
    run_answer(s, "30 days", 30 * DAY_MS, runs * 5);
    run_answer(s, "1 year", 365 * DAY_MS, runs * 5);
    store_close(s);
    return 0;
}
