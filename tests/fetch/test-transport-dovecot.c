/*
 * test-transport-dovecot.c - the default transport against the real
 * Dovecot of the test bed (tests/testbed): implicit TLS and STLS with the
 * test CA, each bad certificate refused for its own reason, a pin taken
 * from the refusal's message, the opt-out, and TLS sessions kept between
 * connections (offered every time, refused by Dovecot's one-connection
 * login processes, so every handshake is a full, verified one).  Run it
 * under `testbed.py run --`; without the test bed's variables it is
 * skipped.
 */
#include "../helpers/pps-test.h"

#include <stdio.h>

#include "pps/errors.h"
#include "pps/log.h"
#include "pps/transport.h"
#include "fetch/tls.h"

#define TIMEOUT_MS 10000

/* Connections per kind in test_sessions. */
#define SESSION_ROUNDS 20

/* A POP3 line: 512 octets with CRLF (RFC 1939 section 3). */
#define LINE_MAX_POP3 512

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v && *v ? v : NULL;
}

static unsigned int env_port(const char *name)
{
    const char *v = env(name);

    return v ? (unsigned int)strtoul(v, NULL, 10) : 0;
}

static pps_server_address address(const char *host, const char *port_var,
                                  int implicit_tls)
{
    pps_server_address a = PPS_SERVER_ADDRESS_INIT;

    snprintf(a.host, sizeof(a.host), "%s", host);
    a.port = env_port(port_var);
    a.implicit_tls = implicit_tls;
    return a;
}

/* Read one CRLF line without reading past it (byte by byte is fine for a
 * test; the engine buffers). */
static void read_line(pps_transport *t, char *buf, size_t size)
{
    size_t n = 0;

    while (n + 1 < size) {
        long r = t->read(t, buf + n, 1, TIMEOUT_MS);
        if (r != 1)
            fail_msg("read: %ld %s", r, pps_error_last()->message);
        if (buf[n++] == '\n')
            break;
    }
    buf[n] = '\0';
}

static void command(pps_transport *t, const char *cmd, char *reply, size_t size)
{
    size_t len = strlen(cmd);

    assert_int_equal(t->write(t, cmd, len, TIMEOUT_MS), (long)len);
    read_line(t, reply, size);
}

/* Greeting, CAPA (multi-line) and QUIT over whatever t is connected by. */
static void talk_pop3(pps_transport *t, int greeted)
{
    char line[LINE_MAX_POP3 + 1];
    int lines = 0;

    if (!greeted) {
        read_line(t, line, sizeof(line));
        assert_memory_equal(line, "+OK", 3);
    }
    command(t, "CAPA\r\n", line, sizeof(line));
    assert_memory_equal(line, "+OK", 3);
    do {
        read_line(t, line, sizeof(line));
        lines++;
    } while (strcmp(line, ".\r\n") != 0 && lines < 100);
    assert_true(lines > 1 && lines < 100);
    command(t, "QUIT\r\n", line, sizeof(line));
    assert_memory_equal(line, "+OK", 3);
    assert_int_equal(t->read(t, line, sizeof(line), TIMEOUT_MS), 0);
}

static int connect_with(const pps_tls_options *o, const char *host,
                        const char *port_var, int implicit_tls)
{
    pps_server_address a = address(host, port_var, implicit_tls);
    pps_transport *t = NULL;
    int rc;

    assert_int_equal(pps_transport_tcp_new(&t, o), 0);
    rc = t->connect(t, &a, TIMEOUT_MS);
    if (rc == 0) {
        assert_int_equal(t->is_tls(t), implicit_tls);
        talk_pop3(t, 0);
    }
    pps_transport_free(t);
    return rc;
}

static pps_tls_options with_ca(void)
{
    pps_tls_options o = PPS_TLS_OPTIONS_INIT;

    o.ca_file = env("PPS_TB_CA_FILE");
    return o;
}

/* 1 when the test bed's variables are there. */
static int have_testbed(void)
{
    return env("PPS_TB_HOST") && env("PPS_TB_CA_FILE") &&
           env("PPS_TB_CERT_NAME") && env("PPS_TB_WRONGHOST_HOST") &&
           env("PPS_TB_EXPIRED_HOST") && env("PPS_TB_SELFSIGNED_HOST") &&
           env_port("PPS_TB_POP3S_PORT") && env_port("PPS_TB_POP3_PORT");
}

