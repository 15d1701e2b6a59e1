/*
 * test-pipe.c - the pipe deliverer: exit codes (0, 75, others, a
 * signal), the run deadline, an MDA that stops reading (no SIGPIPE
 * death), argv without a shell and quoting with one, no zombies.
 */
#include "../helpers/pps-test.h"

#include <errno.h>
#include <signal.h>
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pps/deliver.h"
#include "pps/errors.h"

static char dir[64];
static char mda[128];

/* The fake MDA: what it does depends on the user name it is given. */
static const char mda_script[] =
    "#!/bin/sh\n"
    "out=\"$(dirname \"$0\")\"\n"
    "case \"$1\" in\n"
    "ok*) cat > \"$out/$1\"; exit 0;;\n"
    "temp*) cat > /dev/null; echo \"over quota: $1\" >&2; exit 75;;\n"
    "perm*) echo \"no such user $1\"; echo second line >&2; exit 67;;\n"
    "slow*) sleep 30; exit 0;;\n"
    "sig*) kill -9 $$;;\n"
    "early*) exit 0;;\n"
    "atomic*) data=$(cat); printf '%s' \"$data\" > \"$out/$1\"; exit 0;;\n"
    "esac\n"
    "exit 1\n";

static int setup(void **state)
{
    FILE *f;

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/pps-pipe-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(mda, sizeof(mda), "%s/mda", dir);
    f = fopen(mda, "w");
    assert_non_null(f);
    fputs(mda_script, f);
    fclose(f);
    chmod(mda, 0755);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static pps_deliver *new_pipe(const char *command, int shell,
                             unsigned int run_ms)
{
    pps_deliver_options o = PPS_DELIVER_OPTIONS_INIT;
    pps_deliver *d = NULL;

    o.method = "pipe";
    o.command = command;
    o.shell = shell;
    o.run_timeout_ms = run_ms;
    if (pps_deliver_new(&d, &o) != 0)
        fail_msg("new: %s", pps_error_last()->message);
    return d;
}

static char *slurp(const char *name, size_t *len)
{
    char path[256];
    FILE *f;
    char *buf = malloc(4 << 20);

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (!f) {
        free(buf);
        return NULL;
    }
    *len = fread(buf, 1, 4 << 20, f);
    fclose(f);
    return buf;
}

static void assert_no_children(void)
{
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

#define MSG    "Subject: hi\r\n\r\nbody\r\n"
#define MSG_LF "Subject: hi\n\nbody\n"

static void test_outcomes(void **state)
{
    const char *rcpts[] = {"ok1@local.test", "temp1@local.test",
                           "perm1@local.test", "sig1@local.test",
                           "other@local.test"};
    char command[256];
    const pps_deliver_status *st;
    pps_deliver *d;
    size_t len;
    char *got;

    (void)state;
    snprintf(command, sizeof(command), "%s %%u@%%d", mda);
    d = new_pipe(command, 0, 10000);
    assert_int_equal(pps_deliver_begin(d, "", rcpts, 5, NULL, 0), 0);
    assert_int_equal(pps_deliver_write(d, MSG, strlen(MSG)), 0);
    assert_int_equal(pps_deliver_commit(d), PPS_ETEMP);
    st = pps_deliver_statuses(d, NULL);

    assert_int_equal(st[0].outcome, PPS_DELIVER_DELIVERED);
    assert_int_equal(st[0].reply, 0);
    got = slurp("ok1@local.test", &len);
    assert_non_null(got);
    assert_int_equal(len, strlen(MSG_LF));
    assert_memory_equal(got, MSG_LF, len);
    free(got);

    assert_int_equal(st[1].outcome, PPS_DELIVER_TEMPFAIL);
    assert_int_equal(st[1].reply, 75);
    assert_string_equal(st[1].text, "the delivery command exited with 75: "
                                    "over quota: temp1@local.test");

    assert_int_equal(st[2].outcome, PPS_DELIVER_PERMFAIL);
    assert_int_equal(st[2].reply, 67);
    assert_string_equal(st[2].text, "the delivery command exited with 67: "
                                    "no such user perm1@local.test");

    assert_int_equal(st[3].outcome, PPS_DELIVER_TEMPFAIL);
    assert_int_equal(st[3].reply, 128 + 9);
    assert_non_null(strstr(st[3].text, "signal 9"));

    /* Plain exit 1, nothing printed. */
    assert_int_equal(st[4].outcome, PPS_DELIVER_PERMFAIL);
    assert_int_equal(st[4].reply, 1);
    assert_string_equal(st[4].text, "the delivery command exited with 1");
    pps_deliver_free(d);
    assert_no_children();
}

static void test_timeout_kills(void **state)
{
    const char *rcpts[] = {"slow@local.test", "ok2@local.test"};
    char command[256];
    const pps_deliver_status *st;
    struct timespec a, b;
    pps_deliver *d;
    double secs;

    (void)state;
    snprintf(command, sizeof(command), "%s %%u", mda);
    d = new_pipe(command, 0, 400);
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(pps_deliver_begin(d, "", rcpts, 2, NULL, 0), 0);
    assert_int_equal(pps_deliver_write(d, MSG, strlen(MSG)), 0);
    assert_int_equal(pps_deliver_commit(d), PPS_ETEMP);
    clock_gettime(CLOCK_MONOTONIC, &b);
    secs = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    assert_true(secs < 5.0);
    st = pps_deliver_statuses(d, NULL);
    assert_int_equal(st[0].outcome, PPS_DELIVER_TEMPFAIL);
    assert_int_equal(st[0].code, PPS_ETIMEOUT);
    assert_non_null(strstr(st[0].text, "killed"));
    assert_int_equal(st[1].outcome, PPS_DELIVER_DELIVERED);
    pps_deliver_free(d);
    assert_no_children();
}

/* An MDA that exits without reading a big message: our writes get
 * EPIPE, never a SIGPIPE (its default action would end this test). */
static void test_reader_gone(void **state)
{
    const char *rcpts[] = {"early@local.test", "ok3@local.test"};
    char command[256];
    char *chunk = malloc(65536);
    const pps_deliver_status *st;
    pps_deliver *d;
    size_t len;
    char *got;
    int i;

    (void)state;
    memset(chunk, 'y', 65536);
    chunk[65535] = '\n';
    snprintf(command, sizeof(command), "%s %%u", mda);
    d = new_pipe(command, 0, 20000);
    assert_int_equal(pps_deliver_begin(d, "", rcpts, 2, NULL, 0), 0);
    for (i = 0; i < 32; i++)
        assert_int_equal(pps_deliver_write(d, chunk, 65536), 0);
    assert_int_equal(pps_deliver_commit(d), 0);
    st = pps_deliver_statuses(d, NULL);
    assert_int_equal(st[0].outcome, PPS_DELIVER_DELIVERED);
    assert_int_equal(st[1].outcome, PPS_DELIVER_DELIVERED);
    got = slurp("ok3", &len);
    assert_non_null(got);
    assert_int_equal(len, 32 * 65536);
    free(got);
    free(chunk);
    pps_deliver_free(d);
    assert_no_children();
}

/* Abort kills the MDA before it sees the end of its input, so it
 * cannot deliver a cut message. */
static void test_abort_kills(void **state)
{
    const char *rcpt = "atomic@local.test";
    char command[256];
    pps_deliver *d;
    size_t len;

    (void)state;
    snprintf(command, sizeof(command), "%s %%u@%%d", mda);
    d = new_pipe(command, 0, 10000);
    assert_int_equal(pps_deliver_begin(d, "", &rcpt, 1, NULL, 0), 0);
    assert_int_equal(pps_deliver_write(d, "Subject: cut", 12), 0);
    pps_deliver_abort(d);
    usleep(100000);
    assert_null(slurp("atomic@local.test", &len));
    assert_int_equal(pps_deliver_statuses(d, NULL)[0].outcome,
                     PPS_DELIVER_TEMPFAIL);
    /* And without abort, the same MDA delivers. */
    assert_int_equal(pps_deliver_begin(d, "", &rcpt, 1, NULL, 0), 0);
    assert_int_equal(pps_deliver_write(d, "Subject: whole", 14), 0);
    assert_int_equal(pps_deliver_commit(d), 0);
    free(slurp("atomic@local.test", &len));
    assert_int_equal(len, 14);
    pps_deliver_free(d);
    assert_no_children();
}

static void test_cannot_run(void **state)
{
    const char *rcpt = "ok@local.test";
    const pps_deliver_status *st;
    pps_deliver *d = new_pipe("/nonexistent/mda -d %u", 0, 1000);

    (void)state;
    assert_int_equal(pps_deliver_begin(d, "", &rcpt, 1, NULL, 0), PPS_ETEMP);
    st = pps_deliver_statuses(d, NULL);
    assert_int_equal(st[0].outcome, PPS_DELIVER_TEMPFAIL);
    assert_non_null(strstr(st[0].text, "cannot run"));
    assert_non_null(strstr(st[0].text, "/nonexistent/mda"));
    pps_deliver_free(d);
    assert_no_children();
}

/* Words and quotes without a shell; with a shell, %u is quoted so a
 * strange user name stays one word and runs nothing. */
static void test_argv_and_shell(void **state)
{
    const char *rcpt1 = "ok-q@local.test";
    const char *rcpt2 = "ok';touch${IFS}pwned;'x@local.test";
    char command[512], path[256];
    pps_deliver *d;
    size_t len;
    char *got;

    (void)state;
    /* No shell: the quoted word reaches sh -c as one argument. */
    snprintf(command, sizeof(command),
             "/bin/sh -c 'printf \"%%s|%%s\" \"$0\" \"$1\" > %s/argv' "
             "\"a b\" %%u@%%d%%%%",
             dir);
    d = new_pipe(command, 0, 5000);
    assert_int_equal(pps_deliver_begin(d, "", &rcpt1, 1, NULL, 0), 0);
    assert_int_equal(pps_deliver_commit(d), 0);
    got = slurp("argv", &len);
    assert_non_null(got);
    assert_int_equal(len, strlen("a b|ok-q@local.test%"));
    assert_memory_equal(got, "a b|ok-q@local.test%", len);
    free(got);
    pps_deliver_free(d);

    snprintf(command, sizeof(command), "cd %s && %s %%u", dir, mda);
    d = new_pipe(command, 1, 5000);
    assert_int_equal(pps_deliver_begin(d, "", &rcpt2, 1, NULL, 0), 0);
    assert_int_equal(pps_deliver_write(d, MSG, strlen(MSG)), 0);
    assert_int_equal(pps_deliver_commit(d), 0);
    snprintf(path, sizeof(path), "%s/pwned", dir);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(access("pwned", F_OK), -1);
    got = slurp("ok';touch${IFS}pwned;'x", &len);
    assert_non_null(got);
    free(got);
    pps_deliver_free(d);
    assert_no_children();
}

static void test_bad_settings(void **state)
{
    static const struct {
        const char *command, *hint;
    } rows[] = {
        {NULL, "needs command"},
        {"", "needs command"},
        {"   ", "empty"},
        {"/bin/mda 'open", "not closed"},
        {"/bin/mda \"open", "not closed"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        pps_deliver_options o = PPS_DELIVER_OPTIONS_INIT;
        pps_deliver *d = NULL;
        int rc;
        o.method = "pipe";
        o.command = rows[i].command;
        rc = pps_deliver_new(&d, &o);
        if (rc != PPS_ECONFIG ||
            !strstr(pps_error_last()->message, rows[i].hint))
            fail_msg("row %zu: rc %d \"%s\"", i, rc, pps_error_last()->message);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outcomes),
        cmocka_unit_test(test_timeout_kills),
        cmocka_unit_test(test_reader_gone),
        cmocka_unit_test(test_abort_kills),
        cmocka_unit_test(test_cannot_run),
        cmocka_unit_test(test_argv_and_shell),
        cmocka_unit_test(test_bad_settings),
        cmocka_unit_test(pps_test_no_fd_leak),
    };

    /* SIGPIPE at its default: one leaking through would kill us. */
    signal(SIGPIPE, SIG_DFL);
    pps_test_fds_at_start = pps_test_count_fds();
    return cmocka_run_group_tests(tests, setup, teardown);
}
