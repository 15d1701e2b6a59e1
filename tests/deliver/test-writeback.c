/*
 * test-writeback.c - the write-back thread of a long Maildir batch
 * (libpps/deliver/writeback.c): every descriptor handed over is closed by
 * the drain (and by stop, without a drain); through pps_deliver, the
 * thread runs only within a batch of 16 staged messages or more, ends at
 * the flush, the discard and the free, and a failed fsync of one file of
 * such a batch fails exactly that message, nothing of it left anywhere.
 */
#include "../helpers/pps-test.h"
#define MAILDIR_FIXTURE_PREFIX "pps-writeback"
#include "maildir-fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliver/writeback.h"

#define MSG "Subject: hi\r\n\r\nbody\r\n"

/* The batch size that starts the thread (MAILDIR_WRITEBACK_AFTER in
 * libpps/deliver/maildir.c), and a longer batch. */
#define THREAD_AFTER 16
#define LONG_BATCH   40

/* More than the thread's ring of 32: handing over waits for room. */
#define HANDED 100

/* n written files in alice's folder, their descriptors in fds. */
static void open_files(int *fds, int n)
{
    char dir[256], path[400];
    int i;

    user_dir(dir, sizeof(dir), "alice", NULL);
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/f%d", dir, i);
        fds[i] = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fds[i] >= 0);
        assert_int_equal(write(fds[i], MSG, strlen(MSG)), (ssize_t)strlen(MSG));
    }
}

static void assert_all_closed(const int *fds, int n)
{
    int i;

    for (i = 0; i < n; i++)
        if (fcntl(fds[i], F_GETFD) != -1 || errno != EBADF)
            fail_msg("descriptor %d (file %d) is still open", fds[i], i);
}

static void test_drain_closes_every_handed_fd(void **state)
{
    pps__writeback *w = NULL;
    int fds[HANDED], during, i;

    (void)state;
    open_files(fds, HANDED);
    assert_int_equal(pps__writeback_start(&w), 0);
    during = pps_test_count_threads();
    for (i = 0; i < HANDED; i++)
        pps__writeback_hand(w, fds[i]);
    pps__writeback_drain(w);
    assert_all_closed(fds, HANDED);
    pps__writeback_stop(w);
    assert_int_equal(pps_test_count_threads(),
                     during - 1); /* the thread ended */
    assert_int_equal(names_in("alice", NULL), HANDED);
}

static void test_stop_closes_what_is_left(void **state)
{
    pps__writeback *w = NULL;
    int fds[HANDED], i;

    (void)state;
    open_files(fds, HANDED);
    assert_int_equal(pps__writeback_start(&w), 0);
    for (i = 0; i < HANDED; i++)
        pps__writeback_hand(w, fds[i]);
    pps__writeback_stop(w); /* no drain first */
    assert_all_closed(fds, HANDED);
    pps__writeback_drain(NULL); /* allowed, does nothing */
    pps__writeback_stop(NULL);
}

/* Stage n messages for alice; the thread count after each is checked
 * against base (no thread before the THREAD_AFTER-th, one after). */
static void stage_batch(pps_deliver *d, int n, int base)
{
    const char *alice[] = {"alice@local.test"};
    size_t staged = pps_deliver_staged_count(d);
    int i;

    for (i = 0; i < n; i++) {
        assert_int_equal(pps_deliver_begin(d, "", alice, 1, NULL, 0), 0);
        assert_int_equal(pps_deliver_write(d, MSG, strlen(MSG)), 0);
        assert_int_equal(pps_deliver_commit_staged(d), 0);
        staged++;
        assert_int_equal(pps_test_count_threads(),
                         base + (staged >= THREAD_AFTER ? 1 : 0));
    }
}

typedef struct outcomes {
    int delivered, tempfail;
    char text[256];
} outcomes;

static void count_outcomes(size_t index, const pps_deliver_status *st,
                           size_t count, void *payload)
{
    outcomes *o = payload;

    (void)index;
    assert_int_equal(count, 1);
    if (st[0].outcome == PPS_DELIVER_DELIVERED)
        o->delivered++;
    if (st[0].outcome == PPS_DELIVER_TEMPFAIL) {
        o->tempfail++;
        snprintf(o->text, sizeof(o->text), "%s", st[0].text);
    }
}

