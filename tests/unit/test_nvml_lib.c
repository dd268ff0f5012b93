/* The NVML loader against the three builds of the simulated library: the
 * symbol fallbacks, the struct layout each version implies, and the same
 * readings whichever version bound. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gp_cmocka.h"
#include "gpu/gpu.h"
#include "gpu/nvml_lib.h"

#define FULL   SIM_DIR "/libnvidia-ml.so.1"
#define NO_V3  SIM_DIR "/no_v3/libnvidia-ml.so.1"
#define LEGACY SIM_DIR "/legacy/libnvidia-ml.so.1"
#define R535   SIM_DIR "/r535/libnvidia-ml.so.1"
#define MIB    1048576LL

static int use_two_gpu_scenario(void **state)
{
    (void)state;
    setenv("GPULSE_SIM_SCENARIO", FIXTURES "/scenarios/two_gpus.json", 1);
    setenv("GPULSE_SIM_TIME", "100.2", 1); /* frozen: 0.2 s into a 30 % duty square */
    setenv("GPULSE_SIM_EPOCH", "1795000000", 1);
    return 0;
}

static void full_library_binds_newest_names(void **state)
{
    (void)state;
    struct gpu_nvml_lib lib;
    struct gp_err err = { 0 };
    assert_int_equal(gpu_nvml_lib_open(&lib, FULL, &err), 0);
    assert_string_equal(lib.resolved[GPU_NVML_SYM_INIT], "nvmlInit_v2");
    assert_string_equal(lib.resolved[GPU_NVML_SYM_DEVICE_COUNT], "nvmlDeviceGetCount_v2");
    assert_string_equal(lib.resolved[GPU_NVML_SYM_PCI_INFO], "nvmlDeviceGetPciInfo_v3");
    assert_string_equal(lib.resolved[GPU_NVML_SYM_COMPUTE_PROCS],
                        "nvmlDeviceGetComputeRunningProcesses_v3");
    assert_string_equal(lib.resolved[GPU_NVML_SYM_CLOCK_REASONS],
                        "nvmlDeviceGetCurrentClocksEventReasons");
    assert_int_equal(lib.process_stride[0], 24);
    assert_true(lib.memory_v2);
    assert_false(lib.pci_legacy_layout);
    gpu_nvml_lib_close(&lib);
}

static void no_v3_library_falls_back_to_v2(void **state)
{
    (void)state;
    struct gpu_nvml_lib lib;
    assert_int_equal(gpu_nvml_lib_open(&lib, NO_V3, NULL), 0);
    assert_string_equal(lib.resolved[GPU_NVML_SYM_PCI_INFO], "nvmlDeviceGetPciInfo_v2");
    assert_string_equal(lib.resolved[GPU_NVML_SYM_COMPUTE_PROCS],
                        "nvmlDeviceGetComputeRunningProcesses_v2");
    assert_int_equal(lib.process_stride[0], 24);
    assert_false(lib.pci_legacy_layout);
    gpu_nvml_lib_close(&lib);
}

static void legacy_library_uses_plain_names_and_old_layouts(void **state)
{
    (void)state;
    struct gpu_nvml_lib lib;
    assert_int_equal(gpu_nvml_lib_open(&lib, LEGACY, NULL), 0);
    assert_string_equal(lib.resolved[GPU_NVML_SYM_INIT], "nvmlInit");
    assert_string_equal(lib.resolved[GPU_NVML_SYM_HANDLE_BY_INDEX], "nvmlDeviceGetHandleByIndex");
    assert_string_equal(lib.resolved[GPU_NVML_SYM_MEMORY_INFO], "nvmlDeviceGetMemoryInfo");
    assert_string_equal(lib.resolved[GPU_NVML_SYM_CLOCK_REASONS],
                        "nvmlDeviceGetCurrentClocksThrottleReasons");
    assert_int_equal(lib.process_stride[0], 16);
    assert_int_equal(lib.process_stride[1], 16);
    assert_true(lib.pci_legacy_layout);
    assert_false(lib.memory_v2);
    gpu_nvml_lib_close(&lib);
}

static void early_r535_driver_gets_32_byte_entries(void **state)
{
    (void)state;
    struct gpu_nvml_lib lib;
    assert_int_equal(gpu_nvml_lib_open(&lib, R535, NULL), 0);
    assert_string_equal(lib.resolved[GPU_NVML_SYM_COMPUTE_PROCS],
                        "nvmlDeviceGetComputeRunningProcesses_v3");
    assert_int_equal(lib.process_stride[0], 32);
    assert_int_equal(lib.process_stride[1], 32);
    gpu_nvml_lib_close(&lib);
    /* a current driver has the detail list too: 24 bytes */
    assert_int_equal(gpu_nvml_lib_open(&lib, FULL, NULL), 0);
    assert_non_null(lib.probe_conf_compute);
    assert_non_null(lib.probe_detail_list);
    assert_int_equal(lib.process_stride[0], 24);
    gpu_nvml_lib_close(&lib);
}

