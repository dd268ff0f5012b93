/* Metric patterns over scenario time for the simulated NVML: constant,
 * square wave, bursts, ramp, seeded random walk. Each can be evaluated at an
 * instant, averaged over an interval (what a driver sample period reports)
 * and integrated (energy from power). A random walk is defined step by
 * step from t = 0; it keeps checkpoints so that an evaluation anywhere near
 * the latest time asked for costs a bounded number of steps however long
 * the scenario has run (at most 64 steps within 4096 intervals of it, and
 * about 2 x (latest step) / 64 steps further back). */
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
    /* A random walk's checkpoints, allocated on its first evaluation (NULL
     * until then, and for every other kind); sim_pattern_fini frees it. */
    struct sim_walk_cache *walk;
};

/* A constant pattern. */
struct sim_pattern sim_pattern_constant(double v);

/* Frees what evaluating a pattern allocated (a random walk's cache); the
 * pattern stays usable. A copy of a pattern made before its first
 * evaluation owns nothing of the original's. */
void sim_pattern_fini(struct sim_pattern *p);

/* Random-walk steps computed so far by this pattern (0 for other kinds):
 * what an evaluation costs, for tests that show the cost stays flat. */
uint64_t sim_pattern_walk_steps(const struct sim_pattern *p);

/* The value at scenario time t (seconds, t >= 0). */
double sim_pattern_at(struct sim_pattern *p, double t);

/* The integral over [0, t] in value x seconds. */
double sim_pattern_integral(struct sim_pattern *p, double t);

/* The mean over [t0, t1] (the value at t0 when t1 <= t0). */
double sim_pattern_mean(struct sim_pattern *p, double t0, double t1);

#endif
