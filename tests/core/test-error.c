/*
 * test-error.c - the per-thread error detail and the code table.
 */
#include "../helpers/pps-test.h"

#include <pthread.h>

#include "pps/errors.h"
#include "core/internal.h"

static void test_last_is_never_null(void **state)
{
    const pps_error *e;

    (void)state;
    pps_error_clear();
    e = pps_error_last();
    assert_non_null(e);
    assert_int_equal(e->code, PPS_OK);
    assert_string_equal(e->message, "");
    assert_string_equal(e->server, "");
}

static void test_set_returns_code_and_formats(void **state)
{
    (void)state;
    assert_int_equal(
        pps__error_set(PPS_ECONFIG, "file %s, line %d", "a.conf", 7),
        PPS_ECONFIG);
    assert_int_equal(pps_error_last()->code, PPS_ECONFIG);
    assert_string_equal(pps_error_last()->message, "file a.conf, line 7");
}

static void test_long_message_is_cut_with_marker(void **state)
{
    char big[2000];
    const char *m;

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pps__error_set(PPS_ERROR, "%s", big);
    m = pps_error_last()->message;
    assert_int_equal(strlen(m), PPS__ERROR_MESSAGE_MAX - 1);
    assert_string_equal(m + strlen(m) - 3, "...");
}

static void test_server_text_is_sanitised_and_kept_apart(void **state)
{
    static const char raw[] = "-ERR [AUTH] bad\r\n\x01\xff";

    (void)state;
    pps__error_set(PPS_EAUTH, "authentication failed");
    pps__error_set_server(raw, sizeof(raw) - 1);
    assert_string_equal(pps_error_last()->message, "authentication failed");
    assert_string_equal(pps_error_last()->server, "-ERR [AUTH] bad????");
    /* A new error forgets the old server text. */
    pps__error_set(PPS_ENET, "dropped");
    assert_string_equal(pps_error_last()->server, "");
}

static void test_server_text_is_truncated(void **state)
{
    char *raw;

    (void)state;
    raw = malloc(1000);
    assert_non_null(raw);
    memset(raw, 'a', 1000);
    pps__error_set_server(raw, 1000);
    assert_int_equal(strlen(pps_error_last()->server), PPS__ERROR_SERVER_MAX);
    free(raw);
}

static void *other_thread(void *arg)
{
    (void)arg;
    pps__error_set(PPS_ETLS, "in the other thread");
    return NULL;
}

static void test_detail_is_per_thread(void **state)
{
    pthread_t t;

    (void)state;
    pps__error_set(PPS_EAUTH, "in the main thread");
    assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(pps_error_last()->code, PPS_EAUTH);
    assert_string_equal(pps_error_last()->message, "in the main thread");
}

static void test_every_code_has_its_own_text(void **state)
{
    int a, b;

    (void)state;
    for (a = PPS_EUNSUPPORTED; a <= PPS_OK; a++) {
        assert_string_not_equal(pps_strerror(a), "unknown error code");
        for (b = a + 1; b <= PPS_OK; b++)
            assert_string_not_equal(pps_strerror(a), pps_strerror(b));
    }
    assert_string_equal(pps_strerror(PPS_EUNSUPPORTED - 1),
                        "unknown error code");
    assert_string_equal(pps_strerror(1), "unknown error code");
}

static void test_temporary_classification(void **state)
{
    (void)state;
    assert_true(pps_error_is_temporary(PPS_ENET));
    assert_true(pps_error_is_temporary(PPS_ETIMEOUT));
    assert_true(pps_error_is_temporary(PPS_ETEMP));
    assert_false(pps_error_is_temporary(PPS_EAUTH));
    assert_false(pps_error_is_temporary(PPS_ETLS));
    assert_false(pps_error_is_temporary(PPS_ECONFIG));
    assert_false(pps_error_is_temporary(PPS_EPERM));
    assert_false(pps_error_is_temporary(PPS_OK));
}

static void test_quote_escapes_and_cuts(void **state)
{
    char buf[16];
    char *in;

    (void)state;
    in = pps_test_exact_copy("a\"b\\c\n\x80", 7);
    assert_string_equal(pps__quote(buf, sizeof(buf), in, 7),
                        "\"a\\\"b\\\\c...\"");
    free(in);
    in = pps_test_exact_copy("ok", 2);
    assert_string_equal(pps__quote(buf, sizeof(buf), in, 2), "\"ok\"");
    free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last_is_never_null),
        cmocka_unit_test(test_set_returns_code_and_formats),
        cmocka_unit_test(test_long_message_is_cut_with_marker),
        cmocka_unit_test(test_server_text_is_sanitised_and_kept_apart),
        cmocka_unit_test(test_server_text_is_truncated),
        cmocka_unit_test(test_detail_is_per_thread),
        cmocka_unit_test(test_every_code_has_its_own_text),
        cmocka_unit_test(test_temporary_classification),
        cmocka_unit_test(test_quote_escapes_and_cuts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
