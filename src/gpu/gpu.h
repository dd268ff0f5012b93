/* The gpu subsystem's facade: open NVML (NVIDIA's library or the simulated
 * one, through one code path), then read every GPU and its processes as a
 * snapshot. A metric a GPU lacks is absent, a GPU that errors is marked lost
 * and the others are read as usual. */
#ifndef GPULSE_GPU_GPU_H
#define GPULSE_GPU_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gpu/fields.h"
#include "proc/procinfo.h"
#include "util/common.h"

/* Host-wide facts from the driver. Empty strings / has_ false when absent. */
struct gpu_system {
    char driver_version[80];
    char nvml_version[80];
    bool has_cuda_version;
    int cuda_version;   /* 1000 * major + 10 * minor, e.g. 12040 for 12.4 */
    char lib_path[512]; /* the NVML library that was loaded */
};

/* What identifies a GPU; read once when the session opens. */
struct gpu_identity {
    unsigned index; /* NVML index; not stable across reboots */
    char uuid[96];  /* "GPU-..."; the key to store data under */
    char name[96];
    char serial[32];     /* "" on boards without an inforom serial */
    char pci_bus_id[32]; /* "00000000:3B:00.0" */
    bool has_pci_device_id;
    uint32_t pci_device_id; /* (device << 16) | vendor */
    bool has_minor;
    unsigned minor;    /* /dev/nvidiaN */
    bool has_mig_mode; /* the GPU knows MIG (Ampere and later datacenter parts) */
    bool mig_enabled;  /* MIG on: the parent GPU reports no utilization or per-process samples */
};

enum gpu_state {
    GPU_STATE_OK = 0,
    GPU_STATE_LOST, /* fell off the bus or needs a reset: no readings */
    /* The driver did not answer within the read's deadline (a call on this
     * GPU still runs): no readings this tick; the identity is the last one
     * read, or only the index before the first read finished. */
    GPU_STATE_NOT_RESPONDING,
};

/* The state's name in JSON, CSV and metrics: "ok", "lost",
 * "not_responding". */
const char *gpu_state_name(enum gpu_state state);

/* The state as a person reads it: "ok", "lost", "not responding". */
const char *gpu_state_words(enum gpu_state state);

/* Where a reading's busy time came from. */
enum gpu_busy_source {
    GPU_BUSY_NONE = 0, /* neither the sample buffer nor the polled value */
    GPU_BUSY_SAMPLES,  /* the driver's utilization sample buffer: every period counted */
    GPU_BUSY_POLLED,   /* the polled utilization times the window: bursts may be missed */
};

/* How long the GPU ran kernels during the window since the previous read of
 * this session (the last second for the first read). */
struct gpu_busy {
    enum gpu_busy_source source;
    uint64_t busy_us;   /* time at least one kernel ran */
    uint64_t window_us; /* time covered; 0 when no new sample came */
    unsigned samples;   /* driver samples used (source == SAMPLES) */
};

enum gpu_process_type {
    GPU_PROCESS_COMPUTE = 1U << 0,
    GPU_PROCESS_GRAPHICS = 1U << 1,
    GPU_PROCESS_MPS = 1U << 2,
};

/* One process on one GPU: what NVML says, and what /proc says. */
struct gpu_process {
    uint32_t pid;       /* host PID */
    unsigned type_mask; /* enum gpu_process_type bits */
    bool has_used_memory;
    uint64_t used_memory_bytes;
    bool has_utilization; /* the per-process sample query works on this GPU */
    uint32_t sm_pct;
    uint32_t memory_pct;
    uint32_t encoder_pct;
    uint32_t decoder_pct;
    /* user, command, start time, container: shared per process lifetime
     * and held by the snapshot (proc_info_hold/release); never NULL after
     * gpu_session_read(); read it through proc_info_or_none() */
    const struct proc_info *proc;
};

struct gpu_reading {
    struct gpu_identity id;
    enum gpu_state state;
    char error[160]; /* why the GPU is lost or not responding; "" when OK */
    struct gpu_values values;
    struct gpu_busy busy;
    /* Why the driver's process list is unknown ("" when it answered): a
     * list it refused (NOT_SUPPORTED, NO_PERMISSION, ...), as "<function>:
     * <the driver's words>". Then process_count is 0 and says nothing: read
     * the list through gpu_reading_processes_known(). */
    char processes_error[160];
    size_t process_count;
    struct gpu_process *processes; /* owned by the snapshot */
};

