/*
 * fuzz/headers - header reader, address extraction and routing together.
 *
 * The first byte picks a chunk size; the message is fed in those chunks
 * and again in one piece.  Properties beyond "no crash":
 *  - both feeds see the same header block and the same fields;
 *  - the raw block is a prefix of the input, never longer than the limit;
 *  - every recipient is lower-case user@domain on a local domain, once;
 *  - a message always has a recipient, unless seen() said every one
 *    already had it;
 *  - every address the parser returns respects its caps.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pps/errors.h"
#include "pps/route.h"
#include "route/address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)           \
    do {                      \
        if (!(cond))          \
            __builtin_trap(); \
    } while (0)

/* A small limit so the fuzzer reaches the "too big" path. */
#define LIMIT 4096

static int exists(const char *user, const char *domain, void *payload)
{
    (void)domain;
    (void)payload;
    if (strcmp(user, "tempfail") == 0)
        return -1;
    return user[0] == 'a' || user[0] == 'b' || strcmp(user, "kate") == 0;
}

/* The ledger has every copy for users whose name starts with 'b'. */
static int seen(const char *key, const char *recipient, void *payload)
{
    (void)payload;
    CHECK(key[0] != '\0');
    return recipient[0] == 'b';
}

static pps_header_reader *read_headers(const uint8_t *data, size_t size,
                                       size_t chunk)
{
    pps_header_reader *hr;
    size_t off = 0, used;
    int rc = 0;

    if (pps_header_reader_new(&hr, LIMIT) < 0)
        return NULL;
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        rc = pps_header_reader_feed(hr, data + off, n, &used);
        CHECK(rc >= 0 && used <= n);
        if (rc == 1) {
            CHECK(pps_header_reader_is_done(hr));
            break;
        }
        CHECK(used == n);
        off += n;
    }
    CHECK(pps_header_reader_finish(hr) == 0);
    return hr;
}

static void check_addresses(const pps_header_field *f)
{
    pps__addr_parser p;
    pps__addr a;
    size_t items = 0;

    pps__addr_parser_init(&p, f->value, f->value_len);
    while (pps__addr_parser_next(&p, &a) == 1) {
        CHECK(a.local_len <= PPS__ADDR_LOCAL_MAX);
        CHECK(a.domain_len <= PPS__ADDR_DOMAIN_MAX);
        CHECK(a.raw >= f->value &&
              a.raw + a.raw_len <= f->value + f->value_len);
        CHECK(++items <= f->value_len + 1);
    }
    pps__addr_parser_deinit(&p);
}

static void check_route(const pps_header_reader *hr)
{
    static const char *const envelope[] = {"Delivered-To", "Received"};
    static const char *const domains[] = {"b.test"};
    static const pps_route_alias aliases[] = {{"postmaster", "admin"}};
    pps_route_policy pol = PPS_ROUTE_POLICY_INIT;
    pps_route_result *res;
    const char *text;
    size_t i, j, n;
    int rc;

    pol.profile = "fuzz";
    pol.local_user = "fallback";
    pol.local_domain = "a.test";
    pol.distribute = 1;
    pol.local_domains = domains;
    pol.local_domain_count = 1;
    pol.aliases = aliases;
    pol.alias_count = 1;
    pol.subaddress_separator = "+";
    pol.envelope_headers = envelope;
    pol.envelope_header_count = 2;
    pol.envelope_skip = 1;
    pol.user_exists = exists;
    pol.seen = seen;

    rc = pps_route(&res, &pol, hr);
    if (rc == PPS_ETEMP) {
        CHECK(res == NULL);
        return;
    }
    CHECK(rc == 0);
    n = pps_route_result_count(res);
    /* nobody: only when seen() said every one had it */
    for (i = 0; n == 0 && i < pps_route_result_entry_count(res); i++)
        if (pps_route_result_entry(res, i)->skip ==
            PPS_ROUTE_SKIP_ALREADY_DELIVERED)
            break;
    CHECK(n >= 1 || i < pps_route_result_entry_count(res));
    for (i = 0; i < n; i++) {
        const char *r = pps_route_result_recipient(res, i), *at;
        CHECK(r && (at = strchr(r, '@')) != NULL);
        CHECK(strcmp(at, "@a.test") == 0 || strcmp(at, "@b.test") == 0);
        for (j = 0; r[j]; j++)
            CHECK(!(r[j] >= 'A' && r[j] <= 'Z'));
        for (j = 0; j < i; j++)
            CHECK(strcmp(r, pps_route_result_recipient(res, j)) != 0);
    }
    CHECK(pps_route_result_explain(&text, res) == 0 && text[0]);
    pps_route_result_free(res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pps_header_reader *a, *b;
    const char *ra, *rb;
    size_t la, lb, i, chunk;

    if (size < 1)
        return 0;
    chunk = (size_t)(data[0] % 64) + 1;
    data++;
    size--;
    a = read_headers(data, size, chunk);
    b = read_headers(data, size, size ? size : 1);
    if (!a || !b)
        goto out;

    ra = pps_header_reader_raw(a, &la);
    rb = pps_header_reader_raw(b, &lb);
    CHECK(la == lb && la <= LIMIT && la <= size);
    CHECK(memcmp(ra, data, la) == 0 && memcmp(ra, rb, la) == 0);
    CHECK(pps_header_reader_truncated(a) == pps_header_reader_truncated(b));
    CHECK(pps_header_reader_field_count(a) == pps_header_reader_field_count(b));
    for (i = 0; i < pps_header_reader_field_count(a); i++) {
        pps_header_field fa, fb;
        CHECK(pps_header_reader_field(&fa, a, i) == 0);
        CHECK(pps_header_reader_field(&fb, b, i) == 0);
        CHECK(fa.name_len == fb.name_len && fa.value_len == fb.value_len);
        CHECK(memcmp(fa.name, fb.name, fa.name_len) == 0);
        CHECK(fa.value_len == 0 ||
              memcmp(fa.value, fb.value, fa.value_len) == 0);
        CHECK(fa.name_len > 0 && memchr(fa.name, ':', fa.name_len) == NULL);
        check_addresses(&fa);
    }
    check_route(a);
out:
    pps_header_reader_free(a);
    pps_header_reader_free(b);
    return 0;
}
