/* The HTTP server: libmicrohttpd with a small thread pool, limits on what
 * a client may send, and a route table. Handlers fill a struct http_reply;
 * this file turns it into a response with the common headers. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/http.h"
#include "http/http_int.h"
#include "util/gzip.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/strparse.h"
#include "util/xalloc.h"

struct route {
    const char *path;
    http_handler_fn handler;
};

static const struct route routes[] = {
    { "/health", http_api_health },
    { "/metrics", http_api_metrics },
    { "/gpu-activity.svg", http_api_svg },
    { "/api/v1/info", http_api_info },
    { "/api/v1/now", http_api_now },
    { "/api/v1/history", http_api_history },
    { "/api/v1/processes", http_api_processes },
    { "/api/v1/activity", http_api_activity },
    { "/api/v1/users", http_api_users },
};

/* The page may run only its own scripts and reach only this server: even a
 * string from the host that escaped into markup could not load or run code. */
#define DASHBOARD_CSP                                                                   \
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src " \
    "'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "           \
    "frame-ancestors 'none'"

static void serve_asset(const struct http_asset *a, struct http_request *req,
                        struct http_reply *reply)
{
    const char *inm = http_header(req, "If-None-Match");
    snprintf(reply->etag, sizeof(reply->etag), "%s", a->etag);
    reply->cache_control = strcmp(a->path, "/") == 0 ? "no-cache" : "public, max-age=300";
    reply->dashboard = true;
    reply->content_type = a->content_type;
    if (inm && strcmp(inm, a->etag) == 0) {
        reply->status = 304;
        return;
    }
    reply->status = 200;
    reply->static_data = a->data;
    reply->static_len = a->len;
}

http_handler_fn http_route_find(const char *path)
{
    for (size_t i = 0; i < GP_ARRAY_LEN(routes); i++) {
        if (strcmp(path, routes[i].path) == 0) {
            return routes[i].handler;
        }
    }
    return NULL;
}

static void route(struct http_request *req, struct http_reply *reply)
{
    http_handler_fn handler = http_route_find(req->path);
    if (handler) {
        handler(req, reply);
        return;
    }
    const struct http_asset *a = http_asset_find(req->path);
    if (a) {
        static const char *const none[] = { NULL };
        if (http_check_params(req, reply, none) == 0) {
            serve_asset(a, req, reply);
        }
        return;
    }
    http_reply_error(reply, 404, NULL, "no such path: '%.200s'", req->path);
}

/* The headers a reply's fields ask for beyond the content's own. */
static bool add_reply_headers(const struct http_mhd_lib *mhd, struct MHD_Response *r,
                              const struct http_reply *reply)
{
    bool ok = true;
    if (reply->status == 405) { /* RFC 9110: a 405 says what is allowed */
        ok = ok && mhd->add_response_header(r, "Allow", "GET, HEAD") == MHD_YES;
    }
    if (reply->challenge) { /* RFC 6750 */
        ok = ok &&
             mhd->add_response_header(r, "WWW-Authenticate", "Bearer realm=\"gpulse\"") == MHD_YES;
    }
    if (reply->retry_after_s) {
        char s[16];
        snprintf(s, sizeof(s), "%u", reply->retry_after_s);
        ok = ok && mhd->add_response_header(r, "Retry-After", s) == MHD_YES;
    }
    if (reply->location) {
        ok = ok && mhd->add_response_header(r, "Location", reply->location) == MHD_YES;
    }
    if (reply->set_cookie[0]) {
        ok = ok && mhd->add_response_header(r, "Set-Cookie", reply->set_cookie) == MHD_YES;
    }
    return ok;
}

static enum MHD_Result add_common_headers(const struct http_mhd_lib *mhd, struct MHD_Response *r,
                                          const struct http_reply *reply)
{
    bool ok = mhd->add_response_header(r, "X-Content-Type-Options", "nosniff") == MHD_YES;
    if (reply->content_type) {
        ok = ok && mhd->add_response_header(r, "Content-Type", reply->content_type) == MHD_YES;
    }
    ok = ok && mhd->add_response_header(r, "Cache-Control",
                                        reply->cache_control ? reply->cache_control : "no-store") ==
                   MHD_YES;
    if (reply->etag[0]) {
        ok = ok && mhd->add_response_header(r, "ETag", reply->etag) == MHD_YES;
    }
    ok = ok && add_reply_headers(mhd, r, reply);
    if (reply->dashboard) {
        ok = ok && mhd->add_response_header(r, "Content-Security-Policy", DASHBOARD_CSP) == MHD_YES;
        ok = ok && mhd->add_response_header(r, "Referrer-Policy", "no-referrer") == MHD_YES;
    }
    return ok ? MHD_YES : MHD_NO;
}

