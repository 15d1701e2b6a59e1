/*
 * pps/ledger.h - what was delivered to whom, and what was deleted.
 *
 * The ledger is the crash-safe memory of one remote mailbox.  It is what
 * makes "every message exactly once" true across crashes, dropped
 * connections and partial delivery failures.  It is keyed by the remote
 * identity (server host + user), never by the profile name, so renaming a
 * profile or two profiles on one mailbox cannot deliver a message twice.
 *
 * The embedded store keeps one append-only file per mailbox in a state
 * folder (see docs/ledger.md); other stores plug in through
 * <pps/ledger_store.h>.  One poll goes like this:
 *
 *     pps_ledger_store *store;            once per program
 *     pps_ledger_store_open_dir(&store, "/var/lib/pps/state");
 *
 *     pps_ledger *l;                      once per poll; takes the lock
 *     pps_ledger_open(&l, store, "pop.example.com", "joe", &opts);
 *
 *     UIDL + LIST  ->  pps_ledger_prune(l, listed_uids, n);
 *     for each listed uid:
 *         pps_ledger_message(&info, l, uid);
 *         COMPLETE, DELE_SENT or DELETED: not delivered again; DELE it
 *             (unless keep) after pps_ledger_dele_sent();
 *         otherwise RETR, route, then for the recipients that are not
 *         yet DELIVERED (pps_ledger_recipient):
 *             pps_ledger_intend(l, uid, rcpts, n);   durable on return
 *             deliver ...
 *             pps_ledger_delivered(l, uid, rcpt) or pps_ledger_failed()
 *         when no recipient is left to try: pps_ledger_complete(l, uid);
 *     pps_ledger_dele_sent(l, uid) for each DELE (it syncs first: what is
 *         recorded is durable before the DELE leaves), send the DELEs;
 *     QUIT answered +OK  ->  pps_ledger_quit_ok(l);
 *     pps_ledger_status_set(l, &st);
 *     pps_ledger_free(l);                 syncs, releases the lock
 *
 *     pps_ledger_store_free(store);
 *
 * A recipient left with an intent but no outcome (the process died while
 * delivering) is "in doubt": see pps_ledger_resolve_in_doubt().
 *
 * A ledger handle is used by one thread at a time.  Its strings are
 * copied; nothing the caller passes is kept.
 */
#ifndef PPS_LEDGER_H
#define PPS_LEDGER_H

#include <time.h>

#include "common.h"

PPS_BEGIN_DECLS

/* RFC 1939 7 allows 70 characters in a UIDL; we take more for servers that
 * exceed it and for the fallback key (PPS_LEDGER_FALLBACK_KEY_SIZE). */
#define PPS_LEDGER_UID_MAX 128
/* RFC 5321 4.5.3.1.3: a path is at most 256 octets including "<>". */
#define PPS_LEDGER_RCPT_MAX 254
/* A duplicate-suppression key (e.g. a digest of the Message-ID). */
#define PPS_LEDGER_KEY_MAX 255
/* The text of the last poll's result kept for `pps status`. */
#define PPS_LEDGER_STATUS_TEXT_MAX 255
/* The most recipients one message may have in the ledger. */
#define PPS_LEDGER_RCPTS_PER_MESSAGE_MAX 4096
/* The default window of the duplicate store: 7 days. */
#define PPS_LEDGER_DEDUP_WINDOW_DEFAULT (7L * 24 * 3600)

typedef struct pps_ledger pps_ledger;
/* Where ledgers are kept: pps_ledger_store_open_dir() or, for a store of
 * your own, pps_ledger_store_new() in <pps/ledger_store.h>. */
typedef struct pps_ledger_store pps_ledger_store;

typedef struct pps_ledger_options {
    unsigned int version;      /* PPS_LEDGER_OPTIONS_VERSION */
    int read_only;             /* 1: no lock, no writes (for `pps status`) */
    unsigned int lock_wait_ms; /* wait this long for another poller's lock;
                                  0: fail at once with PPS_ETEMP */
    long dedup_window;         /* seconds; 0: PPS_LEDGER_DEDUP_WINDOW_DEFAULT */
    int accept_corrupt;        /* 1: skip (and log) corrupt records in the
                                  middle of the store instead of failing */
    const char *profile;       /* profile name for log lines only, or NULL */
} pps_ledger_options;

