/*
 * ledger.c - the meaning of the records: per-message and per-recipient
 * states in hash tables, the rules that keep invariants 1 and 2, and the
 * calls into the store that make each record durable.
 *
 * Every change goes the same way: check it is allowed, hand the record to
 * the store, then apply it to memory with the same function the loader
 * uses (apply()), so memory and store never tell different stories.  If
 * the store fails, or memory cannot follow a record that the store took,
 * the handle is poisoned: every later call fails with PPS_EIO until the
 * caller opens the ledger again, which reloads the truth from the store.
 */
#include <limits.h>
#include <string.h>

#include "core/internal.h"
#include "ledger-internal.h"

/* Recompact when the store holds more than twice what is needed, plus
 * this much slack so a small ledger is not rewritten on every open. */
#define COMPACT_SLACK 1024
/* Messages that vanished unfinished named one by one in the log. */
#define PRUNE_LOG_MAX 10

enum { MSG_COMPLETE = 1, MSG_DELE_SENT = 2, MSG_DELETED = 4 };

typedef struct rcpt {
    char *addr;
    pps_ledger_rcpt_state state;
    int code;
    time_t when;
} rcpt;

typedef struct msg {
    pps__map_node node; /* keyed by uid */
    char *uid;
    unsigned int flags;
    time_t completed;
    time_t dele_time;
    unsigned long mark; /* prune generation */
    size_t n, cap;
    rcpt *r;
} msg;

typedef struct seen_entry {
    pps__map_node node; /* keyed by "key\0rcpt" */
    char *kr;
    time_t when;
} seen_entry;

struct pps_ledger {
    const pps_ledger_store *store;
    void *mb;
    char *host, *user, *profile;
    int read_only;
    long window;
    pps__map msgs;
    pps__map seen;
    pps_ledger_status status;
    size_t on_disk;   /* records the store holds */
    size_t dele_sent; /* messages in MSG_DELE_SENT */
    unsigned long mark_gen;
    int dirty;      /* records that must be durable before DELE */
    int dirty_hint; /* records whose loss does no harm */
    int poisoned;
    pps__ledger_clock clock;
    void *clock_payload;
};

static time_t now(const pps_ledger *l)
{
    return l->clock ? l->clock(l->clock_payload) : time(NULL);
}

void pps__ledger_set_clock(pps_ledger *l, pps__ledger_clock clock,
                           void *payload)
{
    l->clock = clock;
    l->clock_payload = payload;
}

void pps_ledger_options_init(pps_ledger_options *opts)
{
    static const pps_ledger_options init = PPS_LEDGER_OPTIONS_INIT;
    if (opts)
        *opts = init;
}

void pps_ledger_status_init(pps_ledger_status *st)
{
    static const pps_ledger_status init = PPS_LEDGER_STATUS_INIT;
    if (st)
        *st = init;
}

void pps__ledger_host_normalize(char *host)
{
    size_t n = strlen(host);

    /* "Mail.Example.COM." and "mail.example.com" are one server. */
    if (n > 1 && host[n - 1] == '.')
        host[n - 1] = '\0';
    for (char *p = host; *p; p++)
        *p = (char)pps__ascii_tolower((unsigned char)*p);
}

/* --- memory ------------------------------------------------------------ */

static msg *msg_find(const pps_ledger *l, const char *uid)
{
    pps__map_node *n = pps__map_find(&l->msgs, uid, strlen(uid));
    return n ? (msg *)(void *)n : NULL;
}

static void msg_free(msg *m)
{
    for (size_t i = 0; i < m->n; i++)
        pps__free(m->r[i].addr);
    pps__free(m->r);
    pps__free(m->uid);
    pps__free(m);
}

static int msg_get(msg **out, pps_ledger *l, const char *uid)
{
    msg *m = msg_find(l, uid);
    int err;

    if (m) {
        *out = m;
        return 0;
    }
    if (!(m = pps__calloc(1, sizeof(*m))) || !(m->uid = pps__strdup(uid))) {
        pps__free(m);
        return pps__error_oom();
    }
    m->node.key = m->uid;
    m->node.keylen = strlen(uid);
    if ((err = pps__map_insert(&l->msgs, &m->node)) < 0) {
        msg_free(m);
        return err;
    }
    *out = m;
    return 0;
}

static rcpt *rcpt_find(const msg *m, const char *addr)
{
    for (size_t i = 0; i < m->n; i++) {
        if (!strcmp(m->r[i].addr, addr))
            return &m->r[i];
    }
    return NULL;
}

static int rcpt_get(rcpt **out, msg *m, const char *addr)
{
    rcpt *r = rcpt_find(m, addr);

    if (r) {
        *out = r;
        return 0;
    }
    if (m->n == PPS_LEDGER_RCPTS_PER_MESSAGE_MAX)
        return pps__error_set(PPS_ETOOBIG,
                              "ledger: message has more than %d recipients",
                              PPS_LEDGER_RCPTS_PER_MESSAGE_MAX);
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 2;
        rcpt *nr = pps__realloc(m->r, cap * sizeof(*nr));
        if (!nr)
            return pps__error_oom();
        m->r = nr;
        m->cap = cap;
    }
    r = &m->r[m->n];
    memset(r, 0, sizeof(*r));
    if (!(r->addr = pps__strdup(addr)))
        return pps__error_oom();
    m->n++;
    *out = r;
    return 0;
}

