#include "scenario.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where we are in the file, for messages like
 * "scenario 'x.json': gpus[1].metrics.power_w.period_s: must be > 0". */
struct parse {
    const char *file;
    char *err;
    size_t err_size;
};

static int fail(struct parse *ps, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct parse *ps, const char *path, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(ps->err, ps->err_size, "scenario '%s': %s: %s", ps->file, path, what);
    return -1;
}

static void join(char *out, size_t size, const char *base, const char *key)
{
    snprintf(out, size, "%s%s%s", base, *base ? "." : "", key);
}

/* Every key of obj must be in allowed (NULL-terminated). */
static int check_keys(struct parse *ps, json_t *obj, const char *path, const char *const *allowed)
{
    const char *key = NULL;
    json_t *val = NULL;
    json_object_foreach(obj, key, val)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) {
            ok = strcmp(*a, key) == 0;
        }
        if (!ok) {
            char p[256];
            join(p, sizeof(p), path, key);
            return fail(ps, p, "unknown key");
        }
    }
    return 0;
}

/* Reads an optional number in [min, max]; *out keeps its default if absent. */
static int opt_number(struct parse *ps, json_t *obj, const char *path, const char *key, double min,
                      double max, double *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        return 0;
    }
    char p[256];
    join(p, sizeof(p), path, key);
    if (!json_is_number(v)) {
        return fail(ps, p, "must be a number");
    }
    double d = json_number_value(v);
    if (d < min || d > max) {
        return fail(ps, p, "%g is out of range [%g, %g]", d, min, max);
    }
    *out = d;
    return 0;
}

static int req_number(struct parse *ps, json_t *obj, const char *path, const char *key, double min,
                      double max, double *out)
{
    if (!json_object_get(obj, key)) {
        char p[256];
        join(p, sizeof(p), path, key);
        return fail(ps, p, "is required");
    }
    return opt_number(ps, obj, path, key, min, max, out);
}

static int opt_string(struct parse *ps, json_t *obj, const char *path, const char *key, char *out,
                      size_t size)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        return 0;
    }
    char p[256];
    join(p, sizeof(p), path, key);
    if (!json_is_string(v)) {
        return fail(ps, p, "must be a string");
    }
    if (strlen(json_string_value(v)) >= size) {
        return fail(ps, p, "longer than %zu characters", size - 1);
    }
    snprintf(out, size, "%s", json_string_value(v));
    return 0;
}

static int opt_bool(struct parse *ps, json_t *obj, const char *path, const char *key, bool *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        return 0;
    }
    if (!json_is_boolean(v)) {
        char p[256];
        join(p, sizeof(p), path, key);
        return fail(ps, p, "must be true or false");
    }
    *out = json_is_true(v);
    return 0;
}

/* ------------------------------------------------------------ patterns -- */

static int parse_pattern(struct parse *ps, json_t *v, const char *path, double min, double max,
                         struct sim_pattern *out)
{
    if (json_is_number(v)) {
        double d = json_number_value(v);
        if (d < min || d > max) {
            return fail(ps, path, "%g is out of range [%g, %g]", d, min, max);
        }
        *out = sim_pattern_constant(d);
        return 0;
    }
    if (!json_is_object(v)) {
        return fail(ps, path, "must be a number or a pattern object");
    }
    json_t *kind = json_object_get(v, "pattern");
    if (!json_is_string(kind)) {
        char p[256];
        join(p, sizeof(p), path, "pattern");
        return fail(ps, p, "is required: one of constant, square, bursts, ramp, random_walk");
    }
    const char *k = json_string_value(kind);
    *out = sim_pattern_constant(0);
    if (strcmp(k, "constant") == 0) {
        static const char *const keys[] = { "pattern", "value", NULL };
        return check_keys(ps, v, path, keys) ||
               req_number(ps, v, path, "value", min, max, &out->value);
    }
    if (strcmp(k, "square") == 0 || strcmp(k, "bursts") == 0) {
        bool square = k[0] == 's';
        static const char *const square_keys[] = { "pattern", "low",     "high", "period_s",
                                                   "duty",    "phase_s", NULL };
        static const char *const burst_keys[] = { "pattern",  "low",      "high", "every_s",
                                                  "length_s", "offset_s", NULL };
        out->kind = SIM_PATTERN_PERIODIC;
        out->low = min > 0 ? min : 0;
        double duty = 0;
        if (check_keys(ps, v, path, square ? square_keys : burst_keys) ||
            opt_number(ps, v, path, "low", min, max, &out->low) ||
            req_number(ps, v, path, "high", min, max, &out->high) ||
            req_number(ps, v, path, square ? "period_s" : "every_s", 1e-3, 1e9, &out->period_s)) {
            return -1;
        }
        if (square) {
            if (req_number(ps, v, path, "duty", 0, 1, &duty) ||
                opt_number(ps, v, path, "phase_s", -1e9, 1e9, &out->phase_s)) {
                return -1;
            }
            out->on_s = duty * out->period_s;
            return 0;
        }
        if (req_number(ps, v, path, "length_s", 1e-4, out->period_s, &out->on_s) ||
            opt_number(ps, v, path, "offset_s", -1e9, 1e9, &out->phase_s)) {
            return -1;
        }
        return 0;
    }
    if (strcmp(k, "ramp") == 0) {
        static const char *const keys[] = { "pattern",    "from",   "to", "start_s",
                                            "duration_s", "repeat", NULL };
        out->kind = SIM_PATTERN_RAMP;
        bool repeat = false;
        if (check_keys(ps, v, path, keys) ||
            req_number(ps, v, path, "from", min, max, &out->from) ||
            req_number(ps, v, path, "to", min, max, &out->to) ||
            opt_number(ps, v, path, "start_s", 0, 1e9, &out->start_s) ||
            req_number(ps, v, path, "duration_s", 1e-3, 1e9, &out->duration_s) ||
            opt_bool(ps, v, path, "repeat", &repeat)) {
            return -1;
        }
        out->repeat = repeat;
        return 0;
    }
    if (strcmp(k, "random_walk") == 0) {
        static const char *const keys[] = { "pattern", "seed", "start",      "step",
                                            "min",     "max",  "interval_s", NULL };
        out->kind = SIM_PATTERN_RANDOM_WALK;
        out->min = min;
        out->max = max;
        out->interval_s = 1;
        double seed = 0;
        if (check_keys(ps, v, path, keys) ||
            opt_number(ps, v, path, "seed", 0, 9007199254740991.0, &seed) ||
            req_number(ps, v, path, "start", min, max, &out->start) ||
            req_number(ps, v, path, "step", 0, max - min, &out->step) ||
            opt_number(ps, v, path, "min", min, max, &out->min) ||
            opt_number(ps, v, path, "max", min, max, &out->max) ||
            opt_number(ps, v, path, "interval_s", 1e-3, 1e9, &out->interval_s)) {
            return -1;
        }
        if (out->min > out->max) {
            return fail(ps, path, "min is greater than max");
        }
        out->seed = (uint64_t)seed;
        return 0;
    }
    char p[256];
    join(p, sizeof(p), path, "pattern");
    return fail(ps, p,
                "unknown pattern '%s' (expected constant, square, bursts, ramp or "
                "random_walk)",
                k);
}

