/*
 * libpps/fetch/sock.h - TCP sockets with deadlines, for the default
 * transport.
 *
 * Every wait is a poll() against an absolute deadline on the monotonic
 * clock (pps__deadline_ms), so a function that waits several times (one
 * connect per address, a TLS handshake in many steps) still returns by the
 * time its caller allowed.  Sockets are non-blocking and close-on-exec;
 * writes use MSG_NOSIGNAL, so a peer that went away gives EPIPE, never a
 * SIGPIPE, and the process's signal handlers are left alone.
 */
#ifndef PPS_FETCH_SOCK_H
#define PPS_FETCH_SOCK_H

#include <stddef.h>
#include <stdint.h>

/* The deadline `timeout_ms` from now (timeout_ms >= 0). */
int64_t pps__deadline_ms(int timeout_ms);

/* Milliseconds left until `deadline`, 0 when it has passed; fits poll(). */
int pps__remaining_ms(int64_t deadline);

/*
 * Wait until `fd` is ready for `events` (POLLIN and/or POLLOUT).  Returns
 * 1 when ready (also on POLLHUP/POLLERR: the next call reports why), 0
 * when the deadline passed, -errno when poll failed.  EINTR is retried.
 */
int pps__sock_wait(int fd, short events, int64_t deadline);

/*
 * Resolve host and connect to each of its addresses in turn (IPv6 and
 * IPv4, in the resolver's order) until one answers, each attempt with a
 * share of the time left so that one black-holed address cannot use it
 * all.  On success *out_fd is a connected non-blocking socket.  Fails with
 * PPS_ENET (naming host, port, the address last tried and its error) or
 * PPS_ETIMEOUT when the deadline passed.  Name resolution uses the system
 * resolver and its own timeouts (resolv.conf), which the deadline cannot
 * shorten.
 */
int pps__sock_connect(int *out_fd, const char *host, unsigned int port,
                      int64_t deadline);

struct addrinfo;

/* The loop of pps__sock_connect over a resolved list (a seam for tests:
 * they build lists whose first addresses refuse). */
int pps__sock_connect_list(int *out_fd, const struct addrinfo *list,
                           const char *host, unsigned int port,
                           int64_t deadline);

/*
 * One recv() of at most len bytes, waiting for data until the deadline:
 * returns the count, 0 at end of stream, or PPS_ETIMEOUT / PPS_ENET.
 * host and port only name the peer in error details.
 */
long pps__sock_recv(int fd, void *buf, size_t len, int64_t deadline,
                    const char *host, unsigned int port);

/* Send all len bytes before the deadline: returns len, PPS_ETIMEOUT or
 * PPS_ENET. */
long pps__sock_send_all(int fd, const void *buf, size_t len, int64_t deadline,
                        const char *host, unsigned int port);

/* 1 when bytes are waiting to be read on fd right now, 0 otherwise. */
int pps__sock_has_pending(int fd);

/* strerror_r() into buf, whichever flavour the C library has. */
const char *pps__strerror(int errnum, char *buf, size_t size);

#endif /* PPS_FETCH_SOCK_H */
