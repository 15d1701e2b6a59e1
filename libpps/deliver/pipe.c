/*
 * libpps/deliver/pipe.c - deliver through an MDA command.
 *
 * One run of the command per recipient (%u, %d expanded in it), the
 * message on its standard input.  All runs of a message start at begin
 * and are fed the same chunks side by side, so the message is still
 * never whole in memory.  The command is split into words and run with
 * posix_spawn (no shell) unless `shell` is set, then "/bin/sh -c" gets
 * it with %u and %d single-quoted.
 *
 * Exit 0 is delivered, 75 (EX_TEMPFAIL, sysexits.h) a temporary failure,
 * any other a permanent one (its text: the exit code and the first line
 * the command wrote); a command still running at the deadline is killed
 * (its whole process group) and is a temporary failure.  Every child is
 * waited for, whatever happens: no zombies.  Signal handlers are left
 * alone: SIGPIPE is blocked around writes (sigpipe.c).
 */
/* pipe2(O_CLOEXEC): no window where another thread's spawn inherits
 * our pipe ends (glibc and musl have it; POSIX 2024 adds it). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "deliver/deliver-int.h"

extern char **environ;

#define PIPE_WORDS_MAX      64   /* words in a command */
#define PIPE_WORD_MAX       4096 /* bytes of one expanded word */
#define PIPE_FIRST_LINE_MAX 200  /* of the command's output, for the text */
#define EX_TEMPFAIL_CODE    75   /* sysexits.h EX_TEMPFAIL */

typedef struct child {
    pid_t pid; /* 0: not running (never started, or reaped) */
    int in_fd;
    int out_fd;
    int status;
    int reaped;
    int spawn_errno;
    size_t off;
    char line[PIPE_FIRST_LINE_MAX + 1];
    size_t line_len;
    int line_done;
} child;

typedef struct pipe_d {
    char *command;
    int shell;
    unsigned int run_ms;
    size_t count;
    child *kids;
    struct pollfd *fds;
    long long deadline;
    int timed_out;
} pipe_d;

/* --- the command line ------------------------------------------------------
 */

/* Append len bytes of s to buf (PIPE_WORD_MAX bytes). */
static int put(char *buf, size_t *n, const char *s, size_t len)
{
    if (*n + len >= PIPE_WORD_MAX)
        return pps__error_set(PPS_ETOOBIG,
                              "[delivery] command: a word is longer than %d "
                              "bytes",
                              PIPE_WORD_MAX);
    memcpy(buf + *n, s, len);
    *n += len;
    return 0;
}

/* Append s single-quoted for /bin/sh: ' becomes '\''. */
static int put_quoted(char *buf, size_t *n, const char *s)
{
    int err = put(buf, n, "'", 1);

    for (; *s && !err; s++)
        err = *s == '\'' ? put(buf, n, "'\\''", 4) : put(buf, n, s, 1);
    return err ? err : put(buf, n, "'", 1);
}

/* Expand %u/%d/%% of one word of wl bytes into buf. */
static int expand_word(char *buf, const char *w, size_t wl, const char *user,
                       const char *domain, int quote)
{
    size_t i, n = 0;
    int err;

    for (i = 0; i < wl; i++) {
        if (w[i] == '%' && i + 1 < wl &&
            (w[i + 1] == 'u' || w[i + 1] == 'd' || w[i + 1] == '%')) {
            const char *v = w[++i] == 'u' ? user : domain;
            if (w[i] == '%')
                err = put(buf, &n, "%", 1);
            else if (quote)
                err = put_quoted(buf, &n, v);
            else
                err = put(buf, &n, v, strlen(v));
        } else {
            err = put(buf, &n, w + i, 1);
        }
        if (err < 0)
            return err;
    }
    buf[n] = '\0';
    return 0;
}

/* Split the template into words: blanks separate, '...' and "..."
 * quote, a backslash escapes the next byte.  The words are written into
 * `store` one after the other, NUL-terminated. */
