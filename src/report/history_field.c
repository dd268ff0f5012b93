/* What a history bucket shows for each field, and at what precision, by
 * the field's kind in the field list (gpu/fields.def): a gauge its mean with
 * its minimum and maximum beside; a counter its last reading and how much
 * it grew; a bit mask (the clock-event reasons) the OR of the masks read.
 * Counters and masks are whole numbers. */
#include <stdbool.h>
#include <string.h>

#include "report/format.h"
#include "report/history_int.h"

/* ---------------------------------------------------------------- gauge -- */

static bool gauge_avg(const struct store_history_row *r, size_t m, double *v)
{
    *v = r->avg[m];
    return r->has[m];
}

static bool gauge_min(const struct store_history_row *r, size_t m, double *v)
{
    *v = r->min[m];
    return r->has[m];
}

static bool gauge_max(const struct store_history_row *r, size_t m, double *v)
{
    *v = r->max[m];
    return r->has[m];
}

/* Means weigh by samples; the extremes stay extremes. */
static void gauge_merge(struct store_history_row *into, const struct store_history_row *r, size_t m)
{
    if (!r->has[m]) {
        return;
    }
    if (!into->has[m]) {
        into->avg[m] = r->avg[m];
        into->min[m] = r->min[m];
        into->max[m] = r->max[m];
        into->has[m] = true;
        return;
    }
    double a = (double)into->count;
    double b = (double)r->count;
    if (a + b > 0) {
        into->avg[m] = (into->avg[m] * a + r->avg[m] * b) / (a + b);
    }
    into->min[m] = r->min[m] < into->min[m] ? r->min[m] : into->min[m];
    into->max[m] = r->max[m] > into->max[m] ? r->max[m] : into->max[m];
}

static const struct report_history_column gauge_columns[] = {
    { "avg", gauge_avg },
    { "min", gauge_min },
    { "max", gauge_max },
};

static const struct report_history_kind gauge = {
    .columns = gauge_columns,
    .column_count = sizeof(gauge_columns) / sizeof(gauge_columns[0]),
    .merge = gauge_merge,
};

/* -------------------------------------------------------------- counter -- */

/* A counter's last reading in the bucket: its maximum, since it only grows
 * within a driver load (store/store.h, struct store_history_row). */
static bool counter_last(const struct store_history_row *r, size_t m, double *v)
{
    *v = r->max[m];
    return r->has[m];
}

/* How much it grew in the bucket. */
static bool counter_delta(const struct store_history_row *r, size_t m, double *v)
{
    *v = r->delta[m];
    return r->has[m];
}

/* The merged bucket runs from the smallest first reading to the largest
 * last one. */
static void counter_merge(struct store_history_row *into, const struct store_history_row *r,
                          size_t m)
{
    gauge_merge(into, r, m);
    if (into->has[m]) {
        into->delta[m] = into->max[m] - into->min[m];
    }
}

static const struct report_history_column counter_columns[] = {
    { "last", counter_last },
    { "delta", counter_delta },
};

static const struct report_history_kind counter = {
    .columns = counter_columns,
    .column_count = sizeof(counter_columns) / sizeof(counter_columns[0]),
    .merge = counter_merge,
};

/* ---------------------------------------------------------------- flags -- */

/* The OR of every mask read in the bucket; unknown where a period rolled
 * up before schema 3 did not keep it. */
static bool flags_or(const struct store_history_row *r, size_t m, double *v)
{
    *v = (double)r->bits[m];
    return r->has[m] && r->has_bits[m];
}

/* One unknown part makes the whole unknown: an OR missing bits is wrong. */
static void flags_merge(struct store_history_row *into, const struct store_history_row *r, size_t m)
{
    if (!r->has[m]) {
        return;
    }
    bool first = !into->has[m];
    gauge_merge(into, r, m);
    into->has_bits[m] = first ? r->has_bits[m] : into->has_bits[m] && r->has_bits[m];
    into->bits[m] = first ? r->bits[m] : into->bits[m] | r->bits[m];
}

static const struct report_history_column flags_columns[] = {
    { "or", flags_or },
};

static const struct report_history_kind flags = {
    .columns = flags_columns,
    .column_count = sizeof(flags_columns) / sizeof(flags_columns[0]),
    .merge = flags_merge,
};

/* ----------------------------------------------------------- precision -- */

/* Decimals that mean something for a mean in unit: none where the unit is
 * already fine (bytes, mW, MHz, KB/s, mJ, counts), 2 for percentages and
 * unitless levels, 1 for degrees. */
static int unit_decimals(const char *unit)
{
    if (strcmp(unit, "%") == 0 || unit[0] == '\0') {
        return REPORT_DECIMALS_PCT;
    }
    return strcmp(unit, "C") == 0 ? 1 : 0;
}

struct report_history_presentation report_history_present(enum gpu_field f)
{
    const struct gpu_field_info *fi = gpu_field_info(f);
    switch (fi->kind) {
    case GPU_KIND_COUNTER:
        return (struct report_history_presentation){ .kind = &counter };
    case GPU_KIND_FLAGS:
        return (struct report_history_presentation){ .kind = &flags };
    case GPU_KIND_GAUGE:
    default: {
        int decimals = unit_decimals(fi->unit);
        return (struct report_history_presentation){
            .kind = &gauge,
            .decimals = decimals,
            .table_decimals = decimals > 1 ? 1 : decimals,
        };
    }
    }
}
