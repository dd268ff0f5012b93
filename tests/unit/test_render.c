/* JSON and CSV output of a hand-built snapshot and hand-built process
 * rows: absent fields are null or empty (never 0), numbers are rounded to
 * what they mean, and text from the host is escaped, not trusted. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gp_cmocka.h"
#include "report/activity.h"
#include "report/now.h"
#include "report/processes.h"

/* A process whose command is hostile to CSV, started at a known time. */
static struct proc_info proc_info = {
    .found = true,
    .has_uid = true,
    .uid = 1000,
    .user = "alice",
    .comm = "evil,\"name\"",
    .cmdline = "evil,\"name\" --x\n2",
    .start_time_ms = 1795000000123,
};

static struct gpu_process proc = {
    .pid = 77,
    .type_mask = GPU_PROCESS_COMPUTE,
    .has_used_memory = true,
    .used_memory_bytes = 1048576,
    .proc = &proc_info,
};

static void make_snapshot(struct gpu_snapshot *snap, struct gpu_reading *r)
{
    *r = (struct gpu_reading){ .id = { .index = 0, .uuid = "GPU-x", .name = "Sim <GPU>" } };
    gpu_values_set(&r->values, GPU_FIELD_TEMP_C, 0); /* a real 0 stays 0 */
    gpu_values_set(&r->values, GPU_FIELD_POWER_MW, 123456);
    gpu_values_set(&r->values, GPU_FIELD_CLOCK_REASONS, 0x24);
    r->busy = (struct gpu_busy){
        .source = GPU_BUSY_SAMPLES, .busy_us = 250000, .window_us = 1000000, .samples = 6
    };
    r->process_count = 1;
    r->processes = &proc;
    *snap = (struct gpu_snapshot){ .time_ms = 1795000000000, .gpu_count = 1, .gpus = r };
    snprintf(snap->system.driver_version, sizeof(snap->system.driver_version), "550.54.15");
}

/* snap as JSON (format 0), CSV (1) or a table (2), in a string to free. */
static char *render_snapshot(const struct gpu_snapshot *snap, int format, bool processes)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct report_now_opts opts = {
        .host = "h", .width = 120, .csv_header = true, .csv_processes = processes
    };
    if (format == 0) {
        assert_int_equal(report_now_write_json(f, snap, &opts), 0);
    } else if (format == 1) {
        report_now_csv(f, snap, &opts);
    } else {
        report_now_table(f, snap, &opts);
    }
    fclose(f);
    return buf;
}

static char *render_to_string(int json, bool processes)
{
    struct gpu_snapshot snap;
    struct gpu_reading r;
    make_snapshot(&snap, &r);
    return render_snapshot(&snap, json ? 0 : 1, processes);
}

static void json_absent_is_null(void **state)
{
    (void)state;
    char *text = render_to_string(1, false);
    json_error_t err;
    json_t *root = json_loads(text, 0, &err);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "schema")), "gpulse.now.v1");
    assert_true(json_is_null(json_object_get(root, "cuda_version")));
    json_t *gpu = json_array_get(json_object_get(root, "gpus"), 0);
    assert_true(json_is_null(json_object_get(gpu, "fan_pct")));
    assert_true(json_is_null(json_object_get(gpu, "serial")));
    assert_int_equal(json_integer_value(json_object_get(gpu, "temperature_c")), 0);
    assert_int_equal(json_integer_value(json_object_get(gpu, "power_mw")), 123456);
    char *busy = json_dumps(json_object_get(gpu, "busy_pct"), JSON_ENCODE_ANY | REPORT_JSON_FLAGS);
    assert_string_equal(busy, "25.0");
    free(busy);
    /* Only the agent knows when it started and how often it samples. */
    assert_true(json_is_null(json_object_get(root, "agent_start")));
    assert_true(json_is_null(json_object_get(root, "interval_s")));
    json_t *reasons = json_object_get(gpu, "clock_event_reasons_active");
    assert_int_equal(json_array_size(reasons), 2);
    assert_string_equal(json_string_value(json_array_get(reasons, 0)), "sw_power_cap");
    assert_string_equal(json_string_value(json_object_get(gpu, "name")), "Sim <GPU>");
    json_t *p = json_array_get(json_object_get(gpu, "processes"), 0);
    assert_string_equal(json_string_value(json_object_get(p, "user")), "alice");
    assert_string_equal(json_string_value(json_object_get(p, "command")), "evil,\"name\"");
    assert_true(json_is_null(json_object_get(p, "sm_pct")));
    assert_true(json_is_null(json_object_get(p, "container")));
    assert_string_equal(json_string_value(json_object_get(p, "start_time")),
                        "2026-11-18T11:06:40.123Z");
    json_decref(root);
    free(text);
}

