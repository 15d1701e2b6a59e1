/*
 * pps/profile_store.h - where profiles are kept.
 *
 * Everything that reads or writes profiles goes through a store, so that
 * no code outside the store assumes files: today profiles live in a folder
 * (DIR/profiles/NAME.conf, mode 0600); a database store can plug in later
 * with the same calls.
 *
 *     pps_profile_store *store;
 *     pps_profile_names names;
 *     uint64_t stamp;
 *
 *     pps_profile_store_open_dir(&store, "/etc/pps");   (the embedded store)
 *     pps_profile_store_list(&names, store);             (sorted names)
 *     pps_profile_store_load(&profile, store, names.names[0]);
 *     pps_profile_store_save(store, profile, PPS_PROFILE_SAVE_CREATE);
 *     pps_profile_store_delete(store, "office");
 *     pps_profile_store_stamp(&stamp, store);   (changes when anything did)
 *     pps_profile_names_free(&names);
 *     pps_profile_store_free(store);
 *
 * A store of your own is a pps_profile_store_ops table plus one payload,
 * handed to pps_profile_store_new().
 */
#ifndef PPS_PROFILE_STORE_H
#define PPS_PROFILE_STORE_H

#include <stdint.h>

#include "common.h"
#include "profile.h"

PPS_BEGIN_DECLS

/* A sorted list of profile names, owned by the caller. */
typedef struct pps_profile_names {
    char **names;
    size_t count;
} pps_profile_names;

/* Free the names and zero the struct.  NULL does nothing. */
PPS_API void pps_profile_names_free(pps_profile_names *names);

/* Flags of save. */
#define PPS_PROFILE_SAVE_CREATE 1u /* fail with PPS_EEXISTS if it exists */
#define PPS_PROFILE_SAVE_REPLACE                 \
    2u /* fail with PPS_ENOTFOUND if it does not \
        */
/* neither flag: create or replace */

/*
 * The interface of a store.  Every slot gets the payload given to
 * pps_profile_store_new() last, returns 0 or a PPS_E* code with the error
 * detail set (pps__error_set for built-in stores), and must be safe to
 * call from one thread at a time.
 */
typedef struct pps_profile_store_ops {
    unsigned int version; /* PPS_PROFILE_STORE_OPS_VERSION */

    /* Fill *out with the names of all profiles, sorted (bytewise).  The
     * names must be allocated with malloc(). */
    int (*list)(pps_profile_names *out, void *payload);

    /* Load profile `name` into *out (a new profile the caller owns);
     * PPS_ENOTFOUND when there is none. */
    int (*load)(pps_profile **out, const char *name, void *payload);

    /* Store p under its name, atomically: a reader sees the old or the
     * new profile, never a mix; `flags` as PPS_PROFILE_SAVE_*. */
    int (*save)(const pps_profile *p, unsigned int flags, void *payload);

    /* Delete profile `name`; PPS_ENOTFOUND when there is none. */
    int (*remove)(const char *name, void *payload);

    /* A cheap value that changes whenever any profile was added, changed
     * or removed since, so a service can reload only then. */
    int (*stamp)(uint64_t *out, void *payload);

    /* Release the payload (may be NULL). */
    void (*free)(void *payload);
} pps_profile_store_ops;

#define PPS_PROFILE_STORE_OPS_VERSION 1

typedef struct pps_profile_store pps_profile_store;

/*
 * A store from an ops table (copied) and its payload, which the store owns
 * from now on (ops->free releases it, also when this call fails).  *out
 * belongs to the caller; free with pps_profile_store_free().
 */
PPS_API int pps_profile_store_new(pps_profile_store **out,
                                  const pps_profile_store_ops *ops,
                                  void *payload);

/*
 * The embedded store: the folder DIR/profiles, one NAME.conf per profile.
 * The folder is created (mode 0700) on the first save.  Writes go to a
 * temporary file in the same folder (created O_EXCL, mode 0600 whatever
 * the umask), are fsync'd and renamed into place, and the folder is
 * fsync'd.  A profile file that group or others may read or write is
 * refused on load (PPS_EPERM, the detail says `chmod 600 FILE`).
 */
PPS_API int pps_profile_store_open_dir(pps_profile_store **out,
                                       const char *dir);

/* Free a store and its payload.  NULL does nothing. */
PPS_API void pps_profile_store_free(pps_profile_store *store);

/* The calls, each checking its arguments and the profile name first. */
PPS_API int pps_profile_store_list(pps_profile_names *out,
                                   pps_profile_store *store);
PPS_API int pps_profile_store_load(pps_profile **out, pps_profile_store *store,
                                   const char *name);
PPS_API int pps_profile_store_save(pps_profile_store *store,
                                   const pps_profile *p, unsigned int flags);
PPS_API int pps_profile_store_delete(pps_profile_store *store,
                                     const char *name);
PPS_API int pps_profile_store_stamp(uint64_t *out, pps_profile_store *store);

PPS_END_DECLS

#endif /* PPS_PROFILE_STORE_H */