static int split(const char *cmd, char *store, size_t size, char **words,
                 size_t *nwords)
{
    size_t n = 0, k = 0;
    const char *p = cmd;

    while (*p) {
        char q = 0;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        if (k == PIPE_WORDS_MAX)
            return pps__error_set(PPS_ECONFIG,
                                  "[delivery] command has more than %d words",
                                  PIPE_WORDS_MAX);
        words[k++] = store + n;
        for (; *p && (q || (*p != ' ' && *p != '\t')); p++) {
            char c = *p;
            if (!q && (c == '\'' || c == '"')) {
                q = c;
                continue;
            }
            if (q && c == q) {
                q = 0;
                continue;
            }
            if (c == '\\' && q != '\'' && p[1])
                c = *++p;
            if (n + 2 >= size)
                return pps__error_set(PPS_ECONFIG,
                                      "[delivery] command is too long");
            store[n++] = c;
        }
        if (q)
            return pps__error_set(PPS_ECONFIG,
                                  "[delivery] command \"%s\": a %c quote is "
                                  "not closed",
                                  cmd, q);
        store[n++] = '\0';
    }
    *nwords = k;
    if (k == 0)
        return pps__error_set(PPS_ECONFIG, "[delivery] command is empty");
    return 0;
}

/* --- children --------------------------------------------------------------
 */

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int spawn(pipe_d *p, child *k, char **argv)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, def;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, rc;

    k->in_fd = k->out_fd = -1;
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
        k->spawn_errno = errno;
        close_fd(&in[0]);
        close_fd(&in[1]);
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out[1], 2);
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    /* Its own process group (a timeout kills all of it), no signal
     * blocked, SIGPIPE at its default whatever our thread has. */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                        POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &def);
    rc = p->shell ? posix_spawn(&k->pid, "/bin/sh", &fa, &attr, argv, environ)
                  : posix_spawnp(&k->pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(in[0]);
    close(out[1]);
    if (rc != 0) {
        k->pid = 0;
        k->spawn_errno = rc;
        close(in[1]);
        close(out[0]);
        return -1;
    }
    k->in_fd = in[1];
    k->out_fd = out[0];
    fcntl(k->in_fd, F_SETFL, fcntl(k->in_fd, F_GETFL) | O_NONBLOCK);
    fcntl(k->out_fd, F_SETFL, fcntl(k->out_fd, F_GETFL) | O_NONBLOCK);
    return 0;
}

/* Read what the child wrote; keep its first line. */
static void read_output(child *k)
{
    char buf[1024];

    for (;;) {
        ssize_t n = read(k->out_fd, buf, sizeof(buf));
        size_t i;
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            close_fd(&k->out_fd);
            return;
        }
        if (n < 0)
            return;
        for (i = 0; i < (size_t)n && !k->line_done; i++) {
            if (buf[i] == '\n' || k->line_len == PIPE_FIRST_LINE_MAX)
                k->line_done = 1;
            else
                k->line[k->line_len++] = buf[i];
        }
        k->line[k->line_len] = '\0';
    }
}

static void kill_all(pipe_d *p)
{
    size_t i;

    for (i = 0; i < p->count; i++) {
        child *k = &p->kids[i];
        if (k->pid > 0 && !k->reaped) {
            kill(-k->pid, SIGKILL);
            while (waitpid(k->pid, &k->status, 0) < 0 && errno == EINTR)
                ;
            k->reaped = 1;
            k->status = -1; /* killed by us */
        }
        close_fd(&k->in_fd);
        close_fd(&k->out_fd);
    }
}

