/* Counting and timing every NVML call this process makes: the cost of
 * each function as the driver charges it (CPU in the calling thread, see
 * shared/reference/nvml-costs.md), for /metrics and `gpulse now --timings`.
 * One writer at a time in practice (the sampler); relaxed atomics keep a
 * concurrent reader (an HTTP thread) safe without a lock. */
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "gpu/gpu.h"
#include "gpu/nvml_lib.h"

static _Atomic uint64_t call_count[GPU_NVML_SYM_COUNT];
static _Atomic uint64_t call_ns[GPU_NVML_SYM_COUNT];
static _Thread_local uint64_t call_start_ns;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void gpu_nvml_calls_begin(void)
{
    call_start_ns = now_ns();
}

gpu_nvml_return_t gpu_nvml_calls_end(enum gpu_nvml_sym sym, gpu_nvml_return_t rc)
{
    uint64_t ns = now_ns() - call_start_ns;
    atomic_fetch_add_explicit(&call_count[sym], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&call_ns[sym], ns, memory_order_relaxed);
    return rc;
}

size_t gpu_calls_read(struct gpu_call_count *out, size_t max)
{
    size_t n = 0;
    for (int sym = 0; sym < GPU_NVML_SYM_COUNT && n < max; sym++) {
        uint64_t calls = atomic_load_explicit(&call_count[sym], memory_order_relaxed);
        if (calls == 0) {
            continue;
        }
        out[n++] = (struct gpu_call_count){
            .function = gpu_nvml_lib_symbol_name((enum gpu_nvml_sym)sym),
            .calls = calls,
            .ns = atomic_load_explicit(&call_ns[sym], memory_order_relaxed),
        };
    }
    return n;
}
