/* What every handler needs from a request: checked parameters, JSON
 * replies and errors that name the parameter, database connections. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http.h"
#include "http/http_int.h"
#include "report/format.h"
#include "util/log.h"
#include "util/strparse.h"
#include "util/text.h"
#include "util/timeparse.h"
#include "util/xalloc.h"

const char *const http_no_params[] = { NULL };

void http_reply_error(struct http_reply *reply, unsigned status, const char *parameter,
                      const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *e = json_object();
    json_object_set_new(e, "status", json_integer(status));
    /* The message quotes what the client sent: made valid UTF-8 first. */
    char clean[3 * sizeof(msg) + 1];
    json_object_set_new(e, "message", json_string(text_sanitize(clean, sizeof(clean), msg)));
    if (parameter) {
        json_object_set_new(e, "parameter", json_string(parameter));
    }
    reply->status = status;
    reply->cache_control = NULL;
    reply->etag[0] = '\0';
    dynbuf_reset(&reply->body);
    http_reply_json(reply, json_pack("{s:o}", "error", e));
    reply->status = status;
}

void http_reply_json(struct http_reply *reply, json_t *v)
{
    char *text = json_dumps(v, REPORT_JSON_FLAGS);
    json_decref(v);
    dynbuf_reset(&reply->body);
    if (!text || dynbuf_adds(&reply->body, text) == 0) {
        dynbuf_adds(&reply->body, "\n");
    }
    http_reply_json_written(reply, text ? 0 : -ENOMEM);
    free(text);
}

void http_reply_json_written(struct http_reply *reply, int rc)
{
    reply->content_type = "application/json";
    if (rc != 0 || dynbuf_error(&reply->body) != 0) {
        dynbuf_reset(&reply->body);
        reply->status = 500;
        /* Far below any cap: cannot fail. */
        if (dynbuf_adds(&reply->body, "{\"error\":{\"status\":500,\"message\":\"the answer is "
                                      "too large\"}}\n") != 0) {
            dynbuf_reset(&reply->body);
        }
    } else if (reply->status == 0) {
        reply->status = 200;
    }
}

struct param_scan {
    const char *const *allowed;
    const char *bad; /* the first unknown parameter */
    const char *dup; /* the first one given twice */
    const char *seen[32];
    size_t seen_count;
};

static enum MHD_Result scan_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    (void)value;
    struct param_scan *ps = cls;
    bool known = false;
    for (size_t i = 0; ps->allowed[i]; i++) {
        if (strcmp(ps->allowed[i], key) == 0) {
            known = true;
            break;
        }
    }
    if (!known) {
        ps->bad = key;
        return MHD_NO;
    }
    for (size_t i = 0; i < ps->seen_count; i++) {
        if (strcmp(ps->seen[i], key) == 0) {
            ps->dup = key;
            return MHD_NO;
        }
    }
    if (ps->seen_count < GP_ARRAY_LEN(ps->seen)) {
        ps->seen[ps->seen_count++] = key;
    }
    return MHD_YES;
}

int http_check_params(struct http_request *req, struct http_reply *reply,
                      const char *const *allowed)
{
    struct param_scan ps = { .allowed = allowed };
    req->srv->mhd->get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, scan_param, &ps);
    if (ps.bad) {
        char list[256] = "";
        size_t n = 0;
        for (size_t i = 0; allowed[i] && n < sizeof(list); i++) {
            n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", allowed[i]);
        }
        http_reply_error(reply, 400, ps.bad, "unknown parameter '%.64s'%s%s", ps.bad,
                         allowed[0] ? "; this endpoint takes " : "; this endpoint takes none",
                         list);
        return -1;
    }
    if (ps.dup) {
        http_reply_error(reply, 400, ps.dup, "parameter '%s' is given more than once", ps.dup);
        return -1;
    }
    return 0;
}

