/*
 * tls.c - the TLS side of the default transport (see tls.h), OpenSSL 3.
 *
 * What is checked, in the order a connection meets it:
 *
 *   - protocol: TLS 1.2 at least (SSL_CTX_set_min_proto_version), never
 *     lower whatever the options say; TLS compression and renegotiation
 *     off.
 *   - chain: against tls_ca_file / tls_ca_path when set (they replace the
 *     system store, as curl's --cacert does), else the system store.
 *   - name: RFC 6125 through SSL_set1_host (no partial wildcards); an IP
 *     literal must be an IP SAN (X509_VERIFY_PARAM_set1_ip_asc).  SNI is
 *     sent for names, never for IP literals (RFC 6066 section 3).
 *   - pin: when a SHA-256 fingerprint is set, it replaces the chain and
 *     name checks (a pin is for self-signed servers) and the leaf
 *     certificate must match it exactly, compared in constant time,
 *     before a single byte of the session is used.
 *   - opt-out: verify = 0 accepts any certificate and logs a warning on
 *     every connect, saying what verification would have found.
 *   - resumption: a verified connection offers the session kept from an
 *     earlier one with the same host, name, port, trust store and pin
 *     (tls-session.c).  A resumed session brings the certificate and the
 *     verification result of the full handshake it came from; before the
 *     connection is used, check_resumed() checks that result, the name and
 *     the dates again, and the pin is checked as after a full handshake.
 *     A server that refuses the session makes a full handshake, verified
 *     as ever.  Connections that verify nothing resume nothing.
 *
 * A peer that closes without close_notify is treated as end of stream
 * (SSL_OP_IGNORE_UNEXPECTED_EOF): many POP3 servers do so after QUIT, and
 * POP3's own framing (CRLF.CRLF) catches a truncated reply.
 *
 * The SSL_CTX (trust store, version floor, the options above) is shared by
 * every transport with the same trust setting (tls-ctx.c); the verify
 * mode, the name or address to check, SNI and the pin are set on each SSL
 * (new_ssl), never on the context.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "sock.h"
#include "../core/internal.h"

/* Room for an OpenSSL reason string in a detail. */
#define TLS_REASON_MAX 160

/* --- fingerprints ------------------------------------------------------ */

/* The label OpenSSL 3's `x509 -fingerprint -sha256` puts before the hex. */
#define FINGERPRINT_PREFIX "sha256 Fingerprint="

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int pps__fingerprint_parse(unsigned char out[PPS__FINGERPRINT_LEN],
                           const char *text)
{
    size_t i = 0, n = 0;
    int hi, lo;

    if (text == NULL || *text == '\0')
        return pps__error_set(PPS_ECONFIG, "tls_fingerprint is empty");
    /* What `openssl x509 -noout -fingerprint -sha256` prints, pasted
     * whole, is fine too. */
    if (pps__ascii_strncasecmp(text, FINGERPRINT_PREFIX,
                               sizeof(FINGERPRINT_PREFIX) - 1) == 0)
        text += sizeof(FINGERPRINT_PREFIX) - 1;
    while (text[i] != '\0') {
        if (n == PPS__FINGERPRINT_LEN)
            return pps__error_set(PPS_ECONFIG,
                                  "tls_fingerprint is too long: a SHA-256 "
                                  "fingerprint has 64 hex digits");
        if (n > 0 && text[i] == ':')
            i++;
        hi = hex_value(text[i]);
        lo = hi < 0 ? -1 : hex_value(text[i + 1]);
        if (hi < 0 || lo < 0) {
            if (text[i] == '\0' || (hi >= 0 && text[i + 1] == '\0'))
                break; /* too short: reported below */
            return pps__error_set(PPS_ECONFIG,
                                  "tls_fingerprint: unexpected character at "
                                  "position %zu: write 64 hex digits, "
                                  "optionally with ':' between bytes",
                                  i + (hi >= 0) + 1);
        }
        out[n++] = (unsigned char)(hi << 4 | lo);
        i += 2;
    }
    if (n != PPS__FINGERPRINT_LEN || text[i] != '\0')
        return pps__error_set(PPS_ECONFIG,
                              "tls_fingerprint is too short: a SHA-256 "
                              "fingerprint has 64 hex digits");
    return 0;
}

