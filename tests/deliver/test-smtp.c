/*
 * test-smtp.c - the LMTP, SMTP and EmailArchitect deliverers against a
 * scripted server: what the client sends (pipelined batches included)
 * and what each recipient's status becomes, at every failure point.
 */
#include "../helpers/pps-test.h"

#include <signal.h>
#include <dirent.h>
#include <stdio.h>

#include "pps/deliver.h"
#include "pps/errors.h"

#include "fake-peer.h"

#define GREET "S:220 fake ready"
#define LHLO_PIPE                                            \
    "C", "S:250-fake", "S:250-PIPELINING", "S:250-8BITMIME", \
        "S:250 ENHANCEDSTATUSCODES"
#define LHLO_PLAIN "C", "S:250-fake", "S:250 8BITMIME"
#define EHLO_AUTH  "C", "S:250-fake", "S:250-AUTH PLAIN LOGIN", "S:250 8BITMIME"

#define MSG   "Subject: hi\r\n\r\nbody\r\n.dot line\r\n"
#define MSG_T "Subject: hi\n\nbody\n..dot line\n.\n"

#define LHLO_T  "LHLO test.host\n"
#define EHLO_T  "EHLO test.host\n"
#define MAIL_T  "MAIL FROM:<s@remote.test> BODY=8BITMIME\n"
#define MAIL_T0 "MAIL FROM:<s@remote.test>\n"
#define RA_T    "RCPT TO:<alice@local.test>\n"
#define RB_T    "RCPT TO:<bob@local.test>\n"

typedef struct smtp_case {
    const char *name;
    const char *method;
    const char *user; /* AUTH user name; password "secret" */
    int starttls;
    const char *rcpts; /* blank-separated */
    const char *message;
    const char *const *script;
    const char *transcript;
    const char *outcomes; /* one letter per recipient: D, T, P */
    int code0;            /* expected status[0].code, 1 = do not check */
    int reply0;           /* expected status[0].reply, -1 = do not check */
    const char *text0;    /* a piece of status[0].text, or NULL */
    unsigned int timeout_ms;
} smtp_case;

#define SCRIPT(...) ((const char *const[]){__VA_ARGS__, NULL})

