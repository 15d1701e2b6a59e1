/*
 * peer.c - a scripted server on a loopback thread (see peer.h).
 */
#include "peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static int bind_loopback(int family, unsigned int port, int backlog,
                         unsigned int *out_port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        a->sin6_port = htons((unsigned short)port);
        len = sizeof(*a);
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a->sin_port = htons((unsigned short)port);
        len = sizeof(*a);
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, backlog) < 0) {
        close(fd);
        return -1;
    }
    len = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    *out_port = family == AF_INET6
                    ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static void *peer_main(void *data)
{
    test_peer *p = data;
    struct pollfd fds[2] = {{p->listen_fd, POLLIN, 0},
                            {p->stop_pipe[0], POLLIN, 0}};
    struct timeval tv = {PEER_WAIT_MS / 1000, 0};
    int fd;

    if (poll(fds, 2, PEER_WAIT_MS) <= 0 || !(fds[0].revents & POLLIN))
        return NULL;
    fd = accept(p->listen_fd, NULL, NULL);
    if (fd < 0)
        return NULL;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    p->serve(fd, p);
    close(fd);
    return NULL;
}

int test_peer_start_backlog(test_peer *p, int family, test_peer_fn serve,
                            void *arg, int backlog)
{
    memset(p, 0, sizeof(*p));
    p->family = family;
    p->serve = serve;
    p->arg = arg;
    p->listen_fd = bind_loopback(family, 0, backlog, &p->port);
    if (p->listen_fd < 0)
        return -1;
    if (pipe(p->stop_pipe) < 0) {
        close(p->listen_fd);
        return -1;
    }
    if (serve) {
        if (pthread_create(&p->thread, NULL, peer_main, p) != 0) {
            close(p->listen_fd);
            close(p->stop_pipe[0]);
            close(p->stop_pipe[1]);
            return -1;
        }
        p->running = 1;
    }
    return 0;
}

int test_peer_start(test_peer *p, int family, test_peer_fn serve, void *arg)
{
    return test_peer_start_backlog(p, family, serve, arg, 8);
}

void test_peer_stop(test_peer *p)
{
    ssize_t n = write(p->stop_pipe[1], "x", 1);

    (void)n;
    if (p->running)
        pthread_join(p->thread, NULL);
    p->running = 0;
    close(p->listen_fd);
    close(p->stop_pipe[0]);
    close(p->stop_pipe[1]);
}

void peer_wait_for_stop(int fd, test_peer *p)
{
    struct pollfd fds[2] = {{fd, POLLIN, 0}, {p->stop_pipe[0], POLLIN, 0}};
    char buf[256];

    for (;;) {
        if (poll(fds, 2, PEER_WAIT_MS) <= 0 || fds[1].revents)
            return;
        if (fds[0].revents) {
            /* Drain what the client sends; stop when it closes. */
            if (recv(fd, buf, sizeof(buf), 0) <= 0)
                return;
        }
    }
}

int peer_write_all(int fd, const char *s)
{
    size_t len = strlen(s), done = 0;
    ssize_t n;

    while (done < len) {
        n = send(fd, s + done, len - done, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

int peer_read_line(int fd, char *buf, size_t size)
{
    size_t n = 0;

    while (n + 1 < size) {
        if (recv(fd, buf + n, 1, 0) != 1)
            break;
        if (buf[n++] == '\n')
            break;
    }
    buf[n] = '\0';
    return n > 0 ? 0 : -1;
}

unsigned int peer_free_port(void)
{
    unsigned int port = 0;
    int fd = bind_loopback(AF_INET, 0, 1, &port);

    if (fd >= 0)
        close(fd);
    return port;
}

int peer_have_ipv6(void)
{
    unsigned int port;
    int fd = bind_loopback(AF_INET6, 0, 1, &port);

    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}
