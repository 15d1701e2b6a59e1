/*
 * test-maildir.c - the Maildir deliverer: files, names, links and copies,
 * LF line ends at every chunk split, and every way the disk can fail
 * (injected write and fsync failures, and a tiny tmpfs when fixture_root).
 */
#include "../helpers/pps-test.h"
#define MAILDIR_FIXTURE_PREFIX "pps-maildir"
#include "maildir-fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deliver/deliver-int.h"
#include "pps/deliver.h"
#include "pps/errors.h"

/* Number of files in DIR; the name of the last one into name. */
static int count_files(const char *dir, char *name, size_t size)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            n++;
            if (name)
                snprintf(name, size, "%s/%s", dir, e->d_name);
        }
    closedir(d);
    return n;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(1 << 20);

    assert_non_null(f);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

#define MSG    "Return-Path: <s@remote.test>\r\nSubject: hi\r\n\r\nbody\r\n"
#define MSG_LF "Return-Path: <s@remote.test>\nSubject: hi\n\nbody\n"

static void test_two_users_one_missing(void **state)
{
    const char *rcpts[] = {"alice@local.test", "bob@local.test",
                           "carol@local.test"};
    const char *trace = "Received: by pps\r\n";
    char dir[256], file[512], file2[512];
    const pps_deliver_status *st;
    pps_deliver *d = new_maildir(fixture_tmpl);
    struct stat sa;
    size_t len;
    char *got;

    (void)state;
    assert_int_equal(pps_deliver_begin(d, "", rcpts, 3, trace, strlen(trace)),
                     0);
    assert_int_equal(pps_deliver_write(d, MSG, strlen(MSG)), 0);
    assert_int_equal(pps_deliver_commit(d), PPS_EPERM);
    st = pps_deliver_statuses(d, NULL);
    assert_int_equal(st[0].outcome, PPS_DELIVER_DELIVERED);
    assert_int_equal(st[1].outcome, PPS_DELIVER_DELIVERED);
    assert_int_equal(st[2].outcome, PPS_DELIVER_PERMFAIL);
    assert_int_equal(st[2].code, PPS_ENOTFOUND);
    assert_non_null(strstr(st[2].text, "no Maildir folder"));

    user_dir(dir, sizeof(dir), "alice", "new");
    assert_int_equal(count_files(dir, file, sizeof(file)), 1);
    user_dir(dir, sizeof(dir), "alice", "tmp");
    assert_int_equal(count_files(dir, NULL, 0), 0);
    user_dir(dir, sizeof(dir), "bob", "new");
    assert_int_equal(count_files(dir, file2, sizeof(file2)), 1);
    user_dir(dir, sizeof(dir), "bob", "cur");
    assert_int_equal(count_files(dir, NULL, 0), 0); /* made, empty */

    got = slurp(file, &len);
    assert_int_equal(len, strlen("Received: by pps\n" MSG_LF));
    assert_memory_equal(got, "Received: by pps\n" MSG_LF, len);
    free(got);
    /* Same file system, same owner: one inode, two names. */
    assert_int_equal(stat(file, &sa), 0);
    assert_int_equal(sa.st_nlink, 2);
    assert_int_equal(sa.st_mode & 0777, 0600);
    /* Names differ (each delivery its own unique name). */
    assert_string_not_equal(strrchr(file, '/'), strrchr(file2, '/'));
    pps_deliver_free(d);
}

static void test_user_exists(void **state)
{
    pps_deliver *d = new_maildir(fixture_tmpl);
    char longname[300];

    (void)state;
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(pps_deliver_user_exists(d, "alice", "local.test"), 1);
    assert_int_equal(pps_deliver_user_exists(d, "carol", "local.test"), 0);
    /* The callback shape route.h wants: payload last. */
    assert_int_equal(pps_deliver_user_exists_cb("alice", "local.test", d), 1);
    assert_int_equal(pps_deliver_user_exists_cb("carol", "local.test", d), 0);
    assert_int_equal(pps_deliver_user_exists(d, "alice", "other.test"), 0);
    assert_int_equal(pps_deliver_user_exists(d, "..", "local.test"), 0);
    assert_int_equal(pps_deliver_user_exists(d, "a/b", "local.test"), 0);
    assert_int_equal(pps_deliver_user_exists(d, "alice", ".."), 0);
    /* A lookup that fails for another reason: cannot tell. */
    assert_int_equal(pps_deliver_user_exists(d, longname, "local.test"), -1);
    pps_deliver_free(d);
}

