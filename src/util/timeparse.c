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

/* The fields of an ISO 8601 time as typed; a zone makes it UTC plus an
 * offset, its absence local time. */
struct iso_time {
    int year, mon, day;
    int hour, min, sec;
    bool utc;
    int offset_min;
};

/* "YYYY-MM-DD", the one part that is always there. */
static bool parse_date(const char **p, struct iso_time *t)
{
    return digits(p, 4, &t->year) && *(*p)++ == '-' && digits(p, 2, &t->mon) && *(*p)++ == '-' &&
           digits(p, 2, &t->day);
}

/* "Thh:mm[:ss]" or " hh:mm[:ss]", optional: a date alone is midnight. */
static bool parse_clock(const char **p, struct iso_time *t)
{
    if (**p != 'T' && **p != ' ') {
        return true;
    }
    (*p)++;
    if (!digits(p, 2, &t->hour) || *(*p)++ != ':' || !digits(p, 2, &t->min)) {
        return false;
    }
    if (**p != ':') {
        return true;
    }
    (*p)++;
    return digits(p, 2, &t->sec);
}

/* "Z", "+hh:mm", "+hhmm" or "-hh:mm" within -12:00..+14:00, optional:
 * without one the time is local. */
static bool parse_zone(const char **p, struct iso_time *t)
{
    if (**p == 'Z') {
        t->utc = true;
        (*p)++;
        return true;
    }
    if (**p != '+' && **p != '-') {
        return true;
    }
    int sign = *(*p)++ == '-' ? -1 : 1;
    int oh = 0, om = 0;
    if (!digits(p, 2, &oh)) {
        return false;
    }
    if (**p == ':') {
        (*p)++;
    }
    if (!digits(p, 2, &om)) {
        return false;
    }
    /* The offsets in use: -12:00 (Baker Island) to +14:00 (Kiribati). */
    int offset_min = sign * (oh * 60 + om);
    if (om > 59 || offset_min < -12 * 60 || offset_min > 14 * 60) {
        return false;
    }
    t->utc = true;
    t->offset_min = offset_min;
    return true;
}

/* Day 31 of a short month passes here and fails after mktime; second 60
 * is a leap second. */
static bool in_range(const struct iso_time *t)
{
    return t->mon >= 1 && t->mon <= 12 && t->day >= 1 && t->day <= 31 && t->hour <= 23 &&
           t->min <= 59 && t->sec <= 60;
}

static int parse_iso(const char *s, int64_t *out_ms)
{
    struct iso_time it = { 0 };
    const char *p = s;
    if (!parse_date(&p, &it) || !parse_clock(&p, &it) || !parse_zone(&p, &it) || *p ||
        !in_range(&it)) {
        return -EINVAL;
    }
    struct tm tm = {
        .tm_isdst = -1,
        .tm_year = it.year - 1900,
        .tm_mon = it.mon - 1,
        .tm_mday = it.day,
        .tm_hour = it.hour,
        .tm_min = it.min,
        .tm_sec = it.sec,
    };
    time_t t = it.utc ? timegm(&tm) : mktime(&tm);
    if (t == (time_t)-1 || tm.tm_mday != it.day) {
        return -EINVAL; /* 2026-02-30 and friends */
    }
    *out_ms = ((int64_t)t - (int64_t)it.offset_min * 60) * 1000;
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
