/*
 * libpps/deliver/maildir-worker.c - a helper thread that does the slow
 * file-system work of a long run of Maildir deliveries.
 *
 * With group commit (maildir.c), the caller's thread still did two slow
 * things per message between two RETRs, with the server waiting:
 *   - creating the tmp/ file: on a busy ext4 the inode allocator walks
 *     past every recently freed inode, up to 0.5 ms of system CPU per
 *     new file (docs/performance.md);
 *   - at each flush, an fsync per staged file, waiting for the disk.
 * Once a poll has staged a run of messages into one folder, the Maildir
 * deliverer starts this worker, which does both on the other core:
 *   - it keeps up to AHEAD empty files open in the folder's tmp/, and
 *     begin takes one instead of creating it;
 *   - each staged file is queued for its fsync at once, so at the flush
 *     the data is mostly durable already and the flush only collects the
 *     results (then links and fsyncs each new/ once, as before).
 *
 * Durability is unchanged: a file made ahead is an ordinary tmp/ file,
 * written, staged and flushed as before, and the flush still waits for
 * every file's own fsync result before the file gets its name in new/.
 * tmp/ is where every Maildir writer keeps unfinished files, and no
 * reader looks there.  Files not taken are removed when the worker
 * stops (the end of a poll's retrieval, or the deliverer's free); after
 * a crash they stay in tmp/ as empty files, which Dovecot (like every
 * reader following cr.yp.to/proto/maildir.html) removes once they are
 * 36 hours old.
 *
 * The thread shares only the two queues with its owner, under one
 * mutex; it touches no other libpps state (the unique-name counter is
 * atomic, error details are never set) and blocks every signal, so
 * signals stay with the host's own threads.  Queued fsyncs go first:
 * the owner waits for those at a flush.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "deliver/maildir-worker.h"

/* Files kept ready.  Each holds a descriptor: with max_parallel polls
 * at once, ppsd may hold this many per poll. */
#define AHEAD 8

/* Room for "/tmp/" and a unique name after the folder. */
#define NAME_ROOM 512

/* fsyncs queued and not yet read: a flush comes every 256 messages
 * (poll-batch.c), so the queue is full only when something is wrong;
 * then the owner syncs by itself. */
#define SYNCS 512

typedef struct made_file {
    int fd;
    char *path; /* strlen(dir) + NAME_ROOM bytes, allocated at start */
} made_file;

typedef enum { SYNC_FREE, SYNC_QUEUED, SYNC_DONE } sync_state;

typedef struct sync_job {
    sync_state state;
    const char *path; /* the owner's, valid until the result is read */
    int err;          /* 0, or the errno of `what` */
    const char *what;
} sync_job;

struct pps__maildir_worker {
    char *dir;
    uid_t uid;
    gid_t gid;
    int give; /* running as root and the folder is not root's */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* anything below changed */
    /* Under lock.  made[(head + k) % AHEAD] for k < count are ready; the
     * worker fills the slot after them. */
    made_file made[AHEAD];
    size_t head, count;
    int cannot_make; /* a file could not be made: none are any more */
    /* Under lock.  Tickets are numbered from 0; job t is sync[t % SYNCS];
     * the worker has done every job below `done`, the owner queued every
     * one below `queued`. */
    sync_job sync[SYNCS];
    unsigned long done, queued;
    int stop; /* the owner asks the worker to end */
};

/* Make one empty file in w->dir/tmp/ into slot f.  1 made, 0 not. */
static int make_file(pps__maildir_worker *w, made_file *f)
{
    char name[NAME_ROOM - 8];
    size_t room = strlen(w->dir) + NAME_ROOM;
    int n;

    if (pps__maildir_unique_name(name, sizeof(name)) < 0)
        return 0;
    n = pps__snprintf(f->path, room, "%s/tmp/%s", w->dir, name);
    if (n < 0 || (size_t)n >= room)
        return 0;
    f->fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                 0600);
    if (f->fd < 0)
        return 0;
    if (w->give && fchown(f->fd, w->uid, w->gid) != 0) {
        close(f->fd);
        unlink(f->path);
        return 0;
    }
    return 1;
}

/* One step of work with the lock held (released while working): 1 done,
 * 0 nothing to do. */
static int work_once(pps__maildir_worker *w)
{
    if (w->done < w->queued) { /* an fsync: the owner may be waiting */
        sync_job *job = &w->sync[w->done % SYNCS];
        const char *what = "";
        int err;
        pthread_mutex_unlock(&w->lock);
        err = pps__durable_sync_path_errno(job->path, &what);
        pthread_mutex_lock(&w->lock);
        job->err = err;
        job->what = what;
        job->state = SYNC_DONE;
        w->done++;
        return 1;
    }
    if (w->count < AHEAD && !w->cannot_make) {
        /* The owner never looks at this slot until count covers it. */
        made_file *slot = &w->made[(w->head + w->count) % AHEAD];
        int made;
        pthread_mutex_unlock(&w->lock);
        made = make_file(w, slot);
        pthread_mutex_lock(&w->lock);
        if (made)
            w->count++;
        else
            w->cannot_make = 1; /* the owner creates, with details */
        return 1;
    }
    return 0;
}

