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
    };
}
