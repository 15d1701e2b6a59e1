/*
 * ledger-test-util.h - state folders and file surgery for the ledger tests.
 */
#ifndef PPS_LEDGER_TEST_UTIL_H
#define PPS_LEDGER_TEST_UTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"
#include "ledger/ledger-internal.h"
#include "pps/errors.h"
#include "pps/ledger.h"
#include "pps/ledger_store.h"

#define HOST "pop.example.com"
#define USER "joe@example.com"

/* A fresh folder under $TMPDIR (or /tmp); rm_tree() removes it. */
static inline char *make_state_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = malloc(4096);

    assert_non_null(dir);
    snprintf(dir, 4096, "%s/pps-ledger-test-XXXXXX", tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static inline void rm_tree(char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];

    if (d) {
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

static inline void ledger_path(char *buf, size_t size,
                               const pps_ledger_store *store, const char *host,
                               const char *user)
{
    assert_int_equal(pps__ledger_file_path(buf, size, store, host, user), 0);
}

/* The whole file in a malloc'd, NUL-terminated buffer. */
static inline char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

static inline void spill(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static inline void append_bytes(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_APPEND);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static inline size_t count_lines(const char *path)
{
    size_t len, n = 0;
    char *buf = slurp(path, &len);

    for (size_t i = 0; i < len; i++)
        n += buf[i] == '\n';
    free(buf);
    return n;
}

static inline pps_ledger *open_ok(const pps_ledger_store *store,
                                  const pps_ledger_options *opts)
{
    pps_ledger *l = NULL;
    int rc = pps_ledger_open(&l, store, HOST, USER, opts);

    if (rc != 0)
        fail_msg("pps_ledger_open: %d %s", rc, pps_error_last()->message);
    return l;
}

static inline pps_ledger_message_state state_of(const pps_ledger *l,
                                                const char *uid)
{
    pps_ledger_message_info info;

    assert_int_equal(pps_ledger_message(&info, l, uid), 0);
    return info.state;
}

static inline pps_ledger_rcpt_state rcpt_of(const pps_ledger *l,
                                            const char *uid, const char *r)
{
    pps_ledger_rcpt_state st;

    assert_int_equal(pps_ledger_recipient(&st, NULL, l, uid, r), 0);
    return st;
}

/* One message all the way: intent, delivered, complete. */
static inline void deliver_one(pps_ledger *l, const char *uid, const char *rcpt)
{
    const char *r[1];

    r[0] = rcpt;
    assert_int_equal(pps_ledger_intend(l, uid, r, 1), 0);
    assert_int_equal(pps_ledger_delivered(l, uid, rcpt), 0);
    assert_int_equal(pps_ledger_complete(l, uid), 0);
}

#endif /* PPS_LEDGER_TEST_UTIL_H */
