/*
 * libpps/deliver/maildir.c - deliver into Maildir folders.
 *
 * The message is written once, with LF line ends, to tmp/ of the first
 * recipient whose folder exists.  Publishing it then takes three steps:
 *   1. its data is made durable (fsync of the file);
 *   2. each recipient gets its own unique name in its new/: a hard link
 *      where the file system and the owner allow it (one inode, no
 *      copy), else a durable copy; the first recipient's link comes
 *      last, from tmp/, and removes the tmp/ name;
 *   3. each new/ folder that got a name is fsync'd once; when that fails
 *      its new names are removed again (not known to be durable, so the
 *      retry must not find a second copy) and they count as temporary
 *      failures.
 * A single commit runs the three steps for one message.  Group commit
 * (stage, then flush; deliver.h) runs them once for a batch: each staged
 * file's write-back is started when it is staged, so the batch's fsyncs
 * find their data on disk and share a journal commit (several threads
 * make those fsyncs at once: sync-many.c), and each new/ folder is
 * fsync'd once, not once per message.  Until its flush, a
 * staged message is only a file in tmp/, which no reader looks at.
 *
 * When the caller gives delivery tags, each recipient's name in new/
 * carries its tag in the unique part ("<sec>.M<usec>P<pid>Q<n>T<tag>.<host>";
 * Dovecot keeps it when it moves the file to cur/), and find() looks for
 * it: after a crash, "in doubt" becomes "delivered" or "not delivered".
 *
 * A user exists when the folder `path` names for them exists; tmp/,
 * new/ and cur/ are made when missing.  Running as root, files and the
 * three sub-folders take the owner and group of the user's folder.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"
#include "deliver/deliver-int.h"
#include "deliver/writeback.h"

/* The default of [delivery] path (docs/pps.conf.5). */
#define MAILDIR_DEFAULT_PATH "/var/vmail/%d/%u/Maildir"

/* Copies are made this many bytes at a time. */
#define MAILDIR_COPY_CHUNK 65536

/* A message's bytes are gathered up to this many before a write(2): the
 * stream comes in pieces (a few lines, a TLS record), and one write per
 * piece made 7 writes of a 4 KB message. */
#define MAILDIR_WRITE_BUF 16384

/* Staged messages in one batch before the write-back thread starts
 * (writeback.c): a short poll never starts one. */
#define MAILDIR_WRITEBACK_AFTER 16

/* One message written to tmp/, and what publishing it needs. */
typedef struct md_msg {
    size_t count;
    char **dirs;     /* expanded folder per recipient, NULL if refused */
    struct stat *st; /* its stat */
    size_t primary;  /* where the tmp file is; count: none */
    char *tmp_path;  /* the file in the primary's tmp/; NULL: gone */
    int synced;      /* step 1 done: the file's data is durable */
} md_msg;

/* A new name made by a publish, waiting for its folder's fsync. */
typedef struct md_name {
    pps_deliverer_txn *txn;
    size_t rcpt;
    char *path; /* DIR/new/NAME */
} md_name;

typedef struct maildir {
    char *tmpl;
    int as_root;       /* files and folders take their user's owner */
    md_msg cur;        /* the open transaction */
    pps__durable file; /* its file, open while it is written */
    char *wbuf;        /* its bytes not written yet: wlen of them */
    size_t wlen;
    md_msg *staged; /* staged messages, in staging order */
    size_t staged_count, staged_cap;
    pps__writeback *writeback; /* during a long batch */
    int no_writeback;          /* none could start: not tried again */
    char *copy_buf;
    /* The last folder whose tmp/, new/ and cur/ were seen to exist:
     * a poll into one Maildir checks them once, not per message.
     * Forgotten after any failure in a folder. */
    char checked[PPS__PATH_MAX];
    /* The first failure of the publish in progress. */
    int publish_err;
    char publish_text[PPS_DELIVER_TEXT_MAX];
} maildir;

/* Remove m's file from tmp/ (a name that was never published: nobody
 * is to see it) and forget the path.  Nothing when it is gone already. */
static void drop_tmp(md_msg *m)
{
    if (m->tmp_path)
        unlink(m->tmp_path);
    pps__free(m->tmp_path);
    m->tmp_path = NULL;
}