struct http_conn *http_conn_of(const struct http_server *srv, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        srv->mhd->get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static enum MHD_Result send_reply(struct http_server *srv, struct MHD_Connection *conn,
                                  struct http_reply *reply)
{
    const struct http_mhd_lib *mhd = srv->mhd;
    struct MHD_Response *r = NULL;
    {
        if (reply->status == 304) {
            r = mhd->create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        } else if (reply->static_data) {
            r = mhd->create_response_from_buffer(
                reply->static_len, (void *)(uintptr_t)reply->static_data, MHD_RESPMEM_PERSISTENT);
        } else {
            size_t len = 0;
            char *body = dynbuf_take(&reply->body, &len);
            r = mhd->create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
            if (!r) {
                free(body);
            } else if (!reply->counted) {
                http_conns_sending(&srv->conns, http_conn_of(srv, conn), len);
            }
        }
        if (!r || add_common_headers(mhd, r, reply) != MHD_YES) {
            if (r) {
                mhd->destroy_response(r);
            }
            return MHD_NO;
        }
    }
    enum MHD_Result res = mhd->queue_response(conn, reply->status, r);
    mhd->destroy_response(r);
    return res;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    (void)key;
    (void)value;
    (*(unsigned *)cls)++;
    return MHD_YES;
}

static void answer(struct http_request *req, struct http_reply *reply, const char *method,
                   const char *version, bool has_body)
{
    unsigned headers = 0;
    req->srv->mhd->get_connection_values(req->conn, MHD_HEADER_KIND, count_header, &headers);
    if (headers > HTTP_MAX_HEADERS) {
        http_reply_error(reply, 431, NULL, "more than %d header fields", HTTP_MAX_HEADERS);
    } else if (strcmp(method, "GET") != 0 && !req->head) {
        http_reply_error(reply, 405, NULL, "method %.16s is not allowed; only GET and HEAD are",
                         method);
    } else if (has_body) {
        http_reply_error(reply, 413, NULL, "a GET request takes no body");
    } else if (http_access_admit(req, reply, version)) {
        route(req, reply);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)upload_data;
    struct http_server *srv = cls;
    struct http_request req = {
        .srv = srv,
        .conn = conn,
        .path = url,
        .head = strcmp(method, "HEAD") == 0,
    };
    const char *length = http_header(&req, "Content-Length");
    bool has_body = (length && strcmp(length, "0") != 0) ||
                    http_header(&req, "Transfer-Encoding") || *upload_data_size != 0;
    if (!*con_cls) {
        /* The line and headers are in: the answer's deadline starts. It
         * is made on the next call, once libmicrohttpd has the whole
         * request, so that the connection can stay open for another (one
         * queued now would close it). No endpoint takes a body: a request
         * that announces one is answered at once (413), before any of it
         * is read, and closed. */
        http_conns_deadline(&srv->conns, http_conn_of(srv, conn), HTTP_ANSWER_DEADLINE_S);
        *con_cls = srv;
        if (!has_body) {
            return MHD_YES;
        }
    }
    struct http_reply reply = { 0 };
    dynbuf_init(&reply.body, HTTP_MAX_RESPONSE_BYTES);
    answer(&req, &reply, method, version, has_body);
    *upload_data_size = 0; /* a body, if any, is dropped */
    enum MHD_Result res =
        reply.cached ? http_tick_cache_queue(srv, conn, &reply) : send_reply(srv, conn, &reply);
    dynbuf_fini(&reply.body);
    return res;
}

/* A request is over (answered, or its connection dropped): a kept-alive
 * connection has HTTP_KEEPALIVE_S for its next request. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)con_cls;
    (void)toe;
    struct http_server *srv = cls;
    struct http_conn *k = http_conn_of(srv, conn);
    http_conns_sent(&srv->conns, k);
    http_conns_deadline(&srv->conns, k, HTTP_KEEPALIVE_S);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            srv->mhd->get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? http_conns_opened(&srv->conns, ci->connect_fd) : NULL;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        http_conns_closed(&srv->conns, *socket_context);
        *socket_context = NULL;
    }
}

/* libmicrohttpd's messages, at debug level: a client's bad request is
 * not the operator's problem. While the daemon starts, the last one is
 * kept for the error that says why it could not. */
static void mhd_log(void *cls, const char *fmt, va_list ap) GP_PRINTF(2, 0);
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct http_server *srv = cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '.')) {
        msg[--n] = '\0';
    }
    if (atomic_load(&srv->starting)) {
        snprintf(srv->start_msg, sizeof(srv->start_msg), "%s", msg);
    }
    log_debug("http", "%s", msg);
}

