/*
 * libpps/deliver/smtp.c - LMTP (RFC 2033), SMTP (RFC 5321) and
 * EmailArchitect delivery: one client engine, three tables.
 *
 * One transaction per connection:
 *
 *     connect, greeting 220
 *     LHLO | EHLO (HELO when EHLO is refused)   capabilities
 *     [STARTTLS, EHLO again]  [AUTH PLAIN | LOGIN]      smtp only
 *     MAIL FROM, RCPT TO each, DATA    pipelined in one batch when the
 *                                      server offers PIPELINING, else a
 *                                      window of one (one code path)
 *     the message, CRLF, dot-stuffed, then "."
 *     LMTP: one reply per accepted recipient; SMTP: one for all
 *     QUIT
 *
 * Every read has a deadline (RFC 5321 4.5.3.2 values by default).  A
 * 4xx makes the recipients concerned temporary failures, a 5xx
 * permanent ones, except that a refused greeting, LHLO/EHLO, STARTTLS or
 * AUTH is a problem of the local set-up, not of the message: temporary,
 * so the message stays on the remote server.  A connection lost at any
 * point makes every undecided recipient a temporary failure.
 */
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/internal.h"
#include "deliver/deliver-int.h"

/* The body is sent in blocks of up to this many bytes. */
#define SMTP_WBUF_SIZE 65536
#define SMTP_PIECE     8192
/* RFC 4954: credentials longer than this are a configuration mistake. */
#define SMTP_CRED_MAX 255
/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets. */
#define SMTP_CMD_MAX 512
/* QUIT is a courtesy: do not wait minutes for its reply. */
#define SMTP_QUIT_MS 5000u

typedef struct smtp_variant {
    const char *name; /* "lmtp", "smtp", "emailarchitect" */
    const char *proto;
    int lmtp;
    int null_sender_unless_auth; /* EmailArchitect's "prevent faking" */
    unsigned int port;
    const char *default_server; /* as docs/pps.conf.5 */
} smtp_variant;

typedef enum smtp_state {
    ST_IDLE,
    ST_GREETING,
    ST_HELLO,
    ST_STARTTLS,
    ST_AUTH,
    ST_ENVELOPE,
    ST_BODY,
    ST_FINAL,
    ST_QUIT
} smtp_state;

static const char *const state_names[] = {
    "idle",     "greeting", "hello", "starttls", "auth",
    "envelope", "body",     "final", "quit",
};

#define CAP_PIPELINING 0x01u
#define CAP_8BITMIME   0x02u
#define CAP_SMTPUTF8   0x04u
#define CAP_STARTTLS   0x08u
#define CAP_AUTH_PLAIN 0x10u
#define CAP_AUTH_LOGIN 0x20u

typedef struct smtp {
    const smtp_variant *v;
    char *server, *helo, *user, *pass, *ca_file, *tls_name;
    int starttls, no_verify, allow_plain;
    unsigned int t_connect, t_cmd, t_data, t_block, t_final;

    pps__conn *conn;
    smtp_state state;
    unsigned int caps;
    pps__reply reply;
    char rbuf[4096];
    size_t rpos, rlen;
    pps__lineconv conv;
    char *wbuf;
    size_t wlen;
    size_t *accepted; /* recipients whose RCPT got 2xx, in order */
    size_t naccepted;
} smtp;

static void set_state(smtp *s, smtp_state st)
{
    if (pps__log_enabled(PPS_LOG_TRACE) && st != s->state)
        pps__log(PPS_LOG_TRACE, NULL, "%s: %s -> %s", s->v->name,
                 state_names[s->state], state_names[st]);
    s->state = st;
}

/* --- the wire ------------------------------------------------------------- */

static int send_line(smtp *s, const char *line, int secret, unsigned int ms)
{
    char buf[SMTP_CMD_MAX + 1];
    size_t len = strlen(line);
    int err;

    if (len + 2 > SMTP_CMD_MAX)
        return pps__error_set(PPS_EINVAL, "%s: command too long", s->v->proto);
    memcpy(buf, line, len);
    memcpy(buf + len, "\r\n", 3);
    if (pps__log_enabled(PPS_LOG_TRACE))
        pps__log(PPS_LOG_TRACE, NULL, "%s --> %s", s->v->proto,
                 secret ? "********" : line);
    err = pps__conn_write(s->conn, buf, len + 2, ms);
    OPENSSL_cleanse(buf, sizeof(buf));
    return err;
}

