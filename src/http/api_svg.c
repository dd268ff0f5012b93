/* GET /gpu-activity.svg: the activity graph (report/svg.h), cached while
 * the database has not changed, with an ETag. */
#include <stdio.h>
#include <string.h>

#include "http/http_int.h"
#include "report/activity.h"
#include "report/svg.h"
#include "util/clock.h"

/* FNV-1a: a strong enough validator for a body this server made. */
static uint64_t fnv1a(const char *data, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)data[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Fills o from the request; returns 0, or -1 after answering 400. */
static int parse(struct http_request *req, struct http_reply *reply, struct report_svg_options *o)
{
    static const char *const params[] = { "theme", "weeks", "gpu", NULL };
    int64_t weeks = 0;
    *o = (struct report_svg_options){ .theme = REPORT_SVG_LIGHT };
    if (http_check_params(req, reply, params) != 0 ||
        http_param_int(req, reply, "weeks", 1, REPORT_ACTIVITY_MAX_WEEKS, REPORT_ACTIVITY_MAX_WEEKS,
                       &weeks) != 0 ||
        http_param_gpu(req, reply, "gpu", &o->gpu) != 0) {
        return -1;
    }
    o->weeks = (int)weeks;
    const char *theme = http_param(req, "theme");
    if (theme && strcmp(theme, "dark") == 0) {
        o->theme = REPORT_SVG_DARK;
    } else if (theme && strcmp(theme, "light") != 0) {
        http_reply_error(reply, 400, "theme", "theme: '%.64s' is not light or dark", theme);
        return -1;
    }
    return 0;
}

/* Draws the graph into reply; returns 0, or -1 after answering 500 or 503. */
static int draw(struct http_server *srv, const struct report_svg_options *o, int64_t now,
                struct http_reply *reply)
{
    struct store *s = http_store_get(srv, reply);
    if (!s) {
        return -1;
    }
    struct gp_err err = { 0 };
    int rc = report_svg_activity(s, o, now, &reply->body, &err);
    http_store_put(srv, s);
    if (rc) {
        http_reply_error(reply, 500, NULL, "%s", err.msg);
        return -1;
    }
    snprintf(reply->etag, sizeof(reply->etag), "\"%016llx\"",
             (unsigned long long)fnv1a(reply->body.data, reply->body.len));
    reply->content_type = "image/svg+xml";
    reply->cache_control = "public, max-age=1800";
    reply->status = 200;
    return 0;
}

void http_api_svg(struct http_request *req, struct http_reply *reply)
{
    struct report_svg_options o;
    if (parse(req, reply, &o) != 0) {
        return;
    }
    struct http_server *srv = req->srv;
    int64_t now = clock_realtime_ms();
    char key[200];
    snprintf(key, sizeof(key), "svg|%d|%d|%s|%lld", (int)o.theme, o.weeks, o.gpu ? o.gpu : "",
             (long long)clock_local_day_start(now));
    uint64_t version = agent_live_data_version(srv->live);
    if (!http_answers_get(&srv->answers, srv->live, key, reply)) {
        if (draw(srv, &o, now, reply) != 0) {
            return;
        }
        http_answers_put(&srv->answers, srv->live, key, version, INT64_MAX, reply);
    }
    const char *inm = http_header(req, "If-None-Match");
    if (inm && strcmp(inm, reply->etag) == 0) {
        reply->status = 304;
        dynbuf_reset(&reply->body);
        return;
    }
    reply->status = 200;
}
