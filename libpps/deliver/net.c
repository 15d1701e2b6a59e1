/*
 * libpps/deliver/net.c - a connection to the local LMTP or SMTP server.
 *
 * TCP ("host:port", "[v6]:port") or a unix socket (an absolute path),
 * with a deadline on connect, on every read and on every write (poll,
 * never signals), and STARTTLS through OpenSSL with the certificate
 * chain and host name verified unless told otherwise.  This is kept
 * small on purpose: the fetch transport may take it over later.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/internal.h"
#include "deliver/deliver-int.h"

/* RFC 1035 host name plus brackets. */
#define NET_HOST_MAX 260

struct pps__conn {
    int fd;
    int is_private; /* unix socket, loopback or TLS */
    SSL_CTX *ctx;
    SSL *ssl;
    char name[NET_HOST_MAX + 8]; /* for messages */
};

/* Wait for `events` on fd until `deadline`; 0, PPS_ETIMEOUT or PPS_ENET. */
static int wait_fd(pps__conn *c, short events, long long deadline)
{
    for (;;) {
        struct pollfd p = {c->fd, events, 0};
        long long left = deadline - pps__now_ms();
        int n;

        if (left <= 0)
            return pps__error_set(PPS_ETIMEOUT, "%s: no answer in time",
                                  c->name);
        n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return pps__error_set(PPS_ENET, "%s: poll: %s", c->name,
                                  strerror(errno));
    }
}

int pps__conn_host(char *buf, size_t size, const char *server)
{
    const char *end;
    size_t len;

    if (server[0] == '[') {
        end = strchr(server, ']');
        if (!end)
            return pps__error_set(PPS_ECONFIG,
                                  "[delivery] server \"%s\": no closing ']'",
                                  server);
        server++;
    } else {
        end = strrchr(server, ':');
        if (!end)
            end = server + strlen(server);
    }
    len = (size_t)(end - server);
    if (len == 0 || len >= size || len > NET_HOST_MAX)
        return pps__error_set(PPS_ECONFIG, "[delivery] server \"%s\": bad host",
                              server);
    memcpy(buf, server, len);
    buf[len] = '\0';
    return (int)len;
}

static int parse_port(const char *server, unsigned int dflt, unsigned int *port)
{
    const char *p = server[0] == '[' ? strchr(server, ']') : server;
    unsigned long v = 0;

    p = p ? strrchr(p, ':') : NULL;
    if (!p) {
        *port = dflt;
        return 0;
    }
    for (p++; *p >= '0' && *p <= '9' && v <= 65535; p++)
        v = v * 10 + (unsigned long)(*p - '0');
    if (*p || v == 0 || v > 65535)
        return pps__error_set(PPS_ECONFIG,
                              "[delivery] server \"%s\": the port must be "
                              "1-65535",
                              server);
    *port = (unsigned int)v;
    return 0;
}

/* Non-blocking connect with a deadline. */
static int connect_fd(pps__conn *c, const struct sockaddr *sa, socklen_t len,
                      long long deadline)
{
    int err = 0;
    socklen_t elen = sizeof(err);

    c->fd =
        socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c->fd < 0)
        return pps__error_set(PPS_ENET, "%s: socket: %s", c->name,
                              strerror(errno));
    if (connect(c->fd, sa, len) == 0)
        return 0;
    if (errno != EINPROGRESS)
        err = errno;
    else if ((err = wait_fd(c, POLLOUT, deadline)) < 0)
        goto fail_code;
    else if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
        err = errno;
    if (!err)
        return 0;
    pps__error_set(PPS_ENET, "cannot connect to %s: %s", c->name,
                   strerror(err));
    err = PPS_ENET;
fail_code:
    close(c->fd);
    c->fd = -1;
    return err;
}

