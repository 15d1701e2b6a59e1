/*
 * trace.c - the trace header the deliverer prepends (and the router
 * counts to stop loops), and the duplicate key of a message.
 *
 * The trace header follows fetchmail's habit, a Received: line that
 * names the remote server, our host and the time (RFC 5321 4.4), with the
 * profile in a comment so that a loop through the same profile can be
 * told from an ordinary mail path:
 *
 *     Received: from pop.example.com
 *             by mx.local (libpps profile "office") with POP3
 *             id 1a2b3c; Fri, 27 Nov 2026 03:05:28 +0000
 */
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "route-internal.h"
#include "../core/internal.h"

/* RFC 1035 2.3.4: 253 characters in a host name. */
#define HOST_MAX 253
/* RFC 1939 7: a unique-id is 1 to 70 characters. */
#define UID_MAX 70
/* Profile names are short words; anything longer is cut in the header
 * (and the marker searched for is cut the same way). */
#define PROFILE_MAX 128
/* A Message-ID longer than this is not one we trust as a key (RFC 5322
 * 2.1.1 lines are at most 998 characters; real ids are under 100). */
#define MESSAGE_ID_MAX 250

static const char *const day_names[] = {"Sun", "Mon", "Tue", "Wed",
                                        "Thu", "Fri", "Sat"};
static const char *const month_names[] = {"Jan", "Feb", "Mar", "Apr",
                                          "May", "Jun", "Jul", "Aug",
                                          "Sep", "Oct", "Nov", "Dec"};

/* Host names and UIDs: printable, no blank, nothing that ends a clause. */
static void clean_token(char *out, size_t max, const char *s,
                        const char *fallback)
{
    size_t i;

    if (!s || !*s)
        s = fallback;
    for (i = 0; i < max && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c <= 0x20 || c >= 0x7f || c == ';' || c == '(' || c == ')' ||
                  c == '"' || c == '\\')
                     ? '?'
                     : (char)c;
    }
    out[i] = '\0';
}

