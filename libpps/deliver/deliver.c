/*
 * libpps/deliver/deliver.c - the delivery transaction around a deliverer.
 *
 * Whatever the deliverer, the caller sees the same sequence: begin with
 * the recipients, write chunks, commit; and one status per recipient.
 * This file owns that sequence, the statuses, the line-end conversion a
 * deliverer asks for, and the promise that every recipient ends with a
 * final outcome (an undecided one is a temporary failure: the message
 * stays on the remote server).
 */
#include <string.h>

#include "core/internal.h"
#include "deliver/deliver-int.h"

/* Input is converted this many bytes at a time (output is at most twice
 * as long), so memory does not grow with the message. */
#define DELIVER_CHUNK 16384

/* At most this many recipients per message: more is a routing bug. */
#define DELIVER_RCPTS_MAX 1000

/* RFC 5321 4.5.3.1.3: a path, "<" and ">" included, is 256 octets. */
#define DELIVER_ADDRESS_MAX 256

typedef enum txn_state { TXN_NONE, TXN_OPEN, TXN_DONE } txn_state;

struct pps_deliverer_txn {
    txn_state state;
    int staged; /* 1 while on the staged list (pps_deliver_commit_staged) */
    char *sender;
    size_t count;
    char **rcpt; /* "user@domain" */
    char **user; /* owned copies of the two parts */
    char **domain;
    char **tag; /* NULL, or per recipient: a tag or NULL */
    pps_deliver_status *status;
    char (*text)[PPS_DELIVER_TEXT_MAX];
};

struct pps_deliver {
    const pps_deliverer_class *cls;
    const pps__deliver_builtin *builtin; /* NULL for a custom class */
    void *payload;
    unsigned int conv_mode;
    pps__lineconv conv;
    char *conv_buf; /* PPS__LINECONV_OUT_MAX(DELIVER_CHUNK) bytes */
    /* The current (or last) transaction.  A staged one stays on the
     * staged list until the flush; begin then takes a fresh one. */
    pps_deliverer_txn *txn;
    pps_deliverer_txn **staged;
    size_t staged_count, staged_cap;
    char *default_sender; /* for begin(sender = NULL); NULL: "" */
    unsigned long long messages;
    unsigned long long bytes;
};

static const pps__deliver_builtin *const builtins[] = {
    &pps__deliver_maildir,        &pps__deliver_lmtp, &pps__deliver_smtp,
    &pps__deliver_emailarchitect, &pps__deliver_pipe, &pps__deliver_null,
};

void pps_deliver_options_init(pps_deliver_options *opts)
{
    static const pps_deliver_options init = PPS_DELIVER_OPTIONS_INIT;

    if (opts)
        *opts = init;
}

unsigned int pps__deliver_timeout(unsigned int ms, unsigned int dflt)
{
    return ms ? ms : dflt;
}

int pps__deliver_name_safe(const char *s)
{
    if (!s || !*s || *s == '.' || *s == '-')
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '/' || c <= ' ' || c == 0x7f || c == '\\')
            return 0;
    }
    return 1;
}

int pps__deliver_expand(char *buf, size_t size, const char *tmpl,
                        const char *user, const char *domain)
{
    size_t n = 0;
    const char *p;

    for (p = tmpl; *p; p++) {
        const char *add = p;
        size_t len = 1;
        if (*p == '%') {
            p++;
            if (*p == 'u')
                add = user;
            else if (*p == 'd')
                add = domain;
            else if (*p == '%')
                add = "%";
            else
                return pps__error_set(PPS_ECONFIG,
                                      "delivery template \"%s\": unknown "
                                      "'%%%c' (use %%u, %%d or %%%%)",
                                      tmpl, *p ? *p : ' ');
            len = strlen(add);
        }
        if (n + len >= size)
            return pps__error_set(PPS_ETOOBIG,
                                  "delivery template \"%s\" expands to more "
                                  "than %zu bytes",
                                  tmpl, size - 1);
        memcpy(buf + n, add, len);
        n += len;
    }
    buf[n] = '\0';
    return (int)n;
}

/* --- the transaction record ---------------------------------------------- */

