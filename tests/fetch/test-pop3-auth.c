/*
 * test-pop3-auth.c - every login method with its exact bytes on the wire,
 * the automatic choice, and SASL exchanges that go wrong.
 *
 * Expected values come from the RFCs' own examples where there is one
 * (APOP: RFC 1939 7; CRAM-MD5: RFC 2195 2) and from Python's base64,
 * hmac and hashlib otherwise.
 */
#include "pop3-test.h"

typedef struct auth_case {
    const char *name;
    const char *method; /* option; NULL: auto */
    int sasl_ir;
    const char *user, *password;
    const char *server; /* "pop.test 995s" unless set */
    const char *greeting;
    const char *capa; /* the server's CAPA reply */
    const char *exchange[10];
    int result;
    const char *used;
} auth_case;

#define XO_TOKEN "ya29.token"
#define XO_IR    "dXNlcj1hbGljZUBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnRva2VuAQE="
#define OB_IR                                                                  \
    "bixhPWFsaWNlQGV4YW1wbGUuY29tLAFob3N0PXBvcC50ZXN0AXBvcnQ9OTk1AWF1dGg9QmVh" \
    "cmVyIHlhMjkudG9rZW4BAQ=="
#define ERR_JSON "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIn0="
#define SASL_ALL \
    "S:+OK\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5 XOAUTH2 OAUTHBEARER\r\n.\r\n"

static const auth_case cases[] = {
    {"plain, initial response",
     "plain",
     0,
     "alice",
     "secret",
     NULL,
     NULL,
     SASL_ALL,
     {"C:AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", "S:+OK\r\n"},
     0,
     "PLAIN"},
    {"plain, two steps",
     "plain",
     PPS_SASL_IR_NEVER,
     "alice",
     "secret",
     NULL,
     NULL,
     SASL_ALL,
     {"C:AUTH PLAIN\r\n", "S:+ \r\n", "C:AGFsaWNlAHNlY3JldA==\r\n",
      "S:+OK\r\n"},
     0,
     "PLAIN"},
    {"login",
     "login",
     0,
     "alice",
     "secret",
     NULL,
     NULL,
     SASL_ALL,
     {"C:AUTH LOGIN\r\n", "S:+ VXNlcm5hbWU6\r\n", "C:YWxpY2U=\r\n",
      "S:+ UGFzc3dvcmQ6\r\n", "C:c2VjcmV0\r\n", "S:+OK\r\n"},
     0,
     "LOGIN"},
    {"cram-md5 (RFC 2195)",
     "cram-md5",
     0,
     "tim",
     "tanstaaftanstaaf",
     NULL,
     NULL,
     SASL_ALL,
     {"C:AUTH CRAM-MD5\r\n",
      "S:+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n",
      "C:dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n", "S:+OK\r\n"},
     0,
     "CRAM-MD5"},
    {"apop (RFC 1939)",
     "apop",
     0,
     "mrose",
     "tanstaaf",
     NULL,
     "S:+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n",
     "S:+OK\r\nUSER\r\n.\r\n",
     {"C:APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n", "S:+OK\r\n"},
     0,
     "APOP"},
    {"xoauth2, initial response",
     "xoauth2",
     0,
     "alice@example.com",
     XO_TOKEN,
     NULL,
     NULL,
     SASL_ALL,
     {"C:AUTH XOAUTH2 " XO_IR "\r\n", "S:+OK\r\n"},
     0,
     "XOAUTH2"},
    {"xoauth2, two steps (Microsoft 365)",
     "xoauth2",
     PPS_SASL_IR_NEVER,
     "alice@example.com",
     XO_TOKEN,
     NULL,
     NULL,
     SASL_ALL,
     {"C:AUTH XOAUTH2\r\n", "S:+ \r\n", "C:" XO_IR "\r\n", "S:+OK\r\n"},
     0,
     "XOAUTH2"},
    {"xoauth2, error challenge answered empty",
     "xoauth2",
     0,
     "alice@example.com",
     XO_TOKEN,
     NULL,
     NULL,
     SASL_ALL,
     {"C:AUTH XOAUTH2 " XO_IR "\r\n", "S:+ " ERR_JSON "\r\n", "C:\r\n",
      "S:-ERR [AUTH] invalid token\r\n"},
     PPS_EAUTH,
     ""},
    {"oauthbearer, initial response",
     "oauthbearer",
     0,
     "alice@example.com",
     XO_TOKEN,
     NULL,
     NULL,
     SASL_ALL,
     {"C:AUTH OAUTHBEARER " OB_IR "\r\n", "S:+OK\r\n"},
     0,
     "OAUTHBEARER"},
    {"oauthbearer, error answered with %x01",
     "oauthbearer",
     PPS_SASL_IR_NEVER,
     "alice@example.com",
     XO_TOKEN,
     NULL,
     NULL,
     SASL_ALL,
     {"C:AUTH OAUTHBEARER\r\n", "S:+\r\n", "C:" OB_IR "\r\n",
      "S:+ " ERR_JSON "\r\n", "C:AQ==\r\n", "S:-ERR\r\n"},
     PPS_EAUTH,
     ""},
    {"auto: CRAM-MD5 first",
     NULL,
     0,
     "tim",
     "tanstaaftanstaaf",
     NULL,
     NULL,
     SASL_ALL,
     {"C:AUTH CRAM-MD5\r\n",
      "S:+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n",
      "C:dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n", "S:+OK\r\n"},
     0,
     "CRAM-MD5"},
    {"auto: APOP before PLAIN",
     NULL,
     0,
     "mrose",
     "tanstaaf",
     NULL,
     "S:+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n",
     "S:+OK\r\nSASL PLAIN\r\n.\r\n",
     {"C:APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n", "S:+OK\r\n"},
     0,
     "APOP"},
    {"auto: PLAIN before USER",
     NULL,
     0,
     "alice",
     "secret",
     NULL,
     NULL,
     "S:+OK\r\nUSER\r\nSASL LOGIN PLAIN\r\n.\r\n",
     {"C:AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", "S:+OK\r\n"},
     0,
     "PLAIN"},
    {"auto without TLS: only CRAM-MD5 is allowed",
     NULL,
     0,
     "tim",
     "tanstaaftanstaaf",
     "pop.test 110",
     NULL,
     "S:+OK\r\nUSER\r\nSASL PLAIN CRAM-MD5\r\n.\r\n",
     {"C:AUTH CRAM-MD5\r\n",
      "S:+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n",
      "C:dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n", "S:+OK\r\n"},
     0,
     "CRAM-MD5"},
    {"forced xoauth2 without TLS: refused",
     "xoauth2",
     0,
     "alice",
     XO_TOKEN,
     "pop.test 110",
     NULL,
     SASL_ALL,
     {NULL},
     PPS_ECONFIG,
     ""},
    {"forced method not offered",
     "cram-md5",
     0,
     "alice",
     "secret",
     NULL,
     NULL,
     "S:+OK\r\nSASL PLAIN\r\n.\r\n",
     {NULL},
     PPS_EUNSUPPORTED,
     ""},
    {"apop without a timestamp",
     "apop",
     0,
     "alice",
     "secret",
     NULL,
     NULL,
     SASL_ALL,
     {NULL},
     PPS_EUNSUPPORTED,
     ""},
    {"bad base64 challenge: cancelled",
     "cram-md5",
     0,
     "alice",
     "secret",
     NULL,
     NULL,
     SASL_ALL,
     {"C:AUTH CRAM-MD5\r\n", "S:+ !!notbase64\r\n", "C:*\r\n",
      "S:-ERR cancelled\r\n"},
     PPS_EPROTO,
     ""},
    {"plain: a second challenge is cancelled",
     "plain",
     0,
     "alice",
     "secret",
     NULL,
     NULL,
     SASL_ALL,
     {"C:AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", "S:+ \r\n", "C:*\r\n",
      "S:-ERR\r\n"},
     PPS_EPROTO,
     ""},
    {"AUTH refused with [SYS/TEMP]",
     "plain",
     0,
     "alice",
     "secret",
     NULL,
     NULL,
     SASL_ALL,
     {"C:AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
      "S:-ERR [SYS/TEMP] auth backend down\r\n"},
     PPS_ETEMP,
     ""},
    {"a continuation outside AUTH is garbage",
     "user",
     0,
     "alice",
     "secret",
     NULL,
     NULL,
     SASL_ALL,
     {"C:USER alice\r\n", "S:+ what\r\n"},
     PPS_EPROTO,
     ""},
};

