/* The NVML back end: every read of a GPU goes through the function
 * pointers the loader bound, with struct layouts chosen by the symbol
 * version that resolved. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu/backend.h"
#include "gpu/nvml_lib.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#ifndef GP_SIM_LIB_HINT
#    define GP_SIM_LIB_HINT "/usr/local/lib/gpulse/libnvidia-ml.so.1"
#endif
#ifndef GP_SIM_SCENARIO_HINT
#    define GP_SIM_SCENARIO_HINT "/usr/local/share/gpulse/scenarios/demo.json"
#endif

/* The first read of a session has no previous read to measure from: it
 * reports busy time over the last second, like a polled reading. */
#define FIRST_WINDOW_US 1000000ULL
/* Drivers keep a few hundred samples per buffer; a larger count is a fault
 * and is not allocated for. */
#define MAX_DRIVER_SAMPLES 100000U
/* A guess at the driver's sample period when only one sample is known. */
#define DEFAULT_SAMPLE_PERIOD_US 166667ULL

struct device_state {
    gpu_nvml_device_t handle;
    gpu_nvml_return_t handle_rc;     /* why the handle could not be had */
    struct gpu_identity id;          /* read once */
    struct gpu_values static_values; /* maximum clocks, read once */
    bool static_done;
    bool was_lost; /* the previous read found it lost: log changes only */

    bool samples_unsupported; /* stop asking once the driver said so */
    bool samples_seen;
    unsigned long long samples_last_us; /* newest utilization sample taken */
    unsigned long long driver_now_us;   /* newest sample time: the driver's clock */
    struct gpu_nvml_sample *samples;
    unsigned samples_cap;
    uint64_t polled_last_us; /* monotonic time of the previous polled read */

    bool putil_unsupported;
    bool putil_seen;
    unsigned long long putil_last_us;                 /* newest per-process sample taken */
    struct gpu_nvml_process_utilization_sample *memo; /* newest sample per PID */
    size_t memo_len;
    size_t memo_cap;
    struct gpu_nvml_process_utilization_sample *putil;
    unsigned putil_cap;

    unsigned char *proc_buf; /* raw process entries, stride by version */
    unsigned proc_cap;       /* entries that fit */
};

struct nvml_ctx {
    struct gpu_nvml_lib lib;
    bool initialised;
    unsigned count;
    struct device_state *dev;
};

static bool is_lost_code(gpu_nvml_return_t rc)
{
    return rc == GPU_NVML_RC_GPU_IS_LOST || rc == GPU_NVML_RC_RESET_REQUIRED;
}

/* Accepts a call's result: true on success. A lost GPU is recorded in the
 * reading; any other failure (NOT_SUPPORTED, NO_PERMISSION...) just leaves
 * the metric absent. */
static bool accept(const struct nvml_ctx *c, struct gpu_reading *r, gpu_nvml_return_t rc,
                   const char *what)
{
    if (rc == GPU_NVML_RC_SUCCESS) {
        return true;
    }
    if (is_lost_code(rc) && r->state != GPU_STATE_LOST) {
        r->state = GPU_STATE_LOST;
        snprintf(r->error, sizeof(r->error), "%s (from %s)", gpu_nvml_lib_strerror(&c->lib, rc),
                 what);
    } else if (rc != GPU_NVML_RC_NOT_SUPPORTED) {
        log_debug("gpu", "GPU %u: %s failed: %s", r->id.index, what,
                  gpu_nvml_lib_strerror(&c->lib, rc));
    }
    return false;
}

static bool lost(const struct gpu_reading *r)
{
    return r->state == GPU_STATE_LOST;
}

/* ---------------------------------------------------------------- open -- */

static const char *init_hint(gpu_nvml_return_t rc)
{
    switch (rc) {
    case GPU_NVML_RC_DRIVER_NOT_LOADED:
        return "the NVIDIA kernel driver is not loaded";
    case GPU_NVML_RC_NO_PERMISSION:
        return "this user may not open the GPU device files (/dev/nvidia*)";
    case GPU_NVML_RC_LIB_RM_VERSION_MISMATCH:
        return "the driver's library and kernel module differ, as after an upgrade without a "
               "reboot: reboot or reload the nvidia module";
    default:
        return NULL;
    }
}

