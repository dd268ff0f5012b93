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

#include "gpu/backend.h"
#include "gpu/gpu.h"
#include "gpu/nvml_lib.h"

/* The first read of a session has no previous read to measure from: it
 * reports busy time over the last second, like a polled reading. */
#define GPU_NVML_FIRST_WINDOW_US 1000000ULL
/* Drivers keep a few hundred samples per buffer; a larger count is a fault
 * and is not allocated for. */
#define GPU_NVML_MAX_DRIVER_SAMPLES 100000U

/* A function that answered NOT_SUPPORTED is asked again only after this
 * long (the fan-speed call costs 0.32 ms on an H200 that has no fan). */
#define GPU_NVML_REPROBE_US (10ULL * 60 * 1000000)
/* The energy counter (2.5-3.5 ms a call on an H200) is read this often;
 * between readings, energy is power integrated over time. */
#define GPU_NVML_ENERGY_EVERY_US (60ULL * 1000000)
/* Per-process utilization is read at most this often per GPU: the driver
 * keeps one sample per process per second, only the latest, so reads must
 * come at least once a second; a tick that comes a little early (1 s ticks
 * jitter) still reads. */
#define GPU_NVML_PUTIL_EVERY_US 750000ULL

/* What the back end keeps about one GPU between reads. */
struct gpu_nvml_dev {
    gpu_nvml_device_t handle;
    uint64_t now_us; /* monotonic time of the current read */
    /* Per function: not asked before this monotonic time (NOT_SUPPORTED). */
    uint64_t unsupported_until_us[GPU_NVML_SYM_COUNT];
    gpu_nvml_return_t handle_rc;     /* why the handle could not be had */
    struct gpu_identity id;          /* read once */
    struct gpu_values static_values; /* maximum clocks, read once */
    bool static_done;
    bool was_lost; /* the previous read found it lost: log changes only */
    /* While lost: the driver's words, and when the GPU is next looked up
     * again (monotonic us; GPU_LOST_RETRY_MS apart). */
    char lost_error[160];
    uint64_t retry_at_us;
    uint64_t reads; /* reads of this GPU: its turn in the PCIe round-robin */

    /* The utilization sample buffer (nvml_backend_samples.c). */
    bool samples_unsupported; /* stop asking once the driver said so */
    bool samples_seen;
    unsigned long long samples_last_us; /* newest utilization sample taken */
    struct gpu_nvml_sample *samples;
    unsigned samples_cap;
    uint64_t polled_last_us; /* monotonic time of the previous polled read */
    uint64_t span_us;        /* what the buffer holds: period x count; 0 unknown */

    /* ECC mode: read once per session (it changes only with a reboot). */
    bool ecc_known;
    bool ecc_enabled;

    /* Energy (nvml_backend_energy.c): the counter once a minute, power
     * integrated between. */
    bool energy_anchored;
    uint64_t energy_read_us; /* monotonic time of the last counter read (0: none yet) */
    double energy_est_mj;    /* the counter at that read + power since */
    double energy_out_mj;    /* what readings carry: never decreasing */
    bool has_prev_power;
    int64_t prev_power_mw;
    uint64_t prev_power_us;

    /* PCIe throughput, read for one GPU per tick in the agent. */
    bool has_pcie_tx, has_pcie_rx;
    int64_t pcie_tx_kbps, pcie_rx_kbps;

    /* Per-process utilization and the process lists (nvml_backend_procs.c). */
    bool putil_unsupported;
    uint64_t putil_read_us;             /* monotonic time of the last read; 0 none */
    unsigned long long putil_newest_us; /* newest per-process sample: the driver's clock */
    struct gpu_nvml_process_utilization_sample *memo; /* newest sample per PID */
    size_t memo_len;
    size_t memo_cap;
    struct gpu_nvml_process_utilization_sample *putil;
    unsigned putil_cap;

    unsigned char *proc_buf; /* raw process entries, stride by version */
    unsigned proc_cap;       /* entries that fit */
    /* The last answer of the compute, graphics and MPS lists, kept while a
     * NOT_SUPPORTED one is not asked again: any but SUCCESS makes the
     * process list unknown. procs_refused: that was logged. */
    gpu_nvml_return_t proc_list_rc[3];
    bool procs_refused;
};

/* The back end's state: the ctx of struct gpu_backend_ops. GPUs are read
 * in threads (gpu/session.c), one job per GPU at a time: after open, a
 * struct gpu_nvml_dev is touched only by the thread running its GPU's job;
 * the rest is read-only. */
struct gpu_nvml_ctx {
    struct gpu_nvml_lib lib;
    bool initialised;
    bool once;       /* gpu_options.once: a single read, only what it shows */
    bool read_putil; /* gpu_options.read_process_utilization */
    unsigned count;
    struct gpu_nvml_dev *dev;
};

/* Whether function sym is worth calling on d now: not while a
 * NOT_SUPPORTED answer is fresh. */
static inline bool gpu_nvml_wanted(const struct gpu_nvml_dev *d, enum gpu_nvml_sym sym)
{
    return d->unsupported_until_us[sym] <= d->now_us;
}

/* Remembers a NOT_SUPPORTED answer of sym on d; returns rc. */
static inline gpu_nvml_return_t gpu_nvml_note(struct gpu_nvml_dev *d, enum gpu_nvml_sym sym,
                                              gpu_nvml_return_t rc)
{
    if (rc == GPU_NVML_RC_NOT_SUPPORTED) {
        d->unsupported_until_us[sym] = d->now_us + GPU_NVML_REPROBE_US;
    }
    return rc;
}

/* Calls an NVML function of GPU d, timed under sym, remembering a
 * NOT_SUPPORTED answer; its value is the call's return code. */
#define GPU_NVML_DEV_CALL(d, sym, call) gpu_nvml_note((d), (sym), GPU_NVML_TIMED((sym), (call)))

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

/* The busy time of GPU d for ticks[0..n-1] (oldest first), from one read
 * of the driver's utilization sample buffer (nvml_backend_samples.c). A
 * tick it cannot settle (no buffer, NOT_SUPPORTED, an error) keeps the
 * polled busy time it was read with. */
void gpu_nvml_backend_settle_busy(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d,
                                  struct gpu_settle_tick *ticks, size_t n);

/* The energy counter of GPU d into r: read when due (the first read, then
 * once a minute, or now when force), else the last reading plus power
 * integrated since (r's power must be read first). Never decreases. */
void gpu_nvml_backend_read_energy(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d,
                                  struct gpu_reading *r, bool force);

/* The gpu_backend_ops entry points that live outside nvml_backend.c; see
 * gpu/backend.h for their contracts. ctx is a struct gpu_nvml_ctx. */
void gpu_nvml_backend_read_dynamic(void *ctx, unsigned i, const struct gpu_options *opts,
                                   struct gpu_reading *r);
void gpu_nvml_backend_read_processes(void *ctx, unsigned i, struct gpu_reading *r);
void gpu_nvml_backend_settle(void *ctx, unsigned i, struct gpu_settle_tick *ticks, size_t n,
                             bool final);
uint64_t gpu_nvml_backend_busy_span_us(void *ctx, unsigned i);

#endif