static void test_thread_lives_within_a_long_batch(void **state)
{
    pps_deliver *d = new_maildir(fixture_tmpl);
    int base =
        pps_test_count_threads(); /* 1, or more with a sanitizer's own thread */
    outcomes o = {0};

    (void)state;
    stage_batch(d, LONG_BATCH, base);
    assert_int_equal(names_in("alice", "new"), 0);
    assert_int_equal(pps_deliver_flush(d, count_outcomes, &o), 0);
    assert_int_equal(pps_test_count_threads(), base);
    assert_int_equal(o.delivered, LONG_BATCH);
    assert_int_equal(names_in("alice", "new"), LONG_BATCH);
    assert_int_equal(names_in("alice", "tmp"), 0);
    /* The next batch starts its own; a short one none. */
    stage_batch(d, LONG_BATCH, base);
    assert_int_equal(pps_deliver_flush(d, NULL, NULL), 0);
    stage_batch(d, THREAD_AFTER - 1, base);
    assert_int_equal(pps_deliver_flush(d, NULL, NULL), 0);
    assert_int_equal(names_in("alice", "new"),
                     2 * LONG_BATCH + THREAD_AFTER - 1);
    assert_int_equal(names_in("alice", "tmp"), 0);
    pps_deliver_free(d);
}

static void test_discard_and_free_end_the_thread(void **state)
{
    pps_deliver *d = new_maildir(fixture_tmpl);
    int base = pps_test_count_threads();

    (void)state;
    stage_batch(d, LONG_BATCH, base);
    pps_deliver_discard_staged(d);
    assert_int_equal(pps_test_count_threads(), base);
    assert_int_equal(names_in("alice", "new"), 0);
    assert_int_equal(names_in("alice", "tmp"), 0);
    stage_batch(d, LONG_BATCH, base);
    pps_deliver_free(d);
    assert_int_equal(pps_test_count_threads(), base);
    assert_int_equal(names_in("alice", "new"), 0);
    assert_int_equal(names_in("alice", "tmp"), 0);
}

/* The flush's fsync number fail_at (1 = the first file) fails.  Atomic:
 * a long batch's fsyncs run on several threads (sync-many.c). */
static atomic_int fsync_calls;
static int fail_at;

static int failing_fsync(int fd)
{
    if (atomic_fetch_add(&fsync_calls, 1) + 1 == fail_at) {
        errno = EIO;
        return -1;
    }
    return fsync(fd);
}

static const pps__deliver_io failing_io = {write, failing_fsync};

static void test_failed_fsync_in_a_long_batch(void **state)
{
    pps_deliver *d = new_maildir(fixture_tmpl);
    outcomes o = {0};

    (void)state;
    /* File 30 was closed by the thread; its fsync at the flush fails. */
    stage_batch(d, LONG_BATCH, pps_test_count_threads());
    atomic_store(&fsync_calls, 0);
    fail_at = 30;
    pps__deliver_io_set(&failing_io);
    assert_int_equal(pps_deliver_flush(d, count_outcomes, &o), PPS_EIO);
    pps__deliver_io_set(NULL);
    assert_int_equal(o.tempfail, 1);
    assert_int_equal(o.delivered, LONG_BATCH - 1);
    assert_non_null(strstr(o.text, "cannot sync"));
    assert_non_null(strstr(o.text, "Input/output error"));
    assert_int_equal(names_in("alice", "new"), LONG_BATCH - 1);
    assert_int_equal(names_in("alice", "tmp"), 0);
    pps_deliver_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_drain_closes_every_handed_fd,
                                        fixture_up, fixture_down),
        cmocka_unit_test_setup_teardown(test_stop_closes_what_is_left,
                                        fixture_up, fixture_down),
        cmocka_unit_test_setup_teardown(test_thread_lives_within_a_long_batch,
                                        fixture_up, fixture_down),
        cmocka_unit_test_setup_teardown(test_discard_and_free_end_the_thread,
                                        fixture_up, fixture_down),
        cmocka_unit_test_setup_teardown(test_failed_fsync_in_a_long_batch,
                                        fixture_up, fixture_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
