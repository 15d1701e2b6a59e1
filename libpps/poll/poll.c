/*
 * poll.c - one poll of one profile, start to end.
 *
 *   open the ledger (the mailbox lock) -> honour the back-off
 *   -> resolve the password -> connect, log in -> inventory
 *   -> prune the ledger -> plan: what to fetch, what to delete
 *   -> retrieve (poll-message.c delivers as it streams)
 *   -> once more for messages whose fallback delivery is due
 *   -> DELE what is complete (after the ledger is synced) -> QUIT
 *   -> record the status for `pps status` and the back-off
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/internal.h"
#include "pps/transport.h"
#include "poll-internal.h"

/* Back-off after failed polls: 1 min, doubling, at most 6 h.  Servers'
 * fail2ban rules ban a fetcher that retries a bad password every minute. */
#define BACKOFF_FIRST 60
#define BACKOFF_MAX   (6 * 3600)

void pps_poll_options_init(pps_poll_options *opts)
{
    if (opts) {
        memset(opts, 0, sizeof(*opts));
        opts->version = PPS_POLL_OPTIONS_VERSION;
    }
}

void pps_poll_report_init(pps_poll_report *report)
{
    if (report) {
        memset(report, 0, sizeof(*report));
        report->version = PPS_POLL_REPORT_VERSION;
        report->login_delay = -1;
    }
}

int pps__poll_fail(poll_ctx *ctx, int err)
{
    if (err < 0 && ctx->first_error == 0) {
        const pps_error *e = pps_error_last();
        ctx->first_error = err;
        if (e->server[0])
            pps__snprintf(ctx->report->text, sizeof(ctx->report->text),
                          "%s (server said: %s)", e->message, e->server);
        else
            pps__snprintf(ctx->report->text, sizeof(ctx->report->text), "%s",
                          e->message[0] ? e->message : pps_strerror(err));
    }
    return err;
}

static const char *auth_name(pps_profile_auth auth)
{
    switch (auth) {
    case PPS_PROFILE_AUTH_USER:
        return "user";
    case PPS_PROFILE_AUTH_APOP:
        return "apop";
    case PPS_PROFILE_AUTH_PLAIN:
        return "plain";
    case PPS_PROFILE_AUTH_LOGIN:
        return "login";
    case PPS_PROFILE_AUTH_CRAM_MD5:
        return "cram-md5";
    case PPS_PROFILE_AUTH_XOAUTH2:
        return "xoauth2";
    case PPS_PROFILE_AUTH_OAUTHBEARER:
        return "oauthbearer";
    case PPS_PROFILE_AUTH_AUTO:
        break;
    }
    return NULL;
}

static int stls_policy(pps_profile_tls_mode mode)
{
    switch (mode) {
    case PPS_PROFILE_TLS_IF_OFFERED:
        return PPS_STLS_IF_OFFERED;
    case PPS_PROFILE_TLS_NONE:
        return PPS_STLS_NEVER;
    case PPS_PROFILE_TLS_REQUIRED:
        break;
    }
    return PPS_STLS_REQUIRED;
}

/* --- connecting ------------------------------------------------------------
 */

static int make_transport(pps_transport **out, const poll_ctx *ctx)
{
    pps_tls_options tls = PPS_TLS_OPTIONS_INIT;

    tls.ca_file = ctx->set.tls_ca_file;
    tls.fingerprint_sha256 = ctx->set.tls_fingerprint;
    tls.verify = ctx->set.tls_verify;
    tls.log_context = ctx->name;
    return pps_transport_tcp_new(out, &tls);
}

int pps__poll_connect(poll_ctx *ctx, pps_transport **own, const char *password)
{
    pps_session_options so = PPS_SESSION_OPTIONS_INIT;
    pps_transport *transport = ctx->opts->transport;
    int err;

    if (!transport) {
        if ((err = make_transport(own, ctx)) < 0)
            return err;
        transport = *own;
    }
    so.user = ctx->set.user;
    so.password = password;
    so.auth_method = auth_name(ctx->set.auth);
    so.stls = stls_policy(ctx->set.tls);
    so.allow_plaintext_password = ctx->set.allow_plaintext_password;
    if (ctx->set.poll_timeout_seconds > 0 &&
        ctx->set.poll_timeout_seconds < 24 * 3600)
        so.session_timeout_ms = (int)(ctx->set.poll_timeout_seconds * 1000);
    so.log_context = ctx->name;
    if ((err = pps_session_new(&ctx->session, transport, &so)) < 0)
        return err;
    if ((err = pps_session_connect(ctx->session, &ctx->set.server)) < 0)
        return err;
    ctx->report->login_delay = pps_session_login_delay(ctx->session);
    return pps_session_login(ctx->session);
}

