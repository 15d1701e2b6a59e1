/*
 * pps/profile.h - profiles (one remote mailbox each) and the global pps.conf.
 *
 * A profile pairs one remote POP3 account with one local user and domain.
 * It is a named set of settings, each known by the key it has in the
 * profile file (`local_user`, `tls_ca_file`, ...: the long option names of
 * `pps profile add` with '_' for '-').  Every value is checked when it is
 * set and kept in a canonical text form:
 *
 *     pps_profile *p;
 *     if ((err = pps_profile_new(&p, "office")) < 0) ...
 *     err = pps_profile_set(p, "server", "mail.example.com 995s");
 *     err = pps_profile_set(p, "interval", "5m");       (stored as "5m")
 *     ...
 *     if ((err = pps_profile_validate(p)) < 0) ...      (required keys)
 *     pps_profile_settings s = PPS_PROFILE_SETTINGS_INIT;
 *     pps_profile_get_settings(&s, p);                   (typed view)
 *     pps_profile_free(p);
 *
 * Profiles are read from and written to text (pps_profile_parse,
 * pps_profile_serialise); where that text lives is the business of a
 * profile store (pps/profile_store.h).  The password is never given out by
 * pps_profile_get() or by a masked serialisation: only
 * pps_profile_get_secret() returns it, whichever source it comes from (the
 * profile itself, password_file or password_command), in a buffer that
 * pps_secret_free() wipes.
 *
 * The global settings of DIR/pps.conf ([delivery], [service], [aliases])
 * are a pps_config: pps_config_load(&cfg, DIR), pps_config_get(cfg,
 * "delivery", "method"), pps_config_free(cfg).  Every setting has a
 * default, so a missing pps.conf is all defaults.
 *
 * docs/pps.conf.5 documents every key with its default.
 */
#ifndef PPS_PROFILE_H
#define PPS_PROFILE_H

#include "common.h"
#include "server.h"

PPS_BEGIN_DECLS

/* A profile name: 1 to PPS_PROFILE_NAME_MAX of [A-Za-z0-9._-], not starting
 * with '.', so that a name can always be used as a file name safely. */
#define PPS_PROFILE_NAME_MAX 64

/* The text of a profile or of pps.conf is at most this long, and each line
 * at most PPS_CONFIG_LINE_MAX bytes (newline included): no real setting
 * comes near, and the limits keep a stray binary file from being slurped. */
#define PPS_CONFIG_TEXT_MAX (64 * 1024)
#define PPS_CONFIG_LINE_MAX 4096

typedef struct pps_profile pps_profile;

/* 1 when `name` is a valid profile name, 0 otherwise. */
PPS_API int pps_profile_name_is_valid(const char *name);

/*
 * Create an empty profile called `name` (checked with
 * pps_profile_name_is_valid).  *out belongs to the caller, who frees it
 * with pps_profile_free().  Returns 0, PPS_EINVAL (bad name) or PPS_ENOMEM.
 */
PPS_API int pps_profile_new(pps_profile **out, const char *name);

/* A deep copy of `p` into *out, freed with pps_profile_free(). */
PPS_API int pps_profile_dup(pps_profile **out, const pps_profile *p);

/* Free a profile and wipe its password.  NULL does nothing. */
PPS_API void pps_profile_free(pps_profile *p);

/* The profile's name; borrowed from p. */
PPS_API const char *pps_profile_name(const pps_profile *p);

/*
 * Set `key` to `value` (both NUL-terminated).  The value is checked and
 * stored in canonical form ("yes" for "on", "10m" for "600").  Returns 0,
 * or PPS_ECONFIG with a detail naming the profile, the key and why (an
 * unknown key gets a "did you mean" when one is close); p is then
 * unchanged.  Never quotes the password in the detail.
 */
PPS_API int pps_profile_set(pps_profile *p, const char *key, const char *value);

/* Remove `key`, so its default applies.  PPS_ECONFIG for an unknown key. */
PPS_API int pps_profile_unset(pps_profile *p, const char *key);

/* 1 when `key` is set explicitly in p, 0 when not (or unknown). */
PPS_API int pps_profile_is_set(const pps_profile *p, const char *key);

/*
 * The canonical value of `key`: the value set, else the key's default,
 * else NULL (a required key not set yet, or an unknown key).  Borrowed from
 * p; valid until p changes.  The password is returned as "********" when
 * set: use pps_profile_get_secret() for the real thing.
 */
PPS_API const char *pps_profile_get(const pps_profile *p, const char *key);

/*
 * The items of a list-valued key (local_domains, envelope_headers,
 * aliases), in order; `*items` and its strings are borrowed from p and
 * valid until p changes.  Each item of `aliases` is "alias:user".  Returns
 * 0 (count 0 when unset), or PPS_EINVAL for a key that is not a list.
 */
PPS_API int pps_profile_get_list(const char *const **items, size_t *count,
                                 const pps_profile *p, const char *key);

