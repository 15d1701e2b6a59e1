/*
 * test-headers.c - the header reader: any chunk split, growing prefixes,
 * exact-size buffers, limits, tolerated junk, failing allocations.
 */
#include "../helpers/pps-test.h"

#include <stdio.h>

#include "pps/errors.h"
#include "pps/route.h"
#include "core/internal.h"

static const char message[] =
    "Return-Path: <zed@example.org>\r\n"
    "Received: from a by b\r\n"
    "\twith ESMTP; Fri, 27 Nov 2026 03:05:28 +0000\r\n"
    "To : Alice <alice@local.test>,\r\n"
    " bob@local.test\r\n"
    "cc: carol@local.test\n"
    "Subject: =?utf-8?q?h=C3=A9?=\r\n"
    "\r\n"
    "Body line 1\r\n"
    "Body: not a header\r\n";

/* The expected fields of `message`, values unfolded. */
static const struct {
    const char *name, *value;
} expected[] = {
    {"Return-Path", "<zed@example.org>"},
    {"Received", "from a by b\twith ESMTP; Fri, 27 Nov 2026 03:05:28 +0000"},
    {"To", "Alice <alice@local.test>, bob@local.test"},
    {"cc", "carol@local.test"},
    {"Subject", "=?utf-8?q?h=C3=A9?="},
};
#define N_EXPECTED (sizeof(expected) / sizeof(expected[0]))

static size_t header_len(void)
{
    return (size_t)(strstr(message, "\r\n\r\n") - message) + 4;
}

static void check_fields(const pps_header_reader *hr, const char *row)
{
    size_t i, len;
    const char *raw;

    if (pps_header_reader_field_count(hr) != N_EXPECTED)
        fail_msg("%s: %zu fields", row, pps_header_reader_field_count(hr));
    for (i = 0; i < N_EXPECTED; i++) {
        pps_header_field f;
        assert_int_equal(pps_header_reader_field(&f, hr, i), 0);
        if (f.name_len != strlen(expected[i].name) ||
            memcmp(f.name, expected[i].name, f.name_len) != 0 ||
            f.value_len != strlen(expected[i].value) ||
            memcmp(f.value, expected[i].value, f.value_len) != 0)
            fail_msg("%s: field %zu is %.*s: [%.*s]", row, i, (int)f.name_len,
                     f.name, (int)f.value_len, f.value);
    }
    raw = pps_header_reader_raw(hr, &len);
    assert_int_equal(len, header_len());
    assert_memory_equal(raw, message, len);
    assert_false(pps_header_reader_truncated(hr));
}

/* Feed `len` bytes of msg in pieces cut at the offsets in cuts[]; returns
 * the offset where the body starts (len when none). */
static size_t feed_cut(pps_header_reader *hr, const char *msg, size_t len,
                       const size_t *cuts, size_t ncuts)
{
    size_t off = 0, k, used;
    int rc = 0;

    for (k = 0; k <= ncuts && rc == 0; k++) {
        size_t end = k < ncuts ? cuts[k] : len;
        char *piece = pps_test_exact_copy(msg + off, end - off);
        rc = pps_header_reader_feed(hr, piece, end - off, &used);
        free(piece);
        assert_true(rc == 0 || rc == 1);
        if (rc == 0)
            assert_int_equal(used, end - off);
        off += used;
    }
    return off;
}

static void test_every_two_way_split(void **state)
{
    size_t len = sizeof(message) - 1, cut;

    (void)state;
    for (cut = 0; cut <= len; cut++) {
        pps_header_reader *hr;
        char row[32];
        assert_int_equal(pps_header_reader_new(&hr, 0), 0);
        snprintf(row, sizeof(row), "cut at %zu", cut);
        assert_int_equal(feed_cut(hr, message, len, &cut, 1), header_len());
        assert_true(pps_header_reader_is_done(hr));
        check_fields(hr, row);
        pps_header_reader_free(hr);
    }
}

static void test_every_three_way_split(void **state)
{
    size_t len = sizeof(message) - 1, cuts[2];

    (void)state;
    for (cuts[0] = 0; cuts[0] <= header_len(); cuts[0]++) {
        for (cuts[1] = cuts[0]; cuts[1] <= header_len(); cuts[1]++) {
            pps_header_reader *hr;
            assert_int_equal(pps_header_reader_new(&hr, 0), 0);
            assert_int_equal(feed_cut(hr, message, len, cuts, 2), header_len());
            check_fields(hr, "three-way");
            pps_header_reader_free(hr);
        }
    }
}

