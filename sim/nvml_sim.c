/* A simulated libnvidia-ml.so.1: NVML's exported functions, with NVIDIA's
 * ABI (shared/reference/nvml-abi.md), answering from a scenario file named
 * by GPULSE_SIM_SCENARIO. gpulse loads it exactly as it loads the real
 * library, and so can any other NVML client.
 *
 * Each call spends the CPU time NVIDIA's R580 driver spends on it on an
 * H200 (sim/cost.def; the scenario's "call_cost" or GPULSE_SIM_CALL_COST
 * turns that off), before taking the library's lock.
 *
 * Scenario time t is seconds since GPULSE_SIM_EPOCH (Unix seconds; default:
 * when the library was first initialised). GPULSE_SIM_TIME=<t> freezes the
 * clock at t, so tests can compare readings with the scenario's values.
 *
 * Built four times: in full; without the _v3 symbols (SIM_HIDE_V3); as an
 * old driver without any versioned symbol (SIM_LEGACY); and as an early
 * R535 driver whose _v3 process functions write 32-byte entries
 * (SIM_R535_QUIRK), so clients' fallbacks and defences can be tested. The
 * exported names are NVIDIA's, not ours. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cost.h"
#include "gpu/nvml_abi.h"
#include "scenario.h"

#ifdef SIM_LEGACY
#    define SIM_HIDE_V3 1
#endif

#define EXPORT __attribute__((visibility("default")))

typedef gpu_nvml_return_t nvmlReturn_t;
typedef gpu_nvml_device_t nvmlDevice_t;

static struct {
    pthread_mutex_t lock;
    int refcount;
    bool loaded;
    long init_calls;
    struct sim_scenario sc;
    char load_error[768]; /* returned by nvmlErrorString for the code init failed with */
    int load_error_code;
    double epoch_s;
    bool frozen;
    double frozen_t;
} g = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Frees the scenario when the library is unloaded (dlclose), so clients
 * that load and unload it, like leak-checked tests, lose nothing. */
__attribute__((destructor)) static void sim_unload(void)
{
    sim_scenario_free(&g.sc);
}

/* ---------------------------------------------------------------- time -- */

static double wall_s(void)
{
    struct timespec ts = { 0 };
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double scenario_t(void)
{
    if (g.frozen) {
        return g.frozen_t;
    }
    double t = wall_s() - g.epoch_s;
    return t < 0 ? 0 : t;
}

static uint64_t epoch_us(void)
{
    return (uint64_t)llround(g.epoch_s * 1e6);
}

static uint64_t period_us(void)
{
    return (uint64_t)llround(g.sc.sample_period_s * 1e6);
}

/* Index of the last complete driver sample period at scenario time t. */
static int64_t sample_index(double t)
{
    return (int64_t)floor(t * 1e6 / (double)period_us());
}

static double sample_end_s(int64_t k)
{
    return (double)k * (double)period_us() / 1e6;
}

static unsigned round_u(double v)
{
    return v <= 0 ? 0 : (unsigned)llround(v);
}

/* ---------------------------------------------------------------- init -- */

static int load_scenario(void)
{
    const char *path = getenv("GPULSE_SIM_SCENARIO");
    if (!path || !*path) {
        snprintf(g.load_error, sizeof(g.load_error),
                 "simulated NVML: GPULSE_SIM_SCENARIO is not set; name a scenario file such as "
                 "sim/scenarios/demo.json");
        return -1;
    }
    if (sim_scenario_load(path, &g.sc, g.load_error, sizeof(g.load_error)) != 0) {
        return -1;
    }
    const char *epoch = getenv("GPULSE_SIM_EPOCH");
    char *end = NULL;
    g.epoch_s = epoch && *epoch ? strtod(epoch, &end) : wall_s();
    if (epoch && *epoch && (*end || g.epoch_s < 0)) {
        snprintf(g.load_error, sizeof(g.load_error),
                 "simulated NVML: GPULSE_SIM_EPOCH='%s' is not a Unix time in seconds", epoch);
        sim_scenario_free(&g.sc);
        return -1;
    }
    const char *cost = getenv("GPULSE_SIM_CALL_COST");
    if (cost && *cost) {
        if (strcmp(cost, "none") == 0) {
            g.sc.call_cost = (struct sim_cost_profile){ 0 };
        } else if (strcmp(cost, "h200") == 0) {
            g.sc.call_cost = sim_cost_h200();
        } else {
            snprintf(g.load_error, sizeof(g.load_error),
                     "simulated NVML: GPULSE_SIM_CALL_COST='%s' is not \"none\" or \"h200\"", cost);
            sim_scenario_free(&g.sc);
            return -1;
        }
    }
    const char *frozen = getenv("GPULSE_SIM_TIME");
    if (frozen && *frozen) {
        g.frozen_t = strtod(frozen, &end);
        if (*end || g.frozen_t < 0) {
            snprintf(g.load_error, sizeof(g.load_error),
                     "simulated NVML: GPULSE_SIM_TIME='%s' is not a time in seconds", frozen);
            sim_scenario_free(&g.sc);
            return -1;
        }
        g.frozen = true;
    }
    sim_cost_use(&g.sc.call_cost);
    g.loaded = true;
    return 0;
}

/* Seconds since this process started, from /proc/self/stat's start time
 * (clock ticks after boot) and CLOCK_BOOTTIME, which counts from the same
 * instant: unlike anything kept in the library, it survives a client's
 * dlclose and dlopen between tries. 0 when it cannot be read. */
static double process_age_s(void)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "re");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f) {
        fclose(f);
    }
    buf[n] = '\0';
    /* Field 22; the command name (field 2) may hold spaces and ')'. */
    char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 22; field++) {
        p = strchr(p + 1, ' ');
    }
    if (!p) {
        return 0;
    }
    double start_s = (double)strtoull(p + 1, NULL, 10) / (double)sysconf(_SC_CLK_TCK);
    struct timespec ts = { 0 };
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - start_s;
}

/* Whether this nvmlInit fails with the scenario's init.error: while within
 * init.fail_count calls and init.fails_for_s of the process's start, as
 * far as either is given. Called with g.lock held. */
static bool init_fails(void)
{
    if (!g.sc.init_error) {
        return false;
    }
    if (g.sc.init_fail_count >= 0 && g.init_calls > g.sc.init_fail_count) {
        return false;
    }
    return g.sc.init_fails_for_s < 0 || process_age_s() < g.sc.init_fails_for_s;
}

/* init.delay_s: the call hangs that long, as a driver stuck initialising
 * does, without holding the library's lock. */
static void init_delay(void)
{
    pthread_mutex_lock(&g.lock);
    double delay_s = g.loaded ? g.sc.init_delay_s : 0;
    pthread_mutex_unlock(&g.lock);
    struct timespec ts = { .tv_sec = (time_t)delay_s,
                           .tv_nsec = (long)((delay_s - (double)(time_t)delay_s) * 1e9) };
    while (delay_s > 0 && nanosleep(&ts, &ts) != 0) {
    }
}

static nvmlReturn_t do_init(enum sim_cost_fn fn)
{
    pthread_mutex_lock(&g.lock);
    nvmlReturn_t rc = GPU_NVML_RC_SUCCESS;
    bool first = false;
    if (!g.loaded && load_scenario() != 0) {
        rc = GPU_NVML_RC_UNKNOWN;
        g.load_error_code = rc;
        goto out;
    }
    pthread_mutex_unlock(&g.lock);
    init_delay();
    pthread_mutex_lock(&g.lock);
    g.init_calls++;
    if (init_fails()) {
        rc = g.sc.init_error;
        goto out;
    }
    g.refcount++;
out:
    /* Opening the driver is what costs (once per process, as measured);
     * a nested init only counts a reference. */
    first = rc == GPU_NVML_RC_SUCCESS && g.refcount == 1;
    pthread_mutex_unlock(&g.lock);
    if (first) {
        sim_cost_spend(fn);
    }
    return rc;
}