static const smtp_case cases[] = {
    {"lmtp pipelined, one final 452", "lmtp", NULL, 0, "alice bob", MSG,
     SCRIPT(GREET, LHLO_PIPE, "C", "C", "C", "C", "S:250 2.1.0 ok",
            "S:250 2.1.5 ok", "S:250 2.1.5 ok", "S:354 go", "B",
            "S:250 2.0.0 saved", "S:452 4.2.2 bob is over quota", "C"),
     LHLO_T MAIL_T RA_T RB_T "DATA\n" MSG_T "QUIT\n", "DT", PPS_OK, 250,
     "saved", 0},
    {"lmtp without pipelining, one RCPT refused", "lmtp", NULL, 0, "alice bob",
     MSG,
     SCRIPT(GREET, LHLO_PLAIN, "C", "S:250 ok", "C", "S:250 ok", "C",
            "S:550 5.1.1 no such user", "C", "S:354 go", "B", "S:250 ok", "C"),
     LHLO_T MAIL_T RA_T RB_T "DATA\n" MSG_T "QUIT\n", "DP", PPS_OK, 250, NULL,
     0},
    {"greeting 421", "lmtp", NULL, 0, "alice bob", MSG,
     SCRIPT("S:421 4.3.2 shutting down", "H"), "", "TT", PPS_ETEMP, 421, "421",
     0},
    {"greeting 554 is temporary too", "lmtp", NULL, 0, "alice", MSG,
     SCRIPT("S:554 no service", "H"), "", "T", PPS_ETEMP, 554, "554", 0},
    {"multi-line greeting", "lmtp", NULL, 0, "alice", MSG,
     SCRIPT("S:220-fake", "S:220 ready", LHLO_PLAIN, "C", "S:250 ok", "C",
            "S:250 ok", "C", "S:354 go", "B", "S:250 ok", "C"),
     LHLO_T MAIL_T RA_T "DATA\n" MSG_T "QUIT\n", "D", PPS_OK, 250, NULL, 0},
    {"LHLO refused", "lmtp", NULL, 0, "alice bob", MSG,
     SCRIPT(GREET, "C", "S:500 5.5.1 what?", "H"), LHLO_T, "TT", PPS_ETEMP, 500,
     "LHLO", 0},
    {"MAIL 550 without pipelining", "lmtp", NULL, 0, "alice bob", MSG,
     SCRIPT(GREET, LHLO_PLAIN, "C", "S:550 5.7.1 sender refused", "C"),
     LHLO_T MAIL_T "QUIT\n", "PP", PPS_EPERM, 550, "sender refused", 0},
    {"MAIL 451 pipelined", "lmtp", NULL, 0, "alice bob", MSG,
     SCRIPT(GREET, LHLO_PIPE, "C", "C", "C", "C", "S:451 4.3.0 try later",
            "S:503 no MAIL", "S:503 no MAIL", "S:503 no MAIL", "C"),
     LHLO_T MAIL_T RA_T RB_T "DATA\n"
                             "QUIT\n",
     "TT", PPS_ETEMP, 451, "try later", 0},
    {"every RCPT refused, no pipelining: no DATA", "lmtp", NULL, 0, "alice bob",
     MSG,
     SCRIPT(GREET, LHLO_PLAIN, "C", "S:250 ok", "C", "S:550 5.1.1 unknown", "C",
            "S:450 4.2.1 busy", "C"),
     LHLO_T MAIL_T RA_T RB_T "QUIT\n", "PT", PPS_EPERM, 550, "unknown", 0},
    {"every RCPT refused, pipelined: DATA 554", "lmtp", NULL, 0, "alice bob",
     MSG,
     SCRIPT(GREET, LHLO_PIPE, "C", "C", "C", "C", "S:250 ok",
            "S:550 5.1.1 unknown", "S:550 5.1.1 unknown",
            "S:554 no valid recipients", "C"),
     LHLO_T MAIL_T RA_T RB_T "DATA\n"
                             "QUIT\n",
     "PP", PPS_EPERM, 550, NULL, 0},
    {"every RCPT refused, pipelined, but DATA 354", "lmtp", NULL, 0, "alice",
     MSG,
     SCRIPT(GREET, LHLO_PIPE, "C", "C", "C", "S:250 ok", "S:550 5.1.1 unknown",
            "S:354 go on", "C", "S:554 nothing", "C"),
     LHLO_T MAIL_T RA_T "DATA\n"
                        ".\n"
                        "QUIT\n",
     "P", PPS_EPERM, 550, NULL, 0},
    {"DATA 451", "lmtp", NULL, 0, "alice bob", MSG,
     SCRIPT(GREET, LHLO_PLAIN, "C", "S:250 ok", "C", "S:250 ok", "C",
            "S:250 ok", "C", "S:451 4.3.0 later", "C"),
     LHLO_T MAIL_T RA_T RB_T "DATA\n"
                             "QUIT\n",
     "TT", PPS_ETEMP, 451, "DATA", 0},
    {"DATA 554", "lmtp", NULL, 0, "alice", MSG,
     SCRIPT(GREET, LHLO_PLAIN, "C", "S:250 ok", "C", "S:250 ok", "C",
            "S:554 5.3.0 no", "C"),
     LHLO_T MAIL_T RA_T "DATA\n"
                        "QUIT\n",
     "P", PPS_EPERM, 554, NULL, 0},
    {"final 552 5.2.2 is a quota failure", "lmtp", NULL, 0, "alice bob", MSG,
     SCRIPT(GREET, LHLO_PIPE, "C", "C", "C", "C", "S:250 ok", "S:250 ok",
            "S:250 ok", "S:354 go", "B", "S:552 5.2.2 mailbox full", "S:250 ok",
            "C"),
     LHLO_T MAIL_T RA_T RB_T "DATA\n" MSG_T "QUIT\n", "PD", PPS_ETOOBIG, 552,
     "mailbox full", 0},
    {"connection cut after the greeting", "lmtp", NULL, 0, "alice bob", MSG,
     SCRIPT(GREET, "X"), "", "TT", PPS_ENET, -1, NULL, 0},
    {"connection cut mid-DATA", "lmtp", NULL, 0, "alice bob", MSG,
     SCRIPT(GREET, LHLO_PIPE, "C", "C", "C", "C", "S:250 ok", "S:250 ok",
            "S:250 ok", "S:354 go", "C", "X"),
     LHLO_T MAIL_T RA_T RB_T "DATA\n"
                             "Subject: hi\n",
     "TT", PPS_ENET, -1, NULL, 0},
    {"connection cut between final replies", "lmtp", NULL, 0, "alice bob", MSG,
     SCRIPT(GREET, LHLO_PIPE, "C", "C", "C", "C", "S:250 ok", "S:250 ok",
            "S:250 ok", "S:354 go", "B", "S:250 ok", "X"),
     LHLO_T MAIL_T RA_T RB_T "DATA\n" MSG_T, "DT", PPS_OK, 250, NULL, 0},
    {"garbage instead of a reply", "lmtp", NULL, 0, "alice", MSG,
     SCRIPT("S:hello there", "H"), "", "T", PPS_EPROTO, -1, "valid code", 0},
    {"reply code changes inside a reply", "lmtp", NULL, 0, "alice", MSG,
     SCRIPT(GREET, "C", "S:250-fake", "S:251 other", "H"), LHLO_T, "T",
     PPS_EPROTO, -1, NULL, 0},
    {"server silent after LHLO: timeout", "lmtp", NULL, 0, "alice", MSG,
     SCRIPT(GREET, "C", "H"), LHLO_T, "T", PPS_ETIMEOUT, -1, "in time", 300},
    {"server silent after the final dot: timeout", "lmtp", NULL, 0, "alice",
     MSG,
     SCRIPT(GREET, LHLO_PLAIN, "C", "S:250 ok", "C", "S:250 ok", "C",
            "S:354 go", "B", "H"),
     LHLO_T MAIL_T RA_T "DATA\n" MSG_T, "T", PPS_ETIMEOUT, -1, NULL, 300},
    {"line ends and dots", "lmtp", NULL, 0, "alice",
     "A: b\n\n.\n..\nx\r\n.y\nlast",
     SCRIPT(GREET, LHLO_PLAIN, "C", "S:250 ok", "C", "S:250 ok", "C",
            "S:354 go", "B", "S:250 ok", "C"),
     LHLO_T MAIL_T RA_T "DATA\n"
                        "A: b\n\n..\n...\nx\n..y\nlast\n.\n"
                        "QUIT\n",
     "D", PPS_OK, 250, NULL, 0},
    {"smtp: EHLO refused, HELO", "smtp", NULL, 0, "alice bob", MSG,
     SCRIPT(GREET, "C", "S:502 5.5.2 no EHLO", "C", "S:250 hi", "C", "S:250 ok",
            "C", "S:250 ok", "C", "S:250 ok", "C", "S:354 go", "B",
            "S:250 queued", "C"),
     EHLO_T "HELO test.host\n" MAIL_T0 RA_T RB_T "DATA\n" MSG_T "QUIT\n", "DD",
     PPS_OK, 250, "queued", 0},
    {"smtp: one final 451 for all", "smtp", NULL, 0, "alice bob", MSG,
     SCRIPT(GREET, LHLO_PIPE, "C", "C", "C", "C", "S:250 ok", "S:250 ok",
            "S:250 ok", "S:354 go", "B", "S:451 4.3.0 disk trouble", "C"),
     EHLO_T MAIL_T RA_T RB_T "DATA\n" MSG_T "QUIT\n", "TT", PPS_ETEMP, 451,
     "disk trouble", 0},
    {"smtp: AUTH PLAIN", "smtp", "alice", 0, "alice", MSG,
     SCRIPT(GREET, EHLO_AUTH, "C", "S:235 ok", "C", "S:250 ok", "C", "S:250 ok",
            "C", "S:354 go", "B", "S:250 ok", "C"),
     EHLO_T "AUTH PLAIN AGFsaWNlAHNlY3JldA==\n" MAIL_T RA_T "DATA\n" MSG_T
            "QUIT\n",
     "D", PPS_OK, 250, NULL, 0},
    {"smtp: AUTH LOGIN", "smtp", "alice", 0, "alice", MSG,
     SCRIPT(GREET, "C", "S:250-fake", "S:250 AUTH LOGIN", "C",
            "S:334 VXNlcm5hbWU6", "C", "S:334 UGFzc3dvcmQ6", "C", "S:235 ok",
            "C", "S:250 ok", "C", "S:250 ok", "C", "S:354 go", "B", "S:250 ok",
            "C"),
     EHLO_T "AUTH LOGIN\nYWxpY2U=\nc2VjcmV0\n" MAIL_T0 RA_T "DATA\n" MSG_T
            "QUIT\n",
     "D", PPS_OK, 250, NULL, 0},
    {"smtp: AUTH refused", "smtp", "alice", 0, "alice", MSG,
     SCRIPT(GREET, EHLO_AUTH, "C", "S:535 5.7.8 bad credentials", "H"),
     EHLO_T "AUTH PLAIN AGFsaWNlAHNlY3JldA==\n", "T", PPS_EAUTH, -1,
     "credentials", 0},
    {"smtp: STARTTLS required, not offered", "smtp", NULL, 1, "alice", MSG,
     SCRIPT(GREET, LHLO_PLAIN, "H"), EHLO_T, "T", PPS_ETLS, -1, "STARTTLS", 0},
    {"smtp: STARTTLS refused", "smtp", NULL, 1, "alice", MSG,
     SCRIPT(GREET, "C", "S:250-fake", "S:250 STARTTLS", "C",
            "S:454 4.7.0 TLS not available", "H"),
     EHLO_T "STARTTLS\n", "T", PPS_ETEMP, 454, NULL, 0},
    {"emailarchitect: null sender, quota at RCPT", "emailarchitect", NULL, 0,
     "alice bob", MSG,
     SCRIPT(GREET, LHLO_PLAIN, "C", "S:250 ok", "C",
            "S:552 5.2.2 alice is over quota", "C", "S:250 ok", "C", "S:354 go",
            "B", "S:250 ok", "C"),
     EHLO_T "MAIL FROM:<> BODY=8BITMIME\n" RA_T RB_T "DATA\n" MSG_T "QUIT\n",
     "PD", PPS_ETOOBIG, 552, "over quota", 0},
    {"emailarchitect: with AUTH the real sender", "emailarchitect", "alice", 0,
     "alice", MSG,
     SCRIPT(GREET, EHLO_AUTH, "C", "S:235 ok", "C", "S:250 ok", "C", "S:250 ok",
            "C", "S:354 go", "B", "S:552 5.3.4 too big", "C"),
     EHLO_T "AUTH PLAIN AGFsaWNlAHNlY3JldA==\n" MAIL_T RA_T "DATA\n" MSG_T
            "QUIT\n",
     "P", PPS_ETOOBIG, 552, "too big", 0},
    {"SMTPUTF8 only for non-ASCII addresses", "lmtp", NULL, 0, "j\xc3\xbcrgen",
     MSG,
     SCRIPT(GREET, "C", "S:250-fake", "S:250-SMTPUTF8", "S:250 8BITMIME", "C",
            "S:250 ok", "C", "S:250 ok", "C", "S:354 go", "B", "S:250 ok", "C"),
     LHLO_T "MAIL FROM:<s@remote.test> BODY=8BITMIME SMTPUTF8\n"
            "RCPT TO:<j\xc3\xbcrgen@local.test>\n"
            "DATA\n" MSG_T "QUIT\n",
     "D", PPS_OK, 250, NULL, 0},
    {"SMTPUTF8 offered, ASCII addresses", "lmtp", NULL, 0, "alice", MSG,
     SCRIPT(GREET, "C", "S:250-fake", "S:250 SMTPUTF8", "C", "S:250 ok", "C",
            "S:250 ok", "C", "S:354 go", "B", "S:250 ok", "C"),
     LHLO_T MAIL_T0 RA_T "DATA\n" MSG_T "QUIT\n", "D", PPS_OK, 250, NULL, 0},
};