static void test_unsafe_names(void **state)
{
    const char *rcpts[] = {"../../etc@local.test", ".hidden@local.test",
                           "alice@../x"};
    const pps_deliver_status *st;
    pps_deliver *d = new_maildir(fixture_tmpl);
    size_t i;

    (void)state;
    assert_int_equal(pps_deliver_begin(d, "", rcpts, 3, NULL, 0), PPS_EPERM);
    st = pps_deliver_statuses(d, NULL);
    for (i = 0; i < 3; i++) {
        assert_int_equal(st[i].outcome, PPS_DELIVER_PERMFAIL);
        assert_int_equal(st[i].code, PPS_EINVAL);
    }
    pps_deliver_free(d);
}

/* Every split of the message into two writes stores the same bytes. */
static void test_crlf_every_split(void **state)
{
    const char *msg = "A: b\r\n\r\nl1\r\n\r\nbare\rcr\r\n.dot\r\nend\r";
    const char *want = "A: b\n\nl1\n\nbare\rcr\n.dot\nend\r";
    const char *rcpt = "alice@local.test";
    size_t len = strlen(msg), cut;
    char dir[256], file[512];

    (void)state;
    user_dir(dir, sizeof(dir), "alice", "new");
    for (cut = 0; cut <= len; cut++) {
        pps_deliver *d = new_maildir(fixture_tmpl);
        char *a = pps_test_exact_copy(msg, cut);
        char *b = pps_test_exact_copy(msg + cut, len - cut);
        size_t got_len;
        char *got;
        assert_int_equal(pps_deliver_begin(d, "", &rcpt, 1, NULL, 0), 0);
        assert_int_equal(pps_deliver_write(d, a, cut), 0);
        assert_int_equal(pps_deliver_write(d, b, len - cut), 0);
        assert_int_equal(pps_deliver_commit(d), 0);
        assert_int_equal(count_files(dir, file, sizeof(file)), 1);
        got = slurp(file, &got_len);
        if (got_len != strlen(want) || memcmp(got, want, got_len) != 0)
            fail_msg("cut %zu: got \"%.*s\"", cut, (int)got_len, got);
        unlink(file);
        free(got);
        free(a);
        free(b);
        pps_deliver_free(d);
    }
}

/* --- injected failures ---------------------------------------------------- */

static int fail_write_after; /* writes that still succeed */
static int fail_fsync_at;    /* the fsync call that fails (1 = first) */
static int fsync_calls;

static ssize_t bad_write(int fd, const void *buf, size_t n)
{
    if (fail_write_after-- <= 0) {
        errno = ENOSPC;
        return -1;
    }
    return write(fd, buf, n);
}

static int bad_fsync(int fd)
{
    if (++fsync_calls == fail_fsync_at) {
        errno = EIO;
        return -1;
    }
    return fsync(fd);
}

static const pps__deliver_io failing_io = {bad_write, bad_fsync};

static void assert_empty_maildirs(void)
{
    char dir[256];
    const char *users[] = {"alice", "bob"};
    const char *subs[] = {"tmp", "new"};
    size_t u, s;

    for (u = 0; u < 2; u++)
        for (s = 0; s < 2; s++) {
            user_dir(dir, sizeof(dir), users[u], subs[s]);
            if (count_files(dir, NULL, 0) > 0)
                fail_msg("%s is not empty", dir);
        }
}

/* The disk fills up during a message: small pieces are gathered and
 * written at the commit (or staging), a large one at once; either way
 * every recipient fails temporarily and nothing is left behind. */
static void test_disk_full_injected(void **state)
{
    const char *rcpts[] = {"alice@local.test", "bob@local.test"};
    const pps_deliver_status *st;
    pps_deliver *d = new_maildir(fixture_tmpl);
    static char big[40000];
    int at_commit;

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    for (at_commit = 1; at_commit >= 0; at_commit--) {
        fail_write_after = 0;
        fail_fsync_at = 0;
        pps__deliver_io_set(&failing_io);
        assert_int_equal(pps_deliver_begin(d, "", rcpts, 2, NULL, 0), 0);
        assert_int_equal(pps_deliver_write(d, MSG, strlen(MSG)), 0);
        if (at_commit) {
            assert_int_equal(pps_deliver_write(d, MSG, strlen(MSG)), 0);
            assert_int_equal(pps_deliver_commit(d), PPS_ETEMP);
        } else {
            assert_int_equal(pps_deliver_write(d, big, strlen(big)), PPS_ETEMP);
        }
        pps__deliver_io_set(NULL);
        st = pps_deliver_statuses(d, NULL);
        assert_int_equal(st[0].outcome, PPS_DELIVER_TEMPFAIL);
        assert_int_equal(st[1].outcome, PPS_DELIVER_TEMPFAIL);
        assert_int_equal(st[0].code, PPS_EIO);
        assert_non_null(strstr(st[0].text, "No space left"));
        assert_empty_maildirs();
    }
    /* The deliverer is usable again. */
    assert_int_equal(pps_deliver_begin(d, "", rcpts, 1, NULL, 0), 0);
    assert_int_equal(pps_deliver_commit(d), 0);
    pps_deliver_free(d);
}

