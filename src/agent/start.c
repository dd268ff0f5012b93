#include "agent/start.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/xalloc.h"

struct agent_start_state {
    bool done;              /* the session is open: take() it */
    bool gave_up;           /* a try failed and retrying was not asked for */
    bool trying;            /* a try is under way (nvmlInit may take long) */
    unsigned tries;         /* tries begun so far */
    int64_t first_try_ms;   /* Unix ms the first try began */
    int64_t try_started_ms; /* Unix ms the last try began */
    int64_t retry_at_ms;    /* Unix ms of the next try while waiting for it, else 0 */
    int rc;                 /* the last failure's code, as gpu_session_open's; 0: none */
    char error[sizeof(((struct gp_err *)0)->msg)]; /* and its message */
};

struct agent_start {
    pthread_mutex_t lock;   /* guards everything below */
    pthread_cond_t wake;    /* abandoned was set (on CLOCK_MONOTONIC) */
    pthread_cond_t changed; /* st changed: version moved on (CLOCK_MONOTONIC) */
    unsigned version;
    struct agent_start_state st;
    struct gpu_session *session; /* opened, not yet taken */
    bool abandoned;
    int refs; /* the owner and the thread: the last one frees */
    /* The thread's alone: */
    struct gpu_options opts;
    char *nvml_lib;
    char *proc_root;
    bool retry;
    uint64_t rand_state;
};

static void start_free(struct agent_start *s)
{
    gpu_session_free(s->session);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    free(s->nvml_lib);
    free(s->proc_root);
    free(s);
}

/* Drops one reference, with the lock held (and released here). */
static void start_unref(struct agent_start *s)
{
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (last) {
        start_free(s);
    }
}

/* The wait before the next try: delay_ms plus up to a fifth more. */
static uint64_t with_jitter(struct agent_start *s, uint64_t delay_ms)
{
    /* xorshift64: spreading agents apart needs no better randomness. */
    uint64_t x = s->rand_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s->rand_state = x;
    return delay_ms + x % (delay_ms / 5 + 1);
}

/* The CLOCK_MONOTONIC time wait_ms from now. */
static struct timespec deadline_in(uint64_t wait_ms)
{
    struct timespec deadline = { 0 };
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    uint64_t ns = (uint64_t)deadline.tv_nsec + wait_ms % 1000 * 1000000;
    deadline.tv_sec += (time_t)(wait_ms / 1000 + ns / 1000000000);
    deadline.tv_nsec = (long)(ns % 1000000000);
    return deadline;
}

/* Waits wait_ms for the owner to abandon s; called and returns with the
 * lock held. */
static void wait_abandoned(struct agent_start *s, uint64_t wait_ms)
{
    struct timespec deadline = deadline_in(wait_ms);
    while (!s->abandoned && pthread_cond_timedwait(&s->wake, &s->lock, &deadline) != ETIMEDOUT) {
    }
}

/* Tells the owner that st changed; with the lock held. */
static void note_change(struct agent_start *s)
{
    s->version++;
    pthread_cond_broadcast(&s->changed);
}

/* msg on one line, for the log and /health: the lines of advice meant
 * for a terminal (gpu_session_open's) are joined with "; " (" " after a
 * colon). */
static void one_line(char *dst, size_t size, const char *msg)
{
    size_t n = 0;
    for (const char *p = msg; *p && n + 3 < size; p++) {
        if (*p != '\n') {
            dst[n++] = *p;
            continue;
        }
        if (n > 0 && dst[n - 1] != ':') {
            dst[n++] = ';';
        }
        dst[n++] = ' ';
        while (p[1] == ' ') {
            p++;
        }
    }
    dst[n] = '\0';
}

static void *start_main(void *arg)
{
    struct agent_start *s = arg;
    uint64_t delay_ms = AGENT_START_FIRST_RETRY_MS;
    pthread_mutex_lock(&s->lock);
    s->st.first_try_ms = clock_realtime_ms();
    while (!s->abandoned) {
        s->st.trying = true;
        s->st.tries++;
        s->st.retry_at_ms = 0;
        s->st.try_started_ms = clock_realtime_ms();
        note_change(s);
        pthread_mutex_unlock(&s->lock);
        struct gpu_session *session = NULL;
        struct gp_err err = { 0 };
        int rc = gpu_session_open(&s->opts, &session, &err);
        pthread_mutex_lock(&s->lock);
        s->st.trying = false;
        if (rc == 0) {
            /* Freed with s if the owner has gone meanwhile. */
            s->session = session;
            s->st.done = true;
            note_change(s);
            break;
        }
        s->st.rc = rc;
        one_line(s->st.error, sizeof(s->st.error), err.msg);
        if (!s->retry) {
            s->st.gave_up = true;
            note_change(s);
            break;
        }
        uint64_t wait_ms = with_jitter(s, delay_ms);
        s->st.retry_at_ms = clock_realtime_ms() + (int64_t)wait_ms;
        note_change(s);
        wait_abandoned(s, wait_ms);
        delay_ms =
            2 * delay_ms < AGENT_START_MAX_RETRY_MS ? 2 * delay_ms : AGENT_START_MAX_RETRY_MS;
    }
    start_unref(s);
    return NULL;
}

