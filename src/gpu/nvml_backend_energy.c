/* The NVML back end's energy and the settling of held ticks. The energy
 * counter costs 2.5-3.5 ms a call on an H200 (nvml-costs.md), power 1 us:
 * the counter is read at the first read, once a minute and when the agent
 * stops; between, energy grows by power integrated over time (trapezoids
 * between two ticks' power readings). Each counter reading re-anchors the
 * estimate, so over an hour the stored energy agrees with the counter to
 * within what one minute's integration can be off. */
#include <math.h>
#include <stdint.h>

#include "gpu/nvml_backend_int.h"

/* Power since the previous reading, into the estimate. */
static void integrate_power(struct gpu_nvml_dev *d, const struct gpu_reading *r)
{
    if (!gpu_values_has(&r->values, GPU_FIELD_POWER_MW)) {
        d->has_prev_power = false;
        return;
    }
    int64_t mw = r->values.v[GPU_FIELD_POWER_MW];
    if (d->has_prev_power && d->now_us > d->prev_power_us) {
        double dt_s = (double)(d->now_us - d->prev_power_us) / 1e6;
        d->energy_est_mj += (double)(d->prev_power_mw + mw) / 2.0 * dt_s;
    }
    d->prev_power_mw = mw;
    d->prev_power_us = d->now_us;
    d->has_prev_power = true;
}

void gpu_nvml_backend_read_energy(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d,
                                  struct gpu_reading *r, bool force)
{
    if (!c->lib.energy || gpu_nvml_lost(r)) {
        return;
    }
    integrate_power(d, r);
    /* A counter that failed (TIMEOUT, say) is asked again a minute later,
     * as a working one is: each call costs about 3 ms on an H200. */
    bool due = force || d->energy_read_us == 0 ||
               d->now_us - d->energy_read_us >= GPU_NVML_ENERGY_EVERY_US;
    unsigned long long mj = 0;
    if (due && gpu_nvml_wanted(d, GPU_NVML_SYM_ENERGY)) {
        d->energy_read_us = d->now_us;
        if (gpu_nvml_accept(
                c, r, GPU_NVML_DEV_CALL(d, GPU_NVML_SYM_ENERGY, c->lib.energy(d->handle, &mj)),
                "nvmlDeviceGetTotalEnergyConsumption")) {
            d->energy_est_mj = (double)mj;
            d->energy_anchored = true;
        }
    }
    if (!d->energy_anchored) {
        return;
    }
    if (d->energy_est_mj > d->energy_out_mj) {
        d->energy_out_mj = d->energy_est_mj;
    }
    gpu_values_set(&r->values, GPU_FIELD_ENERGY_MJ, (int64_t)floor(d->energy_out_mj));
}

void gpu_nvml_backend_settle(void *ctx, unsigned i, struct gpu_settle_tick *ticks, size_t n,
                             bool final)
{
    struct gpu_nvml_ctx *c = ctx;
    struct gpu_nvml_dev *d = &c->dev[i];
    if (n == 0 || d->handle_rc != GPU_NVML_RC_SUCCESS) {
        return;
    }
    gpu_nvml_backend_settle_busy(c, d, ticks, n);
    struct gpu_reading *last = ticks[n - 1].r;
    if (final && !c->once && !gpu_nvml_lost(last) &&
        gpu_values_has(&last->values, GPU_FIELD_ENERGY_MJ)) {
        /* The stop: the counter itself for the last tick, no estimate. The
         * power integrated since that tick's read is not counted twice:
         * the estimate restarts from the counter. */
        d->has_prev_power = false;
        gpu_nvml_backend_read_energy(c, d, last, true);
    }
}

uint64_t gpu_nvml_backend_busy_span_us(void *ctx, unsigned i)
{
    const struct gpu_nvml_ctx *c = ctx;
    return c->dev[i].span_us;
}
