/* `gpulse db info|check|prune|rebuild|raw`: what the history database
 * holds, whether the file is sound, retention now, the rollups recomputed,
 * and the raw samples decoded into a plain SQLite file. info, check and
 * raw open it read-only, so they work beside a running agent. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "report/activity.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/text.h"

static void usage(FILE *out)
{
    fputs("Usage: gpulse db info|check|prune|rebuild [--config PATH] [--set KEY=VALUE]\n"
          "                                        [--database PATH]\n"
          "       gpulse db raw OUTPUT.db [--database PATH]\n"
          "  info     path, size, schema version, each table's rows and time range, the\n"
          "           agent's missed ticks and queue drops, and the last week's activity\n"
          "  check    SQLite's integrity check and every raw-sample block decoded; exit 1\n"
          "           when the file is damaged\n"
          "  prune    apply retention now (keys retention.*) and return the freed space\n"
          "           to the file system\n"
          "  rebuild  recompute the minute, hour and day rollups and the daily activity\n"
          "           from what is stored (after changing timezone or\n"
          "           activity_threshold_pct); safe beside a running agent\n"
          "  raw      write the raw samples, decoded from their blocks, into a new SQLite\n"
          "           file OUTPUT.db: tables samples and process_samples, a row per\n"
          "           sample (for sqlite3 and other tools)\n"
          "\n"
          "  -c, --config PATH     configuration file (see gpulse config --help)\n"
          "      --set KEY=VALUE   override one configuration key\n"
          "  -d, --database PATH   the database (key: database)\n"
          "  -h, --help            show this help\n",
          out);
}

static void print_time(const char *label, int64_t ms)
{
    char buf[40] = "-";
    if (ms > 0) {
        report_format_time_ms(ms, buf, sizeof(buf));
    }
    printf(" %s %-24s", label, buf);
}

static int info(struct store *s)
{
    struct store_info in;
    struct gp_err err = { 0 };
    if (store_read_info(s, &in, &err) != 0) {
        return cli_fail("%s", err.msg);
    }
    printf("database        %s\n", store_path(s));
    printf("schema version  %d\n", in.schema_version);
    printf("size            %" PRId64 " bytes (+ %" PRId64 " in the WAL, %" PRId64 " free pages)\n",
           in.file_bytes, in.wal_bytes, in.free_pages);
    char value[64];
    static const char *const meta[][2] = {
        { "host", "host" },
        { "driver_version", "driver" },
        { "cuda_version", "CUDA" },
        { "agent.missed_ticks", "missed ticks" },
        { "agent.queue_drops", "queue drops" },
    };
    for (size_t i = 0; i < sizeof(meta) / sizeof(meta[0]); i++) {
        if (store_get_meta(s, meta[i][0], value, sizeof(value)) == 0 && value[0]) {
            char clean[sizeof(value)]; /* host text: the one output rule */
            printf("%-15s %s\n", meta[i][1], text_sanitize(clean, sizeof(clean), value));
        }
    }
    printf("\n%-16s %12s  %-27s %-27s\n", "table", "rows", "first", "last");
    for (size_t i = 0; i < in.table_count; i++) {
        printf("%-16s %12" PRId64, in.tables[i].name, in.tables[i].rows);
        print_time("", in.tables[i].first_ms);
        print_time("", in.tables[i].last_ms);
        printf("\n");
    }
    /* The last week's activity of the machine (what --show-db shows too). */
    int64_t today = clock_local_day_start(clock_realtime_ms());
    int64_t from = today;
    for (int i = 0; i < 6; i++) {
        from = clock_local_day_start(from - 1);
    }
    struct store_activity_row *rows = NULL;
    size_t n = 0;
    if (store_query_activity(s, NULL, from, clock_local_day_next(today), &rows, &n, &err) != 0) {
        return cli_fail("%s", err.msg);
    }
    printf("\nrecent activity (gpulse activity for more)\n");
    if (n == 0) {
        printf("none in the last 7 days\n");
    } else {
        report_activity_table_rows(stdout, rows, n, false);
    }
    free(rows);
    return GP_EXIT_OK;
}