static void msg_drop(pps_ledger *l, msg *m)
{
    if (m->flags & MSG_DELE_SENT)
        l->dele_sent--;
    pps__map_remove(&l->msgs, &m->node);
    msg_free(m);
}

/* "key\0rcpt" as one allocation; *len counts both and the NUL between. */
static char *seen_key(const char *key, const char *addr, size_t *len)
{
    size_t a = strlen(key), b = strlen(addr);
    char *kr = pps__malloc(a + b + 2);

    if (kr) {
        memcpy(kr, key, a + 1);
        memcpy(kr + a + 1, addr, b + 1);
        *len = a + 1 + b;
    }
    return kr;
}

static seen_entry *seen_find(const pps_ledger *l, const char *key,
                             const char *addr)
{
    char buf[PPS_LEDGER_KEY_MAX + PPS_LEDGER_RCPT_MAX + 2];
    size_t a = strlen(key), b = strlen(addr);
    pps__map_node *n;

    if (a > PPS_LEDGER_KEY_MAX || b > PPS_LEDGER_RCPT_MAX)
        return NULL;
    memcpy(buf, key, a + 1);
    memcpy(buf + a + 1, addr, b + 1);
    n = pps__map_find(&l->seen, buf, a + 1 + b);
    return n ? (seen_entry *)(void *)n : NULL;
}

static int seen_put(pps_ledger *l, const char *key, const char *addr,
                    time_t when)
{
    seen_entry *s = seen_find(l, key, addr);
    int err;

    if (s) {
        if (when > s->when)
            s->when = when;
        return 0;
    }
    if (!(s = pps__calloc(1, sizeof(*s))) ||
        !(s->kr = seen_key(key, addr, &s->node.keylen))) {
        pps__free(s);
        return pps__error_oom();
    }
    s->node.key = s->kr;
    s->when = when;
    if ((err = pps__map_insert(&l->seen, &s->node)) < 0) {
        pps__free(s->kr);
        pps__free(s);
        return err;
    }
    return 0;
}

static void seen_drop(pps_ledger *l, seen_entry *s)
{
    pps__map_remove(&l->seen, &s->node);
    pps__free(s->kr);
    pps__free(s);
}

/*
 * Apply one record to memory: used by the loader and after every append.
 * Lenient by design: a record about a message memory does not hold (after
 * a damaged record was skipped) is applied as far as it makes sense.
 */
static int apply(pps_ledger *l, const pps_ledger_record *rec)
{
    msg *m = NULL;
    rcpt *r = NULL;
    int err;

    switch (rec->type) {
    case PPS_LEDGER_REC_INTENT:
    case PPS_LEDGER_REC_DELIVERED:
    case PPS_LEDGER_REC_FAILED:
        if ((err = msg_get(&m, l, rec->uid)) < 0 ||
            (err = rcpt_get(&r, m, rec->rcpt)) < 0)
            return err;
        if (!r)
            return PPS_ERROR;
        r->when = rec->time;
        r->code = 0;
        if (rec->type == PPS_LEDGER_REC_INTENT) {
            r->state = PPS_LEDGER_RCPT_IN_DOUBT;
        } else if (rec->type == PPS_LEDGER_REC_DELIVERED) {
            r->state = PPS_LEDGER_RCPT_DELIVERED;
        } else {
            r->state = rec->permanent ? PPS_LEDGER_RCPT_FAILED_PERM
                                      : PPS_LEDGER_RCPT_FAILED_TEMP;
            r->code = rec->code;
        }
        return 0;
    case PPS_LEDGER_REC_COMPLETE:
        if ((err = msg_get(&m, l, rec->uid)) < 0)
            return err;
        m->flags |= MSG_COMPLETE;
        m->completed = rec->time;
        return 0;
    case PPS_LEDGER_REC_DELE:
        if ((m = msg_find(l, rec->uid)) != NULL) {
            if (!(m->flags & MSG_DELE_SENT))
                l->dele_sent++;
            m->flags = (m->flags | MSG_DELE_SENT) & ~(unsigned)MSG_DELETED;
            m->dele_time = rec->time;
        }
        return 0;
    case PPS_LEDGER_REC_DELETED:
        if ((m = msg_find(l, rec->uid)) != NULL) {
            if (m->flags & MSG_DELE_SENT)
                l->dele_sent--;
            m->flags = (m->flags | MSG_DELETED) & ~(unsigned)MSG_DELE_SENT;
            m->dele_time = rec->time;
        }
        return 0;
    case PPS_LEDGER_REC_QUIT: {
        size_t b = 0;
        pps__map_node *n, *next = NULL;

        while (l->dele_sent && (n = pps__map_next(&l->msgs, &b, &next))) {
            m = (msg *)(void *)n;
            if (m->flags & MSG_DELE_SENT) {
                m->flags = (m->flags | MSG_DELETED) & ~(unsigned)MSG_DELE_SENT;
                l->dele_sent--;
            }
        }
        return 0;
    }
    case PPS_LEDGER_REC_FORGET:
        if ((m = msg_find(l, rec->uid)) != NULL)
            msg_drop(l, m);
        return 0;
    case PPS_LEDGER_REC_SEEN:
        return seen_put(l, rec->uid, rec->rcpt, rec->time);
    case PPS_LEDGER_REC_STATUS:
        l->status = *rec->status;
        l->status.version = PPS_LEDGER_STATUS_VERSION;
        return 0;
    }
    return pps__error_set(PPS_ERROR, "ledger: unknown record type %d",
                          (int)rec->type);
}

