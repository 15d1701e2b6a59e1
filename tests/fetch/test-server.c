/*
 * test-server.c - server strings as administrators write them.
 */
#include "../helpers/pps-test.h"

#include <stdio.h>

#include "pps/errors.h"
#include "pps/server.h"

typedef struct good_case {
    const char *text;
    const char *host;
    unsigned int port;
    int implicit_tls;
    int ipv6;
    const char *canonical;
} good_case;

static const good_case good[] = {
    {"mail.example.com 995s", "mail.example.com", 995, 1, 0,
     "mail.example.com 995s"},
    {"mail.example.com", "mail.example.com", 110, 0, 0, "mail.example.com 110"},
    {"mail.example.com 110", "mail.example.com", 110, 0, 0,
     "mail.example.com 110"},
    {"mail.example.com 995S", "mail.example.com", 995, 1, 0,
     "mail.example.com 995s"},
    {"  pop.isp.net\t 1100  ", "pop.isp.net", 1100, 0, 0, "pop.isp.net 1100"},
    {"127.0.0.1 65535s", "127.0.0.1", 65535, 1, 0, "127.0.0.1 65535s"},
    {"localhost 1", "localhost", 1, 0, 0, "localhost 1"},
    {"[2001:db8::1] 995s", "2001:db8::1", 995, 1, 1, "[2001:db8::1] 995s"},
    {"[::1]", "::1", 110, 0, 1, "[::1] 110"},
    {"::1", "::1", 110, 0, 1, "[::1] 110"},
    {"[fe80::1%eth0] 995", "fe80::1%eth0", 995, 0, 1, "[fe80::1%eth0] 995"},
    {"mail.example.com. 0995s", "mail.example.com.", 995, 1, 0,
     "mail.example.com. 995s"},
    {"internal_host 110", "internal_host", 110, 0, 0, "internal_host 110"},
};

typedef struct bad_case {
    const char *text;
    const char *hint; /* a piece the error message must contain */
} bad_case;

static const bad_case bad[] = {
    {"", "no host name"},
    {"   ", "no host name"},
    {"mail.example.com:995", "not ':'"},
    {"mail.example.com 995x", "must be a number"},
    {"mail.example.com s", "port is missing"},
    {"mail.example.com 0", "between 1 and 65535"},
    {"mail.example.com 65536", "between 1 and 65535"},
    {"mail.example.com 99999999999999999999s", "between 1 and 65535"},
    {"mail.example.com -1", "must be a number"},
    {"mail.example.com 995s extra", "found more after the port"},
    {"mail..example.com", "non-empty labels"},
    {".example.com", "non-empty labels"},
    {"mail/example.com", "only letters"},
    {"m\xc3\xa4il.example.com", "only letters"},
    {"[2001:db8::1", "closing ']'"},
    {"[2001:db8::1]995", "put a blank"},
    {"[mail.example.com] 995", "not a valid IPv6"},
    {"[] 995", "not a valid IPv6"},
    {"[fe80::1%] 995", "not a valid IPv6"},
    {"2001:db8::zz", "not a valid IPv6"},
};

static void test_good_strings(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        pps_server_address a = PPS_SERVER_ADDRESS_INIT;
        char canonical[PPS_SERVER_HOST_MAX + 64];
        int rc = pps_server_parse(&a, good[i].text);

        if (rc != 0)
            fail_msg("row %zu \"%s\": %s", i, good[i].text,
                     pps_error_last()->message);
        if (strcmp(a.host, good[i].host) != 0 || a.port != good[i].port ||
            a.implicit_tls != good[i].implicit_tls ||
            a.is_ipv6_literal != good[i].ipv6)
            fail_msg("row %zu \"%s\": got host=%s port=%u tls=%d v6=%d", i,
                     good[i].text, a.host, a.port, a.implicit_tls,
                     a.is_ipv6_literal);
        rc = pps_server_format(canonical, sizeof(canonical), &a);
        assert_int_equal(rc, (int)strlen(good[i].canonical));
        assert_string_equal(canonical, good[i].canonical);
    }
}

static void test_bad_strings_name_the_text_and_the_fix(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pps_server_address a = PPS_SERVER_ADDRESS_INIT;
        const char *msg;
        int rc;

        snprintf(a.host, sizeof(a.host), "untouched");
        rc = pps_server_parse(&a, bad[i].text);
        msg = pps_error_last()->message;
        if (rc != PPS_ECONFIG || strstr(msg, bad[i].hint) == NULL ||
            strncmp(msg, "server \"", 8) != 0)
            fail_msg("row %zu \"%s\": rc=%d message=%s", i, bad[i].text, rc,
                     msg);
        /* The output is left alone on failure. */
        assert_string_equal(a.host, "untouched");
    }
}

static void test_control_bytes_are_escaped_in_the_error(void **state)
{
    pps_server_address a = PPS_SERVER_ADDRESS_INIT;

    (void)state;
    assert_int_equal(pps_server_parse(&a, "mail\x1b[2J.example.com"),
                     PPS_ECONFIG);
    assert_non_null(strstr(pps_error_last()->message, "\\x1b"));
    assert_null(strchr(pps_error_last()->message, '\x1b'));
}

static void test_host_length_limit(void **state)
{
    char text[400];
    pps_server_address a = PPS_SERVER_ADDRESS_INIT;
    size_t i;

    (void)state;
    /* 253 characters in labels of 63: accepted; 254: refused. */
    for (i = 0; i < 253; i++)
        text[i] = (i % 64 == 63) ? '.' : 'a';
    text[253] = '\0';
    assert_int_equal(pps_server_parse(&a, text), 0);
    assert_int_equal(strlen(a.host), 253);
    text[253] = 'a';
    text[254] = '\0';
    assert_int_equal(pps_server_parse(&a, text), PPS_ECONFIG);
    assert_non_null(strstr(pps_error_last()->message, "longer than 253"));

    /* A label of 64 characters is refused. */
    memset(text, 'b', 64);
    text[64] = '\0';
    assert_int_equal(pps_server_parse(&a, text), PPS_ECONFIG);
}

static void test_bad_arguments(void **state)
{
    pps_server_address a = PPS_SERVER_ADDRESS_INIT;
    pps_server_address unversioned;
    char small[8];

    (void)state;
    memset(&unversioned, 0, sizeof(unversioned));
    assert_int_equal(pps_server_parse(NULL, "x"), PPS_EINVAL);
    assert_int_equal(pps_server_parse(&a, NULL), PPS_EINVAL);
    assert_int_equal(pps_server_parse(&unversioned, "x"), PPS_EINVAL);
    assert_int_equal(pps_server_parse(&a, "mail.example.com 995s"), 0);
    assert_int_equal(pps_server_format(small, sizeof(small), &a), PPS_ETOOBIG);
    assert_string_equal(small, "");
    assert_int_equal(pps_server_format(NULL, 10, &a), PPS_EINVAL);
}

static void test_init_function_matches_macro(void **state)
{
    pps_server_address a, b = PPS_SERVER_ADDRESS_INIT;

    (void)state;
    memset(&a, 0x55, sizeof(a));
    pps_server_address_init(&a);
    assert_memory_equal(&a, &b, sizeof(a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_strings),
        cmocka_unit_test(test_bad_strings_name_the_text_and_the_fix),
        cmocka_unit_test(test_control_bytes_are_escaped_in_the_error),
        cmocka_unit_test(test_host_length_limit),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_init_function_matches_macro),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