static void *worker_main(void *arg)
{
    pps__maildir_worker *w = arg;

    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        if (work_once(w))
            pthread_cond_broadcast(&w->changed);
        else
            pthread_cond_wait(&w->changed, &w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static void worker_free(pps__maildir_worker *w)
{
    size_t k;

    for (k = 0; k < AHEAD; k++)
        pps__free(w->made[k].path);
    pps__free(w->dir);
    pps__free(w);
}

int pps__maildir_worker_start(pps__maildir_worker **out, const char *dir,
                              const struct stat *owner)
{
    pps__maildir_worker *w;
    sigset_t all, old;
    size_t k, room = strlen(dir) + NAME_ROOM;
    int err;

    *out = NULL;
    if (!(w = pps__calloc(1, sizeof(*w))))
        return pps__error_oom();
    if (!(w->dir = pps__strdup(dir)))
        goto oom;
    for (k = 0; k < AHEAD; k++)
        if (!(w->made[k].path = pps__malloc(room)))
            goto oom;
    w->give = geteuid() == 0 && (owner->st_uid != 0 || owner->st_gid != 0);
    w->uid = owner->st_uid;
    w->gid = owner->st_gid;
    if ((err = pthread_mutex_init(&w->lock, NULL)) != 0)
        goto no_thread;
    if ((err = pthread_cond_init(&w->changed, NULL)) != 0) {
        pthread_mutex_destroy(&w->lock);
        goto no_thread;
    }
    /* The thread inherits this mask: no signal is ever delivered to it. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&w->thread, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        pthread_cond_destroy(&w->changed);
        pthread_mutex_destroy(&w->lock);
        goto no_thread;
    }
    *out = w;
    return 0;
oom:
    worker_free(w);
    return pps__error_oom();
no_thread:
    worker_free(w);
    return pps__error_set(PPS_EIO, "maildir: cannot start a helper thread: %s",
                          strerror(err));
}

const char *pps__maildir_worker_dir(const pps__maildir_worker *w)
{
    return w->dir;
}

int pps__maildir_worker_take(pps__maildir_worker *w, pps__durable *f)
{
    made_file *slot;
    size_t len;
    int taken = 0;

    pthread_mutex_lock(&w->lock);
    while (w->count == 0 && !w->cannot_make)
        pthread_cond_wait(&w->changed, &w->lock);
    if (w->count > 0) {
        slot = &w->made[w->head];
        len = strlen(slot->path);
        pps__durable_init(f);
        if (len < sizeof(f->tmp_path)) {
            f->fd = slot->fd;
            memcpy(f->tmp_path, slot->path, len + 1);
            taken = 1;
        } else { /* cannot be: make_file bounds it; never leak it */
            close(slot->fd);
            unlink(slot->path);
        }
        w->head = (w->head + 1) % AHEAD;
        w->count--;
        pthread_cond_broadcast(&w->changed);
    }
    pthread_mutex_unlock(&w->lock);
    return taken;
}

int pps__maildir_worker_sync(pps__maildir_worker *w, const char *path,
                             unsigned long *ticket)
{
    sync_job *job;
    int queued = 0;

    pthread_mutex_lock(&w->lock);
    job = &w->sync[w->queued % SYNCS];
    if (job->state == SYNC_FREE) {
        job->state = SYNC_QUEUED;
        job->path = path;
        *ticket = w->queued++;
        queued = 1;
        pthread_cond_broadcast(&w->changed);
    }
    pthread_mutex_unlock(&w->lock);
    return queued;
}

int pps__maildir_worker_synced(pps__maildir_worker *w, unsigned long ticket,
                               const char **what)
{
    sync_job *job = &w->sync[ticket % SYNCS];
    int err;

    pthread_mutex_lock(&w->lock);
    while (w->done <= ticket)
        pthread_cond_wait(&w->changed, &w->lock);
    err = job->err;
    *what = job->what;
    job->state = SYNC_FREE;
    pthread_mutex_unlock(&w->lock);
    return err;
}

void pps__maildir_worker_settle(pps__maildir_worker *w)
{
    size_t k;

    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    while (w->done < w->queued)
        pthread_cond_wait(&w->changed, &w->lock);
    for (k = 0; k < SYNCS; k++)
        w->sync[k].state = SYNC_FREE;
    pthread_mutex_unlock(&w->lock);
}

void pps__maildir_worker_stop(pps__maildir_worker *w)
{
    size_t k;

    if (!w)
        return;
    pps__maildir_worker_settle(w);
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    for (k = 0; k < w->count; k++) {
        made_file *f = &w->made[(w->head + k) % AHEAD];
        close(f->fd);
        unlink(f->path);
    }
    pthread_cond_destroy(&w->changed);
    pthread_mutex_destroy(&w->lock);
    worker_free(w);
}
