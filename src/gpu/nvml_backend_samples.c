/* The NVML back end's busy time from the driver's utilization sample
 * buffer. Two calls per tick (a size query, then the data) that cost
 * 1.4-2.6 ms on a real H200: the buffer is asked only for samples newer
 * than the last one taken. */
#include <stdint.h>

#include "gpu/nvml_backend_int.h"
#include "util/xalloc.h"

/* A guess at the driver's sample period when only one sample is known. */
#define DEFAULT_SAMPLE_PERIOD_US 166667ULL

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
bool gpu_nvml_backend_read_busy_samples(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d,
                                        struct gpu_reading *r)
{
    if (!c->lib.samples || d->samples_unsupported || gpu_nvml_lost(r)) {
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
    if (rc == GPU_NVML_RC_SUCCESS && count > GPU_NVML_MAX_DRIVER_SAMPLES) {
        count = GPU_NVML_MAX_DRIVER_SAMPLES; /* a driver fault: take what fits, never all */
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
    if (!gpu_nvml_accept(c, r, rc, "nvmlDeviceGetSamples")) {
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
    unsigned long long prev = d->samples_seen ? last
                              : newest > GPU_NVML_FIRST_WINDOW_US
                                  ? newest - GPU_NVML_FIRST_WINDOW_US
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
