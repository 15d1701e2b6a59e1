/*
 * pps/route.h - who gets a message: the header reader and the router.
 *
 * A message arrives as a stream.  Feed it to a header reader until the
 * reader says the header block is complete; the bytes it did not use are
 * the body, which the caller passes on untouched:
 *
 *     pps_header_reader *hr;
 *     pps_header_reader_new(&hr, 0);              0: the default limit
 *     for each chunk of the message:
 *         size_t used;
 *         rc = pps_header_reader_feed(hr, chunk, len, &used);
 *         if (rc < 0) ... error ...
 *         if (rc == 1) ... chunk + used onwards is body ...
 *     pps_header_reader_finish(hr);               at the end of the message
 *
 * pps_header_reader_raw() gives the header block exactly as received (to
 * write before the body); pps_header_reader_find() gives its fields by
 * name, unfolded, every occurrence in order.
 *
 * Then ask the router who gets it under a profile's policy:
 *
 *     pps_route_policy policy = PPS_ROUTE_POLICY_INIT;
 *     policy.profile = "office";
 *     policy.local_user = "alice";
 *     policy.local_domain = "example.org";
 *     policy.distribute = 1;                      catch-all by To/Cc
 *     policy.user_exists = my_lookup;             Maildir folder, LMTP RCPT
 *     pps_route_result *res;
 *     if ((rc = pps_route(&res, &policy, hr)) < 0) ... PPS_ETEMP: retry ...
 *     for (i = 0; i < pps_route_result_count(res); i++)
 *         deliver to pps_route_result_recipient(res, i);
 *     if (pps_route_result_warning(res)) prepend that header line
 *     pps_route_result_free(res);
 *     pps_header_reader_free(hr);
 *
 * The result never comes back empty unless every recipient already had
 * the message (duplicate suppression): when nothing else applies, the
 * profile's own local user gets it.  pps_route_result_explain() says, line
 * by line, which header and address led to each recipient and why every
 * other address was skipped; it is what `pps route --explain` prints.
 *
 * The deliverer prepends pps_route_trace_header() to each message; the
 * router counts those lines to stop mail loops.  docs/routing.md has the
 * rules with examples.
 */
#ifndef PPS_ROUTE_H
#define PPS_ROUTE_H

#include <time.h>

#include "common.h"

PPS_BEGIN_DECLS

/* --- the header reader ---------------------------------------------------- */

/* The header block kept by default.  A larger block still delivers the
 * message (to the profile's local user, with a warning): it is a limit on
 * memory, not on mail. */
#define PPS_HEADER_LIMIT_DEFAULT (256 * 1024)

typedef struct pps_header_reader pps_header_reader;

/* Flags of a field. */
#define PPS_HEADER_FIELD_NUL                1u /* held NUL bytes: they read as 0x80 */
#define PPS_HEADER_FIELD_8BIT               2u /* held bytes >= 0x80 (UTF-8 or not) */
#define PPS_HEADER_FIELD_SPACE_BEFORE_COLON 4u /* "To : x" */

/* One field, borrowed from its reader: valid until the next feed, finish
 * or free of that reader.  Neither string is NUL-terminated. */
typedef struct pps_header_field {
    const char *name; /* as written, blanks before the colon removed */
    size_t name_len;
    const char *value; /* unfolded, leading and trailing blanks removed */
    size_t value_len;
    unsigned int flags; /* PPS_HEADER_FIELD_* */
} pps_header_field;

/*
 * Create a reader that keeps at most `limit` bytes of header block (0:
 * PPS_HEADER_LIMIT_DEFAULT; at least 1024).  *out belongs to the caller:
 * free it with pps_header_reader_free().  Returns 0 or PPS_ENOMEM.
 */
PPS_API int pps_header_reader_new(pps_header_reader **out, size_t limit);

/*
 * Give the reader the next `len` bytes of the message (any split, any
 * size; `data` stays the caller's).  Returns 0 when all of it was header
 * and more is needed (*used == len); 1 when the header block is complete:
 * the first *used bytes of this chunk ended it, and the rest is body.
 * Once complete, feeding returns 1 with *used == 0.  The block also ends
 * when it grows past the limit (see pps_header_reader_truncated()).
 * Returns PPS_ENOMEM or PPS_EINVAL on failure; after a failure the reader
 * can only be freed.
 */
