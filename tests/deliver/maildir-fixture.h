/*
 * maildir-fixture.h - a throwaway tree of Maildirs for the deliver tests.
 *
 * fixture_root/local.test/{alice,bob}/Maildir, and the path template
 * (fixture_tmpl) that names them for the Maildir deliverer.  Include after
 * pps-test.h; each test file gets its own copy of the state.
 *
 *     #define MAILDIR_FIXTURE_PREFIX "pps-tag"    // names the tree in /tmp
 *     #include "maildir-fixture.h"
 *     cmocka_unit_test_setup_teardown(test_x, fixture_up, fixture_down)
 *     pps_deliver *d = new_maildir(fixture_tmpl);
 *
 * The helpers an includer may leave unused are static inline: a plain
 * static one would break -Werror (-Wunused-function) there.
 */
#ifndef PPS_MAILDIR_FIXTURE_H
#define PPS_MAILDIR_FIXTURE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "deliver/deliver-int.h"
#include "pps/deliver.h"
#include "pps/errors.h"

#ifndef MAILDIR_FIXTURE_PREFIX
#define MAILDIR_FIXTURE_PREFIX "pps-maildir"
#endif

static char fixture_root[64];
static char fixture_tmpl[128];

/* mkdir -p */
static void mkdirs(const char *path)
{
    char buf[512];
    char *p;

    snprintf(buf, sizeof(buf), "%s", path);
    for (p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    mkdir(buf, 0755);
}

static void rm_rf(const char *path)
{
    char cmd[600];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

/* The Maildir of `user` (or its sub-folder `sub`: "new", "cur", "tmp"). */
static void user_dir(char *buf, size_t size, const char *user, const char *sub)
{
    snprintf(buf, size, "%s/local.test/%s/Maildir%s%s", fixture_root, user,
             sub ? "/" : "", sub ? sub : "");
}

/* The names in `user`'s sub-folder `sub` (dot names skipped); -1 when
 * the folder cannot be opened. */
static inline int names_in(const char *user, const char *sub)
{
    char dir[256];
    struct dirent *e;
    DIR *d;
    int n = 0;

    user_dir(dir, sizeof(dir), user, sub);
    if (!(d = opendir(dir)))
        return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* A fresh tree under /tmp/PREFIX-XXXXXX with alice's and bob's Maildirs. */
static void fixture_setup(const char *prefix)
{
    char path[256];

    snprintf(fixture_root, sizeof(fixture_root), "/tmp/%s-XXXXXX", prefix);
    assert_non_null(mkdtemp(fixture_root));
    snprintf(fixture_tmpl, sizeof(fixture_tmpl), "%s/%%d/%%u/Maildir",
             fixture_root);
    user_dir(path, sizeof(path), "alice", NULL);
    mkdirs(path);
    user_dir(path, sizeof(path), "bob", NULL);
    mkdirs(path);
}

/* cmocka set-up: a fresh tree for each test. */
static inline int fixture_up(void **state)
{
    (void)state;
    fixture_setup(MAILDIR_FIXTURE_PREFIX);
    return 0;
}

/* cmocka tear-down: the default disk I/O back (a test may have injected
 * failures through pps__deliver_io_set), and the tree removed. */
static inline int fixture_down(void **state)
{
    (void)state;
    pps__deliver_io_set(NULL);
    rm_rf(fixture_root);
    return 0;
}

/* A Maildir deliverer for path_tmpl (fixture_tmpl: the tree's users); the
 * test fails when it cannot be made. */
static inline pps_deliver *new_maildir(const char *path_tmpl)
{
    pps_deliver_options o = PPS_DELIVER_OPTIONS_INIT;
    pps_deliver *d = NULL;

    o.method = "maildir";
    o.path = path_tmpl;
    if (pps_deliver_new(&d, &o) != 0)
        fail_msg("new: %s", pps_error_last()->message);
    return d;
}

#endif /* PPS_MAILDIR_FIXTURE_H */