/* The profile name inside "...": '"' and '\\' escaped, non-printable '?'. */
static void quote_profile(char *out, const char *s)
{
    size_t i, n = 0;

    for (i = 0; s && s[i] && i < PROFILE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            out[n++] = '\\';
        out[n++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    out[n] = '\0';
}

int pps__route_trace_marker(char *buf, size_t size, const char *profile)
{
    char quoted[PROFILE_MAX * 2 + 1];
    int n;

    quote_profile(quoted, profile ? profile : "");
    n = pps__snprintf(buf, size, "(libpps profile \"%s\")", quoted);
    return (n < 0 || (size_t)n >= size) ? -1 : n;
}

int pps_route_trace_header(char *buf, size_t size, const char *remote_host,
                           const char *local_host, const char *profile,
                           const char *uid, time_t when, const char *eol)
{
    char remote[HOST_MAX + 1], local[HOST_MAX + 1], id[UID_MAX + 1];
    char marker[PROFILE_MAX * 2 + 32], date[48];
    struct tm tm;
    int n;

    if (!buf || size == 0)
        return pps__error_set(PPS_EINVAL, "pps_route_trace_header: no "
                                          "buffer");
    buf[0] = '\0';
    if (!eol)
        eol = "\r\n";
    if (strlen(eol) > 2 || strspn(eol, "\r\n") != strlen(eol))
        return pps__error_set(PPS_EINVAL, "pps_route_trace_header: eol must "
                                          "be \"\\r\\n\" or \"\\n\"");
    if (!gmtime_r(&when, &tm))
        return pps__error_set(PPS_EINVAL, "pps_route_trace_header: bad time");
    clean_token(remote, HOST_MAX, remote_host, "unknown");
    clean_token(local, HOST_MAX, local_host, "localhost");
    clean_token(id, UID_MAX, uid, "");
    pps__route_trace_marker(marker, sizeof(marker), profile);
    pps__snprintf(date, sizeof(date), "%s, %d %s %04d %02d:%02d:%02d +0000",
                  day_names[tm.tm_wday % 7], tm.tm_mday,
                  month_names[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour,
                  tm.tm_min, tm.tm_sec);
    if (id[0])
        n = pps__snprintf(buf, size,
                          "Received: from %s%s\tby %s %s with POP3%s\tid %s; "
                          "%s%s",
                          remote, eol, local, marker, eol, id, date, eol);
    else
        n = pps__snprintf(buf, size,
                          "Received: from %s%s\tby %s %s with POP3;%s\t%s%s",
                          remote, eol, local, marker, eol, date, eol);
    if (n < 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return pps__error_set(
            PPS_ETOOBIG, "pps_route_trace_header: %zu bytes are too few", size);
    }
    return n;
}

/* --- the duplicate key ------------------------------------------------- */

/* Fields that differ between copies of one message in a catch-all
 * mailbox (each copy has its own envelope and path), so they stay out of
 * the digest. */
static const char *const trace_fields[] = {
    "Received",      "Delivered-To", "X-Original-To", "Envelope-To",
    "X-Envelope-To", "Return-Path",  "X-PPS-Warning", "Status",
    "X-Status",      "X-UIDL",       "X-Keywords",    "X-Mozilla-Status",
};

static int is_trace_field(const pps_header_field *f)
{
    size_t i;

    for (i = 0; i < sizeof(trace_fields) / sizeof(trace_fields[0]); i++)
        if (strlen(trace_fields[i]) == f->name_len &&
            pps__ascii_strncasecmp(f->name, trace_fields[i], f->name_len) == 0)
            return 1;
    return 0;
}

/* "<id@host>" from the first Message-ID, blanks and comments' blanks
 * removed; 0 when there is none usable. */
static int message_id_key(char **out, const pps_header_reader *hr)
{
    pps_header_field f;
    size_t pos = 0, i, start, end, n = 0;
    char *key;

    if (pps_header_reader_find(&f, hr, "Message-ID", &pos) != 1)
        return 0;
    for (start = 0; start < f.value_len && f.value[start] != '<'; start++)
        ;
    if (start == f.value_len)
        return 0;
    for (end = start; end < f.value_len && f.value[end] != '>'; end++)
        ;
    if (end == f.value_len || end - start < 2 || end - start > MESSAGE_ID_MAX)
        return 0;
    if (!(key = pps__malloc(end - start + 2)))
        return pps__error_oom();
    for (i = start; i <= end; i++) {
        unsigned char c = (unsigned char)f.value[i];
        if (c > 0x20 && c != 0x7f)
            key[n++] = (char)c;
    }
    key[n] = '\0';
    if (n <= 2) { /* "< >" */
        pps__free(key);
        return 0;
    }
    *out = key;
    return 1;
}

static int digest_key(char **out, const pps_header_reader *hr)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0, j;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t i, count = pps_header_reader_field_count(hr);
    int ok;
    char *key;

    if (!ctx)
        return pps__error_oom();
    ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    for (i = 0; ok && i < count; i++) {
        pps_header_field f;
        if (pps_header_reader_field(&f, hr, i) < 0 || is_trace_field(&f))
            continue;
        ok = EVP_DigestUpdate(ctx, f.name, f.name_len) == 1 &&
             EVP_DigestUpdate(ctx, ":", 1) == 1 &&
             EVP_DigestUpdate(ctx, f.value, f.value_len) == 1 &&
             EVP_DigestUpdate(ctx, "\n", 1) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(ctx, md, &md_len) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return pps__error_set(PPS_ERROR, "route: SHA-256 failed");
    if (!(key = pps__malloc(7 + 2 * (size_t)md_len + 1)))
        return pps__error_oom();
    memcpy(key, "sha256:", 7);
    for (j = 0; j < md_len; j++) {
        key[7 + 2 * j] = hex[md[j] >> 4];
        key[7 + 2 * j + 1] = hex[md[j] & 15];
    }
    key[7 + 2 * md_len] = '\0';
    *out = key;
    return 0;
}

int pps__route_message_key(char **out, const pps_header_reader *hr)
{
    int rc;

    *out = NULL;
    if ((rc = message_id_key(out, hr)) != 0)
        return rc < 0 ? rc : 0;
    return digest_key(out, hr);
}
