/*
 * test-tls.c - the default transport's TLS against in-process servers
 * with a CA and certificates made at test time (pki.c): what is accepted,
 * what is refused and with which words, pinning, the opt-out and its
 * warning, old protocol versions, STLS, deadlines and SIGPIPE.
 */
#include "../helpers/pps-test.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "pps/errors.h"
#include "pps/log.h"
#include "pps/transport.h"
#include "peer.h"
#include "pki.h"

#define SHORT_TIMEOUT_MS 300
#define SLACK_MS         1500
#define LONG_TIMEOUT_MS  5000

static test_pki pki;

/* --- the server side ----------------------------------------------------- */

typedef struct tls_server {
    X509 *cert;
    int max_version;  /* 0: OpenSSL's default range */
    int stls;         /* POP3-style: plain greeting, STLS, then TLS */
    int drop_at_once; /* close right after the handshake, no close_notify */
    int handshake_ok; /* out */
    char sni[64];     /* out: the name the client sent, "" for none */
} tls_server;

static int ssl_read_line(SSL *ssl, char *buf, size_t size)
{
    size_t n = 0;

    while (n + 1 < size && SSL_read(ssl, buf + n, 1) == 1)
        if (buf[n++] == '\n')
            break;
    buf[n] = '\0';
    return n > 0 ? 0 : -1;
}

static SSL_CTX *server_ctx(const tls_server *s)
{
    SSL_CTX *ctx = test_pki_server_ctx(&pki, s->cert);

    if (ctx != NULL && s->max_version) {
        /* OpenSSL 3.0 allows TLS 1.0/1.1 only at security level 0 (their
         * signatures use SHA-1/MD5); Debian 12's openssl.cnf sets no
         * MinProtocol, so this is all an old server needs. */
        SSL_CTX_set_security_level(ctx, 0);
        SSL_CTX_set_cipher_list(ctx, "DEFAULT@SECLEVEL=0");
        SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
        SSL_CTX_set_max_proto_version(ctx, s->max_version);
    }
    return ctx;
}

static void serve_tls(int fd, test_peer *p)
{
    tls_server *s = p->arg;
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    sigset_t block;
    char line[256];

    /* This thread writes with SSL_set_fd's write(): a client that left
     * must not raise SIGPIPE for the whole test process. */
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, NULL);
    if ((ctx = server_ctx(s)) == NULL)
        goto out;
    if (s->stls) {
        peer_write_all(fd, "+OK ready\r\n");
        if (peer_read_line(fd, line, sizeof(line)) < 0 ||
            strcmp(line, "STLS\r\n") != 0)
            goto out;
        peer_write_all(fd, "+OK begin TLS\r\n");
    }
    if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
        SSL_accept(ssl) != 1)
        goto out;
    s->handshake_ok = 1;
    snprintf(s->sni, sizeof(s->sni), "%s",
             SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)
                 ? SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)
                 : "");
    if (s->drop_at_once)
        goto out;
    SSL_write(ssl, "+OK hello\r\n", 11);
    if (ssl_read_line(ssl, line, sizeof(line)) == 0)
        SSL_write(ssl, line, (int)strlen(line));
    while (SSL_read(ssl, line, sizeof(line)) > 0)
        ; /* until the client closes */
    SSL_shutdown(ssl);
out:
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ERR_clear_error();
}

/* --- the client side ----------------------------------------------------- */

static pps_server_address address(const char *host, unsigned int port,
                                  int implicit_tls)
{
    pps_server_address a = PPS_SERVER_ADDRESS_INIT;

    snprintf(a.host, sizeof(a.host), "%s", host);
    a.port = port;
    a.implicit_tls = implicit_tls;
    a.is_ipv6_literal = strchr(host, ':') != NULL;
    return a;
}

static pps_tls_options trusting_ca(void)
{
    pps_tls_options o = PPS_TLS_OPTIONS_INIT;

    o.ca_file = pki.ca_file;
    return o;
}

