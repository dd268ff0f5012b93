/* GET /api/v1/users: the users resource (report/users.h). */
#include "http/http_int.h"
#include "report/users.h"
#include "util/clock.h"

void http_api_users(struct http_request *req, struct http_reply *reply)
{
    if (http_check_params(req, reply, http_no_params) != 0) {
        return;
    }
    struct http_server *srv = req->srv;
    struct store *s = http_store_get(srv, reply);
    if (!s) {
        return;
    }
    json_t *root = NULL;
    struct gp_err err = { 0 };
    int rc = report_users_json(s, clock_realtime_ms(), &root, &err);
    http_store_put(srv, s);
    if (rc) {
        http_reply_error(reply, 500, NULL, "%s", err.msg);
        return;
    }
    http_reply_json(reply, root);
}
