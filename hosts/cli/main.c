/*
 * pps - the command-line host of libpps.
 *
 * Thin by design: parse arguments, set up logging, call the library, turn
 * its status into an exit code (0 success, 1 runtime failure, 2 usage or
 * configuration error).  The contract is in shared/design.md and
 * docs/pps.1.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "confdir.h"
#include "hostlog.h"

static void usage(FILE *out)
{
    fputs(
        "usage: pps [-c DIR] [-v] COMMAND [ARGS...]\n"
        "\n"
        "commands:\n"
        "  profile add NAME --server S --user U PASSWORD-SOURCE\n"
        "              --local-user L --local-domain D [OPTIONS]\n"
        "  profile edit NAME [OPTIONS]     change settings (--no-X for yes/no "
        "ones)\n"
        "  profile delete NAME\n"
        "  profile list                    one line per profile\n"
        "  profile show NAME               key = value lines, secrets masked\n"
        "  fetch [NAME...]                 poll now, once (all profiles when "
        "none named)\n"
        "  route NAME [FILE] [--explain]   the local recipients of a message\n"
        "  check NAME                      connect, TLS, log in, show "
        "capabilities\n"
        "  status                          the last poll of each profile\n"
        "\n"
        "PASSWORD-SOURCE is one of --password-stdin, --password-file F,\n"
        "--password-command CMD; a password is never taken from the command "
        "line.\n"
        "\n"
        "options:\n"
        "  -c DIR      configuration folder (default $PPS_CONFIG_DIR, /etc/pps "
        "for\n"
        "              root, ~/.config/pps otherwise)\n"
        "  -v          more detail on stderr (repeat for debug and trace)\n"
        "  --version   print the version and exit\n"
        "  --help      print this help and exit\n"
        "\n"
        "See pps(1) and pps.conf(5).\n",
        out);
}

int cli_usage(const char *fmt, ...)
{
    va_list ap;

    fputs("pps: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (try 'pps --help')\n", stderr);
    return EXIT_USAGE;
}

int cli_fail(int err, const char *what)
{
    const pps_error *e = pps_error_last();

    if (e->server[0])
        fprintf(stderr, "pps: %s: %s (server said: %s)\n", what,
                e->message[0] ? e->message : pps_strerror(err), e->server);
    else
        fprintf(stderr, "pps: %s: %s\n", what,
                e->message[0] ? e->message : pps_strerror(err));
    return exit_status_of(err);
}

pps_runtime *cli_runtime(cli *c)
{
    const char *file, *level;
    int err, file_level;

    if (c->rt)
        return c->rt;
    if ((err = pps_runtime_new(&c->rt, c->dir)) < 0) {
        cli_fail(err, c->dir);
        return NULL;
    }
    /* pop3.log gets what the service would log; stderr what -v asks. */
    file = pps_config_get(pps_runtime_config(c->rt), "service", "log_file");
    level = pps_config_get(pps_runtime_config(c->rt), "service", "log_level");
    file_level = level ? hostlog_level_from_name(level) : PPS_LOG_INFO;
    if (file_level < 0)
        file_level = PPS_LOG_INFO;
    if (hostlog_open(file, (pps_log_level)file_level,
                     (pps_log_level)(PPS_LOG_WARN + c->verbose)) < 0)
        fprintf(stderr, "pps: warning: cannot open the log file %s\n", file);
    return c->rt;
}

pps_profile *cli_load_profile(cli *c, const char *name, int *status)
{
    pps_profile *p = NULL;
    pps_runtime *rt = cli_runtime(c);
    char what[128];
    int err;

    if (!rt) {
        *status = EXIT_USAGE;
        return NULL;
    }
    if ((err = pps_profile_store_load(&p, pps_runtime_profiles(rt), name)) <
        0) {
        snprintf(what, sizeof(what), "profile %s", name);
        *status = cli_fail(err, what);
        return NULL;
    }
    return p;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(cli *, int, char **);
    } commands[] = {
        {"profile", cmd_profile}, {"fetch", cmd_fetch},   {"route", cmd_route},
        {"check", cmd_check},     {"status", cmd_status},
    };
    char dir[4096];
    cli c = {NULL, NULL, 0};
    int i = 1, status;
    size_t k;

    /* Until the runtime says where pop3.log is, warnings go to stderr.
     * Failures are reported by the commands, one line each. */
    hostlog_open(NULL, PPS_LOG_ERROR, PPS_LOG_WARN);
    hostlog_stderr_errors(0);
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--version") == 0) {
            printf("pps %s (libpps %s)\n", PPS_VERSION_STRING,
                   pps_version(NULL, NULL, NULL));
            return EXIT_OK;
        } else if (strcmp(argv[i], "--help") == 0 ||
                   strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "-c") == 0) {
            if (++i >= argc)
                return cli_usage("-c needs a folder");
            c.dir = argv[i];
        } else if (strspn(argv[i] + 1, "v") == strlen(argv[i] + 1)) {
            c.verbose += (int)strlen(argv[i] + 1);
        } else {
            return cli_usage("unknown option '%s'", argv[i]);
        }
    }
    if (i >= argc)
        return cli_usage("no command given");
    if (c.verbose > PPS_LOG_TRACE - PPS_LOG_WARN)
        c.verbose = PPS_LOG_TRACE - PPS_LOG_WARN;
    hostlog_open(NULL, PPS_LOG_ERROR,
                 (pps_log_level)(PPS_LOG_WARN + c.verbose));
    if (!c.dir)
        c.dir = confdir_default(dir, sizeof(dir));

    for (k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
        if (strcmp(argv[i], commands[k].name) == 0)
            break;
    if (k == sizeof(commands) / sizeof(commands[0]))
        return cli_usage("unknown command '%s'", argv[i]);
    status = commands[k].run(&c, argc - i - 1, argv + i + 1);
    pps_runtime_free(c.rt);
    hostlog_close();
    return status;
}
