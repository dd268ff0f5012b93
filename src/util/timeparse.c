#include "util/timeparse.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "util/strparse.h"

/* Reads exactly n digits at *p into *v and advances. */
static bool digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) {
            return false;
        }
        x = x * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *v = x;
    return true;
}

static int parse_iso(const char *s, int64_t *out_ms)
{
    struct tm tm = { .tm_isdst = -1 };
    int year = 0, mon = 0, day = 0;
    const char *p = s;
    if (!digits(&p, 4, &year) || *p++ != '-' || !digits(&p, 2, &mon) || *p++ != '-' ||
        !digits(&p, 2, &day)) {
        return -EINVAL;
    }
    int hour = 0, min = 0, sec = 0;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &hour) || *p++ != ':' || !digits(&p, 2, &min)) {
            return -EINVAL;
        }
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec)) {
                return -EINVAL;
            }
        }
    }
    bool utc = false;
    int offset_min = 0;
    if (*p == 'Z') {
        utc = true;
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        int oh = 0, om = 0;
        if (!digits(&p, 2, &oh)) {
            return -EINVAL;
        }
        if (*p == ':') {
            p++;
        }
        if (!digits(&p, 2, &om)) {
            return -EINVAL;
        }
        utc = true;
        offset_min = sign * (oh * 60 + om);
    }
    if (*p || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) {
        return -EINVAL;
    }
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    time_t t = utc ? timegm(&tm) : mktime(&tm);
    if (t == (time_t)-1 || tm.tm_mday != day) {
        return -EINVAL; /* 2026-02-30 and friends */
    }
    *out_ms = ((int64_t)t - (int64_t)offset_min * 60) * 1000;
    return 0;
}

int timeparse_ms(const char *text, int64_t now_ms, int64_t *out_ms)
{
    if (!text || !*text) {
        return -EINVAL;
    }
    if (strcmp(text, "now") == 0) {
        *out_ms = now_ms;
        return 0;
    }
    if (text[0] == '-') {
        uint64_t ago = 0;
        if (strparse_duration_ms(text + 1, 0, 100ULL * 366 * 86400000, &ago) != 0 ||
            !isalpha((unsigned char)text[strlen(text) - 1])) {
            return -EINVAL; /* "-24h": a unit is required */
        }
        *out_ms = now_ms - (int64_t)ago;
        return 0;
    }
    if (strchr(text, '-')) {
        return parse_iso(text, out_ms);
    }
    uint64_t secs = 0;
    if (strparse_u64(text, 253402300799ULL, &secs) != 0) { /* up to year 9999 */
        return -EINVAL;
    }
    *out_ms = (int64_t)secs * 1000;
    return 0;
}
