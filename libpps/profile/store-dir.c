/*
 * store-dir.c - the embedded profile store: DIR/profiles/NAME.conf.
 *
 * Writes are atomic and durable: the text goes to a new file in the same
 * folder (O_CREAT|O_EXCL, mode 0600 set with fchmod whatever the umask),
 * is fsync'd, then renamed over the old file (or linked, when creating,
 * so an existing profile is never overwritten), and the folder is
 * fsync'd.  A crash leaves the old file or the new one, plus at worst a
 * ".NAME.conf.tmp-*" file that no listing shows (names never start with
 * '.').
 *
 * Like fetchmail, a profile file that group or others may read or write is
 * refused: it holds a password.
 */
#define _GNU_SOURCE /* pipe2, mkostemp: O_CLOEXEC without a race */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/internal.h"
#include "profile-internal.h"

#define SUFFIX     ".conf"
#define SUFFIX_LEN 5

typedef struct dir_store {
    char *dir;    /* DIR/profiles */
    char *parent; /* DIR */
    pps__store_fault fault;
} dir_store;

static char *path_of(const dir_store *ds, const char *prefix, const char *name,
                     const char *suffix)
{
    size_t n =
        strlen(ds->dir) + strlen(prefix) + strlen(name) + strlen(suffix) + 2;
    char *path = pps__malloc(n);

    if (path)
        pps__snprintf(path, n, "%s/%s%s%s", ds->dir, prefix, name, suffix);
    return path;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int err = 0;

    if (fd < 0 || fsync(fd) < 0)
        err = pps__error_set(PPS_EIO, "%s: cannot sync the folder: %s", dir,
                             strerror(errno));
    if (fd >= 0)
        close(fd);
    return err;
}

/* --- list ------------------------------------------------------------- */

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The profile name of a directory entry, or 0 when it is none. */
static int entry_name(char *out, const char *entry)
{
    size_t n = strlen(entry);

    if (n <= SUFFIX_LEN || n - SUFFIX_LEN > PPS_PROFILE_NAME_MAX ||
        strcmp(entry + n - SUFFIX_LEN, SUFFIX) != 0)
        return 0;
    memcpy(out, entry, n - SUFFIX_LEN);
    out[n - SUFFIX_LEN] = '\0';
    return pps_profile_name_is_valid(out);
}

static int dir_list(pps_profile_names *out, void *payload)
{
    dir_store *ds = payload;
    pps_profile_names names = {NULL, 0};
    size_t size = 0;
    struct dirent *e;
    DIR *d;
    int err = 0;

    if (!(d = opendir(ds->dir))) {
        if (errno == ENOENT)
            return 0; /* no folder yet: no profiles */
        return pps__error_set(PPS_EIO, "%s: cannot list: %s", ds->dir,
                              strerror(errno));
    }
    while ((errno = 0, e = readdir(d)) != NULL) {
        char name[PPS_PROFILE_NAME_MAX + 1];
        if (!entry_name(name, e->d_name))
            continue;
        if (names.count == size) {
            size_t bigger = size ? size * 2 : 16;
            char **grown = pps__realloc(names.names, bigger * sizeof(char *));
            if (!grown) {
                err = pps__error_oom();
                break;
            }
            names.names = grown;
            size = bigger;
        }
        if (!(names.names[names.count] = pps__strdup(name))) {
            err = pps__error_oom();
            break;
        }
        names.count++;
    }
    if (!err && errno != 0)
        err = pps__error_set(PPS_EIO, "%s: cannot list: %s", ds->dir,
                             strerror(errno));
    closedir(d);
    if (err < 0) {
        pps_profile_names_free(&names);
        return err;
    }
    if (names.count)
        qsort(names.names, names.count, sizeof(char *), compare_names);
    *out = names;
    return 0;
}

/* --- load ------------------------------------------------------------- */

static int check_file(const struct stat *st, const char *path)
{
    if (!S_ISREG(st->st_mode))
        return pps__error_set(PPS_ECONFIG, "%s: not a regular file", path);
    if (st->st_mode & 077)
        return pps__error_set(
            PPS_EPERM,
            "%s: group or others may read or write it (mode %04o), and it "
            "holds a password; refusing to use it: run chmod 600 %s",
            path, (unsigned int)(st->st_mode & 07777), path);
    if (st->st_uid != geteuid() && geteuid() != 0)
        return pps__error_set(PPS_EPERM,
                              "%s: owned by uid %u, not by this user (uid "
                              "%u); refusing to use it",
                              path, (unsigned int)st->st_uid,
                              (unsigned int)geteuid());
    if (st->st_size > PPS_CONFIG_TEXT_MAX)
        return pps__error_set(PPS_ETOOBIG, "%s: longer than %d bytes", path,
                              PPS_CONFIG_TEXT_MAX);
    return 0;
}

