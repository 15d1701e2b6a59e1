/*
 * libpps/deliver/durable.h - the one way libpps makes a file durable.
 *
 * Used by the Maildir deliverer, and meant for every part that writes a
 * file that must survive a crash (the ledger, the profile store): unique
 * temporary name, write, fsync, link (else rename) to the final name,
 * fsync the folder.  Writes and fsyncs go through a seam that tests use
 * to inject a full disk or a failing fsync.
 */
#ifndef PPS_DELIVER_DURABLE_H
#define PPS_DELIVER_DURABLE_H

#include <stddef.h>
#include <sys/types.h>

/* Test seam: every write and fsync of delivered files goes through it. */
typedef struct pps__deliver_io {
    ssize_t (*write)(int fd, const void *buf, size_t n);
    int (*fsync)(int fd);
} pps__deliver_io;

/* Install `io` (NULL: the system's calls again).  For single-threaded
 * tests only. */
void pps__deliver_io_set(const pps__deliver_io *io);

/* The Maildir unique name (cr.yp.to/proto/maildir.html):
 * "<sec>.M<usec>P<pid>Q<counter>.<host>", '/' and ':' of the host as
 * \057 and \072.  Unique across threads (an atomic counter) and
 * processes (pid).  Returns the length or PPS_ETOOBIG. */
int pps__maildir_unique_name(char *buf, size_t size);

/* The same with a delivery tag (hex digits, checked by the caller) in the
 * unique part: "<sec>.M<usec>P<pid>Q<counter>T<tag>.<host>".  Dovecot
 * keeps the base name when it moves the file to cur/ (adding ":2,..."),
 * so the tag can be found again after a crash (pps_deliver_find). */
int pps__maildir_unique_name_tagged(char *buf, size_t size, const char *tag);

#define PPS__PATH_MAX 4096 /* Linux PATH_MAX */

typedef struct pps__durable {
    int fd;
    /* Bytes written, and where the write-back not yet started begins
     * (pps__durable_write starts it every PPS__DURABLE_WRITEBACK_STEP). */
    unsigned long long written, writeback_from;
    char tmp_path[PPS__PATH_MAX];
} pps__durable;

/* A long file's write-back is started after each this many bytes, so
 * that its fsync at the end finds most of it on disk already, written
 * while the rest was still arriving. */
#define PPS__DURABLE_WRITEBACK_STEP (1024u * 1024u)

/*
 * The one way libpps writes a file that must survive a crash:
 *   pps__durable_create(&f, "/dir/tmp/NAME", mode)  exclusive create
 *   pps__durable_write(&f, data, len) ...            full writes
 *   pps__durable_sync(&f)                            fsync and close
 *   pps__durable_publish(&f, "/dir/new/NAME")        link (else rename),
 *                                                    unlink tmp, fsync dir
 *   (or pps__durable_replace: rename over the old file)
 *   pps__durable_discard(&f)                         on any failure
 * Each returns 0 or PPS_EIO (PPS_EEXISTS when the name is taken) with a
 * detail naming the file and the system's words.
 */
void pps__durable_init(pps__durable *f);
int pps__durable_create(pps__durable *f, const char *tmp_path, mode_t mode);
int pps__durable_write(pps__durable *f, const void *data, size_t len);
int pps__durable_sync(pps__durable *f);
int pps__durable_publish(pps__durable *f, const char *final_path);
/* As publish, but rename(2) over final_path, replacing what is there
 * atomically: for state files (ledger, profiles), not for mail. */
int pps__durable_replace(pps__durable *f, const char *final_path);
void pps__durable_discard(pps__durable *f);

/* A second name for an already durable file: link(2) `from` to `to`,
 * then fsync the folder of `to` (when that fails, the new name is
 * removed again: a retry must not make a second copy).  Returns 0,
 * PPS_EIO, or PPS_EUNSUPPORTED when the file system cannot link there
 * (EXDEV, EPERM, EMLINK): copy instead. */
int pps__durable_link(const char *from, const char *to);

/* fsync the folder that holds `path`. */
int pps__durable_sync_parent(const char *path);

/* fsync the folder `dir` itself. */
int pps__durable_sync_dir(const char *dir);

/* The synced file at tmp_path gets `final_path` as its name, never
 * replacing one that exists: renameat2(RENAME_NOREPLACE) on Linux, else
 * link(2) and the tmp/ name removed, else (no hard links) rename(2); no
 * fsync of the folder (the caller does that, once for many names).  On
 * success tmp_path is gone.  Errors as pps__durable_publish. */
int pps__durable_name(const char *tmp_path, const char *final_path);

/* link(2) alone, without the folder's fsync: for group commit, where the
 * caller fsyncs each folder once for many names (and removes the names
 * again when that fails).  Errors as pps__durable_link. */
int pps__durable_link_nosync(const char *from, const char *to);

/* Group commit: start writing f's data to disk now, without waiting
 * (Linux: sync_file_range SYNC_FILE_RANGE_WRITE; elsewhere nothing), so
 * that the fsyncs of a whole batch later find their data written and
 * share one journal commit instead of one each.  Only a hint: durability
 * still comes from pps__durable_sync_path. */
void pps__durable_start_writeback(const pps__durable *f);

/* Close f's file without syncing it (group commit: its data is made
 * durable later, by pps__durable_sync_path).  Keeps tmp_path.  PPS_EIO
 * when close reports an error. */
int pps__durable_close(pps__durable *f);

/* fsync the closed file at `path` (not following a symbolic link): 0,
 * or the errno of its fsync or close, or the negated errno of opening
 * it.  Sets no libpps error, so that any thread may call it; the test
 * seam's fsync (pps__deliver_io_set) is then called from that thread. */
int pps__durable_fsync_path(const char *path);

/* Set the libpps error for pps__durable_fsync_path's result e (not 0)
 * on `path` ("cannot sync PATH: ..." or "cannot open PATH: ...");
 * returns PPS_EIO. */
int pps__durable_sync_path_failed(const char *path, int e);

/* Group commit's step 1 for a batch: pps__durable_fsync_path for each of
 * paths[0..n), errs[i] its result.  A long batch is synced by a few
 * threads at once (sync-many.c says why); a short one, or one where no
 * thread could start, by the caller alone.  Returns when all are done. */
void pps__durable_sync_many(const char *const *paths, size_t n, int *errs);

#endif /* PPS_DELIVER_DURABLE_H */
