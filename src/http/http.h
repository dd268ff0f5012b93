/* The agent's HTTP server (libmicrohttpd): the dashboard, the JSON API, the
 * activity graph and Prometheus metrics. The latest readings come from the
 * agent's memory, history from read-only database connections. */
#ifndef GPULSE_HTTP_HTTP_H
#define GPULSE_HTTP_HTTP_H

#include "agent/live.h"
#include "config/config.h"
#include "util/common.h"

struct http_server;

/* Limits on what a client may send or hold. One address holds at most an
 * eighth of the connections, so a flood from one leaves slots for the
 * others; and each connection has a deadline for what it does, however
 * slowly it keeps sending (libmicrohttpd's own timeout counts idle time
 * only): its request line and headers from the accept, the answer from
 * the headers, the next request's line and headers on a kept-alive
 * connection from the previous answer. */
#define HTTP_MAX_CONNECTIONS    256
#define HTTP_MAX_PER_IP         32
#define HTTP_MAX_HEADERS        64
#define HTTP_REQUEST_MEMORY     (16 * 1024) /* request line and headers */
#define HTTP_HEADER_DEADLINE_S  10
#define HTTP_ANSWER_DEADLINE_S  60
#define HTTP_KEEPALIVE_S        15 /* also the idle timeout */
#define HTTP_MAX_RESPONSE_BYTES ((size_t)32 * 1024 * 1024)
/* History answers made at once; others wait their turn. And the answer
 * bodies queued to clients and not read yet, together: past this, a new
 * history request is answered 503 with Retry-After. Both bound the
 * memory clients can make the agent hold (docs/http.md). */
#define HTTP_HEAVY_AT_ONCE       2
#define HTTP_IN_FLIGHT_MAX_BYTES ((size_t)64 * 1024 * 1024)

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
