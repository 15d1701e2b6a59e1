/*
 * test-transport.c - the default transport without TLS: options, bad
 * arguments, fingerprints, and TCP behaviour against loopback peers.
 */
#include "../helpers/pps-test.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "pps/errors.h"
#include "pps/transport.h"
#include "core/internal.h"
#include "fetch/sock.h"
#include "fetch/tls.h"
#include "peer.h"

/* Generous bounds: the machine is shared and sanitizers are slow. */
#define SHORT_TIMEOUT_MS 300
#define SLACK_MS         1500
#define LONG_TIMEOUT_MS  5000

static pps_server_address address(const char *host, unsigned int port)
{
    pps_server_address a = PPS_SERVER_ADDRESS_INIT;

    snprintf(a.host, sizeof(a.host), "%s", host);
    a.port = port;
    a.is_ipv6_literal = strchr(host, ':') != NULL;
    return a;
}

static pps_transport *new_transport(void)
{
    pps_transport *t = NULL;

    if (pps_transport_tcp_new(&t, NULL) != 0)
        fail_msg("pps_transport_tcp_new: %s", pps_error_last()->message);
    return t;
}

/* --- options and arguments ---------------------------------------------- */

static void test_options_init(void **state)
{
    pps_tls_options macro = PPS_TLS_OPTIONS_INIT, fn;

    (void)state;
    memset(&fn, 0x5a, sizeof(fn));
    pps_tls_options_init(&fn);
    assert_int_equal(fn.version, PPS_TLS_OPTIONS_VERSION);
    assert_int_equal(fn.verify, 1);
    assert_int_equal(fn.min_version, 0x0303);
    assert_null(fn.ca_file);
    assert_null(fn.ca_path);
    assert_null(fn.fingerprint_sha256);
    assert_null(fn.server_name);
    assert_null(fn.log_context);
    assert_int_equal(macro.version, fn.version);
    assert_int_equal(macro.verify, fn.verify);
    assert_int_equal(macro.min_version, fn.min_version);
    pps_tls_options_init(NULL); /* does nothing */
}

typedef struct bad_options_case {
    void (*edit)(pps_tls_options *o);
    int code;
    const char *hint;
} bad_options_case;

static void v0(pps_tls_options *o)
{
    o->version = 0;
}
static void v2(pps_tls_options *o)
{
    o->version = 2;
}
static void min_too_high(pps_tls_options *o)
{
    o->min_version = 0x0305;
}
static void bad_pin(pps_tls_options *o)
{
    o->fingerprint_sha256 = "zz";
}
static void no_ca_file(pps_tls_options *o)
{
    o->ca_file = "/nonexistent/pps-ca.pem";
}
static void ca_path_is_file(pps_tls_options *o)
{
    o->ca_path = "/etc/passwd";
}
static void no_ca_path(pps_tls_options *o)
{
    o->ca_path = "/nonexistent/certs";
}
static void empty_name(pps_tls_options *o)
{
    o->server_name = "";
}
static void ca_file_not_pem(pps_tls_options *o)
{
    o->ca_file = "/etc/passwd";
}
static void ca_file_is_dir(pps_tls_options *o)
{
    o->ca_file = "/etc";
}

static const bad_options_case bad_options[] = {
    {v0, PPS_EINVAL, "version 0"},
    {v2, PPS_EINVAL, "version 2"},
    {min_too_high, PPS_EINVAL, "0x0305"},
    {bad_pin, PPS_ECONFIG, "tls_fingerprint"},
    {no_ca_file, PPS_ECONFIG, "/nonexistent/pps-ca.pem: No such file"},
    {ca_file_not_pem, PPS_ECONFIG, "no certificate or crl found"},
    {ca_file_is_dir, PPS_ECONFIG, "is a folder"},
    {ca_path_is_file, PPS_ECONFIG, "not a folder"},
    {no_ca_path, PPS_ECONFIG, "/nonexistent/certs"},
    {empty_name, PPS_EINVAL, "server_name"},
};

