/*
 * test-exactonce.c - invariant 2 for Maildir: a message is never
 * delivered twice to the same recipient, whatever point the process is
 * killed at.
 *
 * The window: the Maildir file is durable, the ledger's outcome record is
 * not.  The rerun finds the recipient "in doubt" and must look for the
 * file by its delivery tag instead of delivering again.  Each test makes
 * that state precisely, then runs a real poll (pps_poll_run) against a
 * fake POP3 server (an in-memory transport that understands the commands,
 * so the engine may batch them as it likes) into a real Maildir and a
 * real ledger in a temporary folder:
 *
 *   - by hand: a tagged delivery, then pps_ledger_intend on that uid and
 *     no outcome (delivered, in doubt: the rerun must not deliver);
 *   - the converse: the intent without the file (the rerun delivers once);
 *   - for real: a child polls through a deliverer that wraps Maildir and
 *     SIGKILLs the process the moment the Maildir commit returns (or, the
 *     converse, as the delivery begins); the parent reruns the poll.
 *   - control: a deliverer that cannot look (find unsupported) still
 *     delivers again (at least once), as docs/ledger.md says.
 */
#include "../helpers/pps-test.h"

#include <dirent.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/internal.h"
#include "deliver/durable.h"
#include "pps/deliver.h"
#include "pps/deliverer.h"
#include "pps/errors.h"
#include "pps/ledger.h"
#include "pps/log.h"
#include "pps/poll.h"
#include "pps/profile.h"
#include "pps/transport.h"

#define HOST  "127.0.0.1"
#define RUSER "u@remote.test"
#define RCPT  "alice@local.test"
#define UID1  "uid-0001"
#define BODY1 \
    "From: s@remote.test\r\nTo: a@remote.test\r\nSubject: one\r\n\r\nbody\r\n"
#define BODY2                                                         \
    "From: s@remote.test\r\nTo: alice@local.test, bob@local.test\r\n" \
    "Subject: two\r\n\r\nbody\r\n"

static char root[64];
static char maildir_tmpl[128];
static char state_dir[128];
static int distribute; /* the profile spreads catch-all mail */

/* --- a fake POP3 server as a transport ----------------------------------- */

#define FAKE_MSGS_MAX 24

typedef struct fake_pop3 {
    const char *uid[FAKE_MSGS_MAX];
    const char *body[FAKE_MSGS_MAX]; /* CRLF lines, none starting with '.' */
    int deleted[FAKE_MSGS_MAX];      /* committed by QUIT */
    int marked[FAKE_MSGS_MAX];       /* DELE in this session */
    size_t count;
    int connected;
    char in[1024];
    size_t in_len;
    char *out;
    size_t out_len, out_off, out_cap;
    unsigned int retr; /* RETR commands seen */
} fake_pop3;

static void say(fake_pop3 *f, const char *s)
{
    size_t n = strlen(s);

    if (f->out_len + n > f->out_cap) {
        f->out_cap = (f->out_len + n) * 2 + 256;
        f->out = realloc(f->out, f->out_cap);
        assert_non_null(f->out);
    }
    memcpy(f->out + f->out_len, s, n);
    f->out_len += n;
}

/* Message n (1-based) when it exists and is not deleted, else -1. */
static int msg_index(const fake_pop3 *f, const char *arg)
{
    long n = strtol(arg, NULL, 10);

    if (n < 1 || (size_t)n > f->count || f->deleted[n - 1] || f->marked[n - 1])
        return -1;
    return (int)n - 1;
}

