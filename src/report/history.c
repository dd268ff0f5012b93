/* The history resource: the request's metrics and step, the plan (which
 * resolution, which aligned range) and the query. Rendering is in
 * history_render.c, what each field shows in history_field.c. */
#include "report/history.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report/history_int.h"
#include "util/clock.h"

/* ------------------------------------------------------------- request -- */

/* The stored field named by the len bytes at name, or -1. */
static int stored_field(const char *name, size_t len)
{
    for (size_t i = 0; i < store_sample_field_count(); i++) {
        const char *key = gpu_field_info(store_sample_field(i))->key;
        if (strlen(key) == len && strncmp(key, name, len) == 0) {
            return (int)store_sample_field(i);
        }
    }
    return -1;
}

int report_history_parse_metrics(const char *list, struct report_history_request *req,
                                 struct gp_err *err)
{
    req->metric_count = 0;
    if (*list == '\0') {
        return gp_err_set(err, -EINVAL, "the list is empty");
    }
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ",");
        int f = stored_field(p, len);
        if (f < 0 && !(len == strlen("busy_pct") && strncmp(p, "busy_pct", len) == 0)) {
            return gp_err_set(err, -EINVAL,
                              "'%.*s' is not a stored metric (e.g. utilization_gpu_pct, "
                              "memory_used_bytes, temperature_c, power_mw)",
                              (int)(len > 64 ? 64 : len), p);
        }
        if (f >= 0 && req->metric_count == STORE_HISTORY_MAX_METRICS) {
            return gp_err_set(err, -EINVAL, "more than %d metrics", STORE_HISTORY_MAX_METRICS);
        }
        if (f >= 0) {
            req->metrics[req->metric_count++] = (enum gpu_field)f;
        }
        if (p[len] == '\0') {
            return 0;
        }
        p += len + 1;
    }
}

static const struct {
    const char *name;
    enum report_history_step step;
} step_names[] = {
    { "raw", REPORT_HISTORY_STEP_RAW },       { "auto", REPORT_HISTORY_STEP_RAW },
    { "second", REPORT_HISTORY_STEP_SECOND }, { "minute", REPORT_HISTORY_STEP_MINUTE },
    { "hour", REPORT_HISTORY_STEP_HOUR },     { "day", REPORT_HISTORY_STEP_DAY },
};

int report_history_parse_step(const char *name, enum report_history_step *out)
{
    for (size_t i = 0; i < GP_ARRAY_LEN(step_names); i++) {
        if (strcmp(name, step_names[i].name) == 0) {
            *out = step_names[i].step;
            return 0;
        }
    }
    return -EINVAL;
}

/* ---------------------------------------------------------------- plan -- */

/* Bucket widths, finest first; past the last, whole local days. */
static const int64_t bucket_widths_ms[] = {
    2 * CLOCK_SECOND_MS,  5 * CLOCK_SECOND_MS,  10 * CLOCK_SECOND_MS, 15 * CLOCK_SECOND_MS,
    30 * CLOCK_SECOND_MS, CLOCK_MINUTE_MS,      2 * CLOCK_MINUTE_MS,  5 * CLOCK_MINUTE_MS,
    10 * CLOCK_MINUTE_MS, 15 * CLOCK_MINUTE_MS, 30 * CLOCK_MINUTE_MS, CLOCK_HOUR_MS,
    2 * CLOCK_HOUR_MS,    3 * CLOCK_HOUR_MS,    6 * CLOCK_HOUR_MS,
};

/* The narrowest bucket each step allows (days: none of the fixed ones). */
static int64_t step_floor_ms(enum report_history_step step)
{
    switch (step) {
    case REPORT_HISTORY_STEP_RAW:
    case REPORT_HISTORY_STEP_SECOND:
        return 0;
    case REPORT_HISTORY_STEP_MINUTE:
        return CLOCK_MINUTE_MS;
    case REPORT_HISTORY_STEP_HOUR:
        return CLOCK_HOUR_MS;
    case REPORT_HISTORY_STEP_DAY:
        break;
    }
    return INT64_MAX;
}