static void txn_clear(pps_deliverer_txn *t)
{
    size_t i;

    for (i = 0; i < t->count; i++) {
        if (t->rcpt)
            pps__free(t->rcpt[i]);
        if (t->user)
            pps__free(t->user[i]);
        if (t->domain)
            pps__free(t->domain[i]);
        if (t->tag)
            pps__free(t->tag[i]);
    }
    pps__free(t->rcpt);
    pps__free(t->user);
    pps__free(t->domain);
    pps__free(t->tag);
    pps__free(t->status);
    pps__free(t->text);
    pps__free(t->sender);
    memset(t, 0, sizeof(*t));
}

static int txn_fill(pps_deliverer_txn *t, const char *sender,
                    const char *const *rcpts, const char *const *tags,
                    size_t count)
{
    size_t i;

    t->count = count;
    t->rcpt = pps__calloc(count, sizeof(char *));
    t->user = pps__calloc(count, sizeof(char *));
    t->domain = pps__calloc(count, sizeof(char *));
    t->status = pps__calloc(count, sizeof(pps_deliver_status));
    t->text = pps__calloc(count, sizeof(*t->text));
    t->sender = pps__strdup(sender);
    if (!t->rcpt || !t->user || !t->domain || !t->status || !t->text ||
        !t->sender)
        return pps__error_oom();
    if (tags && !(t->tag = pps__calloc(count, sizeof(char *))))
        return pps__error_oom();
    for (i = 0; i < count; i++) {
        const char *at = strrchr(rcpts[i], '@');
        t->rcpt[i] = pps__strdup(rcpts[i]);
        t->user[i] = pps__strndup(rcpts[i], (size_t)(at - rcpts[i]));
        t->domain[i] = pps__strdup(at + 1);
        if (!t->rcpt[i] || !t->user[i] || !t->domain[i])
            return pps__error_oom();
        if (tags && tags[i] && !(t->tag[i] = pps__strdup(tags[i])))
            return pps__error_oom();
        t->status[i].recipient = t->rcpt[i];
        t->status[i].outcome = PPS_DELIVER_PENDING;
        t->status[i].text = t->text[i];
    }
    return 0;
}

static int check_rcpt(const char *r, size_t i)
{
    const char *at;
    size_t len;

    if (!r)
        return pps__error_set(PPS_EINVAL, "delivery: recipient %zu is NULL", i);
    len = strlen(r);
    at = strrchr(r, '@');
    if (!at || at == r || !at[1] || len > DELIVER_ADDRESS_MAX - 2) {
        char q[80];
        return pps__error_set(PPS_EINVAL,
                              "delivery: recipient %zu %s is not user@domain",
                              i, pps__quote(q, sizeof(q), r, len));
    }
    for (; *r; r++)
        if ((unsigned char)*r <= ' ' || *r == '<' || *r == '>' || *r == 0x7f)
            return pps__error_set(PPS_EINVAL,
                                  "delivery: recipient %zu has a blank, "
                                  "control byte or angle bracket",
                                  i);
    return 0;
}

/* A delivery tag: PPS_DELIVER_TAG_MIN..MAX hex digits, nothing else (it
 * goes into file names). */
static int check_tag(const char *tag, const char *what)
{
    size_t n = 0;

    if (!tag)
        return pps__error_set(PPS_EINVAL, "delivery: %s: the tag is NULL",
                              what);
    for (; tag[n] && n <= PPS_DELIVER_TAG_MAX; n++) {
        char c = tag[n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
              (c >= 'A' && c <= 'F')))
            return pps__error_set(PPS_EINVAL,
                                  "delivery: %s: the tag holds a byte that "
                                  "is not a hex digit at %zu",
                                  what, n);
    }
    if (n < PPS_DELIVER_TAG_MIN || n > PPS_DELIVER_TAG_MAX)
        return pps__error_set(PPS_EINVAL,
                              "delivery: %s: a tag is %d to %d hex digits",
                              what, PPS_DELIVER_TAG_MIN, PPS_DELIVER_TAG_MAX);
    return 0;
}

size_t pps_deliverer_txn_count(const pps_deliverer_txn *txn)
{
    return txn ? txn->count : 0;
}

const char *pps_deliverer_txn_recipient(const pps_deliverer_txn *txn, size_t i)
{
    return txn && i < txn->count ? txn->rcpt[i] : NULL;
}

const char *pps_deliverer_txn_user(const pps_deliverer_txn *txn, size_t i)
{
    return txn && i < txn->count ? txn->user[i] : NULL;
}