static void csv_quotes_and_empties(void **state)
{
    (void)state;
    char *text = render_to_string(0, true);
    /* header, then one row; the command line's quotes doubled, and a line
     * break, which would split the record for many readers, defused */
    assert_non_null(strstr(text, "time,gpu_index,gpu_uuid,pid,type,user,uid,command,"));
    assert_non_null(strstr(text, ",77,C,alice,1000,\"evil,\"\"name\"\"\",,1048576,,,,,"));
    assert_non_null(strstr(text, "\"evil,\"\"name\"\" --x?2\"\r\n"));
    free(text);

    text = render_to_string(0, false);
    char *row = strstr(text, "\r\n");
    assert_non_null(row);
    /* temperature 0 is present, fan absent: ",0," then empty fields */
    assert_non_null(strstr(row, ",ok,25.0,samples,,,,,,,,,0,,123456,"));
    free(text);
}

/* A process list the driver refused and a clock-event bit gpulse has no
 * name for: unknown, never an empty list or a dropped bit. */
static char *render_unknown(int format, bool processes)
{
    struct gpu_snapshot snap;
    struct gpu_reading r;
    make_snapshot(&snap, &r);
    snprintf(r.processes_error, sizeof(r.processes_error), "%s",
             "nvmlDeviceGetComputeRunningProcesses_v3: Insufficient Permissions");
    r.process_count = 0;
    gpu_values_set(&r.values, GPU_FIELD_CLOCK_REASONS, 0x404);
    return render_snapshot(&snap, format, processes);
}

static void unknown_is_not_empty(void **state)
{
    (void)state;
    char *text = render_unknown(0, false);
    json_error_t err;
    json_t *root = json_loads(text, 0, &err);
    assert_non_null(root);
    json_t *gpu = json_array_get(json_object_get(root, "gpus"), 0);
    assert_true(json_is_null(json_object_get(gpu, "processes")));
    assert_string_equal(json_string_value(json_object_get(gpu, "processes_error")),
                        "nvmlDeviceGetComputeRunningProcesses_v3: Insufficient Permissions");
    assert_int_equal(json_integer_value(json_object_get(gpu, "clock_event_reasons")), 0x404);
    json_t *reasons = json_object_get(gpu, "clock_event_reasons_active");
    assert_int_equal(json_array_size(reasons), 2);
    assert_string_equal(json_string_value(json_array_get(reasons, 0)), "sw_power_cap");
    assert_string_equal(json_string_value(json_array_get(reasons, 1)), "unknown_0x400");
    json_decref(root);
    free(text);

    /* A known list, even an empty one, has processes_error null. */
    text = render_to_string(1, false);
    root = json_loads(text, 0, &err);
    gpu = json_array_get(json_object_get(root, "gpus"), 0);
    assert_true(json_is_null(json_object_get(gpu, "processes_error")));
    assert_int_equal(json_array_size(json_object_get(gpu, "processes")), 1);
    json_decref(root);
    free(text);

    /* CSV: no count (not 0), and why; no process rows. */
    text = render_unknown(1, false);
    assert_non_null(strstr(text, ",process_count,processes_error\r\n"));
    assert_non_null(
        strstr(text, ",,nvmlDeviceGetComputeRunningProcesses_v3: Insufficient Permissions\r\n"));
    free(text);
    text = render_unknown(1, true);
    assert_null(strstr(text, ",77,"));
    free(text);

    /* The table says so instead of listing nothing, and names the bit. */
    text = render_unknown(2, false);
    assert_non_null(strstr(text, " sw_power_cap unknown_0x400\n"));
    assert_non_null(strstr(text, "    processes unknown: nvmlDeviceGetComputeRunningProcesses_v3: "
                                 "Insufficient Permissions\n"));
    assert_null(strstr(text, "alice"));
    free(text);
}

static char *dump(json_t *root)
{
    char *text = json_dumps(root, REPORT_JSON_FLAGS);
    json_decref(root);
    assert_non_null(text);
    return text;
}

static char uuid_y[] = "GPU-y";
static char user_bob[] = "bob";
static char command_train[] = "train";
static char cmdline_train[] = "train --lr=0.1,0.2";

