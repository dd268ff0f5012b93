/* JSON and CSV output of a hand-built snapshot: absent fields are null or
 * empty (never 0), and text from the host is escaped, not trusted. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gp_cmocka.h"
#include "report/now.h"

static struct gpu_process proc = {
    .pid = 77,
    .type_mask = GPU_PROCESS_COMPUTE,
    .has_used_memory = true,
    .used_memory_bytes = 1048576,
    .proc = { .found = true,
              .has_uid = true,
              .uid = 1000,
              .user = "alice",
              .comm = "evil,\"name\"",
              .cmdline = "evil,\"name\" --x\n2",
              .start_time_ms = 1795000000123 },
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

static char *render_to_string(int json, bool processes)
{
    struct gpu_snapshot snap;
    struct gpu_reading r;
    make_snapshot(&snap, &r);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct report_now_opts opts = { .host = "h", .csv_header = true, .csv_processes = processes };
    if (json) {
        assert_int_equal(report_now_write_json(f, &snap, &opts), 0);
    } else {
        report_now_csv(f, &snap, &opts);
    }
    fclose(f);
    return buf;
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
    assert_true(json_real_value(json_object_get(gpu, "busy_pct")) > 24.9);
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
    /* header, then one row; the command line's quotes doubled, newline kept in quotes */
    assert_non_null(strstr(text, "time,gpu_index,gpu_uuid,pid,type,user,uid,command,"));
    assert_non_null(strstr(text, ",77,C,alice,1000,\"evil,\"\"name\"\"\",,1048576,,,,,"));
    assert_non_null(strstr(text, "\"evil,\"\"name\"\" --x\n2\"\r\n"));
    free(text);

    text = render_to_string(0, false);
    char *row = strstr(text, "\r\n");
    assert_non_null(row);
    /* temperature 0 is present, fan absent: ",0," then empty fields */
    assert_non_null(strstr(row, ",ok,25.0,samples,,,,,,,,,0,,123456,"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_absent_is_null),
        cmocka_unit_test(csv_quotes_and_empties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