static void test_fsync_failures_injected(void **state)
{
    const char *rcpts[] = {"alice@local.test", "bob@local.test"};
    int at;

    (void)state;
    /* fsyncs: 1 the file, 2 bob's new/ (the link), 3 alice's new/. */
    for (at = 1; at <= 3; at++) {
        const pps_deliver_status *st;
        pps_deliver *d = new_maildir(fixture_tmpl);
        char dir[256], file[512];
        fail_write_after = 1 << 30;
        fail_fsync_at = at;
        fsync_calls = 0;
        pps__deliver_io_set(&failing_io);
        assert_int_equal(pps_deliver_begin(d, "", rcpts, 2, NULL, 0), 0);
        assert_int_equal(pps_deliver_write(d, MSG, strlen(MSG)), 0);
        assert_int_equal(pps_deliver_commit(d), PPS_ETEMP);
        pps__deliver_io_set(NULL);
        st = pps_deliver_statuses(d, NULL);
        if (at == 1) {
            assert_int_equal(st[0].outcome, PPS_DELIVER_TEMPFAIL);
            assert_int_equal(st[1].outcome, PPS_DELIVER_TEMPFAIL);
            assert_empty_maildirs();
        } else {
            /* Exactly the recipient whose folder sync failed is
             * temporary, and has no file: a retry cannot duplicate. */
            size_t failed = at == 2 ? 1 : 0;
            assert_int_equal(st[failed].outcome, PPS_DELIVER_TEMPFAIL);
            assert_non_null(strstr(st[failed].text, "cannot sync folder"));
            assert_int_equal(st[1 - failed].outcome, PPS_DELIVER_DELIVERED);
            user_dir(dir, sizeof(dir), failed ? "bob" : "alice", "new");
            assert_int_equal(count_files(dir, NULL, 0), 0);
            user_dir(dir, sizeof(dir), failed ? "alice" : "bob", "new");
            assert_int_equal(count_files(dir, file, sizeof(file)), 1);
            unlink(file);
            user_dir(dir, sizeof(dir), "alice", "tmp");
            assert_int_equal(count_files(dir, NULL, 0), 0);
        }
        pps_deliver_free(d);
    }
}

static void test_abort_removes_tmp(void **state)
{
    const char *rcpt = "bob@local.test";
    pps_deliver *d = new_maildir(fixture_tmpl);

    (void)state;
    assert_int_equal(pps_deliver_begin(d, "", &rcpt, 1, NULL, 0), 0);
    assert_int_equal(pps_deliver_write(d, MSG, strlen(MSG)), 0);
    pps_deliver_abort(d);
    assert_int_equal(pps_deliver_statuses(d, NULL)[0].outcome,
                     PPS_DELIVER_TEMPFAIL);
    assert_empty_maildirs();
    pps_deliver_free(d); /* also after begin without abort: */
    d = new_maildir(fixture_tmpl);
    assert_int_equal(pps_deliver_begin(d, "", &rcpt, 1, NULL, 0), 0);
    assert_int_equal(pps_deliver_write(d, MSG, strlen(MSG)), 0);
    pps_deliver_free(d);
    assert_empty_maildirs();
}

