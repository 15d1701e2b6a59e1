/*
 * address.c - RFC 5322 address lists, read the tolerant way.
 *
 * Two layers.  A tokenizer turns the unfolded field value into words
 * (atoms, quoted strings, domain literals, RFC 2047 encoded words) and the
 * specials < > @ , ; : . ; blanks and comments only set a "gap" mark on
 * the next token.  Comments nest, so they are skipped with a depth
 * counter, never by recursion.
 *
 * Above it, one item at a time, a small state machine that knows the
 * shapes mail really arrives in (RFC 5322 3.4 and the obsolete syntax of
 * 4.4, plus what broken senders write):
 *
 *     Name <local@domain>          angle form; the name is ignored
 *     local@domain (comment)       bare form
 *     team: a@x, b@y;              a group; "undisclosed-recipients:;"
 *     <@relay1,@relay2:user@host>  obsolete route, dropped
 *     a@x,,b@y   a@x b@y           empty elements, missing commas
 *     user @ host . com            blanks around '@' and '.'
 *     Smith, John <j@x>            unquoted comma in a name: "Smith" alone
 *                                  comes back marked "no address"
 *     kate@x <kate@y>              an address used as a display name: the
 *                                  first comes back marked, never routed
 *
 * Every path consumes at least one token, and a peek is only ever
 * followed by its take, so the work is linear in the input.
 */
#include <string.h>

#include "address.h"

enum tok_type { T_END, T_WORD, T_QUOTED, T_LITERAL, T_ENCODED, T_SPECIAL };

typedef struct tok {
    enum tok_type type;
    char c; /* the special character, for T_SPECIAL */
    size_t start, end;
    int gap; /* blanks or a comment came before it */
} tok;

/* What the local part candidate ends with. */
enum { L_EMPTY, L_WORD, L_DOT, L_JUNK };

static int is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_special(unsigned char c)
{
    return c == '<' || c == '>' || c == '@' || c == ',' || c == ';' ||
           c == ':' || c == '.';
}

/* Ends an atom.  '\\', ']' and 8-bit bytes are atom text here: they are
 * not legal there, but splitting on them would only lose addresses. */
static int ends_atom(unsigned char c)
{
    return is_blank(c) || is_special(c) || c == '(' || c == ')' || c == '"' ||
           c == '[';
}

/* p->pos is at '('; skip the comment and any nested ones. */
static void skip_comment(pps__addr_parser *p)
{
    size_t depth = 0;

    while (p->pos < p->len) {
        unsigned char c = (unsigned char)p->data[p->pos++];
        if (c == '\\') {
            if (p->pos < p->len)
                p->pos++;
        } else if (c == '(') {
            if (++depth > PPS__ADDR_COMMENT_DEPTH_MAX)
                p->flags |= PPS__ADDR_DEEP_COMMENT;
        } else if (c == ')') {
            if (--depth == 0)
                return;
        }
    }
}

/* "=?charset?encoding?text?=" at p->pos, no blanks, RFC 2047 2: returns
 * its end, or 0 when it is not one. */
static size_t encoded_word_end(const pps__addr_parser *p)
{
    size_t start = p->pos, limit = start + PPS__ADDR_ENCODED_WORD_MAX;
    size_t q = start + 2, part;
    int i;

    if (limit > p->len)
        limit = p->len;
    for (i = 0; i < 2; i++) { /* charset, then encoding */
        part = q;
        while (q < limit && p->data[q] != '?' &&
               !is_blank((unsigned char)p->data[q]))
            q++;
        if (q >= limit || p->data[q] != '?' || q == part)
            return 0;
        q++;
    }
    while (q + 1 < limit && !(p->data[q] == '?' && p->data[q + 1] == '=')) {
        if (is_blank((unsigned char)p->data[q]))
            return 0;
        q++;
    }
    if (q + 1 >= limit || p->data[q] != '?' || p->data[q + 1] != '=')
        return 0;
    return q + 2;
}

