/*
 * profile.c - the profile object: a name and one checked value per key.
 *
 * Values are kept as canonical text (values.c makes it), so that get,
 * serialise and compare need no second representation; the typed view is
 * computed from the text on demand.
 */
#include <string.h>

#include "../core/internal.h"
#include "profile-internal.h"

struct pps_profile {
    char name[PPS_PROFILE_NAME_MAX + 1];
    char *origin;       /* the file it was parsed from, or NULL */
    pps__value *values; /* pps__profile_key_count of them */
};

/* Shown instead of a password, everywhere but pps_profile_get_secret. */
static const char mask[] = "********";

int pps_profile_name_is_valid(const char *name)
{
    size_t i;

    if (!name || name[0] == '\0' || name[0] == '.')
        return 0;
    for (i = 0; name[i]; i++) {
        char c = name[i];
        if (i >= PPS_PROFILE_NAME_MAX)
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int bad_name(const char *name)
{
    char quoted[96];

    if (!name)
        return pps__error_set(PPS_EINVAL, "no profile name given");
    return pps__error_set(
        PPS_EINVAL,
        "profile name %s is not valid: use 1 to %d letters, digits, '.', "
        "'_' or '-', not starting with '.'",
        pps__quote(quoted, sizeof(quoted), name, strnlen(name, 200)),
        PPS_PROFILE_NAME_MAX);
}

int pps_profile_new(pps_profile **out, const char *name)
{
    pps_profile *p;

    if (!out)
        return pps__error_set(PPS_EINVAL, "pps_profile_new: out is NULL");
    *out = NULL;
    if (!pps_profile_name_is_valid(name))
        return bad_name(name);
    if (!(p = pps__calloc(1, sizeof(*p))))
        return pps__error_oom();
    if (!(p->values =
              pps__calloc(pps__profile_key_count, sizeof(pps__value)))) {
        pps__free(p);
        return pps__error_oom();
    }
    memcpy(p->name, name, strlen(name) + 1);
    *out = p;
    return 0;
}

void pps_profile_free(pps_profile *p)
{
    size_t i;

    if (!p)
        return;
    for (i = 0; i < pps__profile_key_count; i++)
        pps__value_clear(&p->values[i], &pps__profile_keys[i]);
    pps__free(p->values);
    pps__free(p->origin);
    pps__free(p);
}

int pps_profile_dup(pps_profile **out, const pps_profile *p)
{
    pps_profile *copy;
    size_t i;
    int err;

    if (!out || !p)
        return pps__error_set(PPS_EINVAL, "pps_profile_dup: NULL argument");
    *out = NULL;
    if ((err = pps_profile_new(&copy, p->name)) < 0)
        return err;
    if (p->origin && pps__profile_set_origin(copy, p->origin) < 0)
        goto oom;
    for (i = 0; i < pps__profile_key_count; i++)
        if (pps__value_copy(&copy->values[i], &p->values[i]) < 0)
            goto oom;
    *out = copy;
    return 0;
oom:
    pps_profile_free(copy);
    return pps__error_oom();
}

const char *pps_profile_name(const pps_profile *p)
{
    return p ? p->name : NULL;
}

int pps__profile_set_origin(pps_profile *p, const char *origin)
{
    char *copy = pps__strdup(origin);

    if (!copy)
        return pps__error_oom();
    pps__free(p->origin);
    p->origin = copy;
    return 0;
}

const pps__value *pps__profile_value(const pps_profile *p, size_t i)
{
    return &p->values[i];
}

/* 'name' when the key is made of key characters (always so when it
 * comes from a file), else a quoted, escaped form of whatever was given. */
static const char *show_key(char *buf, size_t size, const char *key)
{
    size_t n = strnlen(key, 200), i;

    for (i = 0; i < n; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return pps__quote(buf, size, key, n);
    }
    if (n == 0 || n + 3 > size)
        return pps__quote(buf, size, key, n);
    pps__snprintf(buf, size, "'%s'", key);
    return buf;
}

static int unknown_key(const char *where, const char *key)
{
    char hint[80], shown[80];

    pps__suggest(hint, sizeof(hint), key, pps__profile_keys,
                 pps__profile_key_count, sizeof(pps__key));
    return pps__error_set(PPS_ECONFIG, "%s: key %s is unknown%s", where,
                          show_key(shown, sizeof(shown), key), hint);
}

int pps__profile_set_at(pps_profile *p, const char *key, const char *value,
                        const char *where)
{
    char why[PPS__ERROR_MESSAGE_MAX];
    long i;
    int err;

    if (!p || !key || !value)
        return pps__error_set(PPS_EINVAL, "pps_profile_set: NULL argument");
    if ((i = pps__key_find(pps__profile_keys, pps__profile_key_count, key)) < 0)
        return unknown_key(where, key);
    err = pps__value_set(&p->values[i], &pps__profile_keys[i], value, why,
                         sizeof(why));
    if (err == PPS_ENOMEM)
        return pps__error_oom();
    if (err < 0)
        return pps__error_set(err, "%s: key '%s': %s", where, key, why);
    return 0;
}

/* "profiles/office.conf: profile 'office'" or "profile 'office'". */
static void describe(char *buf, size_t size, const pps_profile *p)
{
    if (p->origin)
        pps__snprintf(buf, size, "%s: profile '%s'", p->origin, p->name);
    else
        pps__snprintf(buf, size, "profile '%s'", p->name);
}

int pps_profile_set(pps_profile *p, const char *key, const char *value)
{
    char where[PPS_PROFILE_NAME_MAX + 300];

    if (!p)
        return pps__error_set(PPS_EINVAL, "pps_profile_set: p is NULL");
    describe(where, sizeof(where), p);
    return pps__profile_set_at(p, key, value, where);
}

int pps_profile_unset(pps_profile *p, const char *key)
{
    char where[PPS_PROFILE_NAME_MAX + 300];
    long i;

    if (!p || !key)
        return pps__error_set(PPS_EINVAL, "pps_profile_unset: NULL argument");
    if ((i = pps__key_find(pps__profile_keys, pps__profile_key_count, key)) <
        0) {
        describe(where, sizeof(where), p);
        return unknown_key(where, key);
    }
    pps__value_clear(&p->values[i], &pps__profile_keys[i]);
    return 0;
}

int pps_profile_is_set(const pps_profile *p, const char *key)
{
    long i;

    if (!p || !key)
        return 0;
    i = pps__key_find(pps__profile_keys, pps__profile_key_count, key);
    return i >= 0 && p->values[i].text != NULL;
}

/* The set value of a key known to exist, else its default. */
static const char *value_of(const pps_profile *p, const char *key)
{
    long i = pps__key_find(pps__profile_keys, pps__profile_key_count, key);

    if (i < 0)
        return NULL;
    return p->values[i].text ? p->values[i].text
                             : pps__profile_keys[i].default_value;
}

const char *pps_profile_get(const pps_profile *p, const char *key)
{
    long i;

    if (!p || !key)
        return NULL;
    if ((i = pps__key_find(pps__profile_keys, pps__profile_key_count, key)) < 0)
        return NULL;
    if ((pps__profile_keys[i].flags & PPS__KEY_SECRET) && p->values[i].text)
        return mask;
    return value_of(p, key);
}

int pps_profile_get_list(const char *const **items, size_t *count,
                         const pps_profile *p, const char *key)
{
    long i;
    pps__value_type t;

    if (!items || !count || !p || !key)
        return pps__error_set(PPS_EINVAL,
                              "pps_profile_get_list: NULL argument");
    *items = NULL;
    *count = 0;
    i = pps__key_find(pps__profile_keys, pps__profile_key_count, key);
    t = i >= 0 ? pps__profile_keys[i].type : PPS__T_TEXT;
    if (t != PPS__T_DOMAIN_LIST && t != PPS__T_HEADER_LIST &&
        t != PPS__T_ALIASES)
        return pps__error_set(PPS_EINVAL, "key '%s' is not a list", key);
    *items = (const char *const *)p->values[i].items;
    *count = p->values[i].count;
    return 0;
}

/* --- whole-profile checks --------------------------------------------- */

static int is_set(const pps_profile *p, const char *key)
{
    return pps_profile_is_set(p, key);
}

static int check_required(const pps_profile *p, const char *who)
{
    size_t i;

    for (i = 0; i < pps__profile_key_count; i++) {
        const pps__key *k = &pps__profile_keys[i];
        char option[64];
        size_t j;

        if (!(k->flags & PPS__KEY_REQUIRED) || p->values[i].text)
            continue;
        /* Name the command-line option too: that is how most set it. */
        for (j = 0; k->name[j] && j + 1 < sizeof(option); j++)
            option[j] = k->name[j] == '_' ? '-' : k->name[j];
        option[j] = '\0';
        return pps__error_set(PPS_ECONFIG,
                              "%s: key '%s' is required (--%s) but not set",
                              who, k->name, option);
    }
    return 0;
}

static int check_password_source(const pps_profile *p, const char *who)
{
    static const char *const sources[] = {"password", "password_file",
                                          "password_command"};
    const char *first = NULL;
    size_t i;

    for (i = 0; i < 3; i++) {
        if (!is_set(p, sources[i]))
            continue;
        if (first)
            return pps__error_set(PPS_ECONFIG,
                                  "%s: keys '%s' and '%s' are both set; keep "
                                  "one password source",
                                  who, first, sources[i]);
        first = sources[i];
    }
    if (!first)
        return pps__error_set(PPS_ECONFIG,
                              "%s: key 'password' is not set: give one of "
                              "password, password_file or password_command",
                              who);
    return 0;
}

static int check_tls(const pps_profile *p, const char *who)
{
    pps_profile_settings s = PPS_PROFILE_SETTINGS_INIT;

    pps_profile_get_settings(&s, p);
    if (s.tls != PPS_PROFILE_TLS_NONE)
        return 0;
    if (s.server.implicit_tls)
        return pps__error_set(PPS_ECONFIG,
                              "%s: key 'tls' is none but server '%s %us' "
                              "asks for implicit TLS",
                              who, s.server.host, s.server.port);
    if (s.tls_fingerprint)
        return pps__error_set(PPS_ECONFIG,
                              "%s: key 'tls_fingerprint' needs TLS, but key "
                              "'tls' is none",
                              who);
    /* APOP and CRAM-MD5 never send the password itself. */
    if (!s.allow_plaintext_password && s.auth != PPS_PROFILE_AUTH_APOP &&
        s.auth != PPS_PROFILE_AUTH_CRAM_MD5)
        return pps__error_set(PPS_ECONFIG,
                              "%s: key 'tls' is none, so the password would "
                              "cross the network in clear; set "
                              "allow_plaintext_password = yes to allow that",
                              who);
    return 0;
}

int pps_profile_validate(const pps_profile *p)
{
    char who[PPS_PROFILE_NAME_MAX + 300];
    int err;

    if (!p)
        return pps__error_set(PPS_EINVAL, "pps_profile_validate: p is NULL");
    describe(who, sizeof(who), p);
    if ((err = check_required(p, who)) < 0 ||
        (err = check_password_source(p, who)) < 0 ||
        (err = check_tls(p, who)) < 0)
        return err;
    return 0;
}

/* --- typed view ------------------------------------------------------- */

void pps_profile_settings_init(pps_profile_settings *s)
{
    pps_profile_settings init = PPS_PROFILE_SETTINGS_INIT;

    if (s)
        *s = init;
}

static unsigned long long number(const pps_profile *p, const char *key)
{
    const char *v = value_of(p, key);
    return v ? pps__value_number(v) : 0;
}

static int flag(const pps_profile *p, const char *key)
{
    const char *v = value_of(p, key);
    return v ? pps__value_bool(v) : 0;
}

static long choice(const pps_profile *p, const char *key)
{
    long i = pps__key_find(pps__profile_keys, pps__profile_key_count, key);
    const char *v = value_of(p, key);

    return (i >= 0 && v) ? pps__value_choice(&pps__profile_keys[i], v) : 0;
}

/* Unsigned long is 32 bits on some targets; every limit fits, but say so. */
static unsigned long ul(unsigned long long v)
{
    return v > (unsigned long)-1 ? (unsigned long)-1 : (unsigned long)v;
}

int pps_profile_get_settings(pps_profile_settings *out, const pps_profile *p)
{
    pps_profile_settings s = PPS_PROFILE_SETTINGS_INIT;
    const char *server;

    if (!out || !p)
        return pps__error_set(PPS_EINVAL,
                              "pps_profile_get_settings: NULL argument");
    if (out->version != PPS_PROFILE_SETTINGS_VERSION)
        return pps__error_set(PPS_EINVAL,
                              "pps_profile_get_settings: version %u is not %d",
                              out->version, PPS_PROFILE_SETTINGS_VERSION);
    s.name = p->name;
    if ((server = value_of(p, "server")) != NULL)
        (void)pps_server_parse(&s.server, server); /* checked when set */
    s.user = value_of(p, "user");
    s.local_user = value_of(p, "local_user");
    s.local_domain = value_of(p, "local_domain");
    s.distribute = flag(p, "distribute");
    s.interval_seconds = ul(number(p, "interval"));
    s.keep = flag(p, "keep");
    s.enabled = flag(p, "enabled");
    s.tls = (pps_profile_tls_mode)choice(p, "tls");
    s.tls_verify = flag(p, "tls_verify");
    s.tls_ca_file = value_of(p, "tls_ca_file");
    s.tls_fingerprint = value_of(p, "tls_fingerprint");
    s.allow_plaintext_password = flag(p, "allow_plaintext_password");
    s.auth = (pps_profile_auth)choice(p, "auth");
    s.subaddress_separator = value_of(p, "subaddress_separator");
    s.unknown_user = (pps_profile_unknown_user)choice(p, "unknown_user");
    s.envelope_skip = ul(number(p, "envelope_skip"));
    s.max_message_size = number(p, "max_message_size");
    s.max_messages = ul(number(p, "max_messages"));
    s.poll_timeout_seconds = ul(number(p, "poll_timeout"));
    s.loop_limit = ul(number(p, "loop_limit"));
    s.duplicate_window_seconds = ul(number(p, "duplicate_window"));
    s.header_limit = number(p, "header_limit");
    s.trace_header = flag(p, "trace_header");
    s.on_permanent_failure =
        (pps_profile_on_failure)choice(p, "on_permanent_failure");
    *out = s;
    return 0;
}

int pps__profile_equal(const pps_profile *a, const pps_profile *b)
{
    size_t i;

    if (strcmp(a->name, b->name) != 0)
        return 0;
    for (i = 0; i < pps__profile_key_count; i++) {
        const char *x = a->values[i].text, *y = b->values[i].text;
        if ((x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0))
            return 0;
        if (a->values[i].count != b->values[i].count)
            return 0;
    }
    return 1;
}
