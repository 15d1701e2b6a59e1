/*
 * route.c - the routing policy of a profile: which local users get a
 * message.
 *
 * Rules, in the order they are tried (OpenSMTPD's ruleset habit: small
 * matchers answering -1 temporary failure / 0 no / 1 yes, every decision
 * recorded with the rule and the header that led to it):
 *
 *   1. too many of this profile's trace headers  -> local user + warning
 *   2. header block past its limit               -> local user + warning
 *   3. single drop (distribute = no)             -> local user
 *   4. envelope headers, when configured: the first that names a local
 *      user decides, and To/Cc are not read
 *   5. every To and Cc field, in order: each address on a local domain
 *      whose user exists (or alias, or user+tag) is a recipient, once
 *   6. a local address without a user           -> also the local user
 *      (unless unknown_user_skip = 1)
 *   7. no recipient                              -> local user
 *   8. seen(key, recipient) drops recipients that already have a copy
 *
 * Display names are never read (the address parser marks them), and an
 * address of a foreign domain never becomes a local user.
 */
#include <string.h>

#include "address.h"
#include "route-internal.h"
#include "../core/internal.h"

_Static_assert(PPS__ROUTE_RECIPIENT_MAX ==
                   PPS__ADDR_LOCAL_MAX + 1 + PPS__ADDR_DOMAIN_MAX + 1,
               "route-internal.h and address.h disagree on address caps");

typedef struct router {
    const pps_route_policy *pol;
    const pps_header_reader *hr;
    pps_route_result *res;
    size_t considered; /* addresses looked at, for the cap */
    int unknown_user;  /* a local address had no user */
    char unknown[PPS__ROUTE_RECIPIENT_MAX];
    size_t routed; /* recipients found by addresses */
} router;

/* user_exists(): 1, 0, or PPS_ETEMP. */
static int user_exists(router *r, const char *user, const char *domain)
{
    int rc;

    if (!r->pol->user_exists)
        return 1;
    rc = r->pol->user_exists(user, domain, r->pol->payload);
    if (rc < 0)
        return pps__error_set(PPS_ETEMP,
                              "route: profile \"%s\": cannot tell whether "
                              "local user %s@%s exists (temporary failure)",
                              r->pol->profile ? r->pol->profile : "", user,
                              domain);
    return rc > 0;
}

/* Resolve a local address to a user: alias, the user itself, user+tag.
 * Writes the recipient into rcpt; returns the rule, 0 for no such user,
 * or a negative error. */
static int resolve(router *r, char *rcpt, const pps__addr *a)
{
    const pps_route_policy *pol = r->pol;
    char local[PPS__ROUTE_RECIPIENT_MAX], domain[PPS__ADDR_DOMAIN_MAX + 1];
    const char *alias, *seps = pol->subaddress_separator;
    size_t i;
    int rc;

    memcpy(domain, a->domain, a->domain_len);
    domain[a->domain_len] = '\0';

    alias = pps__route_find_alias(pol, a->local, a->local_len, a->domain,
                                  a->domain_len);
    if (alias) {
        const char *at = strchr(alias, '@');
        if (at)
            pps__route_join(rcpt, alias, (size_t)(at - alias), at + 1,
                            strlen(at + 1));
        else
            pps__route_join(rcpt, alias, strlen(alias), a->domain,
                            a->domain_len);
        at = strchr(rcpt, '@');
        memcpy(local, rcpt, (size_t)(at - rcpt));
        local[at - rcpt] = '\0';
        if ((rc = user_exists(r, local, at + 1)) != 1)
            return rc;
        return PPS_ROUTE_RULE_ALIAS;
    }

    memcpy(local, a->local, a->local_len);
    local[a->local_len] = '\0';
    pps__route_join(rcpt, a->local, a->local_len, a->domain, a->domain_len);
    if ((rc = user_exists(r, local, domain)) != 0)
        return rc < 0 ? rc : PPS_ROUTE_RULE_LOCAL_USER;

    if (!seps || !*seps)
        return 0;
    for (i = 1; i < a->local_len; i++) { /* "+tag" alone is no user */
        if (strchr(seps, a->local[i])) {
            local[i] = '\0';
            pps__route_join(rcpt, a->local, i, a->domain, a->domain_len);
            if ((rc = user_exists(r, local, domain)) != 0)
                return rc < 0 ? rc : PPS_ROUTE_RULE_SUBADDRESS;
            return 0;
        }
    }
    return 0;
}

