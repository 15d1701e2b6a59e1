/*
 * test-tag.c - delivery tags: the Maildir file name carries each
 * recipient's tag (in new/, and in cur/ after a Dovecot-style rename),
 * pps_deliver_find answers 1 / 0 from it, every other deliverer cannot
 * tell, and tags that are not hex digits are refused before anything is
 * begun.
 */
#include "../helpers/pps-test.h"
#define MAILDIR_FIXTURE_PREFIX "pps-tag"
#include "maildir-fixture.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pps/deliver.h"
#include "pps/deliverer.h"
#include "pps/errors.h"

#define TAG_A "0123456789abcdef0123456789abcdef"
#define TAG_B "fedcba9876543210fedcba9876543210"
#define TAG_C "00000000000000000000000000000042"

#define MSG "Subject: hi\r\n\r\nbody\r\n"

/* Files in DIR (dot names skipped); the last name into name. */
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
                snprintf(name, size, "%s", e->d_name);
        }
    closedir(d);
    return n;
}

static int deliver_tagged(pps_deliver *d, const char *const *rcpts,
                          const char *const *tags, size_t n)
{
    int err = pps_deliver_begin_tagged(d, "", rcpts, tags, n, NULL, 0);

    if (err == 0)
        err = pps_deliver_write(d, MSG, strlen(MSG));
    if (err == 0)
        err = pps_deliver_commit(d);
    return err;
}

/* "T<tag>." in the unique part, before any ":2," */
static void assert_name_has_tag(const char *name, const char *tag)
{
    char want[80];
    const char *at, *colon = strstr(name, ":2,");

    snprintf(want, sizeof(want), "T%s.", tag);
    at = strstr(name, want);
    if (!at || (colon && at > colon))
        fail_msg("name %s does not carry %s", name, want);
    /* Maildir: "<sec>.<unique>.<host>": the tag sits in the second part. */
    assert_true(strchr(name, '.') < at);
}

static void test_tag_in_name_and_find(void **state)
{
    const char *rcpts[] = {"alice@local.test", "bob@local.test"};
    const char *tags[] = {TAG_A, TAG_B};
    char dir[256], name[256];
    pps_deliver *d = new_maildir(fixture_tmpl);

    (void)state;
    /* Nothing there yet. */
    assert_int_equal(pps_deliver_find(d, "alice@local.test", TAG_A), 0);
    assert_int_equal(deliver_tagged(d, rcpts, tags, 2), 0);

    user_dir(dir, sizeof(dir), "alice", "new");
    assert_int_equal(count_files(dir, name, sizeof(name)), 1);
    assert_name_has_tag(name, TAG_A);
    user_dir(dir, sizeof(dir), "bob", "new");
    assert_int_equal(count_files(dir, name, sizeof(name)), 1);
    assert_name_has_tag(name, TAG_B);
    user_dir(dir, sizeof(dir), "alice", "tmp");
    assert_int_equal(count_files(dir, NULL, 0), 0);

    assert_int_equal(pps_deliver_find(d, "alice@local.test", TAG_A), 1);
    assert_int_equal(pps_deliver_find(d, "bob@local.test", TAG_B), 1);
    /* Each recipient's own tag only. */
    assert_int_equal(pps_deliver_find(d, "alice@local.test", TAG_B), 0);
    assert_int_equal(pps_deliver_find(d, "bob@local.test", TAG_A), 0);
    assert_int_equal(pps_deliver_find(d, "alice@local.test", TAG_C), 0);
    /* A prefix of a tag is another tag. */
    assert_int_equal(
        pps_deliver_find(d, "alice@local.test", "0123456789abcdef"), 0);
    /* No such user: nothing was delivered there. */
    assert_int_equal(pps_deliver_find(d, "carol@local.test", TAG_A), 0);
    pps_deliver_free(d);
}

static void test_found_after_dovecot_rename(void **state)
{
    const char *rcpts[] = {"alice@local.test"};
    const char *tags[] = {TAG_A};
    char dir[256], name[256], from[600], to[600];
    pps_deliver *d = new_maildir(fixture_tmpl);

    (void)state;
    assert_int_equal(deliver_tagged(d, rcpts, tags, 1), 0);
    user_dir(dir, sizeof(dir), "alice", "new");
    assert_int_equal(count_files(dir, name, sizeof(name)), 1);
    /* What Dovecot does when a client sees the message: new/ -> cur/ with
     * the flags after ":2,". */
    snprintf(from, sizeof(from), "%s/%s", dir, name);
    user_dir(dir, sizeof(dir), "alice", "cur");
    snprintf(to, sizeof(to), "%s/%s:2,S", dir, name);
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(count_files(dir, name, sizeof(name)), 1);
    assert_name_has_tag(name, TAG_A);
    assert_int_equal(pps_deliver_find(d, "alice@local.test", TAG_A), 1);

    /* The user deletes it: not there any more. */
    assert_int_equal(unlink(to), 0);
    assert_int_equal(pps_deliver_find(d, "alice@local.test", TAG_A), 0);
    pps_deliver_free(d);
}

