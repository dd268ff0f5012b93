#include "http/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/fields.h"
#include "proc/cgroup.h"
#include "util/text.h"
#include "util/xalloc.h"

/* A per-GPU field and the series it becomes. */
struct gpu_series {
    enum gpu_field field;
    const char *name;
    const char *type;
    const char *help;
    double divisor; /* from the field's unit to the series' */
};

/* dcgm-exporter's names and units where it has one (etc/default-counters.csv,
 * DCGM's field list), gpulse_gpu_* for what NVML gives and DCGM names
 * differently or not at all. */
static const struct gpu_series gpu_series[] = {
    { GPU_FIELD_UTIL_GPU_PCT, "DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).", 1 },
    { GPU_FIELD_UTIL_MEM_PCT, "DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %).",
      1 },
    { GPU_FIELD_UTIL_ENC_PCT, "DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %).", 1 },
    { GPU_FIELD_UTIL_DEC_PCT, "DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %).", 1 },
    { GPU_FIELD_MEM_TOTAL_BYTES, "DCGM_FI_DEV_FB_TOTAL", "gauge",
      "Framebuffer memory total (in MiB).", 1048576 },
    { GPU_FIELD_MEM_USED_BYTES, "DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).",
      1048576 },
    { GPU_FIELD_MEM_FREE_BYTES, "DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB).",
      1048576 },
    { GPU_FIELD_MEM_RESERVED_BYTES, "DCGM_FI_DEV_FB_RESERVED", "gauge",
      "Framebuffer memory reserved (in MiB).", 1048576 },
    { GPU_FIELD_TEMP_C, "DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C).", 1 },
    { GPU_FIELD_FAN_PCT, "DCGM_FI_DEV_FAN_SPEED", "gauge", "Fan speed (in %).", 1 },
    { GPU_FIELD_POWER_MW, "DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).", 1000 },
    { GPU_FIELD_POWER_LIMIT_MW, "DCGM_FI_DEV_POWER_MGMT_LIMIT", "gauge",
      "Power management limit (in W).", 1000 },
    { GPU_FIELD_ENERGY_MJ, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter",
      "Total energy consumption since the driver was loaded (in mJ).", 1 },
    { GPU_FIELD_CLOCK_SM_MHZ, "DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz).", 1 },
    { GPU_FIELD_CLOCK_MEM_MHZ, "DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz).",
      1 },
    { GPU_FIELD_CLOCK_GRAPHICS_MHZ, "gpulse_gpu_graphics_clock_mhz", "gauge",
      "Graphics clock frequency (in MHz).", 1 },
    { GPU_FIELD_CLOCK_SM_MAX_MHZ, "DCGM_FI_DEV_MAX_SM_CLOCK", "gauge",
      "Maximum SM clock frequency (in MHz).", 1 },
    { GPU_FIELD_CLOCK_MEM_MAX_MHZ, "DCGM_FI_DEV_MAX_MEM_CLOCK", "gauge",
      "Maximum memory clock frequency (in MHz).", 1 },
    { GPU_FIELD_CLOCK_GRAPHICS_MAX_MHZ, "gpulse_gpu_graphics_clock_max_mhz", "gauge",
      "Maximum graphics clock frequency (in MHz).", 1 },
    { GPU_FIELD_PSTATE, "DCGM_FI_DEV_PSTATE", "gauge", "Performance state (0 fastest, 15 slowest).",
      1 },
    { GPU_FIELD_CLOCK_REASONS, "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "gauge",
      "Clock throttle reasons (NVML bitmask).", 1 },
    { GPU_FIELD_PCIE_TX_KBPS, "DCGM_FI_DEV_PCIE_TX_THROUGHPUT", "gauge",
      "PCIe transmit throughput (in KB/s).", 1 },
    { GPU_FIELD_PCIE_RX_KBPS, "DCGM_FI_DEV_PCIE_RX_THROUGHPUT", "gauge",
      "PCIe receive throughput (in KB/s).", 1 },
    { GPU_FIELD_ECC_ENABLED, "gpulse_gpu_ecc_enabled", "gauge", "ECC mode (1 on, 0 off).", 1 },
    { GPU_FIELD_ECC_CORRECTED_VOLATILE, "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "counter",
      "Single-bit volatile ECC errors.", 1 },
    { GPU_FIELD_ECC_UNCORRECTED_VOLATILE, "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "counter",
      "Double-bit volatile ECC errors.", 1 },
    { GPU_FIELD_ECC_CORRECTED_AGGREGATE, "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL", "counter",
      "Single-bit persistent ECC errors.", 1 },
    { GPU_FIELD_ECC_UNCORRECTED_AGGREGATE, "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL", "counter",
      "Double-bit persistent ECC errors.", 1 },
    { GPU_FIELD_REMAPPED_ROWS_CORRECTABLE, "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter",
      "Number of remapped rows for correctable errors.", 1 },
    { GPU_FIELD_REMAPPED_ROWS_UNCORRECTABLE, "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter",
      "Number of remapped rows for uncorrectable errors.", 1 },
    { GPU_FIELD_REMAPPED_ROWS_PENDING, "DCGM_FI_DEV_ROW_REMAP_PENDING", "gauge",
      "Whether a row remap is pending (a reset is needed).", 1 },
    { GPU_FIELD_REMAPPED_ROWS_FAILURE, "DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge",
      "Whether remapping of rows has failed.", 1 },
};

