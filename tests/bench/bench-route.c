/*
 * bench-route.c - throughput of header reading + routing on a typical
 * 2 KB header block (figures printed, not asserted).
 *
 *     bench-route [SECONDS]
 *
 * Prints MB/s of header data and messages/s for: the header reader alone;
 * reader + routing under a catch-all policy with envelope headers; and
 * the same fed in 512-byte chunks as a fetcher would.  Figures are per
 * second of the process's CPU time; the wall-clock figure follows.  Build with
 * -Dbuildtype=release for the figure (tests/bench/run.sh does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pps/route.h"

static const char header[] =
    "Return-Path: <bounce-123456@mail.example-shop.com>\r\n"
    "Delivered-To: catchall@remote.test\r\n"
    "Received: from mx1.remote.test (mx1.remote.test [192.0.2.10])\r\n"
    "\tby pop.remote.test (Postfix) with ESMTPS id 4Nq8Xk1Z2Qz9sT\r\n"
    "\tfor <catchall@remote.test>; Fri, 27 Nov 2026 03:05:28 +0000 (UTC)\r\n"
    "Received: from mail.example-shop.com (mail.example-shop.com "
    "[198.51.100.25])\r\n"
    "\tby mx1.remote.test (Postfix) with ESMTPS id 4Nq8Xj6x7Kz9sS\r\n"
    "\tfor <alice@local.test>; Fri, 27 Nov 2026 03:05:27 +0000 (UTC)\r\n"
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; "
    "d=example-shop.com;\r\n"
    "\ts=sel1; t=1795748727; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;"
    "\r\n"
    "\th=From:To:Cc:Subject:Date:Message-ID:MIME-Version:Content-Type;\r\n"
    "\tb=Vw4C0nD6kB9X0rKp1sQ9mZ0c2l3eH7s8yQ1tR4uV5wX6yZ7aB8cD9eF0gH1iJ2kL3mN"
    "4oP5q\r\n"
    "\tR6sT7uV8wX9yZ0aB1cD2eF3gH4iJ5kL6mN7oP8qR9sT0uV1wX2yZ3aB4cD5eF6gH7iJ8k"
    "L9mN0\r\n"
    "\toP1qR2sT3uV4wX5yZ6aB7cD8eF9gH0iJ1kL2mN3oP4qR5sT6uV7wX8yZ9aB0cD1eF2gH3"
    "iJ4k=\r\n"
    "ARC-Authentication-Results: i=1; mx1.remote.test; dkim=pass "
    "header.d=example-shop.com\r\n"
    "Authentication-Results: mx1.remote.test; dkim=pass (2048-bit key)\r\n"
    "\theader.d=example-shop.com header.i=@example-shop.com "
    "header.b=Vw4C0nD6;\r\n"
    "\tspf=pass (mx1.remote.test: domain of bounce-123456@mail.example-shop.com"
    "\r\n"
    "\tdesignates 198.51.100.25 as permitted sender)\r\n"
    "From: \"Example Shop\" <news@example-shop.com>\r\n"
    "To: \"Alice Example\" <alice@local.test>, \"Bob, the Builder\" "
    "<bob@local.test>,\r\n"
    "\t\"Zed Outsider\" <zed@other.example>\r\n"
    "Cc: =?UTF-8?Q?Carol_M=C3=BCller?= <carol@local.test>, "
    "team: dave@local.test, eve@other.example;\r\n"
    "Subject: =?UTF-8?Q?Your_order_=E2=84=96_123456_has_shipped?=\r\n"
    "Date: Fri, 27 Nov 2026 04:05:26 +0100\r\n"
    "Message-ID: <20261127030526.123456.789@mail.example-shop.com>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/alternative; "
    "boundary=\"----=_Part_123456_789.1795748726\"\r\n"
    "List-Unsubscribe: <mailto:unsubscribe-123456@example-shop.com>,\r\n"
    "\t<https://example-shop.com/unsubscribe?u=123456&l=789>\r\n"
    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    "X-Mailer: Example Shop Mailer 4.2\r\n"
    "X-Campaign-ID: 2026-11-shipping-notice-123456\r\n"
    "X-Spam-Status: No, score=-0.1 required=5.0 "
    "tests=DKIM_SIGNED,DKIM_VALID\r\n"
    "\r\n";

static const char *const users[] = {"alice", "bob", "carol", "dave"};

static int exists(const char *user, const char *domain, void *payload)
{
    size_t i;

    (void)domain;
    (void)payload;
    for (i = 0; i < sizeof(users) / sizeof(users[0]); i++)
        if (strcmp(user, users[i]) == 0)
            return 1;
    return 0;
}

static double seconds_of(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this process: the machine is shared, and wall time counts
 * other people's work too (both are printed). */
static double now(void)
{
    return seconds_of(CLOCK_PROCESS_CPUTIME_ID);
}

enum mode { READ_ONLY, READ_AND_ROUTE, CHUNKED };

static int one(enum mode mode, const pps_route_policy *pol, size_t len)
{
    pps_header_reader *hr;
    pps_route_result *res;
    size_t used, off = 0, chunk = mode == CHUNKED ? 512 : len;
    int rc = 0;

    if (pps_header_reader_new(&hr, 0) < 0)
        return -1;
    while (off < len && rc == 0) {
        size_t n = len - off < chunk ? len - off : chunk;
        if ((rc = pps_header_reader_feed(hr, header + off, n, &used)) < 0)
            break;
        off += used;
    }
    if (rc >= 0 && mode != READ_ONLY) {
        rc = pps_route(&res, pol, hr);
        if (rc == 0) {
            rc = pps_route_result_count(res) > 0 ? 0 : -1;
            pps_route_result_free(res);
        }
    }
    pps_header_reader_free(hr);
    return rc < 0 ? -1 : 0;
}

static int run(const char *name, enum mode mode, const pps_route_policy *pol,
               double seconds)
{
    size_t len = sizeof(header) - 1;
    unsigned long n = 0, i;
    double start = now(), wall = seconds_of(CLOCK_MONOTONIC), elapsed;

    do {
        for (i = 0; i < 1000; i++)
            if (one(mode, pol, len) < 0) {
                fprintf(stderr, "%s: routing failed\n", name);
                return 1;
            }
        n += 1000;
        elapsed = now() - start;
    } while (elapsed < seconds);
    wall = seconds_of(CLOCK_MONOTONIC) - wall;
    printf("%-34s %8.1f MB/s %10.0f messages/s   (wall clock: %.1f MB/s)\n",
           name, (double)n * (double)len / elapsed / 1e6, (double)n / elapsed,
           (double)n * (double)len / wall / 1e6);
    return 0;
}

int main(int argc, char **argv)
{
    static const char *const envelope[] = {"Delivered-To", "X-Original-To",
                                           "Received"};
    pps_route_policy pol = PPS_ROUTE_POLICY_INIT;
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    int bad = 0;

    pol.profile = "bench";
    pol.local_user = "postmaster";
    pol.local_domain = "local.test";
    pol.distribute = 1;
    pol.user_exists = exists;
    printf("header block: %zu bytes, %.1f s per figure\n", sizeof(header) - 1,
           seconds);
    bad |= run("header reader", READ_ONLY, &pol, seconds);
    bad |= run("reader + route (To/Cc)", READ_AND_ROUTE, &pol, seconds);
    pol.envelope_headers = envelope;
    pol.envelope_header_count = 3;
    bad |=
        run("reader + route (envelope first)", READ_AND_ROUTE, &pol, seconds);
    bad |= run("reader + route, 512-byte chunks", CHUNKED, &pol, seconds);
    return bad;
}
