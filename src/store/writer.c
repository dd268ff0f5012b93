/* Writing snapshots: one transaction per batch, prepared statements only,
 * and per-process accounting (GPU-seconds, SM-seconds, memory max and
 * average) accumulated in the process row as samples arrive. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/agg.h"
#include "store/blocks.h"
#include "store/store_int.h"
#include "util/log.h"
#include "util/xalloc.h"

/* A process seen again after more than this many sampling periods was
 * away, or the agent was: the gap is not counted as GPU time. */
#define MAX_PROCESS_GAP_PERIODS 3

static const char sql_upsert_gpu[] =
    "INSERT INTO gpus (uuid, idx, name, serial, pci_bus_id, pci_device_id, memory_total_bytes,"
    " clock_sm_max_mhz, clock_graphics_max_mhz, clock_memory_max_mhz, first_seen, last_seen)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)"
    " ON CONFLICT (uuid) DO UPDATE SET idx = excluded.idx,"
    " name = coalesce(excluded.name, name), serial = coalesce(excluded.serial, serial),"
    " pci_bus_id = coalesce(excluded.pci_bus_id, pci_bus_id),"
    " pci_device_id = coalesce(excluded.pci_device_id, pci_device_id),"
    " memory_total_bytes = coalesce(excluded.memory_total_bytes, memory_total_bytes),"
    " clock_sm_max_mhz = coalesce(excluded.clock_sm_max_mhz, clock_sm_max_mhz),"
    " clock_graphics_max_mhz = coalesce(excluded.clock_graphics_max_mhz, clock_graphics_max_mhz),"
    " clock_memory_max_mhz = coalesce(excluded.clock_memory_max_mhz, clock_memory_max_mhz),"
    " last_seen = max(last_seen, excluded.last_seen)"
    " RETURNING id";

static const char sql_upsert_process[] =
    "INSERT INTO processes (gpu, pid, start_ticks, start_time, type, uid, user, command, cmdline,"
    " container, container_id, pod_uid, slurm_job, first_seen, last_seen, samples,"
    " memory_max_bytes, memory_sum_bytes, gpu_seconds, sm_seconds, sm_known_seconds)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, 1, ?15,"
    " coalesce(?15, 0), ?16, ?17, ?18)"
    " ON CONFLICT (gpu, pid, start_ticks) DO UPDATE SET"
    " type = type | excluded.type, last_seen = max(last_seen, excluded.last_seen),"
    " uid = coalesce(excluded.uid, uid), user = coalesce(excluded.user, user),"
    " command = coalesce(excluded.command, command), cmdline = coalesce(excluded.cmdline, cmdline),"
    " container = coalesce(excluded.container, container),"
    " container_id = coalesce(excluded.container_id, container_id),"
    " pod_uid = coalesce(excluded.pod_uid, pod_uid),"
    " slurm_job = coalesce(excluded.slurm_job, slurm_job),"
    " samples = samples + 1,"
    " memory_max_bytes = max(coalesce(memory_max_bytes, 0), coalesce(excluded.memory_max_bytes, "
    "0)),"
    " memory_sum_bytes = memory_sum_bytes + excluded.memory_sum_bytes,"
    " gpu_seconds = gpu_seconds + excluded.gpu_seconds,"
    " sm_seconds = sm_seconds + excluded.sm_seconds,"
    " sm_known_seconds = coalesce(sm_known_seconds, gpu_seconds) + excluded.sm_known_seconds"
    " RETURNING id";

static const char sql_update_process[] =
    "UPDATE processes SET last_seen = max(last_seen, ?2), samples = samples + ?3,"
    " memory_max_bytes = CASE WHEN ?4 IS NULL THEN memory_max_bytes"
    " ELSE max(coalesce(memory_max_bytes, 0), ?4) END,"
    " memory_sum_bytes = memory_sum_bytes + ?5, gpu_seconds = gpu_seconds + ?6,"
    " sm_seconds = sm_seconds + ?7, type = type | ?8,"
    " sm_known_seconds = coalesce(sm_known_seconds, gpu_seconds) + ?9 WHERE id = ?1";

