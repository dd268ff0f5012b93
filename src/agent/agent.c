#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/live.h"
#include "agent/lockfile.h"
#include "agent/queue.h"
#include "agent/start.h"
#include "gpu/gpu.h"
#include "http/http.h"
#include "proc/procinfo.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

/* How many snapshots may wait for the disk: two flush intervals' worth,
 * at least a minute of samples, at most an hour. */
static size_t queue_capacity(const struct config *cfg)
{
    uint64_t n = 2 * cfg->flush_interval_ms / cfg->interval_ms;
    uint64_t minute = 60000 / cfg->interval_ms;
    n = n > minute ? n : minute;
    uint64_t hour = 3600000 / cfg->interval_ms;
    return (size_t)(n < hour ? n : hour) + 1;
}

/* ---------------------------------------------------------- the writer -- */

struct writer {
    struct agent_queue *queue;
    struct store *store;
    struct store_retention retention;
    int64_t next_prune_ms;  /* wall clock; retention runs hourly */
    bool prune_in_progress; /* a prune ran out of its budget: go on next flush */
    struct store_prune_result prune;
    uint64_t flush_interval_ms;
    uint64_t period_ms;
    size_t max_pending;
    volatile uint64_t *missed_ticks; /* the sampler's count, stored with each flush */
    pthread_mutex_t *missed_lock;
    struct agent_live *live; /* told how each flush went; may be NULL */
    bool any_failed;         /* a flush failed in this run: the file may be damaged */
    int last_error;          /* of the last flush: 0, or a negative code */
    struct gp_err last_err;  /* what it was */
    /* The versions the sampler read, handed over once NVML is open: the
     * database connection is the writer's alone. */
    pthread_mutex_t versions_lock; /* guards the two below */
    bool versions_handed;
    struct gpu_system versions;
};

/* Writes what is pending; on failure keeps it for the next flush and logs
 * the first failure of a run of them, not every retry. */
static bool flush(struct writer *w, struct gpu_snapshot **pending, size_t *n, int *last_error)
{
    if (*n == 0) {
        return true;
    }
    struct gp_err err = { 0 };
    int rc =
        store_write(w->store, (const struct gpu_snapshot *const *)pending, *n, w->period_ms, &err);
    if (w->live) {
        int64_t oldest_ms = INT64_MAX;
        for (size_t i = 0; i < *n; i++) {
            oldest_ms = pending[i]->time_ms < oldest_ms ? pending[i]->time_ms : oldest_ms;
        }
        agent_live_note_flush(w->live, rc, err.msg, clock_realtime_ms(),
                              store_changes_from_ms(oldest_ms));
    }
    if (rc != 0) {
        if (rc != *last_error) {
            log_error("store", "%s; keeping %zu samples in memory and retrying", err.msg, *n);
        }
        *last_error = rc;
        w->last_err = err;
        w->any_failed = true;
        return false;
    }
    if (*last_error) {
        log_warn("store", "writing works again; %zu samples stored", *n);
        *last_error = 0;
    }
    for (size_t i = 0; i < *n; i++) {
        agent_queue_recycle(w->queue, pending[i]);
    }
    *n = 0;

    uint64_t pushed = 0;
    uint64_t dropped = 0;
    agent_queue_counters(w->queue, &pushed, &dropped);
    pthread_mutex_lock(w->missed_lock);
    uint64_t missed = *w->missed_ticks;
    pthread_mutex_unlock(w->missed_lock);
    char value[32];
    snprintf(value, sizeof(value), "%llu", (unsigned long long)dropped);
    if (store_put_meta(w->store, "agent.queue_drops", value, &err) == 0) {
        snprintf(value, sizeof(value), "%llu", (unsigned long long)missed);
        if (store_put_meta(w->store, "agent.missed_ticks", value, &err) != 0) {
            log_debug("store", "%s", err.msg);
        }
    }
    return true;
}

/* Retention is applied hourly, in slices of at most PRUNE_BUDGET_MS after a
 * flush, so it never holds up the next flush for long. */
#define PRUNE_EVERY_MS  CLOCK_HOUR_MS
#define PRUNE_BUDGET_MS 200

