/* The configuration file: both layouts, every kind of bad value named by
 * its key, command-line overrides, and a round trip through the output. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "gp_cmocka.h"

static int parse(struct config *cfg, const char *json, struct gp_err *err)
{
    config_defaults(cfg);
    return config_parse(cfg, json, strlen(json), "test.json", err);
}

static void defaults(void **state)
{
    (void)state;
    struct config cfg;
    config_defaults(&cfg);
    assert_int_equal(cfg.interval_ms, 1000);
    assert_int_equal(cfg.flush_interval_ms, 10000);
    assert_int_equal(cfg.retention_samples_ms, 30ULL * 86400000);
    assert_int_equal(cfg.retention_minute_ms, 90ULL * 86400000);
    assert_int_equal(cfg.retention_hour_ms, 730ULL * 86400000);
    assert_int_equal(cfg.retention_day_ms, 0);
    assert_string_equal(cfg.database, "/var/lib/gpulse/gpulse.db");
}

static void native_layout(void **state)
{
    (void)state;
    struct config cfg;
    struct gp_err err = { 0 };
    int rc = parse(&cfg,
                   "{\"interval\": \"100ms\", \"flush_interval\": 2, \"database\": \"/tmp/x.db\","
                   " \"retention\": {\"samples\": \"7d\", \"day\": \"forever\", \"hour\": \"1y\"},"
                   " \"activity_threshold_pct\": 2.5, \"timezone\": \"UTC\","
                   " \"log\": {\"level\": \"debug\", \"file\": \"/tmp/g.log\"},"
                   " \"nvml_lib\": \"/opt/libnvidia-ml.so.1\", \"pcie\": true}",
                   &err);
    if (rc) {
        fail_msg("%s", err.msg);
    }
    assert_int_equal(cfg.interval_ms, 100);
    assert_int_equal(cfg.flush_interval_ms, 2000);
    assert_string_equal(cfg.database, "/tmp/x.db");
    assert_int_equal(cfg.retention_samples_ms, 7ULL * 86400000);
    assert_int_equal(cfg.retention_hour_ms, 365ULL * 86400000);
    assert_int_equal(cfg.retention_day_ms, 0);
    assert_true(cfg.activity_threshold_pct > 2.49 && cfg.activity_threshold_pct < 2.51);
    assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
    assert_string_equal(cfg.log_file, "/tmp/g.log");
    assert_string_equal(cfg.nvml_lib, "/opt/libnvidia-ml.so.1");
    assert_true(cfg.pcie);
    assert_string_equal(cfg.source, "test.json");
}

static void gpu_monitor_layout(void **state)
{
    (void)state;
    struct config cfg;
    struct gp_err err = { 0 };
    int rc = parse(&cfg,
                   "{\"collection\": {\"interval_seconds\": 5, \"aggregation_interval_hours\": 1},"
                   " \"database\": {\"file\": \"/var/lib/gpu-monitor/data.db\"},"
                   " \"logging\": {\"file\": \"/var/log/gm.log\", \"level\": \"INFO\"},"
                   " \"server\": {\"url\": \"https://hub.example/api\","
                   " \"contract_number\": \"C-1234\"}}",
                   &err);
    if (rc) {
        fail_msg("%s", err.msg);
    }
    assert_int_equal(cfg.interval_ms, 5000);
    assert_int_equal(cfg.aggregation_interval_ms, 3600000);
    assert_string_equal(cfg.database, "/var/lib/gpu-monitor/data.db");
    assert_string_equal(cfg.log_file, "/var/log/gm.log");
    assert_int_equal(cfg.log_level, LOG_LEVEL_INFO);
    assert_string_equal(cfg.server_url, "https://hub.example/api");
    assert_string_equal(cfg.contract_number, "C-1234");
}

static void errors_name_the_key(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *expect;
    } cases[] = {
        { "{\"intervall\": \"1s\"}", "unknown key 'intervall'" },
        { "{\"retention\": {\"sample\": \"1d\"}}", "unknown key 'retention.sample'" },
        { "{\"interval\": \"10ms\"}", "key 'interval': must be a duration between 100ms" },
        { "{\"interval\": true}", "key 'interval': must be a duration string" },
        { "{\"interval\": \"fast\"}", "key 'interval'" },
        { "{\"database\": 3}", "key 'database': must be a string" },
        { "{\"database\": \"\"}", "key 'database': must name a file or directory, not be empty" },
        { "{\"database\": {\"file\": \"\"}}", "key 'database.file': must name a file" },
        { "{\"pcie\": \"true\"}", "key 'pcie': must be true or false" },
        { "{\"pcie\": 1}", "key 'pcie': must be true or false" },
        { "{\"activity_threshold_pct\": 101}", "key 'activity_threshold_pct': must be a number" },
        { "{\"log\": {\"level\": \"loud\"}}", "key 'log.level': must be one of" },
        { "{\"timezone\": \"Mars/Olympus\"}", "key 'timezone': 'Mars/Olympus' is not a time zone" },
        { "{\"timezone\": \"../../etc/passwd\"}", "key 'timezone'" },
        { "{\"collection\": {\"interval_seconds\": \"5\"}}",
          "key 'collection.interval_seconds': must be a number" },
        { "{\"collection\": {\"interval_seconds\": 0.01}}",
          "key 'collection.interval_seconds': must be a number of seconds between 0.1 and 3600" },
        { "{\"retention\": {\"hour\": \"1m\"}}", "key 'retention.hour'" },
        { "{\"interval\": \"1s\", \"interval\": \"2s\"}", "test.json: line 1" },
        { "[1, 2]", "test.json: must be a JSON object" },
        { "{\"interval\": ", "test.json: line 1" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config cfg;
        struct gp_err err = { 0 };
        assert_int_equal(parse(&cfg, cases[i].json, &err), -EINVAL);
        if (!strstr(err.msg, cases[i].expect)) {
            fail_msg("case %zu: expected '%s' in '%s'", i, cases[i].expect, err.msg);
        }
    }
}

/* An empty string means nothing for any string key: from the file and
 * from the command line it is refused naming the key (an empty database
 * path once wrote to a throw-away temporary database). */