static void test_bad_options(void **state)
{
    size_t i;

    (void)state;
    assert_int_equal(pps_transport_tcp_new(NULL, NULL), PPS_EINVAL);
    for (i = 0; i < sizeof(bad_options) / sizeof(bad_options[0]); i++) {
        pps_tls_options o = PPS_TLS_OPTIONS_INIT;
        pps_transport *t = (pps_transport *)&o; /* must become NULL */
        int rc;

        bad_options[i].edit(&o);
        rc = pps_transport_tcp_new(&t, &o);
        if (rc != bad_options[i].code || t != NULL ||
            strstr(pps_error_last()->message, bad_options[i].hint) == NULL)
            fail_msg("row %zu: rc %d, error \"%s\" (want %d, \"%s\")", i, rc,
                     pps_error_last()->message, bad_options[i].code,
                     bad_options[i].hint);
    }
}

static void test_low_min_version_is_raised(void **state)
{
    pps_tls_options o = PPS_TLS_OPTIONS_INIT;
    pps_transport *t = NULL;

    (void)state;
    o.min_version = 0x0301; /* TLS 1.0: raised to 1.2, not refused */
    assert_int_equal(pps_transport_tcp_new(&t, &o), 0);
    pps_transport_free(t);
    o.min_version = 0x0304;
    assert_int_equal(pps_transport_tcp_new(&t, &o), 0);
    pps_transport_free(t);
}

static void test_unconnected_calls(void **state)
{
    pps_transport *t = new_transport();
    pps_server_address a = address("127.0.0.1", 110);
    char buf[8];

    (void)state;
    assert_int_equal(t->version, PPS_TRANSPORT_VERSION);
    assert_int_equal(t->read(t, buf, sizeof(buf), 100), PPS_EINVAL);
    assert_message_has("not connected");
    assert_int_equal(t->write(t, "x", 1, 100), PPS_EINVAL);
    assert_int_equal(t->start_tls(t, 100), PPS_EINVAL);
    assert_int_equal(t->is_tls(t), 0);
    assert_int_equal(t->connect(t, NULL, 100), PPS_EINVAL);
    assert_int_equal(t->connect(t, &a, -1), PPS_EINVAL);
    assert_message_has("negative");
    a.port = 0;
    assert_int_equal(t->connect(t, &a, 100), PPS_EINVAL);
    a = address("", 110);
    assert_int_equal(t->connect(t, &a, 100), PPS_EINVAL);
    t->close(t); /* closing a closed transport is fine */
    t->close(t);
    pps_transport_free(t);
    pps_transport_free(NULL);
}

static void test_alloc_failures(void **state)
{
    pps_tls_options o = PPS_TLS_OPTIONS_INIT;
    pps_transport *t = NULL;
    long n;
    int rc = -1;

    (void)state;
    o.server_name = "mail.example.com";
    o.log_context = "profile";
    for (n = 0; n < 20 && rc != 0; n++) {
        pps__alloc_fail_after(n);
        rc = pps_transport_tcp_new(&t, &o);
        pps__alloc_fail_after(-1);
        if (rc != 0) {
            assert_int_equal(rc, PPS_ENOMEM);
            assert_null(t);
        }
    }
    assert_int_equal(rc, 0);
    assert_true(n > 1); /* at least one failure was tried */
    pps_transport_free(t);
}

/* --- fingerprints -------------------------------------------------------- */

#define FP_HEX \
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define FP_COLON                                                            \
    "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:" \
    "ef:01:23:45:67:89:Ab:cD:eF"

typedef struct fp_case {
    const char *text;
    int ok;
} fp_case;