/* A real full disk: a 64 KiB tmpfs, when we may mount one. */
static void test_disk_full_tmpfs(void **state)
{
    char mnt[256], t[300], dir[300];
    const char *rcpt = "alice@local.test";
    char *chunk = malloc(16384);
    pps_deliver *d;
    int i, rc = 0;

    (void)state;
    snprintf(mnt, sizeof(mnt), "%s/small", fixture_root);
    mkdir(mnt, 0755);
    if (geteuid() != 0 || mount("tmpfs", mnt, "tmpfs", 0, "size=64k") != 0) {
        free(chunk);
        print_message("skipped: cannot mount a tmpfs here\n");
        skip();
    }
    snprintf(dir, sizeof(dir), "%s/local.test/alice/Maildir", mnt);
    mkdirs(dir);
    snprintf(t, sizeof(t), "%s/%%d/%%u/Maildir", mnt);
    d = new_maildir(t);
    memset(chunk, 'x', 16384);
    assert_int_equal(pps_deliver_begin(d, "", &rcpt, 1, NULL, 0), 0);
    for (i = 0; i < 16 && rc == 0; i++)
        rc = pps_deliver_write(d, chunk, 16384);
    if (rc == 0)
        rc = pps_deliver_commit(d);
    assert_int_equal(rc, PPS_ETEMP);
    assert_non_null(
        strstr(pps_deliver_statuses(d, NULL)[0].text, "No space left"));
    snprintf(dir, sizeof(dir), "%s/local.test/alice/Maildir/tmp", mnt);
    assert_int_equal(count_files(dir, NULL, 0), 0);
    /* A small message still fits: the space came back. */
    assert_int_equal(pps_deliver_begin(d, "", &rcpt, 1, NULL, 0), 0);
    assert_int_equal(pps_deliver_write(d, MSG, strlen(MSG)), 0);
    assert_int_equal(pps_deliver_commit(d), 0);
    pps_deliver_free(d);
    umount(mnt);
    free(chunk);
}

/* As fixture_root, each file takes the owner of its user's folder; different
 * owners cannot share an inode, so the second is a copy. */
static void test_owner_as_root(void **state)
{
    const char *rcpts[] = {"alice@local.test", "bob@local.test"};
    char dir[256], fa[512], fb[512];
    struct stat sa, sb;
    pps_deliver *d;

    (void)state;
    if (geteuid() != 0)
        skip();
    user_dir(dir, sizeof(dir), "alice", NULL);
    assert_int_equal(chown(dir, 4001, 4002), 0);
    user_dir(dir, sizeof(dir), "bob", NULL);
    assert_int_equal(chown(dir, 4011, 4012), 0);
    d = new_maildir(fixture_tmpl);
    assert_int_equal(pps_deliver_begin(d, "", rcpts, 2, NULL, 0), 0);
    assert_int_equal(pps_deliver_write(d, MSG, strlen(MSG)), 0);
    assert_int_equal(pps_deliver_commit(d), 0);
    user_dir(dir, sizeof(dir), "alice", "new");
    assert_int_equal(count_files(dir, fa, sizeof(fa)), 1);
    user_dir(dir, sizeof(dir), "bob", "new");
    assert_int_equal(count_files(dir, fb, sizeof(fb)), 1);
    assert_int_equal(stat(fa, &sa), 0);
    assert_int_equal(stat(fb, &sb), 0);
    assert_int_equal(sa.st_uid, 4001);
    assert_int_equal(sa.st_gid, 4002);
    assert_int_equal(sb.st_uid, 4011);
    assert_int_equal(sb.st_gid, 4012);
    assert_int_equal(sa.st_nlink, 1);
    assert_int_equal(sb.st_nlink, 1);
    assert_int_equal(sb.st_size, sa.st_size);
    user_dir(dir, sizeof(dir), "bob", "tmp");
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_uid, 4011);
    user_dir(dir, sizeof(dir), "bob", "tmp");
    assert_int_equal(count_files(dir, NULL, 0), 0);
    unlink(fa);
    unlink(fb);
    pps_deliver_free(d);
}

/* --- unique names ------------------------------------------------------------
 */

#define NAME_THREADS     8
#define NAMES_PER_THREAD 2000

static char (*names)[128];

