/* The NVML back end: every read of a GPU goes through the function
 * pointers the loader bound, with struct layouts chosen by the symbol
 * version that resolved. This file opens and closes the library and reads
 * what is read once (versions, identity, maximum clocks); the rest of the
 * back end is in nvml_backend_*.c (see nvml_backend_int.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "gpu/backend.h"
#include "gpu/nvml_backend_int.h"
#include "gpu/nvml_lib.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#ifndef GP_SIM_LIB_HINT
#    define GP_SIM_LIB_HINT "/usr/local/lib/gpulse/libnvidia-ml.so.1"
#endif
#ifndef GP_SIM_SCENARIO_HINT
#    define GP_SIM_SCENARIO_HINT "/usr/local/share/gpulse/scenarios/demo.json"
#endif

static bool is_lost_code(gpu_nvml_return_t rc)
{
    return rc == GPU_NVML_RC_GPU_IS_LOST || rc == GPU_NVML_RC_RESET_REQUIRED;
}

void gpu_nvml_backend_record_failure(const struct gpu_nvml_ctx *c, struct gpu_reading *r,
                                     gpu_nvml_return_t rc, const char *what)
{
    if (is_lost_code(rc) && r->state != GPU_STATE_LOST) {
        r->state = GPU_STATE_LOST;
        snprintf(r->error, sizeof(r->error), "%s (from %s)", gpu_nvml_lib_strerror(&c->lib, rc),
                 what);
    } else if (rc != GPU_NVML_RC_NOT_SUPPORTED) {
        log_debug("gpu", "GPU %u: %s failed: %s", r->id.index, what,
                  gpu_nvml_lib_strerror(&c->lib, rc));
    }
}

/* ---------------------------------------------------------------- open -- */

static const char *init_hint(gpu_nvml_return_t rc)
{
    switch (rc) {
    case GPU_NVML_RC_DRIVER_NOT_LOADED:
        return "the NVIDIA kernel driver is not loaded";
    case GPU_NVML_RC_NO_PERMISSION:
        return "this user may not open the GPU device files (/dev/nvidia*)";
    case GPU_NVML_RC_LIB_RM_VERSION_MISMATCH:
        return "the driver's library and kernel module differ, as after an upgrade without a "
               "reboot: reboot or reload the nvidia module";
    default:
        return NULL;
    }
}

