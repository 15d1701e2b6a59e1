/*
 * values.c - check one setting's value and bring it to canonical form.
 *
 * Each value type has a checker that writes the canonical text into a
 * buffer big enough for any canonical form of the input (twice the input
 * plus room for numbers), or says why the value is refused in `why`.  A
 * refusal never repeats a secret.  Lists are split into items after the
 * canonical text is made, at ", ", which no item may contain.
 */
#include <string.h>

#include "../core/internal.h"
#include "pps/errors.h"
#include "pps/server.h"
#include "profile-internal.h"

#define MINUTE 60ull
#define HOUR   (60ull * MINUTE)
#define DAY    (24ull * HOUR)
#define KIB    1024ull
#define MIB    (1024ull * KIB)
#define GIB    (1024ull * MIB)

/* RFC 5321 4.5.3.1.1: a local part is at most 64 octets. */
#define LOCALPART_MAX 64
/* RFC 1035 2.3.4: 255 octets on the wire, 253 characters as text. */
#define DOMAIN_MAX 253
/* RFC 5321 4.5.3.1.3: a path (address) is at most 256 octets with <>. */
#define ADDRESS_MAX 254
/* Linux PATH_MAX is 4096 including the NUL. */
#define PATH_TEXT_MAX 4095
/* sockaddr_un.sun_path is 108 bytes on Linux, NUL included. */
#define UNIX_PATH_TEXT_MAX 107
/* RFC 5322 2.1.1: a line is at most 78 characters; a field name plus
 * ':' must fit. */
#define HEADER_NAME_MAX 76
/* useradd(8) on Linux: 32 characters. */
#define SYSUSER_MAX 32
/* Postfix recipient_delimiter takes a set; more than 8 is a mistake. */
#define SEPARATOR_MAX 8

/*
 * The output buffer: canonical text is at most twice the input (", " for
 * one separator) plus a formatted number or port; list checkers keep one
 * item of scratch after that.
 */
#define OUT_SIZE(len)   ((len)*3 + 96)
#define SCRATCH_AT(len) ((len)*2 + 2 + 80)

typedef struct checker {
    const pps__key *key;
    const char *in;
    size_t len;
    char *out; /* canonical text, NUL-terminated */
    char *why;
    size_t why_size;
} checker;

/* Refuse with "VALUE <sentence>", VALUE quoted (or "the value" for a
 * secret), and return PPS_ECONFIG. */
