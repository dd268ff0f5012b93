#include "gpu/fields.h"

#include "util/common.h"

static const struct gpu_field_info field_table[GPU_FIELD_COUNT] = {
    [GPU_FIELD_UTIL_GPU_PCT] = { "utilization_gpu_pct", "GPU util", "%",
                                 "time a kernel ran, last driver period" },
    [GPU_FIELD_UTIL_MEM_PCT] = { "utilization_memory_pct", "Mem util", "%",
                                 "time memory was read or written" },
    [GPU_FIELD_UTIL_ENC_PCT] = { "utilization_encoder_pct", "Enc util", "%", "NVENC busy" },
    [GPU_FIELD_UTIL_DEC_PCT] = { "utilization_decoder_pct", "Dec util", "%", "NVDEC busy" },
    [GPU_FIELD_MEM_TOTAL_BYTES] = { "memory_total_bytes", "Mem total", "bytes",
                                    "framebuffer size" },
    [GPU_FIELD_MEM_USED_BYTES] = { "memory_used_bytes", "Mem used", "bytes",
                                   "allocated framebuffer" },
    [GPU_FIELD_MEM_FREE_BYTES] = { "memory_free_bytes", "Mem free", "bytes", "free framebuffer" },
    [GPU_FIELD_MEM_RESERVED_BYTES] = { "memory_reserved_bytes", "Mem reserved", "bytes",
                                       "held by driver and firmware" },
    [GPU_FIELD_TEMP_C] = { "temperature_c", "Temp", "C", "GPU die temperature" },
    [GPU_FIELD_FAN_PCT] = { "fan_pct", "Fan", "%", "intended fan speed; may exceed 100" },
    [GPU_FIELD_POWER_MW] = { "power_mw", "Power", "mW", "power draw" },
    [GPU_FIELD_POWER_LIMIT_MW] = { "power_limit_mw", "Power limit", "mW", "enforced power limit" },
    [GPU_FIELD_ENERGY_MJ] = { "energy_mj", "Energy", "mJ", "energy since the driver loaded" },
    [GPU_FIELD_CLOCK_SM_MHZ] = { "clock_sm_mhz", "SM clock", "MHz", "SM clock" },
    [GPU_FIELD_CLOCK_GRAPHICS_MHZ] = { "clock_graphics_mhz", "Gfx clock", "MHz", "graphics clock" },
    [GPU_FIELD_CLOCK_MEM_MHZ] = { "clock_memory_mhz", "Mem clock", "MHz", "memory clock" },
    [GPU_FIELD_CLOCK_SM_MAX_MHZ] = { "clock_sm_max_mhz", "SM clock max", "MHz",
                                     "maximum SM clock" },
    [GPU_FIELD_CLOCK_GRAPHICS_MAX_MHZ] = { "clock_graphics_max_mhz", "Gfx clock max", "MHz",
                                           "maximum graphics clock" },
    [GPU_FIELD_CLOCK_MEM_MAX_MHZ] = { "clock_memory_max_mhz", "Mem clock max", "MHz",
                                      "maximum memory clock" },
    [GPU_FIELD_PSTATE] = { "pstate", "P-state", "", "performance state, 0 (max) to 15 (min)" },
    [GPU_FIELD_CLOCK_REASONS] = { "clock_event_reasons", "Clock events", "",
                                  "bit mask of clock-limit reasons" },
    [GPU_FIELD_PCIE_TX_KBPS] = { "pcie_tx_kbps", "PCIe TX", "KB/s", "PCIe transmit, 20 ms window" },
    [GPU_FIELD_PCIE_RX_KBPS] = { "pcie_rx_kbps", "PCIe RX", "KB/s", "PCIe receive, 20 ms window" },
    [GPU_FIELD_ECC_ENABLED] = { "ecc_enabled", "ECC", "", "ECC mode (1 on, 0 off)" },
    [GPU_FIELD_ECC_CORRECTED_VOLATILE] = { "ecc_corrected_volatile", "ECC corr", "errors",
                                           "corrected ECC errors since driver load" },
    [GPU_FIELD_ECC_UNCORRECTED_VOLATILE] = { "ecc_uncorrected_volatile", "ECC uncorr", "errors",
                                             "uncorrected ECC errors since driver load" },
    [GPU_FIELD_ECC_CORRECTED_AGGREGATE] = { "ecc_corrected_aggregate", "ECC corr total", "errors",
                                            "corrected ECC errors, lifetime" },
    [GPU_FIELD_ECC_UNCORRECTED_AGGREGATE] = { "ecc_uncorrected_aggregate", "ECC uncorr total",
                                              "errors", "uncorrected ECC errors, lifetime" },
    [GPU_FIELD_REMAPPED_ROWS_CORRECTABLE] = { "remapped_rows_correctable", "Remap corr", "rows",
                                              "rows remapped for correctable errors" },
    [GPU_FIELD_REMAPPED_ROWS_UNCORRECTABLE] = { "remapped_rows_uncorrectable", "Remap uncorr",
                                                "rows", "rows remapped for uncorrectable errors" },
    [GPU_FIELD_REMAPPED_ROWS_PENDING] = { "remapped_rows_pending", "Remap pending", "",
                                          "a remap awaits a GPU reset" },
    [GPU_FIELD_REMAPPED_ROWS_FAILURE] = { "remapped_rows_failure", "Remap failed", "",
                                          "a remap has failed" },
};

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
