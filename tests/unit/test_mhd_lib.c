/* The libmicrohttpd loader (http/mhd_lib.c): a missing library or one
 * without the server's functions is named in the error; the real one
 * resolves every function, once per process. */
#include <errno.h>
#include <string.h>

#include "gp_cmocka.h"
#include "http/mhd_lib.h"

static void test_missing_library_is_named(void **state)
{
    (void)state;
    struct http_mhd_lib lib;
    struct gp_err err = { 0 };
    assert_int_equal(http_mhd_lib_open("libgpulse-no-such-library.so.0", &lib, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "cannot load libgpulse-no-such-library.so.0"));
    assert_non_null(strstr(err.msg, "install libmicrohttpd12"));
    assert_non_null(strstr(err.msg, "--listen off"));
    assert_null(lib.start_daemon);
}

static void test_library_without_the_functions(void **state)
{
    (void)state;
    struct http_mhd_lib lib;
    struct gp_err err = { 0 };
    /* zlib: loadable, and no MHD_start_daemon in it. */
    assert_int_equal(http_mhd_lib_open("libz.so.1", &lib, &err), -ENOSYS);
    assert_non_null(strstr(err.msg, "libz.so.1 lacks MHD_start_daemon"));
    assert_null(lib.start_daemon);
}

static void test_the_real_library(void **state)
{
    (void)state;
    struct gp_err err = { 0 };
    const struct http_mhd_lib *lib = http_mhd_lib_get(&err);
    assert_non_null(lib);
    assert_non_null(lib->start_daemon);
    assert_non_null(lib->stop_daemon);
    assert_non_null(lib->get_daemon_info);
    assert_non_null(lib->create_response_from_buffer);
    assert_non_null(lib->add_response_header);
    assert_non_null(lib->destroy_response);
    assert_non_null(lib->queue_response);
    assert_non_null(lib->lookup_connection_value);
    assert_non_null(lib->get_connection_values);
    assert_ptr_equal(http_mhd_lib_get(&err), lib); /* loaded once */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_library_is_named),
        cmocka_unit_test(test_library_without_the_functions),
        cmocka_unit_test(test_the_real_library),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
