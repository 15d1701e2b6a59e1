/*
 * test-pop3-stream.c - the RETR/TOP body parser: terminator, dot-unstuffing
 * and line-end normalisation at every split of the input, the same
 * through a whole session at every chunk size, and the same as a
 * byte-by-byte model on random input.
 */
#include "pop3-test.h"

#include "fetch/pop3.h"

typedef struct body_case {
    const char *wire;
    size_t wire_len; /* 0: strlen */
    const char *out;
    size_t out_len; /* 0: strlen */
    unsigned int flags;
    size_t max_line; /* 0: 998 */
} body_case;

static const body_case cases[] = {
    {"a\r\nb\r\n.\r\n", 0, "a\r\nb\r\n", 0, 0, 0},
    {".\r\n", 0, "", 0, 0, 0},
    {"\r\n.\r\n", 0, "\r\n", 0, 0, 0},
    {"..\r\n.\r\n", 0, ".\r\n", 0, 0, 0},
    {"..a\r\n...\r\n.\r\n", 0, ".a\r\n..\r\n", 0, 0, 0},
    {"x.\r\n.x.\r\n.\r\n", 0, "x.\r\nx.\r\n", 0, 0, 0},
    {"a\nb\n.\n", 0, "a\r\nb\r\n", 0, PPS_MESSAGE_BARE_LF, 0},
    {"a\r\n\n.\r\n", 0, "a\r\n\r\n", 0, PPS_MESSAGE_BARE_LF, 0},
    {"a\rb\r\n.\r\n", 0, "a\rb\r\n", 0, PPS_MESSAGE_BARE_CR, 0},
    {"a\r\r\n.\r\n", 0, "a\r\r\n", 0, PPS_MESSAGE_BARE_CR, 0},
    {".\rx\r\n.\r\n", 0, "\rx\r\n", 0, PPS_MESSAGE_BARE_CR, 0},
    {"\r.\r\n.\r\n", 0, "\r.\r\n", 0, PPS_MESSAGE_BARE_CR, 0},
    {"a\0b\r\n.\r\n", 8, "a\0b\r\n", 5, PPS_MESSAGE_NUL, 0},
    {"abcdef\r\nabc\r\n.\r\n", 0, "abcdef\r\nabc\r\n", 0, PPS_MESSAGE_LONG_LINE,
     5},
    {"abcde\r\n.\r\n", 0, "abcde\r\n", 0, 0, 5},
    /* ". \r\n" is not the terminator: a stuffed line holding " " */
    {". \r\n.\r\n", 0, " \r\n", 0, 0, 0},
    /* what follows the terminator belongs to the next reply */
    {"a\r\n.\r\n+OK next\r\n", 0, "a\r\n", 0, 0, 0},
};

typedef struct sink_buf {
    char data[8192]; /* the model test's bodies: up to 1,500 bytes, 3,000
                      * with every LF made CRLF */
    size_t len;
} sink_buf;

static int sink(const char *buf, size_t len, void *payload)
{
    sink_buf *b = payload;

    assert_true(b->len + len <= sizeof(b->data));
    memcpy(b->data + b->len, buf, len);
    b->len += len;
    return 0;
}

/* Feed `wire` in pieces cut at `cuts` (ascending); check the result. */
static void feed(const body_case *c, size_t row, const size_t *cuts,
                 size_t ncuts)
{
    size_t wire_len = c->wire_len ? c->wire_len : strlen(c->wire);
    size_t out_len = c->out_len ? c->out_len : strlen(c->out);
    size_t body_len = wire_len;
    char *wire = pps_test_exact_copy(c->wire, wire_len);
    pps__pop3_stream *st = malloc(sizeof(*st));
    sink_buf *b = calloc(1, sizeof(*b));
    size_t pos = 0, k, total_used = 0;
    int done = 0;

    {
        const char *next = strstr(c->wire, "+OK next");
        if (next)
            body_len = (size_t)(next - c->wire);
    }
    pps__pop3_stream_init(st, c->max_line ? c->max_line : 998, sink, b);
    for (k = 0; k <= ncuts && !done; k++) {
        size_t end = k < ncuts ? cuts[k] : wire_len, used = 0;
        done = pps__pop3_stream_feed(st, wire + pos, end - pos, &used);
        total_used += used;
        if (!done && used != end - pos)
            fail_msg("row %zu: consumed %zu of %zu without finishing", row,
                     used, end - pos);
        pos = end;
    }
    pps__pop3_stream_flush(st);
    if (!done || total_used != body_len || b->len != out_len ||
        memcmp(b->data, c->out, out_len) != 0 || st->flags != c->flags ||
        st->octets != out_len)
        fail_msg("row %zu (cuts %zu at %zu): done %d used %zu/%zu out %zu/%zu "
                 "flags %#x/%#x",
                 row, ncuts, ncuts ? cuts[0] : 0, done, total_used, body_len,
                 b->len, out_len, st->flags, c->flags);
    free(b);
    free(st);
    free(wire);
}