/* ------------------------------------------------------------- metrics -- */

struct metric_spec {
    const char *key;
    double min, max, dflt;
};

static const struct metric_spec metric_specs[SIM_M_COUNT] = {
    [SIM_M_UTIL_GPU] = { "utilization_gpu", 0, 100, 0 },
    [SIM_M_UTIL_MEMORY] = { "utilization_memory", 0, 100, 0 },
    [SIM_M_UTIL_ENCODER] = { "utilization_encoder", 0, 100, 0 },
    [SIM_M_UTIL_DECODER] = { "utilization_decoder", 0, 100, 0 },
    [SIM_M_MEMORY_USED_MIB] = { "memory_used_mib", 0, 1e9, 0 },
    [SIM_M_TEMPERATURE_C] = { "temperature_c", 0, 200, 35 },
    [SIM_M_FAN_PCT] = { "fan_pct", 0, 200, 30 },
    [SIM_M_POWER_W] = { "power_w", 0, 10000, 60 },
    [SIM_M_CLOCK_SM_MHZ] = { "clock_sm_mhz", 0, 10000, 1410 },
    [SIM_M_CLOCK_GRAPHICS_MHZ] = { "clock_graphics_mhz", 0, 10000, 1410 },
    [SIM_M_CLOCK_MEMORY_MHZ] = { "clock_memory_mhz", 0, 20000, 1215 },
    [SIM_M_PSTATE] = { "pstate", 0, 15, 0 },
    [SIM_M_CLOCK_EVENT_REASONS] = { "clock_event_reasons", 0, 4294967295.0, 0 },
    [SIM_M_PCIE_TX_KBPS] = { "pcie_tx_kbps", 0, 1e9, 0 },
    [SIM_M_PCIE_RX_KBPS] = { "pcie_rx_kbps", 0, 1e9, 0 },
    [SIM_M_ECC_CORRECTED] = { "ecc_corrected", 0, 1e15, 0 },
    [SIM_M_ECC_UNCORRECTED] = { "ecc_uncorrected", 0, 1e15, 0 },
    [SIM_M_REMAPPED_CORRECTABLE] = { "remapped_rows_correctable", 0, 1e6, 0 },
    [SIM_M_REMAPPED_UNCORRECTABLE] = { "remapped_rows_uncorrectable", 0, 1e6, 0 },
};

