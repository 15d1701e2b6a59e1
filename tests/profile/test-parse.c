/*
 * test-parse.c - every profile key, good and bad values, and the text
 * reader's limits and syntax, as an administrator meets them.
 */
#include "../helpers/pps-test.h"

#include <stdio.h>

#include "pps/errors.h"
#include "pps/profile.h"
#include "core/internal.h"
#include "profile/profile-internal.h"

typedef struct value_case {
    const char *key;
    const char *value;
    const char *canonical; /* NULL: must be refused */
    const char *hint;      /* refused: a piece the error must contain */
} value_case;

static const value_case cases[] = {
    /* server: pps_server_parse does the work */
    {"server", "mail.example.com 995s", "mail.example.com 995s", NULL},
    {"server", "mail.example.com", "mail.example.com 110", NULL},
    {"server", "[::1] 995S", "[::1] 995s", NULL},
    {"server", "mail.example.com:995", NULL, "not ':'"},
    {"server", "", NULL, "needs a value"},
    /* user: free text */
    {"user", "joe@remote.test", "joe@remote.test", NULL},
    {"user", "J\xc3\xb6rg", "J\xc3\xb6rg", NULL},
    {"user", "bad\xff", NULL, "UTF-8"},
    {"user", "a\x01", NULL, "control character"},
    /* password: never quoted in errors */
    {"password", " spaces kept ", " spaces kept ", NULL},
    {"password", "p#ss\"w\\rd", "p#ss\"w\\rd", NULL},
    {"password", "sec\x7fret", NULL, "contains a control"},
    {"password_file", "/etc/pps/secret", "/etc/pps/secret", NULL},
    {"password_file", "secret.txt", NULL, "absolute path"},
    {"password_command", "pass show mail/office", "pass show mail/office",
     NULL},
    {"local_user", "alice", "alice", NULL},
    {"local_user", "alice@local.test", NULL, "not a user name"},
    {"local_user", "../etc", NULL, "not a user name"},
    {"local_user", "a/b", NULL, "not a user name"},
    {"local_user", "a b", NULL, "not a user name"},
    {"local_domain", "Local.TEST", "local.test", NULL},
    {"local_domain", "local..test", NULL, "not a domain name"},
    {"local_domain", "-x.test", NULL, "not a domain name"},
    {"local_domain", "x_y.test", NULL, "not a domain name"},
    /* booleans */
    {"distribute", "yes", "yes", NULL},
    {"distribute", "TRUE", "yes", NULL},
    {"distribute", "on", "yes", NULL},
    {"distribute", "1", "yes", NULL},
    {"distribute", "Off", "no", NULL},
    {"distribute", "false", "no", NULL},
    {"distribute", "0", "no", NULL},
    {"distribute", "maybe", NULL, "not yes or no"},
    {"keep", "no", "no", NULL},
    {"keep", "2", NULL, "not yes or no"},
    {"enabled", "no", "no", NULL},
    {"tls_verify", "no", "no", NULL},
    {"allow_plaintext_password", "yes", "yes", NULL},
    {"trace_header", "off", "no", NULL},
    /* durations */
    {"interval", "10m", "10m", NULL},
    {"interval", "600", "10m", NULL},
    {"interval", "90", "90s", NULL},
    {"interval", "30s", "30s", NULL},
    {"interval", "1h", "1h", NULL},
    {"interval", "120m", "2h", NULL},
    {"interval", "1d", "1d", NULL},
    {"interval", "1w", "7d", NULL},
    {"interval", "5s", NULL, "out of range (10s to 30d)"},
    {"interval", "10x", NULL, "not a duration"},
    {"interval", "-5m", NULL, "not a duration"},
    {"interval", "m", NULL, "not a duration"},
    {"interval", "99999999999999999999", NULL, "not a duration"},
    {"interval", "9999999999999999d", NULL, "not a duration"},
    {"poll_timeout", "30m", "30m", NULL},
    {"poll_timeout", "2d", NULL, "out of range"},
    {"duplicate_window", "7d", "7d", NULL},
    {"duplicate_window", "0", "0s", NULL},
    /* sizes */
    {"max_message_size", "0", "0", NULL},
    {"max_message_size", "10M", "10M", NULL},
    {"max_message_size", "10m", "10M", NULL},
    {"max_message_size", "1024k", "1M", NULL},
    {"max_message_size", "1000", "1000", NULL},
    {"max_message_size", "1g", "1G", NULL},
    {"max_message_size", "5G", NULL, "out of range"},
    {"max_message_size", "10MB", NULL, "not a size"},
    {"header_limit", "256k", "256k", NULL},
    {"header_limit", "1k", NULL, "out of range (4k to 64M)"},
    /* counts */
    {"max_messages", "100", "100", NULL},
    {"max_messages", "0100", "100", NULL},
    {"max_messages", "1e3", NULL, "not a number"},
    {"max_messages", "1000001", NULL, "out of range"},
    {"envelope_skip", "1", "1", NULL},
    {"loop_limit", "0", NULL, "out of range"},
    /* enums */
    {"tls", "required", "required", NULL},
    {"tls", "If-Offered", "if-offered", NULL},
    {"tls", "none", "none", NULL},
    {"tls", "starttls", NULL, "not one of required, if-offered, none"},
    {"auth", "CRAM-MD5", "cram-md5", NULL},
    {"auth", "xoauth2", "xoauth2", NULL},
    {"auth", "oauthbearer", "oauthbearer", NULL},
    {"auth", "kerberos", NULL, "not one of"},
    {"unknown_user", "skip", "skip", NULL},
    {"unknown_user", "drop", NULL, "not one of fallback, skip"},
    {"on_permanent_failure", "keep", "keep", NULL},
    {"on_permanent_failure", "bounce", NULL, "not one of"},
    /* TLS files */
    {"tls_ca_file", "/etc/ssl/ca.pem", "/etc/ssl/ca.pem", NULL},
    {"tls_ca_file", "ca.pem", NULL, "absolute path"},
    {"tls_fingerprint",
     "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
     "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89",
     "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", NULL},
    {"tls_fingerprint", "abcd", NULL, "64 hex digits"},
    {"tls_fingerprint",
     "zzcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", NULL,
     "64 hex digits"},
    /* lists */
    {"local_domains", "Example.COM, example.org  example.net",
     "example.com, example.org, example.net", NULL},
    {"local_domains", "a.test, A.test", "a.test", NULL},
    {"local_domains", "", "", NULL},
    {"local_domains", "a.test, bad domain!", NULL, "not a domain name"},
    {"envelope_headers", "Delivered-To, X-Original-To",
     "Delivered-To, X-Original-To", NULL},
    {"envelope_headers", "Delivered-To:", NULL, "not a header name"},
    {"aliases", "sales:alice,  info : bob", "sales:alice, info:bob", NULL},
    {"aliases", "sales", NULL, "without ':'"},
    {"aliases", "sales:alice, Sales:bob", NULL, "one alias twice"},
    {"aliases", "sales:a@b", NULL, "not a user name"},
    {"subaddress_separator", "+", "+", NULL},
    {"subaddress_separator", "+-", "+-", NULL},
    {"subaddress_separator", "", "", NULL},
    {"subaddress_separator", "a", NULL, "cannot separate"},
    {"subaddress_separator", "++", NULL, "cannot separate"},
};

