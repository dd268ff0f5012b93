#include "http/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/fields.h"
#include "gpu/gpu.h"
#include "proc/cgroup.h"
#include "util/selfstat.h"
#include "util/text.h"
#include "util/xalloc.h"

/* Appends a label value: valid UTF-8, with \, " and newline escaped. */
static void add_label_value(struct dynbuf *out, const char *value)
{
    char clean[3 * 1024 + 1];
    text_sanitize(clean, sizeof(clean), value ? value : "");
    for (const char *p = clean; *p; p++) {
        switch (*p) {
        case '\\':
            dynbuf_add(out, "\\\\", 2);
            break;
        case '"':
            dynbuf_add(out, "\\\"", 2);
            break;
        case '\n':
            dynbuf_add(out, "\\n", 2);
            break;
        default:
            dynbuf_add(out, p, 1);
            break;
        }
    }
}

/* The labels of gpulse's own per-GPU series: dcgm-exporter's identifying
 * ones, without its camelCase modelName and the per-series copies of host
 * and driver (the instance and gpulse_build_info say those). */
static void own_gpu_labels(struct dynbuf *out, const struct gpu_reading *r)
{
    dynbuf_printf(out, "gpu=\"%u\",UUID=\"", r->id.index);
    add_label_value(out, r->id.uuid);
    dynbuf_adds(out, "\",pci_bus_id=\"");
    add_label_value(out, r->id.pci_bus_id);
    dynbuf_printf(out, "\",device=\"nvidia%u\"", r->id.has_minor ? r->id.minor : r->id.index);
}

/* The labels every dcgm-exporter series carries, without the braces. */
static void gpu_labels(struct dynbuf *out, const struct gpu_reading *r, const char *host,
                       const char *driver)
{
    own_gpu_labels(out, r);
    dynbuf_adds(out, ",modelName=\"");
    add_label_value(out, r->id.name);
    dynbuf_adds(out, "\",Hostname=\"");
    add_label_value(out, host);
    dynbuf_adds(out, "\",DCGM_FI_DRIVER_VERSION=\"");
    add_label_value(out, driver);
    dynbuf_adds(out, "\"");
}

