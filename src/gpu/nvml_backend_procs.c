/* The NVML back end's processes: the compute, graphics and MPS lists of
 * one GPU, and each process's utilization from the driver's per-process
 * sample buffer. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gpu/nvml_backend_int.h"
#include "util/log.h"
#include "util/xalloc.h"

static struct gpu_process *find_or_add(struct gpu_reading *r, uint32_t pid, size_t *cap)
{
    for (size_t i = 0; i < r->process_count; i++) {
        if (r->processes[i].pid == pid) {
            return &r->processes[i];
        }
    }
    if (r->process_count == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        r->processes = xrealloc(r->processes, *cap * sizeof(*r->processes));
    }
    struct gpu_process *p = &r->processes[r->process_count++];
    *p = (struct gpu_process){ .pid = pid };
    return p;
}

/* No real GPU runs more processes than this; a larger count is a driver
 * fault, not a reason to allocate without bound. */
#define MAX_PROCESSES_PER_GPU 65536U

/* Sizes the raw process buffer for n entries of the widest layout, so one
 * buffer serves every stride. */
static void grow_process_buffer(struct gpu_nvml_dev *d, unsigned n)
{
    d->proc_cap = n;
    d->proc_buf = xrealloc(d->proc_buf, (size_t)n * GPU_NVML_ABI_PROCESS_INFO_MAX_SIZE);
}

/* One of the compute / graphics / MPS lists, with the size-query idiom:
 * the list can grow between calls, so retry on INSUFFICIENT_SIZE. */
static void read_process_list(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d,
                              struct gpu_reading *r,
                              gpu_nvml_return_t (*fn)(gpu_nvml_device_t, unsigned int *, void *),
                              enum gpu_nvml_sym sym, unsigned type_bit, size_t *cap)
{
    /* A list not asked again after NOT_SUPPORTED keeps that answer. */
    if (!fn || gpu_nvml_lost(r) || !gpu_nvml_wanted(d, sym)) {
        return;
    }
    gpu_nvml_return_t *answer = &d->proc_list_rc[sym - GPU_NVML_SYM_COMPUTE_PROCS];
    unsigned stride = c->lib.process_stride[sym - GPU_NVML_SYM_COMPUTE_PROCS];
    const char *what = c->lib.resolved[sym];
    gpu_nvml_return_t rc = GPU_NVML_RC_INSUFFICIENT_SIZE;
    unsigned count = 0;
    for (int attempt = 0; attempt < 4 && rc == GPU_NVML_RC_INSUFFICIENT_SIZE; attempt++) {
        if (d->proc_cap == 0) {
            grow_process_buffer(d, 32);
        }
        count = d->proc_cap;
        rc = GPU_NVML_DEV_CALL(d, sym, fn(d->handle, &count, d->proc_buf));
        if (rc == GPU_NVML_RC_INSUFFICIENT_SIZE) {
            if (count > MAX_PROCESSES_PER_GPU) {
                log_warn("gpu", "GPU %u: %s claims %u processes; reading none", r->id.index, what,
                         count);
                *answer = rc;
                return;
            }
            /* Headroom: the list can grow between the two calls. */
            grow_process_buffer(d, (count > d->proc_cap ? count : d->proc_cap) * 2 + 8);
        }
    }
    *answer = rc;
    if (!gpu_nvml_accept(c, r, rc, what)) {
        return;
    }
    if (count > d->proc_cap) {
        count = d->proc_cap;
    }
    for (unsigned i = 0; i < count; i++) {
        const unsigned char *e = d->proc_buf + (size_t)i * stride;
        unsigned int pid = 0;
        unsigned long long mem = 0;
        memcpy(&pid, e, sizeof(pid));
        memcpy(&mem, e + offsetof(struct gpu_nvml_process_info_v1, used_gpu_memory), sizeof(mem));
        struct gpu_process *p = find_or_add(r, pid, cap);
        p->type_mask |= type_bit;
        /* A process in two lists (compute and graphics) is counted once. */
        if (mem != GPU_NVML_ABI_VALUE_NOT_AVAILABLE_ULL &&
            (!p->has_used_memory || mem > p->used_memory_bytes)) {
            p->used_memory_bytes = mem;
            p->has_used_memory = true;
        }
    }
}

