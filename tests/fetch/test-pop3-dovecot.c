/*
 * test-pop3-dovecot.c - the POP3 engine over the default transport against
 * the real Dovecot of the test bed: logins over plain (plaintext allowed
 * explicitly), STLS and implicit TLS; inventory, retrieve, delete and QUIT
 * of seeded messages, with the counts checked in the maildir on disk.
 * Run under `testbed.py run --`; without the test bed it is skipped.
 */
#include "../helpers/pps-test.h"

#include <dirent.h>
#include <stdio.h>

#include "pps/errors.h"
#include "pps/fetch.h"
#include "pps/log.h"
#include "pps/transport.h"

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v && *v ? v : NULL;
}

static pps_server_address address(int implicit_tls)
{
    pps_server_address a = PPS_SERVER_ADDRESS_INIT;

    snprintf(a.host, sizeof(a.host), "%s", env("PPS_TB_HOST"));
    a.port = (unsigned int)strtoul(
        env(implicit_tls ? "PPS_TB_POP3S_PORT" : "PPS_TB_POP3_PORT"), NULL, 10);
    a.implicit_tls = implicit_tls;
    return a;
}

static pps_transport *transport(void)
{
    pps_tls_options t = PPS_TLS_OPTIONS_INIT;
    pps_transport *tr = NULL;

    t.ca_file = env("PPS_TB_CA_FILE");
    t.server_name = env("PPS_TB_CERT_NAME");
    if (pps_transport_tcp_new(&tr, &t) < 0)
        fail_msg("transport: %s", pps_error_last()->message);
    return tr;
}

static void options(pps_session_options *o, const char *user)
{
    pps_session_options_init(o);
    o->user = user;
    o->password = env("PPS_TB_PASSWORD");
    o->read_timeout_ms = 10000;
    o->log_context = "dovecot-test";
}

#define OK(call)                                                               \
    do {                                                                       \
        int err_ = (call);                                                     \
        if (err_ != 0)                                                         \
            fail_msg("%s: %d %s [%s]", #call, err_, pps_error_last()->message, \
                     pps_error_last()->server);                                \
    } while (0)

/* Messages on disk: files in new/ and cur/ of the user's Maildir. */
static int on_disk(const char *local_part)
{
    const char *sub[] = {"new", "cur"};
    char path[2048];
    int n = 0, i;

    for (i = 0; i < 2; i++) {
        DIR *d;
        struct dirent *e;
        /* PPS_TB_REMOTE_MAILDIR_FMT spelt out: homes are ROOT/domain/user */
        if (snprintf(path, sizeof(path), "%s/%s/%s/Maildir/%s",
                     env("PPS_TB_MAIL_ROOT"), env("PPS_TB_REMOTE_DOMAIN"),
                     local_part, sub[i]) >= (int)sizeof(path))
            fail_msg("path too long");
        if (!(d = opendir(path)))
            continue;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                n++;
        closedir(d);
    }
    return n;
}

/* Seed messages through the test bed's own tool. */
static void seed(const char *user, const char *const *bodies, size_t n)
{
    char cmd[4096];
    size_t i, len;

    len = (size_t)snprintf(cmd, sizeof(cmd), "python3 '%s' seed %s",
                           env("PPS_TB_TESTBED"), user);
    for (i = 0; i < n; i++) {
        char file[256];
        FILE *f;
        snprintf(file, sizeof(file), "%s/seed-%zu.eml", env("PPS_TB_DIR"), i);
        f = fopen(file, "wb");
        assert_non_null(f);
        fputs(bodies[i], f);
        fclose(f);
        len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, " '%s'", file);
    }
    assert_int_equal(system(cmd), 0);
}

typedef struct sink {
    char buf[1 << 16];
    size_t len;
    unsigned long long total;
    unsigned int ends;
} sink;

