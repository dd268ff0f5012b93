/* Opening NVML for the agent without ever waiting on it: gpu_session_open()
 * runs on a thread of its own, so a stop is never held up by an nvmlInit
 * that hangs, and a failure (the driver not loaded yet, as at boot, or the
 * library missing) is retried with backoff while the agent serves /health
 * and says why. */
#ifndef GPULSE_AGENT_START_H
#define GPULSE_AGENT_START_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/live.h"
#include "gpu/gpu.h"
#include "util/clock.h"
#include "util/common.h"

/* The wait after the first failed try; it doubles after each failure up
 * to the maximum, and each wait is lengthened by up to a fifth at random
 * so that agents started together (a fleet after a power cut) do not ask
 * their drivers in step. */
#define AGENT_START_FIRST_RETRY_MS CLOCK_SECOND_MS
#define AGENT_START_MAX_RETRY_MS   CLOCK_MINUTE_MS

/* How agent_start_open() waits. */
struct agent_start_opts {
    bool retry;                  /* retry failures (the running agent); else the first is final */
    struct agent_live *live;     /* told how it goes, for /health; may be NULL */
    volatile sig_atomic_t *stop; /* gives up as soon as this is set */
    const sigset_t *sleep_mask;  /* the signal mask to wait with: a signal wakes the wait */
    void (*woken)(const void *ctx); /* called after a signal woke the wait; may be NULL */
    const void *ctx;
};

/* Opens NVML with gopts on a thread of its own, which blocks every signal,
 * and waits for it, waking when its state changes and every 50 ms to take
 * the signals (blocked, they wait for that). A failed try is made again
 * after the backoff above, when o->retry; each distinct failure is logged
 * once, and the success after one. Returns 0 with *out the session (the
 * caller frees it with gpu_session_free()); 0 with *out NULL when *o->stop
 * was set first (a try under way is left to finish on its thread, which
 * then frees what it opened: a hung nvmlInit never holds up a stop); or,
 * without retry, the failure as gpu_session_open's, with err set; -EAGAIN
 * and the like when the thread cannot be started. */
GP_NODISCARD int agent_start_open(const struct gpu_options *gopts, const struct agent_start_opts *o,
                                  struct gpu_session **out, struct gp_err *err);

#endif
