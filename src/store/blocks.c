/* Raw-sample blocks in their tables: the frozen column lists, adding a
 * flush's rows to a minute's block, decoding with errors that name what
 * was damaged, and the span of a GPU's raw samples. */
#include "store/blocks.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/agg.h"
#include "util/log.h"

/* Format 1's columns, frozen: a later stored field is appended (a block
 * written before it has fewer columns, which decode as absent). */
static const char *const gpu_cols[] = {
    "lost",
    "busy_us",
    "window_us",
    "utilization_gpu_pct",
    "utilization_memory_pct",
    "utilization_encoder_pct",
    "utilization_decoder_pct",
    "memory_used_bytes",
    "memory_free_bytes",
    "memory_reserved_bytes",
    "temperature_c",
    "fan_pct",
    "power_mw",
    "power_limit_mw",
    "energy_mj",
    "clock_sm_mhz",
    "clock_graphics_mhz",
    "clock_memory_mhz",
    "pstate",
    "clock_event_reasons",
    "pcie_tx_kbps",
    "pcie_rx_kbps",
    "ecc_enabled",
    "ecc_corrected_volatile",
    "ecc_uncorrected_volatile",
    "ecc_corrected_aggregate",
    "ecc_uncorrected_aggregate",
    "remapped_rows_correctable",
    "remapped_rows_uncorrectable",
    "remapped_rows_pending",
    "remapped_rows_failure",
};

static const char *const process_cols[] = {
    "memory_bytes", "sm_pct", "memory_pct", "encoder_pct", "decoder_pct",
};

_Static_assert(GP_ARRAY_LEN(gpu_cols) <= STORE_CODEC_MAX_COLS, "a block's columns fit");

static const struct {
    const char *table;
    const char *owner; /* the owner's column, and its name in messages */
    const char *const *cols;
    size_t ncols;
} kinds[STORE_BLOCKS_KINDS] = {
    [STORE_BLOCKS_GPU] = { "sample_blocks", "gpu", gpu_cols, GP_ARRAY_LEN(gpu_cols) },
    [STORE_BLOCKS_PROCESS] = { "process_blocks", "process", process_cols,
                               GP_ARRAY_LEN(process_cols) },
};

size_t store_blocks_cols(enum store_blocks_kind kind)
{
    return kinds[kind].ncols;
}

const char *store_blocks_col_name(enum store_blocks_kind kind, size_t c)
{
    return c < kinds[kind].ncols ? kinds[kind].cols[c] : NULL;
}

const char *store_blocks_table(enum store_blocks_kind kind)
{
    return kinds[kind].table;
}

/* Each column's rollup slot, and each slot's column, found by name once. */
static int col_slots[GP_ARRAY_LEN(gpu_cols)];
static int slot_cols[STORE_AGG_FIELDS];
static pthread_once_t col_slots_once = PTHREAD_ONCE_INIT;

static void find_col_slots(void)
{
    for (size_t i = 0; i < STORE_AGG_FIELDS; i++) {
        slot_cols[i] = -1;
    }
    for (size_t c = 0; c < GP_ARRAY_LEN(gpu_cols); c++) {
        col_slots[c] = -1;
        for (size_t i = 0; c >= STORE_BLOCKS_COL_FIELDS && i < STORE_AGG_FIELDS; i++) {
            if (strcmp(gpu_field_info(store_sample_field(i))->key, gpu_cols[c]) == 0) {
                col_slots[c] = (int)i;
                slot_cols[i] = (int)c;
            }
        }
    }
}

int store_blocks_col_of_slot(size_t slot)
{
    pthread_once(&col_slots_once, find_col_slots);
    return slot < STORE_AGG_FIELDS ? slot_cols[slot] : -1;
}

int store_blocks_slot(size_t c)
{
    pthread_once(&col_slots_once, find_col_slots);
    return c < GP_ARRAY_LEN(gpu_cols) ? col_slots[c] : -1;
}

/* "GPU 2 (GPU-1234...)" or "process 17 (pid 4242 on GPU 0)", for
 * messages about damaged blocks; looked up only when one is found. */
static void describe_owner(sqlite3 *db, enum store_blocks_kind kind, int64_t owner, char *buf,
                           size_t size)
{
    static const char *const sql[STORE_BLOCKS_KINDS] = {
        [STORE_BLOCKS_GPU] = "SELECT 'GPU ' || idx || ' (' || uuid || ')' FROM gpus WHERE id = ?1",
        [STORE_BLOCKS_PROCESS] = "SELECT 'process ' || p.pid || ' on GPU ' || g.idx || ' ('"
                                 " || g.uuid || ')' FROM processes p JOIN gpus g ON g.id = p.gpu"
                                 " WHERE p.id = ?1",
    };
    snprintf(buf, size, "%s %lld", kinds[kind].owner, (long long)owner);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql[kind], -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, owner);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
            snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
        }
    }
    sqlite3_finalize(st);
}

