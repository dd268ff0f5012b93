/* The HTTP subsystem's private parts: the request a handler sees, the reply
 * it fills, and the handlers themselves. */
#ifndef GPULSE_HTTP_HTTP_INT_H
#define GPULSE_HTTP_HTTP_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/live.h"
#include "config/config.h"
#include "http/mhd_lib.h"
#include "store/store.h"
#include "util/dynbuf.h"
#include "util/netaddr.h"

/* Read-only database connections, one per worker thread at most. */
struct http_store_pool {
    pthread_mutex_t lock; /* guards the free list */
    struct store *free_list[16];
    size_t free_count;
    char path[512];
};

/* A response that stays valid for one tick (metrics, /api/v1/now). */
struct http_tick_cache {
    pthread_mutex_t lock;
    uint64_t seq; /* of the frame it was made from; 0: none */
    struct MHD_Response *response;
    struct MHD_Response *gzipped; /* the same, gzip-encoded, for clients that take it */
};

/* Answers computed from the database (history, activity, the SVG), kept
 * while the data they read has not changed: each answer reads stored data
 * before its to_ms only, and a flush of new samples changes data from
 * their hour (or local day) on (store_changes_from_ms), so an answer over
 * closed periods outlives the flushes, and one that reaches the newest
 * data lasts until the next flush (10 s by default), shared meanwhile by
 * every client polling the same chart. Retention drops them all. Bounded
 * in bytes whatever the requests: HTTP_ANSWERS_MAX_BYTES for all bodies
 * together, none over a quarter of it; the least recently used goes first.
 * A one-year history for 8 GPUs is 0.3 MB, a month 0.6 MB
 * (docs/performance.md). */
#define HTTP_ANSWERS_MAX_BYTES ((size_t)4 << 20)
#define HTTP_ANSWERS_MIN_KEPT  4 /* an answer over max_bytes / this is not kept */
#define HTTP_ANSWERS_ENTRIES   64
struct http_answer {
    char key[320]; /* the endpoint and its normalised parameters; "" when free */
    int64_t to_ms; /* it read stored data before this only (INT64_MAX: any) */
    uint64_t used; /* the cache's clock when last put or served: least recent goes */
    char *body;    /* NULL when free */
    size_t len;
    unsigned status;
    const char *content_type; /* static strings */
    const char *cache_control;
    char etag[48];
};

struct http_answers {
    pthread_mutex_t lock; /* guards everything below */
    struct http_answer entries[HTTP_ANSWERS_ENTRIES];
    size_t bytes;          /* the bodies kept, together */
    size_t max_bytes;      /* their bound */
    uint64_t seen_version; /* agent_live's data version the entries were checked at */
    uint64_t clock;
};

/* Who may ask (access.c). */
#define HTTP_TOKEN_COOKIE "gpulse_token" /* the dashboard's copy of the token */
struct http_access {
    bool loopback;        /* listening on a loopback address */
    bool wildcard;        /* on 0.0.0.0 or [::]: every address of the machine */
    char listen_host[64]; /* the listen address as a Host names it: "[::1]" */
    atomic_uint port;     /* the port listened on (set once bound) */
    char hostname[256];   /* this machine's name */
    char allowed[512];    /* http.allowed_hosts, comma-separated */
    char token[128];      /* "": no token needed */
};

/* A connection the server holds, and the time by which it must have done
 * what it is doing (conns.c). */
struct http_conn {
    struct http_conn *prev;
    struct http_conn *next;
    int fd;
    unsigned long inode; /* of its socket: a reused fd is not shut */
    int64_t deadline_ms; /* monotonic; INT64_MAX: none (shut already) */
    size_t answer_bytes; /* the body it is being sent, counted in in_flight_bytes */
};

struct http_conns {
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;
    struct http_conn *head;
    size_t count;
    size_t in_flight_bytes; /* answer bodies queued and not yet sent, together */
    bool stop;
    bool ready;   /* the lock and condition are initialised */
    bool running; /* the sweeper runs */
    pthread_t sweeper;
};

