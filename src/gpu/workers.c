/* One thread per GPU (workers_int.h). One lock guards every worker's
 * state; each worker waits on its own condition for a job, and the session
 * on one shared condition for jobs to end. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu/workers_int.h"
#include "util/clock.h"
#include "util/xalloc.h"

struct gpu_worker {
    struct gpu_workers *pool;
    pthread_t thread;
    pthread_cond_t wake;
    gpu_worker_fn fn; /* the job posted; NULL when none waits */
    void *arg;
    bool running;      /* a job is posted or running */
    bool started;      /* the thread exists */
    bool exited;       /* the thread has left its loop */
    uint64_t since_us; /* when the running job was posted (monotonic) */
};

struct gpu_workers {
    pthread_mutex_t lock;
    pthread_cond_t done; /* a job ended, or a thread exited */
    bool stop;
    size_t n;
    struct gpu_worker *w;
};

static void *worker_main(void *p)
{
    struct gpu_worker *me = p;
    struct gpu_workers *pool = me->pool;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!me->fn && !pool->stop) {
            pthread_cond_wait(&me->wake, &pool->lock);
        }
        if (!me->fn) {
            break;
        }
        gpu_worker_fn fn = me->fn;
        void *arg = me->arg;
        pthread_mutex_unlock(&pool->lock);
        fn(arg);
        pthread_mutex_lock(&pool->lock);
        me->fn = NULL;
        me->running = false;
        pthread_cond_broadcast(&pool->done);
    }
    me->exited = true;
    pthread_cond_broadcast(&pool->done);
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/* A condition whose timed waits run on the monotonic clock. */
static void cond_init_monotonic(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
}

/* Waits on pool->done until the monotonic time deadline_us; false once
 * it has passed. Called with the lock held. */
static bool wait_until(struct gpu_workers *pool, uint64_t deadline_us)
{
    uint64_t now = clock_monotonic_us();
    if (now >= deadline_us) {
        return false;
    }
    struct timespec ts = { .tv_sec = (time_t)(deadline_us / 1000000),
                           .tv_nsec = (long)(deadline_us % 1000000) * 1000 };
    pthread_cond_timedwait(&pool->done, &pool->lock, &ts);
    return true;
}

int gpu_workers_new(size_t n, struct gpu_workers **out, struct gp_err *err)
{
    struct gpu_workers *pool = xcalloc(1, sizeof(*pool));
    pthread_mutex_init(&pool->lock, NULL);
    cond_init_monotonic(&pool->done);
    pool->n = n;
    pool->w = xcalloc(n ? n : 1, sizeof(*pool->w));
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct gpu_worker *w = &pool->w[i];
        w->pool = pool;
        pthread_cond_init(&w->wake, NULL);
        rc = pthread_create(&w->thread, NULL, worker_main, w);
        w->started = rc == 0;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        (void)gpu_workers_free(pool, 0);
        return gp_err_set(err, -rc, "cannot start a thread to read a GPU: %s", strerror(rc));
    }
    *out = pool;
    return 0;
}

bool gpu_workers_post(struct gpu_workers *pool, size_t i, gpu_worker_fn fn, void *arg)
{
    pthread_mutex_lock(&pool->lock);
    struct gpu_worker *w = &pool->w[i];
    bool idle = !w->running;
    if (idle) {
        w->fn = fn;
        w->arg = arg;
        w->running = true;
        w->since_us = clock_monotonic_us();
        pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&pool->lock);
    return idle;
}

void gpu_workers_wait(struct gpu_workers *pool, const bool *posted, bool *done,
                      uint64_t deadline_us)
{
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        bool all = true;
        for (size_t i = 0; i < pool->n; i++) {
            done[i] = posted[i] && !pool->w[i].running;
            all = all && (!posted[i] || done[i]);
        }
        if (all || !wait_until(pool, deadline_us)) {
            break;
        }
    }
    pthread_mutex_unlock(&pool->lock);
}

bool gpu_workers_idle(struct gpu_workers *pool, size_t i)
{
    pthread_mutex_lock(&pool->lock);
    bool idle = !pool->w[i].running;
    pthread_mutex_unlock(&pool->lock);
    return idle;
}

uint64_t gpu_workers_busy_us(struct gpu_workers *pool, size_t i)
{
    pthread_mutex_lock(&pool->lock);
    const struct gpu_worker *w = &pool->w[i];
    uint64_t since = w->running ? w->since_us : 0;
    pthread_mutex_unlock(&pool->lock);
    uint64_t now = clock_monotonic_us();
    return since && now > since ? now - since : 0;
}

bool gpu_workers_free(struct gpu_workers *pool, uint64_t wait_ms)
{
    if (!pool) {
        return true;
    }
    uint64_t deadline = clock_monotonic_us() + wait_ms * 1000;
    pthread_mutex_lock(&pool->lock);
    pool->stop = true;
    for (size_t i = 0; i < pool->n; i++) {
        pthread_cond_signal(&pool->w[i].wake);
    }
    bool all = false;
    for (;;) {
        all = true;
        for (size_t i = 0; i < pool->n; i++) {
            all = all && (!pool->w[i].started || pool->w[i].exited);
        }
        if (all || !wait_until(pool, deadline)) {
            break;
        }
    }
    pthread_mutex_unlock(&pool->lock);
    if (!all) {
        /* A thread inside a call that has not returned: it ends on its own
         * afterwards (stop is set) and still needs pool. */
        for (size_t i = 0; i < pool->n; i++) {
            if (pool->w[i].started) {
                pthread_detach(pool->w[i].thread);
            }
        }
        return false;
    }
    for (size_t i = 0; i < pool->n; i++) {
        if (pool->w[i].started) {
            pthread_join(pool->w[i].thread, NULL);
        }
        pthread_cond_destroy(&pool->w[i].wake);
    }
    pthread_cond_destroy(&pool->done);
    pthread_mutex_destroy(&pool->lock);
    free(pool->w);
    free(pool);
    return true;
}
