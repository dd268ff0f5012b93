/* Daily activity: per local day, the minutes each GPU was busy at or above
 * the threshold, its peak and average utilization, and the same for the
 * machine (a minute is active when any GPU is). Computed from the minute
 * rollups, stored when a day closes, and computed on the fly for the days
 * still open. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/agg.h"
#include "store/store_int.h"
#include "util/clock.h"
#include "util/xalloc.h"

/* The longest local day (25 h, at the end of DST) in minutes, with room. */
#define DAY_MINUTES_MAX 1560

/* A minute's utilization: busy time over observed time where the driver's
 * sample buffer gave it, else the average polled utilization. false when
 * the minute says neither (a lost GPU). */
static bool minute_util(const struct store_agg *m, int util_slot, double *pct)
{
    if (m->window_us > 0) {
        *pct = 100.0 * (double)m->busy_us / (double)m->window_us;
        return true;
    }
    const struct store_metric_agg *u = &m->m[util_slot];
    if (u->n > 0) {
        *pct = (double)u->sum / (double)u->n;
        return true;
    }
    return false;
}

struct day_acc {
    int64_t minutes;
    int64_t active;
    bool has_peak;
    double peak;
    double util_sum;
};

static void acc_row(const struct day_acc *a, int64_t gpu_id, int gpu_index, int64_t day,
                    int64_t active_gpu_minutes, double threshold, struct store_activity_row *r)
{
    *r = (struct store_activity_row){
        .gpu_id = gpu_id,
        .gpu_index = gpu_index,
        .day_ms = day,
        .minutes = a->minutes,
        .active_minutes = a->active,
        .active_gpu_minutes = active_gpu_minutes,
        .has_peak = a->has_peak,
        .peak_pct = a->peak,
        .avg_pct = a->minutes ? a->util_sum / (double)a->minutes : 0,
        .threshold_pct = threshold,
    };
    clock_local_date(day, r->date, sizeof(r->date));
}

struct gpu_ref {
    int64_t id;
    int index;
};

static int list_gpus(struct store *s, struct gpu_ref **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT id, idx FROM gpus ORDER BY idx, id", -1, &st, NULL);
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = xrealloc(*out, cap * sizeof(**out));
        }
        (*out)[(*n)++] = (struct gpu_ref){ sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1) };
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Computes one day's rows: each GPU that has minutes that day, then the
 * machine (gpu_id 0) when any had. Appends to *rows. */
static int compute_day(struct store *s, sqlite3_stmt *minutes, const struct gpu_ref *gpus,
                       size_t ngpus, int64_t day, int64_t next, struct store_activity_row **rows,
                       size_t *n, size_t *cap)
{
    const int util_slot = store_sample_slot(GPU_FIELD_UTIL_GPU_PCT);
    const size_t slots[] = { (size_t)util_slot };
    uint8_t seen[DAY_MINUTES_MAX / 8] = { 0 };
    uint8_t active[DAY_MINUTES_MAX / 8] = { 0 };
    /* The machine: a minute is active when any GPU is; its average is over
     * GPU-minutes (two GPUs, one busy: 50%). */
    struct day_acc machine = { 0 };
    int64_t machine_gpu_minutes = 0;
    int64_t machine_active_gpu_minutes = 0;
    double threshold = s->activity_threshold_pct;
    for (size_t g = 0; g < ngpus; g++) {
        struct day_acc a = { 0 };
        sqlite3_bind_int64(minutes, 1, store_rollup_key(gpus[g].id, day));
        sqlite3_bind_int64(minutes, 2, store_rollup_key(gpus[g].id, next));
        int rc = 0;
        while ((rc = sqlite3_step(minutes)) == SQLITE_ROW) {
            struct store_agg m;
            store_agg_read(&m, minutes, 0, slots, 1);
            double pct = 0;
            int64_t i = (m.t - day) / CLOCK_MINUTE_MS;
            if (!minute_util(&m, util_slot, &pct) || i < 0 || i >= DAY_MINUTES_MAX) {
                continue;
            }
            a.minutes++;
            a.util_sum += pct;
            seen[i / 8] |= (uint8_t)(1U << (i % 8));
            if (pct >= threshold) {
                a.active++;
                active[i / 8] |= (uint8_t)(1U << (i % 8));
            }
            double peak = m.m[util_slot].n > 0 ? (double)m.m[util_slot].max : pct;
            a.peak = a.has_peak && a.peak > peak ? a.peak : peak;
            a.has_peak = true;
        }
        sqlite3_reset(minutes);
        if (rc != SQLITE_DONE) {
            return rc;
        }
        if (a.minutes == 0) {
            continue;
        }
        machine.util_sum += a.util_sum;
        machine_gpu_minutes += a.minutes;
        machine_active_gpu_minutes += a.active;
        if (a.has_peak) {
            machine.peak = machine.has_peak && machine.peak > a.peak ? machine.peak : a.peak;
            machine.has_peak = true;
        }
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 64;
            *rows = xrealloc(*rows, *cap * sizeof(**rows));
        }
        acc_row(&a, gpus[g].id, gpus[g].index, day, a.active, threshold, &(*rows)[(*n)++]);
    }
    if (machine_gpu_minutes == 0) {
        return SQLITE_OK;
    }
    for (size_t i = 0; i < sizeof(seen); i++) {
        machine.active += __builtin_popcount(active[i]);
        machine.minutes += __builtin_popcount(seen[i]);
    }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *rows = xrealloc(*rows, *cap * sizeof(**rows));
    }
    struct store_activity_row *r = &(*rows)[(*n)++];
    acc_row(&machine, 0, -1, day, machine_active_gpu_minutes, threshold, r);
    r->avg_pct = machine.util_sum / (double)machine_gpu_minutes;
    return SQLITE_OK;
}

