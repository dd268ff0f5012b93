#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "report/now.h"
#include "util/text.h"

static void csv_int(FILE *out, bool present, int64_t v)
{
    fputc(',', out);
    if (present) {
        fprintf(out, "%" PRId64, v);
    }
}

static void gpu_header(FILE *out)
{
    fputs("time,index,uuid,name,pci_bus_id,state,busy_pct,busy_source", out);
    for (int f = 0; f < GPU_FIELD_COUNT; f++) {
        fprintf(out, ",%s", gpu_field_info((enum gpu_field)f)->key);
    }
    fputs(",process_count,processes_error\r\n", out);
}

static void gpu_rows(FILE *out, const struct gpu_snapshot *snap, const char *time)
{
    for (size_t i = 0; i < snap->gpu_count; i++) {
        const struct gpu_reading *r = &snap->gpus[i];
        report_csv_field(out, time, true);
        fprintf(out, ",%u", r->id.index);
        report_csv_field(out, r->id.uuid, false);
        report_csv_field(out, r->id.name, false);
        report_csv_field(out, r->id.pci_bus_id, false);
        report_csv_field(out, gpu_state_name(r->state), false);
        double pct = 0;
        fputc(',', out);
        if (gpu_busy_pct(&r->busy, &pct)) {
            fprintf(out, "%.1f", pct);
        }
        report_csv_field(out, gpu_busy_source_name(r->busy.source), false);
        for (int f = 0; f < GPU_FIELD_COUNT; f++) {
            csv_int(out, gpu_values_has(&r->values, (enum gpu_field)f), r->values.v[f]);
        }
        /* An unknown list: no count (not 0) and why. */
        const char *why = gpu_reading_processes_why(r);
        csv_int(out, why == NULL, (int64_t)r->process_count);
        report_csv_field(out, why ? why : "", false);
        fputs("\r\n", out);
    }
}

static void process_header(FILE *out)
{
    fputs("time,gpu_index,gpu_uuid,pid,type,user,uid,command,container,used_memory_bytes,"
          "sm_pct,memory_pct,encoder_pct,decoder_pct,start_time,cmdline\r\n",
          out);
}

static void process_rows(FILE *out, const struct gpu_snapshot *snap, const char *time)
{
    for (size_t i = 0; i < snap->gpu_count; i++) {
        const struct gpu_reading *r = &snap->gpus[i];
        for (size_t k = 0; gpu_reading_processes_known(r) && k < r->process_count; k++) {
            const struct gpu_process *p = &r->processes[k];
            const struct proc_info *pi = proc_info_or_none(p->proc);
            char label[96];
            proc_container_label(&pi->container, label, sizeof(label));
            char start[40] = "";
            if (pi->start_time_ms > 0) {
                report_format_time_ms(pi->start_time_ms, start, sizeof(start));
            }
            report_csv_field(out, time, true);
            fprintf(out, ",%u", r->id.index);
            report_csv_field(out, r->id.uuid, false);
            fprintf(out, ",%u", p->pid);
            report_csv_field(out, report_process_type(p->type_mask), false);
            report_csv_field(out, pi->has_uid ? pi->user : "", false);
            csv_int(out, pi->has_uid, pi->uid);
            report_csv_field(out, pi->comm, false);
            report_csv_field(out, label, false);
            csv_int(out, p->has_used_memory, (int64_t)p->used_memory_bytes);
            csv_int(out, p->has_utilization, p->sm_pct);
            csv_int(out, p->has_utilization, p->memory_pct);
            csv_int(out, p->has_utilization, p->encoder_pct);
            csv_int(out, p->has_utilization, p->decoder_pct);
            report_csv_field(out, start, false);
            report_csv_field(out, pi->cmdline, false);
            fputs("\r\n", out);
        }
    }
}

void report_now_csv(FILE *out, const struct gpu_snapshot *snap, const struct report_now_opts *opts)
{
    char time[40];
    report_format_time_ms(snap->time_ms, time, sizeof(time));
    if (opts->csv_processes) {
        if (opts->csv_header) {
            process_header(out);
        }
        process_rows(out, snap, time);
    } else {
        if (opts->csv_header) {
            gpu_header(out);
        }
        gpu_rows(out, snap, time);
    }
}
