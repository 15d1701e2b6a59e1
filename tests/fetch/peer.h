/*
 * peer.h - a scripted server on a loopback thread, for transport tests.
 *
 *     test_peer p;
 *     if (test_peer_start(&p, AF_INET, serve_fn, arg) < 0) skip();
 *     ... connect to 127.0.0.1 port p.port ...
 *     test_peer_stop(&p);          // joins the thread, closes everything
 *
 * The thread accepts one connection (waiting at most PEER_WAIT_MS), runs
 * serve(fd, peer) on it (the test's arg is peer->arg) and closes it.
 * Sockets time out after PEER_WAIT_MS, so a failing test never hangs.
 * test_peer_stop() also wakes a serve function blocked in
 * peer_wait_for_stop().
 */
#ifndef PPS_TEST_PEER_H
#define PPS_TEST_PEER_H

#include <pthread.h>
#include <sys/socket.h>

#define PEER_WAIT_MS 10000

struct test_peer;
typedef void (*test_peer_fn)(int fd, struct test_peer *peer);

typedef struct test_peer {
    int listen_fd;
    unsigned int port;
    int family;
    int stop_pipe[2]; /* test_peer_stop writes to [1] */
    test_peer_fn serve;
    void *arg;
    pthread_t thread;
    int running;
} test_peer;

/* Listen on 127.0.0.1 (AF_INET) or ::1 (AF_INET6), backlog `backlog`,
 * and start the thread; with serve NULL nothing is ever accepted.
 * Returns 0, or -1 when that loopback does not exist. */
int test_peer_start_backlog(test_peer *p, int family, test_peer_fn serve,
                            void *arg, int backlog);
int test_peer_start(test_peer *p, int family, test_peer_fn serve, void *arg);

void test_peer_stop(test_peer *p);

/* For serve functions: block until test_peer_stop or the peer's socket
 * closes (whichever first), at most PEER_WAIT_MS. */
void peer_wait_for_stop(int fd, struct test_peer *peer);

/* For serve functions: write all, read one line (up to '\n', NUL-ended). */
int peer_write_all(int fd, const char *s);
int peer_read_line(int fd, char *buf, size_t size);

/* A port on 127.0.0.1 that nothing listens on (just closed). */
unsigned int peer_free_port(void);

/* 1 when ::1 can be bound (IPv6 loopback exists). */
int peer_have_ipv6(void);

#endif /* PPS_TEST_PEER_H */