#define PPS_LEDGER_OPTIONS_VERSION 1
#define PPS_LEDGER_OPTIONS_INIT                      \
    {                                                \
        PPS_LEDGER_OPTIONS_VERSION, 0, 0, 0, 0, NULL \
    }

/* For bindings that cannot use the macro. */
PPS_API void pps_ledger_options_init(pps_ledger_options *opts);

/*
 * The embedded store: files in `state_dir` (created, mode 0700, when
 * missing), one `<digest>.ledger` and `<digest>.lock` per remote mailbox,
 * mode 0600.  `*out` belongs to the caller, who frees it with
 * pps_ledger_store_free() after every ledger opened on it is freed.
 */
PPS_API int pps_ledger_store_open_dir(pps_ledger_store **out,
                                      const char *state_dir);

/* Free a store and its payload.  NULL does nothing. */
PPS_API void pps_ledger_store_free(pps_ledger_store *store);

/*
 * Open the ledger of mailbox `user` at `host` (compared without regard
 * to ASCII case; pass the host alone, not the port, so that switching a
 * profile from 110 to 995s keeps its ledger).  Takes the mailbox's
 * exclusive lock unless opts->read_only: a second opener gets PPS_ETEMP
 * ("... is being polled by pid N") at once or after opts->lock_wait_ms.
 * A torn last record (a crash during a write) is dropped; a corrupt
 * record followed by good ones fails with PPS_ECONFIG naming file and
 * line, unless opts->accept_corrupt.  A read-only open of a mailbox never
 * polled gives PPS_ENOTFOUND.  opts may be NULL.  `*out` belongs to the
 * caller (pps_ledger_free); `store` must outlive it.
 */
PPS_API int pps_ledger_open(pps_ledger **out, const pps_ledger_store *store,
                            const char *host, const char *user,
                            const pps_ledger_options *opts);

/*
 * Sync what is pending (best effort), compact when worthwhile, release
 * the lock and free.  Call pps_ledger_sync() first to see its result.
 * NULL does nothing.
 */
PPS_API void pps_ledger_free(pps_ledger *l);

/*
 * Make every record so far durable.  After a failed write or sync every
 * call on the handle fails with PPS_EIO: free it and open it again, which
 * reloads what really reached the disk.
 */
PPS_API int pps_ledger_sync(pps_ledger *l);

/* Rewrite the store with only what is still needed (pruned messages and
 * expired duplicate entries go).  Done by itself on open and free when the
 * store holds more than twice what is needed. */
PPS_API int pps_ledger_compact(pps_ledger *l);

/* --- messages ------------------------------------------------------------ */

typedef enum pps_ledger_message_state {
    PPS_LEDGER_NEW = 0,       /* nothing recorded: deliver it */
    PPS_LEDGER_PARTIAL = 1,   /* some recipients recorded, not complete */
    PPS_LEDGER_COMPLETE = 2,  /* delivered: never again; may be DELEd */
    PPS_LEDGER_DELE_SENT = 3, /* complete, DELE sent, QUIT not confirmed */
    PPS_LEDGER_DELETED = 4    /* complete, QUIT +OK after its DELE */
} pps_ledger_message_state;

typedef enum pps_ledger_rcpt_state {
    PPS_LEDGER_RCPT_NONE = 0,        /* nothing recorded */
    PPS_LEDGER_RCPT_IN_DOUBT = 1,    /* intent without outcome */
    PPS_LEDGER_RCPT_DELIVERED = 2,   /* durable at the recipient */
    PPS_LEDGER_RCPT_FAILED_TEMP = 3, /* failed; try again later */
    PPS_LEDGER_RCPT_FAILED_PERM = 4  /* failed; the poll gave up on it */
} pps_ledger_rcpt_state;

typedef struct pps_ledger_message_info {
    pps_ledger_message_state state;
    size_t recipients; /* recipients recorded */
    size_t delivered;
    size_t in_doubt;
    size_t failed_temp;
    size_t failed_perm;
    time_t completed; /* when it became complete, or 0 */
} pps_ledger_message_info;

/* What the ledger knows of `uid`.  An unknown uid is PPS_LEDGER_NEW. */
PPS_API int pps_ledger_message(pps_ledger_message_info *out,
                               const pps_ledger *l, const char *uid);

