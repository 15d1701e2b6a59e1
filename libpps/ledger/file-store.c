/*
 * file-store.c - the embedded ledger store: one append-only file per
 * remote mailbox, plus a lock file.
 *
 *     <state_dir>/<digest>.ledger   the records, one line each (record.c)
 *     <state_dir>/<digest>.lock     flock()ed by the poller; holds its pid
 *
 * <digest> is the first 128 bits of SHA-256(host NUL user) in hex; the
 * first line of the file names host and user again, and is checked.
 *
 * Why this is crash-safe (docs/ledger.md has the long form):
 * - a record is one write() of one line with O_APPEND; it is durable when
 *   the fsync() after it returns;
 * - a crash can only damage what was written after the last fsync, that
 *   is the end of the file: bad lines with no good line after them are a
 *   torn tail and are cut off (ftruncate) before anything is appended;
 * - a bad line followed by good ones is damage from elsewhere: reported
 *   with file and line, never silently dropped (unless accept_corrupt);
 * - compaction writes a new file, fsyncs it, renames it over the old one
 *   and fsyncs the folder: a crash leaves the old file or the new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/internal.h"
#include "ledger-internal.h"

/* Read the file in chunks of this size. */
#define READ_CHUNK 65536
/* Compaction writes through a buffer of this size. */
#define REWRITE_BUFFER 65536
/* How often a waiting opener retries the lock. */
#define LOCK_POLL_MS 20
/* Corrupt records logged one by one before we only count them. */
#define CORRUPT_LOG_MAX 10

typedef struct fstore {
    char *dir;
    pps__ledger_io io;
} fstore;

typedef struct fmb {
    fstore *fs;
    char *path, *tmp_path, *lock_path, *bad_path;
    char *host, *user, *profile;
    int fd;      /* the ledger, O_APPEND (O_RDONLY when read-only) */
    int lock_fd; /* -1 when read-only */
    int tmp_fd;  /* during a rewrite */
    int read_only;
    int accept_corrupt; /* skip damaged records instead of failing */
    int had_corrupt;    /* keep a copy of the damaged file at the rewrite */
    char *wbuf;
    size_t wlen;
} fmb;

/* --- system calls, through the seam ------------------------------------ */

static ssize_t real_write(int fd, const void *buf, size_t len, void *payload)
{
    (void)payload;
    return write(fd, buf, len);
}

static int real_fsync(int fd, void *payload)
{
    (void)payload;
    return fsync(fd);
}

static const pps__ledger_io real_io = {real_write, real_fsync, NULL};

static int io_error(const char *what, const char *path)
{
    return pps__error_set(PPS_EIO, "ledger %s: %s failed: %s", path, what,
                          strerror(errno));
}

static int write_all(const fmb *m, int fd, const char *buf, size_t len,
                     const char *path)
{
    while (len) {
        ssize_t n = m->fs->io.write(fd, buf, len, m->fs->io.payload);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return io_error("write", path);
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int sync_fd(const fmb *m, int fd, const char *path)
{
    if (m->fs->io.fsync(fd, m->fs->io.payload) < 0)
        return io_error("fsync", path);
    return 0;
}

static int sync_dir(const fmb *m)
{
    int fd = open(m->fs->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int err;

    if (fd < 0)
        return io_error("open", m->fs->dir);
    err = sync_fd(m, fd, m->fs->dir);
    close(fd);
    return err;
}

/* --- names -------------------------------------------------------------- */

static int digest_name(char out[33], const char *host, const char *user)
{
    const char *parts[2] = {host, user};
    size_t lens[2] = {strlen(host) + 1, strlen(user)};

    return pps__ledger_sha256_hex32(out, parts, lens, 2);
}

static char *join(const char *dir, const char *digest, const char *suffix)
{
    size_t size = strlen(dir) + strlen(digest) + strlen(suffix) + 2;
    char *p = pps__malloc(size);

    if (p)
        pps__snprintf(p, size, "%s/%s%s", dir, digest, suffix);
    return p;
}

int pps__ledger_file_path(char *buf, size_t size, const pps_ledger_store *store,
                          const char *host, const char *user)
{
    const fstore *fs = store->payload;
    char digest[33], lower[256];
    size_t i;
    int err, n;

    for (i = 0; host[i] && i < sizeof(lower) - 1; i++)
        lower[i] = host[i];
    lower[i] = '\0';
    pps__ledger_host_normalize(lower);
    if ((err = digest_name(digest, lower, user)) < 0)
        return err;
    n = pps__snprintf(buf, size, "%s/%s.ledger", fs->dir, digest);
    return n < 0 || (size_t)n >= size ? PPS_ETOOBIG : 0;
}

/* --- lock ----------------------------------------------------------------- */

static long holder_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    long pid = 0;

    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) {
        if (pid > LONG_MAX / 10 - 10)
            return 0;
        pid = pid * 10 + (buf[i] - '0');
    }
    return pid;
}

static long elapsed_ms(const struct timespec *since)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)(t.tv_sec - since->tv_sec) * 1000 +
           (t.tv_nsec - since->tv_nsec) / 1000000;
}

