/*
 * confdir.h - where the configuration folder is, when -c does not say.
 *
 * $PPS_CONFIG_DIR, else /etc/pps for root, else $XDG_CONFIG_HOME/pps or
 * ~/.config/pps.  The result is written into buf.
 */
#ifndef PPS_CONFDIR_H
#define PPS_CONFDIR_H

#include <stddef.h>

const char *confdir_default(char *buf, size_t size);

/* Map a libpps status to the exit status of the contract: 0 success, 1 a
 * runtime failure, 2 a usage or configuration error. */
int exit_status_of(int err);

#endif /* PPS_CONFDIR_H */