/* Appends a label value: valid UTF-8, with \, " and newline escaped. */
static int add_label_value(struct dynbuf *out, const char *value)
{
    char clean[3 * 1024 + 1];
    text_sanitize(clean, sizeof(clean), value ? value : "", true);
    int rc = 0;
    for (const char *p = clean; rc == 0 && *p; p++) {
        switch (*p) {
        case '\\':
            rc = dynbuf_add(out, "\\\\", 2);
            break;
        case '"':
            rc = dynbuf_add(out, "\\\"", 2);
            break;
        case '\n':
            rc = dynbuf_add(out, "\\n", 2);
            break;
        default:
            rc = dynbuf_add(out, p, 1);
            break;
        }
    }
    return rc;
}

/* The labels of gpulse's own per-GPU series: dcgm-exporter's identifying
 * ones, without its camelCase modelName and the per-series copies of host
 * and driver (the instance and gpulse_build_info say those). */
static int own_gpu_labels(struct dynbuf *out, const struct gpu_reading *r)
{
    int rc = dynbuf_printf(out, "gpu=\"%u\",UUID=\"", r->id.index);
    rc = rc ? rc : add_label_value(out, r->id.uuid);
    rc = rc ? rc : dynbuf_adds(out, "\",pci_bus_id=\"");
    rc = rc ? rc : add_label_value(out, r->id.pci_bus_id);
    return rc ? rc
              : dynbuf_printf(out, "\",device=\"nvidia%u\"",
                              r->id.has_minor ? r->id.minor : r->id.index);
}

/* The labels every dcgm-exporter series carries, without the braces. */
static int gpu_labels(struct dynbuf *out, const struct gpu_reading *r, const char *host,
                      const char *driver)
{
    int rc = dynbuf_printf(out, "gpu=\"%u\",UUID=\"", r->id.index);
    rc = rc ? rc : add_label_value(out, r->id.uuid);
    rc = rc ? rc : dynbuf_adds(out, "\",pci_bus_id=\"");
    rc = rc ? rc : add_label_value(out, r->id.pci_bus_id);
    rc = rc ? rc
            : dynbuf_printf(out, "\",device=\"nvidia%u\",modelName=\"",
                            r->id.has_minor ? r->id.minor : r->id.index);
    rc = rc ? rc : add_label_value(out, r->id.name);
    rc = rc ? rc : dynbuf_adds(out, "\",Hostname=\"");
    rc = rc ? rc : add_label_value(out, host);
    rc = rc ? rc : dynbuf_adds(out, "\",DCGM_FI_DRIVER_VERSION=\"");
    rc = rc ? rc : add_label_value(out, driver);
    return rc ? rc : dynbuf_adds(out, "\"");
}

