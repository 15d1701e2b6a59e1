/*
 * error.c - the per-thread detail behind every failing return code.
 *
 * Each thread has one record: the code, our description, and the peer's
 * own words kept apart from ours (mpop's errmsg/errstr idea), so a host can
 * show "authentication failed: server said: [AUTH] invalid credentials"
 * without mixing who said what.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

typedef struct error_record {
    pps_error public_view;
    char message[PPS__ERROR_MESSAGE_MAX];
    char server[PPS__ERROR_SERVER_MAX + 1];
} error_record;

static _Thread_local error_record last;

static error_record *record(void)
{
    /* Thread-local storage starts zeroed: give the view its strings. */
    if (last.public_view.message == NULL) {
        last.public_view.message = last.message;
        last.public_view.server = last.server;
    }
    return &last;
}

const pps_error *pps_error_last(void)
{
    return &record()->public_view;
}

void pps_error_clear(void)
{
    error_record *r = record();
    r->public_view.code = PPS_OK;
    r->message[0] = '\0';
    r->server[0] = '\0';
}

static void mark_truncated(char *buf, size_t size)
{
    memcpy(buf + size - 4, "...", 4);
}

int pps__error_set(int code, const char *fmt, ...)
{
    error_record *r = record();
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
    if (n < 0)
        r->message[0] = '\0';
    else if ((size_t)n >= sizeof(r->message))
        mark_truncated(r->message, sizeof(r->message));
    r->server[0] = '\0';
    r->public_view.code = code;
    return code;
}

void pps__error_set_server(const char *text, size_t len)
{
    error_record *r = record();
    size_t i, n = len < PPS__ERROR_SERVER_MAX ? len : PPS__ERROR_SERVER_MAX;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        r->server[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    r->server[n] = '\0';
    if (len > PPS__ERROR_SERVER_MAX)
        mark_truncated(r->server, sizeof(r->server));
}

int pps__error_oom(void)
{
    return pps__error_set(PPS_ENOMEM, "out of memory");
}

const char *pps_strerror(int code)
{
    switch ((pps_status)code) {
    case PPS_OK:
        return "success";
    case PPS_ERROR:
        return "unexpected error";
    case PPS_EINVAL:
        return "invalid argument";
    case PPS_ENOMEM:
        return "out of memory";
    case PPS_ENOTFOUND:
        return "not found";
    case PPS_EEXISTS:
        return "already exists";
    case PPS_ECONFIG:
        return "configuration error";
    case PPS_EAUTH:
        return "authentication failed";
    case PPS_ETLS:
        return "TLS error";
    case PPS_EPROTO:
        return "protocol error";
    case PPS_ETIMEOUT:
        return "timed out";
    case PPS_ENET:
        return "network error";
    case PPS_ETEMP:
        return "temporary failure";
    case PPS_EPERM:
        return "permanent failure";
    case PPS_EIO:
        return "local I/O error";
    case PPS_EABORTED:
        return "aborted";
    case PPS_EUSER:
        return "stopped by callback";
    case PPS_ETOOBIG:
        return "too big";
    case PPS_EUNSUPPORTED:
        return "not supported";
    }
    return "unknown error code";
}

int pps_error_is_temporary(int code)
{
    switch ((pps_status)code) {
    case PPS_ETIMEOUT:
    case PPS_ENET:
    case PPS_ETEMP:
    case PPS_EIO:
    case PPS_ENOMEM:
        return 1;
    default:
        return 0;
    }
}