static int read_reply(smtp *s, unsigned int ms)
{
    int rc;

    pps__reply_init(&s->reply);
    for (;;) {
        if (s->rpos < s->rlen) {
            size_t used = 0;
            rc = pps__reply_feed(&s->reply, s->rbuf + s->rpos,
                                 s->rlen - s->rpos, &used);
            s->rpos += used;
            if (rc < 0)
                return rc;
            if (rc == 1)
                break;
        }
        s->rpos = s->rlen = 0;
        if ((rc = pps__conn_read(s->conn, s->rbuf, sizeof(s->rbuf), &s->rlen,
                                 ms)) < 0)
            return rc;
    }
    if (pps__log_enabled(PPS_LOG_TRACE))
        pps__log(PPS_LOG_TRACE, NULL, "%s <-- %d %.*s", s->v->proto,
                 s->reply.code, (int)pps__reply_first_line(&s->reply),
                 s->reply.text);
    return 0;
}

/* "STEP: 550 5.1.1 text" for a status or error. */
static void reply_words(const smtp *s, const char *step, char *buf, size_t size)
{
    pps__snprintf(buf, size, "%s: %d %.*s", step, s->reply.code,
                  (int)pps__reply_first_line(&s->reply), s->reply.text);
}

/* Quota and size refusals get their own code, for the caller's policy. */
static int is_quota(const pps__reply *r)
{
    return r->code == 552 || strncmp(r->text, "5.2.2", 5) == 0 ||
           strncmp(r->text, "5.3.4", 5) == 0 ||
           strncmp(r->text, "4.2.2", 5) == 0;
}

/* The outcome and code a reply means for the recipients it concerns. */
static pps_deliver_outcome reply_outcome(const pps__reply *r, int *code)
{
    if (r->code >= 200 && r->code < 400) {
        *code = PPS_OK;
        return PPS_DELIVER_DELIVERED;
    }
    if (r->code >= 500) {
        *code = is_quota(r) ? PPS_ETOOBIG : PPS_EPERM;
        return PPS_DELIVER_PERMFAIL;
    }
    *code = PPS_ETEMP;
    return PPS_DELIVER_TEMPFAIL;
}

/* A refused session step: the error to return, detail and server words
 * set.  Always temporary (see the file comment) unless `perm_5xx`. */
static int step_refused(smtp *s, const char *step, int perm_5xx)
{
    int code = perm_5xx && s->reply.code >= 500
                   ? (is_quota(&s->reply) ? PPS_ETOOBIG : PPS_EPERM)
                   : PPS_ETEMP;

    pps__error_set(code, "%s server %s refused %s with %d", s->v->proto,
                   s->server, step, s->reply.code);
    pps__error_set_server(s->reply.text, pps__reply_first_line(&s->reply));
    return code;
}

/* Settle the undecided with the current error (connection lost etc.). */
static void settle_with_error(pps_deliverer_txn *txn, const char *step, int err,
                              int reply)
{
    const pps_error *e = pps_error_last();
    char text[PPS_DELIVER_TEXT_MAX];

    if (e->server[0])
        pps__snprintf(text, sizeof(text), "%s: %s: %s", step, e->message,
                      e->server);
    else
        pps__snprintf(text, sizeof(text), "%s: %s", step, e->message);
    pps__txn_set_undecided(txn,
                           err == PPS_EPERM || err == PPS_ETOOBIG
                               ? PPS_DELIVER_PERMFAIL
                               : PPS_DELIVER_TEMPFAIL,
                           err, reply, text);
}

/* --- session set-up ----------------------------------------------------------
 */