static int nvml_open(const struct gpu_options *opts, void **out, struct gp_err *err)
{
    const char *path = opts->nvml_lib;
    if (!path || !*path) {
        path = getenv("GPULSE_NVML_LIB");
    }
    struct gpu_nvml_ctx *c = xcalloc(1, sizeof(*c));
    int rc = gpu_nvml_lib_open(&c->lib, path, err);
    if (rc == -ENOENT) {
        char why[sizeof(err->msg)];
        snprintf(why, sizeof(why), "%s", err ? err->msg : "cannot load NVML");
        gp_err_set(err, rc,
                   "%s\nThe NVIDIA driver is not installed or not visible to this process (in a "
                   "container, start it with the NVIDIA container toolkit). To try gpulse without "
                   "a GPU, use the simulated one:\n  GPULSE_NVML_LIB=%s GPULSE_SIM_SCENARIO=%s "
                   "gpulse now",
                   why, GP_SIM_LIB_HINT, GP_SIM_SCENARIO_HINT);
        goto fail;
    }
    if (rc) {
        goto fail;
    }

    c->once = opts->once;
    c->read_putil = opts->read_process_utilization;
    gpu_nvml_return_t nrc = GPU_NVML_TIMED(GPU_NVML_SYM_INIT, gpu_nvml_lib_init(&c->lib));
    if (nrc != GPU_NVML_RC_SUCCESS) {
        const char *hint = init_hint(nrc);
        rc = gp_err_set(err, -EIO, "NVML initialisation failed: %s (NVML error %d)%s%s",
                        gpu_nvml_lib_strerror(&c->lib, nrc), nrc, hint ? ": " : "",
                        hint ? hint : "");
        goto fail;
    }
    c->initialised = true;

    nrc = GPU_NVML_TIMED(GPU_NVML_SYM_DEVICE_COUNT, c->lib.device_count(&c->count));
    if (nrc != GPU_NVML_RC_SUCCESS) {
        rc = gp_err_set(err, -EIO, "cannot count GPUs: %s (NVML error %d)",
                        gpu_nvml_lib_strerror(&c->lib, nrc), nrc);
        goto fail;
    }
    if (c->count == 0) {
        rc = gp_err_set(err, -ENODEV, "NVML found no GPU on this machine (library '%s')",
                        c->lib.path);
        goto fail;
    }
    c->dev = xcalloc(c->count, sizeof(*c->dev));
    for (unsigned i = 0; i < c->count; i++) {
        c->dev[i].handle_rc = GPU_NVML_TIMED(GPU_NVML_SYM_HANDLE_BY_INDEX,
                                             c->lib.handle_by_index(i, &c->dev[i].handle));
        if (c->dev[i].handle_rc != GPU_NVML_RC_SUCCESS) {
            log_warn("gpu", "GPU %u cannot be opened: %s; trying again every %d s", i,
                     gpu_nvml_lib_strerror(&c->lib, c->dev[i].handle_rc), GPU_LOST_RETRY_MS / 1000);
            c->dev[i].retry_at_us = clock_monotonic_us() + (uint64_t)GPU_LOST_RETRY_MS * 1000;
        }
    }
    *out = c;
    return 0;
fail:
    if (c->initialised) {
        c->lib.shutdown();
    }
    gpu_nvml_lib_close(&c->lib);
    free(c);
    return rc;
}

static void nvml_close(void *ctx)
{
    struct gpu_nvml_ctx *c = ctx;
    if (!c) {
        return;
    }
    for (unsigned i = 0; i < c->count; i++) {
        free(c->dev[i].samples);
        free(c->dev[i].putil);
        free(c->dev[i].memo);
        free(c->dev[i].proc_buf);
    }
    free(c->dev);
    if (c->initialised) {
        GPU_NVML_TIMED(GPU_NVML_SYM_SHUTDOWN, c->lib.shutdown());
    }
    gpu_nvml_lib_close(&c->lib);
    free(c);
}

static unsigned nvml_count(void *ctx)
{
    return ((struct gpu_nvml_ctx *)ctx)->count;
}

static void nvml_read_system(void *ctx, struct gpu_system *out)
{
    struct gpu_nvml_ctx *c = ctx;
    *out = (struct gpu_system){ 0 };
    snprintf(out->lib_path, sizeof(out->lib_path), "%s", c->lib.path);
    if (c->lib.driver_version &&
        GPU_NVML_TIMED(GPU_NVML_SYM_DRIVER_VERSION,
                       c->lib.driver_version(out->driver_version, sizeof(out->driver_version))) !=
            0) {
        out->driver_version[0] = '\0';
    }
    if (c->lib.nvml_version &&
        GPU_NVML_TIMED(GPU_NVML_SYM_NVML_VERSION,
                       c->lib.nvml_version(out->nvml_version, sizeof(out->nvml_version))) != 0) {
        out->nvml_version[0] = '\0';
    }
    if (c->lib.cuda_version &&
        GPU_NVML_TIMED(GPU_NVML_SYM_CUDA_VERSION, c->lib.cuda_version(&out->cuda_version)) == 0) {
        out->has_cuda_version = true;
    }
}

/* -------------------------------------------------------------- static -- */

