/* The one list of GPU fields (gpu/fields.def) and what is derived from it:
 * the metadata, the stored fields, their slots and columns, the metrics
 * names; how counters and bit masks roll up; and the upgrade of a schema-2
 * database, whose rollups lack the OR of the clock-event reasons. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gp_cmocka.h"
#include "gp_testdb.h"
#include "store/agg.h"
#include "store/store.h"
#include "util/clock.h"

#define MINUTE_MS 60000LL
/* 2026-11-02T00:00:00Z */
#define T0 1793577600000LL

static const char *const path = gp_testdb_path;

static void exec(const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail_msg("%s: %s", sql, msg);
    }
    sqlite3_close(db);
}

static const char *const rollup_tables[] = { "rollup_minute", "rollup_hour", "rollup_day" };

static bool has_column(const char *table, const char *column)
{
    return gp_testdb_scalar("SELECT count(*) FROM pragma_table_info('%s') WHERE name = '%s'", table,
                            column) == 1;
}

static void metadata_is_complete_and_unique(void **state)
{
    (void)state;
    for (int f = 0; f < GPU_FIELD_COUNT; f++) {
        const struct gpu_field_info *fi = gpu_field_info((enum gpu_field)f);
        assert_non_null(fi->key);
        assert_true(strlen(fi->label) > 0);
        assert_non_null(fi->unit);
        assert_true(strlen(fi->help) > 0);
        /* every field has a series today: a name, a help line, a scale */
        assert_non_null(fi->metric.name);
        assert_true(strncmp(fi->metric.name, "DCGM_FI_DEV_", 12) == 0 ||
                    strncmp(fi->metric.name, "gpulse_gpu_", 11) == 0);
        assert_true(strlen(fi->metric.help) > 0);
        assert_true(fi->metric.divisor > 0);
        for (int g = 0; g < f; g++) {
            const struct gpu_field_info *gi = gpu_field_info((enum gpu_field)g);
            if (strcmp(fi->key, gi->key) == 0 || strcmp(fi->metric.name, gi->metric.name) == 0 ||
                strcmp(fi->label, gi->label) == 0) {
                fail_msg("fields %s and %s share a key, label or metric", fi->key, gi->key);
            }
        }
    }
    /* the kinds the issue names: counters, a bit mask, gauges */
    static const enum gpu_field counters[] = {
        GPU_FIELD_ENERGY_MJ,
        GPU_FIELD_ECC_CORRECTED_VOLATILE,
        GPU_FIELD_ECC_UNCORRECTED_VOLATILE,
        GPU_FIELD_ECC_CORRECTED_AGGREGATE,
        GPU_FIELD_ECC_UNCORRECTED_AGGREGATE,
        GPU_FIELD_REMAPPED_ROWS_CORRECTABLE,
        GPU_FIELD_REMAPPED_ROWS_UNCORRECTABLE,
    };
    size_t n_counters = 0;
    size_t n_flags = 0;
    for (int f = 0; f < GPU_FIELD_COUNT; f++) {
        enum gpu_field_kind kind = gpu_field_info((enum gpu_field)f)->kind;
        n_counters += kind == GPU_KIND_COUNTER;
        n_flags += kind == GPU_KIND_FLAGS;
    }
    assert_int_equal(n_counters, GP_ARRAY_LEN(counters));
    for (size_t i = 0; i < GP_ARRAY_LEN(counters); i++) {
        assert_int_equal(gpu_field_info(counters[i])->kind, GPU_KIND_COUNTER);
    }
    assert_int_equal(n_flags, 1);
    assert_int_equal(gpu_field_info(GPU_FIELD_CLOCK_REASONS)->kind, GPU_KIND_FLAGS);
    assert_int_equal(gpu_field_info(GPU_FIELD_UTIL_GPU_PCT)->kind, GPU_KIND_GAUGE);
    assert_int_equal(gpu_field_info(GPU_FIELD_REMAPPED_ROWS_PENDING)->kind, GPU_KIND_GAUGE);
    /* the units dcgm-exporter uses: MiB from bytes, W from mW */
    assert_float_equal(gpu_field_info(GPU_FIELD_MEM_USED_BYTES)->metric.divisor, 1048576, 0);
    assert_float_equal(gpu_field_info(GPU_FIELD_POWER_MW)->metric.divisor, 1000, 0);
}

