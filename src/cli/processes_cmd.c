/* `gpulse processes`: who used which GPU, from the stored process
 * lifetimes (one row per PID and start time). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "report/processes.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/strparse.h"
#include "util/timeparse.h"

static void usage(FILE *out)
{
    fputs("Usage: gpulse processes [OPTIONS]\n"
          "List the processes that used the GPUs, one row per process lifetime (PID and\n"
          "start time), with their time on the GPU.\n"
          "\n"
          "      --active            only processes seen in the newest samples\n"
          "      --since TIME        seen at or after TIME: 2026-11-02, 2026-11-02T14:00Z,\n"
          "                          epoch seconds, or relative (-24h, -7d)\n"
          "      --user USER         only this user's\n"
          "      --gpu N|UUID|all    only this GPU's (default all)\n"
          "  -q, --q TEXT            only those whose command, command line, user or\n"
          "                          container holds TEXT (any case)\n"
          "      --sort KEY          gpu_seconds (default), sm_seconds, memory,\n"
          "                          first_seen, last_seen, pid, user\n"
          "      --limit N           at most N rows (default 50; 0: all)\n" CLI_RESOURCE_USAGE_END,
          out);
}

enum {
    OPT_ACTIVE = 256,
    OPT_SINCE,
    OPT_USER,
    OPT_GPU,
    OPT_SORT,
    OPT_LIMIT,
};

struct processes_args {
    int64_t now_ms; /* what relative times count from */
    struct cli_db_args db;
    struct store_process_filter filter;
    bool active;
    enum report_format format;
};

/* Takes one of the command's own options into a. Returns 0, or
 * GP_EXIT_USAGE after saying what was wrong. */
static int take_option(int opt, const char *arg, void *ctx)
{
    struct processes_args *a = ctx;
    uint64_t limit = 0;
    switch (opt) {
    case OPT_ACTIVE:
        a->active = true;
        return 0;
    case OPT_SINCE:
        if (timeparse_ms(arg, a->now_ms, &a->filter.since_ms) != 0) {
            return cli_usage_error("processes",
                                   "--since: '%s' is not a time (2026-11-02, "
                                   "2026-11-02T14:00Z, epoch seconds, -24h, -7d)",
                                   arg);
        }
        return 0;
    case OPT_USER:
        a->filter.user = arg;
        return 0;
    case OPT_GPU:
        a->filter.gpu = strcmp(arg, "all") == 0 ? NULL : arg;
        return 0;
    case 'q':
        a->filter.query = arg;
        return 0;
    case OPT_SORT:
        if (report_processes_sort_parse(arg, &a->filter.sort) != 0) {
            return cli_usage_error("processes", "--sort: '%s' is not one of %s", arg,
                                   REPORT_PROCESSES_SORT_KEYS);
        }
        return 0;
    case OPT_LIMIT:
        if (strparse_u64(arg, 1000000000, &limit) != 0) {
            return cli_usage_error("processes", "--limit: '%s' is not a count", arg);
        }
        a->filter.limit = (int64_t)limit;
        return 0;
    case 'f':
        return cli_parse_format("processes", arg, &a->format);
    default:
        return 0;
    }
}

int cli_processes_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "active", no_argument, NULL, OPT_ACTIVE },
        { "since", required_argument, NULL, OPT_SINCE },
        { "user", required_argument, NULL, OPT_USER },
        { "gpu", required_argument, NULL, OPT_GPU },
        { "q", required_argument, NULL, 'q' },
        { "sort", required_argument, NULL, OPT_SORT },
        { "limit", required_argument, NULL, OPT_LIMIT },
        CLI_RESOURCE_LONGOPTS_END,
    };
    struct processes_args a = {
        .now_ms = clock_realtime_ms(),
        .filter = { .limit = 50 },
        .format = REPORT_FORMAT_TABLE,
    };
    struct cli_opts p = cli_opts_make("processes", argc, argv, ":f:q:c:d:h", longopts, usage);
    p.config = &a.db.config;
    p.database = &a.db.database;
    p.take = take_option;
    p.ctx = &a;
    if (cli_opts_parse(&p) != 0) {
        return p.exit_code;
    }
    struct config cfg;
    struct store *s = NULL;
    int rc = cli_db_open("processes", &a.db, STORE_READ_ONLY, &cfg, &s);
    if (rc) {
        return rc;
    }
    /* "Active": in the newest samples, allowing for a couple of missed reads. */
    a.filter.active_within_ms = a.active ? (int64_t)(3 * cfg.interval_ms) : 0;
    struct gp_err err = { 0 };
    struct store_process_row *rows = NULL;
    size_t n = 0;
    rc = store_query_processes(s, &a.filter, &rows, &n, &err);
    store_close(s);
    if (rc != 0) {
        return cli_fail("%s", err.msg);
    }
    struct report_processes out = { .rows = rows, .count = n, .limit = a.filter.limit };
    if (a.format == REPORT_FORMAT_JSON) {
        rc = report_json_write(stdout, report_processes_json(&out));
    } else if (a.format == REPORT_FORMAT_CSV) {
        report_processes_csv(stdout, &out);
    } else {
        report_processes_table(stdout, &out);
    }
    store_process_rows_free(rows, n);
    if (rc != 0 || fflush(stdout) != 0) {
        return cli_fail("cannot write to standard output");
    }
    return GP_EXIT_OK;
}
