/* The simulated machine, as read from a scenario file (JSON, documented in
 * sim/README.md): GPUs, their metric patterns, processes and faults. */
#ifndef GPULSE_SIM_SCENARIO_H
#define GPULSE_SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>

#include "cost.h"
#include "pattern.h"

/* Metrics a scenario can drive, each by a pattern. */
enum sim_metric {
    SIM_M_UTIL_GPU,
    SIM_M_UTIL_MEMORY,
    SIM_M_UTIL_ENCODER,
    SIM_M_UTIL_DECODER,
    SIM_M_MEMORY_USED_MIB,
    SIM_M_TEMPERATURE_C,
    SIM_M_FAN_PCT,
    SIM_M_POWER_W,
    SIM_M_CLOCK_SM_MHZ,
    SIM_M_CLOCK_GRAPHICS_MHZ,
    SIM_M_CLOCK_MEMORY_MHZ,
    SIM_M_PSTATE,
    SIM_M_CLOCK_EVENT_REASONS,
    SIM_M_PCIE_TX_KBPS,
    SIM_M_PCIE_RX_KBPS,
    SIM_M_ECC_CORRECTED,
    SIM_M_ECC_UNCORRECTED,
    SIM_M_REMAPPED_CORRECTABLE,
    SIM_M_REMAPPED_UNCORRECTABLE,
    SIM_M_COUNT
};

/* Features a scenario can make fail ("unsupported", "errors"). */
enum sim_feature {
    SIM_F_SERIAL,
    SIM_F_PCI,
    SIM_F_MINOR_NUMBER,
    SIM_F_MEMORY,
    SIM_F_UTILIZATION,
    SIM_F_ENCODER,
    SIM_F_DECODER,
    SIM_F_TEMPERATURE,
    SIM_F_FAN,
    SIM_F_POWER,
    SIM_F_POWER_LIMIT,
    SIM_F_ENERGY,
    SIM_F_CLOCKS,
    SIM_F_MAX_CLOCKS,
    SIM_F_PSTATE,
    SIM_F_CLOCK_REASONS,
    SIM_F_PCIE,
    SIM_F_ECC,
    SIM_F_REMAPPED_ROWS,
    SIM_F_PROCESSES,
    SIM_F_PROCESS_UTILIZATION,
    SIM_F_SAMPLES,
    SIM_F_PCIE_LINK,
    SIM_F_TEMPERATURE_THRESHOLDS,
    SIM_F_COUNT
};

enum {
    SIM_PROC_COMPUTE = 1,
    SIM_PROC_GRAPHICS = 2,
    SIM_PROC_MPS = 4,
};

struct sim_process {
    unsigned pid;
    unsigned type_mask;
    struct sim_pattern memory_mib;
    struct sim_pattern sm_pct;
    struct sim_pattern memory_pct;
    struct sim_pattern encoder_pct;
    struct sim_pattern decoder_pct;
    double start_s; /* on the GPU from this scenario time */
    double end_s;   /* until this one (INFINITY: never ends) */
    double cycle_s; /* > 0: start_s and end_s repeat every cycle_s seconds */
};

struct sim_gpu {
    char name[96];
    char uuid[96];
    char serial[30];
    char pci_bus_id[32];
    unsigned pci_device_id;
    unsigned pci_subsystem_id;
    unsigned minor_number;
    double memory_total_mib;
    double memory_reserved_mib;
    double power_limit_w;
    double energy_start_mj;
    unsigned max_clock_sm_mhz;
    unsigned max_clock_graphics_mhz;
    unsigned max_clock_memory_mhz;
    unsigned pcie_gen, pcie_max_gen;     /* PCIe link generation, current and maximum */
    unsigned pcie_width, pcie_max_width; /* lanes, current and maximum */
    unsigned temp_threshold_c[4];        /* shutdown, slowdown, memory max, GPU max */
    unsigned cuda_major, cuda_minor;     /* CUDA compute capability */
    unsigned fan_count;                  /* 1, or 0 when "fan" is unsupported */
    unsigned persistence_mode;           /* 1: enabled */
    unsigned compute_mode;               /* 0: default */
    bool ecc_enabled;
    int mig_mode;                    /* -1 no MIG (NOT_SUPPORTED), 0 off, 1 on */
    bool memory_used_from_processes; /* no memory_used_mib pattern: sum the processes */
    struct sim_pattern metric[SIM_M_COUNT];
    int feature_error[SIM_F_COUNT]; /* NVML code to return, 0 when it works */
    double lost_at_s;               /* GPU_IS_LOST from then on (INFINITY: never) */
    long lost_after_calls;          /* GPU_IS_LOST after this many calls (-1: never) */
    unsigned slow_ms;               /* every call on this GPU takes this long */
    /* A GPU that answers the loss again (a reset): from lost_until_s on,
     * fresh handles work and those got before the loss stay GPU_IS_LOST
     * (INFINITY: the loss never ends). */
    double lost_until_s;
    /* Each call on this GPU first sleeps a time drawn uniformly from
     * [call_delay_min_s, call_delay_max_s], outside the library's lock (the
     * other GPUs answer meanwhile), between call_delay_from_s and
     * call_delay_until_s of scenario time. 0: no delay. */
    double call_delay_min_s, call_delay_max_s;
    double call_delay_from_s, call_delay_until_s;
    unsigned long delayed_calls; /* calls delayed so far: the draw's counter */
    char handle_tokens[2]; /* handles are their addresses: [0] before a loss ends, [1] after */
    struct sim_process *processes;
    size_t process_count;
    unsigned long calls; /* device calls so far (for lost_after_calls) */
};

struct sim_scenario {
    char driver_version[80];
    char nvml_version[80];
    int cuda_version;
    double sample_period_s;  /* the driver's utilization sample period */
    unsigned sample_buffer;  /* samples the driver keeps */
    int init_error;          /* NVML code nvmlInit returns (0: succeeds) */
    long init_fail_count;    /* ...for this many calls, then succeeds (-1: always) */
    double init_fails_for_s; /* ...until this long after the process started (-1: always) */
    double init_delay_s;     /* every nvmlInit sleeps this long first (a hanging driver) */
    struct sim_cost_profile call_cost; /* CPU time per call ("call_cost") */
    struct sim_gpu *gpus;
    size_t gpu_count;
};

/* Scenario files larger than this are refused rather than read. */
#define SIM_SCENARIO_MAX_BYTES ((size_t)16 * 1024 * 1024)

/* Reads and checks a scenario file. Returns 0, or -1 with a message in err
 * naming the file, the key (as a JSON path) and what is wrong with it.
 * Free a loaded scenario with sim_scenario_free(). */
int sim_scenario_load(const char *path, struct sim_scenario *out, char *err, size_t err_size);

/* The same for scenario text held in memory; name stands for the file in
 * messages. */
int sim_scenario_parse(const char *text, size_t len, const char *name, struct sim_scenario *out,
                       char *err, size_t err_size);

/* Frees what a loaded scenario owns. */
void sim_scenario_free(struct sim_scenario *s);

/* The NVML code for an error name such as "NOT_SUPPORTED", or -1. */
int sim_error_code(const char *name);

#endif
