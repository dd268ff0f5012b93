/* The endpoints: health, the JSON API, the activity graph and metrics. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gpu/fields.h"
#include "http/http_int.h"
#include "http/metrics.h"
#include "http/svg.h"
#include "report/now.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/text.h"
#include "util/xalloc.h"

/* Every endpoint here takes no parameter unless it lists some. */
static const char *const no_params[] = { NULL };

/* ------------------------------------------------------------- health -- */

void http_api_health(struct http_request *req, struct http_reply *reply)
{
    if (http_check_params(req, reply, no_params) != 0) {
        return;
    }
    struct http_server *srv = req->srv;
    int64_t now = clock_realtime_ms();
    const struct agent_live_frame *f = agent_live_acquire(srv->live);
    struct agent_live_store_state st;
    agent_live_store_state(srv->live, &st);
    json_t *failing = json_array();

    /* Sampling works when a tick came within three periods (5 s at least). */
    int64_t max_age = 3 * (int64_t)srv->cfg->interval_ms;
    max_age = max_age < 5000 ? 5000 : max_age;
    int64_t age = f ? now - f->snap.time_ms : -1;
    bool sampling_ok = f && age <= max_age;
    if (!sampling_ok) {
        json_array_append_new(failing, json_string("sampler"));
    }
    size_t seen = f ? f->snap.gpu_count : 0;
    size_t lost = 0;
    for (size_t i = 0; i < seen; i++) {
        lost += f->snap.gpus[i].state == GPU_STATE_LOST;
    }
    bool nvml_ok = f && seen > lost;
    if (f && !nvml_ok) {
        json_array_append_new(failing, json_string("nvml"));
    }
    if (st.failing) {
        json_array_append_new(failing, json_string("database"));
    }
    bool ok = json_array_size(failing) == 0;
    json_t *sampler = json_pack(
        "{s:o, s:o, s:f, s:I, s:I}", "last_sample", report_json_time(f ? f->snap.time_ms : 0),
        "last_sample_age_s", f ? json_real((double)age / 1000.0) : json_null(), "interval_s",
        (double)srv->cfg->interval_ms / 1000.0, "ticks", (json_int_t)(f ? f->counters.ticks : 0),
        "missed_ticks", (json_int_t)(f ? f->counters.missed_ticks : 0));
    json_t *nvml = json_pack("{s:s, s:o}", "state",
                             !f        ? "starting"
                             : nvml_ok ? "ok"
                                       : "all GPUs lost",
                             "library", report_json_text(f ? f->snap.system.lib_path : ""));
    json_t *db = json_pack("{s:s, s:o, s:o, s:o}", "state", st.failing ? "failing" : "ok", "path",
                           report_json_text(srv->cfg->database), "last_write",
                           report_json_time(st.last_ok_ms), "error",
                           st.failing ? report_json_text(st.error) : json_null());
    json_t *root =
        json_pack("{s:s, s:o, s:o, s:o, s:o, s:{s:I, s:I}, s:{s:I}}", "status",
                  ok ? "ok" : "failing", "failing", failing, "sampler", sampler, "nvml", nvml,
                  "database", db, "gpus", "seen", (json_int_t)seen, "lost", (json_int_t)lost,
                  "queue", "dropped", (json_int_t)(f ? f->counters.queue_dropped : 0));
    agent_live_release(f);
    reply->status = ok ? 200 : 503;
    http_reply_json(reply, root);
}

/* --------------------------------------------------------------- info -- */

