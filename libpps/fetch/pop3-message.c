/*
 * pop3-message.c - RETR and TOP (streamed) and DELE, each as a batch.
 *
 * A retrieved message goes to the caller's callbacks piece by piece
 * through pop3-stream.c; nothing holds a whole message.  When a callback
 * says stop, the replies already asked for are still read (and dropped)
 * so the session stays in step and usable.
 */
#include <string.h>

#include "pop3.h"

typedef struct retrieval {
    pps__pop3_cmd cmd; /* RETR or TOP */
    const unsigned int *numbers;
    unsigned int top_lines;
    const pps_retrieve_callbacks *cb;
    void *payload;
} retrieval;

static int queue_retr(pps_session *s, size_t i, void *ctx)
{
    retrieval *r = ctx;

    return pps__pop3_queue_number(s, r->cmd, r->numbers[i],
                                  r->cmd == PPS__CMD_TOP, r->top_lines);
}

static int stopped(pps_session *s, unsigned int number)
{
    (void)s;
    return pps__error_set(PPS_EUSER,
                          "a retrieve callback stopped the transfer at "
                          "message %u",
                          number);
}

static int reply_retr(pps_session *s, size_t i, int draining, void *ctx)
{
    retrieval *r = ctx;
    unsigned int number = r->numbers[i];
    pps__pop3_stream *st = &s->stream;
    char what[32];
    int err;

    if ((err = pps__pop3_read_status(s, r->cmd)) < 0)
        return err;
    if (s->status != PPS__POP3_OK) {
        if (draining)
            return 0;
        pps__snprintf(what, sizeof(what), "%s %u",
                      pps__pop3_command(r->cmd)->name, number);
        err = pps__pop3_refused(s, r->cmd, what);
        if (r->cb->end && r->cb->end(number, err, 0, 0, r->payload))
            return stopped(s, number);
        return 0;
    }
    if (draining) {
        pps__pop3_stream_init(st, s->max_line, NULL, NULL);
        return pps__pop3_read_body(s, r->cmd, st);
    }
    if (r->cb->begin && r->cb->begin(number, r->payload)) {
        pps__pop3_stream_init(st, s->max_line, NULL, NULL);
        if ((err = pps__pop3_read_body(s, r->cmd, st)) < 0)
            return err;
        err = stopped(s, number);
        if (r->cb->end)
            r->cb->end(number, PPS_EUSER, 0, 0, r->payload);
        return err;
    }
    pps__pop3_stream_init(st, s->max_line, r->cb->data, r->payload);
    if ((err = pps__pop3_read_body(s, r->cmd, st)) < 0) {
        if (r->cb->end)
            r->cb->end(number, err, st->octets, st->flags, r->payload);
        return err;
    }
    if (st->sink_result) {
        err = stopped(s, number);
        if (r->cb->end)
            r->cb->end(number, PPS_EUSER, st->octets, st->flags, r->payload);
        return err;
    }
    pps__log(PPS_LOG_TRACE, s->log_context, "<-- (message %u: %llu octets)",
             number, st->octets);
    if (r->cb->end && r->cb->end(number, 0, st->octets, st->flags, r->payload))
        return stopped(s, number);
    return 0;
}

static int check_numbers(const unsigned int *numbers, size_t count,
                         const char *fn)
{
    size_t i;

    if (count > 0 && !numbers)
        return pps__error_set(PPS_EINVAL, "%s: numbers is NULL", fn);
    for (i = 0; i < count; i++)
        if (numbers[i] == 0)
            return pps__error_set(PPS_EINVAL,
                                  "%s: message number 0 (they start at 1)", fn);
    return 0;
}

static int retrieve(pps_session *s, retrieval *r, size_t count, const char *fn)
{
    pps__pop3_batch batch = {r->cmd, count, queue_retr, reply_retr, r};
    int err;

    if ((err = pps__pop3_enter(s, fn, PPS__POP3_TRANSACTION)) < 0 ||
        (err = check_numbers(r->numbers, count, fn)) < 0)
        return err;
    if (!r->cb || r->cb->version != PPS_RETRIEVE_CALLBACKS_VERSION ||
        !r->cb->data)
        return pps__error_set(PPS_EINVAL,
                              "%s: callbacks missing, data callback NULL or "
                              "wrong version",
                              fn);
    return pps__pop3_leave(s, pps__pop3_run(s, &batch));
}

int pps_session_retrieve(pps_session *s, const unsigned int *numbers,
                         size_t count, const pps_retrieve_callbacks *callbacks,
                         void *payload)
{
    retrieval r = {PPS__CMD_RETR, numbers, 0, callbacks, payload};

    return retrieve(s, &r, count, "pps_session_retrieve");
}

int pps_session_top(pps_session *s, unsigned int number, unsigned int lines,
                    const pps_retrieve_callbacks *callbacks, void *payload)
{
    retrieval r = {PPS__CMD_TOP, &number, lines, callbacks, payload};

    return retrieve(s, &r, 1, "pps_session_top");
}

/* --- DELE ---------------------------------------------------------------- */

typedef struct deletion {
    const unsigned int *numbers;
    size_t accepted;
    int first_error;
} deletion;

static int queue_dele(pps_session *s, size_t i, void *ctx)
{
    deletion *d = ctx;

    return pps__pop3_queue_number(s, PPS__CMD_DELE, d->numbers[i], 0, 0);
}

/* Every DELE is sent; a refusal is remembered, not a reason to stop. */
static int reply_dele(pps_session *s, size_t i, int draining, void *ctx)
{
    deletion *d = ctx;
    char what[32];
    int err;

    (void)draining;
    if ((err = pps__pop3_read_status(s, PPS__CMD_DELE)) < 0)
        return err;
    if (s->status == PPS__POP3_OK) {
        d->accepted++;
        return 0;
    }
    if (!d->first_error) {
        pps__snprintf(what, sizeof(what), "DELE %u", d->numbers[i]);
        d->first_error = pps__pop3_refused(s, PPS__CMD_DELE, what);
    }
    return 0;
}

int pps_session_delete(pps_session *s, const unsigned int *numbers,
                       size_t count, size_t *deleted)
{
    deletion d = {numbers, 0, 0};
    pps__pop3_batch batch = {PPS__CMD_DELE, count, queue_dele, reply_dele, &d};
    int err;

    if (deleted)
        *deleted = 0;
    if ((err = pps__pop3_enter(s, "pps_session_delete",
                               PPS__POP3_TRANSACTION)) < 0 ||
        (err = check_numbers(numbers, count, "pps_session_delete")) < 0)
        return err;
    err = pps__pop3_run(s, &batch);
    if (deleted)
        *deleted = d.accepted;
    if (err == 0 && d.first_error)
        err = d.first_error; /* its detail is still the last error */
    return pps__pop3_leave(s, err);
}