static void run_case(const auth_case *c, size_t row)
{
    const char *head[] = {c->greeting ? c->greeting : GREETING, CAPA_C, c->capa,
                          NULL};
    pps_test_script *ts = script_of(head);
    pps_session_options o;
    pps_server_address a;
    pps_session *s;
    int err;

    pps_test_script_lines(ts, c->exchange);
    test_options(&o);
    o.auth_method = c->method;
    o.sasl_initial_response = c->sasl_ir;
    o.user = c->user;
    o.password = c->password;
    o.stls = PPS_STLS_NEVER;
    s = session_on(ts, &o);
    parse_addr(&a, c->server ? c->server : "pop.test 995s");
    assert_int_equal(pps_session_connect(s, &a), 0);
    err = pps_session_login(s);
    if (err != c->result || pps_test_script_error(ts) ||
        !pps_test_script_finished(ts) ||
        strcmp(pps_session_auth_method(s), c->used) != 0)
        fail_msg("row %zu (%s): result %d (%s), script: %s, used \"%s\"", row,
                 c->name, err, pps_error_last()->message,
                 pps_test_script_error(ts)      ? pps_test_script_error(ts)
                 : pps_test_script_finished(ts) ? "ok"
                                                : "not finished",
                 pps_session_auth_method(s));
    /* No secret in any error detail. */
    assert_null(strstr(pps_error_last()->message, c->password));
    assert_null(strstr(pps_error_last()->server, c->password));
    pps_session_free(s);
    pps_test_script_free(ts);
}

static void test_auth_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i], i);
}