static void not_a_library(void **state)
{
    (void)state;
    struct gpu_nvml_lib lib;
    struct gp_err err = { 0 };
    assert_int_equal(gpu_nvml_lib_open(&lib, "/nonexistent/libnvidia-ml.so.1", &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/libnvidia-ml.so.1"));
}

static void library_without_nvml(void **state)
{
    (void)state;
    struct gpu_nvml_lib lib;
    struct gp_err err = { 0 };
    assert_int_equal(gpu_nvml_lib_open(&lib, "libm.so.6", &err), -ENOSYS);
    assert_non_null(strstr(err.msg, "nvmlInit_v2"));
}

/* Reads both GPUs through one library build. */
static void read_with(const char *path, struct gpu_snapshot *snap)
{
    struct gpu_options opts = { .nvml_lib = path,
                                .read_processes = true,
                                .read_process_utilization = true,
                                .proc_root = FIXTURES "/proc" };
    struct gpu_session *s = NULL;
    struct gp_err err = { 0 };
    int rc = gpu_session_open(&opts, &s, &err);
    if (rc) {
        fail_msg("open %s: %s", path, err.msg);
    }
    assert_int_equal(gpu_session_gpu_count(s), 2);
    gpu_session_read(s, snap);
    gpu_session_settle(s, &snap, 1, false);
    gpu_session_free(s);
}

static void same_readings_from_every_build(void **state)
{
    (void)state;
    const char *builds[] = { FULL, NO_V3, LEGACY, R535 };
    for (size_t b = 0; b < 4; b++) {
        struct gpu_snapshot snap = { 0 };
        read_with(builds[b], &snap);
        assert_string_equal(snap.system.driver_version, "535.129.03");
        assert_int_equal(snap.system.cuda_version, 12020);
        const struct gpu_reading *a100 = &snap.gpus[0];
        assert_int_equal(a100->state, GPU_STATE_OK);
        assert_string_equal(a100->id.uuid, "GPU-11111111-2222-4333-8444-555555555555");
        /* the legacy layout carries the 4-digit-domain bus id */
        assert_string_equal(a100->id.pci_bus_id, b == 2 ? "0000:07:00.0" : "00000000:07:00.0");
        assert_int_equal(a100->id.pci_device_id, 0x20B210DE);
        assert_int_equal(a100->values.v[GPU_FIELD_MEM_TOTAL_BYTES], 81920 * MIB);
        /* v2 reports reserved apart; v1's "used" includes it */
        int64_t used = a100->values.v[GPU_FIELD_MEM_USED_BYTES];
        assert_int_equal(used, b == 2 ? (3072 + 512) * MIB : 3072 * MIB);
        assert_int_equal(gpu_values_has(&a100->values, GPU_FIELD_MEM_RESERVED_BYTES), b != 2);
        assert_int_equal(a100->values.v[GPU_FIELD_TEMP_C], 61);
        assert_int_equal(a100->values.v[GPU_FIELD_POWER_MW], 250000);
        assert_false(gpu_values_has(&a100->values, GPU_FIELD_FAN_PCT));
        /* processes decoded at the right stride: PIDs and memory intact */
        assert_int_equal(a100->process_count, 2);
        assert_int_equal(a100->processes[0].pid, 4242);
        assert_int_equal(a100->processes[0].used_memory_bytes, 1024 * MIB);
        assert_int_equal(a100->processes[1].pid, 4343);
        assert_int_equal(a100->processes[1].type_mask, GPU_PROCESS_COMPUTE | GPU_PROCESS_GRAPHICS);
        assert_int_equal(a100->processes[1].used_memory_bytes, 2048 * MIB);
        assert_int_equal(a100->processes[0].sm_pct, 40);
        assert_string_equal(a100->processes[0].proc->user, "nobody");
        assert_string_equal(a100->processes[0].proc->container.runtime, "docker");

        const struct gpu_reading *rtx = &snap.gpus[1];
        assert_string_equal(rtx->id.serial, "");
        assert_int_equal(rtx->values.v[GPU_FIELD_FAN_PCT], 47);
        assert_false(gpu_values_has(&rtx->values, GPU_FIELD_ECC_ENABLED));
        assert_int_equal(rtx->process_count, 0);
        gpu_snapshot_fini(&snap);
    }
}

static void busy_time_comes_from_the_sample_buffer(void **state)
{
    (void)state;
    struct gpu_snapshot snap = { 0 };
    read_with(FULL, &snap);
    const struct gpu_busy *b = &snap.gpus[0].busy;
    assert_int_equal(b->source, GPU_BUSY_SAMPLES);
    /* the first read covers the last second of a 30 % duty, 1 s square wave */
    assert_true(b->window_us >= 990000 && b->window_us <= 1010000);
    double pct = 0;
    assert_true(gpu_busy_pct(b, &pct));
    assert_true(pct > 29.0 && pct < 31.0);
    gpu_snapshot_fini(&snap);
}

static void init_failure_is_reported_with_nvml_text(void **state)
{
    (void)state;
    char path[] = "/tmp/gpulse-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *json = "{\"init\": {\"error\": \"DRIVER_NOT_LOADED\"}, \"gpus\": []}";
    assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
    close(fd);
    setenv("GPULSE_SIM_SCENARIO", path, 1);
    struct gpu_options opts = { .nvml_lib = FULL };
    struct gpu_session *s = NULL;
    struct gp_err err = { 0 };
    assert_int_equal(gpu_session_open(&opts, &s, &err), -EIO);
    assert_non_null(strstr(err.msg, "Driver Not Loaded"));
    assert_non_null(strstr(err.msg, "kernel driver is not loaded"));
    unlink(path);
    use_two_gpu_scenario(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_library_binds_newest_names),
        cmocka_unit_test(no_v3_library_falls_back_to_v2),
        cmocka_unit_test(legacy_library_uses_plain_names_and_old_layouts),
        cmocka_unit_test(early_r535_driver_gets_32_byte_entries),
        cmocka_unit_test(not_a_library),
        cmocka_unit_test(library_without_nvml),
        cmocka_unit_test(same_readings_from_every_build),
        cmocka_unit_test(busy_time_comes_from_the_sample_buffer),
        cmocka_unit_test(init_failure_is_reported_with_nvml_text),
    };
    return cmocka_run_group_tests(tests, use_two_gpu_scenario, NULL);
}