static int skip_n(router *r, const char *header, size_t header_len,
                  const pps__addr *a, const char *address, size_t address_len,
                  pps_route_skip why)
{
    return pps__route_add(r->res, NULL, address, address_len, header,
                          header_len, a ? a->raw : NULL, a ? a->raw_len : 0,
                          PPS_ROUTE_RULE_NONE, why);
}

static int skip(router *r, const char *header, size_t header_len,
                const pps__addr *a, const char *address, pps_route_skip why)
{
    return skip_n(r, header, header_len, a, address,
                  address ? strlen(address) : 0, why);
}

/* One address from field `header`: 1 a recipient, 0 skipped, < 0 error. */
static int consider(router *r, const char *header, size_t header_len,
                    const pps__addr *a)
{
    char address[PPS__ROUTE_RECIPIENT_MAX], rcpt[PPS__ROUTE_RECIPIENT_MAX];
    int rule;

    if (r->considered == PPS_ROUTE_ADDRESS_MAX) {
        r->considered++;
        return skip(r, header, header_len, a, NULL, PPS_ROUTE_SKIP_TOO_MANY);
    }
    if (r->considered > PPS_ROUTE_ADDRESS_MAX)
        return 0;
    r->considered++;

    pps__route_join(address, a->local, a->local_len, a->domain, a->domain_len);
    if (a->flags & PPS__ADDR_DISPLAY_NAME)
        return skip(r, header, header_len, a, address,
                    PPS_ROUTE_SKIP_DISPLAY_NAME);
    if (a->flags & (PPS__ADDR_NO_ADDRESS | PPS__ADDR_NO_DOMAIN))
        return skip_n(r, header, header_len, a, a->local, a->local_len,
                      PPS_ROUTE_SKIP_NO_ADDRESS);
    if (a->flags & (PPS__ADDR_BAD | PPS__ADDR_TOO_LONG))
        return skip(r, header, header_len, a, NULL, PPS_ROUTE_SKIP_BAD_ADDRESS);
    if (!pps__route_is_local_domain(r->pol, a->domain, a->domain_len))
        return skip(r, header, header_len, a, address,
                    PPS_ROUTE_SKIP_FOREIGN_DOMAIN);
    if (!pps__route_is_user_name(a->local, a->local_len))
        return skip(r, header, header_len, a, address,
                    PPS_ROUTE_SKIP_BAD_ADDRESS);

    if ((rule = resolve(r, rcpt, a)) < 0)
        return rule;
    if (rule == 0) {
        if (!r->unknown_user)
            memcpy(r->unknown, address, sizeof(address));
        r->unknown_user = 1;
        return skip(r, header, header_len, a, address,
                    PPS_ROUTE_SKIP_NO_SUCH_USER);
    }
    if (pps__route_has_recipient(r->res, rcpt))
        return skip(r, header, header_len, a, address,
                    PPS_ROUTE_SKIP_DUPLICATE);
    r->routed++;
    return pps__route_add(r->res, rcpt, address, strlen(address), header,
                          header_len, a->raw, a->raw_len, (pps_route_rule)rule,
                          PPS_ROUTE_SKIP_NONE);
}

/* Every address of one field value. */
static int consider_list(router *r, const char *header, size_t header_len,
                         const char *value, size_t value_len, int first_only)
{
    pps__addr_parser p;
    pps__addr a;
    int rc = 0;

    pps__addr_parser_init(&p, value, value_len);
    while (pps__addr_parser_next(&p, &a) == 1) {
        if ((a.flags & PPS__ADDR_NO_ADDRESS) && a.raw_len == 0)
            continue;
        if ((rc = consider(r, header, header_len, &a)) < 0)
            break;
        if (first_only)
            break;
    }
    pps__addr_parser_deinit(&p);
    return rc < 0 ? rc : 0;
}