static struct store_process_row process_row = {
    .gpu_index = 1,
    .gpu_uuid = uuid_y,
    .pid = 4242,
    .type_mask = GPU_PROCESS_COMPUTE,
    .user = user_bob,
    .command = command_train,
    .cmdline = cmdline_train,
    .first_seen_ms = 1795000000000,
    .last_seen_ms = 1795000076001,
    .samples = 77,
    .has_memory = true,
    .memory_max_bytes = 2147483648,
    .memory_avg_bytes = 1073741823.6,
    .gpu_seconds = 76.000047999903998,
    .has_sm = true,
    .sm_seconds = 38.0001,
    .sm_known_seconds = 76.000047999903998,
};

static void processes_rounded_and_live(void **state)
{
    (void)state;
    struct report_processes p = { .rows = &process_row, .count = 1, .limit = 0 };
    char *text = dump(report_processes_json(&p));
    assert_non_null(strstr(text, "\"schema\":\"gpulse.processes.v1\",\"count\":1,\"limit\":null"));
    assert_non_null(strstr(text, "\"gpu\":1,\"gpu_uuid\":\"GPU-y\",\"pid\":4242,\"type\":\"C\""));
    assert_non_null(strstr(text, "\"uid\":null"));
    assert_non_null(strstr(text, "\"lifetime_s\":76.001,"));
    assert_non_null(strstr(text, "\"gpu_seconds\":76.0,\"sm_seconds\":38.0,\"sm_pct_avg\":50.0,"));
    assert_non_null(strstr(text, "\"memory_avg_bytes\":1073741824,"));
    /* No agent's tick: what runs now is unknown, not "not running". */
    assert_non_null(strstr(text, "\"active\":null,\"memory_now_bytes\":null,\"sm_pct_now\":null}"));
    free(text);

    struct report_process_live live = { .known = true,
                                        .running = true,
                                        .has_memory = true,
                                        .memory_bytes = 1024,
                                        .has_sm = true,
                                        .sm_pct = 7 };
    p = (struct report_processes){ .rows = &process_row, .count = 1, .live = &live, .limit = 5 };
    text = dump(report_processes_json(&p));
    assert_non_null(strstr(text, "\"limit\":5,"));
    assert_non_null(strstr(text, "\"active\":true,\"memory_now_bytes\":1024,\"sm_pct_now\":7}"));
    free(text);
    /* Its GPU's list refused now: whether it runs is unknown. */
    struct report_process_live refused = { .known = false };
    p.live = &refused;
    text = dump(report_processes_json(&p));
    assert_non_null(strstr(text, "\"active\":null,\"memory_now_bytes\":null,\"sm_pct_now\":null}"));
    free(text);
    p.live = &live;

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    report_processes_csv(f, &p);
    fclose(f);
    assert_non_null(strstr(buf, "gpu_index,gpu_uuid,pid,type,user,uid,command,container,"));
    assert_non_null(strstr(buf, "\r\n1,GPU-y,4242,C,bob,,train,,2026-11-18T11:06:40.000Z,"
                                "2026-11-18T11:07:56.001Z,76.000,38.000,2147483648,1073741824,"
                                "\"train --lr=0.1,0.2\"\r\n"));
    free(buf);

    /* SM time the driver never gave: null and empty, not 0 */
    struct store_process_row unknown_sm = process_row;
    unknown_sm.has_sm = false;
    unknown_sm.sm_seconds = 0;
    unknown_sm.sm_known_seconds = 0;
    p = (struct report_processes){ .rows = &unknown_sm, .count = 1 };
    text = dump(report_processes_json(&p));
    assert_non_null(strstr(text, "\"gpu_seconds\":76.0,\"sm_seconds\":null,\"sm_pct_avg\":null,"));
    free(text);
    f = open_memstream(&buf, &len);
    report_processes_csv(f, &p);
    fclose(f);
    assert_non_null(strstr(buf, ",76.000,,2147483648,"));
    free(buf);
    f = open_memstream(&buf, &len);
    report_processes_table(f, &p);
    fclose(f);
    assert_non_null(strstr(buf, " 0:01:16        N/A "));
    free(buf);
}

