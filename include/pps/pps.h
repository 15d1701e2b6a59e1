/*
 * pps/pps.h - libpps, everything at once.
 *
 * libpps pulls mail from remote POP3 mailboxes and hands every message to
 * the users of a local mail server, exactly once, then removes it from the
 * remote server.  Include this one header to get the whole public API; each
 * part also has its own header that opens with the call sequence of that
 * part:
 *
 *     pps/errors.h   status codes, pps_error_last()
 *     pps/log.h      the log callback
 *     pps/server.h   "mail.example.com 995s" and friends
 *     pps/profile.h  profiles, their secrets, and the global pps.conf
 *     pps/profile_store.h  where profiles are kept (a folder, or your own)
 *     pps/version.h  compile-time and run-time versions
 */
#ifndef PPS_PPS_H
#define PPS_PPS_H

#include "common.h"
#include "pps/version.h" /* generated: in the build folder */
#include "errors.h"
#include "log.h"
#include "server.h"
#include "profile.h"
#include "profile_store.h"

#endif /* PPS_PPS_H */
