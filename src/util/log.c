#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum log_level log_threshold = LOG_LEVEL_WARNING;

static const char *const level_names[] = { "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL" };

int log_level_parse(const char *name, enum log_level *out)
{
    for (size_t i = 0; i < GP_ARRAY_LEN(level_names); i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcasecmp(name, "warn") == 0) {
        *out = LOG_LEVEL_WARNING;
        return 0;
    }
    return -EINVAL;
}

void log_write(enum log_level level, const char *subsys, const char *fmt, ...)
{
    struct timespec ts = { 0 };
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm = { 0 };
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[32] = { 0 };
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

    char line[2048] = { 0 };
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);

    unsigned idx = (unsigned)level < GP_ARRAY_LEN(level_names) ? (unsigned)level : 0;
    fprintf(stderr, "%s.%03ldZ %-8s %s: %s\n", stamp, ts.tv_nsec / 1000000L, level_names[idx],
            subsys, line);
}