static int open_unix(pps__conn *c, const char *path, long long deadline)
{
    struct sockaddr_un sun;
    size_t len = strlen(path);

    if (len >= sizeof(sun.sun_path))
        return pps__error_set(PPS_ECONFIG,
                              "[delivery] server: socket path longer than "
                              "%zu bytes",
                              sizeof(sun.sun_path) - 1);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, len);
    c->is_private = 1;
    return connect_fd(c, (struct sockaddr *)&sun, sizeof(sun), deadline);
}

static int is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in =
            (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 =
            (const struct sockaddr_in6 *)(const void *)sa;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    return 0;
}

static int open_tcp(pps__conn *c, const char *server, unsigned int dflt,
                    long long deadline)
{
    char host[NET_HOST_MAX + 1], port_text[8];
    struct addrinfo hints, *res = NULL, *ai;
    unsigned int port = 0;
    int err, gai;

    if ((err = pps__conn_host(host, sizeof(host), server)) < 0 ||
        (err = parse_port(server, dflt, &port)) < 0)
        return err;
    pps__snprintf(port_text, sizeof(port_text), "%u", port);
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if ((gai = getaddrinfo(host, port_text, &hints, &res)) != 0)
        return pps__error_set(gai == EAI_AGAIN ? PPS_ENET : PPS_ECONFIG,
                              "[delivery] server %s: %s", c->name,
                              gai_strerror(gai));
    err = PPS_ENET;
    for (ai = res; ai; ai = ai->ai_next) {
        if ((err = connect_fd(c, ai->ai_addr, ai->ai_addrlen, deadline)) == 0) {
            c->is_private = is_loopback(ai->ai_addr);
            break;
        }
    }
    freeaddrinfo(res);
    return err;
}

int pps__conn_open(pps__conn **out, const char *server,
                   unsigned int default_port, unsigned int timeout_ms)
{
    pps__conn *c;
    long long deadline = pps__now_ms() + timeout_ms;
    int err;

    *out = NULL;
    if (!(c = pps__calloc(1, sizeof(*c))))
        return pps__error_oom();
    c->fd = -1;
    pps__snprintf(c->name, sizeof(c->name), "%.*s", NET_HOST_MAX, server);
    err = server[0] == '/' ? open_unix(c, server, deadline)
                           : open_tcp(c, server, default_port, deadline);
    if (err < 0) {
        pps__conn_close(c);
        return err;
    }
    *out = c;
    return 0;
}

int pps__conn_is_private(const pps__conn *c)
{
    return c->is_private || c->ssl != NULL;
}

/* 1 retry after waiting, 0 done, <0 error (for SSL_* results). */
static int tls_retry(pps__conn *c, int rc, long long deadline, const char *what)
{
    int e = SSL_get_error(c->ssl, rc);
    int err;

    if (e == SSL_ERROR_WANT_READ)
        return (err = wait_fd(c, POLLIN, deadline)) < 0 ? err : 1;
    if (e == SSL_ERROR_WANT_WRITE)
        return (err = wait_fd(c, POLLOUT, deadline)) < 0 ? err : 1;
    if (e == SSL_ERROR_ZERO_RETURN)
        return pps__error_set(PPS_ENET, "%s closed the connection", c->name);
    {
        char buf[160];
        unsigned long code = ERR_get_error();
        ERR_error_string_n(code, buf, sizeof(buf));
        ERR_clear_error();
        return pps__error_set(e == SSL_ERROR_SYSCALL ? PPS_ENET : PPS_ETLS,
                              "%s: TLS %s failed: %s", c->name, what,
                              code ? buf : "connection closed");
    }
}