static void parse_caps(smtp *s)
{
    const char *p = s->reply.text, *end = p + s->reply.text_len;

    s->caps = 0;
    /* The first line is the server's name; keywords follow, one a line. */
    p = memchr(p, '\n', (size_t)(end - p));
    while (p && p < end) {
        const char *line = p + 1;
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t len = nl ? (size_t)(nl - line) : (size_t)(end - line);
        char kw[64];
        size_t i;

        for (i = 0; i < len && i < sizeof(kw) - 1; i++)
            kw[i] = (char)pps__ascii_tolower((unsigned char)line[i]);
        kw[i] = '\0';
        if (strcmp(kw, "pipelining") == 0)
            s->caps |= CAP_PIPELINING;
        else if (strcmp(kw, "8bitmime") == 0)
            s->caps |= CAP_8BITMIME;
        else if (strcmp(kw, "smtputf8") == 0)
            s->caps |= CAP_SMTPUTF8;
        else if (strcmp(kw, "starttls") == 0)
            s->caps |= CAP_STARTTLS;
        else if (strncmp(kw, "auth ", 5) == 0 || strncmp(kw, "auth=", 5) == 0) {
            char *m = kw + 4;
            while (m && *m) {
                m++;
                if (strncmp(m, "plain", 5) == 0 && (!m[5] || m[5] == ' '))
                    s->caps |= CAP_AUTH_PLAIN;
                if (strncmp(m, "login", 5) == 0 && (!m[5] || m[5] == ' '))
                    s->caps |= CAP_AUTH_LOGIN;
                m = strchr(m, ' ');
            }
        }
        p = nl;
    }
}

static int hello(smtp *s)
{
    char cmd[SMTP_CMD_MAX];
    int err;

    set_state(s, ST_HELLO);
    pps__snprintf(cmd, sizeof(cmd), "%s %s", s->v->lmtp ? "LHLO" : "EHLO",
                  s->helo);
    if ((err = send_line(s, cmd, 0, s->t_cmd)) < 0 ||
        (err = read_reply(s, s->t_cmd)) < 0)
        return err;
    if (s->reply.code / 100 == 2) {
        parse_caps(s);
        return 0;
    }
    if (s->v->lmtp || s->reply.code < 500)
        return step_refused(s, s->v->lmtp ? "LHLO" : "EHLO", 0);
    /* An old SMTP server: HELO, no extensions. */
    pps__snprintf(cmd, sizeof(cmd), "HELO %s", s->helo);
    if ((err = send_line(s, cmd, 0, s->t_cmd)) < 0 ||
        (err = read_reply(s, s->t_cmd)) < 0)
        return err;
    if (s->reply.code / 100 != 2)
        return step_refused(s, "HELO", 0);
    s->caps = 0;
    return 0;
}

static int do_starttls(smtp *s)
{
    char host[300];
    int err;

    set_state(s, ST_STARTTLS);
    if (!(s->caps & CAP_STARTTLS))
        return pps__error_set(PPS_ETLS,
                              "%s server %s does not offer STARTTLS, which "
                              "[delivery] starttls requires",
                              s->v->proto, s->server);
    if ((err = send_line(s, "STARTTLS", 0, s->t_cmd)) < 0 ||
        (err = read_reply(s, s->t_cmd)) < 0)
        return err;
    if (s->reply.code != 220)
        return step_refused(s, "STARTTLS", 0);
    /* Bytes after the 220 came in the clear: a STARTTLS injection. */
    if (s->rpos < s->rlen)
        return pps__error_set(PPS_ETLS,
                              "%s server %s sent data after its STARTTLS "
                              "reply",
                              s->v->proto, s->server);
    if (s->tls_name)
        pps__snprintf(host, sizeof(host), "%s", s->tls_name);
    else if (s->server[0] == '/' ||
             pps__conn_host(host, sizeof(host), s->server) < 0)
        host[0] = '\0';
    if ((err = pps__conn_starttls(s->conn, s->ca_file, host, s->no_verify,
                                  s->t_cmd)) < 0)
        return err;
    return hello(s);
}

static int b64(char *out, size_t size, const char *in, size_t len)
{
    if (4 * ((len + 2) / 3) + 1 > size)
        return pps__error_set(PPS_ETOOBIG, "credentials too long");
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)len);
    return 0;
}