#ifndef SIM_LEGACY
EXPORT nvmlReturn_t nvmlInit_v2(void)
{
    return do_init(SIM_COST_INIT_V2);
}
#endif

EXPORT nvmlReturn_t nvmlInit(void)
{
    return do_init(SIM_COST_INIT);
}

#ifndef SIM_LEGACY
EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
    (void)flags;
    return do_init(SIM_COST_INIT_WITH_FLAGS);
}
#endif

EXPORT nvmlReturn_t nvmlShutdown(void)
{
    sim_cost_spend(SIM_COST_SHUTDOWN);
    pthread_mutex_lock(&g.lock);
    nvmlReturn_t rc = GPU_NVML_RC_SUCCESS;
    if (g.refcount == 0) {
        rc = GPU_NVML_RC_UNINITIALIZED;
    } else {
        g.refcount--;
    }
    pthread_mutex_unlock(&g.lock);
    return rc;
}

EXPORT const char *nvmlErrorString(nvmlReturn_t rc)
{
    sim_cost_spend(SIM_COST_ERROR_STRING);
    if (g.load_error[0] && rc == g.load_error_code) {
        return g.load_error;
    }
    switch (rc) {
    case 0:
        return "Success";
    case 1:
        return "Uninitialized";
    case 2:
        return "Invalid Argument";
    case 3:
        return "Not Supported";
    case 4:
        return "Insufficient Permissions";
    case 5:
        return "Already Initialized";
    case 6:
        return "Not Found";
    case 7:
        return "Insufficient Size";
    case 8:
        return "Insufficient External Power";
    case 9:
        return "Driver Not Loaded";
    case 10:
        return "Timeout";
    case 11:
        return "Interrupt Request Issue";
    case 12:
        return "NVML Shared Library Not Found";
    case 13:
        return "Function Not Found";
    case 14:
        return "Corrupted infoROM";
    case 15:
        return "GPU is lost";
    case 16:
        return "GPU requires reset";
    case 17:
        return "GPU access blocked by the operating system";
    case 18:
        return "Driver/library version mismatch";
    case 19:
        return "In use by another client";
    case 20:
        return "Insufficient Memory";
    case 21:
        return "No data";
    /* 22-29 as R580 words them (shared/reference/nvml-costs.md). */
    case 22:
        return "vGPU ECC not supported";
    case 23:
        return "Insufficient Resources";
    case 24:
        return "Invalid Frequency";
    case 25:
        return "Argument version mismatch";
    case 26:
        return "Requested functionality has been deprecated";
    case 27:
        return "System is not in ready state";
    case 28:
        return "No supported GPUs were found";
    case 29:
        return "Resource not in correct state to perform requested operation";
    default:
        return "Unknown Error";
    }
}

/* -------------------------------------------------------------- system -- */

static nvmlReturn_t copy_string(char *buf, unsigned int len, const char *s)
{
    if (!buf) {
        return GPU_NVML_RC_INVALID_ARGUMENT;
    }
    if (strlen(s) + 1 > len) {
        return GPU_NVML_RC_INSUFFICIENT_SIZE;
    }
    memcpy(buf, s, strlen(s) + 1);
    return GPU_NVML_RC_SUCCESS;
}

static nvmlReturn_t system_string(char *buf, unsigned int len, bool nvml)
{
    pthread_mutex_lock(&g.lock);
    nvmlReturn_t rc = g.refcount == 0
                          ? GPU_NVML_RC_UNINITIALIZED
                          : copy_string(buf, len, nvml ? g.sc.nvml_version : g.sc.driver_version);
    pthread_mutex_unlock(&g.lock);
    return rc;
}

EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    sim_cost_spend(SIM_COST_DRIVER_VERSION);
    return system_string(version, length, false);
}

EXPORT nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length)
{
    sim_cost_spend(SIM_COST_NVML_VERSION);
    return system_string(version, length, true);
}

static nvmlReturn_t cuda_version(int *v)
{
    pthread_mutex_lock(&g.lock);
    nvmlReturn_t rc = GPU_NVML_RC_SUCCESS;
    if (g.refcount == 0) {
        rc = GPU_NVML_RC_UNINITIALIZED;
    } else if (!v) {
        rc = GPU_NVML_RC_INVALID_ARGUMENT;
    } else {
        *v = g.sc.cuda_version;
    }
    pthread_mutex_unlock(&g.lock);
    return rc;
}

EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *v)
{
    sim_cost_spend(SIM_COST_CUDA_VERSION);
    return cuda_version(v);
}

#ifndef SIM_LEGACY
EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *v)
{
    sim_cost_spend(SIM_COST_CUDA_VERSION_V2);
    return cuda_version(v);
}
#endif

static nvmlReturn_t device_count(unsigned int *count)
{
    pthread_mutex_lock(&g.lock);
    nvmlReturn_t rc = GPU_NVML_RC_SUCCESS;
    if (g.refcount == 0) {
        rc = GPU_NVML_RC_UNINITIALIZED;
    } else if (!count) {
        rc = GPU_NVML_RC_INVALID_ARGUMENT;
    } else {
        *count = (unsigned int)g.sc.gpu_count;
    }
    pthread_mutex_unlock(&g.lock);
    return rc;
}

EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int *count)
{
    sim_cost_spend(SIM_COST_DEVICE_COUNT);
    return device_count(count);
}

#ifndef SIM_LEGACY
EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count)
{
    sim_cost_spend(SIM_COST_DEVICE_COUNT_V2);
    return device_count(count);
}
#endif

/* ------------------------------------------ handles and ending faults -- */

/* Handles are the addresses of a GPU record's two tokens: [0] until a loss
 * with "lost_until_s" ends, [1] after it, so handles got before the GPU came
 * back stay lost (as after a reset, where the client looks the GPU up again
 * by UUID, PCI bus id or index). Call with the lock held. */
static nvmlDevice_t current_handle(struct sim_gpu *gp)
{
    int gen = scenario_t() >= gp->lost_until_s ? 1 : 0;
    return (nvmlDevice_t)(void *)&gp->handle_tokens[gen];
}

/* The GPU a handle names, and which token it is (*gen); NULL if none.
 * Call with the lock held. */
static struct sim_gpu *gpu_of(nvmlDevice_t dev, size_t *index, int *gen)
{
    for (size_t i = 0; i < g.sc.gpu_count; i++) {
        for (int k = 0; k < 2; k++) {
            if ((void *)dev == (void *)&g.sc.gpus[i].handle_tokens[k]) {
                *index = i;
                *gen = k;
                return &g.sc.gpus[i];
            }
        }
    }
    return NULL;
}

/* Whether GPU gp answers GPU_IS_LOST at scenario time t through a handle
 * of token gen: inside its loss, or through a handle older than the end
 * of the loss. */
static bool lost_now(const struct sim_gpu *gp, double t, int gen)
{
    if (t >= gp->lost_at_s && t < gp->lost_until_s) {
        return true;
    }
    return gen == 0 && t >= gp->lost_until_s;
}

/* How long a call on dev sleeps first ("call_delay_s"): a uniform draw in
 * the GPU's range while scenario time is inside its window, else 0. */
