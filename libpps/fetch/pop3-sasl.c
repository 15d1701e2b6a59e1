/*
 * pop3-sasl.c - the SASL mechanisms (RFC 4422) a POP3 login may use.
 *
 * Each mechanism is an initial response (or none) and an answer per
 * challenge, computed on raw bytes; pop3-auth.c does the base64 and the
 * protocol.  Crypto comes from OpenSSL's libcrypto.
 *
 *   PLAIN        RFC 4616  "\0user\0password"
 *   LOGIN        draft-murchison-sasl-login: user, then password
 *   CRAM-MD5     RFC 2195  "user " + hex HMAC-MD5(password, challenge)
 *   XOAUTH2      Google/Microsoft: "user=U\1auth=Bearer T\1\1"; an error
 *                challenge (base64 JSON) is answered with an empty line
 *   OAUTHBEARER  RFC 7628  "n,a=U,\1host=H\1port=P\1auth=Bearer T\1\1";
 *                an error challenge is answered with "\1" (3.2.3)
 *
 * Every buffer that holds a secret is the caller's, and the caller wipes
 * it; nothing here keeps a copy.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "pop3.h"

long pps__b64_encode(char *out, size_t size, const unsigned char *in,
                     size_t len)
{
    size_t need = 4 * ((len + 2) / 3) + 1;

    if (need > size || len > 0x7fffffff)
        return -1;
    return EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

static int b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

long pps__b64_decode(unsigned char *out, size_t size, const char *in,
                     size_t len)
{
    size_t i, pad = 0;
    int n;

    if (len % 4 != 0 || len / 4 * 3 > size || len > 0x7fffffff)
        return -1;
    /* EVP_DecodeBlock skips blanks and is lax about '='; check first. */
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '=' && i >= len - 2 && (i == len - 1 || in[len - 1] == '='))
            pad++;
        else if (!b64_char(c))
            return -1;
    }
    if (len == 0)
        return 0;
    n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
    if (n < 0 || (size_t)n < pad)
        return -1;
    return (long)((size_t)n - pad);
}

static void hex(char *out, const unsigned char *md, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[2 * len] = '\0';
}

int pps__md5_hex(char out[33], const char *a, size_t alen, const char *b,
                 size_t blen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok;

    if (!ctx)
        return pps__error_oom();
    ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL) &&
         EVP_DigestUpdate(ctx, a, alen) && EVP_DigestUpdate(ctx, b, blen) &&
         EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 16;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return pps__error_set(PPS_EUNSUPPORTED,
                              "MD5 is not available in this OpenSSL (APOP)");
    hex(out, md, 16);
    pps__wipe(md, sizeof(md));
    return 0;
}

/* Append to a bounded buffer; *pos past size marks overflow. */
static void put(unsigned char *buf, size_t size, size_t *pos, const void *p,
                size_t len)
{
    if (*pos <= size && len <= size - *pos)
        memcpy(buf + *pos, p, len);
    *pos += len;
}

static void puts_(unsigned char *buf, size_t size, size_t *pos, const char *s)
{
    put(buf, size, pos, s, strlen(s));
}

/* RFC 5801 saslname: ',' and '=' escaped as =2C and =3D. */
static void put_saslname(unsigned char *buf, size_t size, size_t *pos,
                         const char *s)
{
    for (; *s; s++) {
        if (*s == ',')
            puts_(buf, size, pos, "=2C");
        else if (*s == '=')
            puts_(buf, size, pos, "=3D");
        else
            put(buf, size, pos, s, 1);
    }
}

static long finish(size_t pos, size_t size)
{
    if (pos > size)
        return pps__error_set(PPS_ETOOBIG,
                              "the SASL response would be longer than %zu "
                              "bytes",
                              size);
    return (long)pos;
}

