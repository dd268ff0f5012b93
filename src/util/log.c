#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "util/text.h"

enum log_level log_threshold = LOG_LEVEL_WARNING;

/* Where lines go. Set up before threads start; log_reopen swaps the stream
 * under the lock that log_write takes. */
static struct {
    pthread_mutex_t lock;
    FILE *file; /* NULL: standard error */
    char path[512];
} sink = { .lock = PTHREAD_MUTEX_INITIALIZER };

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

int log_open_file(const char *path, struct gp_err *err)
{
    pthread_mutex_lock(&sink.lock);
    int rc = 0;
    if (!path || !*path) {
        if (sink.file) {
            fclose(sink.file);
        }
        sink.file = NULL;
        sink.path[0] = '\0';
    } else {
        FILE *f = fopen(path, "a");
        if (!f) {
            rc = gp_err_set(err, -errno, "cannot open log file '%s': %s", path, strerror(errno));
        } else {
            setvbuf(f, NULL, _IOLBF, 0);
            if (sink.file) {
                fclose(sink.file);
            }
            sink.file = f;
            snprintf(sink.path, sizeof(sink.path), "%s", path);
        }
    }
    pthread_mutex_unlock(&sink.lock);
    return rc;
}

int log_reopen(void)
{
    pthread_mutex_lock(&sink.lock);
    int rc = 0;
    if (sink.file) {
        FILE *f = fopen(sink.path, "a");
        if (!f) {
            rc = -errno;
        } else {
            setvbuf(f, NULL, _IOLBF, 0);
            fclose(sink.file);
            sink.file = f;
        }
    }
    pthread_mutex_unlock(&sink.lock);
    return rc;
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
    /* Messages quote host and client text (GPU names, paths, requests):
     * one line each, nothing a terminal or a log reader would obey. */
    char clean[3 * sizeof(line) + 1];
    text_sanitize(clean, sizeof(clean), line);

    static const char *const colors[] = { "\033[2m", "", "\033[33m", "\033[31m", "\033[1;31m" };
    unsigned idx = (unsigned)level < GP_ARRAY_LEN(level_names) ? (unsigned)level : 0;
    pthread_mutex_lock(&sink.lock);
    FILE *out = sink.file ? sink.file : stderr;
    bool color = !sink.file && isatty(STDERR_FILENO) && !getenv("NO_COLOR");
    fprintf(out, "%s%s.%03ldZ %-8s %s: %s%s\n", color ? colors[idx] : "", stamp,
            ts.tv_nsec / 1000000L, level_names[idx], subsys, clean, color ? "\033[0m" : "");
    pthread_mutex_unlock(&sink.lock);
}