static const char *const feature_names[SIM_F_COUNT] = {
    [SIM_F_SERIAL] = "serial",
    [SIM_F_PCI] = "pci",
    [SIM_F_MINOR_NUMBER] = "minor_number",
    [SIM_F_MEMORY] = "memory",
    [SIM_F_UTILIZATION] = "utilization",
    [SIM_F_ENCODER] = "encoder",
    [SIM_F_DECODER] = "decoder",
    [SIM_F_TEMPERATURE] = "temperature",
    [SIM_F_FAN] = "fan",
    [SIM_F_POWER] = "power",
    [SIM_F_POWER_LIMIT] = "power_limit",
    [SIM_F_ENERGY] = "energy",
    [SIM_F_CLOCKS] = "clocks",
    [SIM_F_MAX_CLOCKS] = "max_clocks",
    [SIM_F_PSTATE] = "pstate",
    [SIM_F_CLOCK_REASONS] = "clock_reasons",
    [SIM_F_PCIE] = "pcie",
    [SIM_F_ECC] = "ecc",
    [SIM_F_REMAPPED_ROWS] = "remapped_rows",
    [SIM_F_PROCESSES] = "processes",
    [SIM_F_PROCESS_UTILIZATION] = "process_utilization",
    [SIM_F_SAMPLES] = "samples",
    [SIM_F_PCIE_LINK] = "pcie_link",
    [SIM_F_TEMPERATURE_THRESHOLDS] = "temperature_thresholds",
};

static const struct {
    const char *name;
    int code;
} error_names[] = {
    { "UNINITIALIZED", 1 },
    { "INVALID_ARGUMENT", 2 },
    { "NOT_SUPPORTED", 3 },
    { "NO_PERMISSION", 4 },
    { "NOT_FOUND", 6 },
    { "INSUFFICIENT_POWER", 8 },
    { "DRIVER_NOT_LOADED", 9 },
    { "TIMEOUT", 10 },
    { "IRQ_ISSUE", 11 },
    { "LIBRARY_NOT_FOUND", 12 },
    { "FUNCTION_NOT_FOUND", 13 },
    { "CORRUPTED_INFOROM", 14 },
    { "GPU_IS_LOST", 15 },
    { "RESET_REQUIRED", 16 },
    { "OPERATING_SYSTEM", 17 },
    { "LIB_RM_VERSION_MISMATCH", 18 },
    { "IN_USE", 19 },
    { "MEMORY", 20 },
    { "NO_DATA", 21 },
    { "VGPU_ECC_NOT_SUPPORTED", 22 },
    { "INSUFFICIENT_RESOURCES", 23 },
    { "FREQ_NOT_SUPPORTED", 24 },
    { "ARGUMENT_VERSION_MISMATCH", 25 },
    { "DEPRECATED", 26 },
    { "NOT_READY", 27 },
    { "GPU_NOT_FOUND", 28 },
    { "INVALID_STATE", 29 },
    { "UNKNOWN", 999 },
};

int sim_error_code(const char *name)
{
    for (size_t i = 0; i < sizeof(error_names) / sizeof(error_names[0]); i++) {
        if (strcmp(error_names[i].name, name) == 0) {
            return error_names[i].code;
        }
    }
    return -1;
}

static int feature_index(const char *name)
{
    for (int f = 0; f < SIM_F_COUNT; f++) {
        if (strcmp(feature_names[f], name) == 0) {
            return f;
        }
    }
    return -1;
}

static int parse_metrics(struct parse *ps, json_t *obj, const char *path, struct sim_gpu *g)
{
    if (!json_is_object(obj)) {
        return fail(ps, path, "must be an object of metric patterns");
    }
    const char *key = NULL;
    json_t *val = NULL;
    json_object_foreach(obj, key, val)
    {
        char p[256];
        join(p, sizeof(p), path, key);
        int m = -1;
        for (int i = 0; i < SIM_M_COUNT && m < 0; i++) {
            if (strcmp(metric_specs[i].key, key) == 0) {
                m = i;
            }
        }
        if (m < 0) {
            return fail(ps, p, "unknown metric (see sim/README.md for the list)");
        }
        if (parse_pattern(ps, val, p, metric_specs[m].min, metric_specs[m].max, &g->metric[m])) {
            return -1;
        }
        if (m == SIM_M_MEMORY_USED_MIB) {
            g->memory_used_from_processes = false;
        }
    }
    return 0;
}

static int parse_errors(struct parse *ps, json_t *gj, const char *path, struct sim_gpu *g)
{
    json_t *uns = json_object_get(gj, "unsupported");
    char p[256];
    if (uns) {
        join(p, sizeof(p), path, "unsupported");
        if (!json_is_array(uns)) {
            return fail(ps, p, "must be an array of feature names");
        }
        size_t i = 0;
        json_t *v = NULL;
        json_array_foreach(uns, i, v)
        {
            char pi[280];
            snprintf(pi, sizeof(pi), "%s[%zu]", p, i);
            int f = json_is_string(v) ? feature_index(json_string_value(v)) : -1;
            if (f < 0) {
                return fail(ps, pi, "unknown feature (see sim/README.md for the list)");
            }
            g->feature_error[f] = 3; /* NOT_SUPPORTED */
        }
    }
    json_t *errs = json_object_get(gj, "errors");
    if (errs) {
        join(p, sizeof(p), path, "errors");
        if (!json_is_object(errs)) {
            return fail(ps, p, "must be an object of feature: NVML error name");
        }
        const char *key = NULL;
        json_t *v = NULL;
        json_object_foreach(errs, key, v)
        {
            char pk[280];
            snprintf(pk, sizeof(pk), "%s.%s", p, key);
            int f = feature_index(key);
            if (f < 0) {
                return fail(ps, pk, "unknown feature (see sim/README.md for the list)");
            }
            int code = json_is_string(v) ? sim_error_code(json_string_value(v)) : -1;
            if (code < 0) {
                return fail(ps, pk, "unknown NVML error name (e.g. NOT_SUPPORTED, NO_PERMISSION)");
            }
            g->feature_error[f] = code;
        }
    }
    return 0;
}

