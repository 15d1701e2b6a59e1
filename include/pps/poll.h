/*
 * pps/poll.h - one poll of one profile: the whole job, exactly once.
 *
 * A poll connects to the profile's server, logs in, lists the mailbox,
 * and for every message the ledger has not seen: RETR -> route -> deliver
 * -> ledger -> DELE, then QUIT (which commits the DELEs).  Messages the
 * ledger shows as delivered but still on the server are deleted without
 * being delivered again.  The program provides the pieces that outlive one
 * poll: a deliverer and a ledger store.
 *
 *     pps_poll_options o = PPS_POLL_OPTIONS_INIT;
 *     o.deliver = d;                    // pps_deliver_new(), borrowed
 *     o.ledger_store = store;           // pps_ledger_store_open_dir()
 *     pps_poll_report r = PPS_POLL_REPORT_INIT;
 *     err = pps_poll_run(&r, profile, &o);
 *     printf("%lu delivered, %lu deleted\n", r.delivered, r.deleted);
 *
 * The report is filled even when the poll fails (counts so far, the
 * result and its text) and is stored in the ledger for `pps status`.
 *
 * Order of operations, which is what makes the invariants of the design
 * hold (docs/poll.md walks through each crash point):
 *   1. a recipient's delivery is announced in the ledger (durably) before
 *      it starts, and its outcome recorded after the deliverer says it is
 *      durable;
 *   2. a message is marked complete only when every recipient has it (or
 *      failed permanently and the fallback user has it);
 *   3. DELE is sent only for complete messages, after the ledger is
 *      synced; the ledger marks them deleted only when QUIT gets +OK.
 *
 * One poll at a time per remote mailbox: the ledger's lock (another
 * process polling the same mailbox makes pps_poll_run return PPS_ETEMP).
 * A poll runs on the calling thread; several polls of different profiles
 * may run on different threads with different deliverers.
 */
#ifndef PPS_POLL_H
#define PPS_POLL_H

#include <signal.h>
#include <time.h>

#include "common.h"

PPS_BEGIN_DECLS

/* Defined in their own headers (profile.h, deliver.h, ledger.h,
 * transport.h); a poll only borrows them.  Struct tags, not typedefs, so
 * that this header stands alone in C99 too. */
struct pps_profile;
struct pps_config;
struct pps_deliver;
struct pps_ledger_store;
struct pps_transport;

typedef struct pps_poll_options {
    unsigned int version; /* PPS_POLL_OPTIONS_VERSION */

    /* Where messages go; required.  Used by this thread only during the
     * call. */
    struct pps_deliver *deliver;

    /* The ledger store; required. */
    struct pps_ledger_store *ledger_store;

    /* Global settings (aliases of pps.conf); NULL: none. */
    const struct pps_config *config;

    /* The transport to use; NULL: the default TCP + OpenSSL transport,
     * made for this poll from the profile's TLS settings.  Borrowed. */
    struct pps_transport *transport;

    /* This host's name for the trace header; NULL: gethostname(). */
    const char *local_host;

    /* When *stop becomes non-zero (a signal handler may set it), the poll
     * finishes the message in hand, sends QUIT so that the DELEs of what
     * was delivered commit, and returns PPS_EABORTED.  NULL: never. */
    volatile sig_atomic_t *stop;

    /* 1: ignore the back-off recorded by earlier failed polls (an
     * administrator's `pps fetch`); 0: a poll before the allowed time
     * returns PPS_ETEMP at once without connecting. */
    int ignore_backoff;
} pps_poll_options;

#define PPS_POLL_OPTIONS_VERSION 1
#define PPS_POLL_OPTIONS_INIT                                           \
    {                                                                   \
        PPS_POLL_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, 0 \
    }

/* For bindings that cannot use the macro. */
PPS_API void pps_poll_options_init(pps_poll_options *opts);

/* The length of a report's text, without the NUL. */
#define PPS_POLL_TEXT_MAX 255

