/*
 * test-tls-resume.c - TLS sessions kept between connections
 * (libpps/fetch/tls-session.c): the second connection to a server resumes,
 * over TLS 1.3 and 1.2; another name, trust setting, pin or an opted-out
 * profile does not get the session; pps_tls_cache_clear() forgets it; a
 * server that refuses it gets a full, verified handshake; a resumed
 * session whose certificate fails the pin, the name or the carried
 * verification is refused; the table is bounded and ages; threads
 * resume while another thread clears (ASan/UBSan in build-san).
 *
 * The server here keeps one SSL_CTX across connections (its ticket key):
 * a new one is a server that refuses every earlier session.
 */
#include "../helpers/pps-test.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "pps/errors.h"
#include "pps/transport.h"
#include "core/internal.h"
#include "fetch/tls.h"
#include "pki.h"

#define TIMEOUT_MS 5000

/* The server gives up after this long without a connection. */
#define PEER_WAIT_S 10
#define GREETING    "+OK hello\r\n"

static test_pki pki;

/* --- a server for many connections ---------------------------------------- */

typedef struct server {
    int listen_fd;
    unsigned int port;
    int stop_pipe[2];
    pthread_t thread;
    pthread_mutex_t lock;
    SSL_CTX *ctx;      /* the current one (its ticket key) */
    atomic_int full;   /* handshakes that did not resume */
    atomic_int reused; /* handshakes that resumed a session */
    atomic_int served; /* connections done with */
} server;

static SSL_CTX *server_ctx(X509 *cert, int max_version)
{
    SSL_CTX *ctx = test_pki_server_ctx(&pki, cert);

    assert_non_null(ctx);
    if (max_version)
        assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max_version), 1);
    return ctx;
}

