/*
 * test-route.c - the routing policy beyond the case table: duplicate
 * suppression through seen(), temporary failures, the fallback switches,
 * envelope skipping, loop protection with the trace header, the header
 * limit, the explanation text and failing allocations.
 */
#include "../helpers/pps-test.h"

#include <stdio.h>

#include "pps/errors.h"
#include "pps/route.h"
#include "core/internal.h"
#include "route-cases.h"

static pps_route_result *route_text(const pps_route_policy *pol,
                                    const char *text)
{
    size_t len = strlen(text);
    char *msg = pps_test_exact_copy(text, len);
    pps_route_result *res = NULL;
    int rc = pps_route_buffer(&res, pol, msg, len, 0);

    if (rc != 0)
        fail_msg("pps_route_buffer: %d %s", rc, pps_error_last()->message);
    free(msg);
    return res;
}

static void assert_recipients(const pps_route_result *res, const char *want)
{
    char got[1024] = "";
    size_t i, n = 0;

    for (i = 0; i < pps_route_result_count(res); i++)
        n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%s", i ? " " : "",
                              pps_route_result_recipient(res, i));
    assert_string_equal(got, want);
}

/* --- an in-memory ledger for seen() ---------------------------------- */

typedef struct ledger {
    char rows[16][300];
    size_t count;
    int fail;
    int asked;
} ledger;

static int ledger_seen(const char *key, const char *rcpt, void *payload)
{
    ledger *l = payload;
    char row[300];
    size_t i;

    l->asked++;
    if (l->fail)
        return -1;
    snprintf(row, sizeof(row), "%s %s", key, rcpt);
    for (i = 0; i < l->count; i++)
        if (strcmp(l->rows[i], row) == 0)
            return 1;
    return 0;
}

static void ledger_record(ledger *l, const pps_route_result *res)
{
    size_t i;

    for (i = 0; i < pps_route_result_count(res); i++)
        snprintf(l->rows[l->count++], sizeof(l->rows[0]), "%s %s",
                 pps_route_result_key(res), pps_route_result_recipient(res, i));
}

static void test_duplicates_by_message_id(void **state)
{
    pps_route_policy pol;
    ledger l;
    pps_route_result *res;
    const char *explain;

    (void)state;
    memset(&l, 0, sizeof(l));
    route_cases_policy(&pol, 1, 0);
    pol.seen = ledger_seen;
    pol.payload = &l;

    /* first copy, for alice (the envelope said so) */
    res = route_text(&pol, "Delivered-To: alice@local.test\n"
                           "Message-ID: < m1@example.org >\n"
                           "To: alice@local.test, bob@local.test\n\n");
    assert_string_equal(pps_route_result_key(res), "<m1@example.org>");
    assert_recipients(res, "alice@local.test bob@local.test");
    /* only alice's delivery is recorded (bob's failed, say) */
    snprintf(l.rows[l.count++], sizeof(l.rows[0]), "%s alice@local.test",
             pps_route_result_key(res));
    pps_route_result_free(res);

    /* the second copy in the catch-all mailbox: bob only */
    res = route_text(&pol, "Delivered-To: bob@local.test\n"
                           "Message-ID: <m1@example.org>\n"
                           "To: alice@local.test, bob@local.test\n\n");
    assert_recipients(res, "bob@local.test");
    assert_int_equal(pps_route_result_entry(res, 0)->skip,
                     PPS_ROUTE_SKIP_ALREADY_DELIVERED);
    ledger_record(&l, res);
    pps_route_result_free(res);

    /* a third copy: nobody, and the explanation says why */
    res = route_text(&pol, "Message-ID: <m1@example.org>\n"
                           "To: alice@local.test, bob@local.test\n\n");
    assert_int_equal(pps_route_result_count(res), 0);
    assert_int_equal(pps_route_result_explain(&explain, res), 0);
    assert_non_null(strstr(explain, "skip alice@local.test via To "
                                    "\"alice@local.test\": local user, "
                                    "already delivered\n"));
    assert_non_null(strstr(explain, "no recipient: every one already has "
                                    "this message\n"));
    pps_route_result_free(res);

    /* single drop never asks */
    l.asked = 0;
    pol.distribute = 0;
    res = route_text(&pol, "Message-ID: <m1@example.org>\n\n");
    assert_recipients(res, "postmaster@local.test");
    assert_int_equal(l.asked, 0);
    pps_route_result_free(res);
}

