/*
 * libpps/deliver/durable.c - the one way a file is made durable.
 *
 * Write under a temporary name that nobody else can take (O_EXCL and a
 * Maildir unique name), fsync the file, give it its final name with
 * renameat2(RENAME_NOREPLACE) on Linux, else link(2) (neither, unlike
 * rename, replaces a file that is there), and fsync the folder so the name
 * itself survives a crash (OpenSMTPD queue_fs and the Maildir spec do the
 * same).  Writes and fsyncs go through a small seam so tests can make them
 * fail.
 */
#define _GNU_SOURCE /* sync_file_range, renameat2 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/internal.h"
#include "deliver/durable.h"

/* RFC 1035: a host name is at most 253 characters; escaped ('/' and ':'
 * become 4 bytes each) it stays under this. */
#define UNIQUE_HOST_MAX 256

static const pps__deliver_io system_io = {write, fsync};
/* The test seam; only tests change it (pps__deliver_io_set). */
static const pps__deliver_io *io = &system_io;

void pps__deliver_io_set(const pps__deliver_io *new_io)
{
    io = new_io ? new_io : &system_io;
}

/* The Maildir counter: the spec asks for a per-process delivery count,
 * so this is the one piece of process state (atomic: threads deliver). */
static atomic_ulong unique_counter;

int pps__maildir_unique_name(char *buf, size_t size)
{
    return pps__maildir_unique_name_tagged(buf, size, NULL);
}

/* The host part of unique names, escaped ('/' and ':' as \057 and \072),
 * worked out once per process: a poll makes two names per message, and
 * gethostname is a system call (uname). */
static char unique_host[UNIQUE_HOST_MAX];
static pthread_once_t unique_host_once = PTHREAD_ONCE_INIT;

static void unique_host_init(void)
{
    char raw[UNIQUE_HOST_MAX];
    size_t i, n = 0;

    if (gethostname(raw, sizeof(raw) - 1) != 0)
        raw[0] = '\0';
    raw[sizeof(raw) - 1] = '\0';
    if (!raw[0])
        pps__snprintf(raw, sizeof(raw), "localhost");
    for (i = 0; raw[i] && n + 5 < sizeof(unique_host); i++) {
        if (raw[i] == '/' || raw[i] == ':') {
            pps__snprintf(unique_host + n, 5, "\\%03o", (unsigned)raw[i]);
            n += 4;
        } else {
            unique_host[n++] = raw[i];
        }
    }
    unique_host[n] = '\0';
}

int pps__maildir_unique_name_tagged(char *buf, size_t size, const char *tag)
{
    struct timeval tv;
    unsigned long q = atomic_fetch_add(&unique_counter, 1) + 1;
    int len;

    pthread_once(&unique_host_once, unique_host_init);
    gettimeofday(&tv, NULL);
    len = pps__snprintf(buf, size, "%lld.M%ldP%ldQ%lu%s%s.%s",
                        (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
                        q, tag ? "T" : "", tag ? tag : "", unique_host);
    if (len < 0 || (size_t)len >= size)
        return pps__error_set(PPS_ETOOBIG, "maildir: unique name too long");
    return len;
}

static int io_error(const char *what, const char *path, int e)
{
    return pps__error_set(e == EEXIST ? PPS_EEXISTS : PPS_EIO, "%s %s: %s",
                          what, path, strerror(e));
}

void pps__durable_init(pps__durable *f)
{
    f->fd = -1;
    f->written = f->writeback_from = 0;
    f->tmp_path[0] = '\0';
}

int pps__durable_create(pps__durable *f, const char *tmp_path, mode_t mode)
{
    size_t len = strlen(tmp_path);

    pps__durable_init(f);
    if (len >= sizeof(f->tmp_path))
        return pps__error_set(PPS_ETOOBIG, "file name too long: %.64s...",
                              tmp_path);
    f->fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                 mode);
    if (f->fd < 0)
        return io_error("cannot create", tmp_path, errno);
    memcpy(f->tmp_path, tmp_path, len + 1);
    return 0;
}

int pps__durable_write(pps__durable *f, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = io->write(f->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return io_error("cannot write", f->tmp_path, n < 0 ? errno : EIO);
        p += n;
        len -= (size_t)n;
        f->written += (unsigned long long)n;
    }
#if defined(__linux__)
    if (f->written - f->writeback_from >= PPS__DURABLE_WRITEBACK_STEP) {
        /* A hint, as in pps__durable_start_writeback: no error to see. */
        (void)sync_file_range(f->fd, (off_t)f->writeback_from,
                              (off_t)(f->written - f->writeback_from),
                              SYNC_FILE_RANGE_WRITE);
        f->writeback_from = f->written;
    }
#endif
    return 0;
}

int pps__durable_sync(pps__durable *f)
{
    int e = 0;

    if (io->fsync(f->fd) != 0)
        e = errno ? errno : EIO;
    /* close() after a successful fsync can still report a deferred
     * error on some file systems (NFS): it counts too. */
    if (close(f->fd) != 0 && !e)
        e = errno;
    f->fd = -1;
    if (e)
        return io_error("cannot sync", f->tmp_path, e);
    return 0;
}

