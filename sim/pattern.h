/* Metric patterns over scenario time for the simulated NVML: constant,
 * square wave, bursts, ramp, seeded random walk. Each can be evaluated at an
 * instant, averaged over an interval (what a driver sample period reports)
 * and integrated (energy from power). */
#ifndef GPULSE_SIM_PATTERN_H
#define GPULSE_SIM_PATTERN_H

#include <stdint.h>

enum sim_pattern_kind {
    SIM_PATTERN_CONSTANT,
    SIM_PATTERN_PERIODIC, /* "square" and "bursts": high for `on_s` of every `period_s` */
    SIM_PATTERN_RAMP, /* from -> to over [start_s, start_s + duration_s], then holds or repeats */
    SIM_PATTERN_RANDOM_WALK, /* a new step every interval_s, clamped to [min, max] */
};

struct sim_pattern {
    enum sim_pattern_kind kind;
    double value;     /* constant */
    double low, high; /* periodic */
    double period_s, on_s, phase_s;
    double from, to, start_s, duration_s; /* ramp */
    int repeat;                           /* ramp restarts after each duration */
    uint64_t seed;                        /* random walk */
    double start, step, min, max, interval_s;
    /* random-walk cache: value after interval index cache_k */
    int64_t cache_k;
    double cache_v;
    double cache_sum; /* integral of the walk over [0, (cache_k + 1) * interval_s) */
};

/* A constant pattern. */
struct sim_pattern sim_pattern_constant(double v);

/* The value at scenario time t (seconds, t >= 0). */
double sim_pattern_at(struct sim_pattern *p, double t);

/* The integral over [0, t] in value x seconds. */
double sim_pattern_integral(struct sim_pattern *p, double t);

/* The mean over [t0, t1] (the value at t0 when t1 <= t0). */
double sim_pattern_mean(struct sim_pattern *p, double t0, double t1);

#endif