static void test_every_key_value(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const value_case *c = &cases[i];
        pps_profile *p = NULL;
        char text[512];
        int n, rc;

        /* As a file line, so the error must name file, line and key. */
        n = snprintf(text, sizeof(text), "# first line\n%s = \"", c->key);
        for (const char *v = c->value; *v; v++) {
            if (*v == '"' || *v == '\\')
                text[n++] = '\\';
            text[n++] = *v;
        }
        n += snprintf(text + n, sizeof(text) - n, "\"\n");
        char *exact = pps_test_exact_copy(text, (size_t)n);
        rc = pps_profile_parse(&p, "office", exact, (size_t)n,
                               "profiles/office.conf");
        free(exact);
        if (c->canonical) {
            const char *got;
            if (rc != 0)
                fail_msg("row %zu %s = \"%s\": %s", i, c->key, c->value,
                         pps_error_last()->message);
            got = pps_profile_is_set(p, c->key) ? pps_profile_get(p, c->key)
                                                : "(unset)";
            if (strcmp(c->key, "password") == 0) {
                char *secret = NULL;
                assert_string_equal(got, "********");
                assert_int_equal(pps_profile_get_secret(&secret, NULL, p), 0);
                got = secret;
                if (strcmp(got, c->canonical) != 0)
                    fail_msg("row %zu: secret differs", i);
                pps_secret_free(secret);
            } else if (strcmp(got, c->canonical) != 0) {
                fail_msg("row %zu %s = \"%s\": got \"%s\", want \"%s\"", i,
                         c->key, c->value, got, c->canonical);
            }
            /* The setter agrees with the parser. */
            pps_profile *q = NULL;
            assert_int_equal(pps_profile_new(&q, "office"), 0);
            assert_int_equal(pps_profile_set(q, c->key, c->value), 0);
            assert_true(pps__profile_equal(p, q));
            pps_profile_free(q);
        } else {
            const char *msg = pps_error_last()->message;
            char key_part[80];
            if (rc != PPS_ECONFIG)
                fail_msg("row %zu %s = \"%s\": accepted (rc %d)", i, c->key,
                         c->value, rc);
            snprintf(key_part, sizeof(key_part), "key '%s'", c->key);
            if (!strstr(msg, "profiles/office.conf:2:") ||
                !strstr(msg, key_part) || !strstr(msg, c->hint))
                fail_msg("row %zu: message \"%s\" lacks file:line, key or "
                         "\"%s\"",
                         i, msg, c->hint);
            if (strcmp(c->key, "password") == 0 && strstr(msg, c->value))
                fail_msg("row %zu: the error repeats the password", i);
            assert_null(p);
        }
        pps_profile_free(p);
    }
}

