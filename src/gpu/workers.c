/* The GPU threads (workers_int.h). A thread per GPU, but a round does not
 * wake them all: one thread takes the posted jobs one after another, and
 * only when the round runs long (a job still running after
 * GPU_WORKERS_STALL_US) is another woken to take the jobs left, and so on.
 * A healthy round costs two wake-ups whatever the number of GPUs (a
 * thread per job cost 2.4 times the CPU per GPU-sample at 100 ms:
 * docs/performance.md); a GPU stuck in a call holds only the thread in it.
 * One lock guards everything. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu/workers_int.h"
#include "util/clock.h"
#include "util/xalloc.h"

/* How long a round runs before one more thread is woken to take the jobs
 * left: a read of one GPU costs about 7 ms on an H200 (nvml-costs.md). */
#define GPU_WORKERS_STALL_US 20000ULL

enum job_state {
    JOB_FREE,
    JOB_QUEUED,
    JOB_RUNNING,
    JOB_DONE
};

struct gpu_job {
    gpu_worker_fn fn;
    void *arg;
    enum job_state state;
    uint64_t round;    /* the round it was posted in */
    uint64_t since_us; /* when it started running (monotonic) */
};

struct gpu_thread {
    struct gpu_workers *pool;
    pthread_t thread;
    pthread_cond_t wake;
    bool go;      /* woken to take jobs; false again once none is left */
    bool started; /* the thread exists */
    bool exited;  /* the thread has left its loop */
};

struct gpu_workers {
    pthread_mutex_t lock;
    pthread_cond_t done; /* the round's last job ended, or a thread exited */
    bool stop;
    uint64_t round;
    size_t queued;  /* jobs of this round not yet taken */
    size_t pending; /* jobs of this round not yet ended */
    size_t n;
    struct gpu_job *jobs;
    struct gpu_thread *t;
};

/* The next job of this round to run, or NULL. Called with the lock held. */
static struct gpu_job *take(struct gpu_workers *pool)
{
    for (size_t i = 0; i < pool->n && pool->queued; i++) {
        struct gpu_job *j = &pool->jobs[i];
        if (j->state == JOB_QUEUED && j->round == pool->round) {
            j->state = JOB_RUNNING;
            j->since_us = clock_monotonic_us();
            pool->queued--;
            return j;
        }
    }
    return NULL;
}

/* Marks job j ended: done if its round is still on, else free again (a
 * late answer, whose result nobody takes). Called with the lock held. */
static void end_job(struct gpu_workers *pool, struct gpu_job *j)
{
    if (j->round == pool->round && !pool->stop) {
        j->state = JOB_DONE;
        if (--pool->pending == 0) {
            pthread_cond_signal(&pool->done);
        }
    } else {
        j->state = JOB_FREE;
    }
}

