#include "gpu/fields.h"

#include <inttypes.h>
#include <stdio.h>

#include "util/common.h"

/* fields.def's metric column, as the members of struct gpu_field_metric. */
#define GPU_METRIC(name, divisor, help) (name), (help), (divisor)
#define GPU_NO_METRIC                   NULL, NULL, 0

/* clang-format off */
static const struct gpu_field_info field_table[GPU_FIELD_COUNT] = {
#define GPU_FIELD(name, key, label, unit, help, storage, kind, metric) \
    [GPU_FIELD_##name] = { key, label, unit, help, GPU_STORAGE_##storage, GPU_KIND_##kind, \
                           { metric } },
#include "gpu/fields.def"
#undef GPU_FIELD
};
/* clang-format on */

static const struct gpu_clock_reason reason_table[] = {
    { 0x001, "gpu_idle" },
    { 0x002, "applications_clocks_setting" },
    { 0x004, "sw_power_cap" },
    { 0x008, "hw_slowdown" },
    { 0x010, "sync_boost" },
    { 0x020, "sw_thermal_slowdown" },
    { 0x040, "hw_thermal_slowdown" },
    { 0x080, "hw_power_brake_slowdown" },
    { 0x100, "display_clock_setting" },
};

const struct gpu_field_info *gpu_field_info(enum gpu_field f)
{
    return &field_table[f];
}

void gpu_values_set(struct gpu_values *vals, enum gpu_field f, int64_t v)
{
    vals->v[f] = v;
    vals->valid |= UINT64_C(1) << f;
}

bool gpu_values_has(const struct gpu_values *vals, enum gpu_field f)
{
    return (vals->valid >> f) & 1U;
}

const struct gpu_clock_reason *gpu_clock_reasons(unsigned *count)
{
    *count = (unsigned)GP_ARRAY_LEN(reason_table);
    return reason_table;
}

const char *gpu_clock_reason_name(uint64_t bit, char *buf, size_t size)
{
    for (size_t i = 0; i < GP_ARRAY_LEN(reason_table); i++) {
        if (reason_table[i].bit == bit) {
            return reason_table[i].name;
        }
    }
    snprintf(buf, size, "unknown_0x%" PRIx64, bit);
    return buf;
}
