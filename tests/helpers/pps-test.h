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
#include <dirent.h>
#include <stdio.h>

#include "pps/errors.h"

/* A heap copy of exactly `len` bytes of `data`, no terminator added. */
static inline char *pps_test_exact_copy(const void *data, size_t len)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, data, len);
    return copy;
}

/* Open file descriptors of this process (-1 when /proc is missing). */
static inline int pps_test_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Threads of this process (/proc/self/status; -1 when it is missing). */
static inline int pps_test_count_threads(void)
{
    char line[128];
    FILE *f = fopen("/proc/self/status", "r");
    int n = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* A leak check: main() sets pps_test_fds_at_start = pps_test_count_fds()
 * before the tests, and runs pps_test_no_fd_leak last. */
static int pps_test_fds_at_start;

static inline void pps_test_no_fd_leak(void **state)
{
    (void)state;
    assert_int_equal(pps_test_count_fds(), pps_test_fds_at_start);
}

/* The thread's last error detail (pps_error_last) holds `piece`. */
static inline void assert_message_has(const char *piece)
{
    const char *m = pps_error_last()->message;

    if (strstr(m, piece) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", m, piece);
}

#endif /* PPS_TEST_H */