static void set_options(pps_deliver_options *o, const char *method,
                        const char *server, unsigned int timeout_ms)
{
    pps_deliver_options_init(o);
    o->method = method;
    o->server = server;
    o->helo_name = "test.host";
    o->command_timeout_ms = timeout_ms ? timeout_ms : 5000;
    o->data_timeout_ms = o->command_timeout_ms;
    o->block_timeout_ms = o->command_timeout_ms;
    o->final_timeout_ms = o->command_timeout_ms;
}

/* Split "alice bob" into "alice@local.test", "bob@local.test". */
static size_t make_rcpts(const char *list, char store[][64], const char **rcpts)
{
    size_t n = 0;
    const char *p = list;

    while (*p) {
        size_t len = strcspn(p, " ");
        snprintf(store[n], 64, "%.*s@local.test", (int)len, p);
        rcpts[n] = store[n];
        n++;
        p += len;
        while (*p == ' ')
            p++;
    }
    return n;
}

static void run_case(size_t row, const smtp_case *c)
{
    pps_deliver_options o;
    pps_deliver *d = NULL;
    fake_peer peer;
    char store[8][64];
    const char *rcpts[8];
    const pps_deliver_status *st;
    size_t n = make_rcpts(c->rcpts, store, rcpts), count, i;
    size_t len = strlen(c->message);
    char *msg = pps_test_exact_copy(c->message, len);
    int rc;

    peer_start(&peer, c->script);
    set_options(&o, c->method, peer.path, c->timeout_ms);
    if (c->user) {
        o.username = c->user;
        o.password = "secret";
    }
    o.starttls = c->starttls;
    if (pps_deliver_new(&d, &o) != 0)
        fail_msg("row %zu (%s): new: %s", row, c->name,
                 pps_error_last()->message);
    rc = pps_deliver_begin(d, "s@remote.test", rcpts, n, NULL, 0);
    /* Odd chunk sizes: the conversion must not care. */
    for (i = 0; rc == 0 && i < len; i += 5)
        rc = pps_deliver_write(d, msg + i, len - i < 5 ? len - i : 5);
    if (rc == 0)
        rc = pps_deliver_commit(d);
    peer_join(&peer);

    if (strcmp(peer.transcript, c->transcript) != 0)
        fail_msg("row %zu (%s): the client sent\n%s\n--- expected\n%s", row,
                 c->name, peer.transcript, c->transcript);
    st = pps_deliver_statuses(d, &count);
    assert_int_equal(count, n);
    for (i = 0; i < n; i++) {
        char want = c->outcomes[i];
        char got = st[i].outcome == PPS_DELIVER_DELIVERED  ? 'D'
                   : st[i].outcome == PPS_DELIVER_TEMPFAIL ? 'T'
                   : st[i].outcome == PPS_DELIVER_PERMFAIL ? 'P'
                                                           : '?';
        if (want != got)
            fail_msg("row %zu (%s): recipient %zu is %c, expected %c (%s)", row,
                     c->name, i, got, want, st[i].text);
    }
    if (c->code0 != 1 && st[0].code != c->code0)
        fail_msg("row %zu (%s): code %d (%s), expected %d", row, c->name,
                 st[0].code, st[0].text, c->code0);
    if (c->reply0 >= 0 && st[0].reply != c->reply0)
        fail_msg("row %zu (%s): reply %d, expected %d", row, c->name,
                 st[0].reply, c->reply0);
    if (c->text0 && !strstr(st[0].text, c->text0))
        fail_msg("row %zu (%s): text \"%s\" lacks \"%s\"", row, c->name,
                 st[0].text, c->text0);
    /* The summary code follows the statuses. */
    if (strchr(c->outcomes, 'T'))
        assert_int_equal(rc, PPS_ETEMP);
    else if (strchr(c->outcomes, 'P'))
        assert_int_equal(rc, PPS_EPERM);
    else
        assert_int_equal(rc, 0);
    /* No secret in any text. */
    for (i = 0; i < n; i++)
        assert_null(strstr(st[i].text, "secret"));
    assert_null(strstr(pps_error_last()->message, "secret"));
    pps_deliver_free(d);
    peer_free(&peer);
    free(msg);
}

