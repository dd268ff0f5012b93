/* The simulated NVML's patterns and scenario checks. */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gp_cmocka.h"
#include "pattern.h"
#include "scenario.h"

static void square_mean_is_its_duty(void **state)
{
    (void)state;
    struct sim_pattern p = {
        .kind = SIM_PATTERN_PERIODIC, .low = 0, .high = 100, .period_s = 10, .on_s = 3
    };
    assert_true(fabs(sim_pattern_mean(&p, 0, 100) - 30.0) < 1e-9);
    assert_true(fabs(sim_pattern_mean(&p, 1, 2) - 100.0) < 1e-9);
    assert_true(fabs(sim_pattern_mean(&p, 3, 10) - 0.0) < 1e-9);
    assert_true(fabs(sim_pattern_mean(&p, 2.5, 3.5) - 50.0) < 1e-9);
    assert_true(sim_pattern_at(&p, 2.99) > 99 && sim_pattern_at(&p, 3.0) < 1);
}

static void phase_shifts_the_wave(void **state)
{
    (void)state;
    struct sim_pattern p = { .kind = SIM_PATTERN_PERIODIC,
                             .low = 10,
                             .high = 20,
                             .period_s = 2,
                             .on_s = 0.5,
                             .phase_s = 1 };
    assert_true(sim_pattern_at(&p, 0.5) < 11);
    assert_true(sim_pattern_at(&p, 1.2) > 19);
    /* integral over one full period is the same wherever it starts */
    double a = sim_pattern_integral(&p, 2.0) - sim_pattern_integral(&p, 0.0);
    double b = sim_pattern_integral(&p, 3.3) - sim_pattern_integral(&p, 1.3);
    assert_true(fabs(a - b) < 1e-9);
    assert_true(fabs(a - (20 * 0.5 + 10 * 1.5)) < 1e-9);
}

static void ramp_and_constant_integrals(void **state)
{
    (void)state;
    struct sim_pattern r = {
        .kind = SIM_PATTERN_RAMP, .from = 0, .to = 100, .start_s = 10, .duration_s = 10
    };
    assert_true(fabs(sim_pattern_at(&r, 15) - 50) < 1e-9);
    assert_true(fabs(sim_pattern_at(&r, 30) - 100) < 1e-9);
    assert_true(fabs(sim_pattern_integral(&r, 20) - 500) < 1e-9);
    r.repeat = 1;
    assert_true(fabs(sim_pattern_at(&r, 25) - 50) < 1e-9);
    struct sim_pattern c = sim_pattern_constant(250);
    assert_true(fabs(sim_pattern_integral(&c, 4) - 1000) < 1e-9);
}

static void random_walk_is_seeded_and_bounded(void **state)
{
    (void)state;
    struct sim_pattern a = { .kind = SIM_PATTERN_RANDOM_WALK,
                             .seed = 42,
                             .start = 50,
                             .step = 10,
                             .min = 0,
                             .max = 100,
                             .interval_s = 1 };
    struct sim_pattern b = a;
    double prev = 50;
    for (int t = 0; t < 500; t++) {
        double v = sim_pattern_at(&a, t);
        assert_true(v >= 0 && v <= 100);
        assert_true(fabs(v - prev) <= 10 + 1e-9);
        prev = v;
    }
    /* the same seed gives the same walk, even read backwards */
    assert_true(fabs(sim_pattern_at(&b, 400) - sim_pattern_at(&a, 400)) < 1e-12);
    assert_true(fabs(sim_pattern_at(&b, 3) - sim_pattern_at(&a, 3)) < 1e-12);
    /* the integral is the sum of the piecewise-constant steps */
    double sum = 0;
    for (int k = 0; k < 10; k++) {
        sum += sim_pattern_at(&b, k + 0.5);
    }
    assert_true(fabs(sim_pattern_integral(&b, 10) - sum) < 1e-6);
    sim_pattern_fini(&a);
    sim_pattern_fini(&b);
}

/* The walk as README.md defines it, replayed from the start: the reference
 * the checkpointed evaluation must agree with exactly. */
