/*
 * bench-tls.c - time sequential TLS handshakes of the default transport
 * against an in-process server (not run by `meson test`; docs/tls.md).
 *
 *     build/tests/fetch/bench-tls [-n HANDSHAKES] [-t THREADS] [-s] [-r]
 *
 * Each handshake is what one poll does: pps_transport_tcp_new() with the
 * profile's options, connect with implicit TLS to "localhost", read the
 * greeting, pps_transport_free().  The CA comes from a test PKI (pki.c):
 * by default as tls_ca_file; with -s through the system store, as real
 * profiles use it: SSL_CERT_FILE names a bundle of the system's CAs plus
 * the test CA (as tests/bench/e2e.py's sysCA row does).  THREADS client
 * threads run HANDSHAKES each at once (as ppsd's max_parallel).
 *
 * Without -r every handshake is a full one: sessions are kept but never
 * offered (their maximum age is set to 0, tls-session.c), as before libpps
 * resumed them.
 * With -r they are kept, as the library does: after the first handshake
 * (per thread, at worst) the server resumes the session.  The server keeps
 * one context, so its tickets stay valid, as a reused Dovecot login
 * process's do.
 *
 * Prints wall time per handshake, the client threads' CPU per handshake
 * (RUSAGE_THREAD: the in-process server's share is not counted), how many
 * handshakes resumed, the process's peak RSS and, with -r, the heap the
 * kept sessions hold.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "pps/errors.h"
#include "pps/transport.h"
#include "fetch/tls.h"
#include "pki.h"

#define SYSTEM_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define TIMEOUT_MS    10000

static test_pki pki;
static SSL_CTX *server_ctx;
static int listen_fd = -1;
static unsigned int port;
static int handshakes = 200;
static const char *ca_file; /* NULL: the system store */
static int resume;          /* -r: keep sessions between handshakes */

static void *serve(void *unused)
{
    int one = 1;

    (void)unused;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        SSL *ssl;
        char buf[64];

        if (fd < 0)
            return NULL;
        /* Else the server's tickets and greeting wait for the client's
         * delayed ACK (40 ms). */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if ((ssl = SSL_new(server_ctx)) != NULL && SSL_set_fd(ssl, fd) == 1 &&
            SSL_accept(ssl) == 1) {
            SSL_write(ssl, "+OK hello\r\n", 11);
            while (SSL_read(ssl, buf, sizeof(buf)) > 0)
                ; /* until the client closes */
            SSL_shutdown(ssl);
        }
        SSL_free(ssl);
        ERR_clear_error();
        close(fd);
    }
}

