/* The NVML back end's read of each tick: every metric of one GPU and its
 * polled busy time (the sample buffer settles it later: gpu_session_settle).
 * Only cheap calls (1-20 us on an H200, nvml-costs.md) are made each tick;
 * a call that answered NOT_SUPPORTED is asked again only every ten minutes.
 * Add none without measuring (docs/performance.md). */
#include <stdint.h>
#include <stdio.h>

#include "gpu/nvml_backend_int.h"
#include "util/clock.h"
#include "util/log.h"

static void read_memory(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d, struct gpu_reading *r)
{
    struct gpu_values *v = &r->values;
    if (c->lib.memory_info && c->lib.memory_v2 && !gpu_nvml_lost(r) &&
        gpu_nvml_wanted(d, GPU_NVML_SYM_MEMORY_INFO)) {
        struct gpu_nvml_memory_v2 m = { .version = GPU_NVML_ABI_MEMORY_V2_VERSION };
        gpu_nvml_return_t rc =
            GPU_NVML_DEV_CALL(d, GPU_NVML_SYM_MEMORY_INFO, c->lib.memory_info(d->handle, &m));
        if (gpu_nvml_accept(c, r, rc, "nvmlDeviceGetMemoryInfo_v2")) {
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
    if (c->lib.memory_info_v1 && !gpu_nvml_lost(r) &&
        gpu_nvml_wanted(d, GPU_NVML_SYM_MEMORY_INFO_V1)) {
        struct gpu_nvml_memory_v1 m = { 0 };
        if (gpu_nvml_accept(c, r,
                            GPU_NVML_DEV_CALL(d, GPU_NVML_SYM_MEMORY_INFO_V1,
                                              c->lib.memory_info_v1(d->handle, &m)),
                            "nvmlDeviceGetMemoryInfo")) {
            gpu_values_set(v, GPU_FIELD_MEM_TOTAL_BYTES, (int64_t)m.total);
            gpu_values_set(v, GPU_FIELD_MEM_USED_BYTES, (int64_t)m.used);
            gpu_values_set(v, GPU_FIELD_MEM_FREE_BYTES, (int64_t)m.free);
        }
    }
}

/* Reads one metric that NVML returns as a single unsigned int. */
static void read_uint(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d, struct gpu_reading *r,
                      gpu_nvml_return_t (*fn)(gpu_nvml_device_t, unsigned int *),
                      enum gpu_nvml_sym sym, enum gpu_field f)
{
    unsigned int v = 0;
    if (fn && !gpu_nvml_lost(r) && gpu_nvml_wanted(d, sym) &&
        gpu_nvml_accept(c, r, GPU_NVML_DEV_CALL(d, sym, fn(d->handle, &v)), c->lib.resolved[sym])) {
        gpu_values_set(&r->values, f, v);
    }
}

static void read_clock(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d, struct gpu_reading *r,
                       int type, enum gpu_field f)
{
    unsigned int mhz = 0;
    if (c->lib.clock && !gpu_nvml_lost(r) && gpu_nvml_wanted(d, GPU_NVML_SYM_CLOCK) &&
        gpu_nvml_accept(
            c, r, GPU_NVML_DEV_CALL(d, GPU_NVML_SYM_CLOCK, c->lib.clock(d->handle, type, &mhz)),
            "nvmlDeviceGetClockInfo")) {
        gpu_values_set(&r->values, f, mhz);
    }
}

static void read_codec(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d, struct gpu_reading *r,
                       gpu_nvml_return_t (*fn)(gpu_nvml_device_t, unsigned int *, unsigned int *),
                       enum gpu_nvml_sym sym, enum gpu_field f)
{
    unsigned int pct = 0;
    unsigned int period_us = 0;
    if (fn && !gpu_nvml_lost(r) && gpu_nvml_wanted(d, sym) &&
        gpu_nvml_accept(c, r, GPU_NVML_DEV_CALL(d, sym, fn(d->handle, &pct, &period_us)),
                        c->lib.resolved[sym])) {
        gpu_values_set(&r->values, f, pct);
    }
}

/* ECC mode changes only with a reboot: it is read once per session (0.29
 * ms a call on an H200), the error counters (1-2 us) each tick. */
static void read_ecc(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d, struct gpu_reading *r)
{
    int current = 0;
    int pending = 0;
    if (!d->ecc_known && c->lib.ecc_mode && !gpu_nvml_lost(r) &&
        gpu_nvml_wanted(d, GPU_NVML_SYM_ECC_MODE) &&
        gpu_nvml_accept(c, r,
                        GPU_NVML_DEV_CALL(d, GPU_NVML_SYM_ECC_MODE,
                                          c->lib.ecc_mode(d->handle, &current, &pending)),
                        "nvmlDeviceGetEccMode")) {
        d->ecc_known = true;
        d->ecc_enabled = current == GPU_NVML_ABI_FEATURE_ENABLED;
    }
    if (!d->ecc_known) {
        return;
    }
    gpu_values_set(&r->values, GPU_FIELD_ECC_ENABLED, d->ecc_enabled);
    if (!d->ecc_enabled || !c->lib.ecc_errors) {
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
    for (size_t i = 0; i < GP_ARRAY_LEN(counters) && !gpu_nvml_lost(r) &&
                       gpu_nvml_wanted(d, GPU_NVML_SYM_ECC_ERRORS);
         i++) {
        unsigned long long n = 0;
        if (gpu_nvml_accept(c, r,
                            GPU_NVML_DEV_CALL(d, GPU_NVML_SYM_ECC_ERRORS,
                                              c->lib.ecc_errors(d->handle, counters[i].error_type,
                                                                counters[i].counter_type, &n)),
                            "nvmlDeviceGetTotalEccErrors")) {
            gpu_values_set(&r->values, counters[i].field, (int64_t)n);
        }
    }
}

static void read_remapped_rows(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d,
                               struct gpu_reading *r)
{
    unsigned int corr = 0;
    unsigned int unc = 0;
    unsigned int pending = 0;
    unsigned int failure = 0;
    if (c->lib.remapped_rows && !gpu_nvml_lost(r) &&
        gpu_nvml_wanted(d, GPU_NVML_SYM_REMAPPED_ROWS) &&
        gpu_nvml_accept(
            c, r,
            GPU_NVML_DEV_CALL(d, GPU_NVML_SYM_REMAPPED_ROWS,
                              c->lib.remapped_rows(d->handle, &corr, &unc, &pending, &failure)),
            "nvmlDeviceGetRemappedRows")) {
        gpu_values_set(&r->values, GPU_FIELD_REMAPPED_ROWS_CORRECTABLE, corr);
        gpu_values_set(&r->values, GPU_FIELD_REMAPPED_ROWS_UNCORRECTABLE, unc);
        gpu_values_set(&r->values, GPU_FIELD_REMAPPED_ROWS_PENDING, pending != 0);
        gpu_values_set(&r->values, GPU_FIELD_REMAPPED_ROWS_FAILURE, failure != 0);
    }
}

/* Without a sample buffer: the polled utilization stands for the whole
 * window since the previous read. */
static void read_busy_polled(struct gpu_nvml_dev *d, struct gpu_reading *r)
{
    uint64_t now = clock_monotonic_us();
    uint64_t window = d->polled_last_us ? now - d->polled_last_us : GPU_NVML_FIRST_WINDOW_US;
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
static void note_state_change(struct gpu_nvml_dev *d, const struct gpu_reading *r)
{
    if (gpu_nvml_lost(r) && !d->was_lost) {
        log_warn("gpu", "GPU %u (%s) is lost: %s; looking for it again every %d s", r->id.index,
                 r->id.uuid, r->error, GPU_LOST_RETRY_MS / 1000);
        snprintf(d->lost_error, sizeof(d->lost_error), "%s", r->error);
        d->retry_at_us = clock_monotonic_us() + (uint64_t)GPU_LOST_RETRY_MS * 1000;
    } else if (!gpu_nvml_lost(r) && d->was_lost) {
        log_warn("gpu", "GPU %u (%s) answers again", r->id.index, r->id.uuid);
    }
    d->was_lost = gpu_nvml_lost(r);
}

/* How busy the engines are, as the driver polls it: SM and memory
 * controller, encoder, decoder. */
static void read_engines(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d,
                         struct gpu_reading *r)
{
    struct gpu_nvml_utilization u = { 0 };
    if (c->lib.utilization && gpu_nvml_wanted(d, GPU_NVML_SYM_UTILIZATION) &&
        gpu_nvml_accept(
            c, r, GPU_NVML_DEV_CALL(d, GPU_NVML_SYM_UTILIZATION, c->lib.utilization(d->handle, &u)),
            "nvmlDeviceGetUtilizationRates")) {
        gpu_values_set(&r->values, GPU_FIELD_UTIL_GPU_PCT, u.gpu);
        gpu_values_set(&r->values, GPU_FIELD_UTIL_MEM_PCT, u.memory);
    }
    read_codec(c, d, r, c->lib.encoder_util, GPU_NVML_SYM_ENCODER_UTIL, GPU_FIELD_UTIL_ENC_PCT);
    read_codec(c, d, r, c->lib.decoder_util, GPU_NVML_SYM_DECODER_UTIL, GPU_FIELD_UTIL_DEC_PCT);
}

/* Heat and power: temperature, fan, power draw against its limit, and
 * energy (the counter once a minute: nvml_backend_energy.c). A one-shot
 * read shows no energy: one counter read says nothing about a span. */
static void read_thermal_power(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d,
                               struct gpu_reading *r)
{
    unsigned int temp = 0;
    if (c->lib.temperature && !gpu_nvml_lost(r) && gpu_nvml_wanted(d, GPU_NVML_SYM_TEMPERATURE) &&
        gpu_nvml_accept(
            c, r,
            GPU_NVML_DEV_CALL(d, GPU_NVML_SYM_TEMPERATURE,
                              c->lib.temperature(d->handle, GPU_NVML_ABI_TEMPERATURE_GPU, &temp)),
            "nvmlDeviceGetTemperature")) {
        gpu_values_set(&r->values, GPU_FIELD_TEMP_C, temp);
    }
    read_uint(c, d, r, c->lib.fan_speed, GPU_NVML_SYM_FAN_SPEED, GPU_FIELD_FAN_PCT);
    read_uint(c, d, r, c->lib.power_usage, GPU_NVML_SYM_POWER_USAGE, GPU_FIELD_POWER_MW);
    read_uint(c, d, r, c->lib.power_limit, GPU_NVML_SYM_POWER_LIMIT, GPU_FIELD_POWER_LIMIT_MW);
    if (!c->once) {
        gpu_nvml_backend_read_energy(c, d, r, false);
    }
}

/* How fast it runs and why not faster: the three clocks, the P-state and
 * the clock-event reasons. */
static void read_clocks(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d, struct gpu_reading *r)
{
    read_clock(c, d, r, GPU_NVML_ABI_CLOCK_SM, GPU_FIELD_CLOCK_SM_MHZ);
    read_clock(c, d, r, GPU_NVML_ABI_CLOCK_GRAPHICS, GPU_FIELD_CLOCK_GRAPHICS_MHZ);
    read_clock(c, d, r, GPU_NVML_ABI_CLOCK_MEM, GPU_FIELD_CLOCK_MEM_MHZ);

    int pstate = 0;
    if (c->lib.pstate && !gpu_nvml_lost(r) && gpu_nvml_wanted(d, GPU_NVML_SYM_PSTATE) &&
        gpu_nvml_accept(
            c, r, GPU_NVML_DEV_CALL(d, GPU_NVML_SYM_PSTATE, c->lib.pstate(d->handle, &pstate)),
            "nvmlDeviceGetPerformanceState") &&
        pstate >= 0 && pstate < GPU_NVML_ABI_PSTATE_UNKNOWN) {
        gpu_values_set(&r->values, GPU_FIELD_PSTATE, pstate);
    }
    unsigned long long reasons = 0;
    if (c->lib.clock_reasons && !gpu_nvml_lost(r) &&
        gpu_nvml_wanted(d, GPU_NVML_SYM_CLOCK_REASONS) &&
        gpu_nvml_accept(c, r,
                        GPU_NVML_DEV_CALL(d, GPU_NVML_SYM_CLOCK_REASONS,
                                          c->lib.clock_reasons(d->handle, &reasons)),
                        c->lib.resolved[GPU_NVML_SYM_CLOCK_REASONS])) {
        gpu_values_set(&r->values, GPU_FIELD_CLOCK_REASONS, (int64_t)reasons);
    }
}

/* One direction of PCIe throughput: the driver samples it for 20 ms. */
static void read_pcie_one(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d,
                          struct gpu_reading *r, int counter, bool *has, int64_t *kbps)
{
    unsigned int v = 0;
    if (!gpu_nvml_lost(r) && gpu_nvml_wanted(d, GPU_NVML_SYM_PCIE_THROUGHPUT) &&
        gpu_nvml_accept(c, r,
                        GPU_NVML_DEV_CALL(d, GPU_NVML_SYM_PCIE_THROUGHPUT,
                                          c->lib.pcie_throughput(d->handle, counter, &v)),
                        "nvmlDeviceGetPcieThroughput")) {
        *has = true;
        *kbps = v;
    }
}

/* PCIe throughput, read only when asked for: the driver samples each
 * direction for 20 ms before it answers. A one-shot read measures every
 * GPU; the agent measures one GPU per tick, in turn, so a tick waits 40 ms
 * at most, and each GPU shows its latest measurement meanwhile. */
static void read_pcie(struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d, unsigned i,
                      struct gpu_reading *r)
{
    if (!c->lib.pcie_throughput) {
        return;
    }
    if (c->once || (d->reads - 1) % c->count == i) {
        read_pcie_one(c, d, r, GPU_NVML_ABI_PCIE_TX_BYTES, &d->has_pcie_tx, &d->pcie_tx_kbps);
        read_pcie_one(c, d, r, GPU_NVML_ABI_PCIE_RX_BYTES, &d->has_pcie_rx, &d->pcie_rx_kbps);
    }
    if (d->has_pcie_tx) {
        gpu_values_set(&r->values, GPU_FIELD_PCIE_TX_KBPS, d->pcie_tx_kbps);
    }
    if (d->has_pcie_rx) {
        gpu_values_set(&r->values, GPU_FIELD_PCIE_RX_KBPS, d->pcie_rx_kbps);
    }
}

void gpu_nvml_backend_read_dynamic(void *ctx, unsigned i, const struct gpu_options *opts,
                                   struct gpu_reading *r)
{
    struct gpu_nvml_ctx *c = ctx;
    struct gpu_nvml_dev *d = &c->dev[i];
    d->reads++;
    if (gpu_nvml_lost(r)) {
        note_state_change(d, r);
        return;
    }
    d->now_us = clock_monotonic_us();
    r->values = d->static_values;
    read_engines(c, d, r);
    read_memory(c, d, r);
    read_thermal_power(c, d, r);
    read_clocks(c, d, r);
    if (opts->read_pcie) {
        read_pcie(c, d, i, r);
    }
    read_ecc(c, d, r);
    read_remapped_rows(c, d, r);

    /* The polled busy time until the sample buffer settles the tick
     * (gpu_session_settle); a one-shot read keeps it. */
    if (!gpu_nvml_lost(r)) {
        read_busy_polled(d, r);
    }
    /* A GPU lost part-way through shows nothing rather than half a reading. */
    if (gpu_nvml_lost(r)) {
        r->values = (struct gpu_values){ 0 };
        r->busy = (struct gpu_busy){ 0 };
    }
    note_state_change(d, r);
}