static void msg_clear(md_msg *m)
{
    size_t i;

    drop_tmp(m);
    for (i = 0; m->dirs && i < m->count; i++)
        pps__free(m->dirs[i]);
    pps__free(m->dirs);
    pps__free(m->st);
    m->dirs = NULL;
    m->st = NULL;
    m->count = 0;
    m->primary = 0;
    m->synced = 0;
}

/* Make tmp/, new/ or cur/ when missing. */
static int ensure_sub(const maildir *md, const char *dir, const char *sub,
                      const struct stat *st)
{
    char path[PPS__PATH_MAX];

    pps__snprintf(path, sizeof(path), "%s/%s", dir, sub);
    if (mkdir(path, 0700) == 0) {
        if (md->as_root && chown(path, st->st_uid, st->st_gid) != 0)
            return pps__error_set(PPS_EIO, "cannot give %s to its owner: %s",
                                  path, strerror(errno));
        return 0;
    }
    if (errno == EEXIST)
        return 0;
    return pps__error_set(PPS_EIO, "cannot make %s: %s", path, strerror(errno));
}

static int ensure_subs(maildir *md, const char *dir, const struct stat *st)
{
    int err;

    if (strcmp(md->checked, dir) == 0)
        return 0;
    if ((err = ensure_sub(md, dir, "tmp", st)) < 0 ||
        (err = ensure_sub(md, dir, "new", st)) < 0 ||
        (err = ensure_sub(md, dir, "cur", st)) < 0)
        return err;
    pps__snprintf(md->checked, sizeof(md->checked), "%s", dir);
    return 0;
}

/* Recipient i failed temporarily with the current error detail. */
static void fail_rcpt(maildir *md, pps_deliverer_txn *txn, size_t i)
{
    const pps_error *e = pps_error_last();

    md->checked[0] = '\0'; /* look at the folders again next time */
    if (md->publish_err == 0) {
        md->publish_err = e->code < 0 ? e->code : PPS_EIO;
        pps__snprintf(md->publish_text, sizeof(md->publish_text), "%s",
                      e->message);
    }
    pps_deliverer_txn_set(txn, i, PPS_DELIVER_TEMPFAIL, e->code, 0, e->message,
                          strlen(e->message));
}

/* Check recipient i: its folder, or its status set. 1 ok, 0 refused. */
static int check_rcpt(maildir *md, pps_deliverer_txn *txn, size_t i)
{
    md_msg *m = &md->cur;
    const char *user = pps_deliverer_txn_user(txn, i);
    const char *domain = pps_deliverer_txn_domain(txn, i);
    char path[PPS__PATH_MAX], text[PPS_DELIVER_TEXT_MAX];

    if (!pps__deliver_name_safe(user) || !pps__deliver_name_safe(domain)) {
        pps__snprintf(text, sizeof(text),
                      "the user or domain name is not safe in a path");
        pps_deliverer_txn_set(txn, i, PPS_DELIVER_PERMFAIL, PPS_EINVAL, 0, text,
                              strlen(text));
        return 0;
    }
    if (pps__deliver_expand(path, sizeof(path), md->tmpl, user, domain) < 0)
        goto error;
    if (stat(path, &m->st[i]) != 0) {
        int e = errno;
        if (e != ENOENT && e != ENOTDIR) {
            pps__error_set(PPS_EIO, "cannot look at %s: %s", path, strerror(e));
            goto error;
        }
        m->st[i].st_mode = 0;
    }
    if (!S_ISDIR(m->st[i].st_mode)) {
        pps__snprintf(text, sizeof(text), "no Maildir folder %s", path);
        pps_deliverer_txn_set(txn, i, PPS_DELIVER_PERMFAIL, PPS_ENOTFOUND, 0,
                              text, strlen(text));
        return 0;
    }
    if (ensure_subs(md, path, &m->st[i]) < 0)
        goto error;
    if (!(m->dirs[i] = pps__strdup(path))) {
        pps__error_oom();
        goto error;
    }
    return 1;
error:
    fail_rcpt(md, txn, i);
    return 0;
}

