/*
 * suggest.c - "did you mean 'interval'?" for a mistyped key.
 *
 * Optimal string alignment distance (Damerau-Levenshtein where a swapped
 * pair costs one), on ASCII-folded words with '-' read as '_', so
 * "Local-User" and "intervall" both find their key.
 */
#include <string.h>

#include "../core/internal.h"
#include "profile-internal.h"

/* Keys are short; longer words are no typo of one. */
#define SUGGEST_WORD_MAX 40

static char fold(char c)
{
    return c == '-' ? '_' : (char)pps__ascii_tolower((unsigned char)c);
}

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

static size_t distance(const char *a, size_t n, const char *b, size_t m)
{
    size_t d[SUGGEST_WORD_MAX + 1][SUGGEST_WORD_MAX + 1];
    size_t i, j;

    for (i = 0; i <= n; i++)
        d[i][0] = i;
    for (j = 0; j <= m; j++)
        d[0][j] = j;
    for (i = 1; i <= n; i++) {
        for (j = 1; j <= m; j++) {
            size_t cost = fold(a[i - 1]) == fold(b[j - 1]) ? 0 : 1;
            d[i][j] =
                min3(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) &&
                fold(a[i - 2]) == fold(b[j - 1]) &&
                d[i - 2][j - 2] + 1 < d[i][j])
                d[i][j] = d[i - 2][j - 2] + 1;
        }
    }
    return d[n][m];
}

void pps__suggest(char *buf, size_t size, const char *word, const void *names,
                  size_t count, size_t stride)
{
    size_t n = strlen(word), best = (size_t)-1, i;
    const char *best_name = NULL;

    buf[0] = '\0';
    if (n == 0 || n > SUGGEST_WORD_MAX)
        return;
    for (i = 0; i < count; i++) {
        const char *name;
        size_t m, d;

        /* The name pointer sits first in each row; memcpy, because the
         * row address is computed from bytes. */
        memcpy(&name, (const char *)names + i * stride, sizeof(name));
        m = strlen(name);
        if (m > SUGGEST_WORD_MAX)
            continue;
        d = distance(word, n, name, m);
        if (d < best) {
            best = d;
            best_name = name;
        }
    }
    /* One edit in a short word, two in a longer one; more is a guess. */
    if (best_name && best <= (n <= 4 ? 1u : 2u))
        pps__snprintf(buf, size, " (did you mean '%s'?)", best_name);
}
