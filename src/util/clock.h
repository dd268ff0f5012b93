/* Clocks and fixed schedules. Schedules run on CLOCK_MONOTONIC so a wall
 * clock step (NTP, an operator) never bunches or stalls the work. */
#ifndef GPULSE_UTIL_CLOCK_H
#define GPULSE_UTIL_CLOCK_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Fixed lengths of time in milliseconds. A local day is not always
 * CLOCK_DAY_MS long (DST): cut days with clock_local_day_start(). */
#define CLOCK_SECOND_MS 1000LL
#define CLOCK_MINUTE_MS (60 * CLOCK_SECOND_MS)
#define CLOCK_HOUR_MS   (60 * CLOCK_MINUTE_MS)
#define CLOCK_DAY_MS    (24 * CLOCK_HOUR_MS)
#define CLOCK_WEEK_MS   (7 * CLOCK_DAY_MS)

/* Unix epoch milliseconds (CLOCK_REALTIME): what is stored and shown. */
int64_t clock_realtime_ms(void);

/* Microseconds on CLOCK_MONOTONIC: for durations. */
uint64_t clock_monotonic_us(void);

/* A deadline every period_ms, fixed to the schedule's start: doing the
 * work late does not move the deadlines after it. */
struct clock_schedule {
    struct timespec next; /* the next deadline, absolute, CLOCK_MONOTONIC */
    uint64_t period_ms;
};

/* Starts a schedule whose first deadline is now. */
void clock_schedule_init(struct clock_schedule *s, uint64_t period_ms);

/* Moves to the next deadline that is still ahead. Returns how many
 * deadlines were skipped because they had already passed (0 when on time). */
uint64_t clock_schedule_next(struct clock_schedule *s);

/* Sleeps until the current deadline. Returns 0 once it is reached, or EINTR
 * when a signal handler ran first (call again to sleep on). */
int clock_schedule_sleep(const struct clock_schedule *s);

/* Sleeps until the CLOCK_MONOTONIC deadline with the signal mask
 * sleep_mask in place (pselect): a signal blocked outside the sleep is
 * taken during it, never lost between a check of its flag and the sleep.
 * Past the deadline it does not sleep, but still takes a pending signal.
 * Returns EINTR when a signal handler ran, else 0. */
int clock_sleep_until(const struct timespec *deadline, const sigset_t *sleep_mask);

/* Days as the configured time zone cuts them (the TZ environment, which
 * clock_use_timezone sets; the host's zone when unset). A day starts at
 * local midnight and lasts 23, 24 or 25 hours around a DST change. Where a
 * zone's midnight does not exist (a DST jump at 00:00), the day starts at
 * the first local time that does; where it happens twice (clocks going back
 * from 01:00 to 00:00), at the first. Both are found with localtime_r
 * alone, never mktime (which stats /etc/localtime on each call). */

/* Makes tz (an IANA name such as "Europe/Berlin"; "" keeps the host's) the
 * zone for local days. Call before starting threads: it sets TZ. */
void clock_use_timezone(const char *tz);

/* The start (Unix ms) of the local day that holds t_ms. */
int64_t clock_local_day_start(int64_t t_ms);

/* The start of the local day after the one starting at day_start_ms. */
int64_t clock_local_day_next(int64_t day_start_ms);

/* Writes the local date of t_ms as YYYY-MM-DD into buf (at least 11 bytes). */
void clock_local_date(int64_t t_ms, char *buf, size_t size);

/* The local midnight starting the Sunday-first week that is weeks - 1 weeks
 * before the one holding t_ms (weeks >= 1): the first day of an activity
 * graph of that many weeks ending today. */
int64_t clock_local_weeks_start(int64_t t_ms, int weeks);

/* The local midnight starting the Monday-first week that holds t_ms (a
 * calendar week, as usage per week counts it). */
int64_t clock_local_monday_start(int64_t t_ms);

/* The local midnight starting the month that holds t_ms. */
int64_t clock_local_month_start(int64_t t_ms);

/* The local day of the week of t_ms, 0 for Sunday. */
int clock_local_weekday(int64_t t_ms);

#endif
