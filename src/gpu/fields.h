/* The numeric per-GPU metrics gpulse reads, one enum slot each with a
 * validity bit, so an unsupported metric is absent rather than 0. The table
 * in fields.c gives each its output key, so JSON, CSV and (later) storage
 * name a metric the same way. */
#ifndef GPULSE_GPU_FIELDS_H
#define GPULSE_GPU_FIELDS_H

#include <stdbool.h>
#include <stdint.h>

enum gpu_field {
    GPU_FIELD_UTIL_GPU_PCT,
    GPU_FIELD_UTIL_MEM_PCT,
    GPU_FIELD_UTIL_ENC_PCT,
    GPU_FIELD_UTIL_DEC_PCT,
    GPU_FIELD_MEM_TOTAL_BYTES,
    GPU_FIELD_MEM_USED_BYTES,
    GPU_FIELD_MEM_FREE_BYTES,
    GPU_FIELD_MEM_RESERVED_BYTES,
    GPU_FIELD_TEMP_C,
    GPU_FIELD_FAN_PCT,
    GPU_FIELD_POWER_MW,
    GPU_FIELD_POWER_LIMIT_MW,
    GPU_FIELD_ENERGY_MJ,
    GPU_FIELD_CLOCK_SM_MHZ,
    GPU_FIELD_CLOCK_GRAPHICS_MHZ,
    GPU_FIELD_CLOCK_MEM_MHZ,
    GPU_FIELD_CLOCK_SM_MAX_MHZ,
    GPU_FIELD_CLOCK_GRAPHICS_MAX_MHZ,
    GPU_FIELD_CLOCK_MEM_MAX_MHZ,
    GPU_FIELD_PSTATE,
    GPU_FIELD_CLOCK_REASONS,
    GPU_FIELD_PCIE_TX_KBPS,
    GPU_FIELD_PCIE_RX_KBPS,
    GPU_FIELD_ECC_ENABLED,
    GPU_FIELD_ECC_CORRECTED_VOLATILE,
    GPU_FIELD_ECC_UNCORRECTED_VOLATILE,
    GPU_FIELD_ECC_CORRECTED_AGGREGATE,
    GPU_FIELD_ECC_UNCORRECTED_AGGREGATE,
    GPU_FIELD_REMAPPED_ROWS_CORRECTABLE,
    GPU_FIELD_REMAPPED_ROWS_UNCORRECTABLE,
    GPU_FIELD_REMAPPED_ROWS_PENDING,
    GPU_FIELD_REMAPPED_ROWS_FAILURE,
    GPU_FIELD_COUNT
};

/* A set of field values, each present only when its bit is set. */
struct gpu_values {
    uint64_t valid;             /* bit f set: v[f] holds a reading */
    int64_t v[GPU_FIELD_COUNT]; /* in the unit the field's name says */
};

_Static_assert(GPU_FIELD_COUNT <= 64, "validity bits fit one uint64_t");

struct gpu_field_info {
    const char *key;   /* output name: "utilization_gpu_pct", "power_mw", ... */
    const char *label; /* a table's column heading: "Power" */
    const char *unit;  /* of the stored value: "mW", "%", "bytes", "MHz", "C", "" */
    const char *help;  /* one line for humans */
};

/* Metadata for f; f must be < GPU_FIELD_COUNT. */
const struct gpu_field_info *gpu_field_info(enum gpu_field f);

/* Marks f present with value v. */
void gpu_values_set(struct gpu_values *vals, enum gpu_field f, int64_t v);

/* True when f holds a reading. */
bool gpu_values_has(const struct gpu_values *vals, enum gpu_field f);

/* Clock-limit reasons: names of the bits in GPU_FIELD_CLOCK_REASONS. */
struct gpu_clock_reason {
    uint64_t bit;
    const char *name; /* "gpu_idle", "sw_power_cap", ... */
};

/* The known reason bits, and how many there are. */
const struct gpu_clock_reason *gpu_clock_reasons(unsigned *count);

#endif
