/*
 * libpps/deliver/returnpath.c - the envelope sender from Return-Path.
 *
 * RFC 5322 3.6.7: Return-Path: <addr> or <>, with comments and folding
 * white space around; the final delivery agent wrote it, so the message
 * we fetched says who should get bounces.  Only the first <...> counts;
 * a quoted local part may hold '>' ("a>b"@x), so quotes are followed.
 */
#include <string.h>

#include "core/internal.h"
#include "pps/deliver.h"

int pps_deliver_return_path(char *buf, size_t size, const char *value,
                            size_t len)
{
    size_t i, start, n = 0;
    int quoted = 0;

    if (!buf || size == 0 || (!value && len))
        return pps__error_set(PPS_EINVAL, "pps_deliver_return_path: bad "
                                          "arguments");
    buf[0] = '\0';
    for (i = 0; i < len && value[i] != '<'; i++)
        if (value[i] == '\0')
            break;
    if (i == len || value[i] != '<')
        return pps__error_set(PPS_ENOTFOUND, "Return-Path holds no <address>");
    start = ++i;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (!quoted && c == '>')
            break;
        if (c == '"')
            quoted = !quoted;
        else if (quoted && c == '\\' && i + 1 < len)
            i++;
    }
    if (i == len)
        return pps__error_set(PPS_ENOTFOUND, "Return-Path: no closing '>'");
    for (; start < i; start++) {
        unsigned char c = (unsigned char)value[start];
        if (c < ' ' || c == 0x7f)
            return pps__error_set(PPS_EPROTO,
                                  "Return-Path holds a control byte or a "
                                  "line break inside <...>");
        /* Folding white space and source routes are dropped. */
        if (c == ' ' || c == '\t')
            continue;
        if (n + 1 >= size) {
            buf[0] = '\0';
            return pps__error_set(PPS_ETOOBIG,
                                  "Return-Path address longer than %zu "
                                  "bytes",
                                  size - 1);
        }
        buf[n++] = (char)c;
    }
    buf[n] = '\0';
    /* "<@relay:user@host>": the route is obsolete, keep user@host. */
    if (buf[0] == '@') {
        char *colon = strchr(buf, ':');
        if (colon) {
            n = strlen(colon + 1);
            memmove(buf, colon + 1, n + 1);
        }
    }
    return (int)n;
}
