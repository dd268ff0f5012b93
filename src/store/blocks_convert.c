/* Blocks in bulk: schema 4's conversion of rows into blocks, every block
 * decoded back into plain rows (gpulse db raw) and the check that each
 * block decodes (gpulse db check). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store/blocks.h"
#include "util/clock.h"
#include "util/log.h"

/* Schema 3's rows of a kind, in (owner, time) order, columns by name. */
static void select_v3(enum store_blocks_kind kind, char *sql, size_t size)
{
    int n = snprintf(sql, size, "SELECT %s, t", kind == STORE_BLOCKS_GPU ? "gpu" : "process");
    for (size_t c = 0; c < store_blocks_cols(kind); c++) {
        n += snprintf(sql + n, size - (size_t)n, ", %s", store_blocks_col_name(kind, c));
    }
    snprintf(sql + n, size - (size_t)n, " FROM %s ORDER BY 1, 2",
             kind == STORE_BLOCKS_GPU ? "samples" : "process_samples");
}

static int convert(struct store *s, enum store_blocks_kind kind, char **msg)
{
    char sql[2048];
    select_v3(kind, sql, sizeof(sql));
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    struct store_codec_block rows;
    size_t cols = store_blocks_cols(kind);
    store_codec_init(&rows, cols);
    int64_t owner = 0;
    int64_t minute = 0;
    struct gp_err err = { 0 };
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        int64_t o = sqlite3_column_int64(st, 0);
        int64_t t = sqlite3_column_int64(st, 1);
        int64_t m = store_level_start(STORE_LEVEL_MINUTE, t);
        if (rows.rows > 0 && (o != owner || m != minute)) {
            rc = store_blocks_add(s, kind, owner, minute, &rows, &err) ? SQLITE_ERROR : SQLITE_OK;
            rows.rows = 0;
        }
        owner = o;
        minute = m;
        long r = store_codec_row(&rows, t);
        for (size_t c = 0; c < cols && r >= 0; c++) {
            if (sqlite3_column_type(st, 2 + (int)c) != SQLITE_NULL) {
                store_codec_set(&rows, (size_t)r, c, sqlite3_column_int64(st, 2 + (int)c));
            }
        }
    }
    if (rc == SQLITE_DONE) {
        rc = store_blocks_add(s, kind, owner, minute, &rows, &err) ? SQLITE_ERROR : SQLITE_OK;
    }
    store_codec_free(&rows);
    sqlite3_finalize(st);
    if (rc != SQLITE_OK && !*msg) {
        *msg = sqlite3_mprintf("%s", err.msg[0] ? err.msg : sqlite3_errmsg(s->db));
    }
    return rc;
}

/* Whether schema 3's sample table holds a row: a database made just now
 * has nothing to move, and nothing to say about it. */
static bool has_v3_samples(struct store *s)
{
    sqlite3_stmt *st = NULL;
    bool any =
        sqlite3_prepare_v2(s->db, "SELECT 1 FROM samples LIMIT 1", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return any;
}

int store_blocks_migrate_v4(struct store *s, char **msg)
{
    /* The agent neither samples nor serves meanwhile: say why it waits. */
    enum log_level level = has_v3_samples(s) ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG;
    log_at(level, "store", "'%s': moving raw samples into per-minute blocks (schema 4), once",
           s->path);
    uint64_t t0 = clock_monotonic_us();
    int rc = convert(s, STORE_BLOCKS_GPU, msg);
    if (rc == SQLITE_OK) {
        rc = convert(s, STORE_BLOCKS_PROCESS, msg);
    }
    store_blocks_fini(s); /* its statements would keep the old tables busy */
    log_at(level, "store", "'%s': raw samples moved in %.1f s", s->path,
           (double)(clock_monotonic_us() - t0) / 1e6);
    return rc;
}

/* Calls fn for every block of a kind that decodes, in key order; counts
 * those that do not in *bad, naming the first in err. */
static int each_block(struct store *s, enum store_blocks_kind kind,
                      int (*fn)(void *ctx, int64_t key, const struct store_codec_block *b),
                      void *ctx, int64_t *bad, struct gp_err *err)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT key, data FROM %s ORDER BY key", store_blocks_table(kind));
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    struct store_codec_block b;
    store_codec_init(&b, store_blocks_cols(kind));
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        char msg[300];
        int64_t key = sqlite3_column_int64(st, 0);
        if (store_blocks_decode(s->db, kind, key, sqlite3_column_blob(st, 1),
                                (size_t)sqlite3_column_bytes(st, 1), &b, msg, sizeof(msg)) != 0) {
            if ((*bad)++ == 0) {
                gp_err_set(err, -EILSEQ, "'%s': %s", s->path, msg);
            }
            continue;
        }
        if (fn) {
            rc = fn(ctx, key, &b);
        }
    }
    store_codec_free(&b);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int store_blocks_check(struct store *s, int64_t *bad, struct gp_err *err)
{
    *bad = 0;
    int rc = each_block(s, STORE_BLOCKS_GPU, NULL, NULL, bad, err);
    if (rc == SQLITE_OK) {
        rc = each_block(s, STORE_BLOCKS_PROCESS, NULL, NULL, bad, err);
    }
    return rc;
}

