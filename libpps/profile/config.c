/*
 * config.c - DIR/pps.conf: [delivery], [service] and [aliases].
 *
 * Every key has a default, so a missing file is a valid configuration.
 * The defaults that depend on the folder (log_file, state_dir) or on the
 * delivery method (server) are worked out here, when asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "../core/internal.h"
#include "profile-internal.h"

#define SECTION_DELIVERY 0
#define SECTION_SERVICE  1
#define SECTION_ALIASES  2
#define SECTION_COUNT    3

typedef struct alias {
    char *alias, *user;
    size_t line;
} alias;

struct pps_config {
    pps__value *values[SECTION_COUNT - 1]; /* delivery, service */
    alias *aliases;
    size_t alias_count, alias_size;
    char *default_log_file;  /* DIR/pop3.log */
    char *default_state_dir; /* DIR/state */
};

static char *join(const char *dir, const char *leaf)
{
    size_t n = strlen(dir), m = strlen(leaf);
    char *s = pps__malloc(n + m + 2);

    if (s) {
        memcpy(s, dir, n);
        s[n] = '/';
        memcpy(s + n + 1, leaf, m + 1);
    }
    return s;
}

void pps_config_free(pps_config *cfg)
{
    size_t s, i;

    if (!cfg)
        return;
    for (s = 0; s < SECTION_COUNT - 1; s++) {
        const pps__section *sec = &pps__config_sections[s];
        for (i = 0; cfg->values[s] && i < sec->count; i++)
            pps__value_clear(&cfg->values[s][i], &sec->keys[i]);
        pps__free(cfg->values[s]);
    }
    for (i = 0; i < cfg->alias_count; i++) {
        pps__free(cfg->aliases[i].alias);
        pps__free(cfg->aliases[i].user);
    }
    pps__free(cfg->aliases);
    pps__free(cfg->default_log_file);
    pps__free(cfg->default_state_dir);
    pps__free(cfg);
}

int pps_config_new(pps_config **out, const char *dir)
{
    pps_config *cfg;
    size_t s;

    if (!out || !dir || !dir[0])
        return pps__error_set(PPS_EINVAL, "pps_config_new: no folder given");
    *out = NULL;
    if (!(cfg = pps__calloc(1, sizeof(*cfg))))
        return pps__error_oom();
    for (s = 0; s < SECTION_COUNT - 1; s++)
        if (!(cfg->values[s] = pps__calloc(pps__config_sections[s].count,
                                           sizeof(pps__value))))
            goto oom;
    if (!(cfg->default_log_file = join(dir, "pop3.log")) ||
        !(cfg->default_state_dir = join(dir, "state")))
        goto oom;
    *out = cfg;
    return 0;
oom:
    pps_config_free(cfg);
    return pps__error_oom();
}

/* --- parsing ---------------------------------------------------------- */

typedef struct parse_state {
    pps_config *cfg;
    const char *origin;
    size_t *first_line[SECTION_COUNT - 1];
} parse_state;

static long find_section(const char *name)
{
    size_t i;

    for (i = 0; i < pps__config_section_count; i++)
        if (strcmp(pps__config_sections[i].name, name) == 0)
            return (long)i;
    return -1;
}