const char *pps_deliverer_txn_domain(const pps_deliverer_txn *txn, size_t i)
{
    return txn && i < txn->count ? txn->domain[i] : NULL;
}

const char *pps_deliverer_txn_tag(const pps_deliverer_txn *txn, size_t i)
{
    return txn && i < txn->count && txn->tag ? txn->tag[i] : NULL;
}

const char *pps_deliverer_txn_sender(const pps_deliverer_txn *txn)
{
    return txn && txn->sender ? txn->sender : "";
}

pps_deliver_outcome pps_deliverer_txn_outcome(const pps_deliverer_txn *txn,
                                              size_t i)
{
    return txn && i < txn->count ? txn->status[i].outcome : PPS_DELIVER_PENDING;
}

int pps_deliverer_txn_set(pps_deliverer_txn *txn, size_t i,
                          pps_deliver_outcome outcome, int code, int reply,
                          const char *text, size_t text_len)
{
    pps_deliver_status *s;
    char *out;
    size_t k;

    if (!txn || i >= txn->count || outcome == PPS_DELIVER_PENDING ||
        outcome > PPS_DELIVER_PERMFAIL)
        return pps__error_set(PPS_EINVAL, "delivery: bad recipient status");
    s = &txn->status[i];
    if (s->outcome != PPS_DELIVER_PENDING && s->outcome != PPS_DELIVER_STAGED)
        return PPS_EEXISTS;
    s->outcome = outcome;
    s->code = outcome == PPS_DELIVER_DELIVERED  ? PPS_OK
              : code < 0                        ? code
              : outcome == PPS_DELIVER_TEMPFAIL ? PPS_ETEMP
                                                : PPS_EPERM;
    s->reply = reply;
    out = txn->text[i];
    if (!text)
        text_len = 0;
    if (text_len > PPS_DELIVER_TEXT_MAX - 1)
        text_len = PPS_DELIVER_TEXT_MAX - 1;
    /* The peer's words end up in logs: printable ASCII only. */
    for (k = 0; k < text_len; k++) {
        unsigned char c = (unsigned char)text[k];
        out[k] = (c < ' ' || c >= 0x7f) ? '?' : (char)c;
    }
    out[text_len] = '\0';
    return 0;
}

void pps__txn_stage(pps_deliverer_txn *txn, size_t i)
{
    if (i < txn->count && txn->status[i].outcome == PPS_DELIVER_PENDING)
        txn->status[i].outcome = PPS_DELIVER_STAGED;
}

void pps__txn_set_undecided(pps_deliverer_txn *txn, pps_deliver_outcome outcome,
                            int code, int reply, const char *text)
{
    size_t i;

    for (i = 0; i < txn->count; i++)
        if (txn->status[i].outcome == PPS_DELIVER_PENDING)
            pps_deliverer_txn_set(txn, i, outcome, code, reply, text,
                                  text ? strlen(text) : 0);
}

/* 0 all delivered, PPS_ETEMP any temporary, else PPS_EPERM. */
static int txn_summary(const pps_deliverer_txn *t)
{
    size_t i, temp = 0, perm = 0;
    const pps_deliver_status *first = NULL;

    for (i = 0; i < t->count; i++) {
        if (t->status[i].outcome == PPS_DELIVER_TEMPFAIL)
            temp++;
        else if (t->status[i].outcome == PPS_DELIVER_PERMFAIL)
            perm++;
        else
            continue;
        if (!first)
            first = &t->status[i];
    }
    if (!first)
        return 0;
    return pps__error_set(temp ? PPS_ETEMP : PPS_EPERM,
                          "delivery failed for %zu of %zu recipients "
                          "(%zu temporary); first: %s: %s",
                          temp + perm, t->count, temp, first->recipient,
                          first->text);
}

/* --- the handle ------------------------------------------------------------
 */

static int deliver_alloc(pps_deliver **out, const pps_deliverer_class *cls,
                         void *payload)
{
    pps_deliver *d = pps__calloc(1, sizeof(*d));

    if (!d)
        return pps__error_oom();
    d->conv_buf = pps__malloc(PPS__LINECONV_OUT_MAX(DELIVER_CHUNK));
    d->txn = pps__calloc(1, sizeof(*d->txn));
    if (!d->conv_buf || !d->txn) {
        pps__free(d->conv_buf);
        pps__free(d->txn);
        pps__free(d);
        return pps__error_oom();
    }
    d->cls = cls;
    d->payload = payload;
    d->conv_mode = (cls->flags & PPS_DELIVERER_LF)     ? PPS__LC_LF
                   : (cls->flags & PPS_DELIVERER_CRLF) ? PPS__LC_CRLF
                                                       : 0;
    *out = d;
    return 0;
}

