/*
 * sock.c - TCP connect, read and write with deadlines (see sock.h).
 *
 * This is the one file of the transport that talks to the socket API, so a
 * port to another system (Windows: WSAPoll, closesocket, no MSG_NOSIGNAL)
 * changes this seam and nothing above it.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sock.h"
#include "../core/internal.h"

/*
 * At most this many addresses of one name are tried: a name with hundreds
 * of records must not turn one connect into hundreds of attempts, and
 * real mail hosts have a handful (typically one IPv6 and one IPv4).
 */
#define SOCK_MAX_ADDRESSES 16

/* Room for a numeric IPv6 address with a zone, for error details. */
#define SOCK_ADDR_TEXT_MAX 64

int64_t pps__deadline_ms(int timeout_ms)
{
    return pps__now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
}

int pps__remaining_ms(int64_t deadline)
{
    int64_t left = deadline - pps__now_ms();

    if (left <= 0)
        return 0;
    return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

const char *pps__strerror(int errnum, char *buf, size_t size)
{
    /* The XSI strerror_r returns int, the GNU one a pointer that may not
     * be buf; both leave something printable. */
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    return strerror_r(errnum, buf, size);
#else
    if (strerror_r(errnum, buf, size) != 0)
        pps__snprintf(buf, size, "error %d", errnum);
    return buf;
#endif
}

int pps__sock_wait(int fd, short events, int64_t deadline)
{
    struct pollfd p;
    int n;

    for (;;) {
        p.fd = fd;
        p.events = events;
        p.revents = 0;
        n = poll(&p, 1, pps__remaining_ms(deadline));
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

/* One address: returns a connected fd, or -errno (-ETIMEDOUT at the
 * attempt's deadline). */
static int connect_one(const struct addrinfo *ai, int64_t deadline)
{
    int fd, err = 0, one = 1, w;
    socklen_t len = sizeof(err);

    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                ai->ai_protocol);
    if (fd < 0)
        return -errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        /* EINTR: the connect goes on asynchronously, as EINPROGRESS. */
        if (errno != EINPROGRESS && errno != EINTR) {
            err = -errno;
            close(fd);
            return err;
        }
        w = pps__sock_wait(fd, POLLOUT, deadline);
        if (w <= 0) {
            close(fd);
            return w == 0 ? -ETIMEDOUT : w;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err != 0) {
            close(fd);
            return -err;
        }
    }
    /* POP3 commands are small and pipelined: don't let Nagle hold one
     * back for an ACK.  A failure here only costs latency. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void address_text(char *buf, size_t size, const struct addrinfo *ai)
{
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, (socklen_t)size, NULL, 0,
                    NI_NUMERICHOST) != 0)
        pps__snprintf(buf, size, "?");
}

static int resolve(struct addrinfo **out, const char *host, unsigned int port)
{
    struct addrinfo hints;
    char service[8], errbuf[128];
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC; /* IPv6 and IPv4, the resolver's order */
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    pps__snprintf(service, sizeof(service), "%u", port);
    rc = getaddrinfo(host, service, &hints, out);
    if (rc == 0)
        return 0;
    *out = NULL;
    return pps__error_set(
        PPS_ENET, "cannot resolve %s (port %u): %s", host, port,
        rc == EAI_SYSTEM ? pps__strerror(errno, errbuf, sizeof(errbuf))
                         : gai_strerror(rc));
}

int pps__sock_connect_list(int *out_fd, const struct addrinfo *list,
                           const char *host, unsigned int port,
                           int64_t deadline)
{
    const struct addrinfo *ai;
    char addr[SOCK_ADDR_TEXT_MAX] = "none", errbuf[128];
    int fd = -1, last = 0, count = 0, tried = 0, left, share;

    *out_fd = -1;
    for (ai = list; ai && count < SOCK_MAX_ADDRESSES; ai = ai->ai_next)
        count++;
    for (ai = list; ai && tried < count; ai = ai->ai_next) {
        left = pps__remaining_ms(deadline);
        if (left == 0 && tried > 0)
            break;
        /* An equal share of what is left for each address still to try;
         * a refusal returns at once and leaves its share to the next. */
        share = left / (count - tried);
        address_text(addr, sizeof(addr), ai);
        tried++;
        fd = connect_one(ai, tried == count ? deadline : pps__now_ms() + share);
        if (fd >= 0) {
            *out_fd = fd;
            return 0;
        }
        last = -fd;
    }
    if (last == ETIMEDOUT || last == 0)
        return pps__error_set(PPS_ETIMEOUT,
                              "cannot connect to %s port %u: timed out "
                              "(%d of %d address(es) tried, last %s)",
                              host, port, tried, count, addr);
    return pps__error_set(
        PPS_ENET,
        "cannot connect to %s port %u: %s (%d of %d address(es) tried, "
        "last %s)",
        host, port, pps__strerror(last, errbuf, sizeof(errbuf)), tried, count,
        addr);
}

int pps__sock_connect(int *out_fd, const char *host, unsigned int port,
                      int64_t deadline)
{
    struct addrinfo *res;
    int rc;

    *out_fd = -1;
    if ((rc = resolve(&res, host, port)) < 0)
        return rc;
    rc = pps__sock_connect_list(out_fd, res, host, port, deadline);
    freeaddrinfo(res);
    return rc;
}

long pps__sock_recv(int fd, void *buf, size_t len, int64_t deadline,
                    const char *host, unsigned int port)
{
    char errbuf[128];
    ssize_t n;
    int w;

    for (;;) {
        n = recv(fd, buf, len, 0);
        if (n >= 0)
            return (long)n;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            break;
        w = pps__sock_wait(fd, POLLIN, deadline);
        if (w == 0)
            return pps__error_set(PPS_ETIMEOUT,
                                  "timed out waiting for data from %s port %u",
                                  host, port);
        if (w < 0) {
            errno = -w;
            break;
        }
    }
    return pps__error_set(PPS_ENET,
                          "connection to %s port %u failed while "
                          "reading: %s",
                          host, port,
                          pps__strerror(errno, errbuf, sizeof(errbuf)));
}

long pps__sock_send_all(int fd, const void *buf, size_t len, int64_t deadline,
                        const char *host, unsigned int port)
{
    const char *p = buf;
    size_t done = 0;
    char errbuf[128];
    ssize_t n;
    int w;

    while (done < len) {
        /* MSG_NOSIGNAL: a closed peer is EPIPE here, not a SIGPIPE. */
        n = send(fd, p + done, len - done, MSG_NOSIGNAL);
        if (n >= 0) {
            done += (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            break;
        w = pps__sock_wait(fd, POLLOUT, deadline);
        if (w == 0)
            return pps__error_set(PPS_ETIMEOUT,
                                  "timed out writing to %s port %u (%zu of "
                                  "%zu bytes sent)",
                                  host, port, done, len);
        if (w < 0) {
            errno = -w;
            break;
        }
    }
    if (done == len)
        return (long)len;
    return pps__error_set(PPS_ENET,
                          "connection to %s port %u failed while "
                          "writing: %s",
                          host, port,
                          pps__strerror(errno, errbuf, sizeof(errbuf)));
}

int pps__sock_has_pending(int fd)
{
    char c;

    return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}
