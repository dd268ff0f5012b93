/* The subcommands of the gpulse binary and the helpers they share. */
#ifndef GPULSE_CLI_CLI_H
#define GPULSE_CLI_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "report/format.h"
#include "store/store.h"
#include "util/common.h"

/* `gpulse now`: the current state of every GPU. Returns an exit code. */
int cli_now_main(int argc, char **argv);

/* `gpulse agent`: the sampling daemon. Returns an exit code. */
int cli_agent_main(int argc, char **argv);

/* `gpulse history`: stored samples for a range. Returns an exit code. */
int cli_history_main(int argc, char **argv);

/* `gpulse processes`: stored process lifetimes. Returns an exit code. */
int cli_processes_main(int argc, char **argv);

/* `gpulse db info|check|prune`. Returns an exit code. */
int cli_db_main(int argc, char **argv);

/* `gpulse activity`: the daily activity table. */
int cli_activity_main(int argc, char **argv);

/* `gpulse svg`: the activity graph to standard output. */
int cli_svg_main(int argc, char **argv);

/* `gpulse config`: print the effective configuration. Returns an exit code. */
int cli_config_main(int argc, char **argv);

/* The --config and --set options every configurable command takes. */
struct cli_config_args {
    const char *path;     /* --config PATH; NULL: the default places */
    const char *sets[64]; /* --set KEY=VALUE, in order */
    size_t set_count;
};

/* The options every command that reads the database takes. */
struct cli_db_args {
    struct cli_config_args config;
    const char *database; /* --database PATH; NULL: the configuration's */
};

/* getopt_long value for --set, and the long options of cli_db_args. */
#define CLI_OPT_SET 0x1000
#define CLI_DB_LONGOPTS                                                                          \
    { "config", required_argument, NULL, 'c' }, { "set", required_argument, NULL, CLI_OPT_SET }, \
    {                                                                                            \
        "database", required_argument, NULL, 'd'                                                 \
    }

/* Takes opt if it is one of CLI_DB_LONGOPTS: sets *handled and returns 0,
 * or GP_EXIT_USAGE after saying why. Other options leave *handled false. */
int cli_db_option(const char *cmd, int opt, const char *arg, struct cli_db_args *a, bool *handled);

/* Loads the configuration, then opens the database it (or --database)
 * names. Returns 0, or an exit code after printing the problem. */
int cli_db_open(const char *cmd, const struct cli_db_args *a, enum store_mode mode,
                struct config *cfg, struct store **out);

/* Records one --set; returns 0, or GP_EXIT_USAGE (after saying why). */
int cli_config_add_set(const char *cmd, struct cli_config_args *a, const char *kv);

/* Loads the configuration named by a (defaults, file, then --set in
 * order). Returns 0, or GP_EXIT_USAGE after printing the problem. */
int cli_config_load(const char *cmd, const struct cli_config_args *a, struct config *cfg);

/* Prints "gpulse CMD: message" and a pointer to --help on stderr; returns
 * GP_EXIT_USAGE so callers can `return cli_usage_error(...)`. */
int cli_usage_error(const char *cmd, const char *fmt, ...) GP_PRINTF(2, 3);

/* Prints "gpulse: message" on stderr and returns GP_EXIT_FAILURE. */
int cli_fail(const char *fmt, ...) GP_PRINTF(1, 2);

/* Parses a --format / --output-format value. Returns 0, or GP_EXIT_USAGE
 * after saying what is wrong (cmd names the command in the message). */
int cli_parse_format(const char *cmd, const char *arg, enum report_format *out);

#endif