static void serve_one(server *s, int fd)
{
    struct timeval tv = {PEER_WAIT_S, 0};
    SSL_CTX *ctx;
    SSL *ssl;
    char buf[64];

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    pthread_mutex_lock(&s->lock);
    ctx = s->ctx;
    SSL_CTX_up_ref(ctx);
    pthread_mutex_unlock(&s->lock);
    if ((ssl = SSL_new(ctx)) != NULL && SSL_set_fd(ssl, fd) == 1 &&
        SSL_accept(ssl) == 1) {
        if (SSL_session_reused(ssl))
            s->reused++;
        else
            s->full++;
        SSL_write(ssl, GREETING, sizeof(GREETING) - 1);
        while (SSL_read(ssl, buf, sizeof(buf)) > 0)
            ; /* until the client closes */
        SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ERR_clear_error();
}

static void *server_main(void *data)
{
    server *s = data;

    for (;;) {
        struct pollfd fds[2] = {{s->listen_fd, POLLIN, 0},
                                {s->stop_pipe[0], POLLIN, 0}};
        int fd;

        if (poll(fds, 2, PEER_WAIT_S * 1000) <= 0 || fds[1].revents)
            return NULL;
        if ((fd = accept(s->listen_fd, NULL, NULL)) >= 0) {
            serve_one(s, fd);
            close(fd);
            s->served++;
        }
    }
}

static void server_start(server *s, X509 *cert, int max_version)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);

    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->ctx = server_ctx(cert, max_version);
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->listen_fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->listen_fd, 64), 0);
    assert_int_equal(getsockname(s->listen_fd, (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pipe(s->stop_pipe), 0);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

/* A new server context: sessions from the old one are refused. */
static void server_new_ctx(server *s, X509 *cert, int max_version)
{
    SSL_CTX *ctx = server_ctx(cert, max_version), *old;

    pthread_mutex_lock(&s->lock);
    old = s->ctx;
    s->ctx = ctx;
    pthread_mutex_unlock(&s->lock);
    SSL_CTX_free(old);
}

/* Wait until the server is done with n connections: a client that fails
 * the handshake may return before the server has counted it. */
static void server_wait(server *s, int n)
{
    int i;

    for (i = 0; i < PEER_WAIT_S * 100 && s->served < n; i++)
        usleep(10 * 1000);
    assert_int_equal(s->served, n);
}

static void server_stop(server *s)
{
    assert_int_equal(write(s->stop_pipe[1], "x", 1), 1);
    pthread_join(s->thread, NULL);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    close(s->listen_fd);
    SSL_CTX_free(s->ctx);
    pthread_mutex_destroy(&s->lock);
}

/* --- clients -----------------------------------------------------------------
 */

/* One poll's worth: a new transport, connect, read the greeting (which
 * brings TLS 1.3 tickets), close.  No cmocka assertion: threads call it. */
static int poll_once(const pps_tls_options *o, const char *host,
                     unsigned int port)
{
    pps_server_address a = PPS_SERVER_ADDRESS_INIT;
    pps_transport *t = NULL;
    char buf[sizeof(GREETING)];
    size_t got = 0;
    long n;
    int rc;

    if ((rc = pps_transport_tcp_new(&t, o)) < 0)
        return rc;
    snprintf(a.host, sizeof(a.host), "%s", host);
    a.port = port;
    a.implicit_tls = 1;
    rc = t->connect(t, &a, TIMEOUT_MS);
    while (rc == 0 && got < sizeof(GREETING) - 1) {
        n = t->read(t, buf + got, sizeof(GREETING) - 1 - got, TIMEOUT_MS);
        if (n <= 0)
            rc = n < 0 ? (int)n : PPS_ENET;
        else
            got += (size_t)n;
    }
    if (rc == 0 && memcmp(buf, GREETING, got) != 0)
        rc = PPS_EPROTO;
    pps_transport_free(t);
    return rc;
}

#define assert_polls(o, host, port)                                \
    do {                                                           \
        if (poll_once((o), (host), (port)) != 0)                   \
            fail_msg("%s: %s", (host), pps_error_last()->message); \
    } while (0)

static pps__tls_session_stats stats(void)
{
    pps__tls_session_stats s;

    pps__tls_session_cache_stats(&s);
    return s;
}

/* A session made by a bare OpenSSL client that checks nothing (and so
 * gets whatever verification result the server's certificate earns):
 * what a session kept by mistake would be.  Caller frees it. */
static SSL_SESSION *raw_session(server *s, const char *ca_file)
{
    struct sockaddr_in a;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_SESSION *session;
    SSL *ssl;
    char buf[sizeof(GREETING)];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca_file, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)s->port);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_non_null(ssl = SSL_new(ctx));
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    assert_int_equal(SSL_connect(ssl), 1);
    assert_true(SSL_read(ssl, buf, sizeof(buf)) > 0); /* the tickets */
    assert_non_null(session = SSL_get1_session(ssl));
    assert_int_equal(SSL_SESSION_is_resumable(session), 1);
    SSL_shutdown(ssl);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return session;
}

/* The trust id tls-ctx.c gives the setting "tls_ca_file = ca_file". */
static unsigned long long trust_of(const char *ca_file)
{
    unsigned long long trust = 0;
    SSL_CTX *ctx = NULL;

    assert_int_equal(
        pps__tls_ctx_get(&ctx, &trust, ca_file, NULL, TLS1_2_VERSION), 0);
    SSL_CTX_free(ctx);
    return trust;
}

static pps_tls_options with_ca(const char *ca_file)
{
    pps_tls_options o = PPS_TLS_OPTIONS_INIT;

    o.ca_file = ca_file;
    return o;
}

/* A copy of the test CA in a file of its own: another trust setting. */
static void ca_copy(char *path, size_t size)
{
    FILE *f;
    int fd;

    snprintf(path, size, "/tmp/pps-test-resume-XXXXXX");
    assert_true((fd = mkstemp(path)) >= 0);
    assert_non_null(f = fdopen(fd, "w"));
    assert_int_equal(PEM_write_X509(f, pki.ca), 1);
    assert_int_equal(fclose(f), 0);
}

/* --- resumption ---------------------------------------------------------- */

static void second_connection_resumes(int max_version)
{
    pps_tls_options o = with_ca(pki.ca_file);
    pps__tls_session_stats s0, s1;
    server s;
    int i;

    pps_tls_cache_clear();
    server_start(&s, pki.good, max_version);
    s0 = stats();
    assert_polls(&o, "localhost", s.port);
    assert_int_equal(s.full, 1);
    assert_int_equal(s.reused, 0);
    s1 = stats();
    assert_int_equal(s1.entries, 1);
    assert_true(s1.stored > s0.stored);
    assert_int_equal(s1.offered, s0.offered);
    for (i = 0; i < 3; i++)
        assert_polls(&o, "localhost", s.port);
    assert_int_equal(s.full, 1);
    assert_int_equal(s.reused, 3);
    assert_int_equal(stats().resumed - s0.resumed, 3);
    assert_int_equal(stats().offered - s0.offered, 3);
    assert_int_equal(stats().entries, 1);
    server_stop(&s);
}