/* Begins opening NVML with opts (copied, strings included) on a detached
 * thread that blocks every signal. With retry, a failed try is made again
 * after the backoff until it succeeds or the owner abandons it; without,
 * the first failure is final (gave_up). Returns it, or NULL with err set
 * (a negative errno) when the thread cannot be started. The owner ends it
 * with take() or abandon(). */
static struct agent_start *begin(const struct gpu_options *opts, bool retry, struct gp_err *err)
{
    struct agent_start *s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &attr);
    pthread_cond_init(&s->changed, &attr);
    pthread_condattr_destroy(&attr);
    s->opts = *opts;
    s->nvml_lib = opts->nvml_lib ? xstrdup(opts->nvml_lib) : NULL;
    s->proc_root = opts->proc_root ? xstrdup(opts->proc_root) : NULL;
    s->opts.nvml_lib = s->nvml_lib;
    s->opts.proc_root = s->proc_root;
    s->retry = retry;
    s->rand_state = clock_monotonic_us() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ULL;
    s->refs = 2;

    /* Signals are for the sampler to see; a detached thread, since a hung
     * nvmlInit must never be joined. */
    pthread_attr_t tattr;
    pthread_attr_init(&tattr);
    pthread_attr_setdetachstate(&tattr, PTHREAD_CREATE_DETACHED);
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_t thread;
    int prc = pthread_create(&thread, &tattr, start_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&tattr);
    if (prc != 0) {
        start_free(s);
        gp_err_set(err, -prc, "cannot start the thread that opens NVML: %s", strerror(prc));
        return NULL;
    }
    return s;
}

/* Copies the state into out once it changed since *seen (a version, moved
 * on here), or after wait_ms; never waits on NVML longer. */
static void state_after(struct agent_start *s, unsigned *seen, uint64_t wait_ms,
                        struct agent_start_state *out)
{
    struct timespec deadline = deadline_in(wait_ms);
    pthread_mutex_lock(&s->lock);
    while (s->version == *seen &&
           pthread_cond_timedwait(&s->changed, &s->lock, &deadline) != ETIMEDOUT) {
    }
    *seen = s->version;
    *out = s->st;
    pthread_mutex_unlock(&s->lock);
}

/* Once the state says done: the open session. Frees s. */
static struct gpu_session *take(struct agent_start *s)
{
    pthread_mutex_lock(&s->lock);
    struct gpu_session *session = s->session;
    s->session = NULL;
    s->abandoned = true;
    start_unref(s);
    return session;
}

/* Gives up on s without waiting: a try under way is left to finish on its
 * thread, which then frees what it opened. Frees s, or leaves it to the
 * thread. */
static void abandon(struct agent_start *s)
{
    pthread_mutex_lock(&s->lock);
    s->abandoned = true;
    pthread_cond_signal(&s->wake);
    start_unref(s);
}

/* Tells live how opening NVML goes. */
static void note_starting(struct agent_live *live, const struct agent_start_state *st)
{
    if (!live) {
        return;
    }
    struct agent_live_starting ls = {
        .trying = st->trying,
        .nvml_up = st->done,
        .tries = st->tries,
        .since_ms = st->trying ? st->try_started_ms : 0,
        .retry_at_ms = st->retry_at_ms,
    };
    snprintf(ls.error, sizeof(ls.error), "%s", st->error);
    agent_live_note_starting(live, &ls);
}

int agent_start_open(const struct gpu_options *gopts, const struct agent_start_opts *o,
                     struct gpu_session **out, struct gp_err *err)
{
    *out = NULL;
    struct agent_start *s = begin(gopts, o->retry, err);
    if (!s) {
        return err->code;
    }
    char logged[sizeof(err->msg)] = "";
    unsigned seen = 0;
    for (;;) {
        /* Wakes when the state changes, and every 50 ms to take the
         * signals, which wait blocked meanwhile. */
        struct agent_start_state st;
        state_after(s, &seen, 50, &st);
        struct timespec now = { 0 };
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (clock_sleep_until(&now, o->sleep_mask) == EINTR && o->woken) {
            o->woken(o->ctx);
        }
        note_starting(o->live, &st);
        if (st.done) {
            *out = take(s);
            if (st.tries > 1) {
                log_warn("gpu", "NVML works now, after %u tries in %lld s", st.tries,
                         (long long)(clock_realtime_ms() - st.first_try_ms) / CLOCK_SECOND_MS);
            }
            return 0;
        }
        if (st.gave_up) {
            abandon(s);
            return gp_err_set(err, st.rc, "%s", st.error);
        }
        if (st.error[0] && strcmp(st.error, logged) != 0) {
            log_warn("gpu",
                     "cannot open NVML (retrying in %lld s, then less and less often, at most "
                     "every %lld s): %s",
                     (long long)(st.retry_at_ms - clock_realtime_ms() + 500) / 1000,
                     AGENT_START_MAX_RETRY_MS / CLOCK_SECOND_MS, st.error);
            snprintf(logged, sizeof(logged), "%s", st.error);
        }
        if (*o->stop) {
            abandon(s);
            log_info("agent", "stopped before NVML could be opened (%u tries)", st.tries);
            return 0;
        }
    }
}