static int nvml_open(const struct gpu_options *opts, void **out, struct gp_err *err)
{
    const char *path = opts->nvml_lib;
    if (!path || !*path) {
        path = getenv("GPULSE_NVML_LIB");
    }
    struct nvml_ctx *c = xcalloc(1, sizeof(*c));
    int rc = gpu_nvml_lib_open(&c->lib, path, err);
    if (rc == -ENOENT) {
        char why[sizeof(err->msg)];
        snprintf(why, sizeof(why), "%s", err ? err->msg : "cannot load NVML");
        gp_err_set(err, rc,
                   "%s\nThe NVIDIA driver is not installed or not visible to this process (in a "
                   "container, start it with the NVIDIA container toolkit). To try gpulse without "
                   "a GPU, use the simulated one:\n  GPULSE_NVML_LIB=%s GPULSE_SIM_SCENARIO=%s "
                   "gpulse now",
                   why, GP_SIM_LIB_HINT, GP_SIM_SCENARIO_HINT);
        goto fail;
    }
    if (rc) {
        goto fail;
    }

    gpu_nvml_return_t nrc = gpu_nvml_lib_init(&c->lib);
    if (nrc != GPU_NVML_RC_SUCCESS) {
        const char *hint = init_hint(nrc);
        rc = gp_err_set(err, -EIO, "NVML initialisation failed: %s (NVML error %d)%s%s",
                        gpu_nvml_lib_strerror(&c->lib, nrc), nrc, hint ? ": " : "",
                        hint ? hint : "");
        goto fail;
    }
    c->initialised = true;

    nrc = c->lib.device_count(&c->count);
    if (nrc != GPU_NVML_RC_SUCCESS) {
        rc = gp_err_set(err, -EIO, "cannot count GPUs: %s (NVML error %d)",
                        gpu_nvml_lib_strerror(&c->lib, nrc), nrc);
        goto fail;
    }
    if (c->count == 0) {
        rc = gp_err_set(err, -ENODEV, "NVML found no GPU on this machine (library '%s')",
                        c->lib.path);
        goto fail;
    }
    c->dev = xcalloc(c->count, sizeof(*c->dev));
    for (unsigned i = 0; i < c->count; i++) {
        c->dev[i].handle_rc = c->lib.handle_by_index(i, &c->dev[i].handle);
        if (c->dev[i].handle_rc != GPU_NVML_RC_SUCCESS) {
            log_warn("gpu", "GPU %u cannot be opened: %s", i,
                     gpu_nvml_lib_strerror(&c->lib, c->dev[i].handle_rc));
        }
    }
    *out = c;
    return 0;
fail:
    if (c->initialised) {
        c->lib.shutdown();
    }
    gpu_nvml_lib_close(&c->lib);
    free(c);
    return rc;
}

static void nvml_close(void *ctx)
{
    struct nvml_ctx *c = ctx;
    if (!c) {
        return;
    }
    for (unsigned i = 0; i < c->count; i++) {
        free(c->dev[i].samples);
        free(c->dev[i].putil);
        free(c->dev[i].memo);
        free(c->dev[i].proc_buf);
    }
    free(c->dev);
    if (c->initialised) {
        c->lib.shutdown();
    }
    gpu_nvml_lib_close(&c->lib);
    free(c);
}

static unsigned nvml_count(void *ctx)
{
    return ((struct nvml_ctx *)ctx)->count;
}

static void nvml_read_system(void *ctx, struct gpu_system *out)
{
    struct nvml_ctx *c = ctx;
    *out = (struct gpu_system){ 0 };
    snprintf(out->lib_path, sizeof(out->lib_path), "%s", c->lib.path);
    if (c->lib.driver_version &&
        c->lib.driver_version(out->driver_version, sizeof(out->driver_version)) != 0) {
        out->driver_version[0] = '\0';
    }
    if (c->lib.nvml_version &&
        c->lib.nvml_version(out->nvml_version, sizeof(out->nvml_version)) != 0) {
        out->nvml_version[0] = '\0';
    }
    if (c->lib.cuda_version && c->lib.cuda_version(&out->cuda_version) == 0) {
        out->has_cuda_version = true;
    }
}

/* -------------------------------------------------------------- static -- */

static void read_string(const struct nvml_ctx *c, struct gpu_reading *r,
                        gpu_nvml_return_t (*fn)(gpu_nvml_device_t, char *, unsigned int),
                        gpu_nvml_device_t h, char *buf, size_t size, const char *what)
{
    buf[0] = '\0';
    if (fn && !lost(r) && !accept(c, r, fn(h, buf, (unsigned)size), what)) {
        buf[0] = '\0';
    }
    buf[size - 1] = '\0';
}

static void read_pci(const struct nvml_ctx *c, struct device_state *d, struct gpu_reading *r)
{
    if (!c->lib.pci_info || lost(r)) {
        return;
    }
    if (c->lib.pci_legacy_layout) {
        struct gpu_nvml_pci_info_v1 pci = { 0 };
        if (accept(c, r, c->lib.pci_info(d->handle, &pci), "nvmlDeviceGetPciInfo")) {
            snprintf(d->id.pci_bus_id, sizeof(d->id.pci_bus_id), "%.16s", pci.bus_id);
            d->id.pci_device_id = pci.pci_device_id;
            d->id.has_pci_device_id = true;
        }
        return;
    }
    struct gpu_nvml_pci_info pci = { 0 };
    if (accept(c, r, c->lib.pci_info(d->handle, &pci), c->lib.resolved[GPU_NVML_SYM_PCI_INFO])) {
        pci.bus_id[sizeof(pci.bus_id) - 1] = '\0';
        snprintf(d->id.pci_bus_id, sizeof(d->id.pci_bus_id), "%s", pci.bus_id);
        d->id.pci_device_id = pci.pci_device_id;
        d->id.has_pci_device_id = true;
    }
}

