/* Aggregates: building, merging, reading and writing rollup rows. */
#include "store/agg.h"

#include <stdio.h>
#include <string.h>

#include "store/store.h"

/* The fields fields.def stores per SAMPLE, in its order: the samples
 * table's column order after (gpu, t, lost, busy_us, window_us), and the
 * rollup slots. Identity-like fields (memory total, maximum clocks) live
 * in the gpus table. */
#define GPU_FIELD(name, key, label, unit, help, storage, kind, metric) AGG_##storage(name)

/* Each stored field's slot: STORE_SLOT_<NAME>. */
#define AGG_SAMPLE(name) STORE_SLOT_##name,
#define AGG_IDENTITY(name)
enum store_slot {
#include "gpu/fields.def"
    STORE_SLOT_COUNT
};
#undef AGG_SAMPLE
#undef AGG_IDENTITY

_Static_assert((int)STORE_SLOT_COUNT == (int)STORE_AGG_FIELDS, "one slot per stored field");

#define AGG_SAMPLE(name) [STORE_SLOT_##name] = GPU_FIELD_##name,
#define AGG_IDENTITY(name)
static const enum gpu_field sample_fields[STORE_AGG_FIELDS] = {
#include "gpu/fields.def"
};
#undef AGG_SAMPLE
#undef AGG_IDENTITY

#define AGG_SAMPLE(name)   [GPU_FIELD_##name] = STORE_SLOT_##name,
#define AGG_IDENTITY(name) [GPU_FIELD_##name] = -1,
static const int field_slots[GPU_FIELD_COUNT] = {
#include "gpu/fields.def"
};
#undef AGG_SAMPLE
#undef AGG_IDENTITY

#define AGG_SAMPLE(name) STORE_SLOT_##name,
#define AGG_IDENTITY(name)
const size_t store_agg_all_slots[STORE_AGG_FIELDS] = {
#include "gpu/fields.def"
};
#undef AGG_SAMPLE
#undef AGG_IDENTITY
#undef GPU_FIELD

size_t store_sample_field_count(void)
{
    return STORE_AGG_FIELDS;
}

enum gpu_field store_sample_field(size_t i)
{
    return sample_fields[i];
}

int store_sample_slot(enum gpu_field f)
{
    return (unsigned)f < GPU_FIELD_COUNT ? field_slots[f] : -1;
}

static bool slot_is_flags(size_t slot)
{
    return gpu_field_info(sample_fields[slot])->kind == GPU_KIND_FLAGS;
}

void store_agg_init(struct store_agg *a, int64_t t)
{
    memset(a, 0, sizeof(*a));
    a->t = t;
}

void store_agg_merge(struct store_agg *a, const struct store_agg *o)
{
    a->count += o->count;
    a->lost += o->lost;
    a->busy_us += o->busy_us;
    a->window_us += o->window_us;
    if (o->has_energy) {
        a->energy_mj += o->energy_mj;
        a->has_energy = true;
    }
    for (size_t i = 0; i < STORE_AGG_FIELDS; i++) {
        const struct store_metric_agg *src = &o->m[i];
        struct store_metric_agg *dst = &a->m[i];
        if (src->n == 0) {
            continue;
        }
        if (dst->n == 0) {
            *dst = *src;
            continue;
        }
        dst->n += src->n;
        dst->sum += src->sum;
        dst->min = src->min < dst->min ? src->min : dst->min;
        dst->max = src->max > dst->max ? src->max : dst->max;
        dst->bits |= src->bits;
        dst->bits_known = dst->bits_known && src->bits_known;
    }
}

bool store_energy_delta(int64_t prev_t, int64_t prev_mj, int64_t t, int64_t mj, int64_t *delta)
{
    if (t <= prev_t || t - prev_t > STORE_ENERGY_MAX_GAP_MS || mj < 0) {
        return false;
    }
    if (mj >= prev_mj) {
        *delta = mj - prev_mj;
    } else if (mj < prev_mj / 2) {
        *delta = mj; /* the counter restarted at 0: what it holds came since */
    } else {
        /* A drop too small for a restart: readings out of time order, as
         * after the wall clock stepped back. Counting the whole reading
         * would add the counter's lifetime each time; it adds nothing. */
        *delta = 0;
    }
    return true;
}