void pps__fingerprint_format(char *buf, size_t size,
                             const unsigned char fp[PPS__FINGERPRINT_LEN])
{
    static const char digits[] = "0123456789ABCDEF";
    size_t i, at = 0;

    if (size < PPS__FINGERPRINT_TEXT_MAX) {
        if (size > 0)
            buf[0] = '\0';
        return;
    }
    for (i = 0; i < PPS__FINGERPRINT_LEN; i++) {
        if (i > 0)
            buf[at++] = ':';
        buf[at++] = digits[fp[i] >> 4];
        buf[at++] = digits[fp[i] & 15];
    }
    buf[at] = '\0';
}

static int leaf_fingerprint(unsigned char out[PPS__FINGERPRINT_LEN], X509 *leaf)
{
    unsigned int len = 0;

    return leaf != NULL && X509_digest(leaf, EVP_sha256(), out, &len) == 1 &&
           len == PPS__FINGERPRINT_LEN;
}

/* --- a socket BIO that never raises SIGPIPE ---------------------------- */

static int bio_fd(BIO *b)
{
    return *(const int *)BIO_get_data(b);
}

static int bio_write(BIO *b, const char *buf, int len)
{
    ssize_t n;

    BIO_clear_retry_flags(b);
    do
        n = send(bio_fd(b), buf, (size_t)len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_write(b);
    return (int)n;
}

static int bio_read(BIO *b, char *buf, int len)
{
    ssize_t n;

    BIO_clear_retry_flags(b);
    do
        n = recv(bio_fd(b), buf, (size_t)len, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_read(b);
    if (n == 0) /* OpenSSL asks BIO_eof() to tell EOF from an error */
        BIO_set_flags(b, BIO_FLAGS_IN_EOF);
    return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH: /* writes go straight to the socket */
        return 1;
    case BIO_CTRL_EOF:
        return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
    default: /* kTLS, pending counts, datagrams: not supported */
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 0);
    return 1;
}

/*
 * One type index for the process: BIO_get_new_index() hands out a new one
 * per call from a small range (the low 8 bits of a BIO type), so calling
 * it per transport would run out in a long-running service.
 */
static pthread_once_t bio_index_once = PTHREAD_ONCE_INIT;
static int bio_index;

static void bio_index_init(void)
{
    bio_index = BIO_get_new_index();
}

static BIO_METHOD *bio_method_new(void)
{
    BIO_METHOD *m;

    if (pthread_once(&bio_index_once, bio_index_init) != 0 || bio_index < 0)
        return NULL;
    m = BIO_meth_new(bio_index | BIO_TYPE_SOURCE_SINK, "pps socket");

    if (m == NULL)
        return NULL;
    if (!BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
        !BIO_meth_set_ctrl(m, bio_ctrl) ||
        !BIO_meth_set_create(m, bio_create)) {
        BIO_meth_free(m);
        return NULL;
    }
    return m;
}

/* --- errors ------------------------------------------------------------ */

/* The reason of OpenSSL's last queued error, and clear the queue. */
static const char *openssl_reason(char *buf, size_t size, unsigned long *code)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;

    if (code)
        *code = e;
    if (r)
        pps__snprintf(buf, size, "%s", r);
    else if (e)
        pps__snprintf(buf, size, "OpenSSL error 0x%lx", e);
    else
        pps__snprintf(buf, size, "unknown TLS error");
    ERR_clear_error();
    return buf;
}

int pps__tls_error(int code, const char *what)
{
    char reason[TLS_REASON_MAX];

    return pps__error_set(code, "%s: %s", what,
                          openssl_reason(reason, sizeof(reason), NULL));
}

