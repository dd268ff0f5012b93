/* Strict number parsing and the bounded buffer. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gp_cmocka.h"
#include "util/dynbuf.h"
#include "util/strparse.h"

static void u64_strict(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(strparse_u64("42", 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(strparse_u64("101", 100, &v), -ERANGE);
    assert_int_equal(strparse_u64("99999999999999999999999", UINT64_MAX, &v), -ERANGE);
    assert_int_equal(strparse_u64("-1", 100, &v), -EINVAL);
    assert_int_equal(strparse_u64(" 1", 100, &v), -EINVAL);
    assert_int_equal(strparse_u64("1x", 100, &v), -EINVAL);
    assert_int_equal(strparse_u64("", 100, &v), -EINVAL);
}

static void doubles_and_durations(void **state)
{
    (void)state;
    double d = 0;
    assert_int_equal(strparse_double("0.5", 0, 10, &d), 0);
    assert_true(d > 0.49 && d < 0.51);
    assert_int_equal(strparse_double("nan", 0, 10, &d), -EINVAL);
    assert_int_equal(strparse_double("1e400", 0, 10, &d), -EINVAL);
    assert_int_equal(strparse_double("11", 0, 10, &d), -ERANGE);
    assert_int_equal(strparse_double("1.5s", 0, 10, &d), -EINVAL);
    uint64_t ms = 0;
    assert_int_equal(strparse_duration_ms("100ms", 100, 3600000, &ms), 0);
    assert_int_equal(ms, 100);
    assert_int_equal(strparse_duration_ms("1s", 100, 3600000, &ms), 0);
    assert_int_equal(ms, 1000);
    assert_int_equal(strparse_duration_ms("5m", 100, 3600000, &ms), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(strparse_duration_ms("2", 100, 3600000, &ms), 0);
    assert_int_equal(ms, 2000);
    assert_int_equal(strparse_duration_ms("50ms", 100, 3600000, &ms), -ERANGE);
    assert_int_equal(strparse_duration_ms("ms", 100, 3600000, &ms), -EINVAL);
    assert_int_equal(strparse_duration_ms("1d", 100, 3600000, &ms), -EINVAL);
}

static void dynbuf_cap_is_enforced(void **state)
{
    (void)state;
    struct dynbuf b;
    dynbuf_init(&b, 8);
    assert_string_equal(dynbuf_str(&b), "");
    assert_int_equal(dynbuf_add(&b, "abcd", 4), 0);
    assert_int_equal(dynbuf_printf(&b, "%d", 1234), 0);
    assert_string_equal(dynbuf_str(&b), "abcd1234");
    assert_int_equal(dynbuf_add(&b, "x", 1), -E2BIG);
    assert_int_equal(dynbuf_printf(&b, "y"), -E2BIG);
    assert_string_equal(dynbuf_str(&b), "abcd1234");
    char *taken = dynbuf_take(&b);
    assert_string_equal(taken, "abcd1234");
    free(taken);
    assert_int_equal(b.len, 0);
    dynbuf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(u64_strict),
        cmocka_unit_test(doubles_and_durations),
        cmocka_unit_test(dynbuf_cap_is_enforced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
