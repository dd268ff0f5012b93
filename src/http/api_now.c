/* GET /api/v1/now: the now resource (report/now.h), made once per tick. */
#include "http/http_int.h"
#include "report/now.h"

static int build_now(struct http_server *srv, const struct agent_live_frame *f, struct dynbuf *body)
{
    struct report_now_opts ro = {
        .host = srv->host,
        .agent_start_ms = f->agent_start_ms,
        .interval_ms = (int64_t)f->interval_ms,
    };
    return report_json_append(body, report_now_json(&f->snap, &ro));
}

void http_api_now(struct http_request *req, struct http_reply *reply)
{
    if (http_check_params(req, reply, http_no_params) != 0) {
        return;
    }
    if (http_reply_if_starting(req->srv, reply)) {
        return;
    }
    reply->cached = &req->srv->now_cache;
    reply->build = build_now;
    reply->content_type = "application/json";
}
