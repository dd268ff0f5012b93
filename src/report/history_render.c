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

/* The document is written straight into a buffer, not built as a jansson
 * tree: a month for 8 GPUs is some 100 000 numbers, and a tree spent most
 * of its time allocating and freeing them and printing each with %g. The
 * bytes are those json_dumps(REPORT_JSON_FLAGS) wrote of the tree
 * (tests/unit/test_history.c holds them to it). Every name written is a
 * field key, a column name or a resolution: nothing needs escaping. */

static void add_name(struct dynbuf *b, const char *name)
{
    dynbuf_add(b, "\"", 1);
    dynbuf_adds(b, name);
    dynbuf_add(b, "\":", 2);
}

/* A column's numbers are formatted into a small buffer that goes into the
 * document a few kilobytes at a time: one dynbuf_add per number was a
 * third of the document's cost. */
struct chunk {
    struct dynbuf *out;
    size_t len;
    char data[8192];
};

/* Where the next number (with a separator) goes, after passing on what
 * is there when it might not fit. */
static char *chunk_room(struct chunk *c)
{
    if (c->len + REPORT_JSON_NUMBER_MAX + 1 > sizeof(c->data)) {
        dynbuf_add(c->out, c->data, c->len);
        c->len = 0;
    }
    return c->data + c->len;
}

/* v at decimals places; whole units (bytes, mW) as integers; null when
 * unknown. */
static void add_value(struct chunk *c, bool has, double v, int decimals)
{
    char *p = chunk_room(c);
    if (!has || !isfinite(v)) {
        c->len += report_format_json_real((double)NAN, 0, p);
    } else if (decimals > 0) {
        c->len += report_format_json_real(v, decimals, p);
    } else {
        c->len += report_format_json_int((int64_t)llround(v), p);
    }
}

static void add_int(struct chunk *c, int64_t v)
{
    c->len += report_format_json_int(v, chunk_room(c));
}

/* An integer outside the columns. */
static void put_int(struct dynbuf *b, int64_t v)
{
    char num[REPORT_JSON_NUMBER_MAX];
    dynbuf_add(b, num, report_format_json_int(v, num));
}

/* The series' own columns, one array each. */
enum series_column {
    COLUMN_T,
    COLUMN_SAMPLES,
    COLUMN_BUSY,
    COLUMN_BUSY_SECONDS,
    COLUMN_ENERGY,
};

static void add_own_value(struct chunk *c, const struct store_history_row *r,
                          enum series_column column)
{
    switch (column) {
    case COLUMN_T:
        add_int(c, r->t_ms);
        break;
    case COLUMN_SAMPLES:
        add_int(c, r->count);
        break;
    case COLUMN_BUSY:
        add_value(c, r->has_busy, r->busy_pct, REPORT_DECIMALS_PCT);
        break;
    case COLUMN_BUSY_SECONDS:
        add_value(c, r->has_busy, r->busy_seconds, REPORT_DECIMALS_SECONDS);
        break;
    case COLUMN_ENERGY:
        add_value(c, r->has_energy, r->energy_j, 3);
        break;
    }
}

/* Metric m's column c over rows [lo, hi), or a series' own column (c NULL). */
static void add_column(struct dynbuf *b, const struct report_history *h, size_t lo, size_t hi,
                       size_t m, const struct report_history_column *c, enum series_column own)
{
    int decimals = c ? report_history_present(h->req.metrics[m]).decimals : 0;
    struct chunk out = { .out = b, .len = 1, .data = "[" };
    for (size_t i = lo; i < hi; i++) {
        if (i > lo) {
            out.data[out.len++] = ','; /* chunk_room kept a byte for it */
        }
        if (c) {
            double v = 0;
            bool has = c->read(&h->rows[i], m, &v);
            add_value(&out, has, v, decimals);
        } else {
            add_own_value(&out, &h->rows[i], own);
        }
    }
    out.data[out.len++] = ']';
    dynbuf_add(b, out.data, out.len);
}

/* Whether metric m repeats an earlier one: a JSON object keeps one value
 * per key, the last one set, where the first of them stood (as jansson's
 * objects did; the values are the same). */
static bool repeated(const struct report_history *h, size_t m)
{
    for (size_t k = 0; k < m; k++) {
        if (h->req.metrics[k] == h->req.metrics[m]) {
            return true;
        }
    }
    return false;
}

/* The last metric that is the same field as m. */
static size_t last_of(const struct report_history *h, size_t m)
{
    size_t last = m;
    for (size_t k = m + 1; k < h->req.metric_count; k++) {
        last = h->req.metrics[k] == h->req.metrics[m] ? k : last;
    }
    return last;
}

/* Metric m's column named name, or NULL. */
static const struct report_history_column *column_named(const struct report_history *h, size_t m,
                                                        const char *name)
{
    const struct report_history_kind *k = report_history_present(h->req.metrics[m]).kind;
    for (size_t c = 1; c < k->column_count; c++) {
        if (strcmp(k->columns[c].name, name) == 0) {
            return &k->columns[c];
        }
    }
    return NULL;
}

/* Each metric's series value under its key, then its other columns under
 * the column's name ("min": {key: [...]}), groups in the order their names
 * first appear. */