/* --- talking to the store --------------------------------------------- */

static int poison(pps_ledger *l, int err)
{
    l->poisoned = 1;
    return err;
}

/* Keep the store's detail; give one when it set none. */
static int store_failed(pps_ledger *l, int err, const char *step)
{
    if (pps_error_last()->code != err)
        pps__error_set(err, "ledger of %s@%s: store \"%s\": %s failed: %s",
                       l->user, l->host, l->store->ops.name, step,
                       pps_strerror(err));
    return err;
}

static int usable(const pps_ledger *l, int writing)
{
    if (!l)
        return pps__error_set(PPS_EINVAL, "ledger: NULL handle");
    if (l->poisoned)
        return pps__error_set(PPS_EIO,
                              "ledger of %s@%s: an earlier write failed; "
                              "open the ledger again",
                              l->user, l->host);
    if (writing && l->read_only)
        return pps__error_set(PPS_EINVAL, "ledger of %s@%s: opened read-only",
                              l->user, l->host);
    return 0;
}

/* Append one record and apply it; any failure poisons the handle. */
static int record(pps_ledger *l, const pps_ledger_record *rec)
{
    int err;

    pps_error_clear();
    if ((err = l->store->ops.append(l->mb, rec, l->store->payload)) < 0)
        return poison(l, store_failed(l, err, "append"));
    l->on_disk++;
    if (rec->type == PPS_LEDGER_REC_DELE || rec->type == PPS_LEDGER_REC_QUIT)
        l->dirty_hint = 1;
    else
        l->dirty = 1;
    if ((err = apply(l, rec)) < 0)
        return poison(l, err);
    return 0;
}

int pps_ledger_sync(pps_ledger *l)
{
    int err;

    if ((err = usable(l, 0)) < 0)
        return err;
    if (l->read_only || (!l->dirty && !l->dirty_hint))
        return 0;
    pps_error_clear();
    if ((err = l->store->ops.sync(l->mb, l->store->payload)) < 0)
        return poison(l, store_failed(l, err, "sync"));
    l->dirty = l->dirty_hint = 0;
    return 0;
}

/* --- compaction ------------------------------------------------------ */

static int seen_expired(const pps_ledger *l, const seen_entry *s, time_t t)
{
    return s->when + (time_t)l->window <= t;
}

static size_t live_records(const pps_ledger *l)
{
    size_t b = 0, live = l->status.started || l->status.finished ? 1 : 0;
    pps__map_node *n, *next = NULL;
    time_t t = now(l);

    while ((n = pps__map_next(&l->msgs, &b, &next))) {
        const msg *m = (const msg *)(const void *)n;
        live += m->n + ((m->flags & MSG_COMPLETE) ? 1 : 0) +
                ((m->flags & (MSG_DELE_SENT | MSG_DELETED)) ? 1 : 0);
    }
    b = 0;
    next = NULL;
    while ((n = pps__map_next(&l->seen, &b, &next)))
        live += seen_expired(l, (const seen_entry *)(const void *)n, t) ? 0 : 1;
    return live;
}

void pps__ledger_record_counts(const pps_ledger *l, size_t *on_disk,
                               size_t *live)
{
    *on_disk = l->on_disk;
    *live = live_records(l);
}

static int add(pps_ledger *l, const pps_ledger_record *rec, size_t *count)
{
    (*count)++;
    return l->store->ops.rewrite_add(l->mb, rec, l->store->payload);
}

