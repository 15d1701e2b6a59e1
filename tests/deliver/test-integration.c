/*
 * test-integration.c - the deliverers against real servers on loopback.
 *
 * Under tests/testbed/testbed.py (a private Dovecot): LMTP over TCP and
 * over the unix socket, with a refused unknown user; Maildir into a
 * Dovecot user's folder, read back over POP3; pipe to dovecot-lda.
 * Under smtp-sink.py (Debian's aiosmtpd): SMTP, AUTH, EmailArchitect's
 * null sender and quota refusal.  Each group skips when its server's
 * variables are absent.
 */
#include "../helpers/pps-test.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pps/deliver.h"
#include "pps/errors.h"

static char subject[64];

static void new_subject(void)
{
    static int n;

    snprintf(subject, sizeof(subject), "pps-test-%ld-%d-%d", (long)getpid(),
             (int)time(NULL), ++n);
}

/* A small message with a unique subject and a line that needs
 * dot-stuffing on the wire. */
static size_t make_message(char *buf, size_t size)
{
    new_subject();
    return (size_t)snprintf(buf, size,
                            "From: sender@remote.test\r\n"
                            "To: alice@local.test\r\n"
                            "Subject: %s\r\n"
                            "\r\n"
                            "first line\r\n"
                            ".starts with a dot\r\n"
                            ".\r\n"
                            "last line\r\n",
                            subject);
}

static const char *need(const char *name)
{
    const char *v = getenv(name);

    if (!v || !*v) {
        print_message("skipped: %s is not set (run under the test bed or "
                      "smtp-sink.py)\n",
                      name);
        skip();
    }
    return v;
}

static pps_deliver *make(const char *method, const char *server,
                         const char *path, const char *command)
{
    pps_deliver_options o = PPS_DELIVER_OPTIONS_INIT;
    pps_deliver *d = NULL;

    o.method = method;
    o.server = server;
    o.path = path;
    o.command = command;
    o.helo_name = "pps-test.local";
    o.command_timeout_ms = 10000;
    o.final_timeout_ms = 30000;
    o.run_timeout_ms = 30000;
    if (pps_deliver_new(&d, &o) != 0)
        fail_msg("new %s: %s", method, pps_error_last()->message);
    return d;
}

static int deliver(pps_deliver *d, const char *const *rcpts, size_t n)
{
    char msg[1024];
    size_t len = make_message(msg, sizeof(msg)), i;
    int rc;

    rc = pps_deliver_begin(d, "sender@remote.test", rcpts, n, NULL, 0);
    /* Chunks of 7: the line-end state must cross every boundary. */
    for (i = 0; rc == 0 && i < len; i += 7)
        rc = pps_deliver_write(d, msg + i, len - i < 7 ? len - i : 7);
    if (rc == 0)
        rc = pps_deliver_commit(d);
    return rc;
}

/* The test bed's PPS_TB_LOCAL_MAILDIR_FMT with its "%s" replaced. */
static void maildir_of(char *buf, size_t size, const char *user)
{
    const char *fmt = need("PPS_TB_LOCAL_MAILDIR_FMT");
    const char *s = strstr(fmt, "%s");

    assert_non_null(s);
    snprintf(buf, size, "%.*s%s%s", (int)(s - fmt), fmt, user, s + 2);
}

/* Files in new/ and cur/ of a local test-bed user holding `needle`. */
static int found_in_maildir(const char *user, const char *needle)
{
    const char *subs[] = {"new", "cur"};
    char dir[512], path[1024];
    int found = 0;
    size_t s;

    for (s = 0; s < 2; s++) {
        char base[400];
        DIR *d;
        struct dirent *e;
        maildir_of(base, sizeof(base), user);
        snprintf(dir, sizeof(dir), "%s/%s", base, subs[s]);
        if (!(d = opendir(dir)))
            continue;
        while ((e = readdir(d))) {
            char buf[65536];
            FILE *f;
            size_t n;
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            if (!(f = fopen(path, "rb")))
                continue;
            n = fread(buf, 1, sizeof(buf) - 1, f);
            buf[n] = '\0';
            fclose(f);
            if (strstr(buf, needle))
                found++;
        }
        closedir(d);
    }
    return found;
}