static int refuse(checker *c, const char *sentence)
{
    char quoted[96];

    if (c->key->flags & PPS__KEY_SECRET)
        pps__snprintf(c->why, c->why_size, "the value %s", sentence);
    else
        pps__snprintf(c->why, c->why_size, "%s %s",
                      pps__quote(quoted, sizeof(quoted), c->in, c->len),
                      sentence);
    return PPS_ECONFIG;
}

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static int is_alnum(char ch)
{
    return is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* Decimal digits only, without overflow; 0 on success. */
static int parse_digits(const char *s, size_t n, unsigned long long *out)
{
    unsigned long long v = 0;
    size_t i;

    if (n == 0)
        return -1;
    for (i = 0; i < n; i++) {
        unsigned int d;
        if (!is_digit(s[i]))
            return -1;
        d = (unsigned int)(s[i] - '0');
        if (v > (~0ull - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static void format_duration(char *buf, size_t size, unsigned long long s)
{
    if (s != 0 && s % DAY == 0)
        pps__snprintf(buf, size, "%llud", s / DAY);
    else if (s != 0 && s % HOUR == 0)
        pps__snprintf(buf, size, "%lluh", s / HOUR);
    else if (s != 0 && s % MINUTE == 0)
        pps__snprintf(buf, size, "%llum", s / MINUTE);
    else
        pps__snprintf(buf, size, "%llus", s);
}

static void format_size(char *buf, size_t size, unsigned long long b)
{
    if (b != 0 && b % GIB == 0)
        pps__snprintf(buf, size, "%lluG", b / GIB);
    else if (b != 0 && b % MIB == 0)
        pps__snprintf(buf, size, "%lluM", b / MIB);
    else if (b != 0 && b % KIB == 0)
        pps__snprintf(buf, size, "%lluk", b / KIB);
    else
        pps__snprintf(buf, size, "%llu", b);
}

/* Multiply with an overflow check. */
static int scale(unsigned long long *v, unsigned long long unit)
{
    if (*v > ~0ull / unit)
        return -1;
    *v *= unit;
    return 0;
}

static int check_range(checker *c, unsigned long long v,
                       void (*fmt)(char *, size_t, unsigned long long))
{
    char lo[32], hi[32], sentence[96];

    if (v >= c->key->min && v <= c->key->max)
        return 0;
    fmt(lo, sizeof(lo), c->key->min);
    fmt(hi, sizeof(hi), c->key->max);
    pps__snprintf(sentence, sizeof(sentence), "is out of range (%s to %s)", lo,
                  hi);
    return refuse(c, sentence);
}

static void format_count(char *buf, size_t size, unsigned long long v)
{
    pps__snprintf(buf, size, "%llu", v);
}

static int check_count(checker *c)
{
    unsigned long long v;
    int err;

    if (parse_digits(c->in, c->len, &v) < 0)
        return refuse(c, "is not a number");
    if ((err = check_range(c, v, format_count)) < 0)
        return err;
    format_count(c->out, c->len + 32, v);
    return 0;
}

static int check_duration(checker *c)
{
    unsigned long long v, unit = 1;
    size_t n = c->len;

    switch (c->len ? c->in[c->len - 1] : '\0') {
    case 's':
    case 'S':
        unit = 1;
        n--;
        break;
    case 'm':
    case 'M':
        unit = MINUTE;
        n--;
        break;
    case 'h':
    case 'H':
        unit = HOUR;
        n--;
        break;
    case 'd':
    case 'D':
        unit = DAY;
        n--;
        break;
    case 'w':
    case 'W':
        unit = 7 * DAY;
        n--;
        break;
    default:
        break;
    }
    if (parse_digits(c->in, n, &v) < 0 || scale(&v, unit) < 0)
        return refuse(c, "is not a duration (e.g. 90 or 30s, 10m, 1h, 7d)");
    if (check_range(c, v, format_duration) < 0)
        return PPS_ECONFIG;
    format_duration(c->out, c->len + 32, v);
    return 0;
}

static int check_size(checker *c)
{
    unsigned long long v, unit = 1;
    size_t n = c->len;

    switch (c->len ? c->in[c->len - 1] : '\0') {
    case 'k':
    case 'K':
        unit = KIB;
        n--;
        break;
    case 'm':
    case 'M':
        unit = MIB;
        n--;
        break;
    case 'g':
    case 'G':
        unit = GIB;
        n--;
        break;
    default:
        break;
    }
    if (parse_digits(c->in, n, &v) < 0 || scale(&v, unit) < 0)
        return refuse(c, "is not a size (e.g. 1000, 64k, 10M, 1G)");
    if (check_range(c, v, format_size) < 0)
        return PPS_ECONFIG;
    format_size(c->out, c->len + 32, v);
    return 0;
}

static int check_bool(checker *c)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    size_t i;

    for (i = 0; i < 4; i++) {
        if (pps__ascii_strcasecmp(c->in, yes[i]) == 0) {
            memcpy(c->out, "yes", 4);
            return 0;
        }
        if (pps__ascii_strcasecmp(c->in, no[i]) == 0) {
            memcpy(c->out, "no", 3);
            return 0;
        }
    }
    return refuse(c, "is not yes or no (true/false, on/off, 1/0 work too)");
}

static int check_enum(checker *c)
{
    char sentence[160];
    size_t i, used;

    for (i = 0; c->key->choices[i]; i++) {
        if (pps__ascii_strcasecmp(c->in, c->key->choices[i]) == 0) {
            memcpy(c->out, c->key->choices[i], strlen(c->key->choices[i]) + 1);
            return 0;
        }
    }
    used = (size_t)pps__snprintf(sentence, sizeof(sentence), "is not one of");
    for (i = 0; c->key->choices[i] && used < sizeof(sentence); i++)
        used +=
            (size_t)pps__snprintf(sentence + used, sizeof(sentence) - used,
                                  "%s %s", i ? "," : "", c->key->choices[i]);
    return refuse(c, sentence);
}

static int check_text(checker *c)
{
    if (c->len > c->key->max)
        return refuse(c, "is too long");
    memcpy(c->out, c->in, c->len + 1);
    return 0;
}

static int check_path(checker *c, int is_template)
{
    size_t i;

    if (c->in[0] != '/')
        return refuse(c, "is not an absolute path (it must start with '/')");
    if (c->len > PATH_TEXT_MAX)
        return refuse(c, "is too long for a path");
    for (i = 0; is_template && i < c->len; i++) {
        if (c->in[i] != '%')
            continue;
        if (i + 1 < c->len && (c->in[i + 1] == 'u' || c->in[i + 1] == 'd' ||
                               c->in[i + 1] == '%')) {
            i++;
            continue;
        }
        return refuse(c, "has a '%' that is not %u, %d or %%");
    }
    memcpy(c->out, c->in, c->len + 1);
    return 0;
}

static int check_server(checker *c)
{
    pps_server_address addr = PPS_SERVER_ADDRESS_INIT;

    if (pps_server_parse(&addr, c->in) < 0) {
        pps__snprintf(c->why, c->why_size, "%s", pps_error_last()->message);
        return PPS_ECONFIG;
    }
    if (pps_server_format(c->out, OUT_SIZE(c->len), &addr) < 0)
        return refuse(c, "is too long");
    return 0;
}

/* A DNS name: labels of letters, digits and '-', joined by dots.  Writes
 * the lower-cased name to out (n + 1 bytes). */
static int domain_ok(const char *s, size_t n, char *out)
{
    size_t i, label = 0;

    if (n == 0 || n > DOMAIN_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '.') {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            label = 0;
        } else if (is_alnum(ch) || ch == '-') {
            if (ch == '-' && label == 0)
                return 0;
            if (++label > 63) /* RFC 1035 2.3.4 */
                return 0;
        } else {
            return 0;
        }
        out[i] = (char)pps__ascii_tolower((unsigned char)ch);
    }
    if (label == 0 || s[n - 1] == '-')
        return 0;
    out[n] = '\0';
    return 1;
}

static int check_domain(checker *c)
{
    if (!domain_ok(c->in, c->len, c->out))
        return refuse(c, "is not a domain name (letters, digits, '-' and "
                         "dots, e.g. example.com)");
    return 0;
}

/* RFC 5322 atext, less '/' (a local user names a folder) plus inner dots;
 * no leading dot, no "..". */
static int localpart_ok(const char *s, size_t n)
{
    static const char specials[] = "!#$%&'*+-=?^_`{|}~.";
    size_t i;

    if (n == 0 || n > LOCALPART_MAX || s[0] == '.')
        return 0;
    for (i = 0; i < n; i++) {
        if (!is_alnum(s[i]) && !memchr(specials, s[i], sizeof(specials) - 1))
            return 0;
        if (s[i] == '.' && i > 0 && s[i - 1] == '.')
            return 0;
    }
    return 1;
}

static int check_localpart(checker *c)
{
    if (!localpart_ok(c->in, c->len))
        return refuse(c, "is not a user name (letters, digits and "
                         ".!#$%&'*+-=?^_`{|}~, no '@', at most 64)");
    memcpy(c->out, c->in, c->len + 1);
    return 0;
}

static int check_sysuser(checker *c)
{
    size_t i;

    if (c->len > SYSUSER_MAX || c->in[0] == '-')
        return refuse(c, "is not an account name");
    for (i = 0; i < c->len; i++)
        if (!is_alnum(c->in[i]) && !strchr("._-", c->in[i]))
            return refuse(c, "is not an account name");
    memcpy(c->out, c->in, c->len + 1);
    return 0;
}

static int check_address(checker *c)
{
    const char *at = memchr(c->in, '@', c->len);
    size_t local;

    if (!at || c->len > ADDRESS_MAX)
        return refuse(c, "is not an address (user@domain)");
    local = (size_t)(at - c->in);
    if (!localpart_ok(c->in, local) ||
        !domain_ok(at + 1, c->len - local - 1, c->out + local + 1))
        return refuse(c, "is not an address (user@domain)");
    memcpy(c->out, c->in, local + 1);
    return 0;
}

static int check_endpoint(checker *c)
{
    unsigned long long port;
    const char *colon;
    size_t host_len;

    if (c->in[0] == '/') {
        if (c->len > UNIX_PATH_TEXT_MAX)
            return refuse(c, "is too long for a unix socket path");
        memcpy(c->out, c->in, c->len + 1);
        return 0;
    }
    if (c->in[0] == '[') {
        const char *close = memchr(c->in, ']', c->len);
        size_t i;
        if (!close || close[1] != ':' || close == c->in + 1)
            return refuse(c, "is not [ipv6]:port");
        for (i = 1; c->in + i < close; i++)
            if (!strchr("0123456789abcdefABCDEF:.", c->in[i]))
                return refuse(c, "is not [ipv6]:port");
        colon = close + 1;
        host_len = (size_t)(colon - c->in);
        memcpy(c->out, c->in, host_len);
    } else {
        colon = memchr(c->in, ':', c->len);
        if (!colon)
            return refuse(c, "is not host:port or an absolute socket path");
        host_len = (size_t)(colon - c->in);
        if (!domain_ok(c->in, host_len, c->out))
            return refuse(c, "does not start with a host name");
    }
    if (parse_digits(colon + 1, c->len - host_len - 1, &port) < 0 || port < 1 ||
        port > 65535)
        return refuse(c, "has no port between 1 and 65535 after ':'");
    pps__snprintf(c->out + host_len, 16, ":%llu", port);
    return 0;
}

static int check_fingerprint(checker *c)
{
    size_t i, n = 0;

    for (i = 0; i < c->len; i++) {
        char ch = c->in[i];
        if (ch == ':')
            continue;
        if (!is_digit(ch) && !strchr("abcdefABCDEF", ch))
            return refuse(c, "is not a SHA-256 fingerprint (64 hex digits)");
        if (n < 64)
            c->out[n] = (char)pps__ascii_tolower((unsigned char)ch);
        n++;
    }
    if (n != 64)
        return refuse(c, "is not a SHA-256 fingerprint (64 hex digits)");
    c->out[64] = '\0';
    return 0;
}

static int check_separator(checker *c)
{
    static const char allowed[] = "+-=_.~^!&%#$*/?|{}`";
    size_t i;

    if (c->len > SEPARATOR_MAX)
        return refuse(c, "is too long (at most 8 separator characters)");
    for (i = 0; i < c->len; i++)
        if (!memchr(allowed, c->in[i], sizeof(allowed) - 1) ||
            memchr(c->in, c->in[i], i))
            return refuse(c, "has a character that cannot separate a "
                             "subaddress (use e.g. + or -)");
    memcpy(c->out, c->in, c->len + 1);
    return 0;
}

/* Append item (n bytes) to out at *used, with ", " before all but the
 * first; skipped when an equal item (case-insensitive) is already there. */
static void append_item(char *out, size_t *used, const char *item, size_t n)
{
    const char *p = out;

    while (*used && p < out + *used) {
        const char *end = strstr(p, ", ");
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && pps__ascii_strncasecmp(p, item, n) == 0)
            return;
        p += len + (end ? 2 : 0);
        if (!end)
            break;
    }
    if (*used) {
        memcpy(out + *used, ", ", 2);
        *used += 2;
    }
    memcpy(out + *used, item, n);
    *used += n;
    out[*used] = '\0';
}

static int header_name_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > HEADER_NAME_MAX)
        return 0;
    for (i = 0; i < n; i++) /* RFC 5322 3.6.8 ftext, less ',' */
        if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126 ||
            s[i] == ':' || s[i] == ',')
            return 0;
    return 1;
}

