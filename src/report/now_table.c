#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report/now.h"
#include "util/text.h"

#define C_RESET  "\033[0m"
#define C_BOLD   "\033[1m"
#define C_RED    "\033[31m"
#define C_GREEN  "\033[32m"
#define C_YELLOW "\033[33m"
#define C_CYAN   "\033[36m"
#define C_DIM    "\033[2m"

/* Colour thresholds, chosen so that a healthy busy GPU reads green and a
 * hot or full one stands out (temperatures: REPORT_TEMP_*_C, shared with
 * the dashboard). */
#define BUSY_HIGH_PCT     80.0
#define MEM_FULL_FRACTION 0.9

struct painter {
    FILE *out;
    bool color;
};

static void paint(const struct painter *p, const char *color, const char *text)
{
    if (p->color && color) {
        fprintf(p->out, "%s%s%s", color, text, C_RESET);
    } else {
        fputs(text, p->out);
    }
}

static bool has(const struct gpu_reading *r, enum gpu_field f)
{
    return gpu_values_has(&r->values, f);
}

static int64_t val(const struct gpu_reading *r, enum gpu_field f)
{
    return r->values.v[f];
}

static void header(const struct painter *p, const struct gpu_snapshot *snap,
                   const struct report_now_opts *opts)
{
    time_t secs = (time_t)(snap->time_ms / 1000);
    struct tm tm = { 0 };
    localtime_r(&secs, &tm);
    char when[64];
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", &tm);
    const struct gpu_system *s = &snap->system;
    paint(p, C_BOLD, opts->host && *opts->host ? opts->host : "localhost");
    fprintf(p->out, "  %s  driver %s", when, s->driver_version[0] ? s->driver_version : "N/A");
    char cuda[32];
    gpu_cuda_version_format(s, cuda, sizeof(cuda));
    fprintf(p->out, "  CUDA %s", cuda[0] ? cuda : "N/A");
    fprintf(p->out, "  %zu GPU%s\n", snap->gpu_count, snap->gpu_count == 1 ? "" : "s");
}

static void gpu_line(const struct painter *p, const struct gpu_reading *r, int name_width)
{
    char buf[256];
    fprintf(p->out, "[%u] ", r->id.index);
    char name[128];
    text_sanitize(name, sizeof(name), r->id.name[0] ? r->id.name : "(unknown)", true);
    snprintf(buf, sizeof(buf), "%-*.*s", name_width, name_width, name);
    paint(p, C_CYAN, buf);
    if (r->state != GPU_STATE_OK) {
        fputs(" | ", p->out);
        char why[sizeof(r->error)];
        snprintf(buf, sizeof(buf), "%s: %s", r->state == GPU_STATE_LOST ? "LOST" : "NOT RESPONDING",
                 text_sanitize(why, sizeof(why), r->error, true));
        paint(p, C_BOLD C_RED, buf);
        fputc('\n', p->out);
        return;
    }

    fputs(" | ", p->out);
    if (has(r, GPU_FIELD_TEMP_C)) {
        int64_t t = val(r, GPU_FIELD_TEMP_C);
        snprintf(buf, sizeof(buf), "%3" PRId64 "°C", t);
        paint(p, t >= REPORT_TEMP_HOT_C ? C_RED : t >= REPORT_TEMP_WARN_C ? C_YELLOW : NULL, buf);
    } else {
        fputs("  N/A", p->out);
    }
    if (has(r, GPU_FIELD_FAN_PCT)) {
        fprintf(p->out, " fan %3" PRId64 "%%", val(r, GPU_FIELD_FAN_PCT));
    } else {
        fputs(" fan  N/A", p->out);
    }

    fputs(" | ", p->out);
    double busy = 0;
    if (gpu_busy_pct(&r->busy, &busy)) {
        snprintf(buf, sizeof(buf), "%3.0f %% busy", busy);
        paint(p, busy >= BUSY_HIGH_PCT ? C_BOLD C_GREEN : C_GREEN, buf);
    } else if (has(r, GPU_FIELD_UTIL_GPU_PCT)) {
        snprintf(buf, sizeof(buf), "%3" PRId64 " %% util", val(r, GPU_FIELD_UTIL_GPU_PCT));
        paint(p, C_GREEN, buf);
    } else {
        fputs(" N/A busy", p->out);
    }

    fputs(" | ", p->out);
    if (has(r, GPU_FIELD_MEM_USED_BYTES) && has(r, GPU_FIELD_MEM_TOTAL_BYTES)) {
        char used[32];
        char total[32];
        uint64_t u = (uint64_t)val(r, GPU_FIELD_MEM_USED_BYTES);
        uint64_t t = (uint64_t)val(r, GPU_FIELD_MEM_TOTAL_BYTES);
        report_format_bytes(u, used, sizeof(used));
        report_format_bytes(t, total, sizeof(total));
        snprintf(buf, sizeof(buf), "%9s / %-9s", used, total);
        paint(p, t > 0 && (double)u >= MEM_FULL_FRACTION * (double)t ? C_RED : C_YELLOW, buf);
    } else {
        fputs("  memory N/A          ", p->out);
    }

    fputs(" | ", p->out);
    if (has(r, GPU_FIELD_POWER_MW)) {
        fprintf(p->out, "%4" PRId64, (val(r, GPU_FIELD_POWER_MW) + 500) / 1000);
    } else {
        fputs(" N/A", p->out);
    }
    if (has(r, GPU_FIELD_POWER_LIMIT_MW)) {
        fprintf(p->out, " / %4" PRId64 " W", (val(r, GPU_FIELD_POWER_LIMIT_MW) + 500) / 1000);
    } else {
        fputs(" /  N/A W", p->out);
    }

    if (has(r, GPU_FIELD_CLOCK_SM_MHZ)) {
        fprintf(p->out, " | SM %4" PRId64 " MHz", val(r, GPU_FIELD_CLOCK_SM_MHZ));
    }
    if (has(r, GPU_FIELD_PSTATE)) {
        fprintf(p->out, " P%" PRId64, val(r, GPU_FIELD_PSTATE));
    }
    if (r->id.mig_enabled) {
        fputs(" MIG", p->out);
    }
    if (has(r, GPU_FIELD_CLOCK_REASONS)) {
        unsigned n = 0;
        const struct gpu_clock_reason *reasons = gpu_clock_reasons(&n);
        uint64_t mask = (uint64_t)val(r, GPU_FIELD_CLOCK_REASONS);
        for (unsigned i = 0; i < n; i++) {
            /* Idle is the normal state of an idle GPU, not news. */
            if ((mask & reasons[i].bit) && reasons[i].bit != 0x001) {
                fputc(' ', p->out);
                paint(p, C_YELLOW, reasons[i].name);
            }
        }
    }
    fputc('\n', p->out);
}

