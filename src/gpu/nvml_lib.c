#include "gpu/nvml_lib.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* How to find one entry point: the names newest first, and where its
 * pointer lives in struct gpu_nvml_lib. */
struct symbol_spec {
    const char *names[3];
    size_t offset;
    bool required;
};

#define SLOT(field) offsetof(struct gpu_nvml_lib, field)

/* The fallback chains follow shared/reference/nvml-abi.md §1.4: count and
 * handle lookups pair v2 with v2, since v1 skips inaccessible devices and
 * the indices would not line up. */
static const struct symbol_spec symbol_table[GPU_NVML_SYM_COUNT] = {
    [GPU_NVML_SYM_INIT] = { .names = { "nvmlInit_v2", "nvmlInitWithFlags", "nvmlInit" },
                            .offset = SLOT(init),
                            .required = true },
    [GPU_NVML_SYM_SHUTDOWN] = { .names = { "nvmlShutdown" },
                                .offset = SLOT(shutdown),
                                .required = true },
    [GPU_NVML_SYM_ERROR_STRING] = { .names = { "nvmlErrorString" },
                                    .offset = SLOT(error_string),
                                    .required = true },
    [GPU_NVML_SYM_DEVICE_COUNT] = { .names = { "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount" },
                                    SLOT(device_count),
                                    true },
    [GPU_NVML_SYM_HANDLE_BY_INDEX] = { .names = { "nvmlDeviceGetHandleByIndex_v2",
                                                  "nvmlDeviceGetHandleByIndex" },
                                       SLOT(handle_by_index),
                                       true },
    [GPU_NVML_SYM_DRIVER_VERSION] = { .names = { "nvmlSystemGetDriverVersion" },
                                      .offset = SLOT(driver_version) },
    [GPU_NVML_SYM_NVML_VERSION] = { .names = { "nvmlSystemGetNVMLVersion" },
                                    .offset = SLOT(nvml_version) },
    [GPU_NVML_SYM_CUDA_VERSION] = { .names = { "nvmlSystemGetCudaDriverVersion_v2",
                                               "nvmlSystemGetCudaDriverVersion" },
                                    .offset = SLOT(cuda_version) },
    [GPU_NVML_SYM_NAME] = { .names = { "nvmlDeviceGetName" }, .offset = SLOT(name) },
    [GPU_NVML_SYM_UUID] = { .names = { "nvmlDeviceGetUUID" }, .offset = SLOT(uuid) },
    [GPU_NVML_SYM_SERIAL] = { .names = { "nvmlDeviceGetSerial" }, .offset = SLOT(serial) },
    [GPU_NVML_SYM_PCI_INFO] = { .names = { "nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2",
                                           "nvmlDeviceGetPciInfo" },
                                .offset = SLOT(pci_info) },
    [GPU_NVML_SYM_MINOR_NUMBER] = { .names = { "nvmlDeviceGetMinorNumber" },
                                    .offset = SLOT(minor_number) },
    [GPU_NVML_SYM_MEMORY_INFO] = { .names = { "nvmlDeviceGetMemoryInfo_v2",
                                              "nvmlDeviceGetMemoryInfo" },
                                   .offset = SLOT(memory_info) },
    [GPU_NVML_SYM_MEMORY_INFO_V1] = { .names = { "nvmlDeviceGetMemoryInfo" },
                                      .offset = SLOT(memory_info_v1) },
    [GPU_NVML_SYM_UTILIZATION] = { .names = { "nvmlDeviceGetUtilizationRates" },
                                   .offset = SLOT(utilization) },
    [GPU_NVML_SYM_ENCODER_UTIL] = { .names = { "nvmlDeviceGetEncoderUtilization" },
                                    .offset = SLOT(encoder_util) },
    [GPU_NVML_SYM_DECODER_UTIL] = { .names = { "nvmlDeviceGetDecoderUtilization" },
                                    .offset = SLOT(decoder_util) },
    [GPU_NVML_SYM_TEMPERATURE] = { .names = { "nvmlDeviceGetTemperature" },
                                   .offset = SLOT(temperature) },
    [GPU_NVML_SYM_FAN_SPEED] = { .names = { "nvmlDeviceGetFanSpeed" }, .offset = SLOT(fan_speed) },
    [GPU_NVML_SYM_POWER_USAGE] = { .names = { "nvmlDeviceGetPowerUsage" },
                                   .offset = SLOT(power_usage) },
    [GPU_NVML_SYM_POWER_LIMIT] = { .names = { "nvmlDeviceGetEnforcedPowerLimit",
                                              "nvmlDeviceGetPowerManagementLimit" },
                                   .offset = SLOT(power_limit) },
    [GPU_NVML_SYM_ENERGY] = { .names = { "nvmlDeviceGetTotalEnergyConsumption" },
                              .offset = SLOT(energy) },
    [GPU_NVML_SYM_CLOCK] = { .names = { "nvmlDeviceGetClockInfo" }, .offset = SLOT(clock) },
    [GPU_NVML_SYM_MAX_CLOCK] = { .names = { "nvmlDeviceGetMaxClockInfo" },
                                 .offset = SLOT(max_clock) },
    [GPU_NVML_SYM_PSTATE] = { .names = { "nvmlDeviceGetPerformanceState" },
                              .offset = SLOT(pstate) },
    [GPU_NVML_SYM_CLOCK_REASONS] = { .names = { "nvmlDeviceGetCurrentClocksEventReasons",
                                                "nvmlDeviceGetCurrentClocksThrottleReasons" },
                                     .offset = SLOT(clock_reasons) },
    [GPU_NVML_SYM_PCIE_THROUGHPUT] = { .names = { "nvmlDeviceGetPcieThroughput" },
                                       .offset = SLOT(pcie_throughput) },
    [GPU_NVML_SYM_ECC_MODE] = { .names = { "nvmlDeviceGetEccMode" }, .offset = SLOT(ecc_mode) },
    [GPU_NVML_SYM_ECC_ERRORS] = { .names = { "nvmlDeviceGetTotalEccErrors" },
                                  .offset = SLOT(ecc_errors) },
    [GPU_NVML_SYM_REMAPPED_ROWS] = { .names = { "nvmlDeviceGetRemappedRows" },
                                     .offset = SLOT(remapped_rows) },
    [GPU_NVML_SYM_MIG_MODE] = { .names = { "nvmlDeviceGetMigMode" }, .offset = SLOT(mig_mode) },
    [GPU_NVML_SYM_COMPUTE_PROCS] = { .names = { "nvmlDeviceGetComputeRunningProcesses_v3",
                                                "nvmlDeviceGetComputeRunningProcesses_v2",
                                                "nvmlDeviceGetComputeRunningProcesses" },
                                     .offset = SLOT(compute_procs) },
    [GPU_NVML_SYM_GRAPHICS_PROCS] = { .names = { "nvmlDeviceGetGraphicsRunningProcesses_v3",
                                                 "nvmlDeviceGetGraphicsRunningProcesses_v2",
                                                 "nvmlDeviceGetGraphicsRunningProcesses" },
                                      .offset = SLOT(graphics_procs) },
    [GPU_NVML_SYM_MPS_PROCS] = { .names = { "nvmlDeviceGetMPSComputeRunningProcesses_v3",
                                            "nvmlDeviceGetMPSComputeRunningProcesses_v2",
                                            "nvmlDeviceGetMPSComputeRunningProcesses" },
                                 .offset = SLOT(mps_procs) },
    [GPU_NVML_SYM_PROCESS_UTIL] = { .names = { "nvmlDeviceGetProcessUtilization" },
                                    .offset = SLOT(process_util) },
    [GPU_NVML_SYM_PROBE_CONF_COMPUTE] = { .names = { "nvmlDeviceGetConfComputeMemSizeInfo" },
                                          .offset = SLOT(probe_conf_compute) },
    [GPU_NVML_SYM_PROBE_DETAIL_LIST] = { .names = { "nvmlDeviceGetRunningProcessDetailList" },
                                         .offset = SLOT(probe_detail_list) },
    [GPU_NVML_SYM_SAMPLES] = { .names = { "nvmlDeviceGetSamples" }, .offset = SLOT(samples) },
    [GPU_NVML_SYM_HANDLE_BY_UUID] = { .names = { "nvmlDeviceGetHandleByUUID" },
                                      .offset = SLOT(handle_by_uuid) },
};