static void test_duplicates_by_digest(void **state)
{
    pps_route_result *a, *b, *c;
    pps_route_policy pol;

    (void)state;
    route_cases_policy(&pol, 1, 0);
    /* copies differ only in their trace fields: one key */
    a = route_text(&pol, "Received: from x by y; Fri, 27 Nov 2026\n"
                         "Delivered-To: alice@local.test\n"
                         "From: z@example.org\nTo: alice@local.test\n"
                         "Subject: hi\n\n");
    b = route_text(&pol, "Return-Path: <z@example.org>\n"
                         "Delivered-To: bob@local.test\n"
                         "From: z@example.org\nTo: alice@local.test\n"
                         "Subject: hi\n\nother body");
    c = route_text(&pol, "From: z@example.org\nTo: alice@local.test\n"
                         "Subject: hi again\n\n");
    assert_int_equal(strncmp(pps_route_result_key(a), "sha256:", 7), 0);
    assert_int_equal(strlen(pps_route_result_key(a)), 7 + 64);
    assert_string_equal(pps_route_result_key(a), pps_route_result_key(b));
    assert_string_not_equal(pps_route_result_key(a), pps_route_result_key(c));
    pps_route_result_free(a);
    pps_route_result_free(b);
    pps_route_result_free(c);
}

static int exists_tempfail(const char *user, const char *domain, void *p)
{
    (void)p;
    (void)domain;
    return strcmp(user, "bob") == 0 ? -1 : 1;
}

static void test_temporary_failures(void **state)
{
    static const char text[] = "To: alice@local.test, bob@local.test\n\n";
    pps_route_policy pol;
    pps_route_result *res = (pps_route_result *)&res;
    ledger l;

    (void)state;
    route_cases_policy(&pol, 1, 0);
    pol.user_exists = exists_tempfail;
    assert_int_equal(pps_route_buffer(&res, &pol, text, sizeof(text) - 1, 0),
                     PPS_ETEMP);
    assert_null(res);
    assert_non_null(strstr(pps_error_last()->message, "bob@local.test"));
    assert_true(pps_error_is_temporary(PPS_ETEMP));

    memset(&l, 0, sizeof(l));
    l.fail = 1;
    route_cases_policy(&pol, 1, 0);
    pol.seen = ledger_seen;
    pol.payload = &l;
    assert_int_equal(pps_route_buffer(&res, &pol, text, sizeof(text) - 1, 0),
                     PPS_ETEMP);
    assert_null(res);
    assert_non_null(strstr(pps_error_last()->message, "already has"));
}

static void test_unknown_user_switch(void **state)
{
    pps_route_policy pol;
    pps_route_result *res;

    (void)state;
    route_cases_policy(&pol, 1, 0);
    res = route_text(&pol, "To: alice@local.test, nobody@local.test\n\n");
    assert_recipients(res, "alice@local.test postmaster@local.test");
    assert_int_equal(pps_route_result_entry(res, 2)->rule,
                     PPS_ROUTE_RULE_FALLBACK_UNKNOWN);
    assert_string_equal(pps_route_result_entry(res, 2)->address,
                        "nobody@local.test");
    pps_route_result_free(res);

    pol.unknown_user_skip = 1;
    res = route_text(&pol, "To: alice@local.test, nobody@local.test\n\n");
    assert_recipients(res, "alice@local.test");
    pps_route_result_free(res);
    /* still nothing is dropped: no recipient at all means the local user */
    res = route_text(&pol, "To: nobody@local.test\n\n");
    assert_recipients(res, "postmaster@local.test");
    assert_int_equal(pps_route_result_entry(res, 1)->rule,
                     PPS_ROUTE_RULE_FALLBACK);
    pps_route_result_free(res);
}

