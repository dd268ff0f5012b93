/* The history resource written out: the JSON document (a series of
 * columns per GPU, for charts), CSV and a table (a row per bucket per GPU),
 * all from the same rows, each field shown as history_field.c says. */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "report/history.h"
#include "report/history_int.h"

/* Where the rows of the GPU whose first row is lo end. */
static size_t gpu_end(const struct report_history *h, size_t lo)
{
    size_t hi = lo;
    while (hi < h->row_count && h->rows[hi].gpu_index == h->rows[lo].gpu_index) {
        hi++;
    }
    return hi;
}

/* ----------------------------------------------------------------- JSON -- */

/* v at decimals places; whole units (bytes, mW) as integers. */
static json_t *real_or_null(bool has, double v, int decimals)
{
    if (!has || !isfinite(v)) {
        return json_null();
    }
    return decimals > 0 ? report_json_real(v, decimals) : json_integer((json_int_t)llround(v));
}

/* Metric m's column c over rows [lo, hi). */
static json_t *column_json(const struct report_history *h, size_t lo, size_t hi, size_t m,
                           const struct report_history_column *c, int decimals)
{
    json_t *vals = json_array();
    for (size_t i = lo; i < hi; i++) {
        const struct store_history_row *r = &h->rows[i];
        double v = 0;
        bool has = c->read(r, m, &v);
        json_array_append_new(vals, real_or_null(has, v, decimals));
    }
    return vals;
}

/* Adds each metric's series value under its key to o, and its other
 * columns under the column's name ("min": {key: [...]}), after them. */
static void metrics_json(const struct report_history *h, size_t lo, size_t hi, json_t *o)
{
    json_t *more = json_object();
    for (size_t m = 0; m < h->req.metric_count; m++) {
        const char *key = gpu_field_info(h->req.metrics[m])->key;
        struct report_history_presentation p = report_history_present(h->req.metrics[m]);
        for (size_t c = 0; c < p.kind->column_count; c++) {
            const struct report_history_column *col = &p.kind->columns[c];
            json_t *vals = column_json(h, lo, hi, m, col, p.decimals);
            if (c == 0) {
                json_object_set_new(o, key, vals);
                continue;
            }
            json_t *group = json_object_get(more, col->name);
            if (!group) {
                group = json_object();
                json_object_set_new(more, col->name, group);
            }
            json_object_set_new(group, key, vals);
        }
    }
    const char *name = NULL;
    json_t *group = NULL;
    json_object_foreach(more, name, group)
    {
        json_object_set(o, name, group);
    }
    json_decref(more);
}

/* Rows [lo, hi), one GPU's, as its series: a column per value. */
static json_t *series_json(const struct report_history *h, size_t lo, size_t hi)
{
    json_t *t = json_array();
    json_t *samples = json_array();
    json_t *busy = json_array();
    json_t *busy_s = json_array();
    json_t *energy = json_array();
    for (size_t i = lo; i < hi; i++) {
        const struct store_history_row *r = &h->rows[i];
        json_array_append_new(t, json_integer(r->t_ms));
        json_array_append_new(samples, json_integer(r->count));
        json_array_append_new(busy, real_or_null(r->has_busy, r->busy_pct, REPORT_DECIMALS_PCT));
        json_array_append_new(busy_s, report_json_real(r->busy_seconds, REPORT_DECIMALS_SECONDS));
        json_array_append_new(energy, real_or_null(r->has_energy, r->energy_j, 3));
    }
    json_t *o =
        json_pack("{s:i, s:o, s:o, s:o, s:o, s:o}", "gpu", h->rows[lo].gpu_index, "t_ms", t,
                  "samples", samples, "busy_pct", busy, "busy_seconds", busy_s, "energy_j", energy);
    metrics_json(h, lo, hi, o);
    return o;
}

json_t *report_history_json(const struct report_history *h)
{
    json_t *names = json_array();
    for (size_t m = 0; m < h->req.metric_count; m++) {
        json_array_append_new(names, json_string(gpu_field_info(h->req.metrics[m])->key));
    }
    json_t *series = json_array();
    for (size_t lo = 0; lo < h->row_count;) {
        size_t hi = gpu_end(h, lo);
        json_array_append_new(series, series_json(h, lo, hi));
        lo = hi;
    }
    const struct report_history_plan *p = &h->plan;
    return json_pack("{s:s, s:o, s:o, s:I, s:I, s:s, s:I, s:I, s:o, s:o}", "schema",
                     "gpulse.history.v1", "from", report_json_time(p->from_ms), "to",
                     report_json_time(p->to_ms), "from_ms", (json_int_t)p->from_ms, "to_ms",
                     (json_int_t)p->to_ms, "resolution", p->resolution, "step_ms",
                     (json_int_t)p->step_ms, "points", (json_int_t)h->req.points, "metrics", names,
                     "series", series);
}

