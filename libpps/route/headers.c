/*
 * headers.c - the header block of a streamed message, read in bounded
 * memory.
 *
 * The reader keeps the raw bytes of the header block (up to its limit) so
 * the deliverer can write them unchanged, and beside them one unfolded
 * copy of each field value.  Lines are processed as soon as they are
 * complete, so a chunk may end anywhere: in a CRLF, in a fold, in the
 * blank line.  What it tolerates, and how:
 *
 *   bare LF          a line ends at LF; a CR just before it is dropped
 *   NUL bytes        kept in the raw block; 0x80 in the unfolded value
 *                    (never a string end, never a valid UTF-8 byte), and
 *                    the field is flagged
 *   8-bit bytes      kept as they are, flagged
 *   no blank line    finish() ends the block at the end of the message;
 *                    the last line counts even without a newline
 *   "To : x"         blanks before the colon are dropped (RFC 5322 4.5)
 *   "From x" lines,  lines without a colon are skipped; the block goes on
 *   other junk       (fetchmail and Dovecot do the same)
 *   too big          past the limit the block ends; the message goes on
 *                    as "body", and truncated() says so
 */
#include <string.h>

#include "pps/route.h"
#include "../core/internal.h"

/* The first allocation of the raw buffer: a typical header block fits. */
#define RAW_INITIAL 4096

/* Below this a limit is silly: even a minimal header block needs more. */
#define LIMIT_MIN 1024

typedef struct field {
    size_t name_off, name_len;   /* in raw */
    size_t value_off, value_len; /* in values */
    unsigned int flags;
} field;

struct pps_header_reader {
    size_t limit;
    char *raw; /* the header block as received */
    size_t raw_len, raw_cap;
    char *values; /* unfolded values, one after another */
    size_t values_len, values_cap;
    field *fields;
    size_t field_count, field_cap;
    size_t line_start; /* offset in raw of the first unprocessed line */
    size_t scan_pos;   /* where the search for its LF resumes */
    int failed;        /* an allocation failed: the reader is unusable */
    int field_open;    /* the last field may still get continuation lines */
    int done, truncated;
};

/* Grow *buf to hold `need` bytes, doubling, never past `cap_max`. */
static int grow(char **buf, size_t *cap, size_t need, size_t cap_max)
{
    size_t n = *cap ? *cap : RAW_INITIAL;
    char *p;

    if (need <= *cap)
        return 0;
    while (n < need)
        n = n > cap_max / 2 ? cap_max : n * 2;
    if (n < need)
        n = need;
    if (!(p = pps__realloc(*buf, n)))
        return pps__error_oom();
    *buf = p;
    *cap = n;
    return 0;
}

int pps_header_reader_new(pps_header_reader **out, size_t limit)
{
    pps_header_reader *r;

    if (!out)
        return pps__error_set(PPS_EINVAL, "pps_header_reader_new: no out");
    *out = NULL;
    if (limit == 0)
        limit = PPS_HEADER_LIMIT_DEFAULT;
    if (limit < LIMIT_MIN)
        limit = LIMIT_MIN;
    if (!(r = pps__calloc(1, sizeof(*r))))
        return pps__error_oom();
    r->limit = limit;
    *out = r;
    return 0;
}

void pps_header_reader_free(pps_header_reader *r)
{
    if (!r)
        return;
    pps__free(r->raw);
    pps__free(r->values);
    pps__free(r->fields);
    pps__free(r);
}

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* Append line bytes to the open field's value: NUL becomes 0x80. */
static int append_value(pps_header_reader *r, const char *s, size_t len)
{
    field *f = &r->fields[r->field_count - 1];
    int err;
    size_t i;

    if (len == 0)
        return 0;
    if ((err = grow(&r->values, &r->values_cap, r->values_len + len,
                    (size_t)-1)) < 0)
        return err;
    memcpy(r->values + r->values_len, s, len);
    if (memchr(s, '\0', len)) {
        for (i = 0; i < len; i++)
            if (r->values[r->values_len + i] == '\0')
                r->values[r->values_len + i] = (char)0x80;
        f->flags |= PPS_HEADER_FIELD_NUL;
    }
    if (!(f->flags & PPS_HEADER_FIELD_8BIT)) {
        unsigned char any = 0; /* a branch-free loop the compiler vectorises */
        for (i = 0; i < len; i++)
            any |= (unsigned char)s[i];
        if (any & 0x80)
            f->flags |= PPS_HEADER_FIELD_8BIT;
    }
    r->values_len += len;
    f->value_len += len;
    return 0;
}

