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
    json_t *v = json_string(text_sanitize(clean, size, s));
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
    /* A cell can be a whole command line: 3 bytes a byte at worst, and the
     * quotes doubled. */
    struct dynbuf b;
    dynbuf_init(&b, SIZE_MAX);
    text_csv_append(&b, raw ? raw : "");
    if (b.len > 0) {
        fwrite(b.data, 1, b.len, out);
    }
    dynbuf_fini(&b);
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

/* Digits of u, most significant first, ending at end; returns the first. */
static char *digits_before(char *end, uint64_t u)
{
    do {
        *--end = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    return end;
}

size_t report_format_json_int(int64_t v, char *buf)
{
    char tmp[24];
    /* The magnitude as unsigned: INT64_MIN has no positive int64. */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    char *p = digits_before(tmp + sizeof(tmp), u);
    size_t len = 0;
    if (v < 0) {
        buf[len++] = '-';
    }
    memcpy(buf + len, p, (size_t)(tmp + sizeof(tmp) - p));
    len += (size_t)(tmp + sizeof(tmp) - p);
    buf[len] = '\0';
    return len;
}

/* What jansson does with a real (jsonp_dtostr at 15 digits): %.15g, ".0"
 * where that reads as an integer, and no '+' or leading zeros in the
 * exponent. */
static size_t json_real_like_jansson(double x, char *buf)
{
    int n = snprintf(buf, REPORT_JSON_NUMBER_MAX - 2, "%.15g", x);
    if (n < 0 || n >= REPORT_JSON_NUMBER_MAX - 2) {
        memcpy(buf, "null", 5);
        return 4;
    }
    size_t len = (size_t)n;
    if (!strchr(buf, '.') && !strchr(buf, 'e')) {
        memcpy(buf + len, ".0", 3);
        len += 2;
    }
    char *e = strchr(buf, 'e');
    if (e) {
        char *start = e + 1;
        char *end = start + 1;
        if (*start == '-') {
            start++;
        }
        while (*end == '0') {
            end++;
        }
        memmove(start, end, len + 1 - (size_t)(end - buf));
        len -= (size_t)(end - start);
    }
    return len;
}

size_t report_format_json_real(double v, int decimals, char *buf)
{
    static const int64_t pow10[] = { 1, 10, 100, 1000, 10000 };
    if (!isfinite(v)) {
        memcpy(buf, "null", 5);
        return 4;
    }
    bool fixed = decimals >= 0 && decimals <= 4;
    /* pow(10, k) is exact: the table gives the same scale, faster. */
    double scale = fixed ? (double)pow10[decimals] : pow(10.0, decimals);
    double r = round(v * scale);
    if (!isfinite(r)) {
        memcpy(buf, "null", 5);
        return 4;
    }
    /* Below 10^15 the decimal r / 10^decimals has at most 15 digits, so
     * %.15g of the nearest double prints exactly it, trailing zeros
     * dropped; decimals up to 4 keep %g from choosing an exponent. */
    if (!fixed || fabs(r) >= 1e15) {
        return json_real_like_jansson(r / scale, buf);
    }
    uint64_t u = (uint64_t)fabs(r);
    uint64_t whole = u / (uint64_t)pow10[decimals];
    uint64_t frac = u % (uint64_t)pow10[decimals];
    char tmp[32];
    char *end = tmp + sizeof(tmp);
    char *p = end;
    if (frac == 0) {
        *--p = '0';
    } else {
        int places = decimals;
        while (frac % 10 == 0) { /* %g drops trailing zeros */
            frac /= 10;
            places--;
        }
        for (; places > 0; places--) {
            *--p = (char)('0' + frac % 10);
            frac /= 10;
        }
    }
    *--p = '.';
    p = digits_before(p, whole);
    if (signbit(r)) { /* -0.0 too: %g writes "-0" */
        *--p = '-';
    }
    size_t len = (size_t)(end - p);
    memcpy(buf, p, len);
    buf[len] = '\0';
    return len;
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
