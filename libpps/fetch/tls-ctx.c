/*
 * tls-ctx.c - the process's shared TLS client contexts (see tls.h).
 *
 * A context holds only what is the same for every connection of a trust
 * setting: the trust store, the lowest TLS version and constant options.
 * What differs per profile or connection (verify mode, host or IP to
 * check, SNI, pin) is set on each SSL (tls.c), so one context serves every
 * profile that names the same tls_ca_file / tls_ca_path (or none: the
 * system store) and min_version.  Loading the system store parses the
 * whole bundle (Debian: 144 certificates, ~30 ms of CPU); before this
 * cache every poll paid that, and 32 parallel polls held 32 stores.
 *
 * The cache is process-wide on purpose (the service polls from many
 * threads, each with its own transports), so it is the one piece of
 * global state besides the per-thread error: a fixed table of
 * PPS__TLS_CTX_CACHE_MAX entries under one mutex, the least recently used
 * evicted when full.  An entry holds one reference to its SSL_CTX; each
 * transport takes its own (SSL_CTX_up_ref), so evicting or replacing an
 * entry never pulls a context from under a live connection.
 *
 * Freshness: before an entry is reused, its files are stat()ed again (the
 * CA file and folder, or the system store's file and folder as OpenSSL
 * resolves them, SSL_CERT_FILE / SSL_CERT_DIR included); a different
 * device, inode, size, mtime or ctime, or an age over
 * PPS__TLS_CTX_MAX_AGE_MS (a hashed folder's certificates are read lazily,
 * so a changed file inside it may not show on the folder), loads the store
 * again.  An administrator who updates CA certificates needs no restart.
 *
 * Each entry also names its store's contents with a number, the trust id:
 * a new one whenever the files differ from what the entry saw last (or
 * the setting is new to the table), the same one when only the age made
 * the store load again.  TLS sessions are kept under it (tls-session.c),
 * so a session verified under one store is never offered under another,
 * while the five-minute reloads do not throw sessions away.
 *
 * A load happens under the mutex: it is rare (once per trust setting per
 * few minutes), and holding it makes 32 threads that start at once share
 * one load of the system store instead of making 32.
 *
 * The table is never freed at exit: its contexts stay reachable from a
 * static, which LeakSanitizer and valgrind do not count as leaks, and
 * freeing them from a destructor could run after OpenSSL's own atexit
 * clean-up.  pps__tls_ctx_cache_clear() drops them for a host that
 * unloads the library (a plug-in) or a test.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "pps/transport.h"
#include "tls.h"
#include "sock.h"
#include "../core/internal.h"

/* What stat() said about a file of a trust setting; exists 0 when the
 * file is missing (the system store's folder may be). */
typedef struct file_id {
    int exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
} file_id;

typedef struct ctx_key {
    const char *file; /* tls_ca_file, or the system store's file */
    const char *dir;  /* tls_ca_path, or the system store's folder */
    int system;       /* 1: the system store */
    int min_version;
} ctx_key;

typedef struct ctx_entry {
    char *file, *dir; /* owned copies of the key; NULL when unset */
    int system;
    int min_version;
    file_id file_sig, dir_sig;
    long long loaded_ms;      /* pps__now_ms() when the store was loaded */
    unsigned long long trust; /* the trust id: see the top of this file */
    unsigned long long used;  /* tick of the last use: LRU */
    SSL_CTX *ctx;             /* the cache's reference */
} ctx_entry;

static struct {
    pthread_mutex_t lock;
    ctx_entry entries[PPS__TLS_CTX_CACHE_MAX];
    size_t count;
    unsigned long long tick;
    long long max_age_ms;
    unsigned long loads, hits;
    unsigned long long trust_ids; /* the last trust id handed out */
} cache = {PTHREAD_MUTEX_INITIALIZER, {{0}}, 0, 0,
           PPS__TLS_CTX_MAX_AGE_MS,   0,     0, 0};

/* --- building a context ------------------------------------------------ */

/* A clear word for the usual mistakes (missing file, file for folder)
 * before OpenSSL says "system lib". */
static int check_trust_path(const char *key, const char *path, int want_dir)
{
    struct stat st;
    char errbuf[128];

    if (stat(path, &st) < 0)
        return pps__error_set(PPS_ECONFIG, "%s %s: %s", key, path,
                              pps__strerror(errno, errbuf, sizeof(errbuf)));
    if (want_dir && !S_ISDIR(st.st_mode))
        return pps__error_set(PPS_ECONFIG,
                              "tls_ca_path %s is not a folder "
                              "(use tls_ca_file for a PEM file)",
                              path);
    if (!want_dir && S_ISDIR(st.st_mode))
        return pps__error_set(PPS_ECONFIG,
                              "tls_ca_file %s is a folder "
                              "(use tls_ca_path for a hashed folder)",
                              path);
    return 0;
}

