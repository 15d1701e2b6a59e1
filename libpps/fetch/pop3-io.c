/*
 * pop3-io.c - lines in, commands out, the transcript, and every wait.
 *
 * Everything the engine reads comes through fill(), which is the one place
 * that waits: it checks the abort flag and the session deadline before
 * each read and cuts waits into slices of PPS__POP3_ABORT_POLL_MS so that
 * pps_session_abort() is noticed while a server is silent.  Everything the
 * engine sends goes through pps__pop3_queue() (which writes the transcript
 * line, secrets masked) and pps__pop3_flush() (one transport write per
 * batch, so the pipelining tests can check the batching exactly).
 */
#include <string.h>
#include <time.h>

#include "pop3.h"

static const char *state_name(pps__pop3_state state)
{
    switch (state) {
    case PPS__POP3_NEW:
        return "new";
    case PPS__POP3_AUTHORIZATION:
        return "authorization";
    case PPS__POP3_TRANSACTION:
        return "transaction";
    case PPS__POP3_CLOSED:
        return "closed";
    case PPS__POP3_BROKEN:
        return "broken";
    }
    return "?";
}

void pps__pop3_set_state(pps_session *s, pps__pop3_state state)
{
    if (s->state != state)
        pps__log(PPS_LOG_DEBUG, s->log_context, "pop3: state %s -> %s",
                 state_name(s->state), state_name(state));
    s->state = state;
}

/* Abort flag and session deadline: checked before every read and write. */
int pps__pop3_check(pps_session *s, pps__pop3_cmd cmd)
{
    if (atomic_load(&s->aborted))
        return pps__error_set(PPS_EABORTED, "POP3 session aborted (at the %s)",
                              pps__pop3_command(cmd)->label);
    if (s->deadline_ms && pps__now_ms() >= s->deadline_ms)
        return pps__error_set(PPS_ETIMEOUT,
                              "POP3 session deadline of %d ms passed (at the "
                              "%s)",
                              s->session_timeout_ms,
                              pps__pop3_command(cmd)->label);
    return 0;
}

/* Rewrite a transport failure so it names the command we were at. */
static int transport_error(pps_session *s, long code, pps__pop3_cmd cmd,
                           const char *doing)
{
    char detail[PPS__ERROR_MESSAGE_MAX];
    int err = code < 0 && code >= -1000 ? (int)code : PPS_ENET;

    pps__snprintf(detail, sizeof(detail), "%s", pps_error_last()->message);
    return pps__error_set(err, "%s %s from %s: %s", doing,
                          pps__pop3_command(cmd)->label, s->addr.host,
                          detail[0] ? detail : pps_strerror(err));
}

/* Longest single wait: the read timeout, the deadline, the abort poll. */
static int wait_slice(pps_session *s, long long started, pps__pop3_cmd cmd,
                      int *slice)
{
    long long now = pps__now_ms();
    long long left = s->read_timeout_ms - (now - started);
    int err;

    if ((err = pps__pop3_check(s, cmd)) < 0)
        return err;
    if (left <= 0)
        return pps__error_set(PPS_ETIMEOUT, "no %s from %s within %d ms",
                              pps__pop3_command(cmd)->label, s->addr.host,
                              s->read_timeout_ms);
    if (s->deadline_ms && s->deadline_ms - now < left)
        left = s->deadline_ms - now;
    if (left > PPS__POP3_ABORT_POLL_MS)
        left = PPS__POP3_ABORT_POLL_MS;
    *slice = (int)(left > 0 ? left : 1);
    return 0;
}

/* Read more bytes into s->in; the only place the engine waits to read. */
static int fill(pps_session *s, pps__pop3_cmd cmd)
{
    long long started = pps__now_ms();
    int slice = 0, err;
    long n;

    if (s->in_start == s->in_end) {
        s->in_start = s->in_end = 0;
    } else if (s->in_start > 0) {
        memmove(s->in, s->in + s->in_start, s->in_end - s->in_start);
        s->in_end -= s->in_start;
        s->in_start = 0;
    }
    if (s->in_end == sizeof(s->in))
        return pps__error_set(PPS_ERROR, "POP3 input buffer full (bug)");
    for (;;) {
        if ((err = wait_slice(s, started, cmd, &slice)) < 0)
            return err;
        n = s->transport->read(s->transport, s->in + s->in_end,
                               sizeof(s->in) - s->in_end, slice);
        if (n > 0) {
            s->in_end += (size_t)n;
            return 0;
        }
        if (n == 0)
            return pps__error_set(PPS_ENET,
                                  "%s closed the connection (waiting for the "
                                  "%s)",
                                  s->addr.host, pps__pop3_command(cmd)->label);
        if (n != PPS_ETIMEOUT)
            return transport_error(s, n, cmd, "reading the");
    }
}

