/* The NVML loader: dlopen()s libnvidia-ml.so.1 (NVIDIA's or the simulated
 * one, through the same code) and resolves its functions from a table, the
 * newest versioned name first. Only init, shutdown, the error string, the
 * device count and the handle lookup are required; every other function is
 * optional and a missing one means "metric absent". */
#ifndef GPULSE_GPU_NVML_LIB_H
#define GPULSE_GPU_NVML_LIB_H

#include <stdbool.h>

#include "gpu/nvml_abi.h"
#include "util/common.h"

/* The default library name: the soname the driver installs. Not the
 * unversioned development symlink, which may be the CUDA link stub. */
#define GPU_NVML_DEFAULT_LIB "libnvidia-ml.so.1"

/* One slot per NVML function gpulse calls; GPU_NVML_SYMBOL_TABLE in
 * nvml_lib.c gives each its names, newest first. */
enum gpu_nvml_sym {
    GPU_NVML_SYM_INIT,
    GPU_NVML_SYM_SHUTDOWN,
    GPU_NVML_SYM_ERROR_STRING,
    GPU_NVML_SYM_DEVICE_COUNT,
    GPU_NVML_SYM_HANDLE_BY_INDEX,
    GPU_NVML_SYM_DRIVER_VERSION,
    GPU_NVML_SYM_NVML_VERSION,
    GPU_NVML_SYM_CUDA_VERSION,
    GPU_NVML_SYM_NAME,
    GPU_NVML_SYM_UUID,
    GPU_NVML_SYM_SERIAL,
    GPU_NVML_SYM_PCI_INFO,
    GPU_NVML_SYM_MINOR_NUMBER,
    GPU_NVML_SYM_MEMORY_INFO,
    GPU_NVML_SYM_MEMORY_INFO_V1,
    GPU_NVML_SYM_UTILIZATION,
    GPU_NVML_SYM_ENCODER_UTIL,
    GPU_NVML_SYM_DECODER_UTIL,
    GPU_NVML_SYM_TEMPERATURE,
    GPU_NVML_SYM_FAN_SPEED,
    GPU_NVML_SYM_POWER_USAGE,
    GPU_NVML_SYM_POWER_LIMIT,
    GPU_NVML_SYM_ENERGY,
    GPU_NVML_SYM_CLOCK,
    GPU_NVML_SYM_MAX_CLOCK,
    GPU_NVML_SYM_PSTATE,
    GPU_NVML_SYM_CLOCK_REASONS,
    GPU_NVML_SYM_PCIE_THROUGHPUT,
    GPU_NVML_SYM_ECC_MODE,
    GPU_NVML_SYM_ECC_ERRORS,
    GPU_NVML_SYM_REMAPPED_ROWS,
    GPU_NVML_SYM_MIG_MODE,
    GPU_NVML_SYM_COMPUTE_PROCS,
    GPU_NVML_SYM_GRAPHICS_PROCS,
    GPU_NVML_SYM_MPS_PROCS,
    GPU_NVML_SYM_PROCESS_UTIL,
    GPU_NVML_SYM_SAMPLES,
    GPU_NVML_SYM_HANDLE_BY_UUID,     /* a lost GPU looked up again */
    GPU_NVML_SYM_PROBE_CONF_COMPUTE, /* only probed: tells R535-era drivers apart */
    GPU_NVML_SYM_PROBE_DETAIL_LIST,  /* only probed: see process_stride */
    GPU_NVML_SYM_COUNT
};

/* Typed entry points. A NULL pointer means the symbol did not resolve.
 * Where several names exist, `resolved[]` says which one was bound, and
 * the struct layout passed to it follows that name. */
struct gpu_nvml_lib {
    void *handle; /* from dlopen */
    char path[512];

