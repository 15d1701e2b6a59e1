/*
 * pps-test.h - what every cmocka test of libpps includes first.
 *
 * cmocka needs these system headers before its own.  The helpers below
 * are the habits of the suite: inputs copied into exact-size heap buffers
 * (no trailing NUL) so AddressSanitizer catches any over-read.
 */
#ifndef PPS_TEST_H
#define PPS_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* A heap copy of exactly `len` bytes of `data`, no terminator added. */
static inline char *pps_test_exact_copy(const void *data, size_t len)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, data, len);
    return copy;
}

#endif /* PPS_TEST_H */
