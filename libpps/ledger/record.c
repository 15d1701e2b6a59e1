/*
 * record.c - one ledger record as one line of text, and back.
 *
 * A line is "cccccccc T f1 f2 ...\n": the CRC-32 of everything between
 * the first blank and the newline, the record type, its fields.  A line
 * cut short by a crash or damaged on disk fails its CRC, so the loader
 * can tell a good record from a torn one without trusting any length.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "ledger-internal.h"

/* CRC-32 (IEEE 802.3, reflected 0xEDB88320), four bits at a time: a
 * 16-entry table is small enough to write down and fast enough (a 100k
 * message ledger is a few MB). */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu,
    0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t pps__ledger_crc32(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t crc = 0xFFFFFFFFu;

    while (len--) {
        crc ^= *p++;
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    }
    return ~crc;
}

/* --- encoding ------------------------------------------------------------ */

typedef struct out {
    char *buf;
    size_t size;
    size_t len;
    int overflow;
} out;

static void put_byte(out *o, char c)
{
    if (o->len + 1 >= o->size) {
        o->overflow = 1;
        return;
    }
    o->buf[o->len++] = c;
}

static int must_escape(unsigned char c)
{
    return c <= 0x20 || c >= 0x7f || c == '%';
}

static void put_str(out *o, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)(s ? s : "");

    put_byte(o, ' ');
    if (!*p) {
        put_byte(o, '-');
        return;
    }
    if (p[0] == '-' && p[1] == '\0') {
        put_byte(o, '%');
        put_byte(o, '2');
        put_byte(o, 'D');
        return;
    }
    for (; *p; p++) {
        if (must_escape(*p)) {
            put_byte(o, '%');
            put_byte(o, hex[*p >> 4]);
            put_byte(o, hex[*p & 15]);
        } else {
            put_byte(o, (char)*p);
        }
    }
}

static void put_num(out *o, long long v)
{
    char tmp[32];
    int n = pps__snprintf(tmp, sizeof(tmp), " %lld", v);
    int i;

    for (i = 0; i < n; i++)
        put_byte(o, tmp[i]);
}

/* Put the CRC in front of what o holds after its first 9 bytes. */
static int finish(out *o)
{
    char crc[9];
    uint32_t c;

    if (o->overflow || o->len + 2 > o->size)
        return PPS_ETOOBIG;
    c = pps__ledger_crc32(o->buf + 9, o->len - 9);
    pps__snprintf(crc, sizeof(crc), "%08lx", (unsigned long)c);
    memcpy(o->buf, crc, 8);
    o->buf[8] = ' ';
    o->buf[o->len++] = '\n';
    o->buf[o->len] = '\0';
    return (int)o->len;
}

static void start(out *o, char *buf, size_t size, char type)
{
    o->buf = buf;
    o->size = size;
    o->len = 9; /* room for "cccccccc " */
    o->overflow = size < 16;
    if (!o->overflow)
        o->buf[o->len++] = type;
}

int pps__ledger_header_encode(char *buf, size_t size, const char *host,
                              const char *user)
{
    out o;

    start(&o, buf, size, 'H');
    put_str(&o, PPS__LEDGER_MAGIC);
    put_num(&o, PPS__LEDGER_FORMAT);
    put_str(&o, host);
    put_str(&o, user);
    return finish(&o);
}