static int auth(smtp *s)
{
    char raw[2 * SMTP_CRED_MAX + 3], enc[SMTP_CMD_MAX];
    char cmd[SMTP_CMD_MAX];
    size_t ul = strlen(s->user), pl = strlen(s->pass);
    int err;

    set_state(s, ST_AUTH);
    if (!pps__conn_is_private(s->conn) && !s->allow_plain)
        return pps__error_set(PPS_ECONFIG,
                              "%s server %s: not sending the password over "
                              "a plain network connection (use starttls, "
                              "or allow_plaintext_auth)",
                              s->v->proto, s->server);
    if (s->caps & CAP_AUTH_PLAIN) {
        raw[0] = '\0';
        memcpy(raw + 1, s->user, ul);
        raw[ul + 1] = '\0';
        memcpy(raw + ul + 2, s->pass, pl);
        err = b64(enc, sizeof(enc) - 12, raw, ul + pl + 2);
        if (err == 0) {
            pps__snprintf(cmd, sizeof(cmd), "AUTH PLAIN %s", enc);
            err = send_line(s, cmd, 1, s->t_cmd);
        }
    } else if (s->caps & CAP_AUTH_LOGIN) {
        err = send_line(s, "AUTH LOGIN", 0, s->t_cmd);
        if (!err && !(err = read_reply(s, s->t_cmd)) && s->reply.code != 334)
            err = step_refused(s, "AUTH LOGIN", 0);
        if (!err && !(err = b64(enc, sizeof(enc), s->user, ul)))
            err = send_line(s, enc, 1, s->t_cmd);
        if (!err && !(err = read_reply(s, s->t_cmd)) && s->reply.code != 334)
            err = step_refused(s, "AUTH LOGIN user name", 0);
        if (!err && !(err = b64(enc, sizeof(enc), s->pass, pl)))
            err = send_line(s, enc, 1, s->t_cmd);
    } else {
        err = pps__error_set(PPS_EUNSUPPORTED,
                             "%s server %s offers neither AUTH PLAIN nor "
                             "AUTH LOGIN",
                             s->v->proto, s->server);
    }
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(enc, sizeof(enc));
    OPENSSL_cleanse(cmd, sizeof(cmd));
    if (err < 0 || (err = read_reply(s, s->t_cmd)) < 0)
        return err;
    if (s->reply.code != 235) {
        pps__error_set(PPS_EAUTH,
                       "%s server %s refused our credentials (user %s) "
                       "with %d",
                       s->v->proto, s->server, s->user, s->reply.code);
        pps__error_set_server(s->reply.text, pps__reply_first_line(&s->reply));
        return PPS_EAUTH;
    }
    return 0;
}

static void session_close(smtp *s)
{
    pps__conn_close(s->conn);
    s->conn = NULL;
    s->rpos = s->rlen = 0;
    set_state(s, ST_IDLE);
}

/* Polite end: QUIT and a short wait for its reply; errors ignored. */
static void session_quit(smtp *s)
{
    if (s->conn) {
        set_state(s, ST_QUIT);
        if (send_line(s, "QUIT", 0, SMTP_QUIT_MS) == 0)
            (void)read_reply(s, SMTP_QUIT_MS);
    }
    session_close(s);
}

/* End after a committed message: QUIT without waiting for the reply.  The
 * outcomes are final, and the caller records them only when commit
 * returns; every second spent here would be a window in which a crash
 * leaves delivered recipients "in doubt" and delivers them again
 * (tests/crash lmtp-quit-window).  RFC 5321 4.1.1.10's "SHOULD wait"
 * yields to exactly-once. */
static void session_quit_nowait(smtp *s)
{
    if (s->conn) {
        set_state(s, ST_QUIT);
        (void)send_line(s, "QUIT", 0, SMTP_QUIT_MS);
    }
    session_close(s);
}

static int session_open(smtp *s)
{
    int err;

    s->caps = 0;
    if ((err = pps__conn_open(&s->conn, s->server, s->v->port, s->t_connect)) <
        0)
        return err;
    set_state(s, ST_GREETING);
    if ((err = read_reply(s, s->t_cmd)) < 0)
        return err;
    if (s->reply.code != 220)
        return step_refused(s, "the connection (greeting)", 0);
    if ((err = hello(s)) < 0)
        return err;
    if (!s->v->lmtp && s->starttls && (err = do_starttls(s)) < 0)
        return err;
    if (!s->v->lmtp && s->user && (err = auth(s)) < 0)
        return err;
    return 0;
}