static void prune_if_due(struct writer *w)
{
    int64_t now = clock_realtime_ms();
    if (!w->prune_in_progress && now < w->next_prune_ms) {
        return;
    }
    if (!w->prune_in_progress) {
        w->prune = (struct store_prune_result){ 0 };
    }
    struct gp_err err = { 0 };
    if (store_prune(w->store, &w->retention, now, PRUNE_BUDGET_MS, &w->prune, &err) != 0) {
        log_error("store", "retention: %s", err.msg);
        w->prune_in_progress = false;
        w->next_prune_ms = now + PRUNE_EVERY_MS;
        return;
    }
    w->prune_in_progress = !w->prune.finished;
    if (w->live && w->prune.rows_deleted) {
        agent_live_note_change(w->live);
    }
    if (w->prune.finished) {
        w->next_prune_ms = now + PRUNE_EVERY_MS;
        if (w->prune.rows_deleted || w->prune.pages_freed) {
            log_info("store", "retention: %lld rows deleted, %lld pages returned",
                     (long long)w->prune.rows_deleted, (long long)w->prune.pages_freed);
        }
    }
}

static void record_versions(struct store *s, const struct gpu_system *sys)
{
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    char cuda[32] = "";
    gpu_cuda_version_format(sys, cuda, sizeof(cuda));
    const char *const pairs[][2] = {
        { "host", host },
        { "driver_version", sys->driver_version },
        { "nvml_version", sys->nvml_version },
        { "cuda_version", cuda },
        { "gpulse_version", GPULSE_VERSION },
    };
    struct gp_err err = { 0 };
    for (size_t i = 0; i < GP_ARRAY_LEN(pairs); i++) {
        if (store_put_meta(s, pairs[i][0], pairs[i][1], &err) != 0) {
            log_warn("store", "%s", err.msg);
            return;
        }
    }
}

/* Stores the versions the sampler handed over, once. */
static void record_versions_if_handed(struct writer *w)
{
    pthread_mutex_lock(&w->versions_lock);
    bool handed = w->versions_handed;
    struct gpu_system sys = w->versions;
    w->versions_handed = false;
    pthread_mutex_unlock(&w->versions_lock);
    if (handed) {
        record_versions(w->store, &sys);
    }
}

/* The sampler: hands the versions read with the first tick to the writer. */
static void hand_versions(struct writer *w, const struct gpu_system *sys)
{
    pthread_mutex_lock(&w->versions_lock);
    w->versions = *sys;
    w->versions_handed = true;
    pthread_mutex_unlock(&w->versions_lock);
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct gpu_snapshot **pending = xcalloc(w->max_pending, sizeof(struct gpu_snapshot *));
    size_t n = 0;
    struct clock_schedule flushes;
    clock_schedule_init(&flushes, w->flush_interval_ms);
    clock_schedule_next(&flushes);
    for (;;) {
        agent_queue_wait(w->queue, &flushes.next);
        /* Gather everything queued; past the cap, the oldest pending go. */
        struct gpu_snapshot *got[256];
        size_t k = 0;
        while ((k = agent_queue_take(w->queue, got, GP_ARRAY_LEN(got), NULL)) > 0) {
            for (size_t i = 0; i < k; i++) {
                if (n == w->max_pending) {
                    agent_snapshot_free(pending[0]);
                    memmove(pending, pending + 1, (n - 1) * sizeof(struct gpu_snapshot *));
                    n--;
                    agent_queue_count_drops(w->queue, 1);
                }
                pending[n++] = got[i];
            }
        }
        record_versions_if_handed(w);
        bool written = flush(w, pending, &n, &w->last_error);
        if (written) {
            prune_if_due(w);
        }
        if (agent_queue_finished(w->queue)) {
            if (!written && n > 0) {
                log_error("store", "stopping with %zu samples that could not be written", n);
            }
            break;
        }
        /* The next flush on the fixed schedule, skipping any that a slow
         * write overran. */
        clock_schedule_next(&flushes);
    }
    for (size_t i = 0; i < n; i++) {
        agent_snapshot_free(pending[i]);
    }
    free(pending);
    return NULL;
}

/* --------------------------------------------------------- the sampler -- */

/* Ticks read but not yet handed to the writer: their busy time waits for
 * the next read of the driver's sample buffer, which settles them all. */