void http_api_info(struct http_request *req, struct http_reply *reply)
{
    if (http_check_params(req, reply, no_params) != 0) {
        return;
    }
    struct http_server *srv = req->srv;
    const struct agent_live_frame *f = agent_live_acquire(srv->live);
    if (!f) {
        http_reply_error(reply, 503, NULL, "no sample yet: the agent has just started");
        return;
    }
    const struct gpu_system *sys = &f->snap.system;
    char cuda[32] = "";
    gpu_cuda_version_format(sys, cuda, sizeof(cuda));
    json_t *gpus = json_array();
    for (size_t i = 0; i < f->snap.gpu_count; i++) {
        const struct gpu_reading *r = &f->snap.gpus[i];
        const struct gpu_values *v = &r->values;
        json_t *g =
            json_pack("{s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:s}", "index", (int)r->id.index, "uuid",
                      report_json_text(r->id.uuid), "name", report_json_text(r->id.name), "serial",
                      report_json_text(r->id.serial), "pci_bus_id",
                      report_json_text(r->id.pci_bus_id), "memory_total_bytes",
                      gpu_values_has(v, GPU_FIELD_MEM_TOTAL_BYTES)
                          ? json_integer(v->v[GPU_FIELD_MEM_TOTAL_BYTES])
                          : json_null(),
                      "power_limit_mw",
                      gpu_values_has(v, GPU_FIELD_POWER_LIMIT_MW)
                          ? json_integer(v->v[GPU_FIELD_POWER_LIMIT_MW])
                          : json_null(),
                      "state", r->state == GPU_STATE_LOST ? "lost" : "ok");
        json_array_append_new(gpus, g);
    }
    int64_t now = clock_realtime_ms();
    json_t *root = json_pack(
        "{s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:f, s:f, s:o, s:f, s:o, s:o}", "schema",
        "gpulse.info.v1", "host", report_json_text(srv->host), "gpulse_version", GPULSE_VERSION,
        "driver_version", report_json_text(sys->driver_version), "cuda_version",
        report_json_text(cuda), "nvml_version", report_json_text(sys->nvml_version), "nvml_library",
        report_json_text(sys->lib_path), "agent_start", report_json_time(f->agent_start_ms),
        "uptime_s", (double)(now - f->agent_start_ms) / 1000.0, "interval_s",
        (double)srv->cfg->interval_ms / 1000.0, "timezone",
        report_json_text(srv->cfg->timezone[0] ? srv->cfg->timezone : getenv("TZ")),
        "activity_threshold_pct", srv->cfg->activity_threshold_pct, "database",
        report_json_text(srv->cfg->database), "gpus", gpus);
    agent_live_release(f);
    http_reply_json(reply, root);
}

/* ---------------------------------------------------------------- now -- */

static int build_now(struct http_server *srv, const struct agent_live_frame *f, struct dynbuf *body)
{
    struct report_now_opts ro = { .host = srv->host };
    json_t *root = report_now_json(&f->snap, &ro);
    json_object_set_new(root, "agent_start", report_json_time(f->agent_start_ms));
    json_object_set_new(root, "interval_s", json_real((double)f->interval_ms / 1000.0));
    char *text = json_dumps(root, REPORT_JSON_FLAGS);
    json_decref(root);
    int rc = text ? dynbuf_adds(body, text) : -ENOMEM;
    rc = rc ? rc : dynbuf_adds(body, "\n");
    free(text);
    return rc;
}

void http_api_now(struct http_request *req, struct http_reply *reply)
{
    if (http_check_params(req, reply, no_params) != 0) {
        return;
    }
    reply->cached = &req->srv->now_cache;
    reply->build = build_now;
    reply->content_type = "application/json";
}

/* ------------------------------------------------------------ metrics -- */

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
    if (http_check_params(req, reply, no_params) != 0) {
        return;
    }
    reply->cached = &req->srv->metrics_cache;
    reply->build = build_metrics;
    reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static json_t *number_or_null(bool has, double v)
{
    return has && isfinite(v) ? json_real(round(v * 1000.0) / 1000.0) : json_null();
}

/* ---------------------------------------------------------- processes -- */

static const struct {
    const char *name;
    enum store_process_sort sort;
} sort_names[] = {
    { "gpu_seconds", STORE_SORT_GPU_SECONDS },
    { "sm_seconds", STORE_SORT_SM_SECONDS },
    { "memory", STORE_SORT_MEMORY },
    { "first_seen", STORE_SORT_FIRST_SEEN },
    { "last_seen", STORE_SORT_LAST_SEEN },
    { "pid", STORE_SORT_PID },
    { "user", STORE_SORT_USER },
};

