/*
 * libpps/deliver/sync-many.c - fsync the files of a batch, several at once
 * (durable.h: pps__durable_sync_many).
 *
 * A disk with a volatile write cache ends every fsync with a cache flush,
 * and one thread's fsyncs wait for theirs one after the other.  When
 * several fsyncs wait at once, their writes overlap and the block layer
 * serves the flushes pending together with one, so a batch's files
 * synced by eight threads take half the time of one thread (2,000 files
 * of 4 KB in batches of 256: 78 ms -> 40 ms on the test machine,
 * tests/bench/maildir-sync.c; docs/performance.md).  Durability is the
 * same: every file is fsync'd, each result is kept, and nothing is named
 * before all are done, which is the caller's next step.
 *
 * The helper threads live for one call, block every signal, and share
 * nothing but the job below; the caller works on the job too, so a batch
 * whose helpers cannot start is still synced, by the caller alone.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "deliver/durable.h"

/* Threads at most, the caller included; and a thread only for each this
 * many files (a short batch is not worth starting one). */
#define SYNC_THREADS_MAX 8
#define FILES_PER_THREAD 8

typedef struct sync_job {
    const char *const *paths;
    int *errs;
    size_t n;
    atomic_size_t next; /* the next path nobody has taken */
} sync_job;

static void work(sync_job *job)
{
    size_t i;

    while ((i = atomic_fetch_add(&job->next, 1)) < job->n)
        job->errs[i] = pps__durable_fsync_path(job->paths[i]);
}

static void *helper_main(void *arg)
{
    work(arg);
    return NULL;
}

void pps__durable_sync_many(const char *const *paths, size_t n, int *errs)
{
    sync_job job = {.paths = paths, .errs = errs, .n = n};
    pthread_t helpers[SYNC_THREADS_MAX - 1];
    size_t want = n / FILES_PER_THREAD, started = 0, i;
    sigset_t all, old;

    atomic_init(&job.next, 0);
    if (want > SYNC_THREADS_MAX)
        want = SYNC_THREADS_MAX;
    if (want > 1) {
        /* The helpers inherit this mask: no signal is delivered to them. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        while (started + 1 < want &&
               pthread_create(&helpers[started], NULL, helper_main, &job) == 0)
            started++;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    work(&job);
    for (i = 0; i < started; i++)
        pthread_join(helpers[i], NULL);
}