static int64_t align_down(int64_t t, int64_t width)
{
    return t - ((t % width) + width) % width;
}

static int64_t align_up(int64_t t, int64_t width)
{
    int64_t down = align_down(t, width);
    return down == t ? t : down + width;
}

/* Local days, as many at a time as keep the buckets within points. */
static void plan_days(const struct report_history_request *req, int64_t points,
                      struct report_history_plan *out)
{
    out->from_ms = clock_local_day_start(req->from_ms);
    out->to_ms = clock_local_day_next(clock_local_day_start(req->to_ms - 1));
    /* Both ends are local midnights: DST moves them by hours, not days. */
    int64_t days = (out->to_ms - out->from_ms + CLOCK_DAY_MS / 2) / CLOCK_DAY_MS;
    int64_t per_bucket = (days + points - 1) / points;
    out->days = per_bucket < 1 ? 1 : per_bucket;
    out->step_ms = out->days * CLOCK_DAY_MS;
    snprintf(out->resolution, sizeof(out->resolution), "%lldd", (long long)out->days);
}

static void name_width(int64_t width_ms, char *buf, size_t size)
{
    if (width_ms % CLOCK_HOUR_MS == 0) {
        snprintf(buf, size, "%lldh", (long long)(width_ms / CLOCK_HOUR_MS));
    } else if (width_ms % CLOCK_MINUTE_MS == 0) {
        snprintf(buf, size, "%lldmin", (long long)(width_ms / CLOCK_MINUTE_MS));
    } else {
        snprintf(buf, size, "%llds", (long long)(width_ms / CLOCK_SECOND_MS));
    }
}

void report_history_plan(const struct report_history_request *req, int64_t interval_ms,
                         struct report_history_plan *out)
{
    int64_t points = req->points > 0 ? req->points : 1;
    int64_t range = req->to_ms - req->from_ms;
    *out = (struct report_history_plan){ .from_ms = req->from_ms, .to_ms = req->to_ms };
    /* [from, to) holds at most range / interval + 1 samples. */
    if (req->step == REPORT_HISTORY_STEP_RAW && interval_ms > 0 && range / interval_ms < points) {
        snprintf(out->resolution, sizeof(out->resolution), "raw");
        return;
    }
    int64_t floor_ms = step_floor_ms(req->step);
    for (size_t i = 0; i < GP_ARRAY_LEN(bucket_widths_ms); i++) {
        int64_t w = bucket_widths_ms[i];
        if (w < floor_ms || w < interval_ms) {
            continue;
        }
        int64_t from = align_down(req->from_ms, w);
        int64_t to = align_up(req->to_ms, w);
        if ((to - from) / w <= points) {
            out->from_ms = from;
            out->to_ms = to;
            out->step_ms = w;
            name_width(w, out->resolution, sizeof(out->resolution));
            return;
        }
    }
    plan_days(req, points, out);
}

/* --------------------------------------------------------------- query -- */

/* The start of the bucket of days after the one starting at start. */
static int64_t days_after(int64_t start, int64_t days)
{
    /* Noon of the last day's nominal successor: a DST change moves it by
     * an hour, never out of the day it names. */
    return clock_local_day_start(start + days * CLOCK_DAY_MS + CLOCK_DAY_MS / 2);
}

/* Adds r (a later bucket of the same GPU) into into. */
static void merge_row(struct store_history_row *into, const struct store_history_row *r,
                      const struct report_history_request *req)
{
    for (size_t m = 0; m < req->metric_count; m++) {
        report_history_present(req->metrics[m]).kind->merge(into, r, m);
    }
    double a = (double)into->count;
    double b = (double)r->count;
    if (r->has_busy) {
        into->busy_pct = into->has_busy && a + b > 0
                             ? (into->busy_pct * a + r->busy_pct * b) / (a + b)
                             : r->busy_pct;
        into->has_busy = true;
    }
    into->busy_seconds += r->busy_seconds;
    into->energy_j += r->has_energy ? r->energy_j : 0;
    into->has_energy = into->has_energy || r->has_energy;
    into->count += r->count;
}