static int dir_load(pps_profile **out, const char *name, void *payload)
{
    dir_store *ds = payload;
    char *path, *text = NULL;
    size_t len = 0;
    struct stat st;
    int fd, err;

    if (!(path = path_of(ds, "", name, SUFFIX)))
        return pps__error_oom();
    /* O_NOFOLLOW: the file must be what the mode check looks at;
     * O_NONBLOCK: a FIFO planted there must not hang us. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            err = pps__error_set(PPS_ENOTFOUND,
                                 "profile '%s' does not exist "
                                 "(no %s)",
                                 name, path);
        else if (e == ELOOP)
            err = pps__error_set(PPS_EPERM,
                                 "%s: is a symbolic link; "
                                 "refusing to follow it",
                                 path);
        else
            err = pps__error_set(PPS_EIO, "%s: cannot open: %s", path,
                                 strerror(e));
        pps__free(path);
        return err;
    }
    if (fstat(fd, &st) < 0)
        err = pps__error_set(PPS_EIO, "%s: cannot stat: %s", path,
                             strerror(errno));
    else if ((err = check_file(&st, path)) == 0 &&
             (err = pps__read_fd_bounded(&text, &len, fd, path,
                                         PPS_CONFIG_TEXT_MAX)) == 0)
        err = pps_profile_parse(out, name, text, len, path);
    close(fd);
    if (text) {
        pps__wipe(text, len);
        pps__free(text);
    }
    pps__free(path);
    return err;
}

/* --- save ------------------------------------------------------------- */

/* mkdir with exactly `mode`, whatever the umask; EEXIST is fine. */
static int make_dir(const char *dir)
{
    if (mkdir(dir, 0700) == 0) {
        if (chmod(dir, 0700) < 0)
            return pps__error_set(PPS_EIO, "%s: cannot chmod: %s", dir,
                                  strerror(errno));
        return 0;
    }
    if (errno == EEXIST)
        return 0;
    return pps__error_set(PPS_EIO, "%s: cannot create the folder: %s", dir,
                          strerror(errno));
}

static int write_all(int fd, const char *data, size_t len, const char *path,
                     pps__store_fault fault)
{
    size_t done = 0;

    if (fault == PPS__STORE_FAULT_WRITE) {
        /* Half the text reaches the file, then the disk "fills up". */
        if (write(fd, data, len / 2) < 0) {
            /* ignored: the failure is injected below anyway */
        }
        return pps__error_set(PPS_EIO, "%s: cannot write: %s", path,
                              strerror(ENOSPC));
    }
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return pps__error_set(PPS_EIO, "%s: cannot write: %s", path,
                                  strerror(errno));
        done += (size_t)n;
    }
    return 0;
}

/* Put the finished tmp file in place of `path`. */
static int publish(const char *tmp, const char *path, const char *name,
                   unsigned int flags, pps__store_fault fault)
{
    struct stat st;

    if (fault == PPS__STORE_FAULT_RENAME)
        return pps__error_set(PPS_EIO, "%s: cannot rename into place: %s", path,
                              strerror(EIO));
    if (flags & PPS_PROFILE_SAVE_CREATE) {
        /* link() never replaces: a profile created meanwhile stays. */
        if (link(tmp, path) < 0) {
            if (errno == EEXIST)
                return pps__error_set(PPS_EEXISTS,
                                      "profile '%s' already exists (%s)", name,
                                      path);
            return pps__error_set(PPS_EIO, "%s: cannot create: %s", path,
                                  strerror(errno));
        }
        unlink(tmp);
        return 0;
    }
    if ((flags & PPS_PROFILE_SAVE_REPLACE) && lstat(path, &st) < 0)
        return pps__error_set(
            PPS_ENOTFOUND, "profile '%s' does not exist (no %s)", name, path);
    if (rename(tmp, path) < 0)
        return pps__error_set(PPS_EIO, "%s: cannot rename into place: %s", path,
                              strerror(errno));
    return 0;
}

static int dir_save(const pps_profile *p, unsigned int flags, void *payload)
{
    dir_store *ds = payload;
    const char *name = pps_profile_name(p);
    pps__store_fault fault = ds->fault;
    char *text = NULL, *path = NULL, *tmp = NULL;
    size_t len = 0;
    int fd = -1, err;

    ds->fault = PPS__STORE_FAULT_NONE; /* one shot */
    if ((err = pps_profile_serialise(&text, &len, p, 0)) < 0)
        return err;
    if (!(path = path_of(ds, "", name, SUFFIX)) ||
        !(tmp = path_of(ds, ".", name, SUFFIX ".tmp-XXXXXX"))) {
        err = pps__error_oom();
        goto done;
    }
    if ((err = make_dir(ds->parent)) < 0 || (err = make_dir(ds->dir)) < 0)
        goto done;
    /* mkostemp opens with O_CREAT|O_EXCL and mode 0600; fchmod makes the
     * mode independent of any umask. */
    if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
        err = pps__error_set(PPS_EIO, "%s: cannot create a temporary file: %s",
                             ds->dir, strerror(errno));
        tmp[0] = '\0';
        goto done;
    }
    if (fchmod(fd, 0600) < 0) {
        err = pps__error_set(PPS_EIO, "%s: cannot chmod: %s", tmp,
                             strerror(errno));
        goto done;
    }
    if ((err = write_all(fd, text, len, tmp, fault)) < 0)
        goto done;
    if (fault == PPS__STORE_FAULT_FSYNC || fsync(fd) < 0) {
        err = pps__error_set(
            PPS_EIO, "%s: cannot sync: %s", tmp,
            strerror(fault == PPS__STORE_FAULT_FSYNC ? EIO : errno));
        goto done;
    }
    if (close(fd) < 0) {
        fd = -1;
        err = pps__error_set(PPS_EIO, "%s: cannot close: %s", tmp,
                             strerror(errno));
        goto done;
    }
    fd = -1;
    if ((err = publish(tmp, path, name, flags, fault)) < 0)
        goto done;
    tmp[0] = '\0'; /* renamed or linked and unlinked: nothing to clean */
    err = fsync_dir(ds->dir);
