/* `gpulse history`: stored samples for a time range, raw or aggregated
 * into minutes, hours or (local) days. */
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
#include "util/timeparse.h"
#include "util/xalloc.h"

/* --around TIME: the samples this close to TIME on either side. */
#define AROUND_MS 30000LL

enum step {
    STEP_AUTO,
    STEP_RAW,
    STEP_MINUTE,
    STEP_HOUR,
    STEP_DAY,
};

static const char *const step_names[] = { "auto", "raw", "minute", "hour", "day" };

static void usage(FILE *out)
{
    fputs("Usage: gpulse history [OPTIONS]\n"
          "Stored samples of each GPU for a time range, raw or aggregated.\n"
          "\n"
          "      --gpu N|UUID        one GPU (default: all)\n"
          "      --from TIME         start (default -1h): 2026-11-02, 2026-11-02T14:00Z,\n"
          "                          epoch seconds, or relative (-24h, -7d)\n"
          "      --to TIME           end (default now)\n"
          "      --around TIME       the samples within 30 s of TIME\n"
          "      --step STEP         raw, minute, hour, day (cut in the configured time\n"
          "                          zone) or auto (default): the coarsest that still\n"
          "                          gives --points points\n"
          "      --points N          for auto (default 1000)\n"
          "      --metrics a,b,...   fields to show (default utilization_gpu_pct,\n"
          "                          memory_used_bytes,temperature_c,power_mw); busy_pct\n"
          "                          is always there\n"
          "  -f, --format FORMAT     table (default), json or csv (also --output-format)\n"
          "  -c, --config PATH       configuration file (see gpulse config --help)\n"
          "      --set KEY=VALUE     override one configuration key\n"
          "  -d, --database PATH     the database (key: database)\n"
          "  -h, --help              show this help\n",
          out);
}

static int parse_metrics(const char *list, struct store_history_query *q)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", list);
    q->metric_count = 0;
    char *save = NULL;
    for (char *name = strtok_r(buf, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        bool found = false;
        for (size_t i = 0; i < store_sample_field_count() && !found; i++) {
            if (strcmp(gpu_field_info(store_sample_field(i))->key, name) == 0) {
                if (q->metric_count == STORE_HISTORY_MAX_METRICS) {
                    return cli_usage_error("history", "--metrics: more than %d metrics",
                                           STORE_HISTORY_MAX_METRICS);
                }
                q->metrics[q->metric_count++] = store_sample_field(i);
                found = true;
            }
        }
        if (!found && strcmp(name, "busy_pct") != 0) {
            return cli_usage_error("history",
                                   "--metrics: '%s' is not a stored metric (see the keys of "
                                   "gpulse now --format json)",
                                   name);
        }
    }
    return 0;
}

static void print_table(const struct store_history_query *q, const struct store_history_row *rows,
                        size_t n)
{
    printf("%-4s %-19s %7s", "GPU", "TIME", "BUSY%");
    for (size_t m = 0; m < q->metric_count; m++) {
        printf(" %22s", gpu_field_info(q->metrics[m])->key);
    }
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        const struct store_history_row *r = &rows[i];
        time_t secs = (time_t)(r->t_ms / 1000);
        struct tm tm = { 0 };
        localtime_r(&secs, &tm);
        char when[32];
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        printf("%-4d %-19s", r->gpu_index, when);
        if (r->has_busy) {
            printf(" %7.1f", r->busy_pct);
        } else {
            printf(" %7s", "N/A");
        }
        for (size_t m = 0; m < q->metric_count; m++) {
            if (r->has[m]) {
                printf(" %22.1f", r->avg[m]);
            } else {
                printf(" %22s", "N/A");
            }
        }
        printf("\n");
    }
}

static json_t *num_or_null(bool has, double v)
{
    return has ? json_real(v) : json_null();
}

