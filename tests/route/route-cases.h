/*
 * route-cases.h - the case table of tests/route/cases/headers.txt and the
 * test policy it is written for (shared by the table test, the libetpan
 * differential test and the benchmark).
 */
#ifndef PPS_TEST_ROUTE_CASES_H
#define PPS_TEST_ROUTE_CASES_H

#include <stddef.h>

#include "pps/route.h"

typedef struct route_case {
    char name[128];
    char distribute[1024]; /* expected recipients, space-separated */
    char envelope[1024];
    char etpan[256]; /* why libetpan differs, or "" */
    char *message;   /* the bytes, escapes and CRLF applied */
    size_t message_len;
} route_case;

typedef struct route_cases {
    route_case *items;
    size_t count;
} route_cases;

/* 0, or -1 with a message on stderr. */
int route_cases_load(route_cases *out, const char *path);
void route_cases_free(route_cases *cases);

/* The policy the table expects; envelope = 1 adds the envelope headers.
 * The strings are static. */
void route_cases_policy(pps_route_policy *pol, int distribute, int envelope);

/* The users of the table's local domains. */
int route_cases_user_exists(const char *user, const char *domain,
                            void *payload);

#endif