static const char sql_touch_gpu[] =
    "UPDATE gpus SET last_seen = ?2 WHERE id = ?1 AND last_seen < ?2";

static const char sql_find_process[] =
    "SELECT id, last_seen FROM processes WHERE gpu = ?1 AND pid = ?2 AND start_ticks = ?3";

static int prepare(struct store *s, const char *sql, sqlite3_stmt **st, struct gp_err *err)
{
    if (*st) {
        return 0;
    }
    int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    if (rc != SQLITE_OK) {
        return gp_err_set(err, store_errno(rc), "cannot prepare a statement on '%s': %s", s->path,
                          store_errmsg(s, rc));
    }
    return 0;
}

static int prepare_all(struct store *s, struct gp_err *err)
{
    int rc = prepare(s, sql_upsert_gpu, &s->upsert_gpu, err);
    if (!rc) {
        rc = prepare(s, sql_upsert_process, &s->upsert_process, err);
    }
    if (!rc) {
        rc = prepare(s, sql_find_process, &s->find_process, err);
    }
    if (!rc) {
        rc = prepare(s, sql_touch_gpu, &s->touch_gpu, err);
    }
    if (!rc) {
        rc = prepare(s, sql_update_process, &s->update_process, err);
    }
    return rc;
}

/* Forgets the batch's raw samples not yet added to their blocks. */
static void drop_pending(struct store *s)
{
    for (size_t i = 0; i < s->pending_count; i++) {
        store_codec_free(&s->pending[i].rows);
    }
    s->pending_count = 0;
}

void store_writer_fini(struct store *s)
{
    sqlite3_finalize(s->upsert_gpu);
    sqlite3_finalize(s->upsert_process);
    sqlite3_finalize(s->find_process);
    sqlite3_finalize(s->touch_gpu);
    sqlite3_finalize(s->update_process);
    s->upsert_gpu = s->upsert_process = NULL;
    s->find_process = s->touch_gpu = s->update_process = NULL;
    store_blocks_fini(s);
    drop_pending(s);
    free(s->pending);
    s->pending = NULL;
    s->pending_cap = 0;
    free(s->procs);
    s->procs = NULL;
    s->proc_count = s->proc_cap = 0;
    s->gpu_count = 0;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s && *s) {
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    } else {
        sqlite3_bind_null(st, i);
    }
}

static void bind_field(sqlite3_stmt *st, int i, const struct gpu_values *v, enum gpu_field f)
{
    if (gpu_values_has(v, f)) {
        sqlite3_bind_int64(st, i, v->v[f]);
    } else {
        sqlite3_bind_null(st, i);
    }
}

/* Runs a statement that returns one id; resets it for the next use. */
static int step_id(struct store *s, sqlite3_stmt *st, int64_t *id, struct gp_err *err)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (id) {
            *id = sqlite3_column_int64(st, 0);
        }
        rc = sqlite3_step(st);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        return gp_err_set(err, store_errno(rc), "cannot write to '%s': %s", s->path,
                          store_errmsg(s, rc));
    }
    return 0;
}