static void add_metrics(struct dynbuf *b, const struct report_history *h, size_t lo, size_t hi)
{
    const char *groups[3 * STORE_HISTORY_MAX_METRICS];
    size_t group_count = 0;
    for (size_t m = 0; m < h->req.metric_count; m++) {
        const struct report_history_kind *k = report_history_present(h->req.metrics[m]).kind;
        for (size_t c = 1; c < k->column_count; c++) {
            bool known = false;
            for (size_t g = 0; g < group_count && !known; g++) {
                known = strcmp(groups[g], k->columns[c].name) == 0;
            }
            if (!known && group_count < GP_ARRAY_LEN(groups)) {
                groups[group_count++] = k->columns[c].name;
            }
        }
        if (repeated(h, m)) {
            continue;
        }
        dynbuf_add(b, ",", 1);
        add_name(b, gpu_field_info(h->req.metrics[m])->key);
        add_column(b, h, lo, hi, last_of(h, m), &k->columns[0], COLUMN_T);
    }
    for (size_t g = 0; g < group_count; g++) {
        dynbuf_add(b, ",", 1);
        add_name(b, groups[g]);
        dynbuf_add(b, "{", 1);
        bool first = true;
        for (size_t m = 0; m < h->req.metric_count; m++) {
            const struct report_history_column *c = column_named(h, m, groups[g]);
            if (!c || repeated(h, m)) {
                continue;
            }
            if (!first) {
                dynbuf_add(b, ",", 1);
            }
            first = false;
            add_name(b, gpu_field_info(h->req.metrics[m])->key);
            add_column(b, h, lo, hi, last_of(h, m), c, COLUMN_T);
        }
        dynbuf_add(b, "}", 1);
    }
}

/* Rows [lo, hi), one GPU's, as its series: a column per value. */
static void add_series(struct dynbuf *b, const struct report_history *h, size_t lo, size_t hi)
{
    static const struct {
        const char *name;
        enum series_column column;
    } own[] = {
        { "t_ms", COLUMN_T },          { "samples", COLUMN_SAMPLES },
        { "busy_pct", COLUMN_BUSY },   { "busy_seconds", COLUMN_BUSY_SECONDS },
        { "energy_j", COLUMN_ENERGY },
    };
    dynbuf_add(b, "{", 1);
    add_name(b, "gpu");
    put_int(b, h->rows[lo].gpu_index);
    for (size_t c = 0; c < GP_ARRAY_LEN(own); c++) {
        dynbuf_add(b, ",", 1);
        add_name(b, own[c].name);
        add_column(b, h, lo, hi, 0, NULL, own[c].column);
    }
    add_metrics(b, h, lo, hi);
    dynbuf_add(b, "}", 1);
}

static void add_time(struct dynbuf *b, int64_t ms)
{
    char when[40] = "null";
    if (ms > 0) {
        when[0] = '"';
        report_format_time_ms(ms, when + 1, sizeof(when) - 2);
        dynbuf_adds(b, when);
        dynbuf_add(b, "\"", 1);
    } else {
        dynbuf_adds(b, when);
    }
}

int report_history_json_append(struct dynbuf *out, const struct report_history *h)
{
    const struct report_history_plan *p = &h->plan;
    dynbuf_adds(out, "{\"schema\":\"gpulse.history.v1\",");
    add_name(out, "from");
    add_time(out, p->from_ms);
    dynbuf_add(out, ",", 1);
    add_name(out, "to");
    add_time(out, p->to_ms);
    dynbuf_add(out, ",", 1);
    add_name(out, "from_ms");
    put_int(out, p->from_ms);
    dynbuf_add(out, ",", 1);
    add_name(out, "to_ms");
    put_int(out, p->to_ms);
    dynbuf_adds(out, ",\"resolution\":\"");
    dynbuf_adds(out, p->resolution);
    dynbuf_adds(out, "\",\"step_ms\":");
    put_int(out, p->step_ms);
    dynbuf_adds(out, ",\"points\":");
    put_int(out, h->req.points);
    dynbuf_adds(out, ",\"metrics\":[");
    for (size_t m = 0; m < h->req.metric_count; m++) {
        dynbuf_adds(out, m > 0 ? ",\"" : "\"");
        dynbuf_adds(out, gpu_field_info(h->req.metrics[m])->key);
        dynbuf_add(out, "\"", 1);
    }
    dynbuf_adds(out, "],\"series\":[");
    for (size_t lo = 0; lo < h->row_count;) {
        size_t hi = gpu_end(h, lo);
        if (lo > 0) {
            dynbuf_add(out, ",", 1);
        }
        add_series(out, h, lo, hi);
        lo = hi;
    }
    return dynbuf_adds(out, "]}\n");
}

int report_history_write_json(FILE *out, const struct report_history *h)
{
    struct dynbuf b;
    dynbuf_init(&b, SIZE_MAX / 2);
    int rc = report_history_json_append(&b, h);
    if (rc == 0 && fwrite(b.data, 1, b.len, out) != b.len) {
        rc = -EIO;
    }
    dynbuf_fini(&b);
    return rc;
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
        csv_real(out, r->has_busy, r->busy_seconds, REPORT_DECIMALS_SECONDS);
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
