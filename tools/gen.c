/* gpulse-gen: puts months of history into a database in seconds, for tests
 * and benchmarks. It evaluates a simulator scenario (sim/README.md) at
 * synthetic timestamps, with no NVML and no waiting, and hands the
 * snapshots to the same writer the agent uses, so rollups, activity and
 * process accounting come out as the agent would have made them. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "scenario.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/strparse.h"
#include "util/timeparse.h"
#include "util/xalloc.h"

#define MIB 1048576.0

static void usage(FILE *out)
{
    fputs("Usage: gpulse-gen --scenario FILE --database PATH --from TIME [OPTIONS]\n"
          "Writes the scenario's samples from --from to --to into the database\n"
          "through gpulse's writer, as an agent sampling every --interval would.\n"
          "\n"
          "      --scenario FILE     simulator scenario (sim/README.md)\n"
          "  -d, --database PATH     the database (created when missing)\n"
          "      --from TIME         first sample (ISO 8601, epoch seconds, -30d)\n"
          "      --to TIME           end (default now)\n"
          "      --interval DURATION sampling period (default 1s)\n"
          "      --batch N           snapshots per transaction (default 300)\n"
          "      --no-processes      leave the scenario's processes out\n"
          "      --prune             apply the default retention at --to afterwards\n"
          "      --timezone ZONE     cut days in this zone (default the host's)\n"
          "  -h, --help              show this help\n",
          out);
}

static bool works(const struct sim_gpu *g, enum sim_feature f)
{
    return g->feature_error[f] == 0;
}

static void put(struct gpu_values *v, enum gpu_field f, double value)
{
    gpu_values_set(v, f, (int64_t)llround(value));
}

static bool process_active(const struct sim_process *p, double t, uint64_t *cycle)
{
    double local = t;
    *cycle = 0;
    if (p->cycle_s > 0) {
        *cycle = (uint64_t)floor(t / p->cycle_s);
        local = fmod(t, p->cycle_s);
    }
    return local >= p->start_s && local < p->end_s;
}

/* One GPU's reading at scenario time ts (seconds), sampled every period_s. */
static void read_gpu(struct sim_gpu *g, unsigned index, double ts, double period_s,
                     int64_t epoch_ms, bool with_processes, struct gpu_reading *r)
{
    memset(r, 0, sizeof(*r));
    struct gpu_identity *id = &r->id;
    id->index = index;
    snprintf(id->uuid, sizeof(id->uuid), "%s", g->uuid);
    snprintf(id->name, sizeof(id->name), "%s", g->name);
    snprintf(id->serial, sizeof(id->serial), "%s", g->serial);
    snprintf(id->pci_bus_id, sizeof(id->pci_bus_id), "%s", g->pci_bus_id);
    if (ts >= g->lost_at_s) {
        r->state = GPU_STATE_LOST;
        snprintf(r->error, sizeof(r->error), "GPU is lost");
        return;
    }
    struct gpu_values *v = &r->values;
    struct sim_pattern *m = g->metric;
    if (works(g, SIM_F_UTILIZATION)) {
        /* The mean first: a random walk's cache only moves forward, and
         * going back to the window's start after reading ts would replay
         * the walk from the beginning. */
        double from = ts > period_s ? ts - period_s : 0;
        double mean = sim_pattern_mean(&m[SIM_M_UTIL_GPU], from, ts);
        r->busy = (struct gpu_busy){ .source = GPU_BUSY_SAMPLES,
                                     .window_us = (uint64_t)llround((ts - from) * 1e6),
                                     .busy_us = (uint64_t)llround((ts - from) * 1e6 * mean / 100) };
        put(v, GPU_FIELD_UTIL_GPU_PCT, sim_pattern_at(&m[SIM_M_UTIL_GPU], ts));
        put(v, GPU_FIELD_UTIL_MEM_PCT, sim_pattern_at(&m[SIM_M_UTIL_MEMORY], ts));
    }
    if (works(g, SIM_F_ENCODER)) {
        put(v, GPU_FIELD_UTIL_ENC_PCT, sim_pattern_at(&m[SIM_M_UTIL_ENCODER], ts));
    }
    if (works(g, SIM_F_DECODER)) {
        put(v, GPU_FIELD_UTIL_DEC_PCT, sim_pattern_at(&m[SIM_M_UTIL_DECODER], ts));
    }
    double used_mib = sim_pattern_at(&m[SIM_M_MEMORY_USED_MIB], ts);
    if (works(g, SIM_F_MEMORY)) {
        put(v, GPU_FIELD_MEM_TOTAL_BYTES, g->memory_total_mib * MIB);
        put(v, GPU_FIELD_MEM_RESERVED_BYTES, g->memory_reserved_mib * MIB);
    }
    if (works(g, SIM_F_TEMPERATURE)) {
        put(v, GPU_FIELD_TEMP_C, sim_pattern_at(&m[SIM_M_TEMPERATURE_C], ts));
    }
    if (works(g, SIM_F_FAN)) {
        put(v, GPU_FIELD_FAN_PCT, sim_pattern_at(&m[SIM_M_FAN_PCT], ts));
    }
    if (works(g, SIM_F_POWER)) {
        put(v, GPU_FIELD_POWER_MW, sim_pattern_at(&m[SIM_M_POWER_W], ts) * 1000);
    }
    if (works(g, SIM_F_POWER_LIMIT)) {
        put(v, GPU_FIELD_POWER_LIMIT_MW, g->power_limit_w * 1000);
    }
    if (works(g, SIM_F_ENERGY)) {
        put(v, GPU_FIELD_ENERGY_MJ,
            g->energy_start_mj + sim_pattern_integral(&m[SIM_M_POWER_W], ts) * 1000);
    }
    if (works(g, SIM_F_CLOCKS)) {
        put(v, GPU_FIELD_CLOCK_SM_MHZ, sim_pattern_at(&m[SIM_M_CLOCK_SM_MHZ], ts));
        put(v, GPU_FIELD_CLOCK_GRAPHICS_MHZ, sim_pattern_at(&m[SIM_M_CLOCK_GRAPHICS_MHZ], ts));
        put(v, GPU_FIELD_CLOCK_MEM_MHZ, sim_pattern_at(&m[SIM_M_CLOCK_MEMORY_MHZ], ts));
    }
    if (works(g, SIM_F_MAX_CLOCKS)) {
        put(v, GPU_FIELD_CLOCK_SM_MAX_MHZ, g->max_clock_sm_mhz);
        put(v, GPU_FIELD_CLOCK_GRAPHICS_MAX_MHZ, g->max_clock_graphics_mhz);
        put(v, GPU_FIELD_CLOCK_MEM_MAX_MHZ, g->max_clock_memory_mhz);
    }
    if (works(g, SIM_F_PSTATE)) {
        put(v, GPU_FIELD_PSTATE, sim_pattern_at(&m[SIM_M_PSTATE], ts));
    }
    if (works(g, SIM_F_CLOCK_REASONS)) {
        put(v, GPU_FIELD_CLOCK_REASONS, sim_pattern_at(&m[SIM_M_CLOCK_EVENT_REASONS], ts));
    }
    if (works(g, SIM_F_ECC)) {
        put(v, GPU_FIELD_ECC_ENABLED, g->ecc_enabled);
        if (g->ecc_enabled) {
            put(v, GPU_FIELD_ECC_CORRECTED_VOLATILE, sim_pattern_at(&m[SIM_M_ECC_CORRECTED], ts));
            put(v, GPU_FIELD_ECC_UNCORRECTED_VOLATILE,
                sim_pattern_at(&m[SIM_M_ECC_UNCORRECTED], ts));
        }
    }
    if (works(g, SIM_F_REMAPPED_ROWS)) {
        put(v, GPU_FIELD_REMAPPED_ROWS_CORRECTABLE,
            sim_pattern_at(&m[SIM_M_REMAPPED_CORRECTABLE], ts));
        put(v, GPU_FIELD_REMAPPED_ROWS_UNCORRECTABLE,
            sim_pattern_at(&m[SIM_M_REMAPPED_UNCORRECTABLE], ts));
    }
    double process_mib = 0;
    r->processes = xcalloc(g->process_count ? g->process_count : 1, sizeof(*r->processes));
    for (size_t i = 0; i < g->process_count && with_processes; i++) {
        struct sim_process *p = &g->processes[i];
        uint64_t cycle = 0;
        if (!process_active(p, ts, &cycle)) {
            continue;
        }
        struct gpu_process *gp = &r->processes[r->process_count++];
        gp->pid = p->pid;
        gp->type_mask = p->type_mask;
        gp->has_used_memory = true;
        gp->used_memory_bytes = (uint64_t)llround(sim_pattern_at(&p->memory_mib, ts) * MIB);
        process_mib += (double)gp->used_memory_bytes / MIB;
        gp->has_utilization = works(g, SIM_F_PROCESS_UTILIZATION);
        gp->sm_pct = (uint32_t)llround(sim_pattern_at(&p->sm_pct, ts));
        gp->memory_pct = (uint32_t)llround(sim_pattern_at(&p->memory_pct, ts));
        /* Each cycle of a recurring process is a new lifetime. */
        struct proc_info *pi = proc_info_new(); /* the snapshot's reference */
        pi->found = true;
        pi->start_ticks = 1 + cycle;
        pi->start_time_ms =
            epoch_ms + (int64_t)llround(((double)cycle * p->cycle_s + p->start_s) * 1000);
        snprintf(pi->comm, sizeof(pi->comm), "sim-%u", p->pid);
        gp->proc = pi;
    }
    if (works(g, SIM_F_MEMORY)) {
        double mib = g->memory_used_from_processes ? process_mib : used_mib;
        put(v, GPU_FIELD_MEM_USED_BYTES, mib * MIB);
        put(v, GPU_FIELD_MEM_FREE_BYTES,
            (g->memory_total_mib - g->memory_reserved_mib - mib) * MIB);
    }
}

