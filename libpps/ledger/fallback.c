/*
 * fallback.c - digests: a ledger key for messages without a usable UIDL,
 * and the delivery tag that lets a deliverer recognise its own work.
 *
 * A server without UIDL, or one that lists the same UIDL twice, leaves
 * nothing stable to key a message by except its content.  The header
 * block (Received, Message-ID, Date ...) nearly always differs between two
 * messages; with the size it is the best key TOP n 0 can give cheaply.
 */
#include <string.h>

#include <openssl/evp.h>

#include "core/internal.h"
#include "state.h"

/* Hash `len` bytes, skipping a CR that comes right before an LF. */
static int digest_lines(EVP_MD_CTX *ctx, const char *p, size_t len)
{
    size_t start = 0;

    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n') {
            if (EVP_DigestUpdate(ctx, p + start, i - start) != 1)
                return -1;
            start = i + 1;
        }
    }
    return EVP_DigestUpdate(ctx, p + start, len - start) == 1 ? 0 : -1;
}

/* The header block ends after the first empty line (RFC 5322 2.1). */
static size_t header_length(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '\n')
            continue;
        if (i + 1 < len && p[i + 1] == '\n')
            return i + 1;
        if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n')
            return i + 1;
    }
    return len;
}

int pps_ledger_fallback_key(char *out, size_t size, unsigned long long octets,
                            const char *header, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char digest[65];
    EVP_MD_CTX *ctx;
    int ok;

    if (!out || size < PPS_LEDGER_FALLBACK_KEY_SIZE || (!header && len))
        return pps__error_set(PPS_EINVAL,
                              "ledger: fallback key needs a buffer of %d "
                              "bytes and a header",
                              PPS_LEDGER_FALLBACK_KEY_SIZE);
    out[0] = '\0';
    if (!(ctx = EVP_MD_CTX_new()))
        return pps__error_oom();
    len = len ? header_length(header, len) : 0;
    ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
         digest_lines(ctx, header ? header : "", len) == 0 &&
         EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return pps__error_set(PPS_ERROR, "ledger: SHA-256 failed");
    for (unsigned int i = 0; i < 32; i++) {
        digest[2 * i] = hex[md[i] >> 4];
        digest[2 * i + 1] = hex[md[i] & 15];
    }
    digest[64] = '\0';
    pps__snprintf(out, size, "pps-sha256:%s:%llu", digest, octets);
    return 0;
}

/* 32 hex digits of SHA-256 over parts[i] (lens[i] bytes each), the ledger's
 * short stable names: delivery tags and store file names. */
int pps__ledger_sha256_hex32(char out[33], const char *const *parts,
                             const size_t *lens, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx;
    int ok;

    if (!(ctx = EVP_MD_CTX_new()))
        return pps__error_oom();
    ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    for (size_t i = 0; i < n && ok; i++)
        ok = EVP_DigestUpdate(ctx, parts[i], lens[i]) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen >= 16;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return pps__error_set(PPS_ERROR, "ledger: SHA-256 failed");
    for (unsigned int i = 0; i < 16; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[32] = '\0';
    return 0;
}

int pps_ledger_delivery_tag(char *out, size_t size, const pps_ledger *l,
                            const char *uid, const char *rcpt)
{
    const char *parts[4];
    size_t lens[4];
    int err;

    if (!out || size < PPS_LEDGER_TAG_SIZE)
        return pps__error_set(PPS_EINVAL, "ledger: delivery tag needs %d bytes",
                              PPS_LEDGER_TAG_SIZE);
    out[0] = '\0';
    if ((err = pps__ledger_usable(l, 0)) < 0 ||
        (err = pps__ledger_check_str(uid, PPS_LEDGER_UID_MAX, "uid")) < 0 ||
        (err = pps__ledger_check_str(rcpt, PPS_LEDGER_RCPT_MAX, "recipient")) <
            0)
        return err;
    parts[0] = l->host;
    parts[1] = l->user;
    parts[2] = uid;
    parts[3] = rcpt;
    /* Each part with its NUL: ("ab", "c") and ("a", "bc") differ. */
    for (int i = 0; i < 4; i++)
        lens[i] = strlen(parts[i]) + 1;
    return pps__ledger_sha256_hex32(out, parts, lens, 4);
}
