/* What the agent knows right now, shared with the HTTP server: the latest
 * snapshot and the agent's counters. The sampler publishes one immutable,
 * reference-counted frame per tick, so a reader never holds a lock while it
 * renders, never sees half a tick, and the sampler never waits on a reader. */
#ifndef GPULSE_AGENT_LIVE_H
#define GPULSE_AGENT_LIVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gpu/gpu.h"

/* Upper bounds (seconds) of the read-duration histogram's buckets. */
#define AGENT_LIVE_DURATION_BUCKETS 10
extern const double agent_live_duration_bounds_s[AGENT_LIVE_DURATION_BUCKETS];

struct agent_live_counters {
    uint64_t ticks;         /* reads done */
    uint64_t missed_ticks;  /* deadlines skipped because a read ran late */
    uint64_t queue_dropped; /* snapshots the writer could not keep up with */
    uint64_t read_buckets[AGENT_LIVE_DURATION_BUCKETS]; /* cumulative: reads <= bound */
    double read_seconds_sum;
};

/* One tick as published. Readers get it from agent_live_acquire() and give
 * it back with agent_live_release(); it does not change meanwhile. */
struct agent_live_frame {
    uint64_t seq;             /* 1 for the first tick, +1 per tick */
    int64_t agent_start_ms;   /* Unix ms the agent started */
    uint64_t interval_ms;     /* the sampling period */
    struct gpu_snapshot snap; /* the tick's readings, processes included */
    double *busy_seconds;     /* per GPU of snap: busy time since the agent started;
                                 NAN while it was never read (utilization unreadable) */
    struct agent_live_counters counters;
    atomic_uint refs; /* the holder and each reader */
};

/* The writer's view of the database, for /health. */
struct agent_live_store_state {
    bool failing;       /* the last flush failed: samples wait in memory */
    int64_t last_ok_ms; /* Unix ms of the last successful flush (0: none yet) */
    int64_t failing_since_ms;
    char error[256]; /* why the last flush failed */
};

/* Until the first tick: how opening NVML goes (agent/start.h), for
 * /health and the answers that need a sample. */
struct agent_live_starting {
    bool trying;         /* a try is under way (nvmlInit may take long) */
    bool nvml_up;        /* NVML is open; the first read is under way */
    unsigned tries;      /* tries begun so far */
    int64_t since_ms;    /* Unix ms the current try began; 0 when none is under way */
    int64_t retry_at_ms; /* Unix ms of the next try while waiting for it, else 0 */
    char error[512];     /* why the last try failed; "" when none has */
};

struct agent_live;

/* An empty live state for an agent sampling every interval_ms. Free with
 * agent_live_free(). */
struct agent_live *agent_live_new(uint64_t interval_ms);

/* Frees it; frames still held by readers stay valid until released.
 * NULL is a no-op. */
void agent_live_free(struct agent_live *l);

/* The sampler: publishes a copy of snap as the newest frame, adding its
 * read duration, and its busy time unless still pending (snap->busy_pending),
 * to the running totals. */
void agent_live_publish(struct agent_live *l, const struct gpu_snapshot *snap,
                        uint64_t missed_ticks, uint64_t queue_dropped);

/* The sampler: adds the busy time of snaps[0..n-1], settled after they
 * were published, to the running totals (shown from the next frame on). */
void agent_live_add_busy(struct agent_live *l, struct gpu_snapshot *const *snaps, size_t n);

/* The newest frame, held until agent_live_release(); NULL before the first
 * tick. */
const struct agent_live_frame *agent_live_acquire(struct agent_live *l);

/* Gives a frame back; NULL is a no-op. */
void agent_live_release(const struct agent_live_frame *f);

/* The writer: records the result of a flush (rc 0 or the error and its
 * message) of samples that change stored data from changed_from_ms on
 * (store_changes_from_ms of the oldest; INT64_MIN: anything). */
void agent_live_note_flush(struct agent_live *l, int rc, const char *error, int64_t now_ms,
                           int64_t changed_from_ms);

/* The writer: the database changed other than by a flush (retention): any
 * stored time may have changed. */
void agent_live_note_change(struct agent_live *l);

/* A number that changes whenever the writer changes the database (each
 * flush, each retention pass): answers computed from the database stay
 * valid while it does not change. */
uint64_t agent_live_data_version(struct agent_live *l);

/* How many changes agent_live_changed_from_ms remembers. */
#define AGENT_LIVE_CHANGES_KEPT 256

/* The earliest stored time that the changes made after data version
 * `since` may have changed: INT64_MAX when none was made, INT64_MIN when
 * one could change anything (retention) or `since` is older than the last
 * AGENT_LIVE_CHANGES_KEPT changes. An answer that reads only data before
 * that time is still valid. *now_version (may be NULL) gets the current
 * data version, read under the same lock. */
int64_t agent_live_changed_from_ms(struct agent_live *l, uint64_t since, uint64_t *now_version);

/* Reads the writer's state. */
void agent_live_store_state(struct agent_live *l, struct agent_live_store_state *out);

/* The sampler: records how opening NVML goes (a copy of *st). */
void agent_live_note_starting(struct agent_live *l, const struct agent_live_starting *st);

/* Reads what agent_live_note_starting() recorded last (all zero before). */
void agent_live_starting(struct agent_live *l, struct agent_live_starting *out);

/* Why there is no sample yet, in words, into buf (always terminated):
 * "loading NVML", "loading NVML (try 3, 12 s so far)", "NVML
 * initialisation failed: Driver Not Loaded (NVML error 9); retrying in
 * 8 s" (the first line of the error), "reading the GPUs for the first
 * time". now_ms is Unix ms. */
void agent_live_starting_reason(const struct agent_live_starting *st, int64_t now_ms, char *buf,
                                size_t size);

#endif