/* The live reading of a stored lifetime, when it runs now. */
static const struct gpu_process *live_process(const struct agent_live_frame *f,
                                              const struct store_process_row *r)
{
    for (size_t i = 0; f && i < f->snap.gpu_count; i++) {
        const struct gpu_reading *g = &f->snap.gpus[i];
        if ((int)g->id.index != r->gpu_index) {
            continue;
        }
        for (size_t k = 0; k < g->process_count; k++) {
            const struct gpu_process *p = &g->processes[k];
            if (p->pid == r->pid && (!p->proc.found || !r->start_time_ms ||
                                     p->proc.start_time_ms == r->start_time_ms)) {
                return p;
            }
        }
    }
    return NULL;
}

void http_api_processes(struct http_request *req, struct http_reply *reply)
{
    static const char *const params[] = { "active", "since", "user",  "gpu",
                                          "q",      "sort",  "limit", NULL };
    if (http_check_params(req, reply, params) != 0) {
        return;
    }
    struct http_server *srv = req->srv;
    int64_t now = clock_realtime_ms();
    bool active = false;
    int64_t limit = 0;
    struct store_process_filter filter = { .sort = STORE_SORT_LAST_SEEN };
    if (http_param_bool(req, reply, "active", false, &active) != 0 ||
        http_param_time(req, reply, "since", now, 0, &filter.since_ms) != 0 ||
        http_param_gpu(req, reply, "gpu", &filter.gpu) != 0 ||
        http_param_int(req, reply, "limit", 1, 10000, 100, &limit) != 0) {
        return;
    }
    filter.limit = limit;
    filter.user = http_param(req, "user");
    filter.query = http_param(req, "q");
    const char *too_long = filter.user && strlen(filter.user) > 256     ? "user"
                           : filter.query && strlen(filter.query) > 256 ? "q"
                                                                        : NULL;
    if (too_long) {
        http_reply_error(reply, 400, too_long, "%s: longer than 256 characters", too_long);
        return;
    }
    if (filter.gpu && strcmp(filter.gpu, "all") == 0) {
        filter.gpu = NULL;
    }
    const char *sort = http_param(req, "sort");
    if (sort) {
        bool known = false;
        for (size_t i = 0; i < GP_ARRAY_LEN(sort_names); i++) {
            if (strcmp(sort, sort_names[i].name) == 0) {
                filter.sort = sort_names[i].sort;
                known = true;
            }
        }
        if (!known) {
            http_reply_error(reply, 400, "sort",
                             "sort: '%.64s' is not one of gpu_seconds, sm_seconds, memory, "
                             "first_seen, last_seen, pid, user",
                             sort);
            return;
        }
    }
    const struct agent_live_frame *f = agent_live_acquire(srv->live);
    if (active) {
        /* Running now: seen by the last flush (it lags the newest tick by
         * at most a flush interval). */
        int64_t newest = f ? f->snap.time_ms : now;
        int64_t window = (int64_t)(srv->cfg->flush_interval_ms + 3 * srv->cfg->interval_ms);
        filter.since_ms = filter.since_ms > newest - window ? filter.since_ms : newest - window;
    }
    struct store *s = http_store_get(srv, reply);
    if (!s) {
        agent_live_release(f);
        return;
    }
    struct store_process_row *rows = NULL;
    size_t n = 0;
    struct gp_err err = { 0 };
    int rc = store_query_processes(s, &filter, &rows, &n, &err);
    http_store_put(srv, s);
    if (rc) {
        agent_live_release(f);
        http_reply_error(reply, 500, NULL, "%s", err.msg);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct store_process_row *r = &rows[i];
        const struct gpu_process *lp = live_process(f, r);
        json_t *o = json_object();
        json_object_set_new(o, "gpu", json_integer(r->gpu_index));
        json_object_set_new(o, "gpu_uuid", report_json_text(r->gpu_uuid));
        json_object_set_new(o, "pid", json_integer(r->pid));
        json_object_set_new(o, "user", report_json_text(r->user));
        json_object_set_new(o, "uid", r->has_uid ? json_integer(r->uid) : json_null());
        json_object_set_new(o, "command", report_json_text(r->command));
        json_object_set_new(o, "cmdline", report_json_text(r->cmdline));
        json_object_set_new(o, "container", report_json_text(r->container));
        json_object_set_new(o, "type", json_string(report_process_type(r->type_mask)));
        json_object_set_new(o, "active", json_boolean(lp != NULL));
        json_object_set_new(o, "start_time", report_json_time(r->start_time_ms));
        json_object_set_new(o, "first_seen", report_json_time(r->first_seen_ms));
        json_object_set_new(o, "last_seen", report_json_time(r->last_seen_ms));
        json_object_set_new(o, "first_seen_ms", json_integer(r->first_seen_ms));
        json_object_set_new(o, "last_seen_ms", json_integer(r->last_seen_ms));
        json_object_set_new(o, "lifetime_s",
                            json_real((double)(r->last_seen_ms - r->first_seen_ms) / 1000.0));
        json_object_set_new(o, "memory_now_bytes",
                            lp && lp->has_used_memory
                                ? json_integer((json_int_t)lp->used_memory_bytes)
                                : json_null());
        json_object_set_new(o, "memory_max_bytes",
                            r->has_memory ? json_integer(r->memory_max_bytes) : json_null());
        json_object_set_new(o, "memory_avg_bytes",
                            r->has_memory ? json_real(round(r->memory_avg_bytes)) : json_null());
        json_object_set_new(o, "sm_pct_now",
                            lp && lp->has_utilization ? json_integer(lp->sm_pct) : json_null());
        json_object_set_new(o, "sm_pct_avg",
                            r->gpu_seconds > 0
                                ? json_real(round(1000.0 * r->sm_seconds / r->gpu_seconds) / 10.0)
                                : json_null());
        json_object_set_new(o, "gpu_seconds", json_real(r->gpu_seconds));
        json_object_set_new(o, "sm_seconds", json_real(r->sm_seconds));
        json_object_set_new(o, "samples", json_integer(r->samples));
        json_array_append_new(arr, o);
    }
    agent_live_release(f);
    store_process_rows_free(rows, n);
    json_t *root =
        json_pack("{s:s, s:I, s:I, s:o}", "schema", "gpulse.processes.v1", "count",
                  (json_int_t)json_array_size(arr), "limit", (json_int_t)limit, "processes", arr);
    http_reply_json(reply, root);
}