static double call_delay_s(nvmlDevice_t dev)
{
    double delay = 0;
    pthread_mutex_lock(&g.lock);
    size_t index = 0;
    int gen = 0;
    struct sim_gpu *gp = g.refcount ? gpu_of(dev, &index, &gen) : NULL;
    if (gp && gp->call_delay_max_s > 0) {
        double t = scenario_t();
        if (t >= gp->call_delay_from_s && t < gp->call_delay_until_s) {
            uint64_t x = ((uint64_t)index << 40) ^ gp->delayed_calls++;
            x += 0x9E3779B97F4A7C15ULL;
            x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
            x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
            x ^= x >> 31;
            double u = (double)(x >> 11) / 9007199254740992.0;
            delay = gp->call_delay_min_s + u * (gp->call_delay_max_s - gp->call_delay_min_s);
        }
    }
    pthread_mutex_unlock(&g.lock);
    return delay;
}

/* Sleeps the call's delay outside the lock: a slow GPU holds up only the
 * threads that call it, as a GPU stuck in the driver does (unlike
 * "slow_ms", which holds the whole library). */
static void delay_call(nvmlDevice_t dev)
{
    double s = call_delay_s(dev);
    if (s > 0) {
        struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - floor(s)) * 1e9) };
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
}

static nvmlReturn_t handle_by_index(unsigned int index, nvmlDevice_t *dev)
{
    pthread_mutex_lock(&g.lock);
    nvmlReturn_t rc = GPU_NVML_RC_SUCCESS;
    if (g.refcount == 0) {
        rc = GPU_NVML_RC_UNINITIALIZED;
    } else if (!dev || index >= g.sc.gpu_count) {
        rc = GPU_NVML_RC_INVALID_ARGUMENT;
    } else {
        *dev = current_handle(&g.sc.gpus[index]);
    }
    pthread_mutex_unlock(&g.lock);
    return rc;
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *dev)
{
    sim_cost_spend(SIM_COST_HANDLE_BY_INDEX);
    return handle_by_index(index, dev);
}

#ifndef SIM_LEGACY
EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *dev)
{
    sim_cost_spend(SIM_COST_HANDLE_BY_INDEX_V2);
    return handle_by_index(index, dev);
}
#endif

/* A handle by the GPU's UUID or PCI bus id (as nvidia-smi -i and pynvml
 * callers look GPUs up). */
static nvmlReturn_t handle_by_string(const char *key, bool uuid, nvmlDevice_t *dev)
{
    pthread_mutex_lock(&g.lock);
    nvmlReturn_t rc = GPU_NVML_RC_NOT_FOUND;
    if (g.refcount == 0) {
        rc = GPU_NVML_RC_UNINITIALIZED;
    } else if (!dev || !key) {
        rc = GPU_NVML_RC_INVALID_ARGUMENT;
    } else {
        for (size_t i = 0; i < g.sc.gpu_count && rc == GPU_NVML_RC_NOT_FOUND; i++) {
            const char *have = uuid ? g.sc.gpus[i].uuid : g.sc.gpus[i].pci_bus_id;
            if (strcasecmp(have, key) == 0) {
                *dev = current_handle(&g.sc.gpus[i]);
                rc = GPU_NVML_RC_SUCCESS;
            }
        }
    }
    pthread_mutex_unlock(&g.lock);
    return rc;
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *dev)
{
    sim_cost_spend(SIM_COST_HANDLE_BY_UUID);
    return handle_by_string(uuid, true, dev);
}

#ifndef SIM_LEGACY
EXPORT nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *bus_id, nvmlDevice_t *dev)
{
    sim_cost_spend(SIM_COST_HANDLE_BY_PCI_BUS_ID);
    return handle_by_string(bus_id, false, dev);
}
#endif

/* -------------------------------------------------------- device calls -- */

/* One device call in progress: the GPU, scenario time, and the lock held. */
struct call {
    struct sim_gpu *gpu;
    size_t index;
    double t;
};

/* Checks init and the handle, applies the GPU's faults, and takes the lock;
 * every device function pairs it with leave(). */
static nvmlReturn_t enter(struct call *c, nvmlDevice_t dev, int feature)
{
    delay_call(dev);
    pthread_mutex_lock(&g.lock);
    if (g.refcount == 0) {
        return GPU_NVML_RC_UNINITIALIZED;
    }
    int gen = 0;
    c->gpu = gpu_of(dev, &c->index, &gen);
    if (!c->gpu) {
        return GPU_NVML_RC_INVALID_ARGUMENT;
    }
    struct sim_gpu *gp = c->gpu;
    gp->calls++;
    if (gp->slow_ms) {
        struct timespec ts = { .tv_sec = gp->slow_ms / 1000,
                               .tv_nsec = (long)(gp->slow_ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    c->t = scenario_t();
    if (lost_now(gp, c->t, gen) ||
        (gp->lost_after_calls >= 0 && gp->calls > (unsigned long)gp->lost_after_calls)) {
        return GPU_NVML_RC_GPU_IS_LOST;
    }
    if (feature >= 0 && gp->feature_error[feature]) {
        return gp->feature_error[feature];
    }
    return GPU_NVML_RC_SUCCESS;
}

/* enter() for a call whose pointer argument arg is required. */
static nvmlReturn_t enter_arg(struct call *c, nvmlDevice_t dev, int feature, const void *arg)
{
    nvmlReturn_t rc = enter(c, dev, feature);
    return rc == GPU_NVML_RC_SUCCESS && !arg ? GPU_NVML_RC_INVALID_ARGUMENT : rc;
}

static nvmlReturn_t leave(nvmlReturn_t rc)
{
    pthread_mutex_unlock(&g.lock);
    return rc;
}

static double metric(struct call *c, enum sim_metric m)
{
    return sim_pattern_at(&c->gpu->metric[m], c->t);
}

/* The mean of a metric over the driver's last complete sample period, as
 * the polled utilization reports it. */
static double metric_last_period(struct call *c, enum sim_metric m)
{
    int64_t k = sample_index(c->t);
    if (k < 1) {
        return metric(c, m);
    }
    return sim_pattern_mean(&c->gpu->metric[m], sample_end_s(k - 1), sample_end_s(k));
}

static bool process_active(const struct sim_process *p, double t)
{
    if (p->cycle_s > 0) {
        t = fmod(t, p->cycle_s);
    }
    return t >= p->start_s && t < p->end_s;
}

static double memory_used_mib(struct call *c)
{
    if (!c->gpu->memory_used_from_processes) {
        return metric(c, SIM_M_MEMORY_USED_MIB);
    }
    double sum = 0;
    for (size_t i = 0; i < c->gpu->process_count; i++) {
        struct sim_process *p = &c->gpu->processes[i];
        if (process_active(p, c->t)) {
            sum += sim_pattern_at(&p->memory_mib, c->t);
        }
    }
    return sum;
}

#define MIB 1048576.0

static nvmlReturn_t device_string(nvmlDevice_t dev, int feature, char *buf, unsigned int len,
                                  size_t field_offset)
{
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, feature);
    if (rc == GPU_NVML_RC_SUCCESS) {
        rc = copy_string(buf, len, (const char *)c.gpu + field_offset);
    }
    return leave(rc);
}

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t dev, char *name, unsigned int length)
{
    sim_cost_spend(SIM_COST_NAME);
    return device_string(dev, -1, name, length, offsetof(struct sim_gpu, name));
}

EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t dev, char *uuid, unsigned int length)
{
    sim_cost_spend(SIM_COST_UUID);
    return device_string(dev, -1, uuid, length, offsetof(struct sim_gpu, uuid));
}