static double walk_reference(const struct sim_pattern *p, int64_t k, double *sum)
{
    double v = fmin(fmax(p->start, p->min), p->max);
    *sum = v * p->interval_s;
    for (int64_t i = 1; i <= k; i++) {
        uint64_t x = (uint64_t)i + 0x9E3779B97F4A7C15ULL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
        x = p->seed ^ (x ^ (x >> 31));
        x += 0x9E3779B97F4A7C15ULL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
        x ^= x >> 31;
        double u = (double)(x >> 11) / 9007199254740992.0 * 2.0 - 1.0;
        v = fmin(fmax(v + u * p->step, p->min), p->max);
        *sum += v * p->interval_s;
    }
    return v;
}

/* Reads the way a client does (the newest value, then a 14 s sample buffer
 * back in time, then the energy integral), at any instant and in any order:
 * the values equal a replay from t = 0, and what one such read computes
 * stays bounded however long the scenario has run (it replayed from 0
 * each time: 0.54 ms at 60 s, 11.8 ms at 20 000 s). */
static void random_walk_cost_is_flat_over_time(void **state)
{
    (void)state;
    struct sim_pattern w = { .kind = SIM_PATTERN_RANDOM_WALK,
                             .seed = 7,
                             .start = 50,
                             .step = 6,
                             .min = 0,
                             .max = 100,
                             .interval_s = 0.5 };
    static const double at[] = { 60, 20000, 20000.3, 19990, 20100, 12345, 50000, 49000, 49990 };
    uint64_t per_read[sizeof(at) / sizeof(at[0])];
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        uint64_t before = sim_pattern_walk_steps(&w);
        double t = at[i];
        double v = sim_pattern_at(&w, t);
        for (double s = t - 14.2; s < t; s += 0.2) {
            (void)sim_pattern_mean(&w, s, s + 0.2);
        }
        double integral = sim_pattern_integral(&w, t);
        per_read[i] = sim_pattern_walk_steps(&w) - before;
        double sum = 0;
        int64_t k = (int64_t)floor(t / w.interval_s);
        double expect = walk_reference(&w, k, &sum);
        assert_memory_equal(&v, &expect, sizeof(v)); /* exactly */
        assert_true(fabs(integral - (sum - expect * ((double)(k + 1) * w.interval_s - t))) <=
                    1e-9 * fabs(sum));
    }
    /* After the first read at 20 000 s (which walks there once), a read
     * near the latest time costs at most a few checkpoint spans... */
    assert_true(per_read[2] <= 3 * 64);
    assert_true(per_read[3] <= 3 * 64);
    assert_true(per_read[8] <= 3 * 64);
    /* ...and one far back (t = 12 345 s after 20 100 s) a coarse span, not a
     * replay of the 24 690 steps from 0 (the read at 60 s walked 120). */
    assert_true(per_read[5] <= 2 * 40000 / 64 + 64);
    assert_true(per_read[0] <= 2 * 120 + 64);
    sim_pattern_fini(&w);
}

/* Writes text to a temporary scenario file and loads it. */
static int load_text(const char *text, char *err, size_t size)
{
    char path[] = "/tmp/gpulse-scenario-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct sim_scenario sc;
    int rc = sim_scenario_load(path, &sc, err, size);
    if (rc == 0) {
        sim_scenario_free(&sc);
    }
    unlink(path);
    return rc;
}