static void test_envelope_skip(void **state)
{
    static const char *const headers[] = {"Delivered-To"};
    pps_route_policy pol;
    pps_route_result *res;

    (void)state;
    route_cases_policy(&pol, 1, 0);
    pol.envelope_headers = headers;
    pol.envelope_header_count = 1;
    pol.envelope_skip = 1;
    /* the first Delivered-To is our own server's (the catch-all) */
    res = route_text(&pol, "Delivered-To: carol@local.test\n"
                           "Delivered-To: bob@local.test\n"
                           "To: alice@local.test\n\n");
    assert_recipients(res, "bob@local.test");
    assert_int_equal(pps_route_result_entry(res, 0)->skip,
                     PPS_ROUTE_SKIP_ENVELOPE_SKIPPED);
    pps_route_result_free(res);
    /* all skipped: To decides */
    pol.envelope_skip = 2;
    res = route_text(&pol, "Delivered-To: carol@local.test\n"
                           "Delivered-To: bob@local.test\n"
                           "To: alice@local.test\n\n");
    assert_recipients(res, "alice@local.test");
    pps_route_result_free(res);
}

static void test_trace_header_format(void **state)
{
    char buf[PPS_ROUTE_TRACE_HEADER_MAX];
    int n;

    (void)state;
    /* 2026-11-27 03:05:28 UTC */
    n = pps_route_trace_header(buf, sizeof(buf), "pop.example.com",
                               "mx.local.test", "office", "UID-1",
                               (time_t)1795748728, NULL);
    assert_string_equal(buf, "Received: from pop.example.com\r\n"
                             "\tby mx.local.test (libpps profile \"office\") "
                             "with POP3\r\n"
                             "\tid UID-1; Fri, 27 Nov 2026 03:05:28 +0000\r\n");
    assert_int_equal(n, (int)strlen(buf));

    /* hostile names are defused; LF line ends on request */
    n = pps_route_trace_header(buf, sizeof(buf), "evil\r\nX-Injected: 1", NULL,
                               "a\"b\\c\nd", "u;i d", 0, "\n");
    assert_true(n > 0);
    assert_string_equal(buf,
                        "Received: from evil??X-Injected:?1\n"
                        "\tby localhost (libpps profile \"a\\\"b\\\\c?d\") "
                        "with POP3\n"
                        "\tid u?i?d; Thu, 1 Jan 1970 00:00:00 +0000\n");

    /* no UID */
    pps_route_trace_header(buf, sizeof(buf), "p", "h", "o", NULL, 0, "\n");
    assert_string_equal(buf, "Received: from p\n\tby h (libpps profile \"o\") "
                             "with POP3;\n\tThu, 1 Jan 1970 00:00:00 +0000\n");

    assert_int_equal(
        pps_route_trace_header(buf, 20, "p", "h", "o", "u", 0, NULL),
        PPS_ETOOBIG);
    assert_string_equal(buf, "");
    assert_int_equal(
        pps_route_trace_header(NULL, 20, "p", "h", "o", "u", 0, NULL),
        PPS_EINVAL);
    assert_int_equal(
        pps_route_trace_header(buf, sizeof(buf), "p", "h", "o", "u", 0, "<br>"),
        PPS_EINVAL);
}

/* The trace header the deliverer writes is exactly what the router
 * counts: prepend it N times and the N-th pass is a loop. */
