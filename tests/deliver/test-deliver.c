/*
 * test-deliver.c - the transaction every deliverer shares: argument and
 * state checks, statuses, the embedder's interface, the null deliverer,
 * Return-Path, and failing allocations.
 */
#include "../helpers/pps-test.h"

#include <stdio.h>
#include <sys/stat.h>

#include "core/internal.h"
#include "pps/deliver.h"
#include "pps/deliverer.h"
#include "pps/errors.h"

/* --- a custom deliverer that records what it was given ------------------ */

typedef struct recorder {
    char data[1024];
    size_t len;
    int begins, commits, aborts, frees;
    int fail_begin;      /* return this from begin */
    int fail_write;      /* return this from write */
    int leave_undecided; /* commit decides nobody */
    int refuse_first;    /* begin refuses recipient 0 permanently */
} recorder;

static int rec_begin(pps_deliverer_txn *txn, void *payload)
{
    recorder *r = payload;

    r->begins++;
    r->len = 0;
    if (r->refuse_first)
        assert_int_equal(pps_deliverer_txn_set(txn, 0, PPS_DELIVER_PERMFAIL,
                                               PPS_EPERM, 550, "no\x01such", 7),
                         0);
    if (r->fail_begin)
        return pps__error_set(r->fail_begin, "recorder: begin fails");
    return 0;
}

static int rec_write(pps_deliverer_txn *txn, const char *data, size_t len,
                     void *payload)
{
    recorder *r = payload;

    (void)txn;
    if (r->fail_write)
        return pps__error_set(r->fail_write, "recorder: write fails");
    assert_true(r->len + len <= sizeof(r->data));
    memcpy(r->data + r->len, data, len);
    r->len += len;
    return 0;
}

static int rec_commit(pps_deliverer_txn *txn, void *payload)
{
    recorder *r = payload;
    size_t i;

    r->commits++;
    if (r->leave_undecided)
        return 0;
    for (i = 0; i < pps_deliverer_txn_count(txn); i++)
        pps_deliverer_txn_set(txn, i, PPS_DELIVER_DELIVERED, PPS_OK, 250, "ok",
                              2);
    /* A second word on a decided recipient changes nothing. */
    assert_int_equal(pps_deliverer_txn_set(txn, 0, PPS_DELIVER_TEMPFAIL,
                                           PPS_ETEMP, 0, "late", 4),
                     PPS_EEXISTS);
    return 0;
}

static void rec_abort(pps_deliverer_txn *txn, void *payload)
{
    (void)txn;
    ((recorder *)payload)->aborts++;
}

static void rec_free(void *payload)
{
    ((recorder *)payload)->frees++;
}

static pps_deliverer_class rec_class = {
    .version = PPS_DELIVERER_CLASS_VERSION,
    .name = "recorder",
    .flags = PPS_DELIVERER_LF,
    .begin = rec_begin,
    .write = rec_write,
    .commit = rec_commit,
    .cancel = rec_abort,
    .free = rec_free,
};

