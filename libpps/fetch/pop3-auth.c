/*
 * pop3-auth.c - choosing a login method and running it.
 *
 * Automatic choice takes the strongest method the server offers, in the
 * order CRAM-MD5, APOP (neither sends the password itself), PLAIN, LOGIN,
 * USER/PASS.  Token methods (XOAUTH2, OAUTHBEARER) are only used when the
 * profile names them: the "password" is then an access token.  A method
 * that sends the password or token as it is (USER, PLAIN, LOGIN and the
 * token methods) is refused over a connection without TLS unless
 * allow_plaintext_password is set, before anything is sent.
 */
#include <string.h>

#include "pop3.h"

static const struct method {
    const char *option; /* as the profile writes it */
    const char *name;   /* as the protocol writes it */
    unsigned int sasl : 1;
    unsigned int clear : 1; /* sends the secret itself */
} methods[PPS__AUTH_COUNT] = {
    [PPS__AUTH_USER] = {"user", "USER", 0, 1},
    [PPS__AUTH_APOP] = {"apop", "APOP", 0, 0},
    [PPS__AUTH_PLAIN] = {"plain", "PLAIN", 1, 1},
    [PPS__AUTH_LOGIN] = {"login", "LOGIN", 1, 1},
    [PPS__AUTH_CRAM_MD5] = {"cram-md5", "CRAM-MD5", 1, 0},
    [PPS__AUTH_XOAUTH2] = {"xoauth2", "XOAUTH2", 1, 1},
    [PPS__AUTH_OAUTHBEARER] = {"oauthbearer", "OAUTHBEARER", 1, 1},
};

static const pps__pop3_auth auto_order[] = {
    PPS__AUTH_CRAM_MD5, PPS__AUTH_APOP, PPS__AUTH_PLAIN,
    PPS__AUTH_LOGIN,    PPS__AUTH_USER,
};

int pps__pop3_auth_parse(const char *name)
{
    int i;

    if (!name || pps__ascii_strcasecmp(name, "auto") == 0)
        return -1;
    for (i = 0; i < PPS__AUTH_COUNT; i++)
        if (pps__ascii_strcasecmp(name, methods[i].option) == 0)
            return i;
    return -2;
}

/* Is `mech` in the SASL list of CAPA? */
static int sasl_offered(const pps_session *s, const char *mech)
{
    size_t n = strlen(mech);
    const char *p = s->sasl;

    while (*p) {
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && pps__ascii_strncasecmp(p, mech, n) == 0)
            return 1;
        p += len;
        while (*p == ' ')
            p++;
    }
    return 0;
}

static int offered(const pps_session *s, pps__pop3_auth m)
{
    if (m == PPS__AUTH_APOP)
        return s->timestamp[0] != '\0';
    if (methods[m].sasl)
        return sasl_offered(s, methods[m].name);
    return 1; /* USER: RFC 1939 servers need not say so */
}

static int plaintext_refused(const pps_session *s, pps__pop3_auth m)
{
    return pps__error_set(
        PPS_ECONFIG,
        "not sending the password for %s in clear: the connection to %s is "
        "not encrypted; use TLS (server \"%s 995s\", or STLS), or allow it "
        "with the session option allow_plaintext_password (profile key "
        "allow_plaintext_password = yes)",
        methods[m].name, s->addr.host, s->addr.host);
}

static int choose(pps_session *s, pps__pop3_auth *out)
{
    int encrypted = s->transport->is_tls(s->transport) == 1;
    size_t i;

    if (s->auth_forced >= 0) {
        pps__pop3_auth m = (pps__pop3_auth)s->auth_forced;
        /* Without CAPA we cannot know the SASL list: try. */
        if (!offered(s, m) &&
            (m == PPS__AUTH_APOP || (s->capa & PPS_CAPA_CAPA)))
            return pps__error_set(PPS_EUNSUPPORTED,
                                  "%s does not offer %s (SASL: \"%s\"%s)",
                                  s->addr.host, methods[m].name, s->sasl,
                                  s->timestamp[0] ? ", APOP" : "");
        if (methods[m].clear && !encrypted && !s->allow_plaintext)
            return plaintext_refused(s, m);
        *out = m;
        return 0;
    }
    for (i = 0; i < sizeof(auto_order) / sizeof(auto_order[0]); i++) {
        pps__pop3_auth m = auto_order[i];
        if (!offered(s, m))
            continue;
        if (methods[m].clear && !encrypted && !s->allow_plaintext)
            continue;
        *out = m;
        return 0;
    }
    return plaintext_refused(s, PPS__AUTH_USER);
}