static void empty_strings_refused(void **state)
{
    (void)state;
    static const char *const keys[] = {
        "database",   "database.file",          "proc_root",      "nvml_lib", "timezone",
        "log.file",   "logging.file",           "database_group", "hub.url",  "hub.contract_number",
        "server.url", "server.contract_number", "http.listen",
    };
    for (size_t i = 0; i < GP_ARRAY_LEN(keys); i++) {
        struct config cfg;
        config_defaults(&cfg);
        struct gp_err err = { 0 };
        assert_int_equal(config_set(&cfg, keys[i], "", &err), -EINVAL);
        char expect[80];
        snprintf(expect, sizeof(expect), "key '%s'", keys[i]);
        if (!strstr(err.msg, expect)) {
            fail_msg("--set %s=: expected '%s' in '%s'", keys[i], expect, err.msg);
        }
        /* the same key in a file, nested as it is written there */
        char json[160];
        const char *dot = strchr(keys[i], '.');
        if (dot) {
            snprintf(json, sizeof(json), "{\"%.*s\": {\"%s\": \"\"}}", (int)(dot - keys[i]),
                     keys[i], dot + 1);
        } else {
            snprintf(json, sizeof(json), "{\"%s\": \"\"}", keys[i]);
        }
        err = (struct gp_err){ 0 };
        assert_int_equal(parse(&cfg, json, &err), -EINVAL);
        if (!strstr(err.msg, expect)) {
            fail_msg("%s: expected '%s' in '%s'", json, expect, err.msg);
        }
    }
    /* the defaults are unchanged by a refused value */
    struct config cfg;
    config_defaults(&cfg);
    struct gp_err err = { 0 };
    assert_int_equal(config_set(&cfg, "proc_root", "", &err), -EINVAL);
    assert_string_equal(cfg.proc_root, "/proc");
}

/* null leaves an optional key at its default; a required one refuses it. */
static void null_unsets_optional_keys(void **state)
{
    (void)state;
    struct config cfg;
    struct gp_err err = { 0 };
    assert_int_equal(parse(&cfg,
                           "{\"timezone\": \"UTC\", \"log\": {\"file\": \"/tmp/g.log\"},"
                           " \"database_group\": \"adm\"}",
                           &err),
                     0);
    assert_string_equal(cfg.database_group, "adm");
    assert_int_equal(config_parse(&cfg,
                                  "{\"timezone\": null, \"log\": {\"file\": null},"
                                  " \"nvml_lib\": null, \"database_group\": null}",
                                  strlen("{\"timezone\": null, \"log\": {\"file\": null},"
                                         " \"nvml_lib\": null, \"database_group\": null}"),
                                  "t.json", &err),
                     0);
    assert_string_equal(cfg.timezone, "");
    assert_string_equal(cfg.log_file, "");
    assert_string_equal(cfg.database_group, "");
    assert_int_equal(parse(&cfg, "{\"database\": null}", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "key 'database': must be a string"));
    assert_int_equal(parse(&cfg, "{\"proc_root\": null}", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "key 'proc_root'"));
}