static void read_max_clock(const struct nvml_ctx *c, struct device_state *d, struct gpu_reading *r,
                           int type, enum gpu_field f)
{
    unsigned int mhz = 0;
    if (c->lib.max_clock && !lost(r) &&
        accept(c, r, c->lib.max_clock(d->handle, type, &mhz), "nvmlDeviceGetMaxClockInfo")) {
        gpu_values_set(&d->static_values, f, mhz);
    }
}

static void nvml_read_static(void *ctx, unsigned i, struct gpu_reading *r)
{
    struct nvml_ctx *c = ctx;
    struct device_state *d = &c->dev[i];
    r->id.index = i;
    if (d->handle_rc != GPU_NVML_RC_SUCCESS) {
        r->state = GPU_STATE_LOST;
        snprintf(r->error, sizeof(r->error), "cannot open GPU: %s",
                 gpu_nvml_lib_strerror(&c->lib, d->handle_rc));
        return;
    }
    if (!d->static_done) {
        d->id.index = i;
        read_string(c, r, c->lib.name, d->handle, d->id.name, sizeof(d->id.name),
                    "nvmlDeviceGetName");
        read_string(c, r, c->lib.uuid, d->handle, d->id.uuid, sizeof(d->id.uuid),
                    "nvmlDeviceGetUUID");
        read_string(c, r, c->lib.serial, d->handle, d->id.serial, sizeof(d->id.serial),
                    "nvmlDeviceGetSerial");
        read_pci(c, d, r);
        unsigned int minor = 0;
        if (c->lib.minor_number && !lost(r) &&
            accept(c, r, c->lib.minor_number(d->handle, &minor), "nvmlDeviceGetMinorNumber")) {
            d->id.minor = minor;
            d->id.has_minor = true;
        }
        unsigned int mig_current = 0;
        unsigned int mig_pending = 0;
        if (c->lib.mig_mode && !lost(r) &&
            accept(c, r, c->lib.mig_mode(d->handle, &mig_current, &mig_pending),
                   "nvmlDeviceGetMigMode")) {
            d->id.has_mig_mode = true;
            d->id.mig_enabled = mig_current == 1;
        }
        read_max_clock(c, d, r, GPU_NVML_ABI_CLOCK_SM, GPU_FIELD_CLOCK_SM_MAX_MHZ);
        read_max_clock(c, d, r, GPU_NVML_ABI_CLOCK_GRAPHICS, GPU_FIELD_CLOCK_GRAPHICS_MAX_MHZ);
        read_max_clock(c, d, r, GPU_NVML_ABI_CLOCK_MEM, GPU_FIELD_CLOCK_MEM_MAX_MHZ);
        /* A GPU lost during the first read is read again next time. */
        d->static_done = !lost(r);
    }
    r->id = d->id;
}

/* ------------------------------------------------------------- dynamic -- */

static void read_memory(const struct nvml_ctx *c, struct device_state *d, struct gpu_reading *r)
{
    struct gpu_values *v = &r->values;
    if (c->lib.memory_info && c->lib.memory_v2 && !lost(r)) {
        struct gpu_nvml_memory_v2 m = { .version = GPU_NVML_ABI_MEMORY_V2_VERSION };
        gpu_nvml_return_t rc = c->lib.memory_info(d->handle, &m);
        if (accept(c, r, rc, "nvmlDeviceGetMemoryInfo_v2")) {
            gpu_values_set(v, GPU_FIELD_MEM_TOTAL_BYTES, (int64_t)m.total);
            gpu_values_set(v, GPU_FIELD_MEM_USED_BYTES, (int64_t)m.used);
            gpu_values_set(v, GPU_FIELD_MEM_FREE_BYTES, (int64_t)m.free);
            gpu_values_set(v, GPU_FIELD_MEM_RESERVED_BYTES, (int64_t)m.reserved);
            return;
        }
        /* A driver that rejects the struct version still has v1. */
        if (rc != GPU_NVML_RC_FUNCTION_NOT_FOUND && rc != GPU_NVML_RC_ARGUMENT_VERSION_MISMATCH) {
            return;
        }
    }
    if (c->lib.memory_info_v1 && !lost(r)) {
        struct gpu_nvml_memory_v1 m = { 0 };
        if (accept(c, r, c->lib.memory_info_v1(d->handle, &m), "nvmlDeviceGetMemoryInfo")) {
            gpu_values_set(v, GPU_FIELD_MEM_TOTAL_BYTES, (int64_t)m.total);
            gpu_values_set(v, GPU_FIELD_MEM_USED_BYTES, (int64_t)m.used);
            gpu_values_set(v, GPU_FIELD_MEM_FREE_BYTES, (int64_t)m.free);
        }
    }
}