int pps__pop3_read_line(pps_session *s, pps__pop3_cmd cmd)
{
    int err;

    for (;;) {
        const char *start = s->in + s->in_start;
        size_t avail = s->in_end - s->in_start;
        const char *lf = memchr(start, '\n', avail);

        if (lf) {
            size_t len = (size_t)(lf - start);
            if (len > 0 && start[len - 1] == '\r')
                len--;
            if (len > PPS__POP3_REPLY_MAX) {
                memcpy(s->line, start, 64);
                s->line_len = 64;
                return pps__pop3_bad_line(s, cmd, "is too long");
            }
            memcpy(s->line, start, len);
            s->line[len] = '\0';
            s->line_len = len;
            s->in_start += (size_t)(lf - start) + 1;
            pps__pop3_trace(s, 0, cmd, s->line, len);
            if (memchr(s->line, '\0', len))
                return pps__pop3_bad_line(s, cmd, "holds a NUL byte");
            return 0;
        }
        if (avail >= PPS__POP3_REPLY_MAX + 2) {
            /* No line end within the RFC 2449 limit: quote the start. */
            memcpy(s->line, start, PPS__POP3_REPLY_MAX);
            s->line_len = 64;
            return pps__pop3_bad_line(s, cmd,
                                      "is longer than 512 octets (RFC 2449)");
        }
        if ((err = fill(s, cmd)) < 0)
            return err;
    }
}

int pps__pop3_read_status(pps_session *s, pps__pop3_cmd cmd)
{
    int err;

    if ((err = pps__pop3_read_line(s, cmd)) < 0)
        return err;
    return pps__pop3_parse_status(s, cmd, 0);
}

int pps__pop3_read_body(pps_session *s, pps__pop3_cmd cmd, pps__pop3_stream *st)
{
    int err;

    for (;;) {
        size_t used = 0;
        if (s->in_end > s->in_start &&
            pps__pop3_stream_feed(st, s->in + s->in_start,
                                  s->in_end - s->in_start, &used) == 1) {
            s->in_start += used;
            pps__pop3_stream_flush(st);
            return 0;
        }
        s->in_start += used;
        if ((err = fill(s, cmd)) < 0)
            return err;
    }
}

/* --- the transcript ------------------------------------------------------ */

/* Copy printable ASCII, '?' for the rest, "..." when cut. */
static void printable(char *buf, size_t size, const char *s, size_t len)
{
    size_t i, n = len < size - 1 ? len : size - 1;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    buf[n] = '\0';
    if (n < len && size > 4)
        memcpy(buf + size - 4, "...", 4);
}

/*
 * The one function that writes transcript lines.  Outgoing secrets are
 * cut here, from the command table, before anything is formatted: the
 * words after the visible ones of PASS, APOP and AUTH, and every SASL
 * client response, become "<hidden>".
 */
void pps__pop3_trace(pps_session *s, int outgoing, pps__pop3_cmd cmd,
                     const char *line, size_t len)
{
    char shown[160];
    size_t keep = len;
    int hidden = 0;

    if (!pps__log_enabled(PPS_LOG_TRACE))
        return;
    if (outgoing && cmd == PPS__CMD_AUTH_DATA) {
        keep = 0;
        hidden = 1;
    } else if (outgoing && pps__pop3_command(cmd)->visible_words) {
        unsigned int words = pps__pop3_command(cmd)->visible_words;
        size_t i;
        for (i = 0; i < len; i++) {
            if (line[i] == ' ' && --words == 0) {
                keep = i;
                hidden = 1;
                break;
            }
        }
    }
    printable(shown, sizeof(shown), line, keep);
    pps__log(PPS_LOG_TRACE, s->log_context, "%s %s%s%s",
             outgoing ? "-->" : "<--", shown, keep && hidden ? " " : "",
             hidden ? "<hidden>" : "");
}

/* --- commands out -------------------------------------------------------- */

static int append(pps_session *s, const char *text, size_t len)
{
    if (len > sizeof(s->out) - s->out_len)
        return -1;
    memcpy(s->out + s->out_len, text, len);
    s->out_len += len;
    return 0;
}

