/*
 * test-maildir-worker.c - the Maildir deliverer's worker thread
 * (libpps/deliver/maildir-worker.c): the files it makes ahead are fresh,
 * empty and writable, and removed when it stops; its queued fsyncs report
 * each file's own result; and through pps_deliver, a long run of staged
 * messages into one folder starts it, a failed fsync on it fails exactly
 * that message, and neither a flush, a discard, an idle nor a free leaves
 * a stray file in tmp/.
 */
#include "../helpers/pps-test.h"
#include "maildir-fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliver/deliver-int.h"
#include "deliver/maildir-worker.h"
#include "pps/deliver.h"
#include "pps/errors.h"

#define MSG "Subject: hi\r\n\r\nbody\r\n"

/* The run of staged messages into one folder that starts the worker
 * (MAILDIR_WORKER_AFTER in libpps/deliver/maildir.c), and a longer one. */
#define MAILDIR_RUN 16
#define LONG_RUN    40

static int setup(void **state)
{
    (void)state;
    fixture_setup("pps-worker");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pps__deliver_io_set(NULL);
    rm_rf(fixture_root);
    return 0;
}

/* Names in alice's sub-folder `sub`; *empty gets how many are empty. */
static int files_in(const char *sub, int *empty)
{
    char dir[256], path[600];
    struct dirent *e;
    struct stat st;
    DIR *d;
    int n = 0;

    user_dir(dir, sizeof(dir), "alice", sub);
    if (empty)
        *empty = 0;
    if (!(d = opendir(dir)))
        return -1;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        n++;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (empty && stat(path, &st) == 0 && st.st_size == 0)
            (*empty)++;
    }
    closedir(d);
    return n;
}

static pps__maildir_worker *start_worker(void)
{
    pps__maildir_worker *w = NULL;
    char dir[256];
    struct stat st;

    user_dir(dir, sizeof(dir), "alice", NULL);
    mkdirs(dir);
    user_dir(dir, sizeof(dir), "alice", "tmp");
    mkdirs(dir);
    user_dir(dir, sizeof(dir), "alice", NULL);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(pps__maildir_worker_start(&w, dir, &st), 0);
    assert_string_equal(pps__maildir_worker_dir(w), dir);
    return w;
}