static void process_line(const struct painter *p, const struct gpu_process *proc, unsigned width)
{
    const struct proc_info *pi = proc_info_or_none(proc->proc);
    char mem[32] = "N/A";
    if (proc->has_used_memory) {
        report_format_bytes(proc->used_memory_bytes, mem, sizeof(mem));
    }
    fprintf(p->out, "    %8u ", proc->pid);
    char user[80];
    char clean[sizeof(pi->cmdline) * 3];
    text_sanitize(clean, sizeof(clean), pi->has_uid ? pi->user : "?", true);
    snprintf(user, sizeof(user), "%-10.64s", clean);
    paint(p, C_BOLD, user);
    fprintf(p->out, " %-3s %9s", report_process_type(proc->type_mask), mem);
    if (proc->has_utilization) {
        fprintf(p->out, "  SM %3u%%", proc->sm_pct);
    } else {
        fputs("  SM  N/A", p->out);
    }
    char label[96];
    proc_container_label(&pi->container, label, sizeof(label));
    if (label[0]) {
        fputc(' ', p->out);
        paint(p, C_DIM, text_sanitize(clean, sizeof(clean), label, true));
    }
    /* The command line takes what is left of the terminal's width (in
     * bytes, a little less for wide characters), cut at a whole character. */
    int used = 48 + (label[0] ? (int)strlen(label) + 1 : 0);
    int room = (int)width - used - 1;
    if (room < 16) {
        room = 16;
    }
    size_t cut = (size_t)room + 1 < sizeof(clean) ? (size_t)room + 1 : sizeof(clean);
    const char *cmd = pi->cmdline[0] ? pi->cmdline : pi->comm[0] ? pi->comm : "(not visible)";
    fprintf(p->out, "  %s\n", text_sanitize(clean, cut, cmd, true));
}

void report_now_table(FILE *out, const struct gpu_snapshot *snap,
                      const struct report_now_opts *opts)
{
    struct painter p = { .out = out, .color = opts->color };
    header(&p, snap, opts);
    int name_width = 8;
    for (size_t i = 0; i < snap->gpu_count; i++) {
        int n = (int)strlen(snap->gpus[i].id.name);
        name_width = n > name_width ? n : name_width;
    }
    if (name_width > 32) {
        name_width = 32;
    }
    for (size_t i = 0; i < snap->gpu_count; i++) {
        const struct gpu_reading *r = &snap->gpus[i];
        gpu_line(&p, r, name_width);
        for (size_t k = 0; k < r->process_count; k++) {
            process_line(&p, &r->processes[k], opts->width);
        }
    }
}