static int64_t key_minute_ms(int64_t key)
{
    return (key & 0xffffffff) * CLOCK_MINUTE_MS;
}

/* A block holds its own minute's samples, in time order: readers stop at
 * the first sample past a range and db raw keys rows by time, so a block
 * that decodes to other times is damaged too. */
static int check_times(const struct store_codec_block *b, int64_t minute_ms, const char **why)
{
    for (size_t r = 0; r < b->rows; r++) {
        int64_t t = b->t_ms[r];
        if (t < minute_ms || t >= minute_ms + CLOCK_MINUTE_MS) {
            *why = "a sample's time lies outside the block's minute";
            return -EILSEQ;
        }
        if (r > 0 && t <= b->t_ms[r - 1]) {
            *why = "its samples are not in time order";
            return -EILSEQ;
        }
    }
    return 0;
}

int store_blocks_decode(sqlite3 *db, enum store_blocks_kind kind, int64_t key, const void *data,
                        size_t len, struct store_codec_block *b, char *msg, size_t msg_size)
{
    const char *why = NULL;
    int rc = store_codec_decode(data, len, key_minute_ms(key), b, &why);
    if (rc == 0) {
        rc = check_times(b, key_minute_ms(key), &why);
    }
    if (rc == 0) {
        return 0;
    }
    char owner[160];
    describe_owner(db, kind, key >> 32, owner, sizeof(owner));
    time_t secs = (time_t)(key_minute_ms(key) / 1000);
    struct tm tm;
    char when[32] = "?";
    if (gmtime_r(&secs, &tm)) {
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%MZ", &tm);
    }
    snprintf(msg, msg_size, "the raw samples of %s in the minute from %s are damaged (%s)", owner,
             when, why ? why : "?");
    return rc;
}

/* The statements store_blocks_add keeps: a block's data by key, and its
 * replacement. */
enum {
    STMT_GET,
    STMT_PUT,
};
static const char *const stmt_sql[STORE_BLOCKS_KINDS][2] = {
    [STORE_BLOCKS_GPU] = { "SELECT data FROM sample_blocks WHERE key = ?1",
                           "INSERT OR REPLACE INTO sample_blocks (key, gpu, t_first, t_last,"
                           " samples, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)" },
    [STORE_BLOCKS_PROCESS] = { "SELECT data FROM process_blocks WHERE key = ?1",
                               "INSERT OR REPLACE INTO process_blocks (key, process, t_first,"
                               " t_last, samples, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)" },
};

static int prepare(struct store *s, enum store_blocks_kind kind, int which, sqlite3_stmt **out,
                   struct gp_err *err)
{
    sqlite3_stmt **st = &s->block_stmts[kind][which];
    int rc = *st ? SQLITE_OK
                 : sqlite3_prepare_v3(s->db, stmt_sql[kind][which], -1, SQLITE_PREPARE_PERSISTENT,
                                      st, NULL);
    if (rc != SQLITE_OK) {
        return gp_err_set(err, store_errno(rc), "cannot prepare a statement on '%s': %s", s->path,
                          store_errmsg(s, rc));
    }
    *out = *st;
    return 0;
}

void store_blocks_fini(struct store *s)
{
    for (size_t k = 0; k < STORE_BLOCKS_KINDS; k++) {
        for (size_t i = 0; i < 2; i++) {
            sqlite3_finalize(s->block_stmts[k][i]);
            s->block_stmts[k][i] = NULL;
        }
    }
}

/* The stored block of key into b (empty when there is none, or it is
 * damaged: then logged, and replaced by the caller's write). */
static int load(struct store *s, enum store_blocks_kind kind, int64_t key,
                struct store_codec_block *b, struct gp_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(s, kind, STMT_GET, &st, err);
    if (rc) {
        return rc;
    }
    sqlite3_bind_int64(st, 1, key);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        char msg[300];
        const void *data = sqlite3_column_blob(st, 0);
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        if (store_blocks_decode(s->db, kind, key, data, len, b, msg, sizeof(msg)) != 0) {
            log_error("store", "%s; its samples are lost and the minute starts anew", msg);
        }
        src = SQLITE_DONE;
    }
    sqlite3_reset(st);
    if (src != SQLITE_DONE) {
        return gp_err_set(err, store_errno(src), "cannot read '%s': %s", s->path,
                          store_errmsg(s, src));
    }
    return 0;
}

