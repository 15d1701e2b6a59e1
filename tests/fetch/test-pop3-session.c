/*
 * test-pop3-session.c - whole POP3 sessions against a scripted server:
 * exact transcripts for lock-step and pipelined paths, STLS, plaintext
 * refusal, response codes, QUIT failures, timeouts and abort.
 */
#include "pop3-test.h"

#include <pthread.h>
#include <time.h>

static const char *const mailbox_inventory_lockstep[] = {
    "C:STAT\r\n",
    "S:+OK 2 320\r\n",
    "C:LIST\r\n",
    "S:+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n",
    "C:UIDL\r\n",
    "S:+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n",
    NULL};

static void check_inventory(pps_message_list *l)
{
    assert_int_equal(l->count, 2);
    assert_int_equal(l->entries[0].number, 1);
    assert_int_equal(l->entries[0].size, 120);
    assert_string_equal(l->entries[0].uid, "whqtswO00WBw418f9t5JxYwZ");
    assert_int_equal(l->entries[1].number, 2);
    assert_int_equal(l->entries[1].size, 200);
    assert_string_equal(l->entries[1].uid, "QhdPYR:00WBw1Ph7x7");
    assert_int_equal(l->entries[0].flags | l->entries[1].flags, 0);
    assert_int_equal(l->has_duplicate_uids, 0);
}