size_t store_agg_columns(char *buf, size_t size, const size_t *slots, size_t nslots)
{
    int n = snprintf(buf, size, "t, count, lost, busy_us, window_us, energy_mj");
    for (size_t i = 0; i < nslots && n > 0 && (size_t)n < size; i++) {
        const char *k = gpu_field_info(sample_fields[slots[i]])->key;
        n += snprintf(buf + n, size - (size_t)n, ", %s_n, %s_sum, %s_min, %s_max", k, k, k, k);
    }
    /* Schema 3: the OR of a flag field's masks. */
    for (size_t i = 0; i < nslots && n > 0 && (size_t)n < size; i++) {
        if (slot_is_flags(slots[i])) {
            n += snprintf(buf + n, size - (size_t)n, ", %s_or",
                          gpu_field_info(sample_fields[slots[i]])->key);
        }
    }
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

size_t store_agg_column_count(const size_t *slots, size_t nslots)
{
    size_t n = 6 + 4 * nslots;
    for (size_t i = 0; i < nslots; i++) {
        n += slot_is_flags(slots[i]);
    }
    return n;
}

static int64_t column_i64(sqlite3_stmt *st, int col, bool *has)
{
    *has = sqlite3_column_type(st, col) != SQLITE_NULL;
    return sqlite3_column_int64(st, col);
}

void store_agg_read(struct store_agg *a, sqlite3_stmt *st, int col, const size_t *slots,
                    size_t nslots)
{
    bool has = false;
    store_agg_init(a, sqlite3_column_int64(st, col));
    a->count = sqlite3_column_int64(st, col + 1);
    a->lost = sqlite3_column_int64(st, col + 2);
    a->busy_us = sqlite3_column_int64(st, col + 3);
    a->window_us = sqlite3_column_int64(st, col + 4);
    a->energy_mj = column_i64(st, col + 5, &has);
    a->has_energy = has;
    int c_or = col + 6 + (int)nslots * 4;
    for (size_t i = 0; i < nslots; i++) {
        int c = col + 6 + (int)i * 4;
        struct store_metric_agg *m = &a->m[slots[i]];
        m->n = sqlite3_column_int64(st, c);
        if (m->n > 0) {
            m->sum = sqlite3_column_int64(st, c + 1);
            m->min = sqlite3_column_int64(st, c + 2);
            m->max = sqlite3_column_int64(st, c + 3);
        }
        if (!slot_is_flags(slots[i])) {
            continue;
        }
        m->bits = (uint64_t)column_i64(st, c_or++, &m->bits_known);
        if (!m->bits_known && m->n > 0 && m->min == m->max) {
            m->bits = (uint64_t)m->min; /* one mask all period long */
            m->bits_known = true;
        }
    }
}

void store_agg_bind(sqlite3_stmt *st, int first, const struct store_agg *a)
{
    sqlite3_bind_int64(st, first, a->t);
    sqlite3_bind_int64(st, first + 1, a->count);
    sqlite3_bind_int64(st, first + 2, a->lost);
    sqlite3_bind_int64(st, first + 3, a->busy_us);
    sqlite3_bind_int64(st, first + 4, a->window_us);
    if (a->has_energy) {
        sqlite3_bind_int64(st, first + 5, a->energy_mj);
    } else {
        sqlite3_bind_null(st, first + 5);
    }
    int p_or = first + 6 + STORE_AGG_FIELDS * 4;
    for (size_t i = 0; i < STORE_AGG_FIELDS; i++) {
        int p = first + 6 + (int)i * 4;
        const struct store_metric_agg *m = &a->m[i];
        sqlite3_bind_int64(st, p, m->n);
        if (m->n > 0) {
            sqlite3_bind_int64(st, p + 1, m->sum);
            sqlite3_bind_int64(st, p + 2, m->min);
            sqlite3_bind_int64(st, p + 3, m->max);
        } else {
            sqlite3_bind_null(st, p + 1);
            sqlite3_bind_null(st, p + 2);
            sqlite3_bind_null(st, p + 3);
        }
        if (!slot_is_flags(i)) {
            continue;
        }
        if (m->n > 0 && m->bits_known) {
            sqlite3_bind_int64(st, p_or++, (int64_t)m->bits);
        } else {
            sqlite3_bind_null(st, p_or++);
        }
    }
}