static void test_resumes_tls13(void **state)
{
    (void)state;
    second_connection_resumes(0);
}

static void test_resumes_tls12(void **state)
{
    (void)state;
    /* TLS 1.2 hands the session over during the handshake, before the
     * connection is accepted: it waits on the connection till then. */
    second_connection_resumes(TLS1_2_VERSION);
}

static void test_pin_resumes_under_its_pin(void **state)
{
    pps_tls_options o = PPS_TLS_OPTIONS_INIT;
    char fp[96];
    server s;

    (void)state;
    pps_tls_cache_clear();
    server_start(&s, pki.self_signed, 0);
    test_pki_fingerprint(fp, pki.self_signed);
    o.fingerprint_sha256 = fp;
    assert_polls(&o, "localhost", s.port);
    assert_polls(&o, "localhost", s.port);
    assert_int_equal(s.reused, 1);
    /* A pin with verification off verifies the pin: resumes too. */
    o.verify = 0;
    assert_polls(&o, "localhost", s.port);
    assert_int_equal(s.reused, 2);
    server_stop(&s);
}

/* --- what must not share a session ---------------------------------------- */

static void test_other_name_port_or_trust_not_resumed(void **state)
{
    pps_tls_options o = with_ca(pki.ca_file), other = o;
    char copy[64], fp[96];
    server s, s2;

    (void)state;
    pps_tls_cache_clear();
    server_start(&s, pki.good, 0);
    server_start(&s2, pki.good, 0);
    assert_polls(&o, "localhost", s.port);
    assert_int_equal(stats().entries, 1);
    /* Another host (same certificate, same server): a key of its own. */
    assert_polls(&o, "127.0.0.1", s.port);
    assert_int_equal(s.reused, 0);
    /* The same host, but another name checked and sent. */
    other.server_name = "127.0.0.1";
    assert_polls(&other, "localhost", s.port);
    assert_int_equal(s.reused, 0);
    /* Another port. */
    assert_polls(&o, "localhost", s2.port);
    assert_int_equal(s2.reused, 0);
    /* Another trust setting with the same CA in it. */
    ca_copy(copy, sizeof(copy));
    other = with_ca(copy);
    assert_polls(&other, "localhost", s.port);
    assert_int_equal(s.reused, 0);
    /* Another lowest version: another context. */
    other = o;
    other.min_version = TLS1_3_VERSION;
    assert_polls(&other, "localhost", s.port);
    assert_int_equal(s.reused, 0);
    /* A pin: not the verified session (other checks). */
    other = o;
    test_pki_fingerprint(fp, pki.good);
    other.fingerprint_sha256 = fp;
    assert_polls(&other, "localhost", s.port);
    assert_int_equal(s.reused, 0);
    assert_int_equal(s.full, 6);
    /* Each kept its own; the first one resumes still. */
    assert_int_equal(stats().entries, 7);
    assert_polls(&o, "localhost", s.port);
    assert_int_equal(s.reused, 1);
    server_stop(&s);
    server_stop(&s2);
    unlink(copy);
}

static void test_verify_off_keeps_and_gets_nothing(void **state)
{
    pps_tls_options o = with_ca(pki.ca_file), off = o;
    pps__tls_session_stats s0;
    server s;

    (void)state;
    pps_tls_cache_clear();
    server_start(&s, pki.good, 0);
    off.verify = 0;
    s0 = stats();
    assert_polls(&off, "localhost", s.port);
    assert_polls(&off, "localhost", s.port);
    assert_int_equal(stats().stored, s0.stored);
    assert_int_equal(stats().entries, 0);
    /* A verified session is not offered to the opted-out profile. */
    assert_polls(&o, "localhost", s.port);
    assert_polls(&off, "localhost", s.port);
    assert_int_equal(s.reused, 0);
    assert_int_equal(stats().offered, s0.offered);
    server_stop(&s);
}

