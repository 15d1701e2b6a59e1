/*
 * libpps/ledger/ledger-internal.h - pieces of the ledger shared by its
 * files and reached by the white-box tests.
 */
#ifndef PPS_LEDGER_INTERNAL_H
#define PPS_LEDGER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "pps/ledger.h"
#include "pps/ledger_store.h"

/* --- a store (store.c) -----------------------------------------------------
 */

struct pps_ledger_store {
    pps_ledger_store_ops ops; /* a copy */
    void *payload;            /* owned: ops.free releases it */
};

/* --- one record as a line of text (record.c) ----------------------------- */

/*
 * "cccccccc T field field ...\n": CRC-32 (IEEE) in hex of what follows the
 * blank, up to the newline.  Fields are %-escaped (blank, control, 8-bit,
 * '%'); "-" is the empty string.  The longest record is a FAILED/SEEN line
 * with a 128-byte uid and a 254-byte recipient fully escaped (3 bytes
 * each) or a STATUS line with its 255-byte text: all well under this cap.
 */
#define PPS__LEDGER_LINE_MAX 2048

/* The first line of every file: magic, format version, host, user. */
#define PPS__LEDGER_MAGIC  "PPSLEDGER"
#define PPS__LEDGER_FORMAT 1

uint32_t pps__ledger_crc32(const void *data, size_t len);

/* Write `rec` as one line (with '\n') into buf; returns its length, or
 * PPS_ETOOBIG.  buf holds PPS__LEDGER_LINE_MAX bytes. */
int pps__ledger_record_encode(char *buf, size_t size,
                              const pps_ledger_record *rec);

/* The header line for (host, user). */
int pps__ledger_header_encode(char *buf, size_t size, const char *host,
                              const char *user);

/*
 * Decoded record: rec's strings point into `line`, which is changed in
 * place (unescaped); status points into *st.  `len` excludes the newline,
 * whose byte line[len] must exist: it becomes the terminating NUL.
 * Returns 0, or PPS_ECONFIG with *why set to a static reason.
 */
int pps__ledger_record_decode(pps_ledger_record *rec, pps_ledger_status *st,
                              char *line, size_t len, const char **why);

/* Decode a header line (same rules); host and user point into line. */
int pps__ledger_header_decode(const char **host, const char **user, char *line,
                              size_t len, const char **why);

/* --- hash table (map.c) --------------------------------------------------- */

/*
 * Chained hash table of intrusive nodes keyed by byte strings, with a
 * SipHash-2-4 key drawn at random per table: UIDLs come from the server,
 * and a fixed hash would let a hostile one make every lookup O(n).
 */
typedef struct pps__map_node {
    struct pps__map_node *next;
    const char *key; /* owned by the containing object */
    size_t keylen;
    uint64_t hash;
} pps__map_node;

typedef struct pps__map {
    pps__map_node **buckets;
    size_t nbuckets; /* a power of two, or 0 */
    size_t count;
    uint64_t k0, k1;
} pps__map;

void pps__map_init(pps__map *m);
void pps__map_dispose(pps__map *m); /* frees the buckets, not the nodes */
uint64_t pps__map_hash(const pps__map *m, const char *key, size_t len);
pps__map_node *pps__map_find(const pps__map *m, const char *key, size_t len);
/* node->key/keylen set by the caller; the key must not be present. */
int pps__map_insert(pps__map *m, pps__map_node *node);
void pps__map_remove(pps__map *m, pps__map_node *node);
/* Iteration: *bucket = 0, *node = NULL to start; NULL at the end.  The
 * current node may be removed before the next call. */
pps__map_node *pps__map_next(const pps__map *m, size_t *bucket,
                             pps__map_node **next);

/* SipHash-2-4 (Aumasson, Bernstein 2012). */
uint64_t pps__siphash24(uint64_t k0, uint64_t k1, const void *data, size_t len);

/* --- file store seams (file-store.c) -------------------------------------- */

/* The system calls whose failures the tests inject. */
typedef struct pps__ledger_io {
    ssize_t (*write)(int fd, const void *buf, size_t len, void *payload);
    int (*fsync)(int fd, void *payload);
    void *payload;
} pps__ledger_io;

/* Replace the I/O of a file store (NULL: the real system calls). */
void pps__ledger_file_store_set_io(pps_ledger_store *store,
                                   const pps__ledger_io *io);

/* The path of the ledger file of (host, user) in the store's folder, for
 * tests: writes into buf, returns 0 or PPS_ETOOBIG. */
/* 32 hex digits of SHA-256 over parts[i] (lens[i] bytes each): delivery
 * tags and store file names (fallback.c). */
int pps__ledger_sha256_hex32(char out[33], const char *const *parts,
                             const size_t *lens, size_t n);

int pps__ledger_file_path(char *buf, size_t size, const pps_ledger_store *store,
                          const char *host, const char *user);

/* --- ledger seams (ledger.c) ---------------------------------------------- */

/* The host as it names a ledger: ASCII lower case, no trailing dot. */
void pps__ledger_host_normalize(char *host);

typedef time_t (*pps__ledger_clock)(void *payload);
/* Tests move time: NULL restores time(). */
void pps__ledger_set_clock(pps_ledger *l, pps__ledger_clock clock,
                           void *payload);

/* Records in the store now (loaded + appended) and records a compaction
 * would keep: what the compaction trigger compares. */
void pps__ledger_record_counts(const pps_ledger *l, size_t *on_disk,
                               size_t *live);

#endif /* PPS_LEDGER_INTERNAL_H */
