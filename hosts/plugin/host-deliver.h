/*
 * host-deliver.h - a libpps deliverer over the host's callbacks.
 *
 * One per poll: the polling thread makes it, pps_poll_run delivers
 * through it, the thread frees it.  The host sees one transaction per
 * message, all of its calls on that thread.
 */
#ifndef PPS_PLUGIN_HOST_DELIVER_H
#define PPS_PLUGIN_HOST_DELIVER_H

#include <pps/deliver.h>

#include "pps-plugin.h"

/* A deliverer for profile `profile` (borrowed, must outlive it) over
 * `host` (borrowed).  *out is freed with pps_deliver_free(). */
int host_deliver_new(pps_deliver **out, const pps_plugin_host *host,
                     const char *profile);

#endif /* PPS_PLUGIN_HOST_DELIVER_H */