static int snapshot_msg(pps_ledger *l, const msg *m, size_t *count)
{
    pps_ledger_record rec;
    int err;

    for (size_t i = 0; i < m->n; i++) {
        const rcpt *r = &m->r[i];

        memset(&rec, 0, sizeof(rec));
        rec.uid = m->uid;
        rec.rcpt = r->addr;
        rec.time = r->when;
        if (r->state == PPS_LEDGER_RCPT_IN_DOUBT) {
            rec.type = PPS_LEDGER_REC_INTENT;
        } else if (r->state == PPS_LEDGER_RCPT_DELIVERED) {
            rec.type = PPS_LEDGER_REC_DELIVERED;
        } else {
            rec.type = PPS_LEDGER_REC_FAILED;
            rec.code = r->code;
            rec.permanent = r->state == PPS_LEDGER_RCPT_FAILED_PERM;
        }
        if ((err = add(l, &rec, count)) < 0)
            return err;
    }
    memset(&rec, 0, sizeof(rec));
    rec.uid = m->uid;
    if (m->flags & MSG_COMPLETE) {
        rec.type = PPS_LEDGER_REC_COMPLETE;
        rec.time = m->completed;
        if ((err = add(l, &rec, count)) < 0)
            return err;
    }
    if (m->flags & (MSG_DELE_SENT | MSG_DELETED)) {
        rec.type = (m->flags & MSG_DELETED) ? PPS_LEDGER_REC_DELETED
                                            : PPS_LEDGER_REC_DELE;
        rec.time = m->dele_time;
        if ((err = add(l, &rec, count)) < 0)
            return err;
    }
    return 0;
}

static int snapshot(pps_ledger *l, size_t *count)
{
    size_t b = 0;
    pps__map_node *n, *next = NULL;
    time_t t = now(l);
    pps_ledger_record rec;
    int err;

    while ((n = pps__map_next(&l->msgs, &b, &next))) {
        if ((err = snapshot_msg(l, (const msg *)(const void *)n, count)) < 0)
            return err;
    }
    b = 0;
    next = NULL;
    while ((n = pps__map_next(&l->seen, &b, &next))) {
        const seen_entry *s = (const seen_entry *)(const void *)n;

        if (seen_expired(l, s, t))
            continue;
        memset(&rec, 0, sizeof(rec));
        rec.type = PPS_LEDGER_REC_SEEN;
        rec.uid = s->kr;
        rec.rcpt = s->kr + strlen(s->kr) + 1;
        rec.time = s->when;
        if ((err = add(l, &rec, count)) < 0)
            return err;
    }
    if (l->status.started || l->status.finished) {
        memset(&rec, 0, sizeof(rec));
        rec.type = PPS_LEDGER_REC_STATUS;
        rec.status = &l->status;
        if ((err = add(l, &rec, count)) < 0)
            return err;
    }
    return 0;
}

static void drop_expired(pps_ledger *l)
{
    size_t b = 0;
    pps__map_node *n, *next = NULL;
    time_t t = now(l);

    while ((n = pps__map_next(&l->seen, &b, &next))) {
        if (seen_expired(l, (seen_entry *)(void *)n, t))
            seen_drop(l, (seen_entry *)(void *)n);
    }
}

int pps_ledger_compact(pps_ledger *l)
{
    const pps_ledger_store *s;
    size_t count = 0;
    int err;

    if ((err = usable(l, 1)) < 0)
        return err;
    s = l->store;
    pps_error_clear();
    if ((err = s->ops.rewrite_begin(l->mb, s->payload)) < 0)
        return store_failed(l, err, "rewrite");
    if ((err = snapshot(l, &count)) < 0) {
        s->ops.rewrite_end(l->mb, 0, s->payload);
        return store_failed(l, err, "rewrite");
    }
    if ((err = s->ops.rewrite_end(l->mb, 1, s->payload)) < 0)
        return poison(l, store_failed(l, err, "rewrite"));
    /* The new store holds everything appended so far, durably. */
    l->on_disk = count;
    l->dirty = l->dirty_hint = 0;
    drop_expired(l);
    pps__log(PPS_LOG_DEBUG, l->profile,
             "ledger of %s@%s compacted to %zu records", l->user, l->host,
             count);
    return 0;
}

/* A compaction that fails leaves the old records in place, so it only
 * costs space: it is logged, and fatal only when it poisoned the handle. */
static int compact_if_worthwhile(pps_ledger *l, int forced)
{
    size_t live;

    if (l->read_only || l->poisoned)
        return 0;
    live = live_records(l);
    if (!forced && l->on_disk <= 2 * live + COMPACT_SLACK)
        return 0;
    if (pps_ledger_compact(l) < 0) {
        pps__log(PPS_LOG_WARN, l->profile, "%s", pps_error_last()->message);
        if (l->poisoned)
            return pps_error_last()->code;
    }
    return 0;
}

/* --- open and free ---------------------------------------------------- */

static int check_str(const char *s, size_t max, const char *what)
{
    size_t n;

    if (!s)
        return pps__error_set(PPS_EINVAL, "ledger: %s is NULL", what);
    n = strlen(s);
    if (n == 0)
        return pps__error_set(PPS_EINVAL, "ledger: %s is empty", what);
    if (n > max)
        return pps__error_set(PPS_EINVAL, "ledger: %s is longer than %zu bytes",
                              what, max);
    return 0;
}

static int on_load(const pps_ledger_record *rec, void *arg)
{
    pps_ledger *l = arg;
    l->on_disk++;
    return apply(l, rec);
}

