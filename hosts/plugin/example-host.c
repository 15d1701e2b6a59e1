/*
 * example-host.c - the smallest mail server that uses the plug-in.
 *
 *     example-host MODULE CONFIG_DIR MAILDIR_PATTERN
 *
 * Loads MODULE with dlopen, checks its ABI, and delivers into Maildirs:
 * MAILDIR_PATTERN is a printf pattern with one %s for the local user
 * ("/var/mail/%s/Maildir"); a user exists when that folder does.  It is
 * driven by commands on standard input, one per line, and answers each
 * with one line on standard output, "ok ..." or "err CODE text":
 *
 *     start | stop | reload | poll NAME | queue NAME | status NAME
 *     fail N        the next N deliveries fail temporarily at commit
 *     failrcpt ADDR N   the next N commits fail for recipient ADDR only
 *     quit
 *
 * Log lines go to standard error.  tests/plugin drives it against the
 * Dovecot test bed; docs/plugin.md walks through it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pps-plugin.h"

/* The module's functions, looked up by name. */
typedef struct module {
    void (*abi)(unsigned int *, unsigned int *);
    const char *(*version)(void);
    int (*load)(pps_plugin **, const char *, const pps_plugin_host *);
    int (*start)(pps_plugin *);
    int (*stop)(pps_plugin *);
    int (*reload)(pps_plugin *);
    int (*poll_now)(pps_plugin *, const char *, int);
    int (*status)(pps_plugin_profile_status *, pps_plugin *, const char *);
    int (*error)(char *, size_t);
    void (*unload)(pps_plugin *);
} module;

/* The host's own state: where mail goes, and the failure switch. */
typedef struct host {
    const char *pattern; /* MAILDIR_PATTERN: before and after its "%s" */
    size_t user_at;
    pthread_mutex_t lock; /* fail_next, stderr */
    int fail_next;
    char fail_rcpt[256]; /* failrcpt: this recipient only */
    int fail_rcpt_next;
    unsigned long seq;
} host;

/* One message in flight: a file in tmp/ per recipient. */
typedef struct txn {
    size_t count;
    char (*rcpt)[256];
    int *fds;
    char (*tmp)[4096];
    char (*final)[4096];
} txn;

static void host_log(int level, const char *profile, const char *message,
                     void *payload)
{
    host *h = payload;

    pthread_mutex_lock(&h->lock);
    fprintf(stderr, "log %d [%s] %s\n", level, profile ? profile : "-",
            message);
    pthread_mutex_unlock(&h->lock);
}