static int run_user(pps_session *s)
{
    int err;

    if ((err = pps__pop3_queue(s, PPS__CMD_USER, s->user, NULL)) < 0 ||
        (err = pps__pop3_flush(s, PPS__CMD_USER)) < 0 ||
        (err = pps__pop3_read_status(s, PPS__CMD_USER)) < 0)
        return err;
    if (s->status != PPS__POP3_OK)
        return pps__pop3_refused(s, PPS__CMD_USER, NULL);
    if ((err = pps__pop3_queue(s, PPS__CMD_PASS, s->password, NULL)) < 0 ||
        (err = pps__pop3_flush(s, PPS__CMD_PASS)) < 0 ||
        (err = pps__pop3_read_status(s, PPS__CMD_PASS)) < 0)
        return err;
    if (s->status != PPS__POP3_OK)
        return pps__pop3_refused(s, PPS__CMD_PASS, NULL);
    return 0;
}

static int run_apop(pps_session *s)
{
    char digest[33];
    int err;

    if ((err = pps__md5_hex(digest, s->timestamp, strlen(s->timestamp),
                            s->password, strlen(s->password))) < 0)
        return err;
    err = pps__pop3_queue(s, PPS__CMD_APOP, s->user, digest);
    pps__wipe(digest, sizeof(digest));
    if (err < 0 || (err = pps__pop3_flush(s, PPS__CMD_APOP)) < 0 ||
        (err = pps__pop3_read_status(s, PPS__CMD_APOP)) < 0)
        return err;
    if (s->status != PPS__POP3_OK)
        return pps__pop3_refused(s, PPS__CMD_APOP, NULL);
    return 0;
}

/* Cancel an exchange (RFC 5034 4: "*") and read the server's -ERR. */
static int cancel(pps_session *s, int why)
{
    char detail[PPS__ERROR_MESSAGE_MAX];
    int err;

    pps__snprintf(detail, sizeof(detail), "%s", pps_error_last()->message);
    if ((err = pps__pop3_queue(s, PPS__CMD_AUTH_DATA, "*", NULL)) < 0 ||
        (err = pps__pop3_flush(s, PPS__CMD_AUTH_DATA)) < 0 ||
        (err = pps__pop3_read_status(s, PPS__CMD_AUTH_DATA)) < 0)
        return err;
    return pps__error_set(why, "%s", detail);
}

