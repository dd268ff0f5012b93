/* GET /metrics: the Prometheus exposition (http/metrics.h), made once per
 * tick. */
#include <stdio.h>
#include <sys/stat.h>

#include "http/http_int.h"
#include "http/metrics.h"

static int64_t file_bytes(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

static int build_metrics(struct http_server *srv, const struct agent_live_frame *f,
                         struct dynbuf *body)
{
    char wal[600];
    snprintf(wal, sizeof(wal), "%s-wal", srv->cfg->database);
    int64_t db = file_bytes(srv->cfg->database);
    int64_t w = file_bytes(wal);
    struct http_metrics_extra extra = {
        .host = srv->host,
        .database_bytes = db < 0 ? -1 : db + (w > 0 ? w : 0),
    };
    return http_metrics_render(f, &extra, body);
}

void http_api_metrics(struct http_request *req, struct http_reply *reply)
{
    if (http_check_params(req, reply, http_no_params) != 0) {
        return;
    }
    const struct agent_live_frame *f = agent_live_acquire(req->srv->live);
    agent_live_release(f);
    if (!f) {
        /* Starting: the agent's own series, made for each scrape (no tick
         * to cache them by). */
        reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
        reply->status = 200;
        if (build_metrics(req->srv, NULL, &reply->body) != 0) {
            http_reply_error(reply, 500, NULL, "the metrics could not be made");
        }
        return;
    }
    reply->cached = &req->srv->metrics_cache;
    reply->build = build_metrics;
    reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