/* --- the envelope
 * ------------------------------------------------------------- */

static int non_ascii(const char *t)
{
    for (; *t; t++)
        if ((unsigned char)*t >= 0x80)
            return 1;
    return 0;
}

static const char *envelope_sender(const smtp *s, pps_deliverer_txn *txn)
{
    if (s->v->null_sender_unless_auth && !s->user)
        return "";
    return pps_deliverer_txn_sender(txn);
}

static void mail_command(const smtp *s, pps_deliverer_txn *txn, char *buf,
                         size_t size)
{
    const char *sender = envelope_sender(s, txn);
    int utf8 = non_ascii(sender);
    size_t i;

    for (i = 0; i < pps_deliverer_txn_count(txn); i++)
        utf8 |= non_ascii(pps_deliverer_txn_recipient(txn, i));
    pps__snprintf(buf, size, "MAIL FROM:<%s>%s%s", sender,
                  (s->caps & CAP_8BITMIME) ? " BODY=8BITMIME" : "",
                  (s->caps & CAP_SMTPUTF8) && utf8 ? " SMTPUTF8" : "");
}

/* Send commands [from, to) of the envelope as one write. */
static int send_batch(smtp *s, pps_deliverer_txn *txn, size_t from, size_t to)
{
    size_t n = pps_deliverer_txn_count(txn), k;
    int err;

    /* Command k: 0 = MAIL, 1..n = RCPT, n + 1 = DATA.  The batch is
     * built in the body buffer, which is free until DATA. */
    s->wlen = 0;
    for (k = from; k < to; k++) {
        char cmd[SMTP_CMD_MAX];
        size_t len;
        if (k == 0)
            mail_command(s, txn, cmd, sizeof(cmd));
        else if (k <= n)
            pps__snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>",
                          pps_deliverer_txn_recipient(txn, k - 1));
        else
            pps__snprintf(cmd, sizeof(cmd), "DATA");
        if (pps__log_enabled(PPS_LOG_TRACE))
            pps__log(PPS_LOG_TRACE, NULL, "%s --> %s", s->v->proto, cmd);
        len = strlen(cmd);
        if (s->wlen + len + 2 > SMTP_WBUF_SIZE) {
            if ((err = pps__conn_write(s->conn, s->wbuf, s->wlen, s->t_cmd)) <
                0)
                return err;
            s->wlen = 0;
        }
        memcpy(s->wbuf + s->wlen, cmd, len);
        memcpy(s->wbuf + s->wlen + len, "\r\n", 2);
        s->wlen += len + 2;
    }
    err = pps__conn_write(s->conn, s->wbuf, s->wlen, s->t_cmd);
    s->wlen = 0;
    return err;
}

/* Handle the reply to envelope command k; sets *data_ok on a 354. */
static int envelope_reply(smtp *s, pps_deliverer_txn *txn, size_t k,
                          int *mail_ok, int *data_ok)
{
    size_t n = pps_deliverer_txn_count(txn);
    char text[PPS_DELIVER_TEXT_MAX];
    pps_deliver_outcome o;
    int code;

    if (k == 0) {
        if (s->reply.code / 100 == 2) {
            *mail_ok = 1;
            return 0;
        }
        reply_words(s, "MAIL FROM", text, sizeof(text));
        o = reply_outcome(&s->reply, &code);
        pps__txn_set_undecided(txn, o, code, s->reply.code, text);
        return 0;
    }
    if (k <= n) {
        if (!*mail_ok)
            return 0; /* 503 after a refused MAIL: MAIL said it all */
        if (s->reply.code / 100 == 2) {
            s->accepted[s->naccepted++] = k - 1;
            return 0;
        }
        reply_words(s, "RCPT TO", text, sizeof(text));
        o = reply_outcome(&s->reply, &code);
        pps_deliverer_txn_set(txn, k - 1, o, code, s->reply.code, text,
                              strlen(text));
        return 0;
    }
    if (s->reply.code == 354) {
        *data_ok = 1;
        return 0;
    }
    if (s->naccepted > 0) {
        reply_words(s, "DATA", text, sizeof(text));
        o = reply_outcome(&s->reply, &code);
        if (o == PPS_DELIVER_DELIVERED) { /* 2xx to DATA: nonsense */
            o = PPS_DELIVER_TEMPFAIL;
            code = PPS_EPROTO;
        }
        pps__txn_set_undecided(txn, o, code, s->reply.code, text);
    }
    return 0;
}

