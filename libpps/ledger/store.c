/*
 * store.c - a ledger store from an ops table and its payload.
 */
#include <string.h>

#include "core/internal.h"
#include "ledger-internal.h"

int pps_ledger_store_new(pps_ledger_store **out,
                         const pps_ledger_store_ops *ops, void *payload)
{
    pps_ledger_store *s;

    if (out)
        *out = NULL;
    if (!out || !ops || ops->version < 1 || !ops->open || !ops->load ||
        !ops->append || !ops->sync || !ops->rewrite_begin ||
        !ops->rewrite_add || !ops->rewrite_end || !ops->close) {
        if (ops && ops->free)
            ops->free(payload);
        return pps__error_set(PPS_EINVAL,
                              "ledger: the store ops are NULL, of an unknown "
                              "version or lack a function");
    }
    if (!(s = pps__calloc(1, sizeof(*s)))) {
        if (ops->free)
            ops->free(payload);
        return pps__error_oom();
    }
    /* Slots appended after version 1 would be copied only when the
     * caller's table is that new; today there are none. */
    s->ops = *ops;
    if (!s->ops.name)
        s->ops.name = "unnamed";
    s->payload = payload;
    *out = s;
    return 0;
}

void pps_ledger_store_free(pps_ledger_store *store)
{
    if (!store)
        return;
    if (store->ops.free)
        store->ops.free(store->payload);
    pps__free(store);
}
