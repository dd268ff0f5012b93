/* libFuzzer target: what a client puts in a request, its path, query
 * string and headers, through the endpoints themselves (their parameter
 * checks, the history, process, activity and user queries, the SVG, now,
 * metrics, health, info), without a server. A stand-in for the two
 * libmicrohttpd functions the handlers call serves the query arguments
 * decoded as libmicrohttpd decodes them (split at '&' and the first '=',
 * '+' and %XX unescaped), so a handler sees what it would see behind the
 * real server. The database is a copy of the 0.1.0 release fixture
 * (tests/fixtures/db: three days of two GPUs), the live frame two GPUs.
 *
 * The input is "PATH?QUERY" on its first line and "Name: value" headers on
 * the next ones, as a client sends them. Every request must be answered:
 * a status under 500 (the data is there, and every answer is bounded;
 * /health's 503 excepted: the frame is old),
 * with a body that is what its type says (JSON that parses, an SVG). The
 * same request again, which the answers cache may serve, must be answered
 * the same way. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agent/live.h"
#include "config/config.h"
#include "http/http.h"
#include "http/http_int.h"
#include "proc/procinfo.h"
#include "util/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_VALUES 64

struct kv {
    char *key;
    char *value; /* NULL for an argument without '=' */
};

/* The request being answered: what the stand-in functions serve. */
static struct {
    struct kv args[MAX_VALUES];
    size_t arg_count;
    struct kv headers[MAX_VALUES];
    size_t header_count;
} cur;

static const char *fake_lookup(struct MHD_Connection *conn, enum MHD_ValueKind kind,
                               const char *key)
{
    (void)conn;
    const struct kv *v = kind == MHD_GET_ARGUMENT_KIND ? cur.args : cur.headers;
    size_t n = kind == MHD_GET_ARGUMENT_KIND ? cur.arg_count : cur.header_count;
    for (size_t i = 0; i < n; i++) {
        /* Argument names are case-sensitive, header names not. */
        if (kind == MHD_GET_ARGUMENT_KIND ? strcmp(v[i].key, key) == 0
                                          : strcasecmp(v[i].key, key) == 0) {
            return v[i].value;
        }
    }
    return NULL;
}

static int fake_values(struct MHD_Connection *conn, enum MHD_ValueKind kind,
                       MHD_KeyValueIterator it, void *cls)
{
    (void)conn;
    const struct kv *v = kind == MHD_GET_ARGUMENT_KIND ? cur.args : cur.headers;
    size_t n = kind == MHD_GET_ARGUMENT_KIND ? cur.arg_count : cur.header_count;
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        count++;
        if (it && it(cls, kind, v[i].key, v[i].value) != MHD_YES) {
            break;
        }
    }
    return count;
}

/* No connection behind the request: no socket context, so the answer's
 * bytes in flight and its deadline are not counted (http_conn_of NULL). */
static const union MHD_ConnectionInfo *fake_info(struct MHD_Connection *conn,
                                                 enum MHD_ConnectionInfoType type, ...)
{
    (void)conn;
    (void)type;
    return NULL;
}

static int hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* A copy of [s, s + len) with %XX decoded (and '+' as a space when plus),
 * as libmicrohttpd unescapes the path and the arguments; the C string ends
 * at a decoded NUL. */