static void header(struct dynbuf *out, const char *name, const char *type, const char *help)
{
    dynbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A sample's value: an integer as one, anything else with 15 significant
 * digits, which every value here (readings of at most 10 digits scaled by
 * a power of ten, sums of seconds) needs no more than, and which spares a
 * scraper 692.41600000000005 for 692 416 mW. */
static void value(struct dynbuf *out, double v)
{
    if (v < 9e15 && v > -9e15 && fabs(v - (double)(int64_t)v) < 1e-12) {
        dynbuf_printf(out, " %lld\n", (long long)v);
    } else {
        dynbuf_printf(out, " %.15g\n", v);
    }
}

/* A series without labels: its header and its one sample. */
static void single(struct dynbuf *out, const char *name, const char *type, const char *help,
                   double v)
{
    header(out, name, type, help);
    dynbuf_adds(out, name);
    value(out, v);
}

/* One field's series (fields.def's metric column): dcgm-exporter's labels
 * on DCGM_* names, gpulse's own on gpulse_* ones. A lost GPU or an
 * unsupported field has no series, never 0; a field no GPU has, not even
 * its header. */
static void render_gpu_field(const struct gpu_snapshot *snap, enum gpu_field field,
                             const char *host, struct dynbuf *out)
{
    const struct gpu_field_info *fi = gpu_field_info(field);
    const struct gpu_field_metric *m = &fi->metric;
    bool dcgm = strncmp(m->name, "DCGM_", 5) == 0;
    bool any = false;
    for (size_t i = 0; i < snap->gpu_count; i++) {
        const struct gpu_reading *r = &snap->gpus[i];
        if (r->state != GPU_STATE_OK || !gpu_values_has(&r->values, field)) {
            continue;
        }
        if (!any) {
            header(out, m->name, fi->kind == GPU_KIND_COUNTER ? "counter" : "gauge", m->help);
            any = true;
        }
        dynbuf_printf(out, "%s{", m->name);
        if (dcgm) {
            gpu_labels(out, r, host, snap->system.driver_version);
        } else {
            own_gpu_labels(out, r);
        }
        dynbuf_adds(out, "}");
        value(out, (double)r->values.v[field] / m->divisor);
    }
}

/* gpulse's own per-GPU series, lost GPUs included: one value per GPU each,
 * or NAN when it is unknown (busy time never read, a process list the
 * driver refused or a GPU that did not answer): no sample then, never 0. */
static double gpu_state_value(const struct agent_live_frame *f, size_t series, size_t i)
{
    const struct gpu_reading *r = &f->snap.gpus[i];
    switch (series) {
    case 0:
        return r->state == GPU_STATE_LOST ? 1 : 0;
    case 1:
        return r->state == GPU_STATE_NOT_RESPONDING ? 1 : 0;
    case 2:
        return f->busy_seconds[i];
    case 3:
        return gpu_reading_processes_known(r) ? (double)r->process_count : (double)NAN;
    default:
        return gpu_reading_processes_known(r) ? 0 : 1;
    }
}

static void render_gpu_state(const struct agent_live_frame *f, struct dynbuf *out)
{
    static const struct {
        const char *name;
        const char *type;
        const char *help;
    } series[] = {
        { "gpulse_gpu_lost", "gauge",
          "1 when the GPU fell off the bus or errors on every read, else 0." },
        { "gpulse_gpu_not_responding", "gauge",
          "1 when the driver did not answer the last read of the GPU in time, else 0." },
        { "gpulse_gpu_busy_seconds_total", "counter",
          "Time the GPU ran at least one kernel, since the agent started; no sample while "
          "its utilization was never readable." },
        { "gpulse_gpu_processes", "gauge",
          "Processes using the GPU now; no sample while the list is unknown." },
        { "gpulse_gpu_processes_unknown", "gauge",
          "1 when the GPU's process list is unknown (the driver refuses it, or the GPU does "
          "not answer), else 0." },
    };
    for (size_t k = 0; k < GP_ARRAY_LEN(series); k++) {
        header(out, series[k].name, series[k].type, series[k].help);
        for (size_t i = 0; i < f->snap.gpu_count; i++) {
            if (isnan(gpu_state_value(f, k, i))) {
                continue;
            }
            dynbuf_printf(out, "%s{", series[k].name);
            own_gpu_labels(out, &f->snap.gpus[i]);
            dynbuf_adds(out, "}");
            value(out, gpu_state_value(f, k, i));
        }
    }
}

static void process_labels(struct dynbuf *out, const struct gpu_reading *r,
                           const struct gpu_process *p)
{
    const struct proc_info *pi = proc_info_or_none(p->proc);
    char container[160] = "";
    if (pi->found && proc_container_is_set(&pi->container)) {
        proc_container_label(&pi->container, container, sizeof(container));
    }
    dynbuf_printf(out, "{pid=\"%u\",user=\"", p->pid);
    add_label_value(out, pi->user);
    dynbuf_adds(out, "\",command=\"");
    add_label_value(out, pi->comm);
    dynbuf_adds(out, "\",container=\"");
    add_label_value(out, container);
    dynbuf_printf(out, "\",gpu=\"%u\",UUID=\"", r->id.index);
    add_label_value(out, r->id.uuid);
    dynbuf_adds(out, "\"}");
}

/* A per-process series: memory (bytes) or SM utilization (%), for the
 * processes that have it. */
static void render_process_series(const struct gpu_snapshot *snap, bool memory, struct dynbuf *out)
{
    const char *name = memory ? "gpulse_process_memory_bytes" : "gpulse_process_sm_utilization_pct";
    header(out, name, "gauge",
           memory ? "GPU memory used by a live process."
                  : "SM utilization of a live process (in %).");
    for (size_t i = 0; i < snap->gpu_count; i++) {
        const struct gpu_reading *r = &snap->gpus[i];
        for (size_t k = 0; gpu_reading_processes_known(r) && k < r->process_count; k++) {
            const struct gpu_process *p = &r->processes[k];
            if (memory ? !p->has_used_memory : !p->has_utilization) {
                continue;
            }
            dynbuf_adds(out, name);
            process_labels(out, r, p);
            value(out, memory ? (double)p->used_memory_bytes : p->sm_pct);
        }
    }
}

/* A user's processes now; memory and SM only from the processes the
 * driver gave them for (has_: any did), else no sample rather than 0. */
struct user_total {
    char user[64];
    uint64_t memory_bytes;
    uint64_t processes;
    double sm_pct;
    bool has_memory;
    bool has_sm;
};

static void render_users(const struct gpu_snapshot *snap, struct dynbuf *out)
{
    size_t cap = 0;
    for (size_t i = 0; i < snap->gpu_count; i++) {
        cap += snap->gpus[i].process_count;
    }
    struct user_total *users = xcalloc(cap ? cap : 1, sizeof(*users));
    size_t n = 0;
    for (size_t i = 0; i < snap->gpu_count; i++) {
        const struct gpu_reading *r = &snap->gpus[i];
        for (size_t k = 0; gpu_reading_processes_known(r) && k < r->process_count; k++) {
            const struct gpu_process *p = &r->processes[k];
            const char *name = proc_info_or_none(p->proc)->user;
            size_t u = 0;
            while (u < n && strcmp(users[u].user, name) != 0) {
                u++;
            }
            if (u == n) {
                snprintf(users[n++].user, sizeof(users[0].user), "%s", name);
            }
            users[u].processes++;
            users[u].memory_bytes += p->has_used_memory ? p->used_memory_bytes : 0;
            users[u].sm_pct += p->has_utilization ? p->sm_pct : 0;
            users[u].has_memory = users[u].has_memory || p->has_used_memory;
            users[u].has_sm = users[u].has_sm || p->has_utilization;
        }
    }
    static const struct {
        const char *name;
        const char *help;
    } series[] = {
        { "gpulse_user_processes", "GPU processes a user runs now, over all GPUs." },
        { "gpulse_user_memory_bytes", "GPU memory a user's processes use now, over all GPUs." },
        { "gpulse_user_sm_utilization_pct",
          "SM utilization of a user's processes now, summed over processes and GPUs (in %)." },
    };
    for (size_t s = 0; s < GP_ARRAY_LEN(series); s++) {
        header(out, series[s].name, "gauge", series[s].help);
        for (size_t u = 0; u < n; u++) {
            if ((s == 1 && !users[u].has_memory) || (s == 2 && !users[u].has_sm)) {
                continue;
            }
            dynbuf_printf(out, "%s{user=\"", series[s].name);
            add_label_value(out, users[u].user);
            dynbuf_adds(out, "\"}");
            double v = s == 0   ? (double)users[u].processes
                       : s == 1 ? (double)users[u].memory_bytes
                                : users[u].sm_pct;
            value(out, v);
        }
    }
    free(users);
}

/* The sample-duration histogram: cumulative buckets, then +Inf, sum, count. */
static void render_duration(const struct agent_live_counters *c, struct dynbuf *out)
{
    header(out, "gpulse_agent_sample_duration_seconds", "histogram",
           "How long one read of every GPU and its processes took.");
    for (size_t b = 0; b < AGENT_LIVE_DURATION_BUCKETS; b++) {
        dynbuf_printf(out, "gpulse_agent_sample_duration_seconds_bucket{le=\"%g\"}",
                      agent_live_duration_bounds_s[b]);
        value(out, (double)c->read_buckets[b]);
    }
    dynbuf_adds(out, "gpulse_agent_sample_duration_seconds_bucket{le=\"+Inf\"}");
    value(out, (double)c->ticks);
    dynbuf_adds(out, "gpulse_agent_sample_duration_seconds_sum");
    value(out, c->read_seconds_sum);
    dynbuf_adds(out, "gpulse_agent_sample_duration_seconds_count");
    value(out, (double)c->ticks);
}

/* gpulse_build_info; driver_version is "" before NVML is open. */
static void render_build_info(const char *driver_version, const struct http_metrics_extra *extra,
                              struct dynbuf *out)
{
    header(out, "gpulse_build_info", "gauge", "The gpulse version; always 1.");
    dynbuf_printf(out, "gpulse_build_info{version=\"%s\",driver_version=\"", GPULSE_VERSION);
    add_label_value(out, driver_version);
    dynbuf_adds(out, "\",hostname=\"");
    add_label_value(out, extra->host);
    dynbuf_adds(out, "\"} 1\n");
}

static void render_database_size(const struct http_metrics_extra *extra, struct dynbuf *out)
{
    if (extra->database_bytes >= 0) {
        single(out, "gpulse_database_size_bytes", "gauge",
               "Size of the database file and its write-ahead log.", (double)extra->database_bytes);
    }
}

static void render_agent(const struct agent_live_frame *f, const struct http_metrics_extra *extra,
                         struct dynbuf *out)
{
    const struct agent_live_counters *c = &f->counters;
    render_build_info(f->snap.system.driver_version, extra, out);
    single(out, "gpulse_agent_start_time_seconds", "gauge", "When the agent started (Unix time).",
           (double)f->agent_start_ms / 1000.0);
    single(out, "gpulse_agent_ticks_total", "counter", "Reads of every GPU done.",
           (double)c->ticks);
    single(out, "gpulse_agent_missed_ticks_total", "counter",
           "Sampling deadlines skipped because a read ran late.", (double)c->missed_ticks);
    single(out, "gpulse_agent_queue_dropped_total", "counter",
           "Samples dropped because the database could not keep up.", (double)c->queue_dropped);
    render_duration(c, out);
    single(out, "gpulse_agent_last_sample_timestamp_seconds", "gauge",
           "When the newest sample was taken (Unix time).", (double)f->snap.time_ms / 1000.0);
    render_database_size(extra, out);
}

/* What each NVML function has cost this process: calls and seconds. */
static void render_nvml_calls(struct dynbuf *out)
{
    struct gpu_call_count calls[GPU_CALLS_MAX];
    size_t n = gpu_calls_read(calls, GP_ARRAY_LEN(calls));
    header(out, "gpulse_nvml_calls_total", "counter",
           "Calls of an NVML function by this process since it started.");
    for (size_t i = 0; i < n; i++) {
        dynbuf_printf(out, "gpulse_nvml_calls_total{function=\"%s\"}", calls[i].function);
        value(out, (double)calls[i].calls);
    }
    header(out, "gpulse_nvml_call_seconds_total", "counter",
           "Time spent in an NVML function by this process since it started (wall time; "
           "on NVIDIA's driver, CPU time of the calling thread).");
    for (size_t i = 0; i < n; i++) {
        dynbuf_printf(out, "gpulse_nvml_call_seconds_total{function=\"%s\"}", calls[i].function);
        value(out, (double)calls[i].ns / 1e9);
    }
}

/* The standard process metrics, as the Prometheus client libraries name
 * them. */
static void render_process(struct dynbuf *out)
{
    struct selfstat st;
    if (selfstat_read(&st) == 0) {
        single(out, "process_cpu_seconds_total", "counter",
               "Total user and system CPU time spent in seconds.", st.cpu_seconds);
        single(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
               (double)st.resident_bytes);
        single(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
               (double)st.virtual_bytes);
        single(out, "process_start_time_seconds", "gauge",
               "Start time of the process since unix epoch in seconds.", st.start_time_s);
    }
    if (st.open_fds >= 0) {
        single(out, "process_open_fds", "gauge", "Number of open file descriptors.",
               (double)st.open_fds);
    }
    if (st.max_fds >= 0) {
        single(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
               (double)st.max_fds);
    }
}

int http_metrics_render(const struct agent_live_frame *f, const struct http_metrics_extra *extra,
                        struct dynbuf *out)
{
    if (!f) {
        /* Starting: no GPU is read yet, but the agent is there. */
        render_build_info("", extra, out);
        render_database_size(extra, out);
        render_nvml_calls(out);
        render_process(out);
        return dynbuf_error(out);
    }
    for (int field = 0; field < GPU_FIELD_COUNT; field++) {
        if (gpu_field_info((enum gpu_field)field)->metric.name) {
            render_gpu_field(&f->snap, (enum gpu_field)field, extra->host, out);
        }
    }
    render_gpu_state(f, out);
    render_process_series(&f->snap, true, out);
    render_process_series(&f->snap, false, out);
    render_users(&f->snap, out);
    render_agent(f, extra, out);
    render_nvml_calls(out);
    render_process(out);
    return dynbuf_error(out);
}