/* --- envelope headers ------------------------------------------------- */

/* The address of "Received: ... for <addr>; date": the last "for" outside
 * comments and before the ';'. */
static int received_for(const char *v, size_t len, size_t *start, size_t *end)
{
    size_t i, depth = 0, semi = len, found = len;

    for (i = 0; i < len; i++) {
        char c = v[i];
        if (c == '(')
            depth++;
        else if (c == ')' && depth > 0)
            depth--;
        else if (depth == 0 && c == ';') {
            semi = i;
            break;
        } else if (depth == 0 && i + 4 < len &&
                   (i == 0 || v[i - 1] == ' ' || v[i - 1] == '\t') &&
                   pps__ascii_strncasecmp(v + i, "for", 3) == 0 &&
                   (v[i + 3] == ' ' || v[i + 3] == '\t')) {
            found = i + 4;
        }
    }
    if (found >= semi)
        return 0;
    *start = found;
    *end = semi;
    return 1;
}

static int consider_envelope(router *r, const char *name)
{
    pps_header_field f;
    size_t pos = 0, start, end;
    unsigned int seen = 0;
    int rc, received = pps__ascii_strcasecmp(name, "Received") == 0;

    while ((rc = pps_header_reader_find(&f, r->hr, name, &pos)) == 1) {
        if (seen++ < r->pol->envelope_skip) {
            if ((rc = pps__route_add(r->res, NULL, NULL, 0, f.name, f.name_len,
                                     f.value, f.value_len, PPS_ROUTE_RULE_NONE,
                                     PPS_ROUTE_SKIP_ENVELOPE_SKIPPED)) < 0)
                return rc;
            continue;
        }
        if (received) {
            if (received_for(f.value, f.value_len, &start, &end) &&
                (rc = consider_list(r, f.name, f.name_len, f.value + start,
                                    end - start, 1)) < 0)
                return rc;
        } else if ((rc = consider_list(r, f.name, f.name_len, f.value,
                                       f.value_len, 0)) < 0) {
            return rc;
        }
    }
    return rc;
}

/* --- the whole policy ----------------------------------------------- */

static int is_name(const pps_header_field *f, const char *name, size_t len)
{
    return f->name_len == len &&
           pps__ascii_strncasecmp(f->name, name, len) == 0;
}

/* How many Received: fields carry this profile's marker. */
static unsigned int count_traces(router *r)
{
    char marker[PPS_ROUTE_TRACE_HEADER_MAX];
    pps_header_field f;
    size_t pos = 0;
    unsigned int n = 0;
    int len = pps__route_trace_marker(marker, sizeof(marker), r->pol->profile);

    if (len <= 0)
        return 0;
    while (pps_header_reader_find(&f, r->hr, "Received", &pos) == 1) {
        const char *v = f.value, *end = f.value + f.value_len, *open;
        while ((size_t)(end - v) >= (size_t)len &&
               (open = memchr(v, '(', (size_t)(end - v))) != NULL) {
            if ((size_t)(end - open) >= (size_t)len &&
                memcmp(open, marker, (size_t)len) == 0) {
                n++;
                break;
            }
            v = open + 1;
        }
    }
    return n;
}

static int add_fallback(router *r, pps_route_rule rule)
{
    char rcpt[PPS__ROUTE_RECIPIENT_MAX];
    const char *why =
        rule == PPS_ROUTE_RULE_FALLBACK_UNKNOWN ? r->unknown : NULL;

    pps__route_join(rcpt, r->pol->local_user, strlen(r->pol->local_user),
                    r->pol->local_domain, strlen(r->pol->local_domain));
    if (pps__route_has_recipient(r->res, rcpt))
        return 0;
    return pps__route_add(r->res, rcpt, why, why ? strlen(why) : 0, NULL, 0,
                          NULL, 0, rule, PPS_ROUTE_SKIP_NONE);
}

