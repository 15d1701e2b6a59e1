/*
 * pps/server.h - the remote server of a profile, as administrators write it.
 *
 * A profile names its POP3 server the way the original product did:
 *
 *     mail.example.com          port 110, plain (STLS when offered)
 *     mail.example.com 110      the same, port given
 *     mail.example.com 995s     port 995, implicit TLS (the trailing 's')
 *     [2001:db8::1] 995s        an IPv6 address in brackets
 *
 * Parse such a string into a pps_server_address, which the caller owns (it
 * holds no pointers, so there is nothing to free):
 *
 *     pps_server_address addr = PPS_SERVER_ADDRESS_INIT;
 *     if (pps_server_parse(&addr, "mail.example.com 995s") < 0) ...
 *
 * and turn one back into the canonical text with pps_server_format().
 */
#ifndef PPS_SERVER_H
#define PPS_SERVER_H

#include "common.h"

PPS_BEGIN_DECLS

/* The longest host name (RFC 1035 2.3.4: 255 octets including length
 * bytes; 253 characters in text) or address literal we accept. */
#define PPS_SERVER_HOST_MAX 253

#define PPS_SERVER_PORT_POP3  110 /* RFC 1939 */
#define PPS_SERVER_PORT_POP3S 995 /* RFC 8314 */

typedef struct pps_server_address {
    unsigned int version;               /* PPS_SERVER_ADDRESS_VERSION */
    char host[PPS_SERVER_HOST_MAX + 1]; /* name or address, no brackets */
    unsigned int port;                  /* 1-65535 */
    int implicit_tls;                   /* 1: TLS from the first byte */
    int is_ipv6_literal;                /* 1: host is an IPv6 address */
} pps_server_address;

#define PPS_SERVER_ADDRESS_VERSION 1
#define PPS_SERVER_ADDRESS_INIT                 \
    {                                           \
        PPS_SERVER_ADDRESS_VERSION, "", 0, 0, 0 \
    }

/* For bindings that cannot use the macro. */
PPS_API void pps_server_address_init(pps_server_address *addr);

/*
 * Parse `text` (NUL-terminated) into `*out`, whose version field must be
 * set (use PPS_SERVER_ADDRESS_INIT).  A bare host means port 110, plain,
 * as in the original product; implicit TLS is only ever asked for with 's'.
 * Leading and trailing blanks are ignored; host and port are separated by
 * blanks.
 * Returns 0, or PPS_ECONFIG with a detail that quotes the text and says
 * what is wrong; `*out` is then left unchanged.
 */
PPS_API int pps_server_parse(pps_server_address *out, const char *text);

/*
 * Write the canonical form ("host port" or "host ports", IPv6 in brackets)
 * into buf of `size` bytes.  Returns the length written without the NUL,
 * or PPS_ETOOBIG when it does not fit (buf then holds "").  64 + the host
 * length is always enough.
 */
PPS_API int pps_server_format(char *buf, size_t size,
                              const pps_server_address *addr);

PPS_END_DECLS

#endif /* PPS_SERVER_H */
