/*
 * test-record.c - ledger lines, the hash table and the fallback key.
 */
#include "../helpers/pps-test.h"

#include <stdio.h>

#include "core/internal.h"
#include "ledger/ledger-internal.h"
#include "pps/errors.h"
#include "pps/ledger.h"

static void test_crc32_known_value(void **state)
{
    (void)state;
    /* The check value of CRC-32/ISO-HDLC. */
    assert_int_equal(pps__ledger_crc32("123456789", 9), 0xCBF43926u);
    assert_int_equal(pps__ledger_crc32("", 0), 0);
}

static void test_siphash_reference_vector(void **state)
{
    unsigned char key[16], msg[15];
    uint64_t k0 = 0, k1 = 0;

    (void)state;
    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)i;
    for (int i = 0; i < 15; i++)
        msg[i] = (unsigned char)i;
    for (int i = 7; i >= 0; i--) {
        k0 = (k0 << 8) | key[i];
        k1 = (k1 << 8) | key[i + 8];
    }
    /* From the SipHash paper, appendix A. */
    assert_true(pps__siphash24(k0, k1, msg, 15) == 0xa129ca6149be45e5ULL);
}

typedef struct rt_case {
    pps_ledger_record_type type;
    const char *uid;
    const char *rcpt;
    long long time;
    int code;
    int permanent;
} rt_case;

static const rt_case rt[] = {
    {PPS_LEDGER_REC_INTENT, "1234.abc", "joe@local.test", 1700000000, 0, 0},
    {PPS_LEDGER_REC_DELIVERED, "UID with spaces", "a%b@x", 1, 0, 0},
    {PPS_LEDGER_REC_FAILED, "-", "r\xc3\xa4@x", 5, PPS_ETEMP, 0},
    {PPS_LEDGER_REC_FAILED, "u", "r", -5, PPS_EPERM, 1},
    {PPS_LEDGER_REC_COMPLETE, "%41", NULL, 99, 0, 0},
    {PPS_LEDGER_REC_DELE, "x-y", NULL, 0, 0, 0},
    {PPS_LEDGER_REC_DELETED, "\x7f\x01", NULL, 1LL << 33, 0, 0},
    {PPS_LEDGER_REC_QUIT, NULL, NULL, 17, 0, 0},
    {PPS_LEDGER_REC_FORGET, "gone", NULL, 0, 0, 0},
    {PPS_LEDGER_REC_SEEN, "<id@host>", "bob@local.test", 1234, 0, 0},
};

static void test_round_trip_every_type(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rt) / sizeof(rt[0]); i++) {
        pps_ledger_record in, out;
        pps_ledger_status st;
        char line[PPS__LEDGER_LINE_MAX];
        const char *why = NULL;
        char *copy;
        int len;

        memset(&in, 0, sizeof(in));
        in.type = rt[i].type;
        in.uid = rt[i].uid;
        in.rcpt = rt[i].rcpt;
        in.time = (time_t)rt[i].time;
        in.code = rt[i].code;
        in.permanent = rt[i].permanent;
        len = pps__ledger_record_encode(line, sizeof(line), &in);
        if (len <= 0 || line[len - 1] != '\n') {
            fail_msg("row %zu: encode gave %d", i, len);
            return;
        }
        /* One line: no newline or blank can hide inside a field. */
        if (memchr(line, '\n', (size_t)len - 1))
            fail_msg("row %zu: newline inside \"%s\"", i, line);
        /* The byte after the record (its newline) is the decoder's. */
        copy = pps_test_exact_copy(line, (size_t)len);
        if (pps__ledger_record_decode(&out, &st, copy, (size_t)len - 1, &why) !=
            0)
            fail_msg("row %zu: decode of \"%s\" failed: %s", i, line, why);
        assert_int_equal(out.type, in.type);
        if (in.uid)
            assert_string_equal(out.uid, in.uid);
        else
            assert_null(out.uid);
        if (in.rcpt)
            assert_string_equal(out.rcpt, in.rcpt);
        if (in.type != PPS_LEDGER_REC_FORGET)
            assert_true(out.time == in.time);
        assert_int_equal(out.code, in.code);
        assert_int_equal(out.permanent, in.permanent);
        free(copy);
    }
}

