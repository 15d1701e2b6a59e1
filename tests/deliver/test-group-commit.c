/*
 * test-group-commit.c - staging and flushing (pps_deliver_commit_staged,
 * pps_deliver_flush): nothing visible before the flush, everything after
 * it, in staging order; one fsync per file and per folder for a batch;
 * every sync failure leaves
 * no visible copy and a temporary failure; a discarded batch leaves
 * nothing; deliverers that cannot stage commit as usual.
 */
#include "../helpers/pps-test.h"
#define MAILDIR_FIXTURE_PREFIX "pps-group"
#include "maildir-fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliver/deliver-int.h"
#include "pps/deliver.h"
#include "pps/errors.h"

#define MSG "Subject: hi\r\n\r\nbody\r\n"
#define TAG "0123456789abcdef0123456789abcdef"

/* Stage one message for rcpts[0..n), tagged when tag is set; returns
 * commit_staged's result. */
static int stage(pps_deliver *d, const char *const *rcpts, size_t n,
                 const char *tag)
{
    const char *tags[3] = {tag, tag, tag};

    assert_int_equal(
        pps_deliver_begin_tagged(d, "", rcpts, tag ? tags : NULL, n, NULL, 0),
        0);
    assert_int_equal(pps_deliver_write(d, MSG, strlen(MSG)), 0);
    return pps_deliver_commit_staged(d);
}

/* What the flush callback saw. */
typedef struct seen {
    size_t calls;
    size_t index[8];
    pps_deliver_outcome first[8]; /* outcome of recipient 0 */
    size_t count[8];
} seen;

static void on_flushed(size_t index, const pps_deliver_status *st, size_t count,
                       void *payload)
{
    seen *s = payload;

    if (s->calls < 8) {
        s->index[s->calls] = index;
        s->first[s->calls] = st[0].outcome;
        s->count[s->calls] = count;
    }
    s->calls++;
}

static void test_nothing_visible_before_the_flush(void **state)
{
    const char *both[] = {"alice@local.test", "bob@local.test"};
    const char *with_missing[] = {"alice@local.test", "carol@local.test"};
    const pps_deliver_status *st;
    pps_deliver *d = new_maildir(fixture_tmpl);
    seen s = {0};
    size_t n;

    (void)state;
    assert_int_equal(pps_deliver_can_stage(d), 1);
    assert_int_equal(stage(d, both, 2, TAG), 0);
    st = pps_deliver_statuses(d, &n);
    assert_int_equal(n, 2);
    assert_int_equal(st[0].outcome, PPS_DELIVER_STAGED);
    assert_int_equal(st[1].outcome, PPS_DELIVER_STAGED);
    /* carol has no Maildir: refused now, alice staged. */
    assert_int_equal(stage(d, with_missing, 2, NULL), PPS_EPERM);
    st = pps_deliver_statuses(d, NULL);
    assert_int_equal(st[0].outcome, PPS_DELIVER_STAGED);
    assert_int_equal(st[1].outcome, PPS_DELIVER_PERMFAIL);
    assert_int_equal(stage(d, both + 1, 1, NULL), 0);
    assert_int_equal(pps_deliver_staged_count(d), 3);

    /* Staged: in tmp/ only, where no reader looks. */
    assert_int_equal(names_in("alice", "new"), 0);
    assert_int_equal(names_in("bob", "new"), 0);
    assert_int_equal(names_in("alice", "tmp"), 2);
    assert_int_equal(names_in("bob", "tmp"), 1);
    assert_true(pps_deliver_find(d, "alice@local.test", TAG) == 0);

    assert_int_equal(pps_deliver_flush(d, on_flushed, &s), 0);
    assert_int_equal(s.calls, 3);
    assert_int_equal(s.index[0], 0);
    assert_int_equal(s.index[1], 1);
    assert_int_equal(s.index[2], 2);
    assert_int_equal(s.count[0], 2);
    assert_int_equal(s.count[1], 2);
    assert_int_equal(s.first[0], PPS_DELIVER_DELIVERED);
    assert_int_equal(s.first[1], PPS_DELIVER_DELIVERED);
    assert_int_equal(s.first[2], PPS_DELIVER_DELIVERED);
    /* The statuses of the last transaction are final too. */
    st = pps_deliver_statuses(d, NULL);
    assert_int_equal(st[0].outcome, PPS_DELIVER_DELIVERED);

    assert_int_equal(names_in("alice", "new"), 2);
    assert_int_equal(names_in("bob", "new"), 2);
    assert_int_equal(names_in("alice", "tmp"), 0);
    assert_int_equal(names_in("bob", "tmp"), 0);
    assert_int_equal(pps_deliver_find(d, "alice@local.test", TAG), 1);
    assert_int_equal(pps_deliver_find(d, "bob@local.test", TAG), 1);
    assert_int_equal(pps_deliver_staged_count(d), 0);
    /* A second flush has nothing to do. */
    s.calls = 0;
    assert_int_equal(pps_deliver_flush(d, on_flushed, &s), 0);
    assert_int_equal(s.calls, 0);
    pps_deliver_free(d);
}

