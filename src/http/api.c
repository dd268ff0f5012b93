/* The history endpoint, /api/v1/history (the other endpoints are in
 * api_*.c, one file each). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/fields.h"
#include "http/http_int.h"
#include "util/clock.h"

/* ------------------------------------------------------------ history -- */

/* Bucket widths, finest first; past the last, whole local days. */
static const int64_t steps_ms[] = {
    2000,
    5000,
    10000,
    15000,
    30000,
    CLOCK_MINUTE_MS,
    2 * CLOCK_MINUTE_MS,
    5 * CLOCK_MINUTE_MS,
    10 * CLOCK_MINUTE_MS,
    15 * CLOCK_MINUTE_MS,
    30 * CLOCK_MINUTE_MS,
    CLOCK_HOUR_MS,
    2 * CLOCK_HOUR_MS,
    3 * CLOCK_HOUR_MS,
    6 * CLOCK_HOUR_MS,
};

static int parse_metrics(const char *list, struct store_history_query *q, struct http_reply *reply)
{
    q->metric_count = 0;
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        bool found = false;
        for (size_t i = 0; i < store_sample_field_count() && !found; i++) {
            const char *key = gpu_field_info(store_sample_field(i))->key;
            if (strlen(key) == len && strncmp(key, p, len) == 0) {
                if (q->metric_count == STORE_HISTORY_MAX_METRICS) {
                    http_reply_error(reply, 400, "metrics", "metrics: more than %d metrics",
                                     STORE_HISTORY_MAX_METRICS);
                    return -1;
                }
                q->metrics[q->metric_count++] = store_sample_field(i);
                found = true;
            }
        }
        if (!found) {
            http_reply_error(reply, 400, "metrics",
                             "metrics: '%.*s' is not a stored metric (e.g. utilization_gpu_pct, "
                             "memory_used_bytes, temperature_c, power_mw)",
                             (int)(len > 64 ? 64 : len), p);
            return -1;
        }
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    if (q->metric_count == 0) {
        http_reply_error(reply, 400, "metrics", "metrics: the list is empty");
        return -1;
    }
    return 0;
}

static json_t *number_or_null(bool has, double v)
{
    return has && isfinite(v) ? json_real(round(v * 1000.0) / 1000.0) : json_null();
}

/* Merges every k consecutive rows of one GPU (ranges of more days than
 * points): counts add, averages weigh by count, extremes stay extremes. */
static size_t merge_rows(struct store_history_row *rows, size_t n, size_t metric_count, size_t k)
{
    size_t out = 0;
    size_t i = 0;
    while (i < n) {
        struct store_history_row m = rows[i];
        size_t j = i + 1;
        double wsum = (double)m.count;
        for (size_t mi = 0; mi < metric_count; mi++) {
            m.avg[mi] *= (double)m.count;
        }
        m.busy_pct *= (double)m.count;
        while (j < n && j - i < k && rows[j].gpu_index == m.gpu_index) {
            const struct store_history_row *r = &rows[j];
            for (size_t mi = 0; mi < metric_count; mi++) {
                if (!r->has[mi]) {
                    continue;
                }
                m.avg[mi] = (m.has[mi] ? m.avg[mi] : 0) + r->avg[mi] * (double)r->count;
                m.min[mi] = m.has[mi] && m.min[mi] < r->min[mi] ? m.min[mi] : r->min[mi];
                m.max[mi] = m.has[mi] && m.max[mi] > r->max[mi] ? m.max[mi] : r->max[mi];
                m.has[mi] = true;
            }
            m.busy_pct += r->has_busy ? r->busy_pct * (double)r->count : 0;
            m.has_busy = m.has_busy || r->has_busy;
            m.busy_seconds += r->busy_seconds;
            m.energy_j += r->energy_j;
            m.has_energy = m.has_energy || r->has_energy;
            m.count += r->count;
            wsum += (double)r->count;
            j++;
        }
        for (size_t mi = 0; mi < metric_count; mi++) {
            m.avg[mi] = wsum > 0 ? m.avg[mi] / wsum : m.avg[mi];
        }
        m.busy_pct = wsum > 0 ? m.busy_pct / wsum : m.busy_pct;
        rows[out++] = m;
        i = j;
    }
    return out;
}

