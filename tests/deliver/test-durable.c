/*
 * test-durable.c - the durable-write helper on its own: exclusive
 * creation, publish never replaces, replace does, discard cleans up, a
 * long file's write-back is started step by step.
 */
#include "../helpers/pps-test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliver/durable.h"
#include "pps/errors.h"

static char dir[64];

static void path_of(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

static void read_back(const char *name, const char *want)
{
    char path[128], buf[64] = "";
    FILE *f;
    size_t n;

    path_of(path, sizeof(path), name);
    f = fopen(path, "rb");
    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_string_equal(buf, want);
}

static void write_file(const char *tmp, const char *text, pps__durable *f)
{
    char path[128];

    path_of(path, sizeof(path), tmp);
    assert_int_equal(pps__durable_create(f, path, 0600), 0);
    assert_int_equal(pps__durable_write(f, text, strlen(text)), 0);
}

static void test_publish_and_replace(void **state)
{
    char final[128], tmp[128];
    pps__durable f;
    struct stat st;

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/pps-durable-XXXXXX");
    assert_non_null(mkdtemp(dir));
    path_of(final, sizeof(final), "state");

    write_file("t1", "one", &f);
    /* The tmp name is exclusive. */
    {
        pps__durable g;
        path_of(tmp, sizeof(tmp), "t1");
        assert_int_equal(pps__durable_create(&g, tmp, 0600), PPS_EEXISTS);
    }
    assert_int_equal(pps__durable_publish(&f, final), 0);
    read_back("state", "one");
    path_of(tmp, sizeof(tmp), "t1");
    assert_int_equal(stat(tmp, &st), -1); /* tmp name gone */

    /* publish never replaces a file that is there. */
    write_file("t2", "two", &f);
    assert_int_equal(pps__durable_publish(&f, final), PPS_EEXISTS);
    read_back("state", "one");
    pps__durable_discard(&f);
    path_of(tmp, sizeof(tmp), "t2");
    assert_int_equal(stat(tmp, &st), -1);

    /* replace does, atomically. */
    write_file("t3", "three", &f);
    assert_int_equal(pps__durable_replace(&f, final), 0);
    read_back("state", "three");
    assert_int_equal(stat(final, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* Discard after nothing, twice: harmless. */
    pps__durable_init(&f);
    pps__durable_discard(&f);
    pps__durable_discard(&f);
    unlink(final);
    assert_int_equal(rmdir(dir), 0);
}

/* A long file's write-back starts at each PPS__DURABLE_WRITEBACK_STEP
 * written (what the kernel then does is measured by tests/bench, S3, not
 * here); the file keeps every byte in order. */
static void test_long_file_writeback_steps(void **state)
{
    enum { PIECE = 64 * 1024 };
    char path[128], *piece = malloc(PIECE);
    unsigned long long total = 0;
    pps__durable f;
    struct stat st;
    FILE *in;
    int i, c;

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/pps-durable-XXXXXX");
    assert_non_null(mkdtemp(dir));
    path_of(path, sizeof(path), "long");
    assert_int_equal(pps__durable_create(&f, path, 0600), 0);
    assert_true(f.written == 0 && f.writeback_from == 0);
    for (i = 0; i < 40; i++) { /* 2.5 MiB in 64 KiB writes */
        memset(piece, 'a' + i % 26, PIECE);
        assert_int_equal(pps__durable_write(&f, piece, PIECE), 0);
        total += PIECE;
        assert_true(f.written == total);
        /* Started up to the last full step, never more than a step
         * behind. */
        assert_true(f.writeback_from <= f.written);
        assert_true(f.written - f.writeback_from < PPS__DURABLE_WRITEBACK_STEP);
        assert_true(f.writeback_from % PPS__DURABLE_WRITEBACK_STEP == 0);
    }
    assert_true(f.writeback_from == 2ull * PPS__DURABLE_WRITEBACK_STEP);
    assert_int_equal(pps__durable_sync(&f), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, (off_t)total);
    assert_non_null(in = fopen(path, "rb"));
    for (i = 0; i < 40; i++) {
        long k;
        for (k = 0; k < PIECE; k++)
            if ((c = fgetc(in)) != 'a' + i % 26)
                fail_msg("byte %ld of piece %d: %d", k, i, c);
    }
    assert_int_equal(fgetc(in), EOF);
    fclose(in);
    free(piece);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_and_replace),
        cmocka_unit_test(test_long_file_writeback_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
