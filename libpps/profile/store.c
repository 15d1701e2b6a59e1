/*
 * store.c - the profile store handle: argument checks, then the ops table.
 *
 * Names are checked here, once, for every store: a store of any kind can
 * rely on getting only valid profile names.
 */
#include <string.h>

#include "../core/internal.h"
#include "profile-internal.h"

struct pps_profile_store {
    pps_profile_store_ops ops;
    void *payload;
};

void pps_profile_names_free(pps_profile_names *names)
{
    size_t i;

    if (!names)
        return;
    for (i = 0; i < names->count; i++)
        pps__free(names->names[i]);
    pps__free(names->names);
    names->names = NULL;
    names->count = 0;
}

int pps_profile_store_new(pps_profile_store **out,
                          const pps_profile_store_ops *ops, void *payload)
{
    pps_profile_store *store;

    if (out)
        *out = NULL;
    if (!out || !ops || ops->version != PPS_PROFILE_STORE_OPS_VERSION ||
        !ops->list || !ops->load || !ops->save || !ops->remove || !ops->stamp) {
        if (ops && ops->free)
            ops->free(payload);
        return pps__error_set(PPS_EINVAL,
                              "pps_profile_store_new: an ops table of "
                              "version %d with every slot is needed",
                              PPS_PROFILE_STORE_OPS_VERSION);
    }
    if (!(store = pps__calloc(1, sizeof(*store)))) {
        if (ops->free)
            ops->free(payload);
        return pps__error_oom();
    }
    store->ops = *ops;
    store->payload = payload;
    *out = store;
    return 0;
}

void pps_profile_store_free(pps_profile_store *store)
{
    if (!store)
        return;
    if (store->ops.free)
        store->ops.free(store->payload);
    pps__free(store);
}

void *pps__store_payload(pps_profile_store *store,
                         const pps_profile_store_ops *ops)
{
    return store && store->ops.list == ops->list ? store->payload : NULL;
}

static int check_name(const char *name)
{
    char quoted[96];

    if (pps_profile_name_is_valid(name))
        return 0;
    if (!name)
        return pps__error_set(PPS_EINVAL, "no profile name given");
    return pps__error_set(
        PPS_EINVAL, "profile name %s is not valid",
        pps__quote(quoted, sizeof(quoted), name, strnlen(name, 200)));
}

int pps_profile_store_list(pps_profile_names *out, pps_profile_store *store)
{
    if (!out || !store)
        return pps__error_set(PPS_EINVAL, "pps_profile_store_list: NULL");
    out->names = NULL;
    out->count = 0;
    return store->ops.list(out, store->payload);
}

int pps_profile_store_load(pps_profile **out, pps_profile_store *store,
                           const char *name)
{
    int err;

    if (!out || !store)
        return pps__error_set(PPS_EINVAL, "pps_profile_store_load: NULL");
    *out = NULL;
    if ((err = check_name(name)) < 0)
        return err;
    return store->ops.load(out, name, store->payload);
}

int pps_profile_store_save(pps_profile_store *store, const pps_profile *p,
                           unsigned int flags)
{
    int err;

    if (!store || !p)
        return pps__error_set(PPS_EINVAL, "pps_profile_store_save: NULL");
    /* Saving activates a profile at once: only whole ones are saved. */
    if ((err = pps_profile_validate(p)) < 0)
        return err;
    if ((flags & PPS_PROFILE_SAVE_CREATE) && (flags & PPS_PROFILE_SAVE_REPLACE))
        return pps__error_set(PPS_EINVAL, "pps_profile_store_save: CREATE "
                                          "and REPLACE exclude each other");
    return store->ops.save(p, flags, store->payload);
}

int pps_profile_store_delete(pps_profile_store *store, const char *name)
{
    int err;

    if (!store)
        return pps__error_set(PPS_EINVAL, "pps_profile_store_delete: NULL");
    if ((err = check_name(name)) < 0)
        return err;
    return store->ops.remove(name, store->payload);
}

int pps_profile_store_stamp(uint64_t *out, pps_profile_store *store)
{
    if (!out || !store)
        return pps__error_set(PPS_EINVAL, "pps_profile_store_stamp: NULL");
    return store->ops.stamp(out, store->payload);
}
