/*
 * fuzz/pop3 - the POP3 engine against a server that sends anything.
 *
 * Input: byte 0 picks the chunk size the server's bytes arrive in, byte 1
 * the options (pipelining window, implicit TLS or STLS, auth method,
 * initial-response policy); the rest is everything the server says.  The
 * client's writes are accepted unchecked.  A whole session runs: connect,
 * login, inventory, retrieve what was listed, delete it, quit.
 *
 * Properties beyond "no crash, no leak": every failure comes with a
 * message, every message begun is ended, and the octets reported equal
 * the bytes handed over.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pps/errors.h"
#include "pps/fetch.h"
#include "../../tests/helpers/script-transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)           \
    do {                      \
        if (!(cond))          \
            __builtin_trap(); \
    } while (0)

typedef struct tally {
    unsigned long long bytes, octets;
    unsigned int begins, ends;
} tally;

static int t_begin(unsigned int number, void *payload)
{
    tally *t = payload;

    (void)number;
    t->begins++;
    return 0;
}

static int t_data(const char *buf, size_t len, void *payload)
{
    tally *t = payload;

    CHECK(len > 0 && buf != NULL);
    t->bytes += len;
    return 0;
}

static int t_end(unsigned int number, int status, unsigned long long octets,
                 unsigned int flags, void *payload)
{
    tally *t = payload;

    (void)number;
    (void)flags;
    if (status != PPS_ETEMP && status != PPS_EPERM)
        t->octets += octets;
    t->ends++;
    return 0;
}

static const char *const methods[] = {NULL,      "user",       "plain",
                                      "login",   "cram-md5",   "apop",
                                      "xoauth2", "oauthbearer"};

static int session(pps_test_script *ts, unsigned int opt, tally *t)
{
    static const pps_retrieve_callbacks cb = {PPS_RETRIEVE_CALLBACKS_VERSION,
                                              t_begin, t_data, t_end};
    pps_session_options o = PPS_SESSION_OPTIONS_INIT;
    pps_server_address addr = PPS_SERVER_ADDRESS_INIT;
    pps_session *s = NULL;
    pps_message_list *l = NULL;
    unsigned int nums[8];
    size_t i, n = 0;
    int err;

    o.user = "fuzz@example.com";
    o.password = "secret";
    o.auth_method = methods[opt & 7];
    o.pipeline_window = (opt >> 3) & 1 ? 1 : 4;
    o.stls = (opt >> 4) & 1 ? PPS_STLS_IF_OFFERED : PPS_STLS_REQUIRED;
    o.sasl_initial_response = (int)((opt >> 5) % 3);
    o.allow_plaintext_password = 1;
    o.read_timeout_ms = 1000;
    memcpy(addr.host, "pop.test", 9);
    addr.port = (opt >> 7) & 1 ? 995 : 110;
    addr.implicit_tls = (opt >> 7) & 1;
    if ((err = pps_session_new(&s, pps_test_script_transport(ts), &o)) < 0)
        return err;
    if ((err = pps_session_connect(s, &addr)) == 0 &&
        (err = pps_session_login(s)) == 0 &&
        (err = pps_session_inventory(&l, s)) == 0) {
        for (i = 0; i < l->count && n < 8; i++)
            nums[n++] = l->entries[i].number;
        if ((err = pps_session_retrieve(s, nums, n, &cb, t)) == 0 &&
            (err = pps_session_top(s, 1, 2, &cb, t)) >= PPS_EPERM &&
            (err = pps_session_delete(s, nums, n, NULL)) == 0)
            err = pps_session_quit(s);
    }
    pps_message_list_free(l);
    pps_session_free(s);
    return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pps_test_script *ts;
    tally t = {0, 0, 0, 0};
    int err;

    if (size < 2)
        return 0;
    if (!(ts = pps_test_script_new()))
        return 0;
    pps_test_script_set_lenient(ts, 1);
    pps_test_script_set_chunk(ts, data[0] % 64);
    pps_test_script_add(ts, PPS_TS_SEND, data + 2, size - 2);
    err = session(ts, data[1], &t);
    CHECK(err <= 0);
    if (err < 0)
        CHECK(pps_error_last()->message[0] != '\0');
    CHECK(t.begins <= t.ends); /* a refused message ends without begin */
    CHECK(t.bytes == t.octets);
    pps_test_script_free(ts);
    return 0;
}
