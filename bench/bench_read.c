/* Times full reads of every GPU and its processes through gpulse's gpu
 * subsystem: wall and CPU time per read, as medians over many reads taken
 * at a fixed interval (so the driver's sample buffers hold what a sampling
 * agent would find). Prints figures; asserts nothing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu/gpu.h"
#include "util/strparse.h"

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts = { 0 };
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t percentile(uint64_t *v, size_t n, double p)
{
    qsort(v, n, sizeof(*v), cmp_u64);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

int main(int argc, char **argv)
{
    uint64_t reads = 100;
    uint64_t interval_ms = 100;
    for (int i = 1; i + 1 < argc; i += 2) {
        uint64_t *dst = strcmp(argv[i], "--reads") == 0         ? &reads
                        : strcmp(argv[i], "--interval-ms") == 0 ? &interval_ms
                                                                : NULL;
        if (!dst || strparse_u64(argv[i + 1], 1000000, dst) != 0 || *dst == 0) {
            fprintf(stderr, "usage: bench_read [--reads N] [--interval-ms MS]\n");
            return 2;
        }
    }
    struct gpu_options opts = { .read_processes = true, .read_process_utilization = true };
    struct gpu_session *s = NULL;
    struct gp_err err = { 0 };
    if (gpu_session_open(&opts, &s, &err) != 0) {
        fprintf(stderr, "bench_read: %s\n", err.msg);
        return 1;
    }
    uint64_t *wall = calloc(reads, sizeof(*wall));
    uint64_t *cpu = calloc(reads, sizeof(*cpu));
    struct gpu_snapshot snap = { 0 };
    size_t procs = 0;
    for (int warm = 0; warm < 3; warm++) {
        gpu_session_read(s, &snap);
    }
    for (uint64_t i = 0; i < reads; i++) {
        struct timespec pause = { .tv_sec = (time_t)(interval_ms / 1000),
                                  .tv_nsec = (long)(interval_ms % 1000) * 1000000L };
        nanosleep(&pause, NULL);
        uint64_t w0 = clock_ns(CLOCK_MONOTONIC);
        uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        gpu_session_read(s, &snap);
        cpu[i] = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
        wall[i] = clock_ns(CLOCK_MONOTONIC) - w0;
        procs = 0;
        for (size_t g = 0; g < snap.gpu_count; g++) {
            procs += snap.gpus[g].process_count;
        }
    }
    size_t gpus = snap.gpu_count;
    printf("gpulse read: %zu GPUs, %zu processes, %llu reads every %llu ms\n", gpus, procs,
           (unsigned long long)reads, (unsigned long long)interval_ms);
    uint64_t wall_med = percentile(wall, reads, 0.5);
    uint64_t cpu_med = percentile(cpu, reads, 0.5);
    printf("  wall per full read: median %.1f us, p90 %.1f us\n", (double)wall_med / 1e3,
           (double)percentile(wall, reads, 0.9) / 1e3);
    printf("  CPU  per full read: median %.1f us, p90 %.1f us\n", (double)cpu_med / 1e3,
           (double)percentile(cpu, reads, 0.9) / 1e3);
    printf("  CPU  per GPU-read:  median %.1f us\n", (double)cpu_med / 1e3 / (double)gpus);
    gpu_snapshot_fini(&snap);
    gpu_session_free(s);
    free(wall);
    free(cpu);
    return 0;
}
