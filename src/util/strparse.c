#include "strparse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int strparse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)s[0])) {
        return -EINVAL;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0') {
        return -EINVAL;
    }
    if (errno == ERANGE || v > max) {
        return -ERANGE;
    }
    *out = v;
    return 0;
}

int strparse_double(const char *s, double min, double max, double *out)
{
    if (!s || !(isdigit((unsigned char)s[0]) || s[0] == '.' || s[0] == '-')) {
        return -EINVAL;
    }
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v)) {
        return -EINVAL;
    }
    if (errno == ERANGE || v < min || v > max) {
        return -ERANGE;
    }
    *out = v;
    return 0;
}

int strparse_duration_ms(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *out_ms)
{
    static const struct {
        const char *suffix;
        double ms;
    } units[] = { { "ms", 1.0 },         { "s", 1000.0 },     { "m", 60000.0 },
                  { "h", 3600000.0 },    { "d", 86400000.0 }, { "w", 604800000.0 },
                  { "y", 31536000000.0 } }; /* a year of 365 days, for retention */

    if (!s) {
        return -EINVAL;
    }
    size_t len = strlen(s);
    double scale = 1000.0;
    size_t num_len = len;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        size_t sl = strlen(units[i].suffix);
        if (len > sl && strcmp(s + len - sl, units[i].suffix) == 0 &&
            isdigit((unsigned char)s[len - sl - 1])) {
            scale = units[i].ms;
            num_len = len - sl;
            break;
        }
    }
    char num[64] = { 0 };
    if (num_len == 0 || num_len >= sizeof(num)) {
        return -EINVAL;
    }
    memcpy(num, s, num_len);
    double v = 0;
    int rc = strparse_double(num, 0.0, 1e15, &v);
    if (rc) {
        return rc;
    }
    double ms = v * scale;
    if (ms < (double)min_ms || ms > (double)max_ms) {
        return -ERANGE;
    }
    *out_ms = (uint64_t)llround(ms);
    return 0;
}
