/*
 * test-etpan.c - differential test against libetpan 1.9.4's address list
 * parser (mailimf_address_list_parse), on the To and Cc fields of the
 * case table.  libetpan is linked into this test only, never into libpps.
 *
 * For each field, both parsers read the unfolded value:
 *  - when both accept it completely (libetpan: no error and the whole
 *    value consumed; ours: no item marked unusable), the address sets
 *    must be equal, unless the case explains why not ("etpan:" line);
 *  - when libetpan refuses a field that gives us addresses, the case must
 *    explain it (these are the failures listed in design.md: the field
 *    would be lost);
 *  - when we refuse and libetpan accepts, the difference is printed and
 *    must also be explained (so far: none).
 * Inputs libetpan cannot survive are never handed to it: comments nested
 * past COMMENT_DEPTH_CAP overflow its recursive parser, and Resent-Bcc is
 * never one of the fields we give it (its "Resent-Bcc: ;" crash is in
 * mailimf_fields_parse, which we do not call).
 *
 *     test-route-etpan CASES_FILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libetpan/libetpan.h>

#include "pps/route.h"
#include "route-cases.h"
#include "route/address.h"

/* libetpan recurses once per nesting level of a comment. */
#define COMMENT_DEPTH_CAP 32

#define SET_MAX  64
#define ADDR_MAX 600

typedef struct addr_set {
    char items[SET_MAX][ADDR_MAX];
    size_t count;
} addr_set;

