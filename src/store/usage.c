/* Usage per user over a range, from the process lifetimes (kept longer
 * than per-process samples), for the dashboard and reports. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "store/store_int.h"
#include "util/xalloc.h"

int store_query_user_usage(struct store *s, int64_t from_ms, int64_t to_ms,
                           struct store_user_usage **rows_out, size_t *count_out,
                           struct gp_err *err)
{
    *rows_out = NULL;
    *count_out = 0;
    /* A lifetime's GPU time is spread evenly over first..last seen; one
     * seen once counts whole in the range that holds it. Accounted by uid,
     * the one identity the kernel gives (a name can change, or have been
     * recorded from another user database); shown with the name the most
     * recently seen of its lifetimes had: SQLite takes a bare column from
     * the row that gave max() its value. Lifetimes without a uid are one
     * row, "". */
    static const char sql[] =
        "SELECT coalesce(user, CAST(uid AS TEXT), ''),"
        " sum(CASE WHEN last_seen > first_seen THEN"
        "   gpu_seconds * (min(last_seen, ?2) - max(first_seen, ?1)) / (last_seen - first_seen)"
        "   ELSE gpu_seconds END),"
        " sum(CASE WHEN last_seen > first_seen THEN"
        "   sm_seconds * (min(last_seen, ?2) - max(first_seen, ?1)) / (last_seen - first_seen)"
        "   ELSE sm_seconds END),"
        " count(*), max(last_seen)"
        " FROM processes INDEXED BY processes_last_seen"
        " WHERE last_seen >= ?1 AND first_seen < ?2"
        "   AND (last_seen > first_seen OR first_seen >= ?1)"
        " GROUP BY uid ORDER BY 2 DESC, 1";
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        return gp_err_set(err, store_errno(rc), "cannot query '%s': %s", s->path,
                          store_errmsg(s, rc));
    }
    sqlite3_bind_int64(st, 1, from_ms);
    sqlite3_bind_int64(st, 2, to_ms);
    struct store_user_usage *rows = NULL;
    size_t n = 0;
    size_t cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            rows = xrealloc(rows, cap * sizeof(*rows));
        }
        const unsigned char *user = sqlite3_column_text(st, 0);
        rows[n++] = (struct store_user_usage){
            .user = xstrdup(user ? (const char *)user : ""),
            .gpu_seconds = sqlite3_column_double(st, 1),
            .sm_seconds = sqlite3_column_double(st, 2),
            .processes = sqlite3_column_int64(st, 3),
        };
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        store_user_usage_free(rows, n);
        return gp_err_set(err, store_errno(rc), "cannot query '%s': %s", s->path,
                          store_errmsg(s, rc));
    }
    *rows_out = rows;
    *count_out = n;
    return 0;
}

void store_user_usage_free(struct store_user_usage *rows, size_t n)
{
    for (size_t i = 0; i < n && rows; i++) {
        free(rows[i].user);
    }
    free(rows);
}