/* The XOAUTH2 error JSON is kept as the server's words. */
static void test_xoauth2_error_detail(void **state)
{
    (void)state;
    run_case(&cases[7], 7);
    assert_non_null(strstr(pps_error_last()->server, "\"status\":\"401\""));
}

/* RFC 5034 4: an initial response that would make AUTH longer than 255
 * octets goes after the "+" instead (AUTO), or on the line (ALWAYS). */
static void test_long_token(void **state)
{
    char token[400], user[] = "alice@example.com";
    char raw[512], b64[1024], line[1100];
    pps_test_script *ts;
    pps_session_options o;
    pps_session *s;
    int mode;
    size_t n;

    (void)state;
    memset(token, 'T', sizeof(token) - 1);
    token[sizeof(token) - 1] = '\0';
    n = (size_t)snprintf(raw, sizeof(raw), "user=%s\001auth=Bearer %s\001\001",
                         user, token);
    {
        /* base64 by hand: the test must not reuse the code under test */
        static const char t[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t i, j = 0;
        for (i = 0; i + 2 < n; i += 3) {
            unsigned v = (unsigned char)raw[i] << 16 |
                         (unsigned char)raw[i + 1] << 8 |
                         (unsigned char)raw[i + 2];
            b64[j++] = t[v >> 18 & 63];
            b64[j++] = t[v >> 12 & 63];
            b64[j++] = t[v >> 6 & 63];
            b64[j++] = t[v & 63];
        }
        if (n - i == 1) {
            unsigned v = (unsigned char)raw[i] << 16;
            b64[j++] = t[v >> 18 & 63];
            b64[j++] = t[v >> 12 & 63];
            b64[j++] = '=';
            b64[j++] = '=';
        } else if (n - i == 2) {
            unsigned v = (unsigned char)raw[i] << 16 | (unsigned char)raw[i + 1]
                                                           << 8;
            b64[j++] = t[v >> 18 & 63];
            b64[j++] = t[v >> 12 & 63];
            b64[j++] = t[v >> 6 & 63];
            b64[j++] = '=';
        }
        b64[j] = '\0';
    }
    for (mode = PPS_SASL_IR_AUTO; mode <= PPS_SASL_IR_ALWAYS; mode++) {
        const char *head[] = {GREETING, CAPA_C, SASL_ALL, NULL};
        ts = script_of(head);
        if (mode == PPS_SASL_IR_AUTO) {
            const char *rest[] = {"C:AUTH XOAUTH2\r\n", "S:+ \r\n", NULL};
            pps_test_script_lines(ts, rest);
            snprintf(line, sizeof(line), "%s\r\n", b64);
        } else {
            snprintf(line, sizeof(line), "AUTH XOAUTH2 %s\r\n", b64);
        }
        pps_test_script_add(ts, PPS_TS_EXPECT, line, strlen(line));
        pps_test_script_add(ts, PPS_TS_SEND, "+OK\r\n", 5);
        test_options(&o);
        o.user = user;
        o.password = token;
        o.auth_method = "XOAUTH2";
        o.sasl_initial_response = mode;
        s = session_on(ts, &o);
        assert_int_equal(connect_tls(s), 0);
        assert_int_equal(pps_session_login(s), 0);
        script_done(ts);
        pps_session_free(s);
        pps_test_script_free(ts);
    }
}

/* The transcript hides SASL data and tokens. */
static char logged[16384];
static void capture(pps_log_level level, const char *profile,
                    const char *message, void *payload)
{
    size_t have = strlen(logged), n = strlen(message);

    (void)level;
    (void)profile;
    (void)payload;
    if (have + n + 2 < sizeof(logged)) {
        memcpy(logged + have, message, n);
        memcpy(logged + have + n, "\n", 2);
    }
}

static void test_transcript(void **state)
{
    (void)state;
    logged[0] = '\0';
    pps_log_set(capture, PPS_LOG_TRACE, NULL);
    run_case(&cases[1], 1); /* PLAIN two steps */
    run_case(&cases[5], 5); /* XOAUTH2 initial response */
    run_case(&cases[4], 4); /* APOP */
    pps_log_set(NULL, PPS_LOG_ERROR, NULL);
    assert_non_null(strstr(logged, "--> AUTH PLAIN\n--> <hidden>\n") ||
                    strstr(logged, "--> AUTH PLAIN\n"));
    assert_non_null(strstr(logged, "--> <hidden>\n"));
    assert_non_null(strstr(logged, "--> AUTH XOAUTH2 <hidden>\n"));
    assert_non_null(strstr(logged, "--> APOP mrose <hidden>\n"));
    assert_null(strstr(logged, "AGFsaWNlAHNlY3JldA"));
    assert_null(strstr(logged, XO_IR));
    assert_null(strstr(logged, XO_TOKEN));
    assert_null(strstr(logged, "c4c9334bac560ecc979e58001b3e22fb"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_table),
        cmocka_unit_test(test_xoauth2_error_detail),
        cmocka_unit_test(test_long_token),
        cmocka_unit_test(test_transcript),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