typedef struct pps_poll_report {
    unsigned int version; /* PPS_POLL_REPORT_VERSION */
    time_t started;
    time_t finished;
    int result;                       /* the return value of pps_poll_run */
    char text[PPS_POLL_TEXT_MAX + 1]; /* the result in words */
    unsigned long listed;             /* messages on the server */
    unsigned long fetched;            /* messages retrieved */
    unsigned long delivered;          /* messages that reached everyone */
    unsigned long recipients;         /* deliveries (message x recipient) */
    unsigned long deleted;            /* DELEs committed by QUIT */
    unsigned long kept_too_big;       /* left on the server: max size */
    unsigned long failed_temp;        /* messages left for the next poll */
    unsigned long failed_perm;        /* recipients refused for good */
    unsigned long long bytes;         /* message octets retrieved */
    long login_delay;                 /* LOGIN-DELAY of the server, or -1 */
    time_t next_allowed;              /* no poll before this (back-off) */
} pps_poll_report;

#define PPS_POLL_REPORT_VERSION 1
#define PPS_POLL_REPORT_INIT                                                   \
    {                                                                          \
        PPS_POLL_REPORT_VERSION, 0, 0, 0, "", 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, 0 \
    }

/* For bindings that cannot use the macro. */
PPS_API void pps_poll_report_init(pps_poll_report *report);

/*
 * Poll `profile` once.  `report` (version set; may be NULL) receives the
 * figures.  Returns 0 when every message was handled (delivered, or left
 * on the server on purpose: too big, keep); otherwise the first failure:
 * PPS_ECONFIG (profile), PPS_EAUTH, PPS_ETLS, PPS_ENET, PPS_ETIMEOUT,
 * PPS_EPROTO, PPS_ETEMP (a delivery failed temporarily, the server said
 * [IN-USE]/[LOGIN-DELAY], the mailbox is being polled elsewhere, or the
 * back-off has not passed), PPS_EPERM, PPS_EIO (the ledger), PPS_EABORTED.
 * Whatever the result, no message was deleted before it was delivered.
 */
PPS_API int pps_poll_run(pps_poll_report *report,
                         const struct pps_profile *profile,
                         const pps_poll_options *opts);

/*
 * Route the message in memory (`len` bytes; only its header block is
 * read, up to the profile's header_limit) under `profile`'s policy exactly
 * as a poll would: opts->deliver (required) answers which local users
 * exist, opts->config (may be NULL) adds the global aliases; the ledger
 * is not asked (no duplicate check), so opts->ledger_store may be NULL.
 * For embedders and bindings that have a profile and a deliverer of their
 * own (pps_runtime_route does the same from a configuration folder).
 * *out is a pps_route_result (pps/route.h) the caller frees with
 * pps_route_result_free().  Returns 0, PPS_ECONFIG (profile not valid),
 * PPS_ETEMP (a user lookup failed for now), PPS_EINVAL, PPS_ENOMEM.
 */
struct pps_route_result;
PPS_API int pps_poll_route(struct pps_route_result **out,
                           const struct pps_profile *profile,
                           const pps_poll_options *opts, const void *message,
                           size_t len);

/* --- the runtime: what a host makes once from a configuration folder --- */

/*
 * Hosts (the CLI, the service, the plug-in, bindings) all need the same
 * things: pps.conf, the profile store, the ledger store, and a deliverer
 * per polling thread, made from the settings of DIR.  A runtime holds
 * them:
 *
 *     pps_runtime *rt;
 *     if (pps_runtime_new(&rt, "/etc/pps") < 0) ... pps_error_last() ...
 *     pps_profile *p;
 *     pps_profile_store_load(&p, pps_runtime_profiles(rt), "office");
 *     pps_poll_report r = PPS_POLL_REPORT_INIT;
 *     err = pps_runtime_poll(&r, rt, p, &stop_flag, 0);
 *     pps_profile_free(p);
 *     pps_runtime_free(rt);
 *
 * pps_runtime_poll() may run on several threads at once for different
 * profiles; every other call belongs to one thread at a time.
 */
