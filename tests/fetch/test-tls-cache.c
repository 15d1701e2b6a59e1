/*
 * test-tls-cache.c - the shared TLS client contexts (libpps/fetch/tls-ctx.c):
 * transports with the same trust setting share one context and load the
 * store once; different settings do not share; a CA file changed on disk
 * (rewritten in place, replaced by rename, removed) is seen by the next
 * connection; per-connection checks (name, verify, pin) stay per
 * connection; the table is bounded and ages; many threads at once are
 * clean (run under ASan/UBSan in build-san).
 */
#include "../helpers/pps-test.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "pps/errors.h"
#include "pps/log.h"
#include "pps/transport.h"
#include "fetch/tls.h"
#include "peer.h"
#include "pki.h"

#define TIMEOUT_MS 5000

static test_pki pki;

/* --- CA files ------------------------------------------------------------- */

typedef struct ca_file {
    char path[PATH_MAX];
} ca_file;

static int write_certs(const char *path, X509 *a, X509 *b)
{
    FILE *f = fopen(path, "w");
    int ok = f != NULL && PEM_write_X509(f, a) == 1 &&
             (b == NULL || PEM_write_X509(f, b) == 1);

    if (f && fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

/* A new file holding cert (and more, when not NULL). */
static void ca_file_make(ca_file *f, X509 *cert, X509 *more)
{
    const char *dir = getenv("TMPDIR");
    int fd;

    snprintf(f->path, sizeof(f->path), "%s/pps-test-cache-XXXXXX",
             dir && *dir ? dir : "/tmp");
    fd = mkstemp(f->path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(write_certs(f->path, cert, more), 0);
}

/* Rewrite the same file (same inode), as `cp new.pem ca.pem` does.  The
 * kernel stamps files with a coarse clock (one tick, a few ms): wait one
 * so that the new mtime differs even if the size does not. */
static void ca_file_rewrite(ca_file *f, X509 *cert)
{
    usleep(20 * 1000);
    assert_int_equal(write_certs(f->path, cert, NULL), 0);
}

/* Replace the file by rename, as update-ca-certificates does. */
static void ca_file_replace(ca_file *f, X509 *cert)
{
    ca_file tmp;

    ca_file_make(&tmp, cert, NULL);
    assert_int_equal(rename(tmp.path, f->path), 0);
}

static void ca_file_remove(ca_file *f)
{
    unlink(f->path);
}

/* --- a server, one connection ------------------------------------------- */

static void serve_cert(int fd, test_peer *p)
{
    SSL_CTX *ctx = test_pki_server_ctx(&pki, p->arg);
    SSL *ssl = NULL;
    char buf[64];

    if (ctx == NULL)
        goto out;
    if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
        SSL_accept(ssl) != 1)
        goto out;
    SSL_write(ssl, "+OK hello\r\n", 11);
    while (SSL_read(ssl, buf, sizeof(buf)) > 0)
        ; /* until the client closes */
    SSL_shutdown(ssl);
out:
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ERR_clear_error();
}

/*
 * Connect t with implicit TLS to host where a server presents cert, read
 * the greeting, close.  Returns connect's status; no cmocka assertion, so
 * threads may call it.
 */
static int connect_once(pps_transport *t, X509 *cert, const char *host)
{
    pps_server_address a = PPS_SERVER_ADDRESS_INIT;
    test_peer p;
    char buf[16];
    long n = 0;
    size_t got = 0;
    int rc;

    if (test_peer_start(&p, AF_INET, serve_cert, cert) < 0)
        return PPS_ERROR;
    snprintf(a.host, sizeof(a.host), "%s", host);
    a.port = p.port;
    a.implicit_tls = 1;
    rc = t->connect(t, &a, TIMEOUT_MS);
    while (rc == 0 && got < 11) {
        n = t->read(t, buf + got, 11 - got, TIMEOUT_MS);
        if (n <= 0)
            rc = n < 0 ? (int)n : PPS_ENET;
        else
            got += (size_t)n;
    }
    if (rc == 0 && memcmp(buf, "+OK hello\r\n", 11) != 0)
        rc = PPS_EPROTO;
    t->close(t);
    test_peer_stop(&p);
    return rc;
}

/* A new transport with opts, connected once; returns connect's status. */
static int try_connect(const pps_tls_options *opts, X509 *cert,
                       const char *host)
{
    pps_transport *t = NULL;
    int rc;

    if (pps_transport_tcp_new(&t, opts) < 0)
        return pps_error_last()->code;
    rc = connect_once(t, cert, host);
    pps_transport_free(t);
    return rc;
}

static pps_tls_options with_ca(const ca_file *f)
{
    pps_tls_options o = PPS_TLS_OPTIONS_INIT;

    o.ca_file = f->path;
    return o;
}

/* A new CA file holding cert, and options that trust it. */
static pps_tls_options with_new_ca(ca_file *f, X509 *cert)
{
    ca_file_make(f, cert, NULL);
    return with_ca(f);
}

static pps__tls_ctx_stats stats(void)
{
    pps__tls_ctx_stats s;

    pps__tls_ctx_cache_stats(&s);
    return s;
}

#define assert_connects(opts, cert, host)                          \
    do {                                                           \
        if (try_connect((opts), (cert), (host)) != 0)              \
            fail_msg("%s: %s", (host), pps_error_last()->message); \
    } while (0)

/* --- sharing -------------------------------------------------------------- */

static void test_same_settings_share(void **state)
{
    pps_transport *t1 = NULL, *t2 = NULL;
    pps__tls_ctx_stats s0, s1;
    ca_file f;
    pps_tls_options o;

    (void)state;
    o = with_new_ca(&f, pki.ca);
    s0 = stats();
    /* Two transports alive at once, and a third one after them. */
    assert_int_equal(pps_transport_tcp_new(&t1, &o), 0);
    assert_int_equal(pps_transport_tcp_new(&t2, &o), 0);
    assert_int_equal(connect_once(t1, pki.good, "localhost"), 0);
    assert_int_equal(connect_once(t2, pki.good, "localhost"), 0);
    pps_transport_free(t1);
    pps_transport_free(t2);
    assert_connects(&o, pki.good, "localhost");
    s1 = stats();
    assert_int_equal(s1.loads - s0.loads, 1);
    assert_int_equal(s1.entries, s0.entries + 1);
    assert_true(s1.hits - s0.hits >= 4);
    /* The pin and the opt-out are per connection: same context still. */
    o.verify = 0;
    assert_connects(&o, pki.good, "localhost");
    assert_int_equal(stats().loads, s1.loads);
    ca_file_remove(&f);
}

static void test_different_settings_do_not_share(void **state)
{
    pps_tls_options o1, o2, o3;
    pps__tls_ctx_stats s0, s1;
    ca_file f1, f2;

    (void)state;
    ca_file_make(&f1, pki.ca, NULL);
    ca_file_make(&f2, pki.other_ca, NULL);
    o1 = with_ca(&f1);
    o2 = with_ca(&f2);
    o3 = with_ca(&f1);
    o3.min_version = 0x0304;
    s0 = stats();
    assert_connects(&o1, pki.good, "localhost");
    /* Not the first file's context: pki.good is refused here... */
    assert_int_equal(try_connect(&o2, pki.good, "localhost"), PPS_ETLS);
    assert_message_has("unable to get local issuer certificate");
    /* ...and accepted by the first file again. */
    assert_connects(&o1, pki.good, "localhost");
    assert_connects(&o3, pki.good, "localhost");
    s1 = stats();
    assert_int_equal(s1.loads - s0.loads, 3);
    assert_int_equal(s1.entries, s0.entries + 3);
    ca_file_remove(&f1);
    ca_file_remove(&f2);
}

static void test_system_store_shared_and_keyed_by_environment(void **state)
{
    pps_tls_options o = PPS_TLS_OPTIONS_INIT;
    pps__tls_ctx_stats s0, s1;
    pps_transport *t = NULL;
    const char *old = getenv("SSL_CERT_FILE");
    char *saved = old ? strdup(old) : NULL;
    ca_file f;

    (void)state;
    pps__tls_ctx_cache_clear();
    s0 = stats();
    assert_int_equal(pps_transport_tcp_new(&t, &o), 0);
    pps_transport_free(t);
    assert_int_equal(pps_transport_tcp_new(&t, NULL), 0);
    pps_transport_free(t);
    s1 = stats();
    assert_int_equal(s1.loads - s0.loads, 1);
    assert_int_equal(s1.hits - s0.hits, 1);
    /* The system store does not know the test CA... */
    assert_int_equal(try_connect(&o, pki.good, "localhost"), PPS_ETLS);
    /* ...but the store SSL_CERT_FILE names is another store. */
    ca_file_make(&f, pki.ca, NULL);
    setenv("SSL_CERT_FILE", f.path, 1);
    assert_connects(&o, pki.good, "localhost");
    if (saved)
        setenv("SSL_CERT_FILE", saved, 1);
    else
        unsetenv("SSL_CERT_FILE");
    free(saved);
    assert_int_equal(try_connect(&o, pki.good, "localhost"), PPS_ETLS);
    assert_int_equal(stats().loads - s1.loads, 1);
    ca_file_remove(&f);
}

/* --- per-connection checks on a shared context -------------------------- */

static void test_shared_context_checks_each_name(void **state)
{
    pps_tls_options o, pinned, off;
    pps__tls_ctx_stats s0;
    char fp[96];
    ca_file f;

    (void)state;
    o = with_new_ca(&f, pki.ca);
    s0 = stats();
    assert_connects(&o, pki.good, "localhost");
    assert_connects(&o, pki.good, "127.0.0.1");
    /* Same context, other names: each connection checks its own. */
    assert_int_equal(try_connect(&o, pki.wrong_host, "localhost"), PPS_ETLS);
    assert_message_has("hostname mismatch");
    assert_int_equal(try_connect(&o, pki.wrong_host, "127.0.0.1"), PPS_ETLS);
    assert_message_has("IP address mismatch");
    o.server_name = "wrong.example";
    assert_int_equal(try_connect(&o, pki.good, "127.0.0.1"), PPS_ETLS);
    assert_message_has("hostname mismatch");
    assert_connects(&o, pki.wrong_host, "127.0.0.1");
    o.server_name = NULL;
    /* The name the previous connection checked does not stay behind. */
    assert_int_equal(try_connect(&o, pki.wrong_host, "127.0.0.1"), PPS_ETLS);
    /* One profile opts out, the next one still verifies. */
    off = o;
    off.verify = 0;
    assert_connects(&off, pki.wrong_host, "localhost");
    assert_int_equal(try_connect(&o, pki.wrong_host, "localhost"), PPS_ETLS);
    /* One profile pins, the next one still checks chain and name. */
    pinned = o;
    test_pki_fingerprint(fp, pki.self_signed);
    pinned.fingerprint_sha256 = fp;
    assert_connects(&pinned, pki.self_signed, "localhost");
    assert_int_equal(try_connect(&o, pki.self_signed, "localhost"), PPS_ETLS);
    assert_message_has("self-signed certificate");
    assert_int_equal(try_connect(&pinned, pki.good, "localhost"), PPS_ETLS);
    assert_message_has("not the pinned tls_fingerprint");
    assert_int_equal(stats().loads - s0.loads, 1);
    ca_file_remove(&f);
}

/* --- a changed CA file ---------------------------------------------------- */

static void test_rewritten_ca_file_is_picked_up(void **state)
{
    pps__tls_ctx_stats s0;
    pps_tls_options o;
    ca_file f;

    (void)state;
    o = with_new_ca(&f, pki.other_ca);
    s0 = stats();
    assert_int_equal(try_connect(&o, pki.good, "localhost"), PPS_ETLS);
    assert_message_has("unable to get local issuer certificate");
    ca_file_rewrite(&f, pki.ca);
    assert_connects(&o, pki.good, "localhost");
    /* And back: the file is the truth, not what was loaded first. */
    ca_file_rewrite(&f, pki.other_ca);
    assert_int_equal(try_connect(&o, pki.good, "localhost"), PPS_ETLS);
    assert_int_equal(stats().loads - s0.loads, 3);
    assert_int_equal(stats().entries, s0.entries + 1);
    ca_file_remove(&f);
}

static void test_replaced_ca_file_is_picked_up(void **state)
{
    pps_transport *t = NULL;
    pps_tls_options o;
    ca_file f;

    (void)state;
    o = with_new_ca(&f, pki.other_ca);
    assert_int_equal(try_connect(&o, pki.good, "localhost"), PPS_ETLS);
    ca_file_replace(&f, pki.ca);
    assert_connects(&o, pki.good, "localhost");
    /* A transport kept across the change sees it at its next connect. */
    assert_int_equal(pps_transport_tcp_new(&t, &o), 0);
    assert_int_equal(connect_once(t, pki.good, "localhost"), 0);
    ca_file_replace(&f, pki.other_ca);
    assert_int_equal(connect_once(t, pki.good, "localhost"), PPS_ETLS);
    ca_file_rewrite(&f, pki.ca);
    assert_int_equal(connect_once(t, pki.good, "localhost"), 0);
    pps_transport_free(t);
    ca_file_remove(&f);
}

typedef struct log_capture {
    int warnings;
    char last[1024];
} log_capture;

static void capture(pps_log_level level, const char *profile,
                    const char *message, void *payload)
{
    log_capture *c = payload;

    (void)profile;
    if (level != PPS_LOG_WARN)
        return;
    c->warnings++;
    snprintf(c->last, sizeof(c->last), "%s", message);
}

static void test_removed_ca_file(void **state)
{
    pps_tls_options o;
    pps_transport *t = NULL, *t2 = (pps_transport *)&o;
    pps__tls_ctx_stats s0;
    log_capture c;
    ca_file f;

    (void)state;
    memset(&c, 0, sizeof(c));
    o = with_new_ca(&f, pki.ca);
    assert_int_equal(pps_transport_tcp_new(&t, &o), 0);
    s0 = stats();
    ca_file_remove(&f);
    /* A new transport fails as it did before there was a cache... */
    assert_int_equal(pps_transport_tcp_new(&t2, &o), PPS_ECONFIG);
    assert_null(t2);
    assert_message_has("No such file");
    assert_int_equal(stats().entries, s0.entries - 1);
    /* ...and one made before keeps the store it loaded, and says so. */
    pps_log_set(capture, PPS_LOG_DEBUG, &c);
    if (connect_once(t, pki.good, "localhost") != 0)
        fail_msg("%s", pps_error_last()->message);
    pps_log_set(NULL, PPS_LOG_ERROR, NULL);
    assert_int_equal(c.warnings, 1);
    if (!strstr(c.last, "cannot load the trust store again") ||
        !strstr(c.last, f.path))
        fail_msg("warning: %s", c.last);
    pps_transport_free(t);
}

/* --- bounds --------------------------------------------------------------- */

static void test_table_is_bounded(void **state)
{
    ca_file f[PPS__TLS_CTX_CACHE_MAX + 2];
    pps_transport *t = NULL;
    pps__tls_ctx_stats s0, s1;
    pps_tls_options o;
    size_t i;

    (void)state;
    pps__tls_ctx_cache_clear();
    assert_int_equal(stats().entries, 0);
    for (i = 0; i < PPS__TLS_CTX_CACHE_MAX + 2; i++)
        ca_file_make(&f[i], pki.ca, NULL);
    s0 = stats();
    for (i = 0; i < PPS__TLS_CTX_CACHE_MAX + 2; i++) {
        o = with_ca(&f[i]);
        assert_int_equal(pps_transport_tcp_new(&t, &o), 0);
        pps_transport_free(t);
        /* Keep file 1 the most recently used: 0 and 2 are evicted. */
        o = with_ca(&f[1]);
        assert_int_equal(pps_transport_tcp_new(&t, &o), 0);
        pps_transport_free(t);
    }
    s1 = stats();
    assert_int_equal(s1.entries, PPS__TLS_CTX_CACHE_MAX);
    assert_int_equal(s1.loads - s0.loads, PPS__TLS_CTX_CACHE_MAX + 2);
    o = with_ca(&f[1]);
    assert_int_equal(pps_transport_tcp_new(&t, &o), 0);
    pps_transport_free(t);
    assert_int_equal(stats().loads, s1.loads);
    o = with_ca(&f[0]);
    assert_int_equal(pps_transport_tcp_new(&t, &o), 0);
    pps_transport_free(t);
    assert_int_equal(stats().loads, s1.loads + 1);
    /* A transport's context outlives the table's reference. */
    assert_int_equal(pps_transport_tcp_new(&t, &o), 0);
    pps__tls_ctx_cache_clear();
    assert_int_equal(stats().entries, 0);
    assert_int_equal(connect_once(t, pki.good, "localhost"), 0);
    pps_transport_free(t);
    for (i = 0; i < PPS__TLS_CTX_CACHE_MAX + 2; i++)
        ca_file_remove(&f[i]);
}

static void test_max_age(void **state)
{
    pps__tls_ctx_stats s0;
    pps_tls_options o;
    ca_file f;

    (void)state;
    o = with_new_ca(&f, pki.ca);
    pps__tls_ctx_cache_set_max_age(0); /* every look-up loads again */
    s0 = stats();
    assert_connects(&o, pki.good, "localhost");
    assert_connects(&o, pki.good, "localhost");
    /* Two transports, each loading at setup and again at connect. */
    assert_int_equal(stats().loads - s0.loads, 4);
    assert_int_equal(stats().entries, s0.entries + 1);
    pps__tls_ctx_cache_set_max_age(-1);
    s0 = stats();
    assert_connects(&o, pki.good, "localhost");
    assert_int_equal(stats().loads, s0.loads);
    ca_file_remove(&f);
}

/* --- threads -------------------------------------------------------------- */

#define THREADS        8
#define ROUNDS         6
#define CLEARER_ROUNDS 200

typedef struct worker {
    pthread_t thread;
    const pps_tls_options *opts;
    int failures;
    char error[256];
} worker;

static void *worker_main(void *data)
{
    worker *w = data;
    int i, rc;

    for (i = 0; i < ROUNDS; i++) {
        /* Right name: accepted; wrong name on the same context: refused. */
        if ((rc = try_connect(w->opts, pki.good, "localhost")) != 0 ||
            (rc = try_connect(w->opts, pki.wrong_host, "localhost")) !=
                PPS_ETLS) {
            w->failures++;
            snprintf(w->error, sizeof(w->error), "round %d: %d %s", i, rc,
                     pps_error_last()->message);
        }
    }
    return NULL;
}

static atomic_int clearing;

static void *clearer_main(void *unused)
{
    int i;

    (void)unused;
    for (i = 0; i < CLEARER_ROUNDS && clearing; i++) {
        pps__tls_ctx_cache_clear();
        usleep(1000);
    }
    return NULL;
}

static void run_workers(const pps_tls_options *a, const pps_tls_options *b,
                        int with_clearer)
{
    worker w[THREADS];
    pthread_t clearer;
    int i;

    memset(w, 0, sizeof(w));
    clearing = 1;
    if (with_clearer)
        assert_int_equal(pthread_create(&clearer, NULL, clearer_main, NULL), 0);
    for (i = 0; i < THREADS; i++) {
        w[i].opts = i % 2 ? b : a;
        assert_int_equal(pthread_create(&w[i].thread, NULL, worker_main, &w[i]),
                         0);
    }
    for (i = 0; i < THREADS; i++)
        pthread_join(w[i].thread, NULL);
    clearing = 0;
    if (with_clearer)
        pthread_join(clearer, NULL);
    for (i = 0; i < THREADS; i++)
        if (w[i].failures)
            fail_msg("thread %d: %d failures, last %s", i, w[i].failures,
                     w[i].error);
}

static void test_threads(void **state)
{
    pps__tls_ctx_stats s0;
    pps_tls_options a, b;
    ca_file fa, fb;

    (void)state;
    ca_file_make(&fa, pki.ca, NULL);
    ca_file_make(&fb, pki.other_ca, pki.ca);
    a = with_ca(&fa);
    b = with_ca(&fb);
    s0 = stats();
    run_workers(&a, &b, 0);
    assert_int_equal(stats().loads - s0.loads, 2);
    /* The same while another thread empties the table again and again:
     * contexts in use must survive their entries. */
    run_workers(&a, &b, 1);
    ca_file_remove(&fa);
    ca_file_remove(&fb);
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* the servers write with write() */
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
        cmocka_unit_test(test_same_settings_share),
        cmocka_unit_test(test_different_settings_do_not_share),
        cmocka_unit_test(test_system_store_shared_and_keyed_by_environment),
        cmocka_unit_test(test_shared_context_checks_each_name),
        cmocka_unit_test(test_rewritten_ca_file_is_picked_up),
        cmocka_unit_test(test_replaced_ca_file_is_picked_up),
        cmocka_unit_test(test_removed_ca_file),
        cmocka_unit_test(test_table_is_bounded),
        cmocka_unit_test(test_max_age),
        cmocka_unit_test(test_threads),
    };

    /* The table is not emptied at exit: what stays is reachable from a
     * static, which LeakSanitizer accepts (this run proves it). */
    return cmocka_run_group_tests(tests, setup, teardown);
}
