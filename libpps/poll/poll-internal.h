/*
 * poll-internal.h - the state of one poll, shared by its files.
 *
 * poll.c runs the sequence (connect, inventory, retrieve, delete, quit);
 * poll-message.c handles one message as RETR streams it (header reader,
 * router, deliverer, ledger); poll-policy.c builds the routing policy of
 * the profile and answers the router's questions.
 */
#ifndef PPS_POLL_INTERNAL_H
#define PPS_POLL_INTERNAL_H

#include "pps/deliver.h"
#include "pps/fetch.h"
#include "pps/ledger.h"
#include "pps/poll.h"
#include "pps/profile.h"
#include "pps/route.h"

/* Answers of user_exists cached per poll: LMTP answers each with a short
 * session, and a catch-all message may name the same users again and
 * again. */
#define POLL_USER_CACHE_MAX 256

typedef struct poll_user_answer {
    char *address; /* user@domain */
    int exists;    /* 1, 0 */
} poll_user_answer;

/* The message RETR is streaming now. */
typedef enum msg_state {
    MSG_IDLE = 0,   /* between messages */
    MSG_HEADER = 1, /* reading the header block */
    MSG_BODY = 2,   /* a delivery is open: bytes go to the deliverer */
    MSG_DRAIN = 3   /* nothing to deliver, or it failed: bytes are dropped */
} msg_state;

typedef struct poll_message {
    msg_state state;
    unsigned int number;
    const char *uid; /* borrowed from the poll's uid table */
    pps_header_reader *headers;
    char **rcpts; /* this delivery's recipients, owned */
    size_t rcpt_count;
    char *dedup_key; /* route result key, owned; NULL when none */
    int error;       /* first failure inside this message, or 0 */
} poll_message;

/* Group commit (deliver.h): with a deliverer that stages (maildir), the
 * messages of a poll are made durable in batches of at most this many
 * messages or this much time, whichever comes first; the batch's
 * outcomes are recorded at its flush.  DELE waits for the flush. */
#define POLL_BATCH_MAX 256
#define POLL_BATCH_MS  1000

/* A message whose delivery is staged, waiting for the flush. */
typedef struct poll_staged {
    unsigned int number;
    const char *uid; /* borrowed from the poll's uid table */
    char *dedup_key; /* owned; NULL when none */
} poll_staged;

typedef struct poll_ctx {
    const pps_profile *profile;
    pps_profile_settings set;
    const pps_poll_options *opts;
    pps_poll_report *report;
    pps_ledger *ledger;
    pps_session *session;
    pps_deliver *deliver;
    const char *name; /* the profile's name, for logs */
    char local_host[256];
    char fallback[2 * 256 + 2]; /* local_user@local_domain */

    /* Routing policy and what it points to. */
    pps_route_policy policy;
    pps_route_alias *aliases;
    size_t alias_count;
    poll_user_answer user_cache[POLL_USER_CACHE_MAX];
    size_t user_cache_count;

    /* The inventory and the ledger key of each message. */
    pps_message_list *list;
    const char **uids; /* per list entry; NULL: cannot be tracked */
    char (*fallback_keys)[PPS_LEDGER_FALLBACK_KEY_SIZE];

    /* Messages to delete, and those to retrieve again for the fallback
     * user after a permanent failure. */
    unsigned int *dele;
    size_t dele_count;
    unsigned int *again;
    size_t again_count;

    poll_message msg;

    /* Group commit: 1 when the deliverer stages; the staged messages in
     * staging order (the deliverer's order too) and when the first of
     * them was staged (pps__now_ms). */
    int group;
    poll_staged *staged;
    size_t staged_count, staged_cap;
    long long staged_since;

    int first_error; /* the poll's result */
    int backing_off; /* 1: refused before connecting (back-off) */
} poll_ctx;

/* Record `err` as the poll's result when it is the first failure, with
 * the current error detail as its text.  Returns err. */
int pps__poll_fail(poll_ctx *ctx, int err);

/* Set up ctx for `profile`: settings (validated), names, the fallback
 * address.  Returns 0 or the failure (also recorded in the report). */
int pps__poll_ctx_init(poll_ctx *ctx, const pps_profile *profile,
                       const pps_poll_options *opts, pps_poll_report *report);

/* Make the transport (*own, when opts has none), connect and log in. */
struct pps_transport;
int pps__poll_connect(poll_ctx *ctx, struct pps_transport **own,
                      const char *password);

/* Build ctx->policy from the profile and the global aliases. */
int pps__poll_policy_init(poll_ctx *ctx);
void pps__poll_policy_free(poll_ctx *ctx);

/* The RETR callbacks of poll-message.c; payload is the poll_ctx. */
extern const pps_retrieve_callbacks pps__poll_retrieve_callbacks;

/* Whether uid can be marked complete, and mark it; adds it to the DELE
 * list (unless keep) or to the retry list.  Returns 1 complete, 0 not. */
int pps__poll_settle(poll_ctx *ctx, unsigned int number, const char *uid);

/* The ledger key of message `number`, or NULL (binary search of the
 * inventory, which is in number order). */
const char *pps__poll_uid_of(const poll_ctx *ctx, unsigned int number);

/* Record the final statuses st[0..count) of message `uid` in the ledger
 * (DELIVERED also remembers dedup_key for the recipient, when given);
 * staged recipients wait for the flush.  Returns 1 when some recipient
 * is staged, 0 when all are recorded, or a failure of the ledger (also
 * the poll's). */
int pps__poll_record_statuses(poll_ctx *ctx, const char *uid,
                              const char *dedup_key,
                              const pps_deliver_status *st, size_t count);

/* Group commit (poll-batch.c).  Room for one more staged message: 0 or
 * PPS_ENOMEM. */
int pps__poll_staged_reserve(poll_ctx *ctx);
/* Add message `number` (room reserved); takes *dedup_key over. */
void pps__poll_staged_add(poll_ctx *ctx, unsigned int number, const char *uid,
                          char **dedup_key);
/* 1 when the batch is full or old enough to flush. */
int pps__poll_batch_due(const poll_ctx *ctx);
/* Forget the staged list (after a flush or a discard). */
void pps__poll_staged_free(poll_ctx *ctx);

/* Group commit: make the staged messages durable (the ledger's intents
 * first), record their outcomes and settle them.  Called when a batch is
 * full, before the DELEs and at the end of every retrieval.  Returns 0
 * or the failure that stopped it (also recorded as the poll's). */
int pps__poll_flush(poll_ctx *ctx);

/* Free the per-message state. */
void pps__poll_message_reset(poll_ctx *ctx);

#endif /* PPS_POLL_INTERNAL_H */