typedef struct text_case {
    const char *text;
    int code;          /* 0 or the expected error */
    const char *hint;  /* error: piece of the message */
    const char *key;   /* success: a key to check ... */
    const char *value; /* ... and its canonical value */
} text_case;

static const text_case texts[] = {
    {"", 0, NULL, "interval", "10m"},
    {"# only a comment\n\n   \t\n", 0, NULL, "interval", "10m"},
    {"interval=5m", 0, NULL, "interval", "5m"},
    {"  interval   =   5m   # five minutes\n", 0, NULL, "interval", "5m"},
    {"interval = 5m\r\n", 0, NULL, "interval", "5m"},
    {"user = a#b\n", 0, NULL, "user", "a#b"},
    {"user = a #b\n", 0, NULL, "user", "a"},
    {"user = \" a # b \"  # comment\n", 0, NULL, "user", " a # b "},
    {"user = \"say \\\"hi\\\"\"\n", 0, NULL, "user", "say \"hi\""},
    {"user = \"back\\\\slash\"\n", 0, NULL, "user", "back\\slash"},
    {"user = a \"b\"\n", 0, NULL, "user", "a \"b\""},
    {"local_domains =\n", 0, NULL, "local_domains", ""},
    {"intervall = 5m\n", PPS_ECONFIG,
     "profiles/office.conf:1: key 'intervall' is unknown (did you mean "
     "'interval'?)",
     NULL, NULL},
    {"\n\nlocal-user = bob\n", PPS_ECONFIG,
     "profiles/office.conf:3: key 'local-user' is unknown (did you mean "
     "'local_user'?)",
     NULL, NULL},
    {"interval = 5m\ninterval = 6m\n", PPS_ECONFIG,
     "profiles/office.conf:2: key 'interval' is set twice (first on line 1)",
     NULL, NULL},
    {"interval 5m\n", PPS_ECONFIG, ":1: expected '=' after key \"interval\"",
     NULL, NULL},
    {"= 5m\n", PPS_ECONFIG, ":1: expected a key", NULL, NULL},
    {"[delivery]\n", PPS_ECONFIG, ":1: profile files have no [sections]", NULL,
     NULL},
    {"user = \"open\n", PPS_ECONFIG, ":1: the quoted value has no closing",
     NULL, NULL},
    {"user = \"a\" b\n", PPS_ECONFIG, ":1: unexpected text after the closing",
     NULL, NULL},
    {"user = \"a\\nb\"\n", PPS_ECONFIG, ":1: inside quotes", NULL, NULL},
    {"user = \xc3\x28\n", PPS_ECONFIG,
     ":1: key 'user': the line is not valid UTF-8", NULL, NULL},
    {"user = \xed\xa0\x80\n", PPS_ECONFIG, "not valid UTF-8", NULL, NULL},
    {"user = \xc0\xaf\n", PPS_ECONFIG, "not valid UTF-8", NULL, NULL},
    {"user = \xf4\x90\x80\x80\n", PPS_ECONFIG, "not valid UTF-8", NULL, NULL},
    {"user = a\x1b[31m\n", PPS_ECONFIG,
     ":1: key 'user': the line contains a control", NULL, NULL},
    {"user = a\rb\n", PPS_ECONFIG, "control character", NULL, NULL},
};

