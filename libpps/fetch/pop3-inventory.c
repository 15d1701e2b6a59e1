/*
 * pop3-inventory.c - what is in the maildrop: STAT, LIST and UIDL.
 *
 * The three go out as one pipelined batch when the server allows it.
 * Nothing is allocated from what the server claims, only from lines it
 * actually sends: the list grows as LIST lines arrive (numbers strictly
 * rising, each within the STAT count), so a server that lies about its
 * count cannot make us allocate for it.  UIDL lines are checked against
 * RFC 1939 7: a bad unique-id is flagged (uid NULL), not fatal, and so is
 * a unique-id that occurs twice - the caller decides what to do with
 * messages it cannot track by UID (design.md: fall back, documented).
 */
#include <stdlib.h>
#include <string.h>

#include "pop3.h"

typedef struct inventory {
    pps_message_list *list;
    size_t capacity;
    unsigned long long count; /* from STAT */
} inventory;

static int queue(pps_session *s, size_t i, void *ctx)
{
    static const pps__pop3_cmd order[] = {PPS__CMD_STAT, PPS__CMD_LIST,
                                          PPS__CMD_UIDL};
    (void)ctx;
    return pps__pop3_queue(s, order[i], NULL, NULL);
}

static int parse_stat(pps_session *s, inventory *inv)
{
    const char *p = s->line + s->text_off;
    const char *end = s->line + s->line_len;
    unsigned long long octets;

    if (pps__pop3_parse_uint(&p, end, ~0ull, &inv->count) < 0 || p >= end ||
        *p++ != ' ' || pps__pop3_parse_uint(&p, end, ~0ull, &octets) < 0 ||
        (p < end && *p != ' '))
        return pps__pop3_bad_line(s, PPS__CMD_STAT, "is not \"+OK n size\"");
    if (inv->count > PPS_SESSION_MESSAGES_MAX)
        return pps__error_set(
            PPS_ETOOBIG, "%s reports %llu messages; the limit is %u",
            s->addr.host, inv->count, PPS_SESSION_MESSAGES_MAX);
    return 0;
}

static int add_entry(pps_session *s, inventory *inv, unsigned long long n,
                     unsigned long long size)
{
    pps_message_list *l = inv->list;

    if (l->count > 0 && n <= l->entries[l->count - 1].number)
        return pps__pop3_bad_line(s, PPS__CMD_LIST,
                                  "repeats or goes back to a message number");
    if (l->count == inv->capacity) {
        size_t cap = inv->capacity ? inv->capacity * 2 : 64;
        pps_message_entry *e =
            pps__realloc(l->entries, cap * sizeof(pps_message_entry));
        if (!e)
            return pps__error_oom();
        l->entries = e;
        inv->capacity = cap;
    }
    l->entries[l->count].number = (unsigned int)n;
    l->entries[l->count].size = size;
    l->entries[l->count].uid = NULL;
    l->entries[l->count].flags = 0;
    l->count++;
    return 0;
}

static int read_list(pps_session *s, inventory *inv)
{
    const char *text;
    size_t len;
    int r;

    while ((r = pps__pop3_read_multi(s, PPS__CMD_LIST, &text, &len)) == 1) {
        const char *p = text, *end = text + len;
        unsigned long long n, size;
        int err;
        if (pps__pop3_parse_uint(&p, end, ~0ull, &n) < 0 || p >= end ||
            *p++ != ' ' || pps__pop3_parse_uint(&p, end, ~0ull, &size) < 0 ||
            (p < end && *p != ' '))
            return pps__pop3_bad_line(s, PPS__CMD_LIST, "is not \"n size\"");
        if (n == 0 || n > inv->count)
            return pps__pop3_bad_line(s, PPS__CMD_LIST,
                                      "names a message number out of range");
        if ((err = add_entry(s, inv, n, size)) < 0)
            return err;
    }
    return r;
}

