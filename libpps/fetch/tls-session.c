/*
 * tls-session.c - TLS sessions kept between polls of the same server, to
 * resume instead of making a full handshake (see tls.h, docs/tls.md).
 *
 * A full handshake costs the client most of its TLS CPU: parsing the
 * server's certificate chain, checking its signatures and the server's
 * handshake signature.  A resumed one (a TLS 1.3 ticket with a fresh
 * ECDHE exchange, or a TLS 1.2 session) skips all three.  A hosting setup
 * that polls many accounts on one server pays the full price once per
 * PPS__TLS_SESSION_MAX_AGE_MS instead of once per poll.
 *
 * OpenSSL's own client cache is off (SSL_SESS_CACHE_NO_INTERNAL_STORE on
 * the shared contexts): a session is only ever offered from this table,
 * under a key that holds everything that decides what a full handshake
 * would check: the host, the name checked and sent as SNI, the port, the
 * trust store (an id from tls-ctx.c that changes when the CA files do)
 * and the pin.  A resumed session carries the certificate and the
 * verification result of the full handshake it came from, so a session
 * found under the key passed exactly the checks this connection would
 * make; tls.c still checks the carried certificate again (name, dates,
 * verification result, pin) before it uses the connection.  Connections
 * with verification turned off neither keep nor get sessions.
 *
 * Sessions arrive through the contexts' new-session callback: during the
 * handshake for TLS 1.2, after it (with the first read) for TLS 1.3.  One
 * that arrives before tls.c has accepted the connection waits on the
 * connection (struct conn, the SSL's app data) and is kept only when the
 * connection is accepted; a refused one is never kept.
 *
 * Process-wide like the context table, one mutex, at most
 * PPS__TLS_SESSION_CACHE_MAX keys, the least recently used dropped first;
 * one session per key (the newest: parallel polls of the same server may
 * offer it at once, which TLS 1.3 tickets allow; a server that refuses it
 * gives a full handshake).  Sessions are kept as long as the server said
 * (the ticket lifetime), never longer than PPS__TLS_SESSION_MAX_AGE_MS
 * after the full handshake that verified the certificate (resumptions
 * bring new tickets; they do not extend that), and never past the end of
 * the certificate's validity.  A failed handshake forgets its key's
 * session.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "tls.h"
#include "../core/internal.h"

typedef struct owned_key {
    char *host, *name; /* one allocation: name follows host */
    unsigned int port;
    unsigned long long trust;
    int has_pin;
    unsigned char pin[PPS__FINGERPRINT_LEN];
} owned_key;

typedef struct entry {
    owned_key key;
    SSL_SESSION *session;    /* the table's reference */
    long long auth_ms;       /* pps__now_ms() of the full handshake */
    unsigned long long used; /* tick of the last use: LRU */
} entry;

/* What a connection needs to keep its sessions (the SSL's app data). */
typedef struct conn {
    owned_key key;
    long long auth_ms;    /* the offered session's, until accepted */
    SSL_SESSION *pending; /* arrived before acceptance; owned */
    int accepted;
} conn;

static struct {
    pthread_mutex_t lock;
    entry entries[PPS__TLS_SESSION_CACHE_MAX];
    size_t count;
    unsigned long long tick;
    long long max_age_ms;
    unsigned long stored, offered, resumed;
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER,
           .max_age_ms = PPS__TLS_SESSION_MAX_AGE_MS};

/* --- keys ---------------------------------------------------------------- */

static int key_copy(owned_key *out, const pps__tls_session_key *key)
{
    size_t h = strlen(key->host) + 1, n = strlen(key->name) + 1;

    memset(out, 0, sizeof(*out));
    if ((out->host = pps__malloc(h + n)) == NULL)
        return -1;
    memcpy(out->host, key->host, h);
    out->name = out->host + h;
    memcpy(out->name, key->name, n);
    out->port = key->port;
    out->trust = key->trust;
    if (key->pin) {
        out->has_pin = 1;
        memcpy(out->pin, key->pin, sizeof(out->pin));
    }
    return 0;
}

static int key_clone(owned_key *out, const owned_key *key)
{
    pps__tls_session_key k = {key->host, key->name, key->port, key->trust,
                              key->has_pin ? key->pin : NULL};

    return key_copy(out, &k);
}

static void key_free(owned_key *key)
{
    pps__free(key->host);
    memset(key, 0, sizeof(*key));
}

static int key_equal(const owned_key *a, const owned_key *b)
{
    return a->port == b->port && a->trust == b->trust &&
           a->has_pin == b->has_pin &&
           (!a->has_pin || memcmp(a->pin, b->pin, sizeof(a->pin)) == 0) &&
           strcmp(a->host, b->host) == 0 && strcmp(a->name, b->name) == 0;
}

/* --- the table (under the lock) ------------------------------------------ */

static entry *find(const owned_key *key)
{
    size_t i;

    for (i = 0; i < cache.count; i++)
        if (key_equal(&cache.entries[i].key, key))
            return &cache.entries[i];
    return NULL;
}

/* Empty slot e: its session and key freed. */
static void entry_free(entry *e)
{
    SSL_SESSION_free(e->session);
    key_free(&e->key);
    memset(e, 0, sizeof(*e));
}

/* Drop entry e from the table (the last one moves into its place). */
static void entry_remove(entry *e)
{
    entry *last = &cache.entries[cache.count - 1];

    entry_free(e);
    if (e != last) {
        *e = *last;
        memset(last, 0, sizeof(*last));
    }
    cache.count--;
}