/* Which of a slot's names bound: 0 for the newest, -1 for none. */
static int resolved_rank(const struct gpu_nvml_lib *lib, enum gpu_nvml_sym sym)
{
    for (int i = 0; i < 3 && symbol_table[sym].names[i]; i++) {
        if (lib->resolved[sym] == symbol_table[sym].names[i]) {
            return i;
        }
    }
    return -1;
}

/* The plain (last) name of a process function takes 16-byte entries; the
 * _v2 and _v3 names take 24-byte ones, except on early R535 drivers, whose
 * _v3 wrote 32 (an extra confidential-computing field). Those are known, as
 * nvitop knows them, by having the confidential-computing query but not yet
 * the process detail list that replaced the ambiguous struct. Reading them
 * at 24 bytes would scramble PIDs. */
static unsigned process_stride(const struct gpu_nvml_lib *lib, enum gpu_nvml_sym sym)
{
    int rank = resolved_rank(lib, sym);
    if (rank < 0) {
        return 0;
    }
    if (rank == 2) {
        return (unsigned)sizeof(struct gpu_nvml_process_info_v1);
    }
    if (rank == 0 && lib->probe_conf_compute && !lib->probe_detail_list) {
        return GPU_NVML_ABI_PROCESS_INFO_R535_SIZE;
    }
    return (unsigned)sizeof(struct gpu_nvml_process_info_v2);
}

