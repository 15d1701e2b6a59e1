/*
 * poll-message.c - one message, as RETR streams it.
 *
 * begin: recipients left "in doubt" by a crash are settled: the deliverer
 *        looks for the message by its delivery tag (maildir can), else
 *        the ledger delivers again (at least once); a header reader
 *        starts.
 * data:  header bytes go to the reader; when the block is complete the
 *        message is routed, the recipients that do not have it yet are
 *        announced in the ledger (durably), and the delivery begins with
 *        one delivery tag per recipient, the trace header and the header
 *        block; later bytes stream on.
 * end:   commit (durable) and record each recipient's outcome; then the
 *        message is settled: complete (and queued for DELE), retried for
 *        the fallback user, or left on the server for the next poll.
 *
 * Nothing here returns an error to the POP3 engine unless the poll must
 * stop: a failed message is recorded and the next one goes on.
 */
#include <string.h>
#include <time.h>

#include "../core/internal.h"
#include "poll-internal.h"

/* RFC 5321 4.5.3.1.3: a reverse path is at most 256 octets. */
#define SENDER_MAX 257

/* The ledger key of message `number` (entries are in number order). */
const char *pps__poll_uid_of(const poll_ctx *ctx, unsigned int number)
{
    size_t lo = 0, hi = ctx->list->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        unsigned int n = ctx->list->entries[mid].number;
        if (n == number)
            return ctx->uids[mid];
        if (n < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void pps__poll_message_reset(poll_ctx *ctx)
{
    poll_message *m = &ctx->msg;
    size_t i;

    pps_header_reader_free(m->headers);
    for (i = 0; i < m->rcpt_count; i++)
        pps__free(m->rcpts[i]);
    pps__free(m->rcpts);
    pps__free(m->dedup_key);
    memset(m, 0, sizeof(*m));
}

static int message_failed(poll_ctx *ctx, int err)
{
    if (ctx->msg.error == 0)
        ctx->msg.error = err;
    ctx->msg.state = MSG_DRAIN;
    return err;
}

/* --- choosing the recipients ---------------------------------------------- */

static int has_rcpt(const poll_message *m, const char *rcpt)
{
    size_t i;

    for (i = 0; i < m->rcpt_count; i++)
        if (strcmp(m->rcpts[i], rcpt) == 0)
            return 1;
    return 0;
}

static int add_rcpt(poll_ctx *ctx, const char *rcpt)
{
    poll_message *m = &ctx->msg;
    pps_ledger_rcpt_state st = PPS_LEDGER_RCPT_NONE;
    char **grown;
    int err;

    if (has_rcpt(m, rcpt))
        return 0;
    if ((err = pps_ledger_recipient(&st, NULL, ctx->ledger, m->uid, rcpt)) < 0)
        return err;
    if (st == PPS_LEDGER_RCPT_DELIVERED)
        return 0; /* has it already: never twice */
    if (st == PPS_LEDGER_RCPT_FAILED_PERM) {
        /* Refused for good before: the fallback user gets it instead,
         * unless the profile wants such mail kept on the server. */
        if (ctx->set.on_permanent_failure != PPS_PROFILE_FAILURE_FALLBACK ||
            strcmp(rcpt, ctx->fallback) == 0)
            return 0;
        return add_rcpt(ctx, ctx->fallback);
    }
    grown = pps__realloc(m->rcpts, (m->rcpt_count + 1) * sizeof(*m->rcpts));
    if (!grown)
        return pps__error_oom();
    m->rcpts = grown;
    if (!(m->rcpts[m->rcpt_count] = pps__strdup(rcpt)))
        return pps__error_oom();
    m->rcpt_count++;
    return 0;
}

/* Routing left nobody because every recipient already got a copy of this
 * message (duplicate suppression: one copy per local recipient at the
 * provider).  Record them as having it, so that this copy completes and is
 * deleted instead of staying on the server for ever. */
static int record_duplicates(poll_ctx *ctx, const pps_route_result *route)
{
    size_t i, n = pps_route_result_entry_count(route);
    int err;

    for (i = 0; i < n; i++) {
        const pps_route_entry *e = pps_route_result_entry(route, i);
        const char *rcpt = e->address;

        if (e->skip != PPS_ROUTE_SKIP_ALREADY_DELIVERED || !rcpt || !*rcpt)
            continue;
        if ((err = pps_ledger_intend(ctx->ledger, ctx->msg.uid, &rcpt, 1)) <
                0 ||
            (err = pps_ledger_delivered(ctx->ledger, ctx->msg.uid, rcpt)) < 0)
            return err == PPS_EEXISTS ? 0 : err;
        pps__log(PPS_LOG_INFO, ctx->name,
                 "message %s: %s already has a copy (same Message-ID): not "
                 "delivered again",
                 ctx->msg.uid, rcpt);
    }
    return 0;
}

/* 1 when a staged message of this batch has duplicate key `key`. */
static int staged_key(const poll_ctx *ctx, const char *key)
{
    size_t k;

    for (k = 0; k < ctx->staged_count; k++)
        if (ctx->staged[k].dedup_key &&
            strcmp(ctx->staged[k].dedup_key, key) == 0)
            return 1;
    return 0;
}

static int choose_recipients(poll_ctx *ctx, pps_route_result **route)
{
    size_t i, n;
    const char *key;
    int err;

    if ((err = pps_route(route, &ctx->policy, ctx->msg.headers)) < 0)
        return err;
    key = pps_route_result_key(*route);
    if (ctx->set.distribute && key && staged_key(ctx, key)) {
        /* An earlier copy of this message waits in the batch: flush it,
         * so that duplicate suppression (which asks the ledger) sees
         * it, and route again. */
        pps_route_result_free(*route);
        *route = NULL;
        if ((err = pps__poll_flush(ctx)) < 0 ||
            (err = pps_route(route, &ctx->policy, ctx->msg.headers)) < 0)
            return err;
    }
    n = pps_route_result_count(*route);
    for (i = 0; i < n; i++)
        if ((err = add_rcpt(ctx, pps_route_result_recipient(*route, i))) < 0)
            return err;
    if (n == 0 && (err = record_duplicates(ctx, *route)) < 0)
        return err;
    key = pps_route_result_key(*route);
    if (ctx->set.distribute && key && !(ctx->msg.dedup_key = pps__strdup(key)))
        return pps__error_oom();
    if (pps__log_enabled(PPS_LOG_DEBUG)) {
        const char *why = NULL;
        if (pps_route_result_explain(&why, *route) == 0)
            pps__log(PPS_LOG_DEBUG, ctx->name, "message %s routed:\n%s",
                     ctx->msg.uid, why);
    }
    return 0;
}

/* --- starting the delivery ------------------------------------------------ */

/* The envelope sender: the Return-Path of the message, else NULL (the
 * deliverer's configured default). */
static const char *envelope_sender(const poll_ctx *ctx, char *buf, size_t size)
{
    pps_header_field f;
    size_t pos = 0;

    if (pps_header_reader_find(&f, ctx->msg.headers, "Return-Path", &pos) ==
            1 &&
        pps_deliver_return_path(buf, size, f.value, f.value_len) >= 0)
        return buf;
    return NULL;
}

/* The lines put before the message: our trace header, and the router's
 * warning when it fell back for a reason the user should see. */
static size_t prepend_lines(const poll_ctx *ctx, const pps_route_result *route,
                            char *buf, size_t size)
{
    const char *warning = pps_route_result_warning(route);
    size_t len = 0;
    int n;

    if (ctx->set.trace_header) {
        n = pps_route_trace_header(buf, size, ctx->set.server.host,
                                   ctx->local_host, ctx->name, ctx->msg.uid,
                                   time(NULL), "\r\n");
        if (n > 0)
            len = (size_t)n;
    }
    if (warning) {
        n = pps__snprintf(buf + len, size - len, "%s\r\n", warning);
        if (n > 0 && (size_t)n < size - len)
            len += (size_t)n;
    }
    buf[len] = '\0';
    return len;
}

static int record_outcomes(poll_ctx *ctx);

/* One delivery tag per recipient of the message (the same in every run:
 * pps_ledger_delivery_tag), in one block; *tags points into it. */
static int make_tags(poll_ctx *ctx, char **block, const char ***tags)
{
    const poll_message *m = &ctx->msg;
    size_t i;
    int err;

    *block = pps__calloc(m->rcpt_count, PPS_LEDGER_TAG_SIZE);
    *tags = pps__calloc(m->rcpt_count, sizeof(**tags));
    if (!*block || !*tags)
        return pps__error_oom();
    for (i = 0; i < m->rcpt_count; i++) {
        char *tag = *block + i * PPS_LEDGER_TAG_SIZE;
        if ((err = pps_ledger_delivery_tag(tag, PPS_LEDGER_TAG_SIZE,
                                           ctx->ledger, m->uid, m->rcpts[i])) <
            0)
            return err;
        (*tags)[i] = tag;
    }
    return 0;
}

static int start_delivery(poll_ctx *ctx)
{
    poll_message *m = &ctx->msg;
    pps_route_result *route = NULL;
    char sender_buf[SENDER_MAX];
    char prepend[PPS_ROUTE_TRACE_HEADER_MAX + 512];
    const char *sender, *raw;
    const char **tags = NULL;
    char *tag_block = NULL;
    size_t prepend_len, raw_len;
    int err;

    if ((err = choose_recipients(ctx, &route)) < 0)
        goto done;
    if (m->rcpt_count == 0) {
        m->state = MSG_DRAIN; /* everyone has it already */
        goto done;
    }
    /* Durable before the delivery can be (group commit: the flush syncs
     * the ledger before it makes the staged delivery durable). */
    err = ctx->group
              ? pps_ledger_intend_nosync(ctx->ledger, m->uid,
                                         (const char *const *)m->rcpts,
                                         m->rcpt_count)
              : pps_ledger_intend(ctx->ledger, m->uid,
                                  (const char *const *)m->rcpts, m->rcpt_count);
    if (err < 0)
        goto done;
    if ((err = make_tags(ctx, &tag_block, &tags)) < 0)
        goto done;

    sender = envelope_sender(ctx, sender_buf, sizeof(sender_buf));
    prepend_len = prepend_lines(ctx, route, prepend, sizeof(prepend));
    err = pps_deliver_begin_tagged(
        ctx->deliver, sender, (const char *const *)m->rcpts, tags,
        m->rcpt_count, prepend_len ? prepend : NULL, prepend_len);
    if (err < 0) {
        record_outcomes(ctx); /* every recipient has its final status */
        m->state = MSG_DRAIN;
        err = 0;
        goto done;
    }
    m->state = MSG_BODY;
    raw = pps_header_reader_raw(m->headers, &raw_len);
    if ((err = pps_deliver_write(ctx->deliver, raw, raw_len)) < 0) {
        record_outcomes(ctx);
        m->state = MSG_DRAIN;
        err = 0;
    }
done:
    pps__free(tags);
    pps__free(tag_block);
    pps_route_result_free(route);
    if (err < 0)
        message_failed(ctx, err);
    return err;
}

/* --- recording the outcome ------------------------------------------------ */

int pps__poll_record_statuses(poll_ctx *ctx, const char *uid,
                              const char *dedup_key,
                              const pps_deliver_status *st, size_t count)
{
    size_t i;
    int err = 0, staged = 0;

    for (i = 0; i < count && err == 0; i++) {
        switch (st[i].outcome) {
        case PPS_DELIVER_DELIVERED:
            err = pps_ledger_delivered(ctx->ledger, uid, st[i].recipient);
            if (err == 0 && dedup_key)
                err = pps_ledger_remember(ctx->ledger, dedup_key,
                                          st[i].recipient, time(NULL));
            ctx->report->recipients++;
            pps__log(PPS_LOG_DEBUG, ctx->name, "message %s delivered to %s",
                     uid, st[i].recipient);
            break;
        case PPS_DELIVER_PERMFAIL:
            err = pps_ledger_failed(ctx->ledger, uid, st[i].recipient,
                                    st[i].code, 1);
            ctx->report->failed_perm++;
            pps__log(PPS_LOG_WARN, ctx->name,
                     "message %s refused for %s for good: %s", uid,
                     st[i].recipient, st[i].text);
            break;
        case PPS_DELIVER_TEMPFAIL:
        case PPS_DELIVER_PENDING:
            err = pps_ledger_failed(ctx->ledger, uid, st[i].recipient,
                                    st[i].code ? st[i].code : PPS_ETEMP, 0);
            pps__log(PPS_LOG_WARN, ctx->name,
                     "message %s not delivered to %s, will retry: %s", uid,
                     st[i].recipient, st[i].text);
            break;
        case PPS_DELIVER_STAGED:
            staged = 1; /* its intent stays open until the flush */
            break;
        }
    }
    if (err < 0)
        return pps__poll_fail(ctx, err);
    return staged;
}

/* The statuses of the current message's transaction. */
static int record_outcomes(poll_ctx *ctx)
{
    const pps_deliver_status *st;
    size_t count = 0;
    int rc;

    st = pps_deliver_statuses(ctx->deliver, &count);
    rc = pps__poll_record_statuses(ctx, ctx->msg.uid, ctx->msg.dedup_key, st,
                                   count);
    if (rc < 0)
        message_failed(ctx, rc);
    return rc;
}

/* --- settling a message --------------------------------------------------- */

typedef struct tally {
    const char *fallback;
    size_t delivered, perm, open;
    int fallback_delivered, fallback_perm;
} tally;

static int count_rcpt(const char *rcpt, pps_ledger_rcpt_state state,
                      time_t when, void *payload)
{
    tally *t = payload;
    int is_fallback = strcmp(rcpt, t->fallback) == 0;

    (void)when;
    if (state == PPS_LEDGER_RCPT_DELIVERED) {
        t->delivered++;
        t->fallback_delivered |= is_fallback;
    } else if (state == PPS_LEDGER_RCPT_FAILED_PERM) {
        t->perm++;
        t->fallback_perm |= is_fallback;
    } else {
        t->open++;
    }
    return 0;
}

static int queue(unsigned int **list, size_t *count, unsigned int number)
{
    unsigned int *grown = pps__realloc(*list, (*count + 1) * sizeof(**list));

    if (!grown)
        return pps__error_oom();
    *list = grown;
    (*list)[(*count)++] = number;
    return 0;
}

static int complete(poll_ctx *ctx, unsigned int number, const char *uid)
{
    int err;

    if ((err = pps_ledger_complete(ctx->ledger, uid)) < 0)
        return pps__poll_fail(ctx, err);
    ctx->report->delivered++;
    if (!ctx->set.keep &&
        (err = queue(&ctx->dele, &ctx->dele_count, number)) < 0)
        return pps__poll_fail(ctx, err);
    return 1;
}

int pps__poll_settle(poll_ctx *ctx, unsigned int number, const char *uid)
{
    tally t;

    memset(&t, 0, sizeof(t));
    t.fallback = ctx->fallback;
    if (pps_ledger_foreach_recipient(ctx->ledger, uid, count_rcpt, &t) < 0)
        return 0;
    if (t.delivered + t.perm == 0 || t.open > 0)
        return 0; /* nothing yet, or a recipient to retry next poll */
    if (t.perm == 0)
        return complete(ctx, number, uid);

    /* Someone refused it for good.  Never dropped: the fallback user gets
     * it, or it stays on the server. */
    if (ctx->set.on_permanent_failure != PPS_PROFILE_FAILURE_FALLBACK) {
        pps__log(PPS_LOG_WARN, ctx->name,
                 "message %s stays on the server: a recipient refused it "
                 "(on_permanent_failure = keep)",
                 uid);
        return 0;
    }
    if (t.fallback_delivered)
        return complete(ctx, number, uid);
    if (t.fallback_perm) {
        pps__log(PPS_LOG_ERROR, ctx->name,
                 "message %s stays on the server: even the fallback user %s "
                 "refused it",
                 uid, ctx->fallback);
        return 0;
    }
    if (queue(&ctx->again, &ctx->again_count, number) < 0)
        pps__poll_fail(ctx, PPS_ENOMEM);
    return 0;
}

/* --- recipients a crash left in doubt ------------------------------------ */

/* The in-doubt recipients of a message, collected first: the ledger must
 * not change inside pps_ledger_foreach_recipient. */
typedef struct doubt_list {
    char **rcpts;
    size_t count;
} doubt_list;

static int collect_in_doubt(const char *rcpt, pps_ledger_rcpt_state state,
                            time_t when, void *payload)
{
    doubt_list *l = payload;
    char **grown;

    (void)when;
    if (state != PPS_LEDGER_RCPT_IN_DOUBT)
        return 0;
    grown = pps__realloc(l->rcpts, (l->count + 1) * sizeof(*l->rcpts));
    if (!grown)
        return 1;
    l->rcpts = grown;
    if (!(l->rcpts[l->count] = pps__strdup(rcpt)))
        return 1;
    l->count++;
    return 0;
}

/* Ask the deliverer about each in-doubt recipient of `uid` by its
 * delivery tag.  Found: delivered (never again); not found: it never got
 * there (deliver it now).  A deliverer that cannot tell (LMTP, SMTP,
 * pipe) leaves it to pps_ledger_resolve_in_doubt. */
static int settle_by_tag(poll_ctx *ctx, const char *uid)
{
    doubt_list l = {NULL, 0};
    char tag[PPS_LEDGER_TAG_SIZE];
    size_t i;
    int err, found;

    err = pps_ledger_foreach_recipient(ctx->ledger, uid, collect_in_doubt, &l);
    if (err == PPS_EUSER)
        err = pps__error_oom();
    for (i = 0; err == 0 && i < l.count; i++) {
        if ((err = pps_ledger_delivery_tag(tag, sizeof(tag), ctx->ledger, uid,
                                           l.rcpts[i])) < 0)
            break;
        found = pps_deliver_find(ctx->deliver, l.rcpts[i], tag);
        if (found < 0) { /* cannot tell: at least once */
            if (found != PPS_EUNSUPPORTED)
                pps__log(PPS_LOG_WARN, ctx->name,
                         "after a crash: cannot tell whether message %s "
                         "reached %s: %s",
                         uid, l.rcpts[i], pps_error_last()->message);
            continue;
        }
        if (found) {
            err = pps_ledger_delivered(ctx->ledger, uid, l.rcpts[i]);
            ctx->report->recipients++;
        } else {
            err = pps_ledger_failed(ctx->ledger, uid, l.rcpts[i], PPS_EABORTED,
                                    0);
        }
        pps__log(PPS_LOG_WARN, ctx->name,
                 "after a crash: message %s was%s delivered to %s (found by "
                 "its delivery tag)",
                 uid, found ? "" : " not", l.rcpts[i]);
    }
    for (i = 0; i < l.count; i++)
        pps__free(l.rcpts[i]);
    pps__free(l.rcpts);
    return err;
}

/* --- the RETR callbacks -----------------------------------------------------
 */

static int on_begin(unsigned int number, void *payload)
{
    poll_ctx *ctx = payload;
    poll_message *m = &ctx->msg;
    int err;

    if (ctx->opts->stop && *ctx->opts->stop)
        return 1; /* stop before the next message; DELE and QUIT follow */
    pps__poll_message_reset(ctx);
    m->number = number;
    m->uid = pps__poll_uid_of(ctx, number);
    if (!m->uid) /* never asked for: the inventory gave it no key */
        return pps__poll_fail(ctx, pps__error_set(PPS_ERROR,
                                                  "message %u has no ledger "
                                                  "key",
                                                  number));
    /* A crash during an earlier delivery leaves recipients "in doubt".
     * The deliverer settles those it can find by their tag (exactly
     * once); the rest are delivered again: a duplicate is possible, a
     * loss is not. */
    if ((err = settle_by_tag(ctx, m->uid)) < 0)
        return pps__poll_fail(ctx, err);
    if ((err = pps_ledger_resolve_in_doubt(ctx->ledger, m->uid,
                                           PPS_LEDGER_AT_LEAST_ONCE)) < 0)
        return pps__poll_fail(ctx, err);
    if ((err = pps_header_reader_new(&m->headers,
                                     (size_t)ctx->set.header_limit)) < 0)
        return pps__poll_fail(ctx, err);
    m->state = MSG_HEADER;
    return 0;
}

static int on_data(const char *buf, size_t len, void *payload)
{
    poll_ctx *ctx = payload;
    poll_message *m = &ctx->msg;
    size_t used = len;
    int rc;

    if (m->state == MSG_HEADER) {
        rc = pps_header_reader_feed(m->headers, buf, len, &used);
        if (rc < 0) {
            message_failed(ctx, rc);
            return 0;
        }
        if (rc == 0)
            return 0;
        if (start_delivery(ctx) < 0 || m->state != MSG_BODY)
            return 0;
        buf += used;
        len -= used;
    }
    if (m->state == MSG_BODY && len > 0 &&
        pps_deliver_write(ctx->deliver, buf, len) < 0) {
        record_outcomes(ctx); /* the transaction is over */
        m->state = MSG_DRAIN;
    }
    return 0;
}

static int on_end(unsigned int number, int status, unsigned long long octets,
                  unsigned int flags, void *payload)
{
    poll_ctx *ctx = payload;
    poll_message *m = &ctx->msg;
    const char *uid =
        m->state != MSG_IDLE ? m->uid : pps__poll_uid_of(ctx, number);

    (void)flags;
    if (status == 0 && m->state == MSG_HEADER) {
        /* The message ended inside its header block (no blank line). */
        if (pps_header_reader_finish(m->headers) == 0)
            start_delivery(ctx);
    }
    if (m->state == MSG_BODY) {
        /* Group commit needs room on the staged list first; without it
         * this one message is committed on its own. */
        int stage = ctx->group && pps__poll_staged_reserve(ctx) == 0;
        if (status == 0 && m->error == 0 && stage)
            pps_deliver_commit_staged(ctx->deliver);
        else if (status == 0 && m->error == 0)
            pps_deliver_commit(ctx->deliver); /* outcomes say the rest */
        else
            pps_deliver_abort(ctx->deliver);
        if (record_outcomes(ctx) == 1) {
            pps__poll_staged_add(ctx, number, m->uid, &m->dedup_key);
            uid = NULL; /* settled at the flush */
        }
    }
    if (status == 0) {
        ctx->report->fetched++;
        ctx->report->bytes += octets;
    } else if (status != PPS_EUSER && uid) {
        pps__log(PPS_LOG_WARN, ctx->name,
                 "message %s not retrieved, will retry: %s", uid,
                 pps_strerror(status));
    }
    if (uid)
        pps__poll_settle(ctx, number, uid);
    pps__poll_message_reset(ctx);
    if (pps__poll_batch_due(ctx))
        pps__poll_flush(ctx);
    return 0;
}

const pps_retrieve_callbacks pps__poll_retrieve_callbacks = {
    .version = PPS_RETRIEVE_CALLBACKS_VERSION,
    .begin = on_begin,
    .data = on_data,
    .end = on_end,
};