static void test_cases(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(i, &cases[i]);
}

/* The trace header comes first, converted like the message. */
static void test_prepend(void **state)
{
    static const char *const script[] = {GREET, LHLO_PLAIN, "C", "S:250 ok",
                                         "C",   "S:250 ok", "C", "S:354 go",
                                         "B",   "S:250 ok", "C", NULL};
    const char *trace = "Received: from pop.remote.test\r\n\tby pps; now\r\n";
    const char *rcpt = "alice@local.test";
    pps_deliver_options o;
    pps_deliver *d;
    fake_peer peer;

    (void)state;
    peer_start(&peer, script);
    set_options(&o, "lmtp", peer.path, 0);
    o.default_sender = "pps@local.test"; /* begin's NULL sender */
    assert_int_equal(pps_deliver_new(&d, &o), 0);
    assert_int_equal(pps_deliver_begin(d, NULL, &rcpt, 1, trace, strlen(trace)),
                     0);
    assert_int_equal(pps_deliver_write(d, MSG, strlen(MSG)), 0);
    assert_int_equal(pps_deliver_commit(d), 0);
    peer_join(&peer);
    assert_string_equal(peer.transcript,
                        LHLO_T "MAIL FROM:<pps@local.test> BODY=8BITMIME\n" RA_T
                               "DATA\n"
                               "Received: from pop.remote.test\n"
                               "\tby pps; now\n" MSG_T "QUIT\n");
    pps_deliver_free(d);
    peer_free(&peer);
}