static void test_text_syntax(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        const text_case *c = &texts[i];
        size_t len = strlen(c->text);
        char *exact = pps_test_exact_copy(c->text, len);
        pps_profile *p = NULL;
        int rc =
            pps_profile_parse(&p, "office", exact, len, "profiles/office.conf");
        free(exact);
        if (rc != c->code)
            fail_msg("row %zu: rc %d, want %d (%s)", i, rc, c->code,
                     pps_error_last()->message);
        if (c->code == 0) {
            const char *got = pps_profile_get(p, c->key);
            if (!got || strcmp(got, c->value) != 0)
                fail_msg("row %zu: %s = \"%s\", want \"%s\"", i, c->key,
                         got ? got : "(null)", c->value);
        } else if (!strstr(pps_error_last()->message, c->hint)) {
            fail_msg("row %zu: message \"%s\" lacks \"%s\"", i,
                     pps_error_last()->message, c->hint);
        }
        pps_profile_free(p);
    }
}

static void test_limits(void **state)
{
    char *text;
    pps_profile *p = NULL;
    size_t n;

    (void)state;
    /* A line of exactly PPS_CONFIG_LINE_MAX bytes with its newline is
     * fine; one byte more is not. */
    text = malloc(PPS_CONFIG_TEXT_MAX + 2);
    assert_non_null(text);
    n = PPS_CONFIG_LINE_MAX - 1;
    memset(text, '#', n);
    text[n] = '\n';
    assert_int_equal(pps_profile_parse(&p, "x", text, n + 1, "f"), 0);
    pps_profile_free(p);
    memset(text, '#', n + 1);
    text[n + 1] = '\n';
    assert_int_equal(pps_profile_parse(&p, "x", text, n + 2, "f"), PPS_ETOOBIG);
    assert_non_null(strstr(pps_error_last()->message, "f:1: longer than"));
    /* A whole text of the maximum is fine; one byte more is not. */
    for (size_t i = 0; i < PPS_CONFIG_TEXT_MAX; i++)
        text[i] = (i % 64 == 63) ? '\n' : '#';
    assert_int_equal(pps_profile_parse(&p, "x", text, PPS_CONFIG_TEXT_MAX, "f"),
                     0);
    pps_profile_free(p);
    text[PPS_CONFIG_TEXT_MAX] = '\n';
    assert_int_equal(
        pps_profile_parse(&p, "x", text, PPS_CONFIG_TEXT_MAX + 1, "f"),
        PPS_ETOOBIG);
    assert_null(p);
    free(text);
    /* A NUL byte is named with its line and key. */
    {
        static const char nul[] = "user = a\n\nuser = b\0c\n";
        char *exact = pps_test_exact_copy(nul, sizeof(nul) - 1);
        assert_int_equal(
            pps_profile_parse(&p, "x", exact, sizeof(nul) - 1, "f"),
            PPS_ECONFIG);
        assert_string_equal(pps_error_last()->message,
                            "f:3: key 'user': the line contains a NUL byte");
        free(exact);
    }
    /* No suggestion when nothing is close. */
    assert_int_equal(pps_profile_parse(&p, "x", "zzzz = 1", 8, "f"),
                     PPS_ECONFIG);
    assert_string_equal(pps_error_last()->message,
                        "f:1: key 'zzzz' is unknown");
    /* A value whose canonical form would not fit one line again: the
     * list "a,a1,..." grows by one blank per item. */
    {
        char *line = malloc(PPS_CONFIG_LINE_MAX);
        size_t used =
            (size_t)snprintf(line, PPS_CONFIG_LINE_MAX, "local_domains = ");
        int i = 0;
        while (used + 8 < PPS_CONFIG_LINE_MAX - 1)
            used += (size_t)snprintf(line + used, PPS_CONFIG_LINE_MAX - used,
                                     "d%05d,", i++);
        assert_int_equal(pps_profile_parse(&p, "x", line, used, "f"),
                         PPS_ECONFIG);
        assert_non_null(
            strstr(pps_error_last()->message, "f:1: key 'local_domains':"));
        assert_non_null(
            strstr(pps_error_last()->message, "too long to be written back"));
        free(line);
    }
    /* A byte order mark before the first line is skipped. */
    assert_int_equal(
        pps_profile_parse(&p, "x", "\xef\xbb\xbfkeep = yes\n", 14, "f"), 0);
    assert_string_equal(pps_profile_get(p, "keep"), "yes");
    pps_profile_free(p);
    /* Bad names never make a profile. */
    assert_int_equal(pps_profile_parse(&p, "../x", "", 0, "f"), PPS_EINVAL);
    assert_null(p);
}

