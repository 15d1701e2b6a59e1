/*
 * confdir.c - the default configuration folder, and exit statuses.
 */
#include "confdir.h"

#include <pps/errors.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char *confdir_default(char *buf, size_t size)
{
    const char *env = getenv("PPS_CONFIG_DIR");
    const char *home;

    if (env && *env)
        snprintf(buf, size, "%s", env);
    else if (geteuid() == 0)
        snprintf(buf, size, "/etc/pps");
    else if ((env = getenv("XDG_CONFIG_HOME")) && *env)
        snprintf(buf, size, "%s/pps", env);
    else if ((home = getenv("HOME")) && *home)
        snprintf(buf, size, "%s/.config/pps", home);
    else
        snprintf(buf, size, "/etc/pps");
    return buf;
}

int exit_status_of(int err)
{
    switch (err) {
    case PPS_OK:
        return 0;
    case PPS_ECONFIG:
    case PPS_EINVAL:
    case PPS_ENOTFOUND:
    case PPS_EEXISTS:
        return 2;
    default:
        return 1;
    }
}
