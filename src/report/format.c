/* Formatting shared by every resource's JSON, CSV and table output. */
#include "report/format.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/text.h"
#include "util/xalloc.h"

json_t *report_json_text(const char *s)
{
    if (!s || !*s) {
        return json_null();
    }
    size_t size = strlen(s) * 3 + 1;
    char *clean = xmalloc(size);
    json_t *v = json_string(text_sanitize(clean, size, s, false));
    free(clean);
    return v;
}

const char *report_process_type(unsigned type_mask)
{
    static const char *const names[8] = { "?", "C", "G", "C+G", "M", "C+M", "G+M", "C+G+M" };
    return names[type_mask & 7U];
}

void report_format_time_ms(int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm = { 0 };
    gmtime_r(&secs, &tm);
    char base[32] = { 0 };
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", base, (int)(ms % 1000));
}

json_t *report_json_time(int64_t ms)
{
    if (ms <= 0) {
        return json_null();
    }
    char buf[40];
    report_format_time_ms(ms, buf, sizeof(buf));
    return json_string(buf);
}

void report_csv_field(FILE *out, const char *raw, bool first)
{
    if (!first) {
        fputc(',', out);
    }
    char s[4096];
    text_sanitize(s, sizeof(s), raw, false);
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (const char *p = s; *p; p++) {
        if (*p == '"') {
            fputc('"', out);
        }
        fputc(*p, out);
    }
    fputc('"', out);
}

void report_format_bytes(uint64_t bytes, char *buf, size_t size)
{
    double gib = (double)bytes / (1024.0 * 1024.0 * 1024.0);
    if (gib >= 1.0) {
        snprintf(buf, size, "%.1f GiB", gib);
    } else {
        snprintf(buf, size, "%.0f MiB", (double)bytes / (1024.0 * 1024.0));
    }
}

json_t *report_json_real(double v, int decimals)
{
    if (!isfinite(v)) {
        return json_null();
    }
    double scale = pow(10.0, decimals);
    return json_real(round(v * scale) / scale);
}

void report_format_watts(int64_t mw, char *buf, size_t size)
{
    double w = (double)mw / 1000.0;
    snprintf(buf, size, w < 100.0 ? "%.1f W" : "%.0f W", w);
}

int report_json_write(FILE *out, json_t *root)
{
    int rc = json_dumpf(root, out, REPORT_JSON_FLAGS) == 0 && fputc('\n', out) != EOF ? 0 : -EIO;
    json_decref(root);
    return rc;
}

int report_json_append(struct dynbuf *out, json_t *root)
{
    char *text = json_dumps(root, REPORT_JSON_FLAGS);
    json_decref(root);
    if (!text) {
        return -ENOMEM;
    }
    dynbuf_adds(out, text);
    free(text);
    return dynbuf_adds(out, "\n");
}
