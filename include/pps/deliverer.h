/*
 * pps/deliverer.h - bring your own deliverer (for embedders).
 *
 * A mail server that links libpps can take messages itself instead of
 * through Maildir, LMTP, SMTP or a pipe.  Fill a pps_deliverer_class with
 * your functions, then make an ordinary pps_deliver handle around it:
 *
 *     static const pps_deliverer_class my_class = {
 *         .version = PPS_DELIVERER_CLASS_VERSION,
 *         .name = "mystore",
 *         .flags = PPS_DELIVERER_LF,
 *         .begin = my_begin, .write = my_write,
 *         .commit = my_commit, .cancel = my_cancel,
 *     };
 *     pps_deliver *d;
 *     pps_deliver_new_custom(&d, &my_class, my_state);
 *
 * libpps then calls begin(txn) once per message, write() with the message
 * in chunks (prepended header lines first; line ends converted to what
 * the flags ask for), and commit(txn) or cancel().  Your functions record
 * each recipient's outcome with pps_deliverer_txn_set(); a recipient left
 * undecided when commit returns counts as a temporary failure.  A
 * deliverer that can store each recipient's delivery tag
 * (pps_deliverer_txn_tag) with the message and look for it later
 * (find) lets the poll settle recipients a crash left in doubt exactly.  Every
 * function gets your `payload` last.  The built-in deliverers use this
 * very interface.
 */
#ifndef PPS_DELIVERER_H
#define PPS_DELIVERER_H

#include "deliver.h"

PPS_BEGIN_DECLS

/* One transaction, as the deliverer sees it (opaque, borrowed). */
typedef struct pps_deliverer_txn pps_deliverer_txn;

/* What a deliverer wants done to the stream before write() sees it. */
#define PPS_DELIVERER_LF   0x1u /* LF line ends (CR before LF removed) */
#define PPS_DELIVERER_CRLF 0x2u /* CRLF line ends (bare LF gets a CR) */

typedef struct pps_deliverer_class {
    unsigned int version; /* PPS_DELIVERER_CLASS_VERSION */
    const char *name;     /* short, e.g. "maildir"; for logs */
    unsigned int flags;   /* PPS_DELIVERER_* */

    /* Start a message for the recipients of txn.  Return 0 to go on (you
     * may already refuse some recipients with pps_deliverer_txn_set), or
     * a PPS_E* code to end the transaction (undecided recipients then
     * count as temporary failures unless you set them). */
    int (*begin)(pps_deliverer_txn *txn, void *payload);

    /* The next `len` bytes of the message.  0 or a PPS_E* code (the
     * transaction is then over, as for begin). */
    int (*write)(pps_deliverer_txn *txn, const char *data, size_t len,
                 void *payload);

    /* The message is complete: make it durable and set every
     * recipient's outcome.  The return value is only for logs; the
     * outcomes are what count. */
    int (*commit)(pps_deliverer_txn *txn, void *payload);

    /* Abort the open transaction: remove what is not yet delivered.
     * Called by pps_deliver_abort and after a failed begin or write.
     * Must not fail.  (Not named "abort", which is abort(3).) */
    void (*cancel)(pps_deliverer_txn *txn, void *payload);

    /* Optional (NULL: always 1): 1 the user exists, 0 no, -1 cannot
     * tell now. */
    int (*user_exists)(const char *user, const char *domain, void *payload);

    /* Optional: a one-line description into buf (NUL-terminated). */
    void (*describe)(char *buf, size_t size, void *payload);

    /* Optional: called by pps_deliver_free with the payload. */
    void (*free)(void *payload);

    /* --- version 2 --- */

    /* Optional (NULL: PPS_EUNSUPPORTED): is a message with delivery tag
     * `tag` (pps_deliverer_txn_tag of an earlier transaction, hex digits)
     * stored for `user` of `domain`?  1 yes, 0 no, a negative PPS_E* code
     * (detail set) when it cannot tell.  See pps_deliver_find. */
    int (*find)(const char *user, const char *domain, const char *tag,
                void *payload);
} pps_deliverer_class;

/* 2 added `find`.  Classes of version 1 (without it) are still accepted. */
#define PPS_DELIVERER_CLASS_VERSION 2

/*
 * Make a deliverer around `cls` (borrowed: it must outlive the handle)
 * and `payload` (yours; cls->free, when set, gets it back at
 * pps_deliver_free).  *out belongs to the caller.
 */
PPS_API int pps_deliver_new_custom(pps_deliver **out,
                                   const pps_deliverer_class *cls,
                                   void *payload);

/* The number of recipients of the transaction. */
PPS_API size_t pps_deliverer_txn_count(const pps_deliverer_txn *txn);

/* Recipient i as "user@domain", its user part and its domain part
 * (borrowed from txn, valid until the transaction ends). */
PPS_API const char *pps_deliverer_txn_recipient(const pps_deliverer_txn *txn,
                                                size_t i);
PPS_API const char *pps_deliverer_txn_user(const pps_deliverer_txn *txn,
                                           size_t i);
PPS_API const char *pps_deliverer_txn_domain(const pps_deliverer_txn *txn,
                                             size_t i);

/* The delivery tag of recipient i (hex digits, see
 * pps_deliver_begin_tagged), or NULL when the caller gave none; borrowed
 * from txn.  A deliverer that stores it where find() can look makes
 * crash recovery exact. */
PPS_API const char *pps_deliverer_txn_tag(const pps_deliverer_txn *txn,
                                          size_t i);

/* The envelope sender ("" is the null sender), borrowed from txn. */
PPS_API const char *pps_deliverer_txn_sender(const pps_deliverer_txn *txn);

/* The outcome so far of recipient i. */
PPS_API pps_deliver_outcome
pps_deliverer_txn_outcome(const pps_deliverer_txn *txn, size_t i);

/*
 * Decide recipient i: `outcome` DELIVERED, TEMPFAIL or PERMFAIL, `code`
 * the PPS_E* code (PPS_OK when delivered), `reply` a reply code or exit
 * status or 0, and `text_len` bytes of the server's or system's words
 * (made printable and cut to PPS_DELIVER_TEXT_MAX - 1).  A decided
 * recipient keeps its first outcome: setting it again returns
 * PPS_EEXISTS and changes nothing.  Returns 0, or PPS_EINVAL.
 */
PPS_API int pps_deliverer_txn_set(pps_deliverer_txn *txn, size_t i,
                                  pps_deliver_outcome outcome, int code,
                                  int reply, const char *text, size_t text_len);

PPS_END_DECLS

#endif /* PPS_DELIVERER_H */