struct held_ticks {
    struct gpu_snapshot **snaps;
    size_t n;
    size_t cap;
};

/* How many ticks to hold before settling: a flush interval's worth (the
 * writer stores them at once), at most two thirds of what the driver's
 * sample buffer holds (9.5 s of 14.2 s on an H200: a late settle still
 * finds every sample), at least one. */
static size_t settle_every(const struct config *cfg, struct gpu_session *session)
{
    uint64_t every_ms = cfg->flush_interval_ms;
    uint64_t span_ms = gpu_session_busy_span_ms(session);
    if (span_ms && span_ms * 2 / 3 < every_ms) {
        every_ms = span_ms * 2 / 3;
    }
    uint64_t n = every_ms / cfg->interval_ms;
    return n ? (size_t)n : 1;
}

/* Settles the held ticks' busy time (final: the agent stops, read the
 * energy counter too), adds it to the live totals and hands them to the
 * writer, which flushes them at once. */
static void settle_held(struct held_ticks *h, struct gpu_session *session, struct agent_live *live,
                        struct agent_queue *queue, bool final)
{
    if (h->n == 0) {
        return;
    }
    gpu_session_settle(session, h->snaps, h->n, final);
    if (live) {
        agent_live_add_busy(live, h->snaps, h->n);
    }
    for (size_t i = 0; i < h->n; i++) {
        agent_queue_push(queue, h->snaps[i]);
    }
    h->n = 0;
    agent_queue_kick(queue);
}

static void hold(struct held_ticks *h, struct gpu_snapshot *snap)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 16;
        h->snaps = xrealloc(h->snaps, h->cap * sizeof(struct gpu_snapshot *));
    }
    h->snaps[h->n++] = snap;
}

static void reopen_log_if_asked(const void *ctx)
{
    const struct agent_options *opts = ctx;
    if (opts->reopen && *opts->reopen) {
        *opts->reopen = 0;
        if (log_reopen() != 0) {
            log_error("agent", "cannot reopen the log file; logging stays where it was");
        } else {
            log_info("agent", "log file reopened");
        }
    }
}

/* SIGTERM, SIGINT and SIGHUP reach the sampler only while it sleeps:
 * blocked the rest of the time, one that comes during a read waits for
 * the next sleep instead of slipping in between the check of the flag and
 * the sleep (which would then last a whole period, up to an hour). The
 * other threads block every signal, so none is handled where the sampler
 * would not wake. *sleep_mask gets the mask to sleep with (the one before). */
static void block_agent_signals(sigset_t *sleep_mask)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, sleep_mask);
}

/* Blocks every signal in this thread, so that the threads it starts next
 * inherit that mask; *old gets the mask to restore. */
static void block_all_signals(sigset_t *old)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, old);
}

struct sampler {
    const struct agent_options *opts;
    struct gpu_session *session;
    struct agent_live *live; /* NULL when nothing is served */
    struct agent_queue *queue;
    struct writer *writer;
    const sigset_t *sleep_mask; /* the only time the stop signals are taken */
    uint64_t missed;            /* deadlines skipped, under missed_lock (the writer stores it) */
    pthread_mutex_t missed_lock;
    uint64_t ticks;
};

static void publish(struct sampler *sp, const struct gpu_snapshot *snap)
{
    uint64_t pushed = 0;
    uint64_t dropped = 0;
    agent_queue_counters(sp->queue, &pushed, &dropped);
    pthread_mutex_lock(&sp->missed_lock);
    uint64_t missed = sp->missed;
    pthread_mutex_unlock(&sp->missed_lock);
    agent_live_publish(sp->live, snap, missed, dropped);
}

/* Reads every GPU on a fixed schedule until a stop (or one tick with
 * --once), then settles what it holds and hands it to the writer. */