/* ----------------------------------------------------------- processes -- */

static int parse_pid(struct parse *ps, json_t *pj, const char *path, unsigned *pid)
{
    /* "pid_env" lets a demo or test hand in the PID of a process it started. */
    json_t *env = json_object_get(pj, "pid_env");
    if (env) {
        char p[256];
        join(p, sizeof(p), path, "pid_env");
        if (!json_is_string(env)) {
            return fail(ps, p, "must be the name of an environment variable");
        }
        const char *val = getenv(json_string_value(env));
        if (val && *val) {
            char *end = NULL;
            unsigned long v = strtoul(val, &end, 10);
            if (*end || v == 0 || v > 4194304) {
                return fail(ps, p, "environment variable %s='%s' is not a PID",
                            json_string_value(env), val);
            }
            *pid = (unsigned)v;
            return 0;
        }
    }
    double d = 0;
    if (!json_object_get(pj, "pid") && env) {
        return fail(ps, path, "environment variable %s is not set and no \"pid\" is given",
                    json_string_value(env));
    }
    if (req_number(ps, pj, path, "pid", 1, 4194304, &d)) {
        return -1;
    }
    *pid = (unsigned)d;
    return 0;
}

static int parse_process(struct parse *ps, json_t *pj, const char *path, struct sim_process *pr)
{
    static const char *const keys[] = { "pid",     "pid_env",    "type",        "memory_mib",
                                        "sm_pct",  "memory_pct", "encoder_pct", "decoder_pct",
                                        "start_s", "end_s",      "cycle_s",     NULL };
    if (!json_is_object(pj)) {
        return fail(ps, path, "must be an object");
    }
    *pr = (struct sim_process){
        .type_mask = SIM_PROC_COMPUTE,
        .memory_mib = sim_pattern_constant(0),
        .sm_pct = sim_pattern_constant(0),
        .memory_pct = sim_pattern_constant(0),
        .encoder_pct = sim_pattern_constant(0),
        .decoder_pct = sim_pattern_constant(0),
        .end_s = (double)INFINITY,
    };
    if (check_keys(ps, pj, path, keys) || parse_pid(ps, pj, path, &pr->pid)) {
        return -1;
    }
    char type[16] = "compute";
    if (opt_string(ps, pj, path, "type", type, sizeof(type))) {
        return -1;
    }
    if (strcmp(type, "compute") == 0) {
        pr->type_mask = SIM_PROC_COMPUTE;
    } else if (strcmp(type, "graphics") == 0) {
        pr->type_mask = SIM_PROC_GRAPHICS;
    } else if (strcmp(type, "both") == 0) {
        pr->type_mask = SIM_PROC_COMPUTE | SIM_PROC_GRAPHICS;
    } else if (strcmp(type, "mps") == 0) {
        pr->type_mask = SIM_PROC_MPS;
    } else {
        char p[256];
        join(p, sizeof(p), path, "type");
        return fail(ps, p, "'%s' is not one of compute, graphics, both, mps", type);
    }
    struct {
        const char *key;
        struct sim_pattern *pat;
        double max;
    } pats[] = {
        { "memory_mib", &pr->memory_mib, 1e9 },   { "sm_pct", &pr->sm_pct, 100 },
        { "memory_pct", &pr->memory_pct, 100 },   { "encoder_pct", &pr->encoder_pct, 100 },
        { "decoder_pct", &pr->decoder_pct, 100 },
    };
    for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
        json_t *v = json_object_get(pj, pats[i].key);
        char p[256];
        join(p, sizeof(p), path, pats[i].key);
        if (v && parse_pattern(ps, v, p, 0, pats[i].max, pats[i].pat)) {
            return -1;
        }
    }
    if (opt_number(ps, pj, path, "start_s", 0, 1e12, &pr->start_s) ||
        opt_number(ps, pj, path, "end_s", 0, 1e12, &pr->end_s) ||
        opt_number(ps, pj, path, "cycle_s", 0, 1e12, &pr->cycle_s)) {
        return -1;
    }
    if (pr->end_s <= pr->start_s) {
        return fail(ps, path, "end_s must be after start_s");
    }
    if (pr->cycle_s > 0 && (isinf(pr->end_s) || pr->end_s > pr->cycle_s)) {
        return fail(ps, path, "cycle_s needs an end_s no later than cycle_s");
    }
    return 0;
}

/* ---------------------------------------------------------------- GPUs -- */