static void test_changed_ca_file_not_resumed(void **state)
{
    char copy[64];
    pps_tls_options o;
    FILE *f;
    server s;

    (void)state;
    pps_tls_cache_clear();
    server_start(&s, pki.good, 0);
    ca_copy(copy, sizeof(copy));
    o = with_ca(copy);
    assert_polls(&o, "localhost", s.port);
    /* Reloaded for its age only: the same store, the session stays. */
    pps__tls_ctx_cache_set_max_age(0);
    assert_polls(&o, "localhost", s.port);
    pps__tls_ctx_cache_set_max_age(-1);
    assert_int_equal(s.reused, 1);
    /* The file changes (the test CA and another one): a new store. */
    usleep(20 * 1000); /* a new mtime even on a coarse clock */
    assert_non_null(f = fopen(copy, "w"));
    assert_int_equal(PEM_write_X509(f, pki.other_ca), 1);
    assert_int_equal(PEM_write_X509(f, pki.ca), 1);
    assert_int_equal(fclose(f), 0);
    assert_polls(&o, "localhost", s.port);
    assert_int_equal(s.reused, 1);
    assert_int_equal(s.full, 2);
    unlink(copy);
    server_stop(&s);
}

static void test_clear_forgets(void **state)
{
    pps_tls_options o = with_ca(pki.ca_file);
    server s;

    (void)state;
    pps_tls_cache_clear();
    server_start(&s, pki.good, 0);
    assert_polls(&o, "localhost", s.port);
    assert_int_equal(stats().entries, 1);
    pps_tls_cache_clear();
    assert_int_equal(stats().entries, 0);
    assert_polls(&o, "localhost", s.port);
    assert_int_equal(s.reused, 0);
    assert_int_equal(s.full, 2);
    server_stop(&s);
}

/* --- a server that refuses the session --------------------------------------
 */

static void test_refused_session_gets_full_verified_handshake(void **state)
{
    pps_tls_options o = with_ca(pki.ca_file);
    pps__tls_session_stats s0;
    server s;

    (void)state;
    pps_tls_cache_clear();
    server_start(&s, pki.good, 0);
    assert_polls(&o, "localhost", s.port);
    /* New ticket key, and a certificate for another name: the offered
     * session is refused, and the full handshake checks the name. */
    server_new_ctx(&s, pki.wrong_host, 0);
    s0 = stats();
    assert_int_equal(poll_once(&o, "localhost", s.port), PPS_ETLS);
    assert_message_has("hostname mismatch");
    assert_int_equal(stats().offered - s0.offered, 1);
    server_wait(&s, 2);
    assert_int_equal(s.reused, 0);
    /* The failure forgot the session: nothing offered next time. */
    assert_int_equal(stats().entries, 0);
    server_new_ctx(&s, pki.good, 0);
    s0 = stats();
    assert_polls(&o, "localhost", s.port);
    assert_int_equal(stats().offered, s0.offered);
    /* The same refusal with a good certificate: connected, and the new
     * session resumes next. */
    server_new_ctx(&s, pki.good, 0);
    assert_polls(&o, "localhost", s.port);
    assert_int_equal(stats().offered - s0.offered, 1);
    assert_int_equal(s.reused, 0);
    assert_polls(&o, "localhost", s.port);
    assert_int_equal(s.reused, 1);
    assert_int_equal(stats().resumed - s0.resumed, 1);
    server_stop(&s);
}

/* --- a resumed session is checked again ------------------------------------
 */

/*
 * These put a session that the key would never have let in (made by a
 * client that checked nothing) under a key, as a bug in the keying would:
 * the server resumes it, and the checks on the resumed connection must
 * refuse it all the same.
 */