const char *http_param(struct http_request *req, const char *name)
{
    return req->srv->mhd->lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(struct http_request *req, const char *name)
{
    return req->srv->mhd->lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

int http_param_int(struct http_request *req, struct http_reply *reply, const char *name,
                   int64_t min, int64_t max, int64_t def, int64_t *out)
{
    const char *v = http_param(req, name);
    if (!v) {
        *out = def;
        return 0;
    }
    uint64_t n = 0;
    if (strparse_u64(v, (uint64_t)max, &n) != 0 || (int64_t)n < min) {
        http_reply_error(reply, 400, name, "%s: '%.64s' is not a whole number from %lld to %lld",
                         name, v, (long long)min, (long long)max);
        return -1;
    }
    *out = (int64_t)n;
    return 0;
}

int http_param_time(struct http_request *req, struct http_reply *reply, const char *name,
                    int64_t now_ms, int64_t def, int64_t *out_ms)
{
    const char *v = http_param(req, name);
    if (!v) {
        *out_ms = def;
        return 0;
    }
    if (timeparse_ms(v, now_ms, out_ms) != 0) {
        http_reply_error(reply, 400, name,
                         "%s: '%.64s' is not a time (ISO 8601 such as 2026-11-02T14:00Z, Unix "
                         "seconds, or relative such as -24h or now)",
                         name, v);
        return -1;
    }
    return 0;
}

int http_param_bool(struct http_request *req, struct http_reply *reply, const char *name, bool def,
                    bool *out)
{
    const char *v = http_param(req, name);
    if (!v) {
        *out = def;
        return 0;
    }
    static const char *const yes[] = { "1", "true", "yes" };
    static const char *const no[] = { "0", "false", "no" };
    for (size_t i = 0; i < GP_ARRAY_LEN(yes); i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    http_reply_error(reply, 400, name, "%s: '%.64s' is not true or false", name, v);
    return -1;
}

int http_param_gpu(struct http_request *req, struct http_reply *reply, const char *name,
                   const char **out)
{
    const char *v = http_param(req, name);
    *out = v;
    if (!v) {
        return 0;
    }
    uint64_t idx = 0;
    if (strcmp(v, "all") == 0 || strparse_u64(v, 4095, &idx) == 0) {
        return 0;
    }
    bool uuid = strncmp(v, "GPU-", 4) == 0 && strlen(v) < 96;
    for (const char *p = v; uuid && *p; p++) {
        uuid = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
               *p == '-';
    }
    if (!uuid) {
        http_reply_error(reply, 400, name, "%s: '%.64s' is not all, a GPU index or a GPU UUID",
                         name, v);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------- database connections -- */

struct store *http_store_get(struct http_server *srv, struct http_reply *reply)
{
    struct http_store_pool *p = &srv->pool;
    pthread_mutex_lock(&p->lock);
    struct store *s = p->free_count ? p->free_list[--p->free_count] : NULL;
    pthread_mutex_unlock(&p->lock);
    if (s) {
        return s;
    }
    struct gp_err err = { 0 };
    if (store_open(p->path, STORE_READ_ONLY, &s, &err) != 0) {
        log_warn("http", "%s", err.msg);
        http_reply_error(reply, 503, NULL, "the database cannot be read: %s", err.msg);
        return NULL;
    }
    return s;
}

void http_store_put(struct http_server *srv, struct store *s)
{
    struct http_store_pool *p = &srv->pool;
    pthread_mutex_lock(&p->lock);
    if (p->free_count < GP_ARRAY_LEN(p->free_list)) {
        p->free_list[p->free_count++] = s;
        s = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    store_close(s);
}

bool http_heavy_enter(struct http_server *srv)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until); /* the condition's clock: server.c */
    until.tv_nsec += (long)HTTP_HEAVY_WAIT_MS * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&srv->heavy_lock);
    int rc = 0;
    while (srv->heavy_running >= HTTP_HEAVY_AT_ONCE && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&srv->heavy_done, &srv->heavy_lock, &until);
    }
    bool entered = srv->heavy_running < HTTP_HEAVY_AT_ONCE;
    srv->heavy_running += entered;
    pthread_mutex_unlock(&srv->heavy_lock);
    return entered;
}

void http_heavy_leave(struct http_server *srv)
{
    pthread_mutex_lock(&srv->heavy_lock);
    srv->heavy_running--;
    pthread_cond_signal(&srv->heavy_done);
    pthread_mutex_unlock(&srv->heavy_lock);
}

void http_reply_count_in_flight(struct http_request *req, struct http_reply *reply)
{
    struct http_server *srv = req->srv;
    http_conns_sending(&srv->conns, http_conn_of(srv, req->conn), reply->body.len);
    reply->counted = true;
}