static void bad_scenarios_name_the_key(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *expect;
    } cases[] = {
        { "{\"gpus\": [{\"metrics\": {\"power_w\": {\"pattern\": \"sqare\"}}}]}",
          "gpus[0].metrics.power_w.pattern: unknown pattern 'sqare'" },
        { "{\"gpus\": [{}, {\"metrics\": {\"power_w\": {\"pattern\": \"square\", \"high\": 5, "
          "\"period_s\": 0, \"duty\": 0.5}}}]}",
          "gpus[1].metrics.power_w.period_s: 0 is out of range" },
        { "{\"gpus\": [{\"fan\": 3}]}", "gpus[0].fan: unknown key" },
        { "{\"gpus\": [{\"metrics\": {\"utilization_gpu\": 101}}]}",
          "gpus[0].metrics.utilization_gpu: 101 is out of range" },
        { "{\"gpus\": [{\"unsupported\": [\"fans\"]}]}",
          "gpus[0].unsupported[0]: unknown feature" },
        { "{\"gpus\": [{\"processes\": [{\"memory_mib\": 5}]}]}",
          "gpus[0].processes[0].pid: is required" },
        { "{\"gpus\": [{\"processes\": [{\"pid\": 5, \"type\": \"cuda\"}]}]}",
          "gpus[0].processes[0].type: 'cuda' is not one of" },
        { "{\"gpus\": 3}", "gpus: must be an array" },
        { "{}", "gpus: is required" },
        { "{\"init\": {\"error\": \"BROKEN\"}, \"gpus\": []}", "init.error: unknown NVML error" },
        { "{\"init\": {\"delay_s\": -1}, \"gpus\": []}", "init.delay_s: -1 is out of range" },
        { "{\"init\": {\"fails_for\": 3}, \"gpus\": []}", "init.fails_for: unknown key" },
        { "{\"init\": {\"fails_for_s\": \"4\"}, \"gpus\": []}",
          "init.fails_for_s: must be a number" },
        { "{\"gpus\": [], \"extra\": 1}", "extra: unknown key" },
        { "{\"gpus\": [}", "line 1, column" },
        { "{\"gpus\": [{\"name\": 5}]}", "gpus[0].name: must be a string" },
        { "{\"gpus\": [{\"pci_device_id\": \"0xZZ\"}]}", "gpus[0].pci_device_id: '0xZZ'" },
        { "{\"call_cost\": {\"nvmlDeviceGetFoo\": 3}, \"gpus\": []}",
          "call_cost.nvmlDeviceGetFoo: unknown NVML function" },
        { "{\"call_cost\": {\"nvmlDeviceGetSamples\": -1}, \"gpus\": []}",
          "call_cost.nvmlDeviceGetSamples: -1 is out of range" },
        { "{\"call_cost\": \"a100\", \"gpus\": []}", "call_cost: 'a100' is not \"h200\"" },
        { "{\"call_cost\": 5, \"gpus\": []}",
          "call_cost: must be \"h200\", \"none\" or an object" },
        { "{\"gpus\": [{\"pcie_link\": {\"gen\": 5, \"lanes\": 16}}]}",
          "gpus[0].pcie_link.lanes: unknown key" },
        { "{\"gpus\": [{\"temperature_thresholds_c\": {\"shutdown\": 900}}]}",
          "gpus[0].temperature_thresholds_c.shutdown: 900 is out of range" },
        { "{\"gpus\": [{\"call_delay_s\": [5, 1]}]}", "gpus[0].call_delay_s: must lie in" },
        { "{\"gpus\": [{\"call_delay_s\": \"slow\"}]}",
          "gpus[0].call_delay_s: must be a number of seconds or [min, max]" },
        { "{\"gpus\": [{\"call_delay_s\": [1, 2, 3]}]}",
          "gpus[0].call_delay_s: must be a number of seconds or [min, max]" },
        { "{\"gpus\": [{\"lost_at_s\": 10, \"lost_until_s\": 5}]}",
          "gpus[0].lost_until_s: must come after lost_at_s" },
        { "{\"gpus\": [{\"lost_until_s\": 5}]}",
          "gpus[0].lost_until_s: must come after lost_at_s" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[768] = "";
        assert_int_equal(load_text(cases[i].json, err, sizeof(err)), -1);
        if (!strstr(err, cases[i].expect)) {
            fail_msg("case %zu: expected '%s' in '%s'", i, cases[i].expect, err);
        }
    }
}

static void good_scenario_loads(void **state)
{
    (void)state;
    char err[768] = "";
    struct sim_scenario sc;
    assert_int_equal(sim_scenario_load(FIXTURES "/scenarios/two_gpus.json", &sc, err, sizeof(err)),
                     0);
    assert_int_equal(sc.gpu_count, 2);
    assert_int_equal(sc.gpus[0].process_count, 2);
    assert_int_equal(sc.gpus[0].pci_device_id, 0x20B210DE);
    assert_int_equal(sc.gpus[0].feature_error[SIM_F_FAN], 3);
    /* without "call_cost", calls cost what they cost on an H200 */
    assert_true(sc.call_cost.us[SIM_COST_SAMPLES] > 1000);
    assert_true(sc.call_cost.us[SIM_COST_SAMPLES_SIZE] < 10);
    assert_true(sc.call_cost.us[SIM_COST_INIT_V2] > 10000);
    assert_int_equal(sc.gpus[0].pcie_max_gen, 5);
    assert_int_equal(sc.gpus[0].temp_threshold_c[0], 92);
    sim_scenario_free(&sc);
    assert_int_equal(sim_scenario_load(DEMO_SCENARIO, &sc, err, sizeof(err)), 0);
    assert_int_equal(sc.gpu_count, 4);
    sim_scenario_free(&sc);
}

