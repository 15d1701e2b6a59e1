/*
 * alloc.c - the library's allocator, with a failure switch for the tests.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Allocations left before failure; negative means "never fail". */
static long allocations_left = -1;

void pps__alloc_fail_after(long n)
{
    allocations_left = n;
}

static int allocation_allowed(void)
{
    if (allocations_left < 0)
        return 1;
    if (allocations_left == 0)
        return 0;
    allocations_left--;
    return 1;
}

void *pps__malloc(size_t size)
{
    return allocation_allowed() ? malloc(size ? size : 1) : NULL;
}

void *pps__calloc(size_t count, size_t size)
{
    return allocation_allowed() ? calloc(count ? count : 1, size ? size : 1)
                                : NULL;
}

void *pps__realloc(void *ptr, size_t size)
{
    return allocation_allowed() ? realloc(ptr, size ? size : 1) : NULL;
}

void *pps__grow(void *items, size_t count, size_t *cap, size_t item_size,
                size_t first)
{
    size_t n;
    void *grown;

    if (count < *cap)
        return items;
    n = *cap ? 2 * *cap : first;
    if (n < *cap || n > SIZE_MAX / item_size)
        return NULL;
    if ((grown = pps__realloc(items, n * item_size)))
        *cap = n;
    return grown;
}

char *pps__strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *copy = pps__malloc(len + 1);

    if (copy) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

char *pps__strdup(const char *s)
{
    return pps__strndup(s, strlen(s));
}

void pps__free(void *ptr)
{
    free(ptr);
}