static int s_data(const char *buf, size_t len, void *payload)
{
    sink *s = payload;

    if (s->len + len <= sizeof(s->buf)) {
        memcpy(s->buf + s->len, buf, len);
        s->len += len;
    }
    s->total += len;
    return 0;
}

static int s_end(unsigned int number, int status, unsigned long long octets,
                 unsigned int flags, void *payload)
{
    sink *s = payload;

    (void)number;
    (void)octets;
    (void)flags;
    assert_int_equal(status, 0);
    s->ends++;
    return 0;
}

static const pps_retrieve_callbacks sink_cb = {PPS_RETRIEVE_CALLBACKS_VERSION,
                                               NULL, s_data, s_end};

/* Plain POP3: refused without the option, fine with it. */
static void test_plain_login(void **state)
{
    pps_transport *t = transport();
    pps_server_address a = address(0);
    pps_session_options o;
    pps_session *s = NULL;

    (void)state;
    options(&o, "single@remote.test");
    o.stls = PPS_STLS_NEVER;
    OK(pps_session_new(&s, t, &o));
    OK(pps_session_connect(s, &a));
    assert_int_equal(pps_session_login(s), PPS_ECONFIG);
    OK(pps_session_quit(s));
    pps_session_free(s);

    o.allow_plaintext_password = 1;
    o.auth_method = "user";
    OK(pps_session_new(&s, t, &o));
    OK(pps_session_connect(s, &a));
    OK(pps_session_login(s));
    assert_string_equal(pps_session_auth_method(s), "USER");
    OK(pps_session_quit(s));
    pps_session_free(s);

    /* A wrong password is PPS_EAUTH, with the server's words kept. */
    o.password = "wrong";
    o.auth_method = NULL;
    OK(pps_session_new(&s, t, &o));
    OK(pps_session_connect(s, &a));
    assert_int_equal(pps_session_login(s), PPS_EAUTH);
    assert_true(pps_error_last()->server[0] != '\0');
    pps_session_free(s);
    pps_transport_free(t);
}

static void test_stls_and_implicit_tls(void **state)
{
    int implicit;

    (void)state;
    for (implicit = 0; implicit <= 1; implicit++) {
        pps_transport *t = transport();
        pps_server_address a = address(implicit);
        pps_session_options o;
        pps_session *s = NULL;

        options(&o, "single@remote.test");
        OK(pps_session_new(&s, t, &o));
        OK(pps_session_connect(s, &a));
        assert_int_equal(t->is_tls(t), 1);
        /* After STLS the CAPA was asked again: no STLS offered now. */
        assert_int_equal(pps_session_capabilities(s) & PPS_CAPA_STLS, 0);
        assert_true(pps_session_capabilities(s) & PPS_CAPA_PIPELINING);
        OK(pps_session_login(s));
        assert_string_equal(pps_session_auth_method(s), "PLAIN");
        OK(pps_session_noop(s));
        OK(pps_session_quit(s));
        pps_session_free(s);
        pps_transport_free(t);
    }
}