int store_blocks_add(struct store *s, enum store_blocks_kind kind, int64_t owner, int64_t minute_ms,
                     const struct store_codec_block *rows, struct gp_err *err)
{
    if (rows->rows == 0) {
        return 0;
    }
    int64_t key = store_rollup_key(owner, minute_ms);
    struct store_codec_block b;
    store_codec_init(&b, kinds[kind].ncols);
    int rc = load(s, kind, key, &b, err);
    for (size_t r = 0; r < rows->rows && rc == 0; r++) {
        long i = store_codec_row(&b, rows->t_ms[r]);
        if (i < 0) {
            rc = gp_err_set(err, -E2BIG, "more than %d samples in a minute", STORE_CODEC_MAX_ROWS);
            break;
        }
        size_t n = rows->cols < b.cols ? rows->cols : b.cols;
        for (size_t c = 0; c < n; c++) {
            if (rows->present[r * rows->cols + c]) {
                store_codec_set(&b, (size_t)i, c, rows->v[r * rows->cols + c]);
            }
        }
    }
    sqlite3_stmt *st = NULL;
    if (rc == 0) {
        rc = prepare(s, kind, STMT_PUT, &st, err);
    }
    if (rc == 0) {
        size_t len = 0;
        uint8_t *data = store_codec_encode(&b, minute_ms, &len);
        sqlite3_bind_int64(st, 1, key);
        sqlite3_bind_int64(st, 2, owner);
        sqlite3_bind_int64(st, 3, b.t_ms[0]);
        sqlite3_bind_int64(st, 4, b.t_ms[b.rows - 1]);
        sqlite3_bind_int64(st, 5, (int64_t)b.rows);
        sqlite3_bind_blob(st, 6, data, (int)len, free);
        int src = sqlite3_step(st);
        sqlite3_reset(st);
        if (src != SQLITE_DONE) {
            rc = gp_err_set(err, store_errno(src), "cannot write to '%s': %s", s->path,
                            store_errmsg(s, src));
        }
    }
    store_codec_free(&b);
    return rc;
}

int store_blocks_span(sqlite3 *db, int64_t gpu_id, int64_t *first_ms, int64_t *last_ms, bool *any)
{
    /* the first block's first time, the last block's last: two probes of
     * the key, not a scan of the GPU's blocks */
    static const char sql[] = "SELECT (SELECT t_first FROM sample_blocks WHERE key >= ?1"
                              " AND key < ?2 ORDER BY key LIMIT 1),"
                              " (SELECT t_last FROM sample_blocks WHERE key >= ?1"
                              " AND key < ?2 ORDER BY key DESC LIMIT 1)";
    *any = false;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        return sqlite3_errcode(db);
    }
    sqlite3_bind_int64(st, 1, store_rollup_key(gpu_id, 0));
    sqlite3_bind_int64(st, 2, store_rollup_key(gpu_id + 1, 0));
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *any = sqlite3_column_type(st, 0) != SQLITE_NULL;
        *first_ms = sqlite3_column_int64(st, 0);
        *last_ms = sqlite3_column_int64(st, 1);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* The raw reader: the range's blocks in key order, each decoded in turn;
 * a damaged block is logged and skipped, the rest still read. */
static int reader_step_block(struct store_raw_reader *r)
{
    for (;;) {
        int rc = sqlite3_step(r->st);
        if (rc != SQLITE_ROW) {
            return rc;
        }
        char msg[300];
        int64_t key = sqlite3_column_int64(r->st, 0);
        const void *data = sqlite3_column_blob(r->st, 1);
        size_t len = (size_t)sqlite3_column_bytes(r->st, 1);
        r->row = 0;
        if (store_blocks_decode(r->db, STORE_BLOCKS_GPU, key, data, len, &r->block, msg,
                                sizeof(msg)) == 0) {
            return SQLITE_ROW;
        }
        r->damaged++;
        log_error("store", "%s; skipped", msg);
    }
}

/* The energy reading of the last sample before from, for the first
 * delta: in from's own block or the one before it. */