static void test_untagged_unchanged(void **state)
{
    const char *rcpts[] = {"alice@local.test", "bob@local.test"};
    const char *some[] = {NULL, TAG_B};
    char dir[256], name[256];
    pps_deliver *d = new_maildir(fixture_tmpl);

    (void)state;
    /* The old call: no tags, names as before. */
    assert_int_equal(pps_deliver_begin(d, "", rcpts, 1, NULL, 0), 0);
    assert_int_equal(pps_deliver_write(d, MSG, strlen(MSG)), 0);
    assert_int_equal(pps_deliver_commit(d), 0);
    user_dir(dir, sizeof(dir), "alice", "new");
    assert_int_equal(count_files(dir, name, sizeof(name)), 1);
    {
        /* "<sec>.<unique>.<host>": no tag in the unique part. */
        const char *u = strchr(name, '.') + 1;
        const char *end = strchr(u, '.');
        assert_non_null(end);
        assert_null(memchr(u, 'T', (size_t)(end - u)));
    }
    /* A NULL tag for one recipient only. */
    assert_int_equal(deliver_tagged(d, rcpts, some, 2), 0);
    assert_int_equal(count_files(dir, NULL, 0), 2);
    assert_int_equal(pps_deliver_find(d, "alice@local.test", TAG_B), 0);
    assert_int_equal(pps_deliver_find(d, "bob@local.test", TAG_B), 1);
    pps_deliver_free(d);
}

static void test_bad_tags_refused(void **state)
{
    static const char *const bad[] = {
        "",
        "0123456789abcde",                  /* 15 */
        "0123456789abcdeg0123456789abcdef", /* 'g' */
        "0123456789abcdef/123456789abcdef", /* '/' */
        "0123456789abcdef.123456789abcdef", /* '.' */
        "0123456789abcdef:2,S56789abcdef",  /* ':' */
        "../../../../etc/passwd0123456789",
        TAG_A TAG_B "0", /* 65 */
    };
    const char *rcpts[] = {"alice@local.test"};
    char dir[256];
    size_t i;
    pps_deliver *d = new_maildir(fixture_tmpl);

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *tags[1];
        char *exact = pps_test_exact_copy(bad[i], strlen(bad[i]) + 1);
        tags[0] = exact;
        if (pps_deliver_begin_tagged(d, "", rcpts, tags, 1, NULL, 0) !=
            PPS_EINVAL)
            fail_msg("row %zu: tag \"%s\" accepted by begin", i, bad[i]);
        if (pps_deliver_find(d, "alice@local.test", exact) != PPS_EINVAL)
            fail_msg("row %zu: tag \"%s\" accepted by find", i, bad[i]);
        free(exact);
    }
    /* Nothing begun: no transaction, no file. */
    assert_int_equal(pps_deliver_write(d, "x", 1), PPS_EINVAL);
    user_dir(dir, sizeof(dir), "alice", "tmp");
    assert_true(count_files(dir, NULL, 0) <= 0);
    /* Edges that are fine: 16 and 64 digits, upper case. */
    {
        const char *ok[] = {"0123456789ABCDEF"};
        assert_int_equal(deliver_tagged(d, rcpts, ok, 1), 0);
        assert_int_equal(
            pps_deliver_find(d, "alice@local.test", "0123456789ABCDEF"), 1);
        ok[0] = TAG_A TAG_B;
        assert_int_equal(deliver_tagged(d, rcpts, ok, 1), 0);
        assert_int_equal(pps_deliver_find(d, "alice@local.test", TAG_A TAG_B),
                         1);
    }
    assert_int_equal(pps_deliver_find(d, "alice@local.test", NULL), PPS_EINVAL);
    assert_int_equal(pps_deliver_find(d, "not-an-address", TAG_A), PPS_EINVAL);
    assert_int_equal(pps_deliver_find(NULL, "alice@local.test", TAG_A),
                     PPS_EINVAL);
    pps_deliver_free(d);
}

static void test_find_refused_during_transaction(void **state)
{
    const char *rcpts[] = {"alice@local.test"};
    const char *tags[] = {TAG_A};
    pps_deliver *d = new_maildir(fixture_tmpl);

    (void)state;
    assert_int_equal(pps_deliver_begin_tagged(d, "", rcpts, tags, 1, NULL, 0),
                     0);
    assert_int_equal(pps_deliver_find(d, "alice@local.test", TAG_A),
                     PPS_EINVAL);
    pps_deliver_abort(d);
    /* Aborted: nothing delivered, and find says so. */
    assert_int_equal(pps_deliver_find(d, "alice@local.test", TAG_A), 0);
    pps_deliver_free(d);
}

static void test_other_deliverers_cannot_tell(void **state)
{
    static const char *const methods[][2] = {
        {"null", NULL},
        {"lmtp", "127.0.0.1:1"},
        {"smtp", "127.0.0.1:1"},
        {"pipe", NULL},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        pps_deliver_options o = PPS_DELIVER_OPTIONS_INIT;
        pps_deliver *d = NULL;
        o.method = methods[i][0];
        o.server = methods[i][1];
        o.command = "/bin/true";
        if (pps_deliver_new(&d, &o) != 0)
            fail_msg("%s: %s", o.method, pps_error_last()->message);
        if (pps_deliver_find(d, "alice@local.test", TAG_A) != PPS_EUNSUPPORTED)
            fail_msg("%s: find did not say it cannot tell", o.method);
        pps_deliver_free(d);
    }
}

