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
 * function never blocks longer than its timeout (PPS_ETIMEOUT): timeout_ms
 * 0 means "only what is possible at once", a negative one is PPS_EINVAL.
 * Calls on a transport that is not connected return PPS_EINVAL.  A
 * transport is used by one thread at a time.
 *
 * What the default transport verifies, and how to pin or opt out, is
 * described in docs/tls.md.
 */
#ifndef PPS_TRANSPORT_H
#define PPS_TRANSPORT_H

#include "common.h"
#include "server.h"

PPS_BEGIN_DECLS

/* How the default transport checks the server's certificate. */
typedef struct pps_tls_options {
    unsigned int version; /* PPS_TLS_OPTIONS_VERSION */
    /* Trust: a PEM bundle and/or a hashed folder (c_rehash).  When either
     * is set it replaces the system store; both NULL: the system store. */
    const char *ca_file;
    const char *ca_path;
    /* SHA-256 of the server's leaf certificate (DER), 64 hex digits with
     * or without ':', either case (a pasted "sha256 Fingerprint=AB:..."
     * line of `openssl x509` is fine); when set, only that certificate is
     * accepted.  The pin REPLACES chain, expiry and host-name checks (it
     * is meant for self-signed servers): the leaf must match exactly,
     * whatever signed it, and the pin is checked even when verify is 0. */
    const char *fingerprint_sha256;
    /* 1 (default): verify chain and host name (RFC 6125).  0: the profile
     * explicitly opted out; the transport logs a warning on every connect. */
    int verify;
    /* The name to verify and send as SNI; NULL: the host connected to.
     * An IP literal is checked against the certificate's IP addresses
     * and sends no SNI. */
    const char *server_name;
    /* Lowest TLS version, e.g. 0x0303 for 1.2 (the default and minimum:
     * lower values are raised to 1.2; above 0x0304 is PPS_EINVAL). */
    int min_version;
    /* Name of the profile, for log lines; may be NULL. */
    const char *log_context;
} pps_tls_options;

#define PPS_TLS_OPTIONS_VERSION 1
/* clang-format off */
#define PPS_TLS_OPTIONS_INIT \
    {PPS_TLS_OPTIONS_VERSION, NULL, NULL, NULL, 1, NULL, 0x0303, NULL}
/* clang-format on */

/* For bindings that cannot use the macro.  NULL does nothing. */
PPS_API void pps_tls_options_init(pps_tls_options *opts);

typedef struct pps_transport pps_transport;

struct pps_transport {
    unsigned int version; /* PPS_TRANSPORT_VERSION */

    /* Open a connection to addr; with addr->implicit_tls, complete the TLS
     * handshake (verified per the options) before returning.  One
     * timeout bounds the whole: every address and the handshake. */
    int (*connect)(pps_transport *t, const pps_server_address *addr,
                   int timeout_ms);

    /* Read up to len (> 0) bytes: returns the count (> 0), 0 when the peer
     * closed the connection, or a PPS_E* code. */
    long (*read)(pps_transport *t, void *buf, size_t len, int timeout_ms);

    /* Write all len bytes: returns len or a PPS_E* code.  A peer that went
     * away is PPS_ENET, never a SIGPIPE. */
    long (*write)(pps_transport *t, const void *buf, size_t len,
                  int timeout_ms);

    /* Upgrade the open connection to TLS (after "+OK" to STLS).  Bytes the
     * transport had buffered but not yet returned are an injection attempt:
     * the transport fails with PPS_ETLS instead of using them.  (Bytes the
     * engine itself buffered past the "+OK" line are the engine's to
     * refuse.)  On failure the connection is closed. */
    int (*start_tls)(pps_transport *t, int timeout_ms);

    /* 1 when the connection is encrypted and verified (or verification
     * was explicitly turned off), 0 otherwise. */
    int (*is_tls)(pps_transport *t);

    /* Close the connection; the transport may be connected again.  Does
     * nothing when not connected. */
    void (*close)(pps_transport *t);

    /* Release everything, the pps_transport itself included; called by
     * pps_transport_free() after close. */
    void (*free)(pps_transport *t);

    void *payload; /* the implementation's state */
};

#define PPS_TRANSPORT_VERSION 1

/*
 * The default transport: TCP + OpenSSL with the given options (NULL:
 * defaults; the strings are copied, and the trust store is loaded now, or
 * shared with the transports that have the same trust settings; a CA file
 * changed on disk is loaded again for the next connection: docs/tls.md).
 * *out belongs to the caller: free it with pps_transport_free().  Fails
 * with PPS_EINVAL (bad options version, min_version or server_name),
 * PPS_ECONFIG (bad fingerprint, unreadable ca_file or ca_path), PPS_ENOMEM
 * or PPS_ETLS; *out is then NULL.
 */
PPS_API int pps_transport_tcp_new(pps_transport **out,
                                  const pps_tls_options *opts);

/* Close if open (t->close), then free (t->free).  NULL does nothing. */
PPS_API void pps_transport_free(pps_transport *t);

/*
 * Drop the TLS contexts shared between transports and the TLS sessions
 * kept for resumption (docs/tls.md): the next transport loads its trust
 * store afresh and makes a full handshake.  Transports that hold a
 * context keep it until they are freed.  For a host that is about to unload
 * libpps (dlclose), and for a reload (ppsd's SIGHUP) that should see a changed
 * system CA store at once instead of within five minutes.
 */
PPS_API void pps_tls_cache_clear(void);

PPS_END_DECLS

#endif /* PPS_TRANSPORT_H */