typedef struct pps_runtime pps_runtime;

/*
 * Load DIR/pps.conf (all defaults when it is missing), open the profile
 * store DIR/profiles and the ledger store ([service] state_dir), and check
 * the [delivery] settings by making a deliverer.  *out belongs to the
 * caller (pps_runtime_free).  Returns 0, PPS_ECONFIG naming file, line and
 * key, PPS_EIO, PPS_ENOMEM.
 */
PPS_API int pps_runtime_new(pps_runtime **out, const char *dir);

/* Free a runtime; NULL does nothing.  No poll may be running on it. */
PPS_API void pps_runtime_free(pps_runtime *rt);

/* The parts, borrowed from rt. */
PPS_API const struct pps_config *pps_runtime_config(const pps_runtime *rt);
PPS_API struct pps_profile_store *pps_runtime_profiles(pps_runtime *rt);
PPS_API struct pps_ledger_store *pps_runtime_ledgers(pps_runtime *rt);

/* A new deliverer made from [delivery], for one thread; the caller frees
 * it with pps_deliver_free(). */
PPS_API int pps_runtime_deliver_new(struct pps_deliver **out,
                                    const pps_runtime *rt);

/*
 * Poll `profile` once with a deliverer of its own (see pps_poll_run for
 * `report`, `stop` and the results).  ignore_backoff = 1 polls even when
 * earlier failures asked to wait (an administrator's `pps fetch`).
 */
PPS_API int pps_runtime_poll(pps_poll_report *report, pps_runtime *rt,
                             const struct pps_profile *profile,
                             volatile sig_atomic_t *stop, int ignore_backoff);

/*
 * The stored status of `profile`'s mailbox (its last poll) into *out,
 * without taking the mailbox lock: `pps status`.  PPS_ENOTFOUND when it
 * was never polled.  `out` is a pps_ledger_status (pps/ledger.h).
 */
struct pps_ledger_status;
PPS_API int pps_runtime_status(struct pps_ledger_status *out, pps_runtime *rt,
                               const struct pps_profile *profile);

/*
 * What `pps route NAME FILE` prints: route the message in memory (`len`
 * bytes; only its header block is read) under `profile`'s policy exactly
 * as a poll would, asking the deliverer which users exist, but without the
 * ledger's duplicate check.  *out is a pps_route_result (pps/route.h) the
 * caller frees with pps_route_result_free().
 */
PPS_API int pps_runtime_route(struct pps_route_result **out, pps_runtime *rt,
                              const struct pps_profile *profile,
                              const void *message, size_t len);

/* What `pps check` found. */
typedef struct pps_check_report {
    unsigned int version;      /* PPS_CHECK_REPORT_VERSION */
    unsigned int capabilities; /* PPS_CAPA_* (pps/fetch.h) */
    char sasl[256];            /* SASL mechanisms offered */
    char auth_method[32];      /* the login method used */
    int tls;                   /* 1: the session was encrypted */
    unsigned int messages;     /* STAT */
    unsigned long long octets;
    long login_delay; /* seconds, -1 when not announced */
} pps_check_report;

#define PPS_CHECK_REPORT_VERSION 1
#define PPS_CHECK_REPORT_INIT                            \
    {                                                    \
        PPS_CHECK_REPORT_VERSION, 0, "", "", 0, 0, 0, -1 \
    }

/*
 * Connect to `profile`'s server, do TLS, log in, STAT and QUIT, changing
 * nothing; fill `report` (version set).  Returns 0 or the failure, as
 * pps_poll_run would meet it.
 */
PPS_API int pps_runtime_check(pps_check_report *report, pps_runtime *rt,
                              const struct pps_profile *profile);

PPS_END_DECLS

#endif /* PPS_POLL_H */
