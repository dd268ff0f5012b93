/* `gpulse agent`: the daemon that samples every GPU and keeps the history. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "cli/cli.h"
#include "gpu/gpu.h"
#include "report/now.h"
#include "util/clock.h"
#include "util/log.h"

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reopen_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    reopen_requested = 1;
}

static void usage(FILE *out)
{
    fputs("Usage: gpulse agent [OPTIONS]\n"
          "Sample every GPU and its processes on a fixed schedule and keep the history in\n"
          "an SQLite database. Stops cleanly (flushing what it holds) on SIGTERM or\n"
          "SIGINT; reopens its log file on SIGHUP. One agent per database.\n"
          "\n"
          "  -c, --config PATH        configuration file (see gpulse config --help)\n"
          "      --set KEY=VALUE      override one configuration key\n"
          "  -d, --database PATH      the database (key: database)\n"
          "  -i, --interval DURATION  sampling period, 100ms to 1h (key: interval)\n"
          "      --flush-interval D   one transaction per D (key: flush_interval)\n"
          "      --listen ADDR:PORT   serve the dashboard, API and metrics there (key:\n"
          "                           http.listen, default 127.0.0.1:8080; \"off\": none;\n"
          "                           port 0: any free port)\n"
          "      --once               take one sample, store it, exit (no HTTP)\n"
          "      --dry-run            sample and print what would be stored (JSON lines),\n"
          "                           without touching the database\n"
          "      --nvml-lib PATH      the NVML library (key: nvml_lib)\n"
          "      --proc-root PATH     the host's /proc (key: proc_root)\n"
          "      --pcie               also read PCIe throughput (key: pcie; the driver\n"
          "                           spends 20 ms per direction and GPU measuring it)\n"
          "      --log-level LEVEL    debug, info, warning, error, critical (key: log.level)\n"
          "      --log-file PATH      log to PATH instead of standard error (key: log.file)\n"
          "  -v, --verbose            the same as --log-level info (twice: debug)\n"
          "  -h, --help               show this help\n"
          "\n"
          "Exit status: 0 stopped cleanly, 1 cannot run (NVML, database, another agent),\n"
          "2 bad arguments or configuration.\n",
          out);
}

struct agent_args {
    struct cli_config_args config;
    const char *flag_sets[16][2]; /* flags that are configuration keys, applied last */
    size_t flag_count;
    bool once;
    bool dry_run;
    int verbose;
};

static int flag_set(struct agent_args *a, const char *key, const char *value)
{
    if (a->flag_count == sizeof(a->flag_sets) / sizeof(a->flag_sets[0])) {
        return cli_usage_error("agent", "too many options");
    }
    a->flag_sets[a->flag_count][0] = key;
    a->flag_sets[a->flag_count][1] = value;
    a->flag_count++;
    return 0;
}