struct export_ctx {
    sqlite3_stmt *insert;
    size_t cols;
};

static int export_block(void *ctx, int64_t key, const struct store_codec_block *b)
{
    struct export_ctx *x = ctx;
    int rc = SQLITE_OK;
    for (size_t r = 0; r < b->rows && rc == SQLITE_OK; r++) {
        sqlite3_bind_int64(x->insert, 1, key >> 32);
        sqlite3_bind_int64(x->insert, 2, b->t_ms[r]);
        for (size_t c = 0; c < x->cols; c++) {
            if (b->present[r * b->cols + c]) {
                sqlite3_bind_int64(x->insert, 3 + (int)c, b->v[r * b->cols + c]);
            } else {
                sqlite3_bind_null(x->insert, 3 + (int)c);
            }
        }
        rc = sqlite3_step(x->insert);
        sqlite3_reset(x->insert);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    return rc;
}

/* Creates the kind's schema 3 table in out and copies every block's rows
 * into it. */
static int export_kind(struct store *s, sqlite3 *out, enum store_blocks_kind kind, int64_t *bad,
                       struct gp_err *err)
{
    const char *table = kind == STORE_BLOCKS_GPU ? "samples" : "process_samples";
    const char *owner = kind == STORE_BLOCKS_GPU ? "gpu" : "process";
    size_t cols = store_blocks_cols(kind);
    char create[2048];
    char insert[2048];
    int n = snprintf(create, sizeof(create), "CREATE TABLE %s (%s INTEGER NOT NULL, t INTEGER",
                     table, owner);
    int m = snprintf(insert, sizeof(insert), "INSERT INTO %s VALUES (?, ?", table);
    for (size_t c = 0; c < cols; c++) {
        n += snprintf(create + n, sizeof(create) - (size_t)n, ", %s INTEGER",
                      store_blocks_col_name(kind, c));
        m += snprintf(insert + m, sizeof(insert) - (size_t)m, ", ?");
    }
    snprintf(create + n, sizeof(create) - (size_t)n, ", PRIMARY KEY (%s, t)) WITHOUT ROWID", owner);
    snprintf(insert + m, sizeof(insert) - (size_t)m, ")");
    struct export_ctx x = { .cols = cols };
    int rc = sqlite3_exec(out, create, NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(out, insert, -1, &x.insert, NULL);
    }
    if (rc == SQLITE_OK) {
        rc = each_block(s, kind, export_block, &x, bad, err);
    }
    sqlite3_finalize(x.insert);
    return rc;
}

int store_raw_export(struct store *s, const char *path, int64_t *damaged, struct gp_err *err)
{
    *damaged = 0;
    if (unlink(path) != 0 && errno != ENOENT) {
        return gp_err_set(err, -errno, "cannot replace '%s': %s", path, strerror(errno));
    }
    sqlite3 *out = NULL;
    int rc = sqlite3_open_v2(path, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    struct gp_err damage = { 0 };
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(out, "PRAGMA journal_mode = OFF; BEGIN", NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK) {
        rc = export_kind(s, out, STORE_BLOCKS_GPU, damaged, &damage);
    }
    if (rc == SQLITE_OK) {
        rc = export_kind(s, out, STORE_BLOCKS_PROCESS, damaged, &damage);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(out, "COMMIT", NULL, NULL, NULL);
    }
    int e = 0;
    if (rc != SQLITE_OK) {
        /* the failure is the export's, or else the database's */
        bool ours = out && (sqlite3_errcode(out) & 0xFF) == (rc & 0xFF);
        e = gp_err_set(err, store_errno(rc), "cannot export '%s' to '%s': %s", s->path, path,
                       ours ? sqlite3_errmsg(out) : store_errmsg(s, rc));
    } else if (*damaged) {
        *err = damage;
    }
    sqlite3_close(out);
    return e;
}
