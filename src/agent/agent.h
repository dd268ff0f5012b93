/* The agent daemon: samples every GPU on a fixed monotonic schedule and
 * hands each snapshot to a writer thread, which stores a batch per flush
 * interval. The sampler never waits on the disk. */
#ifndef GPULSE_AGENT_AGENT_H
#define GPULSE_AGENT_AGENT_H

#include <signal.h>
#include <stdbool.h>

#include "util/common.h"
#include "util/config.h"

struct agent_options {
    const struct config *cfg;
    bool once;                     /* one sample, stored, then exit */
    volatile sig_atomic_t *stop;   /* set by SIGTERM/SIGINT handlers */
    volatile sig_atomic_t *reopen; /* set by SIGHUP: reopen the log file */
};

/* Runs until *stop is set (or after one sample with once). Returns 0, or a
 * negative code with err set when it cannot start: NVML (-ENOENT, -EIO,
 * -ENODEV as gpu_session_open), the database (as store_open), or -EBUSY
 * when another agent holds the database. */
GP_NODISCARD int agent_run(const struct agent_options *opts, struct gp_err *err);

#endif