static int gpu_row(struct store *s, const struct gpu_reading *r, int64_t t, int64_t *id,
                   struct gp_err *err)
{
    const struct gpu_identity *g = &r->id;
    if (!g->uuid[0]) {
        return 1; /* a GPU that could not even be identified is not stored */
    }
    for (size_t i = 0; i < s->gpu_count; i++) {
        struct store_gpu_entry *e = &s->gpus[i];
        if (strcmp(e->uuid, g->uuid) == 0) {
            *id = e->row_id;
            e->last_ms = t > e->last_ms ? t : e->last_ms;
            if (!e->in_batch || t < e->batch_first_ms) {
                e->batch_first_ms = t;
            }
            if (!e->in_batch || t > e->batch_last_ms) {
                e->batch_last_ms = t;
            }
            e->in_batch = true;
            return 0;
        }
    }
    sqlite3_stmt *st = s->upsert_gpu;
    bind_text_or_null(st, 1, g->uuid);
    sqlite3_bind_int(st, 2, (int)g->index);
    bind_text_or_null(st, 3, g->name);
    bind_text_or_null(st, 4, g->serial);
    bind_text_or_null(st, 5, g->pci_bus_id);
    if (g->has_pci_device_id) {
        sqlite3_bind_int64(st, 6, g->pci_device_id);
    }
    bind_field(st, 7, &r->values, GPU_FIELD_MEM_TOTAL_BYTES);
    bind_field(st, 8, &r->values, GPU_FIELD_CLOCK_SM_MAX_MHZ);
    bind_field(st, 9, &r->values, GPU_FIELD_CLOCK_GRAPHICS_MAX_MHZ);
    bind_field(st, 10, &r->values, GPU_FIELD_CLOCK_MEM_MAX_MHZ);
    sqlite3_bind_int64(st, 11, t);
    int rc = step_id(s, st, id, err);
    if (rc == 0 && s->gpu_count < GP_ARRAY_LEN(s->gpus)) {
        struct store_gpu_entry *e = &s->gpus[s->gpu_count++];
        snprintf(e->uuid, sizeof(e->uuid), "%s", g->uuid);
        e->row_id = *id;
        e->last_ms = t;
        e->in_batch = true;
        e->batch_first_ms = e->batch_last_ms = t;
    }
    return rc;
}

/* The row for time t in the batch's block of a GPU or lifetime (*out):
 * its index, or -1 with err set when the minute is full. */
static long pending_row(struct store *s, bool process, int64_t owner, int64_t t,
                        struct store_codec_block **out, struct gp_err *err)
{
    int64_t minute = store_level_start(STORE_LEVEL_MINUTE, t);
    struct store_pending_block *p = NULL;
    for (size_t i = s->pending_count; i > 0 && !p; i--) {
        struct store_pending_block *e = &s->pending[i - 1];
        if (e->process == process && e->owner == owner && e->minute_ms == minute) {
            p = e;
        }
    }
    if (!p) {
        if (s->pending_count == s->pending_cap) {
            s->pending_cap = s->pending_cap ? s->pending_cap * 2 : 32;
            s->pending = xrealloc(s->pending, s->pending_cap * sizeof(*s->pending));
        }
        p = &s->pending[s->pending_count++];
        *p =
            (struct store_pending_block){ .process = process, .owner = owner, .minute_ms = minute };
        store_codec_init(&p->rows,
                         store_blocks_cols(process ? STORE_BLOCKS_PROCESS : STORE_BLOCKS_GPU));
    }
    *out = &p->rows;
    long r = store_codec_row(&p->rows, t);
    if (r < 0) {
        gp_err_set(err, -E2BIG, "more than %d samples in a minute", STORE_CODEC_MAX_ROWS);
    }
    return r;
}

/* Adds the batch's rows to the stored blocks, before the rollups read them. */
static int flush_pending(struct store *s, struct gp_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < s->pending_count && rc == 0; i++) {
        struct store_pending_block *p = &s->pending[i];
        rc = store_blocks_add(s, p->process ? STORE_BLOCKS_PROCESS : STORE_BLOCKS_GPU, p->owner,
                              p->minute_ms, &p->rows, err);
    }
    drop_pending(s);
    return rc;
}