static void command(fake_pop3 *f, char *line)
{
    char buf[256], *arg = strchr(line, ' ');
    size_t i, live = 0, octets = 0;

    if (arg)
        *arg++ = '\0';
    for (i = 0; i < f->count; i++)
        if (!f->deleted[i] && !f->marked[i]) {
            live++;
            octets += strlen(f->body[i]);
        }
    if (!strcmp(line, "CAPA")) {
        say(f, "+OK\r\nUSER\r\nUIDL\r\nTOP\r\n.\r\n");
    } else if (!strcmp(line, "USER") || !strcmp(line, "PASS") ||
               !strcmp(line, "NOOP")) {
        say(f, "+OK\r\n");
    } else if (!strcmp(line, "STAT")) {
        snprintf(buf, sizeof(buf), "+OK %zu %zu\r\n", live, octets);
        say(f, buf);
    } else if ((!strcmp(line, "LIST") || !strcmp(line, "UIDL")) && !arg) {
        say(f, "+OK\r\n");
        for (i = 0; i < f->count; i++) {
            if (f->deleted[i] || f->marked[i])
                continue;
            if (line[0] == 'L')
                snprintf(buf, sizeof(buf), "%zu %zu\r\n", i + 1,
                         strlen(f->body[i]));
            else
                snprintf(buf, sizeof(buf), "%zu %s\r\n", i + 1, f->uid[i]);
            say(f, buf);
        }
        say(f, ".\r\n");
    } else if ((!strcmp(line, "RETR") || !strcmp(line, "TOP")) && arg) {
        int k = msg_index(f, arg);
        if (k < 0) {
            say(f, "-ERR no such message\r\n");
            return;
        }
        if (line[0] == 'R')
            f->retr++;
        say(f, "+OK\r\n");
        say(f, f->body[k]); /* TOP: the whole message is fine for a test */
        say(f, ".\r\n");
    } else if (!strcmp(line, "DELE") && arg) {
        int k = msg_index(f, arg);
        if (k < 0) {
            say(f, "-ERR no such message\r\n");
            return;
        }
        f->marked[k] = 1;
        say(f, "+OK\r\n");
    } else if (!strcmp(line, "RSET")) {
        memset(f->marked, 0, sizeof(f->marked));
        say(f, "+OK\r\n");
    } else if (!strcmp(line, "QUIT")) {
        for (i = 0; i < f->count; i++)
            if (f->marked[i])
                f->deleted[i] = 1;
        say(f, "+OK bye\r\n");
    } else {
        say(f, "-ERR unknown command\r\n");
    }
}

static int t_connect(pps_transport *t, const pps_server_address *addr,
                     int timeout_ms)
{
    fake_pop3 *f = t->payload;

    (void)addr, (void)timeout_ms;
    f->connected = 1;
    f->in_len = f->out_len = f->out_off = 0;
    memset(f->marked, 0, sizeof(f->marked));
    say(f, "+OK fake POP3 ready\r\n");
    return 0;
}

static long t_read(pps_transport *t, void *buf, size_t len, int timeout_ms)
{
    fake_pop3 *f = t->payload;
    size_t n = f->out_len - f->out_off;

    (void)timeout_ms;
    if (!f->connected)
        return PPS_EINVAL;
    if (n == 0)
        return PPS_ETIMEOUT; /* the client waits for what it never asked */
    if (n > len)
        n = len;
    memcpy(buf, f->out + f->out_off, n);
    f->out_off += n;
    if (f->out_off == f->out_len)
        f->out_off = f->out_len = 0;
    return (long)n;
}

static long t_write(pps_transport *t, const void *buf, size_t len,
                    int timeout_ms)
{
    fake_pop3 *f = t->payload;
    const char *p = buf;
    size_t i;

    (void)timeout_ms;
    if (!f->connected)
        return PPS_EINVAL;
    for (i = 0; i < len; i++) {
        if (f->in_len + 1 >= sizeof(f->in))
            return PPS_ENET;
        f->in[f->in_len++] = p[i];
        if (p[i] == '\n') {
            f->in[f->in_len - 1] = '\0';
            if (f->in_len >= 2 && f->in[f->in_len - 2] == '\r')
                f->in[f->in_len - 2] = '\0';
            command(f, f->in);
            f->in_len = 0;
        }
    }
    return (long)len;
}

static int t_start_tls(pps_transport *t, int timeout_ms)
{
    (void)t, (void)timeout_ms;
    return PPS_ETLS;
}

static int t_is_tls(pps_transport *t)
{
    (void)t;
    return 1; /* "995s": implicit TLS, as far as the engine knows */
}

static void t_close(pps_transport *t)
{
    fake_pop3 *f = t->payload;

    f->connected = 0;
}