static int take_lock(fmb *m, unsigned int wait_ms)
{
    struct timespec start;
    char pid[32];
    int n;

    m->lock_fd = open(m->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (m->lock_fd < 0)
        return io_error("open", m->lock_path);
    clock_gettime(CLOCK_MONOTONIC, &start);
    /* Deadlines, not signals: poll the lock until the wait is over. */
    while (flock(m->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        long left;

        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK)
            return io_error("flock", m->lock_path);
        left = (long)wait_ms - elapsed_ms(&start);
        if (left <= 0) {
            long holder = holder_pid(m->lock_fd);
            return pps__error_set(PPS_ETEMP,
                                  "ledger %s: mailbox %s@%s is being polled "
                                  "by pid %ld",
                                  m->path, m->user, m->host, holder);
        } else {
            struct timespec ts = {0, 0};
            ts.tv_nsec = (left < LOCK_POLL_MS ? left : LOCK_POLL_MS) * 1000000L;
            nanosleep(&ts, NULL);
        }
    }
    /* For the message of the next opener; not needed for correctness. */
    n = pps__snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(m->lock_fd, 0) < 0 ||
        pwrite(m->lock_fd, pid, (size_t)n, 0) != (ssize_t)n)
        pps__log(PPS_LOG_DEBUG, m->profile, "ledger %s: cannot write pid",
                 m->lock_path);
    return 0;
}

/* --- create, open, close ------------------------------------------------ */