static int write_sample(struct store *s, int64_t gpu_id, int64_t t, const struct gpu_reading *r,
                        struct gp_err *err)
{
    struct store_codec_block *b = NULL;
    long row = pending_row(s, false, gpu_id, t, &b, err);
    if (row < 0) {
        return -E2BIG;
    }
    size_t i = (size_t)row;
    store_codec_set(b, i, STORE_BLOCKS_COL_LOST, r->state == GPU_STATE_LOST);
    if (r->busy.source != GPU_BUSY_NONE) {
        store_codec_set(b, i, STORE_BLOCKS_COL_BUSY, (int64_t)r->busy.busy_us);
        store_codec_set(b, i, STORE_BLOCKS_COL_WINDOW, (int64_t)r->busy.window_us);
    }
    for (size_t c = STORE_BLOCKS_COL_FIELDS; c < b->cols; c++) {
        int slot = store_blocks_slot(c);
        enum gpu_field f = slot >= 0 ? store_sample_field((size_t)slot) : GPU_FIELD_COUNT;
        if (slot >= 0 && gpu_values_has(&r->values, f)) {
            store_codec_set(b, i, c, r->values.v[f]);
        }
    }
    return 0;
}

static int write_process_sample(struct store *s, int64_t process_id, int64_t t,
                                const struct gpu_process *p, struct gp_err *err)
{
    struct store_codec_block *b = NULL;
    long row = pending_row(s, true, process_id, t, &b, err);
    if (row < 0) {
        return -E2BIG;
    }
    size_t i = (size_t)row;
    if (p->has_used_memory) {
        store_codec_set(b, i, STORE_BLOCKS_COL_MEMORY, (int64_t)p->used_memory_bytes);
    }
    if (p->has_utilization) {
        store_codec_set(b, i, STORE_BLOCKS_COL_SM, p->sm_pct);
        store_codec_set(b, i, STORE_BLOCKS_COL_MEMORY_PCT, p->memory_pct);
        store_codec_set(b, i, STORE_BLOCKS_COL_ENCODER, p->encoder_pct);
        store_codec_set(b, i, STORE_BLOCKS_COL_DECODER, p->decoder_pct);
    }
    return 0;
}

/* The writer's memory of a lifetime: where its row is and when it was last
 * written, looked up in the database the first time (after a restart). */
static int process_entry(struct store *s, int64_t gpu_id, const struct gpu_process *p,
                         struct store_process_entry **out, struct gp_err *err)
{
    uint64_t start_ticks = proc_info_or_none(p->proc)->start_ticks;
    for (size_t i = 0; i < s->proc_count; i++) {
        struct store_process_entry *e = &s->procs[i];
        if (e->gpu_id == gpu_id && e->pid == p->pid && e->start_ticks == start_ticks) {
            *out = e;
            return 0;
        }
    }
    if (s->proc_count == s->proc_cap) {
        s->proc_cap = s->proc_cap ? s->proc_cap * 2 : 32;
        s->procs = xrealloc(s->procs, s->proc_cap * sizeof(*s->procs));
    }
    struct store_process_entry *e = &s->procs[s->proc_count++];
    *e =
        (struct store_process_entry){ .gpu_id = gpu_id, .pid = p->pid, .start_ticks = start_ticks };
    sqlite3_stmt *st = s->find_process;
    sqlite3_bind_int64(st, 1, gpu_id);
    sqlite3_bind_int64(st, 2, p->pid);
    sqlite3_bind_int64(st, 3, (int64_t)start_ticks);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        e->row_id = sqlite3_column_int64(st, 0);
        e->last_ms = sqlite3_column_int64(st, 1);
        rc = SQLITE_DONE;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        s->proc_count--;
        return gp_err_set(err, store_errno(rc), "cannot read '%s': %s", s->path,
                          store_errmsg(s, rc));
    }
    *out = e;
    return 0;
}