/* Computes the rows of the local days [day_from, day_to). */
static int compute_days(struct store *s, int64_t day_from, int64_t day_to,
                        struct store_activity_row **rows, size_t *n)
{
    struct gpu_ref *gpus = NULL;
    size_t ngpus = 0;
    size_t cap = 0;
    *rows = NULL;
    *n = 0;
    int rc = list_gpus(s, &gpus, &ngpus);
    sqlite3_stmt *minutes = NULL;
    if (rc == SQLITE_OK) {
        char cols[512];
        const size_t slot = (size_t)store_sample_slot(GPU_FIELD_UTIL_GPU_PCT);
        store_agg_columns(cols, sizeof(cols), &slot, 1);
        char sql[700];
        snprintf(sql, sizeof(sql),
                 "SELECT %s FROM rollup_minute WHERE key >= ?1 AND key < ?2 ORDER BY key", cols);
        rc = sqlite3_prepare_v2(s->db, sql, -1, &minutes, NULL);
    }
    for (int64_t day = day_from; rc == SQLITE_OK && day < day_to; day = clock_local_day_next(day)) {
        rc = compute_day(s, minutes, gpus, ngpus, day, clock_local_day_next(day), rows, n, &cap);
    }
    sqlite3_finalize(minutes);
    free(gpus);
    if (rc != SQLITE_OK) {
        free(*rows);
        *rows = NULL;
        *n = 0;
    }
    return rc;
}

int store_activity_build(struct store *s, int64_t day_from, int64_t day_to, struct gp_err *err)
{
    struct store_activity_row *rows = NULL;
    size_t n = 0;
    int rc = compute_days(s, day_from, day_to, &rows, &n);
    sqlite3_stmt *del = NULL;
    sqlite3_stmt *ins = NULL;
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(s->db, "DELETE FROM activity_day WHERE day >= ?1 AND day < ?2", -1,
                                &del, NULL);
    }
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(del, 1, day_from);
        sqlite3_bind_int64(del, 2, day_to);
        rc = sqlite3_step(del) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(s->db);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(s->db,
                                "INSERT INTO activity_day (gpu, day, date, minutes, active_minutes,"
                                " active_gpu_minutes, peak_pct, avg_pct, threshold_pct)"
                                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                                -1, &ins, NULL);
    }
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        const struct store_activity_row *r = &rows[i];
        sqlite3_bind_int64(ins, 1, r->gpu_id);
        sqlite3_bind_int64(ins, 2, r->day_ms);
        sqlite3_bind_text(ins, 3, r->date, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 4, r->minutes);
        sqlite3_bind_int64(ins, 5, r->active_minutes);
        sqlite3_bind_int64(ins, 6, r->active_gpu_minutes);
        if (r->has_peak) {
            sqlite3_bind_double(ins, 7, r->peak_pct);
        } else {
            sqlite3_bind_null(ins, 7);
        }
        sqlite3_bind_double(ins, 8, r->avg_pct);
        sqlite3_bind_double(ins, 9, r->threshold_pct);
        rc = sqlite3_step(ins) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(s->db);
        sqlite3_reset(ins);
    }
    sqlite3_finalize(del);
    sqlite3_finalize(ins);
    free(rows);
    return rc == SQLITE_OK ? 0
                           : gp_err_set(err, store_errno(rc), "cannot write activity to '%s': %s",
                                        s->path, store_errmsg(s, rc));
}

/* Rows of a filter: the machine only, one GPU, or every GPU and the machine. */
static bool wanted(const struct store_activity_row *r, const char *gpu, const char *uuid_of_row)
{
    if (!gpu) {
        return r->gpu_id == 0;
    }
    if (strcmp(gpu, "all") == 0) {
        return true;
    }
    if (r->gpu_id == 0) {
        return false;
    }
    char idx[16];
    snprintf(idx, sizeof(idx), "%d", r->gpu_index);
    return strcmp(gpu, idx) == 0 || (uuid_of_row && strcmp(gpu, uuid_of_row) == 0);
}

static int newest_day_closed(struct store *s, int64_t *through)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT max(through) FROM rollup_state WHERE level = 2", -1,
                                &st, NULL);
    *through = 0;
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *through = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static void push_row(struct store_activity_row **rows, size_t *n, size_t *cap,
                     const struct store_activity_row *r)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *rows = xrealloc(*rows, *cap * sizeof(**rows));
    }
    (*rows)[(*n)++] = *r;
}