/* --- setup ------------------------------------------------------------- */

static int check_options(const pps_tls_options *opts, int *min_version)
{
    if (opts->version != PPS_TLS_OPTIONS_VERSION)
        return pps__error_set(PPS_EINVAL,
                              "pps_tls_options version %u is not %u: "
                              "initialise with PPS_TLS_OPTIONS_INIT",
                              opts->version, PPS_TLS_OPTIONS_VERSION);
    /* TLS 1.0 and 1.1 are deprecated (RFC 8996): never below 1.2. */
    *min_version =
        opts->min_version < TLS1_2_VERSION ? TLS1_2_VERSION : opts->min_version;
    if (*min_version > TLS1_3_VERSION)
        return pps__error_set(PPS_EINVAL,
                              "pps_tls_options min_version 0x%04x is not a "
                              "TLS version (0x0303 is TLS 1.2, 0x0304 is "
                              "TLS 1.3)",
                              (unsigned int)opts->min_version);
    if (opts->server_name && (opts->server_name[0] == '\0' ||
                              strlen(opts->server_name) > PPS_SERVER_HOST_MAX))
        return pps__error_set(PPS_EINVAL,
                              "pps_tls_options server_name is "
                              "empty or longer than %d bytes",
                              PPS_SERVER_HOST_MAX);
    return 0;
}

static int copy_string(char **out, const char *s)
{
    *out = NULL;
    if (s && (*out = pps__strdup(s)) == NULL)
        return pps__error_oom();
    return 0;
}

int pps__tls_setup(pps__tls *tls, const pps_tls_options *opts)
{
    pps_tls_options defaults = PPS_TLS_OPTIONS_INIT;
    int err, min_version = TLS1_2_VERSION;

    memset(tls, 0, sizeof(*tls));
    if (opts == NULL)
        opts = &defaults;
    if ((err = check_options(opts, &min_version)) < 0)
        return err;
    if (opts->fingerprint_sha256 && opts->fingerprint_sha256[0] != '\0') {
        if ((err = pps__fingerprint_parse(tls->pin, opts->fingerprint_sha256)) <
            0)
            return err;
        tls->has_pin = 1;
    }
    tls->verify = opts->verify != 0;
    tls->min_version = min_version;

    if ((err = copy_string(&tls->ca_file, opts->ca_file)) < 0 ||
        (err = copy_string(&tls->ca_path, opts->ca_path)) < 0)
        goto fail;
    /* Loaded now (or shared), so that a bad store fails here, not at the
     * first connect. */
    if ((err = pps__tls_ctx_get(&tls->ctx, &tls->trust, tls->ca_file,
                                tls->ca_path, min_version)) < 0)
        goto fail;
    ERR_clear_error();
    if ((tls->bio_method = bio_method_new()) == NULL) {
        err = pps__tls_error(PPS_ENOMEM, "cannot create the socket BIO");
        goto fail;
    }
    if ((err = copy_string(&tls->server_name, opts->server_name)) < 0 ||
        (err = copy_string(&tls->log_context, opts->log_context)) < 0)
        goto fail;
    return 0;

fail:
    pps__tls_cleanup(tls);
    ERR_clear_error();
    return err;
}

void pps__tls_cleanup(pps__tls *tls)
{
    SSL_CTX_free(tls->ctx);
    BIO_meth_free(tls->bio_method);
    pps__free(tls->ca_file);
    pps__free(tls->ca_path);
    pps__free(tls->server_name);
    pps__free(tls->log_context);
    memset(tls, 0, sizeof(*tls));
}

/* --- handshake --------------------------------------------------------- */

/* 1 and the address without a zone in buf when name is an IP literal. */
static int ip_literal(char *buf, size_t size, const char *name)
{
    unsigned char bin[16];
    size_t n = strcspn(name, "%");

    if (n >= size)
        return 0;
    memcpy(buf, name, n);
    buf[n] = '\0';
    return inet_pton(AF_INET, buf, bin) == 1 ||
           inet_pton(AF_INET6, buf, bin) == 1;
}

