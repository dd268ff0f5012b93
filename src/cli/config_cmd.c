/* `gpulse config`: what gpulse would run with, after the file and --set. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"

static void usage(FILE *out)
{
    fputs("Usage: gpulse config [--config PATH] [--set KEY=VALUE]...\n"
          "Check the configuration and print the settings in effect, as JSON.\n"
          "\n"
          "  -c, --config PATH       the configuration file (default: " CONFIG_DEFAULT_PATH ",\n"
          "                          else ./" CONFIG_LOCAL_PATH " if present, else defaults)\n"
          "      --set KEY=VALUE     override one key, e.g. --set interval=500ms\n"
          "  -h, --help              show this help\n"
          "\n"
          "Keys (docs/configuration.md): interval, flush_interval, database,\n"
          "database_group, retention.*, activity_threshold_pct, timezone, log.level,\n"
          "log.file, nvml_lib, proc_root, pcie, http.listen, hub.url, hub.contract_number,\n"
          "hub.push_interval; the GPU Monitor layout (collection.*, database.file,\n"
          "logging.*, server.*) is accepted too. An empty string is never a value: leave\n"
          "an optional key out (null in the file) for its default.\n"
          "Exit status: 0 valid, 2 a bad file, key or value (the message names it).\n",
          out);
}

int cli_config_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_CONFIG_LONGOPTS,
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct cli_config_args ca = { 0 };
    struct cli_opts p = cli_opts_make("config", argc, argv, ":c:h", longopts, usage);
    p.config = &ca;
    /* all of its options are the shared ones */
    if (cli_opts_parse(&p) != 0) {
        return p.exit_code;
    }
    struct config cfg;
    int rc = cli_config_load("config", &ca, &cfg);
    if (rc) {
        return rc;
    }
    if (config_write_json(&cfg, stdout) != 0 || fflush(stdout) != 0) {
        return cli_fail("cannot write to standard output");
    }
    return GP_EXIT_OK;
}