EXPORT nvmlReturn_t nvmlDeviceGetSerial(nvmlDevice_t dev, char *serial, unsigned int length)
{
    sim_cost_spend(SIM_COST_SERIAL);
    return device_string(dev, SIM_F_SERIAL, serial, length, offsetof(struct sim_gpu, serial));
}

EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t dev, unsigned int *index)
{
    sim_cost_spend(SIM_COST_INDEX);
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, -1);
    if (rc == GPU_NVML_RC_SUCCESS) {
        *index = (unsigned int)c.index;
    }
    return leave(rc);
}

EXPORT nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t dev, unsigned int *minor)
{
    sim_cost_spend(SIM_COST_MINOR_NUMBER);
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, SIM_F_MINOR_NUMBER);
    if (rc == GPU_NVML_RC_SUCCESS) {
        *minor = c.gpu->minor_number;
    }
    return leave(rc);
}

/* "DDDDDDDD:BB:dd.0" -> domain, bus, device, without sscanf. */
static void split_bus_id(const char *s, unsigned *domain, unsigned *bus, unsigned *device)
{
    char *end = NULL;
    *domain = (unsigned)strtoul(s, &end, 16);
    *bus = *end == ':' ? (unsigned)strtoul(end + 1, &end, 16) : 0;
    *device = *end == ':' ? (unsigned)strtoul(end + 1, &end, 16) : 0;
}

static nvmlReturn_t pci_info(nvmlDevice_t dev, void *out, bool legacy)
{
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, SIM_F_PCI);
    if (rc != GPU_NVML_RC_SUCCESS || !out) {
        return leave(rc ? rc : GPU_NVML_RC_INVALID_ARGUMENT);
    }
    unsigned domain = 0, bus = 0, device = 0;
    split_bus_id(c.gpu->pci_bus_id, &domain, &bus, &device);
    if (legacy) {
        struct gpu_nvml_pci_info_v1 p = {
            .domain = domain, .bus = bus, .device = device, .pci_device_id = c.gpu->pci_device_id
        };
        snprintf(p.bus_id, sizeof(p.bus_id), "%04X:%02X:%02X.0", domain & 0xFFFF, bus & 0xFF,
                 device & 0x1F);
        memcpy(out, &p, sizeof(p));
    } else {
        struct gpu_nvml_pci_info p = {
            .domain = domain, .bus = bus, .device = device, .pci_device_id = c.gpu->pci_device_id
        };
        snprintf(p.bus_id_legacy, sizeof(p.bus_id_legacy), "%04X:%02X:%02X.0", domain & 0xFFFF,
                 bus & 0xFF, device & 0x1F);
        snprintf(p.bus_id, sizeof(p.bus_id), "%s", c.gpu->pci_bus_id);
        memcpy(out, &p, sizeof(p));
    }
    return leave(GPU_NVML_RC_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t dev, void *pci)
{
    sim_cost_spend(SIM_COST_PCI_INFO);
    return pci_info(dev, pci, true);
}

#ifndef SIM_LEGACY
EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t dev, void *pci)
{
    sim_cost_spend(SIM_COST_PCI_INFO_V2);
    return pci_info(dev, pci, false);
}
#endif

#ifndef SIM_HIDE_V3
EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t dev, void *pci)
{
    sim_cost_spend(SIM_COST_PCI_INFO_V3);
    return pci_info(dev, pci, false);
}
#endif

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t dev, struct gpu_nvml_memory_v1 *m)
{
    sim_cost_spend(SIM_COST_MEMORY_INFO);
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, SIM_F_MEMORY);
    if (rc == GPU_NVML_RC_SUCCESS && m) {
        /* v1's "used" includes what the driver reserves. */
        double total = c.gpu->memory_total_mib * MIB;
        double used = memory_used_mib(&c) * MIB + c.gpu->memory_reserved_mib * MIB;
        used = used > total ? total : used;
        m->total = (unsigned long long)total;
        m->used = (unsigned long long)used;
        m->free = m->total - m->used;
    }
    return leave(rc);
}

#ifndef SIM_LEGACY
EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t dev, struct gpu_nvml_memory_v2 *m)
{
    sim_cost_spend(SIM_COST_MEMORY_INFO_V2);
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, SIM_F_MEMORY);
    if (rc == GPU_NVML_RC_SUCCESS && (!m || m->version != GPU_NVML_ABI_MEMORY_V2_VERSION)) {
        /* What real drivers answer to a bare "2" in the version field. */
        rc = GPU_NVML_RC_FUNCTION_NOT_FOUND;
    }
    if (rc == GPU_NVML_RC_SUCCESS) {
        double total = c.gpu->memory_total_mib * MIB;
        double reserved = c.gpu->memory_reserved_mib * MIB;
        double used = memory_used_mib(&c) * MIB;
        used = used > total - reserved ? total - reserved : used;
        m->total = (unsigned long long)total;
        m->reserved = (unsigned long long)reserved;
        m->used = (unsigned long long)used;
        m->free = m->total - m->reserved - m->used;
    }
    return leave(rc);
}
#endif

EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t dev, struct gpu_nvml_utilization *u)
{
    sim_cost_spend(SIM_COST_UTILIZATION);
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, SIM_F_UTILIZATION);
    if (rc == GPU_NVML_RC_SUCCESS && u) {
        u->gpu = round_u(metric_last_period(&c, SIM_M_UTIL_GPU));
        u->memory = round_u(metric_last_period(&c, SIM_M_UTIL_MEMORY));
    }
    return leave(rc);
}

static nvmlReturn_t codec_util(nvmlDevice_t dev, int feature, enum sim_metric m, unsigned int *pct,
                               unsigned int *period)
{
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, feature);
    if (rc == GPU_NVML_RC_SUCCESS && pct && period) {
        *pct = round_u(metric_last_period(&c, m));
        *period = (unsigned int)period_us();
    }
    return leave(rc);
}

EXPORT nvmlReturn_t nvmlDeviceGetEncoderUtilization(nvmlDevice_t dev, unsigned int *u,
                                                    unsigned int *period_us_out)
{
    sim_cost_spend(SIM_COST_ENCODER);
    return codec_util(dev, SIM_F_ENCODER, SIM_M_UTIL_ENCODER, u, period_us_out);
}

EXPORT nvmlReturn_t nvmlDeviceGetDecoderUtilization(nvmlDevice_t dev, unsigned int *u,
                                                    unsigned int *period_us_out)
{
    sim_cost_spend(SIM_COST_DECODER);
    return codec_util(dev, SIM_F_DECODER, SIM_M_UTIL_DECODER, u, period_us_out);
}

/* A device metric returned as one unsigned int. */
static nvmlReturn_t uint_metric(nvmlDevice_t dev, int feature, enum sim_metric m, double scale,
                                unsigned int *out)
{
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, feature);
    if (rc == GPU_NVML_RC_SUCCESS) {
        if (!out) {
            rc = GPU_NVML_RC_INVALID_ARGUMENT;
        } else {
            *out = round_u(metric(&c, m) * scale);
        }
    }
    return leave(rc);
}

EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t dev, int sensor, unsigned int *temp)
{
    sim_cost_spend(SIM_COST_TEMPERATURE);
    if (sensor != GPU_NVML_ABI_TEMPERATURE_GPU) {
        return GPU_NVML_RC_INVALID_ARGUMENT;
    }
    return uint_metric(dev, SIM_F_TEMPERATURE, SIM_M_TEMPERATURE_C, 1, temp);
}