PPS_API int pps_header_reader_feed(pps_header_reader *reader, const void *data,
                                   size_t len, size_t *used);

/*
 * The message ended.  A block without its blank line ends here, and its
 * last line counts even without a newline.  Returns 0, or PPS_ENOMEM.
 */
PPS_API int pps_header_reader_finish(pps_header_reader *reader);

/* 1 once the header block is complete (blank line, limit or finish). */
PPS_API int pps_header_reader_is_done(const pps_header_reader *reader);

/* 1 when the block was cut at the limit: the fields are those of the
 * first `limit` bytes. */
PPS_API int pps_header_reader_truncated(const pps_header_reader *reader);

/*
 * The header block as received, including the blank line that ended it
 * when there was one; borrowed from the reader (never NULL, not
 * NUL-terminated), valid until its next feed, finish or free.
 */
PPS_API const char *pps_header_reader_raw(const pps_header_reader *reader,
                                          size_t *len);

/* The number of fields read so far. */
PPS_API size_t pps_header_reader_field_count(const pps_header_reader *reader);

/*
 * Field number `index` (0 is the first), in *out (borrowed, see
 * pps_header_field).  Returns 0, PPS_ENOTFOUND past the end, PPS_EINVAL.
 */
PPS_API int pps_header_reader_field(pps_header_field *out,
                                    const pps_header_reader *reader,
                                    size_t index);

/*
 * The next field called `name` (ASCII case-insensitive) at or after field
 * *pos; on a hit *pos moves past it.  Start with *pos = 0 and loop:
 *
 *     size_t pos = 0;
 *     while (pps_header_reader_find(&f, hr, "To", &pos) == 1) ...
 *
 * Returns 1 found, 0 no more, PPS_EINVAL.
 */
PPS_API int pps_header_reader_find(pps_header_field *out,
                                   const pps_header_reader *reader,
                                   const char *name, size_t *pos);

/* Free the reader and everything borrowed from it; NULL does nothing. */
PPS_API void pps_header_reader_free(pps_header_reader *reader);

/* --- the routing policy of a profile ---------------------------------- */

/*
 * Does `user` (lower case) exist at `domain` (lower case, one of the local
 * domains)?  Returns 1 yes, 0 no, -1 a temporary failure (the message is
 * then left on the server and routed again on the next poll).
 */
typedef int (*pps_route_user_exists_fn)(const char *user, const char *domain,
                                        void *payload);

/*
 * Was the message with duplicate key `key` (see pps_route_result_key())
 * already delivered to `recipient` (lower-case user@domain)?  Returns 1
 * yes (the recipient is skipped), 0 no, -1 a temporary failure.  Only
 * asked when the policy distributes; the ledger answers it.
 */
typedef int (*pps_route_seen_fn)(const char *key, const char *recipient,
                                 void *payload);

/* One entry of an alias map: mail for `alias` (a local part, or a full
 * local address "alias@domain") goes to local user `user` ("user" on the
 * address's domain, or "user@domain"). */
typedef struct pps_route_alias {
    const char *alias;
    const char *user;
} pps_route_alias;

/* How often this profile's trace header may already be in a message
 * before it counts as a loop. */
#define PPS_ROUTE_LOOP_LIMIT_DEFAULT 3

/*
 * The policy of one profile.  Every string and array is borrowed for the
 * duration of the pps_route() call only.  Initialise with
 * PPS_ROUTE_POLICY_INIT or pps_route_policy_init(): fields are only ever
 * appended, and `version` tells the library which ones you know.
 */