static void read_exactly(pps_transport *t, char *buf, size_t want)
{
    size_t got = 0;

    while (got < want) {
        long n = t->read(t, buf + got, want - got, LONG_TIMEOUT_MS);
        if (n <= 0)
            fail_msg("read returned %ld: %s", n, pps_error_last()->message);
        got += (size_t)n;
    }
    buf[got] = '\0';
}

/* The server's greeting, one line echoed, then a clean close_notify. */
static void exchange(pps_transport *t)
{
    char buf[64];

    assert_int_equal(t->is_tls(t), 1);
    read_exactly(t, buf, 11);
    assert_string_equal(buf, "+OK hello\r\n");
    assert_int_equal(t->write(t, "QUIT\r\n", 6, LONG_TIMEOUT_MS), 6);
    read_exactly(t, buf, 6);
    assert_string_equal(buf, "QUIT\r\n");
}

/*
 * Connect a new transport with opts to host, where a server thread
 * presents `cert`; returns connect's status (the transport is freed).
 */
static int try_connect(const pps_tls_options *opts, X509 *cert,
                       const char *host, tls_server *seen)
{
    tls_server s = {cert, 0, 0, 0, 0, ""};
    pps_transport *t = NULL;
    pps_server_address a;
    test_peer p;
    int rc;

    assert_int_equal(pps_transport_tcp_new(&t, opts), 0);
    assert_int_equal(test_peer_start(&p, strchr(host, ':') ? AF_INET6 : AF_INET,
                                     serve_tls, &s),
                     0);
    a = address(host, p.port, 1);
    rc = t->connect(t, &a, LONG_TIMEOUT_MS);
    if (rc == 0)
        exchange(t);
    else
        assert_int_equal(t->is_tls(t), 0);
    pps_transport_free(t);
    test_peer_stop(&p);
    if (seen)
        *seen = s;
    return rc;
}

/* --- accepted ------------------------------------------------------------- */

static void test_good_certificate(void **state)
{
    pps_tls_options o = trusting_ca();
    tls_server seen;

    (void)state;
    if (try_connect(&o, pki.good, "localhost", &seen) != 0)
        fail_msg("localhost: %s", pps_error_last()->message);
    assert_string_equal(seen.sni, "localhost");
    /* Fully qualified: verified and sent without the final dot.  (Set
     * as server_name: "localhost." may not resolve here.) */
    o.server_name = "localhost.";
    if (try_connect(&o, pki.good, "127.0.0.1", &seen) != 0)
        fail_msg("localhost.: %s", pps_error_last()->message);
    assert_string_equal(seen.sni, "localhost");
    o.server_name = NULL;
    /* An IP literal is checked against the IP SANs, and sends no SNI
     * (RFC 6066 section 3). */
    if (try_connect(&o, pki.good, "127.0.0.1", &seen) != 0)
        fail_msg("127.0.0.1: %s", pps_error_last()->message);
    assert_string_equal(seen.sni, "");
}

static void test_good_certificate_ipv6(void **state)
{
    pps_tls_options o = trusting_ca();

    (void)state;
    if (!peer_have_ipv6())
        skip();
    if (try_connect(&o, pki.good, "::1", NULL) != 0)
        fail_msg("::1: %s", pps_error_last()->message);
}

static void test_server_name_option(void **state)
{
    pps_tls_options o = trusting_ca();

    (void)state;
    /* Connect by address, verify the name the certificate carries. */
    o.server_name = "wrong.example";
    if (try_connect(&o, pki.wrong_host, "127.0.0.1", NULL) != 0)
        fail_msg("%s", pps_error_last()->message);
}

static void test_reconnect_reuses_transport(void **state)
{
    pps_tls_options o = trusting_ca();
    pps_transport *t = NULL;
    int round;

    (void)state;
    assert_int_equal(pps_transport_tcp_new(&t, &o), 0);
    for (round = 0; round < 3; round++) {
        tls_server s = {pki.good, 0, 0, 0, 0, ""};
        pps_server_address a;
        test_peer p;

        assert_int_equal(test_peer_start(&p, AF_INET, serve_tls, &s), 0);
        a = address("localhost", p.port, 1);
        if (t->connect(t, &a, LONG_TIMEOUT_MS) != 0)
            fail_msg("round %d: %s", round, pps_error_last()->message);
        exchange(t);
        t->close(t);
        assert_int_equal(t->is_tls(t), 0);
        test_peer_stop(&p);
    }
    pps_transport_free(t);
}