EXPORT nvmlReturn_t nvmlDeviceGetFanSpeed(nvmlDevice_t dev, unsigned int *speed)
{
    sim_cost_spend(SIM_COST_FAN_SPEED);
    return uint_metric(dev, SIM_F_FAN, SIM_M_FAN_PCT, 1, speed);
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t dev, unsigned int *mw)
{
    sim_cost_spend(SIM_COST_POWER_USAGE);
    return uint_metric(dev, SIM_F_POWER, SIM_M_POWER_W, 1000, mw);
}

static nvmlReturn_t power_limit(nvmlDevice_t dev, unsigned int *mw)
{
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, SIM_F_POWER_LIMIT);
    if (rc == GPU_NVML_RC_SUCCESS && mw) {
        *mw = round_u(c.gpu->power_limit_w * 1000);
    }
    return leave(rc);
}

EXPORT nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t dev, unsigned int *mw)
{
    sim_cost_spend(SIM_COST_ENFORCED_POWER_LIMIT);
    return power_limit(dev, mw);
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t dev, unsigned int *mw)
{
    sim_cost_spend(SIM_COST_POWER_MANAGEMENT_LIMIT);
    return power_limit(dev, mw);
}

EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t dev, unsigned long long *mj)
{
    sim_cost_spend(SIM_COST_TOTAL_ENERGY);
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, SIM_F_ENERGY);
    if (rc == GPU_NVML_RC_SUCCESS && mj) {
        double joules = sim_pattern_integral(&c.gpu->metric[SIM_M_POWER_W], c.t);
        *mj = (unsigned long long)llround(c.gpu->energy_start_mj + joules * 1000.0);
    }
    return leave(rc);
}

static enum sim_metric clock_metric(int type, bool *ok)
{
    *ok = true;
    switch (type) {
    case GPU_NVML_ABI_CLOCK_GRAPHICS:
        return SIM_M_CLOCK_GRAPHICS_MHZ;
    case GPU_NVML_ABI_CLOCK_SM:
        return SIM_M_CLOCK_SM_MHZ;
    case GPU_NVML_ABI_CLOCK_MEM:
        return SIM_M_CLOCK_MEMORY_MHZ;
    default:
        *ok = false;
        return SIM_M_CLOCK_SM_MHZ;
    }
}

EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t dev, int type, unsigned int *mhz)
{
    sim_cost_spend(SIM_COST_CLOCK_INFO);
    bool ok = false;
    enum sim_metric m = clock_metric(type, &ok);
    if (!ok) {
        return GPU_NVML_RC_NOT_SUPPORTED;
    }
    return uint_metric(dev, SIM_F_CLOCKS, m, 1, mhz);
}

EXPORT nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t dev, int type, unsigned int *mhz)
{
    sim_cost_spend(SIM_COST_MAX_CLOCK_INFO);
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, SIM_F_MAX_CLOCKS);
    if (rc == GPU_NVML_RC_SUCCESS) {
        if (!mhz) {
            rc = GPU_NVML_RC_INVALID_ARGUMENT;
        } else if (type == GPU_NVML_ABI_CLOCK_GRAPHICS) {
            *mhz = c.gpu->max_clock_graphics_mhz;
        } else if (type == GPU_NVML_ABI_CLOCK_SM) {
            *mhz = c.gpu->max_clock_sm_mhz;
        } else if (type == GPU_NVML_ABI_CLOCK_MEM) {
            *mhz = c.gpu->max_clock_memory_mhz;
        } else {
            rc = GPU_NVML_RC_NOT_SUPPORTED;
        }
    }
    return leave(rc);
}

/* The P-state (0-15), for GetPerformanceState and its older name. */
static nvmlReturn_t performance_state(nvmlDevice_t dev, int *pstate)
{
    unsigned int v = 0;
    nvmlReturn_t rc = uint_metric(dev, SIM_F_PSTATE, SIM_M_PSTATE, 1, &v);
    if (rc == GPU_NVML_RC_SUCCESS && pstate) {
        *pstate = (int)v;
    }
    return rc;
}

EXPORT nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t dev, int *pstate)
{
    sim_cost_spend(SIM_COST_PERFORMANCE_STATE);
    return performance_state(dev, pstate);
}

static nvmlReturn_t clock_reasons(nvmlDevice_t dev, unsigned long long *mask)
{
    unsigned int v = 0;
    nvmlReturn_t rc = uint_metric(dev, SIM_F_CLOCK_REASONS, SIM_M_CLOCK_EVENT_REASONS, 1, &v);
    if (rc == GPU_NVML_RC_SUCCESS && mask) {
        *mask = v;
    }
    return rc;
}

#ifndef SIM_LEGACY
EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t dev,
                                                           unsigned long long *mask)
{
    sim_cost_spend(SIM_COST_CLOCKS_EVENT_REASONS);
    return clock_reasons(dev, mask);
}
#endif

EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t dev,
                                                              unsigned long long *mask)
{
    sim_cost_spend(SIM_COST_CLOCKS_THROTTLE_REASONS);
    return clock_reasons(dev, mask);
}

EXPORT nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t dev, int counter, unsigned int *kbps)
{
    sim_cost_spend(SIM_COST_PCIE_THROUGHPUT);
    if (counter != GPU_NVML_ABI_PCIE_TX_BYTES && counter != GPU_NVML_ABI_PCIE_RX_BYTES) {
        return GPU_NVML_RC_INVALID_ARGUMENT;
    }
    return uint_metric(
        dev, SIM_F_PCIE,
        counter == GPU_NVML_ABI_PCIE_TX_BYTES ? SIM_M_PCIE_TX_KBPS : SIM_M_PCIE_RX_KBPS, 1, kbps);
}

EXPORT nvmlReturn_t nvmlDeviceGetEccMode(nvmlDevice_t dev, int *current, int *pending)
{
    sim_cost_spend(SIM_COST_ECC_MODE);
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, SIM_F_ECC);
    if (rc == GPU_NVML_RC_SUCCESS && current && pending) {
        *current = *pending = c.gpu->ecc_enabled ? GPU_NVML_ABI_FEATURE_ENABLED : 0;
    }
    return leave(rc);
}

EXPORT nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t dev, int error_type, int counter_type,
                                                unsigned long long *count)
{
    sim_cost_spend(SIM_COST_TOTAL_ECC_ERRORS);
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, SIM_F_ECC);
    if (rc == GPU_NVML_RC_SUCCESS && !c.gpu->ecc_enabled) {
        rc = GPU_NVML_RC_NOT_SUPPORTED;
    }
    if (rc == GPU_NVML_RC_SUCCESS) {
        if (!count || counter_type < 0 || counter_type > 1) {
            rc = GPU_NVML_RC_INVALID_ARGUMENT;
        } else if (error_type == GPU_NVML_ABI_MEMORY_ERROR_CORRECTED) {
            *count = round_u(metric(&c, SIM_M_ECC_CORRECTED));
        } else if (error_type == GPU_NVML_ABI_MEMORY_ERROR_UNCORRECTED) {
            *count = round_u(metric(&c, SIM_M_ECC_UNCORRECTED));
        } else {
            rc = GPU_NVML_RC_INVALID_ARGUMENT;
        }
    }
    return leave(rc);
}

