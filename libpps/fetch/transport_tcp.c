/*
 * transport_tcp.c - the default transport: TCP, and TLS through OpenSSL.
 *
 * The table's functions check their arguments and the connection state,
 * turn the caller's timeout into one deadline, and hand over to sock.c
 * (plain) or tls.c (encrypted).  A transport is used by one thread at a
 * time; several transports may run on several threads.
 */
#include <string.h>
#include <unistd.h>

#include "pps/transport.h"
#include "../core/internal.h"
#include "sock.h"
#include "tls.h"

/*
 * The most one read or write call moves: the count must fit the long
 * return value, and OpenSSL's record functions are happiest below INT_MAX.
 */
#define TCP_IO_MAX (1L << 30)

typedef struct tcp_transport {
    pps_transport base; /* first: a pps_transport * is a tcp_transport * */
    int fd;             /* -1 when closed */
    SSL *ssl;           /* NULL until TLS is up */
    char host[PPS_SERVER_HOST_MAX + 1];
    unsigned int port;
    pps__tls tls;
} tcp_transport;

static tcp_transport *tcp_of(pps_transport *t)
{
    return t ? (tcp_transport *)t->payload : NULL;
}

static int check_timeout(int timeout_ms, const char *what)
{
    if (timeout_ms < 0)
        return pps__error_set(PPS_EINVAL, "%s: timeout %d ms is negative", what,
                              timeout_ms);
    return 0;
}

/* The transport of t, connected; or NULL with the error set. */
static tcp_transport *connected(pps_transport *t, const char *what)
{
    tcp_transport *tcp = tcp_of(t);

    if (tcp == NULL) {
        pps__error_set(PPS_EINVAL, "%s: no transport", what);
        return NULL;
    }
    if (tcp->fd < 0) {
        pps__error_set(PPS_EINVAL, "%s: the transport is not connected", what);
        return NULL;
    }
    return tcp;
}

static void tcp_close(pps_transport *t)
{
    tcp_transport *tcp = tcp_of(t);

    if (tcp == NULL)
        return;
    pps__tls_close(tcp->ssl);
    tcp->ssl = NULL;
    if (tcp->fd >= 0)
        close(tcp->fd);
    tcp->fd = -1;
}

static int tcp_start_tls_at(tcp_transport *tcp, int64_t deadline)
{
    int err = pps__tls_handshake(&tcp->ssl, &tcp->tls, &tcp->fd, tcp->host,
                                 tcp->port, deadline);

    if (err < 0)
        tcp_close(&tcp->base);
    return err;
}

static int tcp_connect(pps_transport *t, const pps_server_address *addr,
                       int timeout_ms)
{
    tcp_transport *tcp = tcp_of(t);
    int64_t deadline;
    int err;

    if (tcp == NULL || addr == NULL)
        return pps__error_set(PPS_EINVAL, "connect: no transport or address");
    if ((err = check_timeout(timeout_ms, "connect")) < 0)
        return err;
    if (addr->host[0] == '\0' || addr->port == 0 || addr->port > 65535 ||
        memchr(addr->host, '\0', sizeof(addr->host)) == NULL)
        return pps__error_set(PPS_EINVAL, "connect: the server address has "
                                          "no host or no valid port");
    if (tcp->fd >= 0)
        return pps__error_set(PPS_EINVAL,
                              "connect: already connected to %s "
                              "port %u; close first",
                              tcp->host, tcp->port);
    memcpy(tcp->host, addr->host, sizeof(tcp->host));
    tcp->port = addr->port;
    deadline = pps__deadline_ms(timeout_ms);
    if ((err = pps__sock_connect(&tcp->fd, tcp->host, tcp->port, deadline)) < 0)
        return err;
    pps__log(PPS_LOG_DEBUG, tcp->tls.log_context, "connected to %s port %u",
             tcp->host, tcp->port);
    if (addr->implicit_tls)
        return tcp_start_tls_at(tcp, deadline);
    return 0;
}

