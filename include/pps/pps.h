/*
 * pps/pps.h - libpps, everything at once.
 *
 * libpps pulls mail from remote POP3 mailboxes and hands every message to
 * the users of a local mail server, exactly once, then removes it from the
 * remote server.  Include this one header to get the whole public API; each
 * part also has its own header that opens with the call sequence of that
 * part:
 *
 *     pps/errors.h         status codes, pps_error_last()
 *     pps/log.h            the log callback
 *     pps/version.h        compile-time and run-time versions
 *     pps/server.h         "mail.example.com 995s" and friends
 *     pps/transport.h      the byte pipe: TCP + OpenSSL, or your own
 *     pps/fetch.h          a POP3 session: log in, list, retrieve, delete
 *     pps/route.h          header reader and routing policy
 *     pps/deliver.h        delivery: Maildir, LMTP, SMTP, pipe, ...
 *     pps/deliverer.h      your own deliverer
 *     pps/profile.h        profiles and pps.conf
 *     pps/profile_store.h  where profiles are kept
 *     pps/ledger.h         what was delivered and deleted
 *     pps/ledger_store.h   where the ledger is kept
 *     pps/poll.h           one poll, and the runtime hosts use
 */
#ifndef PPS_PPS_H
#define PPS_PPS_H

#include "common.h"
#include "pps/version.h" /* generated: in the build folder */
#include "errors.h"
#include "log.h"
#include "server.h"
#include "transport.h"
#include "fetch.h"
#include "route.h"
#include "deliver.h"
#include "deliverer.h"
#include "profile.h"
#include "profile_store.h"
#include "ledger.h"
#include "ledger_store.h"

#endif /* PPS_PPS_H */