static int prune(struct store *s, const struct config *cfg)
{
    struct store_retention ret;
    store_retention_from_config(cfg, &ret);
    struct store_prune_result res = { 0 };
    struct gp_err err = { 0 };
    int64_t now = clock_realtime_ms();
    if (store_prune(s, &ret, now, 0, &res, &err) != 0) {
        return cli_fail("%s", err.msg);
    }
    printf("%s: %lld rows deleted, %lld pages returned to the file system\n", store_path(s),
           (long long)res.rows_deleted, (long long)res.pages_freed);
    return GP_EXIT_OK;
}

static int rebuild(struct store *s)
{
    struct store_rebuild_result res;
    struct gp_err err = { 0 };
    if (store_rebuild(s, &res, &err) != 0) {
        return cli_fail("%s", err.msg);
    }
    printf("%s: rebuilt %lld minutes, %lld hours and %lld days of %lld GPUs\n", store_path(s),
           (long long)res.minutes, (long long)res.hours, (long long)res.days, (long long)res.gpus);
    return GP_EXIT_OK;
}

static int raw(struct store *s, const char *out)
{
    int64_t damaged = 0;
    struct gp_err err = { 0 };
    if (store_raw_export(s, out, &damaged, &err) != 0) {
        return cli_fail("%s", err.msg);
    }
    if (damaged > 0) {
        fprintf(stderr, "gpulse: %s; %lld damaged blocks left out\n", err.msg, (long long)damaged);
    }
    printf("%s: raw samples written to %s\n", store_path(s), out);
    return damaged > 0 ? GP_EXIT_FAILURE : GP_EXIT_OK;
}

static int check(struct store *s)
{
    bool ok = false;
    struct gp_err err = { 0 };
    if (store_check(s, &ok, &err) != 0) {
        return cli_fail("%s", err.msg);
    }
    if (!ok) {
        return cli_fail("integrity check failed: %s", err.msg);
    }
    printf("%s: ok\n", store_path(s));
    return GP_EXIT_OK;
}

int cli_db_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_DB_LONGOPTS_END,
    };
    struct cli_db_args da = { 0 };
    struct cli_opts p = cli_opts_make("db", argc, argv, ":c:d:h", longopts, usage);
    p.config = &da.config;
    p.database = &da.database;
    p.max_operands = 2;
    /* all of its options are the shared ones */
    if (cli_opts_parse(&p) != 0) {
        return p.exit_code;
    }
    if (optind >= argc) {
        return cli_usage_error("db", "say what to do: info, check, prune, rebuild or raw");
    }
    const char *action = argv[optind];
    if (strcmp(action, "info") != 0 && strcmp(action, "check") != 0 &&
        strcmp(action, "prune") != 0 && strcmp(action, "rebuild") != 0 &&
        strcmp(action, "raw") != 0) {
        return cli_usage_error("db", "'%s' is not one of info, check, prune, rebuild, raw", action);
    }
    bool is_raw = strcmp(action, "raw") == 0;
    if (is_raw != (optind + 1 < argc)) {
        return cli_usage_error("db", is_raw ? "raw needs the file to write" : "'%s' takes no file",
                               action);
    }
    bool writes = strcmp(action, "prune") == 0 || strcmp(action, "rebuild") == 0;
    struct config cfg;
    struct store *s = NULL;
    int rc = cli_db_open("db", &da, writes ? STORE_READ_WRITE : STORE_READ_ONLY, &cfg, &s);
    if (rc) {
        return rc;
    }
    if (is_raw) {
        rc = raw(s, argv[optind + 1]);
    } else if (strcmp(action, "rebuild") == 0) {
        rc = rebuild(s);
    } else {
        rc = writes ? prune(s, &cfg) : strcmp(action, "info") == 0 ? info(s) : check(s);
    }
    store_close(s);
    return rc;
}
