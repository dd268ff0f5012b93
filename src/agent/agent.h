/* The agent daemon: samples every GPU on a fixed monotonic schedule and
 * hands each snapshot to a writer thread, which stores a batch per flush
 * interval. The sampler never waits on the disk. */
#ifndef GPULSE_AGENT_AGENT_H
#define GPULSE_AGENT_AGENT_H

#include <signal.h>
#include <stdbool.h>

#include "agent/live.h"
#include "util/common.h"
#include "util/config.h"

struct agent_options {
    const struct config *cfg;
    bool once;                     /* one sample, stored, then exit */
    volatile sig_atomic_t *stop;   /* set by SIGTERM/SIGINT handlers */
    volatile sig_atomic_t *reopen; /* set by SIGHUP: reopen the log file */
    struct agent_live *live;       /* where each tick is published; NULL: nowhere */
    /* Called once the database and NVML are open, before the first tick
     * (the HTTP server starts here); a non-zero return stops the agent with
     * that error. on_stop is called before the agent closes what it opened.
     * Both may be NULL. */
    int (*on_ready)(void *arg, struct gp_err *err);
    void (*on_stop)(void *arg);
    void *hook_arg;
};

/* Runs until *stop is set (or after one sample with once). Returns 0, or a
 * negative code with err set when it cannot start: NVML (-ENOENT, -EIO,
 * -ENODEV as gpu_session_open), the database (as store_open), or -EBUSY
 * when another agent holds the database. */
GP_NODISCARD int agent_run(const struct agent_options *opts, struct gp_err *err);

#endif