/* The state of one recipient of `uid`, and when it was reached (`when`
 * may be NULL). */
PPS_API int pps_ledger_recipient(pps_ledger_rcpt_state *out, time_t *when,
                                 const pps_ledger *l, const char *uid,
                                 const char *rcpt);

/* Call `cb` for each recipient recorded for `uid`, in the order first
 * recorded; a non-zero return from cb stops with PPS_EUSER.  The rcpt
 * string is borrowed for the call only; cb must not change the ledger. */
typedef int (*pps_ledger_rcpt_cb)(const char *rcpt, pps_ledger_rcpt_state state,
                                  time_t when, void *payload);
PPS_API int pps_ledger_foreach_recipient(const pps_ledger *l, const char *uid,
                                         pps_ledger_rcpt_cb cb, void *payload);

/*
 * Record, durably (it syncs), that `uid` is about to be delivered to each
 * of `rcpts[0..n)`.  Call it before the delivery starts.  PPS_EEXISTS
 * when the message is complete or a recipient is already delivered or in
 * doubt (resolve it first): nothing is then recorded.
 */
PPS_API int pps_ledger_intend(pps_ledger *l, const char *uid,
                              const char *const *rcpts, size_t n);

/*
 * As pps_ledger_intend, without the sync: the intent is durable only
 * after the next pps_ledger_sync().  For group commit (deliver.h,
 * pps_deliver_commit_staged): the delivery it announces is staged, and
 * the caller syncs the ledger before pps_deliver_flush makes it visible.
 */
PPS_API int pps_ledger_intend_nosync(pps_ledger *l, const char *uid,
                                     const char *const *rcpts, size_t n);

/* The outcome: `rcpt` has `uid`, durably (a synced file, the final 250 of
 * LMTP).  Needs an intent (PPS_EINVAL otherwise).  Durable at the next
 * sync, which pps_ledger_dele_sent() and pps_ledger_intend() do. */
PPS_API int pps_ledger_delivered(pps_ledger *l, const char *uid,
                                 const char *rcpt);

/* The outcome: the delivery of `uid` to `rcpt` failed with `code` (a
 * PPS_E* code).  permanent = 1 when the poll gives up on this recipient
 * (its policy; the message may then complete without it). */
PPS_API int pps_ledger_failed(pps_ledger *l, const char *uid, const char *rcpt,
                              int code, int permanent);

typedef enum pps_ledger_in_doubt_policy {
    /* Deliver again: a duplicate is possible, a loss is not (LMTP/SMTP;
     * RFC 5321 6.1 prefers duplicates to losses). */
    PPS_LEDGER_AT_LEAST_ONCE = 0,
    /* Count it as delivered: a loss is possible, a duplicate is not. */
    PPS_LEDGER_AT_MOST_ONCE = 1
} pps_ledger_in_doubt_policy;

/*
 * Settle every in-doubt recipient of `uid` by `policy`: AT_LEAST_ONCE
 * records a temporary failure (so it is delivered again), AT_MOST_ONCE
 * records a delivery.  Each is logged as a warning.  A deliverer that can
 * tell (Maildir with a deterministic file name) settles them itself with
 * pps_ledger_delivered() / pps_ledger_failed() instead.  Returns the
 * number settled.
 */
PPS_API int pps_ledger_resolve_in_doubt(pps_ledger *l, const char *uid,
                                        pps_ledger_in_doubt_policy policy);

/*
 * Record that `uid` is done: it will never be delivered again and may be
 * deleted.  PPS_EINVAL (nothing recorded) unless at least one recipient
 * is recorded and every recipient is DELIVERED or FAILED_PERM.
 */
PPS_API int pps_ledger_complete(pps_ledger *l, const char *uid);

/*
 * Record that DELE is about to be sent for `uid`.  Syncs first whatever
 * is pending, so every record made before the DELE batch is durable when
 * it leaves (invariant 1).  PPS_EINVAL when `uid` is not complete: the
 * ledger never lets a message be deleted before it was delivered.
 */
PPS_API int pps_ledger_dele_sent(pps_ledger *l, const char *uid);

/* QUIT was answered +OK: every DELE sent in this session is final. */
PPS_API int pps_ledger_quit_ok(pps_ledger *l);