/* Every bit of a clock-event mask has a name: a known one, or
 * unknown_0x<hex> for the bits newer drivers set. */
static void clock_reason_bits_all_named(void **state)
{
    (void)state;
    char buf[GPU_CLOCK_REASON_NAME_MAX];
    assert_string_equal(gpu_clock_reason_name(0x4, buf, sizeof(buf)), "sw_power_cap");
    assert_string_equal(gpu_clock_reason_name(0x100, buf, sizeof(buf)), "display_clock_setting");
    assert_string_equal(gpu_clock_reason_name(0x400, buf, sizeof(buf)), "unknown_0x400");
    assert_string_equal(gpu_clock_reason_name(UINT64_C(1) << 63, buf, sizeof(buf)),
                        "unknown_0x8000000000000000");
}

static void stored_fields_have_slots_and_columns(void **state)
{
    (void)state;
    /* slots: the SAMPLE fields in the list's order, identity fields none */
    size_t i = 0;
    for (int f = 0; f < GPU_FIELD_COUNT; f++) {
        const struct gpu_field_info *fi = gpu_field_info((enum gpu_field)f);
        if (fi->storage == GPU_STORAGE_IDENTITY) {
            assert_int_equal(store_sample_slot((enum gpu_field)f), -1);
            continue;
        }
        assert_int_equal(store_sample_field(i), f);
        assert_int_equal(store_sample_slot((enum gpu_field)f), (int)i);
        assert_int_equal(store_agg_all_slots[i], i);
        i++;
    }
    assert_int_equal(i, store_sample_field_count());
    assert_int_equal(i, STORE_AGG_FIELDS);

    /* columns: each stored field's four aggregates, and a flag field's OR */
    char cols[8192];
    assert_true(store_agg_columns(cols, sizeof(cols), store_agg_all_slots, STORE_AGG_FIELDS) > 0);
    size_t commas = 0;
    for (const char *p = cols; *p; p++) {
        commas += *p == ',';
    }
    assert_int_equal(commas + 1, store_agg_column_count(store_agg_all_slots, STORE_AGG_FIELDS));
    assert_int_equal(commas + 1, 6 + 4 * STORE_AGG_FIELDS + 1);
    assert_non_null(strstr(cols, ", clock_event_reasons_or"));

    /* the database has every one of them, in every rollup table */
    struct store *s = NULL;
    struct gp_err err = { 0 };
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), 0);
    store_close(s);
    for (size_t t = 0; t < GP_ARRAY_LEN(rollup_tables); t++) {
        for (size_t k = 0; k < STORE_AGG_FIELDS; k++) {
            const struct gpu_field_info *fi = gpu_field_info(store_sample_field(k));
            static const char *const suffixes[] = { "_n", "_sum", "_min", "_max" };
            for (size_t x = 0; x < GP_ARRAY_LEN(suffixes); x++) {
                char col[96];
                snprintf(col, sizeof(col), "%s%s", fi->key, suffixes[x]);
                if (!has_column(rollup_tables[t], col)) {
                    fail_msg("%s has no column %s", rollup_tables[t], col);
                }
            }
            char col[96];
            snprintf(col, sizeof(col), "%s_or", fi->key);
            assert_int_equal(has_column(rollup_tables[t], col), fi->kind == GPU_KIND_FLAGS);
        }
        assert_int_equal(
            gp_testdb_scalar("SELECT count(*) FROM pragma_table_info('%s')", rollup_tables[t]),
            2 + (int64_t)store_agg_column_count(store_agg_all_slots, STORE_AGG_FIELDS));
    }
}

/* Minute 0: the volatile ECC count goes 3 -> 7 and the clock-event masks
 * are 0x1, 0x1, 0x4, 0x0, 0x1, 0x1 (OR 0x5). Minute 1: the count 7 -> 8,
 * the mask 0x20 throughout. Minute 2: one sample (0x40, 8) closes both. */