static long tcp_read(pps_transport *t, void *buf, size_t len, int timeout_ms)
{
    tcp_transport *tcp = connected(t, "read");
    int64_t deadline;
    int err;

    if (tcp == NULL)
        return pps_error_last()->code;
    if ((err = check_timeout(timeout_ms, "read")) < 0)
        return err;
    if (buf == NULL || len == 0)
        return pps__error_set(PPS_EINVAL, "read: no buffer");
    if (len > (size_t)TCP_IO_MAX)
        len = (size_t)TCP_IO_MAX;
    deadline = pps__deadline_ms(timeout_ms);
    if (tcp->ssl)
        return pps__tls_read(tcp->ssl, tcp->fd, buf, len, deadline, tcp->host,
                             tcp->port);
    return pps__sock_recv(tcp->fd, buf, len, deadline, tcp->host, tcp->port);
}

static long tcp_write(pps_transport *t, const void *buf, size_t len,
                      int timeout_ms)
{
    tcp_transport *tcp = connected(t, "write");
    int64_t deadline;
    int err;

    if (tcp == NULL)
        return pps_error_last()->code;
    if ((err = check_timeout(timeout_ms, "write")) < 0)
        return err;
    if (buf == NULL && len > 0)
        return pps__error_set(PPS_EINVAL, "write: no buffer");
    if (len > (size_t)TCP_IO_MAX)
        return pps__error_set(PPS_EINVAL,
                              "write: %zu bytes in one call is "
                              "more than the %ld allowed",
                              len, TCP_IO_MAX);
    if (len == 0)
        return 0;
    deadline = pps__deadline_ms(timeout_ms);
    if (tcp->ssl)
        return pps__tls_write(tcp->ssl, tcp->fd, buf, len, deadline, tcp->host,
                              tcp->port);
    return pps__sock_send_all(tcp->fd, buf, len, deadline, tcp->host,
                              tcp->port);
}

static int tcp_start_tls(pps_transport *t, int timeout_ms)
{
    tcp_transport *tcp = connected(t, "start_tls");
    int err;

    if (tcp == NULL)
        return pps_error_last()->code;
    if ((err = check_timeout(timeout_ms, "start_tls")) < 0)
        return err;
    if (tcp->ssl)
        return pps__error_set(PPS_EINVAL,
                              "start_tls: the connection to %s "
                              "port %u is already TLS",
                              tcp->host, tcp->port);
    /*
     * The server must say nothing between its reply to STLS and our
     * ClientHello.  Bytes already waiting were sent in clear and would be
     * read as if they came through TLS (the STARTTLS command injection of
     * CVE-2011-0411's kind): refuse the connection instead.
     */
    if (pps__sock_has_pending(tcp->fd)) {
        tcp_close(t);
        return pps__error_set(PPS_ETLS,
                              "%s port %u sent data after its reply to STLS, "
                              "before TLS started (an injection attempt, or "
                              "a broken server): connection closed",
                              tcp->host, tcp->port);
    }
    return tcp_start_tls_at(tcp, pps__deadline_ms(timeout_ms));
}

static int tcp_is_tls(pps_transport *t)
{
    tcp_transport *tcp = tcp_of(t);

    return tcp != NULL && tcp->fd >= 0 && tcp->ssl != NULL;
}

static void tcp_free(pps_transport *t)
{
    tcp_transport *tcp = tcp_of(t);

    if (tcp == NULL)
        return;
    tcp_close(t);
    pps__tls_cleanup(&tcp->tls);
    pps__free(tcp);
}

int pps_transport_tcp_new(pps_transport **out, const pps_tls_options *opts)
{
    tcp_transport *tcp;
    int err;

    if (out == NULL)
        return pps__error_set(PPS_EINVAL, "pps_transport_tcp_new: out is NULL");
    *out = NULL;
    if ((tcp = pps__calloc(1, sizeof(*tcp))) == NULL)
        return pps__error_oom();
    if ((err = pps__tls_setup(&tcp->tls, opts)) < 0) {
        pps__free(tcp);
        return err;
    }
    tcp->fd = -1;
    tcp->base.version = PPS_TRANSPORT_VERSION;
    tcp->base.connect = tcp_connect;
    tcp->base.read = tcp_read;
    tcp->base.write = tcp_write;
    tcp->base.start_tls = tcp_start_tls;
    tcp->base.is_tls = tcp_is_tls;
    tcp->base.close = tcp_close;
    tcp->base.free = tcp_free;
    tcp->base.payload = tcp;
    *out = &tcp->base;
    return 0;
}
