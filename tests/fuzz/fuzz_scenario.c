/* libFuzzer target: scenario files for the simulated NVML. Any input must
 * either load or be refused with a message; never crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sim_scenario sc;
    char err[768] = "";
    if (sim_scenario_parse((const char *)data, size, "fuzz", &sc, err, sizeof(err)) == 0) {
        /* A loaded scenario must be one the library can serve. */
        for (size_t i = 0; i < sc.gpu_count; i++) {
            for (int m = 0; m < SIM_M_COUNT; m++) {
                (void)sim_pattern_at(&sc.gpus[i].metric[m], 12.5);
                (void)sim_pattern_mean(&sc.gpus[i].metric[m], 3.0, 3.2);
            }
        }
        sim_scenario_free(&sc);
    } else if (err[0] == '\0') {
        __builtin_trap(); /* a refusal always says why */
    }
    return 0;
}
