/*
 * script-transport.c - the scripted server behind the POP3 unit tests
 * and the pop3 fuzz target (see script-transport.h).
 */
#include "script-transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pps/errors.h"

typedef struct step {
    pps_test_step type;
    char *data;
    size_t len;
    size_t offset; /* SEND: bytes handed out */
} step;

struct pps_test_script {
    pps_transport transport;
    step *steps;
    size_t count, cap;
    size_t cur; /* the step being played */
    size_t chunk;
    long long cut;
    unsigned long long delivered;
    int lenient;
    int connect_result;
    int tls;
    int open;
    pps_test_script_counts counts;
    char error[1024];
};

static void fail(pps_test_script *ts, const char *what, const char *a,
                 size_t alen, const char *b, size_t blen)
{
    char x[400], y[400];
    size_t i;

    if (ts->error[0])
        return;
    for (i = 0; i < alen && i < sizeof(x) - 1; i++)
        x[i] = (a[i] >= 0x20 && a[i] < 0x7f) ? a[i] : '~';
    x[i] = '\0';
    for (i = 0; i < blen && i < sizeof(y) - 1; i++)
        y[i] = (b[i] >= 0x20 && b[i] < 0x7f) ? b[i] : '~';
    y[i] = '\0';
    snprintf(ts->error, sizeof(ts->error), "%s: \"%s\" / \"%s\"", what, x, y);
}

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};

    if (ms > 0)
        nanosleep(&t, NULL);
}

static step *current(pps_test_script *ts)
{
    return ts->cur < ts->count ? &ts->steps[ts->cur] : NULL;
}

static int st_connect(pps_transport *t, const pps_server_address *addr,
                      int timeout_ms)
{
    pps_test_script *ts = t->payload;

    (void)timeout_ms;
    ts->counts.connects++;
    if (ts->connect_result < 0)
        return ts->connect_result;
    ts->open = 1;
    ts->tls = addr->implicit_tls;
    return 0;
}

static int cut_reached(const pps_test_script *ts)
{
    return ts->cut >= 0 && ts->delivered >= (unsigned long long)ts->cut;
}

static long st_read(pps_transport *t, void *buf, size_t len, int timeout_ms)
{
    pps_test_script *ts = t->payload;
    step *s;
    size_t n;

    if (!ts->open || cut_reached(ts))
        return 0;
    s = current(ts);
    if (!s)
        return ts->lenient ? 0 : (sleep_ms(timeout_ms), PPS_ETIMEOUT);
    switch (s->type) {
    case PPS_TS_EOF:
        return 0;
    case PPS_TS_STALL:
        sleep_ms(timeout_ms);
        return PPS_ETIMEOUT;
    case PPS_TS_SEND:
        break;
    default:
        if (ts->lenient)
            return 0;
        fail(ts, "client reads while the script expects a write/TLS",
             s->type == PPS_TS_TLS ? "TLS" : s->data,
             s->type == PPS_TS_TLS ? 0 : s->len, "", 0);
        sleep_ms(timeout_ms);
        return PPS_ETIMEOUT;
    }
    n = s->len - s->offset;
    if (n > len)
        n = len;
    if (ts->chunk && n > ts->chunk)
        n = ts->chunk;
    if (ts->cut >= 0 && n > (unsigned long long)ts->cut - ts->delivered)
        n = (size_t)((unsigned long long)ts->cut - ts->delivered);
    memcpy(buf, s->data + s->offset, n);
    s->offset += n;
    ts->delivered += n;
    if (s->offset == s->len) {
        ts->cur++;
    }
    return (long)n;
}

static long st_write(pps_transport *t, const void *buf, size_t len,
                     int timeout_ms)
{
    pps_test_script *ts = t->payload;
    step *s = current(ts);

    (void)timeout_ms;
    ts->counts.writes++;
    if (!ts->open || cut_reached(ts))
        return PPS_ENET;
    if (ts->lenient) {
        if (s && s->type == PPS_TS_EXPECT)
            ts->cur++;
        return (long)len;
    }
    if (!s || s->type != PPS_TS_EXPECT) {
        fail(ts, "client wrote where the script has no write", buf, len, "", 0);
        return PPS_ENET;
    }
    if (s->len != len || memcmp(s->data, buf, len) != 0) {
        fail(ts, "client wrote / script expects", buf, len, s->data, s->len);
        return PPS_ENET;
    }
    ts->cur++;
    return (long)len;
}

