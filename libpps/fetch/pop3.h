/*
 * libpps/fetch/pop3.h - the POP3 engine's private parts.
 *
 * One session struct, shared by the small files of the engine:
 *   pop3-io.c        line reader, command writer, transcript, deadlines
 *   pop3-reply.c     status lines, response codes, numbers
 *   pop3-command.c   the command table
 *   pop3-stream.c    RETR/TOP body: terminator and dot-unstuffing
 *   pop3-pipeline.c  the one windowed command loop
 *   pop3-sasl.c      SASL mechanisms, base64, digests
 *   pop3-auth.c      choosing and running a login method
 *   pop3-inventory.c STAT, LIST, UIDL
 *   pop3-message.c   RETR, TOP, DELE
 *   pop3-session.c   the public calls: new, connect, STLS, CAPA, QUIT...
 */
#ifndef PPS_FETCH_POP3_H
#define PPS_FETCH_POP3_H

#include <stdatomic.h>
#include <stddef.h>

#include "pps/fetch.h"
#include "../core/internal.h"

/* RFC 2449 4: a response line is at most 512 octets with its CRLF. */
#define PPS__POP3_REPLY_MAX 510
/* RFC 2449 4: a command is at most 255 octets with its CRLF. */
#define PPS__POP3_COMMAND_MAX 255
/* A SASL client response line (not bounded by RFC 2449; OAuth tokens of
 * Microsoft 365 run to a few KB, base64 adds a third). */
#define PPS__POP3_AUTH_LINE_MAX 12288
/* Raw (decoded) SASL data either way. */
#define PPS__POP3_SASL_RAW_MAX 8192
/* Bytes read from the transport at once. */
#define PPS__POP3_IN_SIZE 16384
/* Commands queued before one write: a full window of the longest
 * pipelined command, or one AUTH line. */
#define PPS__POP3_OUT_SIZE (PPS__POP3_AUTH_LINE_MAX + 64)
/* Message bytes handed to the data callback at once. */
#define PPS__POP3_STREAM_OUT 16384
/* The APOP timestamp (RFC 1939 7: a msg-id in the greeting). */
#define PPS__POP3_TIMESTAMP_MAX 256
/* SASL mechanism names of CAPA. */
#define PPS__POP3_SASL_LIST_MAX 256
/* RFC 1939 7: a unique-id is 1 to 70 characters 0x21-0x7E. */
#define PPS__POP3_UID_MAX 70
/* Waits are cut into slices this long so an abort is seen quickly. */
#define PPS__POP3_ABORT_POLL_MS 250
/* CAPA lines read before we call the server a babbler (RFC 2449 lists
 * a dozen capabilities; real servers send fewer than 20 lines). */
#define PPS__POP3_CAPA_LINES_MAX 256
/* SASL challenges answered before we give up on a chatty server. */
#define PPS__POP3_SASL_ROUNDS_MAX 8

#define PPS__POP3_DEFAULT_READ_TIMEOUT_MS    60000
#define PPS__POP3_DEFAULT_SESSION_TIMEOUT_MS 3600000
#define PPS__POP3_DEFAULT_WINDOW             64u
#define PPS__POP3_DEFAULT_MAX_LINE           998

typedef enum pps__pop3_state {
    PPS__POP3_NEW = 0,       /* not connected */
    PPS__POP3_AUTHORIZATION, /* connected, not logged in */
    PPS__POP3_TRANSACTION,   /* logged in */
    PPS__POP3_CLOSED,        /* QUIT done or connection closed */
    PPS__POP3_BROKEN         /* a fatal error: only quit and free */
} pps__pop3_state;

typedef enum pps__pop3_cmd {
    PPS__CMD_CAPA = 0,
    PPS__CMD_STLS,
    PPS__CMD_USER,
    PPS__CMD_PASS,
    PPS__CMD_APOP,
    PPS__CMD_AUTH,
    PPS__CMD_AUTH_DATA, /* a SASL client response line */
    PPS__CMD_STAT,
    PPS__CMD_LIST,
    PPS__CMD_UIDL,
    PPS__CMD_RETR,
    PPS__CMD_TOP,
    PPS__CMD_DELE,
    PPS__CMD_RSET,
    PPS__CMD_NOOP,
    PPS__CMD_QUIT,
    PPS__CMD_GREETING, /* not a command: the reply to connecting */
    PPS__CMD_COUNT
} pps__pop3_cmd;