/* "mig_mode": true or false; absent means the GPU has no MIG. */
static int parse_mig(struct parse *ps, json_t *gj, const char *path, struct sim_gpu *g)
{
    if (!json_object_get(gj, "mig_mode")) {
        return 0;
    }
    bool on = false;
    if (opt_bool(ps, gj, path, "mig_mode", &on)) {
        return -1;
    }
    g->mig_mode = on;
    return 0;
}

/* "pci_device_id": 590352606 or "0x233010DE", (device << 16) | vendor. */
static int parse_device_id(struct parse *ps, json_t *gj, const char *path, double *out)
{
    json_t *v = json_object_get(gj, "pci_device_id");
    if (!json_is_string(v)) {
        return opt_number(ps, gj, path, "pci_device_id", 0, 4294967295.0, out);
    }
    const char *s = json_string_value(v);
    char *end = NULL;
    unsigned long long id = strtoull(s, &end, 16);
    if (strncmp(s, "0x", 2) != 0 || *end || id > 0xFFFFFFFFULL) {
        char p[128];
        join(p, sizeof(p), path, "pci_device_id");
        return fail(ps, p, "'%s' is not a 32-bit hex id such as \"0x233010DE\"", s);
    }
    *out = (double)id;
    return 0;
}

/* Reads the optional numbers of an object key into unsigned fields. */
static int opt_uint_object(struct parse *ps, json_t *gj, const char *path, const char *key,
                           const char *const *names, double max, unsigned *const *out)
{
    json_t *obj = json_object_get(gj, key);
    if (!obj) {
        return 0;
    }
    char p[128];
    join(p, sizeof(p), path, key);
    if (!json_is_object(obj)) {
        return fail(ps, p, "must be an object");
    }
    if (check_keys(ps, obj, p, names)) {
        return -1;
    }
    for (size_t i = 0; names[i]; i++) {
        double v = *out[i];
        if (opt_number(ps, obj, p, names[i], 0, max, &v)) {
            return -1;
        }
        *out[i] = (unsigned)v;
    }
    return 0;
}

/* "pcie_link", "temperature_thresholds_c", "cuda_capability": what other
 * NVML clients (nvtop, nvidia-smi, pynvml) read at start-up. */
static int parse_gpu_extras(struct parse *ps, json_t *gj, const char *path, struct sim_gpu *g)
{
    static const char *const link_keys[] = { "gen", "max_gen", "width", "max_width", NULL };
    unsigned *const link[] = { &g->pcie_gen, &g->pcie_max_gen, &g->pcie_width, &g->pcie_max_width };
    static const char *const temp_keys[] = { "shutdown", "slowdown", "memory_max", "gpu_max",
                                             NULL };
    unsigned *const temp[] = { &g->temp_threshold_c[0], &g->temp_threshold_c[1],
                               &g->temp_threshold_c[2], &g->temp_threshold_c[3] };
    if (opt_uint_object(ps, gj, path, "pcie_link", link_keys, 64, link) ||
        opt_uint_object(ps, gj, path, "temperature_thresholds_c", temp_keys, 200, temp)) {
        return -1;
    }
    double cap = g->cuda_major + g->cuda_minor / 10.0;
    if (opt_number(ps, gj, path, "cuda_capability", 1, 99.9, &cap)) {
        return -1;
    }
    long tenths = lround(cap * 10);
    g->cuda_major = (unsigned)(tenths / 10);
    g->cuda_minor = (unsigned)(tenths % 10);
    return 0;
}

/* The faults of a GPU that end or come and go: "lost_until_s" (with
 * "lost_at_s") and "call_delay_s" (a number or [min, max] seconds) with its
 * window "call_delay_from_s" / "call_delay_until_s". */
static int parse_gpu_faults(struct parse *ps, json_t *gj, const char *path, struct sim_gpu *g)
{
    if (opt_number(ps, gj, path, "lost_until_s", 0, 1e12, &g->lost_until_s) ||
        opt_number(ps, gj, path, "call_delay_from_s", 0, 1e12, &g->call_delay_from_s) ||
        opt_number(ps, gj, path, "call_delay_until_s", 0, 1e12, &g->call_delay_until_s)) {
        return -1;
    }
    char p[128];
    if (json_object_get(gj, "lost_until_s") && g->lost_until_s <= g->lost_at_s) {
        join(p, sizeof(p), path, "lost_until_s");
        return fail(ps, p, "must come after lost_at_s");
    }
    json_t *d = json_object_get(gj, "call_delay_s");
    if (!d) {
        return 0;
    }
    join(p, sizeof(p), path, "call_delay_s");
    if (json_is_number(d)) {
        g->call_delay_min_s = g->call_delay_max_s = json_number_value(d);
    } else if (json_is_array(d) && json_array_size(d) == 2 &&
               json_is_number(json_array_get(d, 0)) && json_is_number(json_array_get(d, 1))) {
        g->call_delay_min_s = json_number_value(json_array_get(d, 0));
        g->call_delay_max_s = json_number_value(json_array_get(d, 1));
    } else {
        return fail(ps, p, "must be a number of seconds or [min, max]");
    }
    if (g->call_delay_min_s < 0 || g->call_delay_max_s > 3600 ||
        g->call_delay_min_s > g->call_delay_max_s) {
        return fail(ps, p, "must lie in [0, 3600] seconds, min <= max");
    }
    return 0;
}

