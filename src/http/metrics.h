/* The Prometheus text exposition (format 0.0.4) of one tick: per-GPU series
 * under dcgm-exporter's names, units and labels, so dashboards made for it
 * work unchanged, and gpulse_* series for processes, users and the agent. */
#ifndef GPULSE_HTTP_METRICS_H
#define GPULSE_HTTP_METRICS_H

#include <stdint.h>

#include "agent/live.h"
#include "util/dynbuf.h"

struct http_metrics_extra {
    const char *host;       /* the Hostname label */
    int64_t database_bytes; /* database file and WAL; < 0 when unknown */
};

/* Appends the exposition of frame f to out; f NULL (the agent starting,
 * no tick yet): only gpulse's own series (build, database, NVML calls,
 * process), none of a GPU. Host strings in label values
 * (process names, users, GPU names) are made valid UTF-8 and escaped.
 * Returns 0, or -E2BIG when out's cap is reached. */
GP_NODISCARD int http_metrics_render(const struct agent_live_frame *f,
                                     const struct http_metrics_extra *extra, struct dynbuf *out);

#endif