static void test_pop3s_good(void **state)
{
    pps_tls_options o = with_ca();

    (void)state;
    if (connect_with(&o, env("PPS_TB_CERT_NAME"), "PPS_TB_POP3S_PORT", 1))
        fail_msg("by name: %s", pps_error_last()->message);
    if (connect_with(&o, env("PPS_TB_HOST"), "PPS_TB_POP3S_PORT", 1))
        fail_msg("by IP: %s", pps_error_last()->message);
}

typedef struct bad_case {
    const char *host_var;
    const char *reason;
} bad_case;

static const bad_case bad[] = {
    {"PPS_TB_WRONGHOST_HOST", "hostname mismatch"},
    {"PPS_TB_EXPIRED_HOST", "certificate has expired"},
    {"PPS_TB_SELFSIGNED_HOST", "self-signed certificate"},
};

static void test_pop3s_bad_certificates(void **state)
{
    pps_tls_options o = with_ca();
    size_t i;
    int rc;

    (void)state;
    /* Each bad listener is an address of its own; verify the name the
     * good certificate carries, as a profile for "localhost" would. */
    o.server_name = env("PPS_TB_CERT_NAME");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rc = connect_with(&o, env(bad[i].host_var), "PPS_TB_POP3S_PORT", 1);
        if (rc != PPS_ETLS ||
            !strstr(pps_error_last()->message, bad[i].reason) ||
            !strstr(pps_error_last()->message, env(bad[i].host_var)))
            fail_msg("%s: rc %d \"%s\"", bad[i].host_var, rc,
                     pps_error_last()->message);
    }
    /* The system store does not know the test CA. */
    o = (pps_tls_options)PPS_TLS_OPTIONS_INIT;
    assert_int_equal(
        connect_with(&o, env("PPS_TB_CERT_NAME"), "PPS_TB_POP3S_PORT", 1),
        PPS_ETLS);
    assert_message_has("unable to get local issuer certificate");
}

static void test_pin_from_the_refusal(void **state)
{
    pps_tls_options o = PPS_TLS_OPTIONS_INIT;
    const char *host = env("PPS_TB_SELFSIGNED_HOST");
    char fp[128];
    const char *at;

    (void)state;
    /* What an administrator does: read the fingerprint in the refusal,
     * check it, pin it. */
    assert_int_equal(connect_with(&o, host, "PPS_TB_POP3S_PORT", 1), PPS_ETLS);
    at = strstr(pps_error_last()->message, "SHA-256 fingerprint ");
    assert_non_null(at);
    snprintf(fp, sizeof(fp), "%.95s", at + strlen("SHA-256 fingerprint "));
    o.fingerprint_sha256 = fp;
    if (connect_with(&o, host, "PPS_TB_POP3S_PORT", 1) != 0)
        fail_msg("pinned: %s", pps_error_last()->message);
    /* The good server, though signed by a trusted CA, is not the pin. */
    o.ca_file = env("PPS_TB_CA_FILE");
    assert_int_equal(
        connect_with(&o, env("PPS_TB_CERT_NAME"), "PPS_TB_POP3S_PORT", 1),
        PPS_ETLS);
    assert_message_has("not the pinned tls_fingerprint");
}

static int warnings;

static void count_warnings(pps_log_level level, const char *profile,
                           const char *message, void *payload)
{
    (void)profile;
    (void)payload;
    if (level == PPS_LOG_WARN && strstr(message, "NOT verified"))
        warnings++;
}

static void test_verify_off(void **state)
{
    pps_tls_options o = PPS_TLS_OPTIONS_INIT;

    (void)state;
    o.verify = 0;
    pps_log_set(count_warnings, PPS_LOG_WARN, NULL);
    warnings = 0;
    if (connect_with(&o, env("PPS_TB_SELFSIGNED_HOST"), "PPS_TB_POP3S_PORT",
                     1) != 0)
        fail_msg("%s", pps_error_last()->message);
    assert_int_equal(warnings, 1);
    pps_log_set(NULL, PPS_LOG_ERROR, NULL);
}

