/* GET /api/v1/processes: the processes resource (report/processes.h), the
 * stored lifetimes with the latest tick's readings of those running now.
 * Parse the parameters, query the database, render. */
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"
#include "report/processes.h"
#include "util/clock.h"
#include "util/xalloc.h"

#define MAX_TEXT 256 /* user and q */

static const char *const params[] = {
    "active", "since", "user", "gpu", "q", "sort", "limit", NULL
};

struct processes_query {
    struct store_process_filter filter;
    bool active;
};

/* Fills q from the request; returns 0, or -1 after answering 400. */
static int parse(struct http_request *req, struct http_reply *reply, struct processes_query *q)
{
    int64_t now = clock_realtime_ms();
    *q = (struct processes_query){ .filter = { .sort = STORE_SORT_LAST_SEEN } };
    struct store_process_filter *f = &q->filter;
    if (http_check_params(req, reply, params) != 0 ||
        http_param_bool(req, reply, "active", false, &q->active) != 0 ||
        http_param_time(req, reply, "since", now, 0, &f->since_ms) != 0 ||
        http_param_gpu(req, reply, "gpu", &f->gpu) != 0 ||
        http_param_int(req, reply, "limit", 1, 10000, 100, &f->limit) != 0) {
        return -1;
    }
    f->user = http_param(req, "user");
    f->query = http_param(req, "q");
    const char *too_long = f->user && strlen(f->user) > MAX_TEXT     ? "user"
                           : f->query && strlen(f->query) > MAX_TEXT ? "q"
                                                                     : NULL;
    if (too_long) {
        http_reply_error(reply, 400, too_long, "%s: longer than %d characters", too_long, MAX_TEXT);
        return -1;
    }
    if (f->gpu && strcmp(f->gpu, "all") == 0) {
        f->gpu = NULL;
    }
    const char *sort = http_param(req, "sort");
    if (sort && report_processes_sort_parse(sort, &f->sort) != 0) {
        http_reply_error(reply, 400, "sort", "sort: '%.64s' is not one of %s", sort,
                         REPORT_PROCESSES_SORT_KEYS);
        return -1;
    }
    return 0;
}

/* Reads the rows q asks for; returns 0, or -1 after answering 500 or 503. */
static int query(struct http_server *srv, const struct agent_live_frame *f,
                 struct processes_query *q, struct http_reply *reply,
                 struct store_process_row **rows, size_t *n)
{
    if (q->active) {
        /* Running now: seen by the last flush (it lags the newest tick by
         * at most a flush interval). */
        int64_t newest = f ? f->snap.time_ms : clock_realtime_ms();
        int64_t window = (int64_t)(srv->cfg->flush_interval_ms + 3 * srv->cfg->interval_ms);
        int64_t *since = &q->filter.since_ms;
        *since = *since > newest - window ? *since : newest - window;
    }
    struct store *s = http_store_get(srv, reply);
    if (!s) {
        return -1;
    }
    struct gp_err err = { 0 };
    int rc = store_query_processes(s, &q->filter, rows, n, &err);
    http_store_put(srv, s);
    if (rc) {
        http_reply_error(reply, 500, NULL, "%s", err.msg);
        return -1;
    }
    return 0;
}

static void render(const struct agent_live_frame *f, const struct processes_query *q,
                   const struct store_process_row *rows, size_t n, struct http_reply *reply)
{
    struct report_process_live *live = xcalloc(n ? n : 1, sizeof(*live));
    report_processes_live(f ? &f->snap : NULL, rows, n, live);
    struct report_processes p = {
        .rows = rows, .count = n, .live = live, .limit = q->filter.limit
    };
    http_reply_json(reply, report_processes_json(&p));
    free(live);
}

void http_api_processes(struct http_request *req, struct http_reply *reply)
{
    struct processes_query q;
    if (parse(req, reply, &q) != 0) {
        return;
    }
    const struct agent_live_frame *f = agent_live_acquire(req->srv->live);
    struct store_process_row *rows = NULL;
    size_t n = 0;
    if (query(req->srv, f, &q, reply, &rows, &n) == 0) {
        render(f, &q, rows, n, reply);
        store_process_rows_free(rows, n);
    }
    agent_live_release(f);
}