static void ledger_release(pps_ledger *l)
{
    size_t b = 0;
    pps__map_node *n, *next = NULL;

    while ((n = pps__map_next(&l->msgs, &b, &next)))
        msg_free((msg *)(void *)n);
    b = 0;
    next = NULL;
    while ((n = pps__map_next(&l->seen, &b, &next))) {
        pps__free(((seen_entry *)(void *)n)->kr);
        pps__free(n);
    }
    pps__map_dispose(&l->msgs);
    pps__map_dispose(&l->seen);
    if (l->mb)
        l->store->ops.close(l->mb, l->store->payload);
    pps__free(l->host);
    pps__free(l->user);
    pps__free(l->profile);
    pps__free(l);
}

int pps_ledger_open(pps_ledger **out, const pps_ledger_store *store,
                    const char *host, const char *user,
                    const pps_ledger_options *opts)
{
    static const pps_ledger_options defaults = PPS_LEDGER_OPTIONS_INIT;
    pps_ledger *l;
    int err;

    if (!out)
        return pps__error_set(PPS_EINVAL, "ledger: NULL output");
    *out = NULL;
    if (!store)
        return pps__error_set(PPS_EINVAL, "ledger: NULL store");
    if ((err = check_str(host, 253, "host")) < 0 ||
        (err = check_str(user, 255, "user")) < 0)
        return err;
    if (!opts)
        opts = &defaults;
    if (opts->version != PPS_LEDGER_OPTIONS_VERSION)
        return pps__error_set(PPS_EINVAL,
                              "ledger: options version %u, expected %u",
                              opts->version, PPS_LEDGER_OPTIONS_VERSION);
    if (opts->dedup_window < 0)
        return pps__error_set(PPS_EINVAL, "ledger: negative duplicate window");
    if (!(l = pps__calloc(1, sizeof(*l))))
        return pps__error_oom();
    l->store = store;
    l->read_only = opts->read_only;
    l->window = opts->dedup_window ? opts->dedup_window
                                   : PPS_LEDGER_DEDUP_WINDOW_DEFAULT;
    l->status.version = PPS_LEDGER_STATUS_VERSION;
    pps__map_init(&l->msgs);
    pps__map_init(&l->seen);
    if (!(l->host = pps__strdup(host)) || !(l->user = pps__strdup(user)) ||
        (opts->profile && !(l->profile = pps__strdup(opts->profile)))) {
        ledger_release(l);
        return pps__error_oom();
    }
    pps__ledger_host_normalize(l->host);

    pps_error_clear();
    if ((err = store->ops.open(&l->mb, l->host, user, opts, store->payload)) <
        0) {
        l->mb = NULL;
        err = store_failed(l, err, "open");
        ledger_release(l);
        return err;
    }
    pps_error_clear();
    if ((err = store->ops.load(l->mb, on_load, l, store->payload)) < 0) {
        err = store_failed(l, err, "load");
        ledger_release(l);
        return err;
    }
    pps__log(PPS_LOG_DEBUG, l->profile,
             "ledger of %s@%s: %zu records, %zu messages", l->user, l->host,
             l->on_disk, l->msgs.count);
    if (compact_if_worthwhile(l, err == 1) < 0) {
        err = pps_error_last()->code;
        ledger_release(l);
        return err < 0 ? err : PPS_ERROR;
    }
    *out = l;
    return 0;
}

void pps_ledger_free(pps_ledger *l)
{
    if (!l)
        return;
    if (!l->read_only && !l->poisoned) {
        if (pps_ledger_sync(l) == 0)
            (void)compact_if_worthwhile(l, 0);
    }
    ledger_release(l);
}

/* --- queries ---------------------------------------------------------- */

static pps_ledger_message_state msg_state(const msg *m)
{
    if (!m)
        return PPS_LEDGER_NEW;
    if (m->flags & MSG_DELETED)
        return PPS_LEDGER_DELETED;
    if (m->flags & MSG_DELE_SENT)
        return PPS_LEDGER_DELE_SENT;
    if (m->flags & MSG_COMPLETE)
        return PPS_LEDGER_COMPLETE;
    return m->n ? PPS_LEDGER_PARTIAL : PPS_LEDGER_NEW;
}

int pps_ledger_message(pps_ledger_message_info *out, const pps_ledger *l,
                       const char *uid)
{
    const msg *m;
    int err;

    if (!out)
        return pps__error_set(PPS_EINVAL, "ledger: NULL output");
    memset(out, 0, sizeof(*out));
    if ((err = usable(l, 0)) < 0 ||
        (err = check_str(uid, PPS_LEDGER_UID_MAX, "uid")) < 0)
        return err;
    m = msg_find(l, uid);
    out->state = msg_state(m);
    if (!m)
        return 0;
    out->recipients = m->n;
    out->completed = (m->flags & MSG_COMPLETE) ? m->completed : 0;
    for (size_t i = 0; i < m->n; i++) {
        switch (m->r[i].state) {
        case PPS_LEDGER_RCPT_IN_DOUBT:
            out->in_doubt++;
            break;
        case PPS_LEDGER_RCPT_DELIVERED:
            out->delivered++;
            break;
        case PPS_LEDGER_RCPT_FAILED_TEMP:
            out->failed_temp++;
            break;
        case PPS_LEDGER_RCPT_FAILED_PERM:
            out->failed_perm++;
            break;
        case PPS_LEDGER_RCPT_NONE:
            break;
        }
    }
    return 0;
}