static int load_trust(SSL_CTX *ctx, const ctx_key *key)
{
    int err;

    if (key->system) {
        if (SSL_CTX_set_default_verify_paths(ctx) != 1)
            return pps__tls_error(PPS_ETLS,
                                  "cannot load the system's CA store");
        return 0;
    }
    if (key->file && (err = check_trust_path("tls_ca_file", key->file, 0)) < 0)
        return err;
    if (key->dir && (err = check_trust_path("tls_ca_path", key->dir, 1)) < 0)
        return err;
    if (SSL_CTX_load_verify_locations(ctx, key->file, key->dir) != 1) {
        char what[PPS__ERROR_MESSAGE_MAX / 2];
        pps__snprintf(what, sizeof(what), "cannot load tls_ca_file %s",
                      key->file ? key->file : "(none)");
        return pps__tls_error(PPS_ECONFIG, what);
    }
    return 0;
}

/* A new context for key: the trust store, the version floor and the
 * options every connection shares. */
static int new_context(SSL_CTX **out, const ctx_key *key)
{
    SSL_CTX *ctx;
    int err;

    *out = NULL;
    ERR_clear_error();
    if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
        return pps__tls_error(PPS_ETLS, "cannot create a TLS context");
    if (SSL_CTX_set_min_proto_version(ctx, key->min_version) != 1) {
        err = pps__tls_error(PPS_ETLS, "cannot set the lowest TLS version");
        goto fail;
    }
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF |
                                 SSL_OP_NO_COMPRESSION |
                                 SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    /* Sessions are handed to tls-session.c, which keeps each under the
     * key that decides what a full handshake would check; OpenSSL's own
     * cache (keyed by nothing a client can use) stays empty. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
                                            SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, pps__tls_session_new_cb);
    if ((err = load_trust(ctx, key)) < 0)
        goto fail;
    *out = ctx;
    return 0;

fail:
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return err;
}

/* --- the table --------------------------------------------------------- */

static void file_stat(file_id *sig, const char *path)
{
    struct stat st;

    memset(sig, 0, sizeof(*sig));
    if (path == NULL || stat(path, &st) < 0)
        return;
    sig->exists = 1;
    sig->dev = st.st_dev;
    sig->ino = st.st_ino;
    sig->size = st.st_size;
    sig->mtime = st.st_mtim;
    sig->ctime = st.st_ctim;
}

static int sig_equal(const file_id *a, const file_id *b)
{
    if (a->exists != b->exists)
        return 0;
    return !a->exists ||
           (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
            a->mtime.tv_sec == b->mtime.tv_sec &&
            a->mtime.tv_nsec == b->mtime.tv_nsec &&
            a->ctime.tv_sec == b->ctime.tv_sec &&
            a->ctime.tv_nsec == b->ctime.tv_nsec);
}

static int str_equal(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static ctx_entry *find(const ctx_key *key)
{
    size_t i;

    for (i = 0; i < cache.count; i++) {
        ctx_entry *e = &cache.entries[i];
        if (e->system == key->system && e->min_version == key->min_version &&
            str_equal(e->file, key->file) && str_equal(e->dir, key->dir))
            return e;
    }
    return NULL;
}

static void entry_free(ctx_entry *e)
{
    SSL_CTX_free(e->ctx);
    pps__free(e->file);
    pps__free(e->dir);
    memset(e, 0, sizeof(*e));
}

/* Drop entry e from the table (the last one moves into its place). */
static void entry_remove(ctx_entry *e)
{
    ctx_entry *last = &cache.entries[cache.count - 1];

    entry_free(e);
    if (e != last) {
        *e = *last;
        memset(last, 0, sizeof(*last));
    }
    cache.count--;
}

/* A free slot, evicting the least recently used entry when full. */
static ctx_entry *free_slot(void)
{
    ctx_entry *lru;
    size_t i;

    if (cache.count < PPS__TLS_CTX_CACHE_MAX)
        return &cache.entries[cache.count++];
    lru = &cache.entries[0];
    for (i = 1; i < cache.count; i++)
        if (cache.entries[i].used < lru->used)
            lru = &cache.entries[i];
    entry_free(lru);
    return lru;
}

static int copy_string(char **out, const char *s)
{
    *out = NULL;
    if (s && (*out = pps__strdup(s)) == NULL)
        return pps__error_oom();
    return 0;
}

static int fresh(const ctx_entry *e, const file_id *file_sig,
                 const file_id *dir_sig, long long now)
{
    return sig_equal(&e->file_sig, file_sig) &&
           sig_equal(&e->dir_sig, dir_sig) &&
           now - e->loaded_ms < cache.max_age_ms;
}

/* Under the lock: a reference to the context for key, loaded (again)
 * unless a fresh one is in the table, and its trust id. */
static int get_locked(SSL_CTX **out, unsigned long long *trust,
                      const ctx_key *key, const file_id *file_sig,
                      const file_id *dir_sig)
{
    ctx_entry *e = find(key), fresh_entry;
    long long now = pps__now_ms();
    int err;

    if (e && fresh(e, file_sig, dir_sig, now)) {
        cache.hits++;
        e->used = ++cache.tick;
        SSL_CTX_up_ref(e->ctx);
        *out = e->ctx;
        *trust = e->trust;
        return 0;
    }
    /* Load first: when the files have become unusable, a stale entry must
     * not be handed out again, and the new transport fails as it would
     * have with no cache. */
    memset(&fresh_entry, 0, sizeof(fresh_entry));
    if ((err = copy_string(&fresh_entry.file, key->file)) < 0 ||
        (err = copy_string(&fresh_entry.dir, key->dir)) < 0 ||
        (err = new_context(&fresh_entry.ctx, key)) < 0) {
        entry_free(&fresh_entry);
        if (e)
            entry_remove(e);
        return err;
    }
    cache.loads++;
    fresh_entry.system = key->system;
    fresh_entry.min_version = key->min_version;
    fresh_entry.file_sig = *file_sig;
    fresh_entry.dir_sig = *dir_sig;
    fresh_entry.loaded_ms = now;
    fresh_entry.used = ++cache.tick;
    /* Only the age made it load again: the same files, the same trust. */
    fresh_entry.trust = e && sig_equal(&e->file_sig, file_sig) &&
                                sig_equal(&e->dir_sig, dir_sig)
                            ? e->trust
                            : ++cache.trust_ids;
    if (e)
        entry_free(e);
    else
        e = free_slot();
    *e = fresh_entry;
    SSL_CTX_up_ref(e->ctx);
    *out = e->ctx;
    *trust = e->trust;
    return 0;
}

/* The files OpenSSL's default paths name: the environment's, else the
 * built-in ones (X509_get_default_cert_file(), ..._dir()). */
static void system_paths(ctx_key *key)
{
    const char *file = getenv(X509_get_default_cert_file_env());
    const char *dir = getenv(X509_get_default_cert_dir_env());

    key->file = file ? file : X509_get_default_cert_file();
    key->dir = dir ? dir : X509_get_default_cert_dir();
}

int pps__tls_ctx_get(SSL_CTX **out, unsigned long long *trust,
                     const char *ca_file, const char *ca_path, int min_version)
{
    ctx_key key = {ca_file, ca_path, 0, min_version};
    file_id file_sig, dir_sig;
    unsigned long long id = 0;
    int err;

    *out = NULL;
    if (ca_file == NULL && ca_path == NULL) {
        key.system = 1;
        system_paths(&key);
    }
    /* Before the load: a file that changes while it is read is seen as
     * changed next time. */
    file_stat(&file_sig, key.file);
    file_stat(&dir_sig, key.dir);
    if (pthread_mutex_lock(&cache.lock) != 0)
        return pps__error_set(PPS_ERROR, "cannot lock the TLS context cache");
    err = get_locked(out, &id, &key, &file_sig, &dir_sig);
    pthread_mutex_unlock(&cache.lock);
    if (trust)
        *trust = id;
    return err;
}

void pps__tls_ctx_cache_clear(void)
{
    if (pthread_mutex_lock(&cache.lock) != 0)
        return;
    while (cache.count > 0)
        entry_remove(&cache.entries[cache.count - 1]);
    pthread_mutex_unlock(&cache.lock);
}

void pps_tls_cache_clear(void)
{
    pps__tls_ctx_cache_clear();
    pps__tls_session_cache_clear();
}

void pps__tls_ctx_cache_stats(pps__tls_ctx_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (pthread_mutex_lock(&cache.lock) != 0)
        return;
    out->entries = cache.count;
    out->loads = cache.loads;
    out->hits = cache.hits;
    pthread_mutex_unlock(&cache.lock);
}

void pps__tls_ctx_cache_set_max_age(long long ms)
{
    if (pthread_mutex_lock(&cache.lock) != 0)
        return;
    cache.max_age_ms = ms < 0 ? PPS__TLS_CTX_MAX_AGE_MS : ms;
    pthread_mutex_unlock(&cache.lock);
}