struct http_server {
    const struct http_mhd_lib *mhd; /* libmicrohttpd, loaded at start */
    struct MHD_Daemon *daemon;
    const struct config *cfg;
    struct agent_live *live;
    char host[256];
    char url[128];
    unsigned port;
    struct http_store_pool pool;
    struct http_tick_cache metrics_cache;
    struct http_tick_cache now_cache;
    struct http_answers answers;
    struct http_access access;
    struct http_conns conns;
    bool tls;
    char *tls_cert; /* PEM text, kept while the daemon runs */
    char *tls_key;
    atomic_bool starting;       /* start_daemon is running: start_msg keeps what it says */
    char start_msg[256];        /* libmicrohttpd's last message while starting */
    pthread_mutex_t heavy_lock; /* guards heavy_running */
    pthread_cond_t heavy_done;
    unsigned heavy_running; /* history answers being made */
};

struct http_request {
    struct http_server *srv;
    struct MHD_Connection *conn;
    const char *path;
    bool head; /* HEAD: headers only */
};

struct http_reply {
    unsigned status;
    const char *content_type;
    struct dynbuf body;
    char etag[48];             /* "" for none */
    const char *cache_control; /* NULL: no-store */
    bool dashboard;            /* the page and its assets: a strict CSP */
    const void *static_data;   /* a built-in asset, served as is */
    size_t static_len;
    struct http_tick_cache *cached; /* answer from this tick's cache instead */
    int (*build)(struct http_server *srv, const struct agent_live_frame *f,
                 struct dynbuf *body); /* what fills the cache on a new tick */
    bool challenge;                    /* a 401: WWW-Authenticate: Bearer */
    unsigned retry_after_s;            /* a 503 that passes: Retry-After */
    const char *location;              /* a redirect's target */
    char set_cookie[256];              /* "" for none */
    bool counted;                      /* its body is counted in flight already */
};

/* ----------------------------------------------------------- request.c -- */

/* Fills reply with a JSON error: {"error": {"status", "message",
 * "parameter"}}; parameter may be NULL. */
void http_reply_error(struct http_reply *reply, unsigned status, const char *parameter,
                      const char *fmt, ...) GP_PRINTF(4, 5);

/* The allowed list of an endpoint that takes no parameter. */
extern const char *const http_no_params[];

/* Answers 400 naming the first query parameter not in allowed (a
 * NULL-terminated list) or given twice. Returns 0 when all are fine. */
int http_check_params(struct http_request *req, struct http_reply *reply,
                      const char *const *allowed);

/* A query parameter's value, or NULL when absent. */
const char *http_param(struct http_request *req, const char *name);

/* A request header's value (name case-insensitive), or NULL when absent. */
const char *http_header(struct http_request *req, const char *name);

/* Parses an integer parameter in [min, max]; absent gives def. Returns 0,
 * or -1 after filling reply with a 400 naming the parameter. */
int http_param_int(struct http_request *req, struct http_reply *reply, const char *name,
                   int64_t min, int64_t max, int64_t def, int64_t *out);

/* Parses a time parameter (ISO 8601, Unix seconds, "-24h", "now"); absent
 * gives def. Returns 0 or -1 as http_param_int. */
int http_param_time(struct http_request *req, struct http_reply *reply, const char *name,
                    int64_t now_ms, int64_t def, int64_t *out_ms);

/* Parses a boolean (true/false/1/0/yes/no); as http_param_int. */
int http_param_bool(struct http_request *req, struct http_reply *reply, const char *name, bool def,
                    bool *out);

/* Checks a gpu parameter: "all", an index or a "GPU-" UUID, at most 95
 * characters. Returns 0 or -1 as http_param_int; *out is NULL when absent. */
int http_param_gpu(struct http_request *req, struct http_reply *reply, const char *name,
                   const char **out);

/* Sets reply's body to v (which it takes) written as every resource's
 * JSON is (REPORT_JSON_FLAGS, as the CLI writes it) and its content type;
 * a body past the response cap becomes a 500. */
void http_reply_json(struct http_reply *reply, json_t *v);

/* Finishes a JSON reply whose body the handler appended itself (after
 * dynbuf_reset): sets its type and status, or makes it a 500 when rc (the
 * writer's result) or the body's error says it failed (past the cap). */