static void test_resumed_session_failing_pin_refused(void **state)
{
    unsigned char pin[PPS__FINGERPRINT_LEN];
    pps_tls_options o = with_ca(pki.ca_file);
    pps__tls_session_key key = {"localhost", "localhost", 0, 0, pin};
    SSL_SESSION *session;
    char fp[96];
    server s;

    (void)state;
    pps_tls_cache_clear();
    server_start(&s, pki.good, 0);
    test_pki_fingerprint(fp, pki.self_signed);
    assert_int_equal(pps__fingerprint_parse(pin, fp), 0);
    o.fingerprint_sha256 = fp;
    session = raw_session(&s, pki.ca_file);
    key.port = s.port;
    key.trust = trust_of(pki.ca_file);
    assert_int_equal(pps__tls_session_put(&key, session, pps__now_ms()), 0);
    SSL_SESSION_free(session);
    assert_int_equal(poll_once(&o, "localhost", s.port), PPS_ETLS);
    assert_message_has("not the pinned tls_fingerprint");
    server_stop(&s);
}

static void resumed_refused(X509 *cert, const char *ca_file, const char *why)
{
    pps_tls_options o = with_ca(pki.ca_file);
    pps__tls_session_key key = {"localhost", "localhost", 0, 0, NULL};
    SSL_SESSION *session;
    server s;

    pps_tls_cache_clear();
    server_start(&s, cert, 0);
    session = raw_session(&s, ca_file);
    key.port = s.port;
    key.trust = trust_of(pki.ca_file);
    assert_int_equal(pps__tls_session_put(&key, session, pps__now_ms()), 0);
    SSL_SESSION_free(session);
    assert_int_equal(poll_once(&o, "localhost", s.port), PPS_ETLS);
    assert_message_has(why);
    server_wait(&s, 2);
    assert_int_equal(s.reused, 1);
    assert_int_equal(stats().entries, 0);
    /* And a full handshake refuses the same certificate (the client's
     * alert ends it before the server counts it). */
    assert_int_equal(poll_once(&o, "localhost", s.port), PPS_ETLS);
    assert_message_has(why);
    server_wait(&s, 3);
    assert_int_equal(s.reused, 1);
    assert_int_equal(s.full, 1); /* raw_session's */
    server_stop(&s);
}

static void test_resumed_session_failing_name_refused(void **state)
{
    (void)state;
    /* Chain good (verification result ok), name wrong. */
    resumed_refused(pki.wrong_host, pki.ca_file, "hostname mismatch");
}

static void test_resumed_session_failing_verification_refused(void **state)
{
    (void)state;
    /* The session carries "self-signed certificate" as its result. */
    resumed_refused(pki.self_signed, pki.ca_file, "self-signed certificate");
}

/* --- bounds ----------------------------------------------------------------
 */

static void test_table_is_bounded_and_ages(void **state)
{
    pps_tls_options o = with_ca(pki.ca_file);
    pps__tls_session_key key = {"localhost", "localhost", 0, 0, NULL};
    pps__tls_session_stats s0;
    SSL_SESSION *session;
    unsigned int i;
    server s;

    (void)state;
    pps_tls_cache_clear();
    server_start(&s, pki.good, 0);
    session = raw_session(&s, pki.ca_file);
    key.trust = trust_of(pki.ca_file);
    for (i = 1; i <= PPS__TLS_SESSION_CACHE_MAX + 10; i++) {
        key.port = 60000 + i;
        assert_int_equal(pps__tls_session_put(&key, session, pps__now_ms()), 0);
    }
    SSL_SESSION_free(session);
    assert_int_equal(stats().entries, PPS__TLS_SESSION_CACHE_MAX);
    pps_tls_cache_clear();
    /* Older than the maximum age: not offered, and dropped. */
    assert_polls(&o, "localhost", s.port);
    pps__tls_session_cache_set_max_age(0);
    s0 = stats();
    assert_polls(&o, "localhost", s.port);
    assert_int_equal(stats().offered, s0.offered);
    assert_int_equal(s.reused, 0);
    pps__tls_session_cache_set_max_age(-1);
    assert_polls(&o, "localhost", s.port); /* the new one resumes */
    assert_int_equal(s.reused, 1);
    server_stop(&s);
}

/* The age counts from the full handshake: the sessions that resumed ones
 * bring keep their predecessor's time (RFC 8446 section 4.6.1). */
