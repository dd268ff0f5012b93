#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/now.h"
#include "util/text.h"
#include "util/xalloc.h"

#define JSON_SCHEMA "gpulse.now.v1"

static json_t *process_json(const struct gpu_process *p)
{
    json_t *o = json_object();
    const struct proc_info *pi = proc_info_or_none(p->proc);
    json_object_set_new(o, "pid", json_integer(p->pid));
    json_object_set_new(o, "type", json_string(report_process_type(p->type_mask)));
    json_object_set_new(o, "used_memory_bytes",
                        p->has_used_memory ? json_integer((json_int_t)p->used_memory_bytes)
                                           : json_null());
    json_object_set_new(o, "sm_pct", p->has_utilization ? json_integer(p->sm_pct) : json_null());
    json_object_set_new(o, "memory_pct",
                        p->has_utilization ? json_integer(p->memory_pct) : json_null());
    json_object_set_new(o, "encoder_pct",
                        p->has_utilization ? json_integer(p->encoder_pct) : json_null());
    json_object_set_new(o, "decoder_pct",
                        p->has_utilization ? json_integer(p->decoder_pct) : json_null());
    json_object_set_new(o, "user", pi->has_uid ? report_json_text(pi->user) : json_null());
    json_object_set_new(o, "uid", pi->has_uid ? json_integer(pi->uid) : json_null());
    json_object_set_new(o, "command", report_json_text(pi->comm));
    json_object_set_new(o, "cmdline", report_json_text(pi->cmdline));
    json_object_set_new(o, "start_time", report_json_time(pi->start_time_ms));
    json_object_set_new(o, "start_time_ms",
                        pi->start_time_ms > 0 ? json_integer(pi->start_time_ms) : json_null());
    if (proc_container_is_set(&pi->container)) {
        const struct proc_container *c = &pi->container;
        char label[96];
        proc_container_label(c, label, sizeof(label));
        json_object_set_new(
            o, "container",
            json_pack("{s:o, s:o, s:o, s:o, s:o}", "runtime", report_json_text(c->runtime), "id",
                      report_json_text(c->id), "pod_uid", report_json_text(c->pod_uid), "slurm_job",
                      report_json_text(c->slurm_job), "label", report_json_text(label)));
    } else {
        json_object_set_new(o, "container", json_null());
    }
    return o;
}

/* Every bit set, by name; a bit gpulse has no name for as "unknown_0x..."
 * (the raw mask is clock_event_reasons). */
static json_t *reasons_json(const struct gpu_values *v)
{
    if (!gpu_values_has(v, GPU_FIELD_CLOCK_REASONS)) {
        return json_null();
    }
    json_t *a = json_array();
    uint64_t mask = (uint64_t)v->v[GPU_FIELD_CLOCK_REASONS];
    for (unsigned b = 0; b < 64; b++) {
        if (mask & (UINT64_C(1) << b)) {
            char buf[GPU_CLOCK_REASON_NAME_MAX];
            json_array_append_new(
                a, json_string(gpu_clock_reason_name(UINT64_C(1) << b, buf, sizeof(buf))));
        }
    }
    return a;
}

static json_t *gpu_json(const struct gpu_reading *r)
{
    json_t *o = json_object();
    const struct gpu_identity *id = &r->id;
    json_object_set_new(o, "index", json_integer(id->index));
    json_object_set_new(o, "uuid", report_json_text(id->uuid));
    json_object_set_new(o, "name", report_json_text(id->name));
    json_object_set_new(o, "serial", report_json_text(id->serial));
    json_object_set_new(o, "pci_bus_id", report_json_text(id->pci_bus_id));
    if (id->has_pci_device_id) {
        char hex[16];
        snprintf(hex, sizeof(hex), "0x%08X", id->pci_device_id);
        json_object_set_new(o, "pci_device_id", json_string(hex));
    } else {
        json_object_set_new(o, "pci_device_id", json_null());
    }
    json_object_set_new(o, "minor_number", id->has_minor ? json_integer(id->minor) : json_null());
    json_object_set_new(o, "mig_enabled",
                        id->has_mig_mode ? json_boolean(id->mig_enabled) : json_null());
    json_object_set_new(o, "state", json_string(gpu_state_name(r->state)));
    json_object_set_new(o, "error", report_json_text(r->error));

    double pct = 0;
    bool has_pct = gpu_busy_pct(&r->busy, &pct);
    json_object_set_new(o, "busy_pct",
                        has_pct ? report_json_real(pct, REPORT_DECIMALS_PCT) : json_null());
    json_object_set_new(o, "busy_source", json_string(gpu_busy_source_name(r->busy.source)));
    bool has_busy = r->busy.source != GPU_BUSY_NONE;
    json_object_set_new(o, "busy_us",
                        has_busy ? json_integer((json_int_t)r->busy.busy_us) : json_null());
    json_object_set_new(o, "busy_window_us",
                        has_busy ? json_integer((json_int_t)r->busy.window_us) : json_null());

    for (int f = 0; f < GPU_FIELD_COUNT; f++) {
        json_object_set_new(o, gpu_field_info((enum gpu_field)f)->key,
                            gpu_values_has(&r->values, (enum gpu_field)f)
                                ? json_integer(r->values.v[f])
                                : json_null());
    }
    json_object_set_new(o, "clock_event_reasons_active", reasons_json(&r->values));

    /* A list the driver refused, or a GPU that did not answer: null and
     * why, never [] (which says the GPU has no processes). */
    const char *why = gpu_reading_processes_why(r);
    json_t *procs = why ? json_null() : json_array();
    for (size_t i = 0; !why && i < r->process_count; i++) {
        json_array_append_new(procs, process_json(&r->processes[i]));
    }
    json_object_set_new(o, "processes", procs);
    json_object_set_new(o, "processes_error", why ? report_json_text(why) : json_null());
    return o;
}

json_t *report_now_json(const struct gpu_snapshot *snap, const struct report_now_opts *opts)
{
    const struct gpu_system *sys = &snap->system;
    json_t *root = json_object();
    json_object_set_new(root, "schema", json_string(JSON_SCHEMA));
    json_object_set_new(root, "time", report_json_time(snap->time_ms));
    json_object_set_new(root, "time_ms", json_integer(snap->time_ms));
    json_object_set_new(root, "host", report_json_text(opts->host));
    json_object_set_new(root, "read_duration_us", json_integer((json_int_t)snap->read_duration_us));
    json_object_set_new(root, "driver_version", report_json_text(sys->driver_version));
    json_object_set_new(root, "nvml_version", report_json_text(sys->nvml_version));
    char cuda[32];
    gpu_cuda_version_format(sys, cuda, sizeof(cuda));
    json_object_set_new(root, "cuda_version", report_json_text(cuda));
    json_object_set_new(root, "agent_start", report_json_time(opts->agent_start_ms));
    json_object_set_new(root, "interval_s",
                        opts->interval_ms > 0 ? report_json_real((double)opts->interval_ms / 1000.0,
                                                                 REPORT_DECIMALS_SECONDS)
                                              : json_null());
    json_t *gpus = json_array();
    for (size_t i = 0; i < snap->gpu_count; i++) {
        json_array_append_new(gpus, gpu_json(&snap->gpus[i]));
    }
    json_object_set_new(root, "gpus", gpus);
    return root;
}

int report_now_write_json(FILE *out, const struct gpu_snapshot *snap,
                          const struct report_now_opts *opts)
{
    return report_json_write(out, report_now_json(snap, opts));
}
