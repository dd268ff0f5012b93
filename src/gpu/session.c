/* The gpu facade: one session per process, reading every GPU through the
 * back end and attributing processes through /proc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu/backend.h"
#include "gpu/gpu.h"
#include "util/clock.h"
#include "util/xalloc.h"

struct gpu_session {
    const struct gpu_backend_ops *ops;
    void *ctx;
    struct gpu_options opts;
    struct proc_reader proc;
    bool proc_ok;
    struct gpu_system system;
    /* Per GPU, for gpu_session_settle: the previous tick's end (Unix us)
     * and the busy time its only process is still owed (us). */
    size_t gpus;
    uint64_t *tick_end_us;
    double *sm_carry_us;
};

int gpu_session_open(const struct gpu_options *opts, struct gpu_session **out, struct gp_err *err)
{
    struct gpu_session *s = xcalloc(1, sizeof(*s));
    s->ops = &gpu_nvml_backend;
    s->opts = *opts;
    int rc = s->ops->open(opts, &s->ctx, err);
    if (rc) {
        free(s);
        return rc;
    }
    if (opts->read_processes) {
        rc = proc_reader_init(&s->proc, opts->proc_root, err);
        if (rc) {
            gpu_session_free(s);
            return rc;
        }
        s->proc_ok = true;
    }
    s->ops->read_system(s->ctx, &s->system);
    s->gpus = s->ops->count(s->ctx);
    s->tick_end_us = xcalloc(s->gpus ? s->gpus : 1, sizeof(*s->tick_end_us));
    s->sm_carry_us = xcalloc(s->gpus ? s->gpus : 1, sizeof(*s->sm_carry_us));
    *out = s;
    return 0;
}

void gpu_session_free(struct gpu_session *s)
{
    if (!s) {
        return;
    }
    if (s->proc_ok) {
        proc_reader_fini(&s->proc);
    }
    s->ops->close(s->ctx);
    free(s->tick_end_us);
    free(s->sm_carry_us);
    free(s);
}

size_t gpu_session_gpu_count(const struct gpu_session *s)
{
    return s->ops->count(s->ctx);
}

/* Gives back the attribution each process of r held; the list stays. */
static void release_processes(struct gpu_reading *r)
{
    for (size_t k = 0; k < r->process_count; k++) {
        proc_info_release(r->processes[k].proc);
        r->processes[k].proc = NULL;
    }
    r->process_count = 0;
}

/* Empties snap for a read of gpu_count GPUs, keeping its memory: the
 * readings, and each one's process list for the back end to refill. */
static void snapshot_reset(struct gpu_snapshot *snap, size_t gpu_count)
{
    if (snap->gpu_count != gpu_count || !snap->gpus) {
        gpu_snapshot_fini(snap);
        snap->gpus = xcalloc(gpu_count ? gpu_count : 1, sizeof(*snap->gpus));
    }
    for (size_t i = 0; i < gpu_count && i < snap->gpu_count; i++) {
        struct gpu_reading *r = &snap->gpus[i];
        release_processes(r);
        *r = (struct gpu_reading){ .processes = r->processes };
    }
    snap->gpu_count = gpu_count;
}

void gpu_session_read(struct gpu_session *s, struct gpu_snapshot *snap)
{
    snapshot_reset(snap, s->ops->count(s->ctx));
    uint64_t t0 = clock_monotonic_us();
    snap->time_ms = clock_realtime_ms();
    snap->system = s->system;
    for (unsigned i = 0; i < snap->gpu_count; i++) {
        struct gpu_reading *r = &snap->gpus[i];
        /* One GPU's failure is recorded in its reading; the loop goes on. */
        s->ops->read_static(s->ctx, i, r);
        s->ops->read_dynamic(s->ctx, i, &s->opts, r);
        if (!s->opts.read_processes) {
            snprintf(r->processes_error, sizeof(r->processes_error), "%s", "not read");
        } else if (r->state == GPU_STATE_OK) {
            s->ops->read_processes(s->ctx, i, r);
            for (size_t k = 0; k < r->process_count; k++) {
                r->processes[k].proc = proc_reader_take(&s->proc, r->processes[k].pid);
            }
        }
    }
    if (s->opts.read_processes) {
        proc_reader_sweep(&s->proc);
    }
    snap->read_duration_us = clock_monotonic_us() - t0;
    snap->busy_pending = !s->opts.once;
}

/* A GPU's only process is given the GPU's busy time: as a share of each
 * tick (the time since the previous one, what the store multiplies it by),
 * carrying over what a percentage cannot hold (a tick whose samples cover
 * more than the tick), so the process's SM time adds up to the GPU's busy
 * time. */