/* Merges a GPU's day rows into buckets of plan.days days from plan.from_ms. */
static size_t merge_days(struct report_history *h)
{
    size_t out = 0;
    size_t i = 0;
    while (i < h->row_count) {
        int gpu = h->rows[i].gpu_index;
        int64_t start = h->plan.from_ms;
        int64_t next = days_after(start, h->plan.days);
        for (; i < h->row_count && h->rows[i].gpu_index == gpu; out++) {
            while (next <= h->rows[i].t_ms) {
                start = next;
                next = days_after(start, h->plan.days);
            }
            struct store_history_row m = h->rows[i++];
            m.t_ms = start;
            for (; i < h->row_count && h->rows[i].gpu_index == gpu && h->rows[i].t_ms < next; i++) {
                merge_row(&m, &h->rows[i], &h->req);
            }
            h->rows[out] = m;
        }
    }
    return out;
}

/* Reads the plan's rows; raw samples stop past max_rows per GPU
 * (-E2BIG). */
static int read_rows(struct store *s, struct report_history *h, size_t max_rows, struct gp_err *err)
{
    struct store_history_query q = {
        .gpu = h->req.gpu,
        .from_ms = h->plan.from_ms,
        .to_ms = h->plan.to_ms,
        .step_ms = h->plan.days > 0 ? 0 : h->plan.step_ms,
        .local_days = h->plan.days > 0,
        .metric_count = h->req.metric_count,
        .max_rows_per_gpu = max_rows,
    };
    memcpy(q.metrics, h->req.metrics, h->req.metric_count * sizeof(q.metrics[0]));
    int rc = store_query_history(s, &q, &h->rows, &h->row_count, err);
    if (rc == 0 && h->plan.days > 1) {
        h->row_count = merge_days(h);
    }
    return rc;
}

/* Raw samples, and buckets of less than a minute, are made from the raw
 * samples, which retention deletes first: where the range starts before
 * the raw samples still stored but after the rollups' start, buckets of a
 * minute or more (from the rollups, kept longer) answer it without a hole. */
static int keep_to_stored_samples(struct store *s, const struct report_history_request *req,
                                  struct report_history_plan *plan, struct gp_err *err)
{
    if (plan->days > 0 || plan->step_ms >= CLOCK_MINUTE_MS) {
        return 0;
    }
    int64_t horizon = 0;
    int rc = store_raw_horizon_ms(s, req->gpu, &horizon, err);
    if (rc == 0 && plan->from_ms < horizon) {
        struct report_history_request minutes = *req;
        minutes.step = REPORT_HISTORY_STEP_MINUTE;
        report_history_plan(&minutes, 0, plan);
    }
    return rc;
}

int report_history_query(struct store *s, const struct report_history_request *req,
                         const struct report_history_plan *plan, struct report_history *out,
                         struct gp_err *err)
{
    *out = (struct report_history){ .req = *req, .plan = *plan };
    int rc = keep_to_stored_samples(s, req, &out->plan, err);
    /* Raw samples are planned from the configured interval, but what
     * counts is what is stored (a file sampled every second read by an
     * agent set to an hour): the read stops at the first GPU with more
     * than points, which then come in buckets instead. */
    bool raw = out->plan.step_ms == 0 && out->plan.days == 0;
    if (rc == 0) {
        rc = read_rows(s, out, raw ? (size_t)req->points : 0, err);
    }
    if (rc == -E2BIG && raw) {
        struct report_history_request buckets = *req;
        buckets.step = REPORT_HISTORY_STEP_SECOND;
        report_history_plan(&buckets, 0, &out->plan);
        rc = read_rows(s, out, 0, err);
    }
    if (rc != 0) {
        report_history_fini(out);
    }
    return rc;
}

void report_history_fini(struct report_history *h)
{
    free(h->rows);
    h->rows = NULL;
    h->row_count = 0;
}
