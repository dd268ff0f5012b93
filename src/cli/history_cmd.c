/* `gpulse history`: stored samples for a time range, raw or in buckets:
 * the options become report/history's request, which is planned, read and
 * rendered there, as GET /api/v1/history does. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "report/history.h"
#include "util/clock.h"
#include "util/strparse.h"
#include "util/timeparse.h"

/* --around TIME: the samples this close to TIME on either side. */
#define AROUND_MS 30000LL

static void usage(FILE *out)
{
    fputs("Usage: gpulse history [OPTIONS]\n"
          "Stored samples of each GPU for a time range, raw or in buckets.\n"
          "\n"
          "      --gpu N|UUID        one GPU (default: all)\n"
          "      --from TIME         start (default -1h): 2026-11-02, 2026-11-02T14:00Z,\n"
          "                          epoch seconds, or relative (-24h, -7d)\n"
          "      --to TIME           end (default now)\n"
          "      --around TIME       the samples within 30 s of TIME\n"
          "      --points N          at most N rows per GPU (default 1000): the finest\n"
          "                          resolution that fits is chosen, from raw samples\n"
          "                          through buckets of 2 s to 6 h to days\n"
          "      --step STEP         the finest resolution to use: raw (default; also\n"
          "                          auto), second, minute, hour or day (cut in the\n"
          "                          configured time zone); coarser when the range holds\n"
          "                          more than --points of them\n"
          "      --metrics a,b,...   fields to show (default utilization_gpu_pct,\n"
          "                          memory_used_bytes,temperature_c,power_mw); busy_pct\n"
          "                          is always there\n" CLI_RESOURCE_USAGE_END,
          out);
}

enum {
    OPT_GPU = 256,
    OPT_FROM,
    OPT_TO,
    OPT_STEP,
    OPT_POINTS,
    OPT_METRICS,
    OPT_AROUND,
};

struct history_args {
    struct report_history_request req;
    enum report_format format;
    struct cli_db_args db;
    int64_t now_ms;
};

static int parse_time(const char *option, const char *arg, int64_t now_ms, int64_t *out)
{
    if (timeparse_ms(arg, now_ms, out) != 0) {
        return cli_usage_error("history",
                               "--%s: '%s' is not a time (2026-11-02, 2026-11-02T14:00Z, epoch "
                               "seconds, -24h, -7d, now)",
                               option, arg);
    }
    return 0;
}

static int parse_metrics(const char *list, struct report_history_request *req)
{
    struct gp_err err = { 0 };
    if (report_history_parse_metrics(list, req, &err) != 0) {
        return cli_usage_error("history", "--metrics: %s", err.msg);
    }
    return 0;
}

/* Takes one of history's own options. Returns 0 or an exit code. */
static int take_option(int opt, const char *arg, void *ctx)
{
    struct history_args *a = ctx;
    struct report_history_request *req = &a->req;
    uint64_t points = 0;
    int64_t at = 0;
    switch (opt) {
    case OPT_GPU:
        req->gpu = strcmp(arg, "all") == 0 ? NULL : arg; /* as the API's gpu=all */
        return 0;
    case OPT_AROUND:
        if (parse_time("around", arg, a->now_ms, &at) != 0) {
            return GP_EXIT_USAGE;
        }
        req->from_ms = at - AROUND_MS;
        req->to_ms = at + AROUND_MS;
        return 0;
    case OPT_FROM:
        return parse_time("from", arg, a->now_ms, &req->from_ms);
    case OPT_TO:
        return parse_time("to", arg, a->now_ms, &req->to_ms);
    case OPT_STEP:
        if (report_history_parse_step(arg, &req->step) != 0) {
            return cli_usage_error(
                "history", "--step: '%s' is not one of raw, second, minute, hour, day, auto", arg);
        }
        return 0;
    case OPT_POINTS:
        if (strparse_u64(arg, 1000000, &points) != 0 || points == 0) {
            return cli_usage_error("history", "--points: '%s' is not a count from 1 to 1000000",
                                   arg);
        }
        req->points = (int64_t)points;
        return 0;
    case OPT_METRICS:
        return parse_metrics(arg, req);
    default:
        return cli_parse_format("history", arg, &a->format);
    }
}

/* Parses the command line into a. Returns 0, or an exit code (-1: --help
 * was shown). */
static int parse_args(int argc, char **argv, struct history_args *a)
{
    static const struct option longopts[] = {
        { "gpu", required_argument, NULL, OPT_GPU },
        { "from", required_argument, NULL, OPT_FROM },
        { "to", required_argument, NULL, OPT_TO },
        { "step", required_argument, NULL, OPT_STEP },
        { "points", required_argument, NULL, OPT_POINTS },
        { "metrics", required_argument, NULL, OPT_METRICS },
        { "around", required_argument, NULL, OPT_AROUND },
        CLI_RESOURCE_LONGOPTS_END,
    };
    struct cli_opts p = cli_opts_make("history", argc, argv, ":f:c:d:h", longopts, usage);
    p.config = &a->db.config;
    p.database = &a->db.database;
    p.take = take_option;
    p.ctx = a;
    int rc = parse_metrics(REPORT_HISTORY_DEFAULT_METRICS, &a->req);
    if (rc == 0 && cli_opts_parse(&p) != 0) {
        return p.exit_code == GP_EXIT_OK ? -1 : p.exit_code;
    }
    if (rc == 0 && a->req.from_ms >= a->req.to_ms) {
        return cli_usage_error("history", "--from must be before --to");
    }
    return rc;
}

int cli_history_main(int argc, char **argv)
{
    int64_t now = clock_realtime_ms();
    struct history_args a = {
        .req = { .from_ms = now - CLOCK_HOUR_MS,
                 .to_ms = now,
                 .points = REPORT_HISTORY_DEFAULT_POINTS,
                 .step = REPORT_HISTORY_STEP_RAW },
        .format = REPORT_FORMAT_TABLE,
        .now_ms = now,
    };
    int rc = parse_args(argc, argv, &a);
    if (rc != 0) {
        return rc < 0 ? GP_EXIT_OK : rc;
    }
    struct config cfg;
    struct store *s = NULL;
    rc = cli_db_open("history", &a.db, STORE_READ_ONLY, &cfg, &s);
    if (rc) {
        return rc;
    }
    struct report_history_plan plan;
    report_history_plan(&a.req, (int64_t)cfg.interval_ms, &plan);
    struct report_history h;
    struct gp_err err = { 0 };
    rc = report_history_query(s, &a.req, &plan, &h, &err);
    store_close(s);
    if (rc != 0) {
        return cli_fail("%s", err.msg);
    }
    if (a.format == REPORT_FORMAT_JSON) {
        rc = report_history_write_json(stdout, &h);
    } else if (a.format == REPORT_FORMAT_CSV) {
        report_history_csv(stdout, &h);
    } else {
        report_history_table(stdout, &h);
    }
    report_history_fini(&h);
    if (rc != 0 || fflush(stdout) != 0) {
        return cli_fail("cannot write to standard output");
    }
    return GP_EXIT_OK;
}
