/* The NVML back end's busy time from the driver's utilization sample
 * buffer. Two calls per read: a size query (3 us on a real H200), then the
 * data (1.4-2.6 ms), asked only for the samples newer than the last one
 * taken; the agent reads it every few seconds, not every tick. */
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
    gpu_nvml_return_t rc = GPU_NVML_TIMED(
        GPU_NVML_SYM_SAMPLES, c->lib.samples(d->handle, GPU_NVML_ABI_GPU_UTILIZATION_SAMPLES, last,
                                             value_type, count, NULL));
    if (rc == GPU_NVML_RC_SUCCESS && *count > GPU_NVML_MAX_DRIVER_SAMPLES) {
        *count = GPU_NVML_MAX_DRIVER_SAMPLES; /* a driver fault: take what fits, never all */
    }
    if (rc == GPU_NVML_RC_SUCCESS && *count > 0) {
        if (*count > d->samples_cap) {
            d->samples_cap = *count + 16;
            d->samples = xrealloc(d->samples, d->samples_cap * sizeof(*d->samples));
        }
        *count = d->samples_cap;
        rc = GPU_NVML_TIMED(GPU_NVML_SYM_SAMPLES,
                            c->lib.samples(d->handle, GPU_NVML_ABI_GPU_UTILIZATION_SAMPLES, last,
                                           value_type, count, d->samples));
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

/* How much history the driver keeps, from the first read (lastSeen 0
 * returns the whole buffer). A buffer still filling (a driver just
 * loaded) says nothing of its size: the span stays unknown. */
#define MIN_SAMPLES_FOR_SPAN 16

static void note_span(struct gpu_nvml_dev *d, unsigned count, unsigned long long last)
{
    if (last == 0 && count >= MIN_SAMPLES_FOR_SPAN) {
        d->span_us = sample_period_us(d, count, last) * count;
    }
}

/* Adds sample s, covering dt, to busy b. */
static void add_sample(struct gpu_busy *b, int value_type, const struct gpu_nvml_sample *s,
                       unsigned long long dt)
{
    b->busy_us += (uint64_t)(sample_pct(value_type, &s->value) * (double)dt / 100.0 + 0.5);
    b->window_us += dt;
    b->samples++;
}

/* The driver stamps samples with the wall clock (Unix us), as ours: then
 * the newest sample is at most a period or so older than the last tick.
 * Further apart (a driver or simulation with a clock of its own), the
 * ticks are moved so that the last one ends at the newest sample, the
 * driver's "now". */
static void map_to_driver_clock(const struct gpu_nvml_dev *d, unsigned count,
                                unsigned long long last, struct gpu_settle_tick *ticks, size_t n)
{
    unsigned long long newest = d->samples[count - 1].timestamp_us;
    unsigned long long slack = 2 * sample_period_us(d, count, last) + GPU_NVML_FIRST_WINDOW_US;
    uint64_t end = ticks[n - 1].end_us;
    if (newest + slack >= end && newest <= end + slack) {
        return;
    }
    for (size_t k = 0; k < n; k++) {
        ticks[k].end_us = ticks[k].end_us - end + newest;
    }
}

/* How far ahead of the last tick the newest sample taken may lie before
 * the wall clock is taken to have stepped back. */
#define GPU_NVML_CLOCK_STEP_US 2000000ULL

/* Gives each tick the samples whose timestamp falls in its window (after
 * the previous tick's start, up to its own): a sample covers the time
 * since the one before it. Samples newer than the last tick are left for
 * the next settle; older ones (published late) go to the first tick. The
 * first settle of a session starts one second before its first tick. */
static void assign_samples(struct gpu_nvml_dev *d, int value_type, unsigned count,
                           unsigned long long last, struct gpu_settle_tick *ticks, size_t n)
{
    const struct gpu_nvml_sample *s = d->samples;
    unsigned long long period = sample_period_us(d, count, last);
    unsigned long long prev = last;
    if (!d->samples_seen) {
        prev = ticks[0].end_us > GPU_NVML_FIRST_WINDOW_US
                   ? ticks[0].end_us - GPU_NVML_FIRST_WINDOW_US
                   : 0;
    }
    struct gpu_busy none = { .source = GPU_BUSY_SAMPLES };
    for (size_t k = 0; k < n; k++) {
        if (!gpu_nvml_lost(ticks[k].r)) {
            ticks[k].r->busy = none;
        }
    }
    size_t k = 0;
    for (unsigned i = 0; i < count && s[i].timestamp_us <= ticks[n - 1].end_us; i++) {
        unsigned long long ts = s[i].timestamp_us;
        if (ts <= prev) {
            continue;
        }
        while (k + 1 < n && ts > ticks[k].end_us) {
            k++;
        }
        unsigned long long dt = ts - prev;
        /* A gap (the buffer wrapped, or we were away): a sample covers one period. */
        if (dt > 2 * period) {
            dt = period;
        }
        if (!gpu_nvml_lost(ticks[k].r)) {
            add_sample(&ticks[k].r->busy, value_type, &s[i], dt);
        }
        prev = ts;
    }
    d->samples_seen = true;
    d->samples_last_us = prev;
}

/* Busy time from the driver's utilization sample buffer: each sample is the
 * busy fraction of the period that ends at its timestamp, so summing
 * value x period counts work between two of our reads, however short. One
 * read covers every tick since the previous one, as long as they span less
 * than the buffer (14 s on an H200). Ticks it cannot settle keep the polled
 * busy time they were read with. */
void gpu_nvml_backend_settle_busy(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d,
                                  struct gpu_settle_tick *ticks, size_t n)
{
    if (!c->lib.samples || d->samples_unsupported || n == 0) {
        return;
    }
    unsigned long long last = d->samples_seen ? d->samples_last_us : 0;
    int value_type = 0;
    unsigned count = 0;
    gpu_nvml_return_t rc = fetch_samples(c, d, last, &value_type, &count);
    if (rc == GPU_NVML_RC_NOT_SUPPORTED) {
        d->samples_unsupported = true;
        return;
    }
    if (rc == GPU_NVML_RC_NOT_FOUND || (rc == GPU_NVML_RC_SUCCESS && count == 0)) {
        for (size_t k = 0; k < n; k++) {
            if (!gpu_nvml_lost(ticks[k].r)) {
                ticks[k].r->busy = (struct gpu_busy){ .source = GPU_BUSY_SAMPLES };
            }
        }
        /* The driver stamps samples with the wall clock: after a step
         * back, the last one taken lies ahead and nothing is newer until
         * the clock catches up. Start afresh at the next read. */
        if (d->samples_seen && last > ticks[n - 1].end_us + GPU_NVML_CLOCK_STEP_US) {
            d->samples_seen = false;
        }
        return; /* nothing new since the last read */
    }
    if (rc != GPU_NVML_RC_SUCCESS) {
        gpu_nvml_accept(c, ticks[n - 1].r, rc, "nvmlDeviceGetSamples");
        return;
    }
    note_span(d, count, last);
    map_to_driver_clock(d, count, last, ticks, n);
    assign_samples(d, value_type, count, last, ticks, n);
}