/* A server that goes away while a big message is being sent: the write
 * fails (no SIGPIPE kills us), every recipient is temporary. */
static void test_cut_while_sending(void **state)
{
    static const char *const script[] = {GREET, LHLO_PLAIN, "C", "S:250 ok",
                                         "C",   "S:250 ok", "C", "S:354 go",
                                         "b",   "X",        NULL};
    const char *rcpt = "alice@local.test";
    pps_deliver_options o;
    pps_deliver *d;
    fake_peer peer;
    char *chunk = malloc(65536);
    int rc = 0, i;

    (void)state;
    memset(chunk, 'x', 65536);
    chunk[65535] = '\n';
    peer_start(&peer, script);
    set_options(&o, "lmtp", peer.path, 2000);
    assert_int_equal(pps_deliver_new(&d, &o), 0);
    assert_int_equal(pps_deliver_begin(d, "", &rcpt, 1, NULL, 0), 0);
    for (i = 0; i < 256 && rc == 0; i++)
        rc = pps_deliver_write(d, chunk, 65536);
    if (rc == 0)
        rc = pps_deliver_commit(d);
    assert_int_equal(rc, PPS_ETEMP);
    assert_int_equal(pps_deliver_statuses(d, NULL)[0].outcome,
                     PPS_DELIVER_TEMPFAIL);
    peer_join(&peer);
    pps_deliver_free(d);
    peer_free(&peer);
    free(chunk);
}

