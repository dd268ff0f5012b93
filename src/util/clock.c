#include "util/clock.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/select.h>

int64_t clock_realtime_ms(void)
{
    struct timespec ts = { 0 };
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t clock_monotonic_us(void)
{
    struct timespec ts = { 0 };
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

static void add_ms(struct timespec *t, uint64_t ms)
{
    t->tv_sec += (time_t)(ms / 1000);
    t->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

static bool before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

void clock_schedule_init(struct clock_schedule *s, uint64_t period_ms)
{
    *s = (struct clock_schedule){ .period_ms = period_ms ? period_ms : 1 };
    clock_gettime(CLOCK_MONOTONIC, &s->next);
}

uint64_t clock_schedule_next(struct clock_schedule *s)
{
    add_ms(&s->next, s->period_ms);
    struct timespec now = { 0 };
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t skipped = 0;
    while (before(&s->next, &now)) {
        add_ms(&s->next, s->period_ms);
        skipped++;
    }
    return skipped;
}

int clock_schedule_sleep(const struct clock_schedule *s)
{
    return clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &s->next, NULL) == EINTR ? EINTR : 0;
}

int clock_sleep_until(const struct timespec *deadline, const sigset_t *sleep_mask)
{
    struct timespec now = { 0 };
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct timespec left = { .tv_sec = deadline->tv_sec - now.tv_sec,
                             .tv_nsec = deadline->tv_nsec - now.tv_nsec };
    if (left.tv_nsec < 0) {
        left.tv_sec--;
        left.tv_nsec += 1000000000L;
    }
    if (left.tv_sec < 0) {
        left = (struct timespec){ 0 };
    }
    return pselect(0, NULL, NULL, NULL, &left, sleep_mask) < 0 && errno == EINTR ? EINTR : 0;
}

void clock_use_timezone(const char *tz)
{
    if (tz && tz[0]) {
        setenv("TZ", tz, 1);
    }
    tzset();
}

/* A local date as a number that grows with the date. */
static int64_t date_of_tm(const struct tm *tm)
{
    return (int64_t)tm->tm_year * 400 + tm->tm_yday;
}

static int64_t date_number(time_t secs)
{
    struct tm tm = { 0 };
    localtime_r(&secs, &tm);
    return date_of_tm(&tm);
}

/* The first second in (lo, hi] whose local date is date or later, where
 * lo's is earlier and hi's is not: a binary search, since dates only move
 * forward. */
static time_t first_second_of(int64_t date, time_t lo, time_t hi)
{
    while (hi - lo > 1) {
        time_t mid = lo + (hi - lo) / 2;
        if (date_number(mid) >= date) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    return hi;
}

static bool reads_midnight(const struct tm *tm)
{
    return tm->tm_hour == 0 && tm->tm_min == 0 && tm->tm_sec == 0;
}

/* A day starts at the first second that reads its date: local midnight,
 * found from localtime_r alone. The guess (that many wall-clock seconds
 * before t, or 24 h after a start) is right unless the UTC offset changed
 * in between, two days a year; the check sees that and a binary search
 * over localtime_r answers. No mktime: it runs tzset on each call, and
 * with TZ unset that is a stat of /etc/localtime, a third of an uncached
 * history query's time (docs/performance.md, 2026-11-30). Where midnight
 * happens twice (clocks going back from 01:00 to 00:00), the day starts at
 * the first. */
int64_t clock_local_day_start(int64_t t_ms)
{
    time_t secs = (time_t)(t_ms >= 0 ? t_ms / 1000 : (t_ms - 999) / 1000);
    struct tm tm = { 0 };
    localtime_r(&secs, &tm);
    int64_t date = date_of_tm(&tm);
    time_t guess = secs - (tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec);
    struct tm at = { 0 };
    localtime_r(&guess, &at);
    if (reads_midnight(&at) && date_of_tm(&at) == date && date_number(guess - 1) < date) {
        return (int64_t)guess * 1000;
    }
    /* 36 hours before is an earlier date in any zone. */
    return (int64_t)first_second_of(date, secs - (time_t)36 * 3600, secs) * 1000;
}

int64_t clock_local_day_next(int64_t day_start_ms)
{
    time_t secs = (time_t)(day_start_ms >= 0 ? day_start_ms / 1000 : (day_start_ms - 999) / 1000);
    int64_t date = date_number(secs);
    time_t guess = secs + (time_t)24 * 3600;
    struct tm at = { 0 };
    localtime_r(&guess, &at);
    if (reads_midnight(&at) && date_of_tm(&at) > date && date_number(guess - 1) == date) {
        return (int64_t)guess * 1000;
    }
    /* 48 hours after is a later date in any zone. */
    return (int64_t)first_second_of(date + 1, secs, secs + (time_t)48 * 3600) * 1000;
}

void clock_local_date(int64_t t_ms, char *buf, size_t size)
{
    time_t secs = (time_t)(t_ms / 1000);
    struct tm tm = { 0 };
    localtime_r(&secs, &tm);
    strftime(buf, size, "%Y-%m-%d", &tm);
}

/* The local midnight of the day mday_delta days from t_ms's, or of day
 * mday of its month when mday > 0. */
static int64_t local_day_moved(int64_t t_ms, int mday, int mday_delta)
{
    time_t secs = (time_t)(t_ms / 1000);
    struct tm tm = { 0 };
    localtime_r(&secs, &tm);
    tm.tm_mday = (mday > 0 ? mday : tm.tm_mday) + mday_delta;
    tm.tm_hour = 12; /* noon: never inside a DST gap */
    tm.tm_min = 0;
    tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return clock_local_day_start((int64_t)mktime(&tm) * 1000);
}

int64_t clock_local_weeks_start(int64_t t_ms, int weeks)
{
    return local_day_moved(t_ms, 0, -(clock_local_weekday(t_ms) + 7 * (weeks - 1)));
}

int64_t clock_local_monday_start(int64_t t_ms)
{
    return local_day_moved(t_ms, 0, -((clock_local_weekday(t_ms) + 6) % 7));
}

int64_t clock_local_month_start(int64_t t_ms)
{
    return local_day_moved(t_ms, 1, 0);
}

int clock_local_weekday(int64_t t_ms)
{
    time_t secs = (time_t)(t_ms / 1000);
    struct tm tm = { 0 };
    localtime_r(&secs, &tm);
    return tm.tm_wday;
}
