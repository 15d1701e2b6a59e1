/*
 * poll-policy.c - the routing policy of the profile being polled.
 *
 * The router asks two questions while it reads a message: does this local
 * user exist (the deliverer knows: a Maildir folder, an LMTP RCPT), and
 * did this recipient already get a copy of this message (the ledger
 * knows).  The answers of the first are cached for the poll.
 */
#include <string.h>

#include "../core/internal.h"
#include "poll-internal.h"

static int user_exists(const char *user, const char *domain, void *payload)
{
    poll_ctx *ctx = payload;
    char address[2 * 256 + 2];
    size_t i;
    int exists;

    if (pps__snprintf(address, sizeof(address), "%s@%s", user, domain) >=
        (int)sizeof(address))
        return 0; /* longer than any real address: no such user */
    for (i = 0; i < ctx->user_cache_count; i++)
        if (strcmp(ctx->user_cache[i].address, address) == 0)
            return ctx->user_cache[i].exists;

    exists = pps_deliver_user_exists(ctx->deliver, user, domain);
    if (exists < 0)
        return -1; /* temporary: not cached, asked again next time */
    if (ctx->user_cache_count < POLL_USER_CACHE_MAX) {
        poll_user_answer *a = &ctx->user_cache[ctx->user_cache_count];
        if ((a->address = pps__strdup(address)) != NULL) {
            a->exists = exists;
            ctx->user_cache_count++;
        }
    }
    return exists;
}

static int seen(const char *key, const char *recipient, void *payload)
{
    poll_ctx *ctx = payload;

    return pps_ledger_seen(ctx->ledger, key, recipient);
}

/* Split "alias:user" items into the alias table (copies owned by ctx). */
static int add_alias(poll_ctx *ctx, const char *alias, size_t alias_len,
                     const char *user)
{
    pps_route_alias *a = &ctx->aliases[ctx->alias_count];

    a->alias = pps__strndup(alias, alias_len);
    a->user = pps__strdup(user);
    if (!a->alias || !a->user) {
        pps__free((void *)a->alias);
        pps__free((void *)a->user);
        return pps__error_oom();
    }
    ctx->alias_count++;
    return 0;
}

static int load_aliases(poll_ctx *ctx)
{
    const char *const *items = NULL;
    size_t count = 0, global = 0, i;
    int err;

    if ((err = pps_profile_get_list(&items, &count, ctx->profile, "aliases")) <
        0)
        return err;
    if (ctx->opts->config)
        global = pps_config_alias_count(ctx->opts->config);
    if (count + global == 0)
        return 0;
    ctx->aliases = pps__calloc(count + global, sizeof(*ctx->aliases));
    if (!ctx->aliases)
        return pps__error_oom();

    /* The profile's own aliases first: the router takes the first match. */
    for (i = 0; i < count; i++) {
        const char *colon = strchr(items[i], ':');
        if (!colon)
            continue; /* the profile parser guarantees one */
        if ((err = add_alias(ctx, items[i], (size_t)(colon - items[i]),
                             colon + 1)) < 0)
            return err;
    }
    for (i = 0; i < global; i++) {
        const char *alias, *user;
        if (pps_config_alias_at(&alias, &user, ctx->opts->config, i) < 0)
            continue;
        if ((err = add_alias(ctx, alias, strlen(alias), user)) < 0)
            return err;
    }
    return 0;
}

int pps__poll_policy_init(poll_ctx *ctx)
{
    pps_route_policy *p = &ctx->policy;
    const pps_profile_settings *s = &ctx->set;
    int err;

    pps_route_policy_init(p);
    p->profile = ctx->name;
    p->local_user = s->local_user;
    p->local_domain = s->local_domain;
    p->distribute = s->distribute;
    if ((err = pps_profile_get_list(&p->local_domains, &p->local_domain_count,
                                    ctx->profile, "local_domains")) < 0)
        return err;
    if ((err = pps_profile_get_list(&p->envelope_headers,
                                    &p->envelope_header_count, ctx->profile,
                                    "envelope_headers")) < 0)
        return err;
    if ((err = load_aliases(ctx)) < 0)
        return err;
    p->aliases = ctx->aliases;
    p->alias_count = ctx->alias_count;
    p->subaddress_separator = s->subaddress_separator;
    p->unknown_user_skip = s->unknown_user == PPS_PROFILE_UNKNOWN_SKIP;
    p->envelope_skip = (unsigned int)s->envelope_skip;
    p->loop_limit = (unsigned int)s->loop_limit;
    p->user_exists = user_exists;
    p->seen = ctx->ledger ? seen : NULL;
    p->payload = ctx;
    return 0;
}

void pps__poll_policy_free(poll_ctx *ctx)
{
    size_t i;

    for (i = 0; i < ctx->alias_count; i++) {
        pps__free((void *)ctx->aliases[i].alias);
        pps__free((void *)ctx->aliases[i].user);
    }
    pps__free(ctx->aliases);
    ctx->aliases = NULL;
    ctx->alias_count = 0;
    for (i = 0; i < ctx->user_cache_count; i++)
        pps__free(ctx->user_cache[i].address);
    ctx->user_cache_count = 0;
}
