/* The gpu facade: one session per process, reading every GPU through the
 * back end, each in a thread of its own under a deadline (workers.c), and
 * attributing processes through /proc. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu/backend.h"
#include "gpu/gpu.h"
#include "gpu/workers_int.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

/* What the session and GPU i's thread share. While a job runs, the thread
 * alone touches r and the settle arrays; the session takes them back once
 * gpu_workers_wait says the job ended. */
struct gpu_slot {
    struct gpu_session *s;
    unsigned i;
    bool settle; /* the job: a settle, else a read */
    bool final;
    struct gpu_reading r; /* a read's result; its process list is reused */
    struct gpu_settle_tick *ticks;
    struct gpu_reading *tick_r; /* private copies of the ticks' readings */
    size_t n, cap;
    struct gpu_identity id; /* the last identity read (session's) */
    uint64_t span_us;       /* the back end's busy_span_us after the last settle */
};

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
    struct gpu_workers *workers;
    struct gpu_slot *slots;
    bool *posted, *done;
    struct gpu_session *next_abandoned;
};

/* Sessions freed while a GPU thread was still inside a call: kept, with
 * the library, for those threads until the process exits. */
static struct gpu_session *abandoned;
static pthread_mutex_t abandoned_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t deadline_us(const struct gpu_session *s)
{
    uint64_t ms = s->opts.deadline_ms ? s->opts.deadline_ms : 1000;
    if (s->opts.once && ms < GPU_ONCE_DEADLINE_MS) {
        ms = GPU_ONCE_DEADLINE_MS;
    }
    return clock_monotonic_us() + ms * 1000;
}

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
    s->gpus = s->ops->count(s->ctx);
    s->tick_end_us = xcalloc(s->gpus ? s->gpus : 1, sizeof(*s->tick_end_us));
    s->sm_carry_us = xcalloc(s->gpus ? s->gpus : 1, sizeof(*s->sm_carry_us));
    s->slots = xcalloc(s->gpus ? s->gpus : 1, sizeof(*s->slots));
    s->posted = xcalloc(s->gpus ? s->gpus : 1, sizeof(bool));
    s->done = xcalloc(s->gpus ? s->gpus : 1, sizeof(bool));
    for (unsigned i = 0; i < s->gpus; i++) {
        s->slots[i] = (struct gpu_slot){ .s = s, .i = i, .id.index = i };
    }
    rc = gpu_workers_new(s->gpus, &s->workers, err);
    if (rc == 0 && opts->read_processes) {
        rc = proc_reader_init(&s->proc, opts->proc_root, err);
        s->proc_ok = rc == 0;
    }
    if (rc) {
        gpu_session_free(s);
        return rc;
    }
    s->ops->read_system(s->ctx, &s->system);
    *out = s;
    return 0;
}

static void slots_free(struct gpu_session *s)
{
    for (size_t i = 0; i < s->gpus; i++) {
        free(s->slots[i].r.processes);
        free(s->slots[i].ticks);
        free(s->slots[i].tick_r);
    }
    free(s->slots);
    free(s->posted);
    free(s->done);
    free(s->tick_end_us);
    free(s->sm_carry_us);
}

void gpu_session_free(struct gpu_session *s)
{
    if (!s) {
        return;
    }
    if (s->proc_ok) {
        proc_reader_fini(&s->proc);
        s->proc_ok = false;
    }
    if (!gpu_workers_free(s->workers, GPU_SESSION_FREE_WAIT_MS)) {
        /* No nvmlShutdown or dlclose under a call in flight: the stuck
         * thread keeps the back end, its slot and the library. */
        log_info("gpu", "a GPU is still inside a driver call; leaving it behind");
        pthread_mutex_lock(&abandoned_lock);
        s->next_abandoned = abandoned;
        abandoned = s;
        pthread_mutex_unlock(&abandoned_lock);
        return;
    }
    s->ops->close(s->ctx);
    slots_free(s);
    free(s);
}