static void read_string(const struct gpu_nvml_ctx *c, struct gpu_reading *r,
                        gpu_nvml_return_t (*fn)(gpu_nvml_device_t, char *, unsigned int),
                        enum gpu_nvml_sym sym, gpu_nvml_device_t h, char *buf, size_t size)
{
    buf[0] = '\0';
    if (fn && !gpu_nvml_lost(r) &&
        !gpu_nvml_accept(c, r, GPU_NVML_TIMED(sym, fn(h, buf, (unsigned)size)),
                         c->lib.resolved[sym])) {
        buf[0] = '\0';
    }
    buf[size - 1] = '\0';
}

static void read_pci(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d, struct gpu_reading *r)
{
    if (!c->lib.pci_info || gpu_nvml_lost(r)) {
        return;
    }
    if (c->lib.pci_legacy_layout) {
        struct gpu_nvml_pci_info_v1 pci = { 0 };
        if (gpu_nvml_accept(c, r,
                            GPU_NVML_TIMED(GPU_NVML_SYM_PCI_INFO, c->lib.pci_info(d->handle, &pci)),
                            "nvmlDeviceGetPciInfo")) {
            snprintf(d->id.pci_bus_id, sizeof(d->id.pci_bus_id), "%.16s", pci.bus_id);
            d->id.pci_device_id = pci.pci_device_id;
            d->id.has_pci_device_id = true;
        }
        return;
    }
    struct gpu_nvml_pci_info pci = { 0 };
    if (gpu_nvml_accept(c, r,
                        GPU_NVML_TIMED(GPU_NVML_SYM_PCI_INFO, c->lib.pci_info(d->handle, &pci)),
                        c->lib.resolved[GPU_NVML_SYM_PCI_INFO])) {
        pci.bus_id[sizeof(pci.bus_id) - 1] = '\0';
        snprintf(d->id.pci_bus_id, sizeof(d->id.pci_bus_id), "%s", pci.bus_id);
        d->id.pci_device_id = pci.pci_device_id;
        d->id.has_pci_device_id = true;
    }
}

static void read_max_clock(const struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d,
                           struct gpu_reading *r, int type, enum gpu_field f)
{
    unsigned int mhz = 0;
    if (c->lib.max_clock && !gpu_nvml_lost(r) &&
        gpu_nvml_accept(
            c, r, GPU_NVML_TIMED(GPU_NVML_SYM_MAX_CLOCK, c->lib.max_clock(d->handle, type, &mhz)),
            "nvmlDeviceGetMaxClockInfo")) {
        gpu_values_set(&d->static_values, f, mhz);
    }
}

/* Looks GPU i up again: by its UUID when it is known (the index can
 * change when a GPU comes back), else by index. A handle got before a
 * reset may stay lost (sim/README.md, "A loss that ends"); a new one is
 * asked for every GPU_LOST_RETRY_MS, which costs one lookup. */
static void look_up_again(struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d, unsigned i)
{
    gpu_nvml_device_t h = NULL;
    gpu_nvml_return_t rc =
        d->id.uuid[0] && c->lib.handle_by_uuid
            ? GPU_NVML_TIMED(GPU_NVML_SYM_HANDLE_BY_UUID, c->lib.handle_by_uuid(d->id.uuid, &h))
            : GPU_NVML_TIMED(GPU_NVML_SYM_HANDLE_BY_INDEX, c->lib.handle_by_index(i, &h));
    if (rc == GPU_NVML_RC_SUCCESS) {
        d->handle = h;
        if (d->handle_rc != GPU_NVML_RC_SUCCESS) {
            log_warn("gpu", "GPU %u can be opened again", i);
        }
    }
    d->handle_rc = d->handle_rc == GPU_NVML_RC_SUCCESS ? GPU_NVML_RC_SUCCESS : rc;
}

/* Whether a lost GPU, or one that could not be opened, is skipped this
 * read (r says why); else it was looked up again and is read as usual. */
