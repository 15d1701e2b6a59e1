/*
 * fuzz/ledger - the ledger's record lines (libpps/ledger/record.c).
 *
 * The input is split at newlines like a ledger file; each line goes to the
 * decoder.  Properties beyond "no crash": a line that decodes re-encodes
 * to a line that decodes to the same record, within the line cap; a
 * refusal always says why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger-internal.h"
#include "pps/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)           \
    do {                      \
        if (!(cond))          \
            __builtin_trap(); \
    } while (0)

static int same(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static void one_line(const uint8_t *p, size_t len)
{
    /* An exact-size copy plus the newline's byte, as the loader has. */
    char *line = malloc(len + 1);
    char again[PPS__LEDGER_LINE_MAX];
    pps_ledger_record rec, rec2;
    pps_ledger_status st, st2;
    const char *why = NULL;
    int n;

    if (!line)
        return;
    memcpy(line, p, len);
    line[len] = '\n';
    if (pps__ledger_record_decode(&rec, &st, line, len, &why) != 0) {
        CHECK(why && *why);
        free(line);
        return;
    }
    n = pps__ledger_record_encode(again, sizeof(again), &rec);
    CHECK(n > 0 && again[n - 1] == '\n');
    CHECK(pps__ledger_record_decode(&rec2, &st2, again, (size_t)n - 1, &why) ==
          0);
    CHECK(rec2.type == rec.type && same(rec2.uid, rec.uid) &&
          same(rec2.rcpt, rec.rcpt) && rec2.time == rec.time &&
          rec2.code == rec.code && rec2.permanent == rec.permanent);
    if (rec.status)
        CHECK(memcmp(&st, &st2, sizeof(st)) == 0);
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t start = 0;

    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == '\n') {
            if (i - start <= 4 * PPS__LEDGER_LINE_MAX)
                one_line(data + start, i - start);
            start = i + 1;
        }
    }
    return 0;
}