/* The address (an IP literal without its zone; *is_ip 1) or the name to
 * check, in buf; 0 when it does not fit. */
static int peer_name(char *buf, size_t size, const char *name, int *is_ip)
{
    size_t n;

    if ((*is_ip = ip_literal(buf, size, name)) != 0)
        return 1;
    /* "mail.example.com." is fully qualified: the certificate and SNI
     * (RFC 6066 section 3) carry the name without the final dot. */
    n = strlen(name);
    if (n >= size)
        return 0;
    memcpy(buf, name, n + 1);
    if (n > 1 && buf[n - 1] == '.')
        buf[n - 1] = '\0';
    return 1;
}

/* Tell ssl which name (or address) to check and to send as SNI. */
static int set_peer_name(SSL *ssl, const char *name)
{
    char buf[PPS_SERVER_HOST_MAX + 1];
    int is_ip;

    if (!peer_name(buf, sizeof(buf), name, &is_ip))
        return 0;
    if (is_ip)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), buf) == 1;
    return SSL_set_tlsext_host_name(ssl, buf) == 1 &&
           SSL_set1_host(ssl, buf) == 1;
}

/* What an administrator can do about a refused certificate. */
static const char *verify_hint(long result)
{
    switch (result) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return "the certificate is for another name: use a server name "
               "that the certificate lists";
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return "check this machine's clock; the server's certificate must "
               "be renewed";
    default:
        return "if the server uses a private CA, set tls_ca_file to its "
               "certificate; if you trust this very certificate, pin it "
               "with tls_fingerprint";
    }
}

static int certificate_refused(SSL *ssl, long result, const char *host,
                               unsigned int port)
{
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
    unsigned char fp[PPS__FINGERPRINT_LEN];
    char fp_text[PPS__FINGERPRINT_TEXT_MAX] = "unknown";

    if (chain && sk_X509_num(chain) > 0 &&
        leaf_fingerprint(fp, sk_X509_value(chain, 0)))
        pps__fingerprint_format(fp_text, sizeof(fp_text), fp);
    ERR_clear_error();
    /* The fingerprint before the hint: a long host name may cut the
     * detail at PPS__ERROR_MESSAGE_MAX, and the fingerprint is the part
     * an administrator cannot guess. */
    return pps__error_set(PPS_ETLS,
                          "TLS certificate of %s port %u refused: %s "
                          "(SHA-256 fingerprint %s); %s; see docs/tls.md",
                          host, port, X509_verify_cert_error_string(result),
                          fp_text, verify_hint(result));
}

/* The peer hung up or reset during the handshake.  OpenSSL reports it as
 * a system error or, depending on timing, as a failed handshake with no
 * TLS reason (or "unexpected EOF"): all are the network, not TLS. */
static int closed_during_handshake(const char *host, unsigned int port,
                                   int sys_errno)
{
    char errbuf[128];

    if (sys_errno == 0)
        return pps__error_set(PPS_ENET,
                              "%s port %u closed the connection during "
                              "the TLS handshake",
                              host, port);
    return pps__error_set(PPS_ENET,
                          "connection to %s port %u failed during the "
                          "TLS handshake: %s",
                          host, port,
                          pps__strerror(sys_errno, errbuf, sizeof(errbuf)));
}

