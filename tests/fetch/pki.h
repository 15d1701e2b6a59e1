/*
 * pki.h - a throw-away CA and server certificates, made at test time with
 * the OpenSSL API (EC P-256 keys: fast, and no openssl CLI needed).
 *
 *     test_pki pki;
 *     test_pki_make(&pki);     // certs in memory, the CA in a temp PEM file
 *     ... opts.ca_file = pki.ca_file ...
 *     ctx = test_pki_server_ctx(&pki, pki.good);   // a server's side
 *     test_pki_free(&pki);     // frees all, removes the file
 */
#ifndef PPS_TEST_PKI_H
#define PPS_TEST_PKI_H

#include <limits.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

typedef struct test_pki {
    EVP_PKEY *ca_key;
    X509 *ca;          /* "pps test CA", trusted through ca_file */
    EVP_PKEY *key;     /* every server certificate's key */
    X509 *good;        /* localhost, SANs DNS:localhost IP:127.0.0.1 ::1 */
    X509 *wrong_host;  /* SAN DNS:wrong.example only, same CA */
    X509 *expired;     /* like good, but expired yesterday */
    X509 *self_signed; /* like good, signed by its own key */
    EVP_PKEY *other_ca_key;
    X509 *other_ca;  /* a CA nobody trusts */
    X509 *untrusted; /* like good, signed by other_ca */
    char ca_file[PATH_MAX];
} test_pki;

/* Returns 0, or -1 (with a message on stderr) when OpenSSL fails. */
int test_pki_make(test_pki *pki);
void test_pki_free(test_pki *pki);

/* A new server context that presents cert (any of pki's server
 * certificates: they share pki->key), OpenSSL's defaults otherwise; NULL
 * when OpenSSL fails.  The caller frees it with SSL_CTX_free(). */
SSL_CTX *test_pki_server_ctx(const test_pki *pki, X509 *cert);

/* The SHA-256 fingerprint of cert as "AA:BB:..." (upper case, as the
 * library prints it; the pin parser takes either case). */
void test_pki_fingerprint(char out[96], X509 *cert);

#endif /* PPS_TEST_PKI_H */