static int parse_gpu(struct parse *ps, json_t *gj, size_t index, struct sim_gpu *g)
{
    static const char *const keys[] = {
        "name",
        "uuid",
        "serial",
        "pci_bus_id",
        "pci_device_id",
        "minor_number",
        "memory_total_mib",
        "memory_reserved_mib",
        "power_limit_w",
        "energy_start_mj",
        "max_clocks_mhz",
        "ecc",
        "mig_mode",
        "metrics",
        "processes",
        "unsupported",
        "errors",
        "lost_at_s",
        "lost_after_calls",
        "slow_ms",
        "lost_until_s",
        "call_delay_s",
        "call_delay_from_s",
        "call_delay_until_s",
        "pcie_link",
        "temperature_thresholds_c",
        "cuda_capability",
        NULL,
    };
    char path[64];
    snprintf(path, sizeof(path), "gpus[%zu]", index);
    if (!json_is_object(gj)) {
        return fail(ps, path, "must be an object");
    }
    *g = (struct sim_gpu){
        .memory_total_mib = 16384,
        .power_limit_w = 300,
        .max_clock_sm_mhz = 1980,
        .max_clock_graphics_mhz = 1980,
        .max_clock_memory_mhz = 2619,
        .memory_used_from_processes = true,
        .lost_at_s = (double)INFINITY,
        .lost_after_calls = -1,
        .lost_until_s = (double)INFINITY,
        .call_delay_until_s = (double)INFINITY,
        .minor_number = (unsigned)index,
        .mig_mode = -1,
        /* An H200 SXM: PCIe 5.0 x16, its thresholds, compute capability 9.0. */
        .pcie_gen = 5,
        .pcie_max_gen = 5,
        .pcie_width = 16,
        .pcie_max_width = 16,
        .temp_threshold_c = { 92, 89, 95, 87 },
        .cuda_major = 9,
        .persistence_mode = 1,
    };
    snprintf(g->name, sizeof(g->name), "Simulated GPU %zu", index);
    snprintf(g->uuid, sizeof(g->uuid), "GPU-5a1d0000-0000-4000-8000-%012zx", index);
    snprintf(g->serial, sizeof(g->serial), "SIM%010zu", index);
    snprintf(g->pci_bus_id, sizeof(g->pci_bus_id), "00000000:%02zX:00.0", (index + 1) * 0x10);
    g->pci_device_id = 0x233010DE;
    for (int m = 0; m < SIM_M_COUNT; m++) {
        g->metric[m] = sim_pattern_constant(metric_specs[m].dflt);
    }
    double minor = g->minor_number;
    double lost_after = -1;
    double slow = 0;
    double dev_id = g->pci_device_id;
    if (check_keys(ps, gj, path, keys) ||
        opt_string(ps, gj, path, "name", g->name, sizeof(g->name)) ||
        opt_string(ps, gj, path, "uuid", g->uuid, sizeof(g->uuid)) ||
        opt_string(ps, gj, path, "serial", g->serial, sizeof(g->serial)) ||
        opt_string(ps, gj, path, "pci_bus_id", g->pci_bus_id, sizeof(g->pci_bus_id)) ||
        parse_device_id(ps, gj, path, &dev_id) ||
        opt_number(ps, gj, path, "minor_number", 0, 255, &minor) ||
        opt_number(ps, gj, path, "memory_total_mib", 0, 1e9, &g->memory_total_mib) ||
        opt_number(ps, gj, path, "memory_reserved_mib", 0, 1e9, &g->memory_reserved_mib) ||
        opt_number(ps, gj, path, "power_limit_w", 0, 10000, &g->power_limit_w) ||
        opt_number(ps, gj, path, "energy_start_mj", 0, 1e18, &g->energy_start_mj) ||
        opt_bool(ps, gj, path, "ecc", &g->ecc_enabled) || parse_mig(ps, gj, path, g) ||
        opt_number(ps, gj, path, "lost_at_s", 0, 1e12, &g->lost_at_s) ||
        opt_number(ps, gj, path, "lost_after_calls", 0, 1e12, &lost_after) ||
        opt_number(ps, gj, path, "slow_ms", 0, 60000, &slow)) {
        return -1;
    }
    g->pci_device_id = (unsigned)dev_id;
    g->minor_number = (unsigned)minor;
    g->lost_after_calls = (long)lost_after;
    g->slow_ms = (unsigned)slow;
    if (g->memory_reserved_mib > g->memory_total_mib) {
        return fail(ps, path, "memory_reserved_mib exceeds memory_total_mib");
    }

    if (parse_gpu_extras(ps, gj, path, g) || parse_gpu_faults(ps, gj, path, g)) {
        return -1;
    }

    json_t *clocks = json_object_get(gj, "max_clocks_mhz");
    if (clocks) {
        static const char *const ckeys[] = { "sm", "graphics", "memory", NULL };
        char p[128];
        join(p, sizeof(p), path, "max_clocks_mhz");
        double sm = g->max_clock_sm_mhz;
        double gr = g->max_clock_graphics_mhz;
        double mem = g->max_clock_memory_mhz;
        if (!json_is_object(clocks)) {
            return fail(ps, p, "must be an object with sm, graphics, memory");
        }
        if (check_keys(ps, clocks, p, ckeys) || opt_number(ps, clocks, p, "sm", 0, 10000, &sm) ||
            opt_number(ps, clocks, p, "graphics", 0, 10000, &gr) ||
            opt_number(ps, clocks, p, "memory", 0, 20000, &mem)) {
            return -1;
        }
        g->max_clock_sm_mhz = (unsigned)sm;
        g->max_clock_graphics_mhz = (unsigned)gr;
        g->max_clock_memory_mhz = (unsigned)mem;
    }

    json_t *metrics = json_object_get(gj, "metrics");
    if (metrics) {
        char p[128];
        join(p, sizeof(p), path, "metrics");
        if (parse_metrics(ps, metrics, p, g)) {
            return -1;
        }
    }
    if (parse_errors(ps, gj, path, g)) {
        return -1;
    }
    g->fan_count = g->feature_error[SIM_F_FAN] == 3 ? 0 : 1; /* NOT_SUPPORTED: no fan */

    json_t *procs = json_object_get(gj, "processes");
    if (procs) {
        char p[128];
        join(p, sizeof(p), path, "processes");
        if (!json_is_array(procs)) {
            return fail(ps, p, "must be an array");
        }
        g->process_count = json_array_size(procs);
        g->processes = calloc(g->process_count ? g->process_count : 1, sizeof(*g->processes));
        if (!g->processes) {
            return fail(ps, p, "out of memory");
        }
        size_t i = 0;
        json_t *pj = NULL;
        json_array_foreach(procs, i, pj)
        {
            char pi[160];
            snprintf(pi, sizeof(pi), "%s[%zu]", p, i);
            if (parse_process(ps, pj, pi, &g->processes[i])) {
                return -1;
            }
        }
    }
    return 0;
}