static void test_byte_by_byte(void **state)
{
    size_t len = sizeof(message) - 1, i, used, body = 0;
    pps_header_reader *hr;

    (void)state;
    assert_int_equal(pps_header_reader_new(&hr, 0), 0);
    for (i = 0; i < len; i++) {
        int rc = pps_header_reader_feed(hr, message + i, 1, &used);
        if (rc == 1) {
            /* the LF of the blank line is the last header byte */
            if (!body) {
                assert_int_equal(used, 1);
                assert_int_equal(i + 1, header_len());
                body = i + 1;
            } else {
                assert_int_equal(used, 0);
            }
        }
    }
    assert_int_equal(body, header_len());
    assert_int_equal(pps_header_reader_finish(hr), 0);
    check_fields(hr, "byte by byte");
    pps_header_reader_free(hr);
}

/* Every prefix of the message, then finish(): never more fields than the
 * whole, never a crash, and the raw block is the prefix itself. */
static void test_growing_prefix(void **state)
{
    size_t len = sizeof(message) - 1, n, used, raw_len;

    (void)state;
    for (n = 0; n <= len; n++) {
        pps_header_reader *hr;
        char *prefix = pps_test_exact_copy(message, n);
        int rc;
        assert_int_equal(pps_header_reader_new(&hr, 0), 0);
        rc = pps_header_reader_feed(hr, prefix, n, &used);
        assert_true(rc == 0 || rc == 1);
        assert_int_equal(pps_header_reader_finish(hr), 0);
        pps_header_reader_raw(hr, &raw_len);
        assert_int_equal(raw_len, n < header_len() ? n : header_len());
        assert_true(pps_header_reader_field_count(hr) <= N_EXPECTED);
        if (n >= header_len())
            check_fields(hr, "prefix");
        pps_header_reader_free(hr);
        free(prefix);
    }
}

static void test_limit(void **state)
{
    char big[3000];
    pps_header_reader *hr;
    size_t used, len;
    pps_header_field f;
    size_t pos = 0;

    (void)state;
    memset(big, 'x', sizeof(big));
    memcpy(big, "To: alice@local.test\nX-Long: ", 29);
    /* exactly the limit, no blank line: not truncated */
    assert_int_equal(pps_header_reader_new(&hr, 1024), 0);
    assert_int_equal(pps_header_reader_feed(hr, big, 1024, &used), 0);
    assert_int_equal(used, 1024);
    assert_int_equal(pps_header_reader_finish(hr), 0);
    assert_false(pps_header_reader_truncated(hr));
    pps_header_reader_free(hr);

    /* one byte more: truncated at the limit, the rest is body */
    assert_int_equal(pps_header_reader_new(&hr, 1024), 0);
    assert_int_equal(pps_header_reader_feed(hr, big, sizeof(big), &used), 1);
    assert_int_equal(used, 1024);
    assert_true(pps_header_reader_truncated(hr));
    pps_header_reader_raw(hr, &len);
    assert_int_equal(len, 1024);
    assert_int_equal(pps_header_reader_find(&f, hr, "to", &pos), 1);
    assert_int_equal(f.value_len, strlen("alice@local.test"));
    assert_int_equal(pps_header_reader_find(&f, hr, "X-Long", &pos), 1);
    assert_int_equal(f.value_len, 1024 - 29);
    /* more feeding changes nothing */
    assert_int_equal(pps_header_reader_feed(hr, big, 10, &used), 1);
    assert_int_equal(used, 0);
    pps_header_reader_free(hr);

    /* a limit below the minimum is raised to it */
    assert_int_equal(pps_header_reader_new(&hr, 10), 0);
    assert_int_equal(pps_header_reader_feed(hr, big, 1000, &used), 0);
    pps_header_reader_free(hr);
}

static void test_tolerated_shapes(void **state)
{
    static const char text[] =
        "From someone@example.org Fri Nov 27 03:05:28 2026\n"
        "\tcontinuation of nothing\n"
        ": no name\n"
        "To\t : a\0b@local.test\n"
        "X-8bit: J\xf6rg\n"
        "junk line\n"
        "Cc: last";
    char *msg = pps_test_exact_copy(text, sizeof(text) - 1);
    pps_header_reader *hr;
    pps_header_field f;
    size_t used;

    (void)state;
    assert_int_equal(pps_header_reader_new(&hr, 0), 0);
    assert_int_equal(pps_header_reader_feed(hr, msg, sizeof(text) - 1, &used),
                     0);
    assert_int_equal(pps_header_reader_finish(hr), 0);
    assert_int_equal(pps_header_reader_field_count(hr), 3);
    assert_int_equal(pps_header_reader_field(&f, hr, 0), 0);
    assert_int_equal(f.name_len, 2);
    assert_memory_equal(f.name, "To", 2);
    assert_int_equal(f.value_len, 14);
    assert_memory_equal(f.value,
                        "a\x80"
                        "b@local.test",
                        14);
    assert_true(f.flags & PPS_HEADER_FIELD_NUL);
    assert_true(f.flags & PPS_HEADER_FIELD_SPACE_BEFORE_COLON);
    assert_int_equal(pps_header_reader_field(&f, hr, 1), 0);
    assert_true(f.flags & PPS_HEADER_FIELD_8BIT);
    assert_int_equal(pps_header_reader_field(&f, hr, 2), 0);
    assert_int_equal(f.value_len, 4); /* no newline, still counted */
    assert_memory_equal(f.value, "last", 4);
    assert_int_equal(pps_header_reader_field(&f, hr, 3), PPS_ENOTFOUND);
    pps_header_reader_free(hr);
    free(msg);
}

