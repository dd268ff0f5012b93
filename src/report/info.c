/* The info resource's JSON. */
#include "report/info.h"

#include <stdlib.h>

#include "report/format.h"

#define JSON_SCHEMA "gpulse.info.v1"

static json_t *value_or_null(const struct gpu_values *v, enum gpu_field f)
{
    return gpu_values_has(v, f) ? json_integer(v->v[f]) : json_null();
}

static json_t *gpu_json(const struct gpu_reading *r)
{
    const struct gpu_values *v = &r->values;
    return json_pack("{s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:s}", "index", (int)r->id.index, "uuid",
                     report_json_text(r->id.uuid), "name", report_json_text(r->id.name), "serial",
                     report_json_text(r->id.serial), "pci_bus_id",
                     report_json_text(r->id.pci_bus_id), "memory_total_bytes",
                     value_or_null(v, GPU_FIELD_MEM_TOTAL_BYTES), "power_limit_mw",
                     value_or_null(v, GPU_FIELD_POWER_LIMIT_MW), "state", gpu_state_name(r->state));
}

json_t *report_info_json(const struct report_info *in)
{
    const struct gpu_system *sys = &in->snap->system;
    const struct config *cfg = in->cfg;
    char cuda[32] = "";
    gpu_cuda_version_format(sys, cuda, sizeof(cuda));
    json_t *gpus = json_array();
    for (size_t i = 0; i < in->snap->gpu_count; i++) {
        json_array_append_new(gpus, gpu_json(&in->snap->gpus[i]));
    }
    return json_pack(
        "{s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:{s:i, s:i}, s:o, s:o}",
        "schema", JSON_SCHEMA, "host", report_json_text(in->host), "gpulse_version", GPULSE_VERSION,
        "driver_version", report_json_text(sys->driver_version), "cuda_version",
        report_json_text(cuda), "nvml_version", report_json_text(sys->nvml_version), "nvml_library",
        report_json_text(sys->lib_path), "agent_start", report_json_time(in->agent_start_ms),
        "uptime_s",
        report_json_real((double)(in->now_ms - in->agent_start_ms) / 1000.0,
                         REPORT_DECIMALS_SECONDS),
        "interval_s", report_json_real((double)cfg->interval_ms / 1000.0, REPORT_DECIMALS_SECONDS),
        "timezone", report_json_text(cfg->timezone[0] ? cfg->timezone : getenv("TZ")),
        "activity_threshold_pct",
        report_json_real(cfg->activity_threshold_pct, REPORT_DECIMALS_PCT),
        "temperature_thresholds_c", "warn", REPORT_TEMP_WARN_C, "hot", REPORT_TEMP_HOT_C,
        "database", report_json_text(cfg->database), "gpus", gpus);
}