int gpu_nvml_lib_open(struct gpu_nvml_lib *lib, const char *path, struct gp_err *err)
{
    *lib = (struct gpu_nvml_lib){ 0 };
    if (!path || !*path) {
        path = GPU_NVML_DEFAULT_LIB;
    }
    snprintf(lib->path, sizeof(lib->path), "%s", path);

    dlerror();
    lib->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib->handle) {
        const char *why = dlerror();
        return gp_err_set(err, -ENOENT, "cannot load NVML library '%s': %s", path,
                          why ? why : "unknown dlopen error");
    }

    for (size_t sym = 0; sym < GPU_NVML_SYM_COUNT; sym++) {
        const struct symbol_spec *spec = &symbol_table[sym];
        for (size_t i = 0; i < GP_ARRAY_LEN(spec->names) && spec->names[i]; i++) {
            void *addr = dlsym(lib->handle, spec->names[i]);
            if (addr) {
                /* POSIX guarantees data and function pointers share a
                 * representation; memcpy keeps ISO C's pedantry quiet. */
                memcpy((char *)lib + spec->offset, &addr, sizeof(addr));
                lib->resolved[sym] = spec->names[i];
                break;
            }
        }
        if (spec->required && !lib->resolved[sym]) {
            int rc = gp_err_set(err, -ENOSYS,
                                "NVML library '%s' lacks the required function %s: it is not a "
                                "usable libnvidia-ml",
                                path, spec->names[0]);
            gpu_nvml_lib_close(lib);
            return rc;
        }
    }

    /* nvmlInitWithFlags takes an argument: keep it apart from the void init. */
    if (lib->resolved[GPU_NVML_SYM_INIT] == symbol_table[GPU_NVML_SYM_INIT].names[1]) {
        memcpy(&lib->init_with_flags, &lib->init, sizeof(lib->init));
        lib->init = NULL;
    }
    lib->process_stride[0] = process_stride(lib, GPU_NVML_SYM_COMPUTE_PROCS);
    lib->process_stride[1] = process_stride(lib, GPU_NVML_SYM_GRAPHICS_PROCS);
    lib->process_stride[2] = process_stride(lib, GPU_NVML_SYM_MPS_PROCS);
    lib->pci_legacy_layout = resolved_rank(lib, GPU_NVML_SYM_PCI_INFO) == 2;
    lib->memory_v2 = resolved_rank(lib, GPU_NVML_SYM_MEMORY_INFO) == 0;
    return 0;
}

void gpu_nvml_lib_close(struct gpu_nvml_lib *lib)
{
    if (lib->handle) {
        dlclose(lib->handle);
    }
    *lib = (struct gpu_nvml_lib){ 0 };
}

const char *gpu_nvml_lib_strerror(const struct gpu_nvml_lib *lib, gpu_nvml_return_t rc)
{
    const char *s = lib->error_string ? lib->error_string(rc) : NULL;
    return s ? s : "unknown NVML error";
}

gpu_nvml_return_t gpu_nvml_lib_init(const struct gpu_nvml_lib *lib)
{
    if (lib->init) {
        return lib->init();
    }
    if (lib->init_with_flags) {
        return lib->init_with_flags(0);
    }
    return GPU_NVML_RC_UNINITIALIZED;
}

const char *gpu_nvml_lib_symbol_name(enum gpu_nvml_sym sym)
{
    return (unsigned)sym < GPU_NVML_SYM_COUNT ? symbol_table[sym].names[0] : "?";
}