static int envelope(smtp *s, pps_deliverer_txn *txn, int *data_ok)
{
    size_t n = pps_deliverer_txn_count(txn);
    size_t total = n + 2, sent = 0, answered = 0;
    size_t window = (s->caps & CAP_PIPELINING) ? total : 1;
    int mail_ok = 0, err;

    set_state(s, ST_ENVELOPE);
    s->naccepted = 0;
    *data_ok = 0;
    while (answered < total) {
        if (sent == answered) {
            size_t to = sent + window < total ? sent + window : total;
            /* Without pipelining, stop at the first dead end. */
            if (window == 1 && sent > 0 && !mail_ok)
                break;
            if (window == 1 && sent == total - 1 && s->naccepted == 0)
                break;
            if ((err = send_batch(s, txn, sent, to)) < 0)
                return err;
            sent = to;
        }
        if ((err = read_reply(s, answered == total - 1 ? s->t_data
                                                       : s->t_cmd)) < 0)
            return err;
        envelope_reply(s, txn, answered, &mail_ok, data_ok);
        answered++;
    }
    return 0;
}

/* --- the deliverer table
 * ------------------------------------------------------ */

static int smtp_begin(pps_deliverer_txn *txn, void *payload)
{
    smtp *s = payload;
    size_t n = pps_deliverer_txn_count(txn);
    int data_ok = 0, err;

    pps__free(s->accepted);
    s->naccepted = 0;
    s->accepted = pps__calloc(n, sizeof(size_t));
    if (!s->accepted)
        return pps__error_oom();
    if ((err = session_open(s)) < 0 || (err = envelope(s, txn, &data_ok)) < 0) {
        settle_with_error(txn, state_names[s->state], err, s->reply.code);
        session_close(s);
        return err;
    }
    if (data_ok && s->naccepted == 0) {
        /* A 354 though every RCPT was refused (RFC 2920 3.1 says 554):
         * send an empty message that reaches nobody. */
        if (send_line(s, ".", 0, s->t_cmd) == 0)
            (void)read_reply(s, s->t_final);
        data_ok = 0;
    }
    if (!data_ok) {
        session_quit(s);
        return 0; /* every recipient is decided */
    }
    set_state(s, ST_BODY);
    pps__lineconv_init(&s->conv, PPS__LC_CRLF | PPS__LC_DOTSTUFF);
    s->wlen = 0;
    return 0;
}

static int flush(smtp *s)
{
    int err = pps__conn_write(s->conn, s->wbuf, s->wlen, s->t_block);

    s->wlen = 0;
    return err;
}

static int smtp_write(pps_deliverer_txn *txn, const char *data, size_t len,
                      void *payload)
{
    smtp *s = payload;
    int err;

    (void)txn;
    while (len > 0) {
        size_t n = len < SMTP_PIECE ? len : SMTP_PIECE;
        if (s->wlen + PPS__LINECONV_OUT_MAX(SMTP_PIECE) > SMTP_WBUF_SIZE &&
            (err = flush(s)) < 0) {
            settle_with_error(txn, "DATA", err, 0);
            return err;
        }
        s->wlen += pps__lineconv_run(&s->conv, s->wbuf + s->wlen, data, n);
        data += n;
        len -= n;
    }
    return 0;
}

