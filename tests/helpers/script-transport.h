/*
 * script-transport.h - a pps_transport that plays a scripted POP3 server.
 *
 * A script is a list of steps, played in order:
 *
 *     "S:+OK hello\r\n"   the server sends these bytes
 *     "C:CAPA\r\n"        the client must write exactly these bytes, in one
 *                         write call (so batching is checked exactly)
 *     "TLS"               the client must call start_tls now
 *     "STALL"             the server says nothing: reads time out
 *     "EOF"               the server closes the connection
 *
 * Server bytes are handed out at most `chunk` at a time (0: a whole step)
 * and never across a step, and the connection can be cut after any number
 * of server bytes.  A mismatch is recorded (pps_test_script_error) and the
 * write fails with PPS_ENET, so the engine stops.  Lenient mode (for
 * fuzzing) accepts every write.  No cmocka here: the fuzzer links it too.
 */
#ifndef PPS_TEST_SCRIPT_TRANSPORT_H
#define PPS_TEST_SCRIPT_TRANSPORT_H

#include <stddef.h>

#include "pps/transport.h"

typedef struct pps_test_script pps_test_script;

typedef enum pps_test_step {
    PPS_TS_SEND,
    PPS_TS_EXPECT,
    PPS_TS_TLS,
    PPS_TS_STALL,
    PPS_TS_EOF
} pps_test_step;

pps_test_script *pps_test_script_new(void);
void pps_test_script_free(pps_test_script *ts);

/* Append one step (data copied); and the "S:"/"C:" string form above,
 * a NULL-terminated array. */
void pps_test_script_add(pps_test_script *ts, pps_test_step type,
                         const void *data, size_t len);
void pps_test_script_lines(pps_test_script *ts, const char *const *steps);

void pps_test_script_set_chunk(pps_test_script *ts, size_t chunk);
/* Cut the connection after `offset` server bytes (-1: never). */
void pps_test_script_set_cut(pps_test_script *ts, long long offset);
void pps_test_script_set_lenient(pps_test_script *ts, int lenient);
/* What connect() returns (0 by default). */
void pps_test_script_set_connect_result(pps_test_script *ts, int result);

pps_transport *pps_test_script_transport(pps_test_script *ts);

/* NULL when every write so far matched, else what went wrong. */
const char *pps_test_script_error(const pps_test_script *ts);
/* 1 when every step was played. */
int pps_test_script_finished(const pps_test_script *ts);
/* Total server bytes in the script. */
size_t pps_test_script_server_bytes(const pps_test_script *ts);

typedef struct pps_test_script_counts {
    unsigned int connects, closes, writes, start_tls, is_tls;
} pps_test_script_counts;
pps_test_script_counts pps_test_script_get_counts(const pps_test_script *ts);

#endif
