/* The agent daemon: samples every GPU on a fixed monotonic schedule and
 * hands each snapshot to a writer thread, which stores a batch per flush
 * interval. The sampler never waits on the disk. */
#ifndef GPULSE_AGENT_AGENT_H
#define GPULSE_AGENT_AGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "config/config.h"
#include "util/common.h"

struct agent_options {
    const struct config *cfg;
    bool once;                     /* one sample, stored, then exit; serves nothing */
    volatile sig_atomic_t *stop;   /* set by SIGTERM/SIGINT handlers */
    volatile sig_atomic_t *reopen; /* set by SIGHUP: reopen the log file */
    FILE *announce;                /* told the dashboard's URL once serving; may be NULL */
};

/* Runs until *stop is set (or after one sample with once). Unless once or
 * cfg->http_listen is "off", it serves the dashboard, API and metrics
 * (http/http.h) from the moment the database is open until it stops,
 * publishing each tick to the server as a live frame; until the first,
 * /health says "starting" and why. NVML is opened on a thread of its own
 * (agent/start.h) and, unless once, retried with backoff until it opens;
 * a stop never waits on it, and returns within 2 s of *stop being set
 * whatever NVML does (the final flush stores every tick read). SIGTERM,
 * SIGINT and SIGHUP are blocked in the calling thread while it runs but
 * while it sleeps, so one that sets *stop or *reopen wakes it at once.
 * Returns 0 (also when stopped before NVML opened), or a negative code
 * with err set when it cannot start: the database (as store_open), -EBUSY
 * when another agent holds the database, proc_root unreadable (as
 * proc_reader_init), the HTTP server (as http_server_start), or with once
 * NVML (-ENOENT, -ENOSYS, -EIO, -ENODEV as gpu_session_open). */
GP_NODISCARD int agent_run(const struct agent_options *opts, struct gp_err *err);

#endif
