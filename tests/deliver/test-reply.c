/*
 * test-reply.c - LMTP/SMTP replies: single and multi-line, every chunk
 * split, bounded lines and line counts, and the refusals.
 */
#include "../helpers/pps-test.h"

#include <stdio.h>

#include "deliver/deliver-int.h"
#include "pps/errors.h"

typedef struct reply_case {
    const char *in;
    int rc; /* 1 complete, 0 needs more, or PPS_EPROTO */
    int code;
    const char *text;
    size_t used; /* bytes taken when complete */
} reply_case;

static const reply_case cases[] = {
    {"250 ok\r\n", 1, 250, "ok", 8},
    {"250 ok\n", 1, 250, "ok", 7},
    {"250\r\n", 1, 250, "", 5},
    {"354 go ahead\r\nextra", 1, 354, "go ahead", 14},
    {"250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n", 1, 250,
     "mx\nPIPELINING\n8BITMIME", 38},
    {"250-mx\r\n250 8BITMIME\r\n250 next\r\n", 1, 250, "mx\n8BITMIME", 22},
    {"552 5.2.2 mailbox full\r\n", 1, 552, "5.2.2 mailbox full", 24},
    {"421-a\r\n", 0, 0, NULL, 0},
    {"250 ok", 0, 0, NULL, 0},
    {"hello\r\n", PPS_EPROTO, 0, NULL, 0},
    {"25\r\n", PPS_EPROTO, 0, NULL, 0},
    {"2500 x\r\n", PPS_EPROTO, 0, NULL, 0},
    {"150 x\r\n", PPS_EPROTO, 0, NULL, 0},
    {"650 x\r\n", PPS_EPROTO, 0, NULL, 0},
    {"25a x\r\n", PPS_EPROTO, 0, NULL, 0},
    {"250-a\r\n251 b\r\n", PPS_EPROTO, 0, NULL, 0},
    {"\r\n", PPS_EPROTO, 0, NULL, 0},
    {"250 a\0b\r\n", 1, 250, "a?b", 9},
};

static int feed_split(const reply_case *c, size_t len, size_t cut,
                      pps__reply *r, size_t *used)
{
    char *a = pps_test_exact_copy(c->in, cut);
    char *b = pps_test_exact_copy(c->in + cut, len - cut);
    size_t u1 = 0, u2 = 0;
    int rc;

    pps__reply_init(r);
    rc = pps__reply_feed(r, a, cut, &u1);
    if (rc == 0)
        rc = pps__reply_feed(r, b, len - cut, &u2);
    *used = u1 + u2;
    free(a);
    free(b);
    return rc;
}

static size_t case_len(const reply_case *c)
{
    /* The NUL case: its length is fixed. */
    return c->in[0] == '2' && c->in[4] == 'a' && c->in[5] == '\0'
               ? 9
               : strlen(c->in);
}

static void test_cases(void **state)
{
    pps__reply *r = malloc(sizeof(*r));
    size_t i, cut;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const reply_case *c = &cases[i];
        size_t len = case_len(c);
        for (cut = 0; cut <= len; cut++) {
            size_t used = 0;
            int rc = feed_split(c, len, cut, r, &used);
            if (rc != c->rc)
                fail_msg("row %zu cut %zu: rc %d, expected %d", i, cut, rc,
                         c->rc);
            if (rc != 1)
                continue;
            if (r->code != c->code || strcmp(r->text, c->text) != 0 ||
                used != c->used)
                fail_msg("row %zu cut %zu: %d \"%s\" used %zu", i, cut, r->code,
                         r->text, used);
        }
    }
    free(r);
}

/* One byte at a time: the same result as any split. */
static void test_byte_by_byte(void **state)
{
    pps__reply *r = malloc(sizeof(*r));
    size_t i, k;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const reply_case *c = &cases[i];
        size_t len = case_len(c), taken = 0;
        int rc = 0;
        pps__reply_init(r);
        for (k = 0; k < len && rc == 0; k++) {
            char *one = pps_test_exact_copy(c->in + k, 1);
            size_t used = 0;
            rc = pps__reply_feed(r, one, 1, &used);
            taken += used;
            free(one);
        }
        if (rc != c->rc)
            fail_msg("row %zu: rc %d, expected %d", i, rc, c->rc);
        if (rc == 1 && (r->code != c->code || strcmp(r->text, c->text) ||
                        taken != c->used))
            fail_msg("row %zu: %d \"%s\" used %zu", i, r->code, r->text, taken);
    }
    free(r);
}

static void test_long_line_truncated(void **state)
{
    size_t len = PPS__REPLY_LINE_MAX * 3 + 6;
    char *in = malloc(len);
    pps__reply *r = malloc(sizeof(*r));
    size_t used;

    (void)state;
    memset(in, 'x', len);
    memcpy(in, "250 ", 4);
    memcpy(in + len - 2, "\r\n", 2);
    pps__reply_init(r);
    assert_int_equal(pps__reply_feed(r, in, len, &used), 1);
    assert_int_equal(used, len);
    assert_int_equal(r->code, 250);
    assert_true(r->truncated);
    assert_true(r->text_len < PPS__REPLY_LINE_MAX);
    free(in);
    free(r);
}

static void test_too_many_lines(void **state)
{
    pps__reply *r = malloc(sizeof(*r));
    size_t i, used;
    int rc = 0;

    (void)state;
    pps__reply_init(r);
    for (i = 0; i <= PPS__REPLY_LINES_MAX && rc == 0; i++)
        rc = pps__reply_feed(r, "250-more\r\n", 10, &used);
    assert_int_equal(rc, PPS_EPROTO);
    assert_true(r->text_len < PPS__REPLY_TEXT_MAX);
    free(r);
}

static void test_text_capped(void **state)
{
    pps__reply *r = malloc(sizeof(*r));
    char line[PPS__REPLY_LINE_MAX];
    size_t i, used;
    int rc = 0;

    (void)state;
    memset(line, 'y', sizeof(line));
    memcpy(line, "250-", 4);
    memcpy(line + sizeof(line) - 2, "\r\n", 2);
    pps__reply_init(r);
    for (i = 0; i < 20 && rc == 0; i++)
        rc = pps__reply_feed(r, line, sizeof(line), &used);
    assert_int_equal(rc, 0);
    assert_int_equal(pps__reply_feed(r, "250 end\r\n", 9, &used), 1);
    assert_true(r->truncated);
    assert_int_equal(r->text_len, PPS__REPLY_TEXT_MAX - 1);
    assert_int_equal(strlen(r->text), r->text_len);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_long_line_truncated),
        cmocka_unit_test(test_too_many_lines),
        cmocka_unit_test(test_text_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
