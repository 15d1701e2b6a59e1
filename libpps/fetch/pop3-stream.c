/*
 * pop3-stream.c - the body of a RETR or TOP reply, as it arrives.
 *
 * The body ends at a line holding a single "." (RFC 1939 3); a line that
 * starts with "." had one more put in front by the server, which we take
 * off.  Bytes arrive in chunks of any size, so the state lives here and
 * not on the stack: a terminator or a stuffed dot split across two reads
 * is found all the same (the idea of curl's pop3_write).
 *
 * Line ends are normalised on the way (documented in pps/fetch.h):
 *   CRLF         -> CRLF
 *   LF alone     -> CRLF                    (flag PPS_MESSAGE_BARE_LF)
 *   CR alone     -> CR, kept as it came     (flag PPS_MESSAGE_BARE_CR)
 * and a line ending in LF alone ends the body when it is "." too, so a
 * server that speaks LF throughout is understood.  A CR is only known to
 * be bare when the next byte arrives, hence the CR states.
 *
 * Inside a line, the bytes up to the next CR or LF change no state but
 * the line length, so they go out as one copy (plain_run, emit_run):
 * the byte-by-byte path is taken only at line starts and line ends.
 *
 * Nothing here allocates or grows: the output goes to the sink in pieces
 * of at most PPS__POP3_STREAM_OUT bytes.  After the sink said stop, the
 * body is still parsed to its end (so the connection stays in step) but
 * nothing more is handed on.
 */
#include <string.h>

#include "pop3.h"

enum {
    AT_LINE_START, /* nothing of this line yet */
    IN_LINE,       /* inside a line */
    SAW_CR,        /* a CR inside a line; LF may follow */
    SAW_DOT,       /* a "." at the start of a line */
    SAW_DOT_CR,    /* ".\r" at the start of a line */
    DONE
};

void pps__pop3_stream_init(pps__pop3_stream *st, size_t max_line,
                           pps__pop3_sink sink, void *payload)
{
    st->state = AT_LINE_START;
    st->line_len = 0;
    st->max_line = max_line;
    st->flags = 0;
    st->octets = 0;
    st->sink = sink;
    st->payload = payload;
    st->sink_result = 0;
    st->out_len = 0;
}

void pps__pop3_stream_flush(pps__pop3_stream *st)
{
    if (st->out_len && st->sink_result == 0 && st->sink) {
        st->sink_result = st->sink(st->out, st->out_len, st->payload);
        st->octets += st->out_len;
    }
    st->out_len = 0;
}

static void emit(pps__pop3_stream *st, char c)
{
    if (st->out_len == sizeof(st->out))
        pps__pop3_stream_flush(st);
    st->out[st->out_len++] = c;
    if (c == '\0')
        st->flags |= PPS_MESSAGE_NUL;
    /* Line length without its CRLF (RFC 5322 2.1.1 counts that way). */
    if (c == '\n') {
        st->line_len = 0;
    } else if (c != '\r' && ++st->line_len > st->max_line) {
        st->flags |= PPS_MESSAGE_LONG_LINE;
    }
}

/* emit() for each of p[0..n), which holds no CR and no LF. */
static void emit_run(pps__pop3_stream *st, const char *p, size_t n)
{
    if (memchr(p, '\0', n))
        st->flags |= PPS_MESSAGE_NUL;
    st->line_len += n;
    if (st->line_len > st->max_line)
        st->flags |= PPS_MESSAGE_LONG_LINE;
    while (n > 0) {
        size_t room;

        if (st->out_len == sizeof(st->out))
            pps__pop3_stream_flush(st);
        room = sizeof(st->out) - st->out_len;
        if (room > n)
            room = n;
        memcpy(st->out + st->out_len, p, room);
        st->out_len += room;
        p += room;
        n -= room;
    }
}

/* How many bytes of p[0..n) come before the first CR or LF.  A plain
 * loop, not memchr: memchr for LF would look past many CRs again and
 * again (quadratic on a line of CRs). */
static size_t plain_run(const char *p, size_t n)
{
    size_t k = 0;

    while (k < n && p[k] != '\r' && p[k] != '\n')
        k++;
    return k;
}

static void emit_crlf(pps__pop3_stream *st)
{
    emit(st, '\r');
    emit(st, '\n');
}

/* A CR turned out not to start a line end: keep it, flag it. */
static void emit_bare_cr(pps__pop3_stream *st)
{
    st->flags |= PPS_MESSAGE_BARE_CR;
    emit(st, '\r');
}

/* One byte inside a line (not at its start). */
static void in_line(pps__pop3_stream *st, char c)
{
    if (c == '\r') {
        st->state = SAW_CR;
    } else if (c == '\n') {
        st->flags |= PPS_MESSAGE_BARE_LF;
        emit_crlf(st);
        st->state = AT_LINE_START;
    } else {
        emit(st, c);
        st->state = IN_LINE;
    }
}

/* One byte, in whatever state. */
static void step(pps__pop3_stream *st, char c)
{
    switch (st->state) {
    case AT_LINE_START:
        if (c == '.')
            st->state = SAW_DOT;
        else
            in_line(st, c);
        break;
    case IN_LINE:
        in_line(st, c);
        break;
    case SAW_CR:
        if (c == '\n') {
            emit_crlf(st);
            st->state = AT_LINE_START;
        } else {
            emit_bare_cr(st);
            in_line(st, c);
        }
        break;
    case SAW_DOT:
        /* The line began with '.': the terminator, or a stuffed dot
         * that is dropped ("..x" -> ".x", ".x" -> "x"). */
        if (c == '\r') {
            st->state = SAW_DOT_CR;
        } else if (c == '\n') {
            st->state = DONE;
        } else {
            emit(st, c);
            st->state = IN_LINE;
        }
        break;
    case SAW_DOT_CR:
        if (c == '\n') {
            st->state = DONE;
        } else {
            /* ".\rx": dot dropped, the bare CR kept. */
            emit_bare_cr(st);
            in_line(st, c);
        }
        break;
    default:
        break;
    }
}

int pps__pop3_stream_feed(pps__pop3_stream *st, const char *in, size_t len,
                          size_t *used)
{
    size_t i = 0;

    while (i < len && st->state != DONE) {
        size_t run = st->state == IN_LINE ? plain_run(in + i, len - i) : 0;

        if (run > 0) {
            emit_run(st, in + i, run);
            i += run;
        } else {
            step(st, in[i]);
            i++;
        }
    }
    *used = i;
    return st->state == DONE;
}
