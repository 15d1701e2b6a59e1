/*
 * pop3-pipeline.c - one loop for every batch of commands (RFC 2449 6.6).
 *
 * With PIPELINING a client may send commands without waiting for the
 * replies.  The engine keeps a bounded window of commands in flight: it
 * fills the window in one write, reads replies in order, and refills once
 * half the window has been answered.  Without PIPELINING the window is one
 * and the same loop is plain lock-step, so both paths are one code path
 * (mpop's idea).  Bounded: at most PPS_SESSION_PIPELINE_MAX replies are
 * owed at any time, so a failure drains at most that many.
 */
#include "pop3.h"

unsigned int pps__pop3_window(const pps_session *s)
{
    unsigned int w =
        s->window_option ? s->window_option : PPS__POP3_DEFAULT_WINDOW;

    if (!(s->capa & PPS_CAPA_PIPELINING))
        return 1;
    return w > PPS_SESSION_PIPELINE_MAX ? PPS_SESSION_PIPELINE_MAX : w;
}

int pps__pop3_run(pps_session *s, const pps__pop3_batch *batch)
{
    size_t window = pps__pop3_window(s);
    size_t sent = 0, done = 0;
    int first_error = 0, err;

    while (done < batch->count) {
        /* Refill when at most half the window is still owed; a window of
         * one refills when nothing is owed. */
        if (!first_error && sent < batch->count && sent - done <= window / 2) {
            while (sent < batch->count && sent - done < window) {
                if ((err = batch->queue(s, sent, batch->ctx)) < 0) {
                    /* Half a batch queued, replies owed: out of step. */
                    pps__wipe(s->out, s->out_len);
                    s->out_len = 0;
                    s->out_secret = 0;
                    return pps__pop3_is_fatal(err) ? err : PPS_ERROR;
                }
                sent++;
            }
            if ((err = pps__pop3_flush(s, batch->cmd)) < 0)
                return err;
        }
        if (done == sent)
            break; /* failed: nothing more owed */
        err = batch->reply(s, done, first_error != 0, batch->ctx);
        done++;
        if (err < 0) {
            if (pps__pop3_is_fatal(err))
                return err;
            if (!first_error)
                first_error = err;
        }
    }
    return first_error;
}
