/*
 * test-config.c - pps.conf: defaults, every key, errors with file:line.
 */
#include "../helpers/pps-test.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pps/errors.h"
#include "pps/profile.h"
#include "core/internal.h"
#include "profile/profile-internal.h"

static pps_config *parse_ok(const char *text)
{
    pps_config *cfg = NULL;
    char *exact = pps_test_exact_copy(text, strlen(text));

    if (pps_config_parse(&cfg, "/etc/pps", exact, strlen(text),
                         "/etc/pps/pps.conf") != 0)
        fail_msg("%s", pps_error_last()->message);
    free(exact);
    return cfg;
}

static void test_defaults(void **state)
{
    pps_config *cfg;

    (void)state;
    assert_int_equal(pps_config_new(&cfg, "/etc/pps"), 0);
    assert_string_equal(pps_config_get(cfg, "delivery", "method"), "maildir");
    assert_string_equal(pps_config_get(cfg, "delivery", "path"),
                        "/var/vmail/%d/%u/Maildir");
    assert_null(pps_config_get(cfg, "delivery", "server"));
    assert_null(pps_config_get(cfg, "delivery", "command"));
    assert_string_equal(pps_config_get(cfg, "delivery", "sender"), "");
    assert_string_equal(pps_config_get(cfg, "service", "log_file"),
                        "/etc/pps/pop3.log");
    assert_string_equal(pps_config_get(cfg, "service", "state_dir"),
                        "/etc/pps/state");
    assert_string_equal(pps_config_get(cfg, "service", "log_level"), "info");
    assert_string_equal(pps_config_get(cfg, "service", "max_parallel"), "8");
    assert_int_equal(pps_config_max_parallel(cfg), 8);
    assert_int_equal(pps_config_alias_count(cfg), 0);
    assert_null(pps_config_get(cfg, "nope", "method"));
    assert_null(pps_config_get(cfg, "delivery", "nope"));
    pps_config_free(cfg);

    /* An empty file is all defaults too. */
    cfg = parse_ok("");
    assert_string_equal(pps_config_get(cfg, "delivery", "method"), "maildir");
    pps_config_free(cfg);
}

static void test_full(void **state)
{
    pps_config *cfg;
    const char *a, *u;

    (void)state;
    cfg = parse_ok("# global settings\n"
                   "[delivery]\n"
                   "method = LMTP\n"
                   "server = Localhost:24   # dovecot\n"
                   "sender = postmaster@Local.Test\n"
                   "auth_user = pps\n"
                   "auth_password_file = /etc/pps/smtp.pw\n"
                   "\n"
                   "[service]\n"
                   "max_parallel = 16\n"
                   "log_file = /var/log/pps/pop3.log\n"
                   "log_level = debug\n"
                   "user = pps\n"
                   "state_dir = /var/lib/pps\n"
                   "[aliases]\n"
                   "sales = alice\n"
                   "info = bob\n");
    assert_string_equal(pps_config_get(cfg, "delivery", "method"), "lmtp");
    assert_string_equal(pps_config_get(cfg, "delivery", "server"),
                        "localhost:24");
    assert_string_equal(pps_config_get(cfg, "delivery", "sender"),
                        "postmaster@local.test");
    assert_int_equal(pps_config_max_parallel(cfg), 16);
    assert_string_equal(pps_config_get(cfg, "service", "log_file"),
                        "/var/log/pps/pop3.log");
    assert_string_equal(pps_config_get(cfg, "service", "state_dir"),
                        "/var/lib/pps");
    assert_int_equal(pps_config_alias_count(cfg), 2);
    assert_int_equal(pps_config_alias_at(&a, &u, cfg, 1), 0);
    assert_string_equal(a, "info");
    assert_string_equal(u, "bob");
    assert_int_equal(pps_config_alias_at(&a, &u, cfg, 2), PPS_ENOTFOUND);
    assert_string_equal(pps_config_get(cfg, "aliases", "SALES"), "alice");
    assert_null(pps_config_get(cfg, "aliases", "nobody"));
    pps_config_free(cfg);

    /* The server default follows the method. */
    cfg = parse_ok("[delivery]\nmethod = lmtp\n");
    assert_string_equal(pps_config_get(cfg, "delivery", "server"),
                        "/run/dovecot/lmtp");
    pps_config_free(cfg);
    cfg = parse_ok("[delivery]\nmethod = emailarchitect\n");
    assert_string_equal(pps_config_get(cfg, "delivery", "server"),
                        "127.0.0.1:25");
    pps_config_free(cfg);
    cfg = parse_ok("[delivery]\nmethod = smtp\nserver = [::1]:2525\n");
    assert_string_equal(pps_config_get(cfg, "delivery", "server"),
                        "[::1]:2525");
    pps_config_free(cfg);
    cfg = parse_ok("[delivery]\nmethod = pipe\n"
                   "command = /usr/lib/dovecot/dovecot-lda -d %u\n");
    assert_string_equal(pps_config_get(cfg, "delivery", "command"),
                        "/usr/lib/dovecot/dovecot-lda -d %u");
    pps_config_free(cfg);
}

typedef struct bad_case {
    const char *text;
    const char *hint;
} bad_case;

