/* The history resource's private parts: how each field's buckets are
 * presented (history_field.c), shared by the query (merging N-day buckets)
 * and the renderers. */
#ifndef GPULSE_REPORT_HISTORY_INT_H
#define GPULSE_REPORT_HISTORY_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "gpu/fields.h"
#include "store/store.h"

/* One value a field shows per bucket. */
struct report_history_column {
    const char *name; /* "avg", "min", "max": JSON object and CSV suffix */
    /* The value of metric m (its position in the request) in r into *v;
     * false when r does not know it (null, an empty field, N/A). */
    bool (*read)(const struct store_history_row *r, size_t m, double *v);
};

/* A way of rolling a field up: the values it shows (the first is the
 * field's series value, the others go under their column's name) and how
 * two buckets of it combine into one (for N-day buckets). */
struct report_history_kind {
    const struct report_history_column *columns;
    size_t column_count;
    /* Adds r's metric m into into's; called before into's count takes r's. */
    void (*merge)(struct store_history_row *into, const struct store_history_row *r, size_t m);
};

/* How one field is presented. */
struct report_history_presentation {
    const struct report_history_kind *kind;
    int decimals;       /* JSON and CSV: what the unit makes meaningful */
    int table_decimals; /* a table's, at most 1 */
};

/* The one place that chooses, per field, what a bucket shows. */
struct report_history_presentation report_history_present(enum gpu_field f);

#endif
