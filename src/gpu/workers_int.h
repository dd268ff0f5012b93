/* Private to gpu/session.c: a thread per GPU, so that a GPU stuck in the
 * driver holds up only the thread inside its call, and the session waits
 * for each GPU until a deadline, not until the driver answers. The
 * session posts a job per GPU (a round), waits, and takes the results of
 * the jobs that ended; a job still running is reported and its GPU gets
 * no new job until it ends. */
#ifndef GPULSE_GPU_WORKERS_INT_H
#define GPULSE_GPU_WORKERS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/common.h"

struct gpu_workers;

/* A job: runs in worker i's thread; arg is what was posted with it. */
typedef void (*gpu_worker_fn)(void *arg);

/* Starts n threads for n GPUs (n >= 1), each with every signal blocked (signals are
 * the sampler's). Returns 0, or -errno with err set when a thread cannot be
 * started (those started are stopped again). */
GP_NODISCARD int gpu_workers_new(size_t n, struct gpu_workers **out, struct gp_err *err);

/* Queues the job fn(arg) for GPU i in the next round (gpu_workers_wait
 * starts it). Returns false, and queues nothing, when GPU i's job of an
 * earlier round is still running (a call that has not returned): the
 * caller reports that GPU without waiting. */
bool gpu_workers_post(struct gpu_workers *w, size_t i, gpu_worker_fn fn, void *arg);

/* Runs the jobs queued since the last round and waits until all have
 * ended or until the monotonic time deadline_us; done[i] then says which
 * did (false where posted[i] is false). A job not started by then is not
 * run; an ended job's results are the caller's from then on; a running
 * one's stay its thread's. */
void gpu_workers_wait(struct gpu_workers *w, const bool *posted, bool *done, uint64_t deadline_us);

/* Whether GPU i has no job running: its results, if any, are the
 * caller's. */
bool gpu_workers_idle(struct gpu_workers *w, size_t i);

/* How long GPU i's job has been running (us); 0 when none runs. */
uint64_t gpu_workers_busy_us(struct gpu_workers *w, size_t i);

/* Stops the threads: waits up to wait_ms for the running jobs to end and
 * joins every thread. Returns true when all ended and w is freed; false
 * when some job is still running (a call that did not return): those
 * threads are detached and end on their own once it returns; w stays
 * allocated for them, and so must whatever their jobs use. */
bool gpu_workers_free(struct gpu_workers *w, uint64_t wait_ms);

#endif
