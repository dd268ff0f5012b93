/* The HTTP subsystem's private parts: the request a handler sees, the reply
 * it fills, and the handlers themselves. */
#ifndef GPULSE_HTTP_HTTP_INT_H
#define GPULSE_HTTP_HTTP_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/live.h"
#include "config/config.h"
#include "http/mhd_lib.h"
#include "store/store.h"
#include "util/dynbuf.h"

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
