/*
 * text.c - a profile to and from the text of its file.
 *
 * parse(serialise(p)) == p for every profile: values are written in their
 * canonical form, quoted when blanks at either end, a leading '"', a '#'
 * or a '\\' would otherwise change how they read back.
 */
#include <string.h>

#include "../core/internal.h"
#include "profile-internal.h"

typedef struct parse_state {
    pps_profile *p;
    const char *origin;
    size_t *first_line; /* per key: the line that set it, 0 = not yet */
} parse_state;

static int on_pair(const char *section, const char *key, const char *value,
                   size_t line, void *payload)
{
    parse_state *st = payload;
    char where[PPS_CONFIG_LINE_MAX / 8];
    long i;

    (void)section; /* the reader refuses sections in profile files */
    pps__snprintf(where, sizeof(where), "%s:%zu", st->origin, line);
    i = pps__key_find(pps__profile_keys, pps__profile_key_count, key);
    if (i >= 0 && st->first_line[i])
        return pps__error_set(PPS_ECONFIG,
                              "%s: key '%s' is set twice (first on line %zu)",
                              where, key, st->first_line[i]);
    if (i >= 0)
        st->first_line[i] = line;
    return pps__profile_set_at(st->p, key, value, where);
}

int pps_profile_parse(pps_profile **out, const char *name, const char *text,
                      size_t len, const char *origin)
{
    parse_state st;
    int err;

    if (!out || (!text && len))
        return pps__error_set(PPS_EINVAL, "pps_profile_parse: NULL argument");
    *out = NULL;
    if (!origin)
        origin = "(profile text)";
    memset(&st, 0, sizeof(st));
    st.origin = origin;
    if ((err = pps_profile_new(&st.p, name)) < 0)
        return err;
    if (!(st.first_line =
              pps__calloc(pps__profile_key_count, sizeof(size_t)))) {
        err = pps__error_oom();
        goto done;
    }
    if ((err = pps__profile_set_origin(st.p, origin)) < 0)
        goto done;
    err = pps__conf_parse(text ? text : "", len, origin, 0, on_pair, &st);
done:
    pps__free(st.first_line);
    if (err < 0)
        pps_profile_free(st.p);
    else
        *out = st.p;
    return err;
}

/* --- serialise -------------------------------------------------------- */

typedef struct buffer {
    char *data;
    size_t len, size;
    int failed;
} buffer;

static void put(buffer *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->size) {
        size_t size = b->size ? b->size : 1024;
        char *bigger;
        while (size < b->len + n + 1)
            size *= 2;
        /* Not realloc: the old block may hold the password, wipe it. */
        if (!(bigger = pps__malloc(size))) {
            b->failed = 1;
            return;
        }
        if (b->data) {
            memcpy(bigger, b->data, b->len);
            pps__wipe(b->data, b->size);
            pps__free(b->data);
        }
        b->data = bigger;
        b->size = size;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void puts_(buffer *b, const char *s)
{
    put(b, s, strlen(s));
}

static void put_value(buffer *b, const char *v)
{
    const char *p;

    if (!pps__value_needs_quotes(v)) {
        puts_(b, v);
        return;
    }
    put(b, "\"", 1);
    for (p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            put(b, "\\", 1);
        put(b, p, 1);
    }
    put(b, "\"", 1);
}

int pps_profile_serialise(char **out, size_t *len, const pps_profile *p,
                          unsigned int flags)
{
    buffer b = {NULL, 0, 0, 0};
    size_t i;

    if (!out || !p)
        return pps__error_set(PPS_EINVAL,
                              "pps_profile_serialise: NULL argument");
    *out = NULL;
    if (len)
        *len = 0;
    if (!(flags & PPS_PROFILE_SERIALISE_NO_HEADER)) {
        puts_(&b, "# pps profile '");
        puts_(&b, pps_profile_name(p));
        puts_(&b, "': one remote POP3 mailbox.  Keys and values: "
                  "pps.conf(5).\n"
                  "# Written by libpps; edit with `pps profile edit` "
                  "or by hand (keep mode 0600).\n");
    }
    for (i = 0; i < pps__profile_key_count; i++) {
        const pps__key *k = &pps__profile_keys[i];
        const char *v = pps__profile_value(p, i)->text;

        if (!v &&
            (!(flags & PPS_PROFILE_SERIALISE_DEFAULTS) || !k->default_value))
            continue;
        if (!v)
            puts_(&b, "# ");
        puts_(&b, k->name);
        puts_(&b, " = ");
        if (v && (k->flags & PPS__KEY_SECRET) &&
            (flags & PPS_PROFILE_SERIALISE_MASK_SECRETS))
            puts_(&b, "********");
        else
            put_value(&b, v ? v : k->default_value);
        puts_(&b, "\n");
    }
    if (!b.data && !b.failed)
        puts_(&b, "");
    if (b.failed) {
        pps_profile_text_free(b.data);
        return pps__error_oom();
    }
    *out = b.data;
    if (len)
        *len = b.len;
    return 0;
}

void pps_profile_text_free(char *text)
{
    if (!text)
        return;
    pps__wipe(text, strlen(text));
    pps__free(text);
}
