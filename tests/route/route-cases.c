/*
 * route-cases.c - load tests/route/cases/headers.txt (format described at
 * the top of that file).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route-cases.h"

static const char *const users[] = {
    "alice", "bob",        "carol",      "dave",
    "kate",  "postmaster", "first.last", "j\xc3\xb6rg",
};

int route_cases_user_exists(const char *user, const char *domain, void *payload)
{
    size_t i;

    (void)payload;
    if (strcmp(domain, "local.test") != 0 && strcmp(domain, "local2.test") != 0)
        return 0; /* the router must never ask about other domains */
    for (i = 0; i < sizeof(users) / sizeof(users[0]); i++)
        if (strcmp(user, users[i]) == 0)
            return 1;
    return 0;
}

void route_cases_policy(pps_route_policy *pol, int distribute, int envelope)
{
    static const char *const domains[] = {"local2.test"};
    static const pps_route_alias aliases[] = {
        {"sales", "carol"},
        {"info@local2.test", "dave"},
    };
    static const char *const envelope_headers[] = {
        "Delivered-To",  "X-Original-To", "Envelope-To",
        "X-Envelope-To", "Received",
    };

    pps_route_policy_init(pol);
    pol->profile = "office";
    pol->local_user = "postmaster";
    pol->local_domain = "local.test";
    pol->distribute = distribute;
    pol->local_domains = domains;
    pol->local_domain_count = 1;
    pol->aliases = aliases;
    pol->alias_count = 2;
    pol->subaddress_separator = "+";
    pol->user_exists = route_cases_user_exists;
    if (envelope) {
        pol->envelope_headers = envelope_headers;
        pol->envelope_header_count = 5;
    }
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Turn the text of a case into its bytes. */
static int finish_case(route_case *c, const char *text, size_t len, int escapes,
                       int crlf, int nonl)
{
    size_t i, n = 0;
    char *out = malloc(len * 2 + 1);

    if (!out)
        return -1;
    if (nonl && len > 0 && text[len - 1] == '\n')
        len--;
    for (i = 0; i < len; i++) {
        char ch = text[i];
        if (escapes && ch == '\\' && i + 1 < len) {
            char e = text[++i];
            if (e == 'r')
                ch = '\r';
            else if (e == 'n')
                ch = '\n';
            else if (e == 't')
                ch = '\t';
            else if (e == '0')
                ch = '\0';
            else if (e == 'x' && i + 2 < len && hexval(text[i + 1]) >= 0 &&
                     hexval(text[i + 2]) >= 0) {
                ch = (char)(hexval(text[i + 1]) * 16 + hexval(text[i + 2]));
                i += 2;
            } else
                ch = e;
        } else if (crlf && ch == '\n') {
            out[n++] = '\r';
        }
        out[n++] = ch;
    }
    c->message = out;
    c->message_len = n;
    return 0;
}

static void copy_value(char *dst, size_t size, const char *line,
                       const char *key)
{
    const char *v = line + strlen(key);
    while (*v == ' ')
        v++;
    snprintf(dst, size, "%.*s", (int)strcspn(v, "\n"), v);
}

int route_cases_load(route_cases *out, const char *path)
{
    FILE *f = fopen(path, "rb");
    char line[4096];
    char *text = NULL;
    size_t text_len = 0, cap = 0;
    int in_text = 0, escapes = 0, crlf = 0, nonl = 0, rc = 0;
    route_case *cur = NULL;

    memset(out, 0, sizeof(*out));
    if (!f) {
        perror(path);
        return -1;
    }
    for (;;) {
        int eof = fgets(line, sizeof(line), f) == NULL;
        if (eof || strncmp(line, "=== ", 4) == 0) {
            if (cur && finish_case(cur, text ? text : "", text_len, escapes,
                                   crlf, nonl) < 0) {
                rc = -1;
                break;
            }
            if (eof)
                break;
            out->items =
                realloc(out->items, (out->count + 1) * sizeof(*out->items));
            if (!out->items) {
                rc = -1;
                break;
            }
            cur = &out->items[out->count++];
            memset(cur, 0, sizeof(*cur));
            copy_value(cur->name, sizeof(cur->name), line, "===");
            in_text = escapes = crlf = nonl = 0;
            text_len = 0;
            continue;
        }
        if (!cur)
            continue; /* the file's own comment */
        if (in_text) {
            size_t n = strlen(line);
            if (text_len + n + 1 > cap) {
                cap = (text_len + n + 1) * 2;
                if (!(text = realloc(text, cap))) {
                    rc = -1;
                    break;
                }
            }
            memcpy(text + text_len, line, n);
            text_len += n;
        } else if (strncmp(line, "---", 3) == 0) {
            in_text = 1;
            if (!cur->envelope[0])
                memcpy(cur->envelope, cur->distribute, sizeof(cur->envelope));
        } else if (strncmp(line, "distribute:", 11) == 0) {
            copy_value(cur->distribute, sizeof(cur->distribute), line,
                       "distribute:");
        } else if (strncmp(line, "envelope:", 9) == 0) {
            copy_value(cur->envelope, sizeof(cur->envelope), line, "envelope:");
        } else if (strncmp(line, "etpan:", 6) == 0) {
            copy_value(cur->etpan, sizeof(cur->etpan), line, "etpan:");
        } else if (strncmp(line, "escapes: yes", 12) == 0) {
            escapes = 1;
        } else if (strncmp(line, "crlf: yes", 9) == 0) {
            crlf = 1;
        } else if (strncmp(line, "nonl: yes", 9) == 0) {
            nonl = 1;
        } else if (line[0] != '\n' && line[0] != '#') {
            fprintf(stderr, "%s: case \"%s\": unknown line %s", path, cur->name,
                    line);
            rc = -1;
            break;
        }
    }
    free(text);
    fclose(f);
    if (rc < 0)
        route_cases_free(out);
    return rc;
}

void route_cases_free(route_cases *cases)
{
    size_t i;

    for (i = 0; i < cases->count; i++)
        free(cases->items[i].message);
    free(cases->items);
    cases->items = NULL;
    cases->count = 0;
}
