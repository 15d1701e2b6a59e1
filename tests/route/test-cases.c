/*
 * test-cases.c - the table of real-world header shapes
 * (cases/headers.txt), routed under single drop, To/Cc distribution and
 * envelope-header policies.  Every failing row is reported by name with
 * the router's own explanation, then the test fails.
 *
 *     test-route-cases CASES_FILE
 */
#include "../helpers/pps-test.h"

#include <stdio.h>

#include "pps/errors.h"
#include "pps/route.h"
#include "route-cases.h"

static const char *cases_path;

/* Feed the message in chunks of `chunk` bytes, as a fetcher would. */
static pps_route_result *route_chunked(const pps_route_policy *pol,
                                       const char *msg, size_t len,
                                       size_t chunk)
{
    pps_header_reader *hr;
    pps_route_result *res = NULL;
    size_t off = 0, used;
    int rc = 0;

    assert_int_equal(pps_header_reader_new(&hr, 0), 0);
    while (off < len && rc == 0) {
        size_t n = len - off < chunk ? len - off : chunk;
        rc = pps_header_reader_feed(hr, msg + off, n, &used);
        assert_true(rc >= 0);
        off += used;
    }
    assert_int_equal(pps_header_reader_finish(hr), 0);
    assert_int_equal(pps_route(&res, pol, hr), 0);
    pps_header_reader_free(hr);
    return res;
}

/* "a b c" against the result; 1 when equal (same order). */
static int same_recipients(const pps_route_result *res, const char *want)
{
    char buf[1024];
    size_t i = 0;
    char *tok, *save = NULL;

    snprintf(buf, sizeof(buf), "%s", want);
    for (tok = strtok_r(buf, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save), i++) {
        const char *got = pps_route_result_recipient(res, i);
        if (!got || strcmp(got, tok) != 0)
            return 0;
    }
    return i == pps_route_result_count(res);
}

static void print_got(const char *row, const char *what, const char *want,
                      pps_route_result *res)
{
    const char *explain = "";
    size_t i;

    pps_route_result_explain(&explain, res);
    fprintf(stderr, "FAILED row \"%s\" (%s)\n  want: %s\n  got: ", row, what,
            want);
    for (i = 0; i < pps_route_result_count(res); i++)
        fprintf(stderr, " %s", pps_route_result_recipient(res, i));
    fprintf(stderr, "\n  explain:\n%s\n", explain);
}

static int check(const route_case *c, const pps_route_policy *pol,
                 const char *what, const char *want)
{
    static const size_t chunks[] = {1, 2, 3, 7, 64};
    char *msg = pps_test_exact_copy(c->message, c->message_len);
    pps_route_result *res = NULL;
    int ok = 1;
    size_t i;

    assert_int_equal(pps_route_buffer(&res, pol, msg, c->message_len, 0), 0);
    if (!same_recipients(res, want)) {
        print_got(c->name, what, want, res);
        ok = 0;
    }
    pps_route_result_free(res);
    /* The same answer whatever the chunk size. */
    for (i = 0; ok && i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        res = route_chunked(pol, msg, c->message_len, chunks[i]);
        if (!same_recipients(res, want)) {
            fprintf(stderr, "chunks of %zu:\n", chunks[i]);
            print_got(c->name, what, want, res);
            ok = 0;
        }
        pps_route_result_free(res);
    }
    free(msg);
    return ok;
}

static void test_table(void **state)
{
    route_cases cases;
    pps_route_policy single, distribute, envelope;
    size_t i, failed = 0;

    (void)state;
    assert_int_equal(route_cases_load(&cases, cases_path), 0);
    /* The issue asks for at least 80 real-world shapes. */
    assert_true(cases.count >= 80);
    route_cases_policy(&single, 0, 0);
    route_cases_policy(&distribute, 1, 0);
    route_cases_policy(&envelope, 1, 1);
    for (i = 0; i < cases.count; i++) {
        const route_case *c = &cases.items[i];
        failed += !check(c, &single, "single drop", "postmaster@local.test");
        failed += !check(c, &distribute, "distribute", c->distribute);
        failed += !check(c, &envelope, "envelope headers", c->envelope);
    }
    printf("%zu cases, %zu failed checks\n", cases.count, failed);
    route_cases_free(&cases);
    assert_int_equal(failed, 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
    };

    if (argc != 2) {
        fprintf(stderr, "usage: %s CASES_FILE\n", argv[0]);
        return 2;
    }
    cases_path = argv[1];
    return cmocka_run_group_tests(tests, NULL, NULL);
}
