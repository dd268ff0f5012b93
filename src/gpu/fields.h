/* The numeric per-GPU metrics gpulse reads, one enum slot each with a
 * validity bit, so an unsupported metric is absent rather than 0. Every
 * field is declared once, in fields.def; the enum, the metadata table and
 * (in store/ and http/) the stored columns, rollup slots and /metrics
 * series are derived from that list. */
#ifndef GPULSE_GPU_FIELDS_H
#define GPULSE_GPU_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gpu_field {
#define GPU_FIELD(name, key, label, unit, help, storage, kind, metric) GPU_FIELD_##name,
#include "gpu/fields.def"
#undef GPU_FIELD
    GPU_FIELD_COUNT
};

/* Where a field is kept (fields.def: storage). */
enum gpu_field_storage {
    GPU_STORAGE_SAMPLE,   /* a column of every sample, rolled up */
    GPU_STORAGE_IDENTITY, /* with the GPU's identity, not per sample */
};

/* How a period of readings is summed up (fields.def: kind). */
enum gpu_field_kind {
    GPU_KIND_GAUGE,   /* a level: average, minimum, maximum */
    GPU_KIND_COUNTER, /* grows within a driver load: last (= max) and growth (max - min) */
    GPU_KIND_FLAGS,   /* a bit mask: the OR of the masks read */
};

/* The fields stored per sample (storage SAMPLE). */
enum {
    GPU_FIELD_SAMPLE_COUNT = 0
#define GPU_FIELD(name, key, label, unit, help, storage, kind, metric) \
    +(GPU_STORAGE_##storage == GPU_STORAGE_SAMPLE)
#include "gpu/fields.def"
#undef GPU_FIELD
};

/* A set of field values, each present only when its bit is set. */
struct gpu_values {
    uint64_t valid;             /* bit f set: v[f] holds a reading */
    int64_t v[GPU_FIELD_COUNT]; /* in the unit the field's name says */
};

_Static_assert(GPU_FIELD_COUNT <= 64, "validity bits fit one uint64_t");

/* A field's Prometheus series; name NULL when it has none. */
struct gpu_field_metric {
    const char *name; /* "DCGM_FI_DEV_GPU_UTIL", "gpulse_gpu_ecc_enabled" */
    const char *help;
    double divisor; /* the series' value is the field's / divisor (mW -> W: 1000) */
};

struct gpu_field_info {
    const char *key;   /* output name and stored column: "utilization_gpu_pct", "power_mw" */
    const char *label; /* a table's column heading: "Power" */
    const char *unit;  /* of the value: "mW", "%", "bytes", "MHz", "C", "" */
    const char *help;  /* one line for humans */
    enum gpu_field_storage storage;
    enum gpu_field_kind kind;
    struct gpu_field_metric metric;
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

/* Room for any name gpu_clock_reason_name() writes. */
#define GPU_CLOCK_REASON_NAME_MAX 32

/* The name of one clock-event reason bit: the known name (gpu_clock_reasons)
 * or, for a bit gpulse has no name for, "unknown_0x<hex>" ("unknown_0x400"),
 * written into buf (size GPU_CLOCK_REASON_NAME_MAX). A driver newer than
 * gpulse may set bits it does not know; they are reported, never dropped.
 * Returns the name. */
const char *gpu_clock_reason_name(uint64_t bit, char *buf, size_t size);

#endif