static void test_custom_deliverer(void **state)
{
    const char *rcpts[] = {"alice@local.test", "bob@x.test"};
    const char *trace = "Received: x\r\n";
    recorder r;
    pps_deliver *d;
    const pps_deliver_status *st;
    size_t n;
    char buf[64];
    unsigned long long msgs, bytes;

    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(pps_deliver_new_custom(&d, &rec_class, &r), 0);
    st = pps_deliver_statuses(d, &n);
    assert_int_equal(n, 0);
    assert_int_equal(
        pps_deliver_begin(d, "s@r.test", rcpts, 2, trace, strlen(trace)), 0);
    /* The recipients, split; the sender. */
    assert_int_equal(pps_deliver_write(d, "A: b\r", 5), 0);
    assert_int_equal(pps_deliver_write(d, "\n\r\nbody\r\n", 9), 0);
    assert_int_equal(pps_deliver_commit(d), 0);
    assert_int_equal(r.len, strlen("Received: x\nA: b\n\nbody\n"));
    assert_memory_equal(r.data, "Received: x\nA: b\n\nbody\n", r.len);
    st = pps_deliver_statuses(d, &n);
    assert_int_equal(n, 2);
    assert_string_equal(st[1].recipient, "bob@x.test");
    assert_int_equal(st[1].outcome, PPS_DELIVER_DELIVERED);
    assert_int_equal(st[1].reply, 250);
    assert_string_equal(st[0].text, "ok");
    pps_deliver_counts(d, &msgs, &bytes);
    assert_int_equal(msgs, 1);
    assert_int_equal(bytes, 14); /* the caller's bytes, not the trace */
    assert_int_equal(pps_deliver_describe(d, buf, sizeof(buf)), 8);
    assert_string_equal(buf, "recorder");
    assert_int_equal(pps_deliver_user_exists(d, "x", "y"), 1);
    assert_int_equal(r.aborts, 0);

    /* Refused at begin, text made printable. */
    r.refuse_first = 1;
    assert_int_equal(pps_deliver_begin(d, "", rcpts, 1, NULL, 0), PPS_EPERM);
    st = pps_deliver_statuses(d, &n);
    assert_int_equal(st[0].outcome, PPS_DELIVER_PERMFAIL);
    assert_string_equal(st[0].text, "no?such");
    assert_int_equal(r.aborts, 1);
    r.refuse_first = 0;

    /* A failing begin: everyone temporary with its words. */
    r.fail_begin = PPS_ENET;
    assert_int_equal(pps_deliver_begin(d, "", rcpts, 2, NULL, 0), PPS_ETEMP);
    st = pps_deliver_statuses(d, &n);
    assert_int_equal(st[1].outcome, PPS_DELIVER_TEMPFAIL);
    assert_int_equal(st[1].code, PPS_ENET);
    assert_non_null(strstr(st[1].text, "begin fails"));
    r.fail_begin = 0;

    /* A failing write: the same, and the transaction is over. */
    r.fail_write = PPS_EPERM;
    assert_int_equal(pps_deliver_begin(d, "", rcpts, 2, NULL, 0), 0);
    assert_int_equal(pps_deliver_write(d, "x", 1), PPS_EPERM);
    assert_int_equal(pps_deliver_statuses(d, NULL)[0].outcome,
                     PPS_DELIVER_PERMFAIL);
    assert_int_equal(pps_deliver_write(d, "x", 1), PPS_EINVAL);
    assert_int_equal(pps_deliver_commit(d), PPS_EINVAL);
    r.fail_write = 0;

    /* A deliverer that forgets someone: temporary, never lost. */
    r.leave_undecided = 1;
    assert_int_equal(pps_deliver_begin(d, "", rcpts, 2, NULL, 0), 0);
    assert_int_equal(pps_deliver_commit(d), PPS_ETEMP);
    st = pps_deliver_statuses(d, NULL);
    assert_int_equal(st[0].outcome, PPS_DELIVER_TEMPFAIL);
    assert_non_null(strstr(st[0].text, "did not report"));
    assert_non_null(strstr(pps_error_last()->message, "2 of 2"));

    pps_deliver_free(d);
    assert_int_equal(r.frees, 1);
}