static void test_every_split(void **state)
{
    size_t i, a, bb;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n =
            cases[i].wire_len ? cases[i].wire_len : strlen(cases[i].wire);
        feed(&cases[i], i, NULL, 0);
        for (a = 1; a < n; a++) {
            size_t one[1] = {a};
            feed(&cases[i], i, one, 1);
            for (bb = a + 1; bb < n; bb++) {
                size_t two[2] = {a, bb};
                feed(&cases[i], i, two, 2);
            }
        }
    }
}

static void test_byte_by_byte(void **state)
{
    size_t i, k;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n =
            cases[i].wire_len ? cases[i].wire_len : strlen(cases[i].wire);
        size_t *cuts = malloc(n * sizeof(*cuts));
        for (k = 1; k < n; k++)
            cuts[k - 1] = k;
        feed(&cases[i], i, cuts, n - 1);
        free(cuts);
    }
}

/* Growing prefix: no prefix short of the terminator finishes. */
static void test_growing_prefix(void **state)
{
    static const char wire[] = "Subject: x\r\n\r\n..a\r\n.\r\n";
    size_t n = strlen(wire), k;

    (void)state;
    for (k = 0; k <= n; k++) {
        char *copy = pps_test_exact_copy(wire, k);
        pps__pop3_stream *st = malloc(sizeof(*st));
        size_t used = 0;
        int done;
        pps__pop3_stream_init(st, 998, NULL, NULL);
        done = pps__pop3_stream_feed(st, copy, k, &used);
        assert_int_equal(done, k == n);
        assert_int_equal(used, k);
        free(st);
        free(copy);
    }
}

/* A big message reaches the sink in bounded pieces. */
static int count_sink(const char *buf, size_t len, void *payload)
{
    size_t *total = payload;

    (void)buf;
    assert_true(len <= PPS__POP3_STREAM_OUT);
    *total += len;
    return 0;
}

static void test_big_message_bounded(void **state)
{
    size_t lines = 20000, i, total = 0, used = 0;
    size_t n = lines * 10 + 3;
    char *wire = malloc(n);
    pps__pop3_stream *st = malloc(sizeof(*st));

    (void)state;
    for (i = 0; i < lines; i++)
        memcpy(wire + i * 10, "abcdefgh\r\n", 10);
    memcpy(wire + lines * 10, ".\r\n", 3);
    pps__pop3_stream_init(st, 998, count_sink, &total);
    assert_int_equal(pps__pop3_stream_feed(st, wire, n, &used), 1);
    pps__pop3_stream_flush(st);
    assert_int_equal(used, n);
    assert_int_equal(total, lines * 10);
    free(st);
    free(wire);
}

/* Through a session: the same message at every chunk size. */
static void test_retrieve_every_chunk_size(void **state)
{
    static const char msg[] = "From: a@b\r\nTo: c@d\n\r\n..dot\r\n.x\r\n"
                              "bare\rcr\r\n.\r\n";
    static const char want[] = "From: a@b\r\nTo: c@d\r\n\r\n.dot\r\nx\r\n"
                               "bare\rcr\r\n";
    size_t chunk;

    (void)state;
    for (chunk = 1; chunk <= 64; chunk++) {
        const char *lines[] = {
            GREETING, CAPA_C, CAPA_PIPE_S, LOGIN_USER, "C:RETR 1\r\nRETR 2\r\n",
            NULL};
        pps_test_script *ts = script_of(lines);
        pps_session_options o;
        pps_session *s;
        collected *c = calloc(1, sizeof(*c));
        unsigned int nums[] = {1, 2};
        char reply[256];

        snprintf(reply, sizeof(reply), "+OK\r\n%s+OK\r\n%s", msg, msg);
        pps_test_script_add(ts, PPS_TS_SEND, reply, strlen(reply));
        pps_test_script_set_chunk(ts, chunk);
        test_options(&o);
        s = session_on(ts, &o);
        assert_int_equal(connect_tls(s), 0);
        assert_int_equal(pps_session_login(s), 0);
        assert_int_equal(pps_session_retrieve(s, nums, 2, &collect_cb, c), 0);
        if (c->len != 2 * strlen(want) ||
            memcmp(c->buf, want, strlen(want)) != 0 ||
            memcmp(c->buf + strlen(want), want, strlen(want)) != 0)
            fail_msg("chunk %zu: got %zu bytes", chunk, c->len);
        assert_int_equal(c->flags[0],
                         PPS_MESSAGE_BARE_LF | PPS_MESSAGE_BARE_CR);
        script_done(ts);
        pps_session_free(s);
        pps_test_script_free(ts);
        free(c);
    }
}

