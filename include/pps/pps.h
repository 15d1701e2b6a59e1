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
 *     pps/transport.h the byte pipe under POP3 (TCP + TLS by default)
 *     pps/version.h  compile-time and run-time versions
 */
#ifndef PPS_PPS_H
#define PPS_PPS_H

#include "common.h"
#include "pps/version.h" /* generated: in the build folder */
#include "errors.h"
#include "log.h"
#include "server.h"
#include "transport.h"

#endif /* PPS_PPS_H */
