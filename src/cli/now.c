/* `gpulse now`: read every GPU once (or every N seconds with --watch) and
 * print it as a table, JSON or CSV. */
#include "report/now.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "gpu/gpu.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/strparse.h"

struct now_args {
    enum report_format format;
    bool csv_processes;
    uint64_t watch_ms; /* 0: read once */
    const char *nvml_lib;
    const char *proc_root;
    bool pcie;
    int color;     /* -1 auto, 0 never, 1 always */
    int log_level; /* from --log-level, -1 when not given */
    int verbose;   /* -v count */
    struct cli_config_args config;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fputs("Usage: gpulse now [OPTIONS]\n"
          "Show the current state of every GPU and the processes on it.\n"
          "\n"
          "  -f, --format FORMAT     table (default), json or csv\n"
          "      --output-format F   the same as --format\n"
          "  -p, --processes         csv: one row per process instead of per GPU\n"
          "  -w, --watch DURATION    refresh every DURATION (1, 0.5, 500ms, 2s, 1m) until\n"
          "                          interrupted; json prints one document per line,\n"
          "                          csv one header\n"
          "      --pcie              also read PCIe throughput (the driver spends 20 ms\n"
          "                          per direction and GPU measuring it; key: pcie)\n"
          "      --color WHEN        auto (default), always or never\n"
          "      --no-color          the same as --color never\n"
          "      --nvml-lib PATH     the NVML library to load (default: the nvml_lib\n"
          "                          setting, else $GPULSE_NVML_LIB, else\n"
          "                          libnvidia-ml.so.1 from the driver)\n"
          "      --proc-root PATH    where the host's /proc is (default /proc)\n"
          "  -v, --verbose           log what is read (repeat for debug)\n"
          "      --log-level LEVEL   debug, info, warning (default), error or critical\n"
          "  -c, --config PATH       configuration file (see gpulse config --help)\n"
          "      --set KEY=VALUE     override one configuration key\n"
          "  -h, --help              show this help\n"
          "\n"
          "Absent metrics (not supported by the GPU) show as N/A, null or an empty field.\n"
          "Exit status: 0 ok, 1 no NVML or no GPU, 2 bad arguments.\n",
          out);
}

/* --color: auto (-1), always (1) or never (0). */
static int parse_color(const char *text, int *color)
{
    static const char *const names[] = { "never", "always", "auto" };
    for (int i = 0; i < 3; i++) {
        if (strcmp(text, names[i]) == 0) {
            *color = i < 2 ? i : -1;
            return 0;
        }
    }
    return -1;
}