static int add_alias(parse_state *st, const char *key, const char *value,
                     size_t line)
{
    static const pps__key user_key = {
        "user", PPS__T_LOCALPART, NULL, 0, 0, NULL, 0, NULL};
    static const pps__key alias_key = {
        "alias", PPS__T_LOCALPART, NULL, 0, 0, NULL, 0, NULL};
    pps_config *cfg = st->cfg;
    pps__value a = {NULL, NULL, 0}, u = {NULL, NULL, 0};
    char why[PPS__ERROR_MESSAGE_MAX];
    size_t i;
    int err;

    for (i = 0; i < cfg->alias_count; i++)
        if (pps__ascii_strcasecmp(cfg->aliases[i].alias, key) == 0)
            return pps__error_set(PPS_ECONFIG,
                                  "%s:%zu: [aliases] alias '%s' is set twice "
                                  "(first on line %zu)",
                                  st->origin, line, key, cfg->aliases[i].line);
    if ((err = pps__value_set(&a, &alias_key, key, why, sizeof(why))) < 0 ||
        (err = pps__value_set(&u, &user_key, value, why, sizeof(why))) < 0) {
        pps__value_clear(&a, &alias_key);
        if (err == PPS_ENOMEM)
            return pps__error_oom();
        return pps__error_set(err, "%s:%zu: [aliases] alias '%s': %s",
                              st->origin, line, key, why);
    }
    if (cfg->alias_count == cfg->alias_size) {
        size_t size = cfg->alias_size ? cfg->alias_size * 2 : 8;
        alias *bigger = pps__realloc(cfg->aliases, size * sizeof(alias));
        if (!bigger) {
            pps__value_clear(&a, &alias_key);
            pps__value_clear(&u, &user_key);
            return pps__error_oom();
        }
        cfg->aliases = bigger;
        cfg->alias_size = size;
    }
    cfg->aliases[cfg->alias_count].alias = a.text;
    cfg->aliases[cfg->alias_count].user = u.text;
    cfg->aliases[cfg->alias_count].line = line;
    cfg->alias_count++;
    return 0;
}

static int on_pair(const char *section, const char *key, const char *value,
                   size_t line, void *payload)
{
    parse_state *st = payload;
    const pps__section *sec;
    char why[PPS__ERROR_MESSAGE_MAX], hint[80];
    long s, i;
    int err;

    if (!section)
        return pps__error_set(PPS_ECONFIG,
                              "%s:%zu: key '%s' must follow a section header "
                              "([delivery], [service] or [aliases])",
                              st->origin, line, key);
    if ((s = find_section(section)) < 0) {
        pps__suggest(hint, sizeof(hint), section, pps__config_sections,
                     pps__config_section_count, sizeof(pps__section));
        return pps__error_set(PPS_ECONFIG, "%s:%zu: section [%s] is unknown%s",
                              st->origin, line, section, hint);
    }
    if (!key)
        return 0; /* a known section header */
    if (s == SECTION_ALIASES)
        return add_alias(st, key, value, line);
    sec = &pps__config_sections[s];
    if ((i = pps__key_find(sec->keys, sec->count, key)) < 0) {
        pps__suggest(hint, sizeof(hint), key, sec->keys, sec->count,
                     sizeof(pps__key));
        return pps__error_set(PPS_ECONFIG, "%s:%zu: [%s] key '%s' is unknown%s",
                              st->origin, line, section, key, hint);
    }
    if (st->first_line[s][i])
        return pps__error_set(PPS_ECONFIG,
                              "%s:%zu: [%s] key '%s' is set twice (first on "
                              "line %zu)",
                              st->origin, line, section, key,
                              st->first_line[s][i]);
    st->first_line[s][i] = line;
    err = pps__value_set(&st->cfg->values[s][i], &sec->keys[i], value, why,
                         sizeof(why));
    if (err == PPS_ENOMEM)
        return pps__error_oom();
    if (err < 0)
        return pps__error_set(err, "%s:%zu: [%s] key '%s': %s", st->origin,
                              line, section, key, why);
    return 0;
}

/* Settings that only make sense together. */
static int check_together(const pps_config *cfg, const char *origin)
{
    const char *method = pps_config_get(cfg, "delivery", "method");
    const char *user = pps_config_get(cfg, "delivery", "auth_user");
    const char *pwfile = pps_config_get(cfg, "delivery", "auth_password_file");

    if (strcmp(method, "pipe") == 0 &&
        !pps_config_get(cfg, "delivery", "command"))
        return pps__error_set(PPS_ECONFIG,
                              "%s: [delivery] method = pipe needs key "
                              "'command'",
                              origin);
    if ((user[0] != '\0') != (pwfile[0] != '\0'))
        return pps__error_set(PPS_ECONFIG,
                              "%s: [delivery] keys 'auth_user' and "
                              "'auth_password_file' go together",
                              origin);
    return 0;
}