/* Feed data to every child still reading, keeping outputs drained. */
static int pump(pipe_d *p, const char *data, size_t len)
{
    size_t i;

    for (i = 0; i < p->count; i++)
        p->kids[i].off = 0;
    for (;;) {
        size_t nfds = 0, writers = 0;
        long long left = p->deadline - pps__now_ms();
        for (i = 0; i < p->count; i++) {
            child *k = &p->kids[i];
            if (k->in_fd >= 0 && k->off < len) {
                p->fds[nfds++] = (struct pollfd){k->in_fd, POLLOUT, 0};
                writers++;
            }
            if (k->out_fd >= 0)
                p->fds[nfds++] = (struct pollfd){k->out_fd, POLLIN, 0};
        }
        if (writers == 0)
            return 0;
        if (left <= 0) {
            p->timed_out = 1;
            kill_all(p);
            return pps__error_set(PPS_ETIMEOUT,
                                  "the delivery command did not take the "
                                  "message within %u ms",
                                  p->run_ms);
        }
        if (poll(p->fds, nfds, left > 1000 ? 1000 : (int)left) < 0 &&
            errno != EINTR)
            return pps__error_set(PPS_ERROR, "poll: %s", strerror(errno));
        for (i = 0; i < p->count; i++) {
            child *k = &p->kids[i];
            if (k->out_fd >= 0)
                read_output(k);
            if (k->in_fd >= 0 && k->off < len) {
                pps__sigpipe sp;
                ssize_t n;
                pps__sigpipe_block(&sp);
                n = write(k->in_fd, data + k->off, len - k->off);
                pps__sigpipe_restore(&sp);
                if (n > 0)
                    k->off += (size_t)n;
                else if (n < 0 && errno != EAGAIN && errno != EINTR)
                    close_fd(&k->in_fd); /* it stopped reading: its exit
                                            status will tell */
            }
        }
    }
}

/* Close the inputs and wait for every child until the deadline. */
static void wait_all(pipe_d *p)
{
    size_t i;

    for (i = 0; i < p->count; i++)
        close_fd(&p->kids[i].in_fd);
    for (;;) {
        size_t nfds = 0, running = 0;
        long long left = p->deadline - pps__now_ms();
        for (i = 0; i < p->count; i++) {
            child *k = &p->kids[i];
            if (k->pid <= 0 || k->reaped)
                continue;
            pid_t r = waitpid(k->pid, &k->status, WNOHANG);
            if (r < 0 && errno == EINTR)
                r = 0;
            if (r != 0) {
                /* ECHILD: someone reaped it (SIGCHLD ignored). */
                if (r < 0)
                    k->status = -2;
                k->reaped = 1;
                if (k->out_fd >= 0)
                    read_output(k);
                close_fd(&k->out_fd);
                continue;
            }
            running++;
            if (k->out_fd >= 0)
                p->fds[nfds++] = (struct pollfd){k->out_fd, POLLIN, 0};
        }
        if (running == 0)
            return;
        if (left <= 0) {
            p->timed_out = 1;
            kill_all(p);
            return;
        }
        /* Short naps: an exit does not wake poll (no SIGCHLD handler). */
        poll(nfds ? p->fds : NULL, nfds, left > 20 ? 20 : (int)left);
        for (i = 0; i < p->count; i++)
            if (p->kids[i].out_fd >= 0 && !p->kids[i].reaped)
                read_output(&p->kids[i]);
    }
}