static int set_warning(router *r, const char *text)
{
    size_t n = strlen(text) + sizeof("X-PPS-Warning: ");
    char *line = pps__malloc(n);

    pps__log(PPS_LOG_WARN, r->pol->profile, "%s", text);
    if (!line)
        return pps__error_oom();
    pps__snprintf(line, n, "X-PPS-Warning: %s", text);
    pps__route_set_warning(r->res, line);
    return 0;
}

static int route_addresses(router *r)
{
    const pps_route_policy *pol = r->pol;
    size_t i, count = pps_header_reader_field_count(r->hr);
    int rc;

    for (i = 0; i < pol->envelope_header_count; i++) {
        if (!pol->envelope_headers[i])
            continue;
        if ((rc = consider_envelope(r, pol->envelope_headers[i])) < 0)
            return rc;
        if (r->routed > 0)
            return 0; /* the envelope decided: To/Cc are not read */
    }
    for (i = 0; i < count; i++) {
        pps_header_field f;
        if ((rc = pps_header_reader_field(&f, r->hr, i)) < 0)
            return rc;
        if (!is_name(&f, "To", 2) && !is_name(&f, "Cc", 2))
            continue;
        if ((rc = consider_list(r, f.name, f.name_len, f.value, f.value_len,
                                0)) < 0)
            return rc;
    }
    return 0;
}

/* seen(): recipients that already have a copy are dropped. */
static int suppress_duplicates(router *r)
{
    const char *key = pps_route_result_key(r->res);
    size_t i, n = pps_route_result_entry_count(r->res);

    for (i = 0; i < n; i++) {
        const pps_route_entry *e = pps_route_result_entry(r->res, i);
        int rc;
        if (!e->recipient)
            continue;
        rc = r->pol->seen(key, e->recipient, r->pol->payload);
        if (rc < 0)
            return pps__error_set(PPS_ETEMP,
                                  "route: profile \"%s\": cannot tell whether "
                                  "%s already has message %s (temporary "
                                  "failure)",
                                  r->pol->profile ? r->pol->profile : "",
                                  e->recipient, key);
        if (rc > 0)
            pps__route_unroute(r->res, i, PPS_ROUTE_SKIP_ALREADY_DELIVERED);
    }
    return 0;
}

static int summarise(router *r)
{
    const pps_route_policy *pol = r->pol;
    char text[512];
    size_t n;

    n = (size_t)pps__snprintf(
        text, sizeof(text), "policy: profile \"%s\", %s, local user %s@%s",
        pol->profile ? pol->profile : "",
        pol->distribute ? "distribute by To/Cc" : "single drop",
        pol->local_user, pol->local_domain);
    if (pol->distribute && pol->envelope_header_count > 0 && n < sizeof(text))
        pps__snprintf(text + n, sizeof(text) - n,
                      ", envelope headers first (skip %u)", pol->envelope_skip);
    return pps__route_set_summary(r->res, text);
}

static int check_policy(const pps_route_policy *pol)
{
    size_t i;

    if (!pol || pol->version != PPS_ROUTE_POLICY_VERSION)
        return pps__error_set(PPS_EINVAL, "pps_route: policy missing or of "
                                          "an unknown version");
    if (!pol->local_user || !*pol->local_user || !pol->local_domain ||
        !*pol->local_domain)
        return pps__error_set(PPS_EINVAL,
                              "pps_route: profile \"%s\": the policy needs a "
                              "local user and a local domain",
                              pol->profile ? pol->profile : "");
    if (strlen(pol->local_user) > PPS__ADDR_LOCAL_MAX ||
        strlen(pol->local_domain) > PPS__ADDR_DOMAIN_MAX)
        return pps__error_set(PPS_EINVAL,
                              "pps_route: profile \"%s\": local user or "
                              "domain too long",
                              pol->profile ? pol->profile : "");
    for (i = 0; i < pol->alias_count; i++) {
        const char *user = pol->aliases[i].user;
        if (user && strlen(user) > PPS__ROUTE_RECIPIENT_MAX - 2)
            return pps__error_set(PPS_EINVAL,
                                  "pps_route: profile \"%s\": alias %zu: "
                                  "the user is too long",
                                  pol->profile ? pol->profile : "", i + 1);
    }
    return 0;
}