/* The SASL exchange; `line` holds base64 of secrets and is wiped. */
static int sasl_exchange(pps_session *s, pps__pop3_auth m, char *line,
                         unsigned char *raw)
{
    const char *name = methods[m].name;
    pps__sasl st;
    long n;
    unsigned int rounds;
    int err;

    memset(&st, 0, sizeof(st));
    st.mech = m;
    n = pps__sasl_initial(s, &st, raw, PPS__POP3_SASL_RAW_MAX);
    if (n < -1)
        return (int)n;
    if (n >= 0) {
        size_t cmd_len;
        if (pps__b64_encode(line, PPS__POP3_AUTH_LINE_MAX, raw, (size_t)n) < 0)
            return pps__error_set(PPS_ETOOBIG, "the AUTH %s data is too long",
                                  name);
        if (n == 0)
            memcpy(line, "=", 2); /* RFC 5034 4: an empty response */
        cmd_len = 5 + strlen(name) + 1 + strlen(line) + 2;
        if (s->sasl_ir == PPS_SASL_IR_ALWAYS ||
            (s->sasl_ir == PPS_SASL_IR_AUTO &&
             cmd_len <= PPS__POP3_COMMAND_MAX))
            st.initial_sent = 1;
    }
    if ((err = pps__pop3_queue(s, PPS__CMD_AUTH, name,
                               st.initial_sent ? line : NULL)) < 0 ||
        (err = pps__pop3_flush(s, PPS__CMD_AUTH)) < 0)
        return err;
    for (rounds = 0;; rounds++) {
        const char *chal;
        long clen;

        if ((err = pps__pop3_read_line(s, PPS__CMD_AUTH)) < 0 ||
            (err = pps__pop3_parse_status(s, PPS__CMD_AUTH, 1)) < 0)
            return err;
        if (s->status == PPS__POP3_OK)
            return 0;
        if (s->status == PPS__POP3_ERR) {
            err = pps__pop3_refused(s, PPS__CMD_AUTH, name);
            if (st.failed)
                pps__error_set_server(st.error_text, strlen(st.error_text));
            return err;
        }
        if (rounds >= PPS__POP3_SASL_ROUNDS_MAX) {
            pps__error_set(PPS_EPROTO,
                           "%s sent more than %d AUTH %s "
                           "challenges",
                           s->addr.host, PPS__POP3_SASL_ROUNDS_MAX, name);
            return cancel(s, PPS_EPROTO);
        }
        chal = s->line + s->text_off;
        clen = pps__b64_decode(raw, PPS__POP3_SASL_RAW_MAX, chal,
                               s->line_len - s->text_off);
        if (clen < 0) {
            pps__pop3_bad_line(s, PPS__CMD_AUTH, "is not valid base64");
            return cancel(s, PPS_EPROTO);
        }
        n = pps__sasl_step(s, &st, raw, (size_t)clen, raw,
                           PPS__POP3_SASL_RAW_MAX);
        if (n < 0)
            return cancel(s, (int)n);
        if (pps__b64_encode(line, PPS__POP3_AUTH_LINE_MAX, raw, (size_t)n) < 0)
            return pps__error_set(PPS_ETOOBIG, "the AUTH %s data is too long",
                                  name);
        if ((err = pps__pop3_queue(s, PPS__CMD_AUTH_DATA, line, NULL)) < 0 ||
            (err = pps__pop3_flush(s, PPS__CMD_AUTH_DATA)) < 0)
            return err;
    }
}

static int run_sasl(pps_session *s, pps__pop3_auth m)
{
    char *line = pps__malloc(PPS__POP3_AUTH_LINE_MAX + 1);
    unsigned char *raw = pps__malloc(PPS__POP3_SASL_RAW_MAX);
    int err;

    if (!line || !raw) {
        pps__free(line);
        pps__free(raw);
        return pps__error_oom();
    }
    err = sasl_exchange(s, m, line, raw);
    pps__wipe(line, PPS__POP3_AUTH_LINE_MAX + 1);
    pps__wipe(raw, PPS__POP3_SASL_RAW_MAX);
    pps__free(line);
    pps__free(raw);
    return err;
}

int pps__pop3_login(pps_session *s)
{
    pps__pop3_auth m = PPS__AUTH_USER;
    int err;

    if (!s->user || !s->password)
        return pps__error_set(PPS_EINVAL,
                              "no %s given for the POP3 login to %s",
                              s->user ? "password" : "user name", s->addr.host);
    if ((err = choose(s, &m)) < 0)
        return err;
    pps__log(PPS_LOG_DEBUG, s->log_context,
             "pop3: logging in to %s as %s "
             "with %s",
             s->addr.host, s->user, methods[m].name);
    if (m == PPS__AUTH_USER)
        err = run_user(s);
    else if (m == PPS__AUTH_APOP)
        err = run_apop(s);
    else
        err = run_sasl(s, m);
    if (err < 0)
        return err;
    s->auth_used = methods[m].name;
    return 0;
}