/* --- refused ---------------------------------------------------------------
 */

typedef struct refused_case {
    const char *name;
    X509 **cert;
    const char *host;
    int use_ca; /* 0: the system store, which lacks the test CA */
    const char *reason;
    const char *hint;
} refused_case;

static const refused_case refused[] = {
    {"wrong host", &pki.wrong_host, "localhost", 1, "hostname mismatch",
     "another name"},
    {"wrong IP", &pki.wrong_host, "127.0.0.1", 1, "IP address mismatch",
     "another name"},
    {"expired", &pki.expired, "localhost", 1, "certificate has expired",
     "clock"},
    {"self-signed", &pki.self_signed, "localhost", 1, "self-signed certificate",
     "tls_fingerprint"},
    {"untrusted CA", &pki.untrusted, "localhost", 1,
     "unable to get local issuer certificate", "tls_ca_file"},
    {"system store", &pki.good, "localhost", 0,
     "unable to get local issuer certificate", "tls_ca_file"},
};

static void test_refused_certificates(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        pps_tls_options o = PPS_TLS_OPTIONS_INIT;
        const char *m;
        char fp[96], host[64];
        tls_server seen;
        int rc, hs;

        if (refused[i].use_ca)
            o.ca_file = pki.ca_file;
        rc = try_connect(&o, *refused[i].cert, refused[i].host, &seen);
        hs = seen.handshake_ok;
        m = pps_error_last()->message;
        test_pki_fingerprint(fp, *refused[i].cert);
        snprintf(host, sizeof(host), "%s port ", refused[i].host);
        if (rc != PPS_ETLS || !strstr(m, refused[i].reason) ||
            !strstr(m, refused[i].hint) || !strstr(m, host) || !strstr(m, fp) ||
            hs != 0)
            fail_msg("%s: rc %d, handshake %d, \"%s\" (want reason \"%s\", "
                     "hint \"%s\", \"%s\", fingerprint)",
                     refused[i].name, rc, hs, m, refused[i].reason,
                     refused[i].hint, host);
    }
}

/* --- pinning ----------------------------------------------------------------
 */

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static void test_pin_accepts_exactly_the_pinned(void **state)
{
    pps_tls_options o = PPS_TLS_OPTIONS_INIT; /* no CA: the pin is trust */
    char fp[96];

    (void)state;
    test_pki_fingerprint(fp, pki.self_signed);
    lower(fp);
    o.fingerprint_sha256 = fp;
    if (try_connect(&o, pki.self_signed, "localhost", NULL) != 0)
        fail_msg("pinned self-signed: %s", pps_error_last()->message);
    /* The pin replaces chain and name checks: by IP, still accepted. */
    if (try_connect(&o, pki.self_signed, "127.0.0.1", NULL) != 0)
        fail_msg("pinned by IP: %s", pps_error_last()->message);
    /* Any other certificate is refused, even one the CA vouches for. */
    o.ca_file = pki.ca_file;
    assert_int_equal(try_connect(&o, pki.good, "localhost", NULL), PPS_ETLS);
    assert_message_has("not the pinned tls_fingerprint");
    test_pki_fingerprint(fp, pki.good);
    assert_message_has(fp);
    /* An expired certificate, when pinned, is what the admin chose. */
    test_pki_fingerprint(fp, pki.expired);
    assert_int_equal(try_connect(&o, pki.expired, "localhost", NULL), 0);
    /* verify = 0 does not turn the pin off. */
    o.verify = 0;
    assert_int_equal(try_connect(&o, pki.good, "localhost", NULL), PPS_ETLS);
    assert_message_has("not the pinned tls_fingerprint");
}

