/*
 * libpps/deliver/maildir-worker.h - a helper thread that does the slow
 * file-system work of a long run of Maildir deliveries off the caller's
 * path (maildir-worker.c says why and how).
 *
 *     pps__maildir_worker_start(&w, dir, &st)  the thread starts; it makes
 *                                              empty files in dir/tmp/
 *     pps__maildir_worker_take(w, &file)       1: file is a fresh empty
 *                                              tmp/ file, open for writing
 *     pps__maildir_worker_sync(w, path, &t)    1: the closed file at path
 *                                              will be fsync'd (ticket t)
 *     pps__maildir_worker_synced(w, t, &what)  its result: 0 or an errno
 *     pps__maildir_worker_settle(w)            every queued fsync done,
 *                                              their results dropped
 *     pps__maildir_worker_stop(w)              the thread ends; the files
 *                                              not taken are removed
 *
 * Only the thread that started a worker may call the others.
 */
#ifndef PPS_DELIVER_MAILDIR_WORKER_H
#define PPS_DELIVER_MAILDIR_WORKER_H

#include <sys/stat.h>

#include "deliver/durable.h"

typedef struct pps__maildir_worker pps__maildir_worker;

/* Start the thread for the Maildir folder DIR (its tmp/ exists).
 * Running as root, the files it makes are given to the owner of `owner`
 * (DIR's stat) unless that is root.  0, or PPS_ENOMEM / PPS_EIO when no
 * thread could start (then deliver without one). */
int pps__maildir_worker_start(pps__maildir_worker **out, const char *dir,
                              const struct stat *owner);

/* The folder whose tmp/ the worker makes files in. */
const char *pps__maildir_worker_dir(const pps__maildir_worker *w);

/* Take the next file made ahead, waiting while one is being made: 1 and
 * *f holds it (fd open for writing, tmp_path set), or 0 when the worker
 * could not make one (it has stopped making them: create the file
 * yourself, which gives a failure its proper detail). */
int pps__maildir_worker_take(pps__maildir_worker *w, pps__durable *f);

/* Queue an fsync of the closed file at `path`, which must stay valid
 * until its result is read or pps__maildir_worker_settle returns.
 * 1 queued (*ticket names it), 0 the queue is full (sync it yourself). */
int pps__maildir_worker_sync(pps__maildir_worker *w, const char *path,
                             unsigned long *ticket);

/* Wait for the fsync `ticket` and read its result (once): 0 done, else
 * the errno of the failed step, *what saying which ("cannot open",
 * "cannot sync"). */
int pps__maildir_worker_synced(pps__maildir_worker *w, unsigned long ticket,
                               const char **what);

/* Wait until every queued fsync is done, and drop the results not read:
 * afterwards no queued path is in use. */
void pps__maildir_worker_settle(pps__maildir_worker *w);

/* Settle, end the thread and remove every file it made that was not
 * taken.  NULL is allowed. */
void pps__maildir_worker_stop(pps__maildir_worker *w);

#endif /* PPS_DELIVER_MAILDIR_WORKER_H */