static void loop_after(const char *profile, unsigned int passes,
                       int expect_loop)
{
    char msg[8192], hdr[PPS_ROUTE_TRACE_HEADER_MAX];
    size_t n = 0;
    unsigned int i;
    pps_route_policy pol;
    pps_route_result *res;

    route_cases_policy(&pol, 1, 0);
    pol.profile = profile;
    for (i = 0; i < passes; i++) {
        pps_route_trace_header(hdr, sizeof(hdr), "pop.remote.test",
                               "mx.local.test", profile, "42",
                               (time_t)1795748728 + i, "\r\n");
        n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s", hdr);
    }
    snprintf(msg + n, sizeof(msg) - n, "To: alice@local.test\r\n\r\n");
    res = route_text(&pol, msg);
    if (expect_loop) {
        assert_recipients(res, "postmaster@local.test");
        assert_int_equal(pps_route_result_entry(res, 0)->rule,
                         PPS_ROUTE_RULE_FALLBACK_LOOP);
        assert_non_null(pps_route_result_warning(res));
        assert_int_equal(strncmp(pps_route_result_warning(res),
                                 "X-PPS-Warning: mail loop:", 25),
                         0);
    } else {
        assert_recipients(res, "alice@local.test");
        assert_null(pps_route_result_warning(res));
    }
    pps_route_result_free(res);
}

static void test_loop_protection(void **state)
{
    (void)state;
    loop_after("office", 2, 0);
    loop_after("office", 3, 1);
    loop_after("off\"ice (x)", 3, 1);
    loop_after("office", 10, 1);
}

static void test_loop_limit_setting(void **state)
{
    pps_route_policy pol;
    pps_route_result *res;
    static const char text[] =
        "Received: from p by h (libpps profile \"office\") with POP3; x\n"
        "To: alice@local.test\n\n";

    (void)state;
    route_cases_policy(&pol, 1, 0);
    pol.loop_limit = 1;
    res = route_text(&pol, text);
    assert_recipients(res, "postmaster@local.test");
    pps_route_result_free(res);
    pol.loop_limit = 0; /* off */
    res = route_text(&pol, text);
    assert_recipients(res, "alice@local.test");
    pps_route_result_free(res);
}

static void test_header_too_big(void **state)
{
    size_t len = 5000;
    char *msg = malloc(len);
    pps_route_policy pol;
    pps_route_result *res;

    (void)state;
    assert_non_null(msg);
    memset(msg, 'x', len);
    memcpy(msg, "To: alice@local.test\nX-Big: ", 28);
    route_cases_policy(&pol, 1, 0);
    assert_int_equal(pps_route_buffer(&res, &pol, msg, len, 1024), 0);
    assert_recipients(res, "postmaster@local.test");
    assert_int_equal(pps_route_result_entry(res, 0)->rule,
                     PPS_ROUTE_RULE_FALLBACK_TOO_BIG);
    assert_non_null(strstr(pps_route_result_warning(res), "larger than 1024"));
    pps_route_result_free(res);
    free(msg);
}

static void test_explain_text(void **state)
{
    pps_route_policy pol;
    pps_route_result *res;
    const char *text;

    (void)state;
    route_cases_policy(&pol, 1, 0);
    res = route_text(&pol, "To: Alice <alice@local.test>, kate@other.com,\r\n"
                           "  kate@local.test <kate@elsewhere.org>\r\n"
                           "Cc: sales@local.test, nobody@local.test, Smith,\r\n"
                           "  alice+x@local.test, \"x y\"@local.test\r\n\r\n");
    assert_int_equal(pps_route_result_explain(&text, res), 0);
    assert_string_equal(
        text,
        "policy: profile \"office\", distribute by To/Cc, local user "
        "postmaster@local.test\n"
        "deliver alice@local.test via To \"Alice <alice@local.test>\": local "
        "user\n"
        "skip kate@other.com via To \"kate@other.com\": foreign domain\n"
        "skip kate@local.test via To \"kate@local.test\": address written as "
        "a display name\n"
        "skip kate@elsewhere.org via To \"<kate@elsewhere.org>\": foreign "
        "domain\n"
        "deliver carol@local.test via Cc \"sales@local.test\": alias of "
        "sales@local.test\n"
        "skip nobody@local.test via Cc \"nobody@local.test\": no such user\n"
        "skip smith via Cc \"Smith\": no address\n"
        "skip alice+x@local.test via Cc \"alice+x@local.test\": duplicate\n"
        "skip x y@local.test via Cc \"\\\"x y\\\"@local.test\": bad address\n"
        "deliver postmaster@local.test: fallback: a local address has no "
        "user\n");
    /* the same pointer on the next call */
    {
        const char *again;
        assert_int_equal(pps_route_result_explain(&again, res), 0);
        assert_ptr_equal(again, text);
    }
    assert_null(pps_route_result_entry(res, 99));
    assert_null(pps_route_result_recipient(res, 99));
    pps_route_result_free(res);
}