/* Abort mid-message: the server never sees the final dot. */
static void test_abort(void **state)
{
    static const char *const script[] = {GREET, LHLO_PLAIN, "C", "S:250 ok",
                                         "C",   "S:250 ok", "C", "S:354 go",
                                         "B",   NULL};
    const char *rcpt = "alice@local.test";
    pps_deliver_options o;
    pps_deliver *d;
    fake_peer peer;
    const pps_deliver_status *st;

    (void)state;
    peer_start(&peer, script);
    set_options(&o, "lmtp", peer.path, 0);
    assert_int_equal(pps_deliver_new(&d, &o), 0);
    assert_int_equal(pps_deliver_begin(d, "", &rcpt, 1, NULL, 0), 0);
    assert_int_equal(pps_deliver_write(d, "Subject: x\r\n", 12), 0);
    pps_deliver_abort(d);
    st = pps_deliver_statuses(d, NULL);
    assert_int_equal(st[0].outcome, PPS_DELIVER_TEMPFAIL);
    assert_int_equal(st[0].code, PPS_EABORTED);
    peer_join(&peer);
    assert_string_equal(peer.transcript,
                        LHLO_T "MAIL FROM:<> BODY=8BITMIME\n" RA_T "DATA\n");
    assert_int_equal(pps_deliver_commit(d), PPS_EINVAL);
    pps_deliver_free(d);
    peer_free(&peer);
}

static void test_user_exists(void **state)
{
    static const char *const script[] = {
        /* yes */
        GREET, LHLO_PLAIN, "C", "S:250 ok", "C", "S:250 ok", "C", "A",
        /* no */
        GREET, LHLO_PLAIN, "C", "S:250 ok", "C", "S:550 5.1.1 unknown", "C",
        "A",
        /* cannot tell */
        GREET, LHLO_PLAIN, "C", "S:250 ok", "C", "S:451 4.3.0 later", "C", "A",
        "S:421 busy", NULL};
    pps_deliver_options o;
    pps_deliver *d;
    fake_peer peer;

    (void)state;
    peer_start(&peer, script);
    set_options(&o, "lmtp", peer.path, 0);
    assert_int_equal(pps_deliver_new(&d, &o), 0);
    assert_int_equal(pps_deliver_user_exists(d, "alice", "local.test"), 1);
    assert_int_equal(pps_deliver_user_exists(d, "nobody", "local.test"), 0);
    assert_int_equal(pps_deliver_user_exists(d, "carol", "local.test"), -1);
    assert_int_equal(pps_deliver_user_exists(d, "dave", "local.test"), -1);
    peer_join(&peer);
    assert_string_equal(peer.transcript, LHLO_T
                        "MAIL FROM:<>\n" RA_T "QUIT\n" LHLO_T "MAIL FROM:<>\n"
                        "RCPT TO:<nobody@local.test>\nQUIT\n" LHLO_T
                        "MAIL FROM:<>\n"
                        "RCPT TO:<carol@local.test>\nQUIT\n");
    pps_deliver_free(d);
    peer_free(&peer);
}

