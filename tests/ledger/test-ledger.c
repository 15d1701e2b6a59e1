/*
 * test-ledger.c - the ledger's rules, its file store and its lock.
 */
#include "../helpers/pps-test.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "pps/log.h"

#include "ledger-test-util.h"

typedef struct fixture {
    char *dir;
    pps_ledger_store *store;
    char path[4096];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = make_state_dir();
    assert_int_equal(pps_ledger_store_open_dir(&f->store, f->dir), 0);
    ledger_path(f->path, sizeof(f->path), f->store, HOST, USER);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    pps__alloc_fail_after(-1);
    pps_log_set(NULL, PPS_LOG_ERROR, NULL);
    pps_ledger_store_free(f->store);
    rm_tree(f->dir);
    free(f);
    return 0;
}

/* --- logging capture ----------------------------------------------------- */

typedef struct logbuf {
    char text[8192];
    int warnings;
} logbuf;

static void capture(pps_log_level level, const char *profile,
                    const char *message, void *payload)
{
    logbuf *b = payload;
    size_t n = strlen(b->text);

    (void)profile;
    if (level == PPS_LOG_WARN)
        b->warnings++;
    snprintf(b->text + n, sizeof(b->text) - n, "%s\n", message);
}

/* --- I/O seam ------------------------------------------------------------- */

typedef struct io_counter {
    int writes, fsyncs;
    int fail_write_at; /* 1-based; 0: never */
    int fail_fsync_at;
    int short_write; /* the failing write first writes half */
} io_counter;

static ssize_t count_write(int fd, const void *buf, size_t len, void *p)
{
    io_counter *c = p;

    if (++c->writes == c->fail_write_at) {
        if (c->short_write && len > 1)
            (void)!write(fd, buf, len / 2);
        errno = ENOSPC;
        return -1;
    }
    return write(fd, buf, len);
}

static int count_fsync(int fd, void *p)
{
    io_counter *c = p;

    if (++c->fsyncs == c->fail_fsync_at) {
        errno = EIO;
        return -1;
    }
    return fsync(fd);
}

static void use_counter(fixture *f, io_counter *c)
{
    pps__ledger_io io = {count_write, count_fsync, c};
    pps__ledger_file_store_set_io(f->store, &io);
}

/* --- clock seam ----------------------------------------------------------- */

static time_t fake_now(void *payload)
{
    return *(time_t *)payload;
}

/* --- tests ------------------------------------------------------------------
 */

static void test_round_trip(void **state)
{
    fixture *f = *state;
    const char *rcpts[] = {"alice@local.test", "bob@local.test"};
    pps_ledger_status st = PPS_LEDGER_STATUS_INIT,
                      back = PPS_LEDGER_STATUS_INIT;
    pps_ledger_message_info info;
    time_t when;
    pps_ledger_rcpt_state rs;
    pps_ledger *l = open_ok(f->store, NULL);

    assert_int_equal(state_of(l, "u1"), PPS_LEDGER_NEW);
    assert_int_equal(pps_ledger_intend(l, "u1", rcpts, 2), 0);
    assert_int_equal(state_of(l, "u1"), PPS_LEDGER_PARTIAL);
    assert_int_equal(pps_ledger_delivered(l, "u1", rcpts[0]), 0);
    assert_int_equal(pps_ledger_failed(l, "u1", rcpts[1], PPS_EPERM, 1), 0);
    assert_int_equal(pps_ledger_complete(l, "u1"), 0);
    deliver_one(l, "u2", "carol@local.test");
    assert_int_equal(pps_ledger_dele_sent(l, "u2"), 0);
    assert_int_equal(
        pps_ledger_remember(l, "<m@x>", "alice@local.test", time(NULL)), 0);
    st.started = 10;
    st.finished = 20;
    st.listed = 2;
    snprintf(st.text, sizeof(st.text), "2 delivered, 1 deleted");
    assert_int_equal(pps_ledger_status_set(l, &st), 0);
    assert_int_equal(pps_ledger_sync(l), 0);
    pps_ledger_free(l);

    l = open_ok(f->store, NULL);
    assert_int_equal(pps_ledger_message_count(l), 2);
    assert_int_equal(pps_ledger_message(&info, l, "u1"), 0);
    assert_int_equal(info.state, PPS_LEDGER_COMPLETE);
    assert_int_equal(info.recipients, 2);
    assert_int_equal(info.delivered, 1);
    assert_int_equal(info.failed_perm, 1);
    assert_true(info.completed > 0);
    assert_int_equal(
        pps_ledger_recipient(&rs, &when, l, "u1", "alice@local.test"), 0);
    assert_int_equal(rs, PPS_LEDGER_RCPT_DELIVERED);
    assert_true(when > 0);
    assert_int_equal(rcpt_of(l, "u1", "bob@local.test"),
                     PPS_LEDGER_RCPT_FAILED_PERM);
    assert_int_equal(rcpt_of(l, "u1", "nobody@local.test"),
                     PPS_LEDGER_RCPT_NONE);
    assert_int_equal(state_of(l, "u2"), PPS_LEDGER_DELE_SENT);
    assert_int_equal(pps_ledger_seen(l, "<m@x>", "alice@local.test"), 1);
    assert_int_equal(pps_ledger_seen(l, "<m@x>", "bob@local.test"), 0);
    assert_int_equal(pps_ledger_status_get(&back, l), 0);
    assert_memory_equal(&back, &st, sizeof(st));
    pps_ledger_free(l);
}

static int collect(const char *rcpt, pps_ledger_rcpt_state st, time_t when,
                   void *payload)
{
    char *out = payload;
    size_t n = strlen(out);

    (void)when;
    snprintf(out + n, 256 - n, "%s=%d;", rcpt, (int)st);
    return 0;
}

static int stop_at_once(const char *rcpt, pps_ledger_rcpt_state st, time_t when,
                        void *payload)
{
    (void)rcpt, (void)st, (void)when, (void)payload;
    return 1;
}