/* The init faults: a driver that loads some seconds after the client
 * starts fails with DRIVER_NOT_LOADED meanwhile, unless told another
 * error; one that hangs; none at all by default. */
static void init_faults_are_read(void **state)
{
    (void)state;
    char err[768] = "";
    struct sim_scenario sc;
    static const char later[] = "{\"init\": {\"fails_for_s\": 4}, \"gpus\": []}";
    assert_int_equal(sim_scenario_parse(later, sizeof(later) - 1, "later", &sc, err, sizeof(err)),
                     0);
    assert_int_equal(sc.init_error, 9); /* NVML_ERROR_DRIVER_NOT_LOADED */
    assert_true(fabs(sc.init_fails_for_s - 4.0) < 1e-9);
    assert_int_equal(sc.init_fail_count, -1);
    assert_true(fabs(sc.init_delay_s - 0.0) < 1e-9);
    sim_scenario_free(&sc);

    static const char hangs[] =
        "{\"init\": {\"error\": \"UNKNOWN\", \"fails_for_s\": 2.5, \"delay_s\": 30}, \"gpus\": []}";
    assert_int_equal(sim_scenario_parse(hangs, sizeof(hangs) - 1, "hangs", &sc, err, sizeof(err)),
                     0);
    assert_int_equal(sc.init_error, 999);
    assert_true(fabs(sc.init_fails_for_s - 2.5) < 1e-9);
    assert_true(fabs(sc.init_delay_s - 30.0) < 1e-9);
    sim_scenario_free(&sc);

    static const char plain[] = "{\"gpus\": []}";
    assert_int_equal(sim_scenario_parse(plain, sizeof(plain) - 1, "plain", &sc, err, sizeof(err)),
                     0);
    assert_int_equal(sc.init_error, 0);
    assert_true(sc.init_fails_for_s < 0);
    assert_true(fabs(sc.init_delay_s - 0.0) < 1e-9);
    sim_scenario_free(&sc);
}

static bool near(double a, double b)
{
    return fabs(a - b) < 1e-9;
}

static void fault_keys_load(void **state)
{
    (void)state;
    static const char text[] = "{\"gpus\": [{\"call_delay_s\": [1, 5], \"call_delay_from_s\": 2, "
                               "\"call_delay_until_s\": 9}, {\"call_delay_s\": 0.5}, "
                               "{\"lost_at_s\": 5, \"lost_until_s\": 15}, {}]}";
    char err[768] = "";
    struct sim_scenario sc;
    assert_int_equal(sim_scenario_parse(text, strlen(text), "t", &sc, err, sizeof(err)), 0);
    assert_true(near(sc.gpus[0].call_delay_min_s, 1) && near(sc.gpus[0].call_delay_max_s, 5));
    assert_true(near(sc.gpus[0].call_delay_from_s, 2) && near(sc.gpus[0].call_delay_until_s, 9));
    assert_true(near(sc.gpus[1].call_delay_min_s, 0.5) && near(sc.gpus[1].call_delay_max_s, 0.5));
    assert_true(isinf(sc.gpus[1].call_delay_until_s));
    assert_true(near(sc.gpus[2].lost_at_s, 5) && near(sc.gpus[2].lost_until_s, 15));
    assert_true(isinf(sc.gpus[3].lost_until_s) && near(sc.gpus[3].call_delay_max_s, 0));
    sim_scenario_free(&sc);
}

/* The simulated library itself, loaded as a client loads it. */
typedef int (*sim_init_fn)(void);
typedef int (*sim_handle_fn)(unsigned, void **);
typedef int (*sim_uuid_handle_fn)(const char *, void **);
typedef int (*sim_temp_fn)(void *, int, unsigned *);

struct delayed_call {
    sim_temp_fn temp;
    void *dev;
    int rc;
    double took_s;
    atomic_bool done;
};

