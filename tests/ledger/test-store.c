/*
 * test-store.c - the ledger on a store that is not files.
 *
 * A small in-memory store written only against <pps/ledger_store.h>, as a
 * PostgreSQL store would be: it proves the ledger assumes nothing about
 * files, and lets a "crash" drop exactly the records not yet synced.
 */
#include "../helpers/pps-test.h"

#include <stdio.h>

#include "pps/errors.h"
#include "pps/ledger.h"
#include "pps/ledger_store.h"

typedef struct mrec {
    pps_ledger_record r;
    char uid[300], rcpt[300];
    pps_ledger_status st;
} mrec;

typedef struct mbox {
    char host[300], user[300];
    mrec *recs;
    size_t n, durable;
    mrec *next; /* during a rewrite */
    size_t next_n;
    int locked;
} mbox;

typedef struct mstore {
    pps_ledger_store *store; /* what pps_ledger_open gets */
    mbox boxes[4];
    int nboxes;
    int syncs;
    int fail_sync;
} mstore;

static void copy_rec(mrec *to, const pps_ledger_record *rec)
{
    memset(to, 0, sizeof(*to));
    to->r = *rec;
    if (rec->uid) {
        snprintf(to->uid, sizeof(to->uid), "%s", rec->uid);
        to->r.uid = to->uid;
    }
    if (rec->rcpt) {
        snprintf(to->rcpt, sizeof(to->rcpt), "%s", rec->rcpt);
        to->r.rcpt = to->rcpt;
    }
    if (rec->status) {
        to->st = *rec->status;
        to->r.status = &to->st;
    }
}

static void push(mrec **list, size_t *n, const pps_ledger_record *rec)
{
    /* Grow by powers of two; a move invalidates the records' pointers
     * into themselves, so re-point them then. */
    if ((*n & (*n - 1)) == 0 || *n == 0) {
        size_t cap = *n ? *n * 2 : 1;
        mrec *grown = realloc(*list, cap * sizeof(**list));

        assert_non_null(grown);
        *list = grown;
        for (size_t i = 0; i < *n; i++) {
            mrec *m = &(*list)[i];
            if (m->r.uid)
                m->r.uid = m->uid;
            if (m->r.rcpt)
                m->r.rcpt = m->rcpt;
            if (m->r.status)
                m->r.status = &m->st;
        }
    }
    copy_rec(&(*list)[*n], rec);
    (*n)++;
}

typedef struct handle {
    mbox *box;
    int read_only;
} handle;

static int m_open(void **out, const char *host, const char *user,
                  const pps_ledger_options *opts, void *payload)
{
    mstore *s = payload;
    mbox *b = NULL;
    handle *h;

    for (int i = 0; i < s->nboxes; i++) {
        if (!strcmp(s->boxes[i].host, host) && !strcmp(s->boxes[i].user, user))
            b = &s->boxes[i];
    }
    if (!b) {
        if (opts->read_only)
            return PPS_ENOTFOUND;
        b = &s->boxes[s->nboxes++];
        snprintf(b->host, sizeof(b->host), "%s", host);
        snprintf(b->user, sizeof(b->user), "%s", user);
    }
    if (!opts->read_only) {
        if (b->locked)
            return PPS_ETEMP; /* no detail: the ledger names the store */
        b->locked = 1;
    }
    h = calloc(1, sizeof(*h));
    assert_non_null(h);
    h->box = b;
    h->read_only = opts->read_only;
    *out = h;
    return 0;
}

static int m_load(void *mb, pps_ledger_record_cb each, void *arg, void *payload)
{
    handle *h = mb;
    int err;

    (void)payload;
    for (size_t i = 0; i < h->box->n; i++) {
        if ((err = each(&h->box->recs[i].r, arg)) < 0)
            return err;
    }
    return 0;
}

static int m_append(void *mb, const pps_ledger_record *rec, void *payload)
{
    handle *h = mb;

    (void)payload;
    push(&h->box->recs, &h->box->n, rec);
    return 0;
}

static int m_sync(void *mb, void *payload)
{
    handle *h = mb;
    mstore *s = payload;

    s->syncs++;
    if (s->fail_sync)
        return PPS_EIO;
    h->box->durable = h->box->n;
    return 0;
}

static int m_rewrite_begin(void *mb, void *payload)
{
    handle *h = mb;

    (void)payload;
    h->box->next = NULL;
    h->box->next_n = 0;
    return 0;
}

static int m_rewrite_add(void *mb, const pps_ledger_record *rec, void *payload)
{
    handle *h = mb;

    (void)payload;
    push(&h->box->next, &h->box->next_n, rec);
    return 0;
}

static int m_rewrite_end(void *mb, int commit, void *payload)
{
    handle *h = mb;

    (void)payload;
    if (commit) {
        free(h->box->recs);
        h->box->recs = h->box->next;
        h->box->n = h->box->durable = h->box->next_n;
    } else {
        free(h->box->next);
    }
    h->box->next = NULL;
    h->box->next_n = 0;
    return 0;
}

static void m_close(void *mb, void *payload)
{
    handle *h = mb;

    (void)payload;
    if (!h->read_only)
        h->box->locked = 0;
    free(h);
}

static const pps_ledger_store_ops memory_ops = {
    PPS_LEDGER_STORE_OPS_VERSION,
    "memory",
    m_open,
    m_load,
    m_append,
    m_sync,
    m_rewrite_begin,
    m_rewrite_add,
    m_rewrite_end,
    m_close,
    NULL, /* the test frees the payload itself */
};

static mstore *mstore_new(void)
{
    mstore *s = calloc(1, sizeof(*s));

    assert_non_null(s);
    assert_int_equal(pps_ledger_store_new(&s->store, &memory_ops, s), 0);
    return s;
}