/* Reads one metric that NVML returns as a single unsigned int. */
static void read_uint(const struct nvml_ctx *c, struct device_state *d, struct gpu_reading *r,
                      gpu_nvml_return_t (*fn)(gpu_nvml_device_t, unsigned int *), enum gpu_field f,
                      const char *what)
{
    unsigned int v = 0;
    if (fn && !lost(r) && accept(c, r, fn(d->handle, &v), what)) {
        gpu_values_set(&r->values, f, v);
    }
}

static void read_clock(const struct nvml_ctx *c, struct device_state *d, struct gpu_reading *r,
                       int type, enum gpu_field f)
{
    unsigned int mhz = 0;
    if (c->lib.clock && !lost(r) &&
        accept(c, r, c->lib.clock(d->handle, type, &mhz), "nvmlDeviceGetClockInfo")) {
        gpu_values_set(&r->values, f, mhz);
    }
}

static void read_codec(const struct nvml_ctx *c, struct device_state *d, struct gpu_reading *r,
                       gpu_nvml_return_t (*fn)(gpu_nvml_device_t, unsigned int *, unsigned int *),
                       enum gpu_field f, const char *what)
{
    unsigned int pct = 0;
    unsigned int period_us = 0;
    if (fn && !lost(r) && accept(c, r, fn(d->handle, &pct, &period_us), what)) {
        gpu_values_set(&r->values, f, pct);
    }
}

static void read_ecc(const struct nvml_ctx *c, struct device_state *d, struct gpu_reading *r)
{
    int current = 0;
    int pending = 0;
    if (!c->lib.ecc_mode || lost(r) ||
        !accept(c, r, c->lib.ecc_mode(d->handle, &current, &pending), "nvmlDeviceGetEccMode")) {
        return;
    }
    gpu_values_set(&r->values, GPU_FIELD_ECC_ENABLED, current == GPU_NVML_ABI_FEATURE_ENABLED);
    if (current != GPU_NVML_ABI_FEATURE_ENABLED || !c->lib.ecc_errors) {
        return;
    }
    static const struct {
        int error_type;
        int counter_type;
        enum gpu_field field;
    } counters[] = {
        { GPU_NVML_ABI_MEMORY_ERROR_CORRECTED, GPU_NVML_ABI_VOLATILE_ECC,
          GPU_FIELD_ECC_CORRECTED_VOLATILE },
        { GPU_NVML_ABI_MEMORY_ERROR_UNCORRECTED, GPU_NVML_ABI_VOLATILE_ECC,
          GPU_FIELD_ECC_UNCORRECTED_VOLATILE },
        { GPU_NVML_ABI_MEMORY_ERROR_CORRECTED, GPU_NVML_ABI_AGGREGATE_ECC,
          GPU_FIELD_ECC_CORRECTED_AGGREGATE },
        { GPU_NVML_ABI_MEMORY_ERROR_UNCORRECTED, GPU_NVML_ABI_AGGREGATE_ECC,
          GPU_FIELD_ECC_UNCORRECTED_AGGREGATE },
    };
    for (size_t i = 0; i < GP_ARRAY_LEN(counters) && !lost(r); i++) {
        unsigned long long n = 0;
        if (accept(
                c, r,
                c->lib.ecc_errors(d->handle, counters[i].error_type, counters[i].counter_type, &n),
                "nvmlDeviceGetTotalEccErrors")) {
            gpu_values_set(&r->values, counters[i].field, (int64_t)n);
        }
    }
}

static void read_remapped_rows(const struct nvml_ctx *c, struct device_state *d,
                               struct gpu_reading *r)
{
    unsigned int corr = 0;
    unsigned int unc = 0;
    unsigned int pending = 0;
    unsigned int failure = 0;
    if (c->lib.remapped_rows && !lost(r) &&
        accept(c, r, c->lib.remapped_rows(d->handle, &corr, &unc, &pending, &failure),
               "nvmlDeviceGetRemappedRows")) {
        gpu_values_set(&r->values, GPU_FIELD_REMAPPED_ROWS_CORRECTABLE, corr);
        gpu_values_set(&r->values, GPU_FIELD_REMAPPED_ROWS_UNCORRECTABLE, unc);
        gpu_values_set(&r->values, GPU_FIELD_REMAPPED_ROWS_PENDING, pending != 0);
        gpu_values_set(&r->values, GPU_FIELD_REMAPPED_ROWS_FAILURE, failure != 0);
    }
}

