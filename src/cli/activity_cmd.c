/* `gpulse activity`: the daily activity table, per day in the configured
 * time zone: minutes the GPUs were active, GPU-hours, peak and average
 * utilization, with the totals the activity graph shows. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "report/activity.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/strparse.h"

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
            if (strparse_u64(optarg, REPORT_ACTIVITY_MAX_WEEKS, &weeks) != 0 || weeks == 0) {
                return cli_usage_error("activity", "--weeks: '%s' is not a number from 1 to %d",
                                       optarg, REPORT_ACTIVITY_MAX_WEEKS);
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
    struct report_activity_query q = {
        .gpu = gpu,
        .weeks = (int)weeks,
        .now_ms = clock_realtime_ms(),
        .threshold_pct = cfg.activity_threshold_pct,
    };
    struct report_activity a;
    struct gp_err err = { 0 };
    rc = report_activity_load(s, &q, &a, &err);
    store_close(s);
    if (rc) {
        return cli_fail("%s", err.msg);
    }
    if (gpu && strcmp(gpu, "all") != 0 && a.count == 0) {
        /* Not an error when the GPU exists but was idle; say which case. */
        fprintf(stderr, "gpulse activity: no activity recorded for GPU '%s' in these %llu weeks\n",
                gpu, (unsigned long long)weeks);
    }
    if (format == REPORT_FORMAT_JSON) {
        rc = report_json_write(stdout, report_activity_json(&a));
    } else if (format == REPORT_FORMAT_CSV) {
        report_activity_csv(stdout, &a);
    } else {
        report_activity_table(stdout, &a);
    }
    report_activity_fini(&a);
    if (rc != 0 || fflush(stdout) != 0) {
        return cli_fail("cannot write to standard output");
    }
    return GP_EXIT_OK;
}