/* Nobody listening: every recipient temporary, at begin. */
static void test_no_server(void **state)
{
    const char *rcpts[] = {"alice@local.test", "bob@local.test"};
    pps_deliver_options o;
    pps_deliver *d;
    const pps_deliver_status *st;
    size_t n;

    (void)state;
    set_options(&o, "lmtp", "/nonexistent/lmtp.sock", 0);
    assert_int_equal(pps_deliver_new(&d, &o), 0);
    assert_int_equal(pps_deliver_begin(d, "", rcpts, 2, NULL, 0), PPS_ETEMP);
    st = pps_deliver_statuses(d, &n);
    assert_int_equal(n, 2);
    assert_int_equal(st[0].outcome, PPS_DELIVER_TEMPFAIL);
    assert_int_equal(st[1].outcome, PPS_DELIVER_TEMPFAIL);
    assert_int_equal(st[0].code, PPS_ENET);
    assert_non_null(strstr(st[1].text, "cannot connect"));
    pps_deliver_free(d);

    set_options(&o, "smtp", "127.0.0.1:1", 0);
    assert_int_equal(pps_deliver_new(&d, &o), 0);
    assert_int_equal(pps_deliver_begin(d, "", rcpts, 1, NULL, 0), PPS_ETEMP);
    pps_deliver_free(d);
}

static void test_bad_settings(void **state)
{
    static const struct {
        const char *method, *server, *user, *hint;
    } rows[] = {
        {"smtp", "host name:25", NULL, "blank"},
        {"smtp", "[::1:25", NULL, "']'"},
        {"lmtp", "/run/x", "alice", "no starttls or username"},
        {"smtp", "localhost:0", NULL, NULL}, /* found at connect */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        pps_deliver_options o;
        pps_deliver *d = NULL;
        int rc;
        set_options(&o, rows[i].method, rows[i].server, 0);
        o.username = rows[i].user;
        o.password = rows[i].user ? "pw" : NULL;
        rc = pps_deliver_new(&d, &o);
        if (!rows[i].hint) {
            pps_deliver_free(d);
            continue;
        }
        if (rc != PPS_ECONFIG ||
            !strstr(pps_error_last()->message, rows[i].hint))
            fail_msg("row %zu: rc %d, \"%s\"", i, rc,
                     pps_error_last()->message);
        assert_null(d);
    }
}

/* Plain TCP on loopback counts as private; a password is never sent
 * over a public plain connection unless allowed.  (Loopback here, so
 * only the describe text is checked.) */
static void test_describe(void **state)
{
    pps_deliver_options o;
    pps_deliver *d;
    char buf[128];

    (void)state;
    set_options(&o, "smtp", "127.0.0.1:2525", 0);
    o.username = "u";
    o.password = "hunter2";
    assert_int_equal(pps_deliver_new(&d, &o), 0);
    assert_true(pps_deliver_describe(d, buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "smtp to 127.0.0.1:2525 (AUTH)");
    assert_null(strstr(buf, "hunter2"));
    assert_int_equal(pps_deliver_describe(d, buf, 5), PPS_ETOOBIG);
    assert_string_equal(buf, "");
    pps_deliver_free(d);

    /* The defaults of docs/pps.conf.5. */
    set_options(&o, "lmtp", NULL, 0);
    assert_int_equal(pps_deliver_new(&d, &o), 0);
    assert_true(pps_deliver_describe(d, buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "lmtp to /run/dovecot/lmtp");
    pps_deliver_free(d);
    set_options(&o, "emailarchitect", "", 0);
    assert_int_equal(pps_deliver_new(&d, &o), 0);
    assert_true(pps_deliver_describe(d, buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "emailarchitect to 127.0.0.1:25");
    pps_deliver_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_prepend),
        cmocka_unit_test(test_cut_while_sending),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_user_exists),
        cmocka_unit_test(test_no_server),
        cmocka_unit_test(test_bad_settings),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(pps_test_no_fd_leak),
    };

    /* A SIGPIPE would kill the test: prove the library never lets one
     * through by keeping the default action. */
    signal(SIGPIPE, SIG_DFL);
    pps_test_fds_at_start = pps_test_count_fds();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