int pps_deliver_new_custom(pps_deliver **out, const pps_deliverer_class *cls,
                           void *payload)
{
    if (!out)
        return pps__error_set(PPS_EINVAL, "pps_deliver_new_custom: out is "
                                          "NULL");
    *out = NULL;
    /* Version 1 classes end before `find`: never read it from them. */
    if (!cls || cls->version < 1 ||
        cls->version > PPS_DELIVERER_CLASS_VERSION || !cls->begin ||
        !cls->write || !cls->commit || !cls->cancel)
        return pps__error_set(PPS_EINVAL,
                              "pps_deliver_new_custom: the class needs "
                              "version 1 to %d and begin, write, commit, "
                              "cancel",
                              PPS_DELIVERER_CLASS_VERSION);
    return deliver_alloc(out, cls, payload);
}

int pps_deliver_new(pps_deliver **out, const pps_deliver_options *opts)
{
    const pps__deliver_builtin *b = NULL;
    void *payload = NULL;
    size_t i;
    int err;

    if (!out)
        return pps__error_set(PPS_EINVAL, "pps_deliver_new: out is NULL");
    *out = NULL;
    if (!opts || opts->version != PPS_DELIVER_OPTIONS_VERSION)
        return pps__error_set(PPS_EINVAL,
                              "pps_deliver_new: options missing or of "
                              "another version (use "
                              "PPS_DELIVER_OPTIONS_INIT)");
    if (!opts->method || !*opts->method)
        return pps__error_set(PPS_ECONFIG,
                              "[delivery] method is not set (maildir, lmtp, "
                              "smtp, pipe, emailarchitect)");
    for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
        if (pps__ascii_strcasecmp(opts->method, builtins[i]->cls->name) == 0)
            b = builtins[i];
    if (!b) {
        char q[80];
        return pps__error_set(
            PPS_ECONFIG,
            "[delivery] method %s is unknown (maildir, "
            "lmtp, smtp, pipe, emailarchitect, null)",
            pps__quote(q, sizeof(q), opts->method, strlen(opts->method)));
    }
    if (opts->default_sender &&
        (strlen(opts->default_sender) > DELIVER_ADDRESS_MAX - 2 ||
         strpbrk(opts->default_sender, "<>\r\n \t")))
        return pps__error_set(PPS_ECONFIG,
                              "[delivery] sender is longer than 254 bytes "
                              "or holds blanks or brackets");
    if ((err = b->open(&payload, opts)) < 0)
        return err;
    if ((err = deliver_alloc(out, b->cls, payload)) < 0) {
        b->cls->free(payload);
        return err;
    }
    if (b->stage && b->flush && b->discard)
        (*out)->builtin = b;
    if (opts->default_sender && *opts->default_sender &&
        !((*out)->default_sender = pps__strdup(opts->default_sender))) {
        pps_deliver_free(*out);
        *out = NULL;
        return pps__error_oom();
    }
    return 0;
}

static void staged_free(pps_deliver *d);

/* Every recipient of t still STAGED fails temporarily: not delivered. */
static void fail_still_staged(pps_deliverer_txn *t, int code, const char *text)
{
    size_t i;

    for (i = 0; i < t->count; i++)
        if (t->status[i].outcome == PPS_DELIVER_STAGED)
            pps_deliverer_txn_set(t, i, PPS_DELIVER_TEMPFAIL, code, 0, text,
                                  strlen(text));
}

void pps_deliver_discard_staged(pps_deliver *d)
{
    size_t k;

    if (!d || d->staged_count == 0)
        return;
    d->builtin->discard(d->payload);
    for (k = 0; k < d->staged_count; k++)
        fail_still_staged(d->staged[k], PPS_EABORTED, "staged, then discarded");
    staged_free(d);
}

