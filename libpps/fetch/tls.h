/*
 * libpps/fetch/tls.h - OpenSSL for the default transport.
 *
 * One pps__tls per transport holds the SSL_CTX made from the profile's
 * pps_tls_options (trust store, pin, verify switch, minimum version) and
 * outlives its connections; pps__tls_handshake makes one SSL for one
 * connected socket.  Everything waits with poll() against the caller's
 * deadline: the SSL objects run on the non-blocking socket through our own
 * BIO, whose writes use MSG_NOSIGNAL (OpenSSL's socket BIO uses write(),
 * which raises SIGPIPE on a closed peer).
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
    SSL_CTX *ctx;
    BIO_METHOD *bio_method;
    int verify;  /* 0: the profile opted out (warned per connect) */
    int has_pin; /* 1: pin replaces chain and name checks */
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
 * Check opts and set tls up from them (strings copied, CA store loaded).
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

#endif /* PPS_FETCH_TLS_H */