/* Lists of words separated by ',' and/or blanks. */
static int check_word_list(checker *c)
{
    size_t i = 0, used = 0;
    char *word = c->out + SCRATCH_AT(c->len);

    c->out[0] = '\0';
    while (i < c->len) {
        size_t start, n;
        while (i < c->len && (is_blank(c->in[i]) || c->in[i] == ','))
            i++;
        start = i;
        while (i < c->len && !is_blank(c->in[i]) && c->in[i] != ',')
            i++;
        if ((n = i - start) == 0)
            break;
        if (c->key->type == PPS__T_DOMAIN_LIST) {
            if (!domain_ok(c->in + start, n, word))
                return refuse(c, "has an item that is not a domain name");
        } else {
            if (!header_name_ok(c->in + start, n))
                return refuse(c, "has an item that is not a header name");
            memcpy(word, c->in + start, n);
        }
        append_item(c->out, &used, word, n);
    }
    return 0;
}

static void trim(const char **s, size_t *n)
{
    while (*n && is_blank(**s))
        (*s)++, (*n)--;
    while (*n && is_blank((*s)[*n - 1]))
        (*n)--;
}

static int check_aliases(checker *c)
{
    const char *p = c->in, *end = c->in + c->len;
    size_t used = 0;
    char *scratch = c->out + SCRATCH_AT(c->len);

    c->out[0] = '\0';
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *item = p, *colon, *user;
        size_t n = (size_t)((comma ? comma : end) - p), alias_n, user_n;

        p += n + (comma ? 1 : 0);
        trim(&item, &n);
        if (n == 0)
            continue;
        if (!(colon = memchr(item, ':', n)))
            return refuse(c, "has an item without ':' (use alias:user)");
        alias_n = (size_t)(colon - item);
        user = colon + 1;
        user_n = n - alias_n - 1;
        trim(&item, &alias_n);
        trim(&user, &user_n);
        if (!localpart_ok(item, alias_n) || !localpart_ok(user, user_n))
            return refuse(c, "has an alias or user that is not a user name");
        /* The same alias twice would make routing depend on order. */
        memcpy(scratch, item, alias_n);
        scratch[alias_n] = ':';
        {
            const char *q = c->out;
            while (*q) {
                if (pps__ascii_strncasecmp(q, scratch, alias_n + 1) == 0)
                    return refuse(c, "names one alias twice");
                q = strstr(q, ", ");
                if (!q)
                    break;
                q += 2;
            }
        }
        memcpy(scratch + alias_n + 1, user, user_n);
        append_item(c->out, &used, scratch, alias_n + 1 + user_n);
    }
    return 0;
}