static int smtp_commit(pps_deliverer_txn *txn, void *payload)
{
    smtp *s = payload;
    char text[PPS_DELIVER_TEXT_MAX];
    size_t i;
    int err, code;

    if (s->state != ST_BODY)
        return 0; /* begin decided everyone */
    s->wlen += pps__lineconv_finish(&s->conv, s->wbuf + s->wlen);
    memcpy(s->wbuf + s->wlen, ".\r\n", 3);
    s->wlen += 3;
    if (pps__log_enabled(PPS_LOG_TRACE))
        pps__log(PPS_LOG_TRACE, NULL, "%s --> .", s->v->proto);
    if ((err = flush(s)) < 0)
        goto lost;
    set_state(s, ST_FINAL);
    /* LMTP: one reply per accepted recipient, in RCPT order (RFC 2033
     * 4.2); SMTP: one for all. */
    for (i = 0; i < (s->v->lmtp ? s->naccepted : 1); i++) {
        pps_deliver_outcome o;
        if ((err = read_reply(s, s->t_final)) < 0)
            goto lost;
        reply_words(s, "after DATA", text, sizeof(text));
        o = reply_outcome(&s->reply, &code);
        if (s->v->lmtp)
            pps_deliverer_txn_set(txn, s->accepted[i], o, code, s->reply.code,
                                  text, strlen(text));
        else
            pps__txn_set_undecided(txn, o, code, s->reply.code, text);
    }
    session_quit_nowait(s);
    return 0;
lost:
    settle_with_error(txn, "after DATA", err, 0);
    session_close(s);
    return err;
}

static void smtp_abort(pps_deliverer_txn *txn, void *payload)
{
    smtp *s = payload;

    (void)txn;
    /* Closing without the final dot: the server discards the message. */
    session_close(s);
    pps__free(s->accepted);
    s->accepted = NULL;
    s->naccepted = 0;
}

static int smtp_user_exists(const char *user, const char *domain, void *payload)
{
    smtp *s = payload;
    char cmd[SMTP_CMD_MAX];
    int answer = -1;

    if (session_open(s) < 0)
        goto done;
    set_state(s, ST_ENVELOPE);
    if (send_line(s, "MAIL FROM:<>", 0, s->t_cmd) < 0 ||
        read_reply(s, s->t_cmd) < 0 || s->reply.code / 100 != 2)
        goto done;
    pps__snprintf(cmd, sizeof(cmd), "RCPT TO:<%s@%s>", user, domain);
    if (send_line(s, cmd, 0, s->t_cmd) < 0 || read_reply(s, s->t_cmd) < 0)
        goto done;
    answer = s->reply.code / 100 == 2 ? 1 : s->reply.code >= 500 ? 0 : -1;
done:
    session_quit_nowait(s); /* the answer is in: no reason to wait */
    return answer;
}

static void smtp_describe(char *buf, size_t size, void *payload)
{
    const smtp *s = payload;

    pps__snprintf(buf, size, "%s to %s%s%s", s->v->name, s->server,
                  s->starttls ? " (STARTTLS)" : "", s->user ? " (AUTH)" : "");
}

static void smtp_free(void *payload)
{
    smtp *s = payload;

    if (!s)
        return;
    session_close(s);
    if (s->pass)
        OPENSSL_cleanse(s->pass, strlen(s->pass));
    pps__free(s->server);
    pps__free(s->helo);
    pps__free(s->user);
    pps__free(s->pass);
    pps__free(s->ca_file);
    pps__free(s->tls_name);
    pps__free(s->wbuf);
    pps__free(s->accepted);
    pps__free(s);
}

static int dup_opt(char **out, const char *in)
{
    *out = NULL;
    if (in && *in && !(*out = pps__strdup(in)))
        return pps__error_oom();
    return 0;
}

