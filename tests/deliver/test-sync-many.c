/*
 * test-sync-many.c - a batch's fsyncs, several at once
 * (libpps/deliver/sync-many.c): every file is fsync'd exactly once and
 * keeps its own result, whichever thread synced it; a short batch stays in
 * the caller's thread; a long one is shared by at most 8 threads, which
 * take no signal and are gone when the call returns.
 */
#include "../helpers/pps-test.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliver/durable.h"

#define FILES 64

static char dir[64];
static char paths[FILES][128];
static const char *path_list[FILES];

/* What the seam saw: calls, the threads that made them, and whether any
 * of those (other than the caller) could have taken SIGTERM. */
static pthread_t caller;
static atomic_int calls;
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t seen[16];
static int seen_count;
static int helper_took_signals;
/* Files whose fsync fails (by inode, whichever thread syncs them). */
static ino_t failing[FILES];
static int failing_count;

static int watching_fsync(int fd)
{
    pthread_t self = pthread_self();
    struct stat st;
    sigset_t mask;
    int i, known = 0;

    atomic_fetch_add(&calls, 1);
    /* Long enough that one thread cannot take the whole batch alone
     * before the others have started. */
    usleep(2000);
    pthread_mutex_lock(&seen_lock);
    for (i = 0; i < seen_count; i++)
        known |= pthread_equal(seen[i], self);
    if (!known && seen_count < 16)
        seen[seen_count++] = self;
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    if (!pthread_equal(self, caller) && !sigismember(&mask, SIGTERM))
        helper_took_signals = 1;
    pthread_mutex_unlock(&seen_lock);
    if (fstat(fd, &st) != 0) /* no cmocka assert off the main thread */
        return -1;
    for (i = 0; i < failing_count; i++)
        if (failing[i] == st.st_ino) {
            errno = EIO;
            return -1;
        }
    return fsync(fd);
}

static const pps__deliver_io watching_io = {write, watching_fsync};

static int setup(void **state)
{
    int i;

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/pps-syncmany-XXXXXX");
    assert_non_null(mkdtemp(dir));
    for (i = 0; i < FILES; i++) {
        FILE *f;
        snprintf(paths[i], sizeof(paths[i]), "%s/f%02d", dir, i);
        path_list[i] = paths[i];
        assert_non_null(f = fopen(paths[i], "w"));
        fprintf(f, "message %d\n", i);
        fclose(f);
    }
    caller = pthread_self();
    atomic_store(&calls, 0);
    seen_count = failing_count = helper_took_signals = 0;
    pps__deliver_io_set(&watching_io);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    pps__deliver_io_set(NULL);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

static void fail_file(int i)
{
    struct stat st;

    assert_int_equal(stat(paths[i], &st), 0);
    failing[failing_count++] = st.st_ino;
}

static void test_short_batch_stays_in_the_caller(void **state)
{
    int errs[FILES], i;

    (void)state;
    memset(errs, 0x55, sizeof(errs));
    pps__durable_sync_many(path_list, 7, errs);
    assert_int_equal(atomic_load(&calls), 7);
    for (i = 0; i < 7; i++)
        assert_int_equal(errs[i], 0);
    assert_int_equal(seen_count, 1);
    assert_true(pthread_equal(seen[0], caller));
}

static void test_long_batch_is_shared(void **state)
{
    int errs[FILES], i, before;

    (void)state;
    /* Once before counting threads: a sanitizer's own helper thread
     * starts with the first thread the process creates. */
    pps__durable_sync_many(path_list, FILES, errs);
    before = pps_test_count_threads();
    atomic_store(&calls, 0);
    seen_count = 0;
    memset(errs, 0x55, sizeof(errs));
    pps__durable_sync_many(path_list, FILES, errs);
    assert_int_equal(atomic_load(&calls), FILES); /* each once */
    for (i = 0; i < FILES; i++)
        assert_int_equal(errs[i], 0);
    assert_true(seen_count >= 2);
    assert_true(seen_count <= 8);
    assert_false(helper_took_signals);
    assert_int_equal(pps_test_count_threads(),
                     before); /* the helpers are gone */
}

/* Failures stay with their files, whichever thread met them: an fsync
 * error as its errno, a file that cannot be opened as minus its errno. */
static void test_each_result_stays_with_its_file(void **state)
{
    int errs[FILES], i;

    (void)state;
    fail_file(3);
    fail_file(40);
    fail_file(63);
    assert_int_equal(unlink(paths[17]), 0);
    memset(errs, 0x55, sizeof(errs));
    pps__durable_sync_many(path_list, FILES, errs);
    assert_int_equal(atomic_load(&calls), FILES - 1); /* 17 never opened */
    for (i = 0; i < FILES; i++) {
        int want = (i == 3 || i == 40 || i == 63) ? EIO : i == 17 ? -ENOENT : 0;
        if (errs[i] != want)
            fail_msg("file %d: result %d, expected %d", i, errs[i], want);
    }
}

/* The caller turns a result into the usual error text. */
static void test_failure_text(void **state)
{
    (void)state;
    assert_int_equal(pps__durable_sync_path_failed(paths[5], EIO), PPS_EIO);
    assert_message_has("cannot sync ");
    assert_message_has(paths[5]);
    assert_message_has(strerror(EIO));
    assert_int_equal(pps__durable_sync_path_failed(paths[5], -ENOENT), PPS_EIO);
    assert_message_has("cannot open ");
    assert_message_has(strerror(ENOENT));
}

static void test_empty_batch(void **state)
{
    int errs[1] = {0x55};

    (void)state;
    pps__durable_sync_many(path_list, 0, errs);
    assert_int_equal(atomic_load(&calls), 0);
    assert_int_equal(errs[0], 0x55);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_short_batch_stays_in_the_caller,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_batch_is_shared, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_each_result_stays_with_its_file,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_batch, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