static bool skip_while_lost(struct gpu_nvml_ctx *c, struct gpu_nvml_dev *d, unsigned i,
                            struct gpu_reading *r)
{
    if (!d->was_lost && d->handle_rc == GPU_NVML_RC_SUCCESS) {
        return false;
    }
    uint64_t now = clock_monotonic_us();
    if (now >= d->retry_at_us) {
        d->retry_at_us = now + (uint64_t)GPU_LOST_RETRY_MS * 1000;
        look_up_again(c, d, i);
        if (d->handle_rc == GPU_NVML_RC_SUCCESS) {
            return false;
        }
    }
    r->state = GPU_STATE_LOST;
    if (d->handle_rc != GPU_NVML_RC_SUCCESS) {
        snprintf(r->error, sizeof(r->error), "cannot open GPU: %s",
                 gpu_nvml_lib_strerror(&c->lib, d->handle_rc));
    } else {
        snprintf(r->error, sizeof(r->error), "%s", d->lost_error);
    }
    r->id = d->id;
    r->id.index = i;
    return true;
}

static void nvml_read_static(void *ctx, unsigned i, struct gpu_reading *r)
{
    struct gpu_nvml_ctx *c = ctx;
    struct gpu_nvml_dev *d = &c->dev[i];
    r->id.index = i;
    if (skip_while_lost(c, d, i, r)) {
        return;
    }
    if (!d->static_done) {
        d->id.index = i;
        read_string(c, r, c->lib.name, GPU_NVML_SYM_NAME, d->handle, d->id.name,
                    sizeof(d->id.name));
        read_string(c, r, c->lib.uuid, GPU_NVML_SYM_UUID, d->handle, d->id.uuid,
                    sizeof(d->id.uuid));
        read_string(c, r, c->lib.serial, GPU_NVML_SYM_SERIAL, d->handle, d->id.serial,
                    sizeof(d->id.serial));
        read_pci(c, d, r);
        unsigned int minor = 0;
        if (c->lib.minor_number && !gpu_nvml_lost(r) &&
            gpu_nvml_accept(
                c, r,
                GPU_NVML_TIMED(GPU_NVML_SYM_MINOR_NUMBER, c->lib.minor_number(d->handle, &minor)),
                "nvmlDeviceGetMinorNumber")) {
            d->id.minor = minor;
            d->id.has_minor = true;
        }
        unsigned int mig_current = 0;
        unsigned int mig_pending = 0;
        if (c->lib.mig_mode && !gpu_nvml_lost(r) &&
            gpu_nvml_accept(c, r,
                            GPU_NVML_TIMED(GPU_NVML_SYM_MIG_MODE,
                                           c->lib.mig_mode(d->handle, &mig_current, &mig_pending)),
                            "nvmlDeviceGetMigMode")) {
            d->id.has_mig_mode = true;
            d->id.mig_enabled = mig_current == 1;
        }
        /* Maximum clocks cost 1 ms each on an H200: read once, and not at
         * all for a one-shot read, which does not show them. */
        if (!c->once) {
            read_max_clock(c, d, r, GPU_NVML_ABI_CLOCK_SM, GPU_FIELD_CLOCK_SM_MAX_MHZ);
            read_max_clock(c, d, r, GPU_NVML_ABI_CLOCK_GRAPHICS, GPU_FIELD_CLOCK_GRAPHICS_MAX_MHZ);
            read_max_clock(c, d, r, GPU_NVML_ABI_CLOCK_MEM, GPU_FIELD_CLOCK_MEM_MAX_MHZ);
        }
        /* A GPU lost during the first read is read again next time. */
        d->static_done = !gpu_nvml_lost(r);
    }
    r->id = d->id;
}

const struct gpu_backend_ops gpu_nvml_backend = {
    .open = nvml_open,
    .close = nvml_close,
    .count = nvml_count,
    .read_system = nvml_read_system,
    .read_static = nvml_read_static,
    .read_dynamic = gpu_nvml_backend_read_dynamic,
    .read_processes = gpu_nvml_backend_read_processes,
    .settle = gpu_nvml_backend_settle,
    .busy_span_us = gpu_nvml_backend_busy_span_us,
};