void pps_deliver_free(pps_deliver *d)
{
    if (!d)
        return;
    pps_deliver_abort(d);
    pps_deliver_discard_staged(d);
    pps__free(d->staged);
    txn_clear(d->txn);
    pps__free(d->txn);
    if (d->cls->free)
        d->cls->free(d->payload);
    pps__free(d->default_sender);
    pps__free(d->conv_buf);
    pps__free(d);
}

/* The transaction failed with `err`: settle everyone, clean up. */
static int txn_fail(pps_deliver *d, int err)
{
    const pps_error *e = pps_error_last();
    char text[PPS_DELIVER_TEXT_MAX];

    if (e->server[0])
        pps__snprintf(text, sizeof(text), "%s: %s", e->message, e->server);
    else
        pps__snprintf(text, sizeof(text), "%s", e->message);
    d->cls->cancel(d->txn, d->payload);
    pps__txn_set_undecided(
        d->txn, err == PPS_EPERM ? PPS_DELIVER_PERMFAIL : PPS_DELIVER_TEMPFAIL,
        err, 0, text);
    d->txn->state = TXN_DONE;
    return txn_summary(d->txn);
}

/* The number of recipients of t with `outcome`. */
static size_t count_outcome(const pps_deliverer_txn *t,
                            pps_deliver_outcome outcome)
{
    size_t i, n = 0;

    for (i = 0; i < t->count; i++)
        if (t->status[i].outcome == outcome)
            n++;
    return n;
}

static int any_pending(const pps_deliverer_txn *t)
{
    return count_outcome(t, PPS_DELIVER_PENDING) > 0;
}

/* Convert and pass on; no state checks. */
static int deliver_stream(pps_deliver *d, const char *data, size_t len)
{
    int err;

    while (len > 0) {
        size_t n = len < DELIVER_CHUNK ? len : DELIVER_CHUNK;
        if (d->conv_mode) {
            size_t out = pps__lineconv_run(&d->conv, d->conv_buf, data, n);
            err = out ? d->cls->write(d->txn, d->conv_buf, out, d->payload) : 0;
        } else {
            err = d->cls->write(d->txn, data, n, d->payload);
        }
        if (err < 0)
            return err;
        data += n;
        len -= n;
    }
    return 0;
}

int pps_deliver_begin(pps_deliver *d, const char *sender,
                      const char *const *rcpts, size_t count,
                      const char *prepend, size_t prepend_len)
{
    return pps_deliver_begin_tagged(d, sender, rcpts, NULL, count, prepend,
                                    prepend_len);
}

int pps_deliver_begin_tagged(pps_deliver *d, const char *sender,
                             const char *const *rcpts, const char *const *tags,
                             size_t count, const char *prepend,
                             size_t prepend_len)
{
    size_t i;
    int err;

    if (!d || !rcpts || count == 0 || count > DELIVER_RCPTS_MAX)
        return pps__error_set(PPS_EINVAL,
                              "pps_deliver_begin: need a deliverer and 1 to "
                              "%d recipients",
                              DELIVER_RCPTS_MAX);
    if (d->txn->state == TXN_OPEN)
        return pps__error_set(PPS_EINVAL, "pps_deliver_begin: a transaction "
                                          "is already open");
    for (i = 0; i < count; i++) {
        if ((err = check_rcpt(rcpts[i], i)) < 0)
            return err;
        if (tags && tags[i] &&
            (err = check_tag(tags[i], "pps_deliver_begin_tagged")) < 0)
            return err;
    }
    if (!sender)
        sender = d->default_sender ? d->default_sender : "";
    if (strlen(sender) > DELIVER_ADDRESS_MAX - 2 ||
        strpbrk(sender, "<>\r\n \t"))
        return pps__error_set(PPS_EINVAL,
                              "pps_deliver_begin: the sender is longer than "
                              "254 bytes or holds blanks or brackets");
    if (d->txn->staged) {
        /* The last one waits on the staged list: take a fresh record. */
        pps_deliverer_txn *fresh = pps__calloc(1, sizeof(*fresh));
        if (!fresh)
            return pps__error_oom();
        d->txn = fresh;
    }
    txn_clear(d->txn);
    if ((err = txn_fill(d->txn, sender, rcpts, tags, count)) < 0) {
        txn_clear(d->txn);
        return err;
    }
    pps__lineconv_init(&d->conv, d->conv_mode);
    d->txn->state = TXN_OPEN;
    if ((err = d->cls->begin(d->txn, d->payload)) < 0)
        return txn_fail(d, err);
    if (!any_pending(d->txn)) {
        d->cls->cancel(d->txn, d->payload);
        d->txn->state = TXN_DONE;
        return txn_summary(d->txn);
    }
    if (prepend && prepend_len &&
        (err = deliver_stream(d, prepend, prepend_len)) < 0)
        return txn_fail(d, err);
    return 0;
}