static void test_intent_outcome_rules(void **state)
{
    fixture *f = *state;
    const char *ab[] = {"a@l", "b@l"};
    const char *aa[] = {"a@l", "a@l"};
    char seen[256] = "";
    pps_ledger *l = open_ok(f->store, NULL);

    /* An outcome needs an intent. */
    assert_int_equal(pps_ledger_delivered(l, "u", "a@l"), PPS_EINVAL);
    assert_int_equal(pps_ledger_failed(l, "u", "a@l", PPS_ETEMP, 0),
                     PPS_EINVAL);
    /* Nothing to complete, nothing to delete. */
    assert_int_equal(pps_ledger_complete(l, "u"), PPS_EINVAL);
    assert_int_equal(pps_ledger_dele_sent(l, "u"), PPS_EINVAL);
    assert_int_equal(pps_ledger_intend(l, "u", aa, 2), PPS_EINVAL);
    assert_int_equal(pps_ledger_intend(l, "u", ab, 0), PPS_EINVAL);
    assert_int_equal(state_of(l, "u"), PPS_LEDGER_NEW);

    assert_int_equal(pps_ledger_intend(l, "u", ab, 2), 0);
    /* In doubt: a second intent is refused. */
    assert_int_equal(pps_ledger_intend(l, "u", ab + 1, 1), PPS_EEXISTS);
    assert_int_equal(pps_ledger_delivered(l, "u", "a@l"), 0);
    assert_int_equal(pps_ledger_delivered(l, "u", "a@l"), PPS_EEXISTS);
    assert_int_equal(pps_ledger_failed(l, "u", "b@l", PPS_ETEMP, 0), 0);
    /* b failed for now: not complete, so no DELE. */
    assert_int_equal(pps_ledger_complete(l, "u"), PPS_EINVAL);
    assert_int_equal(pps_ledger_dele_sent(l, "u"), PPS_EINVAL);
    /* a is delivered: never intended again; b may be retried. */
    assert_int_equal(pps_ledger_intend(l, "u", ab, 2), PPS_EEXISTS);
    assert_int_equal(rcpt_of(l, "u", "b@l"), PPS_LEDGER_RCPT_FAILED_TEMP);
    assert_int_equal(pps_ledger_intend(l, "u", ab + 1, 1), 0);
    assert_int_equal(pps_ledger_delivered(l, "u", "b@l"), 0);
    assert_int_equal(pps_ledger_complete(l, "u"), 0);
    assert_int_equal(pps_ledger_complete(l, "u"), 0); /* idempotent */
    assert_int_equal(pps_ledger_intend(l, "u", ab + 1, 1), PPS_EEXISTS);
    assert_int_equal(pps_ledger_foreach_recipient(l, "u", collect, seen), 0);
    assert_string_equal(seen, "a@l=2;b@l=2;");
    assert_int_equal(pps_ledger_foreach_recipient(l, "u", stop_at_once, NULL),
                     PPS_EUSER);
    assert_int_equal(pps_ledger_dele_sent(l, "u"), 0);
    pps_ledger_free(l);
}

/* The process died between intent and outcome: the rerun sees it. */
static void test_in_doubt_and_policies(void **state)
{
    fixture *f = *state;
    const char *a[] = {"a@l"};
    logbuf log;
    pps_ledger_message_info info;
    pps_ledger *l = open_ok(f->store, NULL);

    assert_int_equal(pps_ledger_intend(l, "lmtp", a, 1), 0);
    assert_int_equal(pps_ledger_intend(l, "mdir", a, 1), 0);
    pps_ledger_free(l); /* "crash": no outcome recorded */

    memset(&log, 0, sizeof(log));
    pps_log_set(capture, PPS_LOG_WARN, &log);
    l = open_ok(f->store, NULL);
    assert_int_equal(pps_ledger_message(&info, l, "lmtp"), 0);
    assert_int_equal(info.state, PPS_LEDGER_PARTIAL);
    assert_int_equal(info.in_doubt, 1);
    assert_int_equal(rcpt_of(l, "lmtp", "a@l"), PPS_LEDGER_RCPT_IN_DOUBT);
    assert_int_equal(pps_ledger_intend(l, "lmtp", a, 1), PPS_EEXISTS);
    assert_int_equal(pps_ledger_complete(l, "lmtp"), PPS_EINVAL);

    /* At least once: it will be delivered again. */
    assert_int_equal(
        pps_ledger_resolve_in_doubt(l, "lmtp", PPS_LEDGER_AT_LEAST_ONCE), 1);
    assert_int_equal(rcpt_of(l, "lmtp", "a@l"), PPS_LEDGER_RCPT_FAILED_TEMP);
    assert_int_equal(pps_ledger_intend(l, "lmtp", a, 1), 0);
    /* At most once: counted as delivered. */
    assert_int_equal(
        pps_ledger_resolve_in_doubt(l, "mdir", PPS_LEDGER_AT_MOST_ONCE), 1);
    assert_int_equal(rcpt_of(l, "mdir", "a@l"), PPS_LEDGER_RCPT_DELIVERED);
    assert_int_equal(pps_ledger_complete(l, "mdir"), 0);
    assert_int_equal(
        pps_ledger_resolve_in_doubt(l, "mdir", PPS_LEDGER_AT_MOST_ONCE), 0);
    assert_int_equal(pps_ledger_resolve_in_doubt(l, "x", 7), PPS_EINVAL);
    assert_int_equal(log.warnings, 2);
    assert_non_null(strstr(log.text, "uid lmtp to a@l was in doubt"));
    pps_ledger_free(l);
}

