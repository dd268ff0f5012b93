/* `gpulse processes`: who used which GPU, from the stored process
 * lifetimes (one row per PID and start time). */
#include <getopt.h>
#include <inttypes.h>
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
          "      --gpu N|UUID        only this GPU's\n"
          "      --sort KEY          gpu-time (default), sm-time, memory, first-seen,\n"
          "                          last-seen, pid, user\n"
          "      --limit N           at most N rows (default 50; 0: all)\n"
          "  -f, --format FORMAT     table (default), json or csv (also --output-format)\n"
          "  -c, --config PATH       configuration file (see gpulse config --help)\n"
          "      --set KEY=VALUE     override one configuration key\n"
          "  -d, --database PATH     the database (key: database)\n"
          "  -h, --help              show this help\n",
          out);
}

static const struct {
    const char *name;
    enum store_process_sort key;
} sort_names[] = {
    { "gpu-time", STORE_SORT_GPU_SECONDS },
    { "sm-time", STORE_SORT_SM_SECONDS },
    { "memory", STORE_SORT_MEMORY },
    { "first-seen", STORE_SORT_FIRST_SEEN },
    { "last-seen", STORE_SORT_LAST_SEEN },
    { "pid", STORE_SORT_PID },
    { "user", STORE_SORT_USER },
};