void http_reply_json_written(struct http_reply *reply, int rc);

/* Takes a read-only database connection (opening one if none is free), or
 * fills reply with a 503 and returns NULL. Give it back with
 * http_store_put(). */
struct store *http_store_get(struct http_server *srv, struct http_reply *reply);
void http_store_put(struct http_server *srv, struct store *s);

/* Waits until fewer than HTTP_HEAVY_AT_ONCE answers that may take much
 * memory (history) are being made, and counts this one; leave when its
 * rows are freed. Waits at most HTTP_HEAVY_WAIT_MS and returns false
 * (not counted) when the others are still being made: the wait holds a
 * libmicrohttpd worker and every connection it serves (/health too), so
 * the caller answers 503 with Retry-After instead of waiting longer. */
#define HTTP_HEAVY_WAIT_MS 500
GP_NODISCARD bool http_heavy_enter(struct http_server *srv);
void http_heavy_leave(struct http_server *srv);

/* Counts reply's body as in flight on req's connection now, rather than
 * when it is queued. */
void http_reply_count_in_flight(struct http_request *req, struct http_reply *reply);

/* The record conns.c keeps of conn, or NULL. */
struct http_conn *http_conn_of(const struct http_server *srv, struct MHD_Connection *conn);

/* ------------------------------------------------------------ access.c -- */

/* Fills a for a server listening on addr and port with cfg's allowed
 * hosts and token (http.token, or the first line of http.token_file).
 * Returns 0, or -EINVAL / -errno with err naming the key and file: both
 * keys set, an unreadable file, a token under CONFIG_TOKEN_MIN_CHARS or with
 * characters that cannot travel in a header. */
GP_NODISCARD int http_access_init(struct http_access *a, const struct config *cfg,
                                  const struct netaddr *addr, unsigned port, struct gp_err *err);

/* Checks a request's Host header (NULL when absent; required: HTTP/1.1).
 * Allowed: the listen address, the names in http.allowed_hosts, localhost,
 * 127.0.0.1 and [::1] on a loopback or wildcard address, this machine's
 * name and (on a wildcard) any IP address beyond loopback listening; a
 * port, when given, must be the one listened on. Returns 0, 400 (missing
 * or malformed) or 421 (another host or port) with why saying which. */
unsigned http_access_check_host(const struct http_access *a, const char *host, bool required,
                                char *why, size_t why_size);

/* True when no token is set, or the request carries it: "Authorization:
 * Bearer TOKEN", or the HTTP_TOKEN_COOKIE cookie in cookies (the Cookie
 * header; either may be NULL). Compared in constant time. */
bool http_access_token_ok(const struct http_access *a, const char *authorization,
                          const char *cookies);

/* True when req may go on: its Host is one of ours (version "HTTP/1.0"
 * may leave it out) and it carries the token where one is set (/health
 * never needs it). Else it fills reply: 400 or 421 for the Host, 401 with
 * a Bearer challenge for the token, or 303 to "/" with the token's
 * cookie when the page's address held the right one (?token=). */
bool http_access_admit(struct http_request *req, struct http_reply *reply, const char *version);

/* True when given equals secret; the time taken depends on secret's length
 * only. */
bool http_access_secret_equal(const char *given, const char *secret);

/* Reads a whole file of at most 1 MiB into *out (NUL-terminated; caller
 * frees with free()) and its length into *len_out (may be NULL). Returns 0,
 * or a negative errno with err naming key and path. */
GP_NODISCARD int http_access_read_file(const char *path, const char *key, char **out,
                                       size_t *len_out, struct gp_err *err);

/* As http_access_read_file for a PEM file that must hold a certificate (or,
 * with private_key, a private key): -EINVAL naming key and path when it
 * holds none. */
GP_NODISCARD int http_access_read_pem(const char *path, const char *key, bool private_key,
                                      char **out, struct gp_err *err);

/* ------------------------------------------------------------- conns.c -- */

/* Starts the thread that shuts connections past their deadline. Returns 0
 * or a negative errno. Stop with http_conns_stop() after the daemon. */
