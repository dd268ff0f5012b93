#include "pattern.h"

#include <math.h>

struct sim_pattern sim_pattern_constant(double v)
{
    return (struct sim_pattern){ .kind = SIM_PATTERN_CONSTANT, .value = v, .cache_k = -1 };
}

/* splitmix64: a fixed, documented generator, so tests in any language can
 * reproduce a walk from its seed (see sim/README.md). */
static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* Uniform in [-1, 1) for step k of the walk. */
static double walk_unit(uint64_t seed, int64_t k)
{
    uint64_t r = splitmix64(seed ^ splitmix64((uint64_t)k));
    return (double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Advances the walk cache to interval k (resetting when asked for the past). */
static double walk_value(struct sim_pattern *p, int64_t k)
{
    if (p->cache_k < 0 || k < p->cache_k) {
        p->cache_k = 0;
        p->cache_v = clamp(p->start, p->min, p->max);
        p->cache_sum = p->cache_v * p->interval_s;
    }
    while (p->cache_k < k) {
        p->cache_k++;
        p->cache_v = clamp(p->cache_v + walk_unit(p->seed, p->cache_k) * p->step, p->min, p->max);
        p->cache_sum += p->cache_v * p->interval_s;
    }
    return p->cache_v;
}

/* Time spent "on" in [0, t] for a periodic pattern. */
static double periodic_on_time(const struct sim_pattern *p, double t)
{
    /* Shift so that each period starts with its on-phase. */
    double u = t - p->phase_s;
    double full = floor(u / p->period_s);
    double rem = u - full * p->period_s;
    double on = full * p->on_s + fmin(rem, p->on_s);
    /* Subtract what lies before t = 0 (for phase_s > 0). */
    double u0 = -p->phase_s;
    double full0 = floor(u0 / p->period_s);
    double rem0 = u0 - full0 * p->period_s;
    double on0 = full0 * p->on_s + fmin(rem0, p->on_s);
    return on - on0;
}

static double ramp_at(const struct sim_pattern *p, double t)
{
    if (t <= p->start_s || p->duration_s <= 0) {
        return t <= p->start_s ? p->from : p->to;
    }
    double u = t - p->start_s;
    if (p->repeat) {
        u = fmod(u, p->duration_s);
    } else if (u >= p->duration_s) {
        return p->to;
    }
    return p->from + (p->to - p->from) * u / p->duration_s;
}

/* Integral of one ramp from its start over u seconds, u in [0, duration]. */
static double ramp_partial(const struct sim_pattern *p, double u)
{
    return p->from * u + (p->to - p->from) * u * u / (2.0 * p->duration_s);
}

static double ramp_integral(const struct sim_pattern *p, double t)
{
    if (t <= p->start_s || p->duration_s <= 0) {
        return p->from * fmin(t, p->start_s) + (t > p->start_s ? p->to * (t - p->start_s) : 0);
    }
    double before = p->from * p->start_s;
    double u = t - p->start_s;
    if (p->repeat) {
        double cycles = floor(u / p->duration_s);
        double one = ramp_partial(p, p->duration_s);
        return before + cycles * one + ramp_partial(p, u - cycles * p->duration_s);
    }
    if (u >= p->duration_s) {
        return before + ramp_partial(p, p->duration_s) + p->to * (u - p->duration_s);
    }
    return before + ramp_partial(p, u);
}

double sim_pattern_at(struct sim_pattern *p, double t)
{
    switch (p->kind) {
    case SIM_PATTERN_PERIODIC: {
        double u = fmod(t - p->phase_s, p->period_s);
        if (u < 0) {
            u += p->period_s;
        }
        return u < p->on_s ? p->high : p->low;
    }
    case SIM_PATTERN_RAMP:
        return ramp_at(p, t);
    case SIM_PATTERN_RANDOM_WALK:
        return walk_value(p, (int64_t)floor(t / p->interval_s));
    case SIM_PATTERN_CONSTANT:
    default:
        return p->value;
    }
}

double sim_pattern_integral(struct sim_pattern *p, double t)
{
    if (t <= 0) {
        return 0;
    }
    switch (p->kind) {
    case SIM_PATTERN_PERIODIC: {
        double on = periodic_on_time(p, t);
        return p->high * on + p->low * (t - on);
    }
    case SIM_PATTERN_RAMP:
        return ramp_integral(p, t);
    case SIM_PATTERN_RANDOM_WALK: {
        int64_t k = (int64_t)floor(t / p->interval_s);
        double v = walk_value(p, k);
        /* cache_sum covers intervals 0..k in full; take back the part after t */
        return p->cache_sum - v * ((double)(k + 1) * p->interval_s - t);
    }
    case SIM_PATTERN_CONSTANT:
    default:
        return p->value * t;
    }
}

double sim_pattern_mean(struct sim_pattern *p, double t0, double t1)
{
    if (t1 <= t0) {
        return sim_pattern_at(p, t0);
    }
    if (t0 < 0) {
        t0 = 0;
    }
    /* t0 first: a random walk's cache then only moves forward. */
    double i0 = sim_pattern_integral(p, t0);
    double i1 = sim_pattern_integral(p, t1);
    return (i1 - i0) / (t1 - t0);
}