/* Per-process SM / memory / codec utilization. The driver keeps one
 * sample per process per second, each process with its own timestamps
 * (lagging one another by up to ~2 s), and only each process's latest
 * (nvml-costs.md): so it is read with lastSeen 0, which returns every
 * process's latest sample, and a sample counts when it is newer than the
 * last one taken from that process. Each process shows its most recent
 * sample while it is under two seconds older than the newest of any
 * process, else 0 %: a busy process does not look idle between two of its
 * samples, and one that stopped stops looking busy. */
static void remember_sample(struct gpu_nvml_dev *d,
                            const struct gpu_nvml_process_utilization_sample *s)
{
    for (size_t i = 0; i < d->memo_len; i++) {
        if (d->memo[i].pid == s->pid) {
            if (s->timestamp_us > d->memo[i].timestamp_us) {
                d->memo[i] = *s;
            }
            return;
        }
    }
    if (d->memo_len == d->memo_cap) {
        d->memo_cap = d->memo_cap ? d->memo_cap * 2 : 16;
        d->memo = xrealloc(d->memo, d->memo_cap * sizeof(*d->memo));
    }
    d->memo[d->memo_len++] = *s;
}

static void apply_remembered(struct gpu_nvml_dev *d, struct gpu_reading *r,
                             unsigned long long driver_now_us)
{
    unsigned long long fresh = driver_now_us > 2 * GPU_NVML_FIRST_WINDOW_US
                                   ? driver_now_us - 2 * GPU_NVML_FIRST_WINDOW_US
                                   : 0;
    for (size_t k = 0; k < r->process_count; k++) {
        struct gpu_process *p = &r->processes[k];
        p->has_utilization = true;
        for (size_t i = 0; i < d->memo_len; i++) {
            const struct gpu_nvml_process_utilization_sample *m = &d->memo[i];
            if (m->pid == p->pid && m->timestamp_us > fresh) {
                p->sm_pct = m->sm_util;
                p->memory_pct = m->mem_util;
                p->encoder_pct = m->enc_util;
                p->decoder_pct = m->dec_util;
            }
        }
    }
    /* Forget processes not heard of for a while. */
    size_t kept = 0;
    for (size_t i = 0; i < d->memo_len; i++) {
        if (d->memo[i].timestamp_us + 10 * GPU_NVML_FIRST_WINDOW_US > driver_now_us) {
            d->memo[kept++] = d->memo[i];
        }
    }
    d->memo_len = kept;
}

/* Asks the driver for every process's latest sample into d->putil: the
 * size query (3 us), then the data (1.4-2.6 ms on an H200). Returns the
 * last call's code; *count is how many samples came back. */
static gpu_nvml_return_t fetch_process_samples(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d,
                                               unsigned *count)
{
    *count = 0;
    gpu_nvml_return_t rc = GPU_NVML_DEV_CALL(d, GPU_NVML_SYM_PROCESS_UTIL,
                                             c->lib.process_util(d->handle, NULL, count, 0));
    if (rc == GPU_NVML_RC_INSUFFICIENT_SIZE && *count > GPU_NVML_MAX_DRIVER_SAMPLES) {
        *count = GPU_NVML_MAX_DRIVER_SAMPLES;
    }
    if (rc == GPU_NVML_RC_INSUFFICIENT_SIZE && *count > 0) {
        if (*count > d->putil_cap) {
            d->putil_cap = *count + 8;
            d->putil = xrealloc(d->putil, d->putil_cap * sizeof(*d->putil));
        }
        *count = d->putil_cap;
        rc = GPU_NVML_DEV_CALL(d, GPU_NVML_SYM_PROCESS_UTIL,
                               c->lib.process_util(d->handle, d->putil, count, 0));
    }
    return rc;
}

static void read_process_utilization(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d,
                                     struct gpu_reading *r)
{
    unsigned count = 0;
    gpu_nvml_return_t rc = fetch_process_samples(c, d, &count);
    d->putil_read_us = d->now_us;
    if (rc == GPU_NVML_RC_NOT_SUPPORTED) {
        d->putil_unsupported = true;
        return;
    }
    if (rc != GPU_NVML_RC_SUCCESS && rc != GPU_NVML_RC_NOT_FOUND) {
        gpu_nvml_accept(c, r, rc, "nvmlDeviceGetProcessUtilization");
        return;
    }
    unsigned long long newest = 0;
    for (unsigned i = 0; rc == GPU_NVML_RC_SUCCESS && d->putil && i < count; i++) {
        const struct gpu_nvml_process_utilization_sample *s = &d->putil[i];
        /* The driver can hand back nonsense samples: drop them. */
        if (s->sm_util > 100 || s->mem_util > 100 || s->enc_util > 100 || s->dec_util > 100) {
            continue;
        }
        remember_sample(d, s);
        newest = s->timestamp_us > newest ? s->timestamp_us : newest;
    }
    if (newest > d->putil_newest_us) {
        d->putil_newest_us = newest;
    }
}