static int exists_recorder(const char *user, const char *domain, void *p)
{
    size_t *calls = p;

    (*calls)++;
    /* the router must never ask about foreign domains */
    assert_true(strcmp(domain, "local.test") == 0 ||
                strcmp(domain, "local2.test") == 0);
    return strcmp(user, "u7") == 0;
}

static void test_address_cap(void **state)
{
    size_t cap = 64 * 1024, n, i, calls = 0;
    char *msg = malloc(cap);
    pps_route_policy pol;
    pps_route_result *res;
    const pps_route_entry *e;

    (void)state;
    assert_non_null(msg);
    n = (size_t)snprintf(msg, cap, "To: ");
    for (i = 0; i < 1200; i++)
        n += (size_t)snprintf(msg + n, cap - n, "u%zu@local.test, x@o.org, ",
                              i + 100);
    n += (size_t)snprintf(msg + n, cap - n, "u7@local.test\n\n");
    route_cases_policy(&pol, 1, 0);
    pol.user_exists = exists_recorder;
    pol.payload = &calls;
    assert_int_equal(pps_route_buffer(&res, &pol, msg, n, 0), 0);
    /* u7 came after the cap: only the fallback */
    assert_recipients(res, "postmaster@local.test");
    assert_true(calls <= PPS_ROUTE_ADDRESS_MAX);
    e = pps_route_result_entry(res, PPS_ROUTE_ADDRESS_MAX);
    assert_int_equal(e->skip, PPS_ROUTE_SKIP_TOO_MANY);
    pps_route_result_free(res);
    free(msg);
}

static void test_no_user_callback_means_everyone(void **state)
{
    pps_route_policy pol;
    pps_route_result *res;

    (void)state;
    route_cases_policy(&pol, 1, 0);
    pol.user_exists = NULL;
    res = route_text(&pol, "To: Zed <ZED@Local.Test>, z@other.org\n\n");
    assert_recipients(res, "zed@local.test");
    pps_route_result_free(res);
    /* UTF-8 user names pass, U+0100 included (its second byte is 0x80,
     * which alone stands for a NUL); Latin-1 bytes and NUL do not */
    res = route_text(&pol, "To: \xc4\x80x@local.test, \xe9t\xe9@local.test\n"
                           "Cc: n\x80ul@local.test, b\xc3\xa9"
                           "a@local.test\n\n");
    assert_recipients(res, "\xc4\x80x@local.test b\xc3\xa9"
                           "a@local.test");
    pps_route_result_free(res);
}