/* --- the inventory ----------------------------------------------------------
 */

/* Collects the header block that TOP n 0 sends, for the fallback key. */
typedef struct top_collect {
    pps_header_reader *headers;
} top_collect;

static int top_data(const char *buf, size_t len, void *payload)
{
    top_collect *c = payload;
    size_t used;

    return pps_header_reader_feed(c->headers, buf, len, &used) < 0;
}

static int fallback_key(poll_ctx *ctx, size_t i)
{
    static const pps_retrieve_callbacks cb = {
        .version = PPS_RETRIEVE_CALLBACKS_VERSION,
        .data = top_data,
    };
    const pps_message_entry *e = &ctx->list->entries[i];
    top_collect c = {NULL};
    const char *raw;
    size_t raw_len;
    int err;

    if ((err = pps_header_reader_new(&c.headers, 0)) < 0)
        return err;
    err = pps_session_top(ctx->session, e->number, 0, &cb, &c);
    if (err == 0 && (err = pps_header_reader_finish(c.headers)) == 0) {
        raw = pps_header_reader_raw(c.headers, &raw_len);
        err = pps_ledger_fallback_key(ctx->fallback_keys[i],
                                      PPS_LEDGER_FALLBACK_KEY_SIZE, e->size,
                                      raw, raw_len);
        if (err >= 0) {
            ctx->uids[i] = ctx->fallback_keys[i];
            err = 0;
        }
    }
    pps_header_reader_free(c.headers);
    return err;
}

/* The ledger key of every message: its UIDL, or, for a server without
 * usable UIDLs, a digest of its header block and size (docs/ledger.md). */
static int key_messages(poll_ctx *ctx)
{
    size_t i, untracked = 0, fallback = 0;
    int err;

    ctx->uids = pps__calloc(ctx->list->count, sizeof(*ctx->uids));
    if (!ctx->uids)
        return pps__error_oom();
    for (i = 0; i < ctx->list->count; i++) {
        const pps_message_entry *e = &ctx->list->entries[i];
        if (!(e->flags & (PPS_MESSAGE_NO_UID | PPS_MESSAGE_DUP_UID |
                          PPS_MESSAGE_BAD_UID)) &&
            e->uid) {
            ctx->uids[i] = e->uid;
            continue;
        }
        if (!ctx->fallback_keys &&
            !(ctx->fallback_keys =
                  pps__calloc(ctx->list->count, sizeof(*ctx->fallback_keys))))
            return pps__error_oom();
        if ((err = fallback_key(ctx, i)) == 0) {
            fallback++;
        } else if (pps_error_is_temporary(err) || err == PPS_EPROTO ||
                   err == PPS_EABORTED) {
            return err; /* the session is broken */
        } else {
            untracked++; /* no TOP either: leave it alone */
        }
    }
    if (fallback)
        pps__log(PPS_LOG_WARN, ctx->name,
                 "the server gave no usable UIDL for %zu message(s); they "
                 "are tracked by a digest of their header (docs/ledger.md)",
                 fallback);
    if (untracked)
        pps__log(PPS_LOG_ERROR, ctx->name,
                 "%zu message(s) have neither a usable UIDL nor TOP: they "
                 "stay on the server untouched",
                 untracked);
    return 0;
}

static int prune(poll_ctx *ctx)
{
    const char **listed;
    size_t i, n = 0;
    int err;

    listed = pps__calloc(ctx->list->count, sizeof(*listed));
    if (!listed && ctx->list->count)
        return pps__error_oom();
    for (i = 0; i < ctx->list->count; i++)
        if (ctx->uids[i])
            listed[n++] = ctx->uids[i];
    err = pps_ledger_prune(ctx->ledger, listed, n);
    pps__free(listed);
    return err < 0 ? err : 0;
}

/* --- planning ---------------------------------------------------------------
 */

/* Sort the listing into: already delivered (to delete), to fetch (within
 * the profile's limits), and left alone. */