size_t gpu_session_gpu_count(const struct gpu_session *s)
{
    return s->gpus;
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

/* A read of GPU i in its thread: identity, metrics, processes. One GPU's
 * failure is recorded in its reading. */
static void read_job(void *arg)
{
    struct gpu_slot *sl = arg;
    struct gpu_session *s = sl->s;
    s->ops->read_static(s->ctx, sl->i, &sl->r);
    s->ops->read_dynamic(s->ctx, sl->i, &s->opts, &sl->r);
    if (!s->opts.read_processes) {
        snprintf(sl->r.processes_error, sizeof(sl->r.processes_error), "%s", "not read");
    } else if (sl->r.state == GPU_STATE_OK) {
        s->ops->read_processes(s->ctx, sl->i, &sl->r);
    }
}

/* A GPU whose thread is still in a call: its last identity and why. */
static void mark_not_responding(struct gpu_session *s, unsigned i, struct gpu_reading *r)
{
    r->id = s->slots[i].id;
    r->state = GPU_STATE_NOT_RESPONDING;
    uint64_t busy_ms = gpu_workers_busy_us(s->workers, i) / 1000;
    if (busy_ms == 0) {
        snprintf(r->error, sizeof(r->error), "%s", "the read did not start within its deadline");
        return;
    }
    snprintf(r->error, sizeof(r->error),
             "the driver has not answered a call on this GPU for %" PRIu64 ".%01" PRIu64 " s",
             busy_ms / 1000, busy_ms % 1000 / 100);
}

/* Moves GPU i's finished read into r (empty, its list kept), the list r
 * had going back to the slot for the next read; attributes processes. */
static void take_reading(struct gpu_session *s, unsigned i, struct gpu_reading *r)
{
    struct gpu_slot *sl = &s->slots[i];
    struct gpu_process *spare = r->processes;
    *r = sl->r;
    sl->r = (struct gpu_reading){ .processes = spare };
    if (r->id.uuid[0]) {
        sl->id = r->id;
    }
    for (size_t k = 0; k < r->process_count; k++) {
        r->processes[k].proc = proc_reader_take(&s->proc, r->processes[k].pid);
    }
}

void gpu_session_read(struct gpu_session *s, struct gpu_snapshot *snap)
{
    snapshot_reset(snap, s->gpus);
    uint64_t t0 = clock_monotonic_us();
    snap->time_ms = clock_realtime_ms();
    snap->system = s->system;
    for (unsigned i = 0; i < s->gpus; i++) {
        struct gpu_slot *sl = &s->slots[i];
        s->posted[i] = false;
        if (gpu_workers_idle(s->workers, i)) {
            sl->r = (struct gpu_reading){ .processes = sl->r.processes };
            sl->settle = false;
            s->posted[i] = gpu_workers_post(s->workers, i, read_job, sl);
        }
    }
    gpu_workers_wait(s->workers, s->posted, s->done, deadline_us(s));
    for (unsigned i = 0; i < s->gpus; i++) {
        if (s->done[i]) {
            take_reading(s, i, &snap->gpus[i]);
        } else {
            mark_not_responding(s, i, &snap->gpus[i]);
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

/* A settle of GPU i in its thread, on the slot's private copies. */
static void settle_job(void *arg)
{
    struct gpu_slot *sl = arg;
    sl->s->ops->settle(sl->s->ctx, sl->i, sl->ticks, sl->n, sl->final);
}

/* Gives GPU i's thread copies of its readings in snaps (without their
 * processes, which settling does not touch; a tick it did not read in
 * time goes as lost, to be left alone) and posts the settle. */
static void post_settle(struct gpu_session *s, unsigned i, struct gpu_snapshot *const *snaps,
                        size_t n, bool final)
{
    struct gpu_slot *sl = &s->slots[i];
    if (!gpu_workers_idle(s->workers, i)) {
        return;
    }
    if (n > sl->cap) {
        sl->cap = n;
        sl->ticks = xrealloc(sl->ticks, n * sizeof(*sl->ticks));
        sl->tick_r = xrealloc(sl->tick_r, n * sizeof(*sl->tick_r));
    }
    sl->n = 0;
    for (size_t j = 0; j < n; j++) {
        if (i < snaps[j]->gpu_count) {
            struct gpu_reading *copy = &sl->tick_r[sl->n];
            *copy = snaps[j]->gpus[i];
            copy->processes = NULL;
            copy->process_count = 0;
            if (copy->state == GPU_STATE_NOT_RESPONDING) {
                copy->state = GPU_STATE_LOST;
            }
            sl->ticks[sl->n++] = (struct gpu_settle_tick){
                .end_us = (uint64_t)snaps[j]->time_ms * 1000,
                .r = copy,
            };
        }
    }
    sl->settle = true;
    sl->final = final;
    s->posted[i] = sl->n > 0 && gpu_workers_post(s->workers, i, settle_job, sl);
}

/* Copies what GPU i's settle found back into the ticks it read. */
static void take_settled(struct gpu_session *s, unsigned i, struct gpu_snapshot *const *snaps,
                         size_t n)
{
    struct gpu_slot *sl = &s->slots[i];
    sl->span_us = s->ops->busy_span_us(s->ctx, i);
    size_t k = 0;
    for (size_t j = 0; j < n && k < sl->n; j++) {
        if (i >= snaps[j]->gpu_count) {
            continue;
        }
        struct gpu_reading *r = &snaps[j]->gpus[i];
        const struct gpu_reading *got = &sl->tick_r[k++];
        if (r->state == GPU_STATE_OK) {
            r->state = got->state;
            r->busy = got->busy;
            r->values = got->values;
            snprintf(r->error, sizeof(r->error), "%s", got->error);
        }
    }
}

void gpu_session_settle(struct gpu_session *s, struct gpu_snapshot *const *snaps, size_t n,
                        bool final)
{
    if (n == 0) {
        return;
    }
    for (unsigned i = 0; i < s->gpus; i++) {
        s->posted[i] = false;
        post_settle(s, i, snaps, n, final);
    }
    gpu_workers_wait(s->workers, s->posted, s->done, deadline_us(s));
    for (unsigned i = 0; i < s->gpus; i++) {
        if (s->done[i]) {
            take_settled(s, i, snaps, n);
        }
        for (size_t j = 0; j < n; j++) {
            if (i >= snaps[j]->gpu_count) {
                continue;
            }
            uint64_t end = (uint64_t)snaps[j]->time_ms * 1000;
            uint64_t prev = s->tick_end_us[i];
            give_busy_to_only_process(&snaps[j]->gpus[i], prev && end > prev ? end - prev : 0,
                                      &s->sm_carry_us[i]);
            s->tick_end_us[i] = end;
        }
    }
    for (size_t j = 0; j < n; j++) {
        snaps[j]->busy_pending = false;
    }
}

uint64_t gpu_session_busy_span_ms(const struct gpu_session *s)
{
    uint64_t least = 0;
    for (unsigned i = 0; i < s->gpus; i++) {
        uint64_t span = s->slots[i].span_us;
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

const char *gpu_state_name(enum gpu_state state)
{
    static const char *const names[] = {
        [GPU_STATE_OK] = "ok",
        [GPU_STATE_LOST] = "lost",
        [GPU_STATE_NOT_RESPONDING] = "not_responding",
    };
    return (size_t)state < GP_ARRAY_LEN(names) ? names[state] : "not_responding";
}

const char *gpu_state_words(enum gpu_state state)
{
    return state == GPU_STATE_NOT_RESPONDING ? "not responding" : gpu_state_name(state);
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