static int smtp_open(void **payload, const pps_deliver_options *o,
                     const smtp_variant *v)
{
    smtp *s;
    char host[256];
    int err;
    const char *server =
        o->server && *o->server ? o->server : v->default_server;

    *payload = NULL;
    if (strpbrk(server, " \t\r\n"))
        return pps__error_set(PPS_ECONFIG,
                              "[delivery] server \"%s\" holds a blank", server);
    if (o->username && o->password &&
        (strlen(o->username) > SMTP_CRED_MAX ||
         strlen(o->password) > SMTP_CRED_MAX || strpbrk(o->username, "\r\n") ||
         strpbrk(o->password, "\r\n")))
        return pps__error_set(PPS_ECONFIG,
                              "[delivery] user name or password is longer "
                              "than %d bytes or holds a line break",
                              SMTP_CRED_MAX);
    if (!(s = pps__calloc(1, sizeof(*s))))
        return pps__error_oom();
    s->v = v;
    if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
        pps__snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    if ((err = dup_opt(&s->server, server)) < 0 ||
        (err = dup_opt(&s->helo, o->helo_name ? o->helo_name : host)) < 0 ||
        (err = dup_opt(&s->ca_file, o->tls_ca_file)) < 0 ||
        (err = dup_opt(&s->tls_name, o->tls_server_name)) < 0)
        goto fail;
    if (o->username && *o->username && o->password &&
        ((err = dup_opt(&s->user, o->username)) < 0 ||
         (err = dup_opt(&s->pass, o->password)) < 0))
        goto fail;
    if (!s->pass) { /* AUTH only with both */
        pps__free(s->user);
        s->user = NULL;
    }
    if (!(s->wbuf = pps__malloc(SMTP_WBUF_SIZE))) {
        err = pps__error_oom();
        goto fail;
    }
    if (pps__conn_host(host, sizeof(host), s->server) < 0 &&
        s->server[0] != '/') {
        err = PPS_ECONFIG;
        goto fail;
    }
    s->starttls = o->starttls;
    s->no_verify = o->tls_no_verify;
    s->allow_plain = o->allow_plaintext_auth;
    s->t_connect =
        pps__deliver_timeout(o->connect_timeout_ms, PPS__DELIVER_CONNECT_MS);
    s->t_cmd =
        pps__deliver_timeout(o->command_timeout_ms, PPS__DELIVER_COMMAND_MS);
    s->t_data = pps__deliver_timeout(o->data_timeout_ms, PPS__DELIVER_DATA_MS);
    s->t_block =
        pps__deliver_timeout(o->block_timeout_ms, PPS__DELIVER_BLOCK_MS);
    s->t_final =
        pps__deliver_timeout(o->final_timeout_ms, PPS__DELIVER_FINAL_MS);
    *payload = s;
    return 0;
fail:
    smtp_free(s);
    return err;
}

static const smtp_variant lmtp_variant = {"lmtp", "LMTP", 1,
                                          0,      24,     "/run/dovecot/lmtp"};
static const smtp_variant smtp_variant_ = {"smtp", "SMTP", 0,
                                           0,      25,     "127.0.0.1:25"};
static const smtp_variant ea_variant = {"emailarchitect", "SMTP", 0, 1, 25,
                                        "127.0.0.1:25"};

static int lmtp_open(void **payload, const pps_deliver_options *o)
{
    if (o->starttls || o->username)
        return pps__error_set(PPS_ECONFIG,
                              "[delivery] method lmtp takes no starttls or "
                              "username: LMTP is for a local, trusted "
                              "socket (use smtp)");
    return smtp_open(payload, o, &lmtp_variant);
}

static int smtp_open_plain(void **payload, const pps_deliver_options *o)
{
    return smtp_open(payload, o, &smtp_variant_);
}

static int ea_open(void **payload, const pps_deliver_options *o)
{
    return smtp_open(payload, o, &ea_variant);
}

#define SMTP_CLASS(var, nm)                               \
    static const pps_deliverer_class var = {              \
        .version = PPS_DELIVERER_CLASS_VERSION,           \
        .name = nm,                                       \
        .flags = 0, /* CRLF and dot-stuffing done here */ \
        .begin = smtp_begin,                              \
        .write = smtp_write,                              \
        .commit = smtp_commit,                            \
        .cancel = smtp_abort,                             \
        .user_exists = smtp_user_exists,                  \
        .describe = smtp_describe,                        \
        .free = smtp_free,                                \
    }

SMTP_CLASS(lmtp_class, "lmtp");
SMTP_CLASS(smtp_class, "smtp");
SMTP_CLASS(ea_class, "emailarchitect");

const pps__deliver_builtin pps__deliver_lmtp = {.cls = &lmtp_class,
                                                .open = lmtp_open};
const pps__deliver_builtin pps__deliver_smtp = {.cls = &smtp_class,
                                                .open = smtp_open_plain};
const pps__deliver_builtin pps__deliver_emailarchitect = {.cls = &ea_class,
                                                          .open = ea_open};
