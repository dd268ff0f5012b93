/* The subcommands of the gpulse binary and the helpers they share. */
#ifndef GPULSE_CLI_CLI_H
#define GPULSE_CLI_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

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

/* getopt_long value for --set, and the long options of cli_config_args
 * and of cli_db_args. */
#define CLI_OPT_SET 0x1000
#define CLI_CONFIG_LONGOPTS                         \
    { "config", required_argument, NULL, 'c' },     \
    {                                               \
        "set", required_argument, NULL, CLI_OPT_SET \
    }
#define CLI_DB_LONGOPTS                          \
    CLI_CONFIG_LONGOPTS,                         \
    {                                            \
        "database", required_argument, NULL, 'd' \
    }

/* The end of the --help text of such a command, for those options. */
#define CLI_RESOURCE_USAGE_END                                                        \
    "  -f, --format FORMAT     table (default), json or csv (also --output-format)\n" \
    "  -c, --config PATH       configuration file (see gpulse config --help)\n"       \
    "      --set KEY=VALUE     override one configuration key\n"                      \
    "  -d, --database PATH     the database (key: database)\n"                        \
    "  -h, --help              show this help\n"

/* The end of the long options of a command that prints a resource from the
 * database: --format (and its alias --output-format), CLI_DB_LONGOPTS,
 * --help and the terminating entry. */
#define CLI_RESOURCE_LONGOPTS_END                                                                  \
    { "format", required_argument, NULL, 'f' }, { "output-format", required_argument, NULL, 'f' }, \
        CLI_DB_LONGOPTS, { "help", no_argument, NULL, 'h' },                                       \
    {                                                                                              \
        NULL, 0, NULL, 0                                                                           \
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

/* One command's options, read the same way by every command: getopt_long
 * over the command's own table, with --help, a missing value, an unknown
 * option and unexpected operands answered here. Set config to take
 * -c/--config and --set (CLI_CONFIG_LONGOPTS), database as well to take
 * -d/--database (CLI_DB_LONGOPTS); shortopts must list their letters. */
struct cli_opts {
    const char *cmd; /* "processes": named in every message */
    int argc;
    char **argv;
    const char *shortopts;          /* getopt's, starting with ':' */
    const struct option *longopts;  /* ends with a zeroed entry */
    void (*usage)(FILE *out);       /* what --help prints */
    struct cli_config_args *config; /* NULL: the command takes no --config/--set */
    const char **database;          /* NULL: the command takes no --database */
    int max_operands;               /* operands allowed after the options */
    int exit_code;                  /* once cli_opts_next returned -1 */
    bool started;
};

/* The next option the command handles itself (getopt's value, optarg
 * set); 0 when the options are done and at most max_operands operands
 * follow (the first at argv[optind]); -1 when the command must stop with
 * p->exit_code: GP_EXIT_OK after printing --help, GP_EXIT_USAGE after
 * saying on stderr what was wrong (an unknown option, a missing value, an
 * unexpected operand, a bad --set). */
int cli_opts_next(struct cli_opts *p);

/* Parses a --format / --output-format value. Returns 0, or GP_EXIT_USAGE
 * after saying what is wrong (cmd names the command in the message). */
int cli_parse_format(const char *cmd, const char *arg, enum report_format *out);

#endif