static int write_process(struct store *s, int64_t gpu_id, int64_t t, int64_t period_ms,
                         const struct gpu_process *p, struct gp_err *err)
{
    struct store_process_entry *e = NULL;
    int rc = process_entry(s, gpu_id, p, &e, err);
    if (rc || !e) {
        return rc ? rc : -EIO;
    }
    /* Time on the GPU since it was last seen. A first sighting, and one
     * after a gap (the process or the agent was away), count one period. */
    int64_t dt_ms = e->last_ms ? t - e->last_ms : period_ms;
    if (dt_ms < 0 || dt_ms > MAX_PROCESS_GAP_PERIODS * period_ms) {
        dt_ms = period_ms;
    }
    double dt = (double)dt_ms / 1000.0;
    /* SM time only where the driver gave it, and for how long it did. */
    double sm_s = p->has_utilization ? dt * p->sm_pct / 100.0 : 0.0;
    double sm_known_s = p->has_utilization ? dt : 0.0;
    sqlite3_stmt *st = NULL;
    if (e->row_id) {
        /* A known lifetime: add this sighting to the batch's deltas. */
        e->dirty = true;
        e->pending_type |= p->type_mask;
        e->pending_samples++;
        if (p->has_used_memory) {
            int64_t mem = (int64_t)p->used_memory_bytes;
            e->pending_memory_max =
                e->pending_has_memory && e->pending_memory_max > mem ? e->pending_memory_max : mem;
            e->pending_has_memory = true;
            e->pending_memory_sum += (double)mem;
        }
        e->pending_gpu_seconds += dt;
        e->pending_sm_seconds += sm_s;
        e->pending_sm_known_seconds += sm_known_s;
    } else {
        const struct proc_info *pi = proc_info_or_none(p->proc);
        char label[96];
        proc_container_label(&pi->container, label, sizeof(label));
        st = s->upsert_process;
        sqlite3_bind_int64(st, 1, gpu_id);
        sqlite3_bind_int64(st, 2, p->pid);
        sqlite3_bind_int64(st, 3, (int64_t)pi->start_ticks);
        if (pi->start_time_ms > 0) {
            sqlite3_bind_int64(st, 4, pi->start_time_ms);
        }
        sqlite3_bind_int(st, 5, (int)p->type_mask);
        if (pi->has_uid) {
            sqlite3_bind_int64(st, 6, pi->uid);
            bind_text_or_null(st, 7, pi->user);
        }
        bind_text_or_null(st, 8, pi->comm);
        bind_text_or_null(st, 9, pi->cmdline);
        bind_text_or_null(st, 10, label);
        bind_text_or_null(st, 11, pi->container.id);
        bind_text_or_null(st, 12, pi->container.pod_uid);
        bind_text_or_null(st, 13, pi->container.slurm_job);
        sqlite3_bind_int64(st, 14, t);
        if (p->has_used_memory) {
            sqlite3_bind_int64(st, 15, (int64_t)p->used_memory_bytes);
        }
        sqlite3_bind_double(st, 16, dt);
        sqlite3_bind_double(st, 17, sm_s);
        sqlite3_bind_double(st, 18, sm_known_s);
        rc = step_id(s, st, &e->row_id, err);
        if (rc) {
            return rc;
        }
    }

    rc = write_process_sample(s, e->row_id, t, p, err);
    if (rc == 0) {
        e->last_ms = t;
        e->seen_batch = s->batch;
    }
    return rc;
}

static int write_snapshot(struct store *s, const struct gpu_snapshot *snap, int64_t period_ms,
                          struct gp_err *err)
{
    for (size_t g = 0; g < snap->gpu_count; g++) {
        const struct gpu_reading *r = &snap->gpus[g];
        int64_t gpu_id = 0;
        int rc = gpu_row(s, r, snap->time_ms, &gpu_id, err);
        if (rc > 0) {
            continue;
        }
        if (rc || (rc = write_sample(s, gpu_id, snap->time_ms, r, err)) != 0) {
            return rc;
        }
        for (size_t k = 0; k < r->process_count; k++) {
            rc = write_process(s, gpu_id, snap->time_ms, period_ms, &r->processes[k], err);
            if (rc) {
                return rc;
            }
        }
    }
    return 0;
}

/* Lifetimes not seen in the last few batches have ended: forget them, so
 * the cache holds only running processes. */