int pps_config_parse(pps_config **out, const char *dir, const char *text,
                     size_t len, const char *origin)
{
    parse_state st;
    size_t s;
    int err;

    if (!out || (!text && len))
        return pps__error_set(PPS_EINVAL, "pps_config_parse: NULL argument");
    *out = NULL;
    memset(&st, 0, sizeof(st));
    st.origin = origin ? origin : "pps.conf";
    if ((err = pps_config_new(&st.cfg, dir)) < 0)
        return err;
    for (s = 0; s < SECTION_COUNT - 1; s++)
        if (!(st.first_line[s] =
                  pps__calloc(pps__config_sections[s].count, sizeof(size_t)))) {
            err = pps__error_oom();
            goto done;
        }
    if ((err = pps__conf_parse(text ? text : "", len, st.origin, 1, on_pair,
                               &st)) < 0)
        goto done;
    err = check_together(st.cfg, st.origin);
done:
    for (s = 0; s < SECTION_COUNT - 1; s++)
        pps__free(st.first_line[s]);
    if (err < 0)
        pps_config_free(st.cfg);
    else
        *out = st.cfg;
    return err;
}

int pps_config_load(pps_config **out, const char *dir)
{
    char *path = NULL, *text = NULL;
    size_t len = 0;
    int fd, err;

    if (!out || !dir || !dir[0])
        return pps__error_set(PPS_EINVAL, "pps_config_load: no folder given");
    *out = NULL;
    if (!(path = join(dir, "pps.conf")))
        return pps__error_oom();
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 && errno == ENOENT) {
        pps__free(path);
        return pps_config_new(out, dir);
    }
    if (fd < 0) {
        err = pps__error_set(PPS_EIO, "%s: cannot open: %s", path,
                             strerror(errno));
        pps__free(path);
        return err;
    }
    err = pps__read_fd_bounded(&text, &len, fd, path, PPS_CONFIG_TEXT_MAX);
    close(fd);
    if (err == 0)
        err = pps_config_parse(out, dir, text, len, path);
    pps__free(text);
    pps__free(path);
    return err;
}

/* --- getters ---------------------------------------------------------- */

const char *pps_config_get(const pps_config *cfg, const char *section,
                           const char *key)
{
    const pps__section *sec;
    const char *method;
    long s, i;
    size_t a;

    if (!cfg || !section || !key || (s = find_section(section)) < 0)
        return NULL;
    if (s == SECTION_ALIASES) {
        for (a = 0; a < cfg->alias_count; a++)
            if (pps__ascii_strcasecmp(cfg->aliases[a].alias, key) == 0)
                return cfg->aliases[a].user;
        return NULL;
    }
    sec = &pps__config_sections[s];
    if ((i = pps__key_find(sec->keys, sec->count, key)) < 0)
        return NULL;
    if (cfg->values[s][i].text)
        return cfg->values[s][i].text;
    if (s == SECTION_SERVICE && strcmp(key, "log_file") == 0)
        return cfg->default_log_file;
    if (s == SECTION_SERVICE && strcmp(key, "state_dir") == 0)
        return cfg->default_state_dir;
    if (s == SECTION_DELIVERY && strcmp(key, "server") == 0) {
        method = pps_config_get(cfg, "delivery", "method");
        if (strcmp(method, "lmtp") == 0)
            return "/run/dovecot/lmtp";
        if (strcmp(method, "smtp") == 0 ||
            strcmp(method, "emailarchitect") == 0)
            return "127.0.0.1:25";
        return NULL;
    }
    return sec->keys[i].default_value;
}

unsigned int pps_config_max_parallel(const pps_config *cfg)
{
    const char *v = pps_config_get(cfg, "service", "max_parallel");

    return v ? (unsigned int)pps__value_number(v) : 8;
}

size_t pps_config_alias_count(const pps_config *cfg)
{
    return cfg ? cfg->alias_count : 0;
}

int pps_config_alias_at(const char **alias_out, const char **user,
                        const pps_config *cfg, size_t i)
{
    if (!alias_out || !user || !cfg)
        return pps__error_set(PPS_EINVAL, "pps_config_alias_at: NULL argument");
    if (i >= cfg->alias_count)
        return pps__error_set(PPS_ENOTFOUND, "no alias number %zu", i);
    *alias_out = cfg->aliases[i].alias;
    *user = cfg->aliases[i].user;
    return 0;
}
