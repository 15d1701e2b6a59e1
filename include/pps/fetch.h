/*
 * pps/fetch.h - a POP3 client session: log in, list, retrieve, delete.
 *
 * A session speaks POP3 (RFC 1939, 2449, 2595, 5034) over a transport
 * (pps/transport.h) that the caller creates, keeps and frees.  The call
 * sequence of one poll:
 *
 *     pps_session_options o = PPS_SESSION_OPTIONS_INIT;
 *     o.user = "alice@remote.test";
 *     o.password = secret;              // borrowed: keep it alive
 *     pps_session *s;
 *     pps_session_new(&s, transport, &o);
 *     pps_session_connect(s, &addr);    // greeting, CAPA, STLS, CAPA again
 *     pps_session_login(s);             // the strongest method offered
 *     pps_message_list *list;
 *     pps_session_inventory(&list, s);  // STAT + UIDL + LIST, pipelined
 *     ... choose the messages the ledger has not seen ...
 *     pps_session_retrieve(s, numbers, n, &callbacks, payload);
 *     ... deliver durably, record in the ledger ...
 *     pps_session_delete(s, numbers, n, &deleted);
 *     pps_session_quit(s);              // 0 only when the DELEs are committed
 *     pps_message_list_free(list);
 *     pps_session_free(s);              // then free the transport
 *
 * Every call returns 0 or a PPS_E* code with the detail in
 * pps_error_last(): `message` is ours (it names the command and quotes a
 * bad line), `server` holds the server's words.  After a network,
 * protocol, TLS, timeout or abort failure the session is broken: every
 * later call but pps_session_quit() and pps_session_free() fails with
 * PPS_EINVAL, and pps_session_quit() reports that nothing was committed.
 *
 * Refusals by the server are sorted by their RFC 2449/3206 response code:
 * [IN-USE], [LOGIN-DELAY] and [SYS/TEMP] give PPS_ETEMP; [AUTH] and a
 * plain -ERR to a login command give PPS_EAUTH; [SYS/PERM] gives PPS_EPERM.
 * pps_session_response_code() tells which code the last reply carried.
 *
 * Messages stream: RETR and TOP hand the message to a callback in chunks,
 * never holding the whole message.  The bytes given are the message as
 * sent, with the POP3 framing removed: the terminating "." line is not
 * passed on, a leading dot is removed from dot-stuffed lines, and line
 * ends are normalised: CRLF stays CRLF, a bare LF becomes CRLF, a bare CR
 * (one not followed by LF) is passed on unchanged and flagged.  A server
 * that ends every line with LF alone, including the final ".", is
 * therefore understood.
 *
 * Secrets: the password or token is never logged; the protocol transcript
 * (PPS_LOG_TRACE, lines "--> " and "<-- ") shows PASS, AUTH data and APOP
 * digests as "<hidden>".  A password or token is never sent over an
 * unencrypted connection unless allow_plaintext_password is set (CRAM-MD5
 * and APOP, which send only a digest, are allowed).
 *
 * A session is used by one thread at a time; pps_session_abort() is the
 * exception: it may be called from any thread or a signal handler.
 */
#ifndef PPS_FETCH_H
#define PPS_FETCH_H

#include "common.h"
#include "server.h"
#include "transport.h"

PPS_BEGIN_DECLS

typedef struct pps_session pps_session;

/* What to do about STLS (RFC 2595) on a connection without implicit TLS. */
typedef enum pps_stls_policy {
    /* Default: upgrade with STLS; fail (PPS_ETLS) before any login command
     * when the server does not offer it.  Never falls back to plain. */
    PPS_STLS_REQUIRED = 0,
    /* Upgrade when CAPA lists STLS, stay plain otherwise. */
    PPS_STLS_IF_OFFERED = 1,
    /* Never send STLS. */
    PPS_STLS_NEVER = 2
} pps_stls_policy;

