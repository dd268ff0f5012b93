/* The agent's HTTP server (libmicrohttpd): the dashboard, the JSON API, the
 * activity graph and Prometheus metrics. The latest readings come from the
 * agent's memory, history from read-only database connections. */
#ifndef GPULSE_HTTP_HTTP_H
#define GPULSE_HTTP_HTTP_H

#include "agent/live.h"
#include "config/config.h"
#include "util/common.h"

struct http_server;

/* Limits on what a client may send or hold. */
#define HTTP_MAX_CONNECTIONS    256
#define HTTP_MAX_PER_IP         128
#define HTTP_MAX_HEADERS        64
#define HTTP_REQUEST_MEMORY     (16 * 1024) /* request line and headers */
#define HTTP_IDLE_TIMEOUT_S     30
#define HTTP_MAX_RESPONSE_BYTES ((size_t)32 * 1024 * 1024)

/* Starts serving on cfg->http_listen. cfg and live must outlive the server.
 * Returns 0, or -EINVAL (bad address), -EADDRINUSE or -EIO with err naming
 * the address and the problem. Stop with http_server_stop(). */
GP_NODISCARD int http_server_start(const struct config *cfg, struct agent_live *live,
                                   struct http_server **out, struct gp_err *err);

/* The port it listens on (the one the system chose when asked for 0). */
unsigned http_server_port(const struct http_server *s);

/* The dashboard's address, e.g. "http://127.0.0.1:8080/". */
const char *http_server_url(const struct http_server *s);

/* Stops accepting, finishes the requests in flight and frees it; NULL is a
 * no-op. */
void http_server_stop(struct http_server *s);

#endif