/* "call_cost": "h200" (the default), "none", or {"nvmlFunction": µs, ...}
 * changing rows of the H200 profile. */
static int parse_call_cost(struct parse *ps, json_t *v, struct sim_cost_profile *out)
{
    if (!v) {
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "none") == 0) {
            *out = (struct sim_cost_profile){ 0 };
            return 0;
        }
        if (strcmp(s, "h200") == 0) {
            *out = sim_cost_h200();
            return 0;
        }
        return fail(ps, "call_cost", "'%s' is not \"h200\", \"none\" or an object of costs", s);
    }
    if (!json_is_object(v)) {
        return fail(ps, "call_cost",
                    "must be \"h200\", \"none\" or an object of NVML function: microseconds");
    }
    const char *key = NULL;
    json_t *val = NULL;
    json_object_foreach(v, key, val)
    {
        char p[256];
        join(p, sizeof(p), "call_cost", key);
        int fn = sim_cost_index(key);
        if (fn < 0) {
            return fail(ps, p, "unknown NVML function (see sim/cost.def for the list)");
        }
        if (opt_number(ps, v, "call_cost", key, 0, 60e6, &out->us[fn])) {
            return -1;
        }
    }
    return 0;
}

/* "init": how nvmlInit fails or hangs. An error with neither limit fails
 * every call; fail_count and fails_for_s end the failures (the first to
 * run out ends them); fails_for_s alone fails with DRIVER_NOT_LOADED, as a
 * driver not yet loaded at boot does. */
static int parse_init(struct parse *ps, json_t *init, struct sim_scenario *out)
{
    if (!init) {
        return 0;
    }
    static const char *const ikeys[] = { "error", "fail_count", "fails_for_s", "delay_s", NULL };
    char error_name[40] = "";
    double count = -1;
    if (!json_is_object(init)) {
        return fail(ps, "init", "must be an object");
    }
    if (check_keys(ps, init, "init", ikeys) ||
        opt_string(ps, init, "init", "error", error_name, sizeof(error_name)) ||
        opt_number(ps, init, "init", "fail_count", 0, 1e9, &count) ||
        opt_number(ps, init, "init", "fails_for_s", 0, 1e6, &out->init_fails_for_s) ||
        opt_number(ps, init, "init", "delay_s", 0, 3600, &out->init_delay_s)) {
        return -1;
    }
    if (error_name[0]) {
        out->init_error = sim_error_code(error_name);
        if (out->init_error < 0) {
            return fail(ps, "init.error", "unknown NVML error name '%s'", error_name);
        }
    } else if (out->init_fails_for_s >= 0) {
        out->init_error = sim_error_code("DRIVER_NOT_LOADED");
    }
    out->init_fail_count = (long)count;
    return 0;
}