static unsigned worker_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 2 ? 2 : n > 4 ? 4 : (unsigned)n;
}

/* Reads http.tls_cert and http.tls_key when set (both or neither). */
static int load_tls(struct http_server *srv, const struct config *cfg, struct gp_err *err)
{
    if (!cfg->http_tls_cert[0] && !cfg->http_tls_key[0]) {
        return 0;
    }
    if (!cfg->http_tls_cert[0] || !cfg->http_tls_key[0]) {
        return gp_err_set(err, -EINVAL, "%s is set without %s: TLS needs both",
                          cfg->http_tls_cert[0] ? "http.tls_cert" : "http.tls_key",
                          cfg->http_tls_cert[0] ? "http.tls_key" : "http.tls_cert");
    }
    if (srv->mhd->is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        return gp_err_set(err, -ENOSYS,
                          "http.tls_cert: this libmicrohttpd was built without TLS support");
    }
    int rc = http_access_read_pem(cfg->http_tls_cert, "http.tls_cert", false, &srv->tls_cert, err);
    if (rc == 0) {
        rc = http_access_read_pem(cfg->http_tls_key, "http.tls_key", true, &srv->tls_key, err);
    }
    srv->tls = rc == 0;
    return rc;
}

static int start_daemon(struct http_server *srv, const struct netaddr *addr, struct gp_err *err)
{
    const struct config *cfg = srv->cfg;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO;
    flags |= addr->ipv6 ? MHD_USE_IPv6 : 0;
    flags |= srv->tls ? MHD_USE_TLS : 0;
    struct MHD_OptionItem tls[] = {
        { srv->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, srv->tls_cert },
        { MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key },
        { MHD_OPTION_END, 0, NULL },
    };
    errno = 0;
    atomic_store(&srv->starting, true);
    srv->daemon = srv->mhd->start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
        (const struct sockaddr *)&addr->ss, MHD_OPTION_THREAD_POOL_SIZE, worker_threads(),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_MAX_PER_IP,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_REQUEST_MEMORY,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_KEEPALIVE_S, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    atomic_store(&srv->starting, false);
    if (srv->daemon) {
        return 0;
    }
    int e = errno ? errno : EIO;
    if (e == EADDRINUSE) {
        return gp_err_set(err, -EADDRINUSE,
                          "cannot listen on %s: the address is in use (another agent or program "
                          "holds it; set http.listen or --listen)",
                          cfg->http_listen);
    }
    if (srv->tls) {
        return gp_err_set(err, -EINVAL,
                          "cannot serve TLS with http.tls_cert '%s' and http.tls_key '%s': the key "
                          "does not match the certificate, or either is damaged (%s)",
                          cfg->http_tls_cert, cfg->http_tls_key,
                          srv->start_msg[0] ? srv->start_msg : strerror(e));
    }
    return gp_err_set(err, -EIO, "cannot listen on %s: %s", cfg->http_listen, strerror(e));
}

static void warn_exposure(const struct http_server *srv, const char *hostport)
{
    if (srv->access.loopback) {
        return;
    }
    if (!srv->access.token[0]) {
        log_warn("http",
                 "listening on %s, beyond this machine, without a token: anyone who can reach "
                 "it sees the GPUs, processes and users (set http.token_file)",
                 hostport);
    } else if (!srv->tls) {
        log_warn("http",
                 "listening on %s, beyond this machine, without TLS: the token crosses the "
                 "network in clear text (set http.tls_cert and http.tls_key)",
                 hostport);
    }
}