EXPORT nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t dev, unsigned int *corr,
                                              unsigned int *unc, unsigned int *pending,
                                              unsigned int *failure)
{
    sim_cost_spend(SIM_COST_REMAPPED_ROWS);
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, SIM_F_REMAPPED_ROWS);
    if (rc == GPU_NVML_RC_SUCCESS && corr && unc && pending && failure) {
        *corr = round_u(metric(&c, SIM_M_REMAPPED_CORRECTABLE));
        *unc = round_u(metric(&c, SIM_M_REMAPPED_UNCORRECTABLE));
        *pending = 0;
        *failure = 0;
    }
    return leave(rc);
}

EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t dev, unsigned int *current,
                                         unsigned int *pending)
{
    sim_cost_spend(SIM_COST_MIG_MODE);
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, -1);
    if (rc == GPU_NVML_RC_SUCCESS && c.gpu->mig_mode < 0) {
        rc = GPU_NVML_RC_NOT_SUPPORTED;
    }
    if (rc == GPU_NVML_RC_SUCCESS && current && pending) {
        /* The mode is reported; MIG devices themselves are not simulated. */
        *current = *pending = (unsigned int)c.gpu->mig_mode;
    }
    return leave(rc);
}

/* ------------------------------------------ what other clients read -- */

/* An unsigned GPU property, by its offset in struct sim_gpu. */
static nvmlReturn_t uint_field(nvmlDevice_t dev, int feature, size_t offset, unsigned int *out)
{
    struct call c;
    nvmlReturn_t rc = enter_arg(&c, dev, feature, out);
    if (rc == GPU_NVML_RC_SUCCESS) {
        memcpy(out, (const char *)c.gpu + offset, sizeof(*out));
    }
    return leave(rc);
}

/* PCIe link generation and width, current and maximum (nvtop reads all
 * four and refuses a library without them). */
#define PCIE_LINK_EXPORT(fn, cost, field)                                            \
    EXPORT nvmlReturn_t fn(nvmlDevice_t dev, unsigned int *v)                        \
    {                                                                                \
        sim_cost_spend(cost);                                                        \
        return uint_field(dev, SIM_F_PCIE_LINK, offsetof(struct sim_gpu, field), v); \
    }

PCIE_LINK_EXPORT(nvmlDeviceGetCurrPcieLinkGeneration, SIM_COST_CURR_PCIE_LINK_GEN, pcie_gen)
PCIE_LINK_EXPORT(nvmlDeviceGetMaxPcieLinkGeneration, SIM_COST_MAX_PCIE_LINK_GEN, pcie_max_gen)
PCIE_LINK_EXPORT(nvmlDeviceGetCurrPcieLinkWidth, SIM_COST_CURR_PCIE_LINK_WIDTH, pcie_width)
PCIE_LINK_EXPORT(nvmlDeviceGetMaxPcieLinkWidth, SIM_COST_MAX_PCIE_LINK_WIDTH, pcie_max_width)

/* Thresholds: shutdown 0, slowdown 1, memory max 2, GPU max 3; the
 * acoustic ones (4-7) are NOT_SUPPORTED, as on a data-centre GPU. */
EXPORT nvmlReturn_t nvmlDeviceGetTemperatureThreshold(nvmlDevice_t dev, int type,
                                                      unsigned int *c_out)
{
    sim_cost_spend(SIM_COST_TEMPERATURE_THRESHOLD);
    if (type < 0 || type > 7) {
        return GPU_NVML_RC_INVALID_ARGUMENT;
    }
    if (type > 3) {
        struct call c;
        nvmlReturn_t rc = enter(&c, dev, SIM_F_TEMPERATURE_THRESHOLDS);
        return leave(rc ? rc : GPU_NVML_RC_NOT_SUPPORTED);
    }
    return uint_field(dev, SIM_F_TEMPERATURE_THRESHOLDS,
                      offsetof(struct sim_gpu, temp_threshold_c) + (size_t)type * sizeof(unsigned),
                      c_out);
}

/* Fans: one, none where the scenario marks "fan" unsupported (a fanless
 * GPU's driver answers 0). */
EXPORT nvmlReturn_t nvmlDeviceGetNumFans(nvmlDevice_t dev, unsigned int *n)
{
    sim_cost_spend(SIM_COST_NUM_FANS);
    return uint_field(dev, -1, offsetof(struct sim_gpu, fan_count), n);
}

EXPORT nvmlReturn_t nvmlDeviceGetFanSpeed_v2(nvmlDevice_t dev, unsigned int fan, unsigned int *pct)
{
    sim_cost_spend(SIM_COST_FAN_SPEED_V2);
    if (fan != 0) {
        return GPU_NVML_RC_INVALID_ARGUMENT;
    }
    return uint_metric(dev, SIM_F_FAN, SIM_M_FAN_PCT, 1, pct);
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t dev, unsigned int *mw)
{
    sim_cost_spend(SIM_COST_POWER_DEFAULT_LIMIT);
    return power_limit(dev, mw);
}

/* The limit can be set between half the default and the default. */
EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t dev,
                                                                 unsigned int *min_mw,
                                                                 unsigned int *max_mw)
{
    sim_cost_spend(SIM_COST_POWER_LIMIT_CONSTRAINTS);
    unsigned int mw = 0;
    nvmlReturn_t rc = power_limit(dev, &mw);
    if (rc == GPU_NVML_RC_SUCCESS) {
        if (!min_mw || !max_mw) {
            return GPU_NVML_RC_INVALID_ARGUMENT;
        }
        *min_mw = mw / 2;
        *max_mw = mw;
    }
    return rc;
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerState(nvmlDevice_t dev, int *pstate)
{
    sim_cost_spend(SIM_COST_POWER_STATE);
    return performance_state(dev, pstate);
}

/* Persistence mode on, compute mode DEFAULT (0): a data-centre GPU's. */
EXPORT nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t dev, int *mode)
{
    sim_cost_spend(SIM_COST_PERSISTENCE_MODE);
    return uint_field(dev, -1, offsetof(struct sim_gpu, persistence_mode), (unsigned int *)mode);
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeMode(nvmlDevice_t dev, int *mode)
{
    sim_cost_spend(SIM_COST_COMPUTE_MODE);
    return uint_field(dev, -1, offsetof(struct sim_gpu, compute_mode), (unsigned int *)mode);
}

EXPORT nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t dev, int *major, int *minor)
{
    sim_cost_spend(SIM_COST_CUDA_CAPABILITY);
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, -1);
    if (rc == GPU_NVML_RC_SUCCESS) {
        if (!major || !minor) {
            rc = GPU_NVML_RC_INVALID_ARGUMENT;
        } else {
            *major = (int)c.gpu->cuda_major;
            *minor = (int)c.gpu->cuda_minor;
        }
    }
    return leave(rc);
}

/* ----------------------------------------------------------- processes -- */

/* Writes the active processes of the given type at `stride` bytes each,
 * with the size-query convention of the real library. */