static int print_json(const struct store_history_query *q, enum step step,
                      const struct store_history_row *rows, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct store_history_row *r = &rows[i];
        char when[40];
        report_format_time_ms(r->t_ms, when, sizeof(when));
        json_t *o = json_object();
        json_object_set_new(o, "gpu", json_integer(r->gpu_index));
        json_object_set_new(o, "time", json_string(when));
        json_object_set_new(o, "time_ms", json_integer(r->t_ms));
        json_object_set_new(o, "samples", json_integer(r->count));
        json_object_set_new(o, "busy_pct", num_or_null(r->has_busy, r->busy_pct));
        if (step != STEP_RAW) {
            json_object_set_new(o, "busy_seconds", json_real(r->busy_seconds));
            json_object_set_new(o, "energy_j", num_or_null(r->has_energy, r->energy_j));
        }
        for (size_t m = 0; m < q->metric_count; m++) {
            const char *k = gpu_field_info(q->metrics[m])->key;
            if (step == STEP_RAW) {
                json_object_set_new(o, k, num_or_null(r->has[m], r->avg[m]));
                continue;
            }
            json_object_set_new(o, k,
                                r->has[m] ? json_pack("{s:f, s:f, s:f}", "avg", r->avg[m], "min",
                                                      r->min[m], "max", r->max[m])
                                          : json_null());
        }
        json_array_append_new(arr, o);
    }
    json_t *root = json_pack("{s:s, s:s, s:o}", "schema", "gpulse.history.v1", "step",
                             step_names[step], "rows", arr);
    int rc = json_dumpf(root, stdout, REPORT_JSON_FLAGS);
    json_decref(root);
    return rc == 0 && putchar('\n') != EOF ? 0 : -1;
}

static void print_csv(const struct store_history_query *q, enum step step,
                      const struct store_history_row *rows, size_t n)
{
    printf("gpu,time,samples,busy_pct%s", step == STEP_RAW ? "" : ",busy_seconds,energy_j");
    for (size_t m = 0; m < q->metric_count; m++) {
        const char *k = gpu_field_info(q->metrics[m])->key;
        if (step == STEP_RAW) {
            printf(",%s", k);
        } else {
            printf(",%s_avg,%s_min,%s_max", k, k, k);
        }
    }
    printf("\r\n");
    for (size_t i = 0; i < n; i++) {
        const struct store_history_row *r = &rows[i];
        char when[40];
        report_format_time_ms(r->t_ms, when, sizeof(when));
        printf("%d,%s,%lld,", r->gpu_index, when, (long long)r->count);
        if (r->has_busy) {
            printf("%.2f", r->busy_pct);
        }
        if (step != STEP_RAW) {
            printf(",%.3f,", r->busy_seconds);
            if (r->has_energy) {
                printf("%.3f", r->energy_j);
            }
        }
        for (size_t m = 0; m < q->metric_count; m++) {
            if (!r->has[m]) {
                printf(step == STEP_RAW ? "," : ",,,");
            } else if (step == STEP_RAW) {
                printf(",%.0f", r->avg[m]);
            } else {
                printf(",%.2f,%.0f,%.0f", r->avg[m], r->min[m], r->max[m]);
            }
        }
        printf("\r\n");
    }
}

