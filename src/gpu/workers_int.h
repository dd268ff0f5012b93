/* Private to gpu/session.c: one thread per GPU, so that a GPU stuck in the
 * driver holds up only its own thread, and the session waits for each GPU
 * until a deadline, not until the driver answers. A worker runs one job at
 * a time; the session posts a job to every idle worker, waits, and takes
 * the results of those that finished. */
#ifndef GPULSE_GPU_WORKERS_INT_H
#define GPULSE_GPU_WORKERS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/common.h"

struct gpu_workers;

/* A job: runs in worker i's thread; arg is what was posted with it. */
typedef void (*gpu_worker_fn)(void *arg);

/* Starts n threads (n >= 1), each with every signal blocked (signals are
 * the sampler's). Returns 0, or -errno with err set when a thread cannot be
 * started (those started are stopped again). */
GP_NODISCARD int gpu_workers_new(size_t n, struct gpu_workers **out, struct gp_err *err);

/* Gives worker i the job fn(arg). Returns false, and posts nothing, when
 * the worker is still running an earlier job (a call that has not
 * returned): the caller reports that GPU without waiting. */
bool gpu_workers_post(struct gpu_workers *w, size_t i, gpu_worker_fn fn, void *arg);

/* Waits until every worker whose posted[i] is true has finished its job,
 * or until the monotonic time deadline_us; done[i] then says which did
 * (false where nothing was posted). A finished job's results are the
 * caller's from then on; an unfinished one's stay the worker's. */
void gpu_workers_wait(struct gpu_workers *w, const bool *posted, bool *done, uint64_t deadline_us);

/* Whether worker i has no job: its job's results, if any, are the
 * caller's. */
bool gpu_workers_idle(struct gpu_workers *w, size_t i);

/* How long worker i has been running its job (us); 0 when idle. */
uint64_t gpu_workers_busy_us(struct gpu_workers *w, size_t i);

/* Stops the workers: waits up to wait_ms for the running jobs to end and
 * joins every thread. Returns true when all ended and w is freed; false
 * when some job is still running (a call that did not return): those
 * threads are detached and end on their own once it returns; w stays
 * allocated for them, and so must whatever their jobs use. */
bool gpu_workers_free(struct gpu_workers *w, uint64_t wait_ms);

#endif