static const char full_text[] =
    "server = mail.example.com 995s\n"
    "user = joe@remote.test\n"
    "password = \"hunter2 # not a comment\"\n"
    "local_user = alice\n"
    "local_domain = local.test\n"
    "distribute = yes\n"
    "local_domains = example.org\n"
    "aliases = sales:alice, info:bob\n"
    "interval = 5m\n"
    "envelope_headers = Delivered-To, X-Original-To\n"
    "tls_fingerprint = "
    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789\n";

/* Feed 0, 1, ... n bytes: every prefix parses or fails cleanly, and the
 * whole text parses. */
static void test_growing_prefix(void **state)
{
    size_t n, len = sizeof(full_text) - 1;

    (void)state;
    for (n = 0; n <= len; n++) {
        char *exact = pps_test_exact_copy(full_text, n);
        pps_profile *p = NULL;
        int rc = pps_profile_parse(&p, "office", exact, n, "f");
        free(exact);
        if (rc < 0) {
            assert_int_equal(rc, PPS_ECONFIG);
            assert_null(p);
            assert_true(pps_error_last()->message[0] != '\0');
            assert_null(strstr(pps_error_last()->message, "hunter2"));
        }
        if (n == len) {
            assert_int_equal(rc, 0);
            assert_int_equal(pps_profile_validate(p), 0);
        }
        pps_profile_free(p);
    }
}

/* Fail the 1st, 2nd, ... allocation: always PPS_ENOMEM, never a leak or
 * a crash (ASan checks the leaks). */
static void test_failing_allocator(void **state)
{
    long n;
    int done = 0;

    (void)state;
    for (n = 0; n < 1000 && !done; n++) {
        pps_profile *p = NULL, *q = NULL;
        char *text = NULL;
        int rc;

        pps__alloc_fail_after(n);
        rc = pps_profile_parse(&p, "office", full_text, sizeof(full_text) - 1,
                               "f");
        if (rc == 0)
            rc = pps_profile_serialise(&text, NULL, p, 0);
        if (rc == 0)
            rc = pps_profile_parse(&q, "office", text, strlen(text), "g");
        pps__alloc_fail_after(-1);
        if (rc == 0) {
            assert_true(pps__profile_equal(p, q));
            done = 1;
        } else {
            assert_int_equal(rc, PPS_ENOMEM);
        }
        pps_profile_text_free(text);
        pps_profile_free(p);
        pps_profile_free(q);
    }
    assert_true(done);
}

static void test_names(void **state)
{
    static const char *const good[] = {"office", "a", "A.b_c-9", "x.conf"};
    static const char *const bad[] = {"",    ".hidden",     "..", "a/b",
                                      "a b", "caf\xc3\xa9", "a\n"};
    char long_name[PPS_PROFILE_NAME_MAX + 2];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(*good); i++)
        if (!pps_profile_name_is_valid(good[i]))
            fail_msg("good row %zu refused", i);
    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        if (pps_profile_name_is_valid(bad[i]))
            fail_msg("bad row %zu accepted", i);
    assert_false(pps_profile_name_is_valid(NULL));
    memset(long_name, 'a', sizeof(long_name));
    long_name[PPS_PROFILE_NAME_MAX] = '\0';
    assert_true(pps_profile_name_is_valid(long_name));
    long_name[PPS_PROFILE_NAME_MAX] = 'a';
    long_name[PPS_PROFILE_NAME_MAX + 1] = '\0';
    assert_false(pps_profile_name_is_valid(long_name));
}

