/*
 * pop3-reply.c - what a reply line means, and the errors it turns into.
 *
 * A status line is "+OK", "-ERR" or, during AUTH only, "+" (RFC 5034),
 * each alone or followed by a space and text.  An -ERR may start its text
 * with an extended response code in brackets (RFC 2449 8, RFC 3206), which
 * decides between "try later" and "give up":
 *
 *     [IN-USE] [LOGIN-DELAY] [SYS/TEMP]  ->  PPS_ETEMP
 *     [AUTH]                             ->  PPS_EAUTH
 *     [SYS/PERM]                         ->  PPS_EPERM
 *     none or unknown                    ->  PPS_EAUTH for login commands,
 *                                            PPS_ETEMP for the greeting,
 *                                            PPS_EPERM otherwise
 */
#include <string.h>

#include "pop3.h"

/* Long enough to quote the start of a hostile line usefully. */
#define QUOTE_MAX 120

static int word_is(const char *line, size_t len, const char *word)
{
    size_t n = strlen(word);

    return len >= n && pps__ascii_strncasecmp(line, word, n) == 0 &&
           (len == n || line[n] == ' ');
}

static pps_response_code parse_code(const char *text, size_t len)
{
    static const struct {
        const char *name;
        pps_response_code code;
    } codes[] = {
        {"IN-USE", PPS_RESP_IN_USE},     {"LOGIN-DELAY", PPS_RESP_LOGIN_DELAY},
        {"SYS/TEMP", PPS_RESP_SYS_TEMP}, {"SYS/PERM", PPS_RESP_SYS_PERM},
        {"AUTH", PPS_RESP_AUTH},
    };
    const char *close;
    size_t i, n;

    if (len < 2 || text[0] != '[')
        return PPS_RESP_NONE;
    close = memchr(text, ']', len);
    if (!close)
        return PPS_RESP_NONE;
    n = (size_t)(close - text - 1);
    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        size_t k = strlen(codes[i].name);
        /* Codes are hierarchical: "SYS/TEMP/DISK" is a SYS/TEMP. */
        if (n >= k && pps__ascii_strncasecmp(text + 1, codes[i].name, k) == 0 &&
            (n == k || text[1 + k] == '/'))
            return codes[i].code;
    }
    return PPS_RESP_OTHER;
}

int pps__pop3_parse_status(pps_session *s, pps__pop3_cmd cmd, int allow_cont)
{
    const char *line = s->line;
    size_t len = s->line_len;

    s->resp = PPS_RESP_NONE;
    if (word_is(line, len, "+OK")) {
        s->status = PPS__POP3_OK;
        s->text_off = len > 3 ? 4 : 3;
    } else if (word_is(line, len, "-ERR")) {
        s->status = PPS__POP3_ERR;
        s->text_off = len > 4 ? 5 : 4;
        s->resp = parse_code(line + s->text_off, len - s->text_off);
    } else if (allow_cont && word_is(line, len, "+")) {
        s->status = PPS__POP3_CONT;
        s->text_off = len > 1 ? 2 : 1;
    } else {
        return pps__pop3_bad_line(s, cmd, "is neither +OK nor -ERR");
    }
    return 0;
}

int pps__pop3_refused(pps_session *s, pps__pop3_cmd cmd, const char *what)
{
    const pps__pop3_command_info *info = pps__pop3_command(cmd);
    const char *text = s->line + s->text_off;
    size_t text_len = s->line_len - s->text_off;
    int code;

    switch (s->resp) {
    case PPS_RESP_IN_USE:
    case PPS_RESP_LOGIN_DELAY:
    case PPS_RESP_SYS_TEMP:
        code = PPS_ETEMP;
        break;
    case PPS_RESP_AUTH:
        code = PPS_EAUTH;
        break;
    case PPS_RESP_SYS_PERM:
        code = PPS_EPERM;
        break;
    case PPS_RESP_NONE:
    case PPS_RESP_OTHER:
    default:
        code = info->login                ? PPS_EAUTH
               : cmd == PPS__CMD_GREETING ? PPS_ETEMP
                                          : PPS_EPERM;
        break;
    }
    if (cmd == PPS__CMD_GREETING)
        pps__error_set(code, "%s refused the connection (%s)", s->addr.host,
                       pps_strerror(code));
    else if (info->login)
        pps__error_set(code, "%s refused the login of user \"%s\" (%s: %s)",
                       s->addr.host, s->user,
                       what            ? what
                       : info->name[0] ? info->name
                                       : "AUTH",
                       pps_strerror(code));
    else
        pps__error_set(code, "%s refused %s (%s)", s->addr.host,
                       what ? what : info->name, pps_strerror(code));
    pps__error_set_server(text, text_len);
    return code;
}

int pps__pop3_bad_line(pps_session *s, pps__pop3_cmd cmd, const char *why)
{
    char quoted[QUOTE_MAX];

    pps__quote(quoted, sizeof(quoted), s->line, s->line_len);
    return pps__error_set(PPS_EPROTO, "the %s from %s %s: %s",
                          pps__pop3_command(cmd)->label, s->addr.host, why,
                          quoted);
}

int pps__pop3_parse_uint(const char **p, const char *end,
                         unsigned long long max, unsigned long long *out)
{
    const char *q = *p;
    unsigned long long v = 0;

    if (q >= end || *q < '0' || *q > '9')
        return -1;
    for (; q < end && *q >= '0' && *q <= '9'; q++) {
        unsigned int d = (unsigned int)(*q - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *p = q;
    *out = v;
    return 0;
}

int pps__pop3_is_fatal(int code)
{
    switch (code) {
    case PPS_OK:
    case PPS_EAUTH:
    case PPS_ETEMP:
    case PPS_EPERM:
    case PPS_ECONFIG:
    case PPS_EUNSUPPORTED:
    case PPS_EUSER:
    case PPS_EINVAL:
        return 0;
    default:
        return 1;
    }
}
