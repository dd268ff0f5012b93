#include "util/clock.h"

#include <errno.h>
#include <stdbool.h>

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