/* fsync what `path` names, opened with `flags`: 0, or the errno of the
 * open (negated) or of the fsync or close.  Sets no libpps error, so any
 * thread may call it (pps__durable_sync_many). */
static int sync_named_errno(const char *path, int flags)
{
    int fd, e = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC | flags);
    if (fd < 0)
        return errno ? -errno : -EIO;
    if (io->fsync(fd) != 0)
        e = errno ? errno : EIO;
    if (close(fd) != 0 && !e)
        e = errno;
    return e;
}

/* The libpps error for sync_named_errno's result e (not 0) on `path`;
 * `kind` ("" or "folder ") goes into the detail. */
static int sync_failed(const char *path, int e, const char *kind)
{
    return pps__error_set(PPS_EIO, "cannot %s %s%s: %s",
                          e < 0 ? "open" : "sync", kind, path,
                          strerror(e < 0 ? -e : e));
}

static int sync_named(const char *path, int flags, const char *kind)
{
    int e = sync_named_errno(path, flags);

    return e ? sync_failed(path, e, kind) : 0;
}

int pps__durable_sync_dir(const char *dir)
{
    return sync_named(dir, O_DIRECTORY, "folder ");
}

int pps__durable_sync_parent(const char *path)
{
    char dir[PPS__PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : 0;

    if (len == 0)
        pps__snprintf(dir, sizeof(dir), "%s", slash ? "/" : ".");
    else if (len >= sizeof(dir))
        return pps__error_set(PPS_ETOOBIG, "folder name too long");
    else {
        memcpy(dir, path, len);
        dir[len] = '\0';
    }
    return pps__durable_sync_dir(dir);
}

int pps__durable_close(pps__durable *f)
{
    int e = 0;

    if (f->fd >= 0 && close(f->fd) != 0)
        e = errno;
    f->fd = -1;
    if (e)
        return io_error("cannot close", f->tmp_path, e);
    return 0;
}

int pps__durable_fsync_path(const char *path)
{
    return sync_named_errno(path, O_NOFOLLOW);
}

int pps__durable_sync_path_failed(const char *path, int e)
{
    return sync_failed(path, e, "");
}

void pps__durable_start_writeback(const pps__durable *f)
{
#if defined(__linux__)
    if (f->fd >= 0)
        (void)sync_file_range(f->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
    (void)f;
#endif
}

int pps__durable_link_nosync(const char *from, const char *to)
{
    if (link(from, to) != 0) {
        int e = errno;
        if (e == EXDEV || e == EPERM || e == EMLINK || e == ENOSYS ||
            e == ENOTSUP)
            return PPS_EUNSUPPORTED;
        return io_error("cannot link to", to, e);
    }
    return 0;
}

int pps__durable_link(const char *from, const char *to)
{
    int err;

    if ((err = pps__durable_link_nosync(from, to)) < 0)
        return err;
    if ((err = pps__durable_sync_parent(to)) < 0) {
        /* Not known to be durable: take the name back, so that the
         * retry this failure asks for does not deliver twice. */
        unlink(to);
        return err;
    }
    return 0;
}

int pps__durable_name(const char *tmp_path, const char *final_path)
{
    int err;

#if defined(__linux__) && defined(RENAME_NOREPLACE)
    /* One call instead of link + unlink, and still never replacing a
     * name that exists.  Where the file system cannot (EINVAL), link. */
    if (renameat2(AT_FDCWD, tmp_path, AT_FDCWD, final_path, RENAME_NOREPLACE) ==
        0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != EXDEV && errno != EPERM)
        return io_error("cannot rename to", final_path, errno);
#endif
    err = pps__durable_link_nosync(tmp_path, final_path);

    if (err == PPS_EUNSUPPORTED) {
        /* No hard links here (some network and FUSE file systems): a
         * rename is the Maildir spec's second choice.  The unique name
         * makes replacing someone else's file impossible in practice. */
        if (rename(tmp_path, final_path) != 0)
            return io_error("cannot rename to", final_path, errno);
        return 0;
    }
    if (err < 0)
        return err;
    /* A tmp/ name left over is only untidy (Maildir readers clean tmp/
     * of files older than 36 hours). */
    unlink(tmp_path);
    return 0;
}

int pps__durable_publish(pps__durable *f, const char *final_path)
{
    int err;

    if (f->fd >= 0 && (err = pps__durable_sync(f)) < 0)
        return err;
    if ((err = pps__durable_name(f->tmp_path, final_path)) < 0)
        return err;
    f->tmp_path[0] = '\0';
    if ((err = pps__durable_sync_parent(final_path)) < 0)
        unlink(final_path); /* as in pps__durable_link */
    return err;
}

int pps__durable_replace(pps__durable *f, const char *final_path)
{
    int err;

    if (f->fd >= 0 && (err = pps__durable_sync(f)) < 0)
        return err;
    if (rename(f->tmp_path, final_path) != 0)
        return io_error("cannot rename to", final_path, errno);
    f->tmp_path[0] = '\0';
    return pps__durable_sync_parent(final_path);
}

void pps__durable_discard(pps__durable *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->tmp_path[0])
        unlink(f->tmp_path);
    f->tmp_path[0] = '\0';
}