static int decide(router *r)
{
    const pps_route_policy *pol = r->pol;
    unsigned int traces;
    char *key = NULL, text[256];
    int rc;

    if ((rc = summarise(r)) < 0 ||
        (rc = pps__route_message_key(&key, r->hr)) < 0)
        return rc;
    pps__route_set_key(r->res, key);

    traces = pol->loop_limit ? count_traces(r) : 0;
    if (pol->loop_limit && traces >= pol->loop_limit) {
        pps__snprintf(text, sizeof(text),
                      "mail loop: the message already passed profile "
                      "\"%.64s\" %u times (limit %u); delivered to the "
                      "local user only",
                      pol->profile ? pol->profile : "", traces,
                      pol->loop_limit);
        if ((rc = set_warning(r, text)) < 0)
            return rc;
        return add_fallback(r, PPS_ROUTE_RULE_FALLBACK_LOOP);
    }
    if (pps_header_reader_truncated(r->hr)) {
        size_t len;
        pps_header_reader_raw(r->hr, &len);
        pps__snprintf(text, sizeof(text),
                      "header block larger than %zu bytes: not read to the "
                      "end; delivered to the local user only",
                      len);
        if ((rc = set_warning(r, text)) < 0)
            return rc;
        return add_fallback(r, PPS_ROUTE_RULE_FALLBACK_TOO_BIG);
    }
    if (!pol->distribute)
        return add_fallback(r, PPS_ROUTE_RULE_SINGLE_DROP);

    if ((rc = route_addresses(r)) < 0)
        return rc;
    if (r->unknown_user && !pol->unknown_user_skip &&
        (rc = add_fallback(r, PPS_ROUTE_RULE_FALLBACK_UNKNOWN)) < 0)
        return rc;
    if (r->routed == 0 && (rc = add_fallback(r, PPS_ROUTE_RULE_FALLBACK)) < 0)
        return rc;
    if (pol->seen && (rc = suppress_duplicates(r)) < 0)
        return rc;
    return 0;
}

void pps_route_policy_init(pps_route_policy *policy)
{
    static const pps_route_policy defaults = PPS_ROUTE_POLICY_INIT;

    if (policy)
        *policy = defaults;
}

int pps_route(pps_route_result **out, const pps_route_policy *policy,
              const pps_header_reader *headers)
{
    router r;
    int rc;

    if (!out)
        return pps__error_set(PPS_EINVAL, "pps_route: no out");
    *out = NULL;
    if (!headers)
        return pps__error_set(PPS_EINVAL, "pps_route: no header reader");
    if (!pps_header_reader_is_done(headers))
        return pps__error_set(PPS_EINVAL,
                              "pps_route: the header block is not complete "
                              "(feed until it returns 1, or call "
                              "pps_header_reader_finish())");
    if ((rc = check_policy(policy)) < 0)
        return rc;

    memset(&r, 0, sizeof(r));
    r.pol = policy;
    r.hr = headers;
    if ((rc = pps__route_result_new(&r.res)) < 0)
        return rc;
    if ((rc = decide(&r)) < 0 || (rc = pps__route_finish(r.res)) < 0) {
        pps_route_result_free(r.res);
        return rc;
    }
    *out = r.res;
    return 0;
}

int pps_route_buffer(pps_route_result **out, const pps_route_policy *policy,
                     const void *message, size_t len, size_t header_limit)
{
    pps_header_reader *hr = NULL;
    size_t used;
    int rc;

    if (!out)
        return pps__error_set(PPS_EINVAL, "pps_route_buffer: no out");
    *out = NULL;
    if (!message && len > 0)
        return pps__error_set(PPS_EINVAL, "pps_route_buffer: no message");
    if ((rc = pps_header_reader_new(&hr, header_limit)) < 0)
        return rc;
    if ((rc = pps_header_reader_feed(hr, message ? message : "", len, &used)) >=
            0 &&
        (rc = pps_header_reader_finish(hr)) >= 0)
        rc = pps_route(out, policy, hr);
    pps_header_reader_free(hr);
    return rc < 0 ? rc : 0;
}