/* -------------------------------------------------------------- users -- */

/* Local midnight of the Monday of t's week, and of the 1st of its month. */
static int64_t local_week_start(int64_t today)
{
    int wd = clock_local_weekday(today);
    int64_t d = today;
    for (int i = 0; i < (wd + 6) % 7; i++) {
        d = clock_local_day_start(d - 1);
    }
    return d;
}

static int64_t local_month_start(int64_t today)
{
    time_t secs = (time_t)(today / 1000);
    struct tm tm = { 0 };
    localtime_r(&secs, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = 12;
    tm.tm_min = 0;
    tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return clock_local_day_start((int64_t)mktime(&tm) * 1000);
}

void http_api_users(struct http_request *req, struct http_reply *reply)
{
    if (http_check_params(req, reply, no_params) != 0) {
        return;
    }
    struct http_server *srv = req->srv;
    int64_t now = clock_realtime_ms();
    int64_t today = clock_local_day_start(now);
    const int64_t starts[3] = { today, local_week_start(today), local_month_start(today) };
    static const char *const names[3] = { "today", "week", "month" };
    struct store *s = http_store_get(srv, reply);
    if (!s) {
        return;
    }
    json_t *users = json_object();
    json_t *periods = json_object();
    int rc = 0;
    struct gp_err err = { 0 };
    for (size_t p = 0; rc == 0 && p < 3; p++) {
        struct store_user_usage *rows = NULL;
        size_t n = 0;
        rc = store_query_user_usage(s, starts[p], now + 1, &rows, &n, &err);
        json_object_set_new(periods, names[p],
                            json_pack("{s:o, s:o}", "from", report_json_time(starts[p]), "to",
                                      report_json_time(now)));
        for (size_t i = 0; rc == 0 && i < n; i++) {
            char clean[3 * 256 + 1]; /* jansson keys must be valid UTF-8 */
            text_sanitize(clean, sizeof(clean), rows[i].user, false);
            json_t *u = json_object_get(users, clean);
            if (!u) {
                u = json_pack("{s:s, s:f, s:f, s:f, s:I}", "user", clean, "today_gpu_hours", 0.0,
                              "week_gpu_hours", 0.0, "month_gpu_hours", 0.0, "processes", 0);
                json_object_set_new(users, clean, u);
            }
            char field[32];
            snprintf(field, sizeof(field), "%s_gpu_hours", names[p]);
            json_object_set_new(u, field, json_real(round(rows[i].gpu_seconds / 3.6) / 1000.0));
            if (p == 2) {
                json_object_set_new(u, "processes", json_integer(rows[i].processes));
            }
        }
        store_user_usage_free(rows, n);
    }
    http_store_put(srv, s);
    if (rc) {
        json_decref(users);
        json_decref(periods);
        http_reply_error(reply, 500, NULL, "%s", err.msg);
        return;
    }
    json_t *arr = json_array();
    const char *key = NULL;
    json_t *v = NULL;
    json_object_foreach(users, key, v)
    {
        json_array_append(arr, v);
    }
    json_decref(users);
    json_t *root =
        json_pack("{s:s, s:o, s:o}", "schema", "gpulse.users.v1", "periods", periods, "users", arr);
    http_reply_json(reply, root);
}

/* ----------------------------------------------------------- activity -- */

void http_api_activity(struct http_request *req, struct http_reply *reply)
{
    static const char *const params[] = { "weeks", "gpu", NULL };
    if (http_check_params(req, reply, params) != 0) {
        return;
    }
    struct http_server *srv = req->srv;
    int64_t weeks = 0;
    const char *gpu = NULL;
    if (http_param_int(req, reply, "weeks", 1, HTTP_SVG_MAX_WEEKS, HTTP_SVG_MAX_WEEKS, &weeks) !=
            0 ||
        http_param_gpu(req, reply, "gpu", &gpu) != 0) {
        return;
    }
    int64_t now = clock_realtime_ms();
    int64_t today = clock_local_day_start(now);
    int64_t first = clock_local_weeks_start(today, (int)weeks);
    char key[200];
    snprintf(key, sizeof(key), "activity|%lld|%s|%lld", (long long)weeks, gpu ? gpu : "",
             (long long)today);
    uint64_t version = agent_live_data_version(srv->live);
    if (http_query_cache_get(srv, key, version, reply)) {
        return;
    }
    struct store *s = http_store_get(srv, reply);
    if (!s) {
        return;
    }
    struct store_activity_row *rows = NULL;
    size_t n = 0;
    struct gp_err err = { 0 };
    int rc = store_query_activity(s, gpu, first, clock_local_day_next(today), &rows, &n, &err);
    http_store_put(srv, s);
    if (rc) {
        http_reply_error(reply, 500, NULL, "%s", err.msg);
        return;
    }
    json_t *days = json_array();
    struct store_activity_row *own = xcalloc(n ? n : 1, sizeof(*own));
    size_t nown = 0;
    for (size_t i = 0; i < n; i++) {
        const struct store_activity_row *r = &rows[i];
        if (!gpu || strcmp(gpu, "all") != 0 || r->gpu_id == 0) {
            own[nown++] = *r;
        }
        json_array_append_new(
            days, json_pack("{s:s, s:o, s:I, s:I, s:I, s:o, s:o, s:i}", "date", r->date, "gpu",
                            r->gpu_id == 0 ? json_string("all") : json_integer(r->gpu_index),
                            "minutes_observed", (json_int_t)r->minutes, "active_minutes",
                            (json_int_t)r->active_minutes, "active_gpu_minutes",
                            (json_int_t)r->active_gpu_minutes, "peak_pct",
                            number_or_null(r->has_peak, r->peak_pct), "avg_pct",
                            number_or_null(r->has_peak, r->avg_pct), "level",
                            http_svg_level(r->active_minutes)));
    }
    struct store_activity_summary sum;
    store_activity_summarize(own, nown, first, today, &sum);
    free(own);
    free(rows);
    char first_date[16];
    char today_date[16];
    clock_local_date(first, first_date, sizeof(first_date));
    clock_local_date(today, today_date, sizeof(today_date));
    json_t *root = json_pack(
        "{s:s, s:I, s:s, s:s, s:f, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}}", "schema",
        "gpulse.activity.v1", "weeks", (json_int_t)weeks, "first_day", first_date, "today",
        today_date, "threshold_pct", srv->cfg->activity_threshold_pct, "days", days, "summary",
        "days", (json_int_t)sum.days, "active_days", (json_int_t)sum.active_days, "current_streak",
        (json_int_t)sum.current_streak, "longest_streak", (json_int_t)sum.longest_streak,
        "active_minutes", (json_int_t)sum.active_minutes, "active_gpu_minutes",
        (json_int_t)sum.active_gpu_minutes);
    http_reply_json(reply, root);
    http_query_cache_put(srv, key, version, reply);
}

/* ---------------------------------------------------------------- svg -- */

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

void http_api_svg(struct http_request *req, struct http_reply *reply)
{
    static const char *const params[] = { "theme", "weeks", "gpu", NULL };
    if (http_check_params(req, reply, params) != 0) {
        return;
    }
    struct http_server *srv = req->srv;
    struct http_svg_options o = { .theme = HTTP_SVG_LIGHT };
    int64_t weeks = 0;
    if (http_param_int(req, reply, "weeks", 1, HTTP_SVG_MAX_WEEKS, HTTP_SVG_MAX_WEEKS, &weeks) !=
            0 ||
        http_param_gpu(req, reply, "gpu", &o.gpu) != 0) {
        return;
    }
    o.weeks = (int)weeks;
    const char *theme = http_param(req, "theme");
    if (theme && strcmp(theme, "dark") == 0) {
        o.theme = HTTP_SVG_DARK;
    } else if (theme && strcmp(theme, "light") != 0) {
        http_reply_error(reply, 400, "theme", "theme: '%.64s' is not light or dark", theme);
        return;
    }
    int64_t now = clock_realtime_ms();
    char key[200];
    snprintf(key, sizeof(key), "svg|%d|%d|%s|%lld", (int)o.theme, o.weeks, o.gpu ? o.gpu : "",
             (long long)clock_local_day_start(now));
    uint64_t version = agent_live_data_version(srv->live);
    if (!http_query_cache_get(srv, key, version, reply)) {
        struct store *s = http_store_get(srv, reply);
        if (!s) {
            return;
        }
        struct gp_err err = { 0 };
        int rc = http_svg_activity(s, &o, now, &reply->body, &err);
        http_store_put(srv, s);
        if (rc) {
            http_reply_error(reply, 500, NULL, "%s", err.msg);
            return;
        }
        snprintf(reply->etag, sizeof(reply->etag), "\"%016llx\"",
                 (unsigned long long)fnv1a(reply->body.data, reply->body.len));
        reply->content_type = "image/svg+xml";
        reply->cache_control = "public, max-age=1800";
        reply->status = 200;
        http_query_cache_put(srv, key, version, reply);
    }
    const char *inm = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "If-None-Match");
    if (inm && strcmp(inm, reply->etag) == 0) {
        reply->status = 304;
        dynbuf_reset(&reply->body);
        return;
    }
    reply->status = 200;
}
