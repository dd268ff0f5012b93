/* The seam between the session and a GPU library. NVML is the one real
 * back end; NVIDIA's library and the simulated one are both reached
 * through it, so tests exercise the code that runs on GPU machines. */
#ifndef GPULSE_GPU_BACKEND_H
#define GPULSE_GPU_BACKEND_H

#include "gpu/gpu.h"

/* One tick whose busy time is settled: its reading of one GPU and when
 * the tick's read started (Unix us, the clock the driver stamps samples
 * with). */
struct gpu_settle_tick {
    uint64_t end_us;
    struct gpu_reading *r;
};

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
    /* Busy time of GPU i for ticks (oldest first) from the driver's sample
     * buffer, each sample to the tick its timestamp falls in; with final,
     * the energy counter read into the last tick too. */
    void (*settle)(void *ctx, unsigned i, struct gpu_settle_tick *ticks, size_t n, bool final);
    /* The span of GPU i's utilization sample buffer in us; 0 unknown. */
    uint64_t (*busy_span_us)(void *ctx, unsigned i);
};

/* The NVML back end. */
extern const struct gpu_backend_ops gpu_nvml_backend;

#endif
