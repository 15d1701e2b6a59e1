/*
 * test-pop3-hostile.c - servers that lie, babble, stall or hang up.
 *
 * Each gets a clear error naming the command and quoting the bad line,
 * never a crash, a hang or an unbounded allocation.  A whole session is
 * also cut at every byte offset.
 */
#include "pop3-test.h"

enum { DO_CONNECT, DO_INVENTORY, DO_RETRIEVE, DO_STAT };

typedef struct hostile_case {
    const char *name;
    int action;
    const char *steps[14];
    int result;
    const char *hint; /* in the error message */
} hostile_case;

#define LOGGED_IN GREETING, CAPA_C, CAPA_S, LOGIN_USER
#define INV_PIPE  "C:STAT\r\n"

static const hostile_case cases[] = {
    {"garbage greeting",
     DO_CONNECT,
     {"S:HELLO THERE\r\n"},
     PPS_EPROTO,
     "greeting from pop.test is neither +OK nor -ERR: \"HELLO THERE\""},
    {"binary greeting",
     DO_CONNECT,
     {"S:\x01\x02\xff\r\n"},
     PPS_EPROTO,
     "\\x01\\x02\\xff"},
    {"NUL in a status line", DO_CONNECT, {"S:+OK a\0b\r\n"}, PPS_EPROTO, "NUL"},
    {"no greeting at all",
     DO_CONNECT,
     {"EOF"},
     PPS_ENET,
     "closed the connection"},
    {"greeting without a line end",
     DO_CONNECT,
     {"S:+OK", "EOF"},
     PPS_ENET,
     "greeting"},
    {"overlong CAPA line",
     DO_CONNECT,
     {GREETING, CAPA_C,
      "S:+OK\r\n"
      "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
      "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
      "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
      "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
      "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
      "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
      "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
      "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
      "\r\n.\r\n"},
     PPS_EPROTO,
     "reply to CAPA from pop.test is too long"},
    {"endless line without CRLF",
     DO_CONNECT,
     {"S:+OK "
      "YYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYY"
      "YYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYY"
      "YYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYY"
      "YYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYY"
      "YYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYY"
      "YYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYY"
      "YYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYY"
      "YYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYY",
      "STALL"},
     PPS_EPROTO,
     "longer than 512 octets"},
    {"STAT garbage",
     DO_STAT,
     {LOGGED_IN, "C:STAT\r\n", "S:+OK lots\r\n"},
     PPS_EPROTO,
     "reply to STAT from pop.test is not \"+OK n size\": \"+OK "
     "lots\""},
    {"STAT count overflows",
     DO_INVENTORY,
     {LOGGED_IN, "C:STAT\r\n", "S:+OK 99999999999999999999999 0\r\n"},
     PPS_EPROTO,
     "STAT"},
    {"STAT count huge",
     DO_INVENTORY,
     {LOGGED_IN, "C:STAT\r\n", "S:+OK 4294967295 1\r\n"},
     PPS_ETOOBIG,
     "4294967295 messages"},
    {"LIST number out of range",
     DO_INVENTORY,
     {LOGGED_IN, "C:STAT\r\n", "S:+OK 1 100\r\n", "C:LIST\r\n",
      "S:+OK\r\n1 100\r\n7 100\r\n.\r\n"},
     PPS_EPROTO,
     "LIST from pop.test names a message number out of range: "
     "\"7 100\""},
    {"LIST number zero",
     DO_INVENTORY,
     {LOGGED_IN, "C:STAT\r\n", "S:+OK 1 100\r\n", "C:LIST\r\n",
      "S:+OK\r\n0 100\r\n.\r\n"},
     PPS_EPROTO,
     "out of range"},
    {"LIST repeats a number",
     DO_INVENTORY,
     {LOGGED_IN, "C:STAT\r\n", "S:+OK 2 100\r\n", "C:LIST\r\n",
      "S:+OK\r\n1 100\r\n1 100\r\n.\r\n"},
     PPS_EPROTO,
     "repeats"},
    {"LIST garbage line",
     DO_INVENTORY,
     {LOGGED_IN, "C:STAT\r\n", "S:+OK 2 100\r\n", "C:LIST\r\n",
      "S:+OK\r\n1 lots\r\n.\r\n"},
     PPS_EPROTO,
     "LIST"},
    {"LIST size overflows",
     DO_INVENTORY,
     {LOGGED_IN, "C:STAT\r\n", "S:+OK 2 100\r\n", "C:LIST\r\n",
      "S:+OK\r\n1 184467440737095516160\r\n.\r\n"},
     PPS_EPROTO,
     "LIST"},
    {"LIST refused",
     DO_INVENTORY,
     {LOGGED_IN, "C:STAT\r\n", "S:+OK 2 100\r\n", "C:LIST\r\n",
      "S:-ERR no\r\n"},
     PPS_EPERM,
     "LIST"},
    {"UIDL for a message LIST did not give",
     DO_INVENTORY,
     {LOGGED_IN, "C:STAT\r\n", "S:+OK 2 100\r\n", "C:LIST\r\n",
      "S:+OK\r\n1 100\r\n.\r\n", "C:UIDL\r\n", "S:+OK\r\n2 abc\r\n.\r\n"},
     PPS_EPROTO,
     "UIDL"},
    {"UIDL line without uid",
     DO_INVENTORY,
     {LOGGED_IN, "C:STAT\r\n", "S:+OK 2 100\r\n", "C:LIST\r\n",
      "S:+OK\r\n1 100\r\n.\r\n", "C:UIDL\r\n", "S:+OK\r\n1\r\n.\r\n"},
     PPS_EPROTO,
     "is not \"n uid\""},
    {"list never ends",
     DO_INVENTORY,
     {LOGGED_IN, "C:STAT\r\n", "S:+OK 2 100\r\n", "C:LIST\r\n",
      "S:+OK\r\n1 100\r\n", "EOF"},
     PPS_ENET,
     "LIST"},
    {"RETR without terminator",
     DO_RETRIEVE,
     {LOGGED_IN, "C:RETR 1\r\n", "S:+OK\r\nSubject: x\r\n\r\nbody\r\n", "EOF"},
     PPS_ENET,
     "RETR"},
    {"RETR garbage status",
     DO_RETRIEVE,
     {LOGGED_IN, "C:RETR 1\r\n", "S:Subject: x\r\n"},
     PPS_EPROTO,
     "reply to RETR"},
};