static int handshake_failed(SSL *ssl, int ssl_err, const pps__tls *tls,
                            const char *host, unsigned int port)
{
    char reason[TLS_REASON_MAX];
    long result = SSL_get_verify_result(ssl);
    unsigned long code = 0;
    int sys_errno = errno;

    if (tls->verify && !tls->has_pin && result != X509_V_OK)
        return certificate_refused(ssl, result, host, port);
    if (ssl_err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        ERR_clear_error();
        return closed_during_handshake(host, port, sys_errno);
    }
    openssl_reason(reason, sizeof(reason), &code);
    if (code == 0) /* no TLS-level reason: see closed_during_handshake */
        return closed_during_handshake(host, port, sys_errno);
    switch (ERR_GET_REASON(code)) {
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
        return closed_during_handshake(host, port, 0);
#endif
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
        return pps__error_set(PPS_ETLS,
                              "TLS handshake with %s port %u failed: %s "
                              "(does the port speak TLS from the first "
                              "byte? Port 110 uses STLS: write the server "
                              "without 's')",
                              host, port, reason);
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
        return pps__error_set(PPS_ETLS,
                              "TLS handshake with %s port %u failed: %s "
                              "(the server offers no TLS version this "
                              "profile accepts; TLS 1.2 is the minimum)",
                              host, port, reason);
    default:
        return pps__error_set(PPS_ETLS,
                              "TLS handshake with %s port %u failed: %s", host,
                              port, reason);
    }
}

static int check_pin(SSL *ssl, const pps__tls *tls, const char *host,
                     unsigned int port)
{
    unsigned char fp[PPS__FINGERPRINT_LEN];
    char fp_text[PPS__FINGERPRINT_TEXT_MAX];

    if (!leaf_fingerprint(fp, SSL_get0_peer_certificate(ssl))) {
        ERR_clear_error();
        return pps__error_set(PPS_ETLS,
                              "TLS: %s port %u sent no certificate "
                              "to compare with tls_fingerprint",
                              host, port);
    }
    if (CRYPTO_memcmp(fp, tls->pin, sizeof(fp)) != 0) {
        pps__fingerprint_format(fp_text, sizeof(fp_text), fp);
        return pps__error_set(PPS_ETLS,
                              "TLS certificate of %s port %u refused: its "
                              "SHA-256 fingerprint %s is not the pinned "
                              "tls_fingerprint; if the server's certificate "
                              "was renewed, check the new one and update "
                              "tls_fingerprint (docs/tls.md)",
                              host, port, fp_text);
    }
    return 0;
}

/*
 * A resumed session skips the server's certificate: what was verified
 * comes with the session, which tls-session.c offers only under the same
 * host, name, port and trust store, so the carried result is the one this
 * connection's full handshake would have had.  Check again what is cheap to
 * check, so that this does not rest on the key alone: the carried result,
 * the name or address (as SSL_set1_host / set1_ip_asc would) and the
 * certificate's dates (which may have run out since).
 */
static int check_resumed(SSL *ssl, const char *name, const char *host,
                         unsigned int port)
{
    X509 *leaf = SSL_get0_peer_certificate(ssl);
    long result = SSL_get_verify_result(ssl);
    char buf[PPS_SERVER_HOST_MAX + 1];
    int is_ip = 0;

    if (result == X509_V_OK && leaf == NULL)
        result = X509_V_ERR_UNSPECIFIED;
    if (result == X509_V_OK && !peer_name(buf, sizeof(buf), name, &is_ip))
        result = X509_V_ERR_HOSTNAME_MISMATCH;
    if (result == X509_V_OK && is_ip && X509_check_ip_asc(leaf, buf, 0) != 1)
        result = X509_V_ERR_IP_ADDRESS_MISMATCH;
    if (result == X509_V_OK && !is_ip &&
        X509_check_host(leaf, buf, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                        NULL) != 1)
        result = X509_V_ERR_HOSTNAME_MISMATCH;
    /* X509_cmp_current_time: -1 at or before now, 1 after, 0 error. */
    if (result == X509_V_OK &&
        X509_cmp_current_time(X509_get0_notBefore(leaf)) != -1)
        result = X509_V_ERR_CERT_NOT_YET_VALID;
    if (result == X509_V_OK &&
        X509_cmp_current_time(X509_get0_notAfter(leaf)) != 1)
        result = X509_V_ERR_CERT_HAS_EXPIRED;
    if (result != X509_V_OK)
        return certificate_refused(ssl, result, host, port);
    return 0;
}

