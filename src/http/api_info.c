/* GET /api/v1/info: the info resource (report/info.h) from the latest tick. */
#include "http/http_int.h"
#include "report/info.h"
#include "util/clock.h"

void http_api_info(struct http_request *req, struct http_reply *reply)
{
    if (http_check_params(req, reply, http_no_params) != 0) {
        return;
    }
    struct http_server *srv = req->srv;
    if (http_reply_if_starting(srv, reply)) {
        return;
    }
    const struct agent_live_frame *f = agent_live_acquire(srv->live);
    struct report_info in = {
        .snap = &f->snap,
        .cfg = srv->cfg,
        .host = srv->host,
        .agent_start_ms = f->agent_start_ms,
        .now_ms = clock_realtime_ms(),
    };
    json_t *root = report_info_json(&in);
    agent_live_release(f);
    http_reply_json(reply, root);
}