static char *gpu_uuid(struct store *s, int64_t gpu_id, char *buf, size_t size)
{
    sqlite3_stmt *st = NULL;
    buf[0] = '\0';
    if (sqlite3_prepare_v2(s->db, "SELECT uuid FROM gpus WHERE id = ?1", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_int64(st, 1, gpu_id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
        }
    }
    sqlite3_finalize(st);
    return buf;
}

int store_query_activity(struct store *s, const char *gpu, int64_t from_ms, int64_t to_ms,
                         struct store_activity_row **rows_out, size_t *count_out,
                         struct gp_err *err)
{
    int64_t closed = 0;
    int rc = newest_day_closed(s, &closed);
    sqlite3_stmt *st = NULL;
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(
            s->db,
            "SELECT a.gpu, coalesce(g.idx, -1), a.day, a.date, a.minutes, a.active_minutes,"
            " a.active_gpu_minutes, a.peak_pct, a.avg_pct, a.threshold_pct, g.uuid"
            " FROM activity_day a LEFT JOIN gpus g ON g.id = a.gpu"
            " WHERE a.day >= ?1 AND a.day < ?2 ORDER BY a.day, a.gpu = 0, g.idx",
            -1, &st, NULL);
    }
    if (rc != SQLITE_OK) {
        return gp_err_set(err, store_errno(rc), "cannot read activity from '%s': %s", s->path,
                          store_errmsg(s, rc));
    }
    int64_t first_open = closed ? closed : clock_local_day_start(from_ms);
    int64_t day_from = clock_local_day_start(from_ms);
    sqlite3_bind_int64(st, 1, day_from);
    sqlite3_bind_int64(st, 2, first_open < to_ms ? first_open : to_ms);
    struct store_activity_row *rows = NULL;
    size_t n = 0;
    size_t cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_activity_row r = {
            .gpu_id = sqlite3_column_int64(st, 0),
            .gpu_index = sqlite3_column_int(st, 1),
            .day_ms = sqlite3_column_int64(st, 2),
            .minutes = sqlite3_column_int64(st, 4),
            .active_minutes = sqlite3_column_int64(st, 5),
            .active_gpu_minutes = sqlite3_column_int64(st, 6),
            .has_peak = sqlite3_column_type(st, 7) != SQLITE_NULL,
            .peak_pct = sqlite3_column_double(st, 7),
            .avg_pct = sqlite3_column_double(st, 8),
            .threshold_pct = sqlite3_column_double(st, 9),
        };
        snprintf(r.date, sizeof(r.date), "%s", (const char *)sqlite3_column_text(st, 3));
        if (wanted(&r, gpu, (const char *)sqlite3_column_text(st, 10))) {
            push_row(&rows, &n, &cap, &r);
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(rows);
        return gp_err_set(err, store_errno(rc), "cannot read activity from '%s': %s", s->path,
                          store_errmsg(s, rc));
    }
    /* The days not closed yet (today), from the minutes closed so far. */
    int64_t open_from = first_open > day_from ? first_open : day_from;
    if (open_from < to_ms) {
        struct store_activity_row *live = NULL;
        size_t nlive = 0;
        rc = compute_days(s, open_from, to_ms, &live, &nlive);
        if (rc != SQLITE_OK) {
            free(rows);
            return gp_err_set(err, store_errno(rc), "cannot read activity from '%s': %s", s->path,
                              store_errmsg(s, rc));
        }
        for (size_t i = 0; i < nlive; i++) {
            char uuid[96];
            if (wanted(&live[i], gpu, gpu_uuid(s, live[i].gpu_id, uuid, sizeof(uuid)))) {
                push_row(&rows, &n, &cap, &live[i]);
            }
        }
        free(live);
    }
    *rows_out = rows;
    *count_out = n;
    return 0;
}

void store_activity_summarize(const struct store_activity_row *rows, size_t n, int64_t first_day_ms,
                              int64_t today_ms, struct store_activity_summary *out)
{
    *out = (struct store_activity_summary){ 0 };
    size_t i = 0;
    int64_t streak = 0;
    for (int64_t day = first_day_ms; day <= today_ms; day = clock_local_day_next(day)) {
        while (i < n && rows[i].day_ms < day) {
            i++;
        }
        bool active = i < n && rows[i].day_ms == day && rows[i].active_minutes > 0;
        out->days++;
        if (i < n && rows[i].day_ms == day) {
            out->active_minutes += rows[i].active_minutes;
            out->active_gpu_minutes += rows[i].active_gpu_minutes;
        }
        if (active) {
            out->active_days++;
            streak++;
            out->longest_streak = streak > out->longest_streak ? streak : out->longest_streak;
        } else if (day != today_ms) {
            streak = 0; /* a quiet today does not break the streak yet */
        }
    }
    out->current_streak = streak;
}
