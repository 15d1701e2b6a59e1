/*
 * ledger.c - the ledger's memory and its store: the hash tables of
 * messages and duplicate entries, apply() that turns records into state,
 * the calls into the store, compaction, open and free.  The rules of the
 * message API are in messages.c.
 *
 * Every change goes the same way: check it is allowed, hand the record to
 * the store, then apply it to memory with the same function the loader
 * uses (apply()), so memory and store never tell different stories.  If
 * the store fails, or memory cannot follow a record that the store took,
 * the handle is poisoned: every later call fails with PPS_EIO until the
 * caller opens the ledger again, which reloads the truth from the store.
 */
#include <string.h>

#include "core/internal.h"
#include "state.h"

/* Recompact when the store holds more than twice what is needed, plus
 * this much slack so a small ledger is not rewritten on every open. */
#define COMPACT_SLACK 1024

time_t pps__ledger_now(const pps_ledger *l)
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

ledger_msg *pps__ledger_msg_find(const pps_ledger *l, const char *uid)
{
    pps__map_node *n = pps__map_find(&l->msgs, uid, strlen(uid));
    return n ? (ledger_msg *)(void *)n : NULL;
}

static void msg_free(ledger_msg *m)
{
    for (size_t i = 0; i < m->n; i++)
        pps__free(m->r[i].addr);
    pps__free(m->r);
    pps__free(m->uid);
    pps__free(m);
}

static int msg_get(ledger_msg **out, pps_ledger *l, const char *uid)
{
    ledger_msg *m = pps__ledger_msg_find(l, uid);
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

ledger_rcpt *pps__ledger_rcpt_find(const ledger_msg *m, const char *addr)
{
    for (size_t i = 0; i < m->n; i++) {
        if (!strcmp(m->r[i].addr, addr))
            return &m->r[i];
    }
    return NULL;
}

static int rcpt_get(ledger_rcpt **out, ledger_msg *m, const char *addr)
{
    ledger_rcpt *r = pps__ledger_rcpt_find(m, addr);

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
        ledger_rcpt *nr = pps__realloc(m->r, cap * sizeof(*nr));
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

static void msg_drop(pps_ledger *l, ledger_msg *m)
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

ledger_seen *pps__ledger_seen_find(const pps_ledger *l, const char *key,
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
    return n ? (ledger_seen *)(void *)n : NULL;
}

static int seen_put(pps_ledger *l, const char *key, const char *addr,
                    time_t when)
{
    ledger_seen *s = pps__ledger_seen_find(l, key, addr);
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

static void seen_drop(pps_ledger *l, ledger_seen *s)
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
    ledger_msg *m = NULL;
    ledger_rcpt *r = NULL;
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
        if ((m = pps__ledger_msg_find(l, rec->uid)) != NULL) {
            if (!(m->flags & MSG_DELE_SENT))
                l->dele_sent++;
            m->flags = (m->flags | MSG_DELE_SENT) & ~(unsigned)MSG_DELETED;
            m->dele_time = rec->time;
        }
        return 0;
    case PPS_LEDGER_REC_DELETED:
        if ((m = pps__ledger_msg_find(l, rec->uid)) != NULL) {
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
            m = (ledger_msg *)(void *)n;
            if (m->flags & MSG_DELE_SENT) {
                m->flags = (m->flags | MSG_DELETED) & ~(unsigned)MSG_DELE_SENT;
                l->dele_sent--;
            }
        }
        return 0;
    }
    case PPS_LEDGER_REC_FORGET:
        if ((m = pps__ledger_msg_find(l, rec->uid)) != NULL)
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

int pps__ledger_usable(const pps_ledger *l, int writing)
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
int pps__ledger_record(pps_ledger *l, const pps_ledger_record *rec)
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

    if ((err = pps__ledger_usable(l, 0)) < 0)
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

int pps__ledger_seen_expired(const pps_ledger *l, const ledger_seen *s,
                             time_t t)
{
    return s->when + (time_t)l->window <= t;
}

static size_t live_records(const pps_ledger *l)
{
    size_t b = 0, live = l->status.started || l->status.finished ? 1 : 0;
    pps__map_node *n, *next = NULL;
    time_t t = pps__ledger_now(l);

    while ((n = pps__map_next(&l->msgs, &b, &next))) {
        const ledger_msg *m = (const ledger_msg *)(const void *)n;
        live += m->n + ((m->flags & MSG_COMPLETE) ? 1 : 0) +
                ((m->flags & (MSG_DELE_SENT | MSG_DELETED)) ? 1 : 0);
    }
    b = 0;
    next = NULL;
    while ((n = pps__map_next(&l->seen, &b, &next)))
        live +=
            pps__ledger_seen_expired(l, (const ledger_seen *)(const void *)n, t)
                ? 0
                : 1;
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

static int snapshot_msg(pps_ledger *l, const ledger_msg *m, size_t *count)
{
    pps_ledger_record rec;
    int err;

    for (size_t i = 0; i < m->n; i++) {
        const ledger_rcpt *r = &m->r[i];

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
    time_t t = pps__ledger_now(l);
    pps_ledger_record rec;
    int err;

    while ((n = pps__map_next(&l->msgs, &b, &next))) {
        if ((err = snapshot_msg(l, (const ledger_msg *)(const void *)n,
                                count)) < 0)
            return err;
    }
    b = 0;
    next = NULL;
    while ((n = pps__map_next(&l->seen, &b, &next))) {
        const ledger_seen *s = (const ledger_seen *)(const void *)n;

        if (pps__ledger_seen_expired(l, s, t))
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
    time_t t = pps__ledger_now(l);

    while ((n = pps__map_next(&l->seen, &b, &next))) {
        if (pps__ledger_seen_expired(l, (ledger_seen *)(void *)n, t))
            seen_drop(l, (ledger_seen *)(void *)n);
    }
}

int pps_ledger_compact(pps_ledger *l)
{
    const pps_ledger_store *s;
    size_t count = 0;
    int err;

    if ((err = pps__ledger_usable(l, 1)) < 0)
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
int pps__ledger_compact_if_worthwhile(pps_ledger *l, int forced)
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

int pps__ledger_check_str(const char *s, size_t max, const char *what)
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
        msg_free((ledger_msg *)(void *)n);
    b = 0;
    next = NULL;
    while ((n = pps__map_next(&l->seen, &b, &next))) {
        pps__free(((ledger_seen *)(void *)n)->kr);
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
    if ((err = pps__ledger_check_str(host, 253, "host")) < 0 ||
        (err = pps__ledger_check_str(user, 255, "user")) < 0)
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
    if (pps__ledger_compact_if_worthwhile(l, err == 1) < 0) {
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
            (void)pps__ledger_compact_if_worthwhile(l, 0);
    }
    ledger_release(l);
}
