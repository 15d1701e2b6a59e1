/*
 * libpps/fetch/tls.h - OpenSSL for the default transport.
 *
 * One pps__tls per transport holds the profile's pps_tls_options (pin,
 * verify switch, server name) and a reference to the SSL_CTX for its
 * trust setting (trust store and minimum version), which every transport
 * with the same setting shares (tls-ctx.c); it outlives its connections.
 * pps__tls_handshake makes one SSL for one connected socket and sets on
 * it everything that is per profile or per connection.  Everything waits with
 * poll() against the caller's deadline: the SSL objects run on the non-blocking
 * socket through our own BIO, whose writes use MSG_NOSIGNAL (OpenSSL's socket
 * BIO uses write(), which raises SIGPIPE on a closed peer).
 */
#ifndef PPS_FETCH_TLS_H
#define PPS_FETCH_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "pps/transport.h"

/* SHA-256 digest size (FIPS 180-4). */
#define PPS__FINGERPRINT_LEN 32

/* Room for a fingerprint as "AB:CD:...": 32 pairs, 31 colons, NUL. */
#define PPS__FINGERPRINT_TEXT_MAX (PPS__FINGERPRINT_LEN * 3)

typedef struct pps__tls {
    SSL_CTX *ctx;             /* our reference to the shared context */
    unsigned long long trust; /* its trust store's id (pps__tls_ctx_get) */
    BIO_METHOD *bio_method;
    char *ca_file;   /* owned copies, or NULL: the trust setting, to */
    char *ca_path;   /* look the context up again before a handshake */
    int min_version; /* TLS1_2_VERSION or TLS1_3_VERSION */
    int verify;      /* 0: the profile opted out (warned per connect) */
    int has_pin;     /* 1: pin replaces chain and name checks */
    unsigned char pin[PPS__FINGERPRINT_LEN];
    char *server_name; /* owned copy, or NULL: the host connected to */
    char *log_context; /* owned copy, or NULL */
} pps__tls;

/*
 * Parse a SHA-256 fingerprint: 64 hex digits, either case, optionally with
 * one ':' between bytes ("ab:CD:..." or "abcd..."), optionally after
 * the "sha256 Fingerprint=" that `openssl x509 -fingerprint` prints.
 * Returns 0 or
 * PPS_ECONFIG with a detail that says what is wrong (never quoting more
 * than the shape of the value).
 */
int pps__fingerprint_parse(unsigned char out[PPS__FINGERPRINT_LEN],
                           const char *text);

/* Format a digest as upper-case "AB:CD:..." into buf (>= _TEXT_MAX). */
void pps__fingerprint_format(char *buf, size_t size,
                             const unsigned char fp[PPS__FINGERPRINT_LEN]);

/*
 * Check opts and set tls up from them (strings copied, the CA store
 * loaded or shared).
 * Returns 0, PPS_EINVAL (bad version or min_version), PPS_ECONFIG (bad
 * fingerprint, unreadable ca_file/ca_path), PPS_ENOMEM or PPS_ETLS.  On
 * failure tls holds nothing to free; on success free with pps__tls_cleanup.
 */
int pps__tls_setup(pps__tls *tls, const pps_tls_options *opts);

/* Free what pps__tls_setup made; safe on a zeroed or cleaned pps__tls. */
void pps__tls_cleanup(pps__tls *tls);

/*
 * Run a client handshake on the connected socket *fdp (the BIO reads the
 * int there, so it must outlive the SSL) with host, port naming the peer,
 * checking the certificate as set up.  On success *out is the SSL, ready
 * for pps__tls_read/_write.  Fails with PPS_ETLS (detail: host, port, the
 * reason from OpenSSL, what the administrator can do), PPS_ETIMEOUT or
 * PPS_ENET.
 */
int pps__tls_handshake(SSL **out, pps__tls *tls, int *fdp, const char *host,
                       unsigned int port, int64_t deadline);

/* As pps__sock_recv / pps__sock_send_all, through TLS. */
long pps__tls_read(SSL *ssl, int fd, void *buf, size_t len, int64_t deadline,
                   const char *host, unsigned int port);
long pps__tls_write(SSL *ssl, int fd, const void *buf, size_t len,
                    int64_t deadline, const char *host, unsigned int port);

/* Send close_notify if the socket takes it at once, then free ssl. */
void pps__tls_close(SSL *ssl);

/* Set the error detail "what: OpenSSL's reason" and return code. */
int pps__tls_error(int code, const char *what);

/* --- shared contexts (tls-ctx.c) --------------------------------------- */

/* Trust settings with a context kept at once; the least recently used
 * goes when another is needed. */
#define PPS__TLS_CTX_CACHE_MAX 16

/* Oldest a context may be and still be handed out, even when its files
 * look unchanged (a hashed folder's files are read lazily). */
