/*
 * pps/transport.h - the byte pipe under a POP3 session, pluggable.
 *
 * The POP3 engine never touches a socket; it reads and writes through a
 * pps_transport, a versioned table of functions with one payload.  The
 * default transport is TCP (every address of the name, IPv4 and IPv6, in
 * turn) with OpenSSL, made by pps_transport_tcp_new(); tests plug in a
 * scripted one, and embedders may plug in their own (a proxy, a pool).
 *
 * Sequence, as the engine uses it:
 *
 *     pps_transport *t;
 *     pps_transport_tcp_new(&t, &tls_options);   // or your own table
 *     t->connect(t, &addr, timeout_ms);          // TLS at once if implicit
 *     t->write(t, "CAPA\r\n", 6, timeout_ms); t->read(t, buf, n, timeout_ms);
 *     t->start_tls(t, timeout_ms);               // after "+OK" to STLS
 *     t->close(t);                               // may connect again
 *     pps_transport_free(t);                     // calls t->free
 *
 * Every function returns a PPS_E* code on failure and sets the detail
 * (pps_error_last()); read and write return a byte count otherwise.  A
 * function never blocks longer than its timeout (PPS_ETIMEOUT).
 */
#ifndef PPS_TRANSPORT_H
#define PPS_TRANSPORT_H

#include "common.h"
#include "server.h"

PPS_BEGIN_DECLS

/* How the default transport checks the server's certificate. */
typedef struct pps_tls_options {
    unsigned int version;    /* PPS_TLS_OPTIONS_VERSION */
    const char *ca_file;     /* PEM bundle; NULL: the system store */
    const char *ca_path;     /* hashed folder; NULL: the system store */
    /* SHA-256 of the server's leaf certificate (DER), 64 hex digits with
     * or without ':'; when set, only that certificate is accepted. */
    const char *fingerprint_sha256;
    /* 1 (default): verify chain and host name (RFC 6125).  0: the profile
     * explicitly opted out; the transport logs a warning on every connect. */
    int verify;
    /* The name to verify and send as SNI; NULL: the host connected to. */
    const char *server_name;
    /* Lowest TLS version, e.g. 0x0303 for 1.2 (the default and minimum:
     * lower values are raised to 1.2). */
    int min_version;
    /* Name of the profile, for log lines; may be NULL. */
    const char *log_context;
} pps_tls_options;

#define PPS_TLS_OPTIONS_VERSION 1
#define PPS_TLS_OPTIONS_INIT                                                   \
    {PPS_TLS_OPTIONS_VERSION, NULL, NULL, NULL, 1, NULL, 0x0303, NULL}

/* For bindings that cannot use the macro. */
PPS_API void pps_tls_options_init(pps_tls_options *opts);

typedef struct pps_transport pps_transport;

struct pps_transport {
    unsigned int version; /* PPS_TRANSPORT_VERSION */

    /* Open a connection to addr; with addr->implicit_tls, complete the TLS
     * handshake (verified per the options) before returning. */
    int (*connect)(pps_transport *t, const pps_server_address *addr,
                   int timeout_ms);

    /* Read up to len bytes: returns the count (> 0), 0 when the peer
     * closed the connection, or a PPS_E* code. */
    long (*read)(pps_transport *t, void *buf, size_t len, int timeout_ms);

    /* Write all len bytes: returns len or a PPS_E* code. */
    long (*write)(pps_transport *t, const void *buf, size_t len,
                  int timeout_ms);

    /* Upgrade the open connection to TLS (after "+OK" to STLS).  Bytes the
     * transport had buffered but not yet returned are an injection attempt:
     * the transport fails with PPS_ETLS instead of using them. */
    int (*start_tls)(pps_transport *t, int timeout_ms);

    /* 1 when the connection is encrypted and verified (or verification
     * was explicitly turned off), 0 otherwise. */
    int (*is_tls)(pps_transport *t);

    /* Close the connection; the transport may be connected again. */
    void (*close)(pps_transport *t);

    /* Release everything; called by pps_transport_free(). */
    void (*free)(pps_transport *t);

    void *payload; /* the implementation's state */
};

#define PPS_TRANSPORT_VERSION 1

/*
 * The default transport: TCP + OpenSSL with the given options (NULL:
 * defaults; the strings are copied).  Free with pps_transport_free().
 */
PPS_API int pps_transport_tcp_new(pps_transport **out,
                                  const pps_tls_options *opts);

/* Close if open, then free.  NULL does nothing. */
PPS_API void pps_transport_free(pps_transport *t);

PPS_END_DECLS

#endif /* PPS_TRANSPORT_H */
