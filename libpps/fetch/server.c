/*
 * server.c - "mail.example.com 995s": the server string of a profile.
 *
 * The grammar, blanks being spaces or tabs:
 *
 *     server = *blank host [1*blank port] *blank
 *     host   = name / "[" ipv6 "]" / ipv6          (a bare IPv6 has 2+ ':')
 *     port   = 1*5DIGIT ["s" / "S"]                (1-65535; s = implicit TLS)
 *
 * Everything else is refused with a message that quotes the text and says
 * what to write instead: a typo here would otherwise surface much later as
 * a confusing connection failure.
 */
#include <string.h>

#include "pps/server.h"
#include "pps/errors.h"
#include "../core/internal.h"

/* Long enough to quote any reasonable server string in an error. */
#define QUOTE_MAX 96

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
           c == '-' || c == '.' || c == '_';
}

static int is_ipv6_char(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
           c == ':' || c == '.';
}

static int refuse(const char *text, const char *why)
{
    char quoted[QUOTE_MAX];

    pps__quote(quoted, sizeof(quoted), text, strlen(text));
    return pps__error_set(PPS_ECONFIG, "server %s: %s", quoted, why);
}

/* An IPv6 literal: hex digits, ':' and '.', at least two colons, and an
 * optional "%zone".  getaddrinfo has the last word when we connect. */
static int valid_ipv6(const char *s, size_t len)
{
    size_t i, colons = 0;

    for (i = 0; i < len && s[i] != '%'; i++) {
        if (!is_ipv6_char(s[i]))
            return 0;
        colons += s[i] == ':';
    }
    if (i < len) { /* zone identifier */
        if (i + 1 == len)
            return 0;
        for (i++; i < len; i++)
            if (!is_name_char(s[i]))
                return 0;
    }
    return colons >= 2;
}

/* A host name or IPv4 address: dot-separated labels of letters, digits,
 * '-' and '_', none empty (a single trailing dot is allowed). */
static int valid_name(const char *s, size_t len)
{
    size_t i, label = 0;

    for (i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if (is_name_char(s[i])) {
            if (++label > 63) /* RFC 1035 2.3.4 */
                return 0;
        } else {
            return 0;
        }
    }
    return len > 0;
}

static size_t count_char(const char *s, size_t len, char c)
{
    size_t i, n = 0;

    for (i = 0; i < len; i++)
        n += s[i] == c;
    return n;
}

static int parse_port(const char *text, const char *p, size_t len,
                      unsigned int *port, int *tls)
{
    unsigned long value = 0;
    size_t i, digits = len;

    *tls = 0;
    if (len > 0 && (p[len - 1] == 's' || p[len - 1] == 'S')) {
        *tls = 1;
        digits--;
    }
    if (digits == 0)
        return refuse(text, "the port is missing before 's' (write e.g. "
                            "\"mail.example.com 995s\")");
    for (i = 0; i < digits; i++) {
        if (!is_digit(p[i]))
            return refuse(text, "the port must be a number, optionally "
                                "followed by 's' for implicit TLS (e.g. 995s)");
        value = value * 10 + (unsigned long)(p[i] - '0');
        if (value > 65535)
            break;
    }
    if (value < 1 || value > 65535)
        return refuse(text, "the port must be between 1 and 65535");
    *port = (unsigned int)value;
    return 0;
}

void pps_server_address_init(pps_server_address *addr)
{
    if (addr) {
        memset(addr, 0, sizeof(*addr));
        addr->version = PPS_SERVER_ADDRESS_VERSION;
    }
}

int pps_server_parse(pps_server_address *out, const char *text)
{
    pps_server_address result;
    const char *p, *host, *port = NULL;
    size_t host_len, port_len = 0;
    int err, bracketed = 0;

    if (!out || !text || out->version != PPS_SERVER_ADDRESS_VERSION)
        return pps__error_set(PPS_EINVAL, "pps_server_parse: bad argument");

    pps_server_address_init(&result);
    for (p = text; is_blank(*p); p++)
        ;
    if (*p == '\0')
        return refuse(text, "no host name given");

    /* The host: a bracketed IPv6 literal, or everything up to a blank. */
    if (*p == '[') {
        const char *end = strchr(p, ']');
        if (!end)
            return refuse(text, "'[' without a closing ']'");
        host = p + 1;
        host_len = (size_t)(end - host);
        p = end + 1;
        bracketed = 1;
        if (*p != '\0' && !is_blank(*p))
            return refuse(text, "put a blank between the host and the port "
                                "(e.g. \"[2001:db8::1] 995s\")");
    } else {
        host = p;
        while (*p != '\0' && !is_blank(*p))
            p++;
        host_len = (size_t)(p - host);
    }

    /* The optional port, then nothing but blanks. */
    while (is_blank(*p))
        p++;
    if (*p != '\0') {
        port = p;
        while (*p != '\0' && !is_blank(*p))
            p++;
        port_len = (size_t)(p - port);
        while (is_blank(*p))
            p++;
        if (*p != '\0')
            return refuse(text, "expected \"host\", \"host port\" or "
                                "\"host ports\"; found more after the port");
    }

    if (host_len > PPS_SERVER_HOST_MAX)
        return refuse(text, "the host name is longer than 253 characters");
    if (bracketed || memchr(host, ':', host_len)) {
        if (!valid_ipv6(host, host_len)) {
            if (!bracketed && count_char(host, host_len, ':') == 1)
                return refuse(text, "separate host and port with a blank, "
                                    "not ':' (e.g. \"mail.example.com "
                                    "995s\")");
            return refuse(text, "not a valid IPv6 address");
        }
        result.is_ipv6_literal = 1;
    } else if (!valid_name(host, host_len)) {
        return refuse(text, "the host name may contain only letters, "
                            "digits, '-', '_' and '.', in non-empty labels "
                            "of at most 63 characters");
    }
    memcpy(result.host, host, host_len);
    result.host[host_len] = '\0';

    result.port = PPS_SERVER_PORT_POP3;
    if (port && (err = parse_port(text, port, port_len, &result.port,
                                  &result.implicit_tls)) < 0)
        return err;

    *out = result;
    return 0;
}

int pps_server_format(char *buf, size_t size, const pps_server_address *addr)
{
    int n;

    if (!buf || size == 0 || !addr)
        return pps__error_set(PPS_EINVAL, "pps_server_format: bad argument");
    n = pps__snprintf(buf, size,
                      addr->is_ipv6_literal ? "[%s] %u%s" : "%s %u%s",
                      addr->host, addr->port, addr->implicit_tls ? "s" : "");
    if (n < 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return pps__error_set(PPS_ETOOBIG,
                              "pps_server_format: buffer of %zu bytes is too "
                              "small",
                              size);
    }
    return n;
}