/* Whether r's process list is known: the GPU answered (state OK) and the
 * driver gave every list asked for. An unknown list is shown as unknown,
 * never as a GPU without processes. */
bool gpu_reading_processes_known(const struct gpu_reading *r);

/* Why r's process list is unknown: processes_error, the GPU's error when
 * it did not answer, or a fixed text; NULL when the list is known. */
const char *gpu_reading_processes_why(const struct gpu_reading *r);

struct gpu_snapshot {
    int64_t time_ms;           /* Unix epoch ms when the read started */
    uint64_t read_duration_us; /* how long reading every GPU took */
    bool busy_pending;         /* busy is the polled estimate until gpu_session_settle */
    struct gpu_system system;
    size_t gpu_count;
    struct gpu_reading *gpus; /* owned */
};

struct gpu_options {
    const char *nvml_lib;  /* NULL or "": $GPULSE_NVML_LIB, else libnvidia-ml.so.1 */
    const char *proc_root; /* NULL: /proc */
    bool read_pcie;        /* PCIe throughput costs 2 x 20 ms per GPU in the driver */
    bool read_processes;   /* list processes and attribute them */
    /* Per-process utilization (1.4-2.6 ms a read on an H200, made only
     * where processes share a busy GPU). False: the processes' sm_pct and
     * the rest are absent (`gpulse now --format csv`, one row per GPU). */
    bool read_process_utilization;
    /* A single read (`gpulse now` without --watch): only what it shows. No
     * energy counter (one reading says nothing of a span; energy_mj is
     * absent), no maximum clocks (absent), busy time from the polled
     * utilization (gpu_session_settle is not called), PCIe of every GPU. */
    bool once;
    /* How long a read or settle waits for each GPU (ms; 0: 1000). Each GPU
     * is read by a thread of its own; one that has not answered by then is
     * reported GPU_STATE_NOT_RESPONDING and the others keep their schedule.
     * A single read (once) waits at least GPU_ONCE_DEADLINE_MS: a person
     * waits, and a slow GPU is better shown than called not responding. */
    uint64_t deadline_ms;
};

#define GPU_ONCE_DEADLINE_MS 3000

/* The deadline the agent reads under: half the sampling interval, so a
 * tick that waits for a stuck GPU still ends before the next one is due,
 * at least 200 ms (a busy host's scheduler delay is not a hung GPU) and at
 * most 1 s (what a user waits to see a hung GPU named). */
uint64_t gpu_read_deadline_ms(uint64_t interval_ms);

struct config;

/* The reading options the configuration asks for, the same for the agent,
 * `gpulse now` and the agent's --dry-run: the library (key nvml_lib), the
 * host's /proc (proc_root), PCIe throughput (pcie), and processes, always.
 * out borrows cfg's strings: cfg must outlive every use of out, and the
 * session opened with it. */
void gpu_options_from_config(const struct config *cfg, struct gpu_options *out);

struct gpu_session;

/* Loads NVML, initialises it and enumerates the GPUs. Returns 0; -ENOENT
 * when the library cannot be loaded, -ENOSYS when it is not NVML, -EIO when
 * nvmlInit fails, -ENODEV when there is no GPU; err says which and what to
 * do. Free with gpu_session_free(). */
GP_NODISCARD int gpu_session_open(const struct gpu_options *opts, struct gpu_session **out,
                                  struct gp_err *err);

/* Shuts NVML down and frees the session; NULL is a no-op. Returns within
 * about GPU_SESSION_FREE_WAIT_MS whatever the driver does: when a GPU's
 * thread is still inside an NVML call, that thread is left to finish on
 * its own and the library stays loaded and initialised (no nvmlShutdown
 * under a call in flight); what it uses is kept for it until the process
 * exits. */
void gpu_session_free(struct gpu_session *s);

/* How long gpu_session_free waits for GPU threads to finish their call. */
#define GPU_SESSION_FREE_WAIT_MS 100