/* Whether a SASL initial response goes on the AUTH line (RFC 5034 4). */
typedef enum pps_sasl_ir {
    /* Default: on the AUTH line when the whole command fits in the 255
     * octets RFC 2449 allows, else after the server's "+" (two steps). */
    PPS_SASL_IR_AUTO = 0,
    /* Always on the AUTH line, however long (some servers want this). */
    PPS_SASL_IR_ALWAYS = 1,
    /* Always in two steps (Microsoft 365 XOAUTH2 wants this). */
    PPS_SASL_IR_NEVER = 2
} pps_sasl_ir;

typedef struct pps_session_options {
    unsigned int version; /* PPS_SESSION_OPTIONS_VERSION */
    /* The login name; copied by pps_session_new(). */
    const char *user;
    /* The password, or the OAuth 2 access token for XOAUTH2 and
     * OAUTHBEARER.  Borrowed: it must stay valid until pps_session_free();
     * every buffer the session builds from it is wiped after use. */
    const char *password;
    /* NULL or "auto": the strongest method the server offers, in the order
     * CRAM-MD5, APOP, PLAIN, LOGIN, USER (token methods are never chosen
     * automatically).  Otherwise one of "user", "apop", "plain", "login",
     * "cram-md5", "xoauth2", "oauthbearer" (any case): the values of the
     * profile key `auth`. */
    const char *auth_method;
    int stls;                  /* a pps_stls_policy */
    int sasl_initial_response; /* a pps_sasl_ir */
    /* 1: allow USER/PASS, PLAIN, LOGIN and token methods over a connection
     * without TLS.  Default 0: such a login fails with PPS_ECONFIG. */
    int allow_plaintext_password;
    /* Longest wait for one read or write, in ms; 0: 60000. */
    int read_timeout_ms;
    /* Deadline for everything from pps_session_connect() on, in ms;
     * 0: one hour; negative: none. */
    int session_timeout_ms;
    /* Commands in flight at once when the server offers PIPELINING:
     * 0: 64; 1: never pipeline.  Without PIPELINING it is always 1.
     * At most PPS_SESSION_PIPELINE_MAX. */
    unsigned int pipeline_window;
    /* Message lines longer than this are passed on but flagged
     * PPS_MESSAGE_LONG_LINE; 0: 998 (RFC 5322 2.1.1). */
    size_t max_line;
    /* Name put on log lines (the profile name); copied; may be NULL. */
    const char *log_context;
} pps_session_options;

#define PPS_SESSION_OPTIONS_VERSION 1
#define PPS_SESSION_OPTIONS_INIT                                          \
    {                                                                     \
        PPS_SESSION_OPTIONS_VERSION, NULL, NULL, NULL, PPS_STLS_REQUIRED, \
            PPS_SASL_IR_AUTO, 0, 0, 0, 0, 0, NULL                         \
    }
#define PPS_SESSION_PIPELINE_MAX 64

/* For bindings that cannot use the macro. */
PPS_API void pps_session_options_init(pps_session_options *opts);

/*
 * Make a session over `transport` (borrowed: it must outlive the session;
 * the session never frees it).  `opts` (NULL: defaults, no user) is read
 * now and may be freed after the call, except opts->password (see above).
 * Returns 0 and the session in *out (free with pps_session_free()), PPS_EINVAL
 * for a bad option (user or password with a line break, unknown auth_method),
 * PPS_ENOMEM.
 */
PPS_API int pps_session_new(pps_session **out, pps_transport *transport,
                            const pps_session_options *opts);

/*
 * Connect to `addr`, read the greeting, ask CAPA, do STLS as the policy
 * says and ask CAPA again over TLS.  PPS_ETEMP when the greeting is -ERR,
 * PPS_ETLS when STLS is required but not offered or the upgrade fails.
 */
PPS_API int pps_session_connect(pps_session *s, const pps_server_address *addr);

