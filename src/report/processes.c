/* The processes resource's JSON, CSV and table. */
#include "report/processes.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "util/text.h"

#define JSON_SCHEMA "gpulse.processes.v1"

static const struct {
    const char *name;
    enum store_process_sort sort;
} sort_names[] = {
    { "gpu_seconds", STORE_SORT_GPU_SECONDS },
    { "sm_seconds", STORE_SORT_SM_SECONDS },
    { "memory", STORE_SORT_MEMORY },
    { "first_seen", STORE_SORT_FIRST_SEEN },
    { "last_seen", STORE_SORT_LAST_SEEN },
    { "pid", STORE_SORT_PID },
    { "user", STORE_SORT_USER },
    /* `gpulse processes --sort` before the CLI and the API shared keys */
    { "gpu-time", STORE_SORT_GPU_SECONDS },
    { "sm-time", STORE_SORT_SM_SECONDS },
    { "first-seen", STORE_SORT_FIRST_SEEN },
    { "last-seen", STORE_SORT_LAST_SEEN },
};

int report_processes_sort_parse(const char *name, enum store_process_sort *out)
{
    for (size_t i = 0; i < GP_ARRAY_LEN(sort_names); i++) {
        if (strcmp(name, sort_names[i].name) == 0) {
            *out = sort_names[i].sort;
            return 0;
        }
    }
    return -EINVAL;
}

/* The live reading of a stored lifetime, when it runs now: the same GPU and
 * PID, and the same start time where both know it. *known: the GPU's list
 * was known (else whether it runs is unknown). */
static const struct gpu_process *find_live(const struct gpu_snapshot *snap,
                                           const struct store_process_row *r, bool *known)
{
    *known = true;
    for (size_t i = 0; snap && i < snap->gpu_count; i++) {
        const struct gpu_reading *g = &snap->gpus[i];
        if ((int)g->id.index != r->gpu_index) {
            continue;
        }
        *known = gpu_reading_processes_known(g);
        for (size_t k = 0; k < g->process_count; k++) {
            const struct gpu_process *p = &g->processes[k];
            const struct proc_info *pi = proc_info_or_none(p->proc);
            if (p->pid == r->pid &&
                (!pi->found || !r->start_time_ms || pi->start_time_ms == r->start_time_ms)) {
                return p;
            }
        }
    }
    return NULL;
}

void report_processes_live(const struct gpu_snapshot *snap, const struct store_process_row *rows,
                           size_t n, struct report_process_live *live)
{
    for (size_t i = 0; i < n; i++) {
        bool known = true;
        const struct gpu_process *p = find_live(snap, &rows[i], &known);
        live[i] = (struct report_process_live){
            .known = known,
            .running = p != NULL,
            .has_memory = p && p->has_used_memory,
            .memory_bytes = p ? p->used_memory_bytes : 0,
            .has_sm = p && p->has_utilization,
            .sm_pct = p ? p->sm_pct : 0,
        };
    }
}

static json_t *row_json(const struct store_process_row *r, const struct report_process_live *lp)
{
    json_t *o = json_object();
    json_object_set_new(o, "gpu", json_integer(r->gpu_index));
    json_object_set_new(o, "gpu_uuid", report_json_text(r->gpu_uuid));
    json_object_set_new(o, "pid", json_integer(r->pid));
    json_object_set_new(o, "type", json_string(report_process_type(r->type_mask)));
    json_object_set_new(o, "user", report_json_text(r->user));
    json_object_set_new(o, "uid", r->has_uid ? json_integer(r->uid) : json_null());
    json_object_set_new(o, "command", report_json_text(r->command));
    json_object_set_new(o, "cmdline", report_json_text(r->cmdline));
    json_object_set_new(o, "container", report_json_text(r->container));
    json_object_set_new(o, "start_time", report_json_time(r->start_time_ms));
    json_object_set_new(o, "first_seen", report_json_time(r->first_seen_ms));
    json_object_set_new(o, "last_seen", report_json_time(r->last_seen_ms));
    json_object_set_new(o, "first_seen_ms", json_integer(r->first_seen_ms));
    json_object_set_new(o, "last_seen_ms", json_integer(r->last_seen_ms));
    json_object_set_new(o, "lifetime_s",
                        report_json_real((double)(r->last_seen_ms - r->first_seen_ms) / 1000.0,
                                         REPORT_DECIMALS_SECONDS));
    json_object_set_new(o, "samples", json_integer(r->samples));
    json_object_set_new(o, "gpu_seconds",
                        report_json_real(r->gpu_seconds, REPORT_DECIMALS_SECONDS));
    /* SM time the driver never gave is unknown, not 0; the average is over
     * the time it was known. */
    json_object_set_new(o, "sm_seconds",
                        r->has_sm ? report_json_real(r->sm_seconds, REPORT_DECIMALS_SECONDS)
                                  : json_null());
    json_object_set_new(o, "sm_pct_avg",
                        r->has_sm ? report_json_real(100.0 * r->sm_seconds / r->sm_known_seconds,
                                                     REPORT_DECIMALS_PCT)
                                  : json_null());
    json_object_set_new(o, "memory_max_bytes",
                        r->has_memory ? json_integer(r->memory_max_bytes) : json_null());
    json_object_set_new(o, "memory_avg_bytes",
                        r->has_memory ? json_integer((json_int_t)llround(r->memory_avg_bytes))
                                      : json_null());
    json_object_set_new(o, "active", lp && lp->known ? json_boolean(lp->running) : json_null());
    json_object_set_new(o, "memory_now_bytes",
                        lp && lp->has_memory ? json_integer((json_int_t)lp->memory_bytes)
                                             : json_null());
    json_object_set_new(o, "sm_pct_now", lp && lp->has_sm ? json_integer(lp->sm_pct) : json_null());
    return o;
}