int pps__ledger_record_encode(char *buf, size_t size,
                              const pps_ledger_record *rec)
{
    const pps_ledger_status *st = rec->status;
    out o;

    start(&o, buf, size, (char)rec->type);
    switch (rec->type) {
    case PPS_LEDGER_REC_INTENT:
    case PPS_LEDGER_REC_DELIVERED:
    case PPS_LEDGER_REC_SEEN:
        put_str(&o, rec->uid);
        put_str(&o, rec->rcpt);
        put_num(&o, (long long)rec->time);
        break;
    case PPS_LEDGER_REC_FAILED:
        put_str(&o, rec->uid);
        put_str(&o, rec->rcpt);
        put_num(&o, (long long)rec->time);
        put_num(&o, rec->code);
        put_num(&o, rec->permanent ? 1 : 0);
        break;
    case PPS_LEDGER_REC_COMPLETE:
    case PPS_LEDGER_REC_DELE:
    case PPS_LEDGER_REC_DELETED:
        put_str(&o, rec->uid);
        put_num(&o, (long long)rec->time);
        break;
    case PPS_LEDGER_REC_QUIT:
        put_num(&o, (long long)rec->time);
        break;
    case PPS_LEDGER_REC_FORGET:
        put_str(&o, rec->uid);
        break;
    case PPS_LEDGER_REC_STATUS:
        if (!st)
            return PPS_EINVAL;
        put_num(&o, (long long)st->started);
        put_num(&o, (long long)st->finished);
        put_num(&o, st->result);
        put_num(&o, (long long)st->listed);
        put_num(&o, (long long)st->delivered);
        put_num(&o, (long long)st->deleted);
        put_num(&o, (long long)st->failed);
        put_num(&o, (long long)st->consecutive_failures);
        put_num(&o, (long long)st->next_allowed);
        put_num(&o, (long long)st->last_success);
        put_str(&o, st->text);
        break;
    default:
        return PPS_EINVAL;
    }
    return finish(&o);
}

/* --- decoding ------------------------------------------------------------ */

