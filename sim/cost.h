/* What each simulated NVML call costs: CPU time spent in the calling
 * thread, as NVIDIA's driver spends it (it works, it does not sleep). The
 * default profile is an H200 with R580 (sim/cost.def, from
 * shared/reference/nvml-costs.md); a scenario's "call_cost" or
 * GPULSE_SIM_CALL_COST turns it off or changes it (sim/README.md). */
#ifndef GPULSE_SIM_COST_H
#define GPULSE_SIM_COST_H

enum sim_cost_fn {
#define X(id, name, us) SIM_COST_##id,
#include "cost.def"
#undef X
    SIM_COST_COUNT
};

/* A profile: microseconds of CPU per call, by function. */
struct sim_cost_profile {
    double us[SIM_COST_COUNT];
};

/* The H200 / R580 profile. */
struct sim_cost_profile sim_cost_h200(void);

/* The function named as in sim/cost.def ("nvmlDeviceGetSamples", or a
 * variant such as "nvmlDeviceGetSamples(size query)"), or -1. */
int sim_cost_index(const char *name);

/* The name of a row of sim/cost.def. */
const char *sim_cost_name(enum sim_cost_fn fn);

/* Makes the calls that follow cost what p says; NULL: nothing (the state
 * before the first call). Not thread-safe against sim_cost_spend: set it
 * once, at load. */
void sim_cost_use(const struct sim_cost_profile *p);

/* Spends the CPU time fn costs in the current profile, spinning on the
 * calling thread's CPU clock. */
void sim_cost_spend(enum sim_cost_fn fn);

#endif