/* Per-process utilization costs as much as the sample buffer (1.4-2.6 ms
 * on an H200) and only tells apart processes that share a GPU: it is read
 * once a second where two or more processes share a busy GPU. A GPU's only
 * process is given the GPU's utilization (all its busy time); processes on
 * an idle GPU are at 0 %. */
static void process_utilization(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d,
                                struct gpu_reading *r)
{
    /* MIG GPUs do not report per-process utilization on the parent handle. */
    if (!c->read_putil || !c->lib.process_util || d->putil_unsupported || d->id.mig_enabled ||
        gpu_nvml_lost(r) || r->process_count == 0 ||
        !gpu_values_has(&r->values, GPU_FIELD_UTIL_GPU_PCT)) {
        return;
    }
    int64_t gpu_pct = r->values.v[GPU_FIELD_UTIL_GPU_PCT];
    if (r->process_count == 1 || gpu_pct == 0) {
        for (size_t k = 0; k < r->process_count; k++) {
            struct gpu_process *p = &r->processes[k];
            p->has_utilization = true;
            p->sm_pct = r->process_count == 1 ? (uint32_t)(gpu_pct > 100 ? 100 : gpu_pct) : 0;
        }
        return;
    }
    if (d->putil_read_us == 0 || d->now_us - d->putil_read_us >= GPU_NVML_PUTIL_EVERY_US) {
        read_process_utilization(c, d, r);
    }
    if (!d->putil_unsupported && !gpu_nvml_lost(r)) {
        apply_remembered(d, r, d->putil_newest_us);
    }
}

/* A list the driver refused makes the whole list unknown: the processes
 * of the lists that answered are not all of them, and a GPU shown without
 * processes would look idle. Says why in r, and logs when a GPU's list
 * becomes unknown and when it is known again, not every tick. */
static void note_refusal(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d,
                         struct gpu_reading *r)
{
    size_t k = 0;
    while (k < GP_ARRAY_LEN(d->proc_list_rc) && d->proc_list_rc[k] == GPU_NVML_RC_SUCCESS) {
        k++;
    }
    if (k == GP_ARRAY_LEN(d->proc_list_rc)) {
        if (d->procs_refused) {
            log_info("gpu", "GPU %u (%s): the driver lists its processes again", r->id.index,
                     r->id.uuid);
        }
        d->procs_refused = false;
        return;
    }
    const char *what = c->lib.resolved[GPU_NVML_SYM_COMPUTE_PROCS + k];
    snprintf(r->processes_error, sizeof(r->processes_error), "%s: %s", what ? what : "process list",
             gpu_nvml_lib_strerror(&c->lib, d->proc_list_rc[k]));
    r->process_count = 0;
    /* A single read (gpulse now) shows it in its output. */
    if (!d->procs_refused) {
        log_at(c->once ? LOG_LEVEL_INFO : LOG_LEVEL_WARNING, "gpu",
               "GPU %u (%s): its processes are unknown (%s)", r->id.index, r->id.uuid,
               r->processes_error);
    }
    d->procs_refused = true;
}

void gpu_nvml_backend_read_processes(void *ctx, unsigned i, struct gpu_reading *r)
{
    struct gpu_nvml_ctx *c = ctx;
    struct gpu_nvml_dev *d = &c->dev[i];
    size_t cap = 0;
    read_process_list(c, d, r, c->lib.compute_procs, GPU_NVML_SYM_COMPUTE_PROCS,
                      GPU_PROCESS_COMPUTE, &cap);
    read_process_list(c, d, r, c->lib.graphics_procs, GPU_NVML_SYM_GRAPHICS_PROCS,
                      GPU_PROCESS_GRAPHICS, &cap);
    read_process_list(c, d, r, c->lib.mps_procs, GPU_NVML_SYM_MPS_PROCS, GPU_PROCESS_MPS, &cap);
    if (!gpu_nvml_lost(r)) {
        note_refusal(c, d, r);
    }
    process_utilization(c, d, r);
}