/* Lock-step: STLS, USER/PASS, inventory, two RETR, two DELE, QUIT. */
static void test_lockstep_session(void **state)
{
    static const char *const lines[] = {
        GREETING,
        "C:CAPA\r\n",
        "S:+OK\r\nUSER\r\nUIDL\r\nSTLS\r\nLOGIN-DELAY 900\r\n.\r\n",
        "C:STLS\r\n",
        "S:+OK Begin TLS negotiation\r\n",
        "TLS",
        "C:CAPA\r\n",
        "S:+OK\r\nUSER\r\nUIDL\r\nTOP\r\n.\r\n",
        LOGIN_USER,
        NULL};
    static const char *const rest[] = {
        "C:RETR 1\r\n",
        "S:+OK 120 octets\r\nSubject: one\r\n\r\n..dot\r\n.\r\n",
        "C:RETR 2\r\n",
        "S:+OK\r\nSubject: two\r\n\r\nbody\r\n.\r\n",
        "C:DELE 1\r\n",
        "S:+OK deleted\r\n",
        "C:DELE 2\r\n",
        "S:+OK deleted\r\n",
        "C:QUIT\r\n",
        "S:+OK bye\r\n",
        NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_server_address a;
    pps_message_list *l = NULL;
    pps_session *s;
    collected *c = calloc(1, sizeof(*c));
    unsigned int nums[] = {1, 2};
    size_t deleted = 0;

    (void)state;
    pps_test_script_lines(ts, mailbox_inventory_lockstep);
    pps_test_script_lines(ts, rest);
    test_options(&o);
    s = session_on(ts, &o);
    parse_addr(&a, "pop.test 110");
    assert_int_equal(pps_session_connect(s, &a), 0);
    /* The pre-TLS CAPA was forgotten: no STLS, no LOGIN-DELAY now. */
    assert_int_equal(pps_session_capabilities(s) & PPS_CAPA_STLS, 0);
    assert_int_equal(pps_session_login_delay(s), -1);
    assert_true(pps_session_capabilities(s) & PPS_CAPA_TOP);
    assert_int_equal(pps_session_login(s), 0);
    assert_string_equal(pps_session_auth_method(s), "USER");
    assert_int_equal(pps_session_inventory(&l, s), 0);
    check_inventory(l);
    assert_int_equal(pps_session_retrieve(s, nums, 2, &collect_cb, c), 0);
    assert_int_equal(c->begins, 2);
    assert_int_equal(c->ends, 2);
    assert_int_equal(c->statuses[0], 0);
    assert_int_equal(c->numbers[1], 2);
    assert_int_equal(c->len, strlen("Subject: one\r\n\r\n.dot\r\n"
                                    "Subject: two\r\n\r\nbody\r\n"));
    assert_memory_equal(c->buf,
                        "Subject: one\r\n\r\n.dot\r\nSubject: two\r\n\r\n"
                        "body\r\n",
                        c->len);
    assert_int_equal(c->octets[0], strlen("Subject: one\r\n\r\n.dot\r\n"));
    assert_int_equal(pps_session_delete(s, nums, 2, &deleted), 0);
    assert_int_equal(deleted, 2);
    assert_int_equal(pps_session_quit(s), 0);
    script_done(ts);
    assert_int_equal(pps_test_script_get_counts(ts).start_tls, 1);
    pps_message_list_free(l);
    pps_session_free(s);
    pps_test_script_free(ts);
    free(c);
}

/* PIPELINING: the inventory is one write, RETRs and DELEs go in batches. */
static void test_pipelined_session(void **state)
{
    static const char *const lines[] = {
        GREETING,
        CAPA_C,
        CAPA_PIPE_S,
        LOGIN_USER,
        "C:STAT\r\nLIST\r\nUIDL\r\n",
        "S:+OK 2 320\r\n+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n+OK\r\n"
        "1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n",
        "C:RETR 1\r\nRETR 2\r\n",
        "S:+OK\r\nA\r\n.\r\n+OK\r\nB\r\n.\r\n",
        "C:DELE 1\r\nDELE 2\r\n",
        "S:+OK\r\n+OK\r\n",
        "C:QUIT\r\n",
        "S:+OK\r\n",
        NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_message_list *l = NULL;
    pps_session *s;
    collected *c = calloc(1, sizeof(*c));
    unsigned int nums[] = {1, 2};

    (void)state;
    test_options(&o);
    s = session_on(ts, &o);
    assert_int_equal(connect_tls(s), 0);
    assert_true(pps_session_capabilities(s) & PPS_CAPA_PIPELINING);
    assert_int_equal(pps_session_login(s), 0);
    assert_int_equal(pps_session_inventory(&l, s), 0);
    check_inventory(l);
    assert_int_equal(pps_session_retrieve(s, nums, 2, &collect_cb, c), 0);
    assert_int_equal(c->len, 6);
    assert_memory_equal(c->buf, "A\r\nB\r\n", 6);
    assert_int_equal(pps_session_delete(s, nums, 2, NULL), 0);
    assert_int_equal(pps_session_quit(s), 0);
    script_done(ts);
    pps_message_list_free(l);
    pps_session_free(s);
    pps_test_script_free(ts);
    free(c);
}

/* A window of 4 over 10 DELEs: 4, then 2 more each time 2 are answered. */
static void test_dele_batching(void **state)
{
    static const char *const lines[] = {
        GREETING,
        CAPA_C,
        CAPA_PIPE_S,
        LOGIN_USER,
        "C:DELE 1\r\nDELE 2\r\nDELE 3\r\nDELE 4\r\n",
        "S:+OK\r\n+OK\r\n",
        "C:DELE 5\r\nDELE 6\r\n",
        "S:+OK\r\n-ERR [SYS/TEMP] busy\r\n",
        "C:DELE 7\r\nDELE 8\r\n",
        "S:+OK\r\n+OK\r\n",
        "C:DELE 9\r\nDELE 10\r\n",
        "S:+OK\r\n+OK\r\n+OK\r\n+OK\r\n",
        NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_session *s;
    unsigned int nums[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    size_t deleted = 0;

    (void)state;
    test_options(&o);
    o.pipeline_window = 4;
    s = session_on(ts, &o);
    assert_int_equal(connect_tls(s), 0);
    assert_int_equal(pps_session_login(s), 0);
    /* DELE 4 was refused: every DELE is still sent, the refusal reported. */
    assert_int_equal(pps_session_delete(s, nums, 10, &deleted), PPS_ETEMP);
    assert_int_equal(deleted, 9);
    error_contains("DELE 4");
    script_done(ts);
    pps_session_free(s);
    pps_test_script_free(ts);
}

/* pipeline_window = 1 turns pipelining off even when offered. */
static void test_window_one(void **state)
{
    static const char *const lines[] = {
        GREETING,    CAPA_C,         CAPA_PIPE_S, LOGIN_USER, "C:DELE 1\r\n",
        "S:+OK\r\n", "C:DELE 2\r\n", "S:+OK\r\n", NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_session *s;
    unsigned int nums[] = {1, 2};

    (void)state;
    test_options(&o);
    o.pipeline_window = 1;
    s = session_on(ts, &o);
    assert_int_equal(connect_tls(s), 0);
    assert_int_equal(pps_session_login(s), 0);
    assert_int_equal(pps_session_delete(s, nums, 2, NULL), 0);
    script_done(ts);
    pps_session_free(s);
    pps_test_script_free(ts);
}

static void test_small_commands(void **state)
{
    static const char *const lines[] = {GREETING,
                                        CAPA_C,
                                        CAPA_S,
                                        LOGIN_USER,
                                        "C:STAT\r\n",
                                        "S:+OK 3 4500 extra\r\n",
                                        "C:NOOP\r\n",
                                        "S:+OK\r\n",
                                        "C:RSET\r\n",
                                        "S:+OK maildrop has 3 messages\r\n",
                                        "C:TOP 2 0\r\n",
                                        "S:+OK\r\nSubject: x\r\n\r\n.\r\n",
                                        "C:QUIT\r\n",
                                        "S:+OK\r\n",
                                        NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_session *s;
    unsigned int count = 0;
    unsigned long long octets = 0;
    collected *c = calloc(1, sizeof(*c));

    (void)state;
    test_options(&o);
    s = session_on(ts, &o);
    assert_int_equal(connect_tls(s), 0);
    assert_int_equal(pps_session_login(s), 0);
    assert_int_equal(pps_session_stat(s, &count, &octets), 0);
    assert_int_equal(count, 3);
    assert_int_equal(octets, 4500);
    assert_int_equal(pps_session_noop(s), 0);
    assert_int_equal(pps_session_rset(s), 0);
    assert_int_equal(pps_session_top(s, 2, 0, &collect_cb, c), 0);
    assert_int_equal(c->len, 14);
    assert_int_equal(pps_session_quit(s), 0);
    /* Closed now: commands refuse cleanly. */
    assert_int_equal(pps_session_noop(s), PPS_EINVAL);
    script_done(ts);
    assert_int_equal(pps_test_script_get_counts(ts).closes, 1);
    pps_session_free(s);
    pps_test_script_free(ts);
    free(c);
}

/* STLS required (the default) but not offered: fail, send no USER. */
static void test_stls_required_not_offered(void **state)
{
    static const char *const lines[] = {GREETING, CAPA_C, CAPA_S, NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_server_address a;
    pps_session *s;

    (void)state;
    test_options(&o);
    s = session_on(ts, &o);
    parse_addr(&a, "pop.test");
    assert_int_equal(pps_session_connect(s, &a), PPS_ETLS);
    error_contains("does not offer STLS");
    error_contains("stls");
    assert_int_equal(pps_session_login(s), PPS_EINVAL);
    script_done(ts);
    assert_int_equal(pps_test_script_get_counts(ts).writes, 1);
    pps_session_free(s);
    pps_test_script_free(ts);
}

/* Bytes after the +OK to STLS are an injection: both where they sit in
 * our buffer (one read) and where they still sit in the transport. */
static void test_stls_injection(void **state)
{
    static const char *const lines[] = {GREETING,
                                        CAPA_C,
                                        "S:+OK\r\nSTLS\r\nUSER\r\n.\r\n",
                                        "C:STLS\r\n",
                                        "S:+OK Begin TLS\r\n+OK injected\r\n",
                                        "TLS",
                                        NULL};
    size_t chunk;

    (void)state;
    for (chunk = 0; chunk <= 1; chunk++) {
        pps_test_script *ts = script_of(lines);
        pps_session_options o;
        pps_server_address a;
        pps_session *s;

        pps_test_script_set_chunk(ts, chunk);
        test_options(&o);
        s = session_on(ts, &o);
        parse_addr(&a, "pop.test 110");
        assert_int_equal(pps_session_connect(s, &a), PPS_ETLS);
        if (chunk == 0)
            error_contains("injection");
        assert_null(pps_test_script_error(ts));
        pps_session_free(s);
        pps_test_script_free(ts);
    }
}

static void test_stls_policies(void **state)
{
    static const char *const never[] = {GREETING, CAPA_C,
                                        "S:+OK\r\nSTLS\r\nUSER\r\n.\r\n", NULL};
    static const char *const refused[] = {GREETING,
                                          CAPA_C,
                                          "S:+OK\r\nSTLS\r\nUSER\r\n.\r\n",
                                          "C:STLS\r\n",
                                          "S:-ERR not now\r\n",
                                          NULL};
    pps_session_options o;
    pps_server_address a;
    pps_session *s;
    pps_test_script *ts;

    (void)state;
    parse_addr(&a, "pop.test");
    /* never: STLS offered, not used. */
    ts = script_of(never);
    test_options(&o);
    o.stls = PPS_STLS_NEVER;
    s = session_on(ts, &o);
    assert_int_equal(pps_session_connect(s, &a), 0);
    script_done(ts);
    pps_session_free(s);
    pps_test_script_free(ts);
    /* if-offered, refused: go on plain. */
    ts = script_of(refused);
    o.stls = PPS_STLS_IF_OFFERED;
    s = session_on(ts, &o);
    assert_int_equal(pps_session_connect(s, &a), 0);
    script_done(ts);
    pps_session_free(s);
    pps_test_script_free(ts);
    /* required, refused: fail. */
    ts = script_of(refused);
    o.stls = PPS_STLS_REQUIRED;
    s = session_on(ts, &o);
    assert_int_equal(pps_session_connect(s, &a), PPS_ETLS);
    error_contains("refused STLS");
    assert_string_equal(pps_error_last()->server, "not now");
    pps_session_free(s);
    pps_test_script_free(ts);
    /* if-offered, not offered: plain. */
    {
        static const char *const plain[] = {GREETING, CAPA_C, CAPA_S, NULL};
        ts = script_of(plain);
        o.stls = PPS_STLS_IF_OFFERED;
        s = session_on(ts, &o);
        assert_int_equal(pps_session_connect(s, &a), 0);
        script_done(ts);
        pps_session_free(s);
        pps_test_script_free(ts);
    }
}

/* No TLS, password methods only: refuse before sending anything. */
static void test_plaintext_refused(void **state)
{
    static const char *const lines[] = {GREETING, CAPA_C, CAPA_S, NULL};
    static const char *const allowed[] = {GREETING, CAPA_C, CAPA_S, LOGIN_USER,
                                          NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_server_address a;
    pps_session *s;

    (void)state;
    test_options(&o);
    o.stls = PPS_STLS_NEVER;
    parse_addr(&a, "pop.test 110");
    s = session_on(ts, &o);
    assert_int_equal(pps_session_connect(s, &a), 0);
    assert_int_equal(pps_session_login(s), PPS_ECONFIG);
    error_contains("allow_plaintext_password");
    assert_null(strstr(pps_error_last()->message, "secret"));
    script_done(ts);
    pps_session_free(s);
    pps_test_script_free(ts);

    ts = script_of(allowed);
    o.allow_plaintext_password = 1;
    s = session_on(ts, &o);
    assert_int_equal(pps_session_connect(s, &a), 0);
    assert_int_equal(pps_session_login(s), 0);
    script_done(ts);
    pps_session_free(s);
    pps_test_script_free(ts);
}

static void test_quit_refused(void **state)
{
    static const char *const lines[] = {
        GREETING,
        CAPA_C,
        CAPA_S,
        LOGIN_USER,
        "C:DELE 1\r\n",
        "S:+OK\r\n",
        "C:QUIT\r\n",
        "S:-ERR [SYS/PERM] could not remove messages\r\n",
        NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_session *s;
    unsigned int one = 1;

    (void)state;
    test_options(&o);
    s = session_on(ts, &o);
    assert_int_equal(connect_tls(s), 0);
    assert_int_equal(pps_session_login(s), 0);
    assert_int_equal(pps_session_delete(s, &one, 1, NULL), 0);
    assert_int_equal(pps_session_quit(s), PPS_EPERM);
    error_contains("not committed");
    assert_string_equal(pps_error_last()->server,
                        "[SYS/PERM] could not remove messages");
    script_done(ts);
    pps_session_free(s);
    pps_test_script_free(ts);
}

/* Extended response codes to PASS, and the plain -ERR. */
static void test_response_codes(void **state)
{
    static const struct {
        const char *reply;
        int code;
        pps_response_code resp;
    } rows[] = {
        {"S:-ERR [IN-USE] locked\r\n", PPS_ETEMP, PPS_RESP_IN_USE},
        {"S:-ERR [LOGIN-DELAY] wait\r\n", PPS_ETEMP, PPS_RESP_LOGIN_DELAY},
        {"S:-ERR [SYS/TEMP] later\r\n", PPS_ETEMP, PPS_RESP_SYS_TEMP},
        {"S:-ERR [SYS/TEMP/DISK] later\r\n", PPS_ETEMP, PPS_RESP_SYS_TEMP},
        {"S:-ERR [AUTH] bad password\r\n", PPS_EAUTH, PPS_RESP_AUTH},
        {"S:-ERR [SYS/PERM] account closed\r\n", PPS_EPERM, PPS_RESP_SYS_PERM},
        {"S:-ERR [X-NEW] who knows\r\n", PPS_EAUTH, PPS_RESP_OTHER},
        {"S:-ERR invalid password\r\n", PPS_EAUTH, PPS_RESP_NONE},
        {"S:-ERR\r\n", PPS_EAUTH, PPS_RESP_NONE},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *lines[] = {GREETING,      CAPA_C,
                               CAPA_S,        "C:USER alice\r\n",
                               "S:+OK\r\n",   "C:PASS secret\r\n",
                               rows[i].reply, NULL};
        pps_test_script *ts = script_of(lines);
        pps_session_options o;
        pps_session *s;
        int err;

        test_options(&o);
        s = session_on(ts, &o);
        assert_int_equal(connect_tls(s), 0);
        err = pps_session_login(s);
        if (err != rows[i].code || pps_session_response_code(s) != rows[i].resp)
            fail_msg("row %zu (%s): got %d/%d", i, rows[i].reply, err,
                     (int)pps_session_response_code(s));
        assert_int_equal(pps_error_is_temporary(err), err == PPS_ETEMP);
        assert_null(strstr(pps_error_last()->message, "secret"));
        script_done(ts);
        pps_session_free(s);
        pps_test_script_free(ts);
    }
}

static void test_login_delay_and_greeting(void **state)
{
    static const char *const lines[] = {
        GREETING, CAPA_C,
        "S:+OK\r\nUSER\r\nLOGIN-DELAY 900\r\nSASL PLAIN LOGIN\r\n"
        "RESP-CODES\r\nAUTH-RESP-CODE\r\nEXPIRE 30\r\n.\r\n",
        NULL};
    static const char *const busy[] = {
        "S:-ERR [SYS/TEMP] too many connections\r\n", NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_session *s;

    (void)state;
    test_options(&o);
    s = session_on(ts, &o);
    assert_int_equal(connect_tls(s), 0);
    assert_int_equal(pps_session_login_delay(s), 900);
    assert_string_equal(pps_session_sasl_mechanisms(s), "PLAIN LOGIN");
    assert_true(pps_session_capabilities(s) & PPS_CAPA_RESP_CODES);
    assert_true(pps_session_capabilities(s) & PPS_CAPA_EXPIRE);
    pps_session_free(s);
    pps_test_script_free(ts);

    ts = script_of(busy);
    s = session_on(ts, &o);
    assert_int_equal(connect_tls(s), PPS_ETEMP);
    assert_string_equal(pps_error_last()->server,
                        "[SYS/TEMP] too many connections");
    pps_session_free(s);
    pps_test_script_free(ts);
}

/* A CAPA refused (RFC 1939 server): no capabilities, USER still works. */
static void test_no_capa(void **state)
{
    static const char *const lines[] = {"S:+OK ready <1.2@pop.test>\r\n",
                                        "C:CAPA\r\n", "S:-ERR what?\r\n",
                                        LOGIN_USER, NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_session *s;

    (void)state;
    test_options(&o);
    o.auth_method = "user";
    s = session_on(ts, &o);
    assert_int_equal(connect_tls(s), 0);
    assert_int_equal(pps_session_capabilities(s), PPS_CAPA_APOP);
    assert_int_equal(pps_session_login(s), 0);
    script_done(ts);
    pps_session_free(s);
    pps_test_script_free(ts);
}

static long long now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void test_read_timeout(void **state)
{
    static const char *const lines[] = {GREETING, CAPA_C, "STALL", NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_session *s;
    long long t0;

    (void)state;
    test_options(&o);
    o.read_timeout_ms = 100;
    s = session_on(ts, &o);
    t0 = now_ms();
    assert_int_equal(connect_tls(s), PPS_ETIMEOUT);
    assert_true(now_ms() - t0 < 1000);
    error_contains("within 100 ms");
    error_contains("CAPA");
    assert_int_equal(pps_session_quit(s), PPS_ENET);
    pps_session_free(s);
    pps_test_script_free(ts);
}

static void test_session_deadline(void **state)
{
    static const char *const lines[] = {GREETING, CAPA_C, "STALL", NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_session *s;
    long long t0;

    (void)state;
    test_options(&o);
    o.read_timeout_ms = 10000;
    o.session_timeout_ms = 150;
    s = session_on(ts, &o);
    t0 = now_ms();
    assert_int_equal(connect_tls(s), PPS_ETIMEOUT);
    assert_true(now_ms() - t0 < 1000);
    error_contains("deadline");
    pps_session_free(s);
    pps_test_script_free(ts);
}

static void *abort_later(void *arg)
{
    struct timespec t = {0, 100 * 1000000L};

    nanosleep(&t, NULL);
    pps_session_abort(arg);
    return NULL;
}

static void test_abort_from_thread(void **state)
{
    static const char *const lines[] = {GREETING, CAPA_C, "STALL", NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_session *s;
    pthread_t th;
    long long t0;

    (void)state;
    test_options(&o);
    o.read_timeout_ms = 30000;
    s = session_on(ts, &o);
    assert_int_equal(pthread_create(&th, NULL, abort_later, s), 0);
    t0 = now_ms();
    assert_int_equal(connect_tls(s), PPS_EABORTED);
    assert_true(now_ms() - t0 < 2000);
    pthread_join(th, NULL);
    pps_session_free(s);
    pps_test_script_free(ts);
}

/* Abort from inside a data callback: the next check stops the session. */
static void test_abort_from_callback(void **state)
{
    static const char *const lines[] = {GREETING,
                                        CAPA_C,
                                        CAPA_PIPE_S,
                                        LOGIN_USER,
                                        "C:RETR 1\r\nRETR 2\r\n",
                                        "S:+OK\r\nA\r\n.\r\n",
                                        NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_session *s;
    collected *c = calloc(1, sizeof(*c));
    unsigned int nums[] = {1, 2};

    (void)state;
    test_options(&o);
    s = session_on(ts, &o);
    assert_int_equal(connect_tls(s), 0);
    assert_int_equal(pps_session_login(s), 0);
    c->abort = s;
    assert_int_equal(pps_session_retrieve(s, nums, 2, &collect_cb, c),
                     PPS_EABORTED);
    assert_int_equal(c->begins, 1);
    assert_int_equal(pps_session_quit(s), PPS_ENET);
    error_contains("not committed");
    pps_session_free(s);
    pps_test_script_free(ts);
    free(c);
}

/* A callback that says stop: replies in flight are drained, session OK. */
static void test_callback_stop_drains(void **state)
{
    static const char *const lines[] = {
        GREETING,
        CAPA_C,
        CAPA_PIPE_S,
        LOGIN_USER,
        "C:RETR 1\r\nRETR 2\r\nRETR 3\r\n",
        "S:+OK\r\nA\r\n.\r\n+OK\r\nB\r\n.\r\n-ERR gone\r\n",
        "C:QUIT\r\n",
        "S:+OK\r\n",
        NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_session *s;
    collected *c = calloc(1, sizeof(*c));
    unsigned int nums[] = {1, 2, 3};

    (void)state;
    test_options(&o);
    s = session_on(ts, &o);
    assert_int_equal(connect_tls(s), 0);
    assert_int_equal(pps_session_login(s), 0);
    c->stop_at_begin = 1;
    assert_int_equal(pps_session_retrieve(s, nums, 3, &collect_cb, c),
                     PPS_EUSER);
    assert_int_equal(c->ends, 1);
    assert_int_equal(c->statuses[0], PPS_EUSER);
    assert_int_equal(c->len, 0);
    assert_int_equal(pps_session_quit(s), 0);
    script_done(ts);
    pps_session_free(s);
    pps_test_script_free(ts);
    free(c);
}

/* A refused RETR is reported to end; the others go on. */
static void test_retr_refused(void **state)
{
    static const char *const lines[] = {GREETING,
                                        CAPA_C,
                                        CAPA_S,
                                        LOGIN_USER,
                                        "C:RETR 1\r\n",
                                        "S:-ERR [SYS/TEMP] try later\r\n",
                                        "C:RETR 2\r\n",
                                        "S:+OK\r\nB\r\n.\r\n",
                                        NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_session *s;
    collected *c = calloc(1, sizeof(*c));
    unsigned int nums[] = {1, 2};

    (void)state;
    test_options(&o);
    s = session_on(ts, &o);
    assert_int_equal(connect_tls(s), 0);
    assert_int_equal(pps_session_login(s), 0);
    assert_int_equal(pps_session_retrieve(s, nums, 2, &collect_cb, c), 0);
    assert_int_equal(c->begins, 1);
    assert_int_equal(c->ends, 2);
    assert_int_equal(c->statuses[0], PPS_ETEMP);
    assert_int_equal(c->statuses[1], 0);
    script_done(ts);
    pps_session_free(s);
    pps_test_script_free(ts);
    free(c);
}

/* The transcript: secrets never reach the log. */
static char logged[8192];
static void capture(pps_log_level level, const char *profile,
                    const char *message, void *payload)
{
    (void)level;
    (void)payload;
    (void)profile;
    size_t have = strlen(logged), n = strlen(message);

    if (have + n + 2 < sizeof(logged)) {
        memcpy(logged + have, message, n);
        memcpy(logged + have + n, "\n", 2);
    }
}

static void test_transcript_masks_secrets(void **state)
{
    static const char *const lines[] = {GREETING, CAPA_C, CAPA_S, LOGIN_USER,
                                        NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_session *s;

    (void)state;
    logged[0] = '\0';
    pps_log_set(capture, PPS_LOG_TRACE, NULL);
    test_options(&o);
    o.log_context = "work";
    s = session_on(ts, &o);
    assert_int_equal(connect_tls(s), 0);
    assert_int_equal(pps_session_login(s), 0);
    pps_log_set(NULL, PPS_LOG_ERROR, NULL);
    assert_non_null(strstr(logged, "--> USER alice\n"));
    assert_non_null(strstr(logged, "--> PASS <hidden>\n"));
    assert_non_null(strstr(logged, "<-- +OK POP3 ready\n"));
    assert_null(strstr(logged, "secret"));
    pps_session_free(s);
    pps_test_script_free(ts);
}

static void test_bad_arguments(void **state)
{
    static const char *const lines[] = {NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_session *s = NULL;

    (void)state;
    test_options(&o);
    o.password = "a\r\nDELE 1";
    assert_int_equal(pps_session_new(&s, pps_test_script_transport(ts), &o),
                     PPS_EINVAL);
    assert_null(s);
    test_options(&o);
    o.auth_method = "kerberos";
    assert_int_equal(pps_session_new(&s, pps_test_script_transport(ts), &o),
                     PPS_EINVAL);
    error_contains("kerberos");
    test_options(&o);
    o.pipeline_window = 65;
    assert_int_equal(pps_session_new(&s, pps_test_script_transport(ts), &o),
                     PPS_EINVAL);
    o.pipeline_window = 0;
    o.version = 99;
    assert_int_equal(pps_session_new(&s, pps_test_script_transport(ts), &o),
                     PPS_EINVAL);
    assert_int_equal(pps_session_new(&s, NULL, NULL), PPS_EINVAL);
    /* NULL options: defaults; without a user the login is refused. */
    {
        static const char *const lines2[] = {GREETING, CAPA_C, CAPA_S, NULL};
        pps_test_script *ts2 = script_of(lines2);
        assert_int_equal(
            pps_session_new(&s, pps_test_script_transport(ts2), NULL), 0);
        assert_int_equal(connect_tls(s), 0);
        assert_int_equal(pps_session_login(s), PPS_EINVAL);
        error_contains("no user name");
        pps_session_free(s);
        pps_test_script_free(ts2);
    }
    pps_session_free(NULL);
    pps_message_list_free(NULL);
    pps_test_script_free(ts);
}

/* A refused STAT in a pipelined inventory: the rest is read and dropped,
 * the error returned, and the session stays usable. */
static void test_inventory_refused_drains(void **state)
{
    static const char *const lines[] = {
        GREETING,
        CAPA_C,
        CAPA_PIPE_S,
        LOGIN_USER,
        "C:STAT\r\nLIST\r\nUIDL\r\n",
        "S:-ERR [SYS/TEMP] busy\r\n+OK\r\n1 10\r\n.\r\n+OK\r\n1 a\r\n.\r\n",
        "C:QUIT\r\n",
        "S:+OK\r\n",
        NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_session *s;
    pps_message_list *l = (pps_message_list *)1;

    (void)state;
    test_options(&o);
    s = session_on(ts, &o);
    assert_int_equal(connect_tls(s), 0);
    assert_int_equal(pps_session_login(s), 0);
    assert_int_equal(pps_session_inventory(&l, s), PPS_ETEMP);
    assert_null(l);
    assert_int_equal(pps_session_response_code(s), PPS_RESP_NONE);
    error_contains("STAT");
    assert_int_equal(pps_session_quit(s), 0);
    script_done(ts);
    pps_session_free(s);
    pps_test_script_free(ts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lockstep_session),
        cmocka_unit_test(test_pipelined_session),
        cmocka_unit_test(test_dele_batching),
        cmocka_unit_test(test_window_one),
        cmocka_unit_test(test_small_commands),
        cmocka_unit_test(test_stls_required_not_offered),
        cmocka_unit_test(test_stls_injection),
        cmocka_unit_test(test_stls_policies),
        cmocka_unit_test(test_plaintext_refused),
        cmocka_unit_test(test_quit_refused),
        cmocka_unit_test(test_response_codes),
        cmocka_unit_test(test_login_delay_and_greeting),
        cmocka_unit_test(test_no_capa),
        cmocka_unit_test(test_read_timeout),
        cmocka_unit_test(test_session_deadline),
        cmocka_unit_test(test_abort_from_thread),
        cmocka_unit_test(test_abort_from_callback),
        cmocka_unit_test(test_callback_stop_drains),
        cmocka_unit_test(test_retr_refused),
        cmocka_unit_test(test_transcript_masks_secrets),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_inventory_refused_drains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
