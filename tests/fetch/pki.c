/*
 * pki.c - a throw-away CA and server certificates (see pki.h).
 */
#include "pki.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define DAY (24L * 60 * 60)

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok = e != NULL && X509_add_ext(x, e, -1) == 1;

    X509_EXTENSION_free(e);
    return ok;
}

typedef struct cert_spec {
    const char *cn;
    const char *san; /* NULL: none */
    int ca;
    long from_days, to_days;
    long serial;
} cert_spec;

static X509 *make_cert(const cert_spec *s, EVP_PKEY *key, X509 *issuer,
                       EVP_PKEY *issuer_key)
{
    X509 *x = X509_new();
    X509_NAME *name;
    X509V3_CTX ctx;
    int ok;

    if (x == NULL)
        return NULL;
    name = X509_get_subject_name(x);
    ok = X509_set_version(x, 2) &&
         ASN1_INTEGER_set(X509_get_serialNumber(x), s->serial) &&
         X509_gmtime_adj(X509_getm_notBefore(x), s->from_days * DAY) &&
         X509_gmtime_adj(X509_getm_notAfter(x), s->to_days * DAY) &&
         X509_set_pubkey(x, key) &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    (const unsigned char *)s->cn, -1, -1, 0) &&
         X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    if (ok) {
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
        ok = add_ext(x, &ctx, NID_basic_constraints,
                     s->ca ? "critical,CA:TRUE" : "CA:FALSE") &&
             add_ext(x, &ctx, NID_key_usage,
                     s->ca ? "critical,keyCertSign,cRLSign"
                           : "critical,digitalSignature") &&
             add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
             (s->ca || add_ext(x, &ctx, NID_ext_key_usage, "serverAuth")) &&
             (s->san == NULL ||
              add_ext(x, &ctx, NID_subject_alt_name, s->san)) &&
             X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
    }
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static int write_pem(char *path, size_t size, X509 *cert)
{
    const char *dir = getenv("TMPDIR");
    FILE *f;
    int fd;

    snprintf(path, size, "%s/pps-test-ca-XXXXXX", dir && *dir ? dir : "/tmp");
    if ((fd = mkstemp(path)) < 0)
        return 0;
    if ((f = fdopen(fd, "w")) == NULL) {
        close(fd);
        return 0;
    }
    if (PEM_write_X509(f, cert) != 1) {
        fclose(f);
        return 0;
    }
    return fclose(f) == 0;
}

int test_pki_make(test_pki *pki)
{
    static const char good_san[] = "DNS:localhost,IP:127.0.0.1,IP:::1";
    const cert_spec ca = {"pps test CA", NULL, 1, -1, 30, 1};
    const cert_spec other_ca = {"pps other CA", NULL, 1, -1, 30, 2};
    const cert_spec good = {"localhost", good_san, 0, -1, 30, 10};
    const cert_spec wrong = {
        "wrong.example", "DNS:wrong.example", 0, -1, 30, 11};
    const cert_spec expired = {"localhost", good_san, 0, -30, -1, 12};
    const cert_spec self = {"localhost", good_san, 0, -1, 30, 13};
    const cert_spec untrusted = {"localhost", good_san, 0, -1, 30, 14};

    memset(pki, 0, sizeof(*pki));
    pki->ca_key = EVP_EC_gen("P-256");
    pki->key = EVP_EC_gen("P-256");
    pki->other_ca_key = EVP_EC_gen("P-256");
    if (!pki->ca_key || !pki->key || !pki->other_ca_key)
        goto fail;
    pki->ca = make_cert(&ca, pki->ca_key, NULL, NULL);
    pki->other_ca = make_cert(&other_ca, pki->other_ca_key, NULL, NULL);
    if (!pki->ca || !pki->other_ca)
        goto fail;
    pki->good = make_cert(&good, pki->key, pki->ca, pki->ca_key);
    pki->wrong_host = make_cert(&wrong, pki->key, pki->ca, pki->ca_key);
    pki->expired = make_cert(&expired, pki->key, pki->ca, pki->ca_key);
    pki->self_signed = make_cert(&self, pki->key, NULL, NULL);
    pki->untrusted =
        make_cert(&untrusted, pki->key, pki->other_ca, pki->other_ca_key);
    if (!pki->good || !pki->wrong_host || !pki->expired || !pki->self_signed ||
        !pki->untrusted)
        goto fail;
    if (!write_pem(pki->ca_file, sizeof(pki->ca_file), pki->ca))
        goto fail;
    return 0;

fail:
    fprintf(stderr, "test PKI: OpenSSL failed\n");
    ERR_print_errors_fp(stderr);
    test_pki_free(pki);
    return -1;
}

void test_pki_free(test_pki *pki)
{
    X509 *certs[] = {pki->ca,       pki->good,        pki->wrong_host,
                     pki->expired,  pki->self_signed, pki->other_ca,
                     pki->untrusted};
    size_t i;

    for (i = 0; i < sizeof(certs) / sizeof(certs[0]); i++)
        X509_free(certs[i]);
    EVP_PKEY_free(pki->ca_key);
    EVP_PKEY_free(pki->key);
    EVP_PKEY_free(pki->other_ca_key);
    if (pki->ca_file[0])
        unlink(pki->ca_file);
    memset(pki, 0, sizeof(*pki));
}

SSL_CTX *test_pki_server_ctx(const test_pki *pki, X509 *cert)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx != NULL && (SSL_CTX_use_certificate(ctx, cert) != 1 ||
                        SSL_CTX_use_PrivateKey(ctx, pki->key) != 1)) {
        SSL_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

void test_pki_fingerprint(char out[96], X509 *cert)
{
    unsigned char md[32];
    unsigned int len = 0, i;
    size_t at = 0;

    X509_digest(cert, EVP_sha256(), md, &len);
    for (i = 0; i < len && i < 32; i++)
        at += (size_t)snprintf(out + at, 96 - at, i ? ":%02X" : "%02X", md[i]);
    out[at] = '\0';
}