int cli_history_main(int argc, char **argv)
{
    enum {
        OPT_GPU = 256,
        OPT_FROM,
        OPT_TO,
        OPT_STEP,
        OPT_POINTS,
        OPT_METRICS,
        OPT_AROUND,
    };
    static const struct option longopts[] = {
        { "gpu", required_argument, NULL, OPT_GPU },
        { "from", required_argument, NULL, OPT_FROM },
        { "to", required_argument, NULL, OPT_TO },
        { "step", required_argument, NULL, OPT_STEP },
        { "points", required_argument, NULL, OPT_POINTS },
        { "metrics", required_argument, NULL, OPT_METRICS },
        { "around", required_argument, NULL, OPT_AROUND },
        { "format", required_argument, NULL, 'f' },
        { "output-format", required_argument, NULL, 'f' },
        CLI_DB_LONGOPTS,
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int64_t now = clock_realtime_ms();
    struct store_history_query q = { .from_ms = now - CLOCK_HOUR_MS, .to_ms = now + 1 };
    const char *default_metrics = "utilization_gpu_pct,memory_used_bytes,temperature_c,power_mw";
    int rc = parse_metrics(default_metrics, &q);
    enum step step = STEP_AUTO;
    uint64_t points = 1000;
    enum report_format format = REPORT_FORMAT_TABLE;
    struct cli_db_args da = { 0 };
    optind = 1;
    opterr = 0;
    int opt = 0;
    while (rc == 0 && (opt = getopt_long(argc, argv, ":f:c:d:h", longopts, NULL)) != -1) {
        bool handled = false;
        rc = cli_db_option("history", opt, optarg, &da, &handled);
        if (rc || handled) {
            continue;
        }
        switch (opt) {
        case OPT_GPU:
            q.gpu = optarg;
            break;
        case OPT_AROUND: {
            int64_t at = 0;
            if (timeparse_ms(optarg, now, &at) != 0) {
                return cli_usage_error("history",
                                       "--around: '%s' is not a time (2026-11-02T14:00Z, epoch "
                                       "seconds, -1h)",
                                       optarg);
            }
            q.from_ms = at - AROUND_MS;
            q.to_ms = at + AROUND_MS;
            break;
        }
        case OPT_FROM:
        case OPT_TO:
            if (timeparse_ms(optarg, now, opt == OPT_FROM ? &q.from_ms : &q.to_ms) != 0) {
                return cli_usage_error("history",
                                       "--%s: '%s' is not a time (2026-11-02, "
                                       "2026-11-02T14:00Z, epoch seconds, -24h, -7d, now)",
                                       opt == OPT_FROM ? "from" : "to", optarg);
            }
            break;
        case OPT_STEP: {
            bool known = false;
            for (size_t i = 0; i < GP_ARRAY_LEN(step_names); i++) {
                if (strcmp(optarg, step_names[i]) == 0) {
                    step = (enum step)i;
                    known = true;
                }
            }
            if (!known) {
                return cli_usage_error(
                    "history", "--step: '%s' is not one of raw, minute, hour, day, auto", optarg);
            }
            break;
        }
        case OPT_POINTS:
            if (strparse_u64(optarg, 1000000, &points) != 0 || points == 0) {
                return cli_usage_error("history",
                                       "--points: '%s' is not a count from 1 to "
                                       "1000000",
                                       optarg);
            }
            break;
        case OPT_METRICS:
            rc = parse_metrics(optarg, &q);
            break;
        case 'f':
            rc = cli_parse_format("history", optarg, &format);
            break;
        case 'h':
            usage(stdout);
            return GP_EXIT_OK;
        case ':':
            return cli_usage_error("history", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("history", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc) {
        return rc;
    }
    if (optind < argc) {
        return cli_usage_error("history", "unexpected argument '%s'", argv[optind]);
    }
    if (q.from_ms >= q.to_ms) {
        return cli_usage_error("history", "--from must be before --to");
    }
    struct config cfg;
    struct store *s = NULL;
    rc = cli_db_open("history", &da, STORE_READ_ONLY, &cfg, &s);
    if (rc) {
        return rc;
    }
    if (step == STEP_AUTO) {
        /* The coarsest step that still gives the asked number of points. */
        int64_t range = q.to_ms - q.from_ms;
        step = range / CLOCK_DAY_MS >= (int64_t)points      ? STEP_DAY
               : range / CLOCK_HOUR_MS >= (int64_t)points   ? STEP_HOUR
               : range / CLOCK_MINUTE_MS >= (int64_t)points ? STEP_MINUTE
                                                            : STEP_RAW;
    }
    static const int64_t widths[] = { 0, 0, CLOCK_MINUTE_MS, CLOCK_HOUR_MS, 0 };
    q.step_ms = widths[step];
    q.local_days = step == STEP_DAY;

    struct gp_err err = { 0 };
    struct store_history_row *rows = NULL;
    size_t n = 0;
    rc = store_query_history(s, &q, &rows, &n, &err);
    store_close(s);
    if (rc != 0) {
        return cli_fail("%s", err.msg);
    }
    rc = 0;
    if (format == REPORT_FORMAT_JSON) {
        rc = print_json(&q, step, rows, n);
    } else if (format == REPORT_FORMAT_CSV) {
        print_csv(&q, step, rows, n);
    } else {
        print_table(&q, rows, n);
    }
    free(rows);
    if (rc != 0 || fflush(stdout) != 0) {
        return cli_fail("cannot write to standard output");
    }
    return GP_EXIT_OK;
}
