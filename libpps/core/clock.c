/*
 * libpps/core/clock.c - the one monotonic clock of the library.
 *
 * Every deadline and timeout (network, POP3 session, MDA runs, password
 * commands, group commit batches) is measured with it: wall-clock jumps
 * must not cut or stretch them.
 */
#include <time.h>

#include "core/internal.h"

long long pps__now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