static void result(pipe_d *p, pps_deliverer_txn *txn, size_t i)
{
    child *k = &p->kids[i];
    char text[PPS_DELIVER_TEXT_MAX];
    pps_deliver_outcome o = PPS_DELIVER_TEMPFAIL;
    int code = PPS_ETEMP, reply = 0;

    if (pps_deliverer_txn_outcome(txn, i) != PPS_DELIVER_PENDING)
        return;
    if (k->status == -1) {
        code = PPS_ETIMEOUT;
        pps__snprintf(text, sizeof(text),
                      "the delivery command ran longer than %u ms and was "
                      "killed",
                      p->run_ms);
    } else if (k->status == -2) {
        pps__snprintf(text, sizeof(text),
                      "the exit status of the delivery command was lost "
                      "(SIGCHLD ignored?)");
    } else if (WIFSIGNALED(k->status)) {
        reply = 128 + WTERMSIG(k->status);
        pps__snprintf(text, sizeof(text),
                      "the delivery command was killed by signal %d%s%s",
                      WTERMSIG(k->status), k->line[0] ? ": " : "", k->line);
    } else {
        reply = WEXITSTATUS(k->status);
        if (reply == 0) {
            o = PPS_DELIVER_DELIVERED;
            code = PPS_OK;
            text[0] = '\0';
        } else {
            if (reply != EX_TEMPFAIL_CODE) {
                o = PPS_DELIVER_PERMFAIL;
                code = PPS_EPERM;
            }
            pps__snprintf(text, sizeof(text),
                          "the delivery command exited with %d%s%s", reply,
                          k->line[0] ? ": " : "", k->line);
        }
    }
    pps_deliverer_txn_set(txn, i, o, code, reply, text, strlen(text));
}

/* --- the deliverer table
 * ------------------------------------------------------ */

static void txn_reset(pipe_d *p)
{
    kill_all(p);
    pps__free(p->kids);
    pps__free(p->fds);
    p->kids = NULL;
    p->fds = NULL;
    p->count = 0;
    p->timed_out = 0;
}

/* The argv for recipient i in `store`. */
static int make_argv(pipe_d *p, pps_deliverer_txn *txn, size_t i, char *store,
                     size_t size, char **argv)
{
    const char *user = pps_deliverer_txn_user(txn, i);
    const char *domain = pps_deliverer_txn_domain(txn, i);
    char *words[PIPE_WORDS_MAX], split_store[PIPE_WORD_MAX];
    size_t nwords, w, n = 0;
    int err;

    if (p->shell) {
        memcpy(store, "sh\0-c", 6);
        if ((err = expand_word(store + 6, p->command, strlen(p->command), user,
                               domain, 1)) < 0)
            return err;
        argv[0] = store;
        argv[1] = store + 3;
        argv[2] = store + 6;
        argv[3] = NULL;
        return 0;
    }
    if ((err = split(p->command, split_store, sizeof(split_store), words,
                     &nwords)) < 0)
        return err;
    for (w = 0; w < nwords; w++) {
        if (n + PIPE_WORD_MAX > size)
            return pps__error_set(PPS_ETOOBIG, "[delivery] command expands "
                                               "too long");
        if ((err = expand_word(store + n, words[w], strlen(words[w]), user,
                               domain, 0)) < 0)
            return err;
        argv[w] = store + n;
        n += strlen(store + n) + 1;
    }
    argv[nwords] = NULL;
    return 0;
}

static int pipe_begin(pps_deliverer_txn *txn, void *payload)
{
    pipe_d *p = payload;
    size_t i, n = pps_deliverer_txn_count(txn);
    /* Room for every expanded word; freed at the end of begin. */
    size_t store_size = (size_t)PIPE_WORDS_MAX * PIPE_WORD_MAX / 4;
    char *store;
    char *argv[PIPE_WORDS_MAX + 1];
    int err = 0;

    txn_reset(p);
    p->kids = pps__calloc(n, sizeof(child));
    p->fds = pps__calloc(2 * n, sizeof(struct pollfd));
    store = pps__malloc(store_size);
    if (!p->kids || !p->fds || !store) {
        pps__free(store);
        return pps__error_oom();
    }
    p->count = n;
    for (i = 0; i < n; i++)
        p->kids[i].in_fd = p->kids[i].out_fd = -1;
    p->deadline = pps__now_ms() + p->run_ms;
    for (i = 0; i < n && err == 0; i++) {
        char text[PPS_DELIVER_TEXT_MAX];
        if (!pps__deliver_name_safe(pps_deliverer_txn_user(txn, i)) ||
            !pps__deliver_name_safe(pps_deliverer_txn_domain(txn, i))) {
            pps__snprintf(text, sizeof(text),
                          "the user or domain name is not safe on a "
                          "command line");
            pps_deliverer_txn_set(txn, i, PPS_DELIVER_PERMFAIL, PPS_EINVAL, 0,
                                  text, strlen(text));
            continue;
        }
        if ((err = make_argv(p, txn, i, store, store_size, argv)) < 0)
            break;
        if (spawn(p, &p->kids[i], argv) < 0) {
            pps__snprintf(text, sizeof(text),
                          "cannot run the delivery command %s: %s",
                          p->shell ? "/bin/sh" : argv[0],
                          strerror(p->kids[i].spawn_errno));
            pps_deliverer_txn_set(txn, i, PPS_DELIVER_TEMPFAIL, PPS_ETEMP, 0,
                                  text, strlen(text));
        }
    }
    pps__free(store);
    return err;
}