int pps_deliver_write(pps_deliver *d, const void *data, size_t len)
{
    int err;

    if (!d || d->txn->state != TXN_OPEN || (!data && len))
        return pps__error_set(PPS_EINVAL,
                              "pps_deliver_write: no open transaction");
    if ((err = deliver_stream(d, data, len)) < 0)
        return txn_fail(d, err);
    d->bytes += len;
    return 0;
}

/* The end of the message's stream: the converter's held bytes. */
static int finish_stream(pps_deliver *d)
{
    char tail[3];
    size_t n = d->conv_mode ? pps__lineconv_finish(&d->conv, tail) : 0;

    return n ? d->cls->write(d->txn, tail, n, d->payload) : 0;
}

/* Commit or stage the open transaction with `end` (the class's commit or
 * the builtin's stage): every recipient ends decided or staged. */
static int end_txn(pps_deliver *d, int (*end)(pps_deliverer_txn *, void *))
{
    int err;

    if ((err = finish_stream(d)) < 0)
        return txn_fail(d, err);
    err = end(d->txn, d->payload);
    if (err < 0 && any_pending(d->txn))
        return txn_fail(d, err);
    pps__txn_set_undecided(d->txn, PPS_DELIVER_TEMPFAIL, PPS_ETEMP, 0,
                           "the deliverer did not report this recipient");
    d->txn->state = TXN_DONE;
    if (count_outcome(d->txn, PPS_DELIVER_DELIVERED) > 0)
        d->messages++; /* a message counts when anyone has it */
    return txn_summary(d->txn);
}

int pps_deliver_commit(pps_deliver *d)
{
    if (!d || d->txn->state != TXN_OPEN)
        return pps__error_set(PPS_EINVAL,
                              "pps_deliver_commit: no open transaction");
    return end_txn(d, d->cls->commit);
}

/* --- group commit ------------------------------------------------------------
 */

int pps_deliver_can_stage(const pps_deliver *d)
{
    return d && d->builtin ? 1 : 0;
}

size_t pps_deliver_staged_count(const pps_deliver *d)
{
    return d ? d->staged_count : 0;
}

int pps_deliver_commit_staged(pps_deliver *d)
{
    pps_deliverer_txn **grown;
    int err;

    if (!d || d->txn->state != TXN_OPEN)
        return pps__error_set(PPS_EINVAL, "pps_deliver_commit_staged: no "
                                          "open transaction");
    if (!d->builtin)
        return pps_deliver_commit(d);
    /* Room on the list first: a staged message must never go untracked. */
    grown = pps__grow(d->staged, d->staged_count, &d->staged_cap,
                      sizeof(*grown), 16);
    if (!grown)
        return txn_fail(d, pps__error_oom());
    d->staged = grown;
    err = end_txn(d, d->builtin->stage);
    if (count_outcome(d->txn, PPS_DELIVER_STAGED) > 0) {
        d->txn->staged = 1;
        d->staged[d->staged_count++] = d->txn;
    }
    return err;
}

/* Free the staged records, all but the current one (its statuses stay
 * readable until the next begin), and empty the list. */
static void staged_free(pps_deliver *d)
{
    size_t k;

    for (k = 0; k < d->staged_count; k++) {
        pps_deliverer_txn *t = d->staged[k];
        t->staged = 0;
        if (t != d->txn) {
            txn_clear(t);
            pps__free(t);
        }
    }
    d->staged_count = 0;
}