static void test_argument_checks(void **state)
{
    const char *good[] = {"alice@local.test"};
    const char *bad_rcpts[][1] = {{"alice"}, {"@local.test"}, {"alice@"},
                                  {"a b@x"}, {"<a@x>"},       {NULL}};
    pps_deliver_options o = PPS_DELIVER_OPTIONS_INIT;
    pps_deliver *d = NULL;
    size_t i;

    (void)state;
    assert_int_equal(pps_deliver_new(NULL, &o), PPS_EINVAL);
    assert_int_equal(pps_deliver_new(&d, NULL), PPS_EINVAL);
    o.version = 99;
    assert_int_equal(pps_deliver_new(&d, &o), PPS_EINVAL);
    pps_deliver_options_init(&o);
    assert_int_equal(pps_deliver_new(&d, &o), PPS_ECONFIG);
    o.method = "carrier-pigeon";
    assert_int_equal(pps_deliver_new(&d, &o), PPS_ECONFIG);
    assert_non_null(strstr(pps_error_last()->message, "carrier-pigeon"));
    assert_null(d);
    assert_int_equal(pps_deliver_new_custom(&d, NULL, NULL), PPS_EINVAL);

    o.method = "NULL"; /* methods are case-insensitive */
    assert_int_equal(pps_deliver_new(&d, &o), 0);
    for (i = 0; i < sizeof(bad_rcpts) / sizeof(bad_rcpts[0]); i++)
        if (pps_deliver_begin(d, "", bad_rcpts[i], 1, NULL, 0) != PPS_EINVAL)
            fail_msg("row %zu accepted", i);
    assert_int_equal(pps_deliver_begin(d, "", good, 0, NULL, 0), PPS_EINVAL);
    assert_int_equal(pps_deliver_begin(d, "a b@x", good, 1, NULL, 0),
                     PPS_EINVAL);
    assert_int_equal(pps_deliver_begin(d, "<a@x>", good, 1, NULL, 0),
                     PPS_EINVAL);
    assert_int_equal(pps_deliver_write(d, "x", 1), PPS_EINVAL);
    assert_int_equal(pps_deliver_commit(d), PPS_EINVAL);
    assert_int_equal(pps_deliver_begin(d, NULL, good, 1, NULL, 0), 0);
    assert_int_equal(pps_deliver_begin(d, NULL, good, 1, NULL, 0), PPS_EINVAL);
    pps_deliver_abort(d);
    pps_deliver_abort(d);
    pps_deliver_free(d);
    pps_deliver_free(NULL);
    pps_deliver_abort(NULL);
    assert_null(pps_deliver_statuses(NULL, &i));
    assert_int_equal(i, 0);
}

static void test_null_deliverer(void **state)
{
    const char *rcpts[] = {"a@x", "b@y"};
    pps_deliver_options o = PPS_DELIVER_OPTIONS_INIT;
    pps_deliver *d;
    unsigned long long msgs, bytes;
    char buf[64];
    int i;

    (void)state;
    o.method = "null";
    assert_int_equal(pps_deliver_new(&d, &o), 0);
    for (i = 0; i < 3; i++) {
        assert_int_equal(pps_deliver_begin(d, "", rcpts, 2, NULL, 0), 0);
        assert_int_equal(pps_deliver_write(d, "0123456789", 10), 0);
        assert_int_equal(pps_deliver_commit(d), 0);
    }
    assert_int_equal(pps_deliver_statuses(d, NULL)[1].outcome,
                     PPS_DELIVER_DELIVERED);
    pps_deliver_counts(d, &msgs, &bytes);
    assert_int_equal(msgs, 3);
    assert_int_equal(bytes, 30);
    assert_true(pps_deliver_describe(d, buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "null"));
    pps_deliver_free(d);
}

typedef struct rp_case {
    const char *value;
    int rc;
    const char *addr;
    size_t len; /* 0: strlen(value) */
} rp_case;

static const rp_case rp_cases[] = {
    {" <alice@example.com>", 17, "alice@example.com", 0},
    {"<alice@example.com>", 17, "alice@example.com", 0},
    {" <>", 0, "", 0},
    {"\r\n <bounce+x=y@lists.example.org>", 28, "bounce+x=y@lists.example.org",
     0},
    {" (comment) <a@b>", 3, "a@b", 0},
    {" <\"a>b\"@x>", 7, "\"a>b\"@x", 0},
    {" <@relay.example:user@host>", 9, "user@host", 0},
    {" < a@b >", 3, "a@b", 0},
    {" alice@example.com", PPS_ENOTFOUND, "", 0},
    {"", PPS_ENOTFOUND, "", 0},
    {" <alice@example.com", PPS_ENOTFOUND, "", 0},
    {" <a\r\n@b>", PPS_EPROTO, "", 0},
    {" <a\0b>", PPS_EPROTO, "", 6},
};