static void status_is(const pps_deliver_status *st, pps_deliver_outcome o,
                      const char *who)
{
    if (st->outcome != o)
        fail_msg("%s: outcome %d, expected %d: %s", who, st->outcome, o,
                 st->text);
}

/* --- Dovecot LMTP ------------------------------------------------------------
 */

static void test_lmtp_tcp(void **state)
{
    const char *rcpts[] = {"alice@local.test", "bob@local.test",
                           "nobody@local.test"};
    char server[128];
    const pps_deliver_status *st;
    pps_deliver *d;

    (void)state;
    snprintf(server, sizeof(server), "%s:%s", need("PPS_TB_HOST"),
             need("PPS_TB_LMTP_PORT"));
    d = make("lmtp", server, NULL, NULL);
    assert_int_equal(deliver(d, rcpts, 3), PPS_EPERM);
    st = pps_deliver_statuses(d, NULL);
    status_is(&st[0], PPS_DELIVER_DELIVERED, "alice");
    status_is(&st[1], PPS_DELIVER_DELIVERED, "bob");
    status_is(&st[2], PPS_DELIVER_PERMFAIL, "nobody");
    assert_int_equal(st[0].reply, 250);
    assert_int_equal(st[2].reply, 550);
    assert_non_null(strstr(st[2].text, "5.1.1"));
    assert_int_equal(found_in_maildir("alice", subject), 1);
    assert_int_equal(found_in_maildir("bob", subject), 1);
    /* Dovecot stores LF line ends and our dot line unstuffed. */
    assert_int_equal(found_in_maildir("alice", "\n.starts with a dot\n"), 1);
    assert_int_equal(pps_deliver_user_exists(d, "carol", "local.test"), 1);
    assert_int_equal(pps_deliver_user_exists(d, "nobody", "local.test"), 0);
    pps_deliver_free(d);
}

static void test_lmtp_socket(void **state)
{
    const char *rcpt = "carol@local.test";
    pps_deliver *d;

    (void)state;
    d = make("lmtp", need("PPS_TB_LMTP_SOCKET"), NULL, NULL);
    assert_int_equal(deliver(d, &rcpt, 1), 0);
    assert_int_equal(found_in_maildir("carol", subject), 1);
    pps_deliver_free(d);
}

/* A 20 MiB message streams through in 64 KiB writes. */
static void test_lmtp_big(void **state)
{
    const char *rcpt = "postmaster@local.test";
    char server[128], head[256];
    char *chunk = malloc(65536);
    pps_deliver *d;
    int i, rc;

    (void)state;
    snprintf(server, sizeof(server), "%s:%s", need("PPS_TB_HOST"),
             need("PPS_TB_LMTP_PORT"));
    d = make("lmtp", server, NULL, NULL);
    new_subject();
    snprintf(head, sizeof(head), "Subject: %s\r\n\r\n", subject);
    for (i = 0; i < 65536; i++)
        chunk[i] = (i % 78 == 77) ? '\n' : (i % 78 == 76 ? '\r' : 'a');
    rc = pps_deliver_begin(d, "", &rcpt, 1, NULL, 0);
    if (rc == 0)
        rc = pps_deliver_write(d, head, strlen(head));
    for (i = 0; rc == 0 && i < 320; i++)
        rc = pps_deliver_write(d, chunk, 65536);
    if (rc == 0)
        rc = pps_deliver_commit(d);
    if (rc != 0)
        fail_msg("big: %s", pps_deliver_statuses(d, NULL)[0].text);
    assert_int_equal(found_in_maildir("postmaster", subject), 1);
    free(chunk);
    pps_deliver_free(d);
}