/* The model: pop3-stream.c as it was before it copied whole runs (until
 * commit 15ec096), one byte at a time, into `out`. */
typedef struct model {
    enum { M_START, M_LINE, M_CR, M_DOT, M_DOT_CR, M_DONE } state;
    size_t line_len, max_line, out_len, used;
    unsigned int flags;
    char out[8192];
} model;

static void model_emit(model *m, char c)
{
    m->out[m->out_len++] = c;
    if (c == '\0')
        m->flags |= PPS_MESSAGE_NUL;
    if (c == '\n')
        m->line_len = 0;
    else if (c != '\r' && ++m->line_len > m->max_line)
        m->flags |= PPS_MESSAGE_LONG_LINE;
}

static void model_in_line(model *m, char c)
{
    if (c == '\r') {
        m->state = M_CR;
    } else if (c == '\n') {
        m->flags |= PPS_MESSAGE_BARE_LF;
        model_emit(m, '\r');
        model_emit(m, '\n');
        m->state = M_START;
    } else {
        model_emit(m, c);
        m->state = M_LINE;
    }
}

static void model_run(model *m, const char *in, size_t len)
{
    for (m->used = 0; m->used < len && m->state != M_DONE; m->used++) {
        char c = in[m->used];
        switch (m->state) {
        case M_START:
            if (c == '.')
                m->state = M_DOT;
            else
                model_in_line(m, c);
            break;
        case M_LINE:
            model_in_line(m, c);
            break;
        case M_CR:
        case M_DOT_CR:
            if (c == '\n') {
                if (m->state == M_CR) {
                    model_emit(m, '\r');
                    model_emit(m, '\n');
                }
                m->state = m->state == M_CR ? M_START : M_DONE;
            } else {
                m->flags |= PPS_MESSAGE_BARE_CR;
                model_emit(m, '\r');
                model_in_line(m, c);
            }
            break;
        case M_DOT:
            if (c == '\r') {
                m->state = M_DOT_CR;
            } else if (c == '\n') {
                m->state = M_DONE;
            } else {
                model_emit(m, c);
                m->state = M_LINE;
            }
            break;
        default:
            break;
        }
    }
}

/* Random bodies of the bytes that matter, cut at random points: the same
 * output, flags, end and bytes used as the model.  Fixed seed: a failure
 * repeats. */
static void test_same_as_the_model(void **state)
{
    static const char alphabet[] = "ab..\r\n\r\n\0 ";
    static const size_t max_lines[] = {2, 7, 998};
    enum { LEN = 1500, ROUNDS = 3000 };
    char in[LEN];
    unsigned int seed = 4242;
    pps__pop3_stream *st = malloc(sizeof(*st));
    sink_buf *g = malloc(sizeof(*g));
    model *m = malloc(sizeof(*m));
    size_t round;

    (void)state;
    for (round = 0; round < ROUNDS; round++) {
        size_t len = (size_t)(rand_r(&seed) % LEN), i, used_total = 0;
        size_t max_line = max_lines[round % 3];
        int done = 0;

        for (i = 0; i < len; i++)
            in[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
        g->len = 0;
        pps__pop3_stream_init(st, max_line, sink, g);
        for (i = 0; i < len && !done;) {
            size_t piece = 1 + (size_t)(rand_r(&seed) % 60), used = 0;
            char *copy;
            if (piece > len - i)
                piece = len - i;
            copy = pps_test_exact_copy(in + i, piece); /* ASan: no over-read */
            done = pps__pop3_stream_feed(st, copy, piece, &used);
            free(copy);
            used_total += used;
            i += piece;
        }
        pps__pop3_stream_flush(st);
        memset(m, 0, sizeof(*m));
        m->max_line = max_line;
        model_run(m, in, len);
        if (done != (m->state == M_DONE) || used_total != m->used ||
            g->len != m->out_len || memcmp(g->data, m->out, g->len) != 0 ||
            st->flags != m->flags)
            fail_msg("round %zu (%zu bytes, max_line %zu): done %d/%d, used "
                     "%zu/%zu, out %zu/%zu, flags %#x/%#x",
                     round, len, max_line, done, m->state == M_DONE, used_total,
                     m->used, g->len, m->out_len, st->flags, m->flags);
    }
    free(st);
    free(g);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_growing_prefix),
        cmocka_unit_test(test_big_message_bounded),
        cmocka_unit_test(test_retrieve_every_chunk_size),
        cmocka_unit_test(test_same_as_the_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