static int header(struct dynbuf *out, const char *name, const char *type, const char *help)
{
    return dynbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int value(struct dynbuf *out, double v)
{
    if (v < 9e15 && v > -9e15 && fabs(v - (double)(int64_t)v) < 1e-12) {
        return dynbuf_printf(out, " %lld\n", (long long)v);
    }
    return dynbuf_printf(out, " %.17g\n", v);
}

static int render_gpu_fields(const struct agent_live_frame *f, const char *host, struct dynbuf *out)
{
    const struct gpu_snapshot *snap = &f->snap;
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < GP_ARRAY_LEN(gpu_series); k++) {
        const struct gpu_series *gs = &gpu_series[k];
        bool any = false;
        for (size_t i = 0; rc == 0 && i < snap->gpu_count; i++) {
            const struct gpu_reading *r = &snap->gpus[i];
            /* A lost GPU or an unsupported field has no series, never 0. */
            if (r->state != GPU_STATE_OK || !gpu_values_has(&r->values, gs->field)) {
                continue;
            }
            if (!any) {
                rc = header(out, gs->name, gs->type, gs->help);
                any = true;
            }
            rc = rc ? rc : dynbuf_printf(out, "%s{", gs->name);
            rc = rc ? rc
                 : strncmp(gs->name, "DCGM_", 5) == 0
                     ? gpu_labels(out, r, host, snap->system.driver_version)
                     : own_gpu_labels(out, r);
            rc = rc ? rc : dynbuf_adds(out, "}");
            rc = rc ? rc : value(out, (double)r->values.v[gs->field] / gs->divisor);
        }
    }
    return rc;
}

/* Series with one value per GPU, lost ones included. */
/* gpulse's own per-GPU series, lost GPUs included: one value per GPU each. */
static double gpu_state_value(const struct agent_live_frame *f, size_t series, size_t i)
{
    const struct gpu_reading *r = &f->snap.gpus[i];
    switch (series) {
    case 0:
        return r->state == GPU_STATE_LOST ? 1 : 0;
    case 1:
        return f->busy_seconds[i];
    default:
        return (double)r->process_count;
    }
}

static int render_gpu_state(const struct agent_live_frame *f, struct dynbuf *out)
{
    static const struct {
        const char *name;
        const char *type;
        const char *help;
    } series[] = {
        { "gpulse_gpu_lost", "gauge",
          "1 when the GPU fell off the bus or errors on every read, else 0." },
        { "gpulse_gpu_busy_seconds_total", "counter",
          "Time the GPU ran at least one kernel, since the agent started." },
        { "gpulse_gpu_processes", "gauge", "Processes using the GPU now." },
    };
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < GP_ARRAY_LEN(series); k++) {
        rc = header(out, series[k].name, series[k].type, series[k].help);
        for (size_t i = 0; rc == 0 && i < f->snap.gpu_count; i++) {
            rc = dynbuf_printf(out, "%s{", series[k].name);
            rc = rc ? rc : own_gpu_labels(out, &f->snap.gpus[i]);
            rc = rc ? rc : dynbuf_adds(out, "}");
            rc = rc ? rc : value(out, gpu_state_value(f, k, i));
        }
    }
    return rc;
}

static int process_labels(struct dynbuf *out, const struct gpu_reading *r,
                          const struct gpu_process *p)
{
    const char *user = p->proc.found ? p->proc.user : "";
    const char *command = p->proc.found ? p->proc.comm : "";
    int rc = dynbuf_printf(out, "{pid=\"%u\",user=\"", p->pid);
    rc = rc ? rc : add_label_value(out, user);
    rc = rc ? rc : dynbuf_adds(out, "\",command=\"");
    rc = rc ? rc : add_label_value(out, command);
    rc = rc ? rc : dynbuf_adds(out, "\",container=\"");
    char container[160] = "";
    if (p->proc.found && proc_container_is_set(&p->proc.container)) {
        proc_container_label(&p->proc.container, container, sizeof(container));
    }
    rc = rc ? rc : add_label_value(out, container);
    rc = rc ? rc : dynbuf_printf(out, "\",gpu=\"%u\",UUID=\"", r->id.index);
    rc = rc ? rc : add_label_value(out, r->id.uuid);
    return rc ? rc : dynbuf_adds(out, "\"}");
}