static nvmlReturn_t running_processes(nvmlDevice_t dev, unsigned type_bit, unsigned int *count,
                                      void *infos, size_t stride)
{
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, SIM_F_PROCESSES);
    if (rc != GPU_NVML_RC_SUCCESS) {
        return leave(rc);
    }
    if (!count) {
        return leave(GPU_NVML_RC_INVALID_ARGUMENT);
    }
    unsigned n = 0;
    for (size_t i = 0; i < c.gpu->process_count; i++) {
        const struct sim_process *p = &c.gpu->processes[i];
        n += (p->type_mask & type_bit) && process_active(p, c.t);
    }
    if (*count < n || (n > 0 && !infos)) {
        *count = n;
        return leave(GPU_NVML_RC_INSUFFICIENT_SIZE);
    }
    unsigned w = 0;
    for (size_t i = 0; i < c.gpu->process_count; i++) {
        struct sim_process *p = &c.gpu->processes[i];
        if (!(p->type_mask & type_bit) || !process_active(p, c.t)) {
            continue;
        }
        struct gpu_nvml_process_info_v2 e = {
            .pid = p->pid,
            .used_gpu_memory = (unsigned long long)(sim_pattern_at(&p->memory_mib, c.t) * MIB),
            .gpu_instance_id = 0xFFFFFFFFu,
            .compute_instance_id = 0xFFFFFFFFu,
        };
        /* A 32-byte entry is the 24-byte one plus a zero CC-memory field. */
        memset((char *)infos + (size_t)w * stride, 0, stride);
        memcpy((char *)infos + (size_t)w * stride, &e, stride < sizeof(e) ? stride : sizeof(e));
        w++;
    }
    *count = w;
    return leave(GPU_NVML_RC_SUCCESS);
}

#define V1 sizeof(struct gpu_nvml_process_info_v1)
#define V2 sizeof(struct gpu_nvml_process_info_v2)
#ifdef SIM_R535_QUIRK
#    define V3 GPU_NVML_ABI_PROCESS_INFO_R535_SIZE
#else
#    define V3 V2
#endif

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t d, unsigned int *n, void *i)
{
    sim_cost_spend(SIM_COST_COMPUTE_PROCS);
    return running_processes(d, SIM_PROC_COMPUTE, n, i, V1);
}

EXPORT nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses(nvmlDevice_t d, unsigned int *n, void *i)
{
    sim_cost_spend(SIM_COST_GRAPHICS_PROCS);
    return running_processes(d, SIM_PROC_GRAPHICS, n, i, V1);
}

EXPORT nvmlReturn_t nvmlDeviceGetMPSComputeRunningProcesses(nvmlDevice_t d, unsigned int *n,
                                                            void *i)
{
    sim_cost_spend(SIM_COST_MPS_PROCS);
    return running_processes(d, SIM_PROC_MPS, n, i, V1);
}

#ifndef SIM_LEGACY
EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t d, unsigned int *n,
                                                            void *i)
{
    sim_cost_spend(SIM_COST_COMPUTE_PROCS_V2);
    return running_processes(d, SIM_PROC_COMPUTE, n, i, V2);
}

EXPORT nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v2(nvmlDevice_t d, unsigned int *n,
                                                             void *i)
{
    sim_cost_spend(SIM_COST_GRAPHICS_PROCS_V2);
    return running_processes(d, SIM_PROC_GRAPHICS, n, i, V2);
}

EXPORT nvmlReturn_t nvmlDeviceGetMPSComputeRunningProcesses_v2(nvmlDevice_t d, unsigned int *n,
                                                               void *i)
{
    sim_cost_spend(SIM_COST_MPS_PROCS_V2);
    return running_processes(d, SIM_PROC_MPS, n, i, V2);
}
#endif

#ifndef SIM_HIDE_V3
EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *n,
                                                            void *i)
{
    sim_cost_spend(SIM_COST_COMPUTE_PROCS_V3);
    return running_processes(d, SIM_PROC_COMPUTE, n, i, V3);
}

EXPORT nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t d, unsigned int *n,
                                                             void *i)
{
    sim_cost_spend(SIM_COST_GRAPHICS_PROCS_V3);
    return running_processes(d, SIM_PROC_GRAPHICS, n, i, V3);
}

EXPORT nvmlReturn_t nvmlDeviceGetMPSComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *n,
                                                               void *i)
{
    sim_cost_spend(SIM_COST_MPS_PROCS_V3);
    return running_processes(d, SIM_PROC_MPS, n, i, V3);
}
#endif

/* Confidential computing and the process detail list: never called by
 * gpulse, only looked up. A current driver has both; an early R535 driver
 * had the first without the second. */
#ifndef SIM_LEGACY
EXPORT nvmlReturn_t nvmlDeviceGetConfComputeMemSizeInfo(nvmlDevice_t dev, void *info)
{
    sim_cost_spend(SIM_COST_CONF_COMPUTE_MEM);
    (void)info;
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, -1);
    return leave(rc ? rc : GPU_NVML_RC_NOT_SUPPORTED);
}
#endif

#if !defined(SIM_LEGACY) && !defined(SIM_HIDE_V3) && !defined(SIM_R535_QUIRK)
EXPORT nvmlReturn_t nvmlDeviceGetRunningProcessDetailList(nvmlDevice_t dev, void *list)
{
    sim_cost_spend(SIM_COST_PROCESS_DETAIL_LIST);
    (void)list;
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, -1);
    return leave(rc ? rc : GPU_NVML_RC_NOT_SUPPORTED);
}
#endif

/* The driver sample periods newer than last_seen_us that it still keeps. */
static void sample_range(double t, unsigned long long last_seen_us, int64_t *first, int64_t *last)
{
    int64_t k_now = sample_index(t);
    int64_t k_min = k_now - (int64_t)g.sc.sample_buffer + 1;
    if (k_min < 1) {
        k_min = 1;
    }
    uint64_t base = epoch_us();
    uint64_t p = period_us();
    if (last_seen_us >= base) {
        int64_t k_seen = (int64_t)((last_seen_us - base) / p);
        if (k_seen + 1 > k_min) {
            k_min = k_seen + 1;
        }
    }
    *first = k_min;
    *last = k_now;
}

/* ------------------------------------------------ per-process samples -- */

/* What an H200 with R580 keeps (shared/reference/nvml-costs.md, "Per-process
 * utilization"): one sample per process per second, each the process's
 * utilization over about that second, each process on its own clock phase,
 * and only each process's latest sample. A read with lastSeen 0 gives one
 * sample per process; samples not read within a second are gone. */
#define PUTIL_PERIOD_S 1.0

/* A GetProcessUtilization size query answers with the driver's capacity,
 * not the live count (72 on that H200 with no samples at all). */
#define PUTIL_SIZE_QUERY_COUNT 72u

/* The process's phase in [0, PUTIL_PERIOD_S): derived from its PID, so it
 * differs from process to process and stays put between reads. */
static double putil_phase_s(unsigned pid)
{
    uint64_t x = (uint64_t)pid + 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    x ^= x >> 31;
    return (double)(x >> 11) / 9007199254740992.0 * PUTIL_PERIOD_S;
}

/* The process's latest sample at scenario time t, if it has one newer than
 * last_seen_us with anything in it. */
static bool putil_latest(struct call *c, struct sim_process *p, unsigned long long last_seen_us,
                         struct gpu_nvml_process_utilization_sample *out)
{
    double phase = putil_phase_s(p->pid);
    double j = floor((c->t - phase) / PUTIL_PERIOD_S);
    if (j < 0) {
        return false;
    }
    double b = j * PUTIL_PERIOD_S + phase;
    double a = b - PUTIL_PERIOD_S > 0 ? b - PUTIL_PERIOD_S : 0;
    uint64_t ts = epoch_us() + (uint64_t)llround(b * 1e6);
    if (!process_active(p, b) || ts <= last_seen_us) {
        return false;
    }
    *out = (struct gpu_nvml_process_utilization_sample){
        .pid = p->pid,
        .timestamp_us = ts,
        .sm_util = round_u(sim_pattern_mean(&p->sm_pct, a, b)),
        .mem_util = round_u(sim_pattern_mean(&p->memory_pct, a, b)),
        .enc_util = round_u(sim_pattern_mean(&p->encoder_pct, a, b)),
        .dec_util = round_u(sim_pattern_mean(&p->decoder_pct, a, b)),
    };
    /* A process that did nothing in its second has no sample. */
    return out->sm_util + out->mem_util + out->enc_util + out->dec_util > 0;
}

