/*
 * map.c - the ledger's hash table: O(1) lookups by UIDL for mailboxes of
 * 100k messages, keyed with SipHash so a hostile server cannot choose
 * UIDLs that all land in one bucket.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "core/internal.h"
#include "ledger-internal.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND           \
    do {                   \
        v0 += v1;          \
        v1 = ROTL(v1, 13); \
        v1 ^= v0;          \
        v0 = ROTL(v0, 32); \
        v2 += v3;          \
        v3 = ROTL(v3, 16); \
        v3 ^= v2;          \
        v0 += v3;          \
        v3 = ROTL(v3, 21); \
        v3 ^= v0;          \
        v2 += v1;          \
        v1 = ROTL(v1, 17); \
        v1 ^= v2;          \
        v2 = ROTL(v2, 32); \
    } while (0)

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t pps__siphash24(uint64_t k0, uint64_t k1, const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    uint64_t v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = (uint64_t)len << 56;
    size_t left = len & 7;
    const unsigned char *end = p + (len - left);

    for (; p != end; p += 8) {
        uint64_t m = load_le64(p);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t i = 0; i < left; i++)
        b |= (uint64_t)p[i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

void pps__map_init(pps__map *m)
{
    unsigned char k[16];

    memset(m, 0, sizeof(*m));
    if (RAND_bytes(k, (int)sizeof(k)) == 1) {
        m->k0 = load_le64(k);
        m->k1 = load_le64(k + 8);
    } else {
        /* No randomness: still correct, only predictable. */
        m->k0 = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
        m->k1 = (uint64_t)(uintptr_t)m;
    }
}

void pps__map_dispose(pps__map *m)
{
    pps__free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = 0;
    m->count = 0;
}

uint64_t pps__map_hash(const pps__map *m, const char *key, size_t len)
{
    return pps__siphash24(m->k0, m->k1, key, len);
}

pps__map_node *pps__map_find(const pps__map *m, const char *key, size_t len)
{
    uint64_t h;
    pps__map_node *n;

    if (!m->nbuckets)
        return NULL;
    h = pps__map_hash(m, key, len);
    for (n = m->buckets[h & (m->nbuckets - 1)]; n; n = n->next) {
        if (n->hash == h && n->keylen == len && !memcmp(n->key, key, len))
            return n;
    }
    return NULL;
}

static int grow(pps__map *m)
{
    size_t nb = m->nbuckets ? m->nbuckets * 2 : 64;
    pps__map_node **b;

    if (nb > ((size_t)-1) / sizeof(*b))
        return pps__error_set(PPS_ETOOBIG, "ledger: hash table too large");
    b = pps__calloc(nb, sizeof(*b));
    if (!b)
        return pps__error_oom();
    for (size_t i = 0; i < m->nbuckets; i++) {
        pps__map_node *n = m->buckets[i], *next;
        for (; n; n = next) {
            next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
        }
    }
    pps__free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
    return 0;
}

int pps__map_insert(pps__map *m, pps__map_node *node)
{
    int err;
    size_t i;

    if (m->count >= m->nbuckets && (err = grow(m)) < 0)
        return err;
    node->hash = pps__map_hash(m, node->key, node->keylen);
    i = node->hash & (m->nbuckets - 1);
    node->next = m->buckets[i];
    m->buckets[i] = node;
    m->count++;
    return 0;
}

void pps__map_remove(pps__map *m, pps__map_node *node)
{
    pps__map_node **pp;

    if (!m->nbuckets)
        return;
    for (pp = &m->buckets[node->hash & (m->nbuckets - 1)]; *pp;
         pp = &(*pp)->next) {
        if (*pp == node) {
            *pp = node->next;
            m->count--;
            return;
        }
    }
}

pps__map_node *pps__map_next(const pps__map *m, size_t *bucket,
                             pps__map_node **next)
{
    pps__map_node *n = *next;

    while (!n) {
        if (*bucket >= m->nbuckets)
            return NULL;
        n = m->buckets[(*bucket)++];
    }
    *next = n->next;
    return n;
}