static int st_start_tls(pps_transport *t, int timeout_ms)
{
    pps_test_script *ts = t->payload;
    step *s = current(ts);

    (void)timeout_ms;
    ts->counts.start_tls++;
    /* Like the real transport: unread bytes before the handshake are an
     * injection attempt. */
    if (s && s->type == PPS_TS_SEND && s->offset < s->len &&
        ts->cur + 1 < ts->count && ts->steps[ts->cur + 1].type == PPS_TS_TLS)
        return PPS_ETLS;
    if (ts->lenient) {
        if (s && s->type == PPS_TS_TLS)
            ts->cur++;
        ts->tls = 1;
        return 0;
    }
    if (!s || s->type != PPS_TS_TLS) {
        fail(ts, "client starts TLS where the script does not", "", 0, "", 0);
        return PPS_ETLS;
    }
    ts->cur++;
    ts->tls = 1;
    return 0;
}

static int st_is_tls(pps_transport *t)
{
    pps_test_script *ts = t->payload;

    ts->counts.is_tls++;
    return ts->tls;
}

static void st_close(pps_transport *t)
{
    pps_test_script *ts = t->payload;

    ts->counts.closes++;
    ts->open = 0;
    ts->tls = 0;
}

static void st_free(pps_transport *t)
{
    (void)t; /* the script owns the table: pps_test_script_free */
}

pps_test_script *pps_test_script_new(void)
{
    pps_test_script *ts = calloc(1, sizeof(*ts));

    if (!ts)
        return NULL;
    ts->transport.version = PPS_TRANSPORT_VERSION;
    ts->transport.connect = st_connect;
    ts->transport.read = st_read;
    ts->transport.write = st_write;
    ts->transport.start_tls = st_start_tls;
    ts->transport.is_tls = st_is_tls;
    ts->transport.close = st_close;
    ts->transport.free = st_free;
    ts->transport.payload = ts;
    ts->cut = -1;
    return ts;
}

void pps_test_script_free(pps_test_script *ts)
{
    size_t i;

    if (!ts)
        return;
    for (i = 0; i < ts->count; i++)
        free(ts->steps[i].data);
    free(ts->steps);
    free(ts);
}

void pps_test_script_add(pps_test_script *ts, pps_test_step type,
                         const void *data, size_t len)
{
    step *s;

    if (ts->count == ts->cap) {
        size_t cap = ts->cap ? ts->cap * 2 : 16;
        step *n = realloc(ts->steps, cap * sizeof(*n));
        if (!n)
            abort();
        ts->steps = n;
        ts->cap = cap;
    }
    s = &ts->steps[ts->count++];
    s->type = type;
    s->len = len;
    s->offset = 0;
    s->data = malloc(len + 1);
    if (!s->data)
        abort();
    if (len)
        memcpy(s->data, data, len);
    s->data[len] = '\0';
}

void pps_test_script_lines(pps_test_script *ts, const char *const *steps)
{
    for (; *steps; steps++) {
        const char *l = *steps;
        if (strncmp(l, "S:", 2) == 0)
            pps_test_script_add(ts, PPS_TS_SEND, l + 2, strlen(l + 2));
        else if (strncmp(l, "C:", 2) == 0)
            pps_test_script_add(ts, PPS_TS_EXPECT, l + 2, strlen(l + 2));
        else if (strcmp(l, "TLS") == 0)
            pps_test_script_add(ts, PPS_TS_TLS, "", 0);
        else if (strcmp(l, "STALL") == 0)
            pps_test_script_add(ts, PPS_TS_STALL, "", 0);
        else if (strcmp(l, "EOF") == 0)
            pps_test_script_add(ts, PPS_TS_EOF, "", 0);
        else
            abort(); /* a typo in a test script */
    }
}

void pps_test_script_set_chunk(pps_test_script *ts, size_t chunk)
{
    ts->chunk = chunk;
}

void pps_test_script_set_cut(pps_test_script *ts, long long offset)
{
    ts->cut = offset;
}

void pps_test_script_set_lenient(pps_test_script *ts, int lenient)
{
    ts->lenient = lenient;
}

void pps_test_script_set_connect_result(pps_test_script *ts, int result)
{
    ts->connect_result = result;
}

pps_transport *pps_test_script_transport(pps_test_script *ts)
{
    return &ts->transport;
}

const char *pps_test_script_error(const pps_test_script *ts)
{
    return ts->error[0] ? ts->error : NULL;
}

int pps_test_script_finished(const pps_test_script *ts)
{
    return ts->cur == ts->count;
}

size_t pps_test_script_server_bytes(const pps_test_script *ts)
{
    size_t i, n = 0;

    for (i = 0; i < ts->count; i++)
        if (ts->steps[i].type == PPS_TS_SEND)
            n += ts->steps[i].len;
    return n;
}

pps_test_script_counts pps_test_script_get_counts(const pps_test_script *ts)
{
    return ts->counts;
}
