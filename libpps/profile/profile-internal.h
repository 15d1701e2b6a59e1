/*
 * libpps/profile/profile-internal.h - shared by the files of the profile
 * part: the key tables, the value checkers, the config text reader.
 */
#ifndef PPS_PROFILE_INTERNAL_H
#define PPS_PROFILE_INTERNAL_H

#include <stddef.h>

#include "pps/profile.h"
#include "pps/profile_store.h"

/* --- value types and key tables (keys.c, values.c) --------------------- */

typedef enum pps__value_type {
    PPS__T_TEXT,          /* printable text (UTF-8), e.g. the remote user */
    PPS__T_SECRET,        /* the password: never quoted in errors */
    PPS__T_PATH,          /* an absolute path */
    PPS__T_PATH_TEMPLATE, /* an absolute path with %u, %d, %% */
    PPS__T_COMMAND,       /* a shell command line */
    PPS__T_SERVER,        /* "host [port[s]]", pps_server_parse */
    PPS__T_ENDPOINT,      /* "host:port" or an absolute unix socket path */
    PPS__T_BOOL,          /* yes/no/true/false/on/off/1/0 -> yes|no */
    PPS__T_DURATION,      /* 90, 30s, 10m, 1h, 7d -> largest exact unit */
    PPS__T_SIZE,          /* 1000, 64k, 10M, 1G (binary) */
    PPS__T_COUNT,         /* a decimal number */
    PPS__T_ENUM,          /* one of `choices`, case-insensitive */
    PPS__T_FINGERPRINT,   /* SHA-256: 64 hex digits, ':' allowed between */
    PPS__T_DOMAIN,        /* a DNS name, lower-cased */
    PPS__T_LOCALPART,     /* a local user or alias name */
    PPS__T_SYSUSER,       /* a system account name, may be empty */
    PPS__T_ADDRESS,       /* local@domain, or empty for <> */
    PPS__T_DOMAIN_LIST,   /* domains separated by ',' or blanks */
    PPS__T_HEADER_LIST,   /* header field names separated by ',' or blanks */
    PPS__T_ALIASES,       /* alias:user, alias2:user2 */
    PPS__T_SEPARATOR      /* "" (off) or up to 8 punctuation characters */
} pps__value_type;

#define PPS__KEY_REQUIRED 1u /* pps_profile_validate wants it */
#define PPS__KEY_SECRET   2u /* masked in output, never in errors */
#define PPS__KEY_EMPTY_OK 4u /* "" is a value */

typedef struct pps__key {
    const char *name;
    pps__value_type type;
    const char *default_value;   /* canonical, or NULL */
    unsigned long long min, max; /* numbers: the accepted range */
    const char *const *choices;  /* enums: NULL-terminated */
    unsigned int flags;
    const char *summary; /* one line for help and the man page check */
} pps__key;

/* A value as stored: canonical text, and the items of a list. */
typedef struct pps__value {
    char *text;   /* NULL: not set */
    char **items; /* lists only */
    size_t count;
} pps__value;

/* The profile keys in canonical (serialisation) order. */
extern const pps__key pps__profile_keys[];
extern const size_t pps__profile_key_count;

/* pps.conf: one table per section. */
typedef struct pps__section {
    const char *name;
    const pps__key *keys;
    size_t count;
} pps__section;
extern const pps__section pps__config_sections[];
extern const size_t pps__config_section_count;

/* The index of `name` in `keys`, or -1. */
long pps__key_find(const pps__key *keys, size_t count, const char *name);

/*
 * Write into `buf` " (did you mean 'x'?)" for the closest of `names`
 * (edit distance <= 2, or the same after folding case and '-'), or "".
 * `names` is read with `stride` bytes between entries (a table of structs
 * whose first member is the name).
 */
void pps__suggest(char *buf, size_t size, const char *word, const void *names,
                  size_t count, size_t stride);

/*
 * Check `value` for key `k` and store its canonical form in *out (the
 * previous content of *out is freed only on success).  Returns 0;
 * PPS_ECONFIG with why[] set to a sentence that never contains a secret;
 * or PPS_ENOMEM.
 */
int pps__value_set(pps__value *out, const pps__key *k, const char *value,
                   char *why, size_t why_size);

/* Free a value's storage (wiping a secret) and zero it. */
void pps__value_clear(pps__value *v, const pps__key *k);