static void *make_names(void *arg)
{
    size_t base = (size_t)arg * NAMES_PER_THREAD, i;

    for (i = 0; i < NAMES_PER_THREAD; i++)
        if (pps__maildir_unique_name(names[base + i], 128) < 0)
            return arg;
    return NULL;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_unique_names_threads(void **state)
{
    pthread_t t[NAME_THREADS];
    size_t i, n = NAME_THREADS * NAMES_PER_THREAD;
    char host[64];

    (void)state;
    names = calloc(n, 128);
    for (i = 0; i < NAME_THREADS; i++)
        pthread_create(&t[i], NULL, make_names, (void *)i);
    for (i = 0; i < NAME_THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        assert_null(r);
    }
    qsort(names, n, 128, cmp_names);
    for (i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            fail_msg("duplicate name %s", names[i]);
    /* The shape the spec asks for: time.MusecPpidQn.host */
    gethostname(host, sizeof(host));
    assert_non_null(strstr(names[0], ".M"));
    assert_non_null(strstr(names[0], "P"));
    assert_non_null(strstr(names[0], "Q"));
    assert_null(strchr(names[0], '/'));
    free(names);
}

/* Two processes at once: the pid keeps their names apart. */
static void test_unique_names_processes(void **state)
{
    enum { N = 2000 };
    char(*mine)[128] = calloc(N, 128), (*theirs)[128] = calloc(N, 128);
    int fds[2];
    pid_t pid;
    size_t i, j, got = 0;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char name[128];
        close(fds[0]);
        for (i = 0; i < N; i++) {
            memset(name, 0, sizeof(name));
            if (pps__maildir_unique_name(name, sizeof(name)) < 0 ||
                write(fds[1], name, sizeof(name)) != sizeof(name))
                _exit(1);
        }
        _exit(0);
    }
    close(fds[1]);
    for (i = 0; i < N; i++)
        assert_true(pps__maildir_unique_name(mine[i], 128) > 0);
    while (got < (size_t)N * 128) {
        ssize_t n = read(fds[0], (char *)theirs + got, N * 128 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    assert_int_equal(got, (size_t)N * 128);
    {
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    qsort(mine, N, 128, cmp_names);
    qsort(theirs, N, 128, cmp_names);
    for (i = 0, j = 0; i < N && j < N;) {
        int c = strcmp(mine[i], theirs[j]);
        if (c == 0)
            fail_msg("both processes made %s", mine[i]);
        if (c < 0)
            i++;
        else
            j++;
    }
    free(mine);
    free(theirs);
}

static void *deliver_many(void *arg)
{
    const char *rcpt = "bob@local.test";
    pps_deliver *d = new_maildir(fixture_tmpl);
    int i;

    for (i = 0; i < 50; i++)
        if (pps_deliver_begin(d, "", &rcpt, 1, NULL, 0) != 0 ||
            pps_deliver_write(d, MSG, strlen(MSG)) != 0 ||
            pps_deliver_commit(d) != 0)
            return arg;
    pps_deliver_free(d);
    return NULL;
}

static void test_deliveries_in_threads(void **state)
{
    pthread_t t[4];
    char dir[256];
    size_t i;

    (void)state;
    for (i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, deliver_many, (void *)(i + 1));
    for (i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        assert_null(r);
    }
    user_dir(dir, sizeof(dir), "bob", "new");
    assert_int_equal(count_files(dir, NULL, 0), 200);
    rm_rf(dir);
    mkdir(dir, 0700);
}

static void test_bad_settings(void **state)
{
    static const struct {
        const char *path, *hint;
    } rows[] = {

        {"relative/%u", "absolute"},
        {"/var/mail/%x", "unknown '%x'"},
        {"/var/mail/%", "unknown"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        pps_deliver_options o = PPS_DELIVER_OPTIONS_INIT;
        pps_deliver *d = NULL;
        int rc;
        o.method = "maildir";
        o.path = rows[i].path;
        rc = pps_deliver_new(&d, &o);
        if (rc != PPS_ECONFIG ||
            !strstr(pps_error_last()->message, rows[i].hint))
            fail_msg("row %zu: rc %d \"%s\"", i, rc, pps_error_last()->message);
        assert_null(d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_users_one_missing, fixture_up,
                                        fixture_down),
        cmocka_unit_test_setup_teardown(test_user_exists, fixture_up,
                                        fixture_down),
        cmocka_unit_test_setup_teardown(test_unsafe_names, fixture_up,
                                        fixture_down),
        cmocka_unit_test_setup_teardown(test_crlf_every_split, fixture_up,
                                        fixture_down),
        cmocka_unit_test_setup_teardown(test_disk_full_injected, fixture_up,
                                        fixture_down),
        cmocka_unit_test_setup_teardown(test_fsync_failures_injected,
                                        fixture_up, fixture_down),
        cmocka_unit_test_setup_teardown(test_abort_removes_tmp, fixture_up,
                                        fixture_down),
        cmocka_unit_test_setup_teardown(test_disk_full_tmpfs, fixture_up,
                                        fixture_down),
        cmocka_unit_test_setup_teardown(test_owner_as_root, fixture_up,
                                        fixture_down),
        cmocka_unit_test(test_unique_names_threads),
        cmocka_unit_test(test_unique_names_processes),
        cmocka_unit_test_setup_teardown(test_deliveries_in_threads, fixture_up,
                                        fixture_down),
        cmocka_unit_test(test_bad_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