static void sample(struct sampler *sp)
{
    const struct agent_options *opts = sp->opts;
    const struct config *cfg = opts->cfg;
    /* Fixed deadlines on the monotonic clock: a late read never makes the
     * next one late too, and missed deadlines are skipped and counted. */
    struct clock_schedule ticks_schedule;
    clock_schedule_init(&ticks_schedule, cfg->interval_ms);
    struct held_ticks held = { 0 };
    while (!*opts->stop) {
        struct gpu_snapshot *snap = agent_queue_spare(sp->queue);
        gpu_session_read(sp->session, snap);
        if (sp->ticks == 0) {
            hand_versions(sp->writer, &snap->system);
        }
        if (sp->live) {
            publish(sp, snap);
        }
        hold(&held, snap);
        sp->ticks++;
        if (opts->once) {
            break;
        }
        if (held.n >= settle_every(cfg, sp->session)) {
            settle_held(&held, sp->session, sp->live, sp->queue, false);
        }
        uint64_t skipped = clock_schedule_next(&ticks_schedule);
        if (skipped) {
            pthread_mutex_lock(&sp->missed_lock);
            sp->missed += skipped;
            pthread_mutex_unlock(&sp->missed_lock);
            log_debug("agent", "a read ran late: %llu tick(s) skipped",
                      (unsigned long long)skipped);
        }
        /* A signal wakes the sleep: SIGHUP is handled and the sleep goes on
         * to the same deadline; a stop ends it. */
        while (!*opts->stop && clock_sleep_until(&ticks_schedule.next, sp->sleep_mask) == EINTR) {
            reopen_log_if_asked(opts);
        }
    }
    settle_held(&held, sp->session, sp->live, sp->queue, true);
    free(held.snaps);
}

/* ----------------------------------------------------------- the agent -- */

/* The HTTP server starts as soon as the agent holds its database, before
 * NVML is open (/health says "starting" and why meanwhile), and stops
 * before the database closes. Its threads block every signal. */
static int serve_start(const struct agent_options *opts, struct agent_live *live,
                       struct http_server **out, struct gp_err *err)
{
    sigset_t old;
    block_all_signals(&old);
    int rc = http_server_start(opts->cfg, live, out, err);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0) {
        log_info("http", "serving on %s", http_server_url(*out));
        if (opts->announce) {
            fprintf(opts->announce, "gpulse: dashboard at %s\n", http_server_url(*out));
            fflush(opts->announce);
        }
    }
    return rc;
}

/* Opens the database and takes its lock. */
static int open_store(const struct config *cfg, struct store **store, int *lock_fd,
                      struct gp_err *err)
{
    /* The lock first: a second agent, or a link planted at the lock, is
     * refused before the database is created, migrated or written. The
     * clean-stop mark is read before taking the lock replaces it. Its
     * pages are checked unless the last clean stop left it as it is. */
    bool unchanged = agent_lock_clean_stop_matches(cfg->database);
    int rc = agent_lock_take(cfg, lock_fd, err);
    if (rc == -ENOENT) {
        /* No directory: the store names it in an operator's words (and
         * creates nothing there, there being no directory). */
        struct gp_err why = { 0 };
        if (store_open_private(cfg->database, STORE_READ_WRITE, cfg->database_group, false, store,
                               &why) != 0) {
            *err = why;
        }
        store_close(*store);
        *store = NULL;
        return rc;
    }
    if (rc == 0) {
        rc = store_open_private(cfg->database, STORE_READ_WRITE, cfg->database_group, unchanged,
                                store, err);
    }
    if (rc == 0) {
        store_set_activity_threshold(*store, cfg->activity_threshold_pct);
    }
    return rc;
}

/* The host's /proc is configuration, not the driver: a wrong proc_root
 * stops the agent at once rather than being retried with NVML. */
static int check_proc_root(const struct config *cfg, struct gp_err *err)
{
    struct gpu_options gopts;
    gpu_options_from_config(cfg, &gopts);
    struct proc_reader r;
    int rc = proc_reader_init(&r, gopts.proc_root, err);
    if (rc == 0) {
        proc_reader_fini(&r);
    }
    return rc;
}

/* Serves (unless told not to), opens NVML (agent/start.h: retried with
 * backoff, never waited on past a stop) and samples until a stop. */
