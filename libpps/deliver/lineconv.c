/*
 * libpps/deliver/lineconv.c - line ends and dot-stuffing.
 *
 * The message arrives in chunks cut anywhere, also between the CR and
 * the LF of one line end, so every decision that needs the byte before
 * is carried in the state (curl's pop3_write habit).  Maildir and MDAs
 * get LF line ends (as Dovecot and mpop store them); LMTP and SMTP get
 * CRLF with a '.' at a line start doubled (RFC 5321 4.5.2).
 */
#include <string.h>

#include "deliver/deliver-int.h"

void pps__lineconv_init(pps__lineconv *c, unsigned int mode)
{
    c->mode = mode;
    c->held_cr = 0;
    c->prev_cr = 0;
    c->bol = 1;
}

/* Both converters copy whole runs between the bytes that matter (CR
 * for run_lf, LF for run_crlf), found with memchr: the output is the same
 * as byte by byte, and each input byte is looked at a bounded number of
 * times. */
static size_t run_lf(pps__lineconv *c, char *out, const char *in, size_t len)
{
    size_t i = 0, n = 0;

    while (i < len) {
        const char *cr;
        size_t run;

        if (c->held_cr) {
            c->held_cr = 0;
            if (in[i] != '\n')
                out[n++] = '\r'; /* a bare CR stays */
        }
        cr = memchr(in + i, '\r', len - i);
        run = cr ? (size_t)(cr - (in + i)) : len - i;
        memcpy(out + n, in + i, run);
        n += run;
        i += run;
        if (cr) { /* held: the next byte says whether it ends a line */
            c->held_cr = 1;
            i++;
        }
    }
    return n;
}

static size_t run_crlf(pps__lineconv *c, char *out, const char *in, size_t len)
{
    size_t i = 0, n = 0;

    while (i < len) {
        const char *lf = memchr(in + i, '\n', len - i);
        size_t run = lf ? (size_t)(lf - (in + i)) : len - i;

        if (run > 0) { /* a piece of one line: only its first byte may be
                        * at a line start */
            if (c->bol && in[i] == '.' && (c->mode & PPS__LC_DOTSTUFF))
                out[n++] = '.';
            memcpy(out + n, in + i, run);
            n += run;
            c->prev_cr = in[i + run - 1] == '\r';
            c->bol = 0;
            i += run;
        }
        if (lf) {
            if (!c->prev_cr)
                out[n++] = '\r';
            out[n++] = '\n';
            c->prev_cr = 0;
            c->bol = 1;
            i++;
        }
    }
    return n;
}

size_t pps__lineconv_run(pps__lineconv *c, char *out, const char *in,
                         size_t len)
{
    if (c->mode & PPS__LC_LF)
        return run_lf(c, out, in, len);
    if (c->mode & PPS__LC_CRLF)
        return run_crlf(c, out, in, len);
    memcpy(out, in, len);
    return len;
}

size_t pps__lineconv_finish(pps__lineconv *c, char *out)
{
    size_t n = 0;

    if (c->mode & PPS__LC_LF) {
        if (c->held_cr)
            out[n++] = '\r';
        c->held_cr = 0;
    } else if ((c->mode & PPS__LC_CRLF) && !c->bol) {
        /* A last line without its end: the final dot needs one. */
        if (!c->prev_cr)
            out[n++] = '\r';
        out[n++] = '\n';
        c->bol = 1;
        c->prev_cr = 0;
    }
    return n;
}