static void duration_hms(double secs, char *buf, size_t size)
{
    uint64_t s = (uint64_t)(secs + 0.5);
    snprintf(buf, size, "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 3600, (s / 60) % 60, s % 60);
}

static void local_time(int64_t ms, char *buf, size_t size)
{
    if (ms <= 0) {
        snprintf(buf, size, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm = { 0 };
    localtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

static void memory_text(int64_t bytes, bool has, char *buf, size_t size)
{
    if (!has) {
        snprintf(buf, size, "N/A");
    } else {
        report_format_bytes((uint64_t)bytes, buf, size);
    }
}

static void print_table(const struct store_process_row *rows, size_t n)
{
    printf("%-4s %8s  %-10s %-16s %-22s %-19s  %-19s  %10s %10s %10s %10s\n", "GPU", "PID", "USER",
           "COMMAND", "CONTAINER", "FIRST SEEN", "LAST SEEN", "GPU TIME", "SM TIME", "MEM MAX",
           "MEM AVG");
    for (size_t i = 0; i < n; i++) {
        const struct store_process_row *r = &rows[i];
        char user[64], cmd[64], cont[96], first[32], last[32], gpu_t[24], sm_t[24], mmax[24],
            mavg[24];
        text_sanitize(user, sizeof(user), r->user ? r->user : "?", true);
        text_sanitize(cmd, 17, r->command ? r->command : "?", true);
        text_sanitize(cont, 23, r->container ? r->container : "", true);
        local_time(r->first_seen_ms, first, sizeof(first));
        local_time(r->last_seen_ms, last, sizeof(last));
        duration_hms(r->gpu_seconds, gpu_t, sizeof(gpu_t));
        duration_hms(r->sm_seconds, sm_t, sizeof(sm_t));
        memory_text(r->memory_max_bytes, r->has_memory, mmax, sizeof(mmax));
        memory_text((int64_t)r->memory_avg_bytes, r->has_memory, mavg, sizeof(mavg));
        printf("%-4d %8u  %-10.10s %-16s %-22s %-19s  %-19s  %10s %10s %10s %10s\n", r->gpu_index,
               r->pid, user, cmd, cont, first, last, gpu_t, sm_t, mmax, mavg);
    }
}

static int print_json(const struct store_process_row *rows, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct store_process_row *r = &rows[i];
        char first[40], last[40], start[40];
        report_format_time_ms(r->first_seen_ms, first, sizeof(first));
        report_format_time_ms(r->last_seen_ms, last, sizeof(last));
        report_format_time_ms(r->start_time_ms, start, sizeof(start));
        json_t *o = json_object();
        json_object_set_new(o, "gpu_index", json_integer(r->gpu_index));
        json_object_set_new(o, "gpu_uuid", report_json_text(r->gpu_uuid));
        json_object_set_new(o, "pid", json_integer(r->pid));
        json_object_set_new(o, "type", json_string(report_process_type(r->type_mask)));
        json_object_set_new(o, "user", report_json_text(r->user));
        json_object_set_new(o, "uid", r->has_uid ? json_integer(r->uid) : json_null());
        json_object_set_new(o, "command", report_json_text(r->command));
        json_object_set_new(o, "cmdline", report_json_text(r->cmdline));
        json_object_set_new(o, "container", report_json_text(r->container));
        json_object_set_new(o, "start_time",
                            r->start_time_ms > 0 ? json_string(start) : json_null());
        json_object_set_new(o, "first_seen", json_string(first));
        json_object_set_new(o, "last_seen", json_string(last));
        json_object_set_new(o, "samples", json_integer(r->samples));
        json_object_set_new(o, "gpu_seconds", json_real(r->gpu_seconds));
        json_object_set_new(o, "sm_seconds", json_real(r->sm_seconds));
        json_object_set_new(o, "memory_max_bytes",
                            r->has_memory ? json_integer(r->memory_max_bytes) : json_null());
        json_object_set_new(o, "memory_avg_bytes",
                            r->has_memory ? json_integer((json_int_t)r->memory_avg_bytes)
                                          : json_null());
        json_array_append_new(arr, o);
    }
    json_t *root = json_pack("{s:s, s:o}", "schema", "gpulse.processes.v1", "processes", arr);
    int rc = json_dumpf(root, stdout, REPORT_JSON_FLAGS);
    json_decref(root);
    return rc == 0 && putchar('\n') != EOF ? 0 : -1;
}

static void print_csv(const struct store_process_row *rows, size_t n)
{
    fputs("gpu_index,gpu_uuid,pid,type,user,uid,command,container,first_seen,last_seen,"
          "gpu_seconds,sm_seconds,memory_max_bytes,memory_avg_bytes,cmdline\r\n",
          stdout);
    for (size_t i = 0; i < n; i++) {
        const struct store_process_row *r = &rows[i];
        char first[40], last[40];
        report_format_time_ms(r->first_seen_ms, first, sizeof(first));
        report_format_time_ms(r->last_seen_ms, last, sizeof(last));
        printf("%d", r->gpu_index);
        report_csv_field(stdout, r->gpu_uuid ? r->gpu_uuid : "", false);
        printf(",%u,%s", r->pid, report_process_type(r->type_mask));
        report_csv_field(stdout, r->user ? r->user : "", false);
        if (r->has_uid) {
            printf(",%u", r->uid);
        } else {
            printf(",");
        }
        report_csv_field(stdout, r->command ? r->command : "", false);
        report_csv_field(stdout, r->container ? r->container : "", false);
        printf(",%s,%s,%.3f,%.3f,", first, last, r->gpu_seconds, r->sm_seconds);
        if (r->has_memory) {
            printf("%" PRId64 ",%.0f", r->memory_max_bytes, r->memory_avg_bytes);
        } else {
            printf(",");
        }
        report_csv_field(stdout, r->cmdline ? r->cmdline : "", false);
        fputs("\r\n", stdout);
    }
}

int cli_processes_main(int argc, char **argv)
{
    enum {
        OPT_ACTIVE = 256,
        OPT_SINCE,
        OPT_USER,
        OPT_GPU,
        OPT_SORT,
        OPT_LIMIT
    };
    static const struct option longopts[] = {
        { "active", no_argument, NULL, OPT_ACTIVE },
        { "since", required_argument, NULL, OPT_SINCE },
        { "user", required_argument, NULL, OPT_USER },
        { "gpu", required_argument, NULL, OPT_GPU },
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
    while ((opt = getopt_long(argc, argv, ":f:c:d:h", longopts, NULL)) != -1) {
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
            filter.gpu = optarg;
            break;
        case OPT_SORT:
            for (size_t i = 0; i < sizeof(sort_names) / sizeof(sort_names[0]); i++) {
                if (strcmp(optarg, sort_names[i].name) == 0) {
                    filter.sort = sort_names[i].key;
                    known = true;
                }
            }
            if (!known) {
                return cli_usage_error("processes",
                                       "--sort: '%s' is not one of gpu-time, sm-time, memory, "
                                       "first-seen, last-seen, pid, user",
                                       optarg);
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
    if (format == REPORT_FORMAT_JSON) {
        rc = print_json(rows, n);
    } else if (format == REPORT_FORMAT_CSV) {
        print_csv(rows, n);
    } else {
        print_table(rows, n);
    }
    store_process_rows_free(rows, n);
    if (rc != 0 || fflush(stdout) != 0) {
        return cli_fail("cannot write to standard output");
    }
    return GP_EXIT_OK;
}