/* A sample's value as a percentage, whatever type the driver chose. */
static double sample_pct(int value_type, const gpu_nvml_value_t *v)
{
    double pct = 0;
    switch (value_type) {
    case 0:
        pct = v->d;
        break;
    case GPU_NVML_ABI_VALUE_TYPE_UNSIGNED_INT:
        pct = v->ui;
        break;
    case 2:
        pct = (double)v->ul;
        break;
    case 3:
        pct = (double)v->ull;
        break;
    case 4:
        pct = (double)v->sll;
        break;
    default:
        pct = v->ui;
        break;
    }
    return pct < 0 ? 0 : pct > 100 ? 100 : pct;
}

/* Busy time from the driver's utilization sample buffer: each sample is the
 * busy fraction of the period that ends at its timestamp, so summing
 * value x period counts work between two of our reads, however short. */
static bool read_busy_samples(const struct nvml_ctx *c, struct device_state *d,
                              struct gpu_reading *r)
{
    if (!c->lib.samples || d->samples_unsupported || lost(r)) {
        return false;
    }
    unsigned long long last = d->samples_seen ? d->samples_last_us : 0;
    int value_type = 0;
    unsigned count = 0;
    gpu_nvml_return_t rc = c->lib.samples(d->handle, GPU_NVML_ABI_GPU_UTILIZATION_SAMPLES, last,
                                          &value_type, &count, NULL);
    if (rc == GPU_NVML_RC_NOT_FOUND) {
        r->busy = (struct gpu_busy){ .source = GPU_BUSY_SAMPLES };
        return true; /* nothing new since the last read */
    }
    if (rc == GPU_NVML_RC_SUCCESS && count > MAX_DRIVER_SAMPLES) {
        count = MAX_DRIVER_SAMPLES; /* a driver fault: take what fits, never all */
    }
    if (rc == GPU_NVML_RC_SUCCESS && count > 0) {
        if (count > d->samples_cap) {
            d->samples_cap = count + 16;
            d->samples = xrealloc(d->samples, d->samples_cap * sizeof(*d->samples));
        }
        count = d->samples_cap;
        rc = c->lib.samples(d->handle, GPU_NVML_ABI_GPU_UTILIZATION_SAMPLES, last, &value_type,
                            &count, d->samples);
    }
    if (rc == GPU_NVML_RC_NOT_SUPPORTED) {
        d->samples_unsupported = true;
        return false;
    }
    if (rc == GPU_NVML_RC_NOT_FOUND || (rc == GPU_NVML_RC_SUCCESS && count == 0)) {
        r->busy = (struct gpu_busy){ .source = GPU_BUSY_SAMPLES };
        return true;
    }
    if (!accept(c, r, rc, "nvmlDeviceGetSamples")) {
        return false;
    }

    const struct gpu_nvml_sample *s = d->samples;
    unsigned long long newest = s[count - 1].timestamp_us;
    unsigned long long period = DEFAULT_SAMPLE_PERIOD_US;
    if (count >= 2 && newest > s[0].timestamp_us) {
        period = (newest - s[0].timestamp_us) / (count - 1);
    } else if (d->samples_seen && newest > last) {
        period = newest - last;
    }
    /* Each sample covers the time since the one before it. The first read
     * starts one second before the newest sample, as a polled reading would. */
    unsigned long long prev = d->samples_seen            ? last
                              : newest > FIRST_WINDOW_US ? newest - FIRST_WINDOW_US
                                                         : 0;
    struct gpu_busy b = { .source = GPU_BUSY_SAMPLES };
    for (unsigned i = 0; i < count; i++) {
        unsigned long long ts = s[i].timestamp_us;
        if (ts <= prev) {
            continue;
        }
        unsigned long long dt = ts - prev;
        /* A gap (the buffer wrapped, or we were away): a sample covers one period. */
        if (dt > 2 * period) {
            dt = period;
        }
        b.busy_us += (uint64_t)(sample_pct(value_type, &s[i].value) * (double)dt / 100.0 + 0.5);
        b.window_us += dt;
        b.samples++;
        prev = ts;
    }
    d->samples_seen = true;
    d->samples_last_us = newest > last ? newest : last;
    d->driver_now_us = d->samples_last_us;
    r->busy = b;
    return true;
}

/* Without a sample buffer: the polled utilization stands for the whole
 * window since the previous read. */
static void read_busy_polled(struct device_state *d, struct gpu_reading *r)
{
    uint64_t now = clock_monotonic_us();
    uint64_t window = d->polled_last_us ? now - d->polled_last_us : FIRST_WINDOW_US;
    d->polled_last_us = now;
    if (!gpu_values_has(&r->values, GPU_FIELD_UTIL_GPU_PCT)) {
        r->busy = (struct gpu_busy){ .source = GPU_BUSY_NONE };
        return;
    }
    int64_t pct = r->values.v[GPU_FIELD_UTIL_GPU_PCT];
    r->busy = (struct gpu_busy){
        .source = GPU_BUSY_POLLED,
        .busy_us = window * (uint64_t)(pct > 100 ? 100 : pct) / 100,
        .window_us = window,
    };
}

