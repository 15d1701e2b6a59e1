/*
 * libpps/deliver/deliver-int.h - what the deliverers share inside libpps.
 *
 * deliver.c runs the transaction and owns the recipient statuses; each
 * built-in deliverer is one file exporting one pps__deliver_builtin (its
 * pps_deliverer_class plus a constructor that checks the settings).  The
 * helpers below are small streaming pieces each with its own file.
 */
#ifndef PPS_DELIVER_INT_H
#define PPS_DELIVER_INT_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include "pps/deliverer.h"

#include "deliver/durable.h"

/* --- built-in deliverers ------------------------------------------------ */

typedef struct pps__deliver_builtin {
    const pps_deliverer_class *cls;
    /* Check `o` (method already matched) and make the payload. */
    int (*open)(void **payload, const pps_deliver_options *o);

    /* Group commit (pps_deliver_commit_staged / pps_deliver_flush); all
     * three NULL for a deliverer that cannot stage (then staging is an
     * ordinary commit). */
    /* End the open transaction like commit, except that the recipients
     * it can deliver are only staged (pps__txn_stage): written, neither
     * durable nor visible yet.  The deliverer keeps what it needs to
     * publish them, in staging order. */
    int (*stage)(pps_deliverer_txn *txn, void *payload);
    /* Make staged[0..n) (every message staged since the last flush, in
     * staging order) durable and visible, and set each staged
     * recipient's outcome with pps_deliverer_txn_set.  Returns 0 or the
     * first failure. */
    int (*flush)(pps_deliverer_txn *const *staged, size_t n, void *payload);
    /* Forget every staged message (remove its files): nothing of it was
     * delivered. */
    void (*discard)(void *payload);
} pps__deliver_builtin;

/* Mark recipient i of txn staged (PPS_DELIVER_STAGED): only from a
 * builtin's stage(), for a recipient still PENDING. */
void pps__txn_stage(pps_deliverer_txn *txn, size_t i);

extern const pps__deliver_builtin pps__deliver_maildir;
extern const pps__deliver_builtin pps__deliver_lmtp;
extern const pps__deliver_builtin pps__deliver_smtp;
extern const pps__deliver_builtin pps__deliver_emailarchitect;
extern const pps__deliver_builtin pps__deliver_pipe;
extern const pps__deliver_builtin pps__deliver_null;

/* The timeout `ms`, or `dflt` when it is 0. */
unsigned int pps__deliver_timeout(unsigned int ms, unsigned int dflt);

/* Defaults, RFC 5321 4.5.3.2 (milliseconds). */
#define PPS__DELIVER_CONNECT_MS 30000u
#define PPS__DELIVER_COMMAND_MS 300000u /* greeting, EHLO, MAIL, RCPT */
#define PPS__DELIVER_DATA_MS    120000u /* DATA initiation */
#define PPS__DELIVER_BLOCK_MS   180000u /* each data block */
#define PPS__DELIVER_FINAL_MS   600000u /* DATA termination */
#define PPS__DELIVER_RUN_MS     600000u /* one MDA run */

/* Set every undecided recipient to `outcome` with the same words. */
void pps__txn_set_undecided(pps_deliverer_txn *txn, pps_deliver_outcome outcome,
                            int code, int reply, const char *text);

/* 1 when a user or domain is safe in a file name or a command line:
 * non-empty, no '/', no control bytes or blanks, not starting with '.'
 * or '-'. */
int pps__deliver_name_safe(const char *s);

/* Expand %u, %d and %% of `tmpl` into buf.  Returns the length or
 * PPS_ETOOBIG / PPS_ECONFIG (an unknown %x) with the error detail set. */
int pps__deliver_expand(char *buf, size_t size, const char *tmpl,
                        const char *user, const char *domain);

/* --- line ends and dot-stuffing (lineconv.c) ----------------------------- */

#define PPS__LC_LF   0x1u /* CR LF -> LF */
#define PPS__LC_CRLF 0x2u /* bare LF -> CR LF */
#define PPS__LC_DOTSTUFF                                 \
    0x4u /* '.' at a line start doubled (RFC 5321 4.5.2) \
          */