static void processes_sort_keys(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        enum store_process_sort sort;
    } cases[] = {
        { "gpu_seconds", STORE_SORT_GPU_SECONDS },
        { "gpu-time", STORE_SORT_GPU_SECONDS },
        { "sm_seconds", STORE_SORT_SM_SECONDS },
        { "sm-time", STORE_SORT_SM_SECONDS },
        { "first_seen", STORE_SORT_FIRST_SEEN },
        { "first-seen", STORE_SORT_FIRST_SEEN },
        { "last_seen", STORE_SORT_LAST_SEEN },
        { "last-seen", STORE_SORT_LAST_SEEN },
        { "memory", STORE_SORT_MEMORY },
        { "pid", STORE_SORT_PID },
        { "user", STORE_SORT_USER },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum store_process_sort sort = STORE_SORT_PID;
        assert_int_equal(report_processes_sort_parse(cases[i].name, &sort), 0);
        assert_int_equal(sort, cases[i].sort);
    }
    enum store_process_sort sort = STORE_SORT_PID;
    assert_int_equal(report_processes_sort_parse("cpu", &sort), -EINVAL);
    assert_int_equal(report_processes_sort_parse("GPU_SECONDS", &sort), -EINVAL);
}

static void activity_levels(void **state)
{
    (void)state;
    static const struct {
        int64_t minutes;
        int level;
    } cases[] = { { 0, 0 },   { 1, 1 },   { 59, 1 },  { 60, 2 },   { 179, 2 },
                  { 180, 3 }, { 359, 3 }, { 360, 4 }, { 1440, 4 }, { -5, 0 } };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(report_activity_level(cases[i].minutes), cases[i].level);
    }
}

static void json_reals_round(void **state)
{
    (void)state;
    json_t *a =
        json_pack("[o, o, o, o]", report_json_real(76.000047999903998, 2), report_json_real(0.1, 3),
                  report_json_real(2.34567, 3), report_json_real((double)NAN, 2));
    char *text = dump(a);
    assert_string_equal(text, "[76.0,0.1,2.346,null]");
    free(text);
}

/* jansson's bytes for report_json_real(v, decimals), as every document
 * writes it. */
static void expect_janssons_real(double v, int decimals)
{
    json_t *j = report_json_real(v, decimals);
    /* Past 1e308 / 10^decimals jansson had no value to write (json_real
     * of an infinity is NULL, and an array skipped it): null instead. */
    char *want = j ? json_dumps(j, REPORT_JSON_FLAGS | JSON_ENCODE_ANY) : strdup("null");
    json_decref(j);
    char got[REPORT_JSON_NUMBER_MAX];
    size_t len = report_format_json_real(v, decimals, got);
    if (!want || strcmp(want, got) != 0 || len != strlen(got)) {
        fail_msg("%.17g at %d decimals: jansson writes %s, report_format_json_real %s", v, decimals,
                 want ? want : "(nothing)", got);
    }
    free(want);
}

/* The history document formats its numbers itself, for speed: every value
 * comes out as jansson wrote it (report_json_real, REPORT_JSON_FLAGS). */
static void json_numbers_as_jansson_writes_them(void **state)
{
    (void)state;
    static const double edges[] = {
        0,      -0.0,         0.004,
        -0.004, 0.005,        0.015,
        2.675,  1.005,        76.000047999903998,
        99.995, 100,          -12.5,
        1e-5,   0.0001,       123.456789,
        9.9999, 1e14,         99999999999999.99,
        1e15,   1e16,         -1e16,
        1.5e17, 9.2e18,       1e300,
        -1e300, 1e308,        0.1,
        0.3,    2.5,          1234567.891,
        4.2e-7, 60480000.123,
    };
    for (int d = 0; d <= 6; d++) {
        for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
            expect_janssons_real(edges[i], d);
        }
        expect_janssons_real((double)NAN, d);
        expect_janssons_real((double)INFINITY, d);
    }
    /* Values across every magnitude a sensor gives, with their noise. */
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double mant = (double)(x >> 11) / (double)(1ULL << 53);
        double v = ldexp(mant, (int)(x % 64) - 12) * ((x >> 8) & 1 ? -1 : 1);
        expect_janssons_real(v, (int)((x >> 3) % 5));
    }
    static const int64_t ints[] = { 0, 1, -1, 9, 10, -10, 1795920000000LL, INT64_MAX, INT64_MIN };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        char want[32];
        snprintf(want, sizeof(want), "%" JSON_INTEGER_FORMAT, (json_int_t)ints[i]);
        char got[REPORT_JSON_NUMBER_MAX];
        assert_int_equal(report_format_json_int(ints[i], got), strlen(want));
        assert_string_equal(got, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_absent_is_null),
        cmocka_unit_test(csv_quotes_and_empties),
        cmocka_unit_test(unknown_is_not_empty),
        cmocka_unit_test(processes_rounded_and_live),
        cmocka_unit_test(processes_sort_keys),
        cmocka_unit_test(activity_levels),
        cmocka_unit_test(json_reals_round),
        cmocka_unit_test(json_numbers_as_jansson_writes_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
