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

/* The widest a GPU's name is shown, in terminal columns. */
#define NAME_MAX_COLS 32

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
    char host[3 * 256 + 1];
    text_sanitize(host, sizeof(host), opts->host && *opts->host ? opts->host : "localhost");
    paint(p, C_BOLD, host);
    char driver[3 * sizeof(s->driver_version) + 1];
    text_sanitize(driver, sizeof(driver), s->driver_version[0] ? s->driver_version : "N/A");
    fprintf(p->out, "  %s  driver %s", when, driver);
    char cuda[32];
    gpu_cuda_version_format(s, cuda, sizeof(cuda));
    fprintf(p->out, "  CUDA %s", cuda[0] ? cuda : "N/A");
    fprintf(p->out, "  %zu GPU%s\n", snap->gpu_count, snap->gpu_count == 1 ? "" : "s");
}

static void gpu_line(const struct painter *p, const struct gpu_reading *r, size_t name_cols)
{
    char buf[256];
    fprintf(p->out, "[%u] ", r->id.index);
    char name[256];
    text_fit(name, sizeof(name), r->id.name[0] ? r->id.name : "(unknown)", name_cols, name_cols);
    paint(p, C_CYAN, name);
    if (r->state != GPU_STATE_OK) {
        fputs(" | ", p->out);
        char why[sizeof(r->error)];
        snprintf(buf, sizeof(buf), "%s: %s", r->state == GPU_STATE_LOST ? "LOST" : "NOT RESPONDING",
                 text_sanitize(why, sizeof(why), r->error));
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
        uint64_t mask = (uint64_t)val(r, GPU_FIELD_CLOCK_REASONS);
        /* Idle (bit 0) is the normal state of an idle GPU, not news; a bit
         * without a name is shown as unknown_0x..., not dropped. */
        for (unsigned b = 1; b < 64; b++) {
            if (mask & (UINT64_C(1) << b)) {
                char bit_name[GPU_CLOCK_REASON_NAME_MAX];
                fputc(' ', p->out);
                paint(p, C_YELLOW,
                      gpu_clock_reason_name(UINT64_C(1) << b, bit_name, sizeof(bit_name)));
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
    char user[4 * sizeof(pi->user) + 1];
    text_fit(user, sizeof(user), pi->has_uid ? pi->user : "?", 10, sizeof(pi->user));
    paint(p, C_BOLD, user);
    fprintf(p->out, " %-3s %9s", report_process_type(proc->type_mask), mem);
    if (proc->has_utilization) {
        fprintf(p->out, "  SM %3u%%", proc->sm_pct);
    } else {
        fputs("  SM  N/A", p->out);
    }
    char label[96];
    char clean[sizeof(pi->cmdline) * 3];
    proc_container_label(&pi->container, label, sizeof(label));
    size_t used = 48;
    if (label[0]) {
        fputc(' ', p->out);
        text_sanitize(clean, sizeof(clean), label);
        paint(p, C_DIM, clean);
        used += text_width_cols(clean) + 1;
    }
    /* The command line takes the columns left of the terminal's width, cut
     * at a whole character. */
    size_t room = width > used + 1 + 16 ? width - used - 1 : 16;
    const char *cmd = pi->cmdline[0] ? pi->cmdline : pi->comm[0] ? pi->comm : "(not visible)";
    fprintf(p->out, "  %s\n", text_fit(clean, sizeof(clean), cmd, 0, room));
}

void report_now_table(FILE *out, const struct gpu_snapshot *snap,
                      const struct report_now_opts *opts)
{
    struct painter p = { .out = out, .color = opts->color };
    header(&p, snap, opts);
    size_t name_cols = 8;
    for (size_t i = 0; i < snap->gpu_count; i++) {
        char name[3 * sizeof(snap->gpus[i].id.name) + 1];
        size_t n = text_width_cols(text_sanitize(
            name, sizeof(name), snap->gpus[i].id.name[0] ? snap->gpus[i].id.name : "(unknown)"));
        name_cols = n > name_cols ? n : name_cols;
    }
    if (name_cols > NAME_MAX_COLS) {
        name_cols = NAME_MAX_COLS;
    }
    for (size_t i = 0; i < snap->gpu_count; i++) {
        const struct gpu_reading *r = &snap->gpus[i];
        gpu_line(&p, r, name_cols);
        /* A refused list is not an idle GPU (a GPU that did not answer
         * says so on its own line). */
        const char *why = gpu_reading_processes_why(r);
        if (why && r->state == GPU_STATE_OK) {
            char clean[sizeof(r->processes_error)];
            fputs("    processes ", out);
            paint(&p, C_YELLOW, "unknown");
            fprintf(out, ": %s\n", text_sanitize(clean, sizeof(clean), why));
        }
        for (size_t k = 0; why == NULL && k < r->process_count; k++) {
            process_line(&p, &r->processes[k], opts->width);
        }
    }
}
