/* Reading options from the configuration, in one place. */
#include "config/config.h"
#include "gpu/gpu.h"

void gpu_options_from_config(const struct config *cfg, struct gpu_options *out)
{
    *out = (struct gpu_options){
        .nvml_lib = cfg->nvml_lib,
        .proc_root = cfg->proc_root,
        .read_pcie = cfg->pcie,
        .read_processes = true,
        .read_process_utilization = true,
        .deadline_ms = gpu_read_deadline_ms(cfg->interval_ms),
    };
}

uint64_t gpu_read_deadline_ms(uint64_t interval_ms)
{
    uint64_t ms = interval_ms / 2;
    return ms < 200 ? 200 : ms > 1000 ? 1000 : ms;
}
