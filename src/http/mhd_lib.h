/* The libmicrohttpd loader: the agent's HTTP server dlopen()s the library
 * when it starts instead of the binary linking it, because libmicrohttpd
 * links GnuTLS, whose dependencies (nettle, hogweed, gmp, p11-kit, tasn1,
 * idn2, unistring, ffi) load and run their constructors in every process
 * that links them: 4.3 million instructions (three quarters of what
 * `gpulse --version` ran) and 2.7 MiB of peak RSS (docs/performance.md,
 * 2026-11-30), paid by one-shot commands that never serve HTTP. The
 * types and constants still come from microhttpd.h; only the functions
 * gpulse calls are resolved, into a table. */
#ifndef GPULSE_HTTP_MHD_LIB_H
#define GPULSE_HTTP_MHD_LIB_H

#include <microhttpd.h>

#include "util/common.h"

/* The library's soname, as the runtime package (Debian: libmicrohttpd12)
 * installs it; the build takes it from the library it compiles against. */
#ifndef GP_MHD_SONAME
#    define GP_MHD_SONAME "libmicrohttpd.so.12"
#endif

/* One pointer per libmicrohttpd function gpulse calls, typed from
 * microhttpd.h so a call through the table is checked as a direct call
 * would be. All are required. */
struct http_mhd_lib {
    __typeof__(MHD_start_daemon) *start_daemon;
    __typeof__(MHD_stop_daemon) *stop_daemon;
    __typeof__(MHD_get_daemon_info) *get_daemon_info;
    __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_destroy_response) *destroy_response;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
    __typeof__(MHD_get_connection_values) *get_connection_values;
    __typeof__(MHD_get_connection_info) *get_connection_info;
    __typeof__(MHD_is_feature_supported) *is_feature_supported;
};

/* Loads the library at path (a soname or a file) and fills *lib with its
 * functions. The library stays loaded for the life of the process
 * (RTLD_NODELETE: GnuTLS is not unloaded and loaded again when a server
 * stops and another starts), so there is nothing to close. Returns 0, or
 * -ENOENT when it cannot be loaded and -ENOSYS when it lacks a function,
 * with err naming the library and what to install. */
GP_NODISCARD int http_mhd_lib_open(const char *path, struct http_mhd_lib *lib, struct gp_err *err);

/* The process's table for GP_MHD_SONAME, loaded on the first call (thread
 * safe) and kept; NULL with err filled as http_mhd_lib_open's when it
 * cannot be loaded (a later call tries again). */
const struct http_mhd_lib *http_mhd_lib_get(struct gp_err *err);

#endif