/* --- the opt-out ------------------------------------------------------------
 */

typedef struct log_capture {
    int warnings;
    char profile[64];
    char last[1024];
} log_capture;

static void capture(pps_log_level level, const char *profile,
                    const char *message, void *payload)
{
    log_capture *c = payload;

    if (level != PPS_LOG_WARN)
        return;
    c->warnings++;
    snprintf(c->profile, sizeof(c->profile), "%s", profile ? profile : "");
    snprintf(c->last, sizeof(c->last), "%s", message);
}

static void test_verify_off_connects_and_warns(void **state)
{
    pps_tls_options o = PPS_TLS_OPTIONS_INIT;
    log_capture c;

    (void)state;
    memset(&c, 0, sizeof(c));
    o.verify = 0;
    o.log_context = "remote1";
    pps_log_set(capture, PPS_LOG_DEBUG, &c);
    if (try_connect(&o, pki.self_signed, "localhost", NULL) != 0)
        fail_msg("%s", pps_error_last()->message);
    assert_int_equal(c.warnings, 1);
    assert_string_equal(c.profile, "remote1");
    if (!strstr(c.last, "NOT verified") || !strstr(c.last, "localhost") ||
        !strstr(c.last, "self-signed"))
        fail_msg("warning: %s", c.last);
    /* Every connect warns again, saying what verification found. */
    o.ca_file = pki.ca_file;
    assert_int_equal(try_connect(&o, pki.wrong_host, "localhost", NULL), 0);
    assert_int_equal(c.warnings, 2);
    assert_non_null(strstr(c.last, "hostname mismatch"));
    /* A verified connect does not warn. */
    o.verify = 1;
    assert_int_equal(try_connect(&o, pki.good, "localhost", NULL), 0);
    assert_int_equal(c.warnings, 2);
    pps_log_set(NULL, PPS_LOG_ERROR, NULL);
}

/* --- protocol versions ---------------------------------------------------- */

/* A plain OpenSSL client that accepts TLS 1.0+: proves the server really
 * speaks the old version (so the transport's refusal means something). */
static int old_client_connects(unsigned int port)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    pps_transport *unused = NULL;
    SSL *ssl = NULL;
    BIO *bio;
    char target[32];
    int ok = 0;

    (void)unused;
    snprintf(target, sizeof(target), "127.0.0.1:%u", port);
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_cipher_list(ctx, "DEFAULT@SECLEVEL=0");
    SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
    bio = BIO_new_ssl_connect(ctx);
    BIO_get_ssl(bio, &ssl);
    BIO_set_conn_hostname(bio, target);
    if (BIO_do_handshake(bio) == 1)
        ok = SSL_version(ssl) == TLS1_1_VERSION;
    BIO_free_all(bio);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

static void test_tls11_server_refused(void **state)
{
    tls_server old = {pki.good, TLS1_1_VERSION, 0, 0, 0, ""};
    tls_server s = {pki.good, TLS1_1_VERSION, 0, 0, 0, ""};
    pps_tls_options o = trusting_ca();
    pps_transport *t = NULL;
    pps_server_address a;
    test_peer p;

    (void)state;
    assert_int_equal(test_peer_start(&p, AF_INET, serve_tls, &old), 0);
    assert_true(old_client_connects(p.port));
    test_peer_stop(&p);

    o.min_version = 0x0301; /* asking for TLS 1.0 still means 1.2 */
    assert_int_equal(pps_transport_tcp_new(&t, &o), 0);
    assert_int_equal(test_peer_start(&p, AF_INET, serve_tls, &s), 0);
    a = address("localhost", p.port, 1);
    assert_int_equal(t->connect(t, &a, LONG_TIMEOUT_MS), PPS_ETLS);
    assert_message_has("TLS 1.2 is the minimum");
    assert_int_equal(s.handshake_ok, 0);
    pps_transport_free(t);
    test_peer_stop(&p);
}

