/*
 * test-text.c - serialise: canonical order, quoting, masking, and
 * parse(serialise(p)) == p.
 */
#include "../helpers/pps-test.h"

#include <stdio.h>

#include "pps/errors.h"
#include "pps/profile.h"
#include "core/internal.h"
#include "profile/profile-internal.h"

static pps_profile *make(void)
{
    pps_profile *p;

    assert_int_equal(pps_profile_new(&p, "office"), 0);
    /* Set in a scrambled order: the output order is the table's. */
    assert_int_equal(pps_profile_set(p, "interval", "300"), 0);
    assert_int_equal(pps_profile_set(p, "local_domain", "Local.Test"), 0);
    assert_int_equal(pps_profile_set(p, "server", "mail.example.com 995s"), 0);
    assert_int_equal(pps_profile_set(p, "password", " hunter2 # \"x\" \\ "), 0);
    assert_int_equal(pps_profile_set(p, "user", "joe"), 0);
    assert_int_equal(pps_profile_set(p, "local_user", "alice"), 0);
    assert_int_equal(pps_profile_set(p, "aliases", "b:bob,a:alice"), 0);
    assert_int_equal(pps_profile_set(p, "subaddress_separator", ""), 0);
    return p;
}

static void test_canonical_text(void **state)
{
    pps_profile *p = make();
    char *text = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(
        pps_profile_serialise(&text, &len, p, PPS_PROFILE_SERIALISE_NO_HEADER),
        0);
    assert_int_equal(len, strlen(text));
    assert_string_equal(text, "server = mail.example.com 995s\n"
                              "user = joe\n"
                              "password = \" hunter2 # \\\"x\\\" \\\\ \"\n"
                              "local_user = alice\n"
                              "local_domain = local.test\n"
                              "aliases = b:bob, a:alice\n"
                              "subaddress_separator = \"\"\n"
                              "interval = 5m\n");
    pps_profile_text_free(text);

    /* pps profile show: the password masked, defaults as comments. */
    assert_int_equal(pps_profile_serialise(&text, NULL, p,
                                           PPS_PROFILE_SERIALISE_MASK_SECRETS |
                                               PPS_PROFILE_SERIALISE_DEFAULTS),
                     0);
    assert_non_null(strstr(text, "# pps profile 'office'"));
    assert_non_null(strstr(text, "\npassword = ********\n"));
    assert_null(strstr(text, "hunter2"));
    assert_non_null(strstr(text, "\n# keep = no\n"));
    assert_non_null(strstr(text, "\n# tls = required\n"));
    assert_non_null(strstr(text, "\ninterval = 5m\n"));
    pps_profile_text_free(text);

    /* The generic getter never gives the password out. */
    assert_string_equal(pps_profile_get(p, "password"), "********");
    pps_profile_free(p);
}

static void round_trip(const pps_profile *p)
{
    char *text = NULL;
    size_t len = 0;
    pps_profile *q = NULL;
    char *exact;

    assert_int_equal(pps_profile_serialise(&text, &len, p, 0), 0);
    exact = pps_test_exact_copy(text, len);
    if (pps_profile_parse(&q, pps_profile_name(p), exact, len, "rt") != 0)
        fail_msg("reparse: %s\n%s", pps_error_last()->message, text);
    if (!pps__profile_equal(p, q))
        fail_msg("round trip differs:\n%s", text);
    free(exact);
    pps_profile_text_free(text);
    pps_profile_free(q);
}

static void test_round_trip(void **state)
{
    static const char *const tricky[] = {
        "plain", " lead", "trail ", "\"starts quoted",
        "a#b",   "a #b",  "#",      "\\",
        "\\\"",  "x\ty",  "\t",     "\xc3\xa9",
        "a = b", "[x]",   "\"\"",
    };
    pps_profile *p = make();
    size_t i;

    (void)state;
    round_trip(p);
    /* Every key set to its default, then every tricky password/user. */
    for (i = 0; i < pps__profile_key_count; i++)
        if (pps__profile_keys[i].default_value)
            assert_int_equal(
                pps_profile_set(p, pps__profile_keys[i].name,
                                pps__profile_keys[i].default_value),
                0);
    round_trip(p);
    for (i = 0; i < sizeof(tricky) / sizeof(*tricky); i++) {
        assert_int_equal(pps_profile_set(p, "password", tricky[i]), 0);
        assert_int_equal(pps_profile_set(p, "user", tricky[i]), 0);
        assert_int_equal(pps_profile_set(p, "password_command", tricky[i]), 0);
        round_trip(p);
    }
    pps_profile_free(p);
}

static void test_dup(void **state)
{
    pps_profile *p = make(), *q = NULL;

    (void)state;
    assert_int_equal(pps_profile_dup(&q, p), 0);
    assert_true(pps__profile_equal(p, q));
    assert_int_equal(pps_profile_set(q, "keep", "yes"), 0);
    assert_false(pps__profile_equal(p, q));
    pps_profile_free(p);
    pps_profile_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_text),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_dup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
