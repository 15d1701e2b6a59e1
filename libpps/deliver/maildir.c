/*
 * libpps/deliver/maildir.c - deliver into Maildir folders.
 *
 * The message is written once, with LF line ends, to tmp/ of the first
 * recipient whose folder exists, and fsync'd.  Each recipient then gets
 * its own unique name in its new/: a hard link where the file system
 * and the owner allow it (one inode, no copy), else a durable copy.  The
 * first recipient's link comes last, from tmp/, and removes the tmp/
 * name.  Every new name is followed by an fsync of its folder.
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

/* The default of [delivery] path (docs/pps.conf.5). */
#define MAILDIR_DEFAULT_PATH "/var/vmail/%d/%u/Maildir"

/* Copies are made this many bytes at a time. */
#define MAILDIR_COPY_CHUNK 65536

typedef struct maildir {
    char *tmpl;
    /* The open transaction. */
    size_t count;
    char **dirs;     /* expanded folder per recipient, NULL if refused */
    struct stat *st; /* its stat */
    size_t primary;  /* where the tmp file is; count: none */
    pps__durable file;
    char *copy_buf;
} maildir;

static int running_as_root(void)
{
    return geteuid() == 0;
}

static void txn_reset(maildir *m)
{
    size_t i;

    pps__durable_discard(&m->file);
    for (i = 0; m->dirs && i < m->count; i++)
        pps__free(m->dirs[i]);
    pps__free(m->dirs);
    pps__free(m->st);
    m->dirs = NULL;
    m->st = NULL;
    m->count = 0;
}

/* Make tmp/, new/ or cur/ when missing. */
static int ensure_sub(const char *dir, const char *sub, const struct stat *st)
{
    char path[PPS__PATH_MAX];

    pps__snprintf(path, sizeof(path), "%s/%s", dir, sub);
    if (mkdir(path, 0700) == 0) {
        if (running_as_root() && chown(path, st->st_uid, st->st_gid) != 0)
            return pps__error_set(PPS_EIO, "cannot give %s to its owner: %s",
                                  path, strerror(errno));
        return 0;
    }
    if (errno == EEXIST)
        return 0;
    return pps__error_set(PPS_EIO, "cannot make %s: %s", path, strerror(errno));
}

/* Check recipient i: its folder, or its status set. 1 ok, 0 refused. */
static int check_rcpt(maildir *m, pps_deliverer_txn *txn, size_t i)
{
    const char *user = pps_deliverer_txn_user(txn, i);
    const char *domain = pps_deliverer_txn_domain(txn, i);
    char path[PPS__PATH_MAX], text[PPS_DELIVER_TEXT_MAX];
    int err;

    if (!pps__deliver_name_safe(user) || !pps__deliver_name_safe(domain)) {
        pps__snprintf(text, sizeof(text),
                      "the user or domain name is not safe in a path");
        pps_deliverer_txn_set(txn, i, PPS_DELIVER_PERMFAIL, PPS_EINVAL, 0, text,
                              strlen(text));
        return 0;
    }
    if (pps__deliver_expand(path, sizeof(path), m->tmpl, user, domain) < 0)
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
    if ((err = ensure_sub(path, "tmp", &m->st[i])) < 0 ||
        (err = ensure_sub(path, "new", &m->st[i])) < 0 ||
        (err = ensure_sub(path, "cur", &m->st[i])) < 0)
        goto error;
    if (!(m->dirs[i] = pps__strdup(path))) {
        pps__error_oom();
        goto error;
    }
    return 1;
error:
    pps_deliverer_txn_set(txn, i, PPS_DELIVER_TEMPFAIL, pps_error_last()->code,
                          0, pps_error_last()->message,
                          strlen(pps_error_last()->message));
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
    maildir *m = payload;
    size_t i, n = pps_deliverer_txn_count(txn);
    char path[PPS__PATH_MAX];
    int err;

    txn_reset(m);
    m->dirs = pps__calloc(n, sizeof(char *));
    m->st = pps__calloc(n, sizeof(struct stat));
    if (!m->dirs || !m->st)
        return pps__error_oom();
    m->count = n;
    m->primary = n;
    for (i = 0; i < n; i++)
        if (check_rcpt(m, txn, i) && m->primary == n)
            m->primary = i;
    if (m->primary == n)
        return 0; /* nobody to deliver to: every status is set */
    if ((err = unique_path(path, sizeof(path), m->dirs[m->primary], "tmp",
                           NULL)) < 0 ||
        (err = pps__durable_create(&m->file, path, 0600)) < 0)
        return err;
    if (running_as_root() && fchown(m->file.fd, m->st[m->primary].st_uid,
                                    m->st[m->primary].st_gid) != 0)
        return pps__error_set(PPS_EIO, "cannot give %s to its owner: %s", path,
                              strerror(errno));
    return 0;
}