static int plan(poll_ctx *ctx, unsigned int **fetch, size_t *fetch_count)
{
    const pps_profile_settings *s = &ctx->set;
    size_t i;
    int err;

    *fetch = pps__calloc(ctx->list->count, sizeof(**fetch));
    if (!*fetch && ctx->list->count)
        return pps__error_oom();
    *fetch_count = 0;
    for (i = 0; i < ctx->list->count; i++) {
        const pps_message_entry *e = &ctx->list->entries[i];
        pps_ledger_message_info info;

        if (!ctx->uids[i])
            continue;
        if ((err = pps_ledger_message(&info, ctx->ledger, ctx->uids[i])) < 0)
            return err;
        if (info.state >= PPS_LEDGER_COMPLETE) {
            /* Delivered earlier: delete it now without delivering again. */
            if (!s->keep) {
                unsigned int *grown = pps__realloc(
                    ctx->dele, (ctx->dele_count + 1) * sizeof(*ctx->dele));
                if (!grown)
                    return pps__error_oom();
                ctx->dele = grown;
                ctx->dele[ctx->dele_count++] = e->number;
            }
            continue;
        }
        if (s->max_message_size && e->size > s->max_message_size) {
            ctx->report->kept_too_big++;
            pps__log(PPS_LOG_INFO, ctx->name,
                     "message %s (%llu bytes) is larger than "
                     "max_message_size (%llu): left on the server",
                     ctx->uids[i], e->size, s->max_message_size);
            continue;
        }
        if (s->max_messages && *fetch_count >= s->max_messages)
            continue; /* the next poll takes the rest */
        (*fetch)[(*fetch_count)++] = e->number;
    }
    return 0;
}

/* Messages fetched but not complete because of a temporary failure: they
 * stay for the next poll. */
static void count_unfinished(poll_ctx *ctx, const unsigned int *fetch,
                             size_t fetch_count)
{
    size_t i;

    for (i = 0; i < fetch_count; i++) {
        pps_ledger_message_info info;
        const char *uid = pps__poll_uid_of(ctx, fetch[i]);
        /* Left only because a recipient refused it for good and the
         * profile keeps such mail (or even the fallback refused it): that
         * is on purpose and logged, not a failure to retry. */
        if (uid && pps_ledger_message(&info, ctx->ledger, uid) == 0 &&
            info.state < PPS_LEDGER_COMPLETE &&
            (info.failed_temp > 0 || info.in_doubt > 0 ||
             info.failed_perm == 0))
            ctx->report->failed_temp++;
    }
}

/* --- deleting
 * ----------------------------------------------------------------- */

/* DELE every complete message, after the ledger has them durably
 * (pps_ledger_dele_sent syncs first), then QUIT to commit. */
static int delete_and_quit(poll_ctx *ctx)
{
    size_t i, sent = 0;
    int err = 0, quit_err;

    for (i = 0; i < ctx->dele_count && err == 0; i++)
        err = pps_ledger_dele_sent(ctx->ledger,
                                   pps__poll_uid_of(ctx, ctx->dele[i]));
    if (err == 0 && ctx->dele_count > 0)
        err =
            pps_session_delete(ctx->session, ctx->dele, ctx->dele_count, &sent);
    if (err < 0)
        pps__poll_fail(ctx, err);

    quit_err = pps_session_quit(ctx->session);
    if (quit_err < 0) {
        pps__poll_fail(ctx, quit_err);
        pps__log(PPS_LOG_WARN, ctx->name,
                 "QUIT failed: the deletions of this poll did not take "
                 "effect; the next poll deletes those messages again");
        return quit_err;
    }
    ctx->report->deleted = sent;
    if ((err = pps_ledger_quit_ok(ctx->ledger)) < 0)
        return pps__poll_fail(ctx, err);
    return 0;
}

/* --- status and back-off
 * -------------------------------------------------------- */

static time_t backoff_seconds(unsigned long failures)
{
    time_t wait = BACKOFF_FIRST;

    while (failures-- > 1 && wait < BACKOFF_MAX)
        wait *= 2;
    return wait < BACKOFF_MAX ? wait : BACKOFF_MAX;
}

/* Failures that another try soon would not mend, or that would annoy the
 * server: they back off.  A failed delivery does not (the server is fine). */
static int backs_off(int err)
{
    return err == PPS_EAUTH || err == PPS_ETLS || err == PPS_ENET ||
           err == PPS_ETIMEOUT || err == PPS_EPROTO || err == PPS_EPERM;
}