static int is_list(pps__value_type t)
{
    return t == PPS__T_DOMAIN_LIST || t == PPS__T_HEADER_LIST ||
           t == PPS__T_ALIASES;
}

static int check(checker *c)
{
    switch (c->key->type) {
    case PPS__T_TEXT:
    case PPS__T_SECRET:
    case PPS__T_COMMAND:
        return check_text(c);
    case PPS__T_PATH:
        return check_path(c, 0);
    case PPS__T_PATH_TEMPLATE:
        return check_path(c, 1);
    case PPS__T_SERVER:
        return check_server(c);
    case PPS__T_ENDPOINT:
        return check_endpoint(c);
    case PPS__T_BOOL:
        return check_bool(c);
    case PPS__T_DURATION:
        return check_duration(c);
    case PPS__T_SIZE:
        return check_size(c);
    case PPS__T_COUNT:
        return check_count(c);
    case PPS__T_ENUM:
        return check_enum(c);
    case PPS__T_FINGERPRINT:
        return check_fingerprint(c);
    case PPS__T_DOMAIN:
        return check_domain(c);
    case PPS__T_LOCALPART:
        return check_localpart(c);
    case PPS__T_SYSUSER:
        return check_sysuser(c);
    case PPS__T_ADDRESS:
        return check_address(c);
    case PPS__T_DOMAIN_LIST:
    case PPS__T_HEADER_LIST:
        return check_word_list(c);
    case PPS__T_ALIASES:
        return check_aliases(c);
    case PPS__T_SEPARATOR:
        return check_separator(c);
    }
    return refuse(c, "has a type this version does not know");
}

