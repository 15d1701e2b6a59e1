/*
 * pop3-session.c - the session's life: options, connect (greeting, CAPA,
 * STLS), login, the small commands, QUIT, abort and free.
 *
 * Every public call starts with pps__pop3_enter() (argument and state
 * checks) and ends with pps__pop3_leave(), which breaks the session after
 * a failure that leaves the connection out of step (network, protocol,
 * TLS, timeout, abort, out of memory): the transport is closed and only
 * quit and free remain.
 */
#include <string.h>

#include "pop3.h"

_Static_assert(ATOMIC_INT_LOCK_FREE == 2,
               "pps_session_abort must be async-signal-safe");

void pps_session_options_init(pps_session_options *opts)
{
    static const pps_session_options defaults = PPS_SESSION_OPTIONS_INIT;

    if (opts)
        *opts = defaults;
}

static int has_line_break(const char *s)
{
    return s && (strchr(s, '\r') || strchr(s, '\n'));
}

int pps_session_new(pps_session **out, pps_transport *transport,
                    const pps_session_options *opts)
{
    static const pps_session_options defaults = PPS_SESSION_OPTIONS_INIT;
    pps_session *s;
    int method;

    if (!out)
        return pps__error_set(PPS_EINVAL, "pps_session_new: out is NULL");
    *out = NULL;
    if (!transport || transport->version != PPS_TRANSPORT_VERSION ||
        !transport->connect || !transport->read || !transport->write ||
        !transport->start_tls || !transport->is_tls || !transport->close)
        return pps__error_set(PPS_EINVAL,
                              "pps_session_new: the transport is NULL, of "
                              "another version, or lacks a function");
    if (!opts)
        opts = &defaults;
    if (opts->version != PPS_SESSION_OPTIONS_VERSION)
        return pps__error_set(PPS_EINVAL, "pps_session_new: options of "
                                          "another version");
    if (has_line_break(opts->user) || has_line_break(opts->password))
        return pps__error_set(PPS_EINVAL,
                              "pps_session_new: the user name or password "
                              "holds a line break");
    if ((method = pps__pop3_auth_parse(opts->auth_method)) == -2)
        return pps__error_set(PPS_EINVAL,
                              "unknown POP3 auth method \"%.40s\" (use auto, "
                              "user, apop, plain, login, cram-md5, xoauth2 "
                              "or oauthbearer)",
                              opts->auth_method);
    if (opts->stls < PPS_STLS_REQUIRED || opts->stls > PPS_STLS_NEVER ||
        opts->sasl_initial_response < PPS_SASL_IR_AUTO ||
        opts->sasl_initial_response > PPS_SASL_IR_NEVER ||
        opts->pipeline_window > PPS_SESSION_PIPELINE_MAX ||
        opts->read_timeout_ms < 0)
        return pps__error_set(PPS_EINVAL,
                              "pps_session_new: stls, sasl_initial_response, "
                              "pipeline_window or read_timeout_ms out of "
                              "range");
    if (!(s = pps__calloc(1, sizeof(*s))))
        return pps__error_oom();
    if ((opts->user && !(s->user = pps__strdup(opts->user))) ||
        (opts->log_context &&
         !(s->log_context = pps__strdup(opts->log_context)))) {
        pps_session_free(s);
        return pps__error_oom();
    }
    s->transport = transport;
    s->password = opts->password;
    s->auth_forced = method;
    s->stls = opts->stls;
    s->sasl_ir = opts->sasl_initial_response;
    s->allow_plaintext = opts->allow_plaintext_password != 0;
    s->read_timeout_ms = opts->read_timeout_ms
                             ? opts->read_timeout_ms
                             : PPS__POP3_DEFAULT_READ_TIMEOUT_MS;
    s->session_timeout_ms = opts->session_timeout_ms
                                ? opts->session_timeout_ms
                                : PPS__POP3_DEFAULT_SESSION_TIMEOUT_MS;
    s->window_option = opts->pipeline_window;
    s->max_line = opts->max_line ? opts->max_line : PPS__POP3_DEFAULT_MAX_LINE;
    s->login_delay = -1;
    s->auth_used = "";
    atomic_init(&s->aborted, 0);
    *out = s;
    return 0;
}

static void disconnect(pps_session *s)
{
    if (s->connected)
        s->transport->close(s->transport);
    s->connected = 0;
    s->in_start = s->in_end = 0;
}

void pps_session_free(pps_session *s)
{
    if (!s)
        return;
    disconnect(s);
    pps__free(s->user);
    pps__free(s->log_context);
    /* Reply and command buffers may have held secrets. */
    pps__wipe(s, sizeof(*s));
    pps__free(s);
}