/* --- sync failures ------------------------------------------------------ */

static int fsync_calls, fail_fsync_at;

static int counting_fsync(int fd)
{
    if (++fsync_calls == fail_fsync_at) {
        errno = EIO;
        return -1;
    }
    return fsync(fd);
}

static const pps__deliver_io per_file_io = {write, counting_fsync};

static void stage_three(pps_deliver *d)
{
    const char *both[] = {"alice@local.test", "bob@local.test"};
    int i;

    for (i = 0; i < 3; i++)
        assert_int_equal(stage(d, both, 2, NULL), 0);
}

/* A batch of three messages for two users: one fsync per file, then one
 * per new/ folder (not one per message and recipient). */
static void test_one_fsync_per_file_and_folder(void **state)
{
    pps_deliver *d = new_maildir(fixture_tmpl);

    (void)state;
    fsync_calls = fail_fsync_at = 0;
    pps__deliver_io_set(&per_file_io);
    stage_three(d);
    assert_int_equal(fsync_calls, 0); /* staging syncs nothing */
    assert_int_equal(pps_deliver_flush(d, NULL, NULL), 0);
    pps__deliver_io_set(NULL);
    assert_int_equal(fsync_calls, 5); /* 3 files, alice's and bob's new/ */
    assert_int_equal(names_in("alice", "new"), 3);
    assert_int_equal(names_in("bob", "new"), 3);
    pps_deliver_free(d);
}

/*
 * fsyncs 1-3 are the three files, 4 bob's new/, 5
 * alice's new/ (each recipient's names are made before the folder
 * fsyncs, the primary's last).  A failed file fsync fails that message;
 * a failed folder fsync fails every name in that folder, and those names
 * are gone again.
 */
static void test_each_failing_fsync_of_a_batch(void **state)
{
    int at;

    (void)state;
    for (at = 1; at <= 6; at++) {
        pps_deliver *d = new_maildir(fixture_tmpl);
        int err;
        char dir[256];

        user_dir(dir, sizeof(dir), "alice", NULL);
        rm_rf(dir);
        mkdirs(dir);
        user_dir(dir, sizeof(dir), "bob", NULL);
        rm_rf(dir);
        mkdirs(dir);
        fsync_calls = 0;
        fail_fsync_at = at;
        pps__deliver_io_set(&per_file_io);
        stage_three(d);
        err = pps_deliver_flush(d, NULL, NULL);
        pps__deliver_io_set(NULL);
        if (at <= 3) { /* one message's file: the other two delivered */
            assert_int_equal(err, PPS_EIO);
            assert_int_equal(names_in("alice", "new"), 2);
            assert_int_equal(names_in("bob", "new"), 2);
        } else if (at <= 5) { /* one folder: its three names removed */
            assert_int_equal(err, PPS_EIO);
            assert_int_equal(names_in("alice", "new"), at == 5 ? 0 : 3);
            assert_int_equal(names_in("bob", "new"), at == 4 ? 0 : 3);
        } else { /* no sixth fsync: all delivered */
            assert_int_equal(err, 0);
            assert_int_equal(fsync_calls, 5);
            assert_int_equal(names_in("alice", "new"), 3);
            assert_int_equal(names_in("bob", "new"), 3);
        }
        assert_int_equal(names_in("alice", "tmp"), 0);
        assert_int_equal(names_in("bob", "tmp"), 0);
        pps_deliver_free(d);
    }
}