/* Control characters other than TAB cannot be written back to a file
 * line, and none belongs in any setting. */
static int has_control(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return 1;
    }
    return 0;
}

/* Split canonical list text at ", " into items (pointers into a copy). */
static int split_items(pps__value *v)
{
    size_t count = 0, i;
    char *p;

    if (v->text[0] == '\0')
        return 0;
    for (p = v->text, count = 1; (p = strstr(p, ", ")) != NULL; p += 2)
        count++;
    /* One block: the pointer array, then a copy of the text. */
    v->items = pps__malloc(count * sizeof(char *) + strlen(v->text) + 1);
    if (!v->items)
        return PPS_ENOMEM;
    p = (char *)(v->items + count);
    memcpy(p, v->text, strlen(v->text) + 1);
    for (i = 0; i < count; i++) {
        char *end = strstr(p, ", ");
        v->items[i] = p;
        if (end) {
            *end = '\0';
            p = end + 2;
        }
    }
    v->count = count;
    return 0;
}

/*
 * The canonical value must read back from one file line: "key = value\n"
 * with quotes and escapes must fit PPS_CONFIG_LINE_MAX (lists grow when
 * "a,b" becomes "a, b"), or parse(serialise(p)) would fail.
 */
static int fits_one_line(checker *c, const char *key, const char *text)
{
    size_t n = strlen(key) + 3 + strlen(text) + 1;
    const char *p;

    if (pps__value_needs_quotes(text))
        for (n += 2, p = text; *p; p++)
            n += (*p == '"' || *p == '\\');
    if (n > PPS_CONFIG_LINE_MAX)
        return refuse(c, "is too long to be written back on one line");
    return 0;
}