/* Logs a GPU falling off (or coming back) once, not on every read. */
static void note_state_change(struct device_state *d, const struct gpu_reading *r)
{
    if (lost(r) && !d->was_lost) {
        log_warn("gpu", "GPU %u (%s) is lost: %s", r->id.index, r->id.uuid, r->error);
    } else if (!lost(r) && d->was_lost) {
        log_warn("gpu", "GPU %u (%s) answers again", r->id.index, r->id.uuid);
    }
    d->was_lost = lost(r);
}

static void nvml_read_dynamic(void *ctx, unsigned i, const struct gpu_options *opts,
                              struct gpu_reading *r)
{
    struct nvml_ctx *c = ctx;
    struct device_state *d = &c->dev[i];
    if (lost(r)) {
        note_state_change(d, r);
        return;
    }
    r->values = d->static_values;

    struct gpu_nvml_utilization u = { 0 };
    if (c->lib.utilization &&
        accept(c, r, c->lib.utilization(d->handle, &u), "nvmlDeviceGetUtilizationRates")) {
        gpu_values_set(&r->values, GPU_FIELD_UTIL_GPU_PCT, u.gpu);
        gpu_values_set(&r->values, GPU_FIELD_UTIL_MEM_PCT, u.memory);
    }
    read_codec(c, d, r, c->lib.encoder_util, GPU_FIELD_UTIL_ENC_PCT,
               "nvmlDeviceGetEncoderUtilization");
    read_codec(c, d, r, c->lib.decoder_util, GPU_FIELD_UTIL_DEC_PCT,
               "nvmlDeviceGetDecoderUtilization");
    read_memory(c, d, r);

    unsigned int temp = 0;
    if (c->lib.temperature && !lost(r) &&
        accept(c, r, c->lib.temperature(d->handle, GPU_NVML_ABI_TEMPERATURE_GPU, &temp),
               "nvmlDeviceGetTemperature")) {
        gpu_values_set(&r->values, GPU_FIELD_TEMP_C, temp);
    }
    read_uint(c, d, r, c->lib.fan_speed, GPU_FIELD_FAN_PCT, "nvmlDeviceGetFanSpeed");
    read_uint(c, d, r, c->lib.power_usage, GPU_FIELD_POWER_MW, "nvmlDeviceGetPowerUsage");
    read_uint(c, d, r, c->lib.power_limit, GPU_FIELD_POWER_LIMIT_MW,
              c->lib.resolved[GPU_NVML_SYM_POWER_LIMIT]);

    unsigned long long energy = 0;
    if (c->lib.energy && !lost(r) &&
        accept(c, r, c->lib.energy(d->handle, &energy), "nvmlDeviceGetTotalEnergyConsumption")) {
        gpu_values_set(&r->values, GPU_FIELD_ENERGY_MJ, (int64_t)energy);
    }
    read_clock(c, d, r, GPU_NVML_ABI_CLOCK_SM, GPU_FIELD_CLOCK_SM_MHZ);
    read_clock(c, d, r, GPU_NVML_ABI_CLOCK_GRAPHICS, GPU_FIELD_CLOCK_GRAPHICS_MHZ);
    read_clock(c, d, r, GPU_NVML_ABI_CLOCK_MEM, GPU_FIELD_CLOCK_MEM_MHZ);

    int pstate = 0;
    if (c->lib.pstate && !lost(r) &&
        accept(c, r, c->lib.pstate(d->handle, &pstate), "nvmlDeviceGetPerformanceState") &&
        pstate >= 0 && pstate < GPU_NVML_ABI_PSTATE_UNKNOWN) {
        gpu_values_set(&r->values, GPU_FIELD_PSTATE, pstate);
    }
    unsigned long long reasons = 0;
    if (c->lib.clock_reasons && !lost(r) &&
        accept(c, r, c->lib.clock_reasons(d->handle, &reasons),
               c->lib.resolved[GPU_NVML_SYM_CLOCK_REASONS])) {
        gpu_values_set(&r->values, GPU_FIELD_CLOCK_REASONS, (int64_t)reasons);
    }
    if (opts->read_pcie && c->lib.pcie_throughput) {
        unsigned int kbps = 0;
        if (!lost(r) &&
            accept(c, r, c->lib.pcie_throughput(d->handle, GPU_NVML_ABI_PCIE_TX_BYTES, &kbps),
                   "nvmlDeviceGetPcieThroughput")) {
            gpu_values_set(&r->values, GPU_FIELD_PCIE_TX_KBPS, kbps);
        }
        if (!lost(r) &&
            accept(c, r, c->lib.pcie_throughput(d->handle, GPU_NVML_ABI_PCIE_RX_BYTES, &kbps),
                   "nvmlDeviceGetPcieThroughput")) {
            gpu_values_set(&r->values, GPU_FIELD_PCIE_RX_KBPS, kbps);
        }
    }
    read_ecc(c, d, r);
    read_remapped_rows(c, d, r);

