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
    uint64_t watch_ms;             /* 0: read once */
    int color;                     /* -1 auto, 0 never, 1 always */
    int verbose;                   /* -v count */
    bool timings;                  /* --timings: what each read cost in NVML calls */
    struct cli_config_args config; /* --config, --set, and the reading flags as keys */
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
          "      --timings           after each read, print to standard error the NVML\n"
          "                          calls it made: function, calls, total and per-call\n"
          "                          microseconds (the first read includes nvmlInit)\n"
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
          "One read (without --watch) makes only the calls it shows: no energy counter\n"
          "and no maximum clocks (both absent), busy time from the polled utilization.\n"
          "Exit status: 0 ok, 1 no NVML or no GPU, 2 bad arguments.\n",
          out);
}

enum {
    OPT_COLOR = 256,
    OPT_NO_COLOR,
    OPT_TIMINGS,
};

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

/* Takes one of now's own options into a. Returns 0, or GP_EXIT_USAGE
 * after saying what was wrong. */
static int take_option(int opt, const char *arg, void *ctx)
{
    struct now_args *a = ctx;
    switch (opt) {
    case 'f':
        return cli_parse_format("now", arg, &a->format);
    case 'p':
        a->csv_processes = true;
        return 0;
    case 'w':
        if (strparse_duration_ms(arg, 50, 86400000, &a->watch_ms) != 0) {
            return cli_usage_error("now",
                                   "--watch: '%s' is not a duration between 50ms and 24h "
                                   "(seconds, or with a unit: 500ms, 2s, 1m)",
                                   arg);
        }
        return 0;
    case OPT_COLOR:
        if (parse_color(arg, &a->color) != 0) {
            return cli_usage_error("now", "--color: '%s' is not one of auto, always, never", arg);
        }
        return 0;
    case OPT_NO_COLOR:
        a->color = 0;
        return 0;
    case OPT_TIMINGS:
        a->timings = true;
        return 0;
    case 'v':
        a->verbose++;
        return 0;
    default:
        return 0;
    }
}

/* Reads the options into a and the configuration into cfg. Returns 0, or
 * -1 when the command must stop with *exit_code. */
static int parse_args(int argc, char **argv, struct now_args *a, struct config *cfg, int *exit_code)
{
    static const struct option longopts[] = {
        { "format", required_argument, NULL, 'f' },
        { "output-format", required_argument, NULL, 'f' },
        { "processes", no_argument, NULL, 'p' },
        { "watch", required_argument, NULL, 'w' },
        { "color", required_argument, NULL, OPT_COLOR },
        { "no-color", no_argument, NULL, OPT_NO_COLOR },
        { "timings", no_argument, NULL, OPT_TIMINGS },
        CLI_READ_LONGOPTS,
        CLI_CONFIG_LONGOPTS,
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static const struct cli_flag_key flag_keys[] = {
        CLI_READ_FLAG_KEYS,
        { 0, NULL, NULL, NULL },
    };
    *a = (struct now_args){ .color = -1 };
    struct cli_opts p = cli_opts_make("now", argc, argv, ":f:pw:vhc:", longopts, usage);
    p.config = &a->config;
    p.flag_keys = flag_keys;
    p.take = take_option;
    p.ctx = a;
    int stop = cli_opts_parse_config(&p, cfg, &a->verbose);
    *exit_code = p.exit_code;
    if (!stop && a->csv_processes && a->format != REPORT_FORMAT_CSV) {
        *exit_code = cli_usage_error("now", "--processes applies to --format csv (the table "
                                            "and JSON always list processes)");
        return -1;
    }
    return stop;
}

/* The NVML call counters at the previous --timings print. */
struct call_totals {
    struct gpu_call_count c[GPU_CALLS_MAX];
    size_t n;
};

/* --timings: the calls made since the previous print, one line each. */
static void print_timings(FILE *out, struct call_totals *before)
{
    struct call_totals now;
    now.n = gpu_calls_read(now.c, GP_ARRAY_LEN(now.c));
    fprintf(out, "%-44s %7s %12s %12s\n", "NVML function", "calls", "total_us", "per_call_us");
    uint64_t calls = 0;
    uint64_t ns = 0;
    for (size_t i = 0; i < now.n; i++) {
        struct gpu_call_count d = now.c[i];
        for (size_t j = 0; j < before->n; j++) {
            if (before->c[j].function == d.function) {
                d.calls -= before->c[j].calls;
                d.ns -= before->c[j].ns;
            }
        }
        if (d.calls == 0) {
            continue;
        }
        fprintf(out, "%-44s %7llu %12.1f %12.2f\n", d.function, (unsigned long long)d.calls,
                (double)d.ns / 1e3, (double)d.ns / 1e3 / (double)d.calls);
        calls += d.calls;
        ns += d.ns;
    }
    fprintf(out, "%-44s %7llu %12.1f\n", "total", (unsigned long long)calls, (double)ns / 1e3);
    *before = now;
}

static unsigned terminal_width(void)
{
    struct winsize ws = { 0 };
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) {
        return ws.ws_col;
    }
    return 160;
}

/* CSV with a row per process cannot say that a GPU's list is unknown (the
 * per-GPU CSV, JSON and the table do): said once on standard error. */
static void warn_unknown_processes(const struct gpu_snapshot *snap)
{
    static bool warned;
    for (size_t i = 0; !warned && i < snap->gpu_count; i++) {
        const struct gpu_reading *r = &snap->gpus[i];
        if (r->state == GPU_STATE_OK && !gpu_reading_processes_known(r)) {
            log_warn("now", "GPU %u: its processes are unknown (%s); it has no rows", r->id.index,
                     gpu_reading_processes_why(r));
        }
    }
    warned = true;
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
        if (ropts->csv_processes) {
            warn_unknown_processes(snap);
        }
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

int cli_now_main(int argc, char **argv)
{
    struct now_args a;
    struct config cfg;
    int rc = 0;
    if (parse_args(argc, argv, &a, &cfg, &rc) != 0) {
        return rc; /* after --help, or a mistake said */
    }
    struct gp_err err = { 0 };
    struct gpu_options opts;
    gpu_options_from_config(&cfg, &opts);
    opts.once = a.watch_ms == 0;
    /* One row per GPU shows no process's utilization: do not read it. */
    opts.read_process_utilization = a.format != REPORT_FORMAT_CSV || a.csv_processes;
    struct call_totals before = { 0 };
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
        if (a.watch_ms) {
            /* Each refresh shows the busy time since the one before. */
            struct gpu_snapshot *settle = &snap;
            gpu_session_settle(session, &settle, 1, false);
        }
        rc = render(&a, &snap, &ropts, a.watch_ms && tty && a.format == REPORT_FORMAT_TABLE);
        if (a.timings) {
            print_timings(stderr, &before);
        }
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