static void test_validate(void **state)
{
    pps_profile *p;
    const char *msg;

    (void)state;
    assert_int_equal(pps_profile_parse(&p, "office", full_text,
                                       sizeof(full_text) - 1,
                                       "profiles/office.conf"),
                     0);
    assert_int_equal(pps_profile_validate(p), 0);

    assert_int_equal(pps_profile_set(p, "password_file", "/etc/pw"), 0);
    assert_int_equal(pps_profile_validate(p), PPS_ECONFIG);
    msg = pps_error_last()->message;
    assert_non_null(strstr(msg, "profiles/office.conf: profile 'office'"));
    assert_non_null(strstr(msg, "'password' and 'password_file'"));

    assert_int_equal(pps_profile_unset(p, "password"), 0);
    assert_int_equal(pps_profile_validate(p), 0);
    assert_int_equal(pps_profile_unset(p, "password_file"), 0);
    assert_int_equal(pps_profile_validate(p), PPS_ECONFIG);
    assert_non_null(strstr(pps_error_last()->message, "password_command"));
    assert_int_equal(pps_profile_set(p, "password_command", "echo x"), 0);

    assert_int_equal(pps_profile_unset(p, "local_user"), 0);
    assert_int_equal(pps_profile_validate(p), PPS_ECONFIG);
    assert_non_null(strstr(pps_error_last()->message,
                           "key 'local_user' is required (--local-user)"));
    assert_int_equal(pps_profile_set(p, "local_user", "alice"), 0);

    /* tls = none contradicts 995s, and would send the password in clear. */
    assert_int_equal(pps_profile_set(p, "tls", "none"), 0);
    assert_int_equal(pps_profile_validate(p), PPS_ECONFIG);
    assert_non_null(strstr(pps_error_last()->message, "implicit TLS"));
    assert_int_equal(pps_profile_set(p, "server", "mail.example.com"), 0);
    assert_int_equal(pps_profile_unset(p, "tls_fingerprint"), 0);
    assert_int_equal(pps_profile_validate(p), PPS_ECONFIG);
    assert_non_null(
        strstr(pps_error_last()->message, "allow_plaintext_password"));
    assert_int_equal(pps_profile_set(p, "auth", "apop"), 0);
    assert_int_equal(pps_profile_validate(p), 0);
    assert_int_equal(pps_profile_set(p, "auth", "user"), 0);
    assert_int_equal(pps_profile_set(p, "allow_plaintext_password", "yes"), 0);
    assert_int_equal(pps_profile_validate(p), 0);

    /* Unknown keys from the setter: named, with a suggestion. */
    assert_int_equal(pps_profile_set(p, "tls-verify", "no"), PPS_ECONFIG);
    assert_non_null(strstr(pps_error_last()->message,
                           "profile 'office': key 'tls-verify' is unknown "
                           "(did you mean 'tls_verify'?)"));
    assert_int_equal(pps_profile_set(p, "a b\n", "x"), PPS_ECONFIG);
    assert_non_null(
        strstr(pps_error_last()->message, "key \"a b\\x0a\" is unknown"));
    assert_int_equal(pps_profile_unset(p, "nope"), PPS_ECONFIG);
    /* A refused value leaves the old one. */
    assert_int_equal(pps_profile_set(p, "interval", "soon"), PPS_ECONFIG);
    assert_string_equal(pps_profile_get(p, "interval"), "5m");
    assert_null(pps_profile_get(p, "nope"));
    pps_profile_free(p);
}

