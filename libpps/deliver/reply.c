/*
 * libpps/deliver/reply.c - LMTP/SMTP replies, incrementally.
 *
 *     250-mx.example.com
 *     250-PIPELINING
 *     250 8BITMIME
 *
 * Bytes come in as the socket gives them; lines are assembled across
 * calls, each capped at PPS__REPLY_LINE_MAX (the rest of a long line is
 * read and dropped, and the reply is flagged truncated), a reply at
 * PPS__REPLY_LINES_MAX lines.  A line that does not start with three
 * digits and ' ', '-' or its end, or a continuation with another code,
 * is a protocol error: we stop talking to such a peer.
 */
#include <string.h>

#include "core/internal.h"
#include "deliver/deliver-int.h"

void pps__reply_init(pps__reply *r)
{
    r->code = 0;
    r->text[0] = '\0';
    r->text_len = 0;
    r->lines = 0;
    r->truncated = 0;
    r->line_len = 0;
    r->line_long = 0;
}

static void text_add(pps__reply *r, const char *s, size_t len)
{
    size_t room = sizeof(r->text) - 1 - r->text_len;

    if (len > room) {
        len = room;
        r->truncated = 1;
    }
    memcpy(r->text + r->text_len, s, len);
    r->text_len += len;
    r->text[r->text_len] = '\0';
}

/* One complete line (no CR LF): 1 last line, 0 more lines follow. */
static int reply_line(pps__reply *r)
{
    const char *l = r->line;
    size_t len = r->line_len;
    char q[64];
    int code;

    if (len > 0 && l[len - 1] == '\r')
        len--;
    if (len < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9' ||
        l[2] < '0' || l[2] > '9' || (len > 3 && l[3] != ' ' && l[3] != '-'))
        return pps__error_set(PPS_EPROTO,
                              "the server sent a reply line without a "
                              "valid code: %s",
                              pps__quote(q, sizeof(q), l, len));
    code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
    if (r->lines > 0 && code != r->code)
        return pps__error_set(PPS_EPROTO,
                              "the server changed the reply code from %d "
                              "to %d inside one reply",
                              r->code, code);
    if (++r->lines > PPS__REPLY_LINES_MAX)
        return pps__error_set(PPS_EPROTO,
                              "the server sent a reply of more than %d "
                              "lines",
                              PPS__REPLY_LINES_MAX);
    r->code = code;
    if (r->lines > 1)
        text_add(r, "\n", 1);
    if (len > 4)
        text_add(r, l + 4, len - 4);
    return len > 3 && l[3] == '-' ? 0 : 1;
}

int pps__reply_feed(pps__reply *r, const char *data, size_t len, size_t *used)
{
    size_t i;

    for (i = 0; i < len; i++) {
        char c = data[i];
        int last;

        if (c != '\n') {
            if (r->line_len < sizeof(r->line))
                r->line[r->line_len++] = c ? c : '?'; /* NUL flagged */
            else
                r->line_long = 1;
            continue;
        }
        if (r->line_long)
            r->truncated = 1;
        last = reply_line(r);
        r->line_len = 0;
        r->line_long = 0;
        if (last < 0) {
            *used = i + 1;
            return last;
        }
        if (last == 1) {
            *used = i + 1;
            return 1;
        }
    }
    *used = len;
    return 0;
}

size_t pps__reply_first_line(const pps__reply *r)
{
    const char *nl = memchr(r->text, '\n', r->text_len);

    return nl ? (size_t)(nl - r->text) : r->text_len;
}