static void warn_unverified(SSL *ssl, const pps__tls *tls, const char *host,
                            unsigned int port)
{
    long result = SSL_get_verify_result(ssl);

    pps__log(PPS_LOG_WARN, tls->log_context,
             "TLS certificate of %s port %u NOT verified (verification "
             "turned off by the profile): anyone on the path can read the "
             "password and the mail; verification would have said: %s",
             host, port,
             result == X509_V_OK ? "ok"
                                 : X509_verify_cert_error_string(result));
}

static SSL *new_ssl(pps__tls *tls, int *fdp, const char *name)
{
    SSL *ssl = SSL_new(tls->ctx);
    BIO *bio;

    if (ssl == NULL)
        return NULL;
    /* With a pin, or when opted out, the handshake goes on whatever the
     * chain says; the pin (or nothing) is checked right after it. */
    SSL_set_verify(
        ssl, tls->verify && !tls->has_pin ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
        NULL);
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if ((bio = BIO_new(tls->bio_method)) == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    BIO_set_data(bio, fdp);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl, bio, bio);
    if (!set_peer_name(ssl, name)) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

/*
 * The transport may live longer than the trust store it started with (a
 * host that keeps one and reconnects): take the cache's current context,
 * which is loaded again when the files changed.  When that fails, keep
 * the one this transport has and say why: it was good when it was made.
 */
static void refresh_context(pps__tls *tls)
{
    unsigned long long trust = 0;
    SSL_CTX *ctx = NULL;

    if (pps__tls_ctx_get(&ctx, &trust, tls->ca_file, tls->ca_path,
                         tls->min_version) < 0) {
        pps__log(PPS_LOG_WARN, tls->log_context,
                 "TLS: cannot load the trust store again (%s); using the "
                 "one loaded when this transport was made",
                 pps_error_last()->message);
        return;
    }
    SSL_CTX_free(tls->ctx);
    tls->ctx = ctx;
    tls->trust = trust;
}

/* Offer the session kept for this connection's key, when something is
 * verified (the chain and name, or a pin): see tls-session.c. */
static void offer_session(SSL *ssl, const pps__tls *tls, const char *name,
                          const char *host, unsigned int port)
{
    pps__tls_session_key key = {host, name, port, tls->trust,
                                tls->has_pin ? tls->pin : NULL};

    if (tls->verify || tls->has_pin)
        pps__tls_session_offer(ssl, &key);
}

/* Free ssl and what tls-session.c attached to it. */
static void free_ssl(SSL *ssl)
{
    pps__tls_session_detach(ssl);
    SSL_free(ssl);
}

int pps__tls_handshake(SSL **out, pps__tls *tls, int *fdp, const char *host,
                       unsigned int port, int64_t deadline)
{
    const char *name = tls->server_name ? tls->server_name : host;
    SSL *ssl;
    int r, e, w, err;

    *out = NULL;
    refresh_context(tls);
    ERR_clear_error();
    if ((ssl = new_ssl(tls, fdp, name)) == NULL)
        return pps__tls_error(PPS_ENOMEM, "cannot set up a TLS session");
    offer_session(ssl, tls, name, host, port);
    for (;;) {
        ERR_clear_error();
        errno = 0;
        if ((r = SSL_connect(ssl)) == 1)
            break;
        e = SSL_get_error(ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            err = handshake_failed(ssl, e, tls, host, port);
            goto fail;
        }
        w = pps__sock_wait(*fdp, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                           deadline);
        if (w == 0) {
            err = pps__error_set(PPS_ETIMEOUT,
                                 "TLS handshake with %s port %u timed out",
                                 host, port);
            goto fail;
        }
        if (w < 0) {
            err = pps__error_set(PPS_ENET,
                                 "poll failed during the TLS "
                                 "handshake with %s port %u",
                                 host, port);
            goto fail;
        }
    }
    if (tls->has_pin) {
        if ((err = check_pin(ssl, tls, host, port)) < 0)
            goto fail;
    } else if (!tls->verify) {
        warn_unverified(ssl, tls, host, port);
    } else if (SSL_session_reused(ssl) &&
               (err = check_resumed(ssl, name, host, port)) < 0) {
        goto fail;
    }
    pps__tls_session_accept(ssl);
    pps__log(PPS_LOG_DEBUG, tls->log_context,
             "%s (%s) with %s port %u, certificate %s%s", SSL_get_version(ssl),
             SSL_get_cipher_name(ssl), host, port,
             tls->has_pin  ? "matches tls_fingerprint"
             : tls->verify ? "verified"
                           : "NOT verified",
             SSL_session_reused(ssl) ? " (session resumed)" : "");
    *out = ssl;
    return 0;

fail:
    pps__tls_session_reject(ssl);
    free_ssl(ssl);
    ERR_clear_error();
    return err;
}

/* --- data -------------------------------------------------------------- */

/* After SSL_read/SSL_write failed with e: wait (1) or fail (< 0).
 * `doing` is "reading" or "writing", as in sock.c's details. */
static int tls_wait_or_fail(int e, int fd, int64_t deadline, const char *doing,
                            const char *host, unsigned int port)
{
    char reason[TLS_REASON_MAX], errbuf[128];
    int sys_errno = errno, w;

    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        w = pps__sock_wait(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                           deadline);
        if (w > 0)
            return 1;
        if (w == 0)
            return pps__error_set(PPS_ETIMEOUT, "timed out %s (TLS) %s port %u",
                                  doing, host, port);
        sys_errno = -w;
    } else if (e == SSL_ERROR_ZERO_RETURN) {
        sys_errno = 0; /* writing after the peer's close_notify or EOF */
    } else if (e != SSL_ERROR_SYSCALL || ERR_peek_error() != 0) {
        return pps__error_set(PPS_ETLS, "TLS error while %s, %s port %u: %s",
                              doing, host, port,
                              openssl_reason(reason, sizeof(reason), NULL));
    }
    ERR_clear_error();
    return pps__error_set(
        PPS_ENET, "connection to %s port %u failed while %s: %s", host, port,
        doing,
        sys_errno ? pps__strerror(sys_errno, errbuf, sizeof(errbuf))
                  : "closed by the peer");
}