done:
    if (fd >= 0)
        close(fd);
    if (tmp && tmp[0])
        unlink(tmp);
    pps_profile_text_free(text);
    pps__free(path);
    pps__free(tmp);
    return err;
}

/* --- delete ----------------------------------------------------------- */

static int dir_remove(const char *name, void *payload)
{
    dir_store *ds = payload;
    char *path = path_of(ds, "", name, SUFFIX);
    int err = 0;

    if (!path)
        return pps__error_oom();
    if (unlink(path) < 0)
        err = errno == ENOENT
                  ? pps__error_set(PPS_ENOTFOUND,
                                   "profile '%s' does not exist (no %s)", name,
                                   path)
                  : pps__error_set(PPS_EIO, "%s: cannot delete: %s", path,
                                   strerror(errno));
    else
        err = fsync_dir(ds->dir);
    pps__free(path);
    return err;
}

/* --- stamp ------------------------------------------------------------ */

/* FNV-1a, 64 bits: a cheap fingerprint, not a security measure. */
static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t fnv_stat(uint64_t h, const struct stat *st)
{
    long long fields[6];

    fields[0] = (long long)st->st_ino;
    fields[1] = (long long)st->st_size;
    fields[2] = (long long)st->st_mtim.tv_sec;
    fields[3] = (long long)st->st_mtim.tv_nsec;
    fields[4] = (long long)st->st_ctim.tv_sec;
    fields[5] = (long long)st->st_ctim.tv_nsec;
    return fnv(h, fields, sizeof(fields));
}

/*
 * The folder's own times change when a file is added, removed or renamed
 * in; an editor that rewrites a file in place changes only that file, so
 * each profile file's inode, size and times are folded in too: one stat
 * per profile, no reading.
 */
static int dir_stamp(uint64_t *out, void *payload)
{
    dir_store *ds = payload;
    uint64_t h = 14695981039346656037ull;
    struct dirent *e;
    struct stat st;
    DIR *d;

    if (!(d = opendir(ds->dir))) {
        if (errno != ENOENT)
            return pps__error_set(PPS_EIO, "%s: cannot list: %s", ds->dir,
                                  strerror(errno));
        *out = h;
        return 0;
    }
    if (fstat(dirfd(d), &st) == 0)
        h = fnv_stat(h, &st);
    while ((e = readdir(d)) != NULL) {
        char name[PPS_PROFILE_NAME_MAX + 1];
        if (!entry_name(name, e->d_name))
            continue;
        h = fnv(h, e->d_name, strlen(e->d_name) + 1);
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            h = fnv_stat(h, &st);
    }
    closedir(d);
    *out = h;
    return 0;
}

/* --- the store -------------------------------------------------------- */

static void dir_free(void *payload)
{
    dir_store *ds = payload;

    if (!ds)
        return;
    pps__free(ds->dir);
    pps__free(ds->parent);
    pps__free(ds);
}

static const pps_profile_store_ops dir_ops = {
    PPS_PROFILE_STORE_OPS_VERSION,
    dir_list,
    dir_load,
    dir_save,
    dir_remove,
    dir_stamp,
    dir_free,
};

int pps_profile_store_open_dir(pps_profile_store **out, const char *dir)
{
    dir_store *ds;
    size_t n;

    if (out)
        *out = NULL;
    if (!out || !dir || !dir[0])
        return pps__error_set(PPS_EINVAL,
                              "pps_profile_store_open_dir: no folder given");
    if (!(ds = pps__calloc(1, sizeof(*ds))))
        return pps__error_oom();
    n = strlen(dir) + sizeof("/profiles");
    if (!(ds->parent = pps__strdup(dir)) || !(ds->dir = pps__malloc(n))) {
        dir_free(ds);
        return pps__error_oom();
    }
    pps__snprintf(ds->dir, n, "%s/profiles", dir);
    return pps_profile_store_new(out, &dir_ops, ds);
}

int pps__store_dir_set_fault(pps_profile_store *store, pps__store_fault f)
{
    dir_store *ds = pps__store_payload(store, &dir_ops);

    if (!ds)
        return pps__error_set(PPS_EINVAL, "not a folder store");
    ds->fault = f;
    return 0;
}