static void test_settings(void **state)
{
    pps_profile *p;
    pps_profile_settings s = PPS_PROFILE_SETTINGS_INIT;
    const char *const *items;
    size_t count;

    (void)state;
    assert_int_equal(
        pps_profile_parse(&p, "office", full_text, sizeof(full_text) - 1, "f"),
        0);
    assert_int_equal(pps_profile_get_settings(&s, p), 0);
    assert_string_equal(s.name, "office");
    assert_string_equal(s.server.host, "mail.example.com");
    assert_int_equal(s.server.port, 995);
    assert_int_equal(s.server.implicit_tls, 1);
    assert_string_equal(s.user, "joe@remote.test");
    assert_string_equal(s.local_user, "alice");
    assert_string_equal(s.local_domain, "local.test");
    assert_int_equal(s.distribute, 1);
    assert_int_equal(s.interval_seconds, 300);
    assert_int_equal(s.keep, 0);
    assert_int_equal(s.enabled, 1);
    assert_int_equal(s.tls, PPS_PROFILE_TLS_REQUIRED);
    assert_int_equal(s.tls_verify, 1);
    assert_null(s.tls_ca_file);
    assert_string_equal(
        s.tls_fingerprint,
        "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
    assert_int_equal(s.auth, PPS_PROFILE_AUTH_AUTO);
    assert_string_equal(s.subaddress_separator, "");
    assert_int_equal(s.unknown_user, PPS_PROFILE_UNKNOWN_FALLBACK);
    assert_int_equal(s.max_message_size, 0);
    assert_int_equal(s.poll_timeout_seconds, 3600);
    assert_int_equal(s.header_limit, 256 * 1024);
    assert_int_equal(s.duplicate_window_seconds, 7 * 86400);
    assert_int_equal(s.loop_limit, 3);
    assert_int_equal(s.trace_header, 1);
    assert_int_equal(s.on_permanent_failure, PPS_PROFILE_FAILURE_FALLBACK);

    assert_int_equal(pps_profile_set(p, "auth", "oauthbearer"), 0);
    assert_int_equal(pps_profile_set(p, "tls", "if-offered"), 0);
    assert_int_equal(pps_profile_set(p, "max_message_size", "2G"), 0);
    assert_int_equal(pps_profile_set(p, "unknown_user", "skip"), 0);
    assert_int_equal(pps_profile_set(p, "on_permanent_failure", "keep"), 0);
    assert_int_equal(pps_profile_get_settings(&s, p), 0);
    assert_int_equal(s.auth, PPS_PROFILE_AUTH_OAUTHBEARER);
    assert_int_equal(s.tls, PPS_PROFILE_TLS_IF_OFFERED);
    assert_true(s.max_message_size == 2ull * 1024 * 1024 * 1024);
    assert_int_equal(s.unknown_user, PPS_PROFILE_UNKNOWN_SKIP);
    assert_int_equal(s.on_permanent_failure, PPS_PROFILE_FAILURE_KEEP);

    assert_int_equal(pps_profile_get_list(&items, &count, p, "aliases"), 0);
    assert_int_equal(count, 2);
    assert_string_equal(items[0], "sales:alice");
    assert_string_equal(items[1], "info:bob");
    assert_int_equal(
        pps_profile_get_list(&items, &count, p, "envelope_headers"), 0);
    assert_int_equal(count, 2);
    assert_string_equal(items[1], "X-Original-To");
    assert_int_equal(pps_profile_get_list(&items, &count, p, "user"),
                     PPS_EINVAL);

    s.version = 99;
    assert_int_equal(pps_profile_get_settings(&s, p), PPS_EINVAL);
    pps_profile_free(p);
}

static void test_key_info(void **state)
{
    const pps_profile_key_info *k;
    size_t i, n = 0;

    (void)state;
    for (i = 0; (k = pps_profile_key_at(i)) != NULL; i++) {
        n++;
        assert_non_null(k->name);
        assert_non_null(k->summary);
        if (strcmp(k->name, "password") == 0)
            assert_true(k->is_secret);
        if (strcmp(k->name, "distribute") == 0)
            assert_true(k->is_boolean);
        if (strcmp(k->name, "local_user") == 0)
            assert_true(k->is_required);
        if (strcmp(k->name, "interval") == 0)
            assert_string_equal(k->default_value, "10m");
    }
    assert_int_equal(n, pps__profile_key_count);
    assert_int_equal(n, 31);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_key_value),
        cmocka_unit_test(test_text_syntax),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_growing_prefix),
        cmocka_unit_test(test_failing_allocator),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_key_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