int pps_deliver_flush(pps_deliver *d, pps_deliver_flushed_fn cb, void *payload)
{
    char text[PPS_DELIVER_TEXT_MAX];
    size_t k, n, staged = 0, delivered = 0;
    int err;

    if (!d)
        return pps__error_set(PPS_EINVAL, "pps_deliver_flush: no deliverer");
    if (d->txn->state == TXN_OPEN)
        return pps__error_set(PPS_EINVAL, "pps_deliver_flush: a transaction "
                                          "is open");
    n = d->staged_count;
    if (n == 0)
        return 0;
    for (k = 0; k < n; k++) /* stage() never delivers: all are staged */
        staged += count_outcome(d->staged[k], PPS_DELIVER_STAGED);
    err = d->builtin->flush(d->staged, n, d->payload);
    pps__snprintf(text, sizeof(text), "%s",
                  err < 0 ? pps_error_last()->message
                          : "the deliverer did not report this recipient");
    for (k = 0; k < n; k++) {
        pps_deliverer_txn *t = d->staged[k];
        size_t n_delivered;
        fail_still_staged(t, err < 0 ? err : PPS_ETEMP, text);
        n_delivered = count_outcome(t, PPS_DELIVER_DELIVERED);
        delivered += n_delivered;
        if (n_delivered > 0)
            d->messages++;
    }
    for (k = 0; cb && k < n; k++)
        cb(k, d->staged[k]->status, d->staged[k]->count, payload);
    staged_free(d);
    if (err < 0)
        return pps__error_set(err, "%s", text);
    if (delivered < staged)
        return pps__error_set(PPS_ETEMP,
                              "group commit: %zu of %zu staged deliveries "
                              "failed",
                              staged - delivered, staged);
    return 0;
}

void pps_deliver_abort(pps_deliver *d)
{
    if (!d || d->txn->state != TXN_OPEN)
        return;
    d->cls->cancel(d->txn, d->payload);
    pps__txn_set_undecided(d->txn, PPS_DELIVER_TEMPFAIL, PPS_EABORTED, 0,
                           "delivery aborted");
    d->txn->state = TXN_DONE;
}

const pps_deliver_status *pps_deliver_statuses(const pps_deliver *d,
                                               size_t *count)
{
    if (count)
        *count = d ? d->txn->count : 0;
    return d ? d->txn->status : NULL;
}

int pps_deliver_user_exists(pps_deliver *d, const char *user,
                            const char *domain)
{
    /* The check may use the same connection as a transaction would. */
    if (!d || !user || !domain || d->txn->state == TXN_OPEN)
        return -1;
    if (!d->cls->user_exists)
        return 1;
    return d->cls->user_exists(user, domain, d->payload);
}

int pps_deliver_find(pps_deliver *d, const char *rcpt, const char *tag)
{
    char user[DELIVER_ADDRESS_MAX];
    const char *at;
    int err;

    if (!d || !rcpt)
        return pps__error_set(PPS_EINVAL, "pps_deliver_find: need a "
                                          "deliverer and a recipient");
    if (d->txn->state == TXN_OPEN)
        return pps__error_set(PPS_EINVAL, "pps_deliver_find: a transaction "
                                          "is open");
    if ((err = check_rcpt(rcpt, 0)) < 0 ||
        (err = check_tag(tag, "pps_deliver_find")) < 0)
        return err;
    if (d->cls->version < 2 || !d->cls->find)
        return pps__error_set(PPS_EUNSUPPORTED,
                              "delivery by %s cannot be looked for "
                              "afterwards",
                              d->cls->name);
    /* check_rcpt: an '@' with text on both sides, < 255 bytes. */
    at = strrchr(rcpt, '@');
    memcpy(user, rcpt, (size_t)(at - rcpt));
    user[at - rcpt] = '\0';
    return d->cls->find(user, at + 1, tag, d->payload);
}

int pps_deliver_user_exists_cb(const char *user, const char *domain,
                               void *deliver)
{
    return pps_deliver_user_exists(deliver, user, domain);
}

int pps_deliver_describe(const pps_deliver *d, char *buf, size_t size)
{
    char text[256];
    int n;

    if (!buf || size == 0)
        return PPS_ETOOBIG;
    buf[0] = '\0';
    if (!d)
        return 0;
    text[0] = '\0';
    if (d->cls->describe)
        d->cls->describe(text, sizeof(text), d->payload);
    else
        pps__snprintf(text, sizeof(text), "%s", d->cls->name);
    n = pps__snprintf(buf, size, "%s", text);
    if (n < 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return PPS_ETOOBIG;
    }
    return n;
}

void pps_deliver_counts(const pps_deliver *d, unsigned long long *messages,
                        unsigned long long *bytes)
{
    if (messages)
        *messages = d ? d->messages : 0;
    if (bytes)
        *bytes = d ? d->bytes : 0;
}
