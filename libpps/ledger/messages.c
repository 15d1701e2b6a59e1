/*
 * messages.c - the rules of the message API: what may be recorded when.
 * Invariant 1 lives in pps_ledger_complete() and pps_ledger_dele_sent(),
 * invariant 2 in pps_ledger_intend() and the outcome checks.
 */
#include <limits.h>
#include <string.h>

#include "core/internal.h"
#include "state.h"

/* Messages that vanished unfinished named one by one in the log. */
#define PRUNE_LOG_MAX 10

/* --- queries ---------------------------------------------------------- */

static pps_ledger_message_state msg_state(const ledger_msg *m)
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
    const ledger_msg *m;
    int err;

    if (!out)
        return pps__error_set(PPS_EINVAL, "ledger: NULL output");
    memset(out, 0, sizeof(*out));
    if ((err = pps__ledger_usable(l, 0)) < 0 ||
        (err = pps__ledger_check_str(uid, PPS_LEDGER_UID_MAX, "uid")) < 0)
        return err;
    m = pps__ledger_msg_find(l, uid);
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
    const ledger_msg *m;
    const ledger_rcpt *r = NULL;
    int err;

    if (!out)
        return pps__error_set(PPS_EINVAL, "ledger: NULL output");
    *out = PPS_LEDGER_RCPT_NONE;
    if (when)
        *when = 0;
    if ((err = pps__ledger_usable(l, 0)) < 0 ||
        (err = pps__ledger_check_str(uid, PPS_LEDGER_UID_MAX, "uid")) < 0 ||
        (err = pps__ledger_check_str(addr, PPS_LEDGER_RCPT_MAX, "recipient")) <
            0)
        return err;
    if ((m = pps__ledger_msg_find(l, uid)) != NULL &&
        (r = pps__ledger_rcpt_find(m, addr)) != NULL) {
        *out = r->state;
        if (when)
            *when = r->when;
    }
    return 0;
}

int pps_ledger_foreach_recipient(const pps_ledger *l, const char *uid,
                                 pps_ledger_rcpt_cb cb, void *payload)
{
    const ledger_msg *m;
    int err;

    if ((err = pps__ledger_usable(l, 0)) < 0 ||
        (err = pps__ledger_check_str(uid, PPS_LEDGER_UID_MAX, "uid")) < 0)
        return err;
    if (!cb)
        return pps__error_set(PPS_EINVAL, "ledger: NULL callback");
    if (!(m = pps__ledger_msg_find(l, uid)))
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

static int intend(pps_ledger *l, const char *uid, const char *const *rcpts,
                  size_t n, int sync)
{
    const ledger_msg *m;
    int err;

    if ((err = pps__ledger_usable(l, 1)) < 0 ||
        (err = pps__ledger_check_str(uid, PPS_LEDGER_UID_MAX, "uid")) < 0)
        return err;
    if (!rcpts || n == 0 || n > PPS_LEDGER_RCPTS_PER_MESSAGE_MAX)
        return pps__error_set(PPS_EINVAL,
                              "ledger: intent for uid %s with %zu "
                              "recipients",
                              uid, n);
    m = pps__ledger_msg_find(l, uid);
    if (m && (m->flags & MSG_COMPLETE))
        return pps__error_set(PPS_EEXISTS, "ledger: uid %s is already complete",
                              uid);
    for (size_t i = 0; i < n; i++) {
        const ledger_rcpt *r =
            m ? pps__ledger_rcpt_find(m, rcpts[i] ? rcpts[i] : "") : NULL;

        if ((err = pps__ledger_check_str(rcpts[i], PPS_LEDGER_RCPT_MAX,
                                         "recipient")) < 0)
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
        pps_ledger_record rec = pps__ledger_rec_of(
            PPS_LEDGER_REC_INTENT, uid, rcpts[i], pps__ledger_now(l));
        if ((err = pps__ledger_record(l, &rec)) < 0)
            return err;
    }
    /* Durable before the first byte of the delivery leaves (or, for
     * group commit, before the staged delivery becomes visible: the
     * caller syncs). */
    return sync ? pps_ledger_sync(l) : 0;
}

int pps_ledger_intend(pps_ledger *l, const char *uid, const char *const *rcpts,
                      size_t n)
{
    return intend(l, uid, rcpts, n, 1);
}

int pps_ledger_intend_nosync(pps_ledger *l, const char *uid,
                             const char *const *rcpts, size_t n)
{
    return intend(l, uid, rcpts, n, 0);
}

/* The recipient of an outcome must have an open intent. */
static int outcome_allowed(const pps_ledger *l, const char *uid,
                           const char *addr)
{
    const ledger_msg *m;
    const ledger_rcpt *r;
    int err;

    if ((err = pps__ledger_usable(l, 1)) < 0 ||
        (err = pps__ledger_check_str(uid, PPS_LEDGER_UID_MAX, "uid")) < 0 ||
        (err = pps__ledger_check_str(addr, PPS_LEDGER_RCPT_MAX, "recipient")) <
            0)
        return err;
    m = pps__ledger_msg_find(l, uid);
    r = m ? pps__ledger_rcpt_find(m, addr) : NULL;
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
    rec = pps__ledger_rec_of(PPS_LEDGER_REC_DELIVERED, uid, addr,
                             pps__ledger_now(l));
    return pps__ledger_record(l, &rec);
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
    rec = pps__ledger_rec_of(PPS_LEDGER_REC_FAILED, uid, addr,
                             pps__ledger_now(l));
    rec.code = code;
    rec.permanent = permanent ? 1 : 0;
    return pps__ledger_record(l, &rec);
}

int pps_ledger_resolve_in_doubt(pps_ledger *l, const char *uid,
                                pps_ledger_in_doubt_policy policy)
{
    ledger_msg *m;
    int err, settled = 0;

    if ((err = pps__ledger_usable(l, 1)) < 0 ||
        (err = pps__ledger_check_str(uid, PPS_LEDGER_UID_MAX, "uid")) < 0)
        return err;
    if (policy != PPS_LEDGER_AT_LEAST_ONCE && policy != PPS_LEDGER_AT_MOST_ONCE)
        return pps__error_set(PPS_EINVAL, "ledger: unknown policy %d",
                              (int)policy);
    if (!(m = pps__ledger_msg_find(l, uid)))
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
            rec = pps__ledger_rec_of(PPS_LEDGER_REC_DELIVERED, uid,
                                     m->r[i].addr, pps__ledger_now(l));
        } else {
            rec = pps__ledger_rec_of(PPS_LEDGER_REC_FAILED, uid, m->r[i].addr,
                                     pps__ledger_now(l));
            rec.code = PPS_EABORTED;
        }
        /* record() may move m->r (it does not: the recipient exists). */
        if ((err = pps__ledger_record(l, &rec)) < 0)
            return err;
        settled++;
    }
    return settled;
}

