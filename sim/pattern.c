#include "pattern.h"

#include <math.h>
#include <stdlib.h>

struct sim_pattern sim_pattern_constant(double v)
{
    return (struct sim_pattern){ .kind = SIM_PATTERN_CONSTANT, .value = v };
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

/* The walk after interval k: its value in that interval and the integral
 * over intervals 0..k in full. */
struct walk_point {
    int64_t k;
    double v;
    double sum;
};

/* Fine checkpoints every WALK_FINE_EVERY steps, the last WALK_FINE_N of
 * them (a ring: the recent past a driver's sample buffer reaches back
 * into); coarse ones from 0 on, at most WALK_COARSE_N, their spacing
 * doubled whenever they fill up (the far past, rarely asked for). */
#define WALK_FINE_EVERY 64
#define WALK_FINE_N     64
#define WALK_COARSE_N   64

struct sim_walk_cache {
    struct walk_point cur; /* the last point evaluated */
    int64_t frontier;      /* the furthest step computed */
    uint64_t steps;        /* steps computed in all */
    struct walk_point fine[WALK_FINE_N];
    struct walk_point coarse[WALK_COARSE_N];
    size_t coarse_n;
    int64_t coarse_every;
};

static struct walk_point walk_origin(const struct sim_pattern *p)
{
    double v = clamp(p->start, p->min, p->max);
    return (struct walk_point){ .k = 0, .v = v, .sum = v * p->interval_s };
}

static void walk_step(const struct sim_pattern *p, struct walk_point *w)
{
    w->k++;
    w->v = clamp(w->v + walk_unit(p->seed, w->k) * p->step, p->min, p->max);
    w->sum += w->v * p->interval_s;
}

static struct sim_walk_cache *walk_cache(struct sim_pattern *p)
{
    if (!p->walk) {
        p->walk = calloc(1, sizeof(*p->walk));
        if (p->walk) {
            struct sim_walk_cache *c = p->walk;
            c->cur = walk_origin(p);
            for (size_t i = 0; i < WALK_FINE_N; i++) {
                c->fine[i].k = -1;
            }
            c->fine[0] = c->cur;
            c->coarse[0] = c->cur;
            c->coarse_n = 1;
            c->coarse_every = WALK_FINE_EVERY;
        }
    }
    return p->walk;
}

/* Keeps the checkpoints a newly computed step falls on. */
static void walk_record(struct sim_walk_cache *c, const struct walk_point *w)
{
    c->frontier = w->k;
    if (w->k % WALK_FINE_EVERY == 0) {
        c->fine[(w->k / WALK_FINE_EVERY) % WALK_FINE_N] = *w;
    }
    if (w->k % c->coarse_every == 0 && w->k / c->coarse_every == (int64_t)c->coarse_n) {
        if (c->coarse_n == WALK_COARSE_N) {
            for (size_t i = 0; i < WALK_COARSE_N / 2; i++) {
                c->coarse[i] = c->coarse[2 * i];
            }
            c->coarse_n = WALK_COARSE_N / 2;
            c->coarse_every *= 2;
        }
        if (w->k % c->coarse_every == 0) {
            c->coarse[c->coarse_n++] = *w;
        }
    }
}

/* The walk at interval k, from the nearest checkpoint at or before it. */
static struct walk_point walk_at(struct sim_pattern *p, int64_t k)
{
    struct sim_walk_cache *c = walk_cache(p);
    if (!c) { /* out of memory: replay from the start */
        struct walk_point w = walk_origin(p);
        while (w.k < k) {
            walk_step(p, &w);
        }
        return w;
    }
    int64_t ci = k < 0 ? 0 : k / c->coarse_every;
    struct walk_point w = c->coarse[ci < (int64_t)c->coarse_n ? (size_t)ci : c->coarse_n - 1];
    const struct walk_point *f = &c->fine[(k / WALK_FINE_EVERY) % WALK_FINE_N];
    if (f->k >= 0 && f->k <= k && f->k > w.k) {
        w = *f;
    }
    if (c->cur.k <= k && c->cur.k > w.k) {
        w = c->cur;
    }
    while (w.k < k) {
        walk_step(p, &w);
        c->steps++;
        if (w.k > c->frontier) {
            walk_record(c, &w);
        }
    }
    c->cur = w;
    return w;
}

void sim_pattern_fini(struct sim_pattern *p)
{
    free(p->walk);
    p->walk = NULL;
}

uint64_t sim_pattern_walk_steps(const struct sim_pattern *p)
{
    return p->walk ? p->walk->steps : 0;
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
        return walk_at(p, (int64_t)floor(t / p->interval_s)).v;
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
        struct walk_point w = walk_at(p, (int64_t)floor(t / p->interval_s));
        /* w.sum covers intervals 0..k in full; take back the part after t */
        return w.sum - w.v * ((double)(w.k + 1) * p->interval_s - t);
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