/* Invariant 1: the records saying "delivered" are durable before DELE. */
static void test_dele_syncs_first(void **state)
{
    fixture *f = *state;
    io_counter c;
    const char *a[] = {"a@l"};
    int before;
    pps_ledger *l;

    memset(&c, 0, sizeof(c));
    use_counter(f, &c);
    l = open_ok(f->store, NULL);
    assert_int_equal(pps_ledger_intend(l, "u", a, 1), 0);
    before = c.fsyncs;
    assert_int_equal(pps_ledger_delivered(l, "u", "a@l"), 0);
    assert_int_equal(pps_ledger_complete(l, "u"), 0);
    assert_int_equal(c.fsyncs, before); /* grouped: no sync yet */
    assert_int_equal(pps_ledger_dele_sent(l, "u"), 0);
    assert_int_equal(c.fsyncs, before + 1);
    /* A second DELE has nothing new to make durable. */
    deliver_one(l, "v", "a@l");
    before = c.fsyncs;
    assert_int_equal(pps_ledger_dele_sent(l, "v"), 0);
    assert_int_equal(pps_ledger_dele_sent(l, "u"), 0);
    assert_int_equal(c.fsyncs, before + 1);

    /* And when that sync fails, DELE is refused: the caller must not send
     * it, and the handle stays refused until reopened. */
    deliver_one(l, "w", "a@l");
    c.fail_fsync_at = c.fsyncs + 1;
    assert_int_equal(pps_ledger_dele_sent(l, "w"), PPS_EIO);
    assert_non_null(strstr(pps_error_last()->message, "fsync"));
    assert_int_equal(pps_ledger_dele_sent(l, "u"), PPS_EIO);
    {
        pps_ledger_message_info info;
        assert_int_equal(pps_ledger_message(&info, l, "u"), PPS_EIO);
    }
    pps_ledger_free(l);
    l = open_ok(f->store, NULL);
    assert_int_equal(state_of(l, "u"), PPS_LEDGER_DELE_SENT);
    pps_ledger_free(l);
}

/* DELE is only final after QUIT +OK. */
static void test_quit_makes_deletes_final(void **state)
{
    fixture *f = *state;
    const char *a[] = {"a@l"};
    pps_ledger *l = open_ok(f->store, NULL);

    deliver_one(l, "u", "a@l");
    deliver_one(l, "v", "a@l");
    assert_int_equal(pps_ledger_dele_sent(l, "u"), 0);
    assert_int_equal(pps_ledger_quit_ok(l), 0);
    assert_int_equal(state_of(l, "u"), PPS_LEDGER_DELETED);
    assert_int_equal(state_of(l, "v"), PPS_LEDGER_COMPLETE);
    /* Next session: DELE v, then the connection drops before QUIT. */
    assert_int_equal(pps_ledger_dele_sent(l, "v"), 0);
    pps_ledger_free(l);

    l = open_ok(f->store, NULL);
    assert_int_equal(state_of(l, "u"), PPS_LEDGER_DELETED);
    /* The server restored v: still complete, deleted again, not
     * delivered again. */
    assert_int_equal(state_of(l, "v"), PPS_LEDGER_DELE_SENT);
    assert_int_equal(pps_ledger_intend(l, "v", a, 1), PPS_EEXISTS);
    assert_int_equal(pps_ledger_dele_sent(l, "v"), 0);
    assert_int_equal(pps_ledger_quit_ok(l), 0);
    assert_int_equal(state_of(l, "v"), PPS_LEDGER_DELETED);
    /* The server lists neither any more. */
    assert_int_equal(pps_ledger_prune(l, NULL, 0), 2);
    assert_int_equal(pps_ledger_message_count(l), 0);
    pps_ledger_free(l);
}

/* keep = yes: mail stays on the server, each message delivered once. */
static void test_keep_delivers_once(void **state)
{
    fixture *f = *state;
    const char *listed[] = {"k1", "k2"};
    int deliveries = 0;

    for (int poll = 0; poll < 4; poll++) {
        pps_ledger *l = open_ok(f->store, NULL);

        assert_true(pps_ledger_prune(l, listed, 2) >= 0);
        for (int i = 0; i < 2; i++) {
            if (state_of(l, listed[i]) == PPS_LEDGER_NEW) {
                deliver_one(l, listed[i], "a@l");
                deliveries++;
            }
            /* keep: no DELE */
        }
        pps_ledger_free(l);
    }
    assert_int_equal(deliveries, 2);
}

static void test_prune(void **state)
{
    fixture *f = *state;
    const char *a[] = {"a@l"};
    const char *listed[] = {"u2", "not-known", "u4"};
    logbuf log;
    pps_ledger *l = open_ok(f->store, NULL);

    deliver_one(l, "u1", "a@l");
    deliver_one(l, "u2", "a@l");
    deliver_one(l, "u3", "a@l");
    deliver_one(l, "u4", "a@l");
    assert_int_equal(pps_ledger_intend(l, "u5", a, 1), 0);
    memset(&log, 0, sizeof(log));
    pps_log_set(capture, PPS_LOG_WARN, &log);
    assert_int_equal(pps_ledger_prune(l, listed, 3), 3);
    assert_int_equal(log.warnings, 1); /* u5 vanished undelivered */
    assert_non_null(strstr(log.text, "uid u5 left the server"));
    /* Many vanish at once: ten named, then a count. */
    for (int i = 0; i < 15; i++) {
        char uid[16];
        snprintf(uid, sizeof(uid), "gone%d", i);
        assert_int_equal(pps_ledger_intend(l, uid, a, 1), 0);
    }
    memset(&log, 0, sizeof(log));
    assert_int_equal(pps_ledger_prune(l, listed, 3), 15);
    assert_int_equal(log.warnings, 11);
    assert_non_null(strstr(log.text, "15 messages in all left the server"));
    assert_int_equal(pps_ledger_message_count(l), 2);
    assert_int_equal(state_of(l, "u1"), PPS_LEDGER_NEW);
    assert_int_equal(state_of(l, "u2"), PPS_LEDGER_COMPLETE);
    assert_int_equal(state_of(l, "not-known"), PPS_LEDGER_NEW);
    pps_ledger_free(l);
    l = open_ok(f->store, NULL);
    assert_int_equal(pps_ledger_message_count(l), 2);
    assert_int_equal(state_of(l, "u3"), PPS_LEDGER_NEW);
    assert_int_equal(state_of(l, "u4"), PPS_LEDGER_COMPLETE);
    assert_int_equal(pps_ledger_prune(l, NULL, 1), PPS_EINVAL);
    pps_ledger_free(l);
}

