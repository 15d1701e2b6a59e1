/*
 * pull.c - pull every message of one POP3 mailbox to nowhere, and say how
 * fast: the benchmark side of tests/bench/pull.sh.
 *
 *     PPS_BENCH_PASSWORD=... pull "127.0.0.1 995s" user [CA_FILE [WINDOW]]
 *
 * Uses the public API only: transport, session, inventory, retrieve (the
 * bytes are counted and dropped), QUIT without DELE, so the mailbox can be
 * pulled again by the other programs compared.  PPS_BENCH_PLAIN=1: no
 * STLS, USER/PASS in clear (the plain-POP3 floor of e2e.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pps/pps.h"

static int count(const char *buf, size_t len, void *payload)
{
    (void)buf;
    *(unsigned long long *)payload += len;
    return 0;
}

static double now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int fail(const char *what)
{
    fprintf(stderr, "pull: %s: %s [%s]\n", what, pps_error_last()->message,
            pps_error_last()->server);
    return 1;
}

int main(int argc, char **argv)
{
    static const pps_retrieve_callbacks cb = {PPS_RETRIEVE_CALLBACKS_VERSION,
                                              NULL, count, NULL};
    pps_tls_options tls = PPS_TLS_OPTIONS_INIT;
    pps_session_options o = PPS_SESSION_OPTIONS_INIT;
    pps_server_address addr = PPS_SERVER_ADDRESS_INIT;
    pps_transport *t = NULL;
    pps_session *s = NULL;
    pps_message_list *l = NULL;
    unsigned int *nums;
    unsigned long long bytes = 0;
    double t0, t1;
    size_t i;

    if (argc < 3) {
        fprintf(stderr, "usage: pull SERVER USER [CA_FILE [WINDOW]]\n");
        return 2;
    }
    if (pps_server_parse(&addr, argv[1]) < 0)
        return fail("server");
    tls.ca_file = argc > 3 ? argv[3] : NULL;
    o.user = argv[2];
    o.password = getenv("PPS_BENCH_PASSWORD");
    if (getenv("PPS_BENCH_PLAIN")) { /* e2e.sh's plain-POP3 floor */
        o.stls = PPS_STLS_NEVER;
        o.allow_plaintext_password = 1;
    }
    o.pipeline_window = argc > 4 ? (unsigned int)strtoul(argv[4], NULL, 10) : 0;
    t0 = now();
    if (pps_transport_tcp_new(&t, &tls) < 0)
        return fail("transport");
    if (pps_session_new(&s, t, &o) < 0 || pps_session_connect(s, &addr) < 0 ||
        pps_session_login(s) < 0 || pps_session_inventory(&l, s) < 0)
        return fail("session");
    nums = malloc((l->count ? l->count : 1) * sizeof(*nums));
    for (i = 0; i < l->count; i++)
        nums[i] = l->entries[i].number;
    if (pps_session_retrieve(s, nums, l->count, &cb, &bytes) < 0 ||
        pps_session_quit(s) < 0)
        return fail("retrieve");
    t1 = now();
    printf("messages=%zu bytes=%llu seconds=%.3f messages_per_s=%.0f\n",
           l->count, bytes, t1 - t0, (double)l->count / (t1 - t0));
    free(nums);
    pps_message_list_free(l);
    pps_session_free(s);
    pps_transport_free(t);
    return 0;
}
