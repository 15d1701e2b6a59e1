/*
 * result.c - the routing result: every decision, the recipients, and the
 * explanation built from them.
 */
#include <string.h>

#include "route-internal.h"
#include "../core/internal.h"

/* An entry and the one allocation that holds its four strings. */
typedef struct route_entry {
    pps_route_entry pub;
    char *block;
} route_entry;

struct pps_route_result {
    route_entry *entries;
    size_t entry_count, entry_cap;
    const char **recipients; /* borrowed from entries */
    size_t recipient_count;
    char *warning;
    char *key;
    char *summary;
    char *explain; /* built on demand */
};

static const char *const rule_names[] = {
    "-",
    "single drop",
    "local user",
    "alias",
    "sub-address",
    "fallback: no address named a local user",
    "fallback: a local address has no user",
    "fallback: mail loop",
    "fallback: header block too big",
};

static const char *const skip_names[] = {
    "-",
    "foreign domain",
    "no such user",
    "duplicate",
    "already delivered",
    "address written as a display name",
    "no address",
    "bad address",
    "too many addresses",
    "envelope header skipped",
};

const char *pps_route_rule_name(pps_route_rule rule)
{
    if ((size_t)rule >= sizeof(rule_names) / sizeof(rule_names[0]))
        return "?";
    return rule_names[rule];
}

const char *pps_route_skip_name(pps_route_skip skip)
{
    if ((size_t)skip >= sizeof(skip_names) / sizeof(skip_names[0]))
        return "?";
    return skip_names[skip];
}

int pps__route_result_new(pps_route_result **out)
{
    if (!(*out = pps__calloc(1, sizeof(**out))))
        return pps__error_oom();
    return 0;
}

void pps_route_result_free(pps_route_result *res)
{
    size_t i;

    if (!res)
        return;
    for (i = 0; i < res->entry_count; i++)
        pps__free(res->entries[i].block);
    pps__free(res->entries);
    pps__free(res->recipients);
    pps__free(res->warning);
    pps__free(res->key);
    pps__free(res->summary);
    pps__free(res->explain);
    pps__free(res);
}

/* Copy for an explanation into *out: control bytes become '?', 8-bit
 * bytes (UTF-8 names) stay; cut at PPS__ROUTE_SOURCE_MAX with "...". */
static size_t printable_len(size_t len)
{
    return len > PPS__ROUTE_SOURCE_MAX ? PPS__ROUTE_SOURCE_MAX + 3 : len;
}

