/*
 * pop3-test.h - what the POP3 engine tests share: a scripted server, a
 * session over it, and callbacks that collect retrieved messages.
 */
#ifndef PPS_POP3_TEST_H
#define PPS_POP3_TEST_H

#include "../helpers/pps-test.h"
#include "../helpers/script-transport.h"

#include <stdio.h>

#include "pps/errors.h"
#include "pps/fetch.h"
#include "pps/log.h"
#include "pps/server.h"

/* Steps most scripts start with: greeting, CAPA of a TLS-only server. */
#define GREETING    "S:+OK POP3 ready\r\n"
#define CAPA_C      "C:CAPA\r\n"
#define CAPA_S      "S:+OK Capability list follows\r\nUSER\r\nUIDL\r\nTOP\r\n.\r\n"
#define CAPA_PIPE_S "S:+OK\r\nUSER\r\nUIDL\r\nTOP\r\nPIPELINING\r\n.\r\n"
#define LOGIN_USER \
    "C:USER alice\r\n", "S:+OK\r\n", "C:PASS secret\r\n", "S:+OK\r\n"

static inline pps_test_script *script_of(const char *const *lines)
{
    pps_test_script *ts = pps_test_script_new();

    assert_non_null(ts);
    pps_test_script_lines(ts, lines);
    return ts;
}

static inline void test_options(pps_session_options *o)
{
    pps_session_options_init(o);
    o->user = "alice";
    o->password = "secret";
    o->read_timeout_ms = 2000;
}

static inline pps_session *session_on(pps_test_script *ts,
                                      const pps_session_options *o)
{
    pps_session *s = NULL;

    assert_int_equal(pps_session_new(&s, pps_test_script_transport(ts), o), 0);
    return s;
}

static inline void parse_addr(pps_server_address *a, const char *text)
{
    pps_server_address_init(a);
    assert_int_equal(pps_server_parse(a, text), 0);
}

/* Connect to "pop.test 995s" (implicit TLS, so no STLS). */
static inline int connect_tls(pps_session *s)
{
    pps_server_address a;

    parse_addr(&a, "pop.test 995s");
    return pps_session_connect(s, &a);
}

static inline void script_done(const pps_test_script *ts)
{
    const char *err = pps_test_script_error(ts);

    if (err)
        fail_msg("script: %s", err);
    assert_true(pps_test_script_finished(ts));
}

static inline void error_contains(const char *piece)
{
    const char *m = pps_error_last()->message;

    if (!strstr(m, piece))
        fail_msg("error \"%s\" lacks \"%s\"", m, piece);
}

/* Collects retrieved messages. */
typedef struct collected {
    char buf[1 << 16];
    size_t len;
    unsigned int begins, ends, data_calls;
    unsigned int numbers[64];
    int statuses[64];
    unsigned int flags[64];
    unsigned long long octets[64];
    int stop_at_begin;  /* message number whose begin says stop */
    pps_session *abort; /* abort this session from the data callback */
} collected;

static inline int c_begin(unsigned int number, void *payload)
{
    collected *c = payload;

    c->begins++;
    return c->stop_at_begin && (unsigned int)c->stop_at_begin == number;
}

static inline int c_data(const char *buf, size_t len, void *payload)
{
    collected *c = payload;

    assert_true(len > 0);
    assert_true(c->len + len <= sizeof(c->buf));
    memcpy(c->buf + c->len, buf, len);
    c->len += len;
    c->data_calls++;
    if (c->abort)
        pps_session_abort(c->abort);
    return 0;
}

static inline int c_end(unsigned int number, int status,
                        unsigned long long octets, unsigned int flags,
                        void *payload)
{
    collected *c = payload;

    if (c->ends < 64) {
        c->numbers[c->ends] = number;
        c->statuses[c->ends] = status;
        c->flags[c->ends] = flags;
        c->octets[c->ends] = octets;
    }
    c->ends++;
    return 0;
}

static const pps_retrieve_callbacks collect_cb = {
    PPS_RETRIEVE_CALLBACKS_VERSION, c_begin, c_data, c_end};

#endif