/* A zone is a name the host knows; a UTC offset is not one, least of all
 * one that no place has. */
static void timezone_offsets_refused(void **state)
{
    (void)state;
    static const char *const bad_zones[] = { "+99:99", "-99:99", "UTC+99", "+14:01", "+05:60" };
    for (size_t i = 0; i < GP_ARRAY_LEN(bad_zones); i++) {
        struct config cfg;
        config_defaults(&cfg);
        struct gp_err err = { 0 };
        assert_int_equal(config_set(&cfg, "timezone", bad_zones[i], &err), -EINVAL);
        assert_non_null(strstr(err.msg, "key 'timezone'"));
        assert_string_equal(cfg.timezone, "");
    }
}

static void overrides(void **state)
{
    (void)state;
    struct config cfg;
    config_defaults(&cfg);
    struct gp_err err = { 0 };
    assert_int_equal(config_set(&cfg, "interval", "250ms", &err), 0);
    assert_int_equal(cfg.interval_ms, 250);
    assert_int_equal(config_set(&cfg, "retention.samples", "forever", &err), 0);
    assert_int_equal(cfg.retention_samples_ms, 0);
    assert_int_equal(config_set(&cfg, "database.file", "/tmp/a.db", &err), 0);
    assert_string_equal(cfg.database, "/tmp/a.db");
    assert_int_equal(config_set(&cfg, "nope", "1", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "unknown configuration key 'nope'"));
    assert_int_equal(config_set(&cfg, "interval", "0", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "key 'interval'"));
    assert_false(cfg.pcie); /* the driver's 2 x 20 ms a GPU: off unless asked */
    assert_int_equal(config_set(&cfg, "pcie", "true", &err), 0);
    assert_true(cfg.pcie);
    assert_int_equal(config_set(&cfg, "pcie", "false", &err), 0);
    assert_false(cfg.pcie);
    assert_int_equal(config_set(&cfg, "pcie", "yes", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "key 'pcie': must be true or false"));
    /* A path that is not UTF-8 cannot be written by `gpulse config` nor
     * given in a file (found by tests/fuzz/fuzz_config.c): refused. */
    assert_int_equal(config_set(&cfg, "database.file", "/tmp/\x83.db", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "key 'database.file': must be UTF-8 text"));
    assert_string_equal(cfg.database, "/tmp/a.db");
    assert_int_equal(config_set(&cfg, "log.file", "/var/log/gp\xc3\xa9.log", &err), 0);
}

static void missing_file(void **state)
{
    (void)state;
    struct config cfg;
    struct gp_err err = { 0 };
    assert_int_equal(config_load(&cfg, "/nonexistent/gpulse.json", &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/gpulse.json"));
}

static void round_trip(void **state)
{
    (void)state;
    struct config a;
    struct gp_err err = { 0 };
    assert_int_equal(parse(&a,
                           "{\"interval\": \"1500ms\", \"retention\": {\"minute\": \"2w\"},"
                           " \"log\": {\"level\": \"error\"}, \"pcie\": true}",
                           &err),
                     0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(config_write_json(&a, f), 0);
    fclose(f);
    struct config b;
    config_defaults(&b);
    if (config_parse(&b, text, len, "out.json", &err) != 0) {
        fail_msg("output does not load back: %s\n%s", err.msg, text);
    }
    assert_int_equal(b.interval_ms, 1500);
    assert_int_equal(b.retention_minute_ms, 14ULL * 86400000);
    assert_int_equal(b.log_level, LOG_LEVEL_ERROR);
    assert_int_equal(b.retention_day_ms, 0);
    assert_true(b.pcie);
    assert_non_null(strstr(text, "\"pcie\": true"));
    /* unset optional keys are written as null and load back unset */
    assert_non_null(strstr(text, "\"timezone\": null"));
    assert_string_equal(b.timezone, "");
    assert_string_equal(b.log_file, "");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(native_layout),
        cmocka_unit_test(gpu_monitor_layout),
        cmocka_unit_test(errors_name_the_key),
        cmocka_unit_test(overrides),
        cmocka_unit_test(missing_file),
        cmocka_unit_test(round_trip),
        cmocka_unit_test(empty_strings_refused),
        cmocka_unit_test(null_unsets_optional_keys),
        cmocka_unit_test(timezone_offsets_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
