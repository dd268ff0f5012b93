/* Strict number parsing, the bounded buffer, typed times and local days. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gp_cmocka.h"
#include "util/clock.h"
#include "util/dynbuf.h"
#include "util/selfstat.h"
#include "util/strparse.h"
#include "util/text.h"
#include "util/timeparse.h"

static void u64_strict(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(strparse_u64("42", 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(strparse_u64("101", 100, &v), -ERANGE);
    assert_int_equal(strparse_u64("99999999999999999999999", UINT64_MAX, &v), -ERANGE);
    assert_int_equal(strparse_u64("-1", 100, &v), -EINVAL);
    assert_int_equal(strparse_u64(" 1", 100, &v), -EINVAL);
    assert_int_equal(strparse_u64("1x", 100, &v), -EINVAL);
    assert_int_equal(strparse_u64("", 100, &v), -EINVAL);
}

static void doubles_and_durations(void **state)
{
    (void)state;
    double d = 0;
    assert_int_equal(strparse_double("0.5", 0, 10, &d), 0);
    assert_true(d > 0.49 && d < 0.51);
    assert_int_equal(strparse_double("nan", 0, 10, &d), -EINVAL);
    assert_int_equal(strparse_double("1e400", 0, 10, &d), -EINVAL);
    assert_int_equal(strparse_double("11", 0, 10, &d), -ERANGE);
    assert_int_equal(strparse_double("1.5s", 0, 10, &d), -EINVAL);
    uint64_t ms = 0;
    assert_int_equal(strparse_duration_ms("100ms", 100, 3600000, &ms), 0);
    assert_int_equal(ms, 100);
    assert_int_equal(strparse_duration_ms("1s", 100, 3600000, &ms), 0);
    assert_int_equal(ms, 1000);
    assert_int_equal(strparse_duration_ms("5m", 100, 3600000, &ms), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(strparse_duration_ms("2", 100, 3600000, &ms), 0);
    assert_int_equal(ms, 2000);
    assert_int_equal(strparse_duration_ms("50ms", 100, 3600000, &ms), -ERANGE);
    assert_int_equal(strparse_duration_ms("ms", 100, 3600000, &ms), -EINVAL);
    assert_int_equal(strparse_duration_ms("1d", 100, 3600000, &ms), -ERANGE);
    assert_int_equal(strparse_duration_ms("30d", 0, UINT64_MAX / 2, &ms), 0);
    assert_int_equal(ms, 30ULL * 86400000);
    assert_int_equal(strparse_duration_ms("2y", 0, UINT64_MAX / 2, &ms), 0);
    assert_int_equal(ms, 730ULL * 86400000);
    assert_int_equal(strparse_duration_ms("1x", 0, UINT64_MAX / 2, &ms), -EINVAL);
}

static void text_sanitize_makes_host_text_safe(void **state)
{
    (void)state;
    char out[64];
    /* valid UTF-8 passes, including 4-byte characters */
    assert_string_equal(text_sanitize(out, sizeof(out), "caf\xC3\xA9 \xF0\x9F\x9A\x80"),
                        "caf\xC3\xA9 \xF0\x9F\x9A\x80");
    /* invalid bytes, overlong forms and surrogates become U+FFFD */
    assert_string_equal(text_sanitize(out, sizeof(out),
                                      "a\xFF"
                                      "b"),
                        "a\xEF\xBF\xBD"
                        "b");
    assert_string_equal(text_sanitize(out, sizeof(out), "\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_string_equal(text_sanitize(out, sizeof(out), "\xED\xA0\x80"),
                        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_string_equal(text_sanitize(out, sizeof(out), "x\xE2\x82"), "x\xEF\xBF\xBD\xEF\xBF\xBD");
    /* escape sequences, BEL, tabs, line breaks and C1 controls are defused
     * for every output, JSON included */
    assert_string_equal(text_sanitize(out, sizeof(out), "\x1B[2J\tx\xC2\x9B\a\r\n\x7F"),
                        "?[2J?x?????");
    /* so are the line separator and the bidirectional overrides and
     * isolates that reorder a line on screen (U+2028, U+202E, U+2066) */
    assert_string_equal(text_sanitize(out, sizeof(out),
                                      "a\xE2\x80\xA8"
                                      "b\xE2\x80\xAE"
                                      "c\xE2\x81\xA6"),
                        "a?b?c?");
    /* cut at a whole character */
    assert_string_equal(text_sanitize(out, 4, "ab\xC3\xA9"), "ab");
    assert_string_equal(text_sanitize(out, 1, "abc"), "");
}

static void text_width_counts_terminal_columns(void **state)
{
    (void)state;
    assert_int_equal(text_width_cols(""), 0);
    assert_int_equal(text_width_cols("abc"), 3);
    assert_int_equal(text_width_cols("caf\xC3\xA9"), 4);              /* é: 2 bytes, 1 column */
    assert_int_equal(text_width_cols("e\xCC\x81"), 1);                /* e + combining acute */
    assert_int_equal(text_width_cols("\xE6\x95\xB0\xE6\x8D\xAE"), 4); /* 数据: wide */
    assert_int_equal(text_width_cols("\xF0\x9F\x9A\x80"), 2);         /* rocket emoji */
    assert_int_equal(text_width_cols("\xEF\xBC\xA1"), 2);             /* fullwidth A */
}

static void text_fit_cuts_and_pads_in_columns(void **state)
{
    (void)state;
    char out[64];
    /* padded to the column in columns, not bytes */
    assert_string_equal(text_fit(out, sizeof(out), "\xE6\x95\xB0\xE6\x8D\xAE", 6, 6),
                        "\xE6\x95\xB0\xE6\x8D\xAE  ");
    assert_string_equal(text_fit(out, sizeof(out), "ab", 4, 10), "ab  ");
    /* a wide character that does not fit whole is left out, the column padded */
    assert_string_equal(text_fit(out, sizeof(out), "a\xE6\x95\xB0\xE6\x8D\xAE", 4, 4),
                        "a\xE6\x95\xB0 ");
    /* combining marks stay with their letter */
    assert_string_equal(text_fit(out, sizeof(out), "e\xCC\x81x", 1, 1), "e\xCC\x81");
    /* made safe as text_sanitize does */
    assert_string_equal(text_fit(out, sizeof(out), "\x1B[1m\xFF", 0, 10), "?[1m\xEF\xBF\xBD");
    /* min above max: the text cut at max, then padded */
    assert_string_equal(text_fit(out, sizeof(out), "abcdef", 5, 3), "abc  ");
    /* never past the buffer */
    assert_string_equal(text_fit(out, 4, "abcdef", 8, 8), "abc");
    assert_int_equal(text_width_cols(text_fit(out, sizeof(out), "\xF0\x9F\x9A\x80x", 7, 7)), 7);
}

static char *csv_cell(const char *src)
{
    struct dynbuf b;
    dynbuf_init(&b, 4096);
    text_csv_append(&b, src);
    assert_int_equal(dynbuf_error(&b), 0);
    return dynbuf_take(&b, NULL);
}

static void csv_cell_is_inert(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        { "plain", "plain" },
        { "", "" },
        /* RFC 4180: a comma or a quote makes a quoted field, quotes doubled */
        { "a,b", "\"a,b\"" },
        { "say \"hi\"", "\"say \"\"hi\"\"\"" },
        /* a line break never splits the record, nor does a control reach
         * the terminal */
        { "a\r\nb\x1B[31m\a", "a??b?[31m?" },
        /* formulas are shown, not evaluated (OWASP CSV injection) */
        { "=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0" },
        { "+1", "'+1" },
        { "-2+3", "'-2+3" },
        { "@SUM(A1)", "'@SUM(A1)" },
        { "=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"" },
        /* a tab or CR that could start a formula is already '?' */
        { "\t=1", "?=1" },
        { "x\xFF", "x\xEF\xBF\xBD" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = csv_cell(cases[i].in);
        assert_string_equal(got, cases[i].out);
        free(got);
    }
}

static void times_people_type(void **state)
{
    (void)state;
    const int64_t now = 1795000000000LL; /* 2026-11-18T11:06:40Z */
    int64_t t = 0;
    setenv("TZ", "Europe/Berlin", 1);
    tzset();
    assert_int_equal(timeparse_ms("now", now, &t), 0);
    assert_int_equal(t, now);
    assert_int_equal(timeparse_ms("-24h", now, &t), 0);
    assert_int_equal(t, now - 86400000LL);
    assert_int_equal(timeparse_ms("-7d", now, &t), 0);
    assert_int_equal(t, now - 7 * 86400000LL);
    assert_int_equal(timeparse_ms("1795000000", now, &t), 0);
    assert_int_equal(t, now);
    assert_int_equal(timeparse_ms("2026-11-18T11:06:40Z", now, &t), 0);
    assert_int_equal(t, now);
    assert_int_equal(timeparse_ms("2026-11-18T13:06:40+02:00", now, &t), 0);
    assert_int_equal(t, now);
    /* no zone: local time (Berlin is UTC+1 in November, +2 in July) */
    assert_int_equal(timeparse_ms("2026-11-18T12:06:40", now, &t), 0);
    assert_int_equal(t, now);
    assert_int_equal(timeparse_ms("2026-07-01", now, &t), 0);
    assert_int_equal(t, 1782856800000LL); /* 2026-06-30T22:00:00Z */
    /* a space for the T, no seconds, an offset with or without its colon */
    assert_int_equal(timeparse_ms("2026-11-18 11:06Z", now, &t), 0);
    assert_int_equal(t, now - 40000);
    assert_int_equal(timeparse_ms("2026-11-18T13:06:40+0200", now, &t), 0);
    assert_int_equal(t, now);
    assert_int_equal(timeparse_ms("2026-11-18T05:36:40-05:30", now, &t), 0);
    assert_int_equal(t, now);
    /* the ends of the offsets in use */
    assert_int_equal(timeparse_ms("2026-11-19T01:06:40+14:00", now, &t), 0);
    assert_int_equal(t, now);
    assert_int_equal(timeparse_ms("2026-11-17T23:06:40-12:00", now, &t), 0);
    assert_int_equal(t, now);
    /* a leap second is the next minute's first */
    assert_int_equal(timeparse_ms("2026-11-18T11:05:60Z", now, &t), 0);
    assert_int_equal(t, now - 40000);
    static const char *const bad[] = { "",
                                       "-5",
                                       "yesterday",
                                       "2026-13-01",
                                       "2026-02-30",
                                       "2026-11-18T25:00",
                                       "2026-11-18X",
                                       "12ab",
                                       "-1x",
                                       "2026-11-18T10:00+2",
                                       "2026-11-18T10:00:00.5Z", /* no fractional seconds */
                                       "2026-11-18T10",
                                       "2026-11-18T10:60",
                                       "2026-11-18T10:00:61",
                                       "2026-11-18T10:00:0",
                                       "2026-11-18T10:00Zx",
                                       "2026-11-18T10:00+02:",
                                       "2026-11-18T10:00+99:99", /* no such offset */
                                       "2026-11-18T10:00+02:60",
                                       "2026-11-18T10:00+1401",
                                       "2026-11-18T10:00-12:01",
                                       "2026-11-18T",
                                       "2026-11-00",
                                       "2026-00-18",
                                       "2026-1-18",
                                       "2026-11-18T10:00:00+0a:00" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (timeparse_ms(bad[i], now, &t) != -EINVAL) {
            fail_msg("'%s' was accepted", bad[i]);
        }
    }
    unsetenv("TZ");
    tzset();
}

/* Whether t (ms) is the first second of its local date: the second
 * before it reads another date. */
static bool first_second_of_date(int64_t t_ms)
{
    time_t secs = (time_t)(t_ms / 1000);
    time_t before_secs = secs - 1;
    struct tm at = { 0 };
    struct tm before = { 0 };
    localtime_r(&secs, &at);
    localtime_r(&before_secs, &before);
    return t_ms % 1000 == 0 && (at.tm_yday != before.tm_yday || at.tm_year != before.tm_year);
}

static bool same_local_date(int64_t a_ms, int64_t b_ms)
{
    time_t a = (time_t)(a_ms / 1000);
    time_t b = (time_t)(b_ms / 1000);
    struct tm ta = { 0 };
    struct tm tb = { 0 };
    localtime_r(&a, &ta);
    localtime_r(&b, &tb);
    return ta.tm_yday == tb.tm_yday && ta.tm_year == tb.tm_year;
}

/* Local days in zones whose clocks change at 02:00 (Berlin), at midnight
 * (Havana: a day without a midnight, and one with two), by half an hour
 * (Lord Howe), at odd offsets (Kolkata, St John's) and at 24:00
 * (Santiago): for every 17 minutes of 2025 to 2027, the day holding it
 * starts at the first second of its local date, and ends where the next
 * date begins. */
static void local_days_follow_the_calendar(void **state)
{
    (void)state;
    static const char *const zones[] = { "Europe/Berlin",
                                         "America/Havana",
                                         "Australia/Lord_Howe",
                                         "Asia/Kolkata",
                                         "America/St_Johns",
                                         "America/Santiago",
                                         "UTC" };
    const int64_t from = 1735689600000LL; /* 2025-01-01T00:00Z */
    const int64_t to = from + 3 * 365 * CLOCK_DAY_MS;
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        clock_use_timezone(zones[z]);
        for (int64_t t = from; t < to; t += 17 * CLOCK_MINUTE_MS + 1234) {
            int64_t start = clock_local_day_start(t);
            int64_t next = clock_local_day_next(start);
            if (start > t || !same_local_date(start, t) || !first_second_of_date(start)) {
                fail_msg("%s: the day of %lld starts at %lld", zones[z], (long long)t,
                         (long long)start);
            }
            if (next <= t || !same_local_date(next - 1000, t) || !first_second_of_date(next)) {
                fail_msg("%s: the day after %lld starts at %lld", zones[z], (long long)start,
                         (long long)next);
            }
        }
    }
    /* Berlin's DST days of 2026: 23 h on March 29, 25 h on October 25. */
    clock_use_timezone("Europe/Berlin");
    const int64_t mar29 = 1774738800000LL; /* 2026-03-29T00:00+01:00 */
    const int64_t oct25 = 1792879200000LL; /* 2026-10-25T00:00+02:00 */
    assert_int_equal(clock_local_day_start(mar29 + 22 * CLOCK_HOUR_MS), mar29);
    assert_int_equal(clock_local_day_next(mar29), mar29 + 23 * CLOCK_HOUR_MS);
    assert_int_equal(clock_local_day_start(mar29 - 1), mar29 - CLOCK_DAY_MS);
    assert_int_equal(clock_local_day_start(oct25 + 24 * CLOCK_HOUR_MS + 59 * CLOCK_MINUTE_MS),
                     oct25);
    assert_int_equal(clock_local_day_next(oct25), oct25 + 25 * CLOCK_HOUR_MS);
    unsetenv("TZ");
    tzset();
}

/* What Prometheus's process_* metrics say of this test itself. */
static void selfstat_reads_this_process(void **state)
{
    (void)state;
    struct selfstat st;
    /* burn a little CPU so that it shows */
    volatile double x = 0;
    for (int i = 0; i < 20000000; i++) {
        x += i * 0.5;
    }
    assert_int_equal(selfstat_read(&st), 0);
    assert_true(st.cpu_seconds > 0.0 && st.cpu_seconds < 3600.0);
    assert_true(st.resident_bytes > 1 << 20);
    assert_true(st.virtual_bytes >= st.resident_bytes);
    assert_true(st.open_fds >= 3);
    assert_true(st.max_fds == -1 || st.max_fds >= st.open_fds);
    double now = (double)time(NULL);
    assert_true(st.start_time_s > now - 3600 && st.start_time_s <= now + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(u64_strict),
        cmocka_unit_test(doubles_and_durations),
        cmocka_unit_test(text_sanitize_makes_host_text_safe),
        cmocka_unit_test(text_width_counts_terminal_columns),
        cmocka_unit_test(text_fit_cuts_and_pads_in_columns),
        cmocka_unit_test(csv_cell_is_inert),
        cmocka_unit_test(times_people_type),
        cmocka_unit_test(local_days_follow_the_calendar),
        cmocka_unit_test(selfstat_reads_this_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
