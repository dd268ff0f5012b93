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

static void usage(FILE *out)
{
    fputs("Usage: gpulse activity [OPTIONS]\n"
          "Daily GPU activity: per day (in the configured time zone) the minutes at or\n"
          "above activity_threshold_pct, GPU-hours, peak and average utilization.\n"
          "\n"
          "      --weeks N           weeks to show, Sunday-first like the activity graph\n"
          "                          (1 to 53, default 4)\n"
          "      --gpu N|UUID|all    one GPU, or every GPU and the machine (default: the\n"
          "                          machine, where a minute is active when any GPU "
          "is)\n" CLI_RESOURCE_USAGE_END,
          out);
}

enum {
    OPT_WEEKS = 256,
    OPT_GPU,
};

struct activity_args {
    struct cli_db_args db;
    int weeks;
    const char *gpu; /* NULL or "all": the machine and every GPU */
    enum report_format format;
};

/* Takes one of the command's own options into ctx (struct activity_args). */
static int take_option(int opt, const char *arg, void *ctx)
{
    struct activity_args *a = ctx;
    switch (opt) {
    case OPT_WEEKS:
        return cli_parse_weeks("activity", arg, &a->weeks);
    case OPT_GPU:
        a->gpu = arg;
        return 0;
    case 'f':
        return cli_parse_format("activity", arg, &a->format);
    default:
        return 0;
    }
}

int cli_activity_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "weeks", required_argument, NULL, OPT_WEEKS },
        { "gpu", required_argument, NULL, OPT_GPU },
        CLI_RESOURCE_LONGOPTS_END,
    };
    struct activity_args args = { .weeks = 4, .format = REPORT_FORMAT_TABLE };
    struct cli_opts p = cli_opts_make("activity", argc, argv, ":f:c:d:h", longopts, usage);
    p.config = &args.db.config;
    p.database = &args.db.database;
    p.take = take_option;
    p.ctx = &args;
    if (cli_opts_parse(&p) != 0) {
        return p.exit_code;
    }
    struct config cfg;
    struct store *s = NULL;
    int rc = cli_db_open("activity", &args.db, STORE_READ_ONLY, &cfg, &s);
    if (rc) {
        return rc;
    }
    struct report_activity_query q = {
        .gpu = args.gpu,
        .weeks = args.weeks,
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
    if (args.gpu && strcmp(args.gpu, "all") != 0 && a.count == 0) {
        /* Not an error when the GPU exists but was idle; say which case. */
        fprintf(stderr, "gpulse activity: no activity recorded for GPU '%s' in these %d weeks\n",
                args.gpu, args.weeks);
    }
    if (args.format == REPORT_FORMAT_JSON) {
        rc = report_json_write(stdout, report_activity_json(&a));
    } else if (args.format == REPORT_FORMAT_CSV) {
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