static const int64_t ecc_at[] = { 3, 3, 4, 4, 7, 7, 7, 7, 7, 8, 8, 8, 8 };
static const int64_t mask_at[] = { 0x1,  0x1,  0x4,  0x0,  0x1,  0x1, 0x20,
                                   0x20, 0x20, 0x20, 0x20, 0x20, 0x40 };

static void write_counter_and_masks(struct store *s)
{
    struct gpu_snapshot snaps[GP_ARRAY_LEN(ecc_at)];
    struct gpu_reading readings[GP_ARRAY_LEN(ecc_at)];
    const struct gpu_snapshot *list[GP_ARRAY_LEN(ecc_at)];
    for (size_t i = 0; i < GP_ARRAY_LEN(ecc_at); i++) {
        struct gpu_reading *r = &readings[i];
        *r = (struct gpu_reading){ .id = { .index = 0, .uuid = "GPU-kinds" } };
        gpu_values_set(&r->values, GPU_FIELD_UTIL_GPU_PCT, 10 * (int64_t)i);
        gpu_values_set(&r->values, GPU_FIELD_ECC_CORRECTED_VOLATILE, ecc_at[i]);
        gpu_values_set(&r->values, GPU_FIELD_CLOCK_REASONS, mask_at[i]);
        snaps[i] =
            (struct gpu_snapshot){ .time_ms = T0 + (int64_t)i * 10000, .gpu_count = 1, .gpus = r };
        list[i] = &snaps[i];
    }
    struct gp_err err = { 0 };
    if (store_write(s, list, GP_ARRAY_LEN(list), 10000, &err) != 0) {
        fail_msg("%s", err.msg);
    }
}

static struct store_history_row *query(struct store *s, int64_t step_ms, size_t *n)
{
    struct store_history_query q = {
        .from_ms = T0,
        .to_ms = T0 + 2 * MINUTE_MS,
        .step_ms = step_ms,
        .metric_count = 3,
        .metrics = { GPU_FIELD_ECC_CORRECTED_VOLATILE, GPU_FIELD_CLOCK_REASONS,
                     GPU_FIELD_UTIL_GPU_PCT },
    };
    struct store_history_row *rows = NULL;
    struct gp_err err = { 0 };
    if (store_query_history(s, &q, &rows, n, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    return rows;
}

static void counters_and_masks_roll_up(void **state)
{
    (void)state;
    struct store *s = NULL;
    struct gp_err err = { 0 };
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), 0);
    write_counter_and_masks(s);
    assert_int_equal(
        gp_testdb_scalar("SELECT clock_event_reasons_or FROM rollup_minute WHERE t = %lld",
                         (long long)T0),
        0x5);

    /* per minute, from the minute rollups */
    size_t n = 0;
    struct store_history_row *rows = query(s, MINUTE_MS, &n);
    assert_int_equal(n, 2);
    assert_true(rows[0].has[0]);
    assert_float_equal(rows[0].max[0], 7, 0); /* the last reading */
    assert_float_equal(rows[0].delta[0], 4, 0);
    assert_true(rows[0].has_bits[1]);
    assert_int_equal(rows[0].bits[1], 0x5);
    assert_float_equal(rows[1].max[0], 8, 0);
    assert_float_equal(rows[1].delta[0], 1, 0);
    assert_true(rows[1].has_bits[1]);
    assert_int_equal(rows[1].bits[1], 0x20);
    /* a gauge has no bits */
    assert_false(rows[0].has_bits[2]);
    assert_float_equal(rows[0].avg[2], 25, 1e-9);
    free(rows);

    /* two minutes in one bucket: merged rollups */
    rows = query(s, 2 * MINUTE_MS, &n);
    assert_int_equal(n, 1);
    assert_float_equal(rows[0].max[0], 8, 0);
    assert_float_equal(rows[0].delta[0], 5, 0);
    assert_int_equal(rows[0].bits[1], 0x25);
    free(rows);

    /* raw samples: the reading itself */
    rows = query(s, 0, &n);
    assert_int_equal(n, 12);
    assert_true(rows[2].has_bits[1]);
    assert_int_equal(rows[2].bits[1], 0x4);
    assert_float_equal(rows[2].max[0], 4, 0);
    assert_float_equal(rows[2].delta[0], 0, 0);
    free(rows);
    store_close(s);
}

