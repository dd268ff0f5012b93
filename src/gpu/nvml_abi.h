/* NVML's C ABI as far as gpulse uses it: return codes, enums and struct
 * layouts of libnvidia-ml.so.1 on 64-bit Linux, written from the facts in
 * shared/reference/nvml-abi.md. gpulse never includes NVIDIA's header and
 * never links the library; the loader and the simulated library both use
 * these declarations, so a layout is written down once. */
#ifndef GPULSE_GPU_NVML_ABI_H
#define GPULSE_GPU_NVML_ABI_H

#include <stdint.h>

typedef int gpu_nvml_return_t;
typedef struct gpu_nvml_device_st *gpu_nvml_device_t; /* opaque; never dereferenced by clients */

enum {
    GPU_NVML_RC_SUCCESS = 0,
    GPU_NVML_RC_UNINITIALIZED = 1,
    GPU_NVML_RC_INVALID_ARGUMENT = 2,
    GPU_NVML_RC_NOT_SUPPORTED = 3,
    GPU_NVML_RC_NO_PERMISSION = 4,
    GPU_NVML_RC_ALREADY_INITIALIZED = 5,
    GPU_NVML_RC_NOT_FOUND = 6,
    GPU_NVML_RC_INSUFFICIENT_SIZE = 7,
    GPU_NVML_RC_INSUFFICIENT_POWER = 8,
    GPU_NVML_RC_DRIVER_NOT_LOADED = 9,
    GPU_NVML_RC_TIMEOUT = 10,
    GPU_NVML_RC_IRQ_ISSUE = 11,
    GPU_NVML_RC_LIBRARY_NOT_FOUND = 12,
    GPU_NVML_RC_FUNCTION_NOT_FOUND = 13,
    GPU_NVML_RC_CORRUPTED_INFOROM = 14,
    GPU_NVML_RC_GPU_IS_LOST = 15,
    GPU_NVML_RC_RESET_REQUIRED = 16,
    GPU_NVML_RC_OPERATING_SYSTEM = 17,
    GPU_NVML_RC_LIB_RM_VERSION_MISMATCH = 18,
    GPU_NVML_RC_IN_USE = 19,
    GPU_NVML_RC_MEMORY = 20,
    GPU_NVML_RC_NO_DATA = 21,
    GPU_NVML_RC_VGPU_ECC_NOT_SUPPORTED = 22,
    GPU_NVML_RC_INSUFFICIENT_RESOURCES = 23,
    GPU_NVML_RC_FREQ_NOT_SUPPORTED = 24,
    GPU_NVML_RC_ARGUMENT_VERSION_MISMATCH = 25,
    GPU_NVML_RC_DEPRECATED = 26,
    GPU_NVML_RC_NOT_READY = 27,
    GPU_NVML_RC_GPU_NOT_FOUND = 28,
    GPU_NVML_RC_INVALID_STATE = 29,
    GPU_NVML_RC_UNKNOWN = 999,
};

/* Buffer sizes, each including the NUL. */
enum {
    GPU_NVML_ABI_VERSION_BUFFER_SIZE = 80,
    GPU_NVML_ABI_NAME_BUFFER_SIZE = 96,
    GPU_NVML_ABI_UUID_BUFFER_SIZE = 96,
    GPU_NVML_ABI_SERIAL_BUFFER_SIZE = 30,
    GPU_NVML_ABI_BUS_ID_BUFFER_SIZE = 32,
};

/* Enum values passed as int. */
enum {
    GPU_NVML_ABI_TEMPERATURE_GPU = 0,
    GPU_NVML_ABI_CLOCK_GRAPHICS = 0,
    GPU_NVML_ABI_CLOCK_SM = 1,
    GPU_NVML_ABI_CLOCK_MEM = 2,
    GPU_NVML_ABI_CLOCK_VIDEO = 3,
    GPU_NVML_ABI_PSTATE_UNKNOWN = 32,
    GPU_NVML_ABI_PCIE_TX_BYTES = 0,
    GPU_NVML_ABI_PCIE_RX_BYTES = 1,
    GPU_NVML_ABI_GPU_UTILIZATION_SAMPLES = 1,
    GPU_NVML_ABI_VALUE_TYPE_UNSIGNED_INT = 1,
    GPU_NVML_ABI_MEMORY_ERROR_CORRECTED = 0,
    GPU_NVML_ABI_MEMORY_ERROR_UNCORRECTED = 1,
    GPU_NVML_ABI_VOLATILE_ECC = 0,
    GPU_NVML_ABI_AGGREGATE_ECC = 1,
    GPU_NVML_ABI_FEATURE_ENABLED = 1,
};