static void next_token(pps__addr_parser *p, tok *t)
{
    t->gap = 0;
    for (;;) {
        unsigned char c;

        if (p->pos >= p->len) {
            t->type = T_END;
            t->start = t->end = p->len;
            return;
        }
        c = (unsigned char)p->data[p->pos];
        if (is_blank(c) || c == ')') { /* a stray ')' is noise */
            p->pos++;
        } else if (c == '(') {
            skip_comment(p);
        } else {
            break;
        }
        t->gap = 1;
    }

    t->start = p->pos;
    t->c = p->data[p->pos];
    if (t->c == '"' && !p->quote_to_end) {
        int closed = 0;
        t->type = T_QUOTED;
        for (p->pos++; p->pos < p->len; p->pos++) {
            if (p->data[p->pos] == '\\' && p->pos + 1 < p->len) {
                p->pos++;
            } else if (p->data[p->pos] == '"') {
                p->pos++;
                closed = 1;
                break;
            }
        }
        if (!closed) {
            /* '"Smith, John <j@x>': a quote that never closes is a
             * stray character, so the addresses after it survive.  Any
             * later quote would run to the end too (it lies inside this
             * one), so remember that instead of rescanning. */
            p->quote_to_end = 1;
            t->type = T_WORD;
            p->pos = t->start + 1;
        }
    } else if (t->c == '"') {
        t->type = T_WORD;
        p->pos++;
    } else if (t->c == '[') {
        t->type = T_LITERAL;
        while (p->pos < p->len && p->data[p->pos++] != ']')
            ;
    } else if (is_special((unsigned char)t->c)) {
        t->type = T_SPECIAL;
        p->pos++;
    } else {
        size_t end = 0;
        if (t->c == '=' && p->pos + 1 < p->len && p->data[p->pos + 1] == '?')
            end = encoded_word_end(p);
        if (end) {
            t->type = T_ENCODED;
            p->pos = end;
        } else {
            t->type = T_WORD;
            while (p->pos < p->len &&
                   !ends_atom((unsigned char)p->data[p->pos]))
                p->pos++;
        }
    }
    t->end = p->pos;
}

static void peek_token(pps__addr_parser *p, tok *t)
{
    size_t pos = p->pos;
    unsigned int flags = p->flags;

    next_token(p, t);
    p->pos = pos;
    p->flags = flags;
}

/* Take a token that belongs to the current item. */
static void take_token(pps__addr_parser *p, tok *t)
{
    next_token(p, t);
    if (t->type == T_END)
        return;
    if (p->item_start == (size_t)-1)
        p->item_start = t->start;
    p->item_end = t->end;
}

static int is_special_tok(const tok *t, char c)
{
    return t->type == T_SPECIAL && t->c == c;
}