/* Number of GPUs enumerated at open. */
size_t gpu_session_gpu_count(const struct gpu_session *s);

/* Reads every GPU and, if asked, its processes into snap, replacing what
 * it held and reusing its memory (a zeroed snapshot, or one read or copied
 * before). It cannot fail as a whole: a GPU that errors is recorded as
 * lost in its reading and the others are read as usual. Each GPU is read
 * by its own thread; it returns by the options' deadline_ms (plus /proc
 * attribution): a GPU that has not answered by then, or whose thread is
 * still in a call from an earlier read, is GPU_STATE_NOT_RESPONDING. A
 * lost GPU is looked up again (by UUID) every GPU_LOST_RETRY_MS and read
 * as usual once it answers. */
void gpu_session_read(struct gpu_session *s, struct gpu_snapshot *snap);

/* Settles the busy time of snaps[0..n-1] (oldest first, read by
 * gpu_session_read of this session and not settled before) from one read
 * of each GPU's utilization sample buffer: every sample goes to the tick
 * whose window holds its timestamp (a tick's window ends when its read
 * started, snap->time_ms), so busy time is exact however seldom this is
 * called, as long as the ticks span less than the driver keeps
 * (gpu_session_busy_span_ms). A GPU's only process gets the tick's busy
 * share as its sm_pct. With final (the agent stopping), the last
 * snapshot's energy is the counter read now, not an estimate. Ticks that
 * cannot be settled keep the polled busy time they were read with, as do
 * a GPU's ticks when its thread misses the deadline (it is then reported
 * not responding by the next read). */
void gpu_session_settle(struct gpu_session *s, struct gpu_snapshot *const *snaps, size_t n,
                        bool final);

/* How often a lost GPU is looked up again (nvmlDeviceGetHandleByUUID,
 * then a read): a GPU comes back after a reset, which takes seconds. */
#define GPU_LOST_RETRY_MS 10000

/* How much history the driver's utilization sample buffer holds, in ms
 * (period x samples, 14 200 on an H200), the least over the GPUs; 0 until
 * the first settle has seen it. */
uint64_t gpu_session_busy_span_ms(const struct gpu_session *s);

/* Makes dst a copy of src: its own readings and process lists, sharing
 * the processes' attribution by reference. dst is zeroed, or one read,
 * copied or cleared before, whose memory is reused. Free it with
 * gpu_snapshot_fini(). */
void gpu_snapshot_copy(struct gpu_snapshot *dst, const struct gpu_snapshot *src);

/* Gives back the attribution snap's processes hold and empties their
 * lists, keeping its memory for gpu_session_read() to reuse. */
void gpu_snapshot_clear(struct gpu_snapshot *snap);

/* Frees what a snapshot owns and zeroes it; a zeroed snapshot is a no-op. */
void gpu_snapshot_fini(struct gpu_snapshot *snap);

/* Busy time as a percentage of the window; false when unknown. */
bool gpu_busy_pct(const struct gpu_busy *b, double *pct);

/* The system's CUDA driver version as nvidia-smi shows it ("12.4"), or ""
 * when the driver did not give it. NVML encodes it as 1000 * major +
 * 10 * minor (nvmlSystemGetCudaDriverVersion_v2). size >= 16. */
void gpu_cuda_version_format(const struct gpu_system *sys, char *buf, size_t size);

/* What one NVML function has cost this process so far. */
struct gpu_call_count {
    const char *function; /* its newest name, "nvmlDeviceGetSamples"; static storage */
    uint64_t calls;
    uint64_t ns; /* wall time inside the calls (CLOCK_MONOTONIC): on NVIDIA's
                    driver, CPU time of the calling thread (nvml-costs.md) */
};

/* Enough room for every function gpulse calls. */
#define GPU_CALLS_MAX 64

/* Copies into out (room for max) the count and time of every NVML
 * function this process has called at least once, in the loader's slot
 * order: all sessions together, from the process's start. Safe from any
 * thread, without a lock; counters read while a call ends may be one call
 * apart from each other. Returns how many were written. */
size_t gpu_calls_read(struct gpu_call_count *out, size_t max);

/* "samples", "polled" or "none". */
const char *gpu_busy_source_name(enum gpu_busy_source src);

#endif
