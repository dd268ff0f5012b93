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
          "      --limit N           at most N rows (default 50; 0: all)\n"
          "  -f, --format FORMAT     table (default), json or csv (also --output-format)\n"
          "  -c, --config PATH       configuration file (see gpulse config --help)\n"
          "      --set KEY=VALUE     override one configuration key\n"
          "  -d, --database PATH     the database (key: database)\n"
          "  -h, --help              show this help\n",
          out);
}

int cli_processes_main(int argc, char **argv)
{
    enum {
        OPT_ACTIVE = 256,
        OPT_SINCE,
        OPT_USER,
        OPT_GPU,
        OPT_SORT,
        OPT_LIMIT,
    };
    static const struct option longopts[] = {
        { "active", no_argument, NULL, OPT_ACTIVE },
        { "since", required_argument, NULL, OPT_SINCE },
        { "user", required_argument, NULL, OPT_USER },
        { "gpu", required_argument, NULL, OPT_GPU },
        { "q", required_argument, NULL, 'q' },
        { "sort", required_argument, NULL, OPT_SORT },
        { "limit", required_argument, NULL, OPT_LIMIT },
        { "format", required_argument, NULL, 'f' },
        { "output-format", required_argument, NULL, 'f' },
        CLI_DB_LONGOPTS,
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct cli_db_args da = { 0 };
    struct store_process_filter filter = { .limit = 50 };
    bool active = false;
    enum report_format format = REPORT_FORMAT_TABLE;
    int64_t now_ms = clock_realtime_ms();
    optind = 1;
    opterr = 0;
    int opt = 0;
    while ((opt = getopt_long(argc, argv, ":f:q:c:d:h", longopts, NULL)) != -1) {
        uint64_t limit = 0;
        bool known = false;
        int orc = cli_db_option("processes", opt, optarg, &da, &known);
        if (orc || known) {
            if (orc) {
                return orc;
            }
            continue;
        }
        switch (opt) {
        case OPT_ACTIVE:
            active = true;
            break;
        case OPT_SINCE:
            if (timeparse_ms(optarg, now_ms, &filter.since_ms) != 0) {
                return cli_usage_error("processes",
                                       "--since: '%s' is not a time (2026-11-02, "
                                       "2026-11-02T14:00Z, epoch seconds, -24h, -7d)",
                                       optarg);
            }
            break;
        case OPT_USER:
            filter.user = optarg;
            break;
        case OPT_GPU:
            filter.gpu = strcmp(optarg, "all") == 0 ? NULL : optarg;
            break;
        case 'q':
            filter.query = optarg;
            break;
        case OPT_SORT:
            if (report_processes_sort_parse(optarg, &filter.sort) != 0) {
                return cli_usage_error("processes", "--sort: '%s' is not one of %s", optarg,
                                       REPORT_PROCESSES_SORT_KEYS);
            }
            break;
        case OPT_LIMIT:
            if (strparse_u64(optarg, 1000000000, &limit) != 0) {
                return cli_usage_error("processes", "--limit: '%s' is not a count", optarg);
            }
            filter.limit = (int64_t)limit;
            break;
        case 'f':
            if (cli_parse_format("processes", optarg, &format) != 0) {
                return GP_EXIT_USAGE;
            }
            break;
        case 'h':
            usage(stdout);
            return GP_EXIT_OK;
        case ':':
            return cli_usage_error("processes", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("processes", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        return cli_usage_error("processes", "unexpected argument '%s'", argv[optind]);
    }
    struct config cfg;
    struct store *s = NULL;
    int rc = cli_db_open("processes", &da, STORE_READ_ONLY, &cfg, &s);
    if (rc) {
        return rc;
    }
    /* "Active": in the newest samples, allowing for a couple of missed reads. */
    filter.active_within_ms = active ? (int64_t)(3 * cfg.interval_ms) : 0;
    struct gp_err err = { 0 };
    struct store_process_row *rows = NULL;
    size_t n = 0;
    rc = store_query_processes(s, &filter, &rows, &n, &err);
    store_close(s);
    if (rc != 0) {
        return cli_fail("%s", err.msg);
    }
    struct report_processes p = { .rows = rows, .count = n, .limit = filter.limit };
    if (format == REPORT_FORMAT_JSON) {
        rc = report_json_write(stdout, report_processes_json(&p));
    } else if (format == REPORT_FORMAT_CSV) {
        report_processes_csv(stdout, &p);
    } else {
        report_processes_table(stdout, &p);
    }
    store_process_rows_free(rows, n);
    if (rc != 0 || fflush(stdout) != 0) {
        return cli_fail("cannot write to standard output");
    }
    return GP_EXIT_OK;
}