void pps_session_abort(pps_session *s)
{
    if (s)
        atomic_store(&s->aborted, 1);
}

int pps__pop3_enter(pps_session *s, const char *fn, pps__pop3_state need)
{
    static const char *const names[] = {"not connected", "connected",
                                        "logged in", "closed", "broken"};

    if (!s)
        return pps__error_set(PPS_EINVAL, "%s: session is NULL", fn);
    if (s->state == PPS__POP3_BROKEN)
        return pps__error_set(PPS_EINVAL,
                              "%s: the session to %s failed earlier and is "
                              "closed",
                              fn, s->addr.host);
    if (s->state != need &&
        !(need == PPS__POP3_NEW && s->state == PPS__POP3_CLOSED))
        return pps__error_set(PPS_EINVAL, "%s: the session is %s, not %s", fn,
                              names[s->state], names[need]);
    return 0;
}

int pps__pop3_leave(pps_session *s, int err)
{
    if (err < 0 && pps__pop3_is_fatal(err)) {
        disconnect(s);
        pps__pop3_set_state(s, PPS__POP3_BROKEN);
    }
    return err;
}

/* --- connect ------------------------------------------------------------- */

/* RFC 1939 7: the APOP timestamp is a msg-id, "<...>", in the greeting. */
static void find_timestamp(pps_session *s)
{
    const char *open = memchr(s->line, '<', s->line_len);
    const char *close, *p;

    s->timestamp[0] = '\0';
    if (!open)
        return;
    close = memchr(open, '>', s->line_len - (size_t)(open - s->line));
    if (!close || (size_t)(close - open + 1) > PPS__POP3_TIMESTAMP_MAX ||
        !memchr(open, '@', (size_t)(close - open)))
        return;
    for (p = open + 1; p < close; p++)
        if (*p < 0x21 || *p > 0x7e || *p == '<')
            return;
    memcpy(s->timestamp, open, (size_t)(close - open + 1));
    s->timestamp[close - open + 1] = '\0';
}

static int keyword(const char *text, size_t len, const char *word,
                   const char **rest)
{
    size_t n = strlen(word);

    if (len < n || pps__ascii_strncasecmp(text, word, n) != 0 ||
        (len > n && text[n] != ' '))
        return 0;
    *rest = text + n;
    while (*rest < text + len && **rest == ' ')
        (*rest)++;
    return 1;
}

static void capa_line(pps_session *s, const char *text, size_t len)
{
    static const struct {
        const char *word;
        unsigned int bit;
    } simple[] = {
        {"TOP", PPS_CAPA_TOP},
        {"UIDL", PPS_CAPA_UIDL},
        {"USER", PPS_CAPA_USER},
        {"STLS", PPS_CAPA_STLS},
        {"PIPELINING", PPS_CAPA_PIPELINING},
        {"RESP-CODES", PPS_CAPA_RESP_CODES},
        {"AUTH-RESP-CODE", PPS_CAPA_AUTH_RESP_CODE},
        {"EXPIRE", PPS_CAPA_EXPIRE},
    };
    const char *rest, *end = text + len;
    size_t i;

    for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
        if (keyword(text, len, simple[i].word, &rest))
            s->capa |= simple[i].bit;
    if (keyword(text, len, "SASL", &rest)) {
        size_t n = (size_t)(end - rest);
        if (n > PPS__POP3_SASL_LIST_MAX)
            n = PPS__POP3_SASL_LIST_MAX;
        memcpy(s->sasl, rest, n);
        s->sasl[n] = '\0';
        s->capa |= PPS_CAPA_SASL;
    }
    if (keyword(text, len, "LOGIN-DELAY", &rest)) {
        unsigned long long v;
        if (pps__pop3_parse_uint(&rest, end, 0x7fffffff, &v) == 0) {
            s->login_delay = (long)v;
            s->capa |= PPS_CAPA_LOGIN_DELAY;
        }
    }
}

static int capa(pps_session *s)
{
    const char *text;
    size_t len;
    unsigned int lines = 0;
    int r;

    s->capa = s->timestamp[0] ? PPS_CAPA_APOP : 0;
    s->sasl[0] = '\0';
    s->login_delay = -1;
    if ((r = pps__pop3_queue(s, PPS__CMD_CAPA, NULL, NULL)) < 0 ||
        (r = pps__pop3_flush(s, PPS__CMD_CAPA)) < 0 ||
        (r = pps__pop3_read_status(s, PPS__CMD_CAPA)) < 0)
        return r;
    if (s->status != PPS__POP3_OK)
        return 0; /* an RFC 1939 server: no capabilities known */
    s->capa |= PPS_CAPA_CAPA;
    while ((r = pps__pop3_read_multi(s, PPS__CMD_CAPA, &text, &len)) == 1) {
        if (++lines > PPS__POP3_CAPA_LINES_MAX)
            return pps__pop3_bad_line(s, PPS__CMD_CAPA,
                                      "goes on for more than 256 lines");
        capa_line(s, text, len);
    }
    return r;
}

