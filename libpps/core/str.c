/*
 * str.c - small string helpers: bounded formatting, ASCII case folding.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

int pps__snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    if (n < 0 && size > 0)
        buf[0] = '\0';
    return n;
}

int pps__ascii_tolower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

int pps__ascii_strncasecmp(const char *a, const char *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        int ca = pps__ascii_tolower((unsigned char)a[i]);
        int cb = pps__ascii_tolower((unsigned char)b[i]);
        if (ca != cb)
            return ca - cb;
        if (ca == '\0')
            return 0;
    }
    return 0;
}

int pps__ascii_strcasecmp(const char *a, const char *b)
{
    return pps__ascii_strncasecmp(a, b, (size_t)-1);
}

char *pps__quote(char *buf, size_t size, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t out = 0, i;

    buf[out++] = '"';
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char piece[4];
        size_t n = 0;

        if (c == '"' || c == '\\') {
            piece[n++] = '\\';
            piece[n++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            piece[n++] = '\\';
            piece[n++] = 'x';
            piece[n++] = hex[c >> 4];
            piece[n++] = hex[c & 15];
        } else {
            piece[n++] = (char)c;
        }
        /* Keep room for the piece, '"' and NUL, or for '...' '"' NUL. */
        if (out + n + 2 > size - 3) {
            memcpy(buf + out, "...", 3);
            out += 3;
            break;
        }
        memcpy(buf + out, piece, n);
        out += n;
    }
    buf[out++] = '"';
    buf[out] = '\0';
    return buf;
}

void pps__wipe(void *ptr, size_t len)
{
    /* A volatile pointer: each store must happen (explicit_bzero's idea,
     * portable to systems without it). */
    volatile unsigned char *p = ptr;

    while (len--)
        *p++ = 0;
}