/* A function pointer from dlsym, without ISO C's object-to-function cast. */
static void bind_symbol(void *lib, const char *name, void *fn, size_t size)
{
    void *sym = dlsym(lib, name);
    assert_non_null(sym);
    memcpy(fn, &sym, size);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *call_slow_gpu(void *arg)
{
    struct delayed_call *dc = arg;
    unsigned t = 0;
    double t0 = mono_s();
    dc->rc = dc->temp(dc->dev, 0, &t);
    dc->took_s = mono_s() - t0;
    atomic_store(&dc->done, true);
    return NULL;
}

/* A GPU with a call delay holds up only its own callers; a GPU whose loss
 * ends answers through a handle got anew, not through one got before. */
static void slow_gpu_and_loss_that_ends(void **state)
{
    (void)state;
    char path[] = "/tmp/gpulse-scenario-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char text[] = "{\"call_cost\": \"none\", \"gpus\": [{\"call_delay_s\": 1}, {}, "
                               "{\"lost_at_s\": 5, \"lost_until_s\": 12}]}";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    /* Scenario time 10 now: GPU 2 is lost until 12. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double epoch = (double)now.tv_sec + (double)now.tv_nsec / 1e9 - 10.0;
    char epoch_text[64];
    snprintf(epoch_text, sizeof(epoch_text), "%.6f", epoch);
    setenv("GPULSE_SIM_SCENARIO", path, 1);
    setenv("GPULSE_SIM_EPOCH", epoch_text, 1);
    unsetenv("GPULSE_SIM_TIME");
    void *lib = dlopen(SIM_DIR "/libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    assert_non_null(lib);
    sim_init_fn init = NULL;
    sim_init_fn shutdown = NULL;
    sim_handle_fn by_index = NULL;
    sim_uuid_handle_fn by_uuid = NULL;
    sim_temp_fn temp = NULL;
    bind_symbol(lib, "nvmlInit_v2", &init, sizeof(init));
    bind_symbol(lib, "nvmlShutdown", &shutdown, sizeof(shutdown));
    bind_symbol(lib, "nvmlDeviceGetHandleByIndex_v2", &by_index, sizeof(by_index));
    bind_symbol(lib, "nvmlDeviceGetHandleByUUID", &by_uuid, sizeof(by_uuid));
    bind_symbol(lib, "nvmlDeviceGetTemperature", &temp, sizeof(temp));
    assert_true(init && shutdown && by_index && by_uuid && temp);
    assert_int_equal(init(), 0);
    void *dev[3] = { NULL, NULL, NULL };
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(by_index(i, &dev[i]), 0);
    }
    unsigned t = 0;
    assert_int_equal(temp(dev[2], 0, &t), 15); /* GPU_IS_LOST */

    struct delayed_call dc = { .temp = temp, .dev = dev[0] };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, call_slow_gpu, &dc), 0);
    struct timespec tenth = { .tv_sec = 0, .tv_nsec = 100000000L };
    nanosleep(&tenth, NULL);
    assert_int_equal(temp(dev[1], 0, &t), 0);
    assert_false(atomic_load(&dc.done)); /* GPU 1 answered while GPU 0 slept */
    pthread_join(th, NULL);
    assert_int_equal(dc.rc, 0);
    assert_true(dc.took_s >= 1.0);

    /* Past scenario time 12: the old handle stays lost, a new one answers. */
    for (;;) {
        clock_gettime(CLOCK_REALTIME, &now);
        double left = epoch + 12.2 - ((double)now.tv_sec + (double)now.tv_nsec / 1e9);
        if (left <= 0) {
            break;
        }
        struct timespec ts = { .tv_sec = (time_t)left,
                               .tv_nsec = (long)((left - floor(left)) * 1e9) };
        nanosleep(&ts, NULL);
    }
    assert_int_equal(temp(dev[2], 0, &t), 15);
    void *fresh = NULL;
    assert_int_equal(by_uuid("GPU-5a1d0000-0000-4000-8000-000000000002", &fresh), 0);
    assert_ptr_not_equal(fresh, dev[2]);
    assert_int_equal(temp(fresh, 0, &t), 0);
    assert_int_equal(by_index(2, &fresh), 0);
    assert_int_equal(temp(fresh, 0, &t), 0);
    assert_int_equal(shutdown(), 0);
    dlclose(lib);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(square_mean_is_its_duty),
        cmocka_unit_test(phase_shifts_the_wave),
        cmocka_unit_test(ramp_and_constant_integrals),
        cmocka_unit_test(random_walk_is_seeded_and_bounded),
        cmocka_unit_test(random_walk_cost_is_flat_over_time),
        cmocka_unit_test(bad_scenarios_name_the_key),
        cmocka_unit_test(good_scenario_loads),
        cmocka_unit_test(init_faults_are_read),

        cmocka_unit_test(fault_keys_load),
        cmocka_unit_test(slow_gpu_and_loss_that_ends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