/* Log in with the configured or strongest offered method. */
PPS_API int pps_session_login(pps_session *s);

/* Capabilities (valid after pps_session_connect). */
#define PPS_CAPA_TOP            0x0001u
#define PPS_CAPA_UIDL           0x0002u
#define PPS_CAPA_USER           0x0004u
#define PPS_CAPA_SASL           0x0008u
#define PPS_CAPA_STLS           0x0010u
#define PPS_CAPA_PIPELINING     0x0020u
#define PPS_CAPA_RESP_CODES     0x0040u
#define PPS_CAPA_AUTH_RESP_CODE 0x0080u
#define PPS_CAPA_LOGIN_DELAY    0x0100u
#define PPS_CAPA_EXPIRE         0x0200u
#define PPS_CAPA_APOP           0x0400u /* the greeting carried a timestamp */
#define PPS_CAPA_CAPA           0x0800u /* the server answered CAPA at all */

/* The PPS_CAPA_* bits of the server as last seen. */
PPS_API unsigned int pps_session_capabilities(const pps_session *s);

/* The LOGIN-DELAY of CAPA in seconds (RFC 2449 6.8), or -1 when absent. */
PPS_API long pps_session_login_delay(const pps_session *s);

/* The SASL mechanisms of CAPA, space separated, "" when none.  Borrowed:
 * valid until the next call on the session. */
PPS_API const char *pps_session_sasl_mechanisms(const pps_session *s);

/* The method pps_session_login() used ("USER", "CRAM-MD5", ...), or "". */
PPS_API const char *pps_session_auth_method(const pps_session *s);

/* Extended response code of the last -ERR (RFC 2449 8, RFC 3206). */
typedef enum pps_response_code {
    PPS_RESP_NONE = 0, /* none, or the last reply was +OK */
    PPS_RESP_IN_USE,
    PPS_RESP_LOGIN_DELAY,
    PPS_RESP_SYS_TEMP,
    PPS_RESP_SYS_PERM,
    PPS_RESP_AUTH,
    PPS_RESP_OTHER /* a code this library does not know */
} pps_response_code;

PPS_API pps_response_code pps_session_response_code(const pps_session *s);

/* STAT: number of messages and their total size in octets. */
PPS_API int pps_session_stat(pps_session *s, unsigned int *count,
                             unsigned long long *octets);

/* Flags of a listed message. */
#define PPS_MESSAGE_NO_UID  0x01u /* UIDL gave none (or no UIDL at all) */
#define PPS_MESSAGE_DUP_UID 0x02u /* another message has the same UID */
#define PPS_MESSAGE_BAD_UID                        \
    0x04u /* the UID broke RFC 1939 (over 70       \
             characters or outside 0x21-0x7E); uid \
             is then NULL */

typedef struct pps_message_entry {
    unsigned int number;     /* the message number of this session */
    unsigned long long size; /* as LIST said (the server may be wrong) */
    const char *uid;         /* UIDL, NUL-terminated, or NULL (see flags) */
    unsigned int flags;      /* PPS_MESSAGE_* */
} pps_message_entry;

typedef struct pps_message_list {
    size_t count;               /* entries, in message-number order */
    pps_message_entry *entries; /* owned by the list */
    /* 1 when some UIDs are duplicated: the server's UIDs cannot tell those
     * messages apart, so the caller must not track them by UID alone. */
    int has_duplicate_uids;
} pps_message_list;

/*
 * STAT, UIDL and LIST (pipelined when offered).  On success *out is a
 * list the caller frees with pps_message_list_free().  A server without
 * UIDL (-ERR) gives entries flagged PPS_MESSAGE_NO_UID.  At most
 * PPS_SESSION_MESSAGES_MAX messages (more: PPS_ETOOBIG).
 */
#define PPS_SESSION_MESSAGES_MAX 1000000u
PPS_API int pps_session_inventory(pps_message_list **out, pps_session *s);

