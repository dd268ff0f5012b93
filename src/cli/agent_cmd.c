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
          "      --once               take one sample, store it, exit (no HTTP; exit\n"
          "                           status 1 when it could not be stored)\n"
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
          "The HTTP server starts before NVML is opened; while NVML fails (the driver not\n"
          "loaded yet, as at boot) the agent retries, 1 s doubling to once a minute, and\n"
          "/health says why. --once and --dry-run fail at once instead.\n"
          "\n"
          "Exit status: 0 stopped cleanly, 1 cannot run (database, another agent, the\n"
          "port; NVML with --once or --dry-run), 2 bad arguments or configuration.\n",
          out);
}

struct agent_args {
    struct cli_config_args config; /* --config, --set and the flags that are keys */
    bool once;
    bool dry_run;
    int verbose;
};

enum {
    OPT_FLUSH = 256,
    OPT_ONCE,
    OPT_DRY_RUN,
    OPT_LOG_FILE,
    OPT_LISTEN,
};

/* Takes one of the agent's own options into ctx (struct agent_args); the
 * others are configuration keys. */
static int take_option(int opt, const char *arg, void *ctx)
{
    (void)arg;
    struct agent_args *a = ctx;
    a->once |= opt == OPT_ONCE;
    a->dry_run |= opt == OPT_DRY_RUN;
    a->verbose += opt == 'v';
    return 0;
}

/* Reads the options into a and the configuration into cfg. Returns 0, or
 * -1 when the command must stop with *exit_code. */
static int parse_args(int argc, char **argv, struct agent_args *a, struct config *cfg,
                      int *exit_code)
{
    static const struct option longopts[] = {
        CLI_CONFIG_LONGOPTS,
        { "database", required_argument, NULL, 'd' },
        { "interval", required_argument, NULL, 'i' },
        { "flush-interval", required_argument, NULL, OPT_FLUSH },
        { "once", no_argument, NULL, OPT_ONCE },
        { "dry-run", no_argument, NULL, OPT_DRY_RUN },
        { "log-file", required_argument, NULL, OPT_LOG_FILE },
        { "listen", required_argument, NULL, OPT_LISTEN },
        CLI_READ_LONGOPTS,
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static const struct cli_flag_key flag_keys[] = {
        { 'd', "--database", "database", NULL },
        { 'i', "--interval", "interval", NULL },
        { OPT_FLUSH, "--flush-interval", "flush_interval", NULL },
        { OPT_LOG_FILE, "--log-file", "log.file", NULL },
        { OPT_LISTEN, "--listen", "http.listen", NULL },
        CLI_READ_FLAG_KEYS,
        { 0, NULL, NULL, NULL },
    };
    *a = (struct agent_args){ 0 };
    struct cli_opts p = cli_opts_make("agent", argc, argv, ":c:d:i:vh", longopts, usage);
    p.config = &a->config;
    p.flag_keys = flag_keys;
    p.take = take_option;
    p.ctx = a;
    int stop = cli_opts_parse_config(&p, cfg, &a->verbose);
    *exit_code = p.exit_code;
    return stop;
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
        struct gpu_snapshot *settle = &snap;
        gpu_session_settle(s, &settle, 1, once);
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
    struct config cfg;
    int rc = 0;
    if (parse_args(argc, argv, &a, &cfg, &rc) != 0) {
        return rc; /* after --help, or a mistake said */
    }
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