/* Plain connect, STLS, verify; returns start_tls's status. */
static int stls(const pps_tls_options *o, const char *host)
{
    pps_server_address a = address(host, "PPS_TB_POP3_PORT", 0);
    char line[LINE_MAX_POP3 + 1];
    pps_transport *t = NULL;
    int rc;

    assert_int_equal(pps_transport_tcp_new(&t, o), 0);
    if (t->connect(t, &a, TIMEOUT_MS) != 0)
        fail_msg("%s", pps_error_last()->message);
    assert_int_equal(t->is_tls(t), 0);
    read_line(t, line, sizeof(line));
    assert_memory_equal(line, "+OK", 3);
    command(t, "STLS\r\n", line, sizeof(line));
    assert_memory_equal(line, "+OK", 3);
    rc = t->start_tls(t, TIMEOUT_MS);
    if (rc == 0) {
        assert_int_equal(t->is_tls(t), 1);
        talk_pop3(t, 1);
    }
    pps_transport_free(t);
    return rc;
}

static void test_stls(void **state)
{
    pps_tls_options o = with_ca();

    (void)state;
    if (stls(&o, env("PPS_TB_CERT_NAME")) != 0)
        fail_msg("%s", pps_error_last()->message);
    o.server_name = env("PPS_TB_CERT_NAME");
    assert_int_equal(stls(&o, env("PPS_TB_WRONGHOST_HOST")), PPS_ETLS);
    assert_message_has("hostname mismatch");
}

static pps__tls_session_stats session_stats(void)
{
    pps__tls_session_stats s;

    pps__tls_session_cache_stats(&s);
    return s;
}

/*
 * Each connection after the first offers the session the one before it
 * got (Dovecot sends TLS 1.3 tickets, lifetime 7200 s), whether Dovecot
 * then resumes it or makes a full handshake.  Each login process has its
 * own ticket key: one that serves one connection (Dovecot's default)
 * never resumes; under `testbed.py run --reuse-processes` (two login
 * processes serving many) a session resumes when the connection lands on
 * the process that issued it, which varies from run to run (0 to 18 of
 * 19 seen), so resumption itself is not asserted here: docs/tls.md.
 */
static void sessions(const char *what, int implicit_tls)
{
    pps_tls_options o = with_ca();
    pps__tls_session_stats s0, s1;
    int i;

    pps_tls_cache_clear();
    s0 = session_stats();
    for (i = 0; i < SESSION_ROUNDS; i++)
        if ((implicit_tls ? connect_with(&o, env("PPS_TB_CERT_NAME"),
                                         "PPS_TB_POP3S_PORT", 1)
                          : stls(&o, env("PPS_TB_CERT_NAME"))) != 0)
            fail_msg("%s, connection %d: %s", what, i,
                     pps_error_last()->message);
    s1 = session_stats();
    printf("%s: %d connections, %lu offered a session, %lu resumed\n", what,
           SESSION_ROUNDS, s1.offered - s0.offered, s1.resumed - s0.resumed);
    assert_int_equal(s1.offered - s0.offered, SESSION_ROUNDS - 1);
    assert_int_equal(s1.entries, 1);
}

static void test_sessions(void **state)
{
    pps_tls_options o = with_ca();
    pps__tls_session_stats s0;

    (void)state;
    sessions("implicit TLS", 1);
    sessions("STLS", 0);
    /* The wrong-host listener shares the port: the session kept for the
     * good one is not offered there, and the name is checked. */
    o.server_name = env("PPS_TB_CERT_NAME");
    s0 = session_stats();
    assert_int_equal(
        connect_with(&o, env("PPS_TB_WRONGHOST_HOST"), "PPS_TB_POP3S_PORT", 1),
        PPS_ETLS);
    assert_message_has("hostname mismatch");
    assert_int_equal(session_stats().offered, s0.offered);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pop3s_good),
        cmocka_unit_test(test_pop3s_bad_certificates),
        cmocka_unit_test(test_pin_from_the_refusal),
        cmocka_unit_test(test_verify_off),
        cmocka_unit_test(test_stls),
        cmocka_unit_test(test_sessions),
    };

    if (!have_testbed()) {
        fprintf(stderr, "no test bed: run under tests/testbed/testbed.py\n");
        return 77; /* meson: skipped */
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