static void test_dedup_window(void **state)
{
    fixture *f = *state;
    pps_ledger_options opts = PPS_LEDGER_OPTIONS_INIT;
    time_t t = 1000000;
    size_t lines;
    pps_ledger *l;

    opts.dedup_window = 3600;
    l = open_ok(f->store, &opts);
    pps__ledger_set_clock(l, fake_now, &t);
    assert_int_equal(pps_ledger_remember(l, "k1", "a@l", t), 0);
    assert_int_equal(pps_ledger_remember(l, "k2", "a@l", t + 1800), 0);
    assert_int_equal(pps_ledger_seen(l, "k1", "a@l"), 1);
    assert_int_equal(pps_ledger_seen(l, "k1", "b@l"), 0);
    t += 3599;
    assert_int_equal(pps_ledger_seen(l, "k1", "a@l"), 1);
    t += 1;
    assert_int_equal(pps_ledger_seen(l, "k1", "a@l"), 0);
    assert_int_equal(pps_ledger_seen(l, "k2", "a@l"), 1);
    /* Remembering again renews it. */
    assert_int_equal(pps_ledger_remember(l, "k2", "a@l", t), 0);
    assert_int_equal(pps_ledger_compact(l), 0);
    pps_ledger_free(l);
    /* Header, k2 (k1 expired and dropped). */
    lines = count_lines(f->path);
    assert_int_equal(lines, 2);
    l = open_ok(f->store, &opts);
    pps__ledger_set_clock(l, fake_now, &t);
    assert_int_equal(pps_ledger_seen(l, "k2", "a@l"), 1);
    t += 3600;
    assert_int_equal(pps_ledger_seen(l, "k2", "a@l"), 0);
    pps_ledger_free(l);
    /* The default window is 7 days. */
    l = open_ok(f->store, NULL);
    assert_int_equal(
        pps_ledger_remember(l, "k3", "a@l", time(NULL) - 6 * 86400), 0);
    assert_int_equal(pps_ledger_seen(l, "k3", "a@l"), 1);
    assert_int_equal(
        pps_ledger_remember(l, "k4", "a@l", time(NULL) - 8 * 86400), 0);
    assert_int_equal(pps_ledger_seen(l, "k4", "a@l"), 0);
    pps_ledger_free(l);
}

static void test_status_and_read_only(void **state)
{
    fixture *f = *state;
    pps_ledger_options ro = PPS_LEDGER_OPTIONS_INIT;
    pps_ledger_status st = PPS_LEDGER_STATUS_INIT,
                      back = PPS_LEDGER_STATUS_INIT;
    pps_ledger *l, *r = NULL;

    ro.read_only = 1;
    assert_int_equal(pps_ledger_open(&r, f->store, HOST, USER, &ro),
                     PPS_ENOTFOUND);
    assert_null(r);
    l = open_ok(f->store, NULL);
    assert_int_equal(pps_ledger_status_get(&back, l), 0);
    assert_int_equal(back.started, 0);
    st.started = 100;
    st.finished = 130;
    st.result = PPS_EAUTH;
    st.consecutive_failures = 3;
    st.next_allowed = 100 + 3600;
    st.last_success = 50;
    memset(st.text, 'z', sizeof(st.text)); /* not terminated: cut */
    assert_int_equal(pps_ledger_status_set(l, &st), 0);
    assert_int_equal(pps_ledger_sync(l), 0);
    /* `pps status` reads while the poller holds the lock. */
    r = NULL;
    assert_int_equal(pps_ledger_open(&r, f->store, HOST, USER, &ro), 0);
    assert_int_equal(pps_ledger_status_get(&back, r), 0);
    assert_int_equal(back.result, PPS_EAUTH);
    assert_int_equal(back.consecutive_failures, 3);
    assert_int_equal(back.next_allowed, 3700);
    assert_int_equal(strlen(back.text), PPS_LEDGER_STATUS_TEXT_MAX);
    /* Read-only refuses changes. */
    assert_int_equal(pps_ledger_status_set(r, &st), PPS_EINVAL);
    assert_int_equal(pps_ledger_remember(r, "k", "a@l", 1), PPS_EINVAL);
    assert_int_equal(pps_ledger_prune(r, NULL, 0), PPS_EINVAL);
    assert_int_equal(pps_ledger_compact(r), PPS_EINVAL);
    pps_ledger_free(r);
    back.version = 99;
    assert_int_equal(pps_ledger_status_get(&back, l), PPS_EINVAL);
    st.result = 5;
    assert_int_equal(pps_ledger_status_set(l, &st), PPS_EINVAL);
    pps_ledger_free(l);
}

/* What a crash can leave at the end of the file. */
static const struct {
    const char *name;
    const char *tail;
    size_t len;
} torn[] = {
    {"half a line", "1234abcd D u9 a@l 17", 20},
    {"whole line, bad checksum", "00000000 D u9 a@l 17\n", 21},
    {"zeros (lost data blocks)", "\0\0\0\0\0\0\0\0\0\0\0\0", 12},
    {"two bad lines", "00000000 D u9 a@l 17\nffff", 25},
    {"only a newline", "\n", 1},
};