static void set_add(addr_set *s, const char *a, size_t len)
{
    size_t i;

    if (s->count == SET_MAX)
        return;
    if (len >= ADDR_MAX)
        len = ADDR_MAX - 1;
    for (i = 0; i < len; i++) {
        char c = a[i];
        s->items[s->count][i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    s->items[s->count][len] = '\0';
    for (i = 0; i < s->count; i++)
        if (strcmp(s->items[i], s->items[s->count]) == 0)
            return;
    s->count++;
}

static int set_equal(const addr_set *a, const addr_set *b)
{
    size_t i, j;

    if (a->count != b->count)
        return 0;
    for (i = 0; i < a->count; i++) {
        for (j = 0; j < b->count; j++)
            if (strcmp(a->items[i], b->items[j]) == 0)
                break;
        if (j == b->count)
            return 0;
    }
    return 1;
}

static void set_print(const char *who, const addr_set *s)
{
    size_t i;

    printf("    %s:", who);
    for (i = 0; i < s->count; i++)
        printf(" [%s]", s->items[i]);
    printf("\n");
}

static size_t comment_depth(const char *v, size_t len)
{
    size_t i, depth = 0, max = 0;

    for (i = 0; i < len; i++) {
        if (v[i] == '(' && ++depth > max)
            max = depth;
        else if (v[i] == ')' && depth > 0)
            depth--;
    }
    return max;
}

/* 1 when we read every item of the value as an address. */
static int ours(addr_set *s, const char *v, size_t len)
{
    pps__addr_parser p;
    pps__addr a;
    int complete = 1;
    char buf[ADDR_MAX];

    memset(s, 0, sizeof(*s));
    pps__addr_parser_init(&p, v, len);
    while (pps__addr_parser_next(&p, &a) == 1) {
        if (a.flags & PPS__ADDR_UNUSABLE) {
            complete = 0;
            continue;
        }
        snprintf(buf, sizeof(buf), "%.*s@%.*s", (int)a.local_len, a.local,
                 (int)a.domain_len, a.domain);
        set_add(s, buf, strlen(buf));
    }
    pps__addr_parser_deinit(&p);
    return complete;
}

/* libetpan keeps the quotes of a quoted local part; "alice"@x and
 * alice@x are one mailbox (RFC 5321 2.4), so drop them before comparing. */
static void add_mailbox(addr_set *s, const struct mailimf_mailbox *mb)
{
    const char *spec, *at;
    char buf[ADDR_MAX];

    if (!mb || !(spec = mb->mb_addr_spec))
        return;
    at = strrchr(spec, '@');
    if (spec[0] == '"' && at && at > spec + 1 && at[-1] == '"') {
        snprintf(buf, sizeof(buf), "%.*s%s", (int)(at - spec - 2), spec + 1,
                 at);
        spec = buf;
    }
    set_add(s, spec, strlen(spec));
}

/* 1 when libetpan accepted the whole value. */
static int etpan(addr_set *s, const char *v, size_t len)
{
    struct mailimf_address_list *list = NULL;
    size_t index = 0;
    clistiter *it, *jt;
    int r;

    memset(s, 0, sizeof(*s));
    r = mailimf_address_list_parse(v, len, &index, &list);
    if (r != MAILIMF_NO_ERROR)
        return 0;
    for (it = clist_begin(list->ad_list); it; it = clist_next(it)) {
        struct mailimf_address *ad = clist_content(it);
        if (ad->ad_type == MAILIMF_ADDRESS_MAILBOX) {
            add_mailbox(s, ad->ad_data.ad_mailbox);
        } else if (ad->ad_data.ad_group && ad->ad_data.ad_group->grp_mb_list) {
            for (jt = clist_begin(ad->ad_data.ad_group->grp_mb_list->mb_list);
                 jt; jt = clist_next(jt))
                add_mailbox(s, clist_content(jt));
        }
    }
    mailimf_address_list_free(list);
    while (index < len && (v[index] == ' ' || v[index] == '\t'))
        index++;
    return index == len;
}

int main(int argc, char **argv)
{
    route_cases cases;
    size_t i, fields = 0, same = 0, etpan_refused = 0, we_refused = 0,
              differ = 0, skipped = 0, unexplained = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CASES_FILE\n", argv[0]);
        return 2;
    }
    if (route_cases_load(&cases, argv[1]) < 0)
        return 1;
    for (i = 0; i < cases.count; i++) {
        const route_case *c = &cases.items[i];
        pps_header_reader *hr;
        pps_header_field f;
        size_t used, k;

        if (pps_header_reader_new(&hr, 0) < 0 ||
            pps_header_reader_feed(hr, c->message, c->message_len, &used) < 0 ||
            pps_header_reader_finish(hr) < 0)
            return 1;
        for (k = 0; pps_header_reader_field(&f, hr, k) == 0; k++) {
            addr_set a, b;
            int ok_ours, ok_etpan;
            char *v;

            if (!((f.name_len == 2 && (strncasecmp(f.name, "To", 2) == 0 ||
                                       strncasecmp(f.name, "Cc", 2) == 0))))
                continue;
            fields++;
            if (comment_depth(f.value, f.value_len) > COMMENT_DEPTH_CAP ||
                memchr(f.value, 0x80, f.value_len)) { /* NUL in the input */
                skipped++;
                continue;
            }
            /* an exact-size copy: libetpan must not read past it either */
            v = malloc(f.value_len ? f.value_len : 1);
            memcpy(v, f.value, f.value_len);
            ok_ours = ours(&a, v, f.value_len);
            ok_etpan = etpan(&b, v, f.value_len);
            free(v);
            if (ok_ours && ok_etpan && set_equal(&a, &b)) {
                same++;
                continue;
            }
            if (!ok_etpan && (!ok_ours || a.count == 0) &&
                b.count == 0) { /* both find nothing usable */
                same++;
                continue;
            }
            if (!ok_etpan)
                etpan_refused++;
            else if (!ok_ours)
                we_refused++;
            else
                differ++;
            printf("%s \"%s\" %.*s: %.*s\n",
                   !ok_etpan  ? "libetpan refuses or stops early in"
                   : !ok_ours ? "we refuse part of"
                              : "different answers for",
                   c->name, (int)f.name_len, f.name, (int)f.value_len, f.value);
            set_print("libpps  ", &a);
            set_print("libetpan", &b);
            if (c->etpan[0]) {
                printf("    explained: %s\n", c->etpan);
            } else if (!ok_ours && ok_etpan && set_equal(&a, &b)) {
                /* we marked a piece libetpan ignores silently, and both
                 * route the same addresses */
                printf("    explained: same addresses; we also report an "
                       "item without an address\n");
            } else {
                printf("    NOT EXPLAINED: add an \"etpan:\" line to the "
                       "case\n");
                unexplained++;
            }
        }
        pps_header_reader_free(hr);
    }
    printf("%zu To/Cc fields: %zu same, %zu refused by libetpan, %zu "
           "partly refused by us, %zu different, %zu not given to libetpan "
           "(deep comments, NUL); %zu unexplained\n",
           fields, same, etpan_refused, we_refused, differ, skipped,
           unexplained);
    route_cases_free(&cases);
    return unexplained == 0 ? 0 : 1;
}
