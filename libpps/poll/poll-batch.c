/*
 * poll-batch.c - group commit: the messages of a poll made durable in
 * batches.
 *
 * With a deliverer that can stage (maildir), each message of a poll is
 * only written when RETR ends (pps_deliver_commit_staged) and its ledger
 * intent only appended.  A flush then, in this order:
 *   1. syncs the ledger: every intent of the batch is durable before any
 *      of its deliveries can be, so a crash at any later point leaves
 *      the recipients "in doubt", which the next poll settles exactly by
 *      their delivery tags;
 *   2. makes the batch durable and visible (pps_deliver_flush: an fsync
 *      per file, whose write-back began at staging, then links into
 *      new/ and one fsync per new/ folder);
 *   3. records each recipient's outcome and settles each message
 *      (complete: queued for DELE).
 * The DELEs go out after the flush, after pps_ledger_dele_sent has
 * synced those outcomes (invariant 1).  A batch is flushed when it holds
 * POLL_BATCH_MAX messages, when its first message is POLL_BATCH_MS old,
 * when a message's duplicate key matches one in the batch, and at the
 * end of every retrieval.
 */
#include <string.h>

#include "../core/internal.h"
#include "poll-internal.h"

int pps__poll_staged_reserve(poll_ctx *ctx)
{
    poll_staged *grown = pps__grow(ctx->staged, ctx->staged_count,
                                   &ctx->staged_cap, sizeof(*grown), 16);

    if (!grown)
        return pps__error_oom();
    ctx->staged = grown;
    return 0;
}

void pps__poll_staged_add(poll_ctx *ctx, unsigned int number, const char *uid,
                          char **dedup_key)
{
    poll_staged *e = &ctx->staged[ctx->staged_count++];

    if (ctx->staged_count == 1)
        ctx->staged_since = pps__now_ms();
    e->number = number;
    e->uid = uid;
    e->dedup_key = *dedup_key;
    *dedup_key = NULL;
}

int pps__poll_batch_due(const poll_ctx *ctx)
{
    return ctx->staged_count >= POLL_BATCH_MAX ||
           (ctx->staged_count > 0 &&
            pps__now_ms() - ctx->staged_since >= POLL_BATCH_MS);
}

void pps__poll_staged_free(poll_ctx *ctx)
{
    size_t k;

    for (k = 0; k < ctx->staged_count; k++)
        pps__free(ctx->staged[k].dedup_key);
    ctx->staged_count = 0;
}

/* Step 3, per message, in staging order. */
static void on_flushed(size_t index, const pps_deliver_status *st, size_t count,
                       void *payload)
{
    poll_ctx *ctx = payload;
    const poll_staged *e;

    if (index >= ctx->staged_count)
        return; /* cannot happen: both lists grow together */
    e = &ctx->staged[index];
    if (pps__poll_record_statuses(ctx, e->uid, e->dedup_key, st, count) >= 0)
        pps__poll_settle(ctx, e->number, e->uid);
}

int pps__poll_flush(poll_ctx *ctx)
{
    int err;

    if (ctx->staged_count == 0 && pps_deliver_staged_count(ctx->deliver) == 0)
        return 0;
    if (ctx->staged_count != pps_deliver_staged_count(ctx->deliver))
        err = pps__error_set(PPS_ERROR,
                             "group commit: %zu messages staged here, %zu in "
                             "the deliverer",
                             ctx->staged_count,
                             pps_deliver_staged_count(ctx->deliver));
    else
        err = pps_ledger_sync(ctx->ledger); /* step 1 */
    if (err < 0) {
        /* Not one of them may become visible: their intents are not
         * known to be durable.  They stay on the server for the next
         * poll. */
        pps_deliver_discard_staged(ctx->deliver);
        pps__poll_staged_free(ctx);
        return pps__poll_fail(ctx, err);
    }
    err = pps_deliver_flush(ctx->deliver, on_flushed, ctx); /* steps 2, 3 */
    if (err < 0)
        pps__log(PPS_LOG_WARN, ctx->name, "group commit: %s",
                 pps_error_last()->message);
    pps__poll_staged_free(ctx);
    return 0;
}