static void test_min_version_13(void **state)
{
    tls_server s = {pki.good, TLS1_2_VERSION, 0, 0, 0, ""};
    pps_tls_options o = trusting_ca();
    pps_transport *t = NULL;
    pps_server_address a;
    test_peer p;

    (void)state;
    o.min_version = 0x0304;
    assert_int_equal(pps_transport_tcp_new(&t, &o), 0);
    assert_int_equal(test_peer_start(&p, AF_INET, serve_tls, &s), 0);
    a = address("localhost", p.port, 1);
    assert_int_equal(t->connect(t, &a, LONG_TIMEOUT_MS), PPS_ETLS);
    assert_message_has("handshake");
    pps_transport_free(t);
    test_peer_stop(&p);
}

/* --- STLS -------------------------------------------------------------------
 */

static int stls(X509 *cert, int *connected_plain, const char *hint)
{
    tls_server s = {cert, 0, 1, 0, 0, ""};
    pps_tls_options o = trusting_ca();
    pps_transport *t = NULL;
    pps_server_address a;
    test_peer p;
    char buf[64];
    int rc;

    assert_int_equal(pps_transport_tcp_new(&t, &o), 0);
    assert_int_equal(test_peer_start(&p, AF_INET, serve_tls, &s), 0);
    a = address("localhost", p.port, 0);
    assert_int_equal(t->connect(t, &a, LONG_TIMEOUT_MS), 0);
    *connected_plain = !t->is_tls(t);
    read_exactly(t, buf, 11);
    assert_string_equal(buf, "+OK ready\r\n");
    assert_int_equal(t->write(t, "STLS\r\n", 6, LONG_TIMEOUT_MS), 6);
    read_exactly(t, buf, 15);
    assert_string_equal(buf, "+OK begin TLS\r\n");
    rc = t->start_tls(t, LONG_TIMEOUT_MS);
    if (rc == 0) {
        exchange(t);
        assert_int_equal(t->start_tls(t, LONG_TIMEOUT_MS), PPS_EINVAL);
    } else {
        assert_message_has(hint);
        /* A refused upgrade leaves the transport closed. */
        assert_int_equal(t->is_tls(t), 0);
        assert_int_equal(t->write(t, "x", 1, 10), PPS_EINVAL);
    }
    pps_transport_free(t);
    test_peer_stop(&p);
    return rc;
}

static void test_stls_upgrade(void **state)
{
    int plain = 0;

    (void)state;
    if (stls(pki.good, &plain, NULL) != 0)
        fail_msg("%s", pps_error_last()->message);
    assert_true(plain);
    assert_int_equal(stls(pki.wrong_host, &plain, "hostname mismatch"),
                     PPS_ETLS);
}

/* --- deadlines, wrong ports, dead peers ------------------------------------
 */

static void serve_silent(int fd, test_peer *p)
{
    peer_wait_for_stop(fd, p);
}

static void serve_plain_pop3(int fd, test_peer *p)
{
    peer_write_all(fd, "+OK POP3 server ready <1.2@example>\r\n");
    peer_wait_for_stop(fd, p);
}

