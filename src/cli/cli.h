/* The subcommands of the gpulse binary and the helpers they share. */
#ifndef GPULSE_CLI_CLI_H
#define GPULSE_CLI_CLI_H

#include <stddef.h>

#include "util/common.h"
#include "util/config.h"

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

/* `gpulse config`: print the effective configuration. Returns an exit code. */
int cli_config_main(int argc, char **argv);

/* The --config and --set options every configurable command takes. */
struct cli_config_args {
    const char *path;     /* --config PATH; NULL: the default places */
    const char *sets[64]; /* --set KEY=VALUE, in order */
    size_t set_count;
};

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

#endif