static void test_made_files_are_fresh_and_removed_at_stop(void **state)
{
    pps__maildir_worker *w = start_worker();
    pps__durable f[3];
    char tmp[256];
    struct stat st;
    int i, empty;

    (void)state;
    user_dir(tmp, sizeof(tmp), "alice", "tmp");
    for (i = 0; i < 3; i++) {
        assert_int_equal(pps__maildir_worker_take(w, &f[i]), 1);
        assert_true(f[i].fd >= 0);
        assert_memory_equal(f[i].tmp_path, tmp, strlen(tmp));
        assert_int_equal(fstat(f[i].fd, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_size, 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(pps__durable_write(&f[i], MSG, strlen(MSG)), 0);
    }
    assert_string_not_equal(f[0].tmp_path, f[1].tmp_path);
    assert_string_not_equal(f[1].tmp_path, f[2].tmp_path);
    /* The worker keeps making more ahead. */
    pps__maildir_worker_settle(w);
    pps__maildir_worker_stop(w);
    /* Only the three taken are left, with their data. */
    assert_int_equal(files_in("tmp", &empty), 3);
    assert_int_equal(empty, 0);
    for (i = 0; i < 3; i++)
        pps__durable_discard(&f[i]);
    assert_int_equal(files_in("tmp", NULL), 0);
}

static void test_queued_fsyncs_report_each_result(void **state)
{
    pps__maildir_worker *w = start_worker();
    char missing[PPS__PATH_MAX + 8];
    const char *what = NULL;
    pps__durable f;
    unsigned long t1, t2, t3;

    (void)state;
    assert_int_equal(pps__maildir_worker_take(w, &f), 1);
    assert_int_equal(pps__durable_write(&f, MSG, strlen(MSG)), 0);
    assert_int_equal(pps__durable_close(&f), 0);
    snprintf(missing, sizeof(missing), "%s.gone", f.tmp_path);
    assert_int_equal(pps__maildir_worker_sync(w, f.tmp_path, &t1), 1);
    assert_int_equal(pps__maildir_worker_sync(w, missing, &t2), 1);
    assert_int_equal(pps__maildir_worker_sync(w, f.tmp_path, &t3), 1);
    assert_true(t1 < t2 && t2 < t3);
    /* Read out of order: each ticket has its own result. */
    assert_int_equal(pps__maildir_worker_synced(w, t2, &what), ENOENT);
    assert_string_equal(what, "cannot open");
    assert_int_equal(pps__maildir_worker_synced(w, t1, &what), 0);
    assert_int_equal(pps__maildir_worker_synced(w, t3, &what), 0);
    /* A queued one not read is settled by stop. */
    assert_int_equal(pps__maildir_worker_sync(w, f.tmp_path, &t1), 1);
    pps__maildir_worker_stop(w);
    unlink(f.tmp_path);
    assert_int_equal(files_in("tmp", NULL), 0);
}

static void test_cannot_make_files_hands_over(void **state)
{
    pps__maildir_worker *w = start_worker();
    pps__durable f;
    char tmp[256], away[300];

    (void)state;
    /* Let it fill its ring, then take tmp/ away: once the made files
     * are used up, take says "make it yourself" instead of waiting. */
    pps__maildir_worker_settle(w);
    user_dir(tmp, sizeof(tmp), "alice", "tmp");
    snprintf(away, sizeof(away), "%s.away", tmp);
    assert_int_equal(rename(tmp, away), 0);
    for (;;) {
        int taken = pps__maildir_worker_take(w, &f);
        if (!taken)
            break;
        pps__durable_discard(&f); /* unlinks a name that moved: fine */
    }
    pps__maildir_worker_stop(w);
    rm_rf(away);
}

/* The threads of this process (/proc/self/status). */
static int threads(void)
{
    char line[128];
    FILE *f = fopen("/proc/self/status", "r");
    int n = -1;

    assert_non_null(f);
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

static pps_deliver *open_maildir(void)
{
    pps_deliver_options o = PPS_DELIVER_OPTIONS_INIT;
    pps_deliver *d = NULL;

    o.method = "maildir";
    o.path = fixture_tmpl;
    if (pps_deliver_new(&d, &o) != 0)
        fail_msg("new: %s", pps_error_last()->message);
    return d;
}

static void stage_run(pps_deliver *d, int n)
{
    const char *alice[] = {"alice@local.test"};
    int i;

    for (i = 0; i < n; i++) {
        assert_int_equal(pps_deliver_begin(d, "", alice, 1, NULL, 0), 0);
        assert_int_equal(pps_deliver_write(d, MSG, strlen(MSG)), 0);
        assert_int_equal(pps_deliver_commit_staged(d), 0);
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

static void test_long_run_delivers_and_idle_cleans_tmp(void **state)
{
    pps_deliver *d = open_maildir();
    outcomes o = {0};
    int made, empty;

    (void)state;
    assert_int_equal(threads(), 1);
    stage_run(d, MAILDIR_RUN - 1);
    assert_int_equal(threads(), 1); /* a short run: no worker */
    stage_run(d, LONG_RUN - (MAILDIR_RUN - 1));
    assert_int_equal(threads(), 2); /* the worker */
    assert_int_equal(pps_deliver_flush(d, count_outcomes, &o), 0);
    assert_int_equal(o.delivered, LONG_RUN);
    assert_int_equal(files_in("new", NULL), LONG_RUN);
    /* Whatever waits in tmp/ now was made ahead: empty. */
    made = files_in("tmp", &empty);
    assert_int_equal(made, empty);
    /* A second run after a flush goes on with the same worker. */
    stage_run(d, LONG_RUN);
    assert_int_equal(pps_deliver_flush(d, count_outcomes, &o), 0);
    assert_int_equal(files_in("new", NULL), 2 * LONG_RUN);
    pps_deliver_idle(d);
    assert_int_equal(threads(), 1);
    assert_int_equal(files_in("tmp", NULL), 0);
    /* Idle again, and a short run after it: no worker, nothing left. */
    pps_deliver_idle(d);
    stage_run(d, 3);
    assert_int_equal(threads(), 1);
    assert_int_equal(pps_deliver_flush(d, NULL, NULL), 0);
    assert_int_equal(files_in("tmp", NULL), 0);
    assert_int_equal(files_in("new", NULL), 2 * LONG_RUN + 3);
    pps_deliver_free(d);
}

static void test_free_and_discard_leave_no_file(void **state)
{
    pps_deliver *d = open_maildir();

    (void)state;
    /* Discard with fsyncs still queued on the worker. */
    stage_run(d, LONG_RUN);
    pps_deliver_discard_staged(d);
    assert_int_equal(files_in("new", NULL), 0);
    pps_deliver_idle(d);
    assert_int_equal(files_in("tmp", NULL), 0);
    /* Free with a run staged and the worker running. */
    stage_run(d, LONG_RUN);
    pps_deliver_free(d);
    assert_int_equal(files_in("new", NULL), 0);
    assert_int_equal(files_in("tmp", NULL), 0);
}

/* The worker's fsync number fail_at fails; the test thread's never. */
static pthread_t test_thread;
static atomic_int fsync_calls;
static int fail_at;

static int failing_fsync(int fd)
{
    if (!pthread_equal(pthread_self(), test_thread) &&
        ++fsync_calls == fail_at) {
        errno = EIO;
        return -1;
    }
    return fsync(fd);
}

static const pps__deliver_io failing_io = {write, failing_fsync};

static void test_failed_fsync_on_the_worker_fails_that_message(void **state)
{
    pps_deliver *d = open_maildir();
    outcomes o = {0};

    (void)state;
    /* The worker starts at the 16th staged message and fsyncs it and
     * every later one as they are staged; its 5th is message 20's. */
    test_thread = pthread_self();
    fsync_calls = 0;
    fail_at = 5;
    pps__deliver_io_set(&failing_io);
    stage_run(d, LONG_RUN);
    assert_int_equal(pps_deliver_flush(d, count_outcomes, &o), PPS_EIO);
    pps__deliver_io_set(NULL);
    assert_int_equal(o.tempfail, 1);
    assert_int_equal(o.delivered, LONG_RUN - 1);
    assert_non_null(strstr(o.text, "cannot sync"));
    assert_non_null(strstr(o.text, "Input/output error"));
    /* The failed one is nowhere: not in new/, not left in tmp/. */
    assert_int_equal(files_in("new", NULL), LONG_RUN - 1);
    pps_deliver_idle(d);
    assert_int_equal(files_in("tmp", NULL), 0);
    pps_deliver_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_made_files_are_fresh_and_removed_at_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queued_fsyncs_report_each_result,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cannot_make_files_hands_over,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_long_run_delivers_and_idle_cleans_tmp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_and_discard_leave_no_file,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_failed_fsync_on_the_worker_fails_that_message, setup,
            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