    gpu_nvml_return_t (*init)(void);
    gpu_nvml_return_t (*init_with_flags)(unsigned int flags); /* set when bound via InitWithFlags */
    gpu_nvml_return_t (*shutdown)(void);
    const char *(*error_string)(gpu_nvml_return_t rc);
    gpu_nvml_return_t (*device_count)(unsigned int *count);
    gpu_nvml_return_t (*handle_by_index)(unsigned int index, gpu_nvml_device_t *dev);
    gpu_nvml_return_t (*handle_by_uuid)(const char *uuid, gpu_nvml_device_t *dev);
    gpu_nvml_return_t (*driver_version)(char *buf, unsigned int len);
    gpu_nvml_return_t (*nvml_version)(char *buf, unsigned int len);
    gpu_nvml_return_t (*cuda_version)(int *version);
    gpu_nvml_return_t (*name)(gpu_nvml_device_t dev, char *buf, unsigned int len);
    gpu_nvml_return_t (*uuid)(gpu_nvml_device_t dev, char *buf, unsigned int len);
    gpu_nvml_return_t (*serial)(gpu_nvml_device_t dev, char *buf, unsigned int len);
    gpu_nvml_return_t (*pci_info)(gpu_nvml_device_t dev, void *pci); /* layout by version */
    gpu_nvml_return_t (*minor_number)(gpu_nvml_device_t dev, unsigned int *minor);
    gpu_nvml_return_t (*memory_info)(gpu_nvml_device_t dev, void *mem); /* layout by version */
    /* The plain v1 entry point too: a driver that rejects the v2 struct
     * version (FUNCTION_NOT_FOUND or ARGUMENT_VERSION_MISMATCH) gets v1. */
    gpu_nvml_return_t (*memory_info_v1)(gpu_nvml_device_t dev, struct gpu_nvml_memory_v1 *mem);
    gpu_nvml_return_t (*utilization)(gpu_nvml_device_t dev, struct gpu_nvml_utilization *u);
    gpu_nvml_return_t (*encoder_util)(gpu_nvml_device_t dev, unsigned int *pct,
                                      unsigned int *period_us);
    gpu_nvml_return_t (*decoder_util)(gpu_nvml_device_t dev, unsigned int *pct,
                                      unsigned int *period_us);
    gpu_nvml_return_t (*temperature)(gpu_nvml_device_t dev, int sensor, unsigned int *c);
    gpu_nvml_return_t (*fan_speed)(gpu_nvml_device_t dev, unsigned int *pct);
    gpu_nvml_return_t (*power_usage)(gpu_nvml_device_t dev, unsigned int *mw);
    gpu_nvml_return_t (*power_limit)(gpu_nvml_device_t dev, unsigned int *mw);
    gpu_nvml_return_t (*energy)(gpu_nvml_device_t dev, unsigned long long *mj);
    gpu_nvml_return_t (*clock)(gpu_nvml_device_t dev, int type, unsigned int *mhz);
    gpu_nvml_return_t (*max_clock)(gpu_nvml_device_t dev, int type, unsigned int *mhz);
    gpu_nvml_return_t (*pstate)(gpu_nvml_device_t dev, int *pstate);
    gpu_nvml_return_t (*clock_reasons)(gpu_nvml_device_t dev, unsigned long long *mask);
    gpu_nvml_return_t (*pcie_throughput)(gpu_nvml_device_t dev, int counter, unsigned int *kbps);
    gpu_nvml_return_t (*ecc_mode)(gpu_nvml_device_t dev, int *current, int *pending);
    gpu_nvml_return_t (*ecc_errors)(gpu_nvml_device_t dev, int error_type, int counter_type,
                                    unsigned long long *count);
    gpu_nvml_return_t (*remapped_rows)(gpu_nvml_device_t dev, unsigned int *corr, unsigned int *unc,
                                       unsigned int *pending, unsigned int *failure);
    gpu_nvml_return_t (*mig_mode)(gpu_nvml_device_t dev, unsigned int *current,
                                  unsigned int *pending);
    gpu_nvml_return_t (*compute_procs)(gpu_nvml_device_t dev, unsigned int *count, void *infos);
    gpu_nvml_return_t (*graphics_procs)(gpu_nvml_device_t dev, unsigned int *count, void *infos);
    gpu_nvml_return_t (*mps_procs)(gpu_nvml_device_t dev, unsigned int *count, void *infos);
    gpu_nvml_return_t (*process_util)(gpu_nvml_device_t dev,
                                      struct gpu_nvml_process_utilization_sample *samples,
                                      unsigned int *count, unsigned long long last_seen_us);
    gpu_nvml_return_t (*samples)(gpu_nvml_device_t dev, int type, unsigned long long last_seen_us,
                                 int *value_type, unsigned int *count,
                                 struct gpu_nvml_sample *samples);

    /* Present or not, never called: together they identify the early R535
     * drivers whose _v3 process functions write 32-byte entries. */
    void *probe_conf_compute;
    void *probe_detail_list;

    /* For each symbol slot: the name that resolved, or NULL. */
    const char *resolved[GPU_NVML_SYM_COUNT];
    /* Byte stride of one process entry for the bound process functions:
     * 24 for _v3/_v2, 16 for the plain names, 32 for _v3 on the early R535
     * drivers that wrote an extra field (0 when unbound). */
    unsigned process_stride[3]; /* compute, graphics, MPS */
    bool pci_legacy_layout;     /* bound to the plain nvmlDeviceGetPciInfo */
    bool memory_v2;             /* bound to nvmlDeviceGetMemoryInfo_v2 */
};

/* Loads the library at path (GPU_NVML_DEFAULT_LIB when NULL) and resolves
 * every symbol. Returns 0; -ENOENT when the library cannot be loaded; or
 * -ENOSYS when a required symbol is missing. err names the library and the
 * cause. Release with gpu_nvml_lib_close(). Does not call nvmlInit. */
GP_NODISCARD int gpu_nvml_lib_open(struct gpu_nvml_lib *lib, const char *path, struct gp_err *err);

/* Unloads the library; a zeroed or already closed lib is a no-op. */
void gpu_nvml_lib_close(struct gpu_nvml_lib *lib);

/* NVML's own text for rc (never NULL, also for codes the library lacks). */
const char *gpu_nvml_lib_strerror(const struct gpu_nvml_lib *lib, gpu_nvml_return_t rc);

/* Calls the init entry point that resolved (nvmlInit_v2, else
 * nvmlInitWithFlags(0), else nvmlInit) and returns NVML's code. */
gpu_nvml_return_t gpu_nvml_lib_init(const struct gpu_nvml_lib *lib);

/* The name the loader would look up first for a slot (for messages). */
const char *gpu_nvml_lib_symbol_name(enum gpu_nvml_sym sym);

/* Call accounting (nvml_calls.c): begin notes the time in this thread;
 * end adds one call of sym and the time since begin to the process-wide
 * counters that gpu_calls_read() reports, and returns rc. Use through
 * GPU_NVML_TIMED, whose comma operator orders begin, the call, end. */
void gpu_nvml_calls_begin(void);
gpu_nvml_return_t gpu_nvml_calls_end(enum gpu_nvml_sym sym, gpu_nvml_return_t rc);

/* Makes the NVML call `call` (an expression giving its return code),
 * counted and timed under slot sym; its value is the call's. */
#define GPU_NVML_TIMED(sym, call) (gpu_nvml_calls_begin(), gpu_nvml_calls_end((sym), (call)))

#endif