/* "DIR/SUB/<unique>" into buf, the delivery tag (or NULL) in <unique>. */
static int unique_path(char *buf, size_t size, const char *dir, const char *sub,
                       const char *tag)
{
    char name[512];
    int err, n;

    if ((err = pps__maildir_unique_name_tagged(name, sizeof(name), tag)) < 0)
        return err;
    n = pps__snprintf(buf, size, "%s/%s/%s", dir, sub, name);
    if (n < 0 || (size_t)n >= size)
        return pps__error_set(PPS_ETOOBIG, "maildir: path too long in %s", dir);
    return 0;
}

static int maildir_begin(pps_deliverer_txn *txn, void *payload)
{
    maildir *md = payload;
    md_msg *m = &md->cur;
    size_t i, n = pps_deliverer_txn_count(txn);
    char path[PPS__PATH_MAX];
    int err;

    pps__durable_discard(&md->file);
    md->wlen = 0;
    msg_clear(m);
    m->dirs = pps__calloc(n, sizeof(char *));
    m->st = pps__calloc(n, sizeof(struct stat));
    if (!m->dirs || !m->st)
        return pps__error_oom();
    m->count = n;
    m->primary = n;
    for (i = 0; i < n; i++)
        if (check_rcpt(md, txn, i) && m->primary == n)
            m->primary = i;
    if (m->primary == n)
        return 0; /* nobody to deliver to: every status is set */
    if ((err = unique_path(path, sizeof(path), m->dirs[m->primary], "tmp",
                           NULL)) < 0 ||
        (err = pps__durable_create(&md->file, path, 0600)) < 0)
        return err;
    if (!(m->tmp_path = pps__strdup(path)))
        return pps__error_oom();
    if (md->as_root &&
        (m->st[m->primary].st_uid != 0 || m->st[m->primary].st_gid != 0) &&
        fchown(md->file.fd, m->st[m->primary].st_uid,
               m->st[m->primary].st_gid) != 0)
        return pps__error_set(PPS_EIO, "cannot give %s to its owner: %s", path,
                              strerror(errno));
    return 0;
}

/* Write what wbuf holds. */
static int write_out(maildir *md)
{
    size_t n = md->wlen;

    md->wlen = 0;
    return n ? pps__durable_write(&md->file, md->wbuf, n) : 0;
}

static int maildir_write(pps_deliverer_txn *txn, const char *data, size_t len,
                         void *payload)
{
    maildir *md = payload;
    int err;

    (void)txn;
    if (!md->wbuf && !(md->wbuf = pps__malloc(MAILDIR_WRITE_BUF)))
        return pps__error_oom();
    if (md->wlen + len > MAILDIR_WRITE_BUF && (err = write_out(md)) < 0)
        return err;
    if (len >= MAILDIR_WRITE_BUF)
        return pps__durable_write(&md->file, data, len);
    memcpy(md->wbuf + md->wlen, data, len);
    md->wlen += len;
    return 0;
}

/* --- publishing --------------------------------------------------------- */

/* Message m failed before any of its names was made: every recipient
 * still staged fails temporarily, its tmp/ file goes. */
static void fail_msg(maildir *md, md_msg *m, pps_deliverer_txn *txn)
{
    size_t i;

    for (i = 0; i < m->count; i++)
        if (pps_deliverer_txn_outcome(txn, i) == PPS_DELIVER_STAGED)
            fail_rcpt(md, txn, i);
    drop_tmp(m);
}

/* Whether step 1 still has to sync m's file. */
static int needs_sync(const md_msg *m)
{
    /* Not when done, with nothing to publish, or failed already. */
    return !m->synced && m->primary < m->count && m->tmp_path;
}

/* Step 1: the data of msgs[0..n), before any of them gets a name.  The
 * fsyncs of a long batch run several at once (sync-many.c); without
 * memory for that, one by one here. */