static int reader_prev_energy(struct store_raw_reader *r, int64_t gpu_id)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db,
                                "SELECT key, data FROM sample_blocks WHERE key >= ?1 AND key <= ?2"
                                " ORDER BY key DESC LIMIT 2",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        return rc;
    }
    sqlite3_bind_int64(st, 1, store_rollup_key(gpu_id, 0));
    sqlite3_bind_int64(st, 2, store_rollup_key(gpu_id, r->from));
    int col = r->energy_col;
    bool found = false;
    while (!found && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        char msg[300];
        int64_t key = sqlite3_column_int64(st, 0);
        if (store_blocks_decode(r->db, STORE_BLOCKS_GPU, key, sqlite3_column_blob(st, 1),
                                (size_t)sqlite3_column_bytes(st, 1), &r->block, msg,
                                sizeof(msg)) != 0) {
            continue; /* reported when the range itself is read */
        }
        struct store_codec_block *b = &r->block;
        for (size_t i = b->rows; i > 0 && !found; i--) {
            if (b->t_ms[i - 1] >= r->from) {
                continue;
            }
            found = true;
            r->has_prev_energy = col >= 0 && b->present[(i - 1) * b->cols + (size_t)col];
            r->prev_t = b->t_ms[i - 1];
            r->prev_energy_mj = col >= 0 ? b->v[(i - 1) * b->cols + (size_t)col] : 0;
        }
    }
    sqlite3_finalize(st);
    r->block.rows = 0;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int store_raw_reader_open(sqlite3 *db, struct store_raw_reader *r, int64_t gpu_id, int64_t from,
                          int64_t to, const size_t *slots, size_t nslots)
{
    *r = (struct store_raw_reader){
        .db = db, .from = from, .to = to, .slots = slots, .nslots = nslots
    };
    store_codec_init(&r->block, GP_ARRAY_LEN(gpu_cols));
    int energy = store_sample_slot(GPU_FIELD_ENERGY_MJ);
    r->energy_col = energy >= 0 ? store_blocks_col_of_slot((size_t)energy) : -1;
    int rc = reader_prev_energy(r, gpu_id);
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(db,
                                "SELECT key, data FROM sample_blocks WHERE key >= ?1 AND key < ?2"
                                " ORDER BY key",
                                -1, &r->st, NULL);
    }
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(r->st, 1, store_rollup_key(gpu_id, from));
        sqlite3_bind_int64(r->st, 2, store_rollup_key(gpu_id, to - 1) + 1);
    }
    return rc;
}

static void reader_energy(struct store_raw_reader *r, const int64_t *v, const uint8_t *present,
                          int64_t t, struct store_agg *a)
{
    if (r->energy_col < 0 || !present[r->energy_col]) {
        return;
    }
    int64_t mj = v[r->energy_col];
    int64_t delta = 0;
    if (r->has_prev_energy && store_energy_delta(r->prev_t, r->prev_energy_mj, t, mj, &delta)) {
        a->energy_mj = delta;
        a->has_energy = true;
    }
    r->has_prev_energy = true;
    r->prev_t = t;
    r->prev_energy_mj = mj;
}

int store_raw_reader_next(struct store_raw_reader *r, struct store_agg *a)
{
    struct store_codec_block *b = &r->block;
    for (;;) {
        while (r->row < b->rows && b->t_ms[r->row] < r->from) {
            r->row++;
        }
        if (r->row < b->rows && b->t_ms[r->row] >= r->to) {
            return SQLITE_DONE;
        }
        if (r->row < b->rows) {
            break;
        }
        int rc = r->st ? reader_step_block(r) : SQLITE_DONE;
        if (rc != SQLITE_ROW) {
            return rc;
        }
    }
    size_t i = r->row++;
    const int64_t *v = b->v + i * b->cols;
    const uint8_t *present = b->present + i * b->cols;
    int64_t t = b->t_ms[i];
    store_agg_init(a, t);
    a->count = 1;
    a->lost = present[STORE_BLOCKS_COL_LOST] && v[STORE_BLOCKS_COL_LOST] != 0;
    a->busy_us = present[STORE_BLOCKS_COL_BUSY] ? v[STORE_BLOCKS_COL_BUSY] : 0;
    a->window_us = present[STORE_BLOCKS_COL_WINDOW] ? v[STORE_BLOCKS_COL_WINDOW] : 0;
    reader_energy(r, v, present, t, a);
    for (size_t k = 0; k < r->nslots; k++) {
        int c = store_blocks_col_of_slot(r->slots[k]);
        if (c < 0 || !present[c]) {
            continue;
        }
        int64_t x = v[c];
        a->m[r->slots[k]] = (struct store_metric_agg){
            .n = 1, .sum = x, .min = x, .max = x, .bits = (uint64_t)x, .bits_known = true
        };
    }
    return SQLITE_ROW;
}

void store_raw_reader_close(struct store_raw_reader *r)
{
    sqlite3_finalize(r->st);
    r->st = NULL;
    store_codec_free(&r->block);
}