static void close_field(pps_header_reader *r)
{
    field *f;

    if (!r->field_open)
        return;
    f = &r->fields[r->field_count - 1];
    while (f->value_len > 0 &&
           is_wsp(r->values[f->value_off + f->value_len - 1]))
        f->value_len--;
    r->values_len = f->value_off + f->value_len;
    r->field_open = 0;
}

static int open_field(pps_header_reader *r, size_t line, size_t colon,
                      size_t end)
{
    size_t name_end = colon, value = colon + 1, i;
    unsigned int flags = 0;
    field *f;

    while (name_end > line && is_wsp(r->raw[name_end - 1])) {
        name_end--;
        flags = PPS_HEADER_FIELD_SPACE_BEFORE_COLON;
    }
    if (name_end == line)
        return 0; /* ": value" has no name: skipped */
    for (i = line; i < name_end; i++) {
        unsigned char c = (unsigned char)r->raw[i];
        if (c <= 0x20 || c >= 0x7f) /* RFC 5322 2.2 ftext: "From x 03:05" */
            return 0;
    }
    if (!(f = pps__grow(r->fields, r->field_count, &r->field_cap, sizeof(*f),
                        32)))
        return pps__error_oom();
    r->fields = f;
    f = &r->fields[r->field_count++];
    f->name_off = line;
    f->name_len = name_end - line;
    f->value_off = r->values_len;
    f->value_len = 0;
    f->flags = flags;
    r->field_open = 1;
    while (value < end && is_wsp(r->raw[value]))
        value++;
    return append_value(r, r->raw + value, end - value);
}

/* One line of raw[start, end), without its LF; returns 1 at the blank
 * line that ends the block. */
static int process_line(pps_header_reader *r, size_t start, size_t end)
{
    const char *colon;

    if (end > start && r->raw[end - 1] == '\r')
        end--;
    if (end == start) {
        close_field(r);
        return 1;
    }
    if (is_wsp(r->raw[start])) /* a fold: RFC 5322 2.2.3 unfolding */
        return r->field_open ? append_value(r, r->raw + start, end - start) : 0;
    close_field(r);
    colon = memchr(r->raw + start, ':', end - start);
    if (!colon)
        return 0; /* "From x", junk: skipped */
    return open_field(r, start, (size_t)(colon - r->raw), end);
}

/* Process every complete line; returns 1 when the blank line was seen. */
static int scan_lines(pps_header_reader *r)
{
    for (;;) {
        const char *nl;
        size_t end;
        int rc;

        if (r->scan_pos >= r->raw_len)
            return 0;
        nl = memchr(r->raw + r->scan_pos, '\n', r->raw_len - r->scan_pos);
        if (!nl) { /* a long line fed in small chunks is scanned once */
            r->scan_pos = r->raw_len;
            return 0;
        }
        end = (size_t)(nl - r->raw);
        rc = process_line(r, r->line_start, end);
        r->line_start = r->scan_pos = end + 1;
        if (rc != 0)
            return rc;
    }
}

/* The block ends without a blank line (limit, end of message): the last
 * line counts even without its newline. */
static int end_block(pps_header_reader *r)
{
    int err = 0;

    if (r->line_start < r->raw_len)
        err = process_line(r, r->line_start, r->raw_len);
    r->line_start = r->scan_pos = r->raw_len;
    close_field(r);
    r->done = 1;
    return err < 0 ? err : 0;
}