static void test_status_round_trip(void **state)
{
    pps_ledger_status st = PPS_LEDGER_STATUS_INIT, back;
    pps_ledger_record in, out;
    char line[PPS__LEDGER_LINE_MAX];
    const char *why;
    int len;

    (void)state;
    st.started = 100;
    st.finished = 160;
    st.result = PPS_EAUTH;
    memset(st.text, 'x', PPS_LEDGER_STATUS_TEXT_MAX);
    st.text[0] = ' ';
    st.text[1] = '%';
    st.text[PPS_LEDGER_STATUS_TEXT_MAX] = '\0';
    st.listed = 12;
    st.delivered = 3;
    st.deleted = 2;
    st.failed = 1;
    st.consecutive_failures = 4;
    st.next_allowed = 1000;
    st.last_success = 50;
    memset(&in, 0, sizeof(in));
    in.type = PPS_LEDGER_REC_STATUS;
    in.status = &st;
    len = pps__ledger_record_encode(line, sizeof(line), &in);
    assert_true(len > 0);
    assert_int_equal(
        pps__ledger_record_decode(&out, &back, line, (size_t)len - 1, &why), 0);
    assert_ptr_equal(out.status, &back);
    assert_memory_equal(&back, &st, sizeof(st));
}

static void test_longest_fields_fit(void **state)
{
    char uid[PPS_LEDGER_UID_MAX + 1], rcpt[PPS_LEDGER_RCPT_MAX + 1];
    char line[PPS__LEDGER_LINE_MAX];
    pps_ledger_record in;

    (void)state;
    memset(uid, ' ', sizeof(uid) - 1); /* every byte escaped: 3x */
    uid[sizeof(uid) - 1] = '\0';
    memset(rcpt, 0xff, sizeof(rcpt) - 1);
    rcpt[sizeof(rcpt) - 1] = '\0';
    memset(&in, 0, sizeof(in));
    in.type = PPS_LEDGER_REC_FAILED;
    in.uid = uid;
    in.rcpt = rcpt;
    in.time = -(1LL << 40);
    in.code = -1000;
    assert_true(pps__ledger_record_encode(line, sizeof(line), &in) > 0);
    /* And a buffer too small is refused, not overrun. */
    assert_int_equal(pps__ledger_record_encode(line, 64, &in), PPS_ETOOBIG);
}

/* Every proper prefix of a line is rejected: a torn write is detected. */
static void test_every_prefix_rejected(void **state)
{
    pps_ledger_record in, out;
    pps_ledger_status st;
    char line[PPS__LEDGER_LINE_MAX];
    const char *why;
    int len;

    (void)state;
    memset(&in, 0, sizeof(in));
    in.type = PPS_LEDGER_REC_DELIVERED;
    in.uid = "000001234abcdef";
    in.rcpt = "alice@local.test";
    in.time = 1700000000;
    len = pps__ledger_record_encode(line, sizeof(line), &in);
    for (int n = 0; n < len - 1; n++) {
        char *copy = pps_test_exact_copy(line, (size_t)n + 1);
        if (pps__ledger_record_decode(&out, &st, copy, (size_t)n, &why) == 0)
            fail_msg("prefix of %d bytes accepted", n);
        free(copy);
    }
    /* A flipped bit anywhere is caught too. */
    for (int i = 0; i < len - 1; i++) {
        char *copy = pps_test_exact_copy(line, (size_t)len);
        copy[i] ^= 0x04;
        if (pps__ledger_record_decode(&out, &st, copy, (size_t)len - 1, &why) ==
            0)
            fail_msg("bit flip at %d accepted", i);
        free(copy);
    }
}

/* Lines with a right CRC but wrong contents (a future or broken writer). */
static const char *const bad_payloads[] = {
    "Z u 1",                    /* unknown type */
    "I u r",                    /* missing time */
    "I u r 1 2",                /* too many fields */
    "I - r 1",                  /* empty uid */
    "F u r 1 5 0",              /* positive code */
    "F u r 1 -2 7",             /* permanent not 0/1 */
    "C u 12x",                  /* bad number */
    "C u 99999999999999",       /* time out of range */
    "I u%0 r 1",                /* bad escape */
    "I u%00 r 1",               /* NUL */
    "Q",                        /* missing time */
    "T 1 2 3 4 5 6 7 8 9 10 t", /* positive result */
    "II u r 1",
    "I a b c d e f g h i j k l m n",
};

static void test_bad_payloads(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_payloads) / sizeof(bad_payloads[0]);
         i++) {
        char line[256];
        pps_ledger_record out;
        pps_ledger_status st;
        const char *why = NULL;
        const char *p = bad_payloads[i];
        int n = snprintf(line, sizeof(line), "%08lx %s",
                         (unsigned long)pps__ledger_crc32(p, strlen(p)), p);
        char *copy = pps_test_exact_copy(line, (size_t)n + 1);

        if (pps__ledger_record_decode(&out, &st, copy, (size_t)n, &why) == 0)
            fail_msg("row %zu \"%s\" accepted", i, p);
        assert_non_null(why);
        free(copy);
    }
}

