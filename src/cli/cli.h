/* The subcommands of the gpulse binary and the helpers they share. */
#ifndef GPULSE_CLI_CLI_H
#define GPULSE_CLI_CLI_H

#include "util/common.h"

/* `gpulse now`: the current state of every GPU. Returns an exit code. */
int cli_now_main(int argc, char **argv);

/* Prints "gpulse CMD: message" and a pointer to --help on stderr; returns
 * GP_EXIT_USAGE so callers can `return cli_usage_error(...)`. */
int cli_usage_error(const char *cmd, const char *fmt, ...) GP_PRINTF(2, 3);

/* Prints "gpulse: message" on stderr and returns GP_EXIT_FAILURE. */
int cli_fail(const char *fmt, ...) GP_PRINTF(1, 2);

#endif