static void test_return_path(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rp_cases) / sizeof(rp_cases[0]); i++) {
        const rp_case *c = &rp_cases[i];
        size_t len = c->len ? c->len : strlen(c->value);
        char *v = pps_test_exact_copy(c->value, len);
        char buf[257];
        int rc = pps_deliver_return_path(buf, sizeof(buf), v, len);
        if (rc != c->rc || (rc >= 0 && strcmp(buf, c->addr) != 0))
            fail_msg("row %zu: rc %d \"%s\"", i, rc, buf);
        free(v);
    }
    {
        char small[4];
        assert_int_equal(
            pps_deliver_return_path(small, sizeof(small), "<abcd@e>", 8),
            PPS_ETOOBIG);
        assert_string_equal(small, "");
    }
}

/* The same for Maildir: real files, every path through begin/commit. */
static void test_alloc_failures_maildir(void **state)
{
    char root[64], path[160], tmpl[128];
    const char *rcpts[] = {"alice@local.test", "bob@local.test",
                           "carol@local.test"};
    long n;
    int done = 0;

    (void)state;
    snprintf(root, sizeof(root), "/tmp/pps-alloc-XXXXXX");
    assert_non_null(mkdtemp(root));
    snprintf(path, sizeof(path), "%s/alice", root);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/bob", root);
    mkdir(path, 0700);
    snprintf(tmpl, sizeof(tmpl), "%s/%%u", root);
    for (n = 0; n < 200 && !done; n++) {
        pps_deliver_options o = PPS_DELIVER_OPTIONS_INIT;
        pps_deliver *d = NULL;
        int rc;
        o.method = "maildir";
        o.path = tmpl;
        pps__alloc_fail_after(n);
        rc = pps_deliver_new(&d, &o);
        if (rc == 0) {
            rc = pps_deliver_begin(d, "s@x", rcpts, 3, NULL, 0);
            if (rc == 0)
                rc = pps_deliver_write(d, "A: b\r\n\r\nc\r\n", 11);
            if (rc == 0)
                rc = pps_deliver_commit(d);
            /* carol has no folder: EPERM is the full success here. */
            done =
                rc == PPS_EPERM && pps_deliver_statuses(d, NULL)[1].outcome ==
                                       PPS_DELIVER_DELIVERED;
        }
        pps__alloc_fail_after(-1);
        if (!done && rc != PPS_ENOMEM && rc != PPS_ETEMP)
            fail_msg("failing allocation %ld: rc %d: %s", n, rc,
                     pps_error_last()->message);
        pps_deliver_free(d);
    }
    assert_true(done);
    snprintf(path, sizeof(path), "rm -rf '%s'", root);
    assert_int_equal(system(path), 0);
}

/* Every allocation failing in turn: clean errors, no leaks (ASan). */
static void test_alloc_failures(void **state)
{
    const char *rcpts[] = {"alice@local.test", "bob@local.test"};
    long n;
    int done = 0;

    (void)state;
    for (n = 0; n < 100 && !done; n++) {
        pps_deliver_options o = PPS_DELIVER_OPTIONS_INIT;
        pps_deliver *d = NULL;
        int rc;
        o.method = "null";
        pps__alloc_fail_after(n);
        rc = pps_deliver_new(&d, &o);
        if (rc == 0) {
            rc = pps_deliver_begin(d, "s@x", rcpts, 2, "R: x\r\n", 6);
            if (rc == 0)
                rc = pps_deliver_commit(d);
            done = rc == 0;
        }
        pps__alloc_fail_after(-1);
        if (!done && rc != PPS_ENOMEM)
            fail_msg("failing allocation %ld: rc %d", n, rc);
        pps_deliver_free(d);
    }
    assert_true(done);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_custom_deliverer),
        cmocka_unit_test(test_argument_checks),
        cmocka_unit_test(test_null_deliverer),
        cmocka_unit_test(test_return_path),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_alloc_failures_maildir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
