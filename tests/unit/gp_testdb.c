#include "gp_testdb.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gp_cmocka.h"
#include "store/store.h"
#include "util/clock.h"

char gp_testdb_dir[64];
char gp_testdb_path[128];

int gp_testdb_make_dir(void **state)
{
    (void)state;
    snprintf(gp_testdb_dir, sizeof(gp_testdb_dir), "/tmp/gpulse-test-XXXXXX");
    assert_non_null(mkdtemp(gp_testdb_dir));
    snprintf(gp_testdb_path, sizeof(gp_testdb_path), "%s/g.db", gp_testdb_dir);
    return 0;
}

int gp_testdb_remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", gp_testdb_dir);
    return system(cmd);
}

int gp_testdb_fresh(void **state)
{
    (void)state;
    clock_use_timezone("UTC");
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -f '%s'/*", gp_testdb_dir);
    return system(cmd);
}

void gp_testdb_attach_raw(sqlite3 *db, const char *path)
{
    char raw[600];
    snprintf(raw, sizeof(raw), "%s.raw", path);
    struct store *s = NULL;
    struct gp_err err = { 0 };
    int64_t damaged = 0;
    if (store_open(path, STORE_READ_ONLY, &s, &err) != 0 ||
        store_raw_export(s, raw, &damaged, &err) != 0 || damaged != 0) {
        fail_msg("cannot decode the raw samples of %s: %s", path, err.msg);
    }
    store_close(s);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "ATTACH ?1 AS raw", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, raw, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

int64_t gp_testdb_scalar(const char *fmt, ...)
{
    char sql[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(gp_testdb_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (strstr(sql, "samples")) {
        gp_testdb_attach_raw(db, gp_testdb_path);
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    }
    int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -999 : sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}
