/*
 * pps/deliver.h - hand a fetched message to the local mail system.
 *
 * A deliverer takes one message at a time, as a transaction.  Create one
 * from the [delivery] settings, then for each message:
 *
 *     pps_deliver_options o = PPS_DELIVER_OPTIONS_INIT;
 *     o.method = "lmtp";
 *     o.server = "/run/dovecot/lmtp";
 *     pps_deliver *d;
 *     if (pps_deliver_new(&d, &o) < 0) ...
 *
 *     const char *rcpts[] = {"alice@local.test", "bob@local.test"};
 *     err = pps_deliver_begin(d, sender, rcpts, 2, trace, trace_len);
 *     while (!err && (n = next_chunk(buf)) > 0)   // CRLF lines, as POP3
 *         err = pps_deliver_write(d, buf, n);      // gives them
 *     if (!err)
 *         err = pps_deliver_commit(d);
 *     const pps_deliver_status *st = pps_deliver_statuses(d, &count);
 *     ... st[i].outcome for each recipient: delivered, temporary failure,
 *         permanent failure, with the server's or the system's words ...
 *
 *     pps_deliver_free(d);
 *
 * The message is never whole in memory: write() streams it on.  Commit
 * returns only when the message is durable for every recipient it reports
 * delivered (an fsync'd file, or the final 250 of LMTP/SMTP DATA).  When
 * begin, write or commit fail, the transaction is over and every recipient
 * has its final status; pps_deliver_abort() ends a transaction early
 * (nothing delivered that was not already reported delivered).
 *
 * Crash recovery: pps_deliver_begin_tagged() gives each recipient a
 * delivery tag that is the same in every run (the ledger's
 * pps_ledger_delivery_tag); maildir keeps it in the file name.  After a
 * crash between "delivered" and "recorded", pps_deliver_find(d, rcpt,
 * tag) tells whether the message got there (maildir: exactly once); the
 * other methods cannot tell, and the caller delivers again (at least
 * once; docs/delivery.md, "Exactly once across a crash").
 *
 * What to do with failures is the caller's policy: a temporary failure
 * should leave the message on the remote server for the next poll; a
 * permanent one should go to a fallback user or stay on the server, never
 * be dropped silently (docs/delivery.md).
 *
 * A pps_deliver handle runs one transaction at a time and is not
 * thread-safe: give each polling thread its own (they are cheap; nothing
 * is opened until begin).  Embedders that bring their own deliverer use
 * <pps/deliverer.h>.
 */
#ifndef PPS_DELIVER_H
#define PPS_DELIVER_H

#include "common.h"

PPS_BEGIN_DECLS

/* A deliverer and its current transaction (opaque). */
typedef struct pps_deliver pps_deliver;

/* The settings of [delivery] in pps.conf; NULL strings mean defaults. */
typedef struct pps_deliver_options {
    unsigned int version; /* PPS_DELIVER_OPTIONS_VERSION */

    /* "maildir", "lmtp", "smtp", "pipe", "emailarchitect" or "null". */
    const char *method;

    /* maildir: the folder of one user, absolute; %u = local user, %d =
     * local domain, %% = '%'.  NULL: "/var/vmail/%d/%u/Maildir". */
    const char *path;

    /* lmtp, smtp, emailarchitect: "host:port", "[v6addr]:port", or an
     * absolute unix socket path (port left out: 24 lmtp, 25 otherwise).
     * NULL: "/run/dovecot/lmtp" for lmtp, else "127.0.0.1:25". */
    const char *server;

    /* pipe: the MDA command, e.g. "/usr/lib/dovecot/dovecot-lda -d %u@%d";
     * split into words on blanks ('...' and "..." quote) and run without
     * a shell unless `shell` is 1. */
    const char *command;
    int shell;

    /* lmtp/smtp: the name we give in LHLO/EHLO; default: the host name. */
    const char *helo_name;

    /* smtp, emailarchitect: AUTH PLAIN or LOGIN with these when both set.
     * Sent only over TLS, a unix socket or loopback, unless
     * allow_plaintext_auth is 1.  Never logged. */
    const char *username;
    const char *password;
    int allow_plaintext_auth;

    /* smtp: 1 = STARTTLS required (refused or failed: temporary failure).
     * The certificate is verified against tls_ca_file (or the system
     * store) and tls_server_name (default: the server's host) unless
     * tls_no_verify is 1. */
    int starttls;
    const char *tls_ca_file;
    const char *tls_server_name;
    int tls_no_verify;

    /* The envelope sender when the caller passes none: NULL or "" is the
     * null sender <>. */
    const char *default_sender;

    /* Timeouts in milliseconds, 0 = the default (RFC 5321 4.5.3.2):
     * connect 30 s; greeting, LHLO/EHLO, MAIL, RCPT 5 min; DATA command
     * 2 min; each data block 3 min; the replies after the final dot
     * 10 min; pipe: one whole MDA run 10 min. */
    unsigned int connect_timeout_ms;
    unsigned int command_timeout_ms;
    unsigned int data_timeout_ms;
    unsigned int block_timeout_ms;
    unsigned int final_timeout_ms;
    unsigned int run_timeout_ms;
} pps_deliver_options;

