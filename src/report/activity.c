/* The activity resource: loading the days and their JSON, CSV and table. */
#include "report/activity.h"

#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/text.h"
#include "util/xalloc.h"

#define JSON_SCHEMA "gpulse.activity.v1"

static bool all_gpus(const struct report_activity_query *q)
{
    return q->gpu && strcmp(q->gpu, "all") == 0;
}

int report_activity_load(struct store *s, const struct report_activity_query *q,
                         struct report_activity *out, struct gp_err *err)
{
    *out = (struct report_activity){ .query = *q };
    out->today_ms = clock_local_day_start(q->now_ms);
    out->first_day_ms = clock_local_weeks_start(out->today_ms, q->weeks);
    int rc = store_query_activity(s, q->gpu, out->first_day_ms, clock_local_day_next(out->today_ms),
                                  &out->rows, &out->count, err);
    if (rc) {
        return rc;
    }
    /* The summary is of one series: the machine's rows when each GPU's
     * come too. */
    struct store_activity_row *own = xcalloc(out->count ? out->count : 1, sizeof(*own));
    size_t n = 0;
    for (size_t i = 0; i < out->count; i++) {
        if (!all_gpus(q) || out->rows[i].gpu_id == 0) {
            own[n++] = out->rows[i];
        }
    }
    store_activity_summarize(own, n, out->first_day_ms, out->today_ms, &out->summary);
    free(own);
    return 0;
}

void report_activity_fini(struct report_activity *a)
{
    free(a->rows);
    a->rows = NULL;
    a->count = 0;
}

int report_activity_level(int64_t active_minutes)
{
    return active_minutes <= 0    ? 0
           : active_minutes < 60  ? 1
           : active_minutes < 180 ? 2
           : active_minutes < 360 ? 3
                                  : 4;
}

static json_t *day_json(const struct store_activity_row *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "date", json_string(r->date));
    json_object_set_new(o, "gpu", r->gpu_id == 0 ? json_string("all") : json_integer(r->gpu_index));
    json_object_set_new(o, "minutes_observed", json_integer(r->minutes));
    json_object_set_new(o, "active_minutes", json_integer(r->active_minutes));
    json_object_set_new(o, "active_gpu_minutes", json_integer(r->active_gpu_minutes));
    json_object_set_new(o, "peak_pct",
                        r->has_peak ? report_json_real(r->peak_pct, REPORT_DECIMALS_PCT)
                                    : json_null());
    json_object_set_new(o, "avg_pct",
                        r->has_peak ? report_json_real(r->avg_pct, REPORT_DECIMALS_PCT)
                                    : json_null());
    json_object_set_new(o, "level", json_integer(report_activity_level(r->active_minutes)));
    return o;
}

json_t *report_activity_json(const struct report_activity *a)
{
    json_t *days = json_array();
    for (size_t i = 0; i < a->count; i++) {
        json_array_append_new(days, day_json(&a->rows[i]));
    }
    char first[16];
    char today[16];
    clock_local_date(a->first_day_ms, first, sizeof(first));
    clock_local_date(a->today_ms, today, sizeof(today));
    const struct store_activity_summary *s = &a->summary;
    return json_pack("{s:s, s:i, s:s, s:s, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}}", "schema",
                     JSON_SCHEMA, "weeks", a->query.weeks, "first_day", first, "today", today,
                     "threshold_pct", report_json_real(a->query.threshold_pct, REPORT_DECIMALS_PCT),
                     "days", days, "summary", "days", (json_int_t)s->days, "active_days",
                     (json_int_t)s->active_days, "current_streak", (json_int_t)s->current_streak,
                     "longest_streak", (json_int_t)s->longest_streak, "active_minutes",
                     (json_int_t)s->active_minutes, "active_gpu_minutes",
                     (json_int_t)s->active_gpu_minutes);
}

static void gpu_label(const struct store_activity_row *r, char *buf, size_t size)
{
    if (r->gpu_id == 0) {
        snprintf(buf, size, "all");
    } else {
        snprintf(buf, size, "%d", r->gpu_index);
    }
}

void report_activity_csv(FILE *out, const struct report_activity *a)
{
    fputs("date,gpu,minutes_observed,active_minutes,active_gpu_minutes,peak_pct,avg_pct\r\n", out);
    for (size_t i = 0; i < a->count; i++) {
        const struct store_activity_row *r = &a->rows[i];
        char gpu[16];
        gpu_label(r, gpu, sizeof(gpu));
        fprintf(out, "%s,%s,%lld,%lld,%lld,", r->date, gpu, (long long)r->minutes,
                (long long)r->active_minutes, (long long)r->active_gpu_minutes);
        if (r->has_peak) {
            fprintf(out, "%.2f,%.2f\r\n", r->peak_pct, r->avg_pct);
        } else {
            fputs(",\r\n", out);
        }
    }
}

void report_activity_table_rows(FILE *out, const struct store_activity_row *rows, size_t n,
                                bool show_gpu)
{
    fprintf(out, "%-10s %s%-14s %10s %6s %6s\n", "DATE", show_gpu ? "GPU  " : "", "ACTIVE",
            "GPU-HOURS", "PEAK%", "AVG%");
    for (size_t i = 0; i < n; i++) {
        const struct store_activity_row *r = &rows[i];
        char active[32];
        char gpu[16];
        text_format_minutes(r->active_minutes, active, sizeof(active));
        gpu_label(r, gpu, sizeof(gpu));
        fprintf(out, "%-10s ", r->date);
        if (show_gpu) {
            fprintf(out, "%-4s ", gpu);
        }
        fprintf(out, "%-14s %10.2f ", active, (double)r->active_gpu_minutes / 60.0);
        if (r->has_peak) {
            fprintf(out, "%6.0f %6.1f\n", r->peak_pct, r->avg_pct);
        } else {
            fprintf(out, "%6s %6s\n", "N/A", "N/A");
        }
    }
}

void report_activity_table(FILE *out, const struct report_activity *a)
{
    report_activity_table_rows(out, a->rows, a->count, all_gpus(&a->query));
    const struct store_activity_summary *s = &a->summary;
    char active[32];
    text_format_minutes(s->active_minutes, active, sizeof(active));
    fprintf(out,
            "\n%lld of %lld days active, current streak %lld, longest %lld; %s active, "
            "%.1f GPU-hours (threshold %g%%)\n",
            (long long)s->active_days, (long long)s->days, (long long)s->current_streak,
            (long long)s->longest_streak, active, (double)s->active_gpu_minutes / 60.0,
            a->query.threshold_pct);
}
