/* Raw samples on disk (schema 4): a row per GPU per minute in
 * sample_blocks and per process lifetime per minute in process_blocks,
 * each holding its minute's samples as one block of store/codec.h. The
 * block's columns are frozen lists here (format 1), named as the columns
 * of schema 3's samples and process_samples tables. Private to the store;
 * docs/storage.md describes the layout and its guarantees. */
#ifndef GPULSE_STORE_BLOCKS_H
#define GPULSE_STORE_BLOCKS_H

#include <stdbool.h>
#include <stdint.h>

#include "store/codec.h"
#include "store/store_int.h"

enum store_blocks_kind {
    STORE_BLOCKS_GPU,     /* sample_blocks: owner is gpus.id */
    STORE_BLOCKS_PROCESS, /* process_blocks: owner is processes.id */
    STORE_BLOCKS_KINDS
};

/* Columns of a GPU sample block: lost, busy_us, window_us, then the
 * stored fields (their slots by store_blocks_slot). */
enum {
    STORE_BLOCKS_COL_LOST = 0,
    STORE_BLOCKS_COL_BUSY = 1,
    STORE_BLOCKS_COL_WINDOW = 2,
    STORE_BLOCKS_COL_FIELDS = 3,
};

/* Columns of a process sample block. */
enum {
    STORE_BLOCKS_COL_MEMORY = 0,
    STORE_BLOCKS_COL_SM = 1,
    STORE_BLOCKS_COL_MEMORY_PCT = 2,
    STORE_BLOCKS_COL_ENCODER = 3,
    STORE_BLOCKS_COL_DECODER = 4,
};

/* The number of columns of a kind's blocks, and column c's name (the
 * schema 3 column it came from). */
size_t store_blocks_cols(enum store_blocks_kind kind);
const char *store_blocks_col_name(enum store_blocks_kind kind, size_t c);

/* The rollup slot of a GPU block column, or -1 (lost, busy, window, or a
 * column no stored field has any more). */
int store_blocks_slot(size_t c);

/* The GPU block column of a rollup slot, or -1 (a field blocks do not
 * hold yet). */
int store_blocks_col_of_slot(size_t slot);

/* The table of a kind ("sample_blocks", "process_blocks"). */
const char *store_blocks_table(enum store_blocks_kind kind);

/* Adds rows (a block of the kind's columns, all in the minute that starts
 * at minute_ms) to the stored block of owner's minute, inside the
 * caller's transaction: the stored rows are kept, a row of the same time
 * replaced. A stored block that does not decode is reported (log, naming
 * the owner and minute) and replaced. Returns 0 or a negative code with
 * err set. */
GP_NODISCARD int store_blocks_add(struct store *s, enum store_blocks_kind kind, int64_t owner,
                                  int64_t minute_ms, const struct store_codec_block *rows,
                                  struct gp_err *err);

/* Decodes one stored block (key = owner << 32 | minute) into b, which
 * store_codec_init made for the kind. Returns 0, or -EILSEQ with msg
 * naming the GPU (or process) and minute and what is wrong. */
int store_blocks_decode(sqlite3 *db, enum store_blocks_kind kind, int64_t key, const void *data,
                        size_t len, struct store_codec_block *b, char *msg, size_t msg_size);

/* The times of a GPU's oldest and newest raw samples; *any false when it
 * has none. Returns an SQLite result code. */
int store_blocks_span(sqlite3 *db, int64_t gpu_id, int64_t *first_ms, int64_t *last_ms, bool *any);

/* Frees the statements store_blocks_add keeps. */
void store_blocks_fini(struct store *s);

/* Schema 4's conversion, after its tables exist: every row of schema 3's
 * samples and process_samples into blocks (the tables are dropped after
 * it by frozen SQL). Returns an SQLite result code, *msg (sqlite3_free)
 * saying what failed. */
int store_blocks_migrate_v4(struct store *s, char **msg);

/* Decodes every stored block; *bad counts those that do not decode and
 * err names the first (GPU or process, minute, what is wrong). Returns an
 * SQLite result code. */
int store_blocks_check(struct store *s, int64_t *bad, struct gp_err *err);

#endif