static void test_full_handshake_time_carried(void **state)
{
    pps_tls_options o = with_ca(pki.ca_file);
    pps__tls_session_key key = {"localhost", "localhost", 0, 0, NULL};
    pps__tls_session_stats s0;
    SSL_SESSION *session;
    server s;

    (void)state;
    pps_tls_cache_clear();
    server_start(&s, pki.good, 0);
    /* A session verified (as far as the table knows) two hours ago. */
    session = raw_session(&s, pki.ca_file);
    key.port = s.port;
    key.trust = trust_of(pki.ca_file);
    pps__tls_session_cache_set_max_age(3 * 60 * 60 * 1000LL);
    assert_int_equal(pps__tls_session_put(&key, session,
                                          pps__now_ms() - 2 * 60 * 60 * 1000LL),
                     0);
    SSL_SESSION_free(session);
    assert_polls(&o, "localhost", s.port); /* resumed: a new ticket */
    assert_int_equal(s.reused, 1);
    /* Its ticket is new, but the verification is two hours old. */
    pps__tls_session_cache_set_max_age(60 * 60 * 1000LL);
    s0 = stats();
    assert_polls(&o, "localhost", s.port);
    assert_int_equal(stats().offered, s0.offered);
    assert_int_equal(s.reused, 1);
    pps__tls_session_cache_set_max_age(-1);
    server_stop(&s);
}

/* --- threads ----------------------------------------------------------------
 */

#define THREADS 4
#define ROUNDS  8

typedef struct worker {
    pthread_t thread;
    const pps_tls_options *opts;
    unsigned int port;
    int failures;
    char error[256];
} worker;

static void *worker_main(void *data)
{
    worker *w = data;
    int i, rc;

    for (i = 0; i < ROUNDS; i++)
        if ((rc = poll_once(w->opts, "localhost", w->port)) != 0) {
            w->failures++;
            snprintf(w->error, sizeof(w->error), "%d %s", rc,
                     pps_error_last()->message);
        }
    return NULL;
}

static atomic_int clearing;

static void *clearer_main(void *unused)
{
    int i;

    (void)unused;
    for (i = 0; i < 200 && clearing; i++) {
        pps_tls_cache_clear();
        usleep(2000);
    }
    return NULL;
}

static void test_threads(void **state)
{
    pps_tls_options o = with_ca(pki.ca_file);
    worker w[THREADS];
    pthread_t clearer;
    server s;
    int i;

    (void)state;
    pps_tls_cache_clear();
    server_start(&s, pki.good, 0);
    memset(w, 0, sizeof(w));
    clearing = 1;
    assert_int_equal(pthread_create(&clearer, NULL, clearer_main, NULL), 0);
    for (i = 0; i < THREADS; i++) {
        w[i].opts = &o;
        w[i].port = s.port;
        assert_int_equal(pthread_create(&w[i].thread, NULL, worker_main, &w[i]),
                         0);
    }
    for (i = 0; i < THREADS; i++)
        pthread_join(w[i].thread, NULL);
    clearing = 0;
    pthread_join(clearer, NULL);
    for (i = 0; i < THREADS; i++)
        if (w[i].failures)
            fail_msg("thread %d: %d failures, last %s", i, w[i].failures,
                     w[i].error);
    assert_int_equal(s.full + s.reused, THREADS * ROUNDS);
    printf("threads: %d full handshakes, %d resumed\n", (int)s.full,
           (int)s.reused);
    server_stop(&s);
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    return test_pki_make(&pki);
}

static int teardown(void **state)
{
    (void)state;
    pps_tls_cache_clear();
    test_pki_free(&pki);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resumes_tls13),
        cmocka_unit_test(test_resumes_tls12),
        cmocka_unit_test(test_pin_resumes_under_its_pin),
        cmocka_unit_test(test_other_name_port_or_trust_not_resumed),
        cmocka_unit_test(test_verify_off_keeps_and_gets_nothing),
        cmocka_unit_test(test_changed_ca_file_not_resumed),
        cmocka_unit_test(test_clear_forgets),
        cmocka_unit_test(test_refused_session_gets_full_verified_handshake),
        cmocka_unit_test(test_resumed_session_failing_pin_refused),
        cmocka_unit_test(test_resumed_session_failing_name_refused),
        cmocka_unit_test(test_resumed_session_failing_verification_refused),
        cmocka_unit_test(test_table_is_bounded_and_ages),
        cmocka_unit_test(test_full_handshake_time_carried),
        cmocka_unit_test(test_threads),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