static void t_free(pps_transport *t)
{
    (void)t; /* on the stack of the test */
}

static void fake_init(fake_pop3 *f, pps_transport *t)
{
    memset(f, 0, sizeof(*f));
    memset(t, 0, sizeof(*t));
    t->version = PPS_TRANSPORT_VERSION;
    t->connect = t_connect;
    t->read = t_read;
    t->write = t_write;
    t->start_tls = t_start_tls;
    t->is_tls = t_is_tls;
    t->close = t_close;
    t->free = t_free;
    t->payload = f;
}

static void fake_add(fake_pop3 *f, const char *uid, const char *body)
{
    assert_true(f->count < FAKE_MSGS_MAX);
    f->uid[f->count] = uid;
    f->body[f->count] = body;
    f->count++;
}

/* --- the local side --------------------------------------------------------
 */

static int count_in(const char *user, const char *sub)
{
    char dir[256];
    DIR *d;
    struct dirent *e;
    int n = 0;

    snprintf(dir, sizeof(dir), "%s/mail/local.test/%s/Maildir/%s", root, user,
             sub);
    if (!(d = opendir(dir)))
        return 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int delivered_files(const char *user)
{
    return count_in(user, "new") + count_in(user, "cur");
}

static int setup(void **state)
{
    char cmd[512];

    (void)state;
    distribute = 0;
    snprintf(root, sizeof(root), "/tmp/pps-exactonce-XXXXXX");
    assert_non_null(mkdtemp(root));
    snprintf(maildir_tmpl, sizeof(maildir_tmpl), "%s/mail/%%d/%%u/Maildir",
             root);
    snprintf(state_dir, sizeof(state_dir), "%s/state", root);
    snprintf(cmd, sizeof(cmd),
             "mkdir -p '%s/mail/local.test/alice/Maildir' "
             "'%s/mail/local.test/bob/Maildir'",
             root, root);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static pps_deliver *new_maildir(void)
{
    pps_deliver_options o = PPS_DELIVER_OPTIONS_INIT;
    pps_deliver *d = NULL;

    o.method = "maildir";
    o.path = maildir_tmpl;
    if (pps_deliver_new(&d, &o) != 0)
        fail_msg("maildir: %s", pps_error_last()->message);
    return d;
}

static pps_profile *new_profile(void)
{
    pps_profile *p = NULL;

    assert_int_equal(pps_profile_new(&p, "office"), 0);
    assert_int_equal(pps_profile_set(p, "server", HOST " 995s"), 0);
    assert_int_equal(pps_profile_set(p, "user", RUSER), 0);
    assert_int_equal(pps_profile_set(p, "password", "not-a-secret"), 0);
    assert_int_equal(pps_profile_set(p, "local_user", "alice"), 0);
    assert_int_equal(pps_profile_set(p, "local_domain", "local.test"), 0);
    if (distribute)
        assert_int_equal(pps_profile_set(p, "distribute", "yes"), 0);
    if (pps_profile_validate(p) != 0)
        fail_msg("profile: %s", pps_error_last()->message);
    return p;
}

/* The warnings of the poll, for checking what the rerun said. */
static char log_text[8192];
static size_t log_len;

static void capture(pps_log_level level, const char *profile, const char *msg,
                    void *payload)
{
    int n;

    (void)level, (void)profile, (void)payload;
    n = snprintf(log_text + log_len, sizeof(log_text) - log_len, "%s\n", msg);
    if (n > 0 && (size_t)n < sizeof(log_text) - log_len)
        log_len += (size_t)n;
}

/* The allocation pps_poll_run fails at (pps__alloc_fail_after); -1 none. */
static long poll_fail_after = -1;
static int poll_reached_failure; /* the last poll ran out */

/* One poll of the fake server into `d`; returns pps_poll_run's result. */
static int run_poll(fake_pop3 *f, pps_transport *t, pps_deliver *d,
                    pps_poll_report *r)
{
    pps_poll_options o = PPS_POLL_OPTIONS_INIT;
    pps_ledger_store *store = NULL;
    pps_profile *p = new_profile();
    int err;

    (void)f;
    assert_int_equal(pps_ledger_store_open_dir(&store, state_dir), 0);
    o.deliver = d;
    o.ledger_store = store;
    o.transport = t;
    o.local_host = "test.local";
    o.ignore_backoff = 1;
    log_len = 0;
    log_text[0] = '\0';
    pps_log_set(capture, PPS_LOG_WARN, NULL);
    pps__alloc_fail_after(poll_fail_after);
    err = pps_poll_run(r, p, &o);
    if (poll_fail_after >= 0) {
        /* Allocations to spare: the poll never reached the failure. */
        void *probe = pps__malloc(1);
        poll_reached_failure = probe == NULL;
        pps__free(probe);
    }
    pps__alloc_fail_after(-1);
    pps_log_set(NULL, PPS_LOG_ERROR, NULL);
    pps_profile_free(p);
    pps_ledger_store_free(store);
    return err;
}

static pps_ledger *open_ledger(pps_ledger_store **store)
{
    pps_ledger *l = NULL;

    assert_int_equal(pps_ledger_store_open_dir(store, state_dir), 0);
    if (pps_ledger_open(&l, *store, HOST, RUSER, NULL) != 0)
        fail_msg("ledger: %s", pps_error_last()->message);
    return l;
}

static pps_ledger_rcpt_state rcpt_state(const char *uid, const char *rcpt)
{
    pps_ledger_store *store = NULL;
    pps_ledger *l = open_ledger(&store);
    pps_ledger_rcpt_state st = PPS_LEDGER_RCPT_NONE;

    assert_int_equal(pps_ledger_recipient(&st, NULL, l, uid, rcpt), 0);
    pps_ledger_free(l);
    pps_ledger_store_free(store);
    return st;
}

/*
 * The state a crash leaves: the intent for `uid` to RCPT is durable, no
 * outcome.  With `delivered`, the message is also in the Maildir under
 * its delivery tag, as the first run's deliverer left it.
 */
static void make_in_doubt(const char *uid, const char *body, int delivered)
{
    pps_ledger_store *store = NULL;
    pps_ledger *l = open_ledger(&store);
    const char *rcpts[] = {RCPT};
    char tag[PPS_LEDGER_TAG_SIZE];
    const char *tags[] = {tag};
    pps_deliver *d;

    assert_int_equal(pps_ledger_intend(l, uid, rcpts, 1), 0);
    if (delivered) {
        assert_int_equal(
            pps_ledger_delivery_tag(tag, sizeof(tag), l, uid, RCPT), 0);
        d = new_maildir();
        assert_int_equal(
            pps_deliver_begin_tagged(d, "", rcpts, tags, 1, NULL, 0), 0);
        assert_int_equal(pps_deliver_write(d, body, strlen(body)), 0);
        assert_int_equal(pps_deliver_commit(d), 0);
        pps_deliver_free(d);
    }
    /* Closed without an outcome: what the rerun finds. */
    pps_ledger_free(l);
    pps_ledger_store_free(store);
    assert_int_equal(rcpt_state(uid, RCPT), PPS_LEDGER_RCPT_IN_DOUBT);
}

static void assert_done_once(fake_pop3 *f, int err, const pps_poll_report *r)
{
    if (err != 0)
        fail_msg("poll: %d %s", err, r->text);
    assert_int_equal(delivered_files("alice"), 1);
    assert_int_equal(count_in("alice", "tmp"), 0);
    assert_int_equal(rcpt_state(UID1, RCPT), PPS_LEDGER_RCPT_DELIVERED);
    assert_int_equal(f->deleted[0], 1); /* complete, so DELEd */
    assert_int_equal(r->delivered, 1);
}

/* --- by hand ------------------------------------------------------------- */

static void test_in_doubt_found_not_delivered_again(void **state)
{
    pps_poll_report r = PPS_POLL_REPORT_INIT;
    fake_pop3 f;
    pps_transport t;
    pps_deliver *d = new_maildir();
    int err;

    (void)state;
    make_in_doubt(UID1, BODY1, 1);
    assert_int_equal(delivered_files("alice"), 1);
    fake_init(&f, &t);
    fake_add(&f, UID1, BODY1);
    err = run_poll(&f, &t, d, &r);
    assert_done_once(&f, err, &r);
    assert_non_null(strstr(log_text, "after a crash: message " UID1
                                     " was delivered to " RCPT));
    /* And a third poll has nothing left to do. */
    err = run_poll(&f, &t, d, &r);
    assert_int_equal(err, 0);
    assert_int_equal(delivered_files("alice"), 1);
    pps_deliver_free(d);
    free(f.out);
}

static void test_in_doubt_missing_delivered_once(void **state)
{
    pps_poll_report r = PPS_POLL_REPORT_INIT;
    fake_pop3 f;
    pps_transport t;
    pps_deliver *d = new_maildir();
    int err;

    (void)state;
    make_in_doubt(UID1, BODY1, 0);
    assert_int_equal(delivered_files("alice"), 0);
    fake_init(&f, &t);
    fake_add(&f, UID1, BODY1);
    err = run_poll(&f, &t, d, &r);
    assert_done_once(&f, err, &r);
    assert_non_null(strstr(log_text, "after a crash: message " UID1
                                     " was not delivered to " RCPT));
    assert_int_equal(f.retr, 1);
    pps_deliver_free(d);
    free(f.out);
}

/* --- a deliverer around Maildir that dies where it is told --------------- */

typedef enum kill_at { KILL_NEVER, KILL_AT_BEGIN, KILL_AFTER_COMMIT } kill_at;

typedef struct wrap {
    pps_deliver *inner;
    kill_at when;
} wrap;

static int w_begin(pps_deliverer_txn *txn, void *payload)
{
    wrap *w = payload;
    const char *rcpts[8], *tags[8];
    size_t i, n = pps_deliverer_txn_count(txn);

    assert_true(n <= 8);
    for (i = 0; i < n; i++) {
        rcpts[i] = pps_deliverer_txn_recipient(txn, i);
        tags[i] = pps_deliverer_txn_tag(txn, i);
        assert_non_null(tags[i]); /* the poll tags every recipient */
    }
    if (w->when == KILL_AT_BEGIN)
        raise(SIGKILL); /* intent durable, nothing delivered */
    return pps_deliver_begin_tagged(w->inner, pps_deliverer_txn_sender(txn),
                                    rcpts, tags, n, NULL, 0);
}

static int w_write(pps_deliverer_txn *txn, const char *data, size_t len,
                   void *payload)
{
    wrap *w = payload;

    (void)txn;
    return pps_deliver_write(w->inner, data, len);
}

static int w_commit(pps_deliverer_txn *txn, void *payload)
{
    wrap *w = payload;
    const pps_deliver_status *st;
    size_t i, n = 0;
    int err = pps_deliver_commit(w->inner);

    if (w->when == KILL_AFTER_COMMIT)
        raise(SIGKILL); /* durable in the Maildir, no outcome recorded */
    st = pps_deliver_statuses(w->inner, &n);
    for (i = 0; i < n; i++)
        pps_deliverer_txn_set(txn, i, st[i].outcome, st[i].code, st[i].reply,
                              st[i].text, strlen(st[i].text));
    return err;
}

static void w_cancel(pps_deliverer_txn *txn, void *payload)
{
    wrap *w = payload;

    (void)txn;
    pps_deliver_abort(w->inner);
}

static int w_find(const char *user, const char *domain, const char *tag,
                  void *payload)
{
    wrap *w = payload;
    char rcpt[300];

    snprintf(rcpt, sizeof(rcpt), "%s@%s", user, domain);
    return pps_deliver_find(w->inner, rcpt, tag);
}

static const pps_deliverer_class wrap_class = {
    .version = PPS_DELIVERER_CLASS_VERSION,
    .name = "wrap",
    .begin = w_begin,
    .write = w_write,
    .commit = w_commit,
    .cancel = w_cancel,
    .find = w_find,
};

/* The same without find: a deliverer that cannot look (like LMTP). */
static const pps_deliverer_class blind_class = {
    .version = PPS_DELIVERER_CLASS_VERSION,
    .name = "blind",
    .begin = w_begin,
    .write = w_write,
    .commit = w_commit,
    .cancel = w_cancel,
};

/* Run a poll in a child that is killed at `when`; returns after it died. */
static void poll_and_die(kill_at when)
{
    pid_t pid = fork();
    int status = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        pps_poll_report r = PPS_POLL_REPORT_INIT;
        fake_pop3 f;
        pps_transport t;
        wrap w = {new_maildir(), when};
        pps_deliver *d = NULL;
        if (pps_deliver_new_custom(&d, &wrap_class, &w) != 0)
            _exit(3);
        fake_init(&f, &t);
        fake_add(&f, UID1, BODY1);
        run_poll(&f, &t, d, &r);
        _exit(2); /* not killed: the hook never ran */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("the child was not killed where it should be (status %d)",
                 status);
    assert_int_equal(rcpt_state(UID1, RCPT), PPS_LEDGER_RCPT_IN_DOUBT);
}

static void test_killed_after_commit(void **state)
{
    pps_poll_report r = PPS_POLL_REPORT_INIT;
    fake_pop3 f;
    pps_transport t;
    pps_deliver *d = new_maildir();
    int err;

    (void)state;
    poll_and_die(KILL_AFTER_COMMIT);
    assert_int_equal(delivered_files("alice"), 1); /* the window */
    fake_init(&f, &t);
    fake_add(&f, UID1, BODY1);
    err = run_poll(&f, &t, d, &r);
    assert_done_once(&f, err, &r);
    pps_deliver_free(d);
    free(f.out);
}

static void test_killed_at_begin(void **state)
{
    pps_poll_report r = PPS_POLL_REPORT_INIT;
    fake_pop3 f;
    pps_transport t;
    pps_deliver *d = new_maildir();
    int err;

    (void)state;
    poll_and_die(KILL_AT_BEGIN);
    assert_int_equal(delivered_files("alice"), 0);
    fake_init(&f, &t);
    fake_add(&f, UID1, BODY1);
    err = run_poll(&f, &t, d, &r);
    assert_done_once(&f, err, &r);
    pps_deliver_free(d);
    free(f.out);
}

/* Control: without find the window stays open (at least once), which is
 * what makes the two tests above prove something. */
static void test_blind_deliverer_delivers_again(void **state)
{
    pps_poll_report r = PPS_POLL_REPORT_INIT;
    fake_pop3 f;
    pps_transport t;
    wrap w = {new_maildir(), KILL_NEVER};
    pps_deliver *d = NULL;
    int err;

    (void)state;
    make_in_doubt(UID1, BODY1, 1);
    assert_int_equal(pps_deliver_new_custom(&d, &blind_class, &w), 0);
    fake_init(&f, &t);
    fake_add(&f, UID1, BODY1);
    err = run_poll(&f, &t, d, &r);
    assert_int_equal(err, 0);
    assert_int_equal(delivered_files("alice"), 2);
    assert_null(strstr(log_text, "after a crash"));
    pps_deliver_free(d);
    pps_deliver_free(w.inner);
    free(f.out);
}

/* --- a kill at every fsync of the Maildir commit -------------------------- */

static int kill_target; /* the fsync call to die at (1 = first) */
static int kill_before; /* 1: before it, 0: right after it */
/* Atomic: a long batch's fsyncs run on several threads (sync-many.c). */
static atomic_int fsync_calls;

static int killing_fsync(int fd)
{
    int rc;

    int call = atomic_fetch_add(&fsync_calls, 1) + 1;

    if (call == kill_target && kill_before)
        raise(SIGKILL);
    rc = fsync(fd);
    if (call == kill_target)
        raise(SIGKILL);
    return rc;
}

static const pps__deliver_io killing_io = {write, killing_fsync};

static void reset_dirs(void)
{
    char cmd[600];

    snprintf(cmd, sizeof(cmd),
             "rm -rf '%s/state' '%s/mail' && "
             "mkdir -p '%s/mail/local.test/alice/Maildir' "
             "'%s/mail/local.test/bob/Maildir'",
             root, root, root, root);
    assert_int_equal(system(cmd), 0);
}

/* The sweeps' messages: distinct (identical ones would be one copy by
 * design: the duplicate suppression of catch-all mailboxes), each to
 * alice and bob. */
#define SWEEP_MAX 20
static char sweep_uids[SWEEP_MAX][16];
static char sweep_bodies[SWEEP_MAX][160];

static void make_sweep_messages(void)
{
    int i;

    for (i = 0; i < SWEEP_MAX; i++) {
        snprintf(sweep_uids[i], sizeof(sweep_uids[i]), "uid-%04d", i + 1);
        snprintf(sweep_bodies[i], sizeof(sweep_bodies[i]),
                 "From: s@remote.test\r\nTo: alice@local.test, "
                 "bob@local.test\r\nSubject: two\r\nMessage-ID: "
                 "<sweep-%d@remote.test>\r\n\r\nbody\r\n",
                 i + 1);
    }
}

/* Every one of the first n messages has exactly one copy for alice and
 * one for bob, is recorded delivered for both, and was deleted. */
static void assert_exactly_once(const fake_pop3 *f, int n, const char *where)
{
    int i;

    if (delivered_files("alice") != n || delivered_files("bob") != n)
        fail_msg("%s: alice has %d, bob %d copies of %d messages", where,
                 delivered_files("alice"), delivered_files("bob"), n);
    for (i = 0; i < n; i++) {
        assert_int_equal(rcpt_state(sweep_uids[i], "alice@local.test"),
                         PPS_LEDGER_RCPT_DELIVERED);
        assert_int_equal(rcpt_state(sweep_uids[i], "bob@local.test"),
                         PPS_LEDGER_RCPT_DELIVERED);
        assert_int_equal(f->deleted[i], 1);
    }
}

/*
 * n messages to two recipients each (one file, a hard link for the
 * second): kill the poll before and after each fsync of the
 * Maildir deliverer in turn, then rerun.  Every run must end with exactly
 * one copy per recipient.  The sweep ends when a child runs out of syncs
 * to die at.  Returns the kill points; *window gets those that left a
 * copy in new/ with its outcome unrecorded.
 */
static int kill_sweep(int n, const pps__deliver_io *io, int *window)
{
    int target, before, points = 0, i;
    char where[64];

    distribute = 1;
    *window = 0;
    make_sweep_messages();
    for (target = 1; target < 2 * n + 10; target++) {
        int survived = 0;
        for (before = 1; before >= 0; before--) {
            pps_poll_report r = PPS_POLL_REPORT_INIT;
            fake_pop3 f;
            pps_transport t;
            pps_deliver *d;
            pid_t pid;
            int status = 0, err;

            reset_dirs();
            pid = fork();
            assert_true(pid >= 0);
            if (pid == 0) {
                pps_poll_report cr = PPS_POLL_REPORT_INIT;
                fake_pop3 cf;
                pps_transport ct;
                pps_deliver *cd = new_maildir();
                kill_target = target;
                kill_before = before;
                atomic_store(&fsync_calls, 0);
                pps__deliver_io_set(io);
                fake_init(&cf, &ct);
                for (i = 0; i < n; i++)
                    fake_add(&cf, sweep_uids[i], sweep_bodies[i]);
                _exit(run_poll(&cf, &ct, cd, &cr) == 0 ? 0 : 1);
            }
            assert_int_equal(waitpid(pid, &status, 0), pid);
            if (WIFEXITED(status)) {
                if (WEXITSTATUS(status) != 0)
                    fail_msg("sync %d: the child's poll failed", target);
                survived = 1;
                break;
            }
            assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
            points++;
            for (i = 0; i < n; i++)
                if (rcpt_state(sweep_uids[i], "alice@local.test") ==
                        PPS_LEDGER_RCPT_IN_DOUBT &&
                    delivered_files("alice") + delivered_files("bob") > 0) {
                    (*window)++; /* killed inside the window */
                    break;
                }

            d = new_maildir();
            fake_init(&f, &t);
            for (i = 0; i < n; i++)
                fake_add(&f, sweep_uids[i], sweep_bodies[i]);
            err = run_poll(&f, &t, d, &r);
            snprintf(where, sizeof(where), "sync %d (%s)", target,
                     before ? "before" : "after");
            if (err != 0)
                fail_msg("%s: rerun: %s", where, r.text);
            assert_exactly_once(&f, n, where);
            pps_deliver_free(d);
            free(f.out);
        }
        if (survived)
            break;
    }
    return points;
}

static void test_kill_at_every_maildir_fsync(void **state)
{
    int window, points;

    (void)state;
    points = kill_sweep(1, &killing_io, &window);
    /* file, bob's link, alice's name: 3 fsyncs, 2 ways each. */
    print_message("%d kill points, %d of them in the window\n", points, window);
    if (points < 6 || window < 3)
        fail_msg("only %d kill points, %d in the window", points, window);
}

/* The same for a batch (group commit): three messages staged, then one
 * fsync per file and one per new/ folder. */
static void test_kill_at_every_fsync_of_a_batch(void **state)
{
    int window, points;

    (void)state;
    points = kill_sweep(3, &killing_io, &window);
    /* 3 files + alice's and bob's new/: 5 fsyncs, 2 ways each. */
    print_message("%d kill points, %d of them in the window\n", points, window);
    if (points < 10 || window < 3)
        fail_msg("only %d kill points, %d in the window", points, window);
}

/* The same for a longer batch: 20 files, then the two folders. */
static void test_kill_at_every_fsync_of_a_longer_batch(void **state)
{
    int window, points;

    (void)state;
    points = kill_sweep(SWEEP_MAX, &killing_io, &window);
    /* 20 files + 2 new/ folders: 22 fsyncs, 2 ways each. */
    print_message("%d kill points, %d of them in the window\n", points, window);
    if (points < 2 * (SWEEP_MAX + 2) || window < 3)
        fail_msg("only %d kill points, %d in the window", points, window);
}

/*
 * Out of memory at every allocation of the poll that settles an in-doubt
 * recipient (found, and not found): whatever fails, the next poll ends
 * with exactly one copy.  The sweep covers every allocation: it ends
 * when a poll no longer reaches the failing one.
 */
static void test_alloc_failures_while_settling(void **state)
{
    int found, done = 0;
    long n;

    (void)state;
    for (found = 1; found >= 0; found--) {
        done = 0;
        for (n = 0; n < 5000 && !done; n++) {
            pps_poll_report r = PPS_POLL_REPORT_INIT;
            fake_pop3 f;
            pps_transport t;
            pps_deliver *d = new_maildir();
            int err;

            reset_dirs();
            make_in_doubt(UID1, BODY1, found);
            fake_init(&f, &t);
            fake_add(&f, UID1, BODY1);
            poll_fail_after = n;
            err = run_poll(&f, &t, d, &r);
            poll_fail_after = -1;
            done = !poll_reached_failure;

            /* The next poll, with memory. */
            free(f.out);
            fake_init(&f, &t);
            fake_add(&f, UID1, BODY1);
            if (!done)
                err = run_poll(&f, &t, d, &r);
            if (err != 0)
                fail_msg("alloc %ld: rerun: %s", n, r.text);
            if (delivered_files("alice") != 1)
                fail_msg("alloc %ld (%s): %d copies", n,
                         found ? "found" : "not found",
                         delivered_files("alice"));
            assert_int_equal(rcpt_state(UID1, RCPT), PPS_LEDGER_RCPT_DELIVERED);
            pps_deliver_free(d);
            free(f.out);
        }
        if (!done)
            fail_msg("the sweep did not reach the end of the allocations");
        print_message("%s: %ld allocations swept\n",
                      found ? "found" : "not found", n - 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_in_doubt_found_not_delivered_again,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_doubt_missing_delivered_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_after_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_killed_at_begin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blind_deliverer_delivers_again,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_at_every_maildir_fsync, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kill_at_every_fsync_of_a_batch,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_kill_at_every_fsync_of_a_longer_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures_while_settling,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