int http_server_start(const struct config *cfg, struct agent_live *live, struct http_server **out,
                      struct gp_err *err)
{
    *out = NULL;
    struct netaddr addr;
    int rc = netaddr_parse(cfg->http_listen, &addr, err);
    if (rc) {
        return rc;
    }
    const struct http_mhd_lib *mhd = http_mhd_lib_get(err);
    if (!mhd) {
        return err ? err->code : -ENOENT;
    }
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    srv->mhd = mhd;
    srv->cfg = cfg;
    srv->live = live;
    gethostname(srv->host, sizeof(srv->host) - 1);
    snprintf(srv->pool.path, sizeof(srv->pool.path), "%s", cfg->database);
    pthread_mutex_init(&srv->pool.lock, NULL);
    pthread_mutex_init(&srv->metrics_cache.lock, NULL);
    pthread_mutex_init(&srv->now_cache.lock, NULL);
    pthread_mutex_init(&srv->heavy_lock, NULL);
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC); /* http_heavy_enter's deadline */
    pthread_cond_init(&srv->heavy_done, &monotonic);
    pthread_condattr_destroy(&monotonic);
    http_answers_init(&srv->answers, HTTP_ANSWERS_MAX_BYTES);
    /* The port asked for; one the system chooses is known once bound, and
     * to no client before. */
    in_port_t port = addr.ipv6 ? ((struct sockaddr_in6 *)&addr.ss)->sin6_port
                               : ((struct sockaddr_in *)&addr.ss)->sin_port;
    rc = http_access_init(&srv->access, cfg, &addr, ntohs(port), err);
    if (rc == 0) {
        rc = load_tls(srv, cfg, err);
    }
    if (rc == 0) {
        rc = http_conns_start(&srv->conns);
        if (rc) {
            gp_err_set(err, rc, "cannot start the HTTP server's thread: %s", strerror(-rc));
        }
    }
    if (rc == 0) {
        rc = start_daemon(srv, &addr, err);
    }
    if (rc) {
        http_server_stop(srv);
        return rc;
    }
    const union MHD_DaemonInfo *info = mhd->get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : 0;
    atomic_store(&srv->access.port, srv->port);
    char hostport[96];
    netaddr_format(&addr, srv->port, hostport, sizeof(hostport));
    snprintf(srv->url, sizeof(srv->url), "%s://%s/", srv->tls ? "https" : "http", hostport);
    warn_exposure(srv, hostport);
    *out = srv;
    return 0;
}

unsigned http_server_port(const struct http_server *s)
{
    return s->port;
}

const char *http_server_url(const struct http_server *s)
{
    return s->url;
}

static void tick_cache_fini(const struct http_mhd_lib *mhd, struct http_tick_cache *c)
{
    if (c->response) {
        mhd->destroy_response(c->response);
    }
    if (c->gzipped) {
        mhd->destroy_response(c->gzipped);
    }
    pthread_mutex_destroy(&c->lock);
}

void http_server_stop(struct http_server *s)
{
    if (!s) {
        return;
    }
    if (s->daemon) {
        s->mhd->stop_daemon(s->daemon);
    }
    http_conns_stop(&s->conns);
    pthread_mutex_destroy(&s->heavy_lock);
    pthread_cond_destroy(&s->heavy_done);
    if (s->tls_key) {
        explicit_bzero(s->tls_key, strlen(s->tls_key));
    }
    free(s->tls_key);
    free(s->tls_cert);
    for (size_t i = 0; i < s->pool.free_count; i++) {
        store_close(s->pool.free_list[i]);
    }
    pthread_mutex_destroy(&s->pool.lock);
    tick_cache_fini(s->mhd, &s->metrics_cache);
    tick_cache_fini(s->mhd, &s->now_cache);
    http_answers_fini(&s->answers);
    free(s);
}