/* Live processes only: an exited one leaves the exposition, so the number
 * of series follows what runs now, not everything that ever ran. */
static int render_processes(const struct gpu_snapshot *snap, struct dynbuf *out)
{
    int rc =
        header(out, "gpulse_process_memory_bytes", "gauge", "GPU memory used by a live process.");
    for (size_t i = 0; rc == 0 && i < snap->gpu_count; i++) {
        const struct gpu_reading *r = &snap->gpus[i];
        for (size_t k = 0; rc == 0 && k < r->process_count; k++) {
            const struct gpu_process *p = &r->processes[k];
            if (!p->has_used_memory) {
                continue;
            }
            rc = dynbuf_adds(out, "gpulse_process_memory_bytes");
            rc = rc ? rc : process_labels(out, r, p);
            rc = rc ? rc : value(out, (double)p->used_memory_bytes);
        }
    }
    rc = rc ? rc
            : header(out, "gpulse_process_sm_utilization_pct", "gauge",
                     "SM utilization of a live process (in %).");
    for (size_t i = 0; rc == 0 && i < snap->gpu_count; i++) {
        const struct gpu_reading *r = &snap->gpus[i];
        for (size_t k = 0; rc == 0 && k < r->process_count; k++) {
            const struct gpu_process *p = &r->processes[k];
            if (!p->has_utilization) {
                continue;
            }
            rc = dynbuf_adds(out, "gpulse_process_sm_utilization_pct");
            rc = rc ? rc : process_labels(out, r, p);
            rc = rc ? rc : value(out, p->sm_pct);
        }
    }
    return rc;
}

struct user_total {
    char user[64];
    uint64_t memory_bytes;
    uint64_t processes;
    double sm_pct;
};