static void sync_data(maildir *md, md_msg *msgs, pps_deliverer_txn *const *txns,
                      size_t n)
{
    const char **paths = pps__calloc(n ? n : 1, sizeof(*paths));
    int *errs = pps__calloc(n ? n : 1, sizeof(*errs));
    int batched = paths && errs;
    size_t k, count = 0;

    for (k = 0; batched && k < n; k++)
        if (needs_sync(&msgs[k]))
            paths[count++] = msgs[k].tmp_path;
    if (batched)
        pps__durable_sync_many(paths, count, errs);
    for (k = 0, count = 0; k < n; k++) {
        md_msg *m = &msgs[k];
        int e;

        if (!needs_sync(m))
            continue;
        e = batched ? errs[count++] : pps__durable_fsync_path(m->tmp_path);
        if (e) {
            pps__durable_sync_path_failed(m->tmp_path, e);
            fail_msg(md, m, txns[k]);
        } else {
            m->synced = 1;
        }
    }
    pps__free(paths);
    pps__free(errs);
}

/* Remember `path` (taken over) as a new name of recipient i of txn. */
static int add_name(md_name **names, size_t *count, pps_deliverer_txn *txn,
                    size_t i, const char *path)
{
    md_name *grown = pps__realloc(*names, (*count + 1) * sizeof(**names));
    char *copy = pps__strdup(path);

    if (grown)
        *names = grown;
    if (!grown || !copy) {
        pps__free(copy);
        unlink(path); /* cannot be tracked: not delivered */
        return pps__error_oom();
    }
    grown[*count].txn = txn;
    grown[*count].rcpt = i;
    grown[*count].path = copy;
    (*count)++;
    return 0;
}

/* A durable copy of m's (synced) tmp file, named final_path, for
 * recipient i (another file system or owner). */
