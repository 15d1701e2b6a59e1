/*
 * pps/ledger_store.h - plug your own storage under the ledger.
 *
 * Most programs never need this: pps_ledger_store_open_dir() gives the
 * embedded store (files in a state folder).  A program that keeps the
 * ledger elsewhere - a PostgreSQL database shared by several ppsd nodes -
 * fills a pps_ledger_store_ops table, makes a store of it with
 * pps_ledger_store_new() and passes that to pps_ledger_open():
 *
 *     static const pps_ledger_store_ops pg_ops = {
 *         PPS_LEDGER_STORE_OPS_VERSION, "postgresql", pg_open, pg_load,
 *         pg_append, pg_sync, pg_rewrite_begin, pg_rewrite_add,
 *         pg_rewrite_end, pg_close, pg_free};
 *     pps_ledger_store_new(&store, &pg_ops, pg_connection_pool);
 *
 * The split: the store makes records durable and gives them back; the
 * ledger gives them meaning (pps/ledger.h: states, checks, the hash table
 * in memory).  A store therefore knows nothing of POP3.  The ledger calls:
 *
 *     open      once per pps_ledger_open: find the mailbox, take its
 *               exclusive lock (unless read-only)
 *     load      once, right after open: hand back every record, oldest
 *               first
 *     append    per record; need not be durable yet ...
 *     sync      ... until this returns 0
 *     rewrite_begin / rewrite_add... / rewrite_end
 *               compaction: replace all records by a snapshot, atomically
 *               (a crash leaves either the old records or the new ones)
 *     close     release the lock and everything else
 *
 * Records are applied in order; applying a record twice changes nothing,
 * so a store may replay a suffix it is unsure of.
 *
 * Every slot gets the store's payload last and returns 0 or a negative
 * PPS_E* code (PPS_EIO when the
 * storage failed, PPS_ETEMP when the lock is held ...); the ledger keeps
 * the detail the embedded store sets and names the store and the step
 * otherwise.  Slots are only ever appended; `version` says which exist.
 */
#ifndef PPS_LEDGER_STORE_H
#define PPS_LEDGER_STORE_H

#include "common.h"
#include "ledger.h"

PPS_BEGIN_DECLS

typedef enum pps_ledger_record_type {
    PPS_LEDGER_REC_INTENT = 'I',    /* uid, rcpt, time */
    PPS_LEDGER_REC_DELIVERED = 'D', /* uid, rcpt, time */
    PPS_LEDGER_REC_FAILED = 'F',    /* uid, rcpt, time, code, permanent */
    PPS_LEDGER_REC_COMPLETE = 'C',  /* uid, time */
    PPS_LEDGER_REC_DELE = 'P',      /* uid, time: DELE sent */
    PPS_LEDGER_REC_QUIT = 'Q',      /* time: QUIT +OK, every DELE final */
    PPS_LEDGER_REC_DELETED = 'E',   /* uid, time: its DELE is final */
    PPS_LEDGER_REC_FORGET = 'X',    /* uid: pruned */
    PPS_LEDGER_REC_SEEN = 'S',      /* uid = duplicate key, rcpt, time */
    PPS_LEDGER_REC_STATUS = 'T'     /* status */
} pps_ledger_record_type;

/* One record.  Strings are NUL-terminated and borrowed for the call. */
typedef struct pps_ledger_record {
    pps_ledger_record_type type;
    const char *uid;  /* message uid, or the key of a SEEN record */
    const char *rcpt; /* recipient, or NULL */
    time_t time;
    int code;                        /* FAILED: the PPS_E* code */
    int permanent;                   /* FAILED: 1 when permanent */
    const pps_ledger_status *status; /* STATUS only */
} pps_ledger_record;

/* The load callback: 0 to go on, a PPS_E* code to stop with it. */
typedef int (*pps_ledger_record_cb)(const pps_ledger_record *rec, void *arg);

typedef struct pps_ledger_store_ops {
    unsigned int version; /* PPS_LEDGER_STORE_OPS_VERSION */
    const char *name;     /* for messages: "file", "postgresql" */

    /* Find (writable: create when missing) the records of mailbox
     * (host, user) - host already in lower case - and, unless
     * opts->read_only, take its exclusive lock (PPS_ETEMP when another
     * holds it after opts->lock_wait_ms).  Read-only and missing:
     * PPS_ENOTFOUND.  *mailbox is handed to every other slot. */
    int (*open)(void **mailbox, const char *host, const char *user,
                const pps_ledger_options *opts, void *payload);

    /* Call each(rec, arg) for every record, oldest first.  Returns 0, 1
     * when the store wants a rewrite (it skipped damaged records), or a
     * PPS_E* code. */
    int (*load)(void *mailbox, pps_ledger_record_cb each, void *arg,
                void *payload);

    /* Add a record after the others; durable once sync returns 0. */
    int (*append)(void *mailbox, const pps_ledger_record *rec, void *payload);

    /* Make every appended record durable. */
    int (*sync)(void *mailbox, void *payload);

    /* Replace every record by those given to rewrite_add between begin
     * and end(commit = 1); end(commit = 0) abandons the rewrite and keeps
     * the old records.  Durable and atomic when end returns 0. */
    int (*rewrite_begin)(void *mailbox, void *payload);
    int (*rewrite_add)(void *mailbox, const pps_ledger_record *rec,
                       void *payload);
    int (*rewrite_end)(void *mailbox, int commit, void *payload);

    /* Release the lock and free the mailbox; NULL never passed. */
    void (*close)(void *mailbox, void *payload);

    /* Release the payload when the store is freed (may be NULL). */
    void (*free)(void *payload);
} pps_ledger_store_ops;

#define PPS_LEDGER_STORE_OPS_VERSION 1

/*
 * A store from an ops table (copied; `name` must be a static string) and
 * its payload, which the store owns from now on: ops->free releases it,
 * also when this call fails.  Every slot but `free` is required
 * (PPS_EINVAL).  *out belongs to the caller; free it with
 * pps_ledger_store_free() after every ledger opened on it.
 */
PPS_API int pps_ledger_store_new(pps_ledger_store **out,
                                 const pps_ledger_store_ops *ops,
                                 void *payload);

PPS_END_DECLS

#endif /* PPS_LEDGER_STORE_H */