/* A free slot, dropping the least recently used entry when full. */
static entry *free_slot(void)
{
    entry *lru;
    size_t i;

    if (cache.count < PPS__TLS_SESSION_CACHE_MAX)
        return &cache.entries[cache.count++];
    lru = &cache.entries[0];
    for (i = 1; i < cache.count; i++)
        if (cache.entries[i].used < lru->used)
            lru = &cache.entries[i];
    entry_free(lru);
    return lru;
}

/* 1 while e's session may be offered: the server's lifetime, ours, and
 * (unless pinned: a pin ignores dates) the certificate's. */
static int usable(const entry *e, long long now_ms)
{
    SSL_SESSION *s = e->session;
    X509 *leaf = SSL_SESSION_get0_peer(s);
    time_t now = time(NULL);

    if (!SSL_SESSION_is_resumable(s) || leaf == NULL ||
        now >= (time_t)SSL_SESSION_get_time(s) + SSL_SESSION_get_timeout(s) ||
        now_ms - e->auth_ms >= cache.max_age_ms)
        return 0;
    return e->key.has_pin || X509_cmp_time(X509_get0_notAfter(leaf), &now) > 0;
}

/* Keep session (whose reference the caller gives) under key. */
static void store(const owned_key *key, SSL_SESSION *session, long long auth_ms)
{
    owned_key copy;
    entry *e;

    if (pthread_mutex_lock(&cache.lock) != 0) {
        SSL_SESSION_free(session);
        return;
    }
    if ((e = find(key)) != NULL) {
        SSL_SESSION_free(e->session);
    } else if (key_clone(&copy, key) < 0) {
        SSL_SESSION_free(session); /* no memory: no resumption */
        goto done;
    } else {
        e = free_slot();
        e->key = copy;
    }
    e->session = session;
    e->auth_ms = auth_ms;
    e->used = ++cache.tick;
    cache.stored++;
done:
    pthread_mutex_unlock(&cache.lock);
}

/* --- connections -----------------------------------------------------------
 */

void pps__tls_session_offer(SSL *ssl, const pps__tls_session_key *key)
{
    conn *c = pps__calloc(1, sizeof(*c));
    entry *e;

    if (c == NULL)
        return;
    if (key_copy(&c->key, key) < 0) {
        pps__free(c);
        return;
    }
    SSL_set_app_data(ssl, c);
    if (pthread_mutex_lock(&cache.lock) != 0)
        return;
    if ((e = find(&c->key)) != NULL) {
        if (!usable(e, pps__now_ms())) {
            entry_remove(e);
        } else if (SSL_set_session(ssl, e->session) == 1) {
            c->auth_ms = e->auth_ms;
            e->used = ++cache.tick;
            cache.offered++;
        }
    }
    pthread_mutex_unlock(&cache.lock);
}

void pps__tls_session_accept(SSL *ssl)
{
    conn *c = SSL_get_app_data(ssl);
    SSL_SESSION *pending;

    if (c == NULL)
        return;
    c->accepted = 1;
    if (!SSL_session_reused(ssl)) {
        c->auth_ms = pps__now_ms(); /* the certificate was verified now */
    } else if (pthread_mutex_lock(&cache.lock) == 0) {
        cache.resumed++;
        pthread_mutex_unlock(&cache.lock);
    }
    if ((pending = c->pending) != NULL) {
        c->pending = NULL;
        store(&c->key, pending, c->auth_ms);
    }
}

void pps__tls_session_reject(SSL *ssl)
{
    conn *c = SSL_get_app_data(ssl);
    entry *e;

    if (c == NULL || pthread_mutex_lock(&cache.lock) != 0)
        return;
    if ((e = find(&c->key)) != NULL)
        entry_remove(e);
    pthread_mutex_unlock(&cache.lock);
}

void pps__tls_session_detach(SSL *ssl)
{
    conn *c = SSL_get_app_data(ssl);

    if (c == NULL)
        return;
    SSL_set_app_data(ssl, NULL);
    SSL_SESSION_free(c->pending);
    key_free(&c->key);
    pps__free(c);
}

int pps__tls_session_new_cb(SSL *ssl, SSL_SESSION *session)
{
    conn *c = SSL_get_app_data(ssl);

    /* No conn: verification is off (or there was no memory); keep none. */
    if (c == NULL || !SSL_SESSION_is_resumable(session))
        return 0;
    if (!c->accepted) {
        /* TLS 1.2: before tls.c has checked the pin; keep the newest. */
        SSL_SESSION_free(c->pending);
        c->pending = session;
        return 1;
    }
    store(&c->key, session, c->auth_ms);
    return 1; /* the reference OpenSSL gave is the table's now */
}

/* --- the whole table -------------------------------------------------------
 */

void pps__tls_session_cache_clear(void)
{
    if (pthread_mutex_lock(&cache.lock) != 0)
        return;
    while (cache.count > 0)
        entry_remove(&cache.entries[cache.count - 1]);
    pthread_mutex_unlock(&cache.lock);
}

void pps__tls_session_cache_stats(pps__tls_session_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (pthread_mutex_lock(&cache.lock) != 0)
        return;
    out->entries = cache.count;
    out->stored = cache.stored;
    out->offered = cache.offered;
    out->resumed = cache.resumed;
    pthread_mutex_unlock(&cache.lock);
}

int pps__tls_session_put(const pps__tls_session_key *key, SSL_SESSION *session,
                         long long auth_ms)
{
    owned_key k;

    if (key_copy(&k, key) < 0)
        return pps__error_oom();
    SSL_SESSION_up_ref(session);
    store(&k, session, auth_ms);
    key_free(&k);
    return 0;
}

void pps__tls_session_cache_set_max_age(long long ms)
{
    if (pthread_mutex_lock(&cache.lock) != 0)
        return;
    cache.max_age_ms = ms < 0 ? PPS__TLS_SESSION_MAX_AGE_MS : ms;
    pthread_mutex_unlock(&cache.lock);
}