int pps_header_reader_feed(pps_header_reader *r, const void *data, size_t len,
                           size_t *used)
{
    size_t room, take, old_len;
    int rc;

    if (used)
        *used = 0;
    if (!r || !used || (!data && len > 0))
        return pps__error_set(PPS_EINVAL, "pps_header_reader_feed: bad "
                                          "argument");
    if (r->failed)
        return pps__error_set(r->failed, "pps_header_reader_feed: the reader "
                                         "failed before; free it");
    if (r->done)
        return 1;
    room = r->limit - r->raw_len;
    if (room == 0 && len > 0) { /* one byte past the limit: it is too big */
        r->truncated = 1;
        if ((rc = end_block(r)) < 0)
            return r->failed = rc;
        return 1;
    }
    take = len < room ? len : room;
    if ((rc = grow(&r->raw, &r->raw_cap, r->raw_len + take, r->limit)) < 0)
        return rc;
    old_len = r->raw_len;
    if (take)
        memcpy(r->raw + r->raw_len, data, take);
    r->raw_len += take;

    if ((rc = scan_lines(r)) < 0)
        return r->failed = rc;
    if (rc == 1) {
        r->done = 1;
        r->raw_len = r->line_start; /* the rest is body: not ours */
        *used = r->raw_len - old_len;
        return 1;
    }
    *used = take;
    if (take < len) {
        r->truncated = 1;
        if ((rc = end_block(r)) < 0)
            return r->failed = rc;
        return 1;
    }
    return 0;
}

int pps_header_reader_finish(pps_header_reader *r)
{
    if (!r)
        return pps__error_set(PPS_EINVAL, "pps_header_reader_finish: no "
                                          "reader");
    if (r->failed)
        return pps__error_set(r->failed, "pps_header_reader_finish: the "
                                         "reader failed before; free it");
    if (r->done)
        return 0;
    return r->failed = end_block(r);
}

int pps_header_reader_is_done(const pps_header_reader *r)
{
    return r ? r->done : 0;
}

int pps_header_reader_truncated(const pps_header_reader *r)
{
    return r ? r->truncated : 0;
}

const char *pps_header_reader_raw(const pps_header_reader *r, size_t *len)
{
    if (len)
        *len = r ? r->raw_len : 0;
    return r && r->raw ? r->raw : "";
}

size_t pps_header_reader_field_count(const pps_header_reader *r)
{
    return r ? r->field_count : 0;
}

int pps_header_reader_field(pps_header_field *out, const pps_header_reader *r,
                            size_t index)
{
    const field *f;

    if (!out || !r)
        return pps__error_set(PPS_EINVAL, "pps_header_reader_field: bad "
                                          "argument");
    if (index >= r->field_count)
        return pps__error_set(PPS_ENOTFOUND,
                              "pps_header_reader_field: no field %zu (the "
                              "block has %zu)",
                              index, r->field_count);
    f = &r->fields[index];
    out->name = r->raw + f->name_off;
    out->name_len = f->name_len;
    out->value = r->values ? r->values + f->value_off : "";
    out->value_len = f->value_len;
    out->flags = f->flags;
    return 0;
}

int pps_header_reader_find(pps_header_field *out, const pps_header_reader *r,
                           const char *name, size_t *pos)
{
    size_t i, name_len;

    if (!out || !r || !name || !pos)
        return pps__error_set(PPS_EINVAL, "pps_header_reader_find: bad "
                                          "argument");
    name_len = strlen(name);
    for (i = *pos; i < r->field_count; i++) {
        const field *f = &r->fields[i];
        if (f->name_len == name_len &&
            pps__ascii_strncasecmp(r->raw + f->name_off, name, name_len) == 0) {
            *pos = i + 1;
            return pps_header_reader_field(out, r, i) == 0 ? 1 : PPS_ERROR;
        }
    }
    *pos = r->field_count;
    return 0;
}
