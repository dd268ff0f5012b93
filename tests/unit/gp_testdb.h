/* A temporary directory for the tests that write databases, made once per
 * test binary, with the path of a database in it. */
#ifndef GPULSE_TESTS_GP_TESTDB_H
#define GPULSE_TESTS_GP_TESTDB_H

#include <sqlite3.h>
#include <stdint.h>

#include "util/common.h"

extern char gp_testdb_dir[64];   /* made by gp_testdb_make_dir */
extern char gp_testdb_path[128]; /* gp_testdb_dir "/g.db" */

/* cmocka group setup: makes the directory. Returns 0. */
int gp_testdb_make_dir(void **state);

/* cmocka group teardown: removes the directory and all in it. */
int gp_testdb_remove_dir(void **state);

/* cmocka per-test setup: an empty directory (no database, WAL or copies)
 * and days cut in UTC unless the test says otherwise. */
int gp_testdb_fresh(void **state);

/* Decodes the raw samples of the database at path (store_raw_export)
 * into path ".raw" and attaches that to db as "raw": tables samples and
 * process_samples, as schema 3 had them. Fails the test when a block does
 * not decode. */
void gp_testdb_attach_raw(sqlite3 *db, const char *path);

/* The first column of the first row of the query fmt makes, read from the
 * database at gp_testdb_path (with its raw samples attached, decoded, when
 * the query names samples): -999 for NULL, -1 for no row. A query that
 * does not prepare fails the test, naming it. */
int64_t gp_testdb_scalar(const char *fmt, ...) GP_PRINTF(1, 2);

#endif
