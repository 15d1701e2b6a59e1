/*
 * test-secret.c - where passwords come from: the profile, a file, a
 * command (exit status, timeout, output bound, no zombies, SIGPIPE).
 */
#include "../helpers/pps-test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pps/errors.h"
#include "pps/profile.h"
#include "core/internal.h"
#include "profile/profile-internal.h"

static pps_profile *profile_with(const char *key, const char *value)
{
    pps_profile *p;

    assert_int_equal(pps_profile_new(&p, "office"), 0);
    assert_int_equal(pps_profile_set(p, key, value), 0);
    return p;
}

static void test_stored(void **state)
{
    pps_profile *p = profile_with("password", "  hunter2 ");
    char *s = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(pps_profile_get_secret(&s, &len, p), 0);
    assert_string_equal(s, "  hunter2 ");
    assert_int_equal(len, 10);
    pps_secret_free(s);
    pps_profile_free(p);

    assert_int_equal(pps_profile_new(&p, "empty"), 0);
    assert_int_equal(pps_profile_get_secret(&s, NULL, p), PPS_ECONFIG);
    assert_null(s);
    pps_profile_free(p);
    pps_secret_free(NULL);
}

static void test_file(void **state)
{
    char path[] = "/tmp/pps-secret-XXXXXX";
    int fd = mkstemp(path);
    pps_profile *p;
    char *s = NULL;
    size_t len;

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cret\r\nsecond line\n", 20), 20);
    close(fd);
    assert_int_equal(chmod(path, 0600), 0);
    p = profile_with("password_file", path);
    assert_int_equal(pps_profile_get_secret(&s, &len, p), 0);
    assert_string_equal(s, "s3cret");
    assert_int_equal(len, 6);
    pps_secret_free(s);

    /* Group-readable is fine (root:pps 0640); others or group-write not. */
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(pps_profile_get_secret(&s, NULL, p), 0);
    pps_secret_free(s);
    s = NULL;
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(pps_profile_get_secret(&s, NULL, p), PPS_EPERM);
    assert_null(s);
    assert_non_null(strstr(pps_error_last()->message, "chmod 600"));
    assert_non_null(strstr(pps_error_last()->message, "profile 'office'"));
    assert_null(strstr(pps_error_last()->message, "s3cret"));
    assert_int_equal(chmod(path, 0660), 0);
    assert_int_equal(pps_profile_get_secret(&s, NULL, p), PPS_EPERM);
    unlink(path);
    assert_int_equal(pps_profile_get_secret(&s, NULL, p), PPS_ENOTFOUND);
    pps_profile_free(p);

    /* An empty file is no password. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    p = profile_with("password_file", path);
    assert_int_equal(pps_profile_get_secret(&s, NULL, p), PPS_EAUTH);
    assert_non_null(strstr(pps_error_last()->message, "empty"));
    unlink(path);
    pps_profile_free(p);
}

static long long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* No child of ours is left, running or zombie. */
static void assert_no_children(void)
{
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

typedef struct command_case {
    const char *command;
    int code;
    const char *result; /* success: the secret; failure: piece of message */
} command_case;

static const command_case commands[] = {
    {"echo token-123", 0, "token-123"},
    {"printf 'first\\r\\nsecond\\n'", 0, "first"},
    {"printf 'no newline'", 0, "no newline"},
    {"read x; echo \"got[$x]\"", 0, "got[]"}, /* stdin is /dev/null */
    {"echo s3cret; exit 3", PPS_EAUTH,
     "profile 'office': password_command exited with status 3"},
    {"false", PPS_EAUTH, "exited with status 1"},
    {"kill -9 $$", PPS_EAUTH, "killed by signal 9"},
    {"true", PPS_EAUTH, "empty password"},
    {"echo; echo late", PPS_EAUTH, "empty password"},
    {"/nonexistent/helper", PPS_EAUTH, "status 127"},
    /* The host ignores SIGPIPE (tests below set SIG_IGN); the child must
     * still get the default, or `yes` would spin for ever. */
    {"yes | head -n 1", 0, "y"},
};

static void test_command(void **state)
{
    size_t i;

    (void)state;
    signal(SIGPIPE, SIG_IGN);
    for (i = 0; i < sizeof(commands) / sizeof(*commands); i++) {
        const command_case *c = &commands[i];
        pps_profile *p = profile_with("password_command", c->command);
        char *s = NULL;
        int rc = pps_profile_get_secret(&s, NULL, p);

        if (rc != c->code)
            fail_msg("row %zu: rc %d, want %d (%s)", i, rc, c->code,
                     pps_error_last()->message);
        if (rc == 0 && strcmp(s, c->result) != 0)
            fail_msg("row %zu: got \"%s\"", i, s);
        if (rc != 0) {
            if (!strstr(pps_error_last()->message, c->result))
                fail_msg("row %zu: \"%s\" lacks \"%s\"", i,
                         pps_error_last()->message, c->result);
            /* The output never reaches the message. */
            assert_null(strstr(pps_error_last()->message, "s3cret"));
            assert_null(s);
        }
        pps_secret_free(s);
        pps_profile_free(p);
        assert_no_children();
    }
    signal(SIGPIPE, SIG_DFL);
}

static void test_command_timeout(void **state)
{
    char *s = NULL;
    long long start = ms_now();
    int rc;

    (void)state;
    /* The shell and a child of its own: the whole group dies. */
    rc = pps__secret_run_command(&s, NULL, "sleep 30 & sleep 30; echo x",
                                 "office", 500, 1024);
    assert_int_equal(rc, PPS_ETIMEOUT);
    assert_true(ms_now() - start < 3000);
    assert_non_null(strstr(pps_error_last()->message,
                           "did not finish within 1 s; killed it"));
    assert_null(s);
    assert_no_children();

    /* Output then silence: the deadline still holds while reaping. */
    start = ms_now();
    rc = pps__secret_run_command(&s, NULL, "echo tok; exec >&-; sleep 30",
                                 "office", 500, 1024);
    assert_int_equal(rc, PPS_ETIMEOUT);
    assert_true(ms_now() - start < 3000);
    assert_no_children();
}

static void test_command_output_bound(void **state)
{
    char *s = NULL;
    long long start = ms_now();
    int rc;

    (void)state;
    rc = pps__secret_run_command(&s, NULL, "yes", "office", 10000, 4096);
    assert_int_equal(rc, PPS_ETOOBIG);
    assert_true(ms_now() - start < 3000);
    assert_non_null(strstr(pps_error_last()->message, "more than 4096 bytes"));
    assert_null(s);
    assert_no_children();

    /* Exactly the bound is fine. */
    rc = pps__secret_run_command(&s, NULL,
                                 "head -c 4095 /dev/zero | tr '\\0' a; echo",
                                 "office", 10000, 4096);
    assert_int_equal(rc, 0);
    assert_int_equal(strlen(s), 4095);
    pps_secret_free(s);
    assert_no_children();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stored),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_command),
        cmocka_unit_test(test_command_timeout),
        cmocka_unit_test(test_command_output_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