static int listen_loopback(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int one = 1;

    if ((listen_fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        return -1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(listen_fd, 128) < 0 ||
        getsockname(listen_fd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    port = ntohs(a.sin_port);
    return 0;
}

static int one_handshake(void)
{
    pps_tls_options o = PPS_TLS_OPTIONS_INIT;
    pps_server_address a = PPS_SERVER_ADDRESS_INIT;
    pps_transport *t = NULL;
    char buf[16];
    long n;
    int rc;

    o.ca_file = ca_file;
    snprintf(a.host, sizeof(a.host), "localhost");
    a.port = port;
    a.implicit_tls = 1;
    if ((rc = pps_transport_tcp_new(&t, &o)) < 0 ||
        (rc = t->connect(t, &a, TIMEOUT_MS)) < 0 ||
        (n = t->read(t, buf, sizeof(buf), TIMEOUT_MS)) <= 0) {
        fprintf(stderr, "bench-tls: %s\n", pps_error_last()->message);
        pps_transport_free(t);
        return -1;
    }
    pps_transport_free(t);
    return 0;
}

typedef struct client {
    pthread_t thread;
    double cpu_s;
    int failed;
} client;

static void *client_main(void *data)
{
    client *c = data;
    struct rusage ru;
    int i;

    for (i = 0; i < handshakes && !c->failed; i++)
        c->failed = one_handshake() < 0;
    getrusage(RUSAGE_THREAD, &ru);
    c->cpu_s =
        (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
        ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
    return NULL;
}

/* The system's bundle plus the test CA, named by SSL_CERT_FILE. */
static int system_store_with_test_ca(char *path, size_t size)
{
    FILE *in = fopen(SYSTEM_BUNDLE, "r"), *out;
    char buf[8192];
    size_t n;
    int fd;

    snprintf(path, size, "/tmp/pps-bench-bundle-XXXXXX");
    if (in == NULL || (fd = mkstemp(path)) < 0 ||
        (out = fdopen(fd, "w")) == NULL) {
        perror("bench-tls: " SYSTEM_BUNDLE);
        return -1;
    }
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    PEM_write_X509(out, pki.ca);
    if (fclose(out) != 0)
        return -1;
    return setenv("SSL_CERT_FILE", path, 1);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int threads = 1, system_store = 0, opt, i, failed = 0;
    char bundle[64] = "";
    pthread_t server[8];
    client *clients;
    struct rusage ru;
    pps__tls_session_stats st;
    size_t heap;
    double t0, wall, cpu = 0, loads[3] = {0, 0, 0};
    long total;

    while ((opt = getopt(argc, argv, "n:t:sr")) != -1) {
        if (opt == 'n')
            handshakes = (int)strtol(optarg, NULL, 10);
        else if (opt == 't')
            threads = (int)strtol(optarg, NULL, 10);
        else if (opt == 's')
            system_store = 1;
        else if (opt == 'r')
            resume = 1;
        else
            return 2;
    }
    if (handshakes < 1 || threads < 1 || threads > 64) {
        fprintf(stderr,
                "usage: bench-tls [-n HANDSHAKES] [-t THREADS] [-s] [-r]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (test_pki_make(&pki) < 0)
        return 1;
    if (system_store && system_store_with_test_ca(bundle, sizeof(bundle)) < 0)
        return 1;
    ca_file = system_store ? NULL : pki.ca_file;
    if (!resume)
        pps__tls_session_cache_set_max_age(0);
    server_ctx = test_pki_server_ctx(&pki, pki.good);
    if (server_ctx == NULL || listen_loopback() < 0) {
        fprintf(stderr, "bench-tls: cannot set up the server\n");
        return 1;
    }
    for (i = 0; i < 8; i++)
        pthread_create(&server[i], NULL, serve, NULL);
    clients = calloc((size_t)threads, sizeof(*clients));
    if (clients == NULL)
        return 1;
    t0 = now_s();
    for (i = 0; i < threads; i++)
        pthread_create(&clients[i].thread, NULL, client_main, &clients[i]);
    for (i = 0; i < threads; i++) {
        pthread_join(clients[i].thread, NULL);
        cpu += clients[i].cpu_s;
        failed |= clients[i].failed;
    }
    wall = now_s() - t0;
    getrusage(RUSAGE_SELF, &ru);
    getloadavg(loads, 3);
    total = (long)handshakes * threads;
    pps__tls_session_cache_stats(&st);
    heap = mallinfo2().uordblks;
    pps__tls_session_cache_clear();
    heap -= mallinfo2().uordblks;
    printf("%s, %s, %d thread(s) x %d handshakes: %.3f s wall, %.3f ms "
           "wall per handshake, %.3f ms client CPU per handshake, %lu "
           "resumed, peak RSS %ld KiB, %zu session(s) kept holding %zu "
           "bytes of heap, load %.2f %.2f %.2f%s\n",
           system_store ? "system store" : "tls_ca_file",
           resume ? "sessions kept (-r)" : "no session kept", threads,
           handshakes, wall, wall * 1000 / (double)total,
           cpu * 1000 / (double)total, st.resumed, ru.ru_maxrss, st.entries,
           heap, loads[0], loads[1], loads[2], failed ? " (FAILED)" : "");
    if (bundle[0])
        unlink(bundle);
    test_pki_free(&pki);
    /* The server threads block in accept(): exit without joining them. */
    fflush(stdout);
    _exit(failed);
}
