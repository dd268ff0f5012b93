#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/render.h"
#include "util/text.h"

void cli_csv_field(FILE *out, const char *raw, bool first)
{
    if (!first) {
        fputc(',', out);
    }
    char s[4096];
    text_sanitize(s, sizeof(s), raw, false);
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (const char *p = s; *p; p++) {
        if (*p == '"') {
            fputc('"', out);
        }
        fputc(*p, out);
    }
    fputc('"', out);
}

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
    fputs(",process_count\r\n", out);
}

static void gpu_rows(FILE *out, const struct gpu_snapshot *snap, const char *time)
{
    for (size_t i = 0; i < snap->gpu_count; i++) {
        const struct gpu_reading *r = &snap->gpus[i];
        cli_csv_field(out, time, true);
        fprintf(out, ",%u", r->id.index);
        cli_csv_field(out, r->id.uuid, false);
        cli_csv_field(out, r->id.name, false);
        cli_csv_field(out, r->id.pci_bus_id, false);
        cli_csv_field(out, r->state == GPU_STATE_LOST ? "lost" : "ok", false);
        double pct = 0;
        fputc(',', out);
        if (gpu_busy_pct(&r->busy, &pct)) {
            fprintf(out, "%.1f", pct);
        }
        cli_csv_field(out, gpu_busy_source_name(r->busy.source), false);
        for (int f = 0; f < GPU_FIELD_COUNT; f++) {
            csv_int(out, gpu_values_has(&r->values, (enum gpu_field)f), r->values.v[f]);
        }
        fprintf(out, ",%zu\r\n", r->process_count);
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
        for (size_t k = 0; k < r->process_count; k++) {
            const struct gpu_process *p = &r->processes[k];
            const struct proc_info *pi = &p->proc;
            char label[96];
            proc_container_label(&pi->container, label, sizeof(label));
            char start[40] = "";
            if (pi->start_time_ms > 0) {
                cli_format_time_ms(pi->start_time_ms, start, sizeof(start));
            }
            cli_csv_field(out, time, true);
            fprintf(out, ",%u", r->id.index);
            cli_csv_field(out, r->id.uuid, false);
            fprintf(out, ",%u", p->pid);
            cli_csv_field(out, cli_process_type(p->type_mask), false);
            cli_csv_field(out, pi->has_uid ? pi->user : "", false);
            csv_int(out, pi->has_uid, pi->uid);
            cli_csv_field(out, pi->comm, false);
            cli_csv_field(out, label, false);
            csv_int(out, p->has_used_memory, (int64_t)p->used_memory_bytes);
            csv_int(out, p->has_utilization, p->sm_pct);
            csv_int(out, p->has_utilization, p->memory_pct);
            csv_int(out, p->has_utilization, p->encoder_pct);
            csv_int(out, p->has_utilization, p->decoder_pct);
            cli_csv_field(out, start, false);
            cli_csv_field(out, pi->cmdline, false);
            fputs("\r\n", out);
        }
    }
}

void cli_render_csv(FILE *out, const struct gpu_snapshot *snap, const struct cli_render_opts *opts)
{
    char time[40];
    cli_format_time_ms(snap->time_ms, time, sizeof(time));
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