static char *unescape(const char *s, size_t len, bool plus)
{
    char *out = xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (plus && s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < len && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            out[o++] = (char)(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static void parse_query(const char *q, size_t len)
{
    size_t i = 0;
    while (i < len && cur.arg_count < MAX_VALUES) {
        size_t end = i;
        while (end < len && q[end] != '&') {
            end++;
        }
        if (end > i) {
            const char *eq = memchr(q + i, '=', end - i);
            struct kv *a = &cur.args[cur.arg_count++];
            a->key = unescape(q + i, (size_t)((eq ? eq : q + end) - (q + i)), true);
            a->value = eq ? unescape(eq + 1, (size_t)(q + end - eq - 1), true) : NULL;
        }
        i = end + 1;
    }
}

static char *dup_n(const char *s, size_t len)
{
    char *out = xmalloc(len + 1);
    memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

static void parse_headers(const char *h, size_t len)
{
    size_t i = 0;
    while (i < len && cur.header_count < MAX_VALUES) {
        const char *nl = memchr(h + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - h) : len;
        const char *colon = memchr(h + i, ':', end - i);
        if (colon) {
            struct kv *a = &cur.headers[cur.header_count++];
            a->key = dup_n(h + i, (size_t)(colon - (h + i)));
            const char *v = colon + 1;
            while (v < h + end && (*v == ' ' || *v == '\t')) {
                v++;
            }
            a->value = dup_n(v, (size_t)(h + end - v));
        }
        i = end + 1;
    }
}

static void clear_request(void)
{
    for (size_t i = 0; i < cur.arg_count; i++) {
        free(cur.args[i].key);
        free(cur.args[i].value);
    }
    for (size_t i = 0; i < cur.header_count; i++) {
        free(cur.headers[i].key);
        free(cur.headers[i].value);
    }
    memset(&cur, 0, sizeof(cur));
}

/* -------------------------------------------------------- the server -- */

static struct http_mhd_lib fake_mhd;
static struct config cfg;
static struct http_server srv;
static char dir[64];

/* Three GPUs as the sampler would publish them: GPU i at 30 * i %
 * utilization with i processes (users u0, u1, ...), the last one lost. */
static struct agent_live *live_with_frame(void)
{
    enum {
        GPUS = 3
    };
    struct gpu_snapshot snap = { .time_ms = 1762228800000, .gpu_count = GPUS };
    snap.gpus = xcalloc(GPUS, sizeof(*snap.gpus));
    for (unsigned i = 0; i < GPUS; i++) {
        struct gpu_reading *r = &snap.gpus[i];
        r->id.index = i;
        snprintf(r->id.uuid, sizeof(r->id.uuid), "GPU-fuzz-%u", i);
        snprintf(r->id.name, sizeof(r->id.name), "Sim <%u> \"H100\"", i);
        if (i == GPUS - 1) {
            r->state = GPU_STATE_LOST;
            continue;
        }
        gpu_values_set(&r->values, GPU_FIELD_UTIL_GPU_PCT, 30 * i);
        r->busy = (struct gpu_busy){ .source = GPU_BUSY_SAMPLES,
                                     .busy_us = 300000 * i,
                                     .window_us = 1000000 };
        r->process_count = i;
        r->processes = i ? xcalloc(i, sizeof(*r->processes)) : NULL;
        for (unsigned k = 0; k < i; k++) {
            struct proc_info *who = proc_info_new();
            who->found = true;
            snprintf(who->user, sizeof(who->user), "u%u", k);
            snprintf(who->comm, sizeof(who->comm), "job-%u", k);
            r->processes[k] = (struct gpu_process){ .pid = 1000 + k,
                                                    .has_used_memory = true,
                                                    .used_memory_bytes = (k + 1) << 20,
                                                    .proc = who };
        }
    }
    struct agent_live *l = agent_live_new(1000);
    agent_live_publish(l, &snap, 0, 0);
    gpu_snapshot_fini(&snap);
    return l;
}

static void remove_dir(void)
{
    static const char *const files[] = { "gpulse.db", "gpulse.db-wal", "gpulse.db-shm",
                                         "gpulse.db.lock" };
    for (size_t i = 0; i < srv.pool.free_count; i++) {
        store_close(srv.pool.free_list[i]);
    }
    srv.pool.free_count = 0;
    for (size_t i = 0; i < GP_ARRAY_LEN(files); i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    FILE *out = fopen(to, "wb");
    int rc = in && out ? 0 : -1;
    char buf[65536];
    size_t n = 0;
    while (rc == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0) {
        rc = fwrite(buf, 1, n, out) == n ? 0 : -1;
    }
    if (in) {
        fclose(in);
    }
    if (out && fclose(out) != 0) {
        rc = -1;
    }
    return rc;
}

static int setup(void)
{
    log_threshold = LOG_LEVEL_CRITICAL + 1; /* handlers' warnings are expected here */
    snprintf(dir, sizeof(dir), "/tmp/gpulse-fuzz-http-XXXXXX");
    if (!mkdtemp(dir)) {
        return -1;
    }
    config_defaults(&cfg);
    snprintf(cfg.database, sizeof(cfg.database), "%s/gpulse.db", dir);
    snprintf(cfg.timezone, sizeof(cfg.timezone), "UTC");
    struct gp_err err = { 0 };
    if (copy_file(FIXTURES "/db/release-0.1.0.db", cfg.database) != 0) {
        fprintf(stderr, "fuzz_http: cannot copy the fixture database to %s\n", dir);
        return -1;
    }
    struct store *s = NULL;
    if (store_open(cfg.database, STORE_READ_WRITE, &s, &err) != 0) { /* migrates it */
        fprintf(stderr, "fuzz_http: %s\n", err.msg);
        return -1;
    }
    store_close(s);
    fake_mhd.lookup_connection_value = fake_lookup;
    fake_mhd.get_connection_values = fake_values;
    fake_mhd.get_connection_info = fake_info;
    srv.mhd = &fake_mhd;
    srv.cfg = &cfg;
    srv.live = live_with_frame();
    snprintf(srv.host, sizeof(srv.host), "fuzzhost");
    snprintf(srv.pool.path, sizeof(srv.pool.path), "%s", cfg.database);
    pthread_mutex_init(&srv.pool.lock, NULL);
    pthread_mutex_init(&srv.metrics_cache.lock, NULL);
    pthread_mutex_init(&srv.now_cache.lock, NULL);
    pthread_mutex_init(&srv.heavy_lock, NULL);
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&srv.heavy_done, &monotonic);
    pthread_condattr_destroy(&monotonic);
    http_answers_init(&srv.answers, HTTP_ANSWERS_MAX_BYTES);
    atexit(remove_dir);
    return 0;
}

/* ------------------------------------------------------- the request -- */

typedef http_handler_fn handler_fn;

/* Answers the current request at path once; returns the status and leaves
 * the body in *body (the caller frees it). */
static unsigned answer(handler_fn handler, const char *path, char **body, size_t *len,
                       const char **type)
{
    struct http_request req = { .srv = &srv,
                                .conn = (struct MHD_Connection *)(void *)&cur,
                                .path = path };
    struct http_reply reply = { 0 };
    dynbuf_init(&reply.body, HTTP_MAX_RESPONSE_BYTES);
    handler(&req, &reply);
    if (reply.cached && reply.build) {
        /* A tick-cached answer (now, metrics): what the cache would build. */
        const struct agent_live_frame *f = agent_live_acquire(srv.live);
        dynbuf_reset(&reply.body);
        if (reply.build(&srv, f, &reply.body) != 0) {
            reply.status = 500;
        } else if (reply.status == 0) {
            reply.status = 200;
        }
        agent_live_release(f);
    }
    *type = reply.content_type;
    *body = dynbuf_take(&reply.body, len);
    dynbuf_fini(&reply.body);
    return reply.status;
}

static void check(handler_fn handler, unsigned status, const char *type, const char *body,
                  size_t len)
{
    /* /health says 503 when the sampler is behind, as this frame is. */
    bool health_503 = handler == http_api_health && status == 503;
    if (status < 200 || (status >= 500 && !health_503)) {
        fprintf(stderr, "fuzz_http: status %u: %.*s\n", status, (int)(len < 400 ? len : 400), body);
        __builtin_trap();
    }
    if (type && strcmp(type, "application/json") == 0) {
        json_error_t jerr;
        json_t *v = json_loadb(body, len, 0, &jerr);
        if (!v) {
            fprintf(stderr, "fuzz_http: the JSON body does not parse: %s\n", jerr.text);
            __builtin_trap();
        }
        json_decref(v);
    } else if (type && strncmp(type, "image/svg+xml", 13) == 0 && status == 200 &&
               (len < 5 || !strstr(body, "</svg>"))) {
        fprintf(stderr, "fuzz_http: an SVG without its end\n");
        __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready = -1;
    if (ready < 0) {
        ready = setup();
    }
    if (ready != 0) {
        abort();
    }
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size);
    size_t line_len = nl ? (size_t)(nl - text) : size;
    const char *q = memchr(text, '?', line_len);
    size_t path_len = q ? (size_t)(q - text) : line_len;
    char *path = unescape(text, path_len, false);
    handler_fn handler = http_route_find(path);
    if (!handler) {
        free(path);
        return 0; /* the server answers 404 before any handler */
    }
    if (q) {
        parse_query(q + 1, line_len - path_len - 1);
    }
    if (nl) {
        parse_headers(nl + 1, size - line_len - 1);
    }
    for (int round = 0; round < 2; round++) {
        char *body = NULL;
        size_t len = 0;
        const char *type = NULL;
        unsigned status = answer(handler, path, &body, &len, &type);
        if (getenv("FUZZ_HTTP_VERBOSE")) { /* for whoever adds to the corpus */
            fprintf(stderr, "%s: %u, %zu bytes: %.*s\n", path, status, len,
                    (int)(len < 160 ? len : 160), body);
        }
        check(handler, status, type, body, len);
        free(body);
    }
    clear_request();
    free(path);
    return 0;
}