static const bad_case bad[] = {
    {"method = lmtp\n", "pps.conf:1: key 'method' must follow a section"},
    {"[delivery]\nmetod = lmtp\n",
     "pps.conf:2: [delivery] key 'metod' is unknown (did you mean "
     "'method'?)"},
    {"[delivry]\n", "pps.conf:1: section [delivry] is unknown (did you mean "
                    "'delivery'?)"},
    {"[delivery]\nmethod = mbox\n",
     "pps.conf:2: [delivery] key 'method': \"mbox\" is not one of maildir"},
    {"[delivery]\nmethod = lmtp\nmethod = smtp\n",
     "pps.conf:3: [delivery] key 'method' is set twice (first on line 2)"},
    {"[delivery]\nmethod = pipe\n", "[delivery] method = pipe needs key "
                                    "'command'"},
    {"[delivery]\npath = Maildir\n", "absolute path"},
    {"[delivery]\npath = /var/mail/%n\n", "not %u, %d or %%"},
    {"[delivery]\nserver = localhost\n", "not host:port"},
    {"[delivery]\nserver = localhost:0\n", "no port between 1 and 65535"},
    {"[delivery]\nserver = localhost:99999\n", "no port between"},
    {"[delivery]\nserver = [::1:24\n", "not [ipv6]:port"},
    {"[delivery]\nsender = nobody\n", "not an address"},
    {"[delivery]\nauth_user = pps\n", "go together"},
    {"[service]\nmax_parallel = 0\n", "out of range (1 to 256)"},
    {"[service]\nmax_parallel = many\n", "not a number"},
    {"[service]\nlog_level = loud\n", "not one of error, warn"},
    {"[service]\nuser = -rf\n", "not an account name"},
    {"[aliases]\nsales = alice\nSales = bob\n",
     "pps.conf:3: [aliases] alias 'Sales' is set twice (first on line 2)"},
    {"[aliases]\nsales = a/b\n", "pps.conf:2: [aliases] alias 'sales'"},
    {"[delivery\n", "needs its closing ']'"},
    {"[]\n", "needs a name"},
    {"[delivery] x\n", "unexpected text after the section header"},
};

static void test_errors(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        pps_config *cfg = NULL;
        size_t n = strlen(bad[i].text);
        char *exact = pps_test_exact_copy(bad[i].text, n);
        int rc = pps_config_parse(&cfg, "/etc/pps", exact, n, "pps.conf");
        free(exact);
        if (rc != PPS_ECONFIG)
            fail_msg("row %zu: rc %d", i, rc);
        assert_null(cfg);
        if (!strstr(pps_error_last()->message, bad[i].hint))
            fail_msg("row %zu: \"%s\" lacks \"%s\"", i,
                     pps_error_last()->message, bad[i].hint);
    }
}

static void test_load(void **state)
{
    char dir[] = "/tmp/pps-config-XXXXXX";
    char path[256];
    pps_config *cfg = NULL;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    /* No pps.conf: all defaults. */
    assert_int_equal(pps_config_load(&cfg, dir), 0);
    assert_string_equal(pps_config_get(cfg, "delivery", "method"), "maildir");
    pps_config_free(cfg);

    snprintf(path, sizeof(path), "%s/pps.conf", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("[delivery]\nmethod = null\n[service]\nlog_levl = info\n", f);
    fclose(f);
    assert_int_equal(pps_config_load(&cfg, dir), PPS_ECONFIG);
    assert_non_null(strstr(pps_error_last()->message, "/pps.conf:4: "));
    assert_non_null(strstr(pps_error_last()->message, "'log_level'"));

    f = fopen(path, "w");
    assert_non_null(f);
    fputs("[delivery]\nmethod = null\n", f);
    fclose(f);
    assert_int_equal(pps_config_load(&cfg, dir), 0);
    assert_string_equal(pps_config_get(cfg, "delivery", "method"), "null");
    pps_config_free(cfg);
    unlink(path);
    rmdir(dir);
}

static void test_failing_allocator(void **state)
{
    static const char text[] = "[delivery]\nmethod = lmtp\n"
                               "[service]\nmax_parallel = 4\n"
                               "[aliases]\na = b\nc = d\n";
    long n;
    int done = 0;

    (void)state;
    for (n = 0; n < 200 && !done; n++) {
        pps_config *cfg = NULL;
        int rc;
        pps__alloc_fail_after(n);
        rc = pps_config_parse(&cfg, "/d", text, sizeof(text) - 1, "f");
        pps__alloc_fail_after(-1);
        if (rc == 0)
            done = 1;
        else
            assert_int_equal(rc, PPS_ENOMEM);
        pps_config_free(cfg);
    }
    assert_true(done);
}

/* Every prefix of a full pps.conf parses or fails cleanly with a message;
 * the whole text parses. */
static void test_growing_prefix(void **state)
{
    static const char text[] = "# pps.conf\n"
                               "[delivery]\n"
                               "method = smtp\n"
                               "server = \"[::1]:2525\"  # local\n"
                               "sender = postmaster@local.test\n"
                               "[service]\n"
                               "max_parallel = 12\n"
                               "log_level = trace\n"
                               "[aliases]\n"
                               "sales = alice\n";
    size_t n, len = sizeof(text) - 1;

    (void)state;
    for (n = 0; n <= len; n++) {
        pps_config *cfg = NULL;
        char *exact = pps_test_exact_copy(text, n);
        int rc = pps_config_parse(&cfg, "/d", exact, n, "pps.conf");
        free(exact);
        if (rc < 0) {
            assert_int_equal(rc, PPS_ECONFIG);
            assert_null(cfg);
            assert_non_null(strstr(pps_error_last()->message, "pps.conf:"));
        }
        if (n == len) {
            assert_int_equal(rc, 0);
            assert_string_equal(pps_config_get(cfg, "delivery", "server"),
                                "[::1]:2525");
            assert_int_equal(pps_config_max_parallel(cfg), 12);
        }
        pps_config_free(cfg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_failing_allocator),
        cmocka_unit_test(test_growing_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
