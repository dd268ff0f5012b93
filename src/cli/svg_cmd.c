/* `gpulse svg`: the activity graph the agent serves at /gpu-activity.svg,
 * written to standard output (for a profile README, a cron job, a wiki). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "report/activity.h"
#include "report/svg.h"
#include "util/clock.h"
#include "util/strparse.h"

static void usage(FILE *out)
{
    fputs("Usage: gpulse svg [OPTIONS] > gpu-activity.svg\n"
          "The GitHub-style graph of daily GPU activity: one cell a day, darker for more\n"
          "active time (none, under 1 h, 1-3 h, 3-6 h, 6 h and more).\n"
          "\n"
          "      --theme light|dark  GitHub's light (default) or dark palette\n"
          "      --weeks N           weeks to draw, 1 to 53 (default 53)\n"
          "      --gpu N|UUID|all    one GPU, or the machine (default all: a minute is\n"
          "                          active when any GPU is)\n"
          "  -c, --config PATH       configuration file (see gpulse config --help)\n"
          "      --set KEY=VALUE     override one configuration key\n"
          "  -d, --database PATH     the database (key: database)\n"
          "  -h, --help              show this help\n",
          out);
}

int cli_svg_main(int argc, char **argv)
{
    enum {
        OPT_THEME = 256,
        OPT_WEEKS,
        OPT_GPU,
    };
    static const struct option longopts[] = {
        { "theme", required_argument, NULL, OPT_THEME },
        { "weeks", required_argument, NULL, OPT_WEEKS },
        { "gpu", required_argument, NULL, OPT_GPU },
        CLI_DB_LONGOPTS,
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct report_svg_options o = { .theme = REPORT_SVG_LIGHT, .weeks = REPORT_ACTIVITY_MAX_WEEKS };
    struct cli_db_args da = { 0 };
    uint64_t weeks = 0;
    optind = 1;
    opterr = 0;
    int opt = 0;
    int rc = 0;
    while (rc == 0 && (opt = getopt_long(argc, argv, ":c:d:h", longopts, NULL)) != -1) {
        bool handled = false;
        rc = cli_db_option("svg", opt, optarg, &da, &handled);
        if (rc || handled) {
            continue;
        }
        switch (opt) {
        case OPT_THEME:
            if (strcmp(optarg, "light") == 0) {
                o.theme = REPORT_SVG_LIGHT;
            } else if (strcmp(optarg, "dark") == 0) {
                o.theme = REPORT_SVG_DARK;
            } else {
                return cli_usage_error("svg", "--theme: '%s' is not light or dark", optarg);
            }
            break;
        case OPT_WEEKS:
            if (strparse_u64(optarg, REPORT_ACTIVITY_MAX_WEEKS, &weeks) != 0 || weeks == 0) {
                return cli_usage_error("svg", "--weeks: '%s' is not a number from 1 to %d", optarg,
                                       REPORT_ACTIVITY_MAX_WEEKS);
            }
            o.weeks = (int)weeks;
            break;
        case OPT_GPU:
            o.gpu = optarg;
            break;
        case 'h':
            usage(stdout);
            return GP_EXIT_OK;
        case ':':
            return cli_usage_error("svg", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("svg", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc) {
        return rc;
    }
    if (optind < argc) {
        return cli_usage_error("svg", "unexpected argument '%s'", argv[optind]);
    }
    struct config cfg;
    struct store *s = NULL;
    rc = cli_db_open("svg", &da, STORE_READ_ONLY, &cfg, &s);
    if (rc) {
        return rc;
    }
    struct dynbuf out;
    dynbuf_init(&out, (size_t)16 * 1024 * 1024);
    struct gp_err err = { 0 };
    rc = report_svg_activity(s, &o, clock_realtime_ms(), &out, &err);
    store_close(s);
    if (rc) {
        dynbuf_fini(&out);
        return cli_fail("%s", err.msg);
    }
    bool written = fwrite(out.data, 1, out.len, stdout) == out.len && fflush(stdout) == 0;
    dynbuf_fini(&out);
    return written ? GP_EXIT_OK : cli_fail("cannot write to standard output");
}