int pps_ledger_complete(pps_ledger *l, const char *uid)
{
    const ledger_msg *m;
    pps_ledger_record rec;
    int err;

    if ((err = pps__ledger_usable(l, 1)) < 0 ||
        (err = pps__ledger_check_str(uid, PPS_LEDGER_UID_MAX, "uid")) < 0)
        return err;
    m = pps__ledger_msg_find(l, uid);
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
    rec = pps__ledger_rec_of(PPS_LEDGER_REC_COMPLETE, uid, NULL,
                             pps__ledger_now(l));
    return pps__ledger_record(l, &rec);
}

int pps_ledger_dele_sent(pps_ledger *l, const char *uid)
{
    const ledger_msg *m;
    pps_ledger_record rec;
    int err;

    if ((err = pps__ledger_usable(l, 1)) < 0 ||
        (err = pps__ledger_check_str(uid, PPS_LEDGER_UID_MAX, "uid")) < 0)
        return err;
    m = pps__ledger_msg_find(l, uid);
    if (!m || !(m->flags & MSG_COMPLETE))
        return pps__error_set(PPS_EINVAL,
                              "ledger: refusing DELE of uid %s: its "
                              "delivery is not complete",
                              uid);
    /* Invariant 1: what says "delivered" is durable before DELE leaves. */
    if (l->dirty && (err = pps_ledger_sync(l)) < 0)
        return err;
    rec =
        pps__ledger_rec_of(PPS_LEDGER_REC_DELE, uid, NULL, pps__ledger_now(l));
    return pps__ledger_record(l, &rec);
}

int pps_ledger_quit_ok(pps_ledger *l)
{
    pps_ledger_record rec;
    int err;

    if ((err = pps__ledger_usable(l, 1)) < 0)
        return err;
    if (!l->dele_sent)
        return 0;
    rec =
        pps__ledger_rec_of(PPS_LEDGER_REC_QUIT, NULL, NULL, pps__ledger_now(l));
    return pps__ledger_record(l, &rec);
}

int pps_ledger_prune(pps_ledger *l, const char *const *listed, size_t n)
{
    size_t b = 0;
    pps__map_node *node, *next = NULL;
    int err, pruned = 0, vanished = 0;

    if ((err = pps__ledger_usable(l, 1)) < 0)
        return err;
    if (!listed && n)
        return pps__error_set(PPS_EINVAL, "ledger: NULL listing");
    l->mark_gen++;
    for (size_t i = 0; i < n; i++) {
        ledger_msg *m = listed[i] ? pps__ledger_msg_find(l, listed[i]) : NULL;
        if (m)
            m->mark = l->mark_gen;
    }
    while ((node = pps__map_next(&l->msgs, &b, &next))) {
        ledger_msg *m = (ledger_msg *)(void *)node;
        pps_ledger_record rec;

        if (m->mark == l->mark_gen)
            continue;
        /* A few lines name the uids; a mass vanishing gets a count. */
        if (!(m->flags & MSG_COMPLETE) && vanished++ < PRUNE_LOG_MAX)
            pps__log(PPS_LOG_WARN, l->profile,
                     "ledger of %s@%s: uid %s left the server before its "
                     "delivery completed",
                     l->user, l->host, m->uid);
        rec = pps__ledger_rec_of(PPS_LEDGER_REC_FORGET, m->uid, NULL, 0);
        if ((err = pps__ledger_record(l, &rec)) < 0) /* frees m */
            return err;
        if (pruned < INT_MAX)
            pruned++;
    }
    if (vanished > PRUNE_LOG_MAX)
        pps__log(PPS_LOG_WARN, l->profile,
                 "ledger of %s@%s: %d messages in all left the server before "
                 "their delivery completed",
                 l->user, l->host, vanished);
    if (pruned && (err = pps__ledger_compact_if_worthwhile(l, 0)) < 0)
        return err;
    return pruned;
}