int pps__value_set(pps__value *out, const pps__key *k, const char *value,
                   char *why, size_t why_size)
{
    checker c;
    pps__value v = {NULL, NULL, 0};
    size_t len = strnlen(value, PPS_CONFIG_LINE_MAX + 1);
    int err;

    c.key = k;
    c.in = value;
    c.len = len;
    c.why = why;
    c.why_size = why_size;
    if (len > PPS_CONFIG_LINE_MAX)
        return refuse(&c, "is too long");
    if (has_control(value, len))
        return refuse(&c, "contains a control character");
    if (!pps__utf8_valid(value, len))
        return refuse(&c, "is not valid UTF-8");
    if (len == 0 && !(k->flags & PPS__KEY_EMPTY_OK)) {
        pps__snprintf(why, why_size, "needs a value");
        return PPS_ECONFIG;
    }
    if (!(c.out = pps__malloc(OUT_SIZE(len))))
        return PPS_ENOMEM;
    if (len == 0)
        c.out[0] = '\0';
    else if ((err = check(&c)) < 0 ||
             (err = fits_one_line(&c, k->name, c.out)) < 0) {
        pps__wipe(c.out, OUT_SIZE(len));
        pps__free(c.out);
        return err;
    }
    /* Shrink to fit; a secret is wiped from the scratch buffer. */
    v.text = pps__strdup(c.out);
    pps__wipe(c.out, OUT_SIZE(len));
    pps__free(c.out);
    if (!v.text)
        return PPS_ENOMEM;
    if (is_list(k->type) && (err = split_items(&v)) < 0) {
        pps__free(v.text);
        return err;
    }
    pps__value_clear(out, k);
    *out = v;
    return 0;
}

void pps__value_clear(pps__value *v, const pps__key *k)
{
    if (v->text && (k->flags & PPS__KEY_SECRET))
        pps__wipe(v->text, strlen(v->text));
    pps__free(v->text);
    pps__free(v->items);
    v->text = NULL;
    v->items = NULL;
    v->count = 0;
}

int pps__value_copy(pps__value *out, const pps__value *in)
{
    pps__value v = {NULL, NULL, 0};

    if (in->text) {
        if (!(v.text = pps__strdup(in->text)))
            return PPS_ENOMEM;
        if (in->items && split_items(&v) < 0) {
            pps__free(v.text);
            return PPS_ENOMEM;
        }
    }
    *out = v;
    return 0;
}

unsigned long long pps__value_number(const char *canonical)
{
    unsigned long long v = 0;
    size_t n = strlen(canonical);

    while (n && !is_digit(canonical[n - 1]))
        n--;
    if (parse_digits(canonical, n, &v) < 0)
        return 0;
    switch (canonical[n]) {
    case 'm':
        return v * MINUTE;
    case 'h':
        return v * HOUR;
    case 'd':
        return v * DAY;
    case 'k':
        return v * KIB;
    case 'M':
        return v * MIB;
    case 'G':
        return v * GIB;
    default:
        return v;
    }
}

int pps__value_bool(const char *canonical)
{
    return strcmp(canonical, "yes") == 0;
}

long pps__value_choice(const pps__key *k, const char *canonical)
{
    long i;

    for (i = 0; k->choices[i]; i++)
        if (strcmp(k->choices[i], canonical) == 0)
            return i;
    return 0;
}

int pps__value_needs_quotes(const char *text)
{
    size_t n = strlen(text);

    return n == 0 || is_blank(text[0]) || is_blank(text[n - 1]) ||
           text[0] == '"' || strchr(text, '#') != NULL ||
           strchr(text, '\\') != NULL;
}
