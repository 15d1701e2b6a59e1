/*
 * conffile.c - the `key = value` text of profile files and pps.conf.
 *
 *     # a comment
 *     [section]                      (pps.conf only)
 *     key = value                    # a comment after a blank
 *     key = "  kept blanks, # too"   (\" and \\ inside quotes)
 *
 * One line at a time, each checked whole before it is split: length, NUL
 * bytes, UTF-8, control characters.  The reader knows no keys; it hands
 * each pair to a callback with its line number.
 */
#include <string.h>

#include "../core/internal.h"
#include "profile-internal.h"

/* RFC 3629 section 4: no overlong forms, no surrogates, at most U+10FFFF. */
int pps__utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        unsigned char c = p[i];
        size_t n, k;
        unsigned char lo = 0x80, hi = 0xbf;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1;
        else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
        } else
            return 0;
        if (len - i - 1 < n)
            return 0;
        for (k = 1; k <= n; k++) {
            unsigned char b = p[i + k];
            if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf))
                return 0;
        }
        i += n + 1;
    }
    return 1;
}

typedef struct reader {
    const char *origin;
    size_t line;
    int allow_sections;
    char section[64]; /* "" before the first header */
    pps__conf_fn fn;
    void *payload;
} reader;

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

static int syntax(const reader *r, const char *what)
{
    return pps__error_set(PPS_ECONFIG, "%s:%zu: %s", r->origin, r->line, what);
}

/* After a value or header: only blanks, then nothing or a comment. */
static int rest_is_comment(const char *p, const char *end)
{
    while (p < end && is_blank(*p))
        p++;
    return p == end || *p == '#';
}

static int read_section(reader *r, const char *p, const char *end)
{
    const char *name = ++p;
    size_t n;

    if (!r->allow_sections)
        return syntax(r, "profile files have no [sections]");
    while (p < end && *p != ']')
        p++;
    n = (size_t)(p - name);
    if (p == end)
        return syntax(r, "a section header needs its closing ']'");
    if (n == 0 || n >= sizeof(r->section))
        return syntax(r, "a section needs a name, e.g. [delivery]");
    memcpy(r->section, name, n);
    r->section[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (!is_key_char(name[i]))
            return syntax(r, "a section name has only letters, digits, "
                             "'_', '-' and '.'");
    if (!rest_is_comment(p + 1, end))
        return syntax(r, "unexpected text after the section header");
    /* Let the caller check the name now, not at the first key. */
    return r->fn(r->section, NULL, NULL, r->line, r->payload);
}

/* A quoted value: \" and \\ are the only escapes. */
static int read_quoted(const reader *r, const char *p, const char *end,
                       char *value)
{
    size_t n = 0;

    for (p++; p < end && *p != '"'; p++) {
        if (*p == '\\') {
            if (p + 1 == end || (p[1] != '"' && p[1] != '\\'))
                return syntax(r, "inside quotes, '\\' must be followed by "
                                 "'\"' or '\\'");
            p++;
        }
        value[n++] = *p;
    }
    if (p == end)
        return syntax(r, "the quoted value has no closing '\"'");
    value[n] = '\0';
    if (!rest_is_comment(p + 1, end))
        return syntax(r, "unexpected text after the closing '\"'");
    return 0;
}

/* An unquoted value ends at a '#' that follows a blank, or at the end;
 * trailing blanks are dropped.  "abc#def" keeps its '#'. */
static void read_plain(const char *p, const char *end, char *value)
{
    const char *start = p, *stop = end;

    for (; p < end; p++)
        if (*p == '#' && (p == start || is_blank(p[-1]))) {
            stop = p;
            break;
        }
    while (stop > start && is_blank(stop[-1]))
        stop--;
    memcpy(value, start, (size_t)(stop - start));
    value[stop - start] = '\0';
}

static int read_pair(reader *r, const char *p, const char *end)
{
    char key[PPS_CONFIG_LINE_MAX], value[PPS_CONFIG_LINE_MAX];
    const char *k = p;
    size_t n;
    int err;

    while (p < end && is_key_char(*p))
        p++;
    n = (size_t)(p - k);
    if (n == 0)
        return syntax(r, "expected a key, e.g. interval = 10m");
    memcpy(key, k, n);
    key[n] = '\0';
    while (p < end && is_blank(*p))
        p++;
    if (p == end || *p != '=') {
        char quoted[80];
        return pps__error_set(PPS_ECONFIG, "%s:%zu: expected '=' after key %s",
                              r->origin, r->line,
                              pps__quote(quoted, sizeof(quoted), k, n));
    }
    p++;
    while (p < end && is_blank(*p))
        p++;
    if (p < end && *p == '"') {
        if ((err = read_quoted(r, p, end, value)) < 0)
            return err;
    } else {
        read_plain(p, end, value);
    }
    err = r->fn(r->section[0] ? r->section : NULL, key, value, r->line,
                r->payload);
    /* The value may be a password: leave no copy on the stack. */
    memset(value, 0, sizeof(value));
    return err;
}

/* The line-level checks; the error names the key when the line has one
 * (the value is never quoted: it may be a password). */
static int check_line(const reader *r, const char *p, size_t n)
{
    const char *what = NULL, *k, *end = p + n;
    char key[80];
    size_t i, kn;

    if (memchr(p, '\0', n))
        what = "the line contains a NUL byte";
    else if (!pps__utf8_valid(p, n))
        what = "the line is not valid UTF-8";
    for (i = 0; !what && i < n; i++)
        if (((unsigned char)p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
            what = "the line contains a control character";
    if (!what)
        return 0;
    while (p < end && is_blank(*p))
        p++;
    for (k = p; p < end && is_key_char(*p); p++)
        ;
    kn = (size_t)(p - k);
    while (p < end && is_blank(*p))
        p++;
    if (kn == 0 || kn >= sizeof(key) || p == end || *p != '=')
        return syntax(r, what);
    memcpy(key, k, kn);
    key[kn] = '\0';
    return pps__error_set(PPS_ECONFIG, "%s:%zu: key '%s': %s", r->origin,
                          r->line, key, what);
}

int pps__conf_parse(const char *text, size_t len, const char *origin,
                    int allow_sections, pps__conf_fn fn, void *payload)
{
    reader r;
    size_t pos = 0;
    int err;

    memset(&r, 0, sizeof(r));
    r.origin = origin ? origin : "(text)";
    r.allow_sections = allow_sections;
    r.fn = fn;
    r.payload = payload;
    if (len > PPS_CONFIG_TEXT_MAX)
        return pps__error_set(PPS_ETOOBIG, "%s: longer than %d bytes", r.origin,
                              PPS_CONFIG_TEXT_MAX);
    /* A UTF-8 byte order mark, as some Windows editors write. */
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    while (pos < len) {
        const char *line = text + pos, *nl, *p, *end;
        size_t n;

        r.line++;
        nl = memchr(line, '\n', len - pos);
        n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (n + 1 > PPS_CONFIG_LINE_MAX)
            return pps__error_set(PPS_ETOOBIG, "%s:%zu: longer than %d bytes",
                                  r.origin, r.line, PPS_CONFIG_LINE_MAX);
        if (n && line[n - 1] == '\r') /* a file edited on Windows */
            n--;
        if ((err = check_line(&r, line, n)) < 0)
            return err;
        p = line;
        end = line + n;
        while (p < end && is_blank(*p))
            p++;
        if (p == end || *p == '#')
            continue;
        err = *p == '[' ? read_section(&r, p, end) : read_pair(&r, p, end);
        if (err < 0)
            return err;
    }
    return 0;
}