static int stls(pps_session *s)
{
    int err;
    long long now;
    int timeout;

    if (!(s->capa & PPS_CAPA_STLS)) {
        if (s->stls == PPS_STLS_IF_OFFERED)
            return 0;
        return pps__error_set(
            PPS_ETLS,
            "%s does not offer STLS (RFC 2595) and the session requires it, "
            "so no login was tried; use implicit TLS (server \"%s 995s\"), or "
            "set the session option stls to PPS_STLS_IF_OFFERED or "
            "PPS_STLS_NEVER (profile key tls = if-offered or none)",
            s->addr.host, s->addr.host);
    }
    if ((err = pps__pop3_queue(s, PPS__CMD_STLS, NULL, NULL)) < 0 ||
        (err = pps__pop3_flush(s, PPS__CMD_STLS)) < 0 ||
        (err = pps__pop3_read_status(s, PPS__CMD_STLS)) < 0)
        return err;
    if (s->status != PPS__POP3_OK) {
        if (s->stls == PPS_STLS_IF_OFFERED) {
            pps__log(PPS_LOG_WARN, s->log_context,
                     "pop3: %s offered STLS but refused it; staying "
                     "unencrypted (stls = if-offered)",
                     s->addr.host);
            return 0;
        }
        pps__error_set(PPS_ETLS, "%s refused STLS; no login was tried",
                       s->addr.host);
        pps__error_set_server(s->line + s->text_off, s->line_len - s->text_off);
        return PPS_ETLS;
    }
    /* RFC 2595 / CVE-2011-0411: bytes after the +OK were sent before TLS
     * and must not be taken as if they came over it. */
    if (s->in_end > s->in_start)
        return pps__error_set(PPS_ETLS,
                              "%s sent %zu bytes after its +OK to STLS, "
                              "before TLS began: an injection attempt; "
                              "closing",
                              s->addr.host, s->in_end - s->in_start);
    now = pps__now_ms();
    timeout = s->read_timeout_ms;
    if (s->deadline_ms && s->deadline_ms - now < timeout)
        timeout = (int)(s->deadline_ms - now > 0 ? s->deadline_ms - now : 1);
    if ((err = s->transport->start_tls(s->transport, timeout)) < 0)
        return err;
    /* RFC 2595 4: forget what was learnt before TLS and ask again. */
    return capa(s);
}

static int handshake(pps_session *s)
{
    int err;

    if ((err = pps__pop3_read_status(s, PPS__CMD_GREETING)) < 0)
        return err;
    if (s->status != PPS__POP3_OK)
        return pps__pop3_refused(s, PPS__CMD_GREETING, NULL);
    find_timestamp(s);
    if ((err = capa(s)) < 0)
        return err;
    if (!s->addr.implicit_tls && s->stls != PPS_STLS_NEVER &&
        s->transport->is_tls(s->transport) != 1 && (err = stls(s)) < 0)
        return err;
    return 0;
}

int pps_session_connect(pps_session *s, const pps_server_address *addr)
{
    int err, timeout;

    if ((err = pps__pop3_enter(s, "pps_session_connect", PPS__POP3_NEW)) < 0)
        return err;
    if (!addr || addr->version != PPS_SERVER_ADDRESS_VERSION)
        return pps__error_set(PPS_EINVAL, "pps_session_connect: address "
                                          "missing or of another version");
    s->addr = *addr;
    s->deadline_ms =
        s->session_timeout_ms > 0 ? pps__now_ms() + s->session_timeout_ms : 0;
    s->auth_used = "";
    s->in_start = s->in_end = 0;
    timeout = s->read_timeout_ms;
    if (s->session_timeout_ms > 0 && s->session_timeout_ms < timeout)
        timeout = s->session_timeout_ms;
    if ((err = pps__pop3_check(s, PPS__CMD_GREETING)) < 0)
        return err;
    if ((err = s->transport->connect(s->transport, addr, timeout)) < 0)
        return err;
    s->connected = 1;
    pps__pop3_set_state(s, PPS__POP3_AUTHORIZATION);
    err = handshake(s);
    if (err < 0) {
        /* Whatever went wrong, this connection is of no further use. */
        disconnect(s);
        pps__pop3_set_state(s, pps__pop3_is_fatal(err) ? PPS__POP3_BROKEN
                                                       : PPS__POP3_CLOSED);
    }
    return err;
}

