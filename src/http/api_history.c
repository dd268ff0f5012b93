/* GET /api/v1/history: the query parameters become report/history's
 * request, which is planned, read and rendered there. Bucketed answers are
 * kept in the answers cache (answers.c) until the data they read changes. */
#include <stdio.h>
#include <string.h>

#include "http/http.h"
#include "http/http_int.h"
#include "report/history.h"
#include "util/clock.h"

/* The API's bound on points, which sizes the answer. */
#define HISTORY_MAX_POINTS 10000

/* The parameters as a request, or -1 after a 400 naming the bad one. */
static int parse_request(struct http_request *req, struct http_reply *reply,
                         struct report_history_request *out)
{
    int64_t now = clock_realtime_ms();
    *out = (struct report_history_request){ .step = REPORT_HISTORY_STEP_RAW };
    if (http_param_gpu(req, reply, "gpu", &out->gpu) != 0 ||
        http_param_time(req, reply, "from", now, now - CLOCK_HOUR_MS, &out->from_ms) != 0 ||
        http_param_time(req, reply, "to", now, now, &out->to_ms) != 0 ||
        http_param_int(req, reply, "points", 1, HISTORY_MAX_POINTS, REPORT_HISTORY_DEFAULT_POINTS,
                       &out->points) != 0) {
        return -1;
    }
    const char *metrics = http_param(req, "metrics");
    struct gp_err err = { 0 };
    if (report_history_parse_metrics(metrics ? metrics : REPORT_HISTORY_DEFAULT_METRICS, out,
                                     &err) != 0) {
        http_reply_error(reply, 400, "metrics", "metrics: %s", err.msg);
        return -1;
    }
    const char *step = http_param(req, "step");
    if (step && report_history_parse_step(step, &out->step) != 0) {
        http_reply_error(reply, 400, "step",
                         "step: '%.64s' is not one of raw, second, minute, hour, day", step);
        return -1;
    }
    if (out->gpu && strcmp(out->gpu, "all") == 0) {
        out->gpu = NULL;
    }
    if (out->to_ms <= out->from_ms) {
        http_reply_error(reply, 400, "from", "from must be before to");
        return -1;
    }
    if (out->to_ms - out->from_ms > 100LL * 365 * CLOCK_DAY_MS) {
        http_reply_error(reply, 400, "from", "the range is longer than 100 years");
        return -1;
    }
    return 0;
}

/* The answer's cache key: everything the document depends on. */
static void cache_key(const struct report_history_request *r, const struct report_history_plan *p,
                      char *key, size_t size)
{
    char fields[3 * STORE_HISTORY_MAX_METRICS + 1] = "";
    size_t len = 0;
    for (size_t m = 0; m < r->metric_count && len < sizeof(fields); m++) {
        len += (size_t)snprintf(fields + len, sizeof(fields) - len, "%d.", (int)r->metrics[m]);
    }
    snprintf(key, size, "history|%s|%s|%lld|%lld|%lld|%s", r->gpu ? r->gpu : "", fields,
             (long long)r->points, (long long)p->from_ms, (long long)p->to_ms, p->resolution);
}

void http_api_history(struct http_request *req, struct http_reply *reply)
{
    static const char *const params[] = { "gpu", "from", "to", "metrics", "points", "step", NULL };
    struct report_history_request hreq;
    if (http_check_params(req, reply, params) != 0 || parse_request(req, reply, &hreq) != 0) {
        return;
    }
    struct http_server *srv = req->srv;
    struct report_history_plan plan;
    report_history_plan(&hreq, (int64_t)srv->cfg->interval_ms, &plan);
    /* Bucketed answers start and end on a bucket: the same rows, and one
     * key for every client asking for "the last year" until the data
     * changes. */
    char key[320] = "";
    uint64_t version = agent_live_data_version(srv->live);
    if (plan.step_ms > 0) {
        cache_key(&hreq, &plan, key, sizeof(key));
        if (http_answers_get(&srv->answers, srv->live, key, reply)) {
            return;
        }
    }
    struct store *s = http_store_get(srv, reply);
    if (!s) {
        return;
    }
    if (!http_heavy_enter(srv)) {
        http_store_put(srv, s);
        reply->retry_after_s = 1;
        http_reply_error(reply, 503, NULL,
                         "other large history answers are being made; try again in a second");
        return;
    }
    /* Checked and counted while no other answer is being made: what
     * clients leave unread, and what is made, stay within the bound. */
    if (http_conns_in_flight_bytes(&srv->conns) > HTTP_IN_FLIGHT_MAX_BYTES) {
        http_heavy_leave(srv);
        http_store_put(srv, s);
        reply->retry_after_s = 1;
        http_reply_error(reply, 503, NULL,
                         "too many large answers are waiting for their clients to read them; "
                         "try again");
        return;
    }
    struct report_history h;
    struct gp_err err = { 0 };
    int rc = report_history_query(s, &hreq, &plan, &h, &err);
    http_store_put(srv, s);
    if (rc == 0) {
        dynbuf_reset(&reply->body);
        http_reply_json_written(reply, report_history_json_append(&reply->body, &h));
        report_history_fini(&h);
        http_reply_count_in_flight(req, reply);
    }
    http_heavy_leave(srv);
    if (rc) {
        http_reply_error(reply, 500, NULL, "%s", err.msg);
        return;
    }
    if (key[0]) {
        /* Buckets hold the periods that start in them: the answer read
         * stored data before the last bucket's end only. */
        http_answers_put(&srv->answers, srv->live, key, version, h.plan.to_ms, reply);
    }
}