static int parse_args(int argc, char **argv, struct agent_args *a, bool *help)
{
    enum {
        OPT_SET = 256,
        OPT_FLUSH,
        OPT_ONCE,
        OPT_DRY_RUN,
        OPT_NVML_LIB,
        OPT_PROC_ROOT,
        OPT_LOG_LEVEL,
        OPT_LOG_FILE,
        OPT_LISTEN,
        OPT_PCIE,
    };
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "set", required_argument, NULL, OPT_SET },
        { "database", required_argument, NULL, 'd' },
        { "interval", required_argument, NULL, 'i' },
        { "flush-interval", required_argument, NULL, OPT_FLUSH },
        { "once", no_argument, NULL, OPT_ONCE },
        { "dry-run", no_argument, NULL, OPT_DRY_RUN },
        { "nvml-lib", required_argument, NULL, OPT_NVML_LIB },
        { "proc-root", required_argument, NULL, OPT_PROC_ROOT },
        { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
        { "log-file", required_argument, NULL, OPT_LOG_FILE },
        { "listen", required_argument, NULL, OPT_LISTEN },
        { "pcie", no_argument, NULL, OPT_PCIE },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    *a = (struct agent_args){ 0 };
    optind = 1;
    opterr = 0;
    int opt = 0;
    int rc = 0;
    while (rc == 0 && (opt = getopt_long(argc, argv, ":c:d:i:vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            a->config.path = optarg;
            break;
        case OPT_SET:
            rc = cli_config_add_set("agent", &a->config, optarg);
            break;
        case 'd':
            rc = flag_set(a, "database", optarg);
            break;
        case 'i':
            rc = flag_set(a, "interval", optarg);
            break;
        case OPT_FLUSH:
            rc = flag_set(a, "flush_interval", optarg);
            break;
        case OPT_NVML_LIB:
            rc = flag_set(a, "nvml_lib", optarg);
            break;
        case OPT_PROC_ROOT:
            rc = flag_set(a, "proc_root", optarg);
            break;
        case OPT_LOG_LEVEL:
            rc = flag_set(a, "log.level", optarg);
            break;
        case OPT_LOG_FILE:
            rc = flag_set(a, "log.file", optarg);
            break;
        case OPT_LISTEN:
            rc = flag_set(a, "http.listen", optarg);
            break;
        case OPT_PCIE:
            rc = flag_set(a, "pcie", "true");
            break;
        case OPT_ONCE:
            a->once = true;
            break;
        case OPT_DRY_RUN:
            a->dry_run = true;
            break;
        case 'v':
            a->verbose++;
            break;
        case 'h':
            *help = true;
            return 0;
        case ':':
            return cli_usage_error("agent", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("agent", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc == 0 && optind < argc) {
        return cli_usage_error("agent", "unexpected argument '%s'", argv[optind]);
    }
    return rc;
}

/* --dry-run: what would be stored, printed instead, on the same schedule. */
static int dry_run(const struct config *cfg, bool once)
{
    struct gpu_options gopts;
    gpu_options_from_config(cfg, &gopts);
    struct gpu_session *s = NULL;
    struct gp_err err = { 0 };
    if (gpu_session_open(&gopts, &s, &err) != 0) {
        return cli_fail("%s", err.msg);
    }
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    struct report_now_opts ropts = { .host = host };
    struct gpu_snapshot snap = { 0 };
    int rc = GP_EXIT_OK;
    struct clock_schedule schedule;
    clock_schedule_init(&schedule, cfg->interval_ms);
    while (!stop_requested) {
        gpu_session_read(s, &snap);
        if (report_now_write_json(stdout, &snap, &ropts) != 0 || fflush(stdout) != 0) {
            rc = cli_fail("cannot write to standard output");
            break;
        }
        if (once) {
            break;
        }
        clock_schedule_next(&schedule);
        while (!stop_requested && clock_schedule_sleep(&schedule) == EINTR) {
        }
    }
    gpu_snapshot_fini(&snap);
    gpu_session_free(s);
    return rc;
}

int cli_agent_main(int argc, char **argv)
{
    struct agent_args a;
    bool help = false;
    int rc = parse_args(argc, argv, &a, &help);
    if (rc || help) {
        if (help) {
            usage(stdout);
        }
        return rc;
    }
    struct config cfg;
    rc = cli_config_load("agent", &a.config, &cfg);
    if (rc) {
        return rc;
    }
    for (size_t i = 0; i < a.flag_count; i++) {
        struct gp_err err = { 0 };
        if (config_set(&cfg, a.flag_sets[i][0], a.flag_sets[i][1], &err) != 0) {
            return cli_usage_error("agent", "%s", err.msg);
        }
    }
    log_threshold = a.verbose ? (a.verbose > 1 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO) : cfg.log_level;
    struct gp_err err = { 0 };
    if (cfg.log_file[0] && log_open_file(cfg.log_file, &err) != 0) {
        return cli_fail("%s", err.msg);
    }

    struct sigaction stop = { .sa_handler = on_stop };
    sigaction(SIGINT, &stop, NULL);
    sigaction(SIGTERM, &stop, NULL);
    struct sigaction hup = { .sa_handler = on_hup };
    sigaction(SIGHUP, &hup, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (a.dry_run) {
        return dry_run(&cfg, a.once);
    }
    struct agent_options opts = {
        .cfg = &cfg,
        .once = a.once,
        .stop = &stop_requested,
        .reopen = &reopen_requested,
        .announce = stdout,
    };
    rc = agent_run(&opts, &err);
    if (rc != 0) {
        log_error("agent", "%s", err.msg);
        if (cfg.log_file[0]) {
            fprintf(stderr, "gpulse: %s\n", err.msg);
        }
        return GP_EXIT_FAILURE;
    }
    return GP_EXIT_OK;
}