static void forget_ended_processes(struct store *s)
{
    size_t kept = 0;
    for (size_t i = 0; i < s->proc_count; i++) {
        if (s->batch - s->procs[i].seen_batch <= 2) {
            s->procs[kept++] = s->procs[i];
        }
    }
    s->proc_count = kept;
}

int store_write(struct store *s, const struct gpu_snapshot *const *snaps, size_t n,
                int64_t period_ms, struct gp_err *err)
{
    if (n == 0) {
        return 0;
    }
    /* A file deleted or replaced under us would swallow every write that
     * follows (the open descriptor still takes them): one stat a batch. */
    int moved = 0;
    if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK && moved) {
        return gp_err_set(err, -ESTALE,
                          "database '%s' was deleted or replaced while the agent ran; nothing "
                          "more is written to it (restart the agent to create or open the file "
                          "now at that path)",
                          s->path);
    }
    int rc = prepare_all(s, err);
    if (rc) {
        return rc;
    }
    s->batch++;
    int src = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        return gp_err_set(err, store_errno(src), "cannot write to '%s': %s", s->path,
                          store_errmsg(s, src));
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = write_snapshot(s, snaps[i], period_ms, err);
    }
    if (rc == 0) {
        rc = flush_pending(s, err);
    }
    /* The batch's sightings of known lifetimes, one UPDATE each. */
    for (size_t i = 0; i < s->proc_count && rc == 0; i++) {
        struct store_process_entry *e = &s->procs[i];
        if (!e->dirty) {
            continue;
        }
        sqlite3_stmt *st = s->update_process;
        sqlite3_bind_int64(st, 1, e->row_id);
        sqlite3_bind_int64(st, 2, e->last_ms);
        sqlite3_bind_int64(st, 3, e->pending_samples);
        if (e->pending_has_memory) {
            sqlite3_bind_int64(st, 4, e->pending_memory_max);
        }
        sqlite3_bind_double(st, 5, e->pending_memory_sum);
        sqlite3_bind_double(st, 6, e->pending_gpu_seconds);
        sqlite3_bind_double(st, 7, e->pending_sm_seconds);
        sqlite3_bind_int(st, 8, (int)e->pending_type);
        sqlite3_bind_double(st, 9, e->pending_sm_known_seconds);
        rc = step_id(s, st, NULL, err);
        *e = (struct store_process_entry){ .gpu_id = e->gpu_id,
                                           .pid = e->pid,
                                           .start_ticks = e->start_ticks,
                                           .row_id = e->row_id,
                                           .last_ms = e->last_ms,
                                           .seen_batch = e->seen_batch };
    }
    /* One last_seen update per GPU per batch, not per sample; then the
     * rollup periods this batch closed, in the same transaction. */
    int64_t day_from = 0;
    int64_t day_to = 0;
    for (size_t i = 0; i < s->gpu_count && rc == 0; i++) {
        struct store_gpu_entry *g = &s->gpus[i];
        sqlite3_bind_int64(s->touch_gpu, 1, g->row_id);
        sqlite3_bind_int64(s->touch_gpu, 2, g->last_ms);
        rc = step_id(s, s->touch_gpu, NULL, err);
        if (rc == 0 && g->in_batch) {
            rc = store_rollup_advance(s, g->row_id, g->batch_first_ms, g->batch_last_ms, &day_from,
                                      &day_to, err);
        }
        g->in_batch = false;
    }
    if (rc == 0 && day_from < day_to) {
        rc = store_activity_build(s, day_from, day_to, err);
    }
    if (rc == 0) {
        src = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (src != SQLITE_OK) {
            rc = gp_err_set(err, store_errno(src), "cannot commit to '%s': %s", s->path,
                            store_errmsg(s, src));
        }
    }
    if (rc != 0) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        drop_pending(s);
        /* The cache may describe rows that were rolled back. */
        s->proc_count = 0;
        s->gpu_count = 0;
        return rc;
    }
    forget_ended_processes(s);
    return 0;
}