int pps_ledger_recipient(pps_ledger_rcpt_state *out, time_t *when,
                         const pps_ledger *l, const char *uid, const char *addr)
{
    const msg *m;
    const rcpt *r = NULL;
    int err;

    if (!out)
        return pps__error_set(PPS_EINVAL, "ledger: NULL output");
    *out = PPS_LEDGER_RCPT_NONE;
    if (when)
        *when = 0;
    if ((err = usable(l, 0)) < 0 ||
        (err = check_str(uid, PPS_LEDGER_UID_MAX, "uid")) < 0 ||
        (err = check_str(addr, PPS_LEDGER_RCPT_MAX, "recipient")) < 0)
        return err;
    if ((m = msg_find(l, uid)) != NULL && (r = rcpt_find(m, addr)) != NULL) {
        *out = r->state;
        if (when)
            *when = r->when;
    }
    return 0;
}

int pps_ledger_foreach_recipient(const pps_ledger *l, const char *uid,
                                 pps_ledger_rcpt_cb cb, void *payload)
{
    const msg *m;
    int err;

    if ((err = usable(l, 0)) < 0 ||
        (err = check_str(uid, PPS_LEDGER_UID_MAX, "uid")) < 0)
        return err;
    if (!cb)
        return pps__error_set(PPS_EINVAL, "ledger: NULL callback");
    if (!(m = msg_find(l, uid)))
        return 0;
    for (size_t i = 0; i < m->n; i++) {
        if (cb(m->r[i].addr, m->r[i].state, m->r[i].when, payload) != 0)
            return pps__error_set(PPS_EUSER,
                                  "ledger: the recipient callback stopped");
    }
    return 0;
}

size_t pps_ledger_message_count(const pps_ledger *l)
{
    return l ? l->msgs.count : 0;
}

/* --- changes ---------------------------------------------------------- */

static pps_ledger_record rec_of(pps_ledger_record_type type, const char *uid,
                                const char *addr, time_t t)
{
    pps_ledger_record rec;

    memset(&rec, 0, sizeof(rec));
    rec.type = type;
    rec.uid = uid;
    rec.rcpt = addr;
    rec.time = t;
    return rec;
}

int pps_ledger_intend(pps_ledger *l, const char *uid, const char *const *rcpts,
                      size_t n)
{
    const msg *m;
    int err;

    if ((err = usable(l, 1)) < 0 ||
        (err = check_str(uid, PPS_LEDGER_UID_MAX, "uid")) < 0)
        return err;
    if (!rcpts || n == 0 || n > PPS_LEDGER_RCPTS_PER_MESSAGE_MAX)
        return pps__error_set(PPS_EINVAL,
                              "ledger: intent for uid %s with %zu "
                              "recipients",
                              uid, n);
    m = msg_find(l, uid);
    if (m && (m->flags & MSG_COMPLETE))
        return pps__error_set(PPS_EEXISTS, "ledger: uid %s is already complete",
                              uid);
    for (size_t i = 0; i < n; i++) {
        const rcpt *r = m ? rcpt_find(m, rcpts[i] ? rcpts[i] : "") : NULL;

        if ((err = check_str(rcpts[i], PPS_LEDGER_RCPT_MAX, "recipient")) < 0)
            return err;
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(rcpts[i], rcpts[j]))
                return pps__error_set(PPS_EINVAL,
                                      "ledger: recipient %s named twice "
                                      "for uid %s",
                                      rcpts[i], uid);
        }
        if (r && (r->state == PPS_LEDGER_RCPT_DELIVERED ||
                  r->state == PPS_LEDGER_RCPT_IN_DOUBT))
            return pps__error_set(
                PPS_EEXISTS, "ledger: uid %s to %s is already %s", uid,
                rcpts[i],
                r->state == PPS_LEDGER_RCPT_DELIVERED ? "delivered"
                                                      : "in doubt");
    }
    for (size_t i = 0; i < n; i++) {
        pps_ledger_record rec =
            rec_of(PPS_LEDGER_REC_INTENT, uid, rcpts[i], now(l));
        if ((err = record(l, &rec)) < 0)
            return err;
    }
    /* Durable before the first byte of the delivery leaves. */
    return pps_ledger_sync(l);
}