static void store_status(poll_ctx *ctx, const pps_ledger_status *before)
{
    pps_poll_report *r = ctx->report;
    pps_ledger_status st = PPS_LEDGER_STATUS_INIT;

    st.started = r->started;
    st.finished = r->finished;
    st.result = r->result;
    pps__snprintf(st.text, sizeof(st.text), "%s", r->text);
    st.listed = r->listed;
    st.delivered = r->delivered;
    st.deleted = r->deleted;
    st.failed = r->failed_temp + r->failed_perm;
    st.last_success = r->result == 0 ? r->finished : before->last_success;
    st.consecutive_failures =
        r->result == 0 ? 0 : before->consecutive_failures + 1;
    if (r->result < 0 && backs_off(r->result))
        r->next_allowed =
            r->finished + backoff_seconds(st.consecutive_failures);
    if (r->login_delay > 0 && r->finished + r->login_delay > r->next_allowed)
        r->next_allowed = r->finished + r->login_delay;
    st.next_allowed = r->next_allowed;
    if (pps_ledger_status_set(ctx->ledger, &st) < 0 ||
        pps_ledger_sync(ctx->ledger) < 0)
        pps__log(PPS_LOG_WARN, ctx->name, "could not store the poll status");
}

/* --- the poll
 * ------------------------------------------------------------------- */

static int run(poll_ctx *ctx, pps_ledger_status *before)
{
    const pps_poll_options *o = ctx->opts;
    pps_ledger_options lo = PPS_LEDGER_OPTIONS_INIT;
    pps_transport *own_transport = NULL;
    char *secret = NULL;
    unsigned int *fetch = NULL;
    size_t fetch_count = 0;
    time_t now = time(NULL);
    int err;

    lo.profile = ctx->name;
    if (ctx->set.duplicate_window_seconds)
        lo.dedup_window = (long)ctx->set.duplicate_window_seconds;
    if ((err = pps_ledger_open(&ctx->ledger, o->ledger_store,
                               ctx->set.server.host, ctx->set.user, &lo)) < 0)
        return err;
    pps_ledger_status_get(before, ctx->ledger);
    if (!o->ignore_backoff && before->next_allowed > now) {
        ctx->report->next_allowed = before->next_allowed;
        ctx->backing_off = 1; /* not a poll: its status stays as it was */
        return pps__error_set(PPS_ETEMP,
                              "profile %s: backing off after %lu failed "
                              "poll(s); next poll allowed in %ld s",
                              ctx->name, before->consecutive_failures,
                              (long)(before->next_allowed - now));
    }

    if ((err = pps__poll_policy_init(ctx)) < 0)
        goto done;
    if ((err = pps_profile_get_secret(&secret, NULL, ctx->profile)) < 0)
        goto done;
    if ((err = pps__poll_connect(ctx, &own_transport, secret)) < 0)
        goto done;
    if ((err = pps_session_inventory(&ctx->list, ctx->session)) < 0)
        goto done;
    ctx->report->listed = (unsigned long)ctx->list->count;
    if ((err = key_messages(ctx)) < 0 || (err = prune(ctx)) < 0 ||
        (err = plan(ctx, &fetch, &fetch_count)) < 0)
        goto done;

    if (fetch_count > 0) {
        err = pps_session_retrieve(ctx->session, fetch, fetch_count,
                                   &pps__poll_retrieve_callbacks, ctx);
        /* Whatever was received is delivered, even when the session
         * broke after it (the flush also settles: the retry list). */
        pps__poll_flush(ctx);
        if (err == 0 && ctx->again_count > 0) {
            /* Fallback deliveries for recipients refused for good. */
            unsigned int *again = ctx->again;
            size_t again_count = ctx->again_count;
            ctx->again = NULL;
            ctx->again_count = 0;
            err = pps_session_retrieve(ctx->session, again, again_count,
                                       &pps__poll_retrieve_callbacks, ctx);
            pps__poll_flush(ctx);
            pps__free(again);
        }
        if (err == PPS_EUSER) /* stopped by *o->stop between messages */
            err = pps__error_set(PPS_EABORTED, "profile %s: poll stopped",
                                 ctx->name);
        if (err < 0 && err != PPS_EABORTED)
            goto done; /* the session is broken: no DELE, no QUIT */
        pps__poll_fail(ctx, err);
        count_unfinished(ctx, fetch, fetch_count);
    }
    err = delete_and_quit(ctx);
    if (err == 0 && ctx->report->failed_temp > 0)
        err = pps__poll_fail(
            ctx, pps__error_set(PPS_ETEMP,
                                "%lu message(s) could not be delivered now; "
                                "they stay on the server for the next poll",
                                ctx->report->failed_temp));

done:
    if (err < 0)
        pps__poll_fail(ctx, err);
    if (ctx->session && err < 0)
        pps_session_quit(ctx->session); /* commits nothing when broken */
    pps_session_free(ctx->session);
    ctx->session = NULL;
    pps_transport_free(own_transport);
    pps_secret_free(secret);
    pps__free(fetch);
    return ctx->first_error;
}