static void mstore_free(mstore *s)
{
    pps_ledger_store_free(s->store);
    for (int i = 0; i < s->nboxes; i++)
        free(s->boxes[i].recs);
    free(s);
}

/* A crash: whatever was not synced is gone, and so is the lock. */
static void crash(mstore *s)
{
    for (int i = 0; i < s->nboxes; i++) {
        s->boxes[i].n = s->boxes[i].durable;
        s->boxes[i].locked = 0;
    }
}

static pps_ledger_message_state state_of(const pps_ledger *l, const char *uid)
{
    pps_ledger_message_info info;

    assert_int_equal(pps_ledger_message(&info, l, uid), 0);
    return info.state;
}

static void test_memory_store_round_trip(void **state)
{
    mstore *s = mstore_new();
    const char *a[] = {"a@l"};
    pps_ledger *l = NULL, *m = NULL;

    (void)state;
    assert_int_equal(
        pps_ledger_open(&l, s->store, "Pop.Example.com", "joe", NULL), 0);
    /* The store sees the host in lower case. */
    assert_string_equal(s->boxes[0].host, "pop.example.com");
    assert_int_equal(pps_ledger_intend(l, "u1", a, 1), 0);
    assert_int_equal(pps_ledger_delivered(l, "u1", "a@l"), 0);
    assert_int_equal(pps_ledger_complete(l, "u1"), 0);
    /* Locked: the store's refusal, named by the ledger. */
    assert_int_equal(
        pps_ledger_open(&m, s->store, "pop.example.com", "joe", NULL),
        PPS_ETEMP);
    assert_non_null(strstr(pps_error_last()->message, "store \"memory\""));
    pps_ledger_free(l);
    assert_int_equal(
        pps_ledger_open(&l, s->store, "pop.example.com", "joe", NULL), 0);
    assert_int_equal(state_of(l, "u1"), PPS_LEDGER_COMPLETE);
    pps_ledger_free(l);
    mstore_free(s);
}

/* Invariant 1 at the interface: what allows the DELE is synced first. */
static void test_memory_store_crash_before_and_after_dele(void **state)
{
    mstore *s = mstore_new();
    const char *a[] = {"a@l"};
    pps_ledger *l = NULL;

    (void)state;
    assert_int_equal(pps_ledger_open(&l, s->store, "h", "u", NULL), 0);
    assert_int_equal(pps_ledger_intend(l, "u1", a, 1), 0);
    assert_int_equal(pps_ledger_delivered(l, "u1", "a@l"), 0);
    assert_int_equal(pps_ledger_complete(l, "u1"), 0);
    crash(s); /* before any DELE: D and C were not synced */
    assert_int_equal(s->boxes[0].n, 1); /* only the intent survived */
    pps_ledger_free(l); /* the dead process's handle: nothing to add */
    assert_int_equal(pps_ledger_open(&l, s->store, "h", "u", NULL), 0);
    assert_int_equal(state_of(l, "u1"), PPS_LEDGER_PARTIAL); /* in doubt */
    assert_int_equal(
        pps_ledger_resolve_in_doubt(l, "u1", PPS_LEDGER_AT_MOST_ONCE), 1);
    assert_int_equal(pps_ledger_complete(l, "u1"), 0);
    assert_int_equal(pps_ledger_dele_sent(l, "u1"), 0);
    crash(s); /* right after the DELE left */
    pps_ledger_free(l);
    /* The records that allowed the DELE survived the crash. */
    assert_int_equal(pps_ledger_open(&l, s->store, "h", "u", NULL), 0);
    assert_true(state_of(l, "u1") >= PPS_LEDGER_COMPLETE);
    /* A failing COMMIT refuses the DELE and poisons the handle. */
    assert_int_equal(pps_ledger_intend(l, "u2", a, 1), 0);
    assert_int_equal(pps_ledger_delivered(l, "u2", "a@l"), 0);
    assert_int_equal(pps_ledger_complete(l, "u2"), 0);
    s->fail_sync = 1;
    assert_int_equal(pps_ledger_dele_sent(l, "u2"), PPS_EIO);
    assert_int_equal(pps_ledger_quit_ok(l), PPS_EIO);
    pps_ledger_free(l);
    s->fail_sync = 0;
    mstore_free(s);
}

static void test_memory_store_compaction(void **state)
{
    mstore *s = mstore_new();
    const char *a[] = {"a@l"};
    const char *keep[] = {"m0"};
    pps_ledger *l = NULL;

    (void)state;
    assert_int_equal(pps_ledger_open(&l, s->store, "h", "u", NULL), 0);
    for (int i = 0; i < 600; i++) {
        char uid[16];
        snprintf(uid, sizeof(uid), "m%d", i);
        assert_int_equal(pps_ledger_intend(l, uid, a, 1), 0);
        assert_int_equal(pps_ledger_delivered(l, uid, "a@l"), 0);
        assert_int_equal(pps_ledger_complete(l, uid), 0);
    }
    assert_int_equal(s->boxes[0].n, 1800);
    assert_int_equal(pps_ledger_prune(l, keep, 1), 599);
    /* 1800 + 599 records for 2 live ones: rewritten through the slots. */
    assert_int_equal(s->boxes[0].n, 2);
    pps_ledger_free(l);
    assert_int_equal(pps_ledger_open(&l, s->store, "h", "u", NULL), 0);
    assert_int_equal(state_of(l, "m0"), PPS_LEDGER_COMPLETE);
    assert_int_equal(pps_ledger_message_count(l), 1);
    pps_ledger_free(l);
    mstore_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_store_round_trip),
        cmocka_unit_test(test_memory_store_crash_before_and_after_dele),
        cmocka_unit_test(test_memory_store_compaction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