#define PPS_DELIVER_OPTIONS_VERSION 1
#define PPS_DELIVER_OPTIONS_INIT                                            \
    {                                                                       \
        PPS_DELIVER_OPTIONS_VERSION, NULL, NULL, NULL, NULL, 0, NULL, NULL, \
            NULL, 0, 0, NULL, NULL, 0, NULL, 0, 0, 0, 0, 0, 0               \
    }

/* For bindings that cannot use the macro. */
PPS_API void pps_deliver_options_init(pps_deliver_options *opts);

/* What happened to one recipient. */
typedef enum pps_deliver_outcome {
    PPS_DELIVER_PENDING = 0,   /* not decided: the transaction is open */
    PPS_DELIVER_DELIVERED = 1, /* durable in the local mail system */
    PPS_DELIVER_TEMPFAIL = 2,  /* try again later */
    PPS_DELIVER_PERMFAIL = 3,  /* refused; retrying will not help */
    /* Written but not yet durable nor visible: becomes DELIVERED or
     * TEMPFAIL at the next pps_deliver_flush.  Only ever seen after
     * pps_deliver_commit_staged. */
    PPS_DELIVER_STAGED = 4
} pps_deliver_outcome;

/* The longest text kept per recipient (RFC 5321 4.5.3.1.5: a reply line
 * is at most 512 octets). */
#define PPS_DELIVER_TEXT_MAX 512

typedef struct pps_deliver_status {
    const char *recipient; /* "user@domain", as passed to begin */
    pps_deliver_outcome outcome;
    int code;         /* PPS_OK, or the PPS_E* code of the failure */
    int reply;        /* the LMTP/SMTP reply code (250, 452, 550, ...), the
                         MDA's exit status, or 0 */
    const char *text; /* the server's or the system's words, or "" */
} pps_deliver_status;

/*
 * Make a deliverer for `opts` (copied; the caller keeps its strings).
 * Nothing is opened yet: connections are made per transaction.  On
 * success *out belongs to the caller (pps_deliver_free).  Returns
 * PPS_ECONFIG naming the bad setting, PPS_EINVAL, PPS_ENOMEM.
 */
PPS_API int pps_deliver_new(pps_deliver **out, const pps_deliver_options *opts);

/* Free a deliverer, aborting an open transaction.  NULL does nothing. */
PPS_API void pps_deliver_free(pps_deliver *d);

/*
 * Begin a transaction for `count` (>= 1) recipients, each "user@domain"
 * (copied).  `sender` is the envelope sender (NULL: the configured
 * default; "" the null sender), e.g. from pps_deliver_return_path().
 * `prepend` holds `prepend_len` bytes of complete header lines (CRLF
 * ends) put before the message, e.g. the Received: trace header of
 * route.h; NULL for none.
 * Returns 0 while at least one recipient may still be delivered.  When
 * none can (every one refused, server unreachable), returns the summary
 * code of pps_deliver_commit and the transaction is over.
 */
PPS_API int pps_deliver_begin(pps_deliver *d, const char *sender,
                              const char *const *rcpts, size_t count,
                              const char *prepend, size_t prepend_len);