static void give_busy_to_only_process(struct gpu_reading *r, uint64_t tick_us, double *carry_us)
{
    if (r->busy.source != GPU_BUSY_SAMPLES || tick_us == 0) {
        return;
    }
    double busy_us = (double)r->busy.busy_us + *carry_us;
    *carry_us = 0;
    if (r->process_count != 1 || !r->processes[0].has_utilization) {
        return;
    }
    double pct = 100.0 * busy_us / (double)tick_us;
    uint32_t given = pct >= 100.0 ? 100U : (uint32_t)(pct + 0.5);
    r->processes[0].sm_pct = given;
    *carry_us = busy_us - (double)tick_us * given / 100.0;
}

void gpu_session_settle(struct gpu_session *s, struct gpu_snapshot *const *snaps, size_t n,
                        bool final)
{
    if (n == 0) {
        return;
    }
    struct gpu_settle_tick *ticks = xcalloc(n, sizeof(*ticks));
    size_t gpus = s->ops->count(s->ctx);
    for (unsigned i = 0; i < gpus; i++) {
        size_t k = 0;
        for (size_t j = 0; j < n; j++) {
            if (i < snaps[j]->gpu_count) {
                ticks[k++] = (struct gpu_settle_tick){
                    .end_us = (uint64_t)snaps[j]->time_ms * 1000,
                    .r = &snaps[j]->gpus[i],
                };
            }
        }
        s->ops->settle(s->ctx, i, ticks, k, final);
        for (size_t j = 0; j < k && i < s->gpus; j++) {
            uint64_t end = (uint64_t)snaps[j]->time_ms * 1000;
            uint64_t prev = s->tick_end_us[i];
            give_busy_to_only_process(ticks[j].r, prev && end > prev ? end - prev : 0,
                                      &s->sm_carry_us[i]);
            s->tick_end_us[i] = end;
        }
    }
    free(ticks);
    for (size_t j = 0; j < n; j++) {
        snaps[j]->busy_pending = false;
    }
}

uint64_t gpu_session_busy_span_ms(const struct gpu_session *s)
{
    uint64_t least = 0;
    size_t gpus = s->ops->count(s->ctx);
    for (unsigned i = 0; i < gpus; i++) {
        uint64_t span = s->ops->busy_span_us(s->ctx, i);
        if (span && (!least || span < least)) {
            least = span;
        }
    }
    return least / 1000;
}

void gpu_snapshot_copy(struct gpu_snapshot *dst, const struct gpu_snapshot *src)
{
    snapshot_reset(dst, src->gpu_count);
    struct gpu_reading *gpus = dst->gpus;
    *dst = *src;
    dst->gpus = gpus;
    for (size_t i = 0; i < src->gpu_count; i++) {
        struct gpu_process *list = gpus[i].processes;
        size_t n = src->gpus[i].process_count;
        gpus[i] = src->gpus[i];
        gpus[i].processes = list;
        if (n) {
            gpus[i].processes = xrealloc(list, n * sizeof(struct gpu_process));
            memcpy(gpus[i].processes, src->gpus[i].processes, n * sizeof(struct gpu_process));
            for (size_t k = 0; k < n; k++) {
                proc_info_hold(gpus[i].processes[k].proc);
            }
        }
    }
}

void gpu_snapshot_clear(struct gpu_snapshot *snap)
{
    for (size_t i = 0; snap->gpus && i < snap->gpu_count; i++) {
        release_processes(&snap->gpus[i]);
    }
}

void gpu_snapshot_fini(struct gpu_snapshot *snap)
{
    gpu_snapshot_clear(snap);
    for (size_t i = 0; snap->gpus && i < snap->gpu_count; i++) {
        free(snap->gpus[i].processes);
    }
    free(snap->gpus);
    *snap = (struct gpu_snapshot){ 0 };
}

void gpu_cuda_version_format(const struct gpu_system *sys, char *buf, size_t size)
{
    if (!sys->has_cuda_version) {
        snprintf(buf, size, "%s", "");
        return;
    }
    snprintf(buf, size, "%d.%d", sys->cuda_version / 1000, (sys->cuda_version % 1000) / 10);
}

bool gpu_reading_processes_known(const struct gpu_reading *r)
{
    return gpu_reading_processes_why(r) == NULL;
}

const char *gpu_reading_processes_why(const struct gpu_reading *r)
{
    if (r->state != GPU_STATE_OK) {
        return r->error[0] ? r->error : "the GPU did not answer";
    }
    return r->processes_error[0] ? r->processes_error : NULL;
}

bool gpu_busy_pct(const struct gpu_busy *b, double *pct)
{
    if (b->source == GPU_BUSY_NONE || b->window_us == 0) {
        return false;
    }
    *pct = 100.0 * (double)b->busy_us / (double)b->window_us;
    return true;
}

const char *gpu_busy_source_name(enum gpu_busy_source src)
{
    switch (src) {
    case GPU_BUSY_SAMPLES:
        return "samples";
    case GPU_BUSY_POLLED:
        return "polled";
    default:
        return "none";
    }
}