typedef struct pps_route_policy {
    unsigned int version;     /* PPS_ROUTE_POLICY_VERSION */
    const char *profile;      /* the profile's name: trace header, explain */
    const char *local_user;   /* the fallback user; required */
    const char *local_domain; /* the profile's local domain; required */
    int distribute;           /* 0: single drop; 1: catch-all by To/Cc */
    const char *const *local_domains; /* more local domains */
    size_t local_domain_count;
    const pps_route_alias *aliases;
    size_t alias_count;
    /* Sub-addresses: "user+tag" is "user" when "user+tag" itself is not a
     * user.  Each character is a separator ("+", "+-"); NULL or "": off. */
    const char *subaddress_separator;
    /* A local-domain address whose user does not exist: 0 (default) also
     * gives the message to the local user, so nothing is lost; 1 skips
     * it (the local user still gets mail that reaches no one).  The
     * profile key unknown_user = fallback | skip. */
    int unknown_user_skip;
    /* Envelope headers, tried in order before To/Cc (NULL: off): e.g.
     * "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To",
     * "Received" (its "for <addr>" clause).  The first header that
     * yields a local recipient decides, and To/Cc are not read. */
    const char *const *envelope_headers;
    size_t envelope_header_count;
    unsigned int envelope_skip; /* leading occurrences of each to skip */
    /* Loop protection: this many of our own trace headers send the
     * message to the local user with a warning; 0: off. */
    unsigned int loop_limit;
    pps_route_user_exists_fn user_exists; /* NULL: every user exists */
    pps_route_seen_fn seen;               /* NULL: no duplicate check */
    void *payload;                        /* for both callbacks */
} pps_route_policy;

#define PPS_ROUTE_POLICY_VERSION 1
#define PPS_ROUTE_POLICY_INIT                                                  \
    {                                                                          \
        PPS_ROUTE_POLICY_VERSION, NULL, NULL, NULL, 0, NULL, 0, NULL, 0, NULL, \
            0, NULL, 0, 0, PPS_ROUTE_LOOP_LIMIT_DEFAULT, NULL, NULL, NULL      \
    }

/* For bindings that cannot use the macro. */
PPS_API void pps_route_policy_init(pps_route_policy *policy);

/* --- the result ----------------------------------------------------------- */

typedef struct pps_route_result pps_route_result;

/* Why a recipient was chosen. */
typedef enum pps_route_rule {
    PPS_ROUTE_RULE_NONE = 0,         /* (a skipped address) */
    PPS_ROUTE_RULE_SINGLE_DROP,      /* distribute = no */
    PPS_ROUTE_RULE_LOCAL_USER,       /* an address of an existing user */
    PPS_ROUTE_RULE_ALIAS,            /* an alias of one */
    PPS_ROUTE_RULE_SUBADDRESS,       /* user+tag */
    PPS_ROUTE_RULE_FALLBACK,         /* no address named a local user */
    PPS_ROUTE_RULE_FALLBACK_UNKNOWN, /* a local address had no user */
    PPS_ROUTE_RULE_FALLBACK_LOOP,    /* too many of our trace headers */
    PPS_ROUTE_RULE_FALLBACK_TOO_BIG  /* the header block passed the limit */
} pps_route_rule;

/* Why an address was not used. */
typedef enum pps_route_skip {
    PPS_ROUTE_SKIP_NONE = 0,          /* (a recipient) */
    PPS_ROUTE_SKIP_FOREIGN_DOMAIN,    /* not one of the local domains */
    PPS_ROUTE_SKIP_NO_SUCH_USER,      /* local domain, no such user */
    PPS_ROUTE_SKIP_DUPLICATE,         /* this recipient came earlier */
    PPS_ROUTE_SKIP_ALREADY_DELIVERED, /* seen(): a copy was delivered */
    PPS_ROUTE_SKIP_DISPLAY_NAME,      /* an address written as a name */
    PPS_ROUTE_SKIP_NO_ADDRESS,        /* a name only, "<>", no domain */
    PPS_ROUTE_SKIP_BAD_ADDRESS,       /* broken beyond repair, or a local
                                         part that cannot be a user name */
    PPS_ROUTE_SKIP_TOO_MANY,          /* past PPS_ROUTE_ADDRESS_MAX */
    PPS_ROUTE_SKIP_ENVELOPE_SKIPPED   /* a leading envelope header skipped */
} pps_route_skip;

/* Addresses considered per message; later ones are skipped, noted once.
 * Bounds the user_exists() calls a hostile message can cause. */
#define PPS_ROUTE_ADDRESS_MAX 1000

/* One decision; borrowed from its result. */
typedef struct pps_route_entry {
    const char *recipient; /* lower-case user@domain, or NULL if skipped */
    const char *address;   /* the address as read (lower case), or "" */
    const char *header;    /* the field it came from ("To"), or "" */
    const char *source;    /* its text in the field (printable), or "" */
    pps_route_rule rule;
    pps_route_skip skip;
} pps_route_entry;