/* A delivery tag is 16 to 64 hex digits ([0-9a-fA-F]); fewer could be
 * met by chance in a file name, more is not needed (the ledger's
 * pps_ledger_delivery_tag gives 32). */
#define PPS_DELIVER_TAG_MIN 16
#define PPS_DELIVER_TAG_MAX 64

/*
 * As pps_deliver_begin, with a delivery tag per recipient: tags[i] names
 * the delivery of this message to rcpts[i] and is the same in every run
 * (pps_ledger_delivery_tag()).  A deliverer that can (maildir: in the
 * file name) stores it with the message, so that after a crash
 * pps_deliver_find() can tell whether the message got there.  `tags` may
 * be NULL (no tags), and any tags[i] NULL.  PPS_EINVAL when a tag is not
 * PPS_DELIVER_TAG_MIN..MAX hex digits (nothing begun).
 */
PPS_API int pps_deliver_begin_tagged(pps_deliver *d, const char *sender,
                                     const char *const *rcpts,
                                     const char *const *tags, size_t count,
                                     const char *prepend, size_t prepend_len);

/*
 * Was a message with delivery tag `tag` (see pps_deliver_begin_tagged)
 * delivered to `rcpt` ("user@domain")?  For recipients a crash left in
 * doubt.  Returns 1 yes (it is there), 0 no (it never got there, or the
 * user has removed it since), or a negative PPS_E* code when it cannot
 * tell: PPS_EUNSUPPORTED for every deliverer but maildir (LMTP, SMTP,
 * pipe: nothing can be asked afterwards), PPS_EINVAL (bad arguments, a
 * transaction open on `d`), PPS_EIO, PPS_ETOOBIG (a folder of more
 * than ten million names), with the detail set.  maildir looks through
 * the new/ and cur/ of the recipient's folder, so this costs one scan
 * of the folder: call it only for recipients in doubt.
 */
PPS_API int pps_deliver_find(pps_deliver *d, const char *rcpt, const char *tag);

/*
 * Stream `len` bytes of the message (header and body, CRLF or LF lines,
 * no dot-stuffing, no final dot), in chunks of any size.  On failure the
 * transaction is over and the statuses are final.
 */
PPS_API int pps_deliver_write(pps_deliver *d, const void *data, size_t len);

/*
 * End the message and make it durable.  Returns 0 when every recipient
 * was delivered, else PPS_ETEMP when one or more failed temporarily,
 * else PPS_EPERM (some permanent failure); PPS_EINVAL without an open
 * transaction.  The statuses say which recipient got what.
 */
PPS_API int pps_deliver_commit(pps_deliver *d);

/*
 * Group commit.  Making each message durable on its own costs a file
 * system journal commit per message (fsync of the file and of its
 * folder).  A caller that fetches many messages in a row can instead
 * stage them and make a whole batch durable at once:
 *
 *     for each message:
 *         begin, write ...
 *         pps_deliver_commit_staged(d);     recipients DELIVERED or
 *                                           failed as with commit, or
 *                                           STAGED
 *     pps_deliver_flush(d, on_flushed, p);  every STAGED one becomes
 *                                           DELIVERED or TEMPFAIL
 *
 * A staged message is neither durable nor visible to the user: the
 * caller must not treat it as delivered (nor delete it at the source)
 * before the flush has reported it.  maildir stages (the files wait in
 * tmp/, their write-back started; the flush fsyncs each, which then
 * share one journal commit, links each into new/ and fsyncs each new/
 * folder once).  A long maildir batch uses helper threads of its own:
 * one that starts each staged file's write-back, from the 16th message
 * until the flush, discard or free, and during the flush up to 7 more
 * that share the fsyncs.  They block every signal, call nothing of the
 * caller's, and are gone when the call that ends them returns.  Every
 * other deliverer commits as usual and never reports STAGED
 * (pps_deliver_can_stage says which).
 * pps_deliver_free discards what was staged and not flushed.
 */

/* 1 when pps_deliver_commit_staged can leave messages staged, else 0. */
PPS_API int pps_deliver_can_stage(const pps_deliver *d);