int pps__conn_write(pps__conn *c, const char *data, size_t len,
                    unsigned int timeout_ms)
{
    long long deadline = pps__now_ms() + timeout_ms;
    int err = 0;

    while (len > 0 && err == 0) {
        if (c->ssl) {
            pps__sigpipe sp;
            int n, chunk = len > 65536 ? 65536 : (int)len;
            pps__sigpipe_block(&sp);
            n = SSL_write(c->ssl, data, chunk);
            pps__sigpipe_restore(&sp);
            if (n > 0) {
                data += n;
                len -= (size_t)n;
            } else if ((err = tls_retry(c, n, deadline, "write")) == 1) {
                err = 0;
            }
            continue;
        }
        {
            ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
            if (n > 0) {
                data += n;
                len -= (size_t)n;
            } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                err = wait_fd(c, POLLOUT, deadline);
            } else {
                err = pps__error_set(PPS_ENET,
                                     "%s: connection lost while "
                                     "sending: %s",
                                     c->name, strerror(errno));
            }
        }
    }
    return err;
}

int pps__conn_read(pps__conn *c, char *buf, size_t size, size_t *got,
                   unsigned int timeout_ms)
{
    long long deadline = pps__now_ms() + timeout_ms;
    int err;

    *got = 0;
    for (;;) {
        if (c->ssl) {
            int n = SSL_read(c->ssl, buf, size > 65536 ? 65536 : (int)size);
            if (n > 0) {
                *got = (size_t)n;
                return 0;
            }
            if ((err = tls_retry(c, n, deadline, "read")) < 0)
                return err;
            continue;
        }
        {
            ssize_t n = recv(c->fd, buf, size, 0);
            if (n > 0) {
                *got = (size_t)n;
                return 0;
            }
            if (n == 0)
                return pps__error_set(PPS_ENET, "%s closed the connection",
                                      c->name);
            if (errno != EAGAIN && errno != EINTR)
                return pps__error_set(PPS_ENET, "%s: connection lost: %s",
                                      c->name, strerror(errno));
            if ((err = wait_fd(c, POLLIN, deadline)) < 0)
                return err;
        }
    }
}

int pps__conn_starttls(pps__conn *c, const char *ca_file,
                       const char *server_name, int no_verify,
                       unsigned int timeout_ms)
{
    long long deadline = pps__now_ms() + timeout_ms;
    int rc, err;

    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx)
        return pps__error_set(PPS_ETLS, "TLS: cannot make a context");
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    if (!no_verify) {
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
        rc = ca_file ? SSL_CTX_load_verify_locations(c->ctx, ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(c->ctx);
        if (rc != 1)
            return pps__error_set(PPS_ECONFIG,
                                  "[delivery] cannot load the CA file %s",
                                  ca_file ? ca_file : "(system store)");
    }
    if (!(c->ssl = SSL_new(c->ctx)) || SSL_set_fd(c->ssl, c->fd) != 1)
        return pps__error_set(PPS_ETLS, "TLS: cannot make a session");
    if (server_name && *server_name) {
        unsigned char ip[16];
        int is_ip = inet_pton(AF_INET, server_name, ip) == 1 ||
                    inet_pton(AF_INET6, server_name, ip) == 1;
        /* RFC 6066 3: no address literals in SNI; an address is checked
         * against the certificate's IP SANs instead of its names. */
        if (!is_ip)
            SSL_set_tlsext_host_name(c->ssl, server_name);
        if (!no_verify && (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(
                                       SSL_get0_param(c->ssl), server_name)
                                 : SSL_set1_host(c->ssl, server_name)) != 1)
            return pps__error_set(PPS_ETLS, "TLS: bad server name %s",
                                  server_name);
    }
    for (;;) {
        pps__sigpipe sp;
        pps__sigpipe_block(&sp);
        rc = SSL_connect(c->ssl);
        pps__sigpipe_restore(&sp);
        if (rc == 1)
            break;
        if ((err = tls_retry(c, rc, deadline, "handshake")) < 0) {
            long v = SSL_get_verify_result(c->ssl);
            if (v != X509_V_OK)
                return pps__error_set(PPS_ETLS, "%s: certificate refused: %s",
                                      c->name,
                                      X509_verify_cert_error_string(v));
            return err == PPS_ENET ? PPS_ETLS : err;
        }
    }
    return 0;
}

void pps__conn_close(pps__conn *c)
{
    if (!c)
        return;
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->ctx)
        SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    pps__free(c);
}