#define PPS__TLS_CTX_MAX_AGE_MS (5 * 60 * 1000LL)

/*
 * A reference to the client context for this trust setting (ca_file and
 * ca_path both NULL: the system store) and lowest version: the cached one
 * when its files are unchanged and it is young enough, else a new one
 * (CA store loaded now).  Thread-safe.  Free *out with SSL_CTX_free.
 * *trust (when not NULL) names the trust store's contents: it stays the
 * same while the setting's files are unchanged (a context loaded again
 * only because of its age keeps it), and no two settings or versions of
 * their files share one; TLS sessions are keyed by it (tls-session.c).
 * Fails as pps__tls_setup does for an unreadable store (PPS_ECONFIG),
 * PPS_ETLS or PPS_ENOMEM; a cached context for the setting is then
 * dropped.
 */
int pps__tls_ctx_get(SSL_CTX **out, unsigned long long *trust,
                     const char *ca_file, const char *ca_path, int min_version);

/* Drop every cached context (those in use live on until their last
 * reference goes).  For a host about to unload the library, and tests. */
void pps__tls_ctx_cache_clear(void);

/* For tests: what the cache holds and has done since the process began. */
typedef struct pps__tls_ctx_stats {
    size_t entries;      /* contexts in the table now */
    unsigned long loads; /* contexts made (trust stores loaded) */
    unsigned long hits;  /* look-ups answered from the table */
} pps__tls_ctx_stats;

void pps__tls_ctx_cache_stats(pps__tls_ctx_stats *out);

/* For tests: the maximum age in ms (< 0: PPS__TLS_CTX_MAX_AGE_MS again). */
void pps__tls_ctx_cache_set_max_age(long long ms);

/* --- resumed sessions (tls-session.c) --------------------------------- */

/* Servers with a session kept at once (one per key below); the least
 * recently used goes when another is needed.  A session with its
 * certificate chain is a few KiB (docs/tls.md). */
#define PPS__TLS_SESSION_CACHE_MAX 256

/* Longest time after a full handshake (the one that verified the
 * certificate) that its sessions, and the sessions resumed from them, are
 * offered: RFC 8446 section 4.6.1 asks to bound it. */
#define PPS__TLS_SESSION_MAX_AGE_MS (60 * 60 * 1000LL)

/* Everything that must match for a session to be offered: the checks a
 * full handshake would make are then the ones the session passed. */
typedef struct pps__tls_session_key {
    const char *host; /* the host connected to */
    const char *name; /* checked and sent as SNI (server_name) */
    unsigned int port;
    unsigned long long trust; /* the trust store (pps__tls_ctx_get) */
    const unsigned char *pin; /* tls_fingerprint, or NULL */
} pps__tls_session_key;

/*
 * Before the handshake of a verifying connection: attach to ssl what is
 * needed to keep its sessions later, and offer the session kept for key
 * (SSL_set_session) when there is one that is still usable.  Without
 * memory, nothing is attached and nothing offered: the handshake is a full
 * one.  Never fails.  Free what it attached with pps__tls_session_detach
 * before SSL_free.
 */
void pps__tls_session_offer(SSL *ssl, const pps__tls_session_key *key);

/* Every check passed (the handshake, the pin, the re-checks of a resumed
 * session): sessions of this connection may be kept from now on, those
 * that came during the handshake (TLS 1.2) at once. */
void pps__tls_session_accept(SSL *ssl);

/* The handshake or a check failed: forget the session kept for this
 * connection's key, whether or not it was offered. */
void pps__tls_session_reject(SSL *ssl);

/* Free what pps__tls_session_offer attached (no-op when nothing). */
void pps__tls_session_detach(SSL *ssl);

/* The SSL_CTX_sess_set_new_cb of every shared context. */
int pps__tls_session_new_cb(SSL *ssl, SSL_SESSION *session);

/* Forget every kept session (pps_tls_cache_clear). */
void pps__tls_session_cache_clear(void);

/* For tests and the benchmark: what the cache holds and has done. */
typedef struct pps__tls_session_stats {
    size_t entries;        /* sessions kept now */
    unsigned long stored;  /* sessions kept (a new one replaces the old) */
    unsigned long offered; /* handshakes that offered one */
    unsigned long resumed; /* accepted handshakes that resumed one */
} pps__tls_session_stats;

void pps__tls_session_cache_stats(pps__tls_session_stats *out);

/* For tests: keep session under key as if a handshake that verified the
 * certificate at auth_ms (pps__now_ms) had made it (up-refs session). */
int pps__tls_session_put(const pps__tls_session_key *key, SSL_SESSION *session,
                         long long auth_ms);

/* For tests: the maximum age in ms (< 0: PPS__TLS_SESSION_MAX_AGE_MS). */
void pps__tls_session_cache_set_max_age(long long ms);

#endif /* PPS_FETCH_TLS_H */