int report_history_write_json(FILE *out, const struct report_history *h)
{
    json_t *root = report_history_json(h);
    int rc = json_dumpf(root, out, REPORT_JSON_FLAGS);
    json_decref(root);
    return rc == 0 && fputc('\n', out) != EOF ? 0 : -EIO;
}

/* ------------------------------------------------------------------ CSV -- */

static void csv_real(FILE *out, bool has, double v, int decimals)
{
    fputc(',', out);
    if (has && isfinite(v)) {
        fprintf(out, "%.*f", decimals, v);
    }
}

void report_history_csv(FILE *out, const struct report_history *h)
{
    fputs("gpu,time,samples,busy_pct,busy_seconds,energy_j", out);
    for (size_t m = 0; m < h->req.metric_count; m++) {
        const struct report_history_kind *k = report_history_present(h->req.metrics[m]).kind;
        for (size_t c = 0; c < k->column_count; c++) {
            fprintf(out, ",%s_%s", gpu_field_info(h->req.metrics[m])->key, k->columns[c].name);
        }
    }
    fputs("\r\n", out);
    for (size_t i = 0; i < h->row_count; i++) {
        const struct store_history_row *r = &h->rows[i];
        char when[40];
        report_format_time_ms(r->t_ms, when, sizeof(when));
        fprintf(out, "%d,%s,%lld", r->gpu_index, when, (long long)r->count);
        csv_real(out, r->has_busy, r->busy_pct, REPORT_DECIMALS_PCT);
        csv_real(out, true, r->busy_seconds, REPORT_DECIMALS_SECONDS);
        csv_real(out, r->has_energy, r->energy_j, 3);
        for (size_t m = 0; m < h->req.metric_count; m++) {
            struct report_history_presentation p = report_history_present(h->req.metrics[m]);
            for (size_t c = 0; c < p.kind->column_count; c++) {
                double v = 0;
                bool has = p.kind->columns[c].read(r, m, &v);
                csv_real(out, has, v, p.decimals);
            }
        }
        fputs("\r\n", out);
    }
}

/* ---------------------------------------------------------------- table -- */

static int column_width(enum gpu_field f)
{
    size_t len = strlen(gpu_field_info(f)->label);
    return len > 10 ? (int)len : 10;
}

/* A field's value for people: bytes in MiB or GiB, milliwatts in W. */
static void human_value(enum gpu_field f, bool has, double v, char *buf, size_t size)
{
    const char *unit = gpu_field_info(f)->unit;
    int decimals = report_history_present(f).table_decimals;
    if (!has || !isfinite(v)) {
        snprintf(buf, size, "N/A");
    } else if (strcmp(unit, "bytes") == 0 && v >= 0) {
        report_format_bytes((uint64_t)llround(v), buf, size);
    } else if (strcmp(unit, "mW") == 0) {
        report_format_watts((int64_t)llround(v), buf, size);
    } else if (unit[0] == '\0') {
        snprintf(buf, size, "%.*f", decimals, v);
    } else {
        snprintf(buf, size, "%.*f %s", decimals, v, unit);
    }
}

void report_history_table(FILE *out, const struct report_history *h)
{
    fprintf(out, "%-4s %-19s %7s %7s", "GPU", "TIME", "SAMPLES", "BUSY");
    for (size_t m = 0; m < h->req.metric_count; m++) {
        enum gpu_field f = h->req.metrics[m];
        fprintf(out, " %*s", column_width(f), gpu_field_info(f)->label);
    }
    fputc('\n', out);
    for (size_t i = 0; i < h->row_count; i++) {
        const struct store_history_row *r = &h->rows[i];
        time_t secs = (time_t)(r->t_ms / 1000);
        struct tm tm = { 0 };
        localtime_r(&secs, &tm);
        char when[32];
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        char busy[16] = "N/A";
        if (r->has_busy) {
            snprintf(busy, sizeof(busy), "%.1f %%", r->busy_pct);
        }
        fprintf(out, "%-4d %-19s %7lld %7s", r->gpu_index, when, (long long)r->count, busy);
        for (size_t m = 0; m < h->req.metric_count; m++) {
            enum gpu_field f = h->req.metrics[m];
            struct report_history_presentation p = report_history_present(f);
            char value[48];
            double v = 0;
            bool has = p.kind->columns[0].read(r, m, &v);
            human_value(f, has, v, value, sizeof(value));
            fprintf(out, " %*s", column_width(f), value);
        }
        fputc('\n', out);
    }
}
