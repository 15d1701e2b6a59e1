/*
 * libpps/deliver/writeback.c - a helper thread that starts the write-back
 * of staged files and closes them (writeback.h).
 *
 * Staging a Maildir message ends with sync_file_range(WRITE) (the
 * write-back starts now, so that the batch's fsyncs find their data on
 * disk) and close.  Starting write-back is not waiting but it is work:
 * the block layer builds and submits the requests in the caller's
 * context, 15 % of a 2,000-message poll's CPU (perf, docs/performance.md),
 * done between two RETRs.  Handed to this thread, it runs on the other
 * core while the poll reads the next message.
 *
 * Durability is untouched: the flush still fsyncs every file by its name
 * after pps__writeback_drain has returned, exactly as without the
 * thread.  The thread shares only its ring of descriptors with the
 * owner, under one mutex, sets no libpps state, and blocks every signal.
 */
#define _GNU_SOURCE /* sync_file_range */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "deliver/writeback.h"

/* Descriptors handed over and not yet closed: bounds the poll's open
 * files; the owner waits when the ring is full. */
#define RING 32

struct pps__writeback {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    /* Under lock: ring[(head + k) % RING] for k < count are to do; busy
     * while the thread works on one it took. */
    int ring[RING];
    size_t head, count;
    int busy;
    int stop;
};

static void start_and_close(int fd)
{
#if defined(__linux__)
    (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
    /* A close error is seen again by the flush's fsync of the file. */
    (void)close(fd);
}

static void *thread_main(void *arg)
{
    pps__writeback *w = arg;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        int fd;
        while (!w->stop && w->count == 0)
            pthread_cond_wait(&w->changed, &w->lock);
        if (w->count == 0) /* stop asked, nothing left */
            break;
        fd = w->ring[w->head];
        w->head = (w->head + 1) % RING;
        w->count--;
        w->busy = 1;
        pthread_mutex_unlock(&w->lock);
        start_and_close(fd);
        pthread_mutex_lock(&w->lock);
        w->busy = 0;
        pthread_cond_broadcast(&w->changed);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int pps__writeback_start(pps__writeback **out)
{
    pps__writeback *w;
    sigset_t all, old;
    int err;

    *out = NULL;
    if (!(w = pps__calloc(1, sizeof(*w))))
        return pps__error_oom();
    if ((err = pthread_mutex_init(&w->lock, NULL)) != 0)
        goto fail;
    if ((err = pthread_cond_init(&w->changed, NULL)) != 0) {
        pthread_mutex_destroy(&w->lock);
        goto fail;
    }
    /* The thread inherits this mask: no signal is ever delivered to it. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&w->thread, NULL, thread_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        pthread_cond_destroy(&w->changed);
        pthread_mutex_destroy(&w->lock);
        goto fail;
    }
    *out = w;
    return 0;
fail:
    pps__free(w);
    return pps__error_set(PPS_EIO, "cannot start a helper thread: %s",
                          strerror(err));
}

void pps__writeback_hand(pps__writeback *w, int fd)
{
    pthread_mutex_lock(&w->lock);
    while (w->count == RING)
        pthread_cond_wait(&w->changed, &w->lock);
    w->ring[(w->head + w->count) % RING] = fd;
    w->count++;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->lock);
}

void pps__writeback_drain(pps__writeback *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    while (w->count > 0 || w->busy)
        pthread_cond_wait(&w->changed, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

void pps__writeback_stop(pps__writeback *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL); /* it closes what is left first */
    pthread_cond_destroy(&w->changed);
    pthread_mutex_destroy(&w->lock);
    pps__free(w);
}
