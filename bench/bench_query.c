/* Times history queries on a database that holds a generated year (see
 * bench/history.sh): one year for one GPU and for every GPU at chart
 * resolution (at most 1000 points), a year by local day, and the last day
 * by minute. Also, as the baseline in the same run, the same year answered
 * from raw samples where they exist. Prints medians; asserts nothing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    store_close(s);
    return 0;
}
