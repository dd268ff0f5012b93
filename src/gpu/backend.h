/* The seam between the session and a GPU library. NVML is the one real
 * back end; NVIDIA's library and the simulated one are both reached
 * through it, so tests exercise the code that runs on GPU machines. */
#ifndef GPULSE_GPU_BACKEND_H
#define GPULSE_GPU_BACKEND_H

#include "gpu/gpu.h"

struct gpu_backend_ops {
    /* Loads and initialises the library; *ctx is the back end's state. */
    int (*open)(const struct gpu_options *opts, void **ctx, struct gp_err *err);
    /* Shuts the library down and frees ctx. */
    void (*close)(void *ctx);
    /* GPUs enumerated by open. */
    unsigned (*count)(void *ctx);
    /* Driver, NVML and CUDA versions. */
    void (*read_system)(void *ctx, struct gpu_system *out);
    /* Identity of GPU i; marks out->state LOST when it cannot be read. out
     * is zeroed but for the processes list kept for read_processes. */
    void (*read_static)(void *ctx, unsigned i, struct gpu_reading *out);
    /* Metrics and busy time of GPU i. */
    void (*read_dynamic)(void *ctx, unsigned i, const struct gpu_options *opts,
                         struct gpu_reading *out);
    /* Processes on GPU i, without /proc attribution (proc NULL). out comes
     * with process_count 0 and, when the snapshot is reused, processes
     * still pointing at the previous read's list: grow it with realloc. */
    void (*read_processes)(void *ctx, unsigned i, struct gpu_reading *out);
};

/* The NVML back end. */
extern const struct gpu_backend_ops gpu_nvml_backend;

#endif
