/*
 * libpps/deliver/lineconv.c - line ends and dot-stuffing, byte by byte.
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

static size_t run_lf(pps__lineconv *c, char *out, const char *in, size_t len)
{
    size_t i, n = 0;

    for (i = 0; i < len; i++) {
        char ch = in[i];
        if (c->held_cr) {
            c->held_cr = 0;
            if (ch != '\n')
                out[n++] = '\r'; /* a bare CR stays */
        }
        if (ch == '\r') {
            c->held_cr = 1;
            continue;
        }
        out[n++] = ch;
    }
    return n;
}

static size_t run_crlf(pps__lineconv *c, char *out, const char *in, size_t len)
{
    size_t i, n = 0;

    for (i = 0; i < len; i++) {
        char ch = in[i];
        if (ch == '\n') {
            if (!c->prev_cr)
                out[n++] = '\r';
            out[n++] = '\n';
            c->prev_cr = 0;
            c->bol = 1;
            continue;
        }
        if (c->bol && ch == '.' && (c->mode & PPS__LC_DOTSTUFF))
            out[n++] = '.';
        out[n++] = ch;
        c->prev_cr = ch == '\r';
        c->bol = 0;
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
