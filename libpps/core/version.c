/*
 * version.c - the version of the library that is actually loaded.
 */
#include "pps/version.h"

const char *pps_version(int *major, int *minor, int *patch)
{
    if (major)
        *major = PPS_VERSION_MAJOR;
    if (minor)
        *minor = PPS_VERSION_MINOR;
    if (patch)
        *patch = PPS_VERSION_PATCH;
    return PPS_VERSION_STRING;
}