static void test_header(void **state)
{
    char line[PPS__LEDGER_LINE_MAX];
    const char *host, *user, *why;
    int len;

    (void)state;
    len = pps__ledger_header_encode(line, sizeof(line), "pop.example.com",
                                    "joe smith");
    assert_true(len > 0);
    assert_int_equal(
        pps__ledger_header_decode(&host, &user, line, (size_t)len - 1, &why),
        0);
    assert_string_equal(host, "pop.example.com");
    assert_string_equal(user, "joe smith");
}

typedef struct node {
    pps__map_node n;
    char key[16];
} node;

static void test_map_many(void **state)
{
    enum { N = 20000 };
    pps__map m;
    node *nodes = calloc(N, sizeof(*nodes));
    size_t b = 0, seen = 0;
    pps__map_node *it, *next = NULL;

    (void)state;
    assert_non_null(nodes);
    pps__map_init(&m);
    for (int i = 0; i < N; i++) {
        snprintf(nodes[i].key, sizeof(nodes[i].key), "k%d", i);
        nodes[i].n.key = nodes[i].key;
        nodes[i].n.keylen = strlen(nodes[i].key);
        assert_int_equal(pps__map_insert(&m, &nodes[i].n), 0);
    }
    assert_int_equal(m.count, N);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(pps__map_find(&m, nodes[i].key, strlen(nodes[i].key)),
                         &nodes[i].n);
    assert_null(pps__map_find(&m, "k", 1));
    /* Remove the even ones while iterating. */
    while ((it = pps__map_next(&m, &b, &next))) {
        node *nd = (node *)(void *)it;
        seen++;
        if (strtol(nd->key + 1, NULL, 10) % 2 == 0)
            pps__map_remove(&m, it);
    }
    assert_int_equal(seen, N);
    assert_int_equal(m.count, N / 2);
    assert_null(pps__map_find(&m, "k2", 2));
    assert_non_null(pps__map_find(&m, "k3", 2));
    pps__map_dispose(&m);
    free(nodes);
}

static void test_fallback_key(void **state)
{
    static const char crlf[] = "Received: from a\r\n\tby b\r\nSubject: "
                               "hi\r\n\r\nbody\r\n";
    static const char lf[] = "Received: from a\n\tby b\nSubject: hi\n\nother "
                             "body\n";
    char k1[PPS_LEDGER_FALLBACK_KEY_SIZE], k2[PPS_LEDGER_FALLBACK_KEY_SIZE];
    char k3[PPS_LEDGER_FALLBACK_KEY_SIZE], k4[PPS_LEDGER_FALLBACK_KEY_SIZE];
    char *a = pps_test_exact_copy(crlf, sizeof(crlf) - 1);
    char *b = pps_test_exact_copy(lf, sizeof(lf) - 1);

    (void)state;
    assert_int_equal(
        pps_ledger_fallback_key(k1, sizeof(k1), 1234, a, sizeof(crlf) - 1), 0);
    /* TOP n 0 (LF, different body) and RETR (CRLF) agree. */
    assert_int_equal(
        pps_ledger_fallback_key(k2, sizeof(k2), 1234, b, sizeof(lf) - 1), 0);
    assert_string_equal(k1, k2);
    /* Another size: another key. */
    assert_int_equal(
        pps_ledger_fallback_key(k3, sizeof(k3), 1235, b, sizeof(lf) - 1), 0);
    assert_string_not_equal(k1, k3);
    /* Another header: another key. */
    assert_int_equal(pps_ledger_fallback_key(k4, sizeof(k4), 1234, b, 10), 0);
    assert_string_not_equal(k1, k4);
    /* Longer than any RFC 1939 UIDL, and short enough for the ledger. */
    assert_true(strlen(k1) > 70 && strlen(k1) <= PPS_LEDGER_UID_MAX);
    assert_memory_equal(k1, "pps-sha256:", 11);
    assert_int_equal(pps_ledger_fallback_key(k4, 10, 1, b, 10), PPS_EINVAL);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_known_value),
        cmocka_unit_test(test_siphash_reference_vector),
        cmocka_unit_test(test_round_trip_every_type),
        cmocka_unit_test(test_status_round_trip),
        cmocka_unit_test(test_longest_fields_fit),
        cmocka_unit_test(test_every_prefix_rejected),
        cmocka_unit_test(test_bad_payloads),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_map_many),
        cmocka_unit_test(test_fallback_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
