/* What a history bucket shows for each field, and at what precision. The
 * store rolls every field up as a gauge today (store/agg.c: count, sum,
 * minimum, maximum), so every field is presented as one: its mean, with its
 * minimum and maximum beside. A field that rolls up another way (a counter's
 * last value and rise, a bit mask's OR) gets a kind of its own here, with
 * its columns and its merge, and report_history_present() chooses it. */
#include <stdbool.h>
#include <string.h>

#include "report/format.h"
#include "report/history_int.h"

/* ---------------------------------------------------------------- gauge -- */

static double gauge_avg(const struct store_history_row *r, size_t m)
{
    return r->avg[m];
}

static double gauge_min(const struct store_history_row *r, size_t m)
{
    return r->min[m];
}

static double gauge_max(const struct store_history_row *r, size_t m)
{
    return r->max[m];
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
    int decimals = unit_decimals(gpu_field_info(f)->unit);
    return (struct report_history_presentation){
        .kind = &gauge,
        .decimals = decimals,
        .table_decimals = decimals > 1 ? 1 : decimals,
    };
}