/* The recipient of an outcome must have an open intent. */
static int outcome_allowed(const pps_ledger *l, const char *uid,
                           const char *addr)
{
    const msg *m;
    const rcpt *r;
    int err;

    if ((err = usable(l, 1)) < 0 ||
        (err = check_str(uid, PPS_LEDGER_UID_MAX, "uid")) < 0 ||
        (err = check_str(addr, PPS_LEDGER_RCPT_MAX, "recipient")) < 0)
        return err;
    m = msg_find(l, uid);
    r = m ? rcpt_find(m, addr) : NULL;
    if (!r || r->state != PPS_LEDGER_RCPT_IN_DOUBT)
        return pps__error_set(
            r && r->state == PPS_LEDGER_RCPT_DELIVERED ? PPS_EEXISTS
                                                       : PPS_EINVAL,
            "ledger: no open intent for uid %s to %s", uid, addr);
    return 0;
}

int pps_ledger_delivered(pps_ledger *l, const char *uid, const char *addr)
{
    pps_ledger_record rec;
    int err;

    if ((err = outcome_allowed(l, uid, addr)) < 0)
        return err;
    rec = rec_of(PPS_LEDGER_REC_DELIVERED, uid, addr, now(l));
    return record(l, &rec);
}

int pps_ledger_failed(pps_ledger *l, const char *uid, const char *addr,
                      int code, int permanent)
{
    pps_ledger_record rec;
    int err;

    if ((err = outcome_allowed(l, uid, addr)) < 0)
        return err;
    if (code > 0 || code < -1000)
        return pps__error_set(PPS_EINVAL, "ledger: failure code %d", code);
    rec = rec_of(PPS_LEDGER_REC_FAILED, uid, addr, now(l));
    rec.code = code;
    rec.permanent = permanent ? 1 : 0;
    return record(l, &rec);
}

int pps_ledger_resolve_in_doubt(pps_ledger *l, const char *uid,
                                pps_ledger_in_doubt_policy policy)
{
    msg *m;
    int err, settled = 0;

    if ((err = usable(l, 1)) < 0 ||
        (err = check_str(uid, PPS_LEDGER_UID_MAX, "uid")) < 0)
        return err;
    if (policy != PPS_LEDGER_AT_LEAST_ONCE && policy != PPS_LEDGER_AT_MOST_ONCE)
        return pps__error_set(PPS_EINVAL, "ledger: unknown policy %d",
                              (int)policy);
    if (!(m = msg_find(l, uid)))
        return 0;
    for (size_t i = 0; i < m->n; i++) {
        pps_ledger_record rec;

        if (m->r[i].state != PPS_LEDGER_RCPT_IN_DOUBT)
            continue;
        pps__log(PPS_LOG_WARN, l->profile,
                 "ledger of %s@%s: uid %s to %s was in doubt (interrupted "
                 "delivery); counted as %s",
                 l->user, l->host, uid, m->r[i].addr,
                 policy == PPS_LEDGER_AT_MOST_ONCE
                     ? "delivered (at most once)"
                     : "not delivered, delivering again (at least once)");
        if (policy == PPS_LEDGER_AT_MOST_ONCE) {
            rec = rec_of(PPS_LEDGER_REC_DELIVERED, uid, m->r[i].addr, now(l));
        } else {
            rec = rec_of(PPS_LEDGER_REC_FAILED, uid, m->r[i].addr, now(l));
            rec.code = PPS_EABORTED;
        }
        /* record() may move m->r (it does not: the recipient exists). */
        if ((err = record(l, &rec)) < 0)
            return err;
        settled++;
    }
    return settled;
}

int pps_ledger_complete(pps_ledger *l, const char *uid)
{
    const msg *m;
    pps_ledger_record rec;
    int err;

    if ((err = usable(l, 1)) < 0 ||
        (err = check_str(uid, PPS_LEDGER_UID_MAX, "uid")) < 0)
        return err;
    m = msg_find(l, uid);
    if (m && (m->flags & MSG_COMPLETE))
        return 0;
    if (!m || m->n == 0)
        return pps__error_set(PPS_EINVAL,
                              "ledger: uid %s has no recipient recorded", uid);
    for (size_t i = 0; i < m->n; i++) {
        if (m->r[i].state != PPS_LEDGER_RCPT_DELIVERED &&
            m->r[i].state != PPS_LEDGER_RCPT_FAILED_PERM)
            return pps__error_set(PPS_EINVAL,
                                  "ledger: uid %s is not delivered to %s "
                                  "yet",
                                  uid, m->r[i].addr);
    }
    rec = rec_of(PPS_LEDGER_REC_COMPLETE, uid, NULL, now(l));
    return record(l, &rec);
}