static int render_users(const struct gpu_snapshot *snap, struct dynbuf *out)
{
    size_t cap = 0;
    for (size_t i = 0; i < snap->gpu_count; i++) {
        cap += snap->gpus[i].process_count;
    }
    struct user_total *users = xcalloc(cap ? cap : 1, sizeof(*users));
    size_t n = 0;
    for (size_t i = 0; i < snap->gpu_count; i++) {
        const struct gpu_reading *r = &snap->gpus[i];
        for (size_t k = 0; k < r->process_count; k++) {
            const struct gpu_process *p = &r->processes[k];
            const char *name = p->proc.found ? p->proc.user : "";
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
    int rc = 0;
    for (size_t s = 0; rc == 0 && s < GP_ARRAY_LEN(series); s++) {
        rc = header(out, series[s].name, "gauge", series[s].help);
        for (size_t u = 0; rc == 0 && u < n; u++) {
            rc = dynbuf_printf(out, "%s{user=\"", series[s].name);
            rc = rc ? rc : add_label_value(out, users[u].user);
            rc = rc ? rc : dynbuf_adds(out, "\"}");
            double v = s == 0   ? (double)users[u].processes
                       : s == 1 ? (double)users[u].memory_bytes
                                : users[u].sm_pct;
            rc = rc ? rc : value(out, v);
        }
    }
    free(users);
    return rc;
}

static int render_agent(const struct agent_live_frame *f, const struct http_metrics_extra *extra,
                        struct dynbuf *out)
{
    const struct agent_live_counters *c = &f->counters;
    int rc = header(out, "gpulse_build_info", "gauge", "The gpulse version; always 1.");
    rc = rc ? rc
            : dynbuf_printf(out, "gpulse_build_info{version=\"%s\",driver_version=\"",
                            GPULSE_VERSION);
    rc = rc ? rc : add_label_value(out, f->snap.system.driver_version);
    rc = rc ? rc : dynbuf_adds(out, "\",hostname=\"");
    rc = rc ? rc : add_label_value(out, extra->host);
    rc = rc ? rc : dynbuf_adds(out, "\"} 1\n");
    rc = rc ? rc
            : header(out, "gpulse_agent_start_time_seconds", "gauge",
                     "When the agent started (Unix time).");
    rc = rc ? rc : dynbuf_adds(out, "gpulse_agent_start_time_seconds");
    rc = rc ? rc : value(out, (double)f->agent_start_ms / 1000.0);
    rc = rc ? rc : header(out, "gpulse_agent_ticks_total", "counter", "Reads of every GPU done.");
    rc = rc ? rc : dynbuf_adds(out, "gpulse_agent_ticks_total");
    rc = rc ? rc : value(out, (double)c->ticks);
    rc = rc ? rc
            : header(out, "gpulse_agent_missed_ticks_total", "counter",
                     "Sampling deadlines skipped because a read ran late.");
    rc = rc ? rc : dynbuf_adds(out, "gpulse_agent_missed_ticks_total");
    rc = rc ? rc : value(out, (double)c->missed_ticks);
    rc = rc ? rc
            : header(out, "gpulse_agent_queue_dropped_total", "counter",
                     "Samples dropped because the database could not keep up.");
    rc = rc ? rc : dynbuf_adds(out, "gpulse_agent_queue_dropped_total");
    rc = rc ? rc : value(out, (double)c->queue_dropped);
    rc = rc ? rc
            : header(out, "gpulse_agent_sample_duration_seconds", "histogram",
                     "How long one read of every GPU and its processes took.");
    for (size_t b = 0; rc == 0 && b < AGENT_LIVE_DURATION_BUCKETS; b++) {
        rc = dynbuf_printf(out, "gpulse_agent_sample_duration_seconds_bucket{le=\"%g\"}",
                           agent_live_duration_bounds_s[b]);
        rc = rc ? rc : value(out, (double)c->read_buckets[b]);
    }
    rc = rc ? rc : dynbuf_adds(out, "gpulse_agent_sample_duration_seconds_bucket{le=\"+Inf\"}");
    rc = rc ? rc : value(out, (double)c->ticks);
    rc = rc ? rc : dynbuf_adds(out, "gpulse_agent_sample_duration_seconds_sum");
    rc = rc ? rc : value(out, c->read_seconds_sum);
    rc = rc ? rc : dynbuf_adds(out, "gpulse_agent_sample_duration_seconds_count");
    rc = rc ? rc : value(out, (double)c->ticks);
    rc = rc ? rc
            : header(out, "gpulse_agent_last_sample_timestamp_seconds", "gauge",
                     "When the newest sample was taken (Unix time).");
    rc = rc ? rc : dynbuf_adds(out, "gpulse_agent_last_sample_timestamp_seconds");
    rc = rc ? rc : value(out, (double)f->snap.time_ms / 1000.0);
    if (extra->database_bytes >= 0) {
        rc = rc ? rc
                : header(out, "gpulse_database_size_bytes", "gauge",
                         "Size of the database file and its write-ahead log.");
        rc = rc ? rc : dynbuf_adds(out, "gpulse_database_size_bytes");
        rc = rc ? rc : value(out, (double)extra->database_bytes);
    }
    return rc;
}

int http_metrics_render(const struct agent_live_frame *f, const struct http_metrics_extra *extra,
                        struct dynbuf *out)
{
    int rc = render_gpu_fields(f, extra->host, out);
    rc = rc ? rc : render_gpu_state(f, out);
    rc = rc ? rc : render_processes(&f->snap, out);
    rc = rc ? rc : render_users(&f->snap, out);
    return rc ? rc : render_agent(f, extra, out);
}