static const char *printable_copy(char **out, const char *s, size_t len)
{
    size_t n = len > PPS__ROUTE_SOURCE_MAX ? PPS__ROUTE_SOURCE_MAX : len, i;
    char *start = *out;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        start[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (n < len) {
        memcpy(start + n, "...", 3);
        n += 3;
    }
    start[n] = '\0';
    *out = start + n + 1;
    return start;
}

int pps__route_add(pps_route_result *res, const char *recipient,
                   const char *address, size_t address_len, const char *header,
                   size_t header_len, const char *source, size_t source_len,
                   pps_route_rule rule, pps_route_skip skip)
{
    size_t rcpt_len = recipient ? strlen(recipient) : 0;
    route_entry *e;
    char *p;

    if (!(e = pps__grow(res->entries, res->entry_count, &res->entry_cap,
                        sizeof(*e), 8)))
        return pps__error_oom();
    res->entries = e;
    if (!address)
        address_len = 0;
    if (!header)
        header_len = 0;
    if (!source)
        source_len = 0;
    /* one allocation per decision: four strings, each with its NUL */
    p = pps__malloc(rcpt_len + 1 + printable_len(address_len) + 1 +
                    printable_len(header_len) + 1 + printable_len(source_len) +
                    1);
    if (!p)
        return pps__error_oom();
    e = &res->entries[res->entry_count++];
    memset(e, 0, sizeof(*e));
    e->block = p;
    e->pub.rule = rule;
    e->pub.skip = skip;
    e->pub.address = printable_copy(&p, address ? address : "", address_len);
    e->pub.header = printable_copy(&p, header ? header : "", header_len);
    e->pub.source = printable_copy(&p, source ? source : "", source_len);
    if (recipient) {
        memcpy(p, recipient, rcpt_len + 1);
        e->pub.recipient = p;
    }
    return 0;
}

int pps__route_has_recipient(const pps_route_result *res, const char *recipient)
{
    size_t i;

    for (i = 0; i < res->entry_count; i++)
        if (res->entries[i].pub.recipient &&
            strcmp(res->entries[i].pub.recipient, recipient) == 0)
            return 1;
    return 0;
}

void pps__route_unroute(pps_route_result *res, size_t entry,
                        pps_route_skip skip)
{
    pps_route_entry *e = &res->entries[entry].pub;

    /* the explanation names who already had it (the string stays in the
     * entry's block) */
    e->address = e->recipient;
    e->recipient = NULL;
    e->skip = skip;
}

void pps__route_set_warning(pps_route_result *res, char *warning)
{
    pps__free(res->warning);
    res->warning = warning;
}

void pps__route_set_key(pps_route_result *res, char *key)
{
    pps__free(res->key);
    res->key = key;
}

int pps__route_set_summary(pps_route_result *res, const char *summary)
{
    char *copy = pps__strdup(summary);

    if (!copy)
        return pps__error_oom();
    pps__free(res->summary);
    res->summary = copy;
    return 0;
}

int pps__route_finish(pps_route_result *res)
{
    size_t i, n = 0;

    for (i = 0; i < res->entry_count; i++)
        n += res->entries[i].pub.recipient != NULL;
    pps__free(res->recipients);
    res->recipients = NULL;
    res->recipient_count = 0;
    if (n == 0)
        return 0;
    if (!(res->recipients = pps__calloc(n, sizeof(*res->recipients))))
        return pps__error_oom();
    for (i = 0; i < res->entry_count; i++)
        if (res->entries[i].pub.recipient)
            res->recipients[res->recipient_count++] =
                res->entries[i].pub.recipient;
    return 0;
}

size_t pps_route_result_count(const pps_route_result *res)
{
    return res ? res->recipient_count : 0;
}

const char *pps_route_result_recipient(const pps_route_result *res,
                                       size_t index)
{
    if (!res || index >= res->recipient_count)
        return NULL;
    return res->recipients[index];
}

size_t pps_route_result_entry_count(const pps_route_result *res)
{
    return res ? res->entry_count : 0;
}

const pps_route_entry *pps_route_result_entry(const pps_route_result *res,
                                              size_t index)
{
    if (!res || index >= res->entry_count)
        return NULL;
    return &res->entries[index].pub;
}

const char *pps_route_result_warning(const pps_route_result *res)
{
    return res ? res->warning : NULL;
}

const char *pps_route_result_key(const pps_route_result *res)
{
    return res && res->key ? res->key : "";
}

/* --- the explanation -------------------------------------------------- */

typedef struct strbuf {
    char *s;
    size_t len, cap;
    int err;
} strbuf;

static void put(strbuf *b, const char *s, size_t len)
{
    if (b->err)
        return;
    if (b->len + len + 1 > b->cap) {
        size_t n = b->cap ? b->cap : 256;
        char *p;
        while (n < b->len + len + 1)
            n *= 2;
        if (!(p = pps__realloc(b->s, n))) {
            b->err = pps__error_oom();
            return;
        }
        b->s = p;
        b->cap = n;
    }
    memcpy(b->s + b->len, s, len);
    b->len += len;
    b->s[b->len] = '\0';
}

static void puts_(strbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

/*
 *  deliver alice@example.org via To "Alice <alice@example.org>": local user
 *  skip kate@other.com via Cc "kate@other.com": foreign domain
 *  deliver alice@example.org: fallback: no address named a local user
 */
static void explain_entry(strbuf *b, const pps_route_entry *e)
{
    char quoted[PPS__ROUTE_SOURCE_MAX * 4 + 8];

    puts_(b, e->recipient ? "deliver " : "skip ");
    if (e->recipient)
        puts_(b, e->recipient);
    else if (e->address[0])
        puts_(b, e->address);
    else
        puts_(b, "-");
    if (e->header[0]) {
        puts_(b, " via ");
        puts_(b, e->header);
        puts_(b, " ");
        puts_(b,
              pps__quote(quoted, sizeof(quoted), e->source, strlen(e->source)));
    }
    puts_(b, ": ");
    if (e->recipient || e->skip == PPS_ROUTE_SKIP_ALREADY_DELIVERED) {
        puts_(b, pps_route_rule_name(e->rule));
        if (e->skip == PPS_ROUTE_SKIP_ALREADY_DELIVERED) {
            puts_(b, ", ");
            puts_(b, pps_route_skip_name(e->skip));
        } else if ((e->rule == PPS_ROUTE_RULE_ALIAS ||
                    e->rule == PPS_ROUTE_RULE_SUBADDRESS) &&
                   e->address[0]) {
            puts_(b, " of ");
            puts_(b, e->address);
        }
    } else {
        puts_(b, pps_route_skip_name(e->skip));
    }
    puts_(b, "\n");
}

int pps_route_result_explain(const char **out, pps_route_result *res)
{
    strbuf b = {NULL, 0, 0, 0};
    size_t i;

    if (!out || !res)
        return pps__error_set(PPS_EINVAL, "pps_route_result_explain: bad "
                                          "argument");
    if (!res->explain) {
        if (res->summary) {
            puts_(&b, res->summary);
            puts_(&b, "\n");
        }
        for (i = 0; i < res->entry_count; i++)
            explain_entry(&b, &res->entries[i].pub);
        if (res->warning) {
            puts_(&b, "warning: ");
            puts_(&b, res->warning);
            puts_(&b, "\n");
        }
        if (res->recipient_count == 0)
            puts_(&b, "no recipient: every one already has this message\n");
        if (b.err) {
            pps__free(b.s);
            return b.err;
        }
        res->explain = b.s ? b.s : pps__strdup("");
        if (!res->explain)
            return pps__error_oom();
    }
    *out = res->explain;
    return 0;
}
