/*
 * pps/errors.h - status codes and the detail of the last error.
 *
 * Every libpps function that can fail returns an int: 0 on success, or one
 * of the negative PPS_E* codes below.  The code says what kind of failure it
 * was, so a program can decide what to do (retry later, ask for a new
 * password, give up); pps_error_last() says what happened in words, for a
 * human:
 *
 *     if ((err = pps_server_parse(&addr, text)) < 0) {
 *         const pps_error *e = pps_error_last();
 *         fprintf(stderr, "%s\n", e->message);
 *         if (pps_error_is_temporary(err)) ... try again later ...
 *     }
 *
 * The detail is kept per thread and stays until the next failing call on
 * that thread (or pps_error_clear()).  A code is never renumbered or reused:
 * new codes are appended.
 */
#ifndef PPS_ERRORS_H
#define PPS_ERRORS_H

#include "common.h"

PPS_BEGIN_DECLS

typedef enum pps_status {
    PPS_OK = 0,
    PPS_ERROR = -1,        /* unexpected: a bug or an unforeseen system error */
    PPS_EINVAL = -2,       /* a bad argument from the calling program */
    PPS_ENOMEM = -3,       /* out of memory */
    PPS_ENOTFOUND = -4,    /* no such profile, user, message or file */
    PPS_EEXISTS = -5,      /* it already exists */
    PPS_ECONFIG = -6,      /* bad configuration: file, line and key in detail */
    PPS_EAUTH = -7,        /* the server refused our credentials */
    PPS_ETLS = -8,         /* TLS failed or a certificate was refused */
    PPS_EPROTO = -9,       /* the peer broke the protocol */
    PPS_ETIMEOUT = -10,    /* a deadline passed */
    PPS_ENET = -11,        /* could not connect, or the connection dropped */
    PPS_ETEMP = -12,       /* a temporary refusal: try again later */
    PPS_EPERM = -13,       /* a permanent refusal: retrying will not help */
    PPS_EIO = -14,         /* a local read, write or fsync failed */
    PPS_EABORTED = -15,    /* stopped on request (pps_*_abort, a signal) */
    PPS_EUSER = -16,       /* a callback returned non-zero to stop */
    PPS_ETOOBIG = -17,     /* a size limit was reached */
    PPS_EUNSUPPORTED = -18 /* the server or build lacks what was asked */
} pps_status;

/*
 * The detail of the last failure on the calling thread.  The strings are
 * owned by the library and stay valid until the next libpps call on this
 * thread that fails or clears the error.
 */
typedef struct pps_error {
    int code;            /* the PPS_E* code, or PPS_OK when none */
    const char *message; /* our description, naming what and where; "" */
    const char *server;  /* the peer's own words (printable, truncated,
                            secrets removed), or "" when there are none */
} pps_error;

/* Never NULL: when nothing failed, code is PPS_OK and the strings are "". */
PPS_API const pps_error *pps_error_last(void);

/* Forget the last error of the calling thread. */
PPS_API void pps_error_clear(void);

/* A short static description of a code, e.g. "authentication failed". */
PPS_API const char *pps_strerror(int code);

/*
 * 1 when a failure with this code may go away by itself (network, timeout,
 * temporary refusal), so the operation should be retried later; 0 when it
 * needs someone to change something (password, configuration, certificate).
 */
PPS_API int pps_error_is_temporary(int code);

PPS_END_DECLS

#endif /* PPS_ERRORS_H */