static void test_handshake_timeout(void **state)
{
    pps_tls_options o = trusting_ca();
    pps_transport *t = NULL;
    pps_server_address a;
    struct timespec t0, t1;
    test_peer p;
    long ms;

    (void)state;
    assert_int_equal(pps_transport_tcp_new(&t, &o), 0);
    assert_int_equal(test_peer_start(&p, AF_INET, serve_silent, NULL), 0);
    a = address("127.0.0.1", p.port, 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(t->connect(t, &a, SHORT_TIMEOUT_MS), PPS_ETIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_message_has("TLS handshake with 127.0.0.1 port");
    if (ms < SHORT_TIMEOUT_MS - 10 || ms > SHORT_TIMEOUT_MS + SLACK_MS)
        fail_msg("handshake gave up after %ld ms, asked %d", ms,
                 SHORT_TIMEOUT_MS);
    pps_transport_free(t);
    test_peer_stop(&p);
}

static void serve_close(int fd, test_peer *p)
{
    (void)fd;
    (void)p;
}

static void test_peer_closes_during_handshake(void **state)
{
    pps_tls_options o = trusting_ca();
    pps_transport *t = NULL;
    pps_server_address a;
    test_peer p;
    int rc;

    (void)state;
    assert_int_equal(pps_transport_tcp_new(&t, &o), 0);
    assert_int_equal(test_peer_start(&p, AF_INET, serve_close, NULL), 0);
    a = address("127.0.0.1", p.port, 1);
    rc = t->connect(t, &a, LONG_TIMEOUT_MS);
    if (rc != PPS_ENET)
        fail_msg("connect gave %d: %s", rc, pps_error_last()->message);
    assert_message_has("during the TLS handshake");
    assert_message_has("127.0.0.1 port");
    assert_int_equal(t->is_tls(t), 0);
    pps_transport_free(t);
    test_peer_stop(&p);
}

static void test_plain_server_on_tls_port(void **state)
{
    pps_tls_options o = trusting_ca();
    pps_transport *t = NULL;
    pps_server_address a;
    test_peer p;

    (void)state;
    assert_int_equal(pps_transport_tcp_new(&t, &o), 0);
    assert_int_equal(test_peer_start(&p, AF_INET, serve_plain_pop3, NULL), 0);
    a = address("127.0.0.1", p.port, 1);
    assert_int_equal(t->connect(t, &a, LONG_TIMEOUT_MS), PPS_ETLS);
    assert_message_has("wrong version number");
    assert_message_has("STLS");
    pps_transport_free(t);
    test_peer_stop(&p);
}

static void dropped_tls_peer(int read_first)
{
    tls_server s = {pki.good, 0, 0, 1, 0, ""};
    pps_tls_options o = trusting_ca();
    static char block[64 * 1024];
    pps_transport *t = NULL;
    pps_server_address a;
    test_peer p;
    char buf[16];
    long rc = 0;
    int i;

    assert_int_equal(pps_transport_tcp_new(&t, &o), 0);
    assert_int_equal(test_peer_start(&p, AF_INET, serve_tls, &s), 0);
    a = address("localhost", p.port, 1);
    assert_int_equal(t->connect(t, &a, LONG_TIMEOUT_MS), 0);
    test_peer_stop(&p); /* gone, without close_notify */
    assert_int_equal(s.handshake_ok, 1);
    if (read_first) {
        /* End of stream, not an error: POP3's framing catches a
         * truncated reply. */
        rc = t->read(t, buf, sizeof(buf), LONG_TIMEOUT_MS);
        if (rc != 0)
            fail_msg("read: %ld %s", rc, pps_error_last()->message);
    }
    memset(block, 'x', sizeof(block));
    for (i = 0; i < 100 && rc >= 0; i++)
        rc = t->write(t, block, sizeof(block), LONG_TIMEOUT_MS);
    if (rc != PPS_ENET)
        fail_msg("write (read first: %d): %ld %s", read_first, rc,
                 pps_error_last()->message);
    assert_message_has("localhost port");
    pps_transport_free(t);
}

static void test_dropped_tls_peer(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill this test */
    dropped_tls_peer(1);
    dropped_tls_peer(0);
}

static int setup(void **state)
{
    (void)state;
    return test_pki_make(&pki);
}

static int teardown(void **state)
{
    (void)state;
    test_pki_free(&pki);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_certificate),
        cmocka_unit_test(test_good_certificate_ipv6),
        cmocka_unit_test(test_server_name_option),
        cmocka_unit_test(test_reconnect_reuses_transport),
        cmocka_unit_test(test_refused_certificates),
        cmocka_unit_test(test_pin_accepts_exactly_the_pinned),
        cmocka_unit_test(test_verify_off_connects_and_warns),
        cmocka_unit_test(test_tls11_server_refused),
        cmocka_unit_test(test_min_version_13),
        cmocka_unit_test(test_stls_upgrade),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_peer_closes_during_handshake),
        cmocka_unit_test(test_plain_server_on_tls_port),
        cmocka_unit_test(test_dropped_tls_peer),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
