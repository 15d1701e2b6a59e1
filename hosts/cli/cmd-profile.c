/*
 * cmd-profile.c - pps profile add | edit | delete | list | show.
 *
 * Options map onto profile keys: --local-user X sets local_user, a yes/no
 * key takes --key or --no-key.  The library checks every value; this file
 * only reads the command line (and a password from standard input).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A password line read from stdin: RFC-sized secrets are far shorter. */
#define PASSWORD_MAX 4096

static const char *const password_keys[] = {"password", "password_file",
                                            "password_command"};

static const pps_profile_key_info *key_named(const char *name)
{
    const pps_profile_key_info *k;
    size_t i;

    for (i = 0; (k = pps_profile_key_at(i)) != NULL; i++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

/* "--local-user" -> "local_user" into buf. */
static void option_to_key(char *buf, size_t size, const char *opt, size_t len)
{
    size_t i;

    for (i = 0; i < len && i + 1 < size; i++)
        buf[i] = opt[i] == '-' ? '_' : opt[i];
    buf[i] = '\0';
}

static int read_password(char **out)
{
    static char buf[PASSWORD_MAX + 2];
    size_t len;

    if (!fgets(buf, sizeof(buf), stdin))
        return cli_usage("--password-stdin: nothing on standard input");
    len = strcspn(buf, "\r\n");
    if (len > PASSWORD_MAX)
        return cli_usage("--password-stdin: the password is longer than %d "
                         "bytes",
                         PASSWORD_MAX);
    buf[len] = '\0';
    *out = buf;
    return 0;
}

/* Setting one password source replaces the others. */
static int set_key(pps_profile *p, const char *key, const char *value)
{
    size_t i;
    int err;

    for (i = 0; i < 3; i++)
        if (strcmp(key, password_keys[i]) == 0)
            break;
    if (i < 3) {
        size_t j;
        for (j = 0; j < 3; j++)
            if (j != i && pps_profile_is_set(p, password_keys[j]))
                pps_profile_unset(p, password_keys[j]);
    }
    if ((err = pps_profile_set(p, key, value)) < 0)
        return cli_fail(err, pps_profile_name(p));
    return 0;
}

/* Keys naming a file (password_file, tls_ca_file) are stored absolute:
 * the service does not run in the administrator's current folder. */
static int set_key_path_aware(pps_profile *p, const char *key,
                              const char *value)
{
    size_t klen = strlen(key);
    char abs[PATH_MAX];

    if (klen > 5 && strcmp(key + klen - 5, "_file") == 0 && value[0] &&
        value[0] != '/') {
        if (!realpath(value, abs))
            return cli_usage("%s: %s (given for %s)", value, strerror(errno),
                             key);
        value = abs;
    }
    return set_key(p, key, value);
}

/* Apply --options to p.  Returns 0 or an exit status. */
static int apply_options(pps_profile *p, int argc, char **argv)
{
    char key[128];
    int i;

    for (i = 0; i < argc; i++) {
        const char *arg = argv[i], *eq, *value = NULL;
        const pps_profile_key_info *k;
        int negated = 0, status;

        if (strncmp(arg, "--", 2) != 0)
            return cli_usage("unexpected argument '%s'", arg);
        arg += 2;
        eq = strchr(arg, '=');
        option_to_key(key, sizeof(key), arg,
                      eq ? (size_t)(eq - arg) : strlen(arg));
        if (eq)
            value = eq + 1;

        if (strcmp(key, "password_stdin") == 0) {
            char *pw;
            if ((status = read_password(&pw)) != 0 ||
                (status = set_key(p, "password", pw)) != 0)
                return status;
            memset(pw, 0, strlen(pw));
            continue;
        }
        if (strcmp(key, "password") == 0)
            return cli_usage("a password is never taken from the command line "
                             "(others can read it with ps): use "
                             "--password-stdin, --password-file or "
                             "--password-command");
        if (!(k = key_named(key)) && strncmp(key, "no_", 3) == 0 &&
            (k = key_named(key + 3)) != NULL && k->is_boolean)
            negated = 1;
        if (!k)
            return cli_usage("unknown option '%s'", argv[i]);
        if (k->is_boolean && !value)
            value = negated ? "no" : "yes";
        else if (negated)
            return cli_usage("'%s' takes no value", argv[i]);
        else if (!value) {
            if (i + 1 >= argc)
                return cli_usage("'%s' needs a value", argv[i]);
            value = argv[++i];
        }
        if ((status = set_key_path_aware(p, k->name, value)) != 0)
            return status;
    }
    return 0;
}

static int save(cli *c, pps_profile *p, unsigned int flags)
{
    int err;

    if ((err = pps_profile_validate(p)) < 0)
        return cli_fail(err, pps_profile_name(p));
    if ((err = pps_profile_store_save(pps_runtime_profiles(c->rt), p, flags)) <
        0)
        return cli_fail(err, pps_profile_name(p));
    return EXIT_OK;
}

static int profile_add(cli *c, int argc, char **argv)
{
    pps_profile *p = NULL;
    int err, status;

    if (argc < 1)
        return cli_usage("profile add needs a NAME");
    if (!cli_runtime(c))
        return EXIT_USAGE;
    if ((err = pps_profile_new(&p, argv[0])) < 0)
        return cli_fail(err, argv[0]);
    status = apply_options(p, argc - 1, argv + 1);
    if (status == 0)
        status = save(c, p, PPS_PROFILE_SAVE_CREATE);
    if (status == 0)
        printf("profile %s added\n", argv[0]);
    pps_profile_free(p);
    return status;
}

static int profile_edit(cli *c, int argc, char **argv)
{
    pps_profile *p;
    int status = 0;

    if (argc < 1)
        return cli_usage("profile edit needs a NAME");
    if (!(p = cli_load_profile(c, argv[0], &status)))
        return status;
    status = apply_options(p, argc - 1, argv + 1);
    if (status == 0)
        status = save(c, p, PPS_PROFILE_SAVE_REPLACE);
    pps_profile_free(p);
    return status;
}

static int profile_delete(cli *c, int argc, char **argv)
{
    int err;

    if (argc != 1)
        return cli_usage("profile delete needs exactly one NAME");
    if (!cli_runtime(c))
        return EXIT_USAGE;
    if ((err = pps_profile_store_delete(pps_runtime_profiles(c->rt), argv[0])) <
        0)
        return cli_fail(err, argv[0]);
    printf("profile %s deleted\n", argv[0]);
    return EXIT_OK;
}

static int profile_list(cli *c, int argc, char **argv)
{
    pps_profile_names names = {NULL, 0};
    size_t i;
    int err, status = EXIT_OK;

    (void)argv;
    if (argc != 0)
        return cli_usage("profile list takes no arguments");
    if (!cli_runtime(c))
        return EXIT_USAGE;
    if ((err = pps_profile_store_list(&names, pps_runtime_profiles(c->rt))) < 0)
        return cli_fail(err, c->dir);
    for (i = 0; i < names.count; i++) {
        pps_profile *p = cli_load_profile(c, names.names[i], &status);
        pps_profile_settings s = PPS_PROFILE_SETTINGS_INIT;
        char server[PPS_SERVER_HOST_MAX + 64] = "?";

        if (!p)
            continue;
        pps_profile_get_settings(&s, p);
        if (s.server.host[0])
            pps_server_format(server, sizeof(server), &s.server);
        printf("%s\t%s\t%s\t-> %s@%s\t%s\tevery %s%s%s\n", names.names[i],
               server, s.user ? s.user : "?", s.local_user ? s.local_user : "?",
               s.local_domain ? s.local_domain : "?",
               s.distribute ? "distribute" : "single",
               pps_profile_get(p, "interval"), s.keep ? ", keep" : "",
               s.enabled ? "" : ", disabled");
        pps_profile_free(p);
    }
    pps_profile_names_free(&names);
    return status;
}

static int profile_show(cli *c, int argc, char **argv)
{
    pps_profile *p;
    char *text = NULL;
    int err, status = 0;

    if (argc != 1)
        return cli_usage("profile show needs exactly one NAME");
    if (!(p = cli_load_profile(c, argv[0], &status)))
        return status;
    err = pps_profile_serialise(&text, NULL, p,
                                PPS_PROFILE_SERIALISE_MASK_SECRETS |
                                    PPS_PROFILE_SERIALISE_NO_HEADER);
    if (err < 0)
        status = cli_fail(err, argv[0]);
    else
        fputs(text, stdout);
    pps_profile_text_free(text);
    pps_profile_free(p);
    return status;
}

int cmd_profile(cli *c, int argc, char **argv)
{
    if (argc < 1)
        return cli_usage("profile needs add, edit, delete, list or show");
    if (strcmp(argv[0], "add") == 0)
        return profile_add(c, argc - 1, argv + 1);
    if (strcmp(argv[0], "edit") == 0)
        return profile_edit(c, argc - 1, argv + 1);
    if (strcmp(argv[0], "delete") == 0)
        return profile_delete(c, argc - 1, argv + 1);
    if (strcmp(argv[0], "list") == 0)
        return profile_list(c, argc - 1, argv + 1);
    if (strcmp(argv[0], "show") == 0)
        return profile_show(c, argc - 1, argv + 1);
    return cli_usage("unknown profile command '%s'", argv[0]);
}
