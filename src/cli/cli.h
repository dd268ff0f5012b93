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
/* An option that stands for a configuration key (--interval for
 * "interval"): cli_opts_parse takes it into cli_config_args, and
 * cli_config_load applies it after the file and every --set, so the flag
 * wins. A table of them ends with a zeroed entry. */
struct cli_flag_key {
    int opt;           /* getopt's value for the option */
    const char *name;  /* "--interval": named in messages */
    const char *key;   /* "interval" */
    const char *value; /* NULL: the option's argument; else this ("true") */
};

struct cli_config_args {
    const char *path;     /* --config PATH; NULL: the default places */
    const char *sets[64]; /* --set KEY=VALUE, in order */
    size_t set_count;
    const struct cli_flag_key *flags[16]; /* flags that are keys, in order */
    const char *flag_values[16];
    size_t flag_count;
};

/* The options every command that reads the database takes. */
struct cli_db_args {
    struct cli_config_args config;
    const char *database; /* --database PATH; NULL: the configuration's */
};

/* getopt_long value for --set, and the long options of cli_config_args
 * and of cli_db_args. */
#define CLI_OPT_SET 0x1000

/* The options that choose how GPUs are read, for `now` and `agent` alike:
 * long options and their configuration keys. */
#define CLI_OPT_NVML_LIB  0x1001
#define CLI_OPT_PROC_ROOT 0x1002
#define CLI_OPT_PCIE      0x1003
#define CLI_OPT_LOG_LEVEL 0x1004
#define CLI_READ_LONGOPTS                                            \
    { "nvml-lib", required_argument, NULL, CLI_OPT_NVML_LIB },       \
        { "proc-root", required_argument, NULL, CLI_OPT_PROC_ROOT }, \
        { "pcie", no_argument, NULL, CLI_OPT_PCIE },                 \
        { "log-level", required_argument, NULL, CLI_OPT_LOG_LEVEL }, \
    {                                                                \
        "verbose", no_argument, NULL, 'v'                            \
    }
#define CLI_READ_FLAG_KEYS                                       \
    { CLI_OPT_NVML_LIB, "--nvml-lib", "nvml_lib", NULL },        \
        { CLI_OPT_PROC_ROOT, "--proc-root", "proc_root", NULL }, \
        { CLI_OPT_PCIE, "--pcie", "pcie", "true" },              \
    {                                                            \
        CLI_OPT_LOG_LEVEL, "--log-level", "log.level", NULL      \
    }
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
/* CLI_DB_LONGOPTS, --help and the terminating entry: a table's end. */
#define CLI_DB_LONGOPTS_END                              \
    CLI_DB_LONGOPTS, { "help", no_argument, NULL, 'h' }, \
    {                                                    \
        NULL, 0, NULL, 0                                 \
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
    const char *shortopts;                /* getopt's, starting with ':' */
    const struct option *longopts;        /* ends with a zeroed entry */
    void (*usage)(FILE *out);             /* what --help prints */
    struct cli_config_args *config;       /* NULL: the command takes no --config/--set */
    const char **database;                /* NULL: the command takes no --database */
    const struct cli_flag_key *flag_keys; /* options that are keys; taken only with config */
    int max_operands;                     /* operands allowed after the options */
    /* Takes one of the command's own options (getopt's value, its argument
     * or NULL) into ctx: returns 0, or GP_EXIT_USAGE after saying what was
     * wrong. NULL when every option is a shared one. */
    int (*take)(int opt, const char *arg, void *ctx);
    void *ctx;
    int exit_code; /* once cli_opts_parse returned -1 */
    bool started;
};

/* A cli_opts for cmd with its option table and --help text; the caller
 * sets what else it takes (config, database, flag_keys, take and ctx). */
struct cli_opts cli_opts_make(const char *cmd, int argc, char **argv, const char *shortopts,
                              const struct option *longopts, void (*usage)(FILE *out));

/* Reads the options, handing the command's own to p->take. Returns 0 when
 * the command goes on (its operands, at most max_operands, start at
 * argv[optind]), or -1 when it must stop with p->exit_code: GP_EXIT_OK
 * after printing --help, GP_EXIT_USAGE after saying on stderr what was
 * wrong (an unknown option, a missing value, an unexpected operand, a bad
 * --set or a value p->take refused). */
int cli_opts_parse(struct cli_opts *p);

/* cli_opts_parse, then the configuration p->config names (the file, --set,
 * the flags that are keys) into cfg, and the log threshold from it and
 * *verbose (read after the options). Returns 0 when the command goes on,
 * or -1 when it must stop with p->exit_code (0 after --help). */
int cli_opts_parse_config(struct cli_opts *p, struct config *cfg, const int *verbose);

/* Sets the log threshold: info for one --verbose, debug for more, else
 * the configuration's log.level (which --log-level sets). */
void cli_log_threshold(const struct config *cfg, int verbose);

/* Parses a --weeks value, 1 to REPORT_ACTIVITY_MAX_WEEKS (the activity
 * graph's and table's). Returns 0, or GP_EXIT_USAGE after saying why. */
int cli_parse_weeks(const char *cmd, const char *arg, int *out);

/* Parses a --format / --output-format value. Returns 0, or GP_EXIT_USAGE
 * after saying what is wrong (cmd names the command in the message). */
int cli_parse_format(const char *cmd, const char *arg, enum report_format *out);

#endif
