/* GET /api/v1/activity: the activity resource (report/activity.h), cached
 * while the database has not changed. */
#include <stdio.h>

#include "http/http_int.h"
#include "report/activity.h"
#include "util/clock.h"

void http_api_activity(struct http_request *req, struct http_reply *reply)
{
    static const char *const params[] = { "weeks", "gpu", NULL };
    struct http_server *srv = req->srv;
    int64_t weeks = 0;
    struct report_activity_query q = {
        .now_ms = clock_realtime_ms(),
        .threshold_pct = srv->cfg->activity_threshold_pct,
    };
    if (http_check_params(req, reply, params) != 0 ||
        http_param_int(req, reply, "weeks", 1, REPORT_ACTIVITY_MAX_WEEKS, REPORT_ACTIVITY_MAX_WEEKS,
                       &weeks) != 0 ||
        http_param_gpu(req, reply, "gpu", &q.gpu) != 0) {
        return;
    }
    q.weeks = (int)weeks;
    char key[200];
    snprintf(key, sizeof(key), "activity|%d|%s|%lld", q.weeks, q.gpu ? q.gpu : "",
             (long long)clock_local_day_start(q.now_ms));
    uint64_t version = agent_live_data_version(srv->live);
    if (http_answers_get(&srv->answers, srv->live, key, reply)) {
        return;
    }
    struct store *s = http_store_get(srv, reply);
    if (!s) {
        return;
    }
    struct report_activity a;
    struct gp_err err = { 0 };
    int rc = report_activity_load(s, &q, &a, &err);
    http_store_put(srv, s);
    if (rc) {
        http_reply_error(reply, 500, NULL, "%s", err.msg);
        return;
    }
    http_reply_json(reply, report_activity_json(&a));
    report_activity_fini(&a);
    http_answers_put(&srv->answers, srv->live, key, version, INT64_MAX, reply);
}