static void fetch_all(const char *user, const char *local_part,
                      unsigned int window)
{
    static const char *const bodies[] = {
        "From: a@remote.test\nSubject: one\n\nfirst\n.leading dot\n",
        "From: b@remote.test\nSubject: two\n\nsecond\n",
        "From: c@remote.test\nSubject: three\n\nthird\n..two dots\n",
    };
    pps_transport *t = transport();
    pps_server_address a = address(1);
    pps_session_options o;
    pps_session *s = NULL;
    pps_message_list *l = NULL;
    unsigned int nums[3];
    sink *k = calloc(1, sizeof(*k));
    size_t i, deleted = 0;

    seed(user, bodies, 3);
    assert_int_equal(on_disk(local_part), 3);
    options(&o, user);
    o.pipeline_window = window;
    OK(pps_session_new(&s, t, &o));
    OK(pps_session_connect(s, &a));
    OK(pps_session_login(s));
    OK(pps_session_inventory(&l, s));
    assert_int_equal(l->count, 3);
    assert_int_equal(l->has_duplicate_uids, 0);
    for (i = 0; i < 3; i++) {
        assert_non_null(l->entries[i].uid);
        nums[i] = l->entries[i].number;
    }
    OK(pps_session_retrieve(s, nums, 3, &sink_cb, k));
    assert_int_equal(k->ends, 3);
    /* Dovecot sends CRLF and stuffs dots; we get the message back. */
    assert_non_null(strstr(k->buf, "Subject: one\r\n\r\nfirst\r\n.leading "
                                   "dot\r\n"));
    assert_non_null(strstr(k->buf, "third\r\n..two dots\r\n"));
    OK(pps_session_delete(s, nums, 3, &deleted));
    assert_int_equal(deleted, 3);
    /* Not committed before QUIT. */
    assert_int_equal(on_disk(local_part), 3);
    OK(pps_session_quit(s));
    assert_int_equal(on_disk(local_part), 0);
    pps_message_list_free(l);
    pps_session_free(s);
    pps_transport_free(t);
    free(k);
}

static void test_fetch_pipelined(void **state)
{
    (void)state;
    fetch_all("user1@remote.test", "user1", 0);
}

static void test_fetch_lockstep(void **state)
{
    (void)state;
    fetch_all("user2@remote.test", "user2", 1);
}

/* DELE without QUIT: the connection drops, nothing is removed. */
static void test_dele_without_quit(void **state)
{
    static const char *const bodies[] = {"Subject: keep\n\nme\n"};
    pps_transport *t = transport();
    pps_server_address a = address(1);
    pps_session_options o;
    pps_session *s = NULL;
    unsigned int one = 1;

    (void)state;
    seed("user3@remote.test", bodies, 1);
    options(&o, "user3@remote.test");
    OK(pps_session_new(&s, t, &o));
    OK(pps_session_connect(s, &a));
    OK(pps_session_login(s));
    OK(pps_session_delete(s, &one, 1, NULL));
    pps_session_free(s); /* closes without QUIT */
    pps_transport_free(t);
    assert_int_equal(on_disk("user3"), 1);
}

/* A big message streams through in bounded pieces. */
static void test_big_message(void **state)
{
    size_t lines = 40000, i;
    char *body = malloc(lines * 60 + 64);
    const char *bodies[1];
    pps_transport *t = transport();
    pps_server_address a = address(1);
    pps_session_options o;
    pps_session *s = NULL;
    sink *k = calloc(1, sizeof(*k));
    unsigned int one = 1;
    size_t n;

    (void)state;
    n = (size_t)snprintf(body, 64, "Subject: big\n\n");
    for (i = 0; i < lines; i++) {
        memset(body + n, i % 2 ? '.' : 'x', 58);
        body[n + 58] = '\n';
        n += 59;
    }
    body[n] = '\0';
    bodies[0] = body;
    seed("catchall@remote.test", bodies, 1);
    options(&o, "catchall@remote.test");
    OK(pps_session_new(&s, t, &o));
    OK(pps_session_connect(s, &a));
    OK(pps_session_login(s));
    OK(pps_session_retrieve(s, &one, 1, &sink_cb, k));
    /* every LF became CRLF on the way */
    assert_int_equal(k->total, n + lines + 2);
    OK(pps_session_quit(s));
    pps_session_free(s);
    pps_transport_free(t);
    free(k);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_login),
        cmocka_unit_test(test_stls_and_implicit_tls),
        cmocka_unit_test(test_fetch_pipelined),
        cmocka_unit_test(test_fetch_lockstep),
        cmocka_unit_test(test_dele_without_quit),
        cmocka_unit_test(test_big_message),
    };

    if (!env("PPS_TB_HOST") || !env("PPS_TB_TESTBED"))
        return 77; /* meson: skipped */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
