/* This process's own resource use, read from /proc/self the way the
 * Prometheus client libraries do for their standard process_* metrics. */
#ifndef GPULSE_UTIL_SELFSTAT_H
#define GPULSE_UTIL_SELFSTAT_H

#include <stdbool.h>
#include <stdint.h>

#include "util/common.h"

struct selfstat {
    double cpu_seconds;     /* user + system CPU time (/proc/self/stat utime, stime) */
    int64_t resident_bytes; /* resident set size (rss x page size) */
    int64_t virtual_bytes;  /* virtual memory size (vsize) */
    double start_time_s;    /* Unix time the process started (boot time + starttime) */
    int64_t open_fds;       /* entries of /proc/self/fd; -1 unknown */
    int64_t max_fds;        /* the soft RLIMIT_NOFILE; -1 unlimited or unknown */
};

/* Reads /proc/self/stat (one file) and counts /proc/self/fd; the boot time
 * (/proc/stat) is read once per process. Returns 0, or a negative errno
 * when /proc/self/stat cannot be read or parsed (then out is zeroed and
 * the fd fields are still filled). Thread-safe. */
GP_NODISCARD int selfstat_read(struct selfstat *out);

#endif