typedef struct pps__lineconv {
    unsigned int mode;
    int held_cr; /* LF mode: a CR ended the last chunk */
    int prev_cr; /* CRLF mode: the last byte written was a CR */
    int bol;     /* at the beginning of a line */
} pps__lineconv;

void pps__lineconv_init(pps__lineconv *c, unsigned int mode);

/* The most output one call can make from `len` bytes. */
#define PPS__LINECONV_OUT_MAX(len) (2 * (len) + 2)

/* Convert `len` bytes into out (PPS__LINECONV_OUT_MAX(len) bytes);
 * returns the number of bytes written.  Any chunk split gives the same
 * output as one call. */
size_t pps__lineconv_run(pps__lineconv *c, char *out, const char *in,
                         size_t len);

/* End of input: LF mode gives back a held CR; CRLF mode ends an
 * unfinished last line with CR LF.  out holds 3 bytes; returns the
 * count. */
size_t pps__lineconv_finish(pps__lineconv *c, char *out);

/* --- SIGPIPE without touching signal handlers (sigpipe.c) ---------------- */

typedef struct pps__sigpipe {
    sigset_t old;
    int was_pending;
} pps__sigpipe;

/* Block SIGPIPE in this thread around writes to pipes or TLS sockets. */
void pps__sigpipe_block(pps__sigpipe *s);
/* Consume a SIGPIPE those writes raised, then restore the mask. */
void pps__sigpipe_restore(pps__sigpipe *s);

/* --- LMTP/SMTP replies (reply.c) ------------------------------------------ */

/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with CRLF. */
#define PPS__REPLY_LINE_MAX 512
/* A multi-line reply (EHLO) longer than this is cut and flagged. */
#define PPS__REPLY_TEXT_MAX 4096
/* More lines than this in one reply is a peer talking forever. */
#define PPS__REPLY_LINES_MAX 100

typedef struct pps__reply {
    int code;                       /* 200-599 when complete */
    char text[PPS__REPLY_TEXT_MAX]; /* each line's text, '\n' between */
    size_t text_len;
    unsigned int lines;
    int truncated; /* a line or the text was cut */
    /* line assembly */
    char line[PPS__REPLY_LINE_MAX];
    size_t line_len;
    int line_long;
} pps__reply;

void pps__reply_init(pps__reply *r);

/*
 * Feed `len` bytes; *used gets how many were taken.  Returns 1 when a
 * whole reply is in r (the bytes after it are left for the next one:
 * pps__reply_init, then feed them), 0 when more input is needed, or
 * PPS_EPROTO (a line without a valid code, codes that differ between
 * lines, too many lines) with the detail set.
 */
int pps__reply_feed(pps__reply *r, const char *data, size_t len, size_t *used);

/* The first line's text (up to the first '\n') as a length. */
size_t pps__reply_first_line(const pps__reply *r);

/* --- connections (net.c) ---------------------------------------------------
 */

typedef struct pps__conn pps__conn;

/* Connect to "host:port", "[v6]:port", "host" (default_port) or an
 * absolute unix socket path. *out is freed with pps__conn_close. */
int pps__conn_open(pps__conn **out, const char *server,
                   unsigned int default_port, unsigned int timeout_ms);
/* Write all of data; PPS_ENET, PPS_ETIMEOUT. */
int pps__conn_write(pps__conn *c, const char *data, size_t len,
                    unsigned int timeout_ms);
/* Read what is there (at least one byte); EOF is PPS_ENET. */
int pps__conn_read(pps__conn *c, char *buf, size_t size, size_t *got,
                   unsigned int timeout_ms);
/* TLS over the connection (STARTTLS); PPS_ETLS. */
int pps__conn_starttls(pps__conn *c, const char *ca_file,
                       const char *server_name, int no_verify,
                       unsigned int timeout_ms);
/* 1 on TLS, a unix socket or a loopback address. */
int pps__conn_is_private(const pps__conn *c);
/* The host of a "host:port" server string (for TLS names). */
int pps__conn_host(char *buf, size_t size, const char *server);
void pps__conn_close(pps__conn *c);

#endif /* PPS_DELIVER_INT_H */