int pps__pop3_queue(pps_session *s, pps__pop3_cmd cmd, const char *arg1,
                    const char *arg2)
{
    const pps__pop3_command_info *info = pps__pop3_command(cmd);
    size_t start = s->out_len, len, max;
    int secret = cmd == PPS__CMD_AUTH_DATA || info->visible_words;
    int bad = 0;

    if (secret)
        s->out_secret = 1;
    bad |= append(s, info->name, strlen(info->name));
    if (arg1) {
        if (info->name[0])
            bad |= append(s, " ", 1);
        bad |= append(s, arg1, strlen(arg1));
    }
    if (arg2) {
        bad |= append(s, " ", 1);
        bad |= append(s, arg2, strlen(arg2));
    }
    len = s->out_len - start;
    max = (cmd == PPS__CMD_AUTH_DATA || cmd == PPS__CMD_AUTH)
              ? PPS__POP3_AUTH_LINE_MAX
              : PPS__POP3_COMMAND_MAX;
    if (!bad && (memchr(s->out + start, '\r', len) ||
                 memchr(s->out + start, '\n', len)))
        bad = -2;
    if (!bad)
        bad |= append(s, "\r\n", 2);
    if (bad || len + 2 > max) {
        pps__wipe(s->out + start, s->out_len - start);
        s->out_len = start;
        if (bad == -2)
            return pps__error_set(PPS_EINVAL,
                                  "the %s command would hold a line break",
                                  info->name[0] ? info->name : "AUTH");
        return pps__error_set(PPS_EINVAL,
                              "the %s command would be longer than %zu "
                              "octets (RFC 2449 4)",
                              info->name[0] ? info->name : "AUTH", max);
    }
    pps__pop3_trace(s, 1, cmd, s->out + start, len);
    return 0;
}

int pps__pop3_queue_number(pps_session *s, pps__pop3_cmd cmd, unsigned int n1,
                           int with_n2, unsigned int n2)
{
    char a[16], b[16];

    pps__snprintf(a, sizeof(a), "%u", n1);
    pps__snprintf(b, sizeof(b), "%u", n2);
    return pps__pop3_queue(s, cmd, a, with_n2 ? b : NULL);
}

int pps__pop3_flush(pps_session *s, pps__pop3_cmd cmd)
{
    long long now;
    long timeout;
    long n;
    size_t len = s->out_len;
    int err = 0;

    if (len == 0)
        return 0;
    if ((err = pps__pop3_check(s, cmd)) < 0)
        goto done;
    now = pps__now_ms();
    timeout = s->read_timeout_ms;
    if (s->deadline_ms && s->deadline_ms - now < timeout)
        timeout = (long)(s->deadline_ms - now);
    if (timeout < 1)
        timeout = 1;
    n = s->transport->write(s->transport, s->out, len, (int)timeout);
    if (n < 0)
        err = transport_error(s, n, cmd, "sending the command for the");
    else if ((size_t)n != len)
        err = pps__error_set(PPS_ENET, "short write to %s (%ld of %zu bytes)",
                             s->addr.host, n, len);
done:
    if (s->out_secret)
        pps__wipe(s->out, len);
    s->out_secret = 0;
    s->out_len = 0;
    return err;
}

/* One command, one single-line reply, -ERR as a failure. */
int pps__pop3_simple(pps_session *s, pps__pop3_cmd cmd)
{
    int err;

    if ((err = pps__pop3_queue(s, cmd, NULL, NULL)) < 0 ||
        (err = pps__pop3_flush(s, cmd)) < 0 ||
        (err = pps__pop3_read_status(s, cmd)) < 0)
        return err;
    if (s->status != PPS__POP3_OK)
        return pps__pop3_refused(s, cmd, NULL);
    return 0;
}

/*
 * One line of a multi-line reply (RFC 1939 3): returns 1 with the line in
 * text and len (the stuffed dot taken off), 0 at the closing ".", or a code.
 */
int pps__pop3_read_multi(pps_session *s, pps__pop3_cmd cmd, const char **text,
                         size_t *len)
{
    int err;

    if ((err = pps__pop3_read_line(s, cmd)) < 0)
        return err;
    *text = s->line;
    *len = s->line_len;
    if (s->line_len > 0 && s->line[0] == '.') {
        if (s->line_len == 1)
            return 0;
        (*text)++;
        (*len)--;
    }
    return 1;
}

/* Read and drop a multi-line reply's lines. */
int pps__pop3_skip_multi(pps_session *s, pps__pop3_cmd cmd)
{
    const char *text;
    size_t len;
    int r;

    while ((r = pps__pop3_read_multi(s, cmd, &text, &len)) == 1)
        ;
    return r;
}