static void test_empty_header_block(void **state)
{
    pps_header_reader *hr;
    size_t used, len;

    (void)state;
    assert_int_equal(pps_header_reader_new(&hr, 0), 0);
    assert_int_equal(pps_header_reader_feed(hr, "\r\nbody", 6, &used), 1);
    assert_int_equal(used, 2);
    assert_int_equal(pps_header_reader_field_count(hr), 0);
    pps_header_reader_raw(hr, &len);
    assert_int_equal(len, 2);
    pps_header_reader_free(hr);

    /* an empty message */
    assert_int_equal(pps_header_reader_new(&hr, 0), 0);
    assert_int_equal(pps_header_reader_feed(hr, NULL, 0, &used), 0);
    assert_int_equal(pps_header_reader_finish(hr), 0);
    assert_int_equal(pps_header_reader_field_count(hr), 0);
    assert_non_null(pps_header_reader_raw(hr, &len));
    assert_int_equal(len, 0);
    pps_header_reader_free(hr);
}

static void test_find_every_occurrence(void **state)
{
    static const char text[] = "To: a\nCC: b\nto: c\nX: d\nTO: e\n\n";
    pps_header_reader *hr;
    pps_header_field f;
    size_t pos = 0, used;
    char seen[8] = "";
    size_t n = 0;

    (void)state;
    assert_int_equal(pps_header_reader_new(&hr, 0), 0);
    assert_int_equal(pps_header_reader_feed(hr, text, sizeof(text) - 1, &used),
                     1);
    while (pps_header_reader_find(&f, hr, "To", &pos) == 1)
        seen[n++] = f.value[0];
    assert_string_equal(seen, "ace");
    assert_int_equal(pps_header_reader_find(&f, hr, "To", &pos), 0);
    assert_int_equal(pps_header_reader_find(&f, hr, NULL, &pos), PPS_EINVAL);
    pps_header_reader_free(hr);
}

static void test_bad_arguments(void **state)
{
    pps_header_reader *hr;
    size_t used, len;

    (void)state;
    assert_int_equal(pps_header_reader_new(NULL, 0), PPS_EINVAL);
    assert_int_equal(pps_header_reader_new(&hr, 0), 0);
    assert_int_equal(pps_header_reader_feed(hr, NULL, 3, &used), PPS_EINVAL);
    assert_int_equal(pps_header_reader_feed(hr, "x", 1, NULL), PPS_EINVAL);
    assert_int_equal(pps_header_reader_feed(NULL, "x", 1, &used), PPS_EINVAL);
    assert_int_equal(pps_header_reader_finish(NULL), PPS_EINVAL);
    assert_int_equal(pps_header_reader_field_count(NULL), 0);
    assert_non_null(pps_header_reader_raw(NULL, &len));
    pps_header_reader_free(hr);
    pps_header_reader_free(NULL);
}

/* The Nth allocation fails, for every N: an error comes back, nothing
 * leaks (ASan), and the reader can still be freed. */
static void test_failing_allocator(void **state)
{
    long n;
    size_t len = sizeof(message) - 1;

    (void)state;
    for (n = 0; n < 40; n++) {
        pps_header_reader *hr = NULL;
        size_t off = 0, used;
        int rc;

        pps__alloc_fail_after(n);
        rc = pps_header_reader_new(&hr, 0);
        if (rc == 0) {
            /* small chunks, so the buffers grow more than once */
            while (off < len) {
                size_t k = len - off < 5 ? len - off : 5;
                rc = pps_header_reader_feed(hr, message + off, k, &used);
                if (rc != 0)
                    break;
                off += used;
            }
            if (rc >= 0)
                rc = pps_header_reader_finish(hr);
        }
        pps__alloc_fail_after(-1);
        if (rc < 0) {
            assert_int_equal(rc, PPS_ENOMEM);
            assert_int_equal(pps_error_last()->code, PPS_ENOMEM);
        } else {
            check_fields(hr, "after allocation failures");
        }
        pps_header_reader_free(hr);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_two_way_split),
        cmocka_unit_test(test_every_three_way_split),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_growing_prefix),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_tolerated_shapes),
        cmocka_unit_test(test_empty_header_block),
        cmocka_unit_test(test_find_every_occurrence),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_failing_allocator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
