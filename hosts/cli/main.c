/*
 * pps - the command-line host of libpps.
 *
 * Thin by design: parse arguments, install a log function, call the
 * library, turn its status into an exit code (0 success, 1 runtime
 * failure, 2 usage or configuration error).
 *
 * NOT FINISHED: only --version and --help work so far.  The commands of
 * the contract in shared/design.md (profile, fetch, route, check, status)
 * come with issue #6; until then they fail with exit status 2 and say so.
 */
#include <stdio.h>
#include <string.h>

#include <pps/pps.h>

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

static void usage(FILE *out)
{
    fputs("usage: pps [-c DIR] COMMAND [ARGS...]\n"
          "\n"
          "commands:\n"
          "  profile add|edit|delete|list|show   manage profiles\n"
          "  fetch [NAME...]                     poll now, once\n"
          "  route NAME [FILE]                   the local recipients of a "
          "message\n"
          "  check NAME                          connect, TLS, log in, list "
          "capabilities\n"
          "  status                              last poll of each profile\n"
          "\n"
          "options:\n"
          "  -c DIR      configuration folder (default $PPS_CONFIG_DIR)\n"
          "  --version   print the version and exit\n"
          "  --help      print this help and exit\n",
          out);
}

int main(int argc, char **argv)
{
    int i = 1;

    pps_log_set(pps_log_stderr, PPS_LOG_WARN, NULL);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("pps %s (libpps %s)\n", PPS_VERSION_STRING,
               pps_version(NULL, NULL, NULL));
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[i], "-c") == 0)
        i += 2;
    if (i >= argc) {
        fprintf(stderr, "pps: missing command (try 'pps --help')\n");
        return EXIT_USAGE;
    }
    fprintf(stderr, "pps: '%s' is not implemented yet (issue #6)\n", argv[i]);
    return EXIT_USAGE;
}