/* --- Maildir read back by Dovecot ------------------------------------------
 */

typedef struct pop3 {
    int fd;
    char buf[8192];
    size_t pos, len;
} pop3;

static int pop3_line(pop3 *p, char *line, size_t size)
{
    size_t n = 0;

    for (;;) {
        if (p->pos == p->len) {
            ssize_t r = read(p->fd, p->buf, sizeof(p->buf));
            if (r <= 0)
                return -1;
            p->pos = 0;
            p->len = (size_t)r;
        }
        if (n + 1 < size)
            line[n++] = p->buf[p->pos];
        if (p->buf[p->pos++] == '\n')
            break;
    }
    line[n] = '\0';
    return 0;
}

static void pop3_cmd(pop3 *p, const char *cmd, char *reply, size_t size)
{
    assert_int_equal(write(p->fd, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
    assert_int_equal(pop3_line(p, reply, size), 0);
    if (strncmp(reply, "+OK", 3) != 0)
        fail_msg("POP3 %.4s: %s", cmd, reply);
}

/* Log in as user@local.test and look for `needle` in every message. */
static int pop3_find(const char *user, const char *needle)
{
    struct sockaddr_in sa;
    char line[1024], cmd[256];
    pop3 p = {.fd = -1};
    int count = 0, i, found = 0;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port =
        htons((unsigned short)strtoul(need("PPS_TB_POP3_PORT"), NULL, 10));
    inet_pton(AF_INET, need("PPS_TB_HOST"), &sa.sin_addr);
    p.fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(p.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(pop3_line(&p, line, sizeof(line)), 0);
    snprintf(cmd, sizeof(cmd), "USER %s@local.test\r\n", user);
    pop3_cmd(&p, cmd, line, sizeof(line));
    snprintf(cmd, sizeof(cmd), "PASS %s\r\n", need("PPS_TB_PASSWORD"));
    pop3_cmd(&p, cmd, line, sizeof(line));
    pop3_cmd(&p, "STAT\r\n", line, sizeof(line));
    count = (int)strtol(line + 4, NULL, 10);
    for (i = 1; i <= count; i++) {
        snprintf(cmd, sizeof(cmd), "RETR %d\r\n", i);
        pop3_cmd(&p, cmd, line, sizeof(line));
        while (pop3_line(&p, line, sizeof(line)) == 0 &&
               strcmp(line, ".\r\n") != 0)
            if (strstr(line, needle))
                found++;
    }
    pop3_cmd(&p, "QUIT\r\n", line, sizeof(line));
    close(p.fd);
    return found;
}

static void test_maildir_read_by_dovecot(void **state)
{
    const char *rcpts[] = {"alice@local.test", "bob@local.test",
                           "nobody@local.test"};
    char tmpl[512], *s;
    const pps_deliver_status *st;
    pps_deliver *d;
    char file_dir[512];
    struct stat sb;

    (void)state;
    /* The test bed's "%s" pattern as our "%u". */
    snprintf(tmpl, sizeof(tmpl), "%s", need("PPS_TB_LOCAL_MAILDIR_FMT"));
    s = strstr(tmpl, "%s");
    assert_non_null(s);
    s[1] = 'u';
    d = make("maildir", NULL, tmpl, NULL);
    assert_int_equal(pps_deliver_user_exists(d, "alice", "local.test"), 1);
    assert_int_equal(pps_deliver_user_exists(d, "nobody", "local.test"), 0);
    assert_int_equal(deliver(d, rcpts, 3), PPS_EPERM);
    st = pps_deliver_statuses(d, NULL);
    status_is(&st[0], PPS_DELIVER_DELIVERED, "alice");
    status_is(&st[1], PPS_DELIVER_DELIVERED, "bob");
    status_is(&st[2], PPS_DELIVER_PERMFAIL, "nobody");
    assert_int_equal(found_in_maildir("alice", subject), 1);
    /* As root the file takes the folder's owner, so Dovecot (running
     * as that uid) can read it. */
    maildir_of(file_dir, sizeof(file_dir), "alice");
    assert_int_equal(stat(file_dir, &sb), 0);
    if (geteuid() == 0)
        assert_int_equal(sb.st_uid, strtoul(need("PPS_TB_MAIL_UID"), NULL, 10));
    /* Dovecot serves it over POP3, CRLF and all. */
    assert_int_equal(pop3_find("alice", subject), 1);
    assert_int_equal(pop3_find("bob", subject), 1);
    pps_deliver_free(d);
}

/* A name in DIR/SUB holding "T<tag>." into name; 1 found, 0 not. */
static int tagged_name(const char *dir, const char *sub, const char *tag,
                       char *name, size_t size)
{
    char path[600], want[80];
    DIR *d;
    struct dirent *e;
    int found = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    snprintf(want, sizeof(want), "T%s.", tag);
    if (!(d = opendir(path)))
        return 0;
    while (!found && (e = readdir(d)))
        if (strstr(e->d_name, want)) {
            snprintf(name, size, "%s", e->d_name);
            found = 1;
        }
    closedir(d);
    return found;
}

/* A tagged Maildir name is one Dovecot serves, and moves to cur/ keeping
 * the tag, so pps_deliver_find still sees it (crash recovery). */
static void test_maildir_tag_kept_by_dovecot(void **state)
{
    static const char tag[] = "5eed5eed5eed5eed5eed5eed5eed5eed";
    const char *rcpts[] = {"carol@local.test"};
    const char *tags[] = {tag};
    char tmpl[512], dir[512], name[512], msg[1024], *s;
    size_t len;
    pps_deliver *d;

    (void)state;
    snprintf(tmpl, sizeof(tmpl), "%s", need("PPS_TB_LOCAL_MAILDIR_FMT"));
    s = strstr(tmpl, "%s");
    assert_non_null(s);
    s[1] = 'u';
    d = make("maildir", NULL, tmpl, NULL);
    len = make_message(msg, sizeof(msg));
    assert_int_equal(pps_deliver_begin_tagged(d, "", rcpts, tags, 1, NULL, 0),
                     0);
    assert_int_equal(pps_deliver_write(d, msg, len), 0);
    assert_int_equal(pps_deliver_commit(d), 0);
    maildir_of(dir, sizeof(dir), "carol");
    assert_int_equal(tagged_name(dir, "new", tag, name, sizeof(name)), 1);
    assert_int_equal(pps_deliver_find(d, "carol@local.test", tag), 1);

    /* Dovecot reads it; RETR marks it seen: new/ -> cur/ ":2,S". */
    assert_int_equal(pop3_find("carol", subject), 1);
    assert_int_equal(tagged_name(dir, "new", tag, name, sizeof(name)), 0);
    assert_int_equal(tagged_name(dir, "cur", tag, name, sizeof(name)), 1);
    if (!strstr(name, ":2,"))
        fail_msg("Dovecot's name in cur/: %s", name);
    print_message("in cur/ after Dovecot: %s\n", name);
    assert_int_equal(pps_deliver_find(d, "carol@local.test", tag), 1);
    assert_int_equal(
        pps_deliver_find(d, "carol@local.test", "5eed5eed5eed5eed"), 0);
    pps_deliver_free(d);
}

/* --- pipe to dovecot-lda ----------------------------------------------------
 */

static void test_pipe_dovecot_lda(void **state)
{
    const char *lda = "/usr/lib/dovecot/dovecot-lda";
    const char *rcpts[] = {"carol@local.test", "nobody@local.test"};
    const pps_deliver_status *st;
    char command[512];
    pps_deliver *d;

    (void)state;
    if (access(lda, X_OK) != 0) {
        print_message("skipped: no %s\n", lda);
        skip();
    }
    snprintf(command, sizeof(command), "%s -c %s/dovecot.conf -d %%u@%%d", lda,
             need("PPS_TB_DIR"));
    d = make("pipe", NULL, NULL, command);
    assert_int_equal(deliver(d, rcpts, 2), PPS_EPERM);
    st = pps_deliver_statuses(d, NULL);
    status_is(&st[0], PPS_DELIVER_DELIVERED, "carol");
    status_is(&st[1], PPS_DELIVER_PERMFAIL, "nobody");
    assert_int_equal(st[1].reply, 67); /* EX_NOUSER */
    assert_int_equal(found_in_maildir("carol", subject), 1);
    pps_deliver_free(d);
}

/* --- SMTP (aiosmtpd) ---------------------------------------------------------
 */

/* The spooled message holding the current subject, into buf. */
static int spool_find(char *buf, size_t size)
{
    const char *spool = need("PPS_SMTP_SPOOL");
    DIR *dir = opendir(spool);
    struct dirent *e;
    int found = 0;

    assert_non_null(dir);
    while ((e = readdir(dir))) {
        char path[600];
        FILE *f;
        size_t n;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", spool, e->d_name);
        if (!(f = fopen(path, "rb")))
            continue;
        n = fread(buf, 1, size - 1, f);
        buf[n] = '\0';
        fclose(f);
        if (strstr(buf, subject)) {
            found = 1;
            break;
        }
    }
    closedir(dir);
    return found;
}

static void test_smtp(void **state)
{
    const char *rcpts[] = {"alice@local.test", "nobody@local.test"};
    const pps_deliver_status *st;
    pps_deliver *d;
    char buf[4096];

    (void)state;
    d = make("smtp", need("PPS_SMTP_SERVER"), NULL, NULL);
    assert_int_equal(deliver(d, rcpts, 2), PPS_EPERM);
    st = pps_deliver_statuses(d, NULL);
    status_is(&st[0], PPS_DELIVER_DELIVERED, "alice");
    status_is(&st[1], PPS_DELIVER_PERMFAIL, "nobody");
    assert_int_equal(st[1].reply, 550);
    assert_true(spool_find(buf, sizeof(buf)));
    assert_non_null(strstr(buf, "X-Envelope-From: <sender@remote.test>"));
    assert_non_null(strstr(buf, "X-Envelope-To: <alice@local.test>"));
    assert_null(strstr(buf, "nobody"));
    assert_non_null(strstr(buf, "\r\n.starts with a dot\r\n.\r\nlast"));
    assert_int_equal(pps_deliver_user_exists(d, "alice", "local.test"), 1);
    assert_int_equal(pps_deliver_user_exists(d, "nobody", "local.test"), 0);
    pps_deliver_free(d);
}

static void test_smtp_auth(void **state)
{
    const char *rcpt = "bob@local.test";
    pps_deliver_options o = PPS_DELIVER_OPTIONS_INIT;
    pps_deliver *d;
    char buf[4096];

    (void)state;
    o.method = "smtp";
    o.server = need("PPS_SMTP_SERVER");
    o.username = need("PPS_SMTP_USER");
    o.password = need("PPS_SMTP_PASSWORD");
    o.command_timeout_ms = 10000;
    o.final_timeout_ms = 10000;
    assert_int_equal(pps_deliver_new(&d, &o), 0);
    assert_int_equal(deliver(d, &rcpt, 1), 0);
    assert_true(spool_find(buf, sizeof(buf)));
    pps_deliver_free(d);

    o.password = "wrong";
    assert_int_equal(pps_deliver_new(&d, &o), 0);
    assert_int_equal(deliver(d, &rcpt, 1), PPS_ETEMP);
    assert_int_equal(pps_deliver_statuses(d, NULL)[0].code, PPS_EAUTH);
    assert_null(strstr(pps_deliver_statuses(d, NULL)[0].text, "wrong"));
    pps_deliver_free(d);
}

static void test_emailarchitect(void **state)
{
    const char *rcpts[] = {"carol@local.test", "full@local.test"};
    const pps_deliver_status *st;
    pps_deliver *d;
    char buf[4096];

    (void)state;
    d = make("emailarchitect", need("PPS_SMTP_SERVER"), NULL, NULL);
    assert_int_equal(deliver(d, rcpts, 2), PPS_EPERM);
    st = pps_deliver_statuses(d, NULL);
    status_is(&st[0], PPS_DELIVER_DELIVERED, "carol");
    status_is(&st[1], PPS_DELIVER_PERMFAIL, "full");
    assert_int_equal(st[1].code, PPS_ETOOBIG);
    assert_true(spool_find(buf, sizeof(buf)));
    /* No AUTH configured: the null sender, never a local address. */
    assert_non_null(strstr(buf, "X-Envelope-From: <>\n"));
    pps_deliver_free(d);
}

/* STARTTLS with the chain and the name verified, and each way it must
 * refuse: unknown CA, wrong name.  A refusal is temporary and sends no
 * mail command in the clear. */
static void test_smtp_starttls(void **state)
{
    static const struct {
        int use_ca, no_verify;
        const char *name;
        int rc, code;
    } rows[] = {
        {1, 0, "localhost", 0, PPS_OK},
        {1, 0, NULL, 0, PPS_OK}, /* 127.0.0.1 is in the certificate */
        {0, 0, "localhost", PPS_ETEMP, PPS_ETLS},
        {1, 0, "wrong.example", PPS_ETEMP, PPS_ETLS},
        {1, 0, "127.0.0.2", PPS_ETEMP, PPS_ETLS}, /* not its address */
        {0, 1, "wrong.example", 0, PPS_OK},
    };
    const char *rcpt = "alice@local.test";
    const char *ca = need("PPS_SMTP_CA_FILE");
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        pps_deliver_options o = PPS_DELIVER_OPTIONS_INIT;
        pps_deliver *d;
        char buf[4096];
        int rc;
        o.method = "smtp";
        o.server = need("PPS_SMTP_SERVER");
        o.starttls = 1;
        o.tls_ca_file = rows[i].use_ca ? ca : NULL;
        o.tls_server_name = rows[i].name;
        o.tls_no_verify = rows[i].no_verify;
        o.username = need("PPS_SMTP_USER");
        o.password = need("PPS_SMTP_PASSWORD");
        o.command_timeout_ms = 10000;
        assert_int_equal(pps_deliver_new(&d, &o), 0);
        rc = deliver(d, &rcpt, 1);
        if (rc != rows[i].rc ||
            pps_deliver_statuses(d, NULL)[0].code != rows[i].code)
            fail_msg("row %zu: rc %d: %s", i, rc,
                     pps_deliver_statuses(d, NULL)[0].text);
        assert_int_equal(spool_find(buf, sizeof(buf)), rows[i].rc == 0);
        pps_deliver_free(d);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest lmtp[] = {
        cmocka_unit_test(test_lmtp_tcp),
        cmocka_unit_test(test_lmtp_socket),
        cmocka_unit_test(test_lmtp_big),
        cmocka_unit_test(test_maildir_read_by_dovecot),
        cmocka_unit_test(test_maildir_tag_kept_by_dovecot),
        cmocka_unit_test(test_pipe_dovecot_lda),
    };
    const struct CMUnitTest smtp[] = {
        cmocka_unit_test(test_smtp),
        cmocka_unit_test(test_smtp_auth),
        cmocka_unit_test(test_emailarchitect),
        cmocka_unit_test(test_smtp_starttls),
    };

    if (argc > 1 && strcmp(argv[1], "smtp") == 0)
        return cmocka_run_group_tests_name("smtp", smtp, NULL, NULL);
    return cmocka_run_group_tests_name("testbed", lmtp, NULL, NULL);
}