long pps__sasl_initial(const pps_session *s, pps__sasl *st, unsigned char *buf,
                       size_t size)
{
    size_t pos = 0;
    char port[16];

    switch (st->mech) {
    case PPS__AUTH_PLAIN:
        put(buf, size, &pos, "", 1);
        puts_(buf, size, &pos, s->user);
        put(buf, size, &pos, "", 1);
        puts_(buf, size, &pos, s->password);
        return finish(pos, size);
    case PPS__AUTH_XOAUTH2:
        puts_(buf, size, &pos, "user=");
        puts_(buf, size, &pos, s->user);
        puts_(buf, size, &pos, "\001auth=Bearer ");
        puts_(buf, size, &pos, s->password);
        puts_(buf, size, &pos, "\001\001");
        return finish(pos, size);
    case PPS__AUTH_OAUTHBEARER:
        pps__snprintf(port, sizeof(port), "%u", s->addr.port);
        puts_(buf, size, &pos, "n,a=");
        put_saslname(buf, size, &pos, s->user);
        puts_(buf, size, &pos, ",\001host=");
        puts_(buf, size, &pos, s->addr.host);
        puts_(buf, size, &pos, "\001port=");
        puts_(buf, size, &pos, port);
        puts_(buf, size, &pos, "\001auth=Bearer ");
        puts_(buf, size, &pos, s->password);
        puts_(buf, size, &pos, "\001\001");
        return finish(pos, size);
    default:
        return -1;
    }
}

static long cram_md5(const pps_session *s, const unsigned char *chal,
                     size_t chal_len, unsigned char *buf, size_t size)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char digest[33];
    size_t pos = 0;
    size_t plen = strlen(s->password);

    if (plen > 0x7fffffff ||
        !HMAC(EVP_md5(), s->password, (int)plen, chal, chal_len, md, &mdlen) ||
        mdlen != 16)
        return pps__error_set(PPS_EUNSUPPORTED,
                              "HMAC-MD5 is not available in this OpenSSL "
                              "(CRAM-MD5)");
    hex(digest, md, 16);
    puts_(buf, size, &pos, s->user);
    puts_(buf, size, &pos, " ");
    puts_(buf, size, &pos, digest);
    pps__wipe(md, sizeof(md));
    pps__wipe(digest, sizeof(digest));
    return finish(pos, size);
}

/* Keep the decoded error challenge of a token method for the message. */
static void keep_error(pps__sasl *st, const unsigned char *chal, size_t len)
{
    size_t i,
        n = len < sizeof(st->error_text) - 1 ? len : sizeof(st->error_text) - 1;

    for (i = 0; i < n; i++)
        st->error_text[i] =
            (chal[i] >= 0x20 && chal[i] < 0x7f) ? (char)chal[i] : '?';
    st->error_text[n] = '\0';
    st->failed = 1;
}

long pps__sasl_step(const pps_session *s, pps__sasl *st,
                    const unsigned char *chal, size_t chal_len,
                    unsigned char *buf, size_t size)
{
    unsigned int step = st->step++;
    size_t pos = 0;

    switch (st->mech) {
    case PPS__AUTH_PLAIN:
        if (step == 0 && !st->initial_sent) {
            st->initial_sent = 1;
            return pps__sasl_initial(s, st, buf, size);
        }
        break;
    case PPS__AUTH_LOGIN:
        /* Answer by position, not by the prompt's text, which varies. */
        if (step == 0 || step == 1) {
            puts_(buf, size, &pos, step == 0 ? s->user : s->password);
            return finish(pos, size);
        }
        break;
    case PPS__AUTH_CRAM_MD5:
        if (step == 0)
            return cram_md5(s, chal, chal_len, buf, size);
        break;
    case PPS__AUTH_XOAUTH2:
    case PPS__AUTH_OAUTHBEARER:
        if (!st->initial_sent) {
            /* Two-step form: "+" with an empty challenge asks for it. */
            st->initial_sent = 1;
            return pps__sasl_initial(s, st, buf, size);
        }
        if (!st->failed) {
            keep_error(st, chal, chal_len);
            if (st->mech == PPS__AUTH_XOAUTH2)
                return 0; /* an empty line */
            buf[0] = '\001';
            return 1;
        }
        break;
    default:
        break;
    }
    return pps__error_set(PPS_EPROTO,
                          "%s sent an unexpected SASL challenge (step %u)",
                          s->addr.host, step + 1);
}