/* Deep-copy a value. */
int pps__value_copy(pps__value *out, const pps__value *in);

/* Numeric forms of canonical values (only called on checked values). */
unsigned long long pps__value_number(const char *canonical);
int pps__value_bool(const char *canonical);
long pps__value_choice(const pps__key *k, const char *canonical);

/* 1 when the text must be written in quotes to read back the same. */
int pps__value_needs_quotes(const char *text);

/* --- the config text reader (conffile.c) ------------------------------- */

/*
 * Called for each `key = value` line; `section` is NULL before the first
 * [section] header (and always in profile files).  A section header
 * itself is reported with key and value NULL.  Returns 0 to go on, or
 * a PPS_E* code (with the error detail set) to stop.
 */
typedef int (*pps__conf_fn)(const char *section, const char *key,
                            const char *value, size_t line, void *payload);

/*
 * Read `len` bytes of config text.  Rejects text over PPS_CONFIG_TEXT_MAX
 * and lines over PPS_CONFIG_LINE_MAX (PPS_ETOOBIG), NUL bytes, bad UTF-8,
 * control characters and syntax errors (PPS_ECONFIG), each with
 * "origin:line: ".  Section headers are an error unless allow_sections.
 */
int pps__conf_parse(const char *text, size_t len, const char *origin,
                    int allow_sections, pps__conf_fn fn, void *payload);

/* Check that `len` bytes are valid UTF-8 (RFC 3629): 1 yes, 0 no. */
int pps__utf8_valid(const char *s, size_t len);

/* --- profile internals (profile.c) ------------------------------------- */

/* Set a key with the error detail prefixed by `where` ("file:7"). */
int pps__profile_set_at(pps_profile *p, const char *key, const char *value,
                        const char *where);

/* Remember the file a profile came from (for validate's errors). */
int pps__profile_set_origin(pps_profile *p, const char *origin);

/* The stored value of key index i (NULL text when unset). */
const pps__value *pps__profile_value(const pps_profile *p, size_t i);

/* 1 when a and b have the same name and the same values. */
int pps__profile_equal(const pps_profile *a, const pps_profile *b);

/* --- secrets (secret.c) ------------------------------------------------ */

/* Bounds of password sources; see pps_profile_get_secret(). */
#define PPS__SECRET_COMMAND_TIMEOUT_MS 30000
#define PPS__SECRET_OUTPUT_MAX         (64 * 1024) /* OAuth2 tokens are ~2-4 KiB */

/*
 * Run `command` with /bin/sh -c and return the first line of its output
 * (without CR LF) in *out, freed with pps_secret_free().  `who` names the
 * profile in errors.  The tests call this with short limits.
 */
int pps__secret_run_command(char **out, size_t *len, const char *command,
                            const char *who, int timeout_ms, size_t output_max);

/* The first line of `path`, refused when group may write or others may
 * read or write it. */
int pps__secret_read_file(char **out, size_t *len, const char *path,
                          const char *who);

/* --- file helpers (fileio.c) ------------------------------------------- */

/*
 * Read a whole file of at most PPS_CONFIG_TEXT_MAX bytes from an open fd
 * into *out (NUL-terminated, *len bytes).  PPS_ETOOBIG when longer.
 */
int pps__read_fd_bounded(char **out, size_t *len, int fd, const char *path,
                         size_t max);

/* --- the file store (store-dir.c) -------------------------------------- */

/* The payload of `store` when its ops are `ops` (same list slot), else
 * NULL: lets a store's own helpers recognise their stores. */
void *pps__store_payload(pps_profile_store *store,
                         const pps_profile_store_ops *ops);

/* Test hook: make the next save fail at this step. */
typedef enum pps__store_fault {
    PPS__STORE_FAULT_NONE = 0,
    PPS__STORE_FAULT_WRITE, /* after part of the text is written */
    PPS__STORE_FAULT_FSYNC, /* after the write, before the rename */
    PPS__STORE_FAULT_RENAME /* the rename itself */
} pps__store_fault;

/* Set the fault for the next save of a store made by
 * pps_profile_store_open_dir(); 0 or PPS_EINVAL for another store. */
int pps__store_dir_set_fault(pps_profile_store *store, pps__store_fault f);

#endif /* PPS_PROFILE_INTERNAL_H */
