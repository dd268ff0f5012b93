#include "cost.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

static const struct {
    const char *name;
    double h200_us;
} rows[SIM_COST_COUNT] = {
#define X(id, name, us) [SIM_COST_##id] = { name, us },
#include "cost.def"
#undef X
};

static struct sim_cost_profile active;
static bool active_on;

struct sim_cost_profile sim_cost_h200(void)
{
    struct sim_cost_profile p;
    for (size_t i = 0; i < SIM_COST_COUNT; i++) {
        p.us[i] = rows[i].h200_us;
    }
    return p;
}

int sim_cost_index(const char *name)
{
    for (int i = 0; i < SIM_COST_COUNT; i++) {
        if (strcmp(rows[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

const char *sim_cost_name(enum sim_cost_fn fn)
{
    return (unsigned)fn < SIM_COST_COUNT ? rows[fn].name : "?";
}

void sim_cost_use(const struct sim_cost_profile *p)
{
    active_on = p != NULL;
    if (p) {
        active = *p;
    }
}

static double thread_cpu_us(void)
{
    struct timespec ts = { 0 };
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

void sim_cost_spend(enum sim_cost_fn fn)
{
    if (!active_on || (unsigned)fn >= SIM_COST_COUNT || active.us[fn] <= 0) {
        return;
    }
    double until = thread_cpu_us() + active.us[fn];
    /* Each look at the clock is itself a system call of a few hundred
     * nanoseconds: part of what is spent, as the driver's ioctls are. */
    double now = 0;
    do {
        now = thread_cpu_us();
    } while (now < until);
}