/* A schema-2 database: the tables of today without the OR columns. */
static void downgrade_to_v2(void)
{
    /* raw samples back in rows, as schema 3 and before kept them */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    gp_testdb_attach_raw(db, path);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE main.samples AS SELECT * FROM raw.samples;"
                                  "CREATE TABLE main.process_samples AS"
                                  " SELECT * FROM raw.process_samples;"
                                  "DROP TABLE sample_blocks; DROP TABLE process_blocks;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    exec("ALTER TABLE rollup_minute DROP COLUMN clock_event_reasons_or;"
         "ALTER TABLE rollup_hour DROP COLUMN clock_event_reasons_or;"
         "ALTER TABLE rollup_day DROP COLUMN clock_event_reasons_or;"
         "ALTER TABLE processes DROP COLUMN sm_known_seconds;"
         "PRAGMA user_version = 2;");
    assert_false(has_column("rollup_minute", "clock_event_reasons_or"));
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM pragma_table_info('rollup_minute')"),
                     2 + 6 + 4 * STORE_AGG_FIELDS);
}

static void v2_database_upgrades_to_v3(void **state)
{
    (void)state;
    struct store *s = NULL;
    struct gp_err err = { 0 };
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), 0);
    write_counter_and_masks(s);
    store_close(s);
    downgrade_to_v2();

    /* readers refuse it until the agent (or a rebuild) has upgraded it */
    assert_int_equal(store_open(path, STORE_READ_ONLY, &s, &err), -EPROTO);
    assert_int_equal(store_open(path, STORE_READ_WRITE, &s, &err), 0);
    assert_int_equal(STORE_SCHEMA_VERSION, 5);
    assert_int_equal(gp_testdb_scalar("PRAGMA user_version"), 5);
    for (size_t t = 0; t < GP_ARRAY_LEN(rollup_tables); t++) {
        assert_true(has_column(rollup_tables[t], "clock_event_reasons_or"));
    }
    /* the old rows keep their data, and do not know their OR */
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM rollup_minute"), 2);
    assert_int_equal(gp_testdb_scalar("SELECT count(*) FROM rollup_minute"
                                      " WHERE clock_event_reasons_or IS NOT NULL"),
                     0);
    size_t n = 0;
    struct store_history_row *rows = query(s, MINUTE_MS, &n);
    assert_int_equal(n, 2);
    assert_float_equal(rows[0].delta[0], 4, 0); /* counters need no new column */
    assert_false(rows[0].has_bits[1]);          /* masks differed: unknown, not 0 */
    assert_true(rows[1].has_bits[1]);           /* one mask all minute long */
    assert_int_equal(rows[1].bits[1], 0x20);
    free(rows);
    rows = query(s, 2 * MINUTE_MS, &n);
    assert_int_equal(n, 1);
    assert_false(rows[0].has_bits[1]); /* a bucket with an unknown part */
    free(rows);

    /* a rebuild recomputes the OR from the raw samples */
    struct store_rebuild_result res;
    assert_int_equal(store_rebuild(s, &res, &err), 0);
    assert_int_equal(
        gp_testdb_scalar("SELECT clock_event_reasons_or FROM rollup_minute WHERE t = %lld",
                         (long long)T0),
        0x5);
    rows = query(s, 2 * MINUTE_MS, &n);
    assert_int_equal(n, 1);
    assert_true(rows[0].has_bits[1]);
    assert_int_equal(rows[0].bits[1], 0x25);
    free(rows);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(metadata_is_complete_and_unique),
        cmocka_unit_test(clock_reason_bits_all_named),
        cmocka_unit_test_setup(stored_fields_have_slots_and_columns, gp_testdb_fresh),
        cmocka_unit_test_setup(counters_and_masks_roll_up, gp_testdb_fresh),
        cmocka_unit_test_setup(v2_database_upgrades_to_v3, gp_testdb_fresh),
    };
    return cmocka_run_group_tests(tests, gp_testdb_make_dir, gp_testdb_remove_dir);
}