static int maildir_write(pps_deliverer_txn *txn, const char *data, size_t len,
                         void *payload)
{
    maildir *m = payload;

    (void)txn;
    return pps__durable_write(&m->file, data, len);
}

/* A durable copy of the (synced) tmp file into recipient i's folder. */
static int copy_to(maildir *m, size_t i, const char *final_path)
{
    char tmp[PPS__PATH_MAX];
    pps__durable out;
    int in, err;

    if ((err = unique_path(tmp, sizeof(tmp), m->dirs[i], "tmp", NULL)) < 0)
        return err;
    if (!m->copy_buf && !(m->copy_buf = pps__malloc(MAILDIR_COPY_CHUNK)))
        return pps__error_oom();
    in = open(m->file.tmp_path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return pps__error_set(PPS_EIO, "cannot read %s: %s", m->file.tmp_path,
                              strerror(errno));
    if ((err = pps__durable_create(&out, tmp, 0600)) < 0)
        goto done;
    if (running_as_root() &&
        fchown(out.fd, m->st[i].st_uid, m->st[i].st_gid) != 0) {
        err = pps__error_set(PPS_EIO, "cannot give %s to its owner: %s", tmp,
                             strerror(errno));
        goto done;
    }
    for (;;) {
        ssize_t n = read(in, m->copy_buf, MAILDIR_COPY_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = pps__error_set(PPS_EIO, "cannot read %s: %s",
                                 m->file.tmp_path, strerror(errno));
            goto done;
        }
        if (n == 0)
            break;
        if ((err = pps__durable_write(&out, m->copy_buf, (size_t)n)) < 0)
            goto done;
    }
    err = pps__durable_publish(&out, final_path);
done:
    close(in);
    if (err < 0)
        pps__durable_discard(&out);
    return err;
}

/* One recipient that is not the primary: a link, else a copy. */
static int deliver_other(maildir *m, size_t i, const char *final_path)
{
    const struct stat *p = &m->st[m->primary], *s = &m->st[i];
    int err = PPS_EUNSUPPORTED;

    /* One inode has one owner: as root, link only between folders of
     * the same owner. */
    if (p->st_dev == s->st_dev &&
        (!running_as_root() ||
         (p->st_uid == s->st_uid && p->st_gid == s->st_gid)))
        err = pps__durable_link(m->file.tmp_path, final_path);
    if (err == PPS_EUNSUPPORTED)
        err = copy_to(m, i, final_path);
    return err;
}

static void set_result(pps_deliverer_txn *txn, size_t i, int err)
{
    const pps_error *e = pps_error_last();

    if (err == 0)
        pps_deliverer_txn_set(txn, i, PPS_DELIVER_DELIVERED, PPS_OK, 0, "", 0);
    else
        pps_deliverer_txn_set(txn, i, PPS_DELIVER_TEMPFAIL, err, 0, e->message,
                              strlen(e->message));
}

static int maildir_commit(pps_deliverer_txn *txn, void *payload)
{
    maildir *m = payload;
    char final_path[PPS__PATH_MAX];
    size_t i;
    int err, first_err = 0;

    if (m->primary == m->count)
        return 0;
    if ((err = pps__durable_sync(&m->file)) < 0)
        return err; /* nobody delivered: deliver.c settles and aborts */
    for (i = 0; i < m->count; i++) {
        if (i == m->primary ||
            pps_deliverer_txn_outcome(txn, i) != PPS_DELIVER_PENDING)
            continue;
        err = unique_path(final_path, sizeof(final_path), m->dirs[i], "new",
                          pps_deliverer_txn_tag(txn, i));
        if (err == 0)
            err = deliver_other(m, i, final_path);
        set_result(txn, i, err);
        if (err < 0 && !first_err)
            first_err = err;
    }
    /* Last, the primary: its tmp/ name goes away with it. */
    err = unique_path(final_path, sizeof(final_path), m->dirs[m->primary],
                      "new", pps_deliverer_txn_tag(txn, m->primary));
    if (err == 0)
        err = pps__durable_publish(&m->file, final_path);
    set_result(txn, m->primary, err);
    pps__durable_discard(&m->file);
    return first_err ? first_err : err;
}

static void maildir_abort(pps_deliverer_txn *txn, void *payload)
{
    maildir *m = payload;

    (void)txn;
    pps__durable_discard(&m->file);
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
    txn_reset(m);
    pps__free(m->copy_buf);
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

const pps__deliver_builtin pps__deliver_maildir = {&maildir_class,
                                                   maildir_open};