static pps_message_entry *find(inventory *inv, unsigned long long n)
{
    size_t lo = 0, hi = inv->list->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        pps_message_entry *e = &inv->list->entries[mid];
        if (e->number == n)
            return e;
        if (e->number < n)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int uid_valid(const char *uid, size_t len)
{
    size_t i;

    if (len == 0 || len > PPS__POP3_UID_MAX)
        return 0;
    for (i = 0; i < len; i++)
        if ((unsigned char)uid[i] < 0x21 || (unsigned char)uid[i] > 0x7e)
            return 0;
    return 1;
}

static int read_uidl(pps_session *s, inventory *inv)
{
    const char *text;
    size_t len;
    int r;

    while ((r = pps__pop3_read_multi(s, PPS__CMD_UIDL, &text, &len)) == 1) {
        const char *p = text, *end = text + len;
        unsigned long long n;
        pps_message_entry *e;
        if (pps__pop3_parse_uint(&p, end, ~0ull, &n) < 0 || p >= end ||
            *p++ != ' ')
            return pps__pop3_bad_line(s, PPS__CMD_UIDL, "is not \"n uid\"");
        if (!(e = find(inv, n)))
            return pps__pop3_bad_line(s, PPS__CMD_UIDL,
                                      "names a message LIST did not");
        if (e->uid || (e->flags & PPS_MESSAGE_BAD_UID))
            return pps__pop3_bad_line(s, PPS__CMD_UIDL,
                                      "repeats a message number");
        if (!uid_valid(p, (size_t)(end - p))) {
            char quoted[100];
            pps__quote(quoted, sizeof(quoted), text, len);
            pps__log(PPS_LOG_WARN, s->log_context,
                     "pop3: %s: UIDL line breaks RFC 1939 7 (1-70 printable "
                     "characters): %s",
                     s->addr.host, quoted);
            e->flags |= PPS_MESSAGE_BAD_UID;
            continue;
        }
        if (!(e->uid = pps__strndup(p, (size_t)(end - p))))
            return pps__error_oom();
    }
    return r;
}

static int reply(pps_session *s, size_t i, int draining, void *ctx)
{
    inventory *inv = ctx;
    int err;

    if ((err = pps__pop3_read_status(s, i == 0   ? PPS__CMD_STAT
                                        : i == 1 ? PPS__CMD_LIST
                                                 : PPS__CMD_UIDL)) < 0)
        return err;
    if (i == 0) {
        if (draining)
            return 0;
        if (s->status != PPS__POP3_OK)
            return pps__pop3_refused(s, PPS__CMD_STAT, NULL);
        return parse_stat(s, inv);
    }
    if (s->status != PPS__POP3_OK) {
        /* No UIDL (an optional command): every message gets NO_UID. */
        if (i == 2 || draining)
            return 0;
        return pps__pop3_refused(s, PPS__CMD_LIST, NULL);
    }
    if (draining)
        return pps__pop3_skip_multi(s, i == 1 ? PPS__CMD_LIST : PPS__CMD_UIDL);
    return i == 1 ? read_list(s, inv) : read_uidl(s, inv);
}

static int by_uid(const void *a, const void *b)
{
    const pps_message_entry *x = *(const pps_message_entry *const *)a;
    const pps_message_entry *y = *(const pps_message_entry *const *)b;

    return strcmp(x->uid, y->uid);
}

/* Flag UIDs that occur more than once (sorted copy of pointers). */
static int mark_duplicates(pps_message_list *l)
{
    pps_message_entry **sorted;
    size_t i, n = 0;

    for (i = 0; i < l->count; i++)
        if (!l->entries[i].uid)
            l->entries[i].flags |= PPS_MESSAGE_NO_UID;
    if (l->count < 2)
        return 0;
    if (!(sorted = pps__malloc(l->count * sizeof(*sorted))))
        return pps__error_oom();
    for (i = 0; i < l->count; i++)
        if (l->entries[i].uid)
            sorted[n++] = &l->entries[i];
    qsort(sorted, n, sizeof(*sorted), by_uid);
    for (i = 1; i < n; i++) {
        if (strcmp(sorted[i - 1]->uid, sorted[i]->uid) == 0) {
            sorted[i - 1]->flags |= PPS_MESSAGE_DUP_UID;
            sorted[i]->flags |= PPS_MESSAGE_DUP_UID;
            l->has_duplicate_uids = 1;
        }
    }
    pps__free(sorted);
    return 0;
}

void pps_message_list_free(pps_message_list *list)
{
    size_t i;

    if (!list)
        return;
    for (i = 0; i < list->count; i++)
        pps__free((char *)list->entries[i].uid);
    pps__free(list->entries);
    pps__free(list);
}

int pps_session_inventory(pps_message_list **out, pps_session *s)
{
    inventory inv = {NULL, 0, 0};
    pps__pop3_batch batch = {PPS__CMD_LIST, 3, queue, reply, &inv};
    int err;

    if (!out)
        return pps__error_set(PPS_EINVAL, "pps_session_inventory: out is "
                                          "NULL");
    *out = NULL;
    if ((err = pps__pop3_enter(s, "pps_session_inventory",
                               PPS__POP3_TRANSACTION)) < 0)
        return err;
    if (!(inv.list = pps__calloc(1, sizeof(*inv.list))))
        return pps__error_oom();
    if ((err = pps__pop3_run(s, &batch)) == 0)
        err = mark_duplicates(inv.list);
    if (err < 0) {
        pps_message_list_free(inv.list);
        return pps__pop3_leave(s, err);
    }
    if (inv.list->has_duplicate_uids)
        pps__log(PPS_LOG_WARN, s->log_context,
                 "pop3: %s gives the same UIDL to several messages",
                 s->addr.host);
    *out = inv.list;
    return 0;
}
