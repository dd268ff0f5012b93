/* The columnar block codec of raw samples: a block is up to a minute of
 * rows (a time and a fixed set of integer columns, each value present or
 * absent), encoded column by column so that what barely changes costs
 * almost nothing, then deflated by zlib. The transform follows Prometheus's
 * chunks and the Gorilla paper (Pelkonen et al., VLDB 2015): times as
 * delta-of-delta, each column as a constant, deltas or delta-of-deltas
 * (whichever is shortest), with a presence bitmap only for a column that is
 * sometimes absent. The layout is in docs/storage.md. */
#ifndef GPULSE_STORE_CODEC_H
#define GPULSE_STORE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A block in memory: rows in ascending time order, at most one per time. */
struct store_codec_block {
    size_t rows;
    size_t cap;
    size_t cols;
    int64_t *t_ms;    /* [rows] */
    int64_t *v;       /* [rows * cols], row by row */
    uint8_t *present; /* [rows * cols], 1 where v holds a value */
};

/* The most rows a block may hold (a minute at 1 ms). */
#define STORE_CODEC_MAX_ROWS 60000

/* The most columns a block may hold. */
#define STORE_CODEC_MAX_COLS 64

/* Starts an empty block of cols columns (cols <= STORE_CODEC_MAX_COLS). */
void store_codec_init(struct store_codec_block *b, size_t cols);

/* Frees the block's rows; it can be initialised again. */
void store_codec_free(struct store_codec_block *b);

/* The row for time t_ms, inserted in time order with every value absent,
 * or the existing row of that time emptied (a later write of a time
 * replaces the earlier one, as INSERT OR REPLACE did). Returns its index, or
 * -1 when the block is full (STORE_CODEC_MAX_ROWS). */
long store_codec_row(struct store_codec_block *b, int64_t t_ms);

/* Sets column c of row r to v, present. */
void store_codec_set(struct store_codec_block *b, size_t r, size_t c, int64_t v);

/* Encodes the block (at least one row) into a buffer the caller frees;
 * base_ms is a time at or before the first row (the minute's start),
 * which the reader must pass back. Returns the buffer and its length in
 * *len, or NULL when the block is empty. */
uint8_t *store_codec_encode(const struct store_codec_block *b, int64_t base_ms, size_t *len);

/* Decodes len bytes written by store_codec_encode with the same base_ms
 * into b (initialised with the number of columns the reader knows:
 * columns the data has beyond them are skipped, those it lacks are
 * absent). Returns 0, or -EILSEQ with why (a short phrase, for the
 * caller's message naming the GPU and time) for damaged data; b is then
 * empty. Never reads outside data. */
int store_codec_decode(const uint8_t *data, size_t len, int64_t base_ms,
                       struct store_codec_block *b, const char **why);

#endif