static int serve_and_sample(struct sampler *sp, struct http_server **server, struct gp_err *err)
{
    int rc = sp->live ? serve_start(sp->opts, sp->live, server, err) : 0;
    if (rc) {
        return rc;
    }
    struct gpu_options gopts;
    gpu_options_from_config(sp->opts->cfg, &gopts);
    struct agent_start_opts so = {
        .retry = !sp->opts->once,
        .live = sp->live,
        .stop = sp->opts->stop,
        .sleep_mask = sp->sleep_mask,
        .woken = reopen_log_if_asked,
        .ctx = sp->opts,
    };
    rc = agent_start_open(&gopts, &so, &sp->session, err);
    if (rc == 0 && sp->session) {
        log_info("agent", "sampling %zu GPUs every %llu ms into '%s'",
                 gpu_session_gpu_count(sp->session), (unsigned long long)sp->opts->cfg->interval_ms,
                 sp->opts->cfg->database);
        sample(sp);
    }
    return rc;
}

int agent_run(const struct agent_options *opts, struct gp_err *err)
{
    const struct config *cfg = opts->cfg;
    int lock_fd = -1;
    struct store *store = NULL;
    bool serve = !opts->once && strcmp(cfg->http_listen, "off") != 0;
    struct http_server *server = NULL;
    bool unmarked = true; /* no clean-stop mark unless the writer ran and never failed */
    struct sampler sp = {
        .opts = opts,
        .live = serve ? agent_live_new(cfg->interval_ms) : NULL,
        .missed_lock = PTHREAD_MUTEX_INITIALIZER,
    };
    /* Days are cut in the configured zone; TZ is set before any thread. */
    clock_use_timezone(cfg->timezone);
    int rc = check_proc_root(cfg, err);
    if (rc == 0) {
        rc = open_store(cfg, &store, &lock_fd, err);
    }
    if (rc) {
        goto out;
    }
    sigset_t sleep_mask;
    block_agent_signals(&sleep_mask);
    sp.sleep_mask = &sleep_mask;

    struct agent_queue queue;
    /* Snapshots written are read into again: the ticks held for their busy
     * time (a flush interval's worth) and those being written. */
    size_t spares = 2 * (size_t)(cfg->flush_interval_ms / cfg->interval_ms) + 2;
    agent_queue_init(&queue, queue_capacity(cfg),
                     spares < queue_capacity(cfg) ? spares : queue_capacity(cfg));
    sp.queue = &queue;
    struct writer w = {
        .queue = &queue,
        .store = store,
        .flush_interval_ms = opts->once ? 1 : cfg->flush_interval_ms,
        .period_ms = cfg->interval_ms,
        .max_pending = queue_capacity(cfg),
        .missed_ticks = &sp.missed,
        .missed_lock = &sp.missed_lock,
        .live = sp.live,
        .versions_lock = PTHREAD_MUTEX_INITIALIZER,
    };
    sp.writer = &w;
    store_retention_from_config(cfg, &w.retention);
    /* From here on the database connection is the writer's alone. */
    sigset_t old;
    block_all_signals(&old);
    pthread_t writer_thread;
    int prc = pthread_create(&writer_thread, NULL, writer_main, &w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (prc != 0) {
        rc = gp_err_set(err, -prc, "cannot start the writer thread: %s", strerror(prc));
    } else {
        rc = serve_and_sample(&sp, &server, err);
        http_server_stop(server);
        /* Stop: the writer drains the queue and flushes once more. */
        agent_queue_close(&queue);
        pthread_join(writer_thread, NULL);
    }
    /* The clean-stop mark vouches for the file only when every write
     * worked: one that met a damaged page must not spare the next start
     * its check. */
    unmarked = w.any_failed;
    if (rc == 0 && opts->once && w.last_error) { /* the one sample was not stored */
        rc = gp_err_set(err, w.last_error, "%s; the sample was not stored", w.last_err.msg);
    }
    if (sp.session) {
        uint64_t pushed = 0;
        uint64_t dropped = 0;
        agent_queue_counters(&queue, &pushed, &dropped);
        log_info("agent",
                 "stopped after %llu samples; %llu missed ticks, %llu dropped from the queue",
                 (unsigned long long)sp.ticks, (unsigned long long)sp.missed,
                 (unsigned long long)dropped);
    }
    agent_queue_fini(&queue);
    pthread_sigmask(SIG_SETMASK, &sleep_mask, NULL);
out:
    agent_live_free(sp.live);
    gpu_session_free(sp.session);
    store_close(store);
    if (lock_fd >= 0) {
        if (rc == 0 && !unmarked) {
            agent_lock_note_clean_stop(lock_fd, cfg->database);
        }
        close(lock_fd);
    }
    return rc;
}