int pps__poll_ctx_init(poll_ctx *ctx, const pps_profile *profile,
                       const pps_poll_options *opts, pps_poll_report *report)
{
    char *c;
    int err;

    memset(ctx, 0, sizeof(*ctx));
    ctx->profile = profile;
    ctx->opts = opts;
    ctx->report = report;
    ctx->deliver = opts->deliver;
    ctx->group = pps_deliver_can_stage(ctx->deliver);
    ctx->name = pps_profile_name(profile);
    pps_profile_settings_init(&ctx->set);
    if ((err = pps_profile_validate(profile)) < 0 ||
        (err = pps_profile_get_settings(&ctx->set, profile)) < 0)
        return pps__poll_fail(ctx, err);
    if (opts->local_host)
        pps__snprintf(ctx->local_host, sizeof(ctx->local_host), "%s",
                      opts->local_host);
    else if (gethostname(ctx->local_host, sizeof(ctx->local_host) - 1) != 0)
        pps__snprintf(ctx->local_host, sizeof(ctx->local_host), "localhost");
    pps__snprintf(ctx->fallback, sizeof(ctx->fallback), "%s@%s",
                  ctx->set.local_user, ctx->set.local_domain);
    for (c = ctx->fallback; *c; c++)
        *c = (char)pps__ascii_tolower((unsigned char)*c);
    return 0;
}

int pps_poll_run(pps_poll_report *report, const pps_profile *profile,
                 const pps_poll_options *opts)
{
    pps_poll_report scratch = PPS_POLL_REPORT_INIT;
    pps_ledger_status before = PPS_LEDGER_STATUS_INIT;
    poll_ctx ctx;
    int err;

    if (!report)
        report = &scratch;
    if (!profile || !opts || opts->version != PPS_POLL_OPTIONS_VERSION ||
        report->version != PPS_POLL_REPORT_VERSION || !opts->deliver ||
        !opts->ledger_store)
        return pps__error_set(PPS_EINVAL, "pps_poll_run: bad argument");
    pps_poll_report_init(report);
    report->started = time(NULL);

    if ((err = pps__poll_ctx_init(&ctx, profile, opts, report)) < 0)
        goto out;

    err = run(&ctx, &before);
    if (err < 0)
        pps__poll_fail(&ctx, err);

out:
    report->result = ctx.first_error;
    report->finished = time(NULL);
    if (report->result == 0)
        pps__snprintf(report->text, sizeof(report->text),
                      "%lu listed, %lu delivered, %lu deleted", report->listed,
                      report->delivered, report->deleted);
    if (ctx.ledger) {
        if (!ctx.backing_off)
            store_status(&ctx, &before);
        pps_ledger_free(ctx.ledger);
    }
    pps__log(report->result == 0 ? PPS_LOG_INFO : PPS_LOG_ERROR, ctx.name,
             "poll %s: %s", report->result == 0 ? "done" : "failed",
             report->text);
    pps__poll_message_reset(&ctx);
    if (ctx.staged_count > 0) { /* only when a flush could not run */
        pps_deliver_discard_staged(ctx.deliver);
        pps__poll_staged_free(&ctx);
    }
    pps__free(ctx.staged);
    pps__poll_policy_free(&ctx);
    pps_message_list_free(ctx.list);
    pps__free(ctx.uids);
    pps__free(ctx.fallback_keys);
    pps__free(ctx.dele);
    pps__free(ctx.again);
    if (report->result < 0) {
        /* Leave the poll's own first error as the thread's detail. */
        pps__error_set(report->result, "%s", report->text);
    }
    return report->result;
}