static int act(pps_session *s, int action, collected *c)
{
    pps_message_list *l = NULL;
    unsigned int one = 1, count;
    unsigned long long octets;
    int err;

    if ((err = connect_tls(s)) < 0 || action == DO_CONNECT)
        return err;
    if ((err = pps_session_login(s)) < 0)
        return err;
    switch (action) {
    case DO_INVENTORY:
        err = pps_session_inventory(&l, s);
        assert_true(err < 0 || l != NULL);
        pps_message_list_free(l);
        return err;
    case DO_RETRIEVE:
        return pps_session_retrieve(s, &one, 1, &collect_cb, c);
    default:
        return pps_session_stat(s, &count, &octets);
    }
}

static void test_hostile_table(void **state)
{
    size_t i, k;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pps_test_script *ts = pps_test_script_new();
        pps_session_options o;
        pps_session *s;
        collected *c = calloc(1, sizeof(*c));
        int err;

        for (k = 0; k < 14 && cases[i].steps[k]; k++) {
            const char *st = cases[i].steps[k];
            /* The NUL case needs its exact length. */
            if (strcmp(cases[i].name, "NUL in a status line") == 0)
                pps_test_script_add(ts, PPS_TS_SEND, "+OK a\0b\r\n", 9);
            else if (strcmp(cases[i].name, "endless CAPA") == 0 &&
                     strcmp(st, "STALL") == 0) {
                int line;
                for (line = 0; line < 300; line++)
                    pps_test_script_add(ts, PPS_TS_SEND, "X-CAP\r\n", 7);
                pps_test_script_add(ts, PPS_TS_STALL, "", 0);
            } else {
                const char *one[] = {st, NULL};
                pps_test_script_lines(ts, one);
            }
        }
        test_options(&o);
        o.read_timeout_ms = 300;
        s = session_on(ts, &o);
        err = act(s, cases[i].action, c);
        if (err != cases[i].result ||
            !strstr(pps_error_last()->message, cases[i].hint) ||
            pps_test_script_error(ts))
            fail_msg("row %zu (%s): %d \"%s\" (script: %s)", i, cases[i].name,
                     err, pps_error_last()->message,
                     pps_test_script_error(ts) ? pps_test_script_error(ts)
                                               : "ok");
        if (cases[i].action == DO_RETRIEVE && c->begins)
            assert_int_equal(c->statuses[0], err);
        /* After a protocol or network failure the session is broken. */
        if (err == PPS_EPROTO || err == PPS_ENET)
            assert_int_equal(pps_session_quit(s), PPS_ENET);
        pps_session_free(s);
        pps_test_script_free(ts);
        free(c);
    }
}