static void test_bad_policy(void **state)
{
    pps_route_policy pol, macro = PPS_ROUTE_POLICY_INIT;
    pps_route_result *res = (pps_route_result *)&res;
    pps_header_reader *hr;

    (void)state;
    memset(&pol, 0x5a, sizeof(pol));
    pps_route_policy_init(&pol);
    assert_memory_equal(&pol, &macro, sizeof(pol));
    assert_int_equal(pol.unknown_user_skip, 0);
    assert_int_equal(pol.loop_limit, PPS_ROUTE_LOOP_LIMIT_DEFAULT);

    assert_int_equal(pps_header_reader_new(&hr, 0), 0);
    pol.local_user = "a";
    pol.local_domain = "b";
    /* the block is not complete before finish() */
    assert_int_equal(pps_route(&res, &pol, hr), PPS_EINVAL);
    assert_non_null(strstr(pps_error_last()->message, "not complete"));
    assert_int_equal(pps_header_reader_finish(hr), 0);
    pol.local_user = NULL;
    pol.local_domain = NULL;
    assert_int_equal(pps_route(&res, &pol, hr), PPS_EINVAL);
    assert_null(res);
    assert_non_null(strstr(pps_error_last()->message, "local user"));
    pol.local_user = "a";
    pol.local_domain = "b";
    pol.version = 99;
    assert_int_equal(pps_route(&res, &pol, hr), PPS_EINVAL);
    pol.version = PPS_ROUTE_POLICY_VERSION;
    assert_int_equal(pps_route(&res, NULL, hr), PPS_EINVAL);
    assert_int_equal(pps_route(&res, &pol, NULL), PPS_EINVAL);
    assert_int_equal(pps_route(NULL, &pol, hr), PPS_EINVAL);
    assert_int_equal(pps_route(&res, &pol, hr), 0);
    assert_recipients(res, "a@b");
    pps_route_result_free(res);
    pps_route_result_free(NULL);
    pps_header_reader_free(hr);
    assert_int_equal(pps_route_buffer(&res, &pol, NULL, 5, 0), PPS_EINVAL);
    {
        /* an alias to an absurdly long user is refused, not truncated */
        static char long_user[700];
        pps_route_alias alias = {"x", long_user};
        memset(long_user, 'u', sizeof(long_user) - 1);
        pol.aliases = &alias;
        pol.alias_count = 1;
        assert_int_equal(pps_route_buffer(&res, &pol, "To: x@b\n\n", 9, 0),
                         PPS_EINVAL);
        long_user[400] = '\0'; /* 400: longer than a local part, allowed */
        assert_int_equal(pps_route_buffer(&res, &pol, "To: x@b\n\n", 9, 0), 0);
        pps_route_result_free(res);
        pol.aliases = NULL;
        pol.alias_count = 0;
    }
    assert_string_equal(pps_route_rule_name(PPS_ROUTE_RULE_ALIAS), "alias");
    assert_string_equal(pps_route_skip_name((pps_route_skip)99), "?");
}

/* The Nth allocation fails, for every N until none does: an error comes
 * back cleanly, never a half result, and nothing leaks (ASan). */
static void test_failing_allocator(void **state)
{
    static const char text[] =
        "Message-ID: <x@y>\nTo: Alice <alice@local.test>, kate@other.com\n"
        "Cc: sales@local.test, nobody@local.test\n\n";
    pps_route_policy pol;
    long n;
    int done = 0;

    (void)state;
    route_cases_policy(&pol, 1, 1);
    for (n = 0; !done; n++) {
        pps_route_result *res = NULL;
        const char *explain = NULL;
        int rc;

        pps__alloc_fail_after(n);
        rc = pps_route_buffer(&res, &pol, text, sizeof(text) - 1, 0);
        if (rc == 0)
            rc = pps_route_result_explain(&explain, res);
        pps__alloc_fail_after(-1);
        if (rc == 0) {
            assert_recipients(res, "alice@local.test carol@local.test "
                                   "postmaster@local.test");
            done = 1;
        } else {
            assert_int_equal(rc, PPS_ENOMEM);
        }
        pps_route_result_free(res);
        assert_true(n < 1000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duplicates_by_message_id),
        cmocka_unit_test(test_duplicates_by_digest),
        cmocka_unit_test(test_temporary_failures),
        cmocka_unit_test(test_unknown_user_switch),
        cmocka_unit_test(test_envelope_skip),
        cmocka_unit_test(test_trace_header_format),
        cmocka_unit_test(test_loop_protection),
        cmocka_unit_test(test_loop_limit_setting),
        cmocka_unit_test(test_header_too_big),
        cmocka_unit_test(test_explain_text),
        cmocka_unit_test(test_address_cap),
        cmocka_unit_test(test_no_user_callback_means_everyone),
        cmocka_unit_test(test_bad_policy),
        cmocka_unit_test(test_failing_allocator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
