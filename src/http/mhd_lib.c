#include "http/mhd_lib.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define SLOT(field)                                  \
    {                                                \
#        field, offsetof(struct http_mhd_lib, field) \
    }

/* Each function's name without the MHD_ prefix and where its pointer goes. */
static const struct {
    const char *name;
    size_t offset;
} symbols[] = {
    SLOT(start_daemon),          SLOT(stop_daemon),
    SLOT(get_daemon_info),       SLOT(create_response_from_buffer),
    SLOT(add_response_header),   SLOT(destroy_response),
    SLOT(queue_response),        SLOT(lookup_connection_value),
    SLOT(get_connection_values), SLOT(get_connection_info),
    SLOT(is_feature_supported),
};

int http_mhd_lib_open(const char *path, struct http_mhd_lib *lib, struct gp_err *err)
{
    *lib = (struct http_mhd_lib){ 0 };
    dlerror();
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!handle) {
        const char *why = dlerror();
        return gp_err_set(err, -ENOENT,
                          "cannot load %s, the HTTP server's library (install libmicrohttpd12 "
                          "or turn the server off: --listen off): %s",
                          path, why ? why : "unknown dlopen error");
    }
    for (size_t i = 0; i < GP_ARRAY_LEN(symbols); i++) {
        char name[64];
        snprintf(name, sizeof(name), "MHD_%s", symbols[i].name);
        void *addr = dlsym(handle, name);
        if (!addr) {
            *lib = (struct http_mhd_lib){ 0 };
            dlclose(handle);
            return gp_err_set(err, -ENOSYS,
                              "%s lacks %s: it is not a usable libmicrohttpd (0.9.71 or later)",
                              path, name);
        }
        /* POSIX: data and function pointers share a representation. */
        memcpy((char *)lib + symbols[i].offset, &addr, sizeof(addr));
    }
    return 0;
}

static pthread_mutex_t loaded_lock = PTHREAD_MUTEX_INITIALIZER;
static struct http_mhd_lib loaded;
static bool loaded_ok;

const struct http_mhd_lib *http_mhd_lib_get(struct gp_err *err)
{
    pthread_mutex_lock(&loaded_lock);
    if (!loaded_ok) {
        loaded_ok = http_mhd_lib_open(GP_MHD_SONAME, &loaded, err) == 0;
    }
    pthread_mutex_unlock(&loaded_lock);
    return loaded_ok ? &loaded : NULL;
}