/* A new ledger appears whole or not at all: header, fsync, rename. */
static int create_ledger(fmb *m)
{
    char line[PPS__LEDGER_LINE_MAX];
    int len = pps__ledger_header_encode(line, sizeof(line), m->host, m->user);
    int fd, err;

    if (len < 0)
        return pps__error_set(PPS_ETOOBIG, "ledger %s: header too long",
                              m->path);
    fd = open(m->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return io_error("create", m->tmp_path);
    err = write_all(m, fd, line, (size_t)len, m->tmp_path);
    if (!err)
        err = sync_fd(m, fd, m->tmp_path);
    close(fd);
    if (!err && rename(m->tmp_path, m->path) < 0)
        err = io_error("rename", m->tmp_path);
    if (err) {
        unlink(m->tmp_path);
        return err;
    }
    return sync_dir(m);
}

static void fmb_free(fmb *m)
{
    if (m->fd >= 0)
        close(m->fd);
    if (m->tmp_fd >= 0) {
        close(m->tmp_fd);
        unlink(m->tmp_path);
    }
    if (m->lock_fd >= 0)
        close(m->lock_fd); /* releases the flock */
    pps__free(m->wbuf);
    pps__free(m->path);
    pps__free(m->tmp_path);
    pps__free(m->lock_path);
    pps__free(m->bad_path);
    pps__free(m->host);
    pps__free(m->user);
    pps__free(m->profile);
    pps__free(m);
}

/* Others who may write into the state folder may replace our files. */
static void warn_if_shared(const fmb *m)
{
    struct stat sb;

    if (stat(m->fs->dir, &sb) == 0 && (sb.st_mode & 022))
        pps__log(PPS_LOG_WARN, m->profile,
                 "ledger: state folder %s is writable by others (mode %03o); "
                 "make it 0700",
                 m->fs->dir, (unsigned int)(sb.st_mode & 0777));
}

static int fs_open(void **out, const char *host, const char *user,
                   const pps_ledger_options *opts, void *payload)
{
    fstore *fs = payload;
    char digest[33];
    fmb *m;
    int err;

    *out = NULL;
    if ((err = digest_name(digest, host, user)) < 0)
        return err;
    if (!(m = pps__calloc(1, sizeof(*m))))
        return pps__error_oom();
    m->fs = fs;
    m->fd = m->lock_fd = m->tmp_fd = -1;
    m->read_only = opts->read_only;
    m->accept_corrupt = opts->accept_corrupt;
    if (!(m->path = join(fs->dir, digest, ".ledger")) ||
        !(m->tmp_path = join(fs->dir, digest, ".ledger.tmp")) ||
        !(m->lock_path = join(fs->dir, digest, ".lock")) ||
        !(m->bad_path = join(fs->dir, digest, ".ledger.corrupt")) ||
        !(m->host = pps__strdup(host)) || !(m->user = pps__strdup(user)) ||
        (opts->profile && !(m->profile = pps__strdup(opts->profile)))) {
        fmb_free(m);
        return pps__error_oom();
    }
    if (m->read_only) {
        m->fd = open(m->path, O_RDONLY | O_CLOEXEC);
        if (m->fd < 0) {
            err = errno == ENOENT
                      ? pps__error_set(PPS_ENOTFOUND,
                                       "ledger %s: mailbox %s@%s was never "
                                       "polled",
                                       m->path, user, host)
                      : io_error("open", m->path);
            fmb_free(m);
            return err;
        }
        *out = m;
        return 0;
    }
    if (mkdir(fs->dir, 0700) < 0 && errno != EEXIST) {
        err = io_error("mkdir", fs->dir);
        fmb_free(m);
        return err;
    }
    warn_if_shared(m);
    if ((err = take_lock(m, opts->lock_wait_ms)) < 0) {
        fmb_free(m);
        return err;
    }
    /* A compaction that died left its temporary file: we hold the lock,
     * so nobody else is writing it. */
    (void)unlink(m->tmp_path);
    m->fd = open(m->path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (m->fd < 0 && errno == ENOENT) {
        if ((err = create_ledger(m)) < 0) {
            fmb_free(m);
            return err;
        }
        m->fd = open(m->path, O_RDWR | O_APPEND | O_CLOEXEC);
    }
    if (m->fd < 0) {
        err = io_error("open", m->path);
        fmb_free(m);
        return err;
    }
    *out = m;
    return 0;
}

static void fs_close(void *mailbox, void *payload)
{
    (void)payload;
    fmb_free(mailbox);
}

/* --- load ---------------------------------------------------------------- */

typedef struct loader {
    fmb *m;
    pps_ledger_record_cb each;
    void *arg;
    unsigned long lineno;
    off_t offset;   /* of the next line */
    off_t good_end; /* just after the last good line */
    int header_ok;
    unsigned long pending_bad; /* bad lines since the last good one */
    unsigned long pending_first;
    const char *pending_why;
    unsigned long corrupt;
} loader;

/* Bad lines followed by a good one: damage, not a torn tail. */
static void corrupt_found(loader *ld)
{
    fmb *m = ld->m;

    if (ld->corrupt < CORRUPT_LOG_MAX)
        pps__log(PPS_LOG_WARN, m->profile,
                 "ledger %s:%lu: %lu corrupt record(s) (%s) skipped", m->path,
                 ld->pending_first, ld->pending_bad, ld->pending_why);
    ld->corrupt += ld->pending_bad;
    ld->pending_bad = 0;
}

static int one_line(loader *ld, char *line, size_t len, int terminated,
                    int too_long, int accept)
{
    fmb *m = ld->m;
    const char *why = NULL;
    int err;

    ld->lineno++;
    if (too_long) {
        why = "longer than the record limit";
    } else if (!terminated) {
        why = "no newline (cut short)";
    } else if (ld->lineno == 1) {
        const char *host, *user;

        if (pps__ledger_header_decode(&host, &user, line, len, &why) == 0) {
            if (strcmp(host, m->host) != 0 || strcmp(user, m->user) != 0)
                return pps__error_set(PPS_ECONFIG,
                                      "ledger %s:1: this is the ledger of "
                                      "%s@%s, not of %s@%s",
                                      m->path, user, host, m->user, m->host);
            ld->header_ok = 1;
            why = NULL;
        }
    } else {
        pps_ledger_record rec;
        pps_ledger_status st;

        if (pps__ledger_record_decode(&rec, &st, line, len, &why) == 0) {
            if (ld->pending_bad) {
                if (!accept)
                    return pps__error_set(
                        PPS_ECONFIG,
                        "ledger %s:%lu: corrupt record (%s), followed by "
                        "good ones: the file was damaged; move it aside or "
                        "open with accept_corrupt",
                        m->path, ld->pending_first, ld->pending_why);
                corrupt_found(ld);
            }
            if ((err = ld->each(&rec, ld->arg)) < 0)
                return err;
            why = NULL;
        }
    }
    if (why) {
        if (!ld->pending_bad++) {
            ld->pending_first = ld->lineno;
            ld->pending_why = why;
        }
    }
    ld->offset += (off_t)len + (terminated ? 1 : 0);
    if (!why)
        ld->good_end = ld->offset;
    return 0;
}

/* Feed each line of the file to one_line(). */
static int read_lines(loader *ld, int accept)
{
    fmb *m = ld->m;
    char *buf = pps__malloc(READ_CHUNK);
    char *line = pps__malloc(PPS__LEDGER_LINE_MAX + 1);
    size_t llen = 0;
    int too_long = 0, err = 0;

    if (!buf || !line) {
        pps__free(buf);
        pps__free(line);
        return pps__error_oom();
    }
    for (;;) {
        ssize_t n = read(m->fd, buf, READ_CHUNK);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = io_error("read", m->path);
            break;
        }
        if (n == 0) {
            if (llen || too_long)
                err = one_line(ld, line, llen, 0, too_long, accept);
            break;
        }
        for (ssize_t i = 0; i < n && !err; i++) {
            if (buf[i] == '\n') {
                err = one_line(ld, line, llen, 1, too_long, accept);
                llen = 0;
                too_long = 0;
            } else if (llen < PPS__LEDGER_LINE_MAX) {
                line[llen++] = buf[i];
            } else {
                too_long = 1;
                llen++; /* count the bytes for the offset */
            }
        }
        if (err)
            break;
    }
    pps__free(buf);
    pps__free(line);
    return err;
}

static int fs_load(void *mailbox, pps_ledger_record_cb each, void *arg,
                   void *payload)
{
    fmb *m = mailbox;
    loader ld;
    struct stat sb;
    int err;

    (void)payload;
    memset(&ld, 0, sizeof(ld));
    ld.m = m;
    ld.each = each;
    ld.arg = arg;
    if (lseek(m->fd, 0, SEEK_SET) < 0 || fstat(m->fd, &sb) < 0)
        return io_error("seek", m->path);
    if ((err = read_lines(&ld, m->accept_corrupt)) < 0)
        return err;
    if (!ld.header_ok && !(ld.lineno == 0 && sb.st_size == 0)) {
        if (!m->accept_corrupt || ld.good_end == 0)
            return pps__error_set(
                PPS_ECONFIG, "ledger %s:1: no valid ledger header", m->path);
    }
    if (ld.pending_bad && !m->read_only) {
        /* A torn tail: written after the last sync, never promised. */
        pps__log(PPS_LOG_INFO, m->profile,
                 "ledger %s:%lu: dropping a torn last record (%s)", m->path,
                 ld.pending_first, ld.pending_why);
        if (ftruncate(m->fd, ld.good_end) < 0)
            return io_error("truncate", m->path);
        if ((err = sync_fd(m, m->fd, m->path)) < 0)
            return err;
    }
    if (!m->read_only && sb.st_size == 0) {
        /* An empty file (truncated by hand?): give it its header back. */
        char line[PPS__LEDGER_LINE_MAX];
        int len =
            pps__ledger_header_encode(line, sizeof(line), m->host, m->user);
        pps__log(PPS_LOG_WARN, m->profile, "ledger %s: empty, starting over",
                 m->path);
        if (len < 0)
            return PPS_ETOOBIG;
        if ((err = write_all(m, m->fd, line, (size_t)len, m->path)) < 0 ||
            (err = sync_fd(m, m->fd, m->path)) < 0)
            return err;
    }
    if (ld.corrupt) {
        m->had_corrupt = 1;
        return 1; /* ask for a rewrite without the damaged records */
    }
    return 0;
}

/* --- append and sync ---------------------------------------------------- */

static int fs_append(void *mailbox, const pps_ledger_record *rec, void *payload)
{
    fmb *m = mailbox;
    char line[PPS__LEDGER_LINE_MAX];
    int len;

    (void)payload;
    if (m->read_only)
        return pps__error_set(PPS_EINVAL, "ledger %s: read-only", m->path);
    if ((len = pps__ledger_record_encode(line, sizeof(line), rec)) < 0)
        return pps__error_set(len, "ledger %s: record too long", m->path);
    /* One write() of one whole line: O_APPEND keeps lines apart. */
    return write_all(m, m->fd, line, (size_t)len, m->path);
}

static int fs_sync(void *mailbox, void *payload)
{
    fmb *m = mailbox;

    (void)payload;
    return sync_fd(m, m->fd, m->path);
}

/* --- rewrite (compaction) ---------------------------------------------- */

static int flush_wbuf(fmb *m)
{
    int err = write_all(m, m->tmp_fd, m->wbuf, m->wlen, m->tmp_path);
    m->wlen = 0;
    return err;
}

static int buffer_line(fmb *m, const char *line, size_t len)
{
    int err;

    if (m->wlen + len > REWRITE_BUFFER && (err = flush_wbuf(m)) < 0)
        return err;
    memcpy(m->wbuf + m->wlen, line, len);
    m->wlen += len;
    return 0;
}

static int fs_rewrite_begin(void *mailbox, void *payload)
{
    fmb *m = mailbox;
    char line[PPS__LEDGER_LINE_MAX];
    int len;

    (void)payload;
    if (m->read_only || m->tmp_fd >= 0)
        return pps__error_set(PPS_EINVAL, "ledger %s: cannot rewrite now",
                              m->path);
    if (!m->wbuf && !(m->wbuf = pps__malloc(REWRITE_BUFFER)))
        return pps__error_oom();
    m->wlen = 0;
    len = pps__ledger_header_encode(line, sizeof(line), m->host, m->user);
    if (len < 0)
        return pps__error_set(PPS_ETOOBIG, "ledger %s: header too long",
                              m->path);
    m->tmp_fd =
        open(m->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (m->tmp_fd < 0)
        return io_error("create", m->tmp_path);
    return buffer_line(m, line, (size_t)len);
}

static int fs_rewrite_add(void *mailbox, const pps_ledger_record *rec,
                          void *payload)
{
    fmb *m = mailbox;
    char line[PPS__LEDGER_LINE_MAX];
    int len;

    (void)payload;
    if (m->tmp_fd < 0)
        return pps__error_set(PPS_EINVAL, "ledger %s: no rewrite begun",
                              m->path);
    if ((len = pps__ledger_record_encode(line, sizeof(line), rec)) < 0)
        return pps__error_set(len, "ledger %s: record too long", m->path);
    return buffer_line(m, line, (size_t)len);
}

static void abandon(fmb *m)
{
    if (m->tmp_fd >= 0) {
        close(m->tmp_fd);
        unlink(m->tmp_path);
        m->tmp_fd = -1;
    }
}

static int fs_rewrite_end(void *mailbox, int commit, void *payload)
{
    fmb *m = mailbox;
    int err, fd;

    (void)payload;
    if (m->tmp_fd < 0)
        return pps__error_set(PPS_EINVAL, "ledger %s: no rewrite begun",
                              m->path);
    if (!commit) {
        abandon(m);
        return 0;
    }
    if ((err = flush_wbuf(m)) < 0 ||
        (err = sync_fd(m, m->tmp_fd, m->tmp_path)) < 0) {
        abandon(m);
        return err;
    }
    close(m->tmp_fd);
    m->tmp_fd = -1;
    if (m->had_corrupt) {
        /* Keep the damaged file for whoever investigates. */
        unlink(m->bad_path);
        if (link(m->path, m->bad_path) == 0)
            pps__log(PPS_LOG_WARN, m->profile,
                     "ledger %s: damaged file kept as %s", m->path,
                     m->bad_path);
    }
    if (rename(m->tmp_path, m->path) < 0) {
        err = io_error("rename", m->tmp_path);
        unlink(m->tmp_path);
        return err;
    }
    m->had_corrupt = 0;
    /* From here the new file is in place: append to it, not the old one. */
    fd = open(m->path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        return io_error("open", m->path);
    close(m->fd);
    m->fd = fd;
    return sync_dir(m);
}

/* --- the store ---------------------------------------------------------- */

static void fs_free(void *payload)
{
    fstore *fs = payload;

    if (fs) {
        pps__free(fs->dir);
        pps__free(fs);
    }
}

static const pps_ledger_store_ops file_ops = {
    PPS_LEDGER_STORE_OPS_VERSION,
    "file",
    fs_open,
    fs_load,
    fs_append,
    fs_sync,
    fs_rewrite_begin,
    fs_rewrite_add,
    fs_rewrite_end,
    fs_close,
    fs_free,
};

int pps_ledger_store_open_dir(pps_ledger_store **out, const char *state_dir)
{
    fstore *fs;
    size_t n;

    if (!out)
        return pps__error_set(PPS_EINVAL, "ledger: NULL output");
    *out = NULL;
    if (!state_dir || !*state_dir)
        return pps__error_set(PPS_EINVAL, "ledger: no state folder given");
    n = strlen(state_dir);
    /* Room for "/<32 hex>.ledger.corrupt" within PATH_MAX. */
    if (n > 4000)
        return pps__error_set(PPS_EINVAL, "ledger: state folder name too long");
    if (!(fs = pps__calloc(1, sizeof(*fs))))
        return pps__error_oom();
    if (!(fs->dir = pps__strdup(state_dir))) {
        pps__free(fs);
        return pps__error_oom();
    }
    while (n > 1 && fs->dir[n - 1] == '/')
        fs->dir[--n] = '\0';
    fs->io = real_io;
    return pps_ledger_store_new(out, &file_ops, fs);
}

/* For tests only: the store must come from pps_ledger_store_open_dir. */
void pps__ledger_file_store_set_io(pps_ledger_store *store,
                                   const pps__ledger_io *io)
{
    fstore *fs = store->payload;

    if (store->ops.open == fs_open)
        fs->io = io ? *io : real_io;
}
