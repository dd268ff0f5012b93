#include "agent/live.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/xalloc.h"

const double agent_live_duration_bounds_s[AGENT_LIVE_DURATION_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
};

struct agent_live {
    pthread_mutex_t lock; /* guards everything below */
    struct agent_live_frame *newest;
    int64_t start_ms;
    uint64_t interval_ms;
    uint64_t seq;
    struct agent_live_counters counters;
    /* Running per-GPU totals, by UUID, since a GPU's index may move;
     * busy_known: the GPU's busy time was read at least once (else its
     * total is unknown, not 0). */
    char (*uuids)[96];
    double *busy_seconds;
    bool *busy_known;
    size_t gpu_count;
    struct agent_live_store_state store;
    struct agent_live_starting starting;
    uint64_t data_version; /* +1 per change the writer makes */
    /* The earliest time each of the last changes may have changed: change
     * v at [v % AGENT_LIVE_CHANGES_KEPT]. */
    int64_t changed_from_ms[AGENT_LIVE_CHANGES_KEPT];
    /* The sampler's alone: the previous frame when no reader held it any
     * more, to publish the next tick into its memory. */
    struct agent_live_frame *spare;
};

/* Counts a change that may have changed stored data from from_ms on.
 * Called with the lock held. */
static void note_changed(struct agent_live *l, int64_t from_ms)
{
    l->data_version++;
    l->changed_from_ms[l->data_version % AGENT_LIVE_CHANGES_KEPT] = from_ms;
}

struct agent_live *agent_live_new(uint64_t interval_ms)
{
    struct agent_live *l = xcalloc(1, sizeof(*l));
    pthread_mutex_init(&l->lock, NULL);
    l->start_ms = clock_realtime_ms();
    l->interval_ms = interval_ms;
    return l;
}

static void frame_free(struct agent_live_frame *f)
{
    gpu_snapshot_fini(&f->snap);
    free(f->busy_seconds);
    free(f);
}

void agent_live_release(const struct agent_live_frame *f)
{
    if (!f) {
        return;
    }
    /* The frame is immutable but for its count; the last reader frees it. */
    struct agent_live_frame *mf = (struct agent_live_frame *)(uintptr_t)f;
    if (atomic_fetch_sub_explicit(&mf->refs, 1, memory_order_acq_rel) == 1) {
        frame_free(mf);
    }
}

