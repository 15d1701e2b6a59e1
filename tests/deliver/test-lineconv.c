/*
 * test-lineconv.c - CRLF to LF, LF to CRLF and dot-stuffing give the
 * same bytes whatever the chunk splits, and the same as a byte-by-byte
 * model on random input.
 */
#include "../helpers/pps-test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/deliver-int.h"

typedef struct conv_case {
    unsigned int mode;
    const char *in;
    const char *out; /* including what finish adds */
} conv_case;

#define LF   PPS__LC_LF
#define SMTP (PPS__LC_CRLF | PPS__LC_DOTSTUFF)

static const conv_case cases[] = {
    {LF, "", ""},
    {LF, "a\r\nb\r\n", "a\nb\n"},
    {LF, "a\r\n\r\nbody\r\n", "a\n\nbody\n"},
    {LF, "bare\rcr\r\n", "bare\rcr\n"},
    {LF, "ends with cr\r", "ends with cr\r"},
    {LF, "\r\r\n", "\r\n"},
    {LF, "lf only\nx\n", "lf only\nx\n"},
    {LF, ".dot\r\n", ".dot\n"},
    {LF, "\r\n\r\n\r\n", "\n\n\n"},
    {SMTP, "", ""},
    {SMTP, "a\r\nb\r\n", "a\r\nb\r\n"},
    {SMTP, "a\nb\n", "a\r\nb\r\n"},
    {SMTP, ".\r\n", "..\r\n"},
    {SMTP, ".x\n..y\r\nz.\n", "..x\r\n...y\r\nz.\r\n"},
    {SMTP, "no end", "no end\r\n"},
    {SMTP, "cr at end\r", "cr at end\r\n"},
    {SMTP, "x\r.y\n", "x\r.y\r\n"},
    {SMTP, "\n.\n", "\r\n..\r\n"},
    {PPS__LC_CRLF, ".x\n", ".x\r\n"},
};

/* Convert `in` split at every pair of points (a, b). */
static void check(size_t row, const conv_case *c, size_t a, size_t b)
{
    size_t len = strlen(c->in), n = 0;
    size_t cuts[4] = {0, a, b, len};
    char *out = malloc(PPS__LINECONV_OUT_MAX(len) * 3 + 8);
    pps__lineconv lc;
    int i;

    pps__lineconv_init(&lc, c->mode);
    for (i = 0; i < 3; i++) {
        size_t from = cuts[i], to = cuts[i + 1];
        char *piece = pps_test_exact_copy(c->in + from, to - from);
        n += pps__lineconv_run(&lc, out + n, piece, to - from);
        free(piece);
    }
    n += pps__lineconv_finish(&lc, out + n);
    if (n != strlen(c->out) || memcmp(out, c->out, n) != 0)
        fail_msg("row %zu split %zu/%zu: got \"%.*s\"", row, a, b, (int)n, out);
    free(out);
}

static void test_every_split(void **state)
{
    size_t i, a, b;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].in);
        for (a = 0; a <= len; a++)
            for (b = a; b <= len; b++)
                check(i, &cases[i], a, b);
    }
}

/* Byte by byte through a long mixed input: same as one call. */
static void test_byte_by_byte(void **state)
{
    static const unsigned int modes[] = {LF, SMTP};
    char in[4096];
    size_t i, m;

    (void)state;
    for (i = 0; i < sizeof(in); i++)
        in[i] = "ab\r\n.\n\r."[(i * 7 + i / 5) % 8];
    for (m = 0; m < 2; m++) {
        char *one = malloc(PPS__LINECONV_OUT_MAX(sizeof(in)));
        char *many = malloc(PPS__LINECONV_OUT_MAX(sizeof(in)));
        pps__lineconv a, b;
        size_t n1, n2 = 0;
        pps__lineconv_init(&a, modes[m]);
        pps__lineconv_init(&b, modes[m]);
        n1 = pps__lineconv_run(&a, one, in, sizeof(in));
        n1 += pps__lineconv_finish(&a, one + n1);
        for (i = 0; i < sizeof(in); i++)
            n2 += pps__lineconv_run(&b, many + n2, in + i, 1);
        n2 += pps__lineconv_finish(&b, many + n2);
        assert_int_equal(n1, n2);
        assert_memory_equal(one, many, n1);
        /* LF mode never leaves a CR before an LF. */
        if (modes[m] == LF)
            for (i = 0; i + 1 < n1; i++)
                assert_false(one[i] == '\r' && one[i + 1] == '\n');
        free(one);
        free(many);
    }
}

/* The model: lineconv.c as it was before it copied whole runs (until
 * commit 15ec096), one byte at a time. */
static size_t model_run(pps__lineconv *c, char *out, const char *in, size_t len)
{
    size_t i, n = 0;

    for (i = 0; i < len; i++) {
        char ch = in[i];
        if (c->mode & PPS__LC_LF) {
            if (c->held_cr) {
                c->held_cr = 0;
                if (ch != '\n')
                    out[n++] = '\r';
            }
            if (ch == '\r')
                c->held_cr = 1;
            else
                out[n++] = ch;
        } else if (ch == '\n') {
            if (!c->prev_cr)
                out[n++] = '\r';
            out[n++] = '\n';
            c->prev_cr = 0;
            c->bol = 1;
        } else {
            if (c->bol && ch == '.' && (c->mode & PPS__LC_DOTSTUFF))
                out[n++] = '.';
            out[n++] = ch;
            c->prev_cr = ch == '\r';
            c->bol = 0;
        }
    }
    return n;
}

/* Random inputs of the bytes that matter, cut at random points: the
 * same bytes as the model, in every mode.  Fixed seed: a failure
 * repeats. */
static void test_same_as_the_model(void **state)
{
    static const unsigned int modes[] = {LF, SMTP, PPS__LC_CRLF};
    static const char alphabet[] = "ab.\r\n\r\n.";
    enum { LEN = 600, ROUNDS = 3000 };
    char in[LEN];
    char *got = malloc(PPS__LINECONV_OUT_MAX(LEN) + 8);
    char *want = malloc(PPS__LINECONV_OUT_MAX(LEN) + 8);
    unsigned int seed = 12345;
    size_t round;

    (void)state;
    for (round = 0; round < ROUNDS; round++) {
        unsigned int mode = modes[round % 3];
        size_t len = (size_t)(rand_r(&seed) % LEN), i, n = 0, m;
        pps__lineconv a, b;

        for (i = 0; i < len; i++)
            in[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
        pps__lineconv_init(&a, mode);
        pps__lineconv_init(&b, mode);
        for (i = 0; i < len;) {
            size_t piece = 1 + (size_t)(rand_r(&seed) % 40);
            if (piece > len - i)
                piece = len - i;
            char *copy = pps_test_exact_copy(in + i, piece); /* ASan: no
                                                              * over-read */
            n += pps__lineconv_run(&a, got + n, copy, piece);
            free(copy);
            i += piece;
        }
        n += pps__lineconv_finish(&a, got + n);
        m = model_run(&b, want, in, len);
        m += pps__lineconv_finish(&b, want + m);
        if (n != m || memcmp(got, want, n) != 0)
            fail_msg("round %zu (mode %u, %zu bytes): %zu bytes out, the "
                     "model %zu",
                     round, mode, len, n, m);
    }
    free(got);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_same_as_the_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