typedef struct pps__pop3_command_info {
    const char *name;       /* as sent; "" for AUTH_DATA */
    const char *label;      /* for messages: "reply to RETR", "greeting" */
    unsigned int multiline; /* 1: multi-line +OK reply always */
    /* Words of the line shown in the transcript; the rest is replaced by
     * "<hidden>".  0: the whole line is shown. */
    unsigned int visible_words;
    unsigned int login; /* 1: a plain -ERR means bad credentials */
} pps__pop3_command_info;

const pps__pop3_command_info *pps__pop3_command(pps__pop3_cmd cmd);

typedef enum pps__pop3_status {
    PPS__POP3_OK,
    PPS__POP3_ERR,
    PPS__POP3_CONT /* "+ " continuation during AUTH */
} pps__pop3_status;

/* --- the body of RETR and TOP (pop3-stream.c) ---------------------------- */

typedef int (*pps__pop3_sink)(const char *buf, size_t len, void *payload);

typedef struct pps__pop3_stream {
    int state;
    size_t line_len; /* bytes of the current line so far */
    size_t max_line; /* longer lines are flagged */
    unsigned int flags;
    unsigned long long octets; /* bytes handed to the sink */
    pps__pop3_sink sink;
    void *payload;
    int sink_result; /* first non-zero sink return; then we only parse */
    size_t out_len;
    char out[PPS__POP3_STREAM_OUT];
} pps__pop3_stream;

void pps__pop3_stream_init(pps__pop3_stream *st, size_t max_line,
                           pps__pop3_sink sink, void *payload);
/*
 * Feed `len` bytes; *used gets how many belong to the body (up to and
 * including the terminating ".CRLF").  Returns 1 when the terminator was
 * seen (the rest of `in` is the next reply), 0 when more is needed.
 */
int pps__pop3_stream_feed(pps__pop3_stream *st, const char *in, size_t len,
                          size_t *used);
/* Hand what is buffered to the sink (after the terminator). */
void pps__pop3_stream_flush(pps__pop3_stream *st);

/* --- the session --------------------------------------------------------- */

struct pps_session {
    pps_transport *transport; /* borrowed */
    char *user;
    const char *password; /* borrowed */
    char *log_context;
    int auth_forced; /* a pps__pop3_auth, -1: auto */
    int stls;
    int sasl_ir;
    int allow_plaintext;
    int read_timeout_ms;
    int session_timeout_ms;
    unsigned int window_option;
    size_t max_line;

    pps__pop3_state state;
    atomic_int aborted;
    long long deadline_ms; /* monotonic; 0: none */
    int connected;         /* the transport is open */
    pps_server_address addr;

    unsigned int capa;
    long login_delay;
    char sasl[PPS__POP3_SASL_LIST_MAX + 1];
    char timestamp[PPS__POP3_TIMESTAMP_MAX + 1];
    const char *auth_used;
    pps_response_code resp;

    /* The reply line being looked at, NUL-terminated (no CRLF). */
    char line[PPS__POP3_REPLY_MAX + 1];
    size_t line_len;
    pps__pop3_status status; /* of `line` when it is a status line */
    size_t text_off;         /* where the text after +OK/-ERR starts */

    size_t in_start, in_end;
    char in[PPS__POP3_IN_SIZE];
    size_t out_len;
    int out_secret; /* out holds a secret: wipe after writing */
    char out[PPS__POP3_OUT_SIZE];
    pps__pop3_stream stream;
};

/* pop3-io.c */
int pps__pop3_check(pps_session *s, pps__pop3_cmd cmd);
int pps__pop3_read_line(pps_session *s, pps__pop3_cmd cmd);
int pps__pop3_read_status(pps_session *s, pps__pop3_cmd cmd);
int pps__pop3_read_body(pps_session *s, pps__pop3_cmd cmd,
                        pps__pop3_stream *st);
int pps__pop3_queue(pps_session *s, pps__pop3_cmd cmd, const char *arg1,
                    const char *arg2);