static char lower(unsigned char c)
{
    return (char)((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
}

/* --- the local part candidate ------------------------------------------ */

static void local_reset(pps__addr_parser *p)
{
    p->local_len = 0;
    p->local_state = L_EMPTY;
    p->flags &= ~(unsigned int)(PPS__ADDR_QUOTED | PPS__ADDR_TOO_LONG);
}

static void local_put(pps__addr_parser *p, unsigned char c)
{
    if (p->local_len >= PPS__ADDR_LOCAL_MAX) {
        p->flags |= PPS__ADDR_TOO_LONG;
        return;
    }
    if (c >= 0x80)
        p->flags |= PPS__ADDR_8BIT;
    p->local[p->local_len++] = lower(c);
}

/* A word or quoted string.  Two words without a dot between them are a
 * phrase ("John Smith john@x"): only the last one can be the local part. */
static void local_word(pps__addr_parser *p, const tok *t)
{
    size_t i;

    if (p->local_state == L_WORD || p->local_state == L_JUNK)
        local_reset(p);
    if (p->local_state == L_DOT && t->gap)
        p->flags |= PPS__ADDR_OBSOLETE;
    if (t->type == T_QUOTED) {
        size_t end = t->end;
        if (end - t->start >= 2 && p->data[end - 1] == '"')
            end--;
        p->flags |= PPS__ADDR_QUOTED;
        for (i = t->start + 1; i < end; i++) {
            unsigned char c = (unsigned char)p->data[i];
            if (c == '\\' && i + 1 < end)
                c = (unsigned char)p->data[++i];
            else if (c == '\r' || c == '\n')
                continue;
            local_put(p, c);
        }
    } else {
        for (i = t->start; i < t->end; i++)
            local_put(p, (unsigned char)p->data[i]);
    }
    p->local_state = L_WORD;
}

static void local_dot(pps__addr_parser *p, const tok *t)
{
    if (p->local_state == L_JUNK)
        local_reset(p);
    if (p->local_state != L_WORD || t->gap)
        p->flags |= PPS__ADDR_OBSOLETE; /* "a..b", ".a", "a . b" */
    local_put(p, '.');
    p->local_state = L_DOT;
}

/* --- the domain ---------------------------------------------------------- */

static void domain_put(pps__addr_parser *p, const tok *t)
{
    size_t i;

    for (i = t->start; i < t->end; i++) {
        unsigned char c = (unsigned char)p->data[i];
        if (p->domain_len >= PPS__ADDR_DOMAIN_MAX) {
            p->flags |= PPS__ADDR_TOO_LONG;
            return;
        }
        if (c >= 0x80)
            p->flags |= PPS__ADDR_8BIT;
        p->domain[p->domain_len++] = lower(c);
    }
}

/* After '@': a word or literal, then ". word" as long as they come. */
static void parse_domain(pps__addr_parser *p)
{
    tok t;

    p->domain_len = 0;
    peek_token(p, &t);
    if (t.type != T_WORD && t.type != T_LITERAL)
        return;
    take_token(p, &t);
    if (t.gap)
        p->flags |= PPS__ADDR_OBSOLETE;
    domain_put(p, &t);
    for (;;) {
        peek_token(p, &t);
        if (!is_special_tok(&t, '.'))
            return;
        take_token(p, &t);
        if (t.gap)
            p->flags |= PPS__ADDR_OBSOLETE;
        peek_token(p, &t);
        if (t.type != T_WORD) {
            p->flags |= PPS__ADDR_OBSOLETE; /* trailing dot: dropped */
            return;
        }
        take_token(p, &t);
        if (t.gap)
            p->flags |= PPS__ADDR_OBSOLETE;
        if (p->domain_len < PPS__ADDR_DOMAIN_MAX)
            p->domain[p->domain_len++] = '.';
        else
            p->flags |= PPS__ADDR_TOO_LONG;
        domain_put(p, &t);
    }
}

/* --- items --------------------------------------------------------------- */

static void item_reset(pps__addr_parser *p)
{
    p->flags = p->in_group ? PPS__ADDR_IN_GROUP : 0;
    p->local_len = 0;
    p->local_state = L_EMPTY;
    p->domain_len = 0;
    p->item_start = (size_t)-1;
    p->item_end = 0;
}

static int emit(pps__addr_parser *p, pps__addr *out)
{
    unsigned int flags = p->flags;
    const char *local = p->local;
    size_t local_len = p->local_len;

    if (p->local_state == L_DOT && local_len > 0) {
        local_len--; /* "john.@x" */
        flags |= PPS__ADDR_OBSOLETE;
    }
    if (flags & PPS__ADDR_QUOTED) { /* '"bob "@x': blanks are not a name */
        while (local_len > 0 && (*local == ' ' || *local == '\t')) {
            local++;
            local_len--;
        }
        while (local_len > 0 &&
               (local[local_len - 1] == ' ' || local[local_len - 1] == '\t'))
            local_len--;
    }
    if (local_len == 0 && !(flags & PPS__ADDR_UNUSABLE))
        flags |= PPS__ADDR_BAD;
    else if (p->domain_len == 0 && !(flags & PPS__ADDR_UNUSABLE))
        flags |= PPS__ADDR_NO_DOMAIN;
    if (p->domain_len > 0 && p->domain[p->domain_len - 1] == '.')
        p->domain_len--;

    out->local = local;
    out->local_len = local_len;
    out->domain = p->domain;
    out->domain_len = p->domain_len;
    if (p->item_start == (size_t)-1) {
        out->raw = p->data + p->pos;
        out->raw_len = 0;
    } else {
        out->raw = p->data + p->item_start;
        out->raw_len = p->item_end - p->item_start;
    }
    out->flags = flags;
    return 1;
}

/* Words that never met an address: "John", "Smith," */
static int emit_no_address(pps__addr_parser *p, pps__addr *out)
{
    p->flags |= PPS__ADDR_NO_ADDRESS;
    return emit(p, out);
}

/* A bare addr-spec: the '@' has just been taken. */
static int parse_bare(pps__addr_parser *p, pps__addr *out, const tok *at)
{
    size_t pos;
    tok t;

    if (at->gap)
        p->flags |= PPS__ADDR_OBSOLETE;
    if (p->local_state != L_WORD && p->local_state != L_DOT)
        p->local_len = 0;
    parse_domain(p);

    /* Followed by <...> before the next separator: it was a display
     * name ("kate@local <kate@other>") and must never be routed. */
    pos = p->pos;
    for (;;) {
        next_token(p, &t);
        if (t.type == T_END || is_special_tok(&t, ',') ||
            is_special_tok(&t, ';') || is_special_tok(&t, ':') ||
            is_special_tok(&t, '@'))
            break;
        if (is_special_tok(&t, '<')) {
            p->flags |= PPS__ADDR_DISPLAY_NAME;
            break;
        }
    }
    p->pos = pos;
    return emit(p, out);
}

/* "<" has just been taken: [route ":"] local "@" domain ">" */
static int parse_angle(pps__addr_parser *p, pps__addr *out)
{
    int have_domain = 0;
    tok t;

    local_reset(p); /* the display name is not an address */
    p->flags |= PPS__ADDR_ANGLE;

    peek_token(p, &t);
    if (is_special_tok(&t, '@')) { /* obs-route: "@a,@b:" */
        do {
            take_token(p, &t);
        } while (t.type != T_END && !is_special_tok(&t, ':') &&
                 !is_special_tok(&t, '>'));
        if (!is_special_tok(&t, ':')) {
            p->flags |= PPS__ADDR_BAD;
            return emit(p, out);
        }
        p->flags |= PPS__ADDR_ROUTE;
    }

    for (;;) {
        peek_token(p, &t);
        if (is_special_tok(&t, '<') && !have_domain &&
            p->local_state == L_EMPTY) { /* "<<a@b>>" */
            take_token(p, &t);
            p->flags |= PPS__ADDR_OBSOLETE;
            continue;
        }
        if (t.type == T_END || is_special_tok(&t, ',') ||
            is_special_tok(&t, ';') || is_special_tok(&t, '<')) {
            p->flags |= PPS__ADDR_OBSOLETE; /* no '>': take what we have */
            break;
        }
        take_token(p, &t);
        if (is_special_tok(&t, '>'))
            break;
        if (have_domain) { /* "<a@b junk>" */
            p->flags |= PPS__ADDR_OBSOLETE;
            continue;
        }
        if (t.type == T_WORD || t.type == T_QUOTED) {
            if (p->local_state == L_WORD)
                p->flags |= PPS__ADDR_OBSOLETE; /* "<john smith@x>" */
            local_word(p, &t);
        } else if (is_special_tok(&t, '.')) {
            local_dot(p, &t);
        } else if (is_special_tok(&t, '@')) {
            if (t.gap)
                p->flags |= PPS__ADDR_OBSOLETE;
            if (p->local_state != L_WORD && p->local_state != L_DOT)
                p->local_len = 0;
            parse_domain(p);
            have_domain = 1;
        } else { /* ':', encoded word, literal: not a local part */
            p->flags |= PPS__ADDR_OBSOLETE;
            local_reset(p);
            p->local_state = L_JUNK;
        }
    }
    if (!have_domain && p->local_len == 0)
        p->flags |= PPS__ADDR_NO_ADDRESS; /* "<>" */
    return emit(p, out);
}

void pps__addr_parser_init(pps__addr_parser *p, const char *data, size_t len)
{
    memset(p, 0, sizeof(*p));
    p->data = data;
    p->len = data ? len : 0;
    item_reset(p);
}

void pps__addr_parser_deinit(pps__addr_parser *p)
{
    p->data = NULL;
    p->len = p->pos = 0;
}

int pps__addr_parser_next(pps__addr_parser *p, pps__addr *out)
{
    int content = 0;
    tok t;

    item_reset(p);
    for (;;) {
        next_token(p, &t);
        if (t.type == T_END)
            return content ? emit_no_address(p, out) : 0;
        /* separators are not part of an item's text */
        if (!is_special_tok(&t, ',') && !is_special_tok(&t, ';') &&
            !is_special_tok(&t, ':')) {
            if (p->item_start == (size_t)-1)
                p->item_start = t.start;
            p->item_end = t.end;
        }
        if (t.type == T_SPECIAL) {
            switch (t.c) {
            case ',':
                if (content)
                    return emit_no_address(p, out);
                continue; /* empty list element */
            case ';':
                p->in_group = 0;
                if (content)
                    return emit_no_address(p, out);
                item_reset(p);
                continue;
            case ':':
                /* "team:" opens a group; a stray colon is noise */
                if (content)
                    p->in_group = 1;
                item_reset(p);
                content = 0;
                continue;
            case '<':
                return parse_angle(p, out);
            case '@':
                return parse_bare(p, out, &t);
            case '.':
                local_dot(p, &t);
                content = 1;
                continue;
            default: /* a stray '>' */
                continue;
            }
        }
        content = 1;
        if (t.type == T_WORD || t.type == T_QUOTED) {
            local_word(p, &t);
        } else { /* encoded word, literal: only ever a display name */
            local_reset(p);
            p->local_state = L_JUNK;
        }
    }
}
