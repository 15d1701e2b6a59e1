/*
 * test-store.c - the folder store: atomic, durable 0600 writes, refusals
 * of loose permissions, listing, change stamps, injected failures; and a
 * store of one's own through the ops table.
 */
#include "../helpers/pps-test.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pps/errors.h"
#include "pps/profile.h"
#include "pps/profile_store.h"
#include "core/internal.h"
#include "profile/profile-internal.h"

typedef struct fixture {
    char dir[64];
    char profiles[96];
    pps_profile_store *store;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/pps-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->profiles, sizeof(f->profiles), "%s/profiles", f->dir);
    assert_int_equal(pps_profile_store_open_dir(&f->store, f->dir), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[160];

    pps_profile_store_free(f->store);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static pps_profile *valid(const char *name, const char *user)
{
    pps_profile *p;

    assert_int_equal(pps_profile_new(&p, name), 0);
    assert_int_equal(pps_profile_set(p, "server", "mail.example.com 995s"), 0);
    assert_int_equal(pps_profile_set(p, "user", user), 0);
    assert_int_equal(pps_profile_set(p, "password", "hunter2"), 0);
    assert_int_equal(pps_profile_set(p, "local_user", "alice"), 0);
    assert_int_equal(pps_profile_set(p, "local_domain", "local.test"), 0);
    return p;
}

static char *path_of(const fixture *f, const char *leaf)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/%s", f->profiles, leaf);
    return path;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void test_save_load(void **state)
{
    fixture *f = *state;
    pps_profile *p = valid("office", "joe"), *q = NULL;
    struct stat st;
    mode_t old_umask;

    /* Whatever the umask, files are 0600 and the folder 0700. */
    old_umask = umask(0);
    assert_int_equal(
        pps_profile_store_save(f->store, p, PPS_PROFILE_SAVE_CREATE), 0);
    umask(old_umask);
    assert_int_equal(stat(path_of(f, "office.conf"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(f->profiles, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(count_entries(f->profiles), 1);

    assert_int_equal(pps_profile_store_load(&q, f->store, "office"), 0);
    assert_true(pps__profile_equal(p, q));
    pps_profile_free(q);

    /* CREATE never overwrites; REPLACE needs an existing profile. */
    assert_int_equal(
        pps_profile_store_save(f->store, p, PPS_PROFILE_SAVE_CREATE),
        PPS_EEXISTS);
    assert_non_null(strstr(pps_error_last()->message, "already exists"));
    assert_int_equal(count_entries(f->profiles), 1); /* no tmp left */
    pps_profile_free(p);
    p = valid("home", "joe");
    assert_int_equal(
        pps_profile_store_save(f->store, p, PPS_PROFILE_SAVE_REPLACE),
        PPS_ENOTFOUND);
    assert_int_equal(count_entries(f->profiles), 1);
    assert_int_equal(pps_profile_store_save(f->store, p, 0), 0);
    assert_int_equal(pps_profile_set(p, "keep", "yes"), 0);
    assert_int_equal(
        pps_profile_store_save(f->store, p, PPS_PROFILE_SAVE_REPLACE), 0);
    assert_int_equal(pps_profile_store_load(&q, f->store, "home"), 0);
    assert_string_equal(pps_profile_get(q, "keep"), "yes");
    pps_profile_free(q);

    /* Only whole profiles are saved. */
    assert_int_equal(pps_profile_unset(p, "local_user"), 0);
    assert_int_equal(pps_profile_store_save(f->store, p, 0), PPS_ECONFIG);
    pps_profile_free(p);

    assert_int_equal(pps_profile_store_load(&q, f->store, "nope"),
                     PPS_ENOTFOUND);
    assert_int_equal(pps_profile_store_load(&q, f->store, "../x"), PPS_EINVAL);
    assert_int_equal(pps_profile_store_delete(f->store, "../../etc/passwd"),
                     PPS_EINVAL);
    assert_int_equal(pps_profile_store_delete(f->store, "home"), 0);
    assert_int_equal(pps_profile_store_delete(f->store, "home"), PPS_ENOTFOUND);
}

static void test_list(void **state)
{
    fixture *f = *state;
    pps_profile_names names = {NULL, 0};
    const char *const order[] = {"B", "a", "a.b", "z-1"};
    size_t i;

    assert_int_equal(pps_profile_store_list(&names, f->store), 0);
    assert_int_equal(names.count, 0); /* no folder yet */
    for (i = 0; i < 4; i++) {
        pps_profile *p = valid(order[3 - i], "joe");
        assert_int_equal(pps_profile_store_save(f->store, p, 0), 0);
        pps_profile_free(p);
    }
    /* Junk the listing must skip. */
    write_file(path_of(f, ".hidden.conf"), "", 0600);
    write_file(path_of(f, ".office.conf.tmp-abcdef"), "", 0600);
    write_file(path_of(f, "notes.txt"), "", 0600);
    write_file(path_of(f, "bad name.conf"), "", 0600);
    write_file(path_of(f, ".conf"), "", 0600);
    assert_int_equal(pps_profile_store_list(&names, f->store), 0);
    assert_int_equal(names.count, 4);
    assert_string_equal(names.names[0], "B");
    assert_string_equal(names.names[1], "a");
    assert_string_equal(names.names[2], "a.b");
    assert_string_equal(names.names[3], "z-1");
    pps_profile_names_free(&names);
    assert_null(names.names);
    assert_int_equal(names.count, 0);
}

static void test_refuse_loose_modes(void **state)
{
    fixture *f = *state;
    static const mode_t modes[] = {0644, 0640, 0604, 0620, 0602, 0660};
    pps_profile *p = valid("office", "joe"), *q = NULL;
    char want[300];
    size_t i;

    assert_int_equal(pps_profile_store_save(f->store, p, 0), 0);
    pps_profile_free(p);
    for (i = 0; i < sizeof(modes) / sizeof(*modes); i++) {
        assert_int_equal(chmod(path_of(f, "office.conf"), modes[i]), 0);
        if (pps_profile_store_load(&q, f->store, "office") != PPS_EPERM)
            fail_msg("mode %04o accepted", (unsigned)modes[i]);
        assert_null(q);
        snprintf(want, sizeof(want), "run chmod 600 %s",
                 path_of(f, "office.conf"));
        assert_non_null(strstr(pps_error_last()->message, want));
    }
    assert_int_equal(chmod(path_of(f, "office.conf"), 0400), 0);
    assert_int_equal(pps_profile_store_load(&q, f->store, "office"), 0);
    pps_profile_free(q);

    /* A symbolic link is not followed, even to a 0600 file. */
    snprintf(want, sizeof(want), "%s", path_of(f, "office.conf"));
    assert_int_equal(symlink(want, path_of(f, "link.conf")), 0);
    assert_int_equal(pps_profile_store_load(&q, f->store, "link"), PPS_EPERM);
    assert_non_null(strstr(pps_error_last()->message, "symbolic link"));

    /* A bad file names file, line and key. */
    write_file(path_of(f, "broken.conf"), "user = x\nintervall = 5m\n", 0600);
    assert_int_equal(pps_profile_store_load(&q, f->store, "broken"),
                     PPS_ECONFIG);
    assert_non_null(strstr(pps_error_last()->message,
                           "/profiles/broken.conf:2: key 'intervall' is "
                           "unknown (did you mean 'interval'?)"));

    /* A directory in its place. */
    assert_int_equal(mkdir(path_of(f, "dir.conf"), 0700), 0);
    assert_int_equal(pps_profile_store_load(&q, f->store, "dir"), PPS_ECONFIG);
}

static char *slurp(const char *path)
{
    static char buf[4096];
    int fd = open(path, O_RDONLY);
    ssize_t n;

    assert_true(fd >= 0);
    n = read(fd, buf, sizeof(buf) - 1);
    assert_true(n >= 0);
    buf[n] = '\0';
    close(fd);
    return buf;
}

/* A save that fails at any step leaves the old file whole, and no
 * temporary file behind. */
static void test_injected_failures(void **state)
{
    fixture *f = *state;
    static const pps__store_fault faults[] = {PPS__STORE_FAULT_WRITE,
                                              PPS__STORE_FAULT_FSYNC,
                                              PPS__STORE_FAULT_RENAME};
    pps_profile *p = valid("office", "old-user");
    char before[4096];
    size_t i;

    assert_int_equal(pps_profile_store_save(f->store, p, 0), 0);
    snprintf(before, sizeof(before), "%s", slurp(path_of(f, "office.conf")));
    assert_non_null(strstr(before, "user = old-user\n"));
    assert_int_equal(pps_profile_set(p, "user", "new-user"), 0);
    for (i = 0; i < sizeof(faults) / sizeof(*faults); i++) {
        assert_int_equal(pps__store_dir_set_fault(f->store, faults[i]), 0);
        assert_int_equal(pps_profile_store_save(f->store, p, 0), PPS_EIO);
        assert_string_equal(slurp(path_of(f, "office.conf")), before);
        assert_int_equal(count_entries(f->profiles), 1);
    }
    /* The fault is one-shot: the next save goes through. */
    assert_int_equal(pps_profile_store_save(f->store, p, 0), 0);
    assert_non_null(
        strstr(slurp(path_of(f, "office.conf")), "user = new-user\n"));
    assert_int_equal(count_entries(f->profiles), 1);
    pps_profile_free(p);
}

static void test_stamp(void **state)
{
    fixture *f = *state;
    pps_profile *p = valid("office", "joe");
    uint64_t s0, s1, s2, s3, s4, again;
    struct timespec times[2];

    assert_int_equal(pps_profile_store_stamp(&s0, f->store), 0);
    assert_int_equal(pps_profile_store_save(f->store, p, 0), 0);
    assert_int_equal(pps_profile_store_stamp(&s1, f->store), 0);
    assert_true(s0 != s1);
    assert_int_equal(pps_profile_store_stamp(&again, f->store), 0);
    assert_true(again == s1); /* nothing changed: same stamp */

    /* An edit in place (same inode, folder untouched): the file's size
     * and times change. */
    {
        int fd = open(path_of(f, "office.conf"), O_WRONLY | O_APPEND);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "keep = yes\n", 11), 11);
        close(fd);
    }
    assert_int_equal(pps_profile_store_stamp(&s2, f->store), 0);
    assert_true(s2 != s1);
    /* Same size, only the mtime moves. */
    times[0].tv_sec = times[1].tv_sec = 1000000000;
    times[0].tv_nsec = times[1].tv_nsec = 0;
    assert_int_equal(utimensat(AT_FDCWD, path_of(f, "office.conf"), times, 0),
                     0);
    assert_int_equal(pps_profile_store_stamp(&s3, f->store), 0);
    assert_true(s3 != s2);
    assert_int_equal(pps_profile_store_delete(f->store, "office"), 0);
    assert_int_equal(pps_profile_store_stamp(&s4, f->store), 0);
    assert_true(s4 != s3);
    pps_profile_free(p);
}

/* --- a store of one's own: one profile in memory ---------------------- */

typedef struct memory {
    char *text;
    int freed;
} memory;

static int mem_list(pps_profile_names *out, void *payload)
{
    memory *m = payload;
    if (!m->text)
        return 0;
    out->names = malloc(sizeof(char *));
    out->names[0] = strdup("mem");
    out->count = 1;
    return 0;
}

static int mem_load(pps_profile **out, const char *name, void *payload)
{
    memory *m = payload;
    if (!m->text || strcmp(name, "mem") != 0)
        return PPS_ENOTFOUND;
    return pps_profile_parse(out, name, m->text, strlen(m->text), "memory");
}

static int mem_save(const pps_profile *p, unsigned int flags, void *payload)
{
    memory *m = payload;
    (void)flags;
    pps_profile_text_free(m->text);
    return pps_profile_serialise(&m->text, NULL, p, 0);
}

static int mem_remove(const char *name, void *payload)
{
    memory *m = payload;
    (void)name;
    pps_profile_text_free(m->text);
    m->text = NULL;
    return 0;
}

static int mem_stamp(uint64_t *out, void *payload)
{
    memory *m = payload;
    *out = m->text ? strlen(m->text) : 0;
    return 0;
}

static void mem_free(void *payload)
{
    memory *m = payload;
    pps_profile_text_free(m->text);
    m->text = NULL;
    m->freed++;
}

static void test_own_store(void **state)
{
    pps_profile_store_ops ops = {PPS_PROFILE_STORE_OPS_VERSION,
                                 mem_list,
                                 mem_load,
                                 mem_save,
                                 mem_remove,
                                 mem_stamp,
                                 mem_free};
    memory m = {NULL, 0};
    pps_profile_store *store;
    pps_profile_names names;
    pps_profile *p = valid("mem", "joe"), *q;

    (void)state;
    assert_int_equal(pps_profile_store_new(&store, &ops, &m), 0);
    assert_int_equal(pps_profile_store_save(store, p, 0), 0);
    assert_int_equal(pps_profile_store_list(&names, store), 0);
    assert_int_equal(names.count, 1);
    pps_profile_names_free(&names);
    assert_int_equal(pps_profile_store_load(&q, store, "mem"), 0);
    assert_true(pps__profile_equal(p, q));
    pps_profile_free(q);
    /* The test hook of the folder store refuses other stores. */
    assert_int_equal(pps__store_dir_set_fault(store, PPS__STORE_FAULT_WRITE),
                     PPS_EINVAL);
    pps_profile_store_free(store);
    assert_int_equal(m.freed, 1);

    /* A wrong version is refused, and the payload still released. */
    ops.version = 99;
    assert_int_equal(pps_profile_store_new(&store, &ops, &m), PPS_EINVAL);
    assert_null(store);
    assert_int_equal(m.freed, 2);
    pps_profile_free(p);
}

static void test_failing_allocator(void **state)
{
    fixture *f = *state;
    pps_profile *p = valid("office", "joe");
    long n;
    int done = 0;

    for (n = 0; n < 500 && !done; n++) {
        pps_profile *q = NULL;
        int rc;

        pps__alloc_fail_after(n);
        pps_profile_names names = {NULL, 0};

        rc = pps_profile_store_save(f->store, p, 0);
        if (rc == 0)
            rc = pps_profile_store_load(&q, f->store, "office");
        if (rc == 0)
            rc = pps_profile_store_list(&names, f->store);
        pps__alloc_fail_after(-1);
        if (rc == 0) {
            assert_int_equal(names.count, 1);
            pps_profile_names_free(&names);
            assert_true(pps__profile_equal(p, q));
            done = 1;
        } else {
            assert_int_equal(rc, PPS_ENOMEM);
        }
        pps_profile_free(q);
        /* Never a stray temporary file. */
        if (access(f->profiles, F_OK) == 0)
            assert_true(count_entries(f->profiles) <= 1);
    }
    assert_true(done);
    pps_profile_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_loose_modes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_injected_failures, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stamp, setup, teardown),
        cmocka_unit_test(test_own_store),
        cmocka_unit_test_setup_teardown(test_failing_allocator, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
