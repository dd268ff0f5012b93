/* Levelled logging to stderr. The macros test the level before evaluating
 * their arguments, so a disabled debug line costs one comparison. */
#ifndef GPULSE_UTIL_LOG_H
#define GPULSE_UTIL_LOG_H

#include "common.h"

enum log_level {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARNING,
    LOG_LEVEL_ERROR,
    LOG_LEVEL_CRITICAL,
};

/* The level below which lines are dropped; set once at start-up. */
extern enum log_level log_threshold;

/* Parses "debug", "info", "warning"/"warn", "error", "critical" (any case).
 * Returns 0, or -EINVAL for anything else. */
GP_NODISCARD int log_level_parse(const char *name, enum log_level *out);

/* Sends log lines to the file at path (appending) instead of standard
 * error; NULL or "" goes back to standard error. Returns 0, or -errno with
 * err naming the file. */
GP_NODISCARD int log_open_file(const char *path, struct gp_err *err);

/* Reopens the log file (after logrotate moved it; the agent calls this on
 * SIGHUP). Returns 0 or -errno; on failure logging stays where it was. */
int log_reopen(void);

/* Writes one line "time level subsys: message" to the log (standard error
 * unless a file was opened), coloured by level on a terminal. Use the
 * macros. */
void log_write(enum log_level level, const char *subsys, const char *fmt, ...) GP_PRINTF(3, 4);

#define log_at(level, subsys, ...)                     \
    do {                                               \
        if ((level) >= log_threshold)                  \
            log_write((level), (subsys), __VA_ARGS__); \
    } while (0)
#define log_debug(subsys, ...) log_at(LOG_LEVEL_DEBUG, subsys, __VA_ARGS__)
#define log_info(subsys, ...)  log_at(LOG_LEVEL_INFO, subsys, __VA_ARGS__)
#define log_warn(subsys, ...)  log_at(LOG_LEVEL_WARNING, subsys, __VA_ARGS__)
#define log_error(subsys, ...) log_at(LOG_LEVEL_ERROR, subsys, __VA_ARGS__)

#endif