/*
 * Forget every message not among `listed[0..n)` (the complete UIDL
 * listing of this session: never call it after a failed or partial
 * listing).  A forgotten message that was not complete is logged as a
 * warning (it vanished from the server).  Returns the number forgotten.
 */
PPS_API int pps_ledger_prune(pps_ledger *l, const char *const *listed,
                             size_t n);

/* Number of messages the ledger knows. */
PPS_API size_t pps_ledger_message_count(const pps_ledger *l);

/* 32 hex digits and a NUL. */
#define PPS_LEDGER_TAG_SIZE 33

/*
 * A name for the delivery of `uid` to `rcpt` from this ledger's mailbox
 * that is the same in every run: 32 hex digits of SHA-256(host, user,
 * uid, rcpt).  A deliverer that puts it in what it stores (a Maildir file
 * name) can settle an in-doubt recipient after a crash by looking for it:
 * found means delivered (see docs/ledger.md, "The window").  Writes a
 * NUL-terminated tag into out (size >= PPS_LEDGER_TAG_SIZE).
 */
PPS_API int pps_ledger_delivery_tag(char *out, size_t size, const pps_ledger *l,
                                    const char *uid, const char *rcpt);

/* --- duplicate suppression (routing) ------------------------------------- */

/* 1 when (key, rcpt) was remembered less than the window ago, else 0. */
PPS_API int pps_ledger_seen(const pps_ledger *l, const char *key,
                            const char *rcpt);

/* Remember (key, rcpt) at `when`; kept for the window after `when`. */
PPS_API int pps_ledger_remember(pps_ledger *l, const char *key,
                                const char *rcpt, time_t when);

/* --- poll status --------------------------------------------------------- */

/* What `pps status` shows and the service's back-off reads.  The service
 * decides the policy (LOGIN-DELAY, auth back-off); the ledger keeps it. */
typedef struct pps_ledger_status {
    unsigned int version; /* PPS_LEDGER_STATUS_VERSION */
    time_t started;       /* last poll began, 0: never */
    time_t finished;      /* last poll ended */
    int result;           /* its PPS_E* code (0: success) */
    char text[PPS_LEDGER_STATUS_TEXT_MAX + 1]; /* its result in words */
    unsigned long listed;                      /* messages on the server */
    unsigned long delivered;                   /* delivered in that poll */
    unsigned long deleted;                     /* deleted in that poll */
    unsigned long failed;                      /* failed in that poll */
    unsigned long consecutive_failures;
    time_t next_allowed; /* no poll before this; 0: any time */
    time_t last_success; /* last poll with result 0 */
} pps_ledger_status;

#define PPS_LEDGER_STATUS_VERSION 1
#define PPS_LEDGER_STATUS_INIT                                      \
    {                                                               \
        PPS_LEDGER_STATUS_VERSION, 0, 0, 0, "", 0, 0, 0, 0, 0, 0, 0 \
    }

/* For bindings that cannot use the macro. */
PPS_API void pps_ledger_status_init(pps_ledger_status *st);

/* Copy the stored status into `*out` (version must be set); all zero
 * when none was ever stored. */
PPS_API int pps_ledger_status_get(pps_ledger_status *out, const pps_ledger *l);

/* Store `st` (its text is cut to PPS_LEDGER_STATUS_TEXT_MAX). */
PPS_API int pps_ledger_status_set(pps_ledger *l, const pps_ledger_status *st);

/* --- servers without UIDL ------------------------------------------------ */

/* "pps-sha256:" + 64 hex + ":" + up to 20 digits + NUL.  Longer than the
 * 70 characters RFC 1939 allows a UIDL, so it cannot equal a real one. */
#define PPS_LEDGER_FALLBACK_KEY_SIZE 97

/*
 * A ledger key for a message of a server without UIDL, or one whose UIDL
 * is not unique in the listing: SHA-256 over the header block (up to the
 * first empty line; CR before LF ignored, so TOP n 0 and RETR agree)
 * followed by the LIST size in octets.  Two messages with the same header
 * block and size get the same key (see docs/ledger.md for the caveats).
 * Writes a NUL-terminated key into out (size >=
 * PPS_LEDGER_FALLBACK_KEY_SIZE).
 */
PPS_API int pps_ledger_fallback_key(char *out, size_t size,
                                    unsigned long long octets,
                                    const char *header, size_t len);

PPS_END_DECLS

#endif /* PPS_LEDGER_H */