/* Tolerated oddities: flagged, the rest of the list still comes back. */
static void test_uid_flags(void **state)
{
    static const char *const lines[] = {
        LOGGED_IN,
        "C:STAT\r\n",
        "S:+OK 5 500\r\n",
        "C:LIST\r\n",
        "S:+OK\r\n1 100\r\n2 100\r\n3 100\r\n4 100\r\n5 100\r\n.\r\n",
        "C:UIDL\r\n",
        "S:+OK\r\n1 same\r\n2 has space\r\n3 same\r\n"
        "4 "
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "a"
        "\r\n.\r\n",
        NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_session *s;
    pps_message_list *l = NULL;

    (void)state;
    test_options(&o);
    s = session_on(ts, &o);
    assert_int_equal(connect_tls(s), 0);
    assert_int_equal(pps_session_login(s), 0);
    assert_int_equal(pps_session_inventory(&l, s), 0);
    assert_int_equal(l->count, 5);
    assert_int_equal(l->has_duplicate_uids, 1);
    assert_int_equal(l->entries[0].flags, PPS_MESSAGE_DUP_UID);
    assert_int_equal(l->entries[2].flags, PPS_MESSAGE_DUP_UID);
    assert_int_equal(l->entries[1].flags,
                     PPS_MESSAGE_BAD_UID | PPS_MESSAGE_NO_UID);
    assert_null(l->entries[1].uid);
    /* 71 characters: one over RFC 1939's 70 */
    assert_int_equal(l->entries[3].flags,
                     PPS_MESSAGE_BAD_UID | PPS_MESSAGE_NO_UID);
    assert_int_equal(l->entries[4].flags, PPS_MESSAGE_NO_UID);
    script_done(ts);
    pps_message_list_free(l);
    pps_session_free(s);
    pps_test_script_free(ts);
}

/* No UIDL at all: every message flagged, nothing fails. */
static void test_no_uidl(void **state)
{
    static const char *const lines[] = {LOGGED_IN,
                                        "C:STAT\r\n",
                                        "S:+OK 1 10\r\n",
                                        "C:LIST\r\n",
                                        "S:+OK\r\n1 10\r\n.\r\n",
                                        "C:UIDL\r\n",
                                        "S:-ERR unknown command\r\n",
                                        NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_session *s;
    pps_message_list *l = NULL;

    (void)state;
    test_options(&o);
    s = session_on(ts, &o);
    assert_int_equal(connect_tls(s), 0);
    assert_int_equal(pps_session_login(s), 0);
    assert_int_equal(pps_session_inventory(&l, s), 0);
    assert_int_equal(l->count, 1);
    assert_int_equal(l->entries[0].flags, PPS_MESSAGE_NO_UID);
    script_done(ts);
    pps_message_list_free(l);
    pps_session_free(s);
    pps_test_script_free(ts);
}

/* LIST sizes are what the server says; RETR reports the real octets. */
static void test_list_size_lies(void **state)
{
    static const char *const lines[] = {
        LOGGED_IN, "C:RETR 1\r\n",
        "S:+OK 5 octets\r\n0123456789012345678901234567890123456789\r\n.\r\n",
        NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_session *s;
    collected *c = calloc(1, sizeof(*c));
    unsigned int one = 1;

    (void)state;
    test_options(&o);
    s = session_on(ts, &o);
    assert_int_equal(connect_tls(s), 0);
    assert_int_equal(pps_session_login(s), 0);
    assert_int_equal(pps_session_retrieve(s, &one, 1, &collect_cb, c), 0);
    assert_int_equal(c->octets[0], 42);
    script_done(ts);
    pps_session_free(s);
    pps_test_script_free(ts);
    free(c);
}

/* Long message lines are flagged, not fatal. */
static void test_long_message_line(void **state)
{
    char *reply = malloc(200000);
    static const char *const lines[] = {LOGGED_IN, "C:RETR 1\r\n", NULL};
    pps_test_script *ts = script_of(lines);
    pps_session_options o;
    pps_session *s;
    collected *c = calloc(1, sizeof(*c));
    unsigned int one = 1;

    (void)state;
    memcpy(reply, "+OK\r\n", 5);
    memset(reply + 5, 'x', 50000);
    memcpy(reply + 50005, "\r\n.\r\n", 5);
    pps_test_script_add(ts, PPS_TS_SEND, reply, 50010);
    test_options(&o);
    s = session_on(ts, &o);
    assert_int_equal(connect_tls(s), 0);
    assert_int_equal(pps_session_login(s), 0);
    assert_int_equal(pps_session_retrieve(s, &one, 1, &collect_cb, c), 0);
    assert_int_equal(c->octets[0], 50002);
    assert_int_equal(c->flags[0], PPS_MESSAGE_LONG_LINE);
    assert_true(c->data_calls >= 4); /* streamed, not held */
    script_done(ts);
    pps_session_free(s);
    pps_test_script_free(ts);
    free(c);
    free(reply);
}

/* A whole pipelined session, cut at every byte the server sends. */
static const char *const full_session[] = {
    GREETING,
    CAPA_C,
    CAPA_PIPE_S,
    LOGIN_USER,
    "C:STAT\r\nLIST\r\nUIDL\r\n",
    "S:+OK 2 30\r\n+OK\r\n1 10\r\n2 20\r\n.\r\n+OK\r\n1 a\r\n2 b\r\n.\r\n",
    "C:RETR 1\r\nRETR 2\r\n",
    "S:+OK\r\nSubject: 1\r\n\r\n..x\r\n.\r\n+OK\r\nSubject: 2\r\n\r\ny\r\n"
    ".\r\n",
    "C:DELE 1\r\nDELE 2\r\n",
    "S:+OK\r\n+OK\r\n",
    "C:QUIT\r\n",
    "S:+OK bye\r\n",
    NULL};

static int whole_session(pps_test_script *ts, collected *c)
{
    pps_session_options o;
    pps_session *s = NULL;
    pps_message_list *l = NULL;
    unsigned int nums[] = {1, 2};
    int err;

    test_options(&o);
    o.read_timeout_ms = 300;
    if ((err = pps_session_new(&s, pps_test_script_transport(ts), &o)) < 0)
        return err;
    if ((err = connect_tls(s)) == 0 && (err = pps_session_login(s)) == 0 &&
        (err = pps_session_inventory(&l, s)) == 0 &&
        (err = pps_session_retrieve(s, nums, 2, &collect_cb, c)) == 0 &&
        (err = pps_session_delete(s, nums, 2, NULL)) == 0)
        err = pps_session_quit(s);
    pps_message_list_free(l);
    pps_session_free(s);
    return err;
}

static void test_cut_at_every_byte(void **state)
{
    pps_test_script *ts = script_of(full_session);
    size_t total = pps_test_script_server_bytes(ts), cut;

    (void)state;
    pps_test_script_free(ts);
    for (cut = 0; cut <= total; cut++) {
        collected *c = calloc(1, sizeof(*c));
        int err;
        ts = script_of(full_session);
        pps_test_script_set_cut(ts, (long long)cut);
        err = whole_session(ts, c);
        if (cut < total && err != PPS_ENET)
            fail_msg("cut at %zu: %d %s", cut, err, pps_error_last()->message);
        if (cut == total) {
            assert_int_equal(err, 0);
            script_done(ts);
        }
        assert_null(pps_test_script_error(ts));
        /* A message that began always ended, with the failure. */
        assert_int_equal(c->begins, c->ends);
        pps_test_script_free(ts);
        free(c);
    }
}

/* The same session, server bytes in every chunk size. */
static void test_every_chunk_size(void **state)
{
    size_t chunk;

    (void)state;
    for (chunk = 1; chunk <= 40; chunk++) {
        collected *c = calloc(1, sizeof(*c));
        pps_test_script *ts = script_of(full_session);
        pps_test_script_set_chunk(ts, chunk);
        if (whole_session(ts, c) != 0)
            fail_msg("chunk %zu: %s", chunk, pps_error_last()->message);
        assert_int_equal(c->len, strlen("Subject: 1\r\n\r\n.x\r\n"
                                        "Subject: 2\r\n\r\ny\r\n"));
        script_done(ts);
        pps_test_script_free(ts);
        free(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_table),
        cmocka_unit_test(test_uid_flags),
        cmocka_unit_test(test_no_uidl),
        cmocka_unit_test(test_list_size_lies),
        cmocka_unit_test(test_long_message_line),
        cmocka_unit_test(test_cut_at_every_byte),
        cmocka_unit_test(test_every_chunk_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
