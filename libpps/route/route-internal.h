/*
 * libpps/route/route-internal.h - what the route part shares inside
 * itself (internal).
 */
#ifndef PPS_ROUTE_INTERNAL_H
#define PPS_ROUTE_INTERNAL_H

#include <stddef.h>

#include "pps/route.h"

/* The longest source text kept per entry for explanations; longer is cut
 * with "...".  Explanations are for people, not for re-parsing. */
#define PPS__ROUTE_SOURCE_MAX 200

/* user@domain, lower case, both parts at the address parser's caps
 * (address.h: 256 + 1 + 255) and a NUL. */
#define PPS__ROUTE_RECIPIENT_MAX (256 + 1 + 255 + 1)

/* match.c */

/* 1 when domain[len] is the policy's local domain or one of its
 * local_domains (ASCII case-insensitive, trailing dot ignored). */
int pps__route_is_local_domain(const pps_route_policy *pol, const char *domain,
                               size_t len);

/* 1 when a local part may be handed to a deliverer as a user name. */
int pps__route_is_user_name(const char *s, size_t len);

/* The alias target for local@domain or local; NULL when none. */
const char *pps__route_find_alias(const pps_route_policy *pol,
                                  const char *local, size_t local_len,
                                  const char *domain, size_t domain_len);

/* "local@domain", ASCII lower-cased, into buf of
 * PPS__ROUTE_RECIPIENT_MAX bytes (cut to fit). */
void pps__route_join(char *buf, const char *local, size_t local_len,
                     const char *domain, size_t domain_len);

/* result.c */
int pps__route_result_new(pps_route_result **out);

/* Append a decision; every string is copied (source made printable and
 * cut).  `recipient` NULL for a skipped address. */
int pps__route_add(pps_route_result *res, const char *recipient,
                   const char *address, size_t address_len, const char *header,
                   size_t header_len, const char *source, size_t source_len,
                   pps_route_rule rule, pps_route_skip skip);

/* 1 when `recipient` is already a recipient of res. */
int pps__route_has_recipient(const pps_route_result *res,
                             const char *recipient);

/* Turn recipient `entry` into a skip (seen() said it was delivered). */
void pps__route_unroute(pps_route_result *res, size_t entry,
                        pps_route_skip skip);

/* Take ownership of the heap strings (NULL ok). */
void pps__route_set_warning(pps_route_result *res, char *warning);
void pps__route_set_key(pps_route_result *res, char *key);
int pps__route_set_summary(pps_route_result *res, const char *summary);

/* Build the recipient list from the entries; call once at the end. */
int pps__route_finish(pps_route_result *res);

/* trace.c */

/* Write the marker the trace header carries for `profile`:
 * (libpps profile "NAME"), with the name escaped as the header has it.
 * Returns its length, or -1 when it does not fit. */
int pps__route_trace_marker(char *buf, size_t size, const char *profile);

/* The duplicate key of the message (see pps_route_result_key()); *out is
 * the caller's, freed with pps__free. */
int pps__route_message_key(char **out, const pps_header_reader *hr);

#endif /* PPS_ROUTE_INTERNAL_H */
