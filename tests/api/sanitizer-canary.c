/*
 * sanitizer-canary.c - proves the sanitizer build really checks.
 *
 * Reads one byte past a heap buffer.  In the ASan+UBSan build this test is
 * registered as "should fail": if it ever passes there, the sanitizers are
 * not active and every other green result of that build means less.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    size_t n = (size_t)argc + 3; /* not a constant, so it is not folded */
    char *buf = malloc(n);
    volatile char c;

    (void)argv;
    if (!buf)
        return 0;
    memset(buf, 'x', n);
    c = buf[n]; /* one past the end */
    printf("read %d past the end and nobody noticed\n", c);
    free(buf);
    return 0;
}
