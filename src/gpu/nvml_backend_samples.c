/* The NVML back end's busy time from the driver's utilization sample
 * buffer. Two calls per tick: a size query (3 us on a real H200), then the
 * data (1.4-2.6 ms), asked only for the samples newer than the last one
 * taken. */
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

/* Fetches the samples newer than last into d->samples: a size query, then,
 * if there are any, the data. Returns the last call's result; *count is
 * how many samples came back. */
static gpu_nvml_return_t fetch_samples(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d,
                                       unsigned long long last, int *value_type, unsigned *count)
{
    gpu_nvml_return_t rc = c->lib.samples(d->handle, GPU_NVML_ABI_GPU_UTILIZATION_SAMPLES, last,
                                          value_type, count, NULL);
    if (rc == GPU_NVML_RC_SUCCESS && *count > GPU_NVML_MAX_DRIVER_SAMPLES) {
        *count = GPU_NVML_MAX_DRIVER_SAMPLES; /* a driver fault: take what fits, never all */
    }
    if (rc == GPU_NVML_RC_SUCCESS && *count > 0) {
        if (*count > d->samples_cap) {
            d->samples_cap = *count + 16;
            d->samples = xrealloc(d->samples, d->samples_cap * sizeof(*d->samples));
        }
        *count = d->samples_cap;
        rc = c->lib.samples(d->handle, GPU_NVML_ABI_GPU_UTILIZATION_SAMPLES, last, value_type,
                            count, d->samples);
    }
    return rc;
}

/* The driver's sample period, from the spread of the samples at hand, else
 * from the gap since the last one taken, else a guess. */
static unsigned long long sample_period_us(const struct gpu_nvml_dev *d, unsigned count,
                                           unsigned long long last)
{
    const struct gpu_nvml_sample *s = d->samples;
    unsigned long long newest = s[count - 1].timestamp_us;
    if (count >= 2 && newest > s[0].timestamp_us) {
        return (newest - s[0].timestamp_us) / (count - 1);
    }
    if (d->samples_seen && newest > last) {
        return newest - last;
    }
    return DEFAULT_SAMPLE_PERIOD_US;
}

/* Sums value x period over the samples newer than last. Each sample covers
 * the time since the one before it. The first read starts one second
 * before the newest sample, as a polled reading would. */
static struct gpu_busy sum_busy(const struct gpu_nvml_dev *d, int value_type, unsigned count,
                                unsigned long long last)
{
    const struct gpu_nvml_sample *s = d->samples;
    unsigned long long newest = s[count - 1].timestamp_us;
    unsigned long long period = sample_period_us(d, count, last);
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
    return b;
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
    gpu_nvml_return_t rc = fetch_samples(c, d, last, &value_type, &count);
    if (rc == GPU_NVML_RC_NOT_SUPPORTED) {
        d->samples_unsupported = true;
        return false;
    }
    if (rc == GPU_NVML_RC_NOT_FOUND || (rc == GPU_NVML_RC_SUCCESS && count == 0)) {
        r->busy = (struct gpu_busy){ .source = GPU_BUSY_SAMPLES };
        return true; /* nothing new since the last read */
    }
    if (!gpu_nvml_accept(c, r, rc, "nvmlDeviceGetSamples")) {
        return false;
    }
    unsigned long long newest = d->samples[count - 1].timestamp_us;
    r->busy = sum_busy(d, value_type, count, last);
    d->samples_seen = true;
    d->samples_last_us = newest > last ? newest : last;
    d->driver_now_us = d->samples_last_us;
    return true;
}