/* The Maildir of `user`: the pattern with its %s replaced. */
static int maildir_of(char *buf, size_t size, const host *h, const char *user)
{
    int n = snprintf(buf, size, "%.*s%s%s", (int)h->user_at, h->pattern, user,
                     h->pattern + h->user_at + 2);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

static int host_user_exists(const char *user, const char *domain, void *payload)
{
    char dir[2048];
    struct stat st;

    (void)domain;
    if (maildir_of(dir, sizeof(dir), payload, user) < 0)
        return 0;
    if (stat(dir, &st) == 0)
        return S_ISDIR(st.st_mode) ? 1 : 0;
    return errno == ENOENT ? 0 : -1;
}

static void txn_free(txn *t)
{
    size_t i;

    for (i = 0; i < t->count; i++)
        if (t->fds[i] >= 0) {
            close(t->fds[i]);
            unlink(t->tmp[i]);
        }
    free(t->fds);
    free(t->rcpt);
    free(t->tmp);
    free(t->final);
    free(t);
}

static int host_begin(void **out, const char *profile, const char *sender,
                      const char *const *rcpts, size_t count, void *payload)
{
    host *h = payload;
    char dir[2048], sub[4096];
    unsigned long seq;
    size_t i;
    txn *t;

    (void)profile;
    (void)sender;
    if (!(t = calloc(1, sizeof(*t))))
        return -1;
    t->fds = malloc(count * sizeof(*t->fds));
    t->tmp = malloc(count * sizeof(*t->tmp));
    t->final = malloc(count * sizeof(*t->final));
    t->rcpt = calloc(count, sizeof(*t->rcpt));
    if (!t->fds || !t->tmp || !t->final || !t->rcpt) {
        txn_free(t);
        return -1;
    }
    for (i = 0; i < count; i++)
        t->fds[i] = -1;
    t->count = count;
    for (i = 0; i < count; i++) {
        char user[256];
        const char *at = strchr(rcpts[i], '@');
        size_t ulen = at ? (size_t)(at - rcpts[i]) : strlen(rcpts[i]);
        if (ulen >= sizeof(user) || strlen(rcpts[i]) >= sizeof(t->rcpt[i]))
            goto fail;
        memcpy(t->rcpt[i], rcpts[i], strlen(rcpts[i]) + 1);
        memcpy(user, rcpts[i], ulen);
        user[ulen] = '\0';
        if (maildir_of(dir, sizeof(dir), h, user) < 0)
            goto fail;
        snprintf(sub, sizeof(sub), "%s/tmp", dir);
        mkdir(sub, 0700);
        snprintf(sub, sizeof(sub), "%s/new", dir);
        mkdir(sub, 0700);
        pthread_mutex_lock(&h->lock);
        seq = ++h->seq;
        pthread_mutex_unlock(&h->lock);
        snprintf(t->tmp[i], sizeof(t->tmp[i]), "%s/tmp/%ld.%d_%lu.example", dir,
                 (long)time(NULL), (int)getpid(), seq);
        snprintf(t->final[i], sizeof(t->final[i]), "%s/new/%ld.%d_%lu.example",
                 dir, (long)time(NULL), (int)getpid(), seq);
        t->fds[i] =
            open(t->tmp[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (t->fds[i] < 0)
            goto fail;
    }
    *out = t;
    return 0;
fail:
    txn_free(t);
    return -1;
}

static int host_write(void *p, const char *data, size_t len, void *payload)
{
    txn *t = p;
    size_t i, done;
    ssize_t n;

    (void)payload;
    for (i = 0; i < t->count; i++)
        for (done = 0; done < len; done += (size_t)n)
            if ((n = write(t->fds[i], data + done, len - done)) < 0)
                return -1;
    return 0;
}

static int host_commit(void *p, int *outcomes, size_t count, void *payload)
{
    host *h = payload;
    txn *t = p;
    size_t i;
    int failing, failing_one = 0;

    pthread_mutex_lock(&h->lock);
    failing = h->fail_next > 0;
    if (failing)
        h->fail_next--;
    for (i = 0; i < t->count && h->fail_rcpt_next > 0; i++)
        if (strcmp(t->rcpt[i], h->fail_rcpt) == 0)
            failing_one = 1;
    if (failing_one)
        h->fail_rcpt_next--;
    pthread_mutex_unlock(&h->lock);

    for (i = 0; i < count && i < t->count; i++) {
        if (failing || (failing_one && strcmp(t->rcpt[i], h->fail_rcpt) == 0)) {
            outcomes[i] = PPS_PLUGIN_TEMPFAIL; /* e.g. the store is busy */
            continue;
        }
        if (fsync(t->fds[i]) == 0 && close(t->fds[i]) == 0 &&
            rename(t->tmp[i], t->final[i]) == 0) {
            t->fds[i] = -1;
            outcomes[i] = PPS_PLUGIN_DELIVERED;
        } else {
            t->fds[i] = -1;
            unlink(t->tmp[i]);
            outcomes[i] = PPS_PLUGIN_TEMPFAIL;
        }
    }
    txn_free(t);
    return failing ? -1 : 0;
}

static void host_abort(void *p, void *payload)
{
    (void)payload;
    txn_free(p);
}

static int lookup(void **fn, void *so, const char *name)
{
    /* POSIX allows this conversion for dlsym's result. */
    if (!(*fn = dlsym(so, name))) {
        fprintf(stderr, "example-host: %s: %s\n", name, dlerror());
        return -1;
    }
    return 0;
}

static int open_module(module *m, const char *path)
{
    void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    unsigned int major = 0, minor = 0;

    if (!so) {
        fprintf(stderr, "example-host: %s\n", dlerror());
        return -1;
    }
    if (lookup((void **)&m->abi, so, "pps_plugin_abi") < 0)
        return -1;
    m->abi(&major, &minor);
    if (major != PPS_PLUGIN_ABI_MAJOR) {
        fprintf(stderr, "example-host: module ABI %u.%u, host %d.%d\n", major,
                minor, PPS_PLUGIN_ABI_MAJOR, PPS_PLUGIN_ABI_MINOR);
        return -1;
    }
    if (lookup((void **)&m->version, so, "pps_plugin_version") < 0 ||
        lookup((void **)&m->load, so, "pps_plugin_load") < 0 ||
        lookup((void **)&m->start, so, "pps_plugin_start") < 0 ||
        lookup((void **)&m->stop, so, "pps_plugin_stop") < 0 ||
        lookup((void **)&m->reload, so, "pps_plugin_reload") < 0 ||
        lookup((void **)&m->poll_now, so, "pps_plugin_poll_now") < 0 ||
        lookup((void **)&m->status, so, "pps_plugin_status") < 0 ||
        lookup((void **)&m->error, so, "pps_plugin_error") < 0 ||
        lookup((void **)&m->unload, so, "pps_plugin_unload") < 0)
        return -1;
    return 0;
}

static void answer(const module *m, int err, const char *what)
{
    char text[1024];

    if (err >= 0) {
        printf("ok %s\n", what);
    } else {
        m->error(text, sizeof(text));
        printf("err %d %s\n", err, text);
    }
    fflush(stdout);
}

static void status(const module *m, pps_plugin *pp, const char *name)
{
    pps_plugin_profile_status st;
    int err;

    memset(&st, 0, sizeof(st));
    st.size = sizeof(st);
    if ((err = m->status(&st, pp, name)) < 0) {
        answer(m, err, "");
        return;
    }
    printf("ok polls=%llu result=%d running=%d enabled=%d listed=%llu "
           "delivered=%llu deleted=%llu failed_temp=%llu text=%s\n",
           (unsigned long long)st.polls, st.last_result, st.running, st.enabled,
           (unsigned long long)st.listed, (unsigned long long)st.delivered,
           (unsigned long long)st.deleted, (unsigned long long)st.failed_temp,
           st.text);
    fflush(stdout);
}

static void run(const module *m, pps_plugin *pp, host *h)
{
    char line[512], *arg;

    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        arg = strchr(line, ' ');
        if (arg)
            *arg++ = '\0';
        else
            arg = line + strlen(line);
        if (strcmp(line, "start") == 0)
            answer(m, m->start(pp), "started");
        else if (strcmp(line, "stop") == 0)
            answer(m, m->stop(pp), "stopped");
        else if (strcmp(line, "reload") == 0)
            answer(m, m->reload(pp), "reloaded");
        else if (strcmp(line, "poll") == 0)
            answer(m, m->poll_now(pp, arg, 1), "polled");
        else if (strcmp(line, "queue") == 0)
            answer(m, m->poll_now(pp, arg, 0), "queued");
        else if (strcmp(line, "status") == 0)
            status(m, pp, arg);
        else if (strcmp(line, "fail") == 0) {
            pthread_mutex_lock(&h->lock);
            h->fail_next = (int)strtol(arg, NULL, 10);
            pthread_mutex_unlock(&h->lock);
            answer(m, 0, "failing");
        } else if (strcmp(line, "failrcpt") == 0) {
            char *n = strchr(arg, ' ');
            pthread_mutex_lock(&h->lock);
            h->fail_rcpt_next = n ? (int)strtol(n + 1, NULL, 10) : 1;
            if (n)
                *n = '\0';
            snprintf(h->fail_rcpt, sizeof(h->fail_rcpt), "%s", arg);
            pthread_mutex_unlock(&h->lock);
            answer(m, 0, "failing");
        } else if (strcmp(line, "quit") == 0)
            break;
        else {
            printf("err -1 unknown command %s\n", line);
            fflush(stdout);
        }
    }
}

int main(int argc, char **argv)
{
    pps_plugin_host hd;
    pps_plugin *pp;
    module m;
    host h;
    int err;

    if (argc != 4) {
        fprintf(stderr, "usage: example-host MODULE CONFIG_DIR "
                        "MAILDIR_PATTERN\n");
        return 2;
    }
    memset(&m, 0, sizeof(m));
    if (open_module(&m, argv[1]) < 0)
        return 1;
    memset(&h, 0, sizeof(h));
    h.pattern = argv[3];
    if (!strstr(h.pattern, "%s")) {
        fprintf(stderr, "example-host: MAILDIR_PATTERN needs a %%s\n");
        return 2;
    }
    h.user_at = (size_t)(strstr(h.pattern, "%s") - h.pattern);
    pthread_mutex_init(&h.lock, NULL);

    memset(&hd, 0, sizeof(hd));
    hd.abi_major = PPS_PLUGIN_ABI_MAJOR;
    hd.abi_minor = PPS_PLUGIN_ABI_MINOR;
    hd.size = sizeof(hd);
    hd.flags = 0; /* Maildir: LF line ends */
    hd.payload = &h;
    hd.log = host_log;
    hd.user_exists = host_user_exists;
    hd.deliver_begin = host_begin;
    hd.deliver_write = host_write;
    hd.deliver_commit = host_commit;
    hd.deliver_abort = host_abort;
    if ((err = m.load(&pp, argv[2], &hd)) < 0) {
        answer(&m, err, "");
        return 1;
    }
    printf("ok loaded libpps %s\n", m.version());
    fflush(stdout);
    run(&m, pp, &h);
    m.unload(pp);
    pthread_mutex_destroy(&h.lock);
    return 0;
}