/* "Value not available" in unsigned long long fields (WDDM process memory). */
#define GPU_NVML_ABI_VALUE_NOT_AVAILABLE_ULL 0xFFFFFFFFFFFFFFFFull

/* nvmlPciInfo_t as written by nvmlDeviceGetPciInfo_v3 (and _v2): 68 bytes. */
struct gpu_nvml_pci_info {
    char bus_id_legacy[16];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pci_device_id; /* (device id << 16) | vendor id */
    unsigned int pci_subsystem_id;
    char bus_id[32]; /* "%08X:%02X:%02X.0" */
};

/* The legacy layout the plain nvmlDeviceGetPciInfo writes: 52 bytes. */
struct gpu_nvml_pci_info_v1 {
    char bus_id[16];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pci_device_id;
    unsigned int pci_subsystem_id;
    unsigned int reserved[4];
};

/* nvmlMemory_t (v1): used includes the driver's reserved memory. */
struct gpu_nvml_memory_v1 {
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
};

/* nvmlMemory_v2_t: version must be GPU_NVML_ABI_MEMORY_V2_VERSION. */
struct gpu_nvml_memory_v2 {
    unsigned int version;
    unsigned long long total;
    unsigned long long reserved;
    unsigned long long free;
    unsigned long long used;
};
#define GPU_NVML_ABI_STRUCT_VERSION(type, ver) ((unsigned int)(sizeof(type) | ((ver) << 24U)))
#define GPU_NVML_ABI_MEMORY_V2_VERSION         GPU_NVML_ABI_STRUCT_VERSION(struct gpu_nvml_memory_v2, 2U)

struct gpu_nvml_utilization {
    unsigned int gpu;
    unsigned int memory;
};

/* Process entries: the plain symbols write v1 (16 bytes), _v2 and _v3 write
 * v2 (24 bytes). The stride follows the symbol that resolved. */
struct gpu_nvml_process_info_v1 {
    unsigned int pid;
    unsigned long long used_gpu_memory;
};
struct gpu_nvml_process_info_v2 {
    unsigned int pid;
    unsigned long long used_gpu_memory;
    unsigned int gpu_instance_id;
    unsigned int compute_instance_id;
};

/* Early R535 drivers' _v3 entries: v2 plus usedGpuCcProtectedMemory (u64). */
#define GPU_NVML_ABI_PROCESS_INFO_R535_SIZE 32U
/* The widest process entry any symbol writes, for sizing buffers. */
#define GPU_NVML_ABI_PROCESS_INFO_MAX_SIZE 32U

struct gpu_nvml_process_utilization_sample {
    unsigned int pid;
    unsigned long long timestamp_us;
    unsigned int sm_util;
    unsigned int mem_util;
    unsigned int enc_util;
    unsigned int dec_util;
};

typedef union {
    double d;
    unsigned int ui;
    unsigned long ul;
    unsigned long long ull;
    long long sll;
} gpu_nvml_value_t;

struct gpu_nvml_sample {
    unsigned long long timestamp_us;
    gpu_nvml_value_t value;
};

_Static_assert(sizeof(struct gpu_nvml_pci_info) == 68, "nvmlPciInfo_t is 68 bytes");
_Static_assert(sizeof(struct gpu_nvml_pci_info_v1) == 52, "legacy nvmlPciInfo_t is 52 bytes");
_Static_assert(sizeof(struct gpu_nvml_memory_v2) == 40, "nvmlMemory_v2_t is 40 bytes");
_Static_assert(GPU_NVML_ABI_MEMORY_V2_VERSION == 0x02000028u, "nvmlMemory_v2 version value");
_Static_assert(sizeof(struct gpu_nvml_process_info_v1) == 16, "nvmlProcessInfo_v1_t is 16 bytes");
_Static_assert(sizeof(struct gpu_nvml_process_info_v2) == 24, "nvmlProcessInfo_v2_t is 24 bytes");
_Static_assert(sizeof(struct gpu_nvml_process_utilization_sample) == 32,
               "nvmlProcessUtilizationSample_t is 32 bytes");
_Static_assert(sizeof(struct gpu_nvml_sample) == 16, "nvmlSample_t is 16 bytes");

#endif