/* True when Accept-Encoding lists gzip without q=0 (RFC 9110 12.5.3). */
static bool accepts_gzip(const struct http_mhd_lib *mhd, struct MHD_Connection *conn)
{
    const char *ae = mhd->lookup_connection_value(conn, MHD_HEADER_KIND, "Accept-Encoding");
    while (ae && *ae) {
        while (*ae == ' ' || *ae == ',') {
            ae++;
        }
        size_t n = strcspn(ae, ",");
        char item[64];
        snprintf(item, sizeof(item), "%.*s", (int)(n < sizeof(item) ? n : sizeof(item) - 1), ae);
        ae += n;
        char *semi = strchr(item, ';');
        if (semi) {
            *semi = '\0';
        }
        size_t len = strcspn(item, " ");
        if (len != 4 || strncmp(item, "gzip", 4) != 0) {
            continue;
        }
        const char *q = semi ? strstr(semi + 1, "q=") : NULL;
        double weight = 1;
        if (q && strparse_double(q + 2, 0.0, 1.0, &weight) != 0) {
            weight = 1;
        }
        return weight > 0;
    }
    return false;
}

/* Makes the tick's responses from body: plain and gzip-encoded. */
static void tick_cache_replace(const struct http_mhd_lib *mhd, struct http_tick_cache *c,
                               uint64_t seq, struct dynbuf *body, const struct http_reply *reply)
{
    char *zipped = NULL;
    size_t zipped_len = 0;
    struct MHD_Response *gz = NULL;
    if (gzip_compress(body->data ? body->data : "", body->len, &zipped, &zipped_len) == 0) {
        gz = mhd->create_response_from_buffer(zipped_len, zipped, MHD_RESPMEM_MUST_FREE);
        if (!gz) {
            free(zipped);
        } else if (add_common_headers(mhd, gz, reply) != MHD_YES ||
                   mhd->add_response_header(gz, "Content-Encoding", "gzip") != MHD_YES ||
                   mhd->add_response_header(gz, "Vary", "Accept-Encoding") != MHD_YES) {
            mhd->destroy_response(gz);
            gz = NULL;
        }
    }
    size_t len = 0;
    char *data = dynbuf_take(body, &len);
    struct MHD_Response *r = mhd->create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(data);
    } else if (add_common_headers(mhd, r, reply) != MHD_YES ||
               mhd->add_response_header(r, "Vary", "Accept-Encoding") != MHD_YES) {
        mhd->destroy_response(r);
        r = NULL;
    }
    if (!r) {
        if (gz) {
            mhd->destroy_response(gz);
        }
        return;
    }
    if (c->response) {
        mhd->destroy_response(c->response);
    }
    if (c->gzipped) {
        mhd->destroy_response(c->gzipped);
    }
    c->response = r;
    c->gzipped = gz;
    c->seq = seq;
}

enum MHD_Result http_tick_cache_queue(struct http_server *srv, struct MHD_Connection *conn,
                                      struct http_reply *reply)
{
    struct http_tick_cache *c = reply->cached;
    const struct agent_live_frame *f = agent_live_acquire(srv->live);
    if (!f) {
        reply->cached = NULL;
        http_reply_error(reply, 503, NULL, "no sample yet: the agent has just started");
        return send_reply(srv, conn, reply);
    }
    pthread_mutex_lock(&c->lock);
    if (c->seq != f->seq || !c->response) {
        /* Built under the lock: concurrent requests for a new tick wait for
         * one build instead of each making its own. */
        struct dynbuf body;
        dynbuf_init(&body, HTTP_MAX_RESPONSE_BYTES);
        if (reply->build(srv, f, &body) == 0) {
            tick_cache_replace(srv->mhd, c, f->seq, &body, reply);
        }
        dynbuf_fini(&body);
    }
    enum MHD_Result res = MHD_NO;
    bool fresh = c->response && c->seq == f->seq;
    if (fresh) {
        /* Queued under the lock, so the next tick cannot free it first. */
        res = srv->mhd->queue_response(
            conn, 200, c->gzipped && accepts_gzip(srv->mhd, conn) ? c->gzipped : c->response);
    }
    pthread_mutex_unlock(&c->lock);
    agent_live_release(f);
    if (!fresh) {
        reply->cached = NULL;
        http_reply_error(reply, 503, NULL, "the answer could not be made (too large)");
        return send_reply(srv, conn, reply);
    }
    return res;
}
