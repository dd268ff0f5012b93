/* cmocka needs these before its own header; one include keeps every test
 * file's include block in the order clang-format leaves it. */
#ifndef GPULSE_TESTS_GP_CMOCKA_H
#define GPULSE_TESTS_GP_CMOCKA_H

// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#endif