/*
 * Whole-profile checks: server, user, local_user and local_domain are
 * set, exactly one password source is, and the TLS settings agree with
 * the server.  Returns 0 or PPS_ECONFIG naming the profile (and the file
 * it came from, when parsed) and the key.
 */
PPS_API int pps_profile_validate(const pps_profile *p);

/* How a profile asks for transport security (key `tls`). */
typedef enum pps_profile_tls_mode {
    PPS_PROFILE_TLS_REQUIRED = 0,   /* STLS (or implicit TLS) or fail */
    PPS_PROFILE_TLS_IF_OFFERED = 1, /* STLS when CAPA offers it */
    PPS_PROFILE_TLS_NONE = 2        /* never STLS */
} pps_profile_tls_mode;

/* The authentication method (key `auth`). */
typedef enum pps_profile_auth {
    PPS_PROFILE_AUTH_AUTO = 0,
    PPS_PROFILE_AUTH_USER = 1, /* USER/PASS, RFC 1939 */
    PPS_PROFILE_AUTH_APOP = 2,
    PPS_PROFILE_AUTH_PLAIN = 3,
    PPS_PROFILE_AUTH_LOGIN = 4,
    PPS_PROFILE_AUTH_CRAM_MD5 = 5,
    PPS_PROFILE_AUTH_XOAUTH2 = 6,
    PPS_PROFILE_AUTH_OAUTHBEARER = 7
} pps_profile_auth;

/* What happens to mail for a local user that does not exist. */
typedef enum pps_profile_unknown_user {
    PPS_PROFILE_UNKNOWN_FALLBACK = 0, /* deliver to local_user */
    PPS_PROFILE_UNKNOWN_SKIP = 1      /* leave that recipient out (opt-in) */
} pps_profile_unknown_user;

/* What happens when a delivery fails permanently. */
typedef enum pps_profile_on_failure {
    PPS_PROFILE_FAILURE_FALLBACK = 0, /* deliver to local_user instead */
    PPS_PROFILE_FAILURE_KEEP = 1      /* keep the message on the server */
} pps_profile_on_failure;

/*
 * A typed view of a profile, with defaults applied.  Strings are borrowed
 * from the profile and valid until it changes; NULL when not set.  Sizes
 * and counts of 0 mean "no limit" where the key says so.
 */
typedef struct pps_profile_settings {
    unsigned int version; /* PPS_PROFILE_SETTINGS_VERSION */
    const char *name;
    pps_server_address server; /* port 0 when not set */
    const char *user;
    const char *local_user;
    const char *local_domain;
    int distribute;                 /* 1: route by To/Cc (multidrop) */
    unsigned long interval_seconds; /* between polls */
    int keep;                       /* 1: never DELE */
    int enabled;
    pps_profile_tls_mode tls;
    int tls_verify;              /* 1: chain and host name checked */
    const char *tls_ca_file;     /* NULL: the system's CAs */
    const char *tls_fingerprint; /* 64 lower-case hex digits, or NULL */
    int allow_plaintext_password;
    pps_profile_auth auth;
    const char *subaddress_separator; /* "" when off */
    pps_profile_unknown_user unknown_user;
    unsigned long envelope_skip;
    unsigned long long max_message_size; /* bytes; 0 = no limit */
    unsigned long max_messages;          /* per poll; 0 = no limit */
    unsigned long poll_timeout_seconds;
    unsigned long loop_limit;
    unsigned long duplicate_window_seconds;
    unsigned long long header_limit; /* bytes */
    int trace_header;
    pps_profile_on_failure on_permanent_failure;
} pps_profile_settings;

#define PPS_PROFILE_SETTINGS_VERSION 1
#define PPS_PROFILE_SETTINGS_INIT                                            \
    {                                                                        \
        PPS_PROFILE_SETTINGS_VERSION, NULL, PPS_SERVER_ADDRESS_INIT, NULL,   \
            NULL, NULL, 0, 0, 0, 0, PPS_PROFILE_TLS_REQUIRED, 0, NULL, NULL, \
            0, PPS_PROFILE_AUTH_AUTO, NULL, PPS_PROFILE_UNKNOWN_FALLBACK, 0, \
            0, 0, 0, 0, 0, 0, 0, PPS_PROFILE_FAILURE_FALLBACK                \
    }

/* For bindings that cannot use the macro. */
PPS_API void pps_profile_settings_init(pps_profile_settings *s);

/*
 * Fill *out (whose version field must be set) from p, defaults applied.
 * Returns 0, or PPS_EINVAL for a bad version.  Does not validate: call
 * pps_profile_validate() first to be sure the required keys are there.
 */
PPS_API int pps_profile_get_settings(pps_profile_settings *out,
                                     const pps_profile *p);

/* --- text ------------------------------------------------------------- */

/*
 * Parse a profile file's text (`len` bytes, no NUL needed) into *out,
 * named `name`.  `origin` (e.g. "profiles/office.conf") starts every error
 * detail, with the line: "profiles/office.conf:7: key 'intervall' is
 * unknown (did you mean 'interval'?)".  Does not call
 * pps_profile_validate().  *out belongs to the caller.  Returns 0,
 * PPS_ECONFIG, PPS_ETOOBIG (text or a line too long), PPS_EINVAL or
 * PPS_ENOMEM.
 */