/* Freeing (or discarding) a deliverer with a staged batch delivers
 * nothing and leaves no file behind. */
static void test_discard_leaves_nothing(void **state)
{
    const pps_deliver_status *st;
    pps_deliver *d = new_maildir(fixture_tmpl);

    (void)state;
    stage_three(d);
    pps_deliver_discard_staged(d);
    assert_int_equal(pps_deliver_staged_count(d), 0);
    st = pps_deliver_statuses(d, NULL);
    assert_int_equal(st[0].outcome, PPS_DELIVER_TEMPFAIL);
    assert_int_equal(st[0].code, PPS_EABORTED);
    assert_int_equal(names_in("alice", "tmp"), 0);
    assert_int_equal(pps_deliver_flush(d, NULL, NULL), 0);

    stage_three(d);
    pps_deliver_free(d);
    assert_int_equal(names_in("alice", "tmp"), 0);
    assert_int_equal(names_in("bob", "tmp"), 0);
    assert_int_equal(names_in("alice", "new"), 0);
}

/* A flush while a transaction is open is refused; the open one is not
 * part of the batch. */
static void test_flush_refused_while_open(void **state)
{
    const char *alice[] = {"alice@local.test"};
    pps_deliver *d = new_maildir(fixture_tmpl);

    (void)state;
    assert_int_equal(stage(d, alice, 1, NULL), 0);
    assert_int_equal(pps_deliver_begin(d, "", alice, 1, NULL, 0), 0);
    assert_int_equal(pps_deliver_flush(d, NULL, NULL), PPS_EINVAL);
    assert_int_equal(pps_deliver_commit(d), 0); /* on its own */
    assert_int_equal(names_in("alice", "new"), 1);
    assert_int_equal(pps_deliver_flush(d, NULL, NULL), 0);
    assert_int_equal(names_in("alice", "new"), 2);
    pps_deliver_free(d);
}

/* A deliverer that cannot stage commits at once and never says STAGED. */
static void test_others_commit_at_once(void **state)
{
    const char *alice[] = {"alice@local.test"};
    pps_deliver_options o = PPS_DELIVER_OPTIONS_INIT;
    const pps_deliver_status *st;
    pps_deliver *d = NULL;

    (void)state;
    o.method = "null";
    assert_int_equal(pps_deliver_new(&d, &o), 0);
    assert_int_equal(pps_deliver_can_stage(d), 0);
    assert_int_equal(stage(d, alice, 1, NULL), 0);
    st = pps_deliver_statuses(d, NULL);
    assert_int_equal(st[0].outcome, PPS_DELIVER_DELIVERED);
    assert_int_equal(pps_deliver_staged_count(d), 0);
    assert_int_equal(pps_deliver_flush(d, NULL, NULL), 0);
    pps_deliver_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nothing_visible_before_the_flush,
                                        fixture_up, fixture_down),
        cmocka_unit_test_setup_teardown(test_one_fsync_per_file_and_folder,
                                        fixture_up, fixture_down),
        cmocka_unit_test_setup_teardown(test_each_failing_fsync_of_a_batch,
                                        fixture_up, fixture_down),
        cmocka_unit_test_setup_teardown(test_discard_leaves_nothing, fixture_up,
                                        fixture_down),
        cmocka_unit_test_setup_teardown(test_flush_refused_while_open,
                                        fixture_up, fixture_down),
        cmocka_unit_test_setup_teardown(test_others_commit_at_once, fixture_up,
                                        fixture_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
