/*
 * test-route.c - pps_poll_route: a profile's routing with the embedder's
 * own deliverer answering which users exist (what bindings use).
 */
#include "../helpers/pps-test.h"

#include <stdio.h>

#include <pps/pps.h>
#include <pps/deliverer.h>

/* alice and bob exist at local.test; "down" makes every lookup fail for
 * now (an unreachable user directory). */
typedef struct directory {
    int down;
    int asked;
} directory;

static int dir_begin(pps_deliverer_txn *txn, void *payload)
{
    (void)txn;
    (void)payload;
    return PPS_EUNSUPPORTED;
}

static int dir_write(pps_deliverer_txn *txn, const char *data, size_t len,
                     void *payload)
{
    (void)txn;
    (void)data;
    (void)len;
    (void)payload;
    return PPS_EUNSUPPORTED;
}

static int dir_commit(pps_deliverer_txn *txn, void *payload)
{
    (void)txn;
    (void)payload;
    return PPS_EUNSUPPORTED;
}

static void dir_cancel(pps_deliverer_txn *txn, void *payload)
{
    (void)txn;
    (void)payload;
}

static int dir_user_exists(const char *user, const char *domain, void *payload)
{
    directory *d = payload;

    d->asked++;
    if (d->down)
        return -1;
    return strcmp(domain, "local.test") == 0 &&
           (strcmp(user, "alice") == 0 || strcmp(user, "bob") == 0);
}

static const pps_deliverer_class dir_class = {
    .version = PPS_DELIVERER_CLASS_VERSION,
    .name = "directory",
    .flags = PPS_DELIVERER_LF,
    .begin = dir_begin,
    .write = dir_write,
    .commit = dir_commit,
    .cancel = dir_cancel,
    .user_exists = dir_user_exists,
};

static pps_profile *profile(int distribute)
{
    pps_profile *p;

    assert_int_equal(pps_profile_new(&p, "office"), 0);
    assert_int_equal(pps_profile_set(p, "server", "127.0.0.1 995s"), 0);
    assert_int_equal(pps_profile_set(p, "user", "u@remote.test"), 0);
    assert_int_equal(pps_profile_set(p, "password", "pw"), 0);
    assert_int_equal(pps_profile_set(p, "local_user", "postmaster"), 0);
    assert_int_equal(pps_profile_set(p, "local_domain", "local.test"), 0);
    if (distribute)
        assert_int_equal(pps_profile_set(p, "distribute", "yes"), 0);
    return p;
}

static const char MSG[] = "From: x@elsewhere.example\r\n"
                          "To: Alice <ALICE@local.test>, kate@other.example\r\n"
                          "Cc: bob@local.test, nobody@local.test\r\n"
                          "Subject: hi\r\n"
                          "\r\n"
                          "body\r\n";

/* Route MSG (in an exact-size buffer) and return the recipients joined
 * by spaces into buf. */
static int route(char *buf, size_t size, pps_profile *p, directory *dir)
{
    pps_poll_options o = PPS_POLL_OPTIONS_INIT;
    pps_route_result *res = NULL;
    char *msg = pps_test_exact_copy(MSG, sizeof(MSG) - 1);
    size_t i, used = 0;
    int err;

    assert_int_equal(pps_deliver_new_custom(&o.deliver, &dir_class, dir), 0);
    err = pps_poll_route(&res, p, &o, msg, sizeof(MSG) - 1);
    buf[0] = '\0';
    for (i = 0; res && i < pps_route_result_count(res); i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? " " : "",
                         pps_route_result_recipient(res, i));
        assert_true(n > 0 && (size_t)n < size - used);
        used += (size_t)n;
    }
    if (err < 0)
        assert_null(res);
    pps_route_result_free(res);
    pps_deliver_free(o.deliver);
    free(msg);
    return err;
}

static void test_catch_all(void **state)
{
    directory dir = {0, 0};
    pps_profile *p = profile(1);
    char got[256];

    (void)state;
    assert_int_equal(route(got, sizeof(got), p, &dir), 0);
    /* nobody@local.test does not exist: the fallback user gets a copy. */
    assert_string_equal(
        got, "alice@local.test bob@local.test postmaster@local.test");
    assert_true(dir.asked >= 3);
    pps_profile_free(p);
}

static void test_single_drop(void **state)
{
    directory dir = {0, 0};
    pps_profile *p = profile(0);
    char got[256];

    (void)state;
    assert_int_equal(route(got, sizeof(got), p, &dir), 0);
    assert_string_equal(got, "postmaster@local.test");
    pps_profile_free(p);
}

static void test_lookup_down_is_temporary(void **state)
{
    directory dir = {1, 0};
    pps_profile *p = profile(1);
    char got[256];

    (void)state;
    assert_int_equal(route(got, sizeof(got), p, &dir), PPS_ETEMP);
    assert_string_equal(got, "");
    pps_profile_free(p);
}

static void test_bad_arguments(void **state)
{
    pps_poll_options o = PPS_POLL_OPTIONS_INIT;
    pps_route_result *res = (pps_route_result *)&o;
    pps_profile *p = profile(1), *incomplete;

    (void)state;
    /* No deliverer to ask. */
    assert_int_equal(pps_poll_route(&res, p, &o, "x", 1), PPS_EINVAL);
    assert_null(res);
    assert_int_equal(pps_deliver_new_custom(&o.deliver, &dir_class, NULL), 0);
    assert_int_equal(pps_poll_route(NULL, p, &o, "x", 1), PPS_EINVAL);
    assert_int_equal(pps_poll_route(&res, p, &o, NULL, 1), PPS_EINVAL);
    o.version = 99;
    assert_int_equal(pps_poll_route(&res, p, &o, "x", 1), PPS_EINVAL);
    o.version = PPS_POLL_OPTIONS_VERSION;
    /* A profile that is not complete is a configuration error. */
    assert_int_equal(pps_profile_new(&incomplete, "half"), 0);
    assert_int_equal(pps_poll_route(&res, incomplete, &o, "x", 1), PPS_ECONFIG);
    assert_non_null(strstr(pps_error_last()->message, "half"));
    pps_profile_free(incomplete);
    pps_deliver_free(o.deliver);
    pps_profile_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catch_all),
        cmocka_unit_test(test_single_drop),
        cmocka_unit_test(test_lookup_down_is_temporary),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
