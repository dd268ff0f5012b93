/* `gpulse svg`: the activity graph the agent serves at /gpu-activity.svg,
 * written to standard output (for a profile README, a cron job, a wiki). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "report/activity.h"
#include "report/svg.h"
#include "util/clock.h"

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

enum {
    OPT_THEME = 256,
    OPT_WEEKS,
    OPT_GPU,
};

/* Takes one of the command's own options into ctx (struct
 * report_svg_options). */
static int take_option(int opt, const char *arg, void *ctx)
{
    struct report_svg_options *o = ctx;
    switch (opt) {
    case OPT_THEME:
        if (strcmp(arg, "light") != 0 && strcmp(arg, "dark") != 0) {
            return cli_usage_error("svg", "--theme: '%s' is not light or dark", arg);
        }
        o->theme = arg[0] == 'l' ? REPORT_SVG_LIGHT : REPORT_SVG_DARK;
        return 0;
    case OPT_WEEKS:
        return cli_parse_weeks("svg", arg, &o->weeks);
    case OPT_GPU:
        o->gpu = arg;
        return 0;
    default:
        return 0;
    }
}

int cli_svg_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "theme", required_argument, NULL, OPT_THEME },
        { "weeks", required_argument, NULL, OPT_WEEKS },
        { "gpu", required_argument, NULL, OPT_GPU },
        CLI_DB_LONGOPTS_END,
    };
    struct report_svg_options o = { .theme = REPORT_SVG_LIGHT, .weeks = REPORT_ACTIVITY_MAX_WEEKS };
    struct cli_db_args da = { 0 };
    struct cli_opts p = cli_opts_make("svg", argc, argv, ":c:d:h", longopts, usage);
    p.config = &da.config;
    p.database = &da.database;
    p.take = take_option;
    p.ctx = &o;
    if (cli_opts_parse(&p) != 0) {
        return p.exit_code;
    }
    struct config cfg;
    struct store *s = NULL;
    int rc = cli_db_open("svg", &da, STORE_READ_ONLY, &cfg, &s);
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