int pps__pop3_queue_number(pps_session *s, pps__pop3_cmd cmd, unsigned int n1,
                           int with_n2, unsigned int n2);
int pps__pop3_flush(pps_session *s, pps__pop3_cmd cmd);
void pps__pop3_trace(pps_session *s, int outgoing, pps__pop3_cmd cmd,
                     const char *line, size_t len);
int pps__pop3_read_multi(pps_session *s, pps__pop3_cmd cmd, const char **text,
                         size_t *len);
int pps__pop3_skip_multi(pps_session *s, pps__pop3_cmd cmd);
int pps__pop3_simple(pps_session *s, pps__pop3_cmd cmd);
void pps__pop3_set_state(pps_session *s, pps__pop3_state state);

/* pop3-reply.c */
int pps__pop3_parse_status(pps_session *s, pps__pop3_cmd cmd, int allow_cont);
int pps__pop3_refused(pps_session *s, pps__pop3_cmd cmd, const char *what);
int pps__pop3_bad_line(pps_session *s, pps__pop3_cmd cmd, const char *why);
int pps__pop3_parse_uint(const char **p, const char *end,
                         unsigned long long max, unsigned long long *out);
int pps__pop3_is_fatal(int code);

/* pop3-pipeline.c */
typedef struct pps__pop3_batch {
    pps__pop3_cmd cmd; /* for messages */
    size_t count;
    /* Queue command i. */
    int (*queue)(pps_session *s, size_t i, void *ctx);
    /* Read the whole reply of command i; `draining`: an earlier reply
     * failed, read and drop.  Returns 0, or a code: a fatal one stops at
     * once, any other stops queueing, drains and is returned. */
    int (*reply)(pps_session *s, size_t i, int draining, void *ctx);
    void *ctx;
} pps__pop3_batch;

unsigned int pps__pop3_window(const pps_session *s);
int pps__pop3_run(pps_session *s, const pps__pop3_batch *batch);

/* pop3-sasl.c */
typedef enum pps__pop3_auth {
    PPS__AUTH_USER = 0,
    PPS__AUTH_APOP,
    PPS__AUTH_PLAIN,
    PPS__AUTH_LOGIN,
    PPS__AUTH_CRAM_MD5,
    PPS__AUTH_XOAUTH2,
    PPS__AUTH_OAUTHBEARER,
    PPS__AUTH_COUNT
} pps__pop3_auth;

typedef struct pps__sasl {
    pps__pop3_auth mech;
    unsigned int step; /* challenges answered */
    int initial_sent;  /* the initial response went on the AUTH line */
    int failed;        /* the server sent an error challenge */
    char error_text[PPS__ERROR_SERVER_MAX + 1]; /* decoded, printable */
} pps__sasl;

/* The raw initial response into buf: its length, or -1 when the
 * mechanism has none, or PPS_ETOOBIG. */
long pps__sasl_initial(const pps_session *s, pps__sasl *st, unsigned char *buf,
                       size_t size);
/* The raw answer to a decoded challenge: its length, or a PPS_E* code
 * when the exchange must be cancelled. */
long pps__sasl_step(const pps_session *s, pps__sasl *st,
                    const unsigned char *chal, size_t chal_len,
                    unsigned char *buf, size_t size);
/* Base64 (RFC 4648 4) into out (NUL-terminated): the length or -1. */
long pps__b64_encode(char *out, size_t size, const unsigned char *in,
                     size_t len);
/* Strict base64 decoding: the length or -1 (bad input, too long). */
long pps__b64_decode(unsigned char *out, size_t size, const char *in,
                     size_t len);
/* Lower-case hex MD5 of a + b into out[33] (APOP, RFC 1939 7). */
int pps__md5_hex(char out[33], const char *a, size_t alen, const char *b,
                 size_t blen);

/* pop3-auth.c */
int pps__pop3_login(pps_session *s);
/* pop3-session.c: the checks every public call starts and ends with. */
int pps__pop3_enter(pps_session *s, const char *fn, pps__pop3_state need);
int pps__pop3_leave(pps_session *s, int err);
int pps__pop3_auth_parse(const char *name);

#endif /* PPS_FETCH_POP3_H */