GP_NODISCARD int http_conns_start(struct http_conns *c);
void http_conns_stop(struct http_conns *c);

/* A connection accepted on fd: its deadline is HTTP_HEADER_DEADLINE_S
 * from now. Returns the record (freed by http_conns_closed). */
struct http_conn *http_conns_opened(struct http_conns *c, int fd);
void http_conns_closed(struct http_conns *c, struct http_conn *conn);

/* Moves conn's deadline to now + seconds. */
void http_conns_deadline(struct http_conns *c, struct http_conn *conn, unsigned seconds);

/* Counts bytes of answer body queued on conn (until http_conns_sent). */
void http_conns_sending(struct http_conns *c, struct http_conn *conn, size_t bytes);
void http_conns_sent(struct http_conns *c, struct http_conn *conn);

/* The answer bodies queued on every connection and not sent yet. */
size_t http_conns_in_flight_bytes(struct http_conns *c);

/* ----------------------------------------------------------- answers.c -- */

/* An empty cache holding at most max_bytes of bodies. Free with
 * http_answers_fini(). */
void http_answers_init(struct http_answers *c, size_t max_bytes);
void http_answers_fini(struct http_answers *c);

/* Fills reply from the cache when key's answer is kept and the data it
 * read has not changed since (live says what changed; stale answers are
 * dropped on the way). Returns true then. */
bool http_answers_get(struct http_answers *c, struct agent_live *live, const char *key,
                      struct http_reply *reply);

/* Keeps a 200 reply's body, type, caching headers and ETag under key,
 * computed from the data at version (agent_live_data_version() read
 * before the query) and reading stored data before to_ms only (INT64_MAX
 * when it reaches the newest data). Not kept when a change since version
 * already reached before to_ms, or when the body is over max_bytes /
 * HTTP_ANSWERS_MIN_KEPT; least recently used answers go to make room. */
void http_answers_put(struct http_answers *c, struct agent_live *live, const char *key,
                      uint64_t version, int64_t to_ms, const struct http_reply *reply);

/* ------------------------------------- the endpoints: api_<name>.c each -- */

typedef void (*http_handler_fn)(struct http_request *req, struct http_reply *reply);

/* The handler the route table (server.c) gives path, an exact match such
 * as "/api/v1/history" without the query; NULL for any other path (a
 * dashboard asset or a 404). */
http_handler_fn http_route_find(const char *path);

/* Each answers one path (the route table in server.c): it checks its
 * parameters (a 400 naming a bad one), builds its resource with report/
 * and fills reply. */

void http_api_health(struct http_request *req, struct http_reply *reply);

/* Before the agent's first tick (api_health.c): answers 503 "no sample
 * yet: " and why (agent_live_starting_reason) and returns true; after it,
 * false. For the answers made from a tick. */
bool http_reply_if_starting(struct http_server *srv, struct http_reply *reply);
void http_api_info(struct http_request *req, struct http_reply *reply);
void http_api_now(struct http_request *req, struct http_reply *reply);
void http_api_history(struct http_request *req, struct http_reply *reply);
void http_api_processes(struct http_request *req, struct http_reply *reply);
void http_api_activity(struct http_request *req, struct http_reply *reply);
void http_api_users(struct http_request *req, struct http_reply *reply);
void http_api_svg(struct http_request *req, struct http_reply *reply);
void http_api_metrics(struct http_request *req, struct http_reply *reply);

/* Queues reply's tick-cached response on conn, building it first when the
 * cache holds an older tick (reply->build fills the body from the frame).
 * Returns MHD_queue_response's result; before the first tick, or when the
 * build fails, it answers 503 instead. */
enum MHD_Result http_tick_cache_queue(struct http_server *srv, struct MHD_Connection *conn,
                                      struct http_reply *reply);

/* ----------------------------------------------------------- assets.c -- */

struct http_asset {
    const char *path; /* "/", "/assets/app.js" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
    const char *etag; /* a hash of the content, quoted */
};

/* The built-in file served at path, or NULL. */
const struct http_asset *http_asset_find(const char *path);

#endif