/* --- a custom deliverer sees the tags ------------------------------------ */

typedef struct seen {
    char tags[2][80];
    int have[2];
    char find_args[200];
} seen;

static int c_begin(pps_deliverer_txn *txn, void *payload)
{
    seen *s = payload;
    size_t i;

    for (i = 0; i < 2; i++) {
        const char *t = pps_deliverer_txn_tag(txn, i);
        s->have[i] = t != NULL;
        snprintf(s->tags[i], sizeof(s->tags[i]), "%s", t ? t : "");
    }
    assert_null(pps_deliverer_txn_tag(txn, 2)); /* out of range */
    return 0;
}

static int c_write(pps_deliverer_txn *txn, const char *data, size_t len,
                   void *payload)
{
    (void)txn, (void)data, (void)len, (void)payload;
    return 0;
}

static int c_commit(pps_deliverer_txn *txn, void *payload)
{
    size_t i;

    (void)payload;
    for (i = 0; i < pps_deliverer_txn_count(txn); i++)
        pps_deliverer_txn_set(txn, i, PPS_DELIVER_DELIVERED, 0, 0, "", 0);
    return 0;
}

static void c_cancel(pps_deliverer_txn *txn, void *payload)
{
    (void)txn, (void)payload;
}

static int c_find(const char *user, const char *domain, const char *tag,
                  void *payload)
{
    seen *s = payload;

    snprintf(s->find_args, sizeof(s->find_args), "%s|%s|%s", user, domain, tag);
    return 1;
}

static void test_custom_class_versions(void **state)
{
    pps_deliverer_class v2 = {
        .version = PPS_DELIVERER_CLASS_VERSION,
        .name = "custom",
        .begin = c_begin,
        .write = c_write,
        .commit = c_commit,
        .cancel = c_cancel,
        .find = c_find,
    };
    /* A version 1 class: `find` must never be read (here it is set, to
     * prove it is ignored; a real one would not have the field). */
    pps_deliverer_class v1 = v2;
    pps_deliverer_class v3 = v2;
    const char *rcpts[] = {"alice@local.test", "bob@local.test"};
    const char *tags[] = {TAG_A, NULL};
    seen s;
    pps_deliver *d = NULL;

    (void)state;
    memset(&s, 0, sizeof(s));
    v1.version = 1;
    v3.version = PPS_DELIVERER_CLASS_VERSION + 1;
    assert_int_equal(PPS_DELIVERER_CLASS_VERSION, 2);

    assert_int_equal(pps_deliver_new_custom(&d, &v2, &s), 0);
    assert_int_equal(pps_deliver_begin_tagged(d, "", rcpts, tags, 2, NULL, 0),
                     0);
    assert_int_equal(s.have[0], 1);
    assert_string_equal(s.tags[0], TAG_A);
    assert_int_equal(s.have[1], 0);
    assert_int_equal(pps_deliver_commit(d), 0);
    /* Without tags the getter gives NULL. */
    assert_int_equal(pps_deliver_begin(d, "", rcpts, 2, NULL, 0), 0);
    assert_int_equal(s.have[0] + s.have[1], 0);
    assert_int_equal(pps_deliver_commit(d), 0);
    assert_int_equal(pps_deliver_find(d, "bob@local.test", TAG_B), 1);
    assert_string_equal(s.find_args, "bob|local.test|" TAG_B);
    pps_deliver_free(d);

    s.find_args[0] = '\0';
    assert_int_equal(pps_deliver_new_custom(&d, &v1, &s), 0);
    assert_int_equal(pps_deliver_find(d, "bob@local.test", TAG_B),
                     PPS_EUNSUPPORTED);
    assert_string_equal(s.find_args, "");
    pps_deliver_free(d);

    v2.find = NULL;
    assert_int_equal(pps_deliver_new_custom(&d, &v2, &s), 0);
    assert_int_equal(pps_deliver_find(d, "bob@local.test", TAG_B),
                     PPS_EUNSUPPORTED);
    pps_deliver_free(d);

    assert_int_equal(pps_deliver_new_custom(&d, &v3, &s), PPS_EINVAL);
    assert_null(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tag_in_name_and_find, fixture_up,
                                        fixture_down),
        cmocka_unit_test_setup_teardown(test_found_after_dovecot_rename,
                                        fixture_up, fixture_down),
        cmocka_unit_test_setup_teardown(test_untagged_unchanged, fixture_up,
                                        fixture_down),
        cmocka_unit_test_setup_teardown(test_bad_tags_refused, fixture_up,
                                        fixture_down),
        cmocka_unit_test_setup_teardown(test_find_refused_during_transaction,
                                        fixture_up, fixture_down),
        cmocka_unit_test(test_other_deliverers_cannot_tell),
        cmocka_unit_test(test_custom_class_versions),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
