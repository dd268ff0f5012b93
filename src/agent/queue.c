#include "agent/queue.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "util/xalloc.h"

void agent_queue_init(struct agent_queue *q, size_t capacity, size_t spares)
{
    *q = (struct agent_queue){ .capacity = capacity ? capacity : 1, .spare_cap = spares };
    pthread_mutex_init(&q->lock, NULL);
    /* Deadlines are on the monotonic clock, like the sampler's. */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&q->ready, &attr);
    pthread_condattr_destroy(&attr);
    q->items = xcalloc(q->capacity, sizeof(struct gpu_snapshot *));
    q->spare = xcalloc(spares ? spares : 1, sizeof(struct gpu_snapshot *));
}

void agent_snapshot_free(struct gpu_snapshot *snap)
{
    if (snap) {
        gpu_snapshot_fini(snap);
        free(snap);
    }
}

void agent_queue_fini(struct agent_queue *q)
{
    for (size_t i = 0; i < q->len; i++) {
        agent_snapshot_free(q->items[(q->head + i) % q->capacity]);
    }
    for (size_t i = 0; i < q->spare_len; i++) {
        agent_snapshot_free(q->spare[i]);
    }
    free(q->items);
    free(q->spare);
    pthread_cond_destroy(&q->ready);
    pthread_mutex_destroy(&q->lock);
}

void agent_queue_push(struct agent_queue *q, struct gpu_snapshot *snap)
{
    struct gpu_snapshot *victim = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->len == q->capacity) {
        victim = q->items[q->head];
        q->head = (q->head + 1) % q->capacity;
        q->len--;
        q->dropped++;
    }
    q->items[(q->head + q->len) % q->capacity] = snap;
    q->len++;
    q->pushed++;
    if (q->takers) {
        /* The writer waits for its flush deadline, not for each push. */
        pthread_cond_signal(&q->ready);
    }
    pthread_mutex_unlock(&q->lock);
    agent_snapshot_free(victim); /* outside the lock: the writer need not wait */
}

size_t agent_queue_take(struct agent_queue *q, struct gpu_snapshot **out, size_t max,
                        const struct timespec *deadline)
{
    pthread_mutex_lock(&q->lock);
    while (deadline && q->len == 0 && !q->closed) {
        q->takers++;
        int rc = pthread_cond_timedwait(&q->ready, &q->lock, deadline);
        q->takers--;
        if (rc == ETIMEDOUT) {
            break;
        }
    }
    size_t n = 0;
    while (n < max && q->len > 0) {
        out[n++] = q->items[q->head];
        q->head = (q->head + 1) % q->capacity;
        q->len--;
    }
    pthread_mutex_unlock(&q->lock);
    return n;
}

void agent_queue_recycle(struct agent_queue *q, struct gpu_snapshot *snap)
{
    if (!snap) {
        return;
    }
    /* Outside the lock: the sampler need not wait for the releases. */
    gpu_snapshot_clear(snap);
    pthread_mutex_lock(&q->lock);
    bool kept = q->spare_len < q->spare_cap;
    if (kept) {
        q->spare[q->spare_len++] = snap;
    }
    pthread_mutex_unlock(&q->lock);
    if (!kept) {
        agent_snapshot_free(snap);
    }
}

struct gpu_snapshot *agent_queue_spare(struct agent_queue *q)
{
    struct gpu_snapshot *snap = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->spare_len > 0) {
        snap = q->spare[--q->spare_len];
    }
    pthread_mutex_unlock(&q->lock);
    return snap ? snap : xcalloc(1, sizeof(*snap));
}

void agent_queue_wait(struct agent_queue *q, const struct timespec *deadline)
{
    pthread_mutex_lock(&q->lock);
    while (!q->closed && !q->kicked) {
        if (pthread_cond_timedwait(&q->ready, &q->lock, deadline) == ETIMEDOUT) {
            break;
        }
    }
    q->kicked = false;
    pthread_mutex_unlock(&q->lock);
}

void agent_queue_kick(struct agent_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->kicked = true;
    pthread_cond_broadcast(&q->ready);
    pthread_mutex_unlock(&q->lock);
}

void agent_queue_count_drops(struct agent_queue *q, uint64_t n)
{
    pthread_mutex_lock(&q->lock);
    q->dropped += n;
    pthread_mutex_unlock(&q->lock);
}

void agent_queue_close(struct agent_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->ready);
    pthread_mutex_unlock(&q->lock);
}

bool agent_queue_finished(struct agent_queue *q)
{
    pthread_mutex_lock(&q->lock);
    bool done = q->closed && q->len == 0;
    pthread_mutex_unlock(&q->lock);
    return done;
}

void agent_queue_counters(struct agent_queue *q, uint64_t *pushed, uint64_t *dropped)
{
    pthread_mutex_lock(&q->lock);
    *pushed = q->pushed;
    *dropped = q->dropped;
    pthread_mutex_unlock(&q->lock);
}
