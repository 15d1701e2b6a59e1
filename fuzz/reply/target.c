/*
 * fuzz/reply - the LMTP/SMTP reply parser.
 *
 * Properties beyond "no crash": the replies found are the same whatever
 * the chunk sizes (the first byte picks them), every complete reply has
 * a code 200-599, a NUL-terminated text within its cap and at most
 * PPS__REPLY_LINES_MAX lines, and every refusal comes with a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/deliver-int.h"
#include "pps/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)           \
    do {                      \
        if (!(cond))          \
            __builtin_trap(); \
    } while (0)

/* Up to this many replies are compared between the two runs. */
#define MAX_REPLIES 64

typedef struct outcome {
    int n;
    int codes[MAX_REPLIES];
    unsigned long sums[MAX_REPLIES];
    int error; /* the PPS_E* code that stopped parsing, or 0 */
} outcome;

static unsigned long sum(const pps__reply *r)
{
    unsigned long s = (unsigned long)r->text_len;
    size_t i;

    for (i = 0; i < r->text_len; i++)
        s = s * 31 + (unsigned char)r->text[i];
    return s;
}

static void run(pps__reply *r, const char *in, size_t len, size_t chunk,
                outcome *o)
{
    size_t pos = 0;

    memset(o, 0, sizeof(*o));
    pps__reply_init(r);
    while (pos < len) {
        size_t n = len - pos < chunk ? len - pos : chunk;
        size_t used = 0;
        int rc = pps__reply_feed(r, in + pos, n, &used);
        CHECK(used <= n);
        pos += used;
        if (rc < 0) {
            CHECK(rc == PPS_EPROTO);
            CHECK(pps_error_last()->message[0] != '\0');
            o->error = rc;
            return;
        }
        if (rc == 1) {
            CHECK(r->code >= 200 && r->code <= 599);
            CHECK(r->text_len < PPS__REPLY_TEXT_MAX);
            CHECK(strlen(r->text) == r->text_len);
            CHECK(r->lines >= 1 && r->lines <= PPS__REPLY_LINES_MAX);
            CHECK(pps__reply_first_line(r) <= r->text_len);
            if (o->n < MAX_REPLIES) {
                o->codes[o->n] = r->code;
                o->sums[o->n] = sum(r);
            }
            o->n++;
            pps__reply_init(r);
        } else {
            CHECK(used == n);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pps__reply *r;
    outcome *whole, *pieces;
    char *in;
    size_t chunk;

    if (size < 1)
        return 0;
    chunk = (size_t)data[0] % 17 + 1;
    in = malloc(size - 1 ? size - 1 : 1);
    r = malloc(sizeof(*r));
    whole = malloc(sizeof(*whole));
    pieces = malloc(sizeof(*pieces));
    if (!in || !r || !whole || !pieces)
        goto done;
    memcpy(in, data + 1, size - 1);
    run(r, in, size - 1, size, whole);
    run(r, in, size - 1, chunk, pieces);
    CHECK(whole->n == pieces->n && whole->error == pieces->error);
    CHECK(memcmp(whole->codes, pieces->codes, sizeof(whole->codes)) == 0);
    CHECK(memcmp(whole->sums, pieces->sums, sizeof(whole->sums)) == 0);
done:
    free(in);
    free(r);
    free(whole);
    free(pieces);
    return 0;
}