/* Fills up to cap samples (none when out is NULL); returns how many there
 * are in all. */
static unsigned putil_collect(struct call *c, unsigned long long last_seen_us,
                              struct gpu_nvml_process_utilization_sample *out, unsigned cap)
{
    unsigned n = 0;
    for (size_t i = 0; i < c->gpu->process_count; i++) {
        struct gpu_nvml_process_utilization_sample s;
        if (putil_latest(c, &c->gpu->processes[i], last_seen_us, &s)) {
            if (out && n < cap) {
                out[n] = s;
            }
            n++;
        }
    }
    return n;
}

EXPORT nvmlReturn_t
nvmlDeviceGetProcessUtilization(nvmlDevice_t dev, struct gpu_nvml_process_utilization_sample *util,
                                unsigned int *count, unsigned long long last_seen_us)
{
    sim_cost_spend(util ? SIM_COST_PROCESS_UTILIZATION : SIM_COST_PROCESS_UTILIZATION_SIZE);
    struct call c;
    nvmlReturn_t rc = enter_arg(&c, dev, SIM_F_PROCESS_UTILIZATION, count);
    if (rc != GPU_NVML_RC_SUCCESS) {
        return leave(rc);
    }
    if (!util) {
        unsigned n = putil_collect(&c, last_seen_us, NULL, 0);
        *count = n > PUTIL_SIZE_QUERY_COUNT ? n : PUTIL_SIZE_QUERY_COUNT;
        return leave(GPU_NVML_RC_INSUFFICIENT_SIZE);
    }
    unsigned n = putil_collect(&c, last_seen_us, util, *count);
    if (n == 0) {
        return leave(GPU_NVML_RC_NOT_FOUND);
    }
    if (*count < n) {
        *count = n;
        return leave(GPU_NVML_RC_INSUFFICIENT_SIZE);
    }
    *count = n;
    return leave(GPU_NVML_RC_SUCCESS);
}

#if !defined(SIM_LEGACY) && !defined(SIM_R535_QUIRK)
/* The versioned form (12.4 header, about R550): the same samples in 40-byte
 * entries (nvml-abi.md 2.10). */
struct sim_processes_utilization_info {
    unsigned int version;
    unsigned int count;
    unsigned long long last_seen_us;
    struct {
        unsigned long long timestamp_us;
        unsigned int pid, sm, mem, enc, dec, jpg, ofa;
    } * samples;
};
_Static_assert(sizeof(struct sim_processes_utilization_info) == 24,
               "nvmlProcessesUtilizationInfo_v1");
#    define SIM_PROCESSES_UTILIZATION_INFO_V1 0x01000018u

EXPORT nvmlReturn_t
nvmlDeviceGetProcessesUtilizationInfo(nvmlDevice_t dev, struct sim_processes_utilization_info *info)
{
    sim_cost_spend(info && info->samples ? SIM_COST_PROCESSES_UTILIZATION_INFO
                                         : SIM_COST_PROCESSES_UTILIZATION_INFO_SIZE);
    struct call c;
    nvmlReturn_t rc = enter_arg(&c, dev, SIM_F_PROCESS_UTILIZATION, info);
    if (rc != GPU_NVML_RC_SUCCESS) {
        return leave(rc);
    }
    if (info->version != SIM_PROCESSES_UTILIZATION_INFO_V1) {
        return leave(GPU_NVML_RC_ARGUMENT_VERSION_MISMATCH);
    }
    unsigned n = putil_collect(&c, info->last_seen_us, NULL, 0);
    if (!info->samples || info->count < n) {
        info->count = n;
        return leave(n ? GPU_NVML_RC_INSUFFICIENT_SIZE : GPU_NVML_RC_NOT_FOUND);
    }
    if (n == 0) {
        info->count = 0;
        return leave(GPU_NVML_RC_NOT_FOUND);
    }
    unsigned w = 0;
    for (size_t i = 0; i < c.gpu->process_count && w < n; i++) {
        struct gpu_nvml_process_utilization_sample s;
        if (putil_latest(&c, &c.gpu->processes[i], info->last_seen_us, &s)) {
            memset(&info->samples[w], 0, sizeof(info->samples[w]));
            info->samples[w].timestamp_us = s.timestamp_us;
            info->samples[w].pid = s.pid;
            info->samples[w].sm = s.sm_util;
            info->samples[w].mem = s.mem_util;
            info->samples[w].enc = s.enc_util;
            info->samples[w].dec = s.dec_util;
            w++;
        }
    }
    info->count = w;
    return leave(GPU_NVML_RC_SUCCESS);
}
#endif

/* The driver's sample buffers: one value per sample period, the mean over
 * that period, so a burst shorter than a client's read interval is there. */
EXPORT nvmlReturn_t nvmlDeviceGetSamples(nvmlDevice_t dev, int type,
                                         unsigned long long last_seen_us, int *value_type,
                                         unsigned int *count, struct gpu_nvml_sample *samples)
{
    sim_cost_spend(!samples    ? SIM_COST_SAMPLES_SIZE
                   : type == 0 ? SIM_COST_SAMPLES_POWER
                               : SIM_COST_SAMPLES);
    struct call c;
    nvmlReturn_t rc = enter(&c, dev, SIM_F_SAMPLES);
    if (rc != GPU_NVML_RC_SUCCESS) {
        return leave(rc);
    }
    enum sim_metric m;
    double scale = 1;
    switch (type) {
    case 0:
        m = SIM_M_POWER_W;
        scale = 1000; /* mW */
        break;
    case GPU_NVML_ABI_GPU_UTILIZATION_SAMPLES:
        m = SIM_M_UTIL_GPU;
        break;
    case 2:
        m = SIM_M_UTIL_MEMORY;
        break;
    case 3:
        m = SIM_M_UTIL_ENCODER;
        break;
    case 4:
        m = SIM_M_UTIL_DECODER;
        break;
    case 5:
        m = SIM_M_CLOCK_SM_MHZ;
        break;
    case 6:
        m = SIM_M_CLOCK_MEMORY_MHZ;
        break;
    default:
        return leave(GPU_NVML_RC_NOT_SUPPORTED);
    }
    if (!count || !value_type) {
        return leave(GPU_NVML_RC_INVALID_ARGUMENT);
    }
    int64_t k0 = 0, k1 = 0;
    sample_range(c.t, last_seen_us, &k0, &k1);
    unsigned n = k1 >= k0 ? (unsigned)(k1 - k0 + 1) : 0;
    *value_type = GPU_NVML_ABI_VALUE_TYPE_UNSIGNED_INT;
    if (n == 0) {
        return leave(GPU_NVML_RC_NOT_FOUND);
    }
    if (!samples) {
        *count = n; /* unlike the process queries, the size query succeeds */
        return leave(GPU_NVML_RC_SUCCESS);
    }
    if (*count < n) {
        k0 = k1 - (int64_t)*count + 1; /* keep the newest that fit */
        n = *count;
    }
    for (unsigned i = 0; i < n; i++) {
        int64_t k = k0 + (int64_t)i;
        double v = sim_pattern_mean(&c.gpu->metric[m], sample_end_s(k - 1), sample_end_s(k));
        samples[i].timestamp_us = epoch_us() + (uint64_t)k * period_us();
        samples[i].value.ui = round_u(v * scale);
    }
    *count = n;
    return leave(GPU_NVML_RC_SUCCESS);
}