/* Free a list; NULL does nothing. */
PPS_API void pps_message_list_free(pps_message_list *list);

/* Flags of a retrieved message (end callback). */
#define PPS_MESSAGE_LONG_LINE 0x10u /* a line was longer than max_line */
#define PPS_MESSAGE_BARE_CR   0x20u /* a CR not followed by LF was kept */
#define PPS_MESSAGE_BARE_LF   0x40u /* a bare LF was turned into CRLF */
#define PPS_MESSAGE_NUL       0x80u /* the message holds NUL bytes */

/*
 * How a retrieved message reaches the caller.  For each message asked
 * for, in order: begin once, data any number of times (never with len 0),
 * end once.  When the server refuses a message (-ERR), begin and data are
 * not called and end gets status PPS_ETEMP or PPS_EPERM; the other
 * messages go on.  When the connection fails inside a message, end gets
 * that status and the call returns it.  A callback returning non-zero
 * stops the call: replies already asked for are read and dropped, then
 * PPS_EUSER is returned (the session stays usable); end is still called
 * for a message whose begin was called, with status PPS_EUSER.
 */
typedef struct pps_retrieve_callbacks {
    unsigned int version; /* PPS_RETRIEVE_CALLBACKS_VERSION */
    int (*begin)(unsigned int number, void *payload);
    int (*data)(const char *buf, size_t len, void *payload);
    /* octets: bytes given to data; flags: PPS_MESSAGE_* */
    int (*end)(unsigned int number, int status, unsigned long long octets,
               unsigned int flags, void *payload);
} pps_retrieve_callbacks;

#define PPS_RETRIEVE_CALLBACKS_VERSION 1

/*
 * RETR each of numbers[0..count) in order, pipelined when offered.
 * Returns 0 when every message was either passed on completely or refused
 * by the server (see end), else the first failure.
 */
PPS_API int pps_session_retrieve(pps_session *s, const unsigned int *numbers,
                                 size_t count,
                                 const pps_retrieve_callbacks *callbacks,
                                 void *payload);

/* TOP number lines: the header and `lines` body lines, streamed as RETR. */
PPS_API int pps_session_top(pps_session *s, unsigned int number,
                            unsigned int lines,
                            const pps_retrieve_callbacks *callbacks,
                            void *payload);

/*
 * DELE each of numbers[0..count), pipelined when offered.  The deletions
 * take effect only when pps_session_quit() returns 0.  Every DELE is sent
 * even when one is refused; *deleted (may be NULL) gets how many the
 * server accepted, and the first refusal is returned (PPS_EPERM or
 * PPS_ETEMP, its number in the detail).  To undo them all, use
 * pps_session_rset() or leave without QUIT.
 */
PPS_API int pps_session_delete(pps_session *s, const unsigned int *numbers,
                               size_t count, size_t *deleted);

/* RSET: undo the deletions of this session. */
PPS_API int pps_session_rset(pps_session *s);

/* NOOP: keep the connection alive. */
PPS_API int pps_session_noop(pps_session *s);

/*
 * QUIT and close the connection.  0 only when the server answered +OK,
 * which is when it commits the deletions; -ERR gives PPS_ETEMP or
 * PPS_EPERM ("deletions not committed"), a broken connection PPS_ENET.
 */
PPS_API int pps_session_quit(pps_session *s);

/*
 * Ask a running call to stop: it returns PPS_EABORTED at its next check
 * (before every read and write, and at least every 250 ms while waiting
 * for the server; the transport's connect and TLS handshake are bounded
 * by read_timeout_ms instead).  The session is then broken.  Safe from
 * another thread and from a signal handler (a lock-free atomic).
 */
PPS_API void pps_session_abort(pps_session *s);

/* Close the connection if open (without QUIT) and free; NULL does
 * nothing.  The transport is not freed. */
PPS_API void pps_session_free(pps_session *s);

PPS_END_DECLS

#endif /* PPS_FETCH_H */