#define MAX_FIELDS 13

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Unescape field s in place; 0, or -1 on a bad escape or a NUL. */
static int unescape(char *s)
{
    char *w = s;
    const char *r = s;

    if (s[0] == '-' && s[1] == '\0') {
        s[0] = '\0';
        return 0;
    }
    while (*r) {
        if (*r == '%') {
            int hi = hexval(r[1]);
            int lo = hi < 0 ? -1 : hexval(r[2]);

            if (lo < 0 || (hi == 0 && lo == 0))
                return -1;
            *w++ = (char)(hi * 16 + lo);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return 0;
}

/* A decimal integer, optionally negative, without excess. */
static int num(long long *out_v, const char *s, long long min, long long max)
{
    char *end;
    long long v;

    if (!*s || (*s != '-' && (*s < '0' || *s > '9')))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out_v = v;
    return 0;
}

/* Check the CRC, split into fields, unescape them. */
static int split(char **f, size_t *nf, char *line, size_t len, const char **why)
{
    uint32_t want, crc = 0;
    char *p, *end = line + len;
    size_t n = 0;

    if (len < 10 || line[8] != ' ') {
        *why = "too short";
        return -1;
    }
    if (memchr(line, '\0', len)) {
        *why = "NUL byte";
        return -1;
    }
    line[8] = '\0';
    want = pps__ledger_crc32(line + 9, len - 9);
    for (int i = 0; i < 8; i++) {
        int v = line[i] >= 'a' ? line[i] - 'a' + 10 : line[i] - '0';
        crc = (crc << 4) | (uint32_t)(v & 15);
    }
    if (strspn(line, "0123456789abcdef") != 8 || crc != want) {
        *why = "checksum mismatch";
        return -1;
    }
    *end = '\0';
    for (p = line + 9; p < end;) {
        char *sp = memchr(p, ' ', (size_t)(end - p));

        if (n == MAX_FIELDS) {
            *why = "too many fields";
            return -1;
        }
        if (sp)
            *sp = '\0';
        f[n++] = p;
        p = sp ? sp + 1 : end;
    }
    for (size_t i = 1; i < n; i++) {
        if (unescape(f[i]) < 0) {
            *why = "bad %-escape";
            return -1;
        }
    }
    *nf = n;
    return 0;
}

static int bad(const char **why, const char *reason)
{
    *why = reason;
    return PPS_ECONFIG;
}

static int str_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    return n > 0 && n <= max;
}

int pps__ledger_header_decode(const char **host, const char **user, char *line,
                              size_t len, const char **why)
{
    char *f[MAX_FIELDS];
    size_t n;
    long long v;

    if (split(f, &n, line, len, why) < 0)
        return PPS_ECONFIG;
    if (n != 5 || strcmp(f[0], "H") != 0 ||
        strcmp(f[1], PPS__LEDGER_MAGIC) != 0)
        return bad(why, "not a ledger header");
    if (num(&v, f[2], 0, INT_MAX) < 0 || v != PPS__LEDGER_FORMAT)
        return bad(why, "unknown ledger format version");
    *host = f[3];
    *user = f[4];
    return 0;
}

int pps__ledger_record_decode(pps_ledger_record *rec, pps_ledger_status *st,
                              char *line, size_t len, const char **why)
{
    char *f[MAX_FIELDS];
    size_t n;
    long long v[10];
    const long long tmin = -(1LL << 40), tmax = 1LL << 40;

    memset(rec, 0, sizeof(*rec));
    if (split(f, &n, line, len, why) < 0)
        return PPS_ECONFIG;
    if (strlen(f[0]) != 1)
        return bad(why, "bad record type");
    rec->type = (pps_ledger_record_type)f[0][0];
    switch (rec->type) {
    case PPS_LEDGER_REC_INTENT:
    case PPS_LEDGER_REC_DELIVERED:
    case PPS_LEDGER_REC_SEEN:
        if (n != 4 || num(&v[0], f[3], tmin, tmax) < 0)
            return bad(why, "bad fields");
        rec->uid = f[1];
        rec->rcpt = f[2];
        rec->time = (time_t)v[0];
        break;
    case PPS_LEDGER_REC_FAILED:
        if (n != 6 || num(&v[0], f[3], tmin, tmax) < 0 ||
            num(&v[1], f[4], -1000, 0) < 0 || num(&v[2], f[5], 0, 1) < 0)
            return bad(why, "bad fields");
        rec->uid = f[1];
        rec->rcpt = f[2];
        rec->time = (time_t)v[0];
        rec->code = (int)v[1];
        rec->permanent = (int)v[2];
        break;
    case PPS_LEDGER_REC_COMPLETE:
    case PPS_LEDGER_REC_DELE:
    case PPS_LEDGER_REC_DELETED:
        if (n != 3 || num(&v[0], f[2], tmin, tmax) < 0)
            return bad(why, "bad fields");
        rec->uid = f[1];
        rec->time = (time_t)v[0];
        break;
    case PPS_LEDGER_REC_QUIT:
        if (n != 2 || num(&v[0], f[1], tmin, tmax) < 0)
            return bad(why, "bad fields");
        rec->time = (time_t)v[0];
        break;
    case PPS_LEDGER_REC_FORGET:
        if (n != 2)
            return bad(why, "bad fields");
        rec->uid = f[1];
        break;
    case PPS_LEDGER_REC_STATUS:
        if (n != 12)
            return bad(why, "bad fields");
        for (size_t i = 0; i < 10; i++) {
            long long lo = i == 2 ? -1000 : (i < 2 || i >= 8 ? tmin : 0);
            long long hi = i == 2 ? 0 : (i < 2 || i >= 8 ? tmax : LONG_MAX);
            if (num(&v[i], f[i + 1], lo, hi) < 0)
                return bad(why, "bad fields");
        }
        if (strlen(f[11]) > PPS_LEDGER_STATUS_TEXT_MAX)
            return bad(why, "status text too long");
        memset(st, 0, sizeof(*st));
        st->version = PPS_LEDGER_STATUS_VERSION;
        st->started = (time_t)v[0];
        st->finished = (time_t)v[1];
        st->result = (int)v[2];
        st->listed = (unsigned long)v[3];
        st->delivered = (unsigned long)v[4];
        st->deleted = (unsigned long)v[5];
        st->failed = (unsigned long)v[6];
        st->consecutive_failures = (unsigned long)v[7];
        st->next_allowed = (time_t)v[8];
        st->last_success = (time_t)v[9];
        memcpy(st->text, f[11], strlen(f[11]) + 1);
        rec->status = st;
        return 0;
    default:
        return bad(why, "unknown record type");
    }
    if (rec->type == PPS_LEDGER_REC_SEEN) {
        if (!str_ok(rec->uid, PPS_LEDGER_KEY_MAX))
            return bad(why, "bad duplicate key");
    } else if (rec->uid && !str_ok(rec->uid, PPS_LEDGER_UID_MAX)) {
        return bad(why, "bad uid");
    }
    if (rec->rcpt && !str_ok(rec->rcpt, PPS_LEDGER_RCPT_MAX))
        return bad(why, "bad recipient");
    return 0;
}
