/* `gpulse activity`: the daily activity table, per day in the configured
 * time zone: minutes the GPUs were active, GPU-hours, peak and average
 * utilization, with the totals the activity graph shows. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "report/now.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/strparse.h"
#include "util/text.h"
#include "util/xalloc.h"

#define MAX_WEEKS 53

static void usage(FILE *out)
{
    fputs("Usage: gpulse activity [OPTIONS]\n"
          "Daily GPU activity: per day (in the configured time zone) the minutes at or\n"
          "above activity_threshold_pct, GPU-hours, peak and average utilization.\n"
          "\n"
          "      --weeks N           weeks to show, Sunday-first like the activity graph\n"
          "                          (1 to 53, default 4)\n"
          "      --gpu N|UUID|all    one GPU, or every GPU and the machine (default: the\n"
          "                          machine, where a minute is active when any GPU is)\n"
          "  -f, --format FORMAT     table (default), json or csv (also --output-format)\n"
          "  -c, --config PATH       configuration file (see gpulse config --help)\n"
          "      --set KEY=VALUE     override one configuration key\n"
          "  -d, --database PATH     the database (key: database)\n"
          "  -h, --help              show this help\n",
          out);
}

static void label(const struct store_activity_row *r, char *buf, size_t size)
{
    if (r->gpu_id == 0) {
        snprintf(buf, size, "all");
    } else {
        snprintf(buf, size, "%d", r->gpu_index);
    }
}

void cli_activity_print_table(const struct store_activity_row *rows, size_t n, bool show_gpu)
{
    printf("%-10s %s%-14s %10s %6s %6s\n", "DATE", show_gpu ? "GPU  " : "", "ACTIVE", "GPU-HOURS",
           "PEAK%", "AVG%");
    for (size_t i = 0; i < n; i++) {
        const struct store_activity_row *r = &rows[i];
        char active[32];
        char gpu[16];
        text_format_minutes(r->active_minutes, active, sizeof(active));
        label(r, gpu, sizeof(gpu));
        printf("%-10s ", r->date);
        if (show_gpu) {
            printf("%-4s ", gpu);
        }
        printf("%-14s %10.2f ", active, (double)r->active_gpu_minutes / 60.0);
        if (r->has_peak) {
            printf("%6.0f %6.1f\n", r->peak_pct, r->avg_pct);
        } else {
            printf("%6s %6s\n", "N/A", "N/A");
        }
    }
}

static void print_summary(const struct store_activity_summary *sum, double threshold)
{
    char active[32];
    text_format_minutes(sum->active_minutes, active, sizeof(active));
    printf("\n%lld of %lld days active, current streak %lld, longest %lld; %s active, "
           "%.1f GPU-hours (threshold %g%%)\n",
           (long long)sum->active_days, (long long)sum->days, (long long)sum->current_streak,
           (long long)sum->longest_streak, active, (double)sum->active_gpu_minutes / 60.0,
           threshold);
}

static json_t *row_json(const struct store_activity_row *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "date", json_string(r->date));
    json_object_set_new(o, "gpu", r->gpu_id == 0 ? json_string("all") : json_integer(r->gpu_index));
    json_object_set_new(o, "minutes_observed", json_integer(r->minutes));
    json_object_set_new(o, "active_minutes", json_integer(r->active_minutes));
    json_object_set_new(o, "active_gpu_minutes", json_integer(r->active_gpu_minutes));
    json_object_set_new(o, "peak_pct", r->has_peak ? json_real(r->peak_pct) : json_null());
    json_object_set_new(o, "avg_pct", r->has_peak ? json_real(r->avg_pct) : json_null());
    return o;
}

static int print_json(const struct store_activity_row *rows, size_t n,
                      const struct store_activity_summary *sum, double threshold)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, row_json(&rows[i]));
    }
    json_t *root = json_pack(
        "{s:s, s:f, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}}", "schema", "gpulse.activity.v1",
        "threshold_pct", threshold, "days", arr, "summary", "days", (json_int_t)sum->days,
        "active_days", (json_int_t)sum->active_days, "current_streak",
        (json_int_t)sum->current_streak, "longest_streak", (json_int_t)sum->longest_streak,
        "active_minutes", (json_int_t)sum->active_minutes, "active_gpu_minutes",
        (json_int_t)sum->active_gpu_minutes);
    int rc = json_dumpf(root, stdout, REPORT_JSON_FLAGS);
    json_decref(root);
    return rc == 0 && putchar('\n') != EOF ? 0 : -1;
}

static void print_csv(const struct store_activity_row *rows, size_t n)
{
    printf("date,gpu,minutes_observed,active_minutes,active_gpu_minutes,peak_pct,avg_pct\r\n");
    for (size_t i = 0; i < n; i++) {
        const struct store_activity_row *r = &rows[i];
        char gpu[16];
        label(r, gpu, sizeof(gpu));
        printf("%s,%s,%lld,%lld,%lld,", r->date, gpu, (long long)r->minutes,
               (long long)r->active_minutes, (long long)r->active_gpu_minutes);
        if (r->has_peak) {
            printf("%.1f,%.2f", r->peak_pct, r->avg_pct);
        } else {
            printf(",");
        }
        printf("\r\n");
    }
}

int cli_activity_main(int argc, char **argv)
{
    enum {
        OPT_WEEKS = 256,
        OPT_GPU
    };
    static const struct option longopts[] = {
        { "weeks", required_argument, NULL, OPT_WEEKS },
        { "gpu", required_argument, NULL, OPT_GPU },
        { "format", required_argument, NULL, 'f' },
        { "output-format", required_argument, NULL, 'f' },
        CLI_DB_LONGOPTS,
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    uint64_t weeks = 4;
    const char *gpu = NULL;
    enum report_format format = REPORT_FORMAT_TABLE;
    struct cli_db_args da = { 0 };
    optind = 1;
    opterr = 0;
    int opt = 0;
    int rc = 0;
    while (rc == 0 && (opt = getopt_long(argc, argv, ":f:c:d:h", longopts, NULL)) != -1) {
        bool handled = false;
        rc = cli_db_option("activity", opt, optarg, &da, &handled);
        if (rc || handled) {
            continue;
        }
        switch (opt) {
        case OPT_WEEKS:
            if (strparse_u64(optarg, MAX_WEEKS, &weeks) != 0 || weeks == 0) {
                return cli_usage_error("activity", "--weeks: '%s' is not a number from 1 to %d",
                                       optarg, MAX_WEEKS);
            }
            break;
        case OPT_GPU:
            gpu = optarg;
            break;
        case 'f':
            rc = cli_parse_format("activity", optarg, &format);
            break;
        case 'h':
            usage(stdout);
            return GP_EXIT_OK;
        case ':':
            return cli_usage_error("activity", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("activity", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc) {
        return rc;
    }
    if (optind < argc) {
        return cli_usage_error("activity", "unexpected argument '%s'", argv[optind]);
    }
    struct config cfg;
    struct store *s = NULL;
    rc = cli_db_open("activity", &da, STORE_READ_ONLY, &cfg, &s);
    if (rc) {
        return rc;
    }
    int64_t now = clock_realtime_ms();
    int64_t today = clock_local_day_start(now);
    int64_t from = clock_local_weeks_start(today, (int)weeks);
    struct store_activity_row *rows = NULL;
    size_t n = 0;
    struct gp_err err = { 0 };
    rc = store_query_activity(s, gpu, from, clock_local_day_next(today), &rows, &n, &err);
    store_close(s);
    if (rc) {
        return cli_fail("%s", err.msg);
    }
    if (gpu && strcmp(gpu, "all") != 0 && n == 0) {
        /* Not an error when the GPU exists but was idle; say which case. */
        fprintf(stderr, "gpulse activity: no activity recorded for GPU '%s' in these %llu weeks\n",
                gpu, (unsigned long long)weeks);
    }
    /* The summary is of the machine (or the one GPU asked for). */
    struct store_activity_row *own = xcalloc(n ? n : 1, sizeof(*own));
    size_t nown = 0;
    for (size_t i = 0; i < n; i++) {
        if (!gpu || strcmp(gpu, "all") != 0 || rows[i].gpu_id == 0) {
            own[nown++] = rows[i];
        }
    }
    struct store_activity_summary sum;
    store_activity_summarize(own, nown, from, today, &sum);
    free(own);
    rc = 0;
    if (format == REPORT_FORMAT_JSON) {
        rc = print_json(rows, n, &sum, cfg.activity_threshold_pct);
    } else if (format == REPORT_FORMAT_CSV) {
        print_csv(rows, n);
    } else {
        cli_activity_print_table(rows, n, gpu && strcmp(gpu, "all") == 0);
        print_summary(&sum, cfg.activity_threshold_pct);
    }
    free(rows);
    if (rc != 0 || fflush(stdout) != 0) {
        return cli_fail("cannot write to standard output");
    }
    return GP_EXIT_OK;
}