json_t *report_processes_json(const struct report_processes *p)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < p->count; i++) {
        json_array_append_new(arr, row_json(&p->rows[i], p->live ? &p->live[i] : NULL));
    }
    json_t *root = json_object();
    json_object_set_new(root, "schema", json_string(JSON_SCHEMA));
    json_object_set_new(root, "count", json_integer((json_int_t)p->count));
    json_object_set_new(root, "limit", p->limit > 0 ? json_integer(p->limit) : json_null());
    json_object_set_new(root, "processes", arr);
    return root;
}

void report_processes_csv(FILE *out, const struct report_processes *p)
{
    fputs("gpu_index,gpu_uuid,pid,type,user,uid,command,container,first_seen,last_seen,"
          "gpu_seconds,sm_seconds,memory_max_bytes,memory_avg_bytes,cmdline\r\n",
          out);
    for (size_t i = 0; i < p->count; i++) {
        const struct store_process_row *r = &p->rows[i];
        char first[40], last[40];
        report_format_time_ms(r->first_seen_ms, first, sizeof(first));
        report_format_time_ms(r->last_seen_ms, last, sizeof(last));
        fprintf(out, "%d", r->gpu_index);
        report_csv_field(out, r->gpu_uuid ? r->gpu_uuid : "", false);
        fprintf(out, ",%u,%s", r->pid, report_process_type(r->type_mask));
        report_csv_field(out, r->user ? r->user : "", false);
        if (r->has_uid) {
            fprintf(out, ",%u", r->uid);
        } else {
            fputc(',', out);
        }
        report_csv_field(out, r->command ? r->command : "", false);
        report_csv_field(out, r->container ? r->container : "", false);
        fprintf(out, ",%s,%s,%.3f,", first, last, r->gpu_seconds);
        if (r->has_sm) {
            fprintf(out, "%.3f", r->sm_seconds);
        }
        fputc(',', out);
        if (r->has_memory) {
            fprintf(out, "%" PRId64 ",%.0f", r->memory_max_bytes, r->memory_avg_bytes);
        } else {
            fputc(',', out);
        }
        report_csv_field(out, r->cmdline ? r->cmdline : "", false);
        fputs("\r\n", out);
    }
}

static void duration_hms(double secs, char *buf, size_t size)
{
    uint64_t s = (uint64_t)(secs + 0.5);
    snprintf(buf, size, "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 3600, (s / 60) % 60, s % 60);
}

static void local_time(int64_t ms, char *buf, size_t size)
{
    if (ms <= 0) {
        snprintf(buf, size, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm = { 0 };
    localtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

static void memory_text(int64_t bytes, bool has, char *buf, size_t size)
{
    if (!has) {
        snprintf(buf, size, "N/A");
    } else {
        report_format_bytes((uint64_t)bytes, buf, size);
    }
}

void report_processes_table(FILE *out, const struct report_processes *p)
{
    fprintf(out, "%-4s %8s  %-10s %-16s %-22s %-19s  %-19s  %10s %10s %10s %10s\n", "GPU", "PID",
            "USER", "COMMAND", "CONTAINER", "FIRST SEEN", "LAST SEEN", "GPU TIME", "SM TIME",
            "MEM MAX", "MEM AVG");
    for (size_t i = 0; i < p->count; i++) {
        const struct store_process_row *r = &p->rows[i];
        /* Host text fitted to its column in terminal columns, not bytes:
         * a CJK or emoji name is as wide as it shows. */
        char user[256], cmd[256], cont[256], first[32], last[32], gpu_t[24], sm_t[24], mmax[24],
            mavg[24];
        text_fit(user, sizeof(user), r->user ? r->user : "?", 10, 10);
        text_fit(cmd, sizeof(cmd), r->command ? r->command : "?", 16, 16);
        text_fit(cont, sizeof(cont), r->container ? r->container : "", 22, 22);
        local_time(r->first_seen_ms, first, sizeof(first));
        local_time(r->last_seen_ms, last, sizeof(last));
        duration_hms(r->gpu_seconds, gpu_t, sizeof(gpu_t));
        if (r->has_sm) {
            duration_hms(r->sm_seconds, sm_t, sizeof(sm_t));
        } else {
            snprintf(sm_t, sizeof(sm_t), "N/A");
        }
        memory_text(r->memory_max_bytes, r->has_memory, mmax, sizeof(mmax));
        memory_text((int64_t)r->memory_avg_bytes, r->has_memory, mavg, sizeof(mavg));
        fprintf(out, "%-4d %8u  %s %s %s %-19s  %-19s  %10s %10s %10s %10s\n", r->gpu_index, r->pid,
                user, cmd, cont, first, last, gpu_t, sm_t, mmax, mavg);
    }
}