/*
 * End the message as pps_deliver_commit does, but leave the recipients
 * the deliverer can deliver STAGED.  Returns 0 when no recipient failed
 * (STAGED counts as not failed), else PPS_ETEMP / PPS_EPERM as commit.
 */
PPS_API int pps_deliver_commit_staged(pps_deliver *d);

/* The number of messages staged and not yet flushed. */
PPS_API size_t pps_deliver_staged_count(const pps_deliver *d);

/* Told about each staged message at the flush, in staging order: `index`
 * counts from 0 at each flush, st[0..count) are the message's final
 * statuses (every recipient: those that failed at
 * pps_deliver_commit_staged keep their status).  Borrowed for the call. */
typedef void (*pps_deliver_flushed_fn)(size_t index,
                                       const pps_deliver_status *st,
                                       size_t count, void *payload);

/*
 * Make every staged message durable and visible, then call `cb` (may be
 * NULL) once per staged message.  Returns 0 when every staged recipient
 * was delivered, else the first failure (those recipients are
 * TEMPFAIL; nothing of theirs is left visible).  PPS_EINVAL while a
 * transaction is open.  0 at once when nothing is staged.
 */
PPS_API int pps_deliver_flush(pps_deliver *d, pps_deliver_flushed_fn cb,
                              void *payload);

/* Forget every staged message without delivering it (its files are
 * removed; no callback).  For a caller that cannot record the outcomes,
 * e.g. after its own store failed. */
PPS_API void pps_deliver_discard_staged(pps_deliver *d);

/*
 * Give up the open transaction: undecided recipients become temporary
 * failures, temporary files are removed, connections closed.  Safe to
 * call at any time, also with no transaction.
 */
PPS_API void pps_deliver_abort(pps_deliver *d);

/*
 * The statuses of the current or last transaction, one per recipient in
 * begin's order; *count gets their number (0 before the first begin).
 * Borrowed from `d`: valid until the next begin or free.
 */
PPS_API const pps_deliver_status *pps_deliver_statuses(const pps_deliver *d,
                                                       size_t *count);

/*
 * Does local `user` of `domain` exist for this deliverer?  Returns 1 yes,
 * 0 no, -1 cannot tell now (temporary).  maildir: its folder exists;
 * lmtp/smtp/emailarchitect: the server accepts RCPT TO (one short
 * session); pipe and null: always 1 (the MDA decides at delivery).
 * Usable as the routing engine's "user exists" callback; -1 while a
 * transaction is open on `d`.
 */
PPS_API int pps_deliver_user_exists(pps_deliver *d, const char *user,
                                    const char *domain);

/*
 * The same, shaped as route.h's pps_route_user_exists_fn (payload last,
 * the pps_deliver handle as payload).  When the routing policy's one
 * payload also serves other callbacks, call this from your own.
 */
PPS_API int pps_deliver_user_exists_cb(const char *user, const char *domain,
                                       void *deliver);

/* A one-line description such as "lmtp to 127.0.0.1:24" into buf;
 * returns its length, or PPS_ETOOBIG (buf then holds ""). */
PPS_API int pps_deliver_describe(const pps_deliver *d, char *buf, size_t size);

/* Messages committed and bytes written since the deliverer was made. */
PPS_API void pps_deliver_counts(const pps_deliver *d,
                                unsigned long long *messages,
                                unsigned long long *bytes);

/*
 * The envelope sender from a Return-Path header value (the text after
 * "Return-Path:", unfolded or not, `len` bytes): "<a@b>" gives "a@b",
 * "<>" gives "".  Writes the address into buf (NUL-terminated) and
 * returns its length; PPS_ENOTFOUND when the value holds no <...>,
 * PPS_ETOOBIG when it is longer than size - 1 (RFC 5321 4.5.3.1.3: a
 * path is at most 256 octets, so 257 bytes always do), PPS_EPROTO when
 * it holds a line break or control byte.
 */
PPS_API int pps_deliver_return_path(char *buf, size_t size, const char *value,
                                    size_t len);

PPS_END_DECLS

#endif /* PPS_DELIVER_H */