void http_api_history(struct http_request *req, struct http_reply *reply)
{
    static const char *const params[] = { "gpu", "from", "to", "metrics", "points", NULL };
    if (http_check_params(req, reply, params) != 0) {
        return;
    }
    struct http_server *srv = req->srv;
    int64_t now = clock_realtime_ms();
    struct store_history_query q = { 0 };
    int64_t points = 0;
    const char *metrics = http_param(req, "metrics");
    if (http_param_gpu(req, reply, "gpu", &q.gpu) != 0 ||
        http_param_time(req, reply, "from", now, now - CLOCK_HOUR_MS, &q.from_ms) != 0 ||
        http_param_time(req, reply, "to", now, now, &q.to_ms) != 0 ||
        http_param_int(req, reply, "points", 1, 10000, 1000, &points) != 0 ||
        parse_metrics(metrics ? metrics
                              : "utilization_gpu_pct,memory_used_bytes,temperature_c,power_mw",
                      &q, reply) != 0) {
        return;
    }
    if (q.gpu && strcmp(q.gpu, "all") == 0) {
        q.gpu = NULL;
    }
    if (q.to_ms <= q.from_ms) {
        http_reply_error(reply, 400, "from", "from must be before to");
        return;
    }
    int64_t range = q.to_ms - q.from_ms;
    if (range > 100LL * 365 * CLOCK_DAY_MS) {
        http_reply_error(reply, 400, "from", "the range is longer than 100 years");
        return;
    }
    /* The finest resolution that gives at most points per series: raw
     * samples, then buckets of seconds, minutes and hours, then days. */
    size_t merge = 1;
    const char *resolution = "raw";
    char res_buf[32];
    if (range / (int64_t)srv->cfg->interval_ms > points) {
        q.step_ms = 0;
        for (size_t i = 0; i < GP_ARRAY_LEN(steps_ms); i++) {
            if (steps_ms[i] > (int64_t)srv->cfg->interval_ms && range / steps_ms[i] < points) {
                q.step_ms = steps_ms[i];
                break;
            }
        }
        if (q.step_ms) {
            snprintf(res_buf, sizeof(res_buf), "%llds", (long long)(q.step_ms / 1000));
        } else {
            q.local_days = true;
            int64_t days = range / CLOCK_DAY_MS + 1;
            merge = (size_t)((days + points - 1) / points);
            snprintf(res_buf, sizeof(res_buf), "%zud", merge);
        }
        resolution = res_buf;
    }
    /* Bucketed answers start at a bucket and, when they reach the open
     * bucket, end with it: the same rows, and one cache key for every
     * client asking for "the last year" until the data changes. */
    char key[320] = "";
    uint64_t version = agent_live_data_version(srv->live);
    if (q.step_ms > 0 || q.local_days) {
        int64_t width = q.local_days ? CLOCK_DAY_MS : q.step_ms;
        if (q.local_days) {
            q.from_ms = clock_local_day_start(q.from_ms);
        } else {
            q.from_ms -= ((q.from_ms % width) + width) % width;
        }
        if (q.to_ms > now - width) {
            int64_t end = q.local_days
                              ? clock_local_day_next(clock_local_day_start(q.to_ms - 1))
                              : q.to_ms + (width - ((q.to_ms % width) + width) % width) % width;
            q.to_ms = end > q.to_ms ? end : q.to_ms;
        }
        snprintf(key, sizeof(key), "history|%s|%s|%lld|%lld|%lld|%s", q.gpu ? q.gpu : "",
                 metrics ? metrics : "", (long long)points, (long long)q.from_ms,
                 (long long)q.to_ms, resolution);
        if (http_query_cache_get(srv, key, version, reply)) {
            return;
        }
    }
    struct store *s = http_store_get(srv, reply);
    if (!s) {
        return;
    }
    struct store_history_row *rows = NULL;
    size_t n = 0;
    struct gp_err err = { 0 };
    int rc = store_query_history(s, &q, &rows, &n, &err);
    http_store_put(srv, s);
    if (rc) {
        http_reply_error(reply, 500, NULL, "%s", err.msg);
        return;
    }
    if (merge > 1) {
        n = merge_rows(rows, n, q.metric_count, merge);
    }
    json_t *series = json_array();
    size_t i = 0;
    while (i < n) {
        int gpu = rows[i].gpu_index;
        json_t *t = json_array();
        json_t *busy = json_array();
        json_t *vals[STORE_HISTORY_MAX_METRICS];
        json_t *maxes[STORE_HISTORY_MAX_METRICS];
        for (size_t m = 0; m < q.metric_count; m++) {
            vals[m] = json_array();
            maxes[m] = json_array();
        }
        for (; i < n && rows[i].gpu_index == gpu; i++) {
            const struct store_history_row *r = &rows[i];
            json_array_append_new(t, json_integer(r->t_ms / 1000));
            json_array_append_new(busy, number_or_null(r->has_busy, r->busy_pct));
            for (size_t m = 0; m < q.metric_count; m++) {
                json_array_append_new(vals[m], number_or_null(r->has[m], r->avg[m]));
                json_array_append_new(maxes[m], number_or_null(r->has[m], r->max[m]));
            }
        }
        json_t *o = json_pack("{s:i, s:o, s:o}", "gpu", gpu, "t", t, "busy_pct", busy);
        json_t *mx = json_object();
        for (size_t m = 0; m < q.metric_count; m++) {
            const char *name = gpu_field_info(q.metrics[m])->key;
            json_object_set_new(o, name, vals[m]);
            json_object_set_new(mx, name, maxes[m]);
        }
        json_object_set_new(o, "max", mx);
        json_array_append_new(series, o);
    }
    free(rows);
    json_t *mnames = json_array();
    for (size_t m = 0; m < q.metric_count; m++) {
        json_array_append_new(mnames, json_string(gpu_field_info(q.metrics[m])->key));
    }
    json_t *root = json_pack("{s:s, s:I, s:I, s:s, s:I, s:I, s:o, s:o}", "schema",
                             "gpulse.history.v1", "from", (json_int_t)(q.from_ms / 1000), "to",
                             (json_int_t)(q.to_ms / 1000), "resolution", resolution, "step_s",
                             (json_int_t)(q.local_days ? (int64_t)merge * 86400 : q.step_ms / 1000),
                             "points", (json_int_t)points, "metrics", mnames, "series", series);
    http_reply_json(reply, root);
    if (key[0]) {
        http_query_cache_put(srv, key, version, reply);
    }
}
