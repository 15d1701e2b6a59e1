/*
 * cli.h - the pps command: what its command files share.
 */
#ifndef PPS_CLI_H
#define PPS_CLI_H

#include <pps/pps.h>

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

typedef struct cli {
    const char *dir; /* the configuration folder */
    pps_runtime *rt; /* made on first use */
    int verbose;     /* -v count */
} cli;

/* The runtime for cli->dir, made on first use; NULL after printing why. */
pps_runtime *cli_runtime(cli *c);

/* Print "pps: WHAT: detail" for the last libpps error and return the exit
 * status the contract gives it. */
int cli_fail(int err, const char *what);

/* Print a usage error and return EXIT_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Load profile `name`, or print why and return NULL. */
pps_profile *cli_load_profile(cli *c, const char *name, int *status);

int cmd_profile(cli *c, int argc, char **argv);
int cmd_fetch(cli *c, int argc, char **argv);
int cmd_route(cli *c, int argc, char **argv);
int cmd_check(cli *c, int argc, char **argv);
int cmd_status(cli *c, int argc, char **argv);

#endif /* PPS_CLI_H */