static void test_torn_tail_ignored(void **state)
{
    fixture *f = *state;

    for (size_t i = 0; i < sizeof(torn) / sizeof(torn[0]); i++) {
        size_t before, after;
        char *content;
        pps_ledger *l = open_ok(f->store, NULL);

        if (pps_ledger_message_count(l) == 0)
            deliver_one(l, "u1", "a@l");
        pps_ledger_free(l);
        free(slurp(f->path, &before));
        append_bytes(f->path, torn[i].tail, torn[i].len);

        l = NULL;
        if (pps_ledger_open(&l, f->store, HOST, USER, NULL) != 0)
            fail_msg("row %zu (%s): %s", i, torn[i].name,
                     pps_error_last()->message);
        if (state_of(l, "u1") != PPS_LEDGER_COMPLETE ||
            state_of(l, "u9") != PPS_LEDGER_NEW)
            fail_msg("row %zu (%s): wrong state", i, torn[i].name);
        /* The tail is cut off before anything is appended after it. */
        content = slurp(f->path, &after);
        if (after != before)
            fail_msg("row %zu (%s): %zu bytes, want %zu", i, torn[i].name,
                     after, before);
        free(content);
        deliver_one(l, "u2", "a@l");
        pps_ledger_free(l);
        l = open_ok(f->store, NULL);
        assert_int_equal(state_of(l, "u2"), PPS_LEDGER_COMPLETE);
        assert_int_equal(pps_ledger_prune(l, (const char *[]){"u1"}, 1), 1);
        pps_ledger_free(l);
    }
}

/* Damage in the middle: reported with file and line, nothing lost. */
static void test_corrupt_middle(void **state)
{
    fixture *f = *state;
    pps_ledger_options accept = PPS_LEDGER_OPTIONS_INIT;
    char want[4200], bad[4200];
    char *content, *line3;
    size_t len;
    struct stat sb;
    pps_ledger *l = open_ok(f->store, NULL);

    deliver_one(l, "u1", "a@l"); /* lines 2-4 */
    deliver_one(l, "u2", "a@l"); /* lines 5-7 */
    pps_ledger_free(l);
    content = slurp(f->path, &len);
    line3 = strchr(strchr(content, '\n') + 1, '\n') + 1;
    line3[12] ^= 0x01; /* a D record of u1 */
    spill(f->path, content, len);
    free(content);

    l = NULL;
    assert_int_equal(pps_ledger_open(&l, f->store, HOST, USER, NULL),
                     PPS_ECONFIG);
    assert_null(l);
    snprintf(want, sizeof(want), "%s:3: corrupt record (checksum mismatch)",
             f->path);
    assert_non_null(strstr(pps_error_last()->message, want));

    /* Accepting it: the rest is there; the damaged file is kept aside. */
    accept.accept_corrupt = 1;
    l = open_ok(f->store, &accept);
    assert_int_equal(state_of(l, "u2"), PPS_LEDGER_COMPLETE);
    assert_int_equal(state_of(l, "u1"), PPS_LEDGER_COMPLETE);
    assert_int_equal(rcpt_of(l, "u1", "a@l"), PPS_LEDGER_RCPT_IN_DOUBT);
    pps_ledger_free(l);
    snprintf(bad, sizeof(bad), "%s.corrupt", f->path);
    assert_int_equal(stat(bad, &sb), 0);
    /* The rewritten file is clean: a normal open works. */
    l = open_ok(f->store, NULL);
    assert_int_equal(state_of(l, "u2"), PPS_LEDGER_COMPLETE);
    pps_ledger_free(l);
}

static void test_identity(void **state)
{
    fixture *f = *state;
    char other[4096];
    size_t len;
    char *content;
    pps_ledger *l = open_ok(f->store, NULL), *m = NULL;

    deliver_one(l, "u1", "a@l");
    pps_ledger_free(l);
    /* Host names are case-insensitive: the same mailbox. */
    assert_int_equal(
        pps_ledger_open(&l, f->store, "POP.Example.COM.", USER, NULL), 0);
    assert_int_equal(state_of(l, "u1"), PPS_LEDGER_COMPLETE);
    pps_ledger_free(l);
    /* Another user on the same server: another ledger. */
    assert_int_equal(pps_ledger_open(&m, f->store, HOST, "ann", NULL), 0);
    assert_int_equal(state_of(m, "u1"), PPS_LEDGER_NEW);
    pps_ledger_free(m);
    /* A ledger file under another mailbox's name is refused. */
    ledger_path(other, sizeof(other), f->store, HOST, "ann");
    content = slurp(f->path, &len);
    spill(other, content, len);
    free(content);
    m = NULL;
    assert_int_equal(pps_ledger_open(&m, f->store, HOST, "ann", NULL),
                     PPS_ECONFIG);
    assert_non_null(strstr(pps_error_last()->message, "is the ledger of"));
}

