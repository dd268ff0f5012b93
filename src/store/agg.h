/* Aggregates of samples over a period, private to the store: what a rollup
 * row holds, built from raw samples or merged from finer rollups, and what
 * a history query returns per bucket. Sums are kept (not averages) so that
 * merging minutes into hours and hours into days is exact. Every field has
 * a count, sum, minimum and maximum; a counter's last reading is its
 * maximum and its growth maximum - minimum (counters only grow within a
 * driver load); a flag field also keeps the OR of its masks (schema 3). */
#ifndef GPULSE_STORE_AGG_H
#define GPULSE_STORE_AGG_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gpu/fields.h"
#include "store/codec.h"
#include "util/clock.h"

/* The fields of the samples table, each rolled up (store_sample_field):
 * those fields.def stores per SAMPLE. */
#define STORE_AGG_FIELDS GPU_FIELD_SAMPLE_COUNT

/* Energy counter deltas across a gap longer than this are not assigned:
 * the host was probably down, and when the energy was used is unknown. */
#define STORE_ENERGY_MAX_GAP_MS CLOCK_HOUR_MS

struct store_metric_agg {
    int64_t n; /* samples that had the metric */
    int64_t sum;
    int64_t min;
    int64_t max;
    uint64_t bits;   /* flag fields: the OR of the masks read */
    bool bits_known; /* false: part of the period was rolled up before schema 3 */
};

struct store_agg {
    int64_t t;         /* the period's start */
    int64_t count;     /* samples */
    int64_t lost;      /* of which taken while the GPU was lost */
    int64_t busy_us;   /* time a kernel ran ... */
    int64_t window_us; /* ... out of this much observed */
    bool has_energy;
    int64_t energy_mj; /* used in the period, from the energy counter */
    struct store_metric_agg m[STORE_AGG_FIELDS];
};

/* Starts an empty aggregate for the period starting at t. */
void store_agg_init(struct store_agg *a, int64_t t);

/* Adds what other holds into a (their periods need not match). */
void store_agg_merge(struct store_agg *a, const struct store_agg *other);

/* The energy used between two readings of the energy counter, in mJ:
 * the difference, or after a counter reset (driver reload: the counter
 * restarts at 0, so the new reading is under half the previous one) the
 * new reading; 0 for a smaller drop, which is readings out of time order
 * (the wall clock stepped back), not a restart. false when the gap is too
 * long to say, or the readings go back in time. */
bool store_energy_delta(int64_t prev_t, int64_t prev_mj, int64_t t, int64_t mj, int64_t *delta);

/* The columns of a rollup row after (key, gpu), in order: "t, count, lost,
 * busy_us, window_us, energy_mj, <key>_n, <key>_sum, <key>_min, <key>_max,
 * ..." for the given field slots (schema 2), then "<key>_or" for each flag
 * field among them (schema 3). The tables themselves are frozen SQL in
 * schema.c; tests/unit/test_schema.c holds the two together. Returns the
 * length written, or 0 when it does not fit. */
size_t store_agg_columns(char *buf, size_t size, const size_t *slots, size_t nslots);

/* How many columns store_agg_columns lists. */
size_t store_agg_column_count(const size_t *slots, size_t nslots);

/* Reads a row selected with store_agg_columns' list, starting at column
 * col, into a (only the given slots are read). A flag field's OR that is
 * NULL (a period rolled up before schema 3) is unknown, unless every mask
 * in the period was the same (min = max). */
void store_agg_read(struct store_agg *a, sqlite3_stmt *st, int col, const size_t *slots,
                    size_t nslots);

/* Binds a's values to a statement whose parameters follow
 * store_agg_columns' list for every slot, starting at parameter first. A
 * flag field's OR is NULL when it is not known. */
void store_agg_bind(sqlite3_stmt *st, int first, const struct store_agg *a);

/* Reads raw samples of one GPU in time order, one aggregate per sample,
 * with the energy used since the sample before (which may lie before the
 * range). */
struct store_raw_reader {
    sqlite3 *db;
    sqlite3_stmt *st; /* the range's blocks */
    int64_t from;
    int64_t to;
    const size_t *slots;
    size_t nslots;
    struct store_codec_block block; /* the block being read */
    size_t row;                     /* its next row */
    int energy_col;
    bool has_prev_energy;
    int64_t prev_t;
    int64_t prev_energy_mj;
    int64_t damaged; /* blocks that did not decode: logged, naming GPU and minute, and skipped */
};

/* Opens a reader of samples of gpu_id with from <= t < to, from the
 * sample_blocks table (store/blocks.c). Returns an SQLite result code. */
int store_raw_reader_open(sqlite3 *db, struct store_raw_reader *r, int64_t gpu_id, int64_t from,
                          int64_t to, const size_t *slots, size_t nslots);

/* The next sample as an aggregate of one: SQLITE_ROW, SQLITE_DONE or an
 * error code. */
int store_raw_reader_next(struct store_raw_reader *r, struct store_agg *out);

void store_raw_reader_close(struct store_raw_reader *r);

/* All field slots, 0 .. STORE_AGG_FIELDS-1, for full rows. */
extern const size_t store_agg_all_slots[STORE_AGG_FIELDS];

#endif