long pps__tls_read(SSL *ssl, int fd, void *buf, size_t len, int64_t deadline,
                   const char *host, unsigned int port)
{
    size_t got = 0;
    int e, rc;

    for (;;) {
        ERR_clear_error();
        errno = 0;
        if (SSL_read_ex(ssl, buf, len, &got) == 1)
            return (long)got;
        e = SSL_get_error(ssl, 0);
        if (e == SSL_ERROR_ZERO_RETURN) {
            ERR_clear_error();
            return 0;
        }
        rc = tls_wait_or_fail(e, fd, deadline, "reading", host, port);
        if (rc < 0)
            return rc;
    }
}

long pps__tls_write(SSL *ssl, int fd, const void *buf, size_t len,
                    int64_t deadline, const char *host, unsigned int port)
{
    const char *p = buf;
    size_t done = 0, n;
    int e, rc;

    while (done < len) {
        ERR_clear_error();
        errno = 0;
        n = 0;
        if (SSL_write_ex(ssl, p + done, len - done, &n) == 1) {
            done += n;
            continue;
        }
        e = SSL_get_error(ssl, 0);
        rc = tls_wait_or_fail(e, fd, deadline, "writing", host, port);
        if (rc < 0)
            return rc;
    }
    return (long)len;
}

void pps__tls_close(SSL *ssl)
{
    if (ssl == NULL)
        return;
    /* One try at close_notify; a peer that is gone gets EPIPE quietly. */
    ERR_clear_error();
    (void)SSL_shutdown(ssl);
    free_ssl(ssl);
    ERR_clear_error();
}