static void test_file_modes(void **state)
{
    fixture *f = *state;
    char sub[4200], path[4300];
    pps_ledger_store *store;
    struct stat sb;
    pps_ledger *l;
    mode_t old = umask(0);

    snprintf(sub, sizeof(sub), "%s/state", f->dir);
    assert_int_equal(pps_ledger_store_open_dir(&store, sub), 0);
    l = open_ok(store, NULL);
    deliver_one(l, "u", "a@l");
    assert_int_equal(pps_ledger_compact(l), 0);
    ledger_path(path, sizeof(path), store, HOST, USER);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(stat(sub, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    snprintf(path + strlen(path) - strlen(".ledger"), 16, ".lock");
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    pps_ledger_free(l);
    umask(old);
    pps_ledger_store_free(store);
    snprintf(path, sizeof(path), "rm -rf '%s'", sub);
    assert_int_equal(system(path), 0);
}

static void test_delivery_tag(void **state)
{
    fixture *f = *state;
    char t1[PPS_LEDGER_TAG_SIZE], t2[PPS_LEDGER_TAG_SIZE];
    char t3[PPS_LEDGER_TAG_SIZE], t4[PPS_LEDGER_TAG_SIZE];
    pps_ledger *l = open_ok(f->store, NULL), *m = NULL;

    assert_int_equal(pps_ledger_delivery_tag(t1, sizeof(t1), l, "u", "a@l"), 0);
    assert_int_equal(strlen(t1), 32);
    assert_int_equal(strspn(t1, "0123456789abcdef"), 32);
    assert_int_equal(pps_ledger_delivery_tag(t2, sizeof(t2), l, "u", "b@l"), 0);
    assert_string_not_equal(t1, t2);
    assert_int_equal(pps_ledger_delivery_tag(t3, sizeof(t3), l, "v", "a@l"), 0);
    assert_string_not_equal(t1, t3);
    assert_int_equal(pps_ledger_delivery_tag(t3, 32, l, "u", "a@l"),
                     PPS_EINVAL);
    pps_ledger_free(l);
    /* The same in the next run (and for the same mailbox spelt
     * differently); another mailbox, another tag. */
    assert_int_equal(
        pps_ledger_open(&l, f->store, "POP.EXAMPLE.COM", USER, NULL), 0);
    assert_int_equal(pps_ledger_delivery_tag(t4, sizeof(t4), l, "u", "a@l"), 0);
    assert_string_equal(t1, t4);
    pps_ledger_free(l);
    assert_int_equal(pps_ledger_open(&m, f->store, HOST, "other", NULL), 0);
    assert_int_equal(pps_ledger_delivery_tag(t4, sizeof(t4), m, "u", "a@l"), 0);
    assert_string_not_equal(t1, t4);
    pps_ledger_free(m);
}

/* The example of docs/ledger.md, byte for byte: the format is stable. */
static const char golden[] =
    "a7c501c3 H PPSLEDGER 1 pop.example.com joe\n"
    "c44114ca I 000000015f3e1a2b alice@local.test 1732680000\n"
    "01610193 I 000000015f3e1a2b bob@local.test 1732680000\n"
    "a07607d8 D 000000015f3e1a2b alice@local.test 1732680001\n"
    "7ede2dbe D 000000015f3e1a2b bob@local.test 1732680001\n"
    "4be2d5a2 C 000000015f3e1a2b 1732680001\n"
    "682233cb P 000000015f3e1a2b 1732680001\n"
    "23eb9696 Q 1732680002\n"
    "000c87a5 T 1732680000 1732680002 0 1 1 1 0 0 0 1732680002 "
    "1%20delivered,%201%20deleted\n";

static void test_golden_file(void **state)
{
    fixture *f = *state;
    pps_ledger_options ro = PPS_LEDGER_OPTIONS_INIT;
    pps_ledger_status st = PPS_LEDGER_STATUS_INIT;
    char path[4096];
    pps_ledger *l = NULL;

    ledger_path(path, sizeof(path), f->store, "pop.example.com", "joe");
    spill(path, golden, sizeof(golden) - 1);
    ro.read_only = 1;
    assert_int_equal(
        pps_ledger_open(&l, f->store, "pop.example.com", "joe", &ro), 0);
    assert_int_equal(state_of(l, "000000015f3e1a2b"), PPS_LEDGER_DELETED);
    assert_int_equal(rcpt_of(l, "000000015f3e1a2b", "bob@local.test"),
                     PPS_LEDGER_RCPT_DELIVERED);
    assert_int_equal(pps_ledger_status_get(&st, l), 0);
    assert_string_equal(st.text, "1 delivered, 1 deleted");
    assert_int_equal(st.last_success, 1732680002);
    pps_ledger_free(l);
}

/* Left-overs of a crash during compaction, and a folder open to others. */
static void test_stale_tmp_and_shared_folder(void **state)
{
    fixture *f = *state;
    char tmp[4200];
    struct stat sb;
    logbuf log;
    pps_ledger *l = open_ok(f->store, NULL);

    deliver_one(l, "u", "a@l");
    pps_ledger_free(l);
    snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
    spill(tmp, "half a snapshot", 15);
    memset(&log, 0, sizeof(log));
    pps_log_set(capture, PPS_LOG_WARN, &log);
    assert_int_equal(chmod(f->dir, 0777), 0);
    l = open_ok(f->store, NULL);
    assert_int_equal(stat(tmp, &sb), -1);
    assert_int_equal(state_of(l, "u"), PPS_LEDGER_COMPLETE);
    assert_int_equal(log.warnings, 1);
    assert_non_null(strstr(log.text, "is writable by others (mode 777)"));
    pps_ledger_free(l);
    assert_int_equal(chmod(f->dir, 0700), 0);
}

static void test_failing_allocator_load(void **state)
{
    fixture *f = *state;
    const char *ab[] = {"a@l", "b@l"};
    pps_ledger_status st = PPS_LEDGER_STATUS_INIT;
    pps_ledger *l = open_ok(f->store, NULL);
    int n, rc = -1;

    for (int i = 0; i < 50; i++) {
        char uid[16];
        snprintf(uid, sizeof(uid), "u%d", i);
        assert_int_equal(pps_ledger_intend(l, uid, ab, i % 2 + 1), 0);
        assert_int_equal(pps_ledger_delivered(l, uid, "a@l"), 0);
    }
    assert_int_equal(pps_ledger_remember(l, "k", "a@l", time(NULL)), 0);
    st.started = 1;
    assert_int_equal(pps_ledger_status_set(l, &st), 0);
    pps_ledger_free(l);

    for (n = 0; n < 100000; n++) {
        l = NULL;
        pps__alloc_fail_after(n);
        rc = pps_ledger_open(&l, f->store, HOST, USER, NULL);
        pps__alloc_fail_after(-1);
        if (rc == 0)
            break;
        if (rc != PPS_ENOMEM)
            fail_msg("allocation %d: %d %s", n, rc, pps_error_last()->message);
        assert_null(l);
    }
    assert_int_equal(rc, 0);
    assert_true(n > 10);
    assert_int_equal(rcpt_of(l, "u49", "b@l"), PPS_LEDGER_RCPT_IN_DOUBT);
    pps_ledger_free(l);

    /* The same for the changes of a poll: each fails cleanly. */
    for (n = 0; n < 100000; n++) {
        const char *a[] = {"x@l"};
        l = open_ok(f->store, NULL);
        pps__alloc_fail_after(n);
        rc = pps_ledger_intend(l, "new", a, 1);
        if (rc == 0)
            rc = pps_ledger_delivered(l, "new", "x@l");
        if (rc == 0)
            rc = pps_ledger_remember(l, "k2", "x@l", time(NULL));
        if (rc == 0)
            rc = pps_ledger_compact(l);
        pps__alloc_fail_after(-1);
        if (rc == 0) {
            pps_ledger_free(l);
            break;
        }
        assert_int_equal(rc, PPS_ENOMEM);
        pps_ledger_free(l);
        /* Undo whatever reached the file, for the next round. */
        l = open_ok(f->store, NULL);
        if (state_of(l, "new") != PPS_LEDGER_NEW) {
            assert_int_equal(
                pps_ledger_prune(l, (const char *[]){"u0"}, 1) >= 0, 1);
        }
        pps_ledger_free(l);
    }
    assert_int_equal(rc, 0);
}

static void test_write_failures(void **state)
{
    fixture *f = *state;
    const char *a[] = {"a@l"};
    io_counter c;
    pps_ledger *l;

    memset(&c, 0, sizeof(c));
    use_counter(f, &c);
    l = open_ok(f->store, NULL);
    deliver_one(l, "u1", "a@l");
    assert_int_equal(pps_ledger_sync(l), 0);
    /* A short write of an intent: the call fails and leaves half a line. */
    c.fail_write_at = c.writes + 1;
    c.short_write = 1;
    assert_int_equal(pps_ledger_intend(l, "u2", a, 1), PPS_EIO);
    assert_non_null(strstr(pps_error_last()->message, "write failed"));
    assert_int_equal(pps_ledger_sync(l), PPS_EIO);
    pps_ledger_free(l);
    /* Reopened: the half line is a torn tail, u2 was never intended. */
    l = open_ok(f->store, NULL);
    assert_int_equal(state_of(l, "u1"), PPS_LEDGER_COMPLETE);
    assert_int_equal(state_of(l, "u2"), PPS_LEDGER_NEW);
    /* An fsync failure during an intent: refused, so no delivery. */
    c.fail_fsync_at = c.fsyncs + 1;
    assert_int_equal(pps_ledger_intend(l, "u3", a, 1), PPS_EIO);
    pps_ledger_free(l);
    pps__ledger_file_store_set_io(f->store, NULL);
    l = open_ok(f->store, NULL);
    assert_int_equal(state_of(l, "u1"), PPS_LEDGER_COMPLETE);
    pps_ledger_free(l);
}

static int no_fsync(int fd, void *p)
{
    (void)fd, (void)p;
    return 0;
}

static void test_compaction(void **state)
{
    fixture *f = *state;
    const char *keep[] = {"m1999"};
    size_t on_disk, live, lines;
    /* About compaction, not durability: skip 4000 fsyncs. */
    pps__ledger_io io = {count_write, no_fsync, NULL};
    io_counter c;
    pps_ledger *l;

    memset(&c, 0, sizeof(c));
    io.payload = &c;
    pps__ledger_file_store_set_io(f->store, &io);
    l = open_ok(f->store, NULL);

    for (int i = 0; i < 2000; i++) {
        char uid[16];
        snprintf(uid, sizeof(uid), "m%d", i);
        deliver_one(l, uid, "a@l");
        assert_int_equal(pps_ledger_dele_sent(l, uid), 0);
    }
    assert_int_equal(pps_ledger_quit_ok(l), 0);
    pps__ledger_record_counts(l, &on_disk, &live);
    assert_int_equal(on_disk, 2000 * 4 + 1);
    assert_int_equal(live, 2000 * 3);
    /* Everything but one left the server: prune compacts by itself. */
    assert_int_equal(pps_ledger_prune(l, keep, 1), 1999);
    pps__ledger_record_counts(l, &on_disk, &live);
    assert_int_equal(on_disk, 3);
    assert_int_equal(live, 3);
    pps_ledger_free(l);
    lines = count_lines(f->path);
    assert_int_equal(lines, 4); /* header, D, C, E */
    l = open_ok(f->store, NULL);
    assert_int_equal(pps_ledger_message_count(l), 1);
    assert_int_equal(state_of(l, "m1999"), PPS_LEDGER_DELETED);
    assert_int_equal(rcpt_of(l, "m1999", "a@l"), PPS_LEDGER_RCPT_DELIVERED);
    pps_ledger_free(l);
}

/* Records that are no longer needed go on free, and on open (a crashed
 * process never reached its free). */
static void test_compaction_on_free_and_open(void **state)
{
    fixture *f = *state;
    pps_ledger_status st = PPS_LEDGER_STATUS_INIT;
    pps_ledger_record rec;
    char line[PPS__LEDGER_LINE_MAX];
    size_t on_disk, live;
    pps_ledger *l = open_ok(f->store, NULL);

    for (int i = 0; i < 3000; i++) {
        st.started = i + 1;
        assert_int_equal(pps_ledger_status_set(l, &st), 0);
    }
    assert_int_equal(pps_ledger_sync(l), 0);
    pps_ledger_free(l); /* compacts on free */
    assert_int_equal(count_lines(f->path), 2);
    l = open_ok(f->store, NULL);
    assert_int_equal(pps_ledger_status_get(&st, l), 0);
    assert_int_equal(st.started, 3000);
    pps__ledger_record_counts(l, &on_disk, &live);
    assert_int_equal(on_disk, 1);
    pps_ledger_free(l);

    memset(&rec, 0, sizeof(rec));
    rec.type = PPS_LEDGER_REC_STATUS;
    rec.status = &st;
    for (int i = 0; i < 3000; i++) {
        int len;
        st.started = 5000 + i;
        len = pps__ledger_record_encode(line, sizeof(line), &rec);
        append_bytes(f->path, line, (size_t)len);
    }
    l = open_ok(f->store, NULL);
    pps__ledger_record_counts(l, &on_disk, &live);
    assert_int_equal(on_disk, 1);
    assert_int_equal(count_lines(f->path), 2);
    assert_int_equal(pps_ledger_status_get(&st, l), 0);
    assert_int_equal(st.started, 7999);
    pps_ledger_free(l);
}

static void test_lock_same_process(void **state)
{
    fixture *f = *state;
    pps_ledger *l = open_ok(f->store, NULL), *m = NULL;
    char want[64];

    assert_int_equal(pps_ledger_open(&m, f->store, HOST, USER, NULL),
                     PPS_ETEMP);
    assert_null(m);
    snprintf(want, sizeof(want), "is being polled by pid %ld", (long)getpid());
    assert_non_null(strstr(pps_error_last()->message, want));
    pps_ledger_free(l);
    m = open_ok(f->store, NULL);
    pps_ledger_free(m);
}

static void test_lock_between_processes(void **state)
{
    fixture *f = *state;
    pps_ledger_options wait = PPS_LEDGER_OPTIONS_INIT;
    int up[2], down[2], status;
    char c, want[64];
    struct timespec t0, t1;
    pps_ledger *l = NULL;
    pid_t pid;
    long ms;

    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(down), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pps_ledger *cl = NULL;
        int ok = pps_ledger_open(&cl, f->store, HOST, USER, NULL) == 0;
        if (ok)
            ok = pps_ledger_remember(cl, "k", "child@l", time(NULL)) == 0;
        (void)!write(up[1], ok ? "y" : "n", 1);
        (void)!read(down[0], &c, 1); /* hold the lock until told */
        usleep(200 * 1000);
        pps_ledger_free(cl);
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(read(up[0], &c, 1), 1);
    assert_int_equal(c, 'y');
    /* At once: refused, naming the holder. */
    assert_int_equal(pps_ledger_open(&l, f->store, HOST, USER, NULL),
                     PPS_ETEMP);
    snprintf(want, sizeof(want), "is being polled by pid %ld", (long)pid);
    assert_non_null(strstr(pps_error_last()->message, want));
    /* A bounded wait that is too short: refused after the wait. */
    wait.lock_wait_ms = 100;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(pps_ledger_open(&l, f->store, HOST, USER, &wait),
                     PPS_ETEMP);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 100 && ms < 2000);
    /* Long enough: we get it once the child lets go. */
    assert_int_equal(write(down[1], "x", 1), 1);
    wait.lock_wait_ms = 10000;
    assert_int_equal(pps_ledger_open(&l, f->store, HOST, USER, &wait), 0);
    assert_int_equal(pps_ledger_seen(l, "k", "child@l"), 1);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    pps_ledger_free(l);
    close(up[0]);
    close(up[1]);
    close(down[0]);
    close(down[1]);
}

static void count_free(void *payload)
{
    (*(int *)payload)++;
}

static void test_bad_arguments(void **state)
{
    fixture *f = *state;
    char long_uid[PPS_LEDGER_UID_MAX + 2];
    pps_ledger_options opts = PPS_LEDGER_OPTIONS_INIT;
    pps_ledger_store_ops broken;
    pps_ledger_store *s = NULL;
    int freed = 0;
    pps_ledger *l = NULL;
    pps_ledger_message_info info;

    assert_int_equal(pps_ledger_store_open_dir(&s, ""), PPS_EINVAL);
    assert_int_equal(pps_ledger_store_open_dir(NULL, "/x"), PPS_EINVAL);
    assert_int_equal(pps_ledger_open(NULL, f->store, HOST, USER, NULL),
                     PPS_EINVAL);
    assert_int_equal(pps_ledger_open(&l, NULL, HOST, USER, NULL), PPS_EINVAL);
    /* A store without its slots is refused, and its payload freed. */
    memset(&broken, 0, sizeof(broken));
    broken.version = PPS_LEDGER_STORE_OPS_VERSION;
    broken.free = count_free;
    assert_int_equal(pps_ledger_store_new(&s, &broken, &freed), PPS_EINVAL);
    assert_null(s);
    assert_int_equal(freed, 1);
    assert_int_equal(pps_ledger_store_new(&s, NULL, NULL), PPS_EINVAL);
    assert_int_equal(pps_ledger_open(&l, f->store, "", USER, NULL), PPS_EINVAL);
    assert_int_equal(pps_ledger_open(&l, f->store, HOST, NULL, NULL),
                     PPS_EINVAL);
    opts.version = 0;
    assert_int_equal(pps_ledger_open(&l, f->store, HOST, USER, &opts),
                     PPS_EINVAL);
    pps_ledger_options_init(&opts);
    opts.dedup_window = -1;
    assert_int_equal(pps_ledger_open(&l, f->store, HOST, USER, &opts),
                     PPS_EINVAL);
    l = open_ok(f->store, NULL);
    memset(long_uid, 'x', sizeof(long_uid) - 1);
    long_uid[sizeof(long_uid) - 1] = '\0';
    assert_int_equal(pps_ledger_message(&info, l, long_uid), PPS_EINVAL);
    long_uid[PPS_LEDGER_UID_MAX] = '\0';
    assert_int_equal(pps_ledger_message(&info, l, long_uid), 0);
    assert_int_equal(pps_ledger_message(&info, l, ""), PPS_EINVAL);
    assert_int_equal(pps_ledger_message(NULL, l, "u"), PPS_EINVAL);
    assert_int_equal(pps_ledger_message(&info, NULL, "u"), PPS_EINVAL);
    assert_int_equal(pps_ledger_seen(l, "", "a@l"), PPS_EINVAL);
    assert_int_equal(pps_ledger_failed(l, "u", "a@l", 3, 0), PPS_EINVAL);
    assert_int_equal(pps_ledger_status_set(l, NULL), PPS_EINVAL);
    assert_int_equal(pps_ledger_message_count(NULL), 0);
    pps_ledger_free(l);
    pps_ledger_free(NULL);
    pps_ledger_store_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_intent_outcome_rules, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_in_doubt_and_policies, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dele_syncs_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quit_makes_deletes_final, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keep_delivers_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_and_read_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_middle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_golden_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delivery_tag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_tmp_and_shared_folder, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failing_allocator_load, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_write_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction_on_free_and_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lock_same_process, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lock_between_processes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