int pps_session_login(pps_session *s)
{
    int err;

    if ((err = pps__pop3_enter(s, "pps_session_login",
                               PPS__POP3_AUTHORIZATION)) < 0)
        return err;
    if ((err = pps__pop3_login(s)) < 0)
        return pps__pop3_leave(s, err);
    pps__pop3_set_state(s, PPS__POP3_TRANSACTION);
    pps__log(PPS_LOG_INFO, s->log_context, "pop3: logged in to %s as %s (%s%s)",
             s->addr.host, s->user, s->auth_used,
             s->transport->is_tls(s->transport) == 1 ? ", TLS" : "");
    return 0;
}

/* --- small commands ------------------------------------------------------ */

int pps_session_stat(pps_session *s, unsigned int *count,
                     unsigned long long *octets)
{
    const char *p, *end;
    unsigned long long n, size;
    int err;

    if ((err = pps__pop3_enter(s, "pps_session_stat", PPS__POP3_TRANSACTION)) <
        0)
        return err;
    if ((err = pps__pop3_simple(s, PPS__CMD_STAT)) < 0)
        return pps__pop3_leave(s, err);
    p = s->line + s->text_off;
    end = s->line + s->line_len;
    if (pps__pop3_parse_uint(&p, end, 0xffffffffu, &n) < 0 || p >= end ||
        *p++ != ' ' || pps__pop3_parse_uint(&p, end, ~0ull, &size) < 0 ||
        (p < end && *p != ' '))
        return pps__pop3_leave(
            s, pps__pop3_bad_line(s, PPS__CMD_STAT, "is not \"+OK n size\""));
    if (count)
        *count = (unsigned int)n;
    if (octets)
        *octets = size;
    return 0;
}

int pps_session_rset(pps_session *s)
{
    int err;

    if ((err = pps__pop3_enter(s, "pps_session_rset", PPS__POP3_TRANSACTION)) <
        0)
        return err;
    return pps__pop3_leave(s, pps__pop3_simple(s, PPS__CMD_RSET));
}

int pps_session_noop(pps_session *s)
{
    int err;

    if ((err = pps__pop3_enter(s, "pps_session_noop", PPS__POP3_TRANSACTION)) <
        0)
        return err;
    return pps__pop3_leave(s, pps__pop3_simple(s, PPS__CMD_NOOP));
}

int pps_session_quit(pps_session *s)
{
    int err;

    if (!s)
        return pps__error_set(PPS_EINVAL, "pps_session_quit: session is "
                                          "NULL");
    if (s->state == PPS__POP3_BROKEN)
        return pps__error_set(PPS_ENET,
                              "the connection to %s failed earlier: no QUIT "
                              "was sent and its deletions are not committed",
                              s->addr.host);
    if (s->state != PPS__POP3_AUTHORIZATION &&
        s->state != PPS__POP3_TRANSACTION)
        return pps__error_set(PPS_EINVAL, "pps_session_quit: not connected");
    if ((err = pps__pop3_queue(s, PPS__CMD_QUIT, NULL, NULL)) == 0 &&
        (err = pps__pop3_flush(s, PPS__CMD_QUIT)) == 0 &&
        (err = pps__pop3_read_status(s, PPS__CMD_QUIT)) == 0 &&
        s->status != PPS__POP3_OK)
        err = pps__pop3_refused(s, PPS__CMD_QUIT,
                                "QUIT, so the deletions of this session are "
                                "not committed");
    disconnect(s);
    pps__pop3_set_state(s, err < 0 && pps__pop3_is_fatal(err)
                               ? PPS__POP3_BROKEN
                               : PPS__POP3_CLOSED);
    return err;
}

/* --- getters ------------------------------------------------------------- */

unsigned int pps_session_capabilities(const pps_session *s)
{
    return s ? s->capa : 0;
}

long pps_session_login_delay(const pps_session *s)
{
    return s ? s->login_delay : -1;
}

const char *pps_session_sasl_mechanisms(const pps_session *s)
{
    return s ? s->sasl : "";
}

const char *pps_session_auth_method(const pps_session *s)
{
    return s ? s->auth_used : "";
}

pps_response_code pps_session_response_code(const pps_session *s)
{
    return s ? s->resp : PPS_RESP_NONE;
}