struct gen {
    struct sim_scenario sc;
    struct store *store;
    int64_t from_ms;
    int64_t to_ms;
    int64_t interval_ms;
    size_t batch;
    bool processes;
};

static int generate(struct gen *g)
{
    struct gpu_snapshot *snaps = xcalloc(g->batch, sizeof(*snaps));
    const struct gpu_snapshot **ptrs = xcalloc(g->batch, sizeof(*ptrs));
    int64_t samples = 0;
    uint64_t start_us = clock_monotonic_us();
    int rc = 0;
    for (int64_t t = g->from_ms; t < g->to_ms && rc == 0;) {
        size_t n = 0;
        for (; n < g->batch && t < g->to_ms; n++, t += g->interval_ms) {
            struct gpu_snapshot *s = &snaps[n];
            s->time_ms = t;
            s->gpu_count = g->sc.gpu_count;
            s->gpus = xcalloc(g->sc.gpu_count, sizeof(*s->gpus));
            double ts = (double)(t - g->from_ms) / 1000.0;
            for (size_t k = 0; k < g->sc.gpu_count; k++) {
                read_gpu(&g->sc.gpus[k], (unsigned)k, ts, (double)g->interval_ms / 1000.0,
                         g->from_ms, g->processes, &s->gpus[k]);
            }
            ptrs[n] = s;
            samples += (int64_t)g->sc.gpu_count;
        }
        struct gp_err err = { 0 };
        rc = store_write(g->store, ptrs, n, g->interval_ms, &err);
        if (rc) {
            fprintf(stderr, "gpulse-gen: %s\n", err.msg);
        }
        for (size_t i = 0; i < n; i++) {
            gpu_snapshot_fini(&snaps[i]);
        }
    }
    double secs = (double)(clock_monotonic_us() - start_us) / 1e6;
    if (rc == 0) {
        printf("gpulse-gen: %lld GPU-samples written in %.1f s (%.0f per second)\n",
               (long long)samples, secs, secs > 0 ? (double)samples / secs : 0.0);
    }
    free(snaps);
    free(ptrs);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "scenario", required_argument, NULL, 's' },
        { "database", required_argument, NULL, 'd' },
        { "from", required_argument, NULL, 'F' },
        { "to", required_argument, NULL, 'T' },
        { "interval", required_argument, NULL, 'i' },
        { "batch", required_argument, NULL, 'b' },
        { "no-processes", no_argument, NULL, 'P' },
        { "prune", no_argument, NULL, 'p' },
        { "timezone", required_argument, NULL, 'z' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int64_t now = clock_realtime_ms();
    struct gen g = { .to_ms = now, .interval_ms = 1000, .batch = 300, .processes = true };
    const char *scenario = NULL;
    const char *database = NULL;
    bool have_from = false;
    bool prune = false;
    int opt = 0;
    while ((opt = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
        uint64_t u = 0;
        switch (opt) {
        case 's':
            scenario = optarg;
            break;
        case 'd':
            database = optarg;
            break;
        case 'F':
        case 'T':
            if (timeparse_ms(optarg, now, opt == 'F' ? &g.from_ms : &g.to_ms) != 0) {
                fprintf(stderr, "gpulse-gen: '%s' is not a time\n", optarg);
                return 2;
            }
            have_from |= opt == 'F';
            break;
        case 'i':
            if (strparse_duration_ms(optarg, 1, 24ULL * 3600 * 1000, &u) != 0) {
                fprintf(stderr, "gpulse-gen: --interval: '%s' is not a duration\n", optarg);
                return 2;
            }
            g.interval_ms = (int64_t)u;
            break;
        case 'b':
            if (strparse_u64(optarg, 1000000, &u) != 0 || u == 0) {
                fprintf(stderr, "gpulse-gen: --batch: '%s' is not a count\n", optarg);
                return 2;
            }
            g.batch = (size_t)u;
            break;
        case 'P':
            g.processes = false;
            break;
        case 'p':
            prune = true;
            break;
        case 'z':
            clock_use_timezone(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!scenario || !database || !have_from || g.from_ms >= g.to_ms) {
        fprintf(stderr, "gpulse-gen: needs --scenario, --database and --from before --to\n");
        return 2;
    }
    char msg[512];
    if (sim_scenario_load(scenario, &g.sc, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "gpulse-gen: %s\n", msg);
        return 2;
    }
    struct gp_err err = { 0 };
    if (store_open(database, STORE_READ_WRITE, &g.store, &err) != 0) {
        fprintf(stderr, "gpulse-gen: %s\n", err.msg);
        sim_scenario_free(&g.sc);
        return 1;
    }
    int rc = generate(&g);
    if (rc == 0 && prune) {
        struct config cfg;
        config_defaults(&cfg);
        struct store_retention ret;
        store_retention_from_config(&cfg, &ret);
        struct store_prune_result res = { 0 };
        rc = store_prune(g.store, &ret, g.to_ms, 0, &res, &err);
        if (rc) {
            fprintf(stderr, "gpulse-gen: %s\n", err.msg);
        } else {
            printf("gpulse-gen: retention deleted %lld rows\n", (long long)res.rows_deleted);
        }
    }
    store_close(g.store);
    sim_scenario_free(&g.sc);
    return rc ? 1 : 0;
}
