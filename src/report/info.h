/* The info resource: what runs where (host, versions, the agent, its
 * settings, each GPU's identity) and the thresholds the dashboard colours
 * by. JSON, schema gpulse.info.v1 (docs/json.md); served at /api/v1/info. */
#ifndef GPULSE_REPORT_INFO_H
#define GPULSE_REPORT_INFO_H

#include <jansson.h>
#include <stdint.h>

#include "config/config.h"
#include "gpu/gpu.h"

struct report_info {
    const struct gpu_snapshot *snap; /* the latest reading: versions and GPUs */
    const struct config *cfg;        /* the agent's settings */
    const char *host;
    int64_t agent_start_ms;
    int64_t now_ms;
};

/* The document; the caller owns it. */
json_t *report_info_json(const struct report_info *in);

#endif
