/* The hand-over from the sampler to the writer: a bounded queue of
 * snapshots. The sampler never waits on it: when it is full, the oldest
 * snapshot is dropped and counted, so a slow disk costs history, never a
 * late sample. */
#ifndef GPULSE_AGENT_QUEUE_H
#define GPULSE_AGENT_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gpu/gpu.h"

struct agent_queue {
    pthread_mutex_t lock;        /* guards everything below */
    pthread_cond_t ready;        /* signalled on close, and on push while a taker waits */
    struct gpu_snapshot **items; /* ring of owned snapshots */
    size_t capacity;
    size_t head; /* oldest */
    size_t len;
    size_t takers;   /* threads waiting in agent_queue_take() for a push */
    uint64_t pushed; /* counters for logs and `db info` */
    uint64_t dropped;
    bool closed;                 /* no more pushes: the writer drains and stops */
    bool kicked;                 /* a batch is complete: flush it now */
    struct gpu_snapshot **spare; /* written snapshots kept for their memory */
    size_t spare_len;
    size_t spare_cap;
};

/* Prepares an empty queue holding at most capacity snapshots (>= 1), and
 * keeping at most spares written snapshots for the sampler to read into
 * again (a flush interval's worth saves allocating and faulting in fresh
 * memory every tick; 0 frees each one). */
void agent_queue_init(struct agent_queue *q, size_t capacity, size_t spares);

/* The writer: gives back a snapshot it has written. It is kept as a spare,
 * its attribution released and its memory kept, or freed when enough are
 * kept. */
void agent_queue_recycle(struct agent_queue *q, struct gpu_snapshot *snap);

/* The sampler: a snapshot to read into, a spare or a new zeroed one; the
 * caller owns it (hand it over with agent_queue_push()). */
struct gpu_snapshot *agent_queue_spare(struct agent_queue *q);

/* Frees the snapshots still queued and the queue's memory. */
void agent_queue_fini(struct agent_queue *q);

/* Hands snap over to the queue (the caller must not touch it again); when
 * full, the oldest snapshot is freed and counted as dropped. */
void agent_queue_push(struct agent_queue *q, struct gpu_snapshot *snap);

/* Moves up to max queued snapshots, oldest first, into out; the caller
 * owns them. Waits until something is queued, the queue is closed, or the
 * absolute CLOCK_MONOTONIC deadline passes (NULL: do not wait). Returns
 * how many were moved. */
size_t agent_queue_take(struct agent_queue *q, struct gpu_snapshot **out, size_t max,
                        const struct timespec *deadline);

/* Waits until the queue is closed, kicked (agent_queue_kick) or the
 * absolute CLOCK_MONOTONIC deadline passes, so the writer can gather a
 * flush interval's worth; clears the kick. */
void agent_queue_wait(struct agent_queue *q, const struct timespec *deadline);

/* Tells the writer that what is queued is a complete batch (the sampler
 * settled its busy time): it flushes now instead of at its deadline. */
void agent_queue_kick(struct agent_queue *q);

/* Counts snapshots dropped downstream (by the writer), for one total. */
void agent_queue_count_drops(struct agent_queue *q, uint64_t n);

/* Marks the queue closed and wakes the writer. */
void agent_queue_close(struct agent_queue *q);

/* True once closed and empty. */
bool agent_queue_finished(struct agent_queue *q);

/* Reads the counters. */
void agent_queue_counters(struct agent_queue *q, uint64_t *pushed, uint64_t *dropped);

/* Frees a snapshot and what it owns; NULL is a no-op. */
void agent_snapshot_free(struct gpu_snapshot *snap);

#endif