void agent_live_free(struct agent_live *l)
{
    if (!l) {
        return;
    }
    agent_live_release(l->newest);
    if (l->spare) {
        frame_free(l->spare);
    }
    free(l->uuids);
    free(l->busy_seconds);
    free(l->busy_known);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

/* The running totals' slot for a GPU, added when first seen. */
static size_t total_slot(struct agent_live *l, const char *uuid)
{
    for (size_t i = 0; i < l->gpu_count; i++) {
        if (strcmp(l->uuids[i], uuid) == 0) {
            return i;
        }
    }
    size_t n = l->gpu_count + 1;
    l->uuids = xrealloc(l->uuids, n * sizeof(*l->uuids));
    l->busy_seconds = xrealloc(l->busy_seconds, n * sizeof(*l->busy_seconds));
    l->busy_known = xrealloc(l->busy_known, n * sizeof(*l->busy_known));
    snprintf(l->uuids[n - 1], sizeof(l->uuids[0]), "%s", uuid);
    l->busy_seconds[n - 1] = 0;
    l->busy_known[n - 1] = false;
    l->gpu_count = n;
    return n - 1;
}

void agent_live_publish(struct agent_live *l, const struct gpu_snapshot *snap,
                        uint64_t missed_ticks, uint64_t queue_dropped)
{
    /* The copy is made outside the lock: readers only wait for a swap. */
    struct agent_live_frame *f = l->spare;
    l->spare = NULL;
    size_t n = snap->gpu_count;
    if (!f || f->snap.gpu_count != n) {
        if (f) {
            frame_free(f);
        }
        f = xcalloc(1, sizeof(*f));
        f->busy_seconds = xcalloc(n ? n : 1, sizeof(*f->busy_seconds));
    }
    gpu_snapshot_copy(&f->snap, snap);
    atomic_init(&f->refs, 1);

    pthread_mutex_lock(&l->lock);
    struct agent_live_counters *c = &l->counters;
    c->ticks++;
    c->missed_ticks = missed_ticks;
    c->queue_dropped = queue_dropped;
    double read_s = (double)snap->read_duration_us / 1e6;
    c->read_seconds_sum += read_s;
    for (size_t b = 0; b < AGENT_LIVE_DURATION_BUCKETS; b++) {
        if (read_s <= agent_live_duration_bounds_s[b]) {
            c->read_buckets[b]++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct gpu_reading *r = &snap->gpus[i];
        size_t slot = total_slot(l, r->id.uuid);
        bool read = r->state != GPU_STATE_LOST && r->busy.source != GPU_BUSY_NONE;
        if (!snap->busy_pending && read) {
            l->busy_seconds[slot] += (double)r->busy.busy_us / 1e6;
        }
        /* Pending busy time is added when settled: the total is known. */
        l->busy_known[slot] = l->busy_known[slot] || read;
        f->busy_seconds[i] = l->busy_known[slot] ? l->busy_seconds[slot] : (double)NAN;
    }
    f->seq = ++l->seq;
    f->agent_start_ms = l->start_ms;
    f->interval_ms = l->interval_ms;
    f->counters = *c;
    struct agent_live_frame *old = l->newest;
    l->newest = f;
    pthread_mutex_unlock(&l->lock);
    /* Unless a reader still renders it, the previous frame is the next one. */
    if (old && atomic_fetch_sub_explicit(&old->refs, 1, memory_order_acq_rel) == 1) {
        gpu_snapshot_clear(&old->snap);
        l->spare = old;
    }
}

void agent_live_add_busy(struct agent_live *l, struct gpu_snapshot *const *snaps, size_t n)
{
    pthread_mutex_lock(&l->lock);
    for (size_t j = 0; j < n; j++) {
        for (size_t i = 0; i < snaps[j]->gpu_count; i++) {
            const struct gpu_reading *r = &snaps[j]->gpus[i];
            if (r->state != GPU_STATE_LOST && r->busy.source != GPU_BUSY_NONE) {
                size_t slot = total_slot(l, r->id.uuid);
                l->busy_seconds[slot] += (double)r->busy.busy_us / 1e6;
                l->busy_known[slot] = true;
            }
        }
    }
    pthread_mutex_unlock(&l->lock);
}

const struct agent_live_frame *agent_live_acquire(struct agent_live *l)
{
    pthread_mutex_lock(&l->lock);
    struct agent_live_frame *f = l->newest;
    if (f) {
        atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&l->lock);
    return f;
}

void agent_live_note_flush(struct agent_live *l, int rc, const char *error, int64_t now_ms,
                           int64_t changed_from_ms)
{
    pthread_mutex_lock(&l->lock);
    note_changed(l, changed_from_ms);
    if (rc == 0) {
        l->store.failing = false;
        l->store.last_ok_ms = now_ms;
        l->store.error[0] = '\0';
    } else {
        if (!l->store.failing) {
            l->store.failing_since_ms = now_ms;
        }
        l->store.failing = true;
        snprintf(l->store.error, sizeof(l->store.error), "%s", error ? error : "unknown error");
    }
    pthread_mutex_unlock(&l->lock);
}

void agent_live_store_state(struct agent_live *l, struct agent_live_store_state *out)
{
    pthread_mutex_lock(&l->lock);
    *out = l->store;
    pthread_mutex_unlock(&l->lock);
}

void agent_live_note_change(struct agent_live *l)
{
    pthread_mutex_lock(&l->lock);
    note_changed(l, INT64_MIN);
    pthread_mutex_unlock(&l->lock);
}

int64_t agent_live_changed_from_ms(struct agent_live *l, uint64_t since, uint64_t *now_version)
{
    pthread_mutex_lock(&l->lock);
    uint64_t v = l->data_version;
    int64_t from = INT64_MAX;
    if (since > v || v - since > AGENT_LIVE_CHANGES_KEPT) {
        from = INT64_MIN;
    }
    for (uint64_t c = since + 1; c <= v && from != INT64_MIN; c++) {
        int64_t t = l->changed_from_ms[c % AGENT_LIVE_CHANGES_KEPT];
        from = t < from ? t : from;
    }
    pthread_mutex_unlock(&l->lock);
    if (now_version) {
        *now_version = v;
    }
    return from;
}

uint64_t agent_live_data_version(struct agent_live *l)
{
    pthread_mutex_lock(&l->lock);
    uint64_t v = l->data_version;
    pthread_mutex_unlock(&l->lock);
    return v;
}

void agent_live_note_starting(struct agent_live *l, const struct agent_live_starting *st)
{
    pthread_mutex_lock(&l->lock);
    l->starting = *st;
    pthread_mutex_unlock(&l->lock);
}

void agent_live_starting(struct agent_live *l, struct agent_live_starting *out)
{
    pthread_mutex_lock(&l->lock);
    *out = l->starting;
    pthread_mutex_unlock(&l->lock);
}

/* Seconds from a to b, rounded, at least 0. */
static long long seconds_until(int64_t a_ms, int64_t b_ms)
{
    return b_ms > a_ms ? (long long)((b_ms - a_ms + 500) / 1000) : 0;
}

void agent_live_starting_reason(const struct agent_live_starting *st, int64_t now_ms, char *buf,
                                size_t size)
{
    /* The error's first line: the rest is advice for the log. */
    int first_line = (int)strcspn(st->error, "\n");
    if (st->nvml_up) {
        snprintf(buf, size, "reading the GPUs for the first time");
    } else if (st->trying && st->tries > 1) {
        snprintf(buf, size, "loading NVML (try %u, %lld s so far; the last one failed: %.*s)",
                 st->tries, (long long)(now_ms - st->since_ms) / CLOCK_SECOND_MS, first_line,
                 st->error);
    } else if (st->trying || !st->error[0]) {
        snprintf(buf, size, "loading NVML");
        if (st->since_ms && now_ms - st->since_ms >= CLOCK_SECOND_MS) {
            snprintf(buf, size, "loading NVML (%lld s so far)",
                     (long long)(now_ms - st->since_ms) / CLOCK_SECOND_MS);
        }
    } else if (st->retry_at_ms) {
        snprintf(buf, size, "%.*s; retrying in %lld s", first_line, st->error,
                 seconds_until(now_ms, st->retry_at_ms));
    } else {
        snprintf(buf, size, "%.*s", first_line, st->error);
    }
}