int sim_scenario_parse(const char *text, size_t len, const char *name, struct sim_scenario *out,
                       char *err, size_t err_size)
{
    struct parse ps = { .file = name, .err = err, .err_size = err_size };
    *out = (struct sim_scenario){
        .cuda_version = 12040,
        /* As measured on an H200 with R580 (shared/reference/nvml-costs.md):
         * 71 samples, one per 200 ms, 14 s of history. */
        .sample_period_s = 0.2,
        .sample_buffer = 71,
        .init_fail_count = -1,
        .init_fails_for_s = -1,
        .call_cost = sim_cost_h200(),
    };
    snprintf(out->driver_version, sizeof(out->driver_version), "550.54.15");
    snprintf(out->nvml_version, sizeof(out->nvml_version), "12.550.54.15");

    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, err_size, "scenario '%s': line %d, column %d: %s", name, jerr.line,
                 jerr.column, jerr.text);
        return -1;
    }
    int rc = -1;
    static const char *const keys[] = {
        "description",   "driver_version", "nvml_version", "cuda_version", "sample_period_ms",
        "sample_buffer", "init",           "call_cost",    "gpus",         NULL
    };
    if (!json_is_object(root)) {
        fail(&ps, "(top level)", "must be an object");
        goto out;
    }
    double cuda = out->cuda_version;
    double period_ms = out->sample_period_s * 1000.0;
    double buffer = out->sample_buffer;
    if (check_keys(&ps, root, "", keys) ||
        opt_string(&ps, root, "", "driver_version", out->driver_version,
                   sizeof(out->driver_version)) ||
        opt_string(&ps, root, "", "nvml_version", out->nvml_version, sizeof(out->nvml_version)) ||
        opt_number(&ps, root, "", "cuda_version", 1000, 99990, &cuda) ||
        opt_number(&ps, root, "", "sample_period_ms", 10, 10000, &period_ms) ||
        opt_number(&ps, root, "", "sample_buffer", 1, 100000, &buffer)) {
        goto out;
    }
    out->cuda_version = (int)cuda;
    out->sample_period_s = period_ms / 1000.0;
    out->sample_buffer = (unsigned)buffer;

    if (parse_call_cost(&ps, json_object_get(root, "call_cost"), &out->call_cost)) {
        goto out;
    }

    if (parse_init(&ps, json_object_get(root, "init"), out)) {
        goto out;
    }

    json_t *gpus = json_object_get(root, "gpus");
    if (!json_is_array(gpus)) {
        fail(&ps, "gpus", gpus ? "must be an array" : "is required");
        goto out;
    }
    out->gpu_count = json_array_size(gpus);
    if (out->gpu_count > 64) {
        fail(&ps, "gpus", "more than 64 GPUs");
        goto out;
    }
    out->gpus = calloc(out->gpu_count ? out->gpu_count : 1, sizeof(*out->gpus));
    if (!out->gpus) {
        fail(&ps, "gpus", "out of memory");
        goto out;
    }
    size_t i = 0;
    json_t *gj = NULL;
    json_array_foreach(gpus, i, gj)
    {
        if (parse_gpu(&ps, gj, i, &out->gpus[i])) {
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    if (rc) {
        sim_scenario_free(out);
    }
    return rc;
}

int sim_scenario_load(const char *path, struct sim_scenario *out, char *err, size_t err_size)
{
    *out = (struct sim_scenario){ 0 };
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "scenario '%s': cannot open: %s", path, strerror(errno));
        return -1;
    }
    /* Read at most the cap, plus one byte to tell a longer file. */
    char *text = malloc(SIM_SCENARIO_MAX_BYTES + 1);
    size_t len = text ? fread(text, 1, SIM_SCENARIO_MAX_BYTES + 1, f) : 0;
    bool read_error = ferror(f) != 0;
    fclose(f);
    int rc = -1;
    if (!text || read_error) {
        snprintf(err, err_size, "scenario '%s': cannot read: %s", path,
                 text ? strerror(errno) : "out of memory");
    } else if (len > SIM_SCENARIO_MAX_BYTES) {
        snprintf(err, err_size, "scenario '%s': larger than %zu bytes", path,
                 SIM_SCENARIO_MAX_BYTES);
    } else {
        rc = sim_scenario_parse(text, len, path, out, err, err_size);
    }
    free(text);
    return rc;
}

void sim_scenario_free(struct sim_scenario *s)
{
    for (size_t i = 0; i < s->gpu_count && s->gpus; i++) {
        struct sim_gpu *g = &s->gpus[i];
        for (int m = 0; m < SIM_M_COUNT; m++) {
            sim_pattern_fini(&g->metric[m]);
        }
        for (size_t k = 0; k < g->process_count && g->processes; k++) {
            struct sim_process *p = &g->processes[k];
            sim_pattern_fini(&p->memory_mib);
            sim_pattern_fini(&p->sm_pct);
            sim_pattern_fini(&p->memory_pct);
            sim_pattern_fini(&p->encoder_pct);
            sim_pattern_fini(&p->decoder_pct);
        }
        free(g->processes);
    }
    free(s->gpus);
    s->gpus = NULL;
    s->gpu_count = 0;
}