/*
 * Route the message whose header block `headers` holds (complete: after
 * feed returned 1 or after finish) under `policy`.  *out belongs to the
 * caller: free it with pps_route_result_free().  Returns 0; PPS_ETEMP
 * when a callback reported a temporary failure (try again later);
 * PPS_EINVAL for a bad policy (no local user or domain, unknown
 * version) or a header block that is not complete yet; PPS_ENOMEM.
 * *out is NULL on failure.
 */
PPS_API int pps_route(pps_route_result **out, const pps_route_policy *policy,
                      const pps_header_reader *headers);

/*
 * The same for a message in memory (`len` bytes; only its header block is
 * read, up to `header_limit`, 0 = default): header reader and routing in
 * one call, for `pps route NAME FILE` and the tests.
 */
PPS_API int pps_route_buffer(pps_route_result **out,
                             const pps_route_policy *policy,
                             const void *message, size_t len,
                             size_t header_limit);

/* The recipients, each once, in the order they were found. */
PPS_API size_t pps_route_result_count(const pps_route_result *result);

/* Recipient `index`: lower-case user@domain, borrowed from the result;
 * NULL past the end. */
PPS_API const char *pps_route_result_recipient(const pps_route_result *result,
                                               size_t index);

/* Every decision, recipients and skipped addresses, in order. */
PPS_API size_t pps_route_result_entry_count(const pps_route_result *result);

/* Entry `index`, borrowed from the result; NULL past the end. */
PPS_API const pps_route_entry *
pps_route_result_entry(const pps_route_result *result, size_t index);

/*
 * A header line (no line end) to prepend to the delivered message when
 * routing fell back for a reason the user should see (loop, header block
 * too big), e.g. "X-PPS-Warning: ..."; NULL when there is none.
 * Borrowed from the result.
 */
PPS_API const char *pps_route_result_warning(const pps_route_result *result);

/*
 * The duplicate key: "<id@host>" from Message-ID, or "sha256:" and the
 * hex digest of the header block without its trace fields when there is
 * no usable Message-ID.  Borrowed from the result.
 */
PPS_API const char *pps_route_result_key(const pps_route_result *result);

/*
 * The explanation, one line per decision, each ending in "\n"; what
 * `pps route --explain` prints.  *out is borrowed from the result (built
 * on the first call).  Returns 0 or PPS_ENOMEM.
 */
PPS_API int pps_route_result_explain(const char **out,
                                     pps_route_result *result);

/* Free the result and everything borrowed from it; NULL does nothing. */
PPS_API void pps_route_result_free(pps_route_result *result);

/* Short static names: "local user", "foreign domain", ... */
PPS_API const char *pps_route_rule_name(pps_route_rule rule);
PPS_API const char *pps_route_skip_name(pps_route_skip skip);

/* --- the trace header ---------------------------------------------------- */

/* Enough for any trace header pps_route_trace_header() writes. */
#define PPS_ROUTE_TRACE_HEADER_MAX 1024

/*
 * Write the trace header the deliverer prepends to each message, with
 * `eol` (e.g. "\r\n" or "\n"; NULL: "\r\n") after each line, the last one
 * included, so that the message can follow at once:
 *
 *     Received: from REMOTE_HOST
 *             by LOCAL_HOST (libpps profile "PROFILE") with POP3
 *             id UID; Fri, 27 Nov 2026 03:05:28 +0000
 *
 * Unsafe bytes in the names and the UID are replaced by '?'; the profile
 * name is quoted, UID and host names are cut at their RFC maxima.
 * Returns the length written (without the NUL), or PPS_ETOOBIG when
 * `size` is too small (PPS_ROUTE_TRACE_HEADER_MAX always suffices),
 * PPS_EINVAL.  The router counts the "(libpps profile "PROFILE")" part.
 */
PPS_API int pps_route_trace_header(char *buf, size_t size,
                                   const char *remote_host,
                                   const char *local_host, const char *profile,
                                   const char *uid, time_t when,
                                   const char *eol);

PPS_END_DECLS

#endif /* PPS_ROUTE_H */