PPS_API int pps_profile_parse(pps_profile **out, const char *name,
                              const char *text, size_t len, const char *origin);

/* Flags of pps_profile_serialise(). */
#define PPS_PROFILE_SERIALISE_MASK_SECRETS 1u /* password as ******** */
#define PPS_PROFILE_SERIALISE_NO_HEADER    2u /* no comment header */
#define PPS_PROFILE_SERIALISE_DEFAULTS     4u /* unset keys as comments */

/*
 * The profile as text: a comment header, then one `key = value` line per
 * set key in canonical order, values quoted where needed, so that parsing
 * the text gives back an equal profile.  *out (NUL-terminated, *len bytes
 * without the NUL; len may be NULL) belongs to the caller, who frees it
 * with pps_profile_text_free() because it may hold the password.
 */
PPS_API int pps_profile_serialise(char **out, size_t *len, const pps_profile *p,
                                  unsigned int flags);

/* Wipe and free text from pps_profile_serialise().  NULL does nothing. */
PPS_API void pps_profile_text_free(char *text);

/* --- secrets ---------------------------------------------------------- */

/*
 * The password (or OAuth2 access token) of p, from whichever source p
 * names: the stored password, the first line of password_file (refused
 * when others may read it), or the first line that password_command
 * prints (run with /bin/sh -c, stdin from /dev/null, killed after 30 s,
 * at most 64 KiB of output; run afresh on every call).  *out is
 * NUL-terminated, *len bytes (len may be NULL); the caller owns it and
 * must free it with pps_secret_free().  Returns 0, PPS_ECONFIG (no
 * source), PPS_EPERM (file mode), PPS_EIO, PPS_ETIMEOUT, PPS_ETOOBIG,
 * PPS_EAUTH (the command failed: the detail names the profile and exit
 * status, never the output) or PPS_ENOMEM.
 */
PPS_API int pps_profile_get_secret(char **out, size_t *len,
                                   const pps_profile *p);

/* Wipe and free a secret.  NULL does nothing. */
PPS_API void pps_secret_free(char *secret);

/* --- keys ------------------------------------------------------------- */

/* What a host needs to know about one profile key (for option parsing,
 * help and `pps profile show`).  Owned by the library, never freed. */
typedef struct pps_profile_key_info {
    const char *name;          /* "local_user" */
    const char *default_value; /* canonical, or NULL when none */
    int is_boolean;            /* takes yes/no (CLI: --x / --no-x) */
    int is_secret;             /* shown as ******** */
    int is_required;           /* pps_profile_validate() wants it */
    const char *summary;       /* one line of help */
} pps_profile_key_info;

/* The i-th profile key in canonical order, or NULL past the last. */
PPS_API const pps_profile_key_info *pps_profile_key_at(size_t i);

/* --- pps.conf --------------------------------------------------------- */

typedef struct pps_config pps_config;

/*
 * A configuration with every default, for the folder `dir` (used for the
 * defaults of log_file and state_dir).  *out belongs to the caller,
 * freed with pps_config_free().
 */
PPS_API int pps_config_new(pps_config **out, const char *dir);

/*
 * Read DIR/pps.conf into *out; a missing file gives all defaults.  Errors
 * as pps_config_parse(), or PPS_EIO when the file cannot be read.
 */
PPS_API int pps_config_load(pps_config **out, const char *dir);

/*
 * Parse pps.conf text (`len` bytes) for the folder `dir`.  `origin` starts
 * every error detail: "pps.conf:3: [delivery] key 'metod' is unknown (did
 * you mean 'method'?)".  Also checks the settings together (a pipe
 * delivery needs a command).  Returns 0, PPS_ECONFIG, PPS_ETOOBIG or
 * PPS_ENOMEM.
 */
PPS_API int pps_config_parse(pps_config **out, const char *dir,
                             const char *text, size_t len, const char *origin);

/* Free a configuration.  NULL does nothing. */
PPS_API void pps_config_free(pps_config *cfg);

/*
 * The canonical value of `key` in `section` ("delivery", "service"), with
 * defaults applied (DIR substituted); for section "aliases", the local
 * user an alias maps to.  Borrowed from cfg; NULL when unknown or unset
 * without a default.
 */
PPS_API const char *pps_config_get(const pps_config *cfg, const char *section,
                                   const char *key);

/* [service] max_parallel. */
PPS_API unsigned int pps_config_max_parallel(const pps_config *cfg);

/* The number of [aliases] entries, and the i-th one (borrowed). */
PPS_API size_t pps_config_alias_count(const pps_config *cfg);
PPS_API int pps_config_alias_at(const char **alias, const char **user,
                                const pps_config *cfg, size_t i);

PPS_END_DECLS

#endif /* PPS_PROFILE_H */