int pps_ledger_dele_sent(pps_ledger *l, const char *uid)
{
    const msg *m;
    pps_ledger_record rec;
    int err;

    if ((err = usable(l, 1)) < 0 ||
        (err = check_str(uid, PPS_LEDGER_UID_MAX, "uid")) < 0)
        return err;
    m = msg_find(l, uid);
    if (!m || !(m->flags & MSG_COMPLETE))
        return pps__error_set(PPS_EINVAL,
                              "ledger: refusing DELE of uid %s: its "
                              "delivery is not complete",
                              uid);
    /* Invariant 1: what says "delivered" is durable before DELE leaves. */
    if (l->dirty && (err = pps_ledger_sync(l)) < 0)
        return err;
    rec = rec_of(PPS_LEDGER_REC_DELE, uid, NULL, now(l));
    return record(l, &rec);
}

int pps_ledger_quit_ok(pps_ledger *l)
{
    pps_ledger_record rec;
    int err;

    if ((err = usable(l, 1)) < 0)
        return err;
    if (!l->dele_sent)
        return 0;
    rec = rec_of(PPS_LEDGER_REC_QUIT, NULL, NULL, now(l));
    return record(l, &rec);
}

int pps_ledger_prune(pps_ledger *l, const char *const *listed, size_t n)
{
    size_t b = 0;
    pps__map_node *node, *next = NULL;
    int err, pruned = 0, vanished = 0;

    if ((err = usable(l, 1)) < 0)
        return err;
    if (!listed && n)
        return pps__error_set(PPS_EINVAL, "ledger: NULL listing");
    l->mark_gen++;
    for (size_t i = 0; i < n; i++) {
        msg *m = listed[i] ? msg_find(l, listed[i]) : NULL;
        if (m)
            m->mark = l->mark_gen;
    }
    while ((node = pps__map_next(&l->msgs, &b, &next))) {
        msg *m = (msg *)(void *)node;
        pps_ledger_record rec;

        if (m->mark == l->mark_gen)
            continue;
        /* A few lines name the uids; a mass vanishing gets a count. */
        if (!(m->flags & MSG_COMPLETE) && vanished++ < PRUNE_LOG_MAX)
            pps__log(PPS_LOG_WARN, l->profile,
                     "ledger of %s@%s: uid %s left the server before its "
                     "delivery completed",
                     l->user, l->host, m->uid);
        rec = rec_of(PPS_LEDGER_REC_FORGET, m->uid, NULL, 0);
        if ((err = record(l, &rec)) < 0) /* frees m */
            return err;
        if (pruned < INT_MAX)
            pruned++;
    }
    if (vanished > PRUNE_LOG_MAX)
        pps__log(PPS_LOG_WARN, l->profile,
                 "ledger of %s@%s: %d messages in all left the server before "
                 "their delivery completed",
                 l->user, l->host, vanished);
    if (pruned && (err = compact_if_worthwhile(l, 0)) < 0)
        return err;
    return pruned;
}

/* --- duplicate store --------------------------------------------------- */

int pps_ledger_seen(const pps_ledger *l, const char *key, const char *addr)
{
    const seen_entry *s;
    int err;

    if ((err = usable(l, 0)) < 0 ||
        (err = check_str(key, PPS_LEDGER_KEY_MAX, "duplicate key")) < 0 ||
        (err = check_str(addr, PPS_LEDGER_RCPT_MAX, "recipient")) < 0)
        return err;
    s = seen_find(l, key, addr);
    return s && !seen_expired(l, s, now(l)) ? 1 : 0;
}

int pps_ledger_remember(pps_ledger *l, const char *key, const char *addr,
                        time_t when)
{
    pps_ledger_record rec;
    int err;

    if ((err = usable(l, 1)) < 0 ||
        (err = check_str(key, PPS_LEDGER_KEY_MAX, "duplicate key")) < 0 ||
        (err = check_str(addr, PPS_LEDGER_RCPT_MAX, "recipient")) < 0)
        return err;
    rec = rec_of(PPS_LEDGER_REC_SEEN, key, addr, when);
    return record(l, &rec);
}

/* --- status ----------------------------------------------------------- */

int pps_ledger_status_get(pps_ledger_status *out, const pps_ledger *l)
{
    int err;

    if (!out || out->version != PPS_LEDGER_STATUS_VERSION)
        return pps__error_set(PPS_EINVAL,
                              "ledger: status NULL or of another version");
    if ((err = usable(l, 0)) < 0)
        return err;
    *out = l->status;
    return 0;
}

int pps_ledger_status_set(pps_ledger *l, const pps_ledger_status *st)
{
    pps_ledger_status copy;
    pps_ledger_record rec;
    size_t len;
    int err;

    if ((err = usable(l, 1)) < 0)
        return err;
    if (!st || st->version != PPS_LEDGER_STATUS_VERSION)
        return pps__error_set(PPS_EINVAL,
                              "ledger: status NULL or of another version");
    if (st->result > 0 || st->result < -1000)
        return pps__error_set(PPS_EINVAL, "ledger: status result %d",
                              st->result);
    copy = *st;
    len = strnlen(copy.text, sizeof(copy.text) - 1);
    copy.text[len] = '\0';
    rec = rec_of(PPS_LEDGER_REC_STATUS, NULL, NULL, 0);
    rec.status = &copy;
    return record(l, &rec);
}