    if (!read_busy_samples(c, d, r) && !lost(r)) {
        read_busy_polled(d, r);
    }
    if (lost(r)) {
        r->values = (struct gpu_values){ 0 };
        r->busy = (struct gpu_busy){ 0 };
    }
    note_state_change(d, r);
}

/* ----------------------------------------------------------- processes -- */

static struct gpu_process *find_or_add(struct gpu_reading *r, uint32_t pid, size_t *cap)
{
    for (size_t i = 0; i < r->process_count; i++) {
        if (r->processes[i].pid == pid) {
            return &r->processes[i];
        }
    }
    if (r->process_count == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        r->processes = xrealloc(r->processes, *cap * sizeof(*r->processes));
    }
    struct gpu_process *p = &r->processes[r->process_count++];
    *p = (struct gpu_process){ .pid = pid };
    return p;
}

/* No real GPU runs more processes than this; a larger count is a driver
 * fault, not a reason to allocate without bound. */
#define MAX_PROCESSES_PER_GPU 65536U

/* Sizes the raw process buffer for n entries of the widest layout, so one
 * buffer serves every stride. */
static void grow_process_buffer(struct device_state *d, unsigned n)
{
    d->proc_cap = n;
    d->proc_buf = xrealloc(d->proc_buf, (size_t)n * GPU_NVML_ABI_PROCESS_INFO_MAX_SIZE);
}

/* One of the compute / graphics / MPS lists, with the size-query idiom:
 * the list can grow between calls, so retry on INSUFFICIENT_SIZE. */
static void read_process_list(const struct nvml_ctx *c, struct device_state *d,
                              struct gpu_reading *r,
                              gpu_nvml_return_t (*fn)(gpu_nvml_device_t, unsigned int *, void *),
                              unsigned stride, unsigned type_bit, const char *what, size_t *cap)
{
    if (!fn || lost(r)) {
        return;
    }
    gpu_nvml_return_t rc = GPU_NVML_RC_INSUFFICIENT_SIZE;
    unsigned count = 0;
    for (int attempt = 0; attempt < 4 && rc == GPU_NVML_RC_INSUFFICIENT_SIZE; attempt++) {
        if (d->proc_cap == 0) {
            grow_process_buffer(d, 32);
        }
        count = d->proc_cap;
        rc = fn(d->handle, &count, d->proc_buf);
        if (rc == GPU_NVML_RC_INSUFFICIENT_SIZE) {
            if (count > MAX_PROCESSES_PER_GPU) {
                log_warn("gpu", "GPU %u: %s claims %u processes; reading none", r->id.index, what,
                         count);
                return;
            }
            /* Headroom: the list can grow between the two calls. */
            grow_process_buffer(d, (count > d->proc_cap ? count : d->proc_cap) * 2 + 8);
        }
    }
    if (!accept(c, r, rc, what)) {
        return;
    }
    if (count > d->proc_cap) {
        count = d->proc_cap;
    }
    for (unsigned i = 0; i < count; i++) {
        const unsigned char *e = d->proc_buf + (size_t)i * stride;
        unsigned int pid = 0;
        unsigned long long mem = 0;
        memcpy(&pid, e, sizeof(pid));
        memcpy(&mem, e + offsetof(struct gpu_nvml_process_info_v1, used_gpu_memory), sizeof(mem));
        struct gpu_process *p = find_or_add(r, pid, cap);
        p->type_mask |= type_bit;
        /* A process in two lists (compute and graphics) is counted once. */
        if (mem != GPU_NVML_ABI_VALUE_NOT_AVAILABLE_ULL &&
            (!p->has_used_memory || mem > p->used_memory_bytes)) {
            p->used_memory_bytes = mem;
            p->has_used_memory = true;
        }
    }
}

/* Per-process SM / memory / codec utilization. The driver keeps one
 * sample per process per sample period (1/6 s to 1 s) in which the process
 * ran; only samples newer than the last one taken are asked for. Each
 * process shows its most recent sample if that is under a second old on the
 * driver's clock, else 0 %: so reading faster than the driver's period does
 * not make a busy process look idle, and one that stopped stops looking
 * busy. */
static void remember_sample(struct device_state *d,
                            const struct gpu_nvml_process_utilization_sample *s)
{
    for (size_t i = 0; i < d->memo_len; i++) {
        if (d->memo[i].pid == s->pid) {
            if (s->timestamp_us > d->memo[i].timestamp_us) {
                d->memo[i] = *s;
            }
            return;
        }
    }
    if (d->memo_len == d->memo_cap) {
        d->memo_cap = d->memo_cap ? d->memo_cap * 2 : 16;
        d->memo = xrealloc(d->memo, d->memo_cap * sizeof(*d->memo));
    }
    d->memo[d->memo_len++] = *s;
}