static int pipe_write(pps_deliverer_txn *txn, const char *data, size_t len,
                      void *payload)
{
    (void)txn;
    return pump(payload, data, len);
}

static int pipe_commit(pps_deliverer_txn *txn, void *payload)
{
    pipe_d *p = payload;
    size_t i;

    wait_all(p);
    for (i = 0; i < p->count; i++)
        if (p->kids[i].pid > 0)
            result(p, txn, i);
    txn_reset(p);
    return 0;
}

static void pipe_abort(pps_deliverer_txn *txn, void *payload)
{
    (void)txn;
    /* Kill before closing stdin: an MDA that sees EOF would deliver a
     * cut message. */
    txn_reset(payload);
}

static void pipe_describe(char *buf, size_t size, void *payload)
{
    const pipe_d *p = payload;

    pps__snprintf(buf, size, "pipe to %s%s", p->command,
                  p->shell ? " (shell)" : "");
}

static void pipe_free(void *payload)
{
    pipe_d *p = payload;

    if (!p)
        return;
    txn_reset(p);
    pps__free(p->command);
    pps__free(p);
}

static int pipe_open(void **payload, const pps_deliver_options *o)
{
    char store[PIPE_WORD_MAX];
    char *words[PIPE_WORDS_MAX];
    size_t n;
    pipe_d *p;
    int err;

    *payload = NULL;
    if (!o->command || !*o->command)
        return pps__error_set(PPS_ECONFIG,
                              "[delivery] method pipe needs command, e.g. "
                              "/usr/lib/dovecot/dovecot-lda -d %%u@%%d");
    if (strlen(o->command) >= PIPE_WORD_MAX)
        return pps__error_set(PPS_ECONFIG,
                              "[delivery] command is longer "
                              "than %d bytes",
                              PIPE_WORD_MAX - 1);
    if (!o->shell &&
        (err = split(o->command, store, sizeof(store), words, &n)) < 0)
        return err;
    if (!(p = pps__calloc(1, sizeof(*p))) ||
        !(p->command = pps__strdup(o->command))) {
        pps__free(p);
        return pps__error_oom();
    }
    p->shell = o->shell;
    p->run_ms = pps__deliver_timeout(o->run_timeout_ms, PPS__DELIVER_RUN_MS);
    *payload = p;
    return 0;
}

static const pps_deliverer_class pipe_class = {
    .version = PPS_DELIVERER_CLASS_VERSION,
    .name = "pipe",
    .flags = PPS_DELIVERER_LF,
    .begin = pipe_begin,
    .write = pipe_write,
    .commit = pipe_commit,
    .cancel = pipe_abort,
    .user_exists = NULL, /* the MDA decides at delivery */
    .describe = pipe_describe,
    .free = pipe_free,
};

const pps__deliver_builtin pps__deliver_pipe = {.cls = &pipe_class,
                                                .open = pipe_open};
