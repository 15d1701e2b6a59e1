/*
 * libpps/deliver/sigpipe.c - survive a reader that went away.
 *
 * Writing to a pipe (an MDA that exited early) or through OpenSSL to a
 * closed socket raises SIGPIPE, whose default action kills the process.
 * A library must not change the process's signal handlers, and
 * MSG_NOSIGNAL does not exist for pipes, so the writing thread blocks
 * SIGPIPE for the duration, and afterwards takes any SIGPIPE it caused
 * off the pending set with sigtimedwait before unblocking (as curl
 * does).  The write itself then fails with EPIPE, which we handle.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "deliver/deliver-int.h"

void pps__sigpipe_block(pps__sigpipe *s)
{
    sigset_t set, pending;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    /* A SIGPIPE that was already pending is not ours to consume. */
    sigemptyset(&pending);
    sigpending(&pending);
    s->was_pending = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set, &s->old);
}

void pps__sigpipe_restore(pps__sigpipe *s)
{
    if (!s->was_pending) {
        sigset_t set, pending;
        const struct timespec zero = {0, 0};

        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        for (;;) {
            sigemptyset(&pending);
            if (sigpending(&pending) != 0 ||
                sigismember(&pending, SIGPIPE) != 1)
                break;
            if (sigtimedwait(&set, NULL, &zero) < 0 && errno != EINTR)
                break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &s->old, NULL);
}