static void apply_remembered(struct device_state *d, struct gpu_reading *r,
                             unsigned long long driver_now_us)
{
    unsigned long long fresh =
        driver_now_us > FIRST_WINDOW_US ? driver_now_us - FIRST_WINDOW_US : 0;
    for (size_t k = 0; k < r->process_count; k++) {
        struct gpu_process *p = &r->processes[k];
        p->has_utilization = true;
        for (size_t i = 0; i < d->memo_len; i++) {
            const struct gpu_nvml_process_utilization_sample *m = &d->memo[i];
            if (m->pid == p->pid && m->timestamp_us > fresh) {
                p->sm_pct = m->sm_util;
                p->memory_pct = m->mem_util;
                p->encoder_pct = m->enc_util;
                p->decoder_pct = m->dec_util;
            }
        }
    }
    /* Forget processes not heard of for a while. */
    size_t kept = 0;
    for (size_t i = 0; i < d->memo_len; i++) {
        if (d->memo[i].timestamp_us + 10 * FIRST_WINDOW_US > driver_now_us) {
            d->memo[kept++] = d->memo[i];
        }
    }
    d->memo_len = kept;
}

static void read_process_utilization(const struct nvml_ctx *c, struct device_state *d,
                                     struct gpu_reading *r)
{
    /* MIG GPUs do not report per-process utilization on the parent handle. */
    if (!c->lib.process_util || d->putil_unsupported || d->id.mig_enabled || lost(r) ||
        r->process_count == 0) {
        return;
    }
    unsigned count = 0;
    unsigned long long last = d->putil_seen ? d->putil_last_us : 0;
    gpu_nvml_return_t rc = c->lib.process_util(d->handle, NULL, &count, last);
    if (rc == GPU_NVML_RC_INSUFFICIENT_SIZE && count > MAX_DRIVER_SAMPLES) {
        count = MAX_DRIVER_SAMPLES;
    }
    if (rc == GPU_NVML_RC_INSUFFICIENT_SIZE && count > 0) {
        if (count > d->putil_cap) {
            d->putil_cap = count + 8;
            d->putil = xrealloc(d->putil, d->putil_cap * sizeof(*d->putil));
        }
        count = d->putil_cap;
        rc = c->lib.process_util(d->handle, d->putil, &count, last);
    }
    if (rc == GPU_NVML_RC_NOT_SUPPORTED) {
        d->putil_unsupported = true;
        return;
    }
    if (rc != GPU_NVML_RC_SUCCESS && rc != GPU_NVML_RC_NOT_FOUND) {
        accept(c, r, rc, "nvmlDeviceGetProcessUtilization");
        return;
    }
    unsigned long long newest = last;
    if (rc == GPU_NVML_RC_SUCCESS && d->putil) {
        for (unsigned i = 0; i < count; i++) {
            const struct gpu_nvml_process_utilization_sample *s = &d->putil[i];
            /* The driver can hand back stale or nonsense samples: drop them. */
            if (s->timestamp_us <= last || s->sm_util > 100 || s->mem_util > 100 ||
                s->enc_util > 100 || s->dec_util > 100) {
                continue;
            }
            remember_sample(d, s);
            newest = s->timestamp_us > newest ? s->timestamp_us : newest;
        }
        d->putil_seen = true;
        d->putil_last_us = newest;
    }
    /* The driver's clock: its newest utilization sample, else ours. */
    unsigned long long now = d->driver_now_us > newest ? d->driver_now_us : newest;
    apply_remembered(d, r, now);
}

static void nvml_read_processes(void *ctx, unsigned i, struct gpu_reading *r)
{
    struct nvml_ctx *c = ctx;
    struct device_state *d = &c->dev[i];
    size_t cap = 0;
    read_process_list(c, d, r, c->lib.compute_procs, c->lib.process_stride[0], GPU_PROCESS_COMPUTE,
                      c->lib.resolved[GPU_NVML_SYM_COMPUTE_PROCS], &cap);
    read_process_list(c, d, r, c->lib.graphics_procs, c->lib.process_stride[1],
                      GPU_PROCESS_GRAPHICS, c->lib.resolved[GPU_NVML_SYM_GRAPHICS_PROCS], &cap);
    read_process_list(c, d, r, c->lib.mps_procs, c->lib.process_stride[2], GPU_PROCESS_MPS,
                      c->lib.resolved[GPU_NVML_SYM_MPS_PROCS], &cap);
    read_process_utilization(c, d, r);
}

const struct gpu_backend_ops gpu_nvml_backend = {
    .open = nvml_open,
    .close = nvml_close,
    .count = nvml_count,
    .read_system = nvml_read_system,
    .read_static = nvml_read_static,
    .read_dynamic = nvml_read_dynamic,
    .read_processes = nvml_read_processes,
};
