/*
 * test-pop3-alloc.c - a whole POP3 session with the Nth allocation failing,
 * for every N until the session succeeds: each run must fail with
 * PPS_ENOMEM (never crash, never report success wrongly) and, under
 * AddressSanitizer, leak nothing.
 */
#include "pop3-test.h"

#include "core/internal.h"

static const char *const session[] = {
    GREETING,
    CAPA_C,
    "S:+OK\r\nUSER\r\nUIDL\r\nPIPELINING\r\nSASL PLAIN\r\n.\r\n",
    "C:AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
    "S:+OK\r\n",
    "C:STAT\r\nLIST\r\nUIDL\r\n",
    "S:+OK 3 30\r\n+OK\r\n1 10\r\n2 20\r\n3 5\r\n.\r\n+OK\r\n1 a\r\n2 b\r\n"
    "3 a\r\n.\r\n",
    "C:RETR 1\r\nRETR 2\r\n",
    "S:+OK\r\nx\r\n.\r\n+OK\r\ny\r\n.\r\n",
    "C:DELE 1\r\nDELE 2\r\n",
    "S:+OK\r\n+OK\r\n",
    "C:QUIT\r\n",
    "S:+OK\r\n",
    NULL};

static int run(pps_test_script *ts, collected *c)
{
    pps_session_options o;
    pps_session *s = NULL;
    pps_message_list *l = NULL;
    unsigned int nums[] = {1, 2};
    int err;

    test_options(&o);
    o.log_context = "alloc";
    if ((err = pps_session_new(&s, pps_test_script_transport(ts), &o)) < 0)
        return err;
    if ((err = connect_tls(s)) == 0 && (err = pps_session_login(s)) == 0 &&
        (err = pps_session_inventory(&l, s)) == 0 &&
        (err = pps_session_retrieve(s, nums, 2, &collect_cb, c)) == 0 &&
        (err = pps_session_delete(s, nums, 2, NULL)) == 0)
        err = pps_session_quit(s);
    if (err == 0) {
        assert_int_equal(l->count, 3);
        assert_int_equal(l->has_duplicate_uids, 1);
    }
    pps_message_list_free(l);
    pps_session_free(s);
    return err;
}

static void test_fail_every_allocation(void **state)
{
    long n;
    int err = PPS_ENOMEM;

    (void)state;
    for (n = 0; n < 1000 && err == PPS_ENOMEM; n++) {
        pps_test_script *ts = script_of(session);
        collected *c = calloc(1, sizeof(*c));
        pps__alloc_fail_after(n);
        err = run(ts, c);
        pps__alloc_fail_after(-1);
        if (err != 0 && err != PPS_ENOMEM)
            fail_msg("allocation %ld failing gave %d: %s", n, err,
                     pps_error_last()->message);
        if (err == 0)
            script_done(ts);
        pps_test_script_free(ts);
        free(c);
    }
    assert_int_equal(err, 0);
    /* The session allocates a little: at least the session, the user,
     * the context, the list, its entries, three UIDs and a SASL buffer. */
    assert_true(n > 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_every_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