static int copy_to(maildir *md, md_msg *m, size_t i, const char *final_path)
{
    char tmp[PPS__PATH_MAX];
    pps__durable out;
    int in, err;

    pps__durable_init(&out);
    if ((err = unique_path(tmp, sizeof(tmp), m->dirs[i], "tmp", NULL)) < 0)
        return err;
    if (!md->copy_buf && !(md->copy_buf = pps__malloc(MAILDIR_COPY_CHUNK)))
        return pps__error_oom();
    in = open(m->tmp_path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return pps__error_set(PPS_EIO, "cannot read %s: %s", m->tmp_path,
                              strerror(errno));
    if ((err = pps__durable_create(&out, tmp, 0600)) < 0)
        goto done;
    if (md->as_root && fchown(out.fd, m->st[i].st_uid, m->st[i].st_gid) != 0) {
        err = pps__error_set(PPS_EIO, "cannot give %s to its owner: %s", tmp,
                             strerror(errno));
        goto done;
    }
    for (;;) {
        ssize_t n = read(in, md->copy_buf, MAILDIR_COPY_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = pps__error_set(PPS_EIO, "cannot read %s: %s", m->tmp_path,
                                 strerror(errno));
            goto done;
        }
        if (n == 0)
            break;
        if ((err = pps__durable_write(&out, md->copy_buf, (size_t)n)) < 0)
            goto done;
    }
    if ((err = pps__durable_sync(&out)) == 0 &&
        (err = pps__durable_name(out.tmp_path, final_path)) == 0)
        out.tmp_path[0] = '\0'; /* named: nothing to discard */
done:
    close(in);
    pps__durable_discard(&out);
    return err;
}

/* Step 2 for recipient i of m: its name in new/ (no folder fsync yet).
 * The primary's link comes last and takes the tmp/ name away. */
static int name_rcpt(maildir *md, md_msg *m, pps_deliverer_txn *txn, size_t i,
                     md_name **names, size_t *count)
{
    const struct stat *p = &m->st[m->primary], *s = &m->st[i];
    char final_path[PPS__PATH_MAX];
    int err;

    if ((err = unique_path(final_path, sizeof(final_path), m->dirs[i], "new",
                           pps_deliverer_txn_tag(txn, i))) < 0)
        return err;
    if (i == m->primary) {
        err = pps__durable_name(m->tmp_path, final_path);
        if (err == 0) { /* the tmp/ name is gone */
            pps__free(m->tmp_path);
            m->tmp_path = NULL;
        }
    } else {
        /* One inode has one owner: as root, link only between folders
         * of the same owner. */
        err = PPS_EUNSUPPORTED;
        if (p->st_dev == s->st_dev &&
            (!md->as_root ||
             (p->st_uid == s->st_uid && p->st_gid == s->st_gid)))
            err = pps__durable_link_nosync(m->tmp_path, final_path);
        if (err == PPS_EUNSUPPORTED)
            err = copy_to(md, m, i, final_path);
    }
    if (err < 0)
        return err;
    return add_name(names, count, txn, i, final_path);
}

/* The folder part of "DIR/new/NAME": its length up to the last '/'. */
static size_t folder_len(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? (size_t)(slash - path) : 0;
}

/* Step 3: fsync each folder that got names, once.  Names in a folder
 * whose fsync failed are removed again. */
static void sync_names(maildir *md, md_name *names, size_t count)
{
    char dir[PPS__PATH_MAX];
    size_t j, k;

    for (j = 0; j < count; j++) {
        size_t len = folder_len(names[j].path);
        int err;
        if (!names[j].txn)
            continue; /* settled with an earlier folder */
        pps__snprintf(dir, sizeof(dir), "%.*s", (int)len, names[j].path);
        err = pps__durable_sync_dir(dir);
        for (k = j; k < count; k++) {
            if (!names[k].txn || folder_len(names[k].path) != len ||
                strncmp(names[k].path, dir, len) != 0)
                continue;
            if (err < 0) {
                unlink(names[k].path);
                fail_rcpt(md, names[k].txn, names[k].rcpt);
            } else {
                pps_deliverer_txn_set(names[k].txn, names[k].rcpt,
                                      PPS_DELIVER_DELIVERED, PPS_OK, 0, "", 0);
            }
            names[k].txn = NULL;
        }
    }
}

/* Step 2 for every staged recipient of m; the others first: they link
 * from the primary's tmp/ name, which the primary's own name takes. */
static void name_msg(maildir *md, md_msg *m, pps_deliverer_txn *txn,
                     md_name **names, size_t *count)
{
    size_t i;

    for (i = 0; i <= m->count; i++) {
        size_t r = i < m->count ? i : m->primary;
        if (i == m->primary ||
            pps_deliverer_txn_outcome(txn, r) != PPS_DELIVER_STAGED)
            continue;
        if (name_rcpt(md, m, txn, r, names, count) < 0)
            fail_rcpt(md, txn, r);
    }
    drop_tmp(m); /* left only when the primary failed */
}

/* Publish msgs[0..n) (their recipients STAGED) by steps 1 to 3.  Every
 * staged recipient ends DELIVERED or TEMPFAIL.  Returns 0, or the first
 * failure (its detail set). */
static int publish(maildir *md, md_msg *msgs, pps_deliverer_txn *const *txns,
                   size_t n)
{
    md_name *names = NULL;
    size_t count = 0, k;

    md->publish_err = 0;
    sync_data(md, msgs, txns, n);
    for (k = 0; k < n; k++)
        if (msgs[k].synced)
            name_msg(md, &msgs[k], txns[k], &names, &count);
    sync_names(md, names, count);
    for (k = 0; k < count; k++)
        pps__free(names[k].path);
    pps__free(names);
    if (md->publish_err < 0)
        return pps__error_set(md->publish_err, "%s", md->publish_text);
    return 0;
}

/* --- commit, stage, flush ------------------------------------------------- */

/* The recipients of m still PENDING are the ones to publish. */
static void stage_rcpts(md_msg *m, pps_deliverer_txn *txn)
{
    size_t i;

    for (i = 0; i < m->count; i++)
        if (m->dirs[i])
            pps__txn_stage(txn, i);
}

static int maildir_commit(pps_deliverer_txn *txn, void *payload)
{
    maildir *md = payload;
    md_msg *m = &md->cur;
    int err;

    if (m->primary == m->count)
        return 0;
    if ((err = write_out(md)) < 0 ||
        (err = pps__durable_sync(&md->file)) < 0) /* fsync, close */
        return err; /* nobody delivered: deliver.c settles and aborts */
    md->file.tmp_path[0] = '\0'; /* m->tmp_path has it now */
    m->synced = 1;
    stage_rcpts(m, txn);
    err = publish(md, m, &txn, 1);
    msg_clear(m);
    return err;
}

static int maildir_stage(pps_deliverer_txn *txn, void *payload)
{
    maildir *md = payload;
    md_msg *m = &md->cur, *grown;
    int err;

    if (m->primary == m->count)
        return 0;
    if ((err = write_out(md)) < 0)
        return err;
    if (!(grown = pps__grow(md->staged, md->staged_count, &md->staged_cap,
                            sizeof(*grown), 16)))
        return pps__error_oom();
    md->staged = grown;
    /* Not synced now: the flush syncs the whole batch.  Writing it out
     * starts now, so that those fsyncs find little left to do: on the
     * write-back thread in a long batch. */
    if (!md->writeback && !md->no_writeback &&
        md->staged_count + 1 >= MAILDIR_WRITEBACK_AFTER &&
        pps__writeback_start(&md->writeback) < 0)
        md->no_writeback = 1; /* then here, as in a short one */
    if (md->writeback) {
        pps__writeback_hand(md->writeback, md->file.fd);
        md->file.fd = -1;
    } else {
        pps__durable_start_writeback(&md->file);
        if ((err = pps__durable_close(&md->file)) < 0)
            return err;
    }
    stage_rcpts(m, txn);
    md->staged[md->staged_count++] = *m;
    memset(m, 0, sizeof(*m));
    md->file.tmp_path[0] = '\0'; /* staged: kept, not discarded */
    return 0;
}

static void discard_staged(maildir *md)
{
    size_t k;

    pps__writeback_stop(md->writeback); /* every staged file closed */
    md->writeback = NULL;
    for (k = 0; k < md->staged_count; k++)
        msg_clear(&md->staged[k]);
    md->staged_count = 0;
    pps__free(md->staged); /* an idle deliverer holds no batch memory */
    md->staged = NULL;
    md->staged_cap = 0;
}

static int maildir_flush(pps_deliverer_txn *const *staged, size_t n,
                         void *payload)
{
    maildir *md = payload;
    int err;

    if (n != md->staged_count) {
        /* deliver.c and this file disagree: publish nothing. */
        discard_staged(md);
        return pps__error_set(PPS_ERROR,
                              "maildir: %zu messages staged, "
                              "%zu to flush",
                              md->staged_count, n);
    }
    pps__writeback_stop(md->writeback); /* every staged file closed */
    md->writeback = NULL;
    err = publish(md, md->staged, staged, n);
    discard_staged(md);
    return err;
}

static void maildir_discard(void *payload)
{
    discard_staged(payload);
}

static void maildir_abort(pps_deliverer_txn *txn, void *payload)
{
    maildir *md = payload;

    (void)txn;
    pps__durable_discard(&md->file);
    md->wlen = 0;
    msg_clear(&md->cur);
}

static int maildir_user_exists(const char *user, const char *domain,
                               void *payload)
{
    maildir *m = payload;
    char path[PPS__PATH_MAX];
    struct stat st;

    if (!pps__deliver_name_safe(user) || !pps__deliver_name_safe(domain))
        return 0;
    if (pps__deliver_expand(path, sizeof(path), m->tmpl, user, domain) < 0)
        return -1;
    if (stat(path, &st) == 0)
        return S_ISDIR(st.st_mode) ? 1 : 0;
    return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
}

/* --- finding a delivery again (after a crash) ----------------------------- */

/* A folder with more names than this is not scanned: the caller then
 * cannot tell and delivers again (a possible duplicate, never a loss).
 * Ten million is far beyond any real new/ or cur/. */
#define MAILDIR_FIND_ENTRIES_MAX 10000000UL

/* 1 when `name` holds "T<tag>." in its base part (before the ":2,"
 * Dovecot adds), where our tagged unique part ends. */
static int name_has_tag(const char *name, const char *tag, size_t tag_len)
{
    const char *p = name;

    while ((p = strchr(p, 'T')) != NULL) {
        p++;
        if (strncmp(p, tag, tag_len) == 0 && p[tag_len] == '.')
            return 1;
    }
    return 0;
}

/* Look through DIR/SUB: 1 found, 0 not (or no such folder), < 0. */
static int scan_sub(const char *dir, const char *sub, const char *tag)
{
    char path[PPS__PATH_MAX];
    size_t tag_len = strlen(tag);
    unsigned long seen = 0;
    struct dirent *e;
    DIR *dh;
    int n, found = 0;

    n = pps__snprintf(path, sizeof(path), "%s/%s", dir, sub);
    if (n < 0 || (size_t)n >= sizeof(path))
        return pps__error_set(PPS_ETOOBIG, "maildir: path too long in %s", dir);
    if (!(dh = opendir(path))) {
        if (errno == ENOENT)
            return 0;
        return pps__error_set(PPS_EIO, "cannot read the folder %s: %s", path,
                              strerror(errno));
    }
    for (;;) {
        errno = 0;
        if (!(e = readdir(dh))) {
            if (errno != 0)
                found = pps__error_set(PPS_EIO, "cannot read the folder %s: %s",
                                       path, strerror(errno));
            break;
        }
        if (++seen > MAILDIR_FIND_ENTRIES_MAX) {
            found = pps__error_set(PPS_ETOOBIG,
                                   "maildir: %s holds more than %lu names; "
                                   "not looked through",
                                   path, MAILDIR_FIND_ENTRIES_MAX);
            break;
        }
        if (e->d_name[0] != '.' && name_has_tag(e->d_name, tag, tag_len)) {
            found = 1;
            break;
        }
    }
    closedir(dh);
    return found;
}

static int maildir_find(const char *user, const char *domain, const char *tag,
                        void *payload)
{
    maildir *m = payload;
    char path[PPS__PATH_MAX];
    int err, pass;

    if (!pps__deliver_name_safe(user) || !pps__deliver_name_safe(domain))
        return 0; /* never delivered to: begin refuses such names */
    if ((err = pps__deliver_expand(path, sizeof(path), m->tmpl, user, domain)) <
        0)
        return err;
    /* new/ first, then cur/: a file Dovecot moves from new/ to cur/ while
     * we look is then seen in cur/.  A second pass covers a rename inside
     * cur/ (a flag change) during the first, which readdir may miss.  A
     * miss is never a loss: the message is delivered again. */
    for (pass = 0; pass < 2; pass++) {
        if ((err = scan_sub(path, "new", tag)) != 0 ||
            (err = scan_sub(path, "cur", tag)) != 0)
            return err;
    }
    return 0;
}

static void maildir_describe(char *buf, size_t size, void *payload)
{
    const maildir *m = payload;

    pps__snprintf(buf, size, "maildir %s", m->tmpl);
}

static void maildir_free(void *payload)
{
    maildir *m = payload;

    if (!m)
        return;
    pps__durable_discard(&m->file);
    msg_clear(&m->cur);
    discard_staged(m);
    pps__free(m->copy_buf);
    pps__free(m->wbuf);
    pps__free(m->tmpl);
    pps__free(m);
}

static int maildir_open(void **payload, const pps_deliver_options *o)
{
    char probe[PPS__PATH_MAX];
    maildir *m;
    int err;
    const char *path = o->path && *o->path ? o->path : MAILDIR_DEFAULT_PATH;

    *payload = NULL;
    if (path[0] != '/')
        return pps__error_set(PPS_ECONFIG,
                              "[delivery] path \"%s\" must be absolute", path);
    /* Check the template once (room left for long names). */
    if ((err = pps__deliver_expand(probe, sizeof(probe) - 600, path, "u",
                                   "d")) < 0)
        return err == PPS_ETOOBIG ? PPS_ECONFIG : err;
    if (!(m = pps__calloc(1, sizeof(*m))))
        return pps__error_oom();
    m->as_root = geteuid() == 0; /* once, not per message */
    pps__durable_init(&m->file);
    if (!(m->tmpl = pps__strdup(path))) {
        pps__free(m);
        return pps__error_oom();
    }
    *payload = m;
    return 0;
}

static const pps_deliverer_class maildir_class = {
    .version = PPS_DELIVERER_CLASS_VERSION,
    .name = "maildir",
    .flags = PPS_DELIVERER_LF,
    .begin = maildir_begin,
    .write = maildir_write,
    .commit = maildir_commit,
    .cancel = maildir_abort,
    .user_exists = maildir_user_exists,
    .describe = maildir_describe,
    .free = maildir_free,
    .find = maildir_find,
};

const pps__deliver_builtin pps__deliver_maildir = {
    .cls = &maildir_class,
    .open = maildir_open,
    .stage = maildir_stage,
    .flush = maildir_flush,
    .discard = maildir_discard,
};
