/* Private to the NVML back end (nvml_backend*.c): the state kept per GPU
 * between reads, and the rule every call's result goes through. The files
 * split it by what they read: nvml_backend.c opens the library and reads
 * what is read once, nvml_backend_dynamic.c the metrics of each tick,
 * nvml_backend_samples.c the driver's utilization sample buffer,
 * nvml_backend_procs.c the processes. */
#ifndef GPULSE_GPU_NVML_BACKEND_INT_H
#define GPULSE_GPU_NVML_BACKEND_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gpu/gpu.h"
#include "gpu/nvml_lib.h"

/* The first read of a session has no previous read to measure from: it
 * reports busy time over the last second, like a polled reading. */
#define GPU_NVML_FIRST_WINDOW_US 1000000ULL
/* Drivers keep a few hundred samples per buffer; a larger count is a fault
 * and is not allocated for. */
#define GPU_NVML_MAX_DRIVER_SAMPLES 100000U

/* What the back end keeps about one GPU between reads. */
struct gpu_nvml_dev {
    gpu_nvml_device_t handle;
    gpu_nvml_return_t handle_rc;     /* why the handle could not be had */
    struct gpu_identity id;          /* read once */
    struct gpu_values static_values; /* maximum clocks, read once */
    bool static_done;
    bool was_lost; /* the previous read found it lost: log changes only */

    /* The utilization sample buffer (nvml_backend_samples.c). */
    bool samples_unsupported; /* stop asking once the driver said so */
    bool samples_seen;
    unsigned long long samples_last_us; /* newest utilization sample taken */
    unsigned long long driver_now_us;   /* newest sample time: the driver's clock */
    struct gpu_nvml_sample *samples;
    unsigned samples_cap;
    uint64_t polled_last_us; /* monotonic time of the previous polled read */

    /* Per-process utilization and the process lists (nvml_backend_procs.c). */
    bool putil_unsupported;
    bool putil_seen;
    unsigned long long putil_last_us;                 /* newest per-process sample taken */
    struct gpu_nvml_process_utilization_sample *memo; /* newest sample per PID */
    size_t memo_len;
    size_t memo_cap;
    struct gpu_nvml_process_utilization_sample *putil;
    unsigned putil_cap;

    unsigned char *proc_buf; /* raw process entries, stride by version */
    unsigned proc_cap;       /* entries that fit */
};

/* The back end's state: the ctx of struct gpu_backend_ops. */
struct gpu_nvml_ctx {
    struct gpu_nvml_lib lib;
    bool initialised;
    unsigned count;
    struct gpu_nvml_dev *dev;
};

static inline bool gpu_nvml_lost(const struct gpu_reading *r)
{
    return r->state == GPU_STATE_LOST;
}

/* Records a failed call in r: a lost GPU marks the reading LOST with the
 * driver's words and what was called; any other failure but NOT_SUPPORTED
 * is logged at debug level. */
void gpu_nvml_backend_record_failure(const struct gpu_nvml_ctx *c, struct gpu_reading *r,
                                     gpu_nvml_return_t rc, const char *what);

/* Accepts a call's result: true on success. A lost GPU is recorded in the
 * reading; any other failure (NOT_SUPPORTED, NO_PERMISSION...) just leaves
 * the metric absent. Inline: it runs after every call of every tick. */
static inline bool gpu_nvml_accept(const struct gpu_nvml_ctx *c, struct gpu_reading *r,
                                   gpu_nvml_return_t rc, const char *what)
{
    if (rc == GPU_NVML_RC_SUCCESS) {
        return true;
    }
    gpu_nvml_backend_record_failure(c, r, rc, what);
    return false;
}

/* The busy time of GPU d since the previous read, from the driver's
 * utilization sample buffer, into r->busy. Returns false when the buffer
 * cannot be had (no such function, NOT_SUPPORTED, the GPU lost, another
 * error): the caller then falls back to the polled utilization. */
bool gpu_nvml_backend_read_busy_samples(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d,
                                        struct gpu_reading *r);

/* The gpu_backend_ops entry points that live outside nvml_backend.c; see
 * gpu/backend.h for their contracts. ctx is a struct gpu_nvml_ctx. */
void gpu_nvml_backend_read_dynamic(void *ctx, unsigned i, const struct gpu_options *opts,
                                   struct gpu_reading *r);
void gpu_nvml_backend_read_processes(void *ctx, unsigned i, struct gpu_reading *r);

#endif