static void *thread_main(void *p)
{
    struct gpu_thread *me = p;
    struct gpu_workers *pool = me->pool;
    pthread_mutex_lock(&pool->lock);
    while (!pool->stop) {
        if (!me->go) {
            pthread_cond_wait(&me->wake, &pool->lock);
            continue;
        }
        struct gpu_job *j = take(pool);
        if (!j) {
            me->go = false;
            continue;
        }
        pthread_mutex_unlock(&pool->lock);
        j->fn(j->arg);
        pthread_mutex_lock(&pool->lock);
        end_job(pool, j);
    }
    me->exited = true;
    pthread_cond_broadcast(&pool->done);
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/* Wakes an idle thread to take jobs; false when none is idle. Called with
 * the lock held. */
static bool wake_one(struct gpu_workers *pool)
{
    for (size_t i = 0; i < pool->n; i++) {
        struct gpu_thread *t = &pool->t[i];
        if (t->started && !t->go) {
            t->go = true;
            pthread_cond_signal(&t->wake);
            return true;
        }
    }
    return false;
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

/* Waits on pool->done until the monotonic time until_us. Called with the
 * lock held. */
static void wait_until(struct gpu_workers *pool, uint64_t until_us)
{
    struct timespec ts = { .tv_sec = (time_t)(until_us / 1000000),
                           .tv_nsec = (long)(until_us % 1000000) * 1000 };
    pthread_cond_timedwait(&pool->done, &pool->lock, &ts);
}

int gpu_workers_new(size_t n, struct gpu_workers **out, struct gp_err *err)
{
    struct gpu_workers *pool = xcalloc(1, sizeof(*pool));
    pthread_mutex_init(&pool->lock, NULL);
    cond_init_monotonic(&pool->done);
    pool->n = n;
    pool->jobs = xcalloc(n ? n : 1, sizeof(*pool->jobs));
    pool->t = xcalloc(n ? n : 1, sizeof(*pool->t));
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct gpu_thread *t = &pool->t[i];
        t->pool = pool;
        pthread_cond_init(&t->wake, NULL);
        rc = pthread_create(&t->thread, NULL, thread_main, t);
        t->started = rc == 0;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        (void)gpu_workers_free(pool, GPU_WORKERS_STALL_US / 1000);
        return gp_err_set(err, -rc, "cannot start a thread to read a GPU: %s", strerror(rc));
    }
    *out = pool;
    return 0;
}

bool gpu_workers_post(struct gpu_workers *pool, size_t i, gpu_worker_fn fn, void *arg)
{
    pthread_mutex_lock(&pool->lock);
    struct gpu_job *j = &pool->jobs[i];
    bool free_now = j->state != JOB_RUNNING;
    if (free_now) {
        /* For the next round, which gpu_workers_wait starts. */
        *j =
            (struct gpu_job){ .fn = fn, .arg = arg, .state = JOB_QUEUED, .round = pool->round + 1 };
    }
    pthread_mutex_unlock(&pool->lock);
    return free_now;
}

void gpu_workers_wait(struct gpu_workers *pool, const bool *posted, bool *done,
                      uint64_t deadline_us)
{
    pthread_mutex_lock(&pool->lock);
    /* The round the posts were made for starts now. */
    pool->round++;
    pool->queued = 0;
    for (size_t i = 0; i < pool->n; i++) {
        pool->queued += pool->jobs[i].state == JOB_QUEUED && pool->jobs[i].round == pool->round;
    }
    pool->pending = pool->queued;
    if (pool->queued) {
        wake_one(pool);
    }
    uint64_t next_wake = clock_monotonic_us() + GPU_WORKERS_STALL_US;
    while (pool->pending) {
        uint64_t now = clock_monotonic_us();
        if (now >= deadline_us) {
            break;
        }
        if (now >= next_wake) {
            /* A job runs long: another thread takes the jobs left. */
            if (pool->queued) {
                wake_one(pool);
            }
            next_wake = now + GPU_WORKERS_STALL_US;
        }
        wait_until(pool, next_wake < deadline_us ? next_wake : deadline_us);
    }
    for (size_t i = 0; i < pool->n; i++) {
        struct gpu_job *j = &pool->jobs[i];
        done[i] = posted[i] && j->state == JOB_DONE && j->round == pool->round;
        if (j->state == JOB_DONE || j->state == JOB_QUEUED) {
            j->state = JOB_FREE; /* a job not taken in time is not run */
        }
    }
    pool->queued = 0;
    pool->pending = 0;
    pthread_mutex_unlock(&pool->lock);
}

bool gpu_workers_idle(struct gpu_workers *pool, size_t i)
{
    pthread_mutex_lock(&pool->lock);
    bool idle = pool->jobs[i].state != JOB_RUNNING;
    pthread_mutex_unlock(&pool->lock);
    return idle;
}

uint64_t gpu_workers_busy_us(struct gpu_workers *pool, size_t i)
{
    pthread_mutex_lock(&pool->lock);
    const struct gpu_job *j = &pool->jobs[i];
    uint64_t since = j->state == JOB_RUNNING ? j->since_us : 0;
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
        pthread_cond_signal(&pool->t[i].wake);
    }
    bool all = false;
    for (;;) {
        all = true;
        for (size_t i = 0; i < pool->n; i++) {
            all = all && (!pool->t[i].started || pool->t[i].exited);
        }
        if (all || clock_monotonic_us() >= deadline) {
            break;
        }
        wait_until(pool, deadline);
    }
    pthread_mutex_unlock(&pool->lock);
    if (!all) {
        /* A thread inside a call that has not returned: it ends on its own
         * afterwards (stop is set) and still needs pool. */
        for (size_t i = 0; i < pool->n; i++) {
            if (pool->t[i].started) {
                pthread_detach(pool->t[i].thread);
            }
        }
        return false;
    }
    for (size_t i = 0; i < pool->n; i++) {
        if (pool->t[i].started) {
            pthread_join(pool->t[i].thread, NULL);
        }
        pthread_cond_destroy(&pool->t[i].wake);
    }
    pthread_cond_destroy(&pool->done);
    pthread_mutex_destroy(&pool->lock);
    free(pool->jobs);
    free(pool->t);
    free(pool);
    return true;
}
