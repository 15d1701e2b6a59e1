/*
 * match.c - the small matchers of the router: local domains, user names,
 * aliases.
 */
#include <string.h>

#include "route-internal.h"
#include "../core/internal.h"

static int same_domain(const char *want, const char *domain, size_t len)
{
    size_t n;

    if (!want)
        return 0;
    n = strlen(want);
    if (n > 0 && want[n - 1] == '.')
        n--;
    return n == len && pps__ascii_strncasecmp(want, domain, len) == 0;
}

int pps__route_is_local_domain(const pps_route_policy *pol, const char *domain,
                               size_t len)
{
    size_t i;

    if (same_domain(pol->local_domain, domain, len))
        return 1;
    for (i = 0; i < pol->local_domain_count; i++)
        if (same_domain(pol->local_domains[i], domain, len))
            return 1;
    return 0;
}

/* Length of the UTF-8 sequence at s (RFC 3629 4), or 0 when invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t len)
{
    size_t n, i;

    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    else
        return 0; /* a lone continuation byte, 0xc0, 0xc1, 0xf5.. */
    if (n > len)
        return 0;
    for (i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* A local part we are willing to hand to a deliverer as a user name: no
 * control bytes, blanks, quotes or path separators, not a dot file, and
 * 8-bit only as valid UTF-8 (RFC 6532).  A NUL byte in the header reads
 * as a lone 0x80, so it fails here too. */
int pps__route_is_user_name(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    if (len == 0 || s[0] == '.')
        return 0;
    while (i < len) {
        unsigned char c = u[i];
        if (c >= 0x80) {
            size_t n = utf8_sequence(u + i, len - i);
            if (n == 0)
                return 0;
            i += n;
            continue;
        }
        /* Blanks, controls, path separators, and RFC 5322 specials: a
         * quoted local part such as "a@b"@local.test is a valid address
         * but never the name of a local user (and "a@b@local.test" would
         * be split at the wrong '@' by every deliverer). */
        if (c <= 0x20 || c == 0x7f || c == '/' || strchr("\\\"@<>()[],;:", c))
            return 0;
        i++;
    }
    return 1;
}

/* The alias for local@domain or local; NULL when none. */
const char *pps__route_find_alias(const pps_route_policy *pol,
                                  const char *local, size_t local_len,
                                  const char *domain, size_t domain_len)
{
    size_t i;

    for (i = 0; i < pol->alias_count; i++) {
        const char *a = pol->aliases[i].alias;
        size_t n;
        if (!a || !pol->aliases[i].user)
            continue;
        n = strlen(a);
        if (n == local_len && pps__ascii_strncasecmp(a, local, n) == 0)
            return pol->aliases[i].user;
        if (n == local_len + 1 + domain_len && a[local_len] == '@' &&
            pps__ascii_strncasecmp(a, local, local_len) == 0 &&
            pps__ascii_strncasecmp(a + local_len + 1, domain, domain_len) == 0)
            return pol->aliases[i].user;
    }
    return NULL;
}

/* Write "local@domain" lower-cased into buf (PPS__ROUTE_RECIPIENT_MAX bytes).
 */
void pps__route_join(char *buf, const char *local, size_t local_len,
                     const char *domain, size_t domain_len)
{
    size_t i, n = 0;

    for (i = 0; i < local_len && n < PPS__ROUTE_RECIPIENT_MAX - 2; i++)
        buf[n++] = (char)pps__ascii_tolower((unsigned char)local[i]);
    buf[n++] = '@';
    for (i = 0; i < domain_len && n < PPS__ROUTE_RECIPIENT_MAX - 1; i++)
        buf[n++] = (char)pps__ascii_tolower((unsigned char)domain[i]);
    buf[n] = '\0';
}