static int parse_args(int argc, char **argv, struct now_args *a, bool *help)
{
    enum {
        OPT_PCIE = 256,
        OPT_COLOR,
        OPT_NO_COLOR,
        OPT_NVML_LIB,
        OPT_PROC_ROOT,
        OPT_LOG_LEVEL,
        OPT_SET,
    };
    static const struct option longopts[] = {
        { "format", required_argument, NULL, 'f' },
        { "output-format", required_argument, NULL, 'f' },
        { "processes", no_argument, NULL, 'p' },
        { "watch", required_argument, NULL, 'w' },
        { "pcie", no_argument, NULL, OPT_PCIE },
        { "color", required_argument, NULL, OPT_COLOR },
        { "no-color", no_argument, NULL, OPT_NO_COLOR },
        { "nvml-lib", required_argument, NULL, OPT_NVML_LIB },
        { "proc-root", required_argument, NULL, OPT_PROC_ROOT },
        { "verbose", no_argument, NULL, 'v' },
        { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
        { "config", required_argument, NULL, 'c' },
        { "set", required_argument, NULL, OPT_SET },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    *a = (struct now_args){ .color = -1, .log_level = -1 };
    optind = 1;
    opterr = 0;
    int opt = 0;
    while ((opt = getopt_long(argc, argv, ":f:pw:vhc:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'f':
            if (cli_parse_format("now", optarg, &a->format) != 0) {
                return GP_EXIT_USAGE;
            }
            break;
        case 'p':
            a->csv_processes = true;
            break;
        case 'w':
            if (strparse_duration_ms(optarg, 50, 86400000, &a->watch_ms) != 0) {
                return cli_usage_error("now",
                                       "--watch: '%s' is not a duration between 50ms and 24h "
                                       "(seconds, or with a unit: 500ms, 2s, 1m)",
                                       optarg);
            }
            break;
        case OPT_LOG_LEVEL: {
            enum log_level level = LOG_LEVEL_WARNING;
            if (log_level_parse(optarg, &level) != 0) {
                return cli_usage_error("now",
                                       "--log-level: '%s' is not one of debug, info, warning, "
                                       "error, critical",
                                       optarg);
            }
            a->log_level = (int)level;
            break;
        }
        case 'c':
            a->config.path = optarg;
            break;
        case OPT_SET:
            if (cli_config_add_set("now", &a->config, optarg) != 0) {
                return GP_EXIT_USAGE;
            }
            break;
        case OPT_PCIE:
            a->pcie = true;
            break;
        case OPT_COLOR:
            if (parse_color(optarg, &a->color) != 0) {
                return cli_usage_error("now", "--color: '%s' is not one of auto, always, never",
                                       optarg);
            }
            break;
        case OPT_NO_COLOR:
            a->color = 0;
            break;
        case OPT_NVML_LIB:
            a->nvml_lib = optarg;
            break;
        case OPT_PROC_ROOT:
            a->proc_root = optarg;
            break;
        case 'v':
            a->verbose++;
            break;
        case 'h':
            *help = true;
            return 0;
        case ':':
            return cli_usage_error("now", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("now", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        return cli_usage_error("now", "unexpected argument '%s'", argv[optind]);
    }
    if (a->csv_processes && a->format != REPORT_FORMAT_CSV) {
        return cli_usage_error("now", "--processes applies to --format csv (the table and JSON "
                                      "always list processes)");
    }
    return 0;
}

static unsigned terminal_width(void)
{
    struct winsize ws = { 0 };
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) {
        return ws.ws_col;
    }
    return 160;
}

static int render(const struct now_args *a, const struct gpu_snapshot *snap,
                  struct report_now_opts *ropts, bool refresh_in_place)
{
    switch (a->format) {
    case REPORT_FORMAT_JSON:
        if (report_now_write_json(stdout, snap, ropts) != 0) {
            return cli_fail("cannot write JSON to standard output");
        }
        break;
    case REPORT_FORMAT_CSV:
        report_now_csv(stdout, snap, ropts);
        ropts->csv_header = false;
        break;
    case REPORT_FORMAT_TABLE:
    default:
        if (refresh_in_place) {
            fputs("\033[H\033[2J", stdout); /* home, clear screen */
        }
        ropts->width = isatty(STDOUT_FILENO) ? terminal_width() : 160;
        report_now_table(stdout, snap, ropts);
        break;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        return cli_fail("cannot write to standard output: %s", strerror(errno));
    }
    return GP_EXIT_OK;
}

/* The flags that are configuration keys, over the file and --set. */
static int apply_reading_flags(const struct now_args *a, struct config *cfg)
{
    const char *flags[][2] = { { "nvml_lib", a->nvml_lib },
                               { "proc_root", a->proc_root },
                               { "pcie", a->pcie ? "true" : NULL } };
    for (size_t i = 0; i < GP_ARRAY_LEN(flags); i++) {
        struct gp_err err = { 0 };
        if (flags[i][1] && config_set(cfg, flags[i][0], flags[i][1], &err) != 0) {
            return cli_usage_error("now", "%s", err.msg);
        }
    }
    return 0;
}

int cli_now_main(int argc, char **argv)
{
    struct now_args a;
    bool help = false;
    int rc = parse_args(argc, argv, &a, &help);
    if (rc || help) {
        if (help) {
            usage(stdout);
        }
        return rc;
    }

    /* The file and --set first; the dedicated flags override them. */
    struct config cfg;
    rc = cli_config_load("now", &a.config, &cfg);
    if (rc) {
        return rc;
    }
    log_threshold = a.log_level >= 0 ? (enum log_level)a.log_level : cfg.log_level;
    if (a.verbose) {
        log_threshold = a.verbose > 1 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
    }
    rc = apply_reading_flags(&a, &cfg);
    if (rc) {
        return rc;
    }
    struct gp_err err = { 0 };
    struct gpu_options opts;
    gpu_options_from_config(&cfg, &opts);
    struct gpu_session *session = NULL;
    if (gpu_session_open(&opts, &session, &err) != 0) {
        return cli_fail("%s", err.msg);
    }

    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    bool tty = isatty(STDOUT_FILENO);
    struct report_now_opts ropts = {
        .color = a.color == 1 || (a.color == -1 && tty && !getenv("NO_COLOR")),
        .csv_processes = a.csv_processes,
        .csv_header = true,
        .host = host,
    };

    if (a.watch_ms) {
        struct sigaction sa = { .sa_handler = on_signal };
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
    }

    struct gpu_snapshot snap = { 0 };
    struct clock_schedule schedule;
    clock_schedule_init(&schedule, a.watch_ms ? a.watch_ms : 1);
    do {
        gpu_session_read(session, &snap);
        rc = render(&a, &snap, &ropts, a.watch_ms && tty && a.format == REPORT_FORMAT_TABLE);
        if (rc || !a.watch_ms) {
            break;
        }
        /* Fixed deadlines: the refresh does not drift by the time a read takes. */
        clock_schedule_next(&schedule);
        while (!stop_requested && clock_schedule_sleep(&schedule) == EINTR) {
        }
    } while (!stop_requested);

    gpu_snapshot_fini(&snap);
    gpu_session_free(session);
    return rc;
}
