/*
 * fake-peer.h - a scripted LMTP/SMTP server on a unix socket, in a thread.
 *
 * A script is a list of steps, run in order on one accepted connection:
 *
 *     "S:220 ready"   send the line (CRLF added)
 *     "R:raw bytes"   send the bytes as they are (no CRLF)
 *     "C"             read one client line into the transcript
 *     "B"             read the message up to "." into the transcript
 *     "b"             read one client line without recording it
 *     "X"             close the connection now
 *     "H"             hang: read and drop everything until the client
 *                     closes
 *     "A"             close and accept the next connection
 *
 * The transcript is every client line (CRLF shown as "\n"), so a test
 * states exactly what the client must send, pipelined batches included.
 */
#ifndef FAKE_PEER_H
#define FAKE_PEER_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define PEER_TRANSCRIPT_MAX (4 * 1024 * 1024)

typedef struct fake_peer {
    char dir[64];
    char path[128];
    int listen_fd;
    int fd;
    const char *const *script;
    pthread_t thread;
    char *transcript;
    size_t len;
    char in[8192];
    size_t in_pos, in_len;
} fake_peer;

static int peer_getc(fake_peer *p)
{
    if (p->in_pos == p->in_len) {
        ssize_t n = read(p->fd, p->in, sizeof(p->in));
        if (n <= 0)
            return -1;
        p->in_pos = 0;
        p->in_len = (size_t)n;
    }
    return (unsigned char)p->in[p->in_pos++];
}

static void peer_add(fake_peer *p, const char *s, size_t n)
{
    if (p->len + n >= PEER_TRANSCRIPT_MAX)
        n = PEER_TRANSCRIPT_MAX - 1 - p->len;
    memcpy(p->transcript + p->len, s, n);
    p->len += n;
    p->transcript[p->len] = '\0';
}

/* One line with its end; returns its length, 0 at EOF. */
static size_t peer_line(fake_peer *p, char *buf, size_t size)
{
    size_t n = 0;
    int c;

    while ((c = peer_getc(p)) >= 0) {
        if (n + 1 < size)
            buf[n++] = (char)c;
        if (c == '\n')
            break;
    }
    buf[n] = '\0';
    return n;
}

/* Record a line as "text\n" (CR LF shown as a plain newline). */
static void peer_record(fake_peer *p, const char *line, size_t n)
{
    if (n >= 2 && line[n - 2] == '\r' && line[n - 1] == '\n') {
        peer_add(p, line, n - 2);
        peer_add(p, "\n", 1);
    } else {
        peer_add(p, line, n);
        if (n == 0 || line[n - 1] != '\n')
            peer_add(p, "<EOF>\n", 6);
        else
            peer_add(p, "<bare LF>", 9);
    }
}

static void *peer_main(void *arg)
{
    fake_peer *p = arg;
    const char *const *step;
    char line[4096];

    p->fd = accept(p->listen_fd, NULL, NULL);
    for (step = p->script; *step && p->fd >= 0; step++) {
        const char *s = *step;
        size_t n;
        switch (s[0]) {
        case 'S':
            if (write(p->fd, s + 2, strlen(s + 2)) < 0 ||
                write(p->fd, "\r\n", 2) < 0)
                goto out;
            break;
        case 'R':
            if (write(p->fd, s + 2, strlen(s + 2)) < 0)
                goto out;
            break;
        case 'C':
        case 'b':
            n = peer_line(p, line, sizeof(line));
            if (s[0] == 'C')
                peer_record(p, line, n);
            if (n == 0)
                goto out;
            break;
        case 'B':
            while ((n = peer_line(p, line, sizeof(line))) > 0) {
                peer_record(p, line, n);
                if (strcmp(line, ".\r\n") == 0)
                    break;
            }
            if (n == 0)
                goto out;
            break;
        case 'X':
            goto out;
        case 'H':
            while (peer_getc(p) >= 0)
                ;
            goto out;
        case 'A':
            close(p->fd);
            p->in_pos = p->in_len = 0;
            p->fd = accept(p->listen_fd, NULL, NULL);
            break;
        }
    }
out:
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    return NULL;
}

/* Start a peer for `script`; p->path is the socket to connect to. */
static void peer_start(fake_peer *p, const char *const *script)
{
    struct sockaddr_un sun;

    memset(p, 0, sizeof(*p));
    snprintf(p->dir, sizeof(p->dir), "/tmp/pps-peer-XXXXXX");
    if (!mkdtemp(p->dir))
        abort();
    snprintf(p->path, sizeof(p->path), "%s/lmtp", p->dir);
    p->transcript = calloc(1, PEER_TRANSCRIPT_MAX);
    p->script = script;
    p->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, p->path, strlen(p->path) + 1);
    if (!p->transcript || p->listen_fd < 0 ||
        bind(p->listen_fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
        listen(p->listen_fd, 4) != 0 ||
        pthread_create(&p->thread, NULL, peer_main, p) != 0)
        abort();
}

/* Wait for the script to end; the transcript stays until peer_free. */
static void peer_join(fake_peer *p)
{
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
    unlink(p->path);
    rmdir(p->dir);
}

static void peer_free(fake_peer *p)
{
    free(p->transcript);
}

#endif /* FAKE_PEER_H */