static const fp_case fp_cases[] = {
    {FP_HEX, 1},
    {FP_COLON, 1},
    {"0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF", 1},
    {"01:23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 1},
    {"", 0},
    {FP_HEX "0", 0},
    {FP_HEX "00", 0},
    {FP_HEX ":", 0},
    {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde", 0},
    {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg", 0},
    {":" FP_HEX, 0},
    {"01::23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 0},
    {"0:123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 0},
    {"SHA256:" FP_HEX, 0},
    {"sha256 Fingerprint=" FP_COLON, 1},
    {"SHA256 FINGERPRINT=" FP_HEX, 1},
    {"sha256 Fingerprint=", 0},
    {"sha1 Fingerprint=" FP_HEX, 0},
    {" " FP_HEX, 0},
    {FP_HEX " ", 0},
};

static void test_fingerprint_parse(void **state)
{
    static const unsigned char want[32] = {
        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45,
        0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
        0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(fp_cases) / sizeof(fp_cases[0]); i++) {
        unsigned char out[32];
        char *copy =
            pps_test_exact_copy(fp_cases[i].text, strlen(fp_cases[i].text) + 1);
        int rc = pps__fingerprint_parse(out, copy);

        free(copy);
        if ((rc == 0) != fp_cases[i].ok)
            fail_msg("row %zu \"%s\": rc %d (%s)", i, fp_cases[i].text, rc,
                     pps_error_last()->message);
        if (rc == 0 && memcmp(out, want, sizeof(want)) != 0)
            fail_msg("row %zu: wrong bytes", i);
        if (rc != 0 && rc != PPS_ECONFIG)
            fail_msg("row %zu: code %d, not PPS_ECONFIG", i, rc);
    }
}

/* Every prefix of a good value, in an exact-size buffer: all refused but
 * the whole, and ASan catches any read past the terminator. */
static void test_fingerprint_prefixes(void **state)
{
    const char *full = "sha256 Fingerprint=" FP_COLON;
    size_t n, len = strlen(full);

    (void)state;
    for (n = 0; n <= len; n++) {
        unsigned char out[32];
        char *copy = pps_test_exact_copy(full, n + 1);
        int rc;

        copy[n] = '\0';
        rc = pps__fingerprint_parse(out, copy);
        free(copy);
        if ((rc == 0) != (n == len))
            fail_msg("prefix of %zu bytes: rc %d", n, rc);
    }
}

static void test_fingerprint_format(void **state)
{
    unsigned char fp[32], back[32];
    char text[PPS__FINGERPRINT_TEXT_MAX], small[10] = "junk";
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(fp); i++)
        fp[i] = (unsigned char)(i * 37 + 5);
    pps__fingerprint_format(text, sizeof(text), fp);
    assert_int_equal(strlen(text), 95);
    assert_int_equal(pps__fingerprint_parse(back, text), 0);
    assert_memory_equal(fp, back, sizeof(fp));
    pps__fingerprint_format(small, sizeof(small), fp);
    assert_string_equal(small, "");
}

/* --- TCP against loopback peers ------------------------------------------ */

static void serve_silent(int fd, test_peer *p)
{
    peer_wait_for_stop(fd, p);
}

static void serve_close(int fd, test_peer *p)
{
    (void)fd;
    (void)p;
}

static void serve_greet_close(int fd, test_peer *p)
{
    (void)p;
    peer_write_all(fd, "+OK hi\r\n");
}

static void serve_echo_line(int fd, test_peer *p)
{
    char line[256];

    (void)p;
    peer_write_all(fd, "+OK ready\r\n");
    if (peer_read_line(fd, line, sizeof(line)) == 0)
        peer_write_all(fd, line);
    peer_wait_for_stop(fd, p);
}

/* Read exactly want bytes (the peer may send them in pieces). */
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

static void exchange_line(pps_transport *t)
{
    char buf[64];

    read_exactly(t, buf, 11);
    assert_string_equal(buf, "+OK ready\r\n");
    assert_int_equal(t->write(t, "CAPA\r\n", 6, LONG_TIMEOUT_MS), 6);
    read_exactly(t, buf, 6);
    assert_string_equal(buf, "CAPA\r\n");
}

static void test_roundtrip_and_reconnect(void **state)
{
    pps_transport *t = new_transport();
    test_peer p;
    pps_server_address a;
    int round;

    (void)state;
    for (round = 0; round < 2; round++) {
        assert_int_equal(test_peer_start(&p, AF_INET, serve_echo_line, NULL),
                         0);
        a = address("127.0.0.1", p.port);
        assert_int_equal(t->connect(t, &a, LONG_TIMEOUT_MS), 0);
        assert_int_equal(t->connect(t, &a, LONG_TIMEOUT_MS), PPS_EINVAL);
        assert_message_has("already connected");
        assert_int_equal(t->is_tls(t), 0);
        exchange_line(t);
        t->close(t);
        test_peer_stop(&p);
    }
    pps_transport_free(t);
}

static void test_refused_names_host_and_port(void **state)
{
    pps_transport *t = new_transport();
    unsigned int port = peer_free_port();
    pps_server_address a = address("127.0.0.1", port);
    char piece[32];

    (void)state;
    assert_int_equal(t->connect(t, &a, LONG_TIMEOUT_MS), PPS_ENET);
    assert_message_has("127.0.0.1");
    snprintf(piece, sizeof(piece), "port %u", port);
    assert_message_has(piece);
    assert_message_has("refused");
    assert_int_equal(t->is_tls(t), 0);
    pps_transport_free(t);
}

static void test_unknown_host(void **state)
{
    pps_transport *t = new_transport();
    pps_server_address a = address("no-such-host.invalid", 110);

    (void)state;
    /* RFC 6761: .invalid never resolves (and is answered locally). */
    assert_int_equal(t->connect(t, &a, LONG_TIMEOUT_MS), PPS_ENET);
    assert_message_has("no-such-host.invalid");
    pps_transport_free(t);
}

static long elapsed_ms(struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000 +
           (now.tv_nsec - start->tv_nsec) / 1000000;
}

static void test_read_timeout(void **state)
{
    pps_transport *t = new_transport();
    struct timespec start;
    test_peer p;
    pps_server_address a;
    char buf[16];
    long ms;

    (void)state;
    assert_int_equal(test_peer_start(&p, AF_INET, serve_silent, NULL), 0);
    a = address("127.0.0.1", p.port);
    assert_int_equal(t->connect(t, &a, LONG_TIMEOUT_MS), 0);
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(t->read(t, buf, sizeof(buf), SHORT_TIMEOUT_MS),
                     PPS_ETIMEOUT);
    ms = elapsed_ms(&start);
    assert_message_has("127.0.0.1");
    if (ms < SHORT_TIMEOUT_MS - 10 || ms > SHORT_TIMEOUT_MS + SLACK_MS)
        fail_msg("timed out after %ld ms, asked %d", ms, SHORT_TIMEOUT_MS);
    /* A zero timeout returns at once. */
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(t->read(t, buf, sizeof(buf), 0), PPS_ETIMEOUT);
    assert_true(elapsed_ms(&start) < SLACK_MS);
    pps_transport_free(t);
    test_peer_stop(&p);
}

static void on_signal(int sig)
{
    (void)sig;
}

typedef struct interrupter {
    pthread_t target;
    int delay_ms;
    int count;
} interrupter;

static void *interrupt_main(void *data)
{
    interrupter *in = data;
    int i;

    for (i = 0; i < in->count; i++) {
        usleep((useconds_t)in->delay_ms * 1000);
        pthread_kill(in->target, SIGUSR1);
    }
    return NULL;
}

/* Signals during a wait (EINTR) neither end it early nor stretch it. */
static void test_read_survives_signals(void **state)
{
    pps_transport *t = new_transport();
    interrupter in = {pthread_self(), 60, 5};
    struct sigaction sa, old;
    struct timespec start;
    pthread_t thread;
    test_peer p;
    pps_server_address a;
    char buf[16];
    long ms;

    (void)state;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: poll() sees EINTR */
    sigaction(SIGUSR1, &sa, &old);
    assert_int_equal(test_peer_start(&p, AF_INET, serve_silent, NULL), 0);
    a = address("127.0.0.1", p.port);
    assert_int_equal(t->connect(t, &a, LONG_TIMEOUT_MS), 0);
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(pthread_create(&thread, NULL, interrupt_main, &in), 0);
    assert_int_equal(t->read(t, buf, sizeof(buf), 3 * SHORT_TIMEOUT_MS / 2),
                     PPS_ETIMEOUT);
    ms = elapsed_ms(&start);
    pthread_join(thread, NULL);
    sigaction(SIGUSR1, &old, NULL);
    if (ms < 3 * SHORT_TIMEOUT_MS / 2 - 10 ||
        ms > 3 * SHORT_TIMEOUT_MS / 2 + SLACK_MS)
        fail_msg("read ended after %ld ms, asked %d", ms,
                 3 * SHORT_TIMEOUT_MS / 2);
    pps_transport_free(t);
    test_peer_stop(&p);
}

static struct addrinfo *numeric(const char *ip, unsigned int port)
{
    struct addrinfo hints, *res = NULL;
    char service[8];

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    snprintf(service, sizeof(service), "%u", port);
    assert_int_equal(getaddrinfo(ip, service, &hints, &res), 0);
    return res;
}

/*
 * A listener that never accepts, with a full queue: Linux drops further
 * SYNs, so a connect to it hangs as if the host were black-holed.  The
 * fillers are closed by black_hole_stop.
 */
typedef struct black_hole {
    test_peer peer;
    int filler[4];
} black_hole;

static void black_hole_start(black_hole *b)
{
    struct sockaddr_in sin;
    int i;

    assert_int_equal(test_peer_start_backlog(&b->peer, AF_INET, NULL, NULL, 0),
                     0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((unsigned short)b->peer.port);
    for (i = 0; i < 4; i++) {
        b->filler[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(b->filler[i], (struct sockaddr *)&sin, sizeof(sin));
    }
    usleep(100 * 1000);
}

static void black_hole_stop(black_hole *b)
{
    int i;

    for (i = 0; i < 4; i++)
        close(b->filler[i]);
    test_peer_stop(&b->peer);
}

static void test_connect_timeout(void **state)
{
    pps_transport *t = new_transport();
    struct timespec start;
    pps_server_address a;
    black_hole b;
    long ms;
    int rc;

    (void)state;
    black_hole_start(&b);
    a = address("127.0.0.1", b.peer.port);
    clock_gettime(CLOCK_MONOTONIC, &start);
    rc = t->connect(t, &a, SHORT_TIMEOUT_MS);
    ms = elapsed_ms(&start);
    black_hole_stop(&b);
    pps_transport_free(t);
    if (rc == 0)
        skip(); /* this kernel accepted anyway: nothing to measure */
    assert_int_equal(rc, PPS_ETIMEOUT);
    assert_message_has("timed out");
    if (ms < SHORT_TIMEOUT_MS - 10 || ms > SHORT_TIMEOUT_MS + SLACK_MS)
        fail_msg("connect returned after %ld ms, asked %d", ms,
                 SHORT_TIMEOUT_MS);
}

/* Two black-holed addresses before a good one: each gets a share of the
 * time, so the good one is still reached within the one timeout. */
static void test_black_holes_share_the_timeout(void **state)
{
    struct addrinfo *a1, *a2, *a3;
    struct timespec start;
    black_hole b;
    test_peer p;
    int fd = -1, rc;
    long ms;

    (void)state;
    black_hole_start(&b);
    assert_int_equal(test_peer_start(&p, AF_INET, serve_silent, NULL), 0);
    a1 = numeric("127.0.0.1", b.peer.port);
    a2 = numeric("127.0.0.1", b.peer.port);
    a3 = numeric("127.0.0.1", p.port);
    a1->ai_next = a2;
    a2->ai_next = a3;
    clock_gettime(CLOCK_MONOTONIC, &start);
    rc = pps__sock_connect_list(&fd, a1, "test", p.port,
                                pps__deadline_ms(3 * SHORT_TIMEOUT_MS));
    ms = elapsed_ms(&start);
    a1->ai_next = a2->ai_next = NULL;
    freeaddrinfo(a1);
    freeaddrinfo(a2);
    freeaddrinfo(a3);
    black_hole_stop(&b);
    if (rc != 0)
        fail_msg("after %ld ms: %s", ms, pps_error_last()->message);
    close(fd);
    test_peer_stop(&p);
    /* Two shares of a third each, then the good address at once. */
    if (ms < 2 * SHORT_TIMEOUT_MS - 50 || ms > 3 * SHORT_TIMEOUT_MS + SLACK_MS)
        fail_msg("connected after %ld ms of %d", ms, 3 * SHORT_TIMEOUT_MS);
}

static void test_peer_close_reads_zero(void **state)
{
    pps_transport *t = new_transport();
    test_peer p;
    pps_server_address a;
    char buf[64];

    (void)state;
    assert_int_equal(test_peer_start(&p, AF_INET, serve_greet_close, NULL), 0);
    a = address("127.0.0.1", p.port);
    assert_int_equal(t->connect(t, &a, LONG_TIMEOUT_MS), 0);
    read_exactly(t, buf, 8);
    assert_string_equal(buf, "+OK hi\r\n");
    assert_int_equal(t->read(t, buf, sizeof(buf), LONG_TIMEOUT_MS), 0);
    assert_int_equal(t->read(t, buf, sizeof(buf), LONG_TIMEOUT_MS), 0);
    pps_transport_free(t);
    test_peer_stop(&p);
}

static void test_write_to_closed_peer_no_sigpipe(void **state)
{
    pps_transport *t = new_transport();
    static char block[64 * 1024];
    test_peer p;
    pps_server_address a;
    long rc = 0;
    int i;

    (void)state;
    /* The default action of SIGPIPE kills the process: this test dies if
     * the transport ever lets one through. */
    signal(SIGPIPE, SIG_DFL);
    assert_int_equal(test_peer_start(&p, AF_INET, serve_close, NULL), 0);
    a = address("127.0.0.1", p.port);
    assert_int_equal(t->connect(t, &a, LONG_TIMEOUT_MS), 0);
    test_peer_stop(&p); /* the peer has closed its end */
    memset(block, 'x', sizeof(block));
    for (i = 0; i < 100 && rc >= 0; i++)
        rc = t->write(t, block, sizeof(block), LONG_TIMEOUT_MS);
    assert_int_equal(rc, PPS_ENET);
    assert_message_has("127.0.0.1");
    /* The library did not touch the process's handlers either. */
    {
        struct sigaction now;
        sigaction(SIGPIPE, NULL, &now);
        assert_true(now.sa_handler == SIG_DFL);
    }
    pps_transport_free(t);
}

static void test_localhost_ipv4_only(void **state)
{
    pps_transport *t = new_transport();
    test_peer p;
    pps_server_address a;

    (void)state;
    assert_int_equal(test_peer_start(&p, AF_INET, serve_echo_line, NULL), 0);
    a = address("localhost", p.port);
    if (t->connect(t, &a, LONG_TIMEOUT_MS) != 0)
        fail_msg("localhost: %s", pps_error_last()->message);
    exchange_line(t);
    pps_transport_free(t);
    test_peer_stop(&p);
}

/* Every address is tried in turn: refusing ones first, the listener last. */
static void test_every_address_tried(void **state)
{
    unsigned int dead = peer_free_port();
    int have6 = peer_have_ipv6(), fd = -1;
    struct addrinfo *a1, *a2, *a3;
    test_peer p;

    (void)state;
    assert_int_equal(test_peer_start(&p, AF_INET, serve_silent, NULL), 0);
    a1 = numeric("127.0.0.1", dead);
    a2 = numeric(have6 ? "::1" : "127.0.0.1", dead);
    a3 = numeric("127.0.0.1", p.port);
    a1->ai_next = a2;
    a2->ai_next = a3;
    if (pps__sock_connect_list(&fd, a1, "test", p.port,
                               pps__deadline_ms(LONG_TIMEOUT_MS)) != 0)
        fail_msg("%s", pps_error_last()->message);
    assert_true(fd >= 0);
    close(fd);
    /* All refusing: the error says how many were tried and the last. */
    a2->ai_next = NULL;
    assert_int_equal(pps__sock_connect_list(&fd, a1, "test", dead,
                                            pps__deadline_ms(LONG_TIMEOUT_MS)),
                     PPS_ENET);
    assert_message_has("2 of 2 address(es) tried");
    assert_message_has(have6 ? "last ::1" : "last 127.0.0.1");
    assert_int_equal(fd, -1);
    a1->ai_next = NULL;
    freeaddrinfo(a1);
    freeaddrinfo(a2);
    freeaddrinfo(a3);
    test_peer_stop(&p);
}

static void test_ipv6_loopback(void **state)
{
    pps_transport *t;
    test_peer p;
    pps_server_address a;

    (void)state;
    if (!peer_have_ipv6() ||
        test_peer_start(&p, AF_INET6, serve_echo_line, NULL) < 0) {
        skip(); /* no IPv6 loopback on this machine */
    }
    t = new_transport();
    a = address("::1", p.port);
    if (t->connect(t, &a, LONG_TIMEOUT_MS) != 0)
        fail_msg("[::1]: %s", pps_error_last()->message);
    exchange_line(t);
    pps_transport_free(t);
    test_peer_stop(&p);
}

static void serve_stls_injection(int fd, test_peer *p)
{
    char line[64];

    peer_write_all(fd, "+OK ready\r\n");
    if (peer_read_line(fd, line, sizeof(line)) == 0)
        /* The reply and a forged line in one segment, as an attacker on
         * the path would inject it (CVE-2011-0411). */
        peer_write_all(fd, "+OK begin TLS\r\n+OK forged\r\n");
    peer_wait_for_stop(fd, p);
}

static void test_stls_injection_refused(void **state)
{
    pps_transport *t = new_transport();
    test_peer p;
    pps_server_address a;
    char buf[64];

    (void)state;
    assert_int_equal(test_peer_start(&p, AF_INET, serve_stls_injection, NULL),
                     0);
    a = address("127.0.0.1", p.port);
    assert_int_equal(t->connect(t, &a, LONG_TIMEOUT_MS), 0);
    read_exactly(t, buf, 11);
    assert_int_equal(t->write(t, "STLS\r\n", 6, LONG_TIMEOUT_MS), 6);
    read_exactly(t, buf, 15);
    assert_string_equal(buf, "+OK begin TLS\r\n");
    usleep(50 * 1000); /* let the forged line arrive (same segment) */
    assert_int_equal(t->start_tls(t, LONG_TIMEOUT_MS), PPS_ETLS);
    assert_message_has("after its reply to STLS");
    assert_int_equal(t->is_tls(t), 0);
    assert_int_equal(t->read(t, buf, sizeof(buf), 10), PPS_EINVAL);
    pps_transport_free(t);
    test_peer_stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_init),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_low_min_version_is_raised),
        cmocka_unit_test(test_unconnected_calls),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_fingerprint_parse),
        cmocka_unit_test(test_fingerprint_prefixes),
        cmocka_unit_test(test_fingerprint_format),
        cmocka_unit_test(test_roundtrip_and_reconnect),
        cmocka_unit_test(test_refused_names_host_and_port),
        cmocka_unit_test(test_unknown_host),
        cmocka_unit_test(test_read_timeout),
        cmocka_unit_test(test_read_survives_signals),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_black_holes_share_the_timeout),
        cmocka_unit_test(test_peer_close_reads_zero),
        cmocka_unit_test(test_write_to_closed_peer_no_sigpipe),
        cmocka_unit_test(test_localhost_ipv4_only),
        cmocka_unit_test(test_every_address_tried),
        cmocka_unit_test(test_ipv6_loopback),
        cmocka_unit_test(test_stls_injection_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
