/*
 * test-crash.c - kill a poller at random points; nothing durable is lost,
 * nothing is invented.
 *
 * A child process runs a fixed, seeded sequence of ledger operations (the
 * shape of real polls: intents, outcomes, completes, DELEs, QUITs, prunes,
 * duplicate entries, status, syncs, compactions) and tells the parent,
 * through a pipe, after each operation whether everything so far is
 * durable.  It dies at a random point, in one of four ways:
 *
 *   kill    SIGKILL between two operations;
 *   torn    SIGKILL in the middle of a write(): part of a line is written;
 *   power   a power cut: the file loses everything after its last fsync,
 *           gains random garbage (zeros or bytes), then SIGKILL;
 *   fail    write() or fsync() fails (ENOSPC / EIO), the call returns an
 *           error and the child stops as a poller would.
 *
 * The parent reopens the ledger (as the next poll would) and checks that
 * its state is exactly the state after some prefix of the records of an
 * uninterrupted reference run - a prefix that includes every record the
 * child had been told was durable.  "State" is every message's and
 * recipient's state, the duplicate entries and the status: all that a
 * poll decides on.
 */
#include "../helpers/pps-test.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

#include "ledger-test-util.h"

#define MSGS    24
#define KEYS    6
#define MAX_OPS 400
#define FP_SIZE (MSGS * 4 + KEYS + 32)

static const char *const rcpt_names[3] = {"a@l", "b@l", "c@l"};

enum kind {
    OP_INTEND,
    OP_DELIVERED,
    OP_FAILED,
    OP_COMPLETE,
    OP_DELE,
    OP_QUIT,
    OP_SYNC,
    OP_REMEMBER,
    OP_STATUS,
    OP_COMPACT,
    OP_PRUNE
};

typedef struct op {
    enum kind kind;
    int msg;  /* message, key, status value or first listed message */
    int mask; /* recipients (INTEND) or recipient index */
} op;

/* xorshift32: the same sequence in child and reference. */
static unsigned int rnd(unsigned int *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static size_t make_ops(op *ops, unsigned int seed)
{
    size_t n = 0;
    unsigned int s = seed * 2654435761u + 1;

#define PUSH(k, m, x)      \
    do {                   \
        ops[n].kind = (k); \
        ops[n].msg = (m);  \
        ops[n].mask = (x); \
        n++;               \
    } while (0)
    for (int m = 0; m < MSGS; m++) {
        int mask = (int)(rnd(&s) % 7) + 1, failed = 0;

        PUSH(OP_INTEND, m, mask);
        for (int r = 0; r < 3; r++) {
            if (!(mask & (1 << r)))
                continue;
            if (rnd(&s) % 5 == 0) {
                PUSH(OP_FAILED, m, r);
                failed |= 1 << r;
            } else {
                PUSH(OP_DELIVERED, m, r);
            }
        }
        if (failed && rnd(&s) % 2) {
            PUSH(OP_INTEND, m, failed);
            for (int r = 0; r < 3; r++) {
                if (failed & (1 << r))
                    PUSH(OP_DELIVERED, m, r);
            }
            failed = 0;
        }
        if (!failed) {
            PUSH(OP_COMPLETE, m, 0);
            if (rnd(&s) % 2)
                PUSH(OP_DELE, m, 0);
        }
        if (rnd(&s) % 4 == 0)
            PUSH(OP_SYNC, 0, 0);
        if (rnd(&s) % 6 == 0)
            PUSH(OP_QUIT, 0, 0);
        if (rnd(&s) % 5 == 0)
            PUSH(OP_REMEMBER, (int)(rnd(&s) % KEYS), (int)(rnd(&s) % 3));
        if (rnd(&s) % 8 == 0)
            PUSH(OP_STATUS, m + 1, 0);
        if (rnd(&s) % 10 == 0)
            PUSH(OP_COMPACT, 0, 0);
        if (m > 4 && rnd(&s) % 12 == 0)
            PUSH(OP_PRUNE, m - 4, 0);
    }
    PUSH(OP_SYNC, 0, 0);
#undef PUSH
    return n;
}

static void uid_of(char *buf, size_t size, int m)
{
    snprintf(buf, size, "uid-%02d", m);
}

static void key_of(char *buf, size_t size, int k)
{
    snprintf(buf, size, "<key%d@example>", k);
}

/* Run one op; returns the ledger's code. `reference` skips compactions
 * so that the reference file is the plain sequence of records. */
static int run_op(pps_ledger *l, const op *o, int reference)
{
    char uid[32], key[32];
    const char *rc[3];
    size_t n = 0;

    uid_of(uid, sizeof(uid), o->msg);
    switch (o->kind) {
    case OP_INTEND:
        for (int r = 0; r < 3; r++) {
            if (o->mask & (1 << r))
                rc[n++] = rcpt_names[r];
        }
        return pps_ledger_intend(l, uid, rc, n);
    case OP_DELIVERED:
        return pps_ledger_delivered(l, uid, rcpt_names[o->mask]);
    case OP_FAILED:
        return pps_ledger_failed(l, uid, rcpt_names[o->mask], PPS_ETEMP, 0);
    case OP_COMPLETE:
        return pps_ledger_complete(l, uid);
    case OP_DELE:
        return pps_ledger_dele_sent(l, uid);
    case OP_QUIT:
        return pps_ledger_quit_ok(l);
    case OP_SYNC:
        return pps_ledger_sync(l);
    case OP_REMEMBER:
        key_of(key, sizeof(key), o->msg);
        return pps_ledger_remember(l, key, rcpt_names[o->mask], time(NULL));
    case OP_STATUS: {
        pps_ledger_status st = PPS_LEDGER_STATUS_INIT;
        st.started = o->msg;
        st.finished = o->msg;
        return pps_ledger_status_set(l, &st);
    }
    case OP_COMPACT:
        return reference ? 0 : pps_ledger_compact(l);
    case OP_PRUNE: {
        const char *listed[MSGS];
        char uids[MSGS][32];
        int rv;
        for (int m = o->msg; m < MSGS; m++) {
            uid_of(uids[m - o->msg], sizeof(uids[0]), m);
            listed[m - o->msg] = uids[m - o->msg];
        }
        rv = pps_ledger_prune(l, listed, (size_t)(MSGS - o->msg));
        return rv < 0 ? rv : 0;
    }
    }
    return PPS_ERROR;
}

/* 1: the op ends with everything so far durable; 2: everything before
 * the op is durable (DELE syncs what came before its own record, which
 * need not be durable); 0: no promise. */
static int syncs(const op *o)
{
    if (o->kind == OP_INTEND || o->kind == OP_SYNC || o->kind == OP_COMPACT)
        return 1;
    return o->kind == OP_DELE ? 2 : 0;
}

/* Everything a poll decides on, as a string. */
static void fingerprint(char *fp, const pps_ledger *l)
{
    pps_ledger_status st = PPS_LEDGER_STATUS_INIT;
    size_t n = 0;

    for (int m = 0; m < MSGS; m++) {
        char uid[32];
        uid_of(uid, sizeof(uid), m);
        fp[n++] = (char)('0' + state_of(l, uid));
        for (int r = 0; r < 3; r++)
            fp[n++] = (char)('0' + rcpt_of(l, uid, rcpt_names[r]));
    }
    for (int k = 0; k < KEYS; k++) {
        char key[32];
        int seen = 0;
        key_of(key, sizeof(key), k);
        for (int r = 0; r < 3; r++)
            seen |= pps_ledger_seen(l, key, rcpt_names[r]) << r;
        fp[n++] = (char)('0' + seen);
    }
    assert_int_equal(pps_ledger_status_get(&st, l), 0);
    snprintf(fp + n, FP_SIZE - n, "/%ld", (long)st.started);
}

/* --- the reference: fingerprints after each prefix of records ------------- */

typedef struct reference {
    size_t nops;
    op ops[MAX_OPS];
    size_t records_after[MAX_OPS]; /* records in the store after op i */
    size_t nrec;
    char (*fp)[FP_SIZE]; /* fp[j]: state after the first j records */
} reference;

static void build_reference(reference *ref, unsigned int seed, const char *base)
{
    char dir[4200], prefix_dir[4200], path[4300], ppath[4300];
    pps_ledger_store *store, *pstore;
    pps_ledger_options ro = PPS_LEDGER_OPTIONS_INIT;
    char *content, *p;
    size_t len, on_disk, live, header_len;
    pps_ledger *l;

    ref->nops = make_ops(ref->ops, seed);
    assert_true(ref->nops <= MAX_OPS);
    snprintf(dir, sizeof(dir), "%s/ref", base);
    snprintf(prefix_dir, sizeof(prefix_dir), "%s/prefix", base);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(mkdir(prefix_dir, 0700), 0);
    assert_int_equal(pps_ledger_store_open_dir(&store, dir), 0);
    l = open_ok(store, NULL);
    for (size_t i = 0; i < ref->nops; i++) {
        int rc = run_op(l, &ref->ops[i], 1);
        if (rc != 0)
            fail_msg("seed %u op %zu (kind %d): %s", seed, i, ref->ops[i].kind,
                     pps_error_last()->message);
        pps__ledger_record_counts(l, &on_disk, &live);
        ref->records_after[i] = on_disk;
    }
    pps_ledger_free(l);
    ledger_path(path, sizeof(path), store, HOST, USER);
    content = slurp(path, &len);
    ref->nrec = count_lines(path) - 1;
    assert_int_equal(ref->nrec, ref->records_after[ref->nops - 1]);

    /* Prefix j: the header and the first j records. */
    ref->fp = calloc(ref->nrec + 1, FP_SIZE);
    assert_non_null(ref->fp);
    assert_int_equal(pps_ledger_store_open_dir(&pstore, prefix_dir), 0);
    ledger_path(ppath, sizeof(ppath), pstore, HOST, USER);
    ro.read_only = 1;
    header_len = (size_t)(strchr(content, '\n') + 1 - content);
    p = content + header_len;
    for (size_t j = 0; j <= ref->nrec; j++) {
        spill(ppath, content, (size_t)(p - content));
        l = open_ok(pstore, &ro);
        fingerprint(ref->fp[j], l);
        pps_ledger_free(l);
        if (j < ref->nrec)
            p = strchr(p, '\n') + 1;
    }
    free(content);
    pps_ledger_store_free(pstore);
    pps_ledger_store_free(store);
}

/*
 * A prune writes its FORGET records in hash-table order, which differs
 * between runs (the table's key is random), so a prune cut short forgets
 * any subset of the unlisted messages: each message is as before or as
 * after the prune, the rest as before.
 */
static int partial_prune(const char *fp, const char *before, const char *after)
{
    for (int m = 0; m < MSGS; m++) {
        if (memcmp(fp + 4 * m, before + 4 * m, 4) != 0 &&
            memcmp(fp + 4 * m, after + 4 * m, 4) != 0)
            return 0;
    }
    return strcmp(fp + 4 * MSGS, before + 4 * MSGS) == 0;
}

/* --- the child and its deaths --------------------------------------------- */

enum mode { M_KILL, M_TORN, M_POWER, M_FAIL, M_COUNT };
static const char *const mode_names[] = {"kill", "torn", "power", "fail"};

typedef struct killer {
    enum mode mode;
    unsigned int rng;
    int countdown;    /* writes (or ops for M_KILL) before death */
    int fail_fsync;   /* M_FAIL: fail an fsync instead of a write */
    const char *path; /* the ledger file */
    /* M_POWER: the size of each file at its last fsync, by inode. */
    ino_t ino[8];
    off_t synced[8];
    int nsynced;
} killer;

static void power_cut(killer *k)
{
    struct stat sb;
    unsigned char junk[64];
    int n = (int)(rnd(&k->rng) % sizeof(junk));
    int zeros = rnd(&k->rng) % 2;
    off_t keep = 0;
    int fd;

    if (stat(k->path, &sb) == 0) {
        for (int i = 0; i < k->nsynced; i++) {
            if (k->ino[i] == sb.st_ino)
                keep = k->synced[i];
        }
        fd = open(k->path, O_WRONLY);
        if (fd >= 0) {
            if (ftruncate(fd, keep) == 0) {
                for (int i = 0; i < n; i++)
                    junk[i] = zeros ? 0 : (unsigned char)rnd(&k->rng);
                (void)!pwrite(fd, junk, (size_t)n, keep);
            }
            close(fd);
        }
    }
    raise(SIGKILL);
}

static ssize_t killer_write(int fd, const void *buf, size_t len, void *p)
{
    killer *k = p;

    if (k->mode != M_KILL && !k->fail_fsync && --k->countdown == 0) {
        if (k->mode == M_TORN) {
            (void)!write(fd, buf, rnd(&k->rng) % len);
            raise(SIGKILL);
        }
        if (k->mode == M_POWER) {
            (void)!write(fd, buf, len);
            power_cut(k);
        }
        if (rnd(&k->rng) % 2 && len > 1)
            (void)!write(fd, buf, len / 2);
        errno = ENOSPC;
        return -1;
    }
    return write(fd, buf, len);
}

static int killer_fsync(int fd, void *p)
{
    killer *k = p;
    struct stat sb;

    if (k->mode == M_FAIL && k->fail_fsync && --k->countdown == 0) {
        errno = EIO;
        return -1;
    }
    if (fsync(fd) < 0)
        return -1;
    if (k->mode == M_POWER && fstat(fd, &sb) == 0) {
        int i;
        for (i = 0; i < k->nsynced && k->ino[i] != sb.st_ino; i++)
            ;
        if (i == k->nsynced && k->nsynced < 8)
            k->nsynced++;
        if (i < 8) {
            k->ino[i] = sb.st_ino;
            k->synced[i] = sb.st_size;
        }
    }
    return 0;
}

/* Report: op index, and 1 when everything so far is durable. */
static void child(const reference *ref, const char *dir, killer *k, int out)
{
    pps_ledger_store *store;
    pps__ledger_io io = {killer_write, killer_fsync, k};
    char path[4300];
    pps_ledger *l = NULL;

    if (pps_ledger_store_open_dir(&store, dir) != 0)
        _exit(3);
    pps__ledger_file_store_set_io(store, &io);
    if (pps__ledger_file_path(path, sizeof(path), store, HOST, USER) != 0)
        _exit(3);
    k->path = path;
    if (pps_ledger_open(&l, store, HOST, USER, NULL) != 0)
        _exit(k->mode == M_FAIL ? 0 : 4); /* the injected failure hit open */
    for (size_t i = 0; i < ref->nops; i++) {
        int msg[2];

        if (k->mode == M_KILL && --k->countdown == 0)
            raise(SIGKILL);
        if (run_op(l, &ref->ops[i], 0) != 0)
            _exit(k->mode == M_FAIL ? 0 : 5); /* a poller stops here */
        msg[0] = (int)i;
        msg[1] = syncs(&ref->ops[i]);
        if (write(out, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
            _exit(6);
    }
    pps_ledger_free(l);
    _exit(0);
}

/* --- the test ---------------------------------------------------------------
 */

static const char *scratch_base(void)
{
    struct stat sb;

    /* Process death, not the disk, is under test; the I/O seam simulates
     * the power cut.  tmpfs keeps hundreds of fsyncs fast. */
    if (stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) &&
        access("/dev/shm", W_OK) == 0)
        return "/dev/shm";
    return getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
}

static int iterations(void)
{
    const char *e = getenv("PPS_TEST_CRASH_ITERATIONS");
    long n = e ? strtol(e, NULL, 10) : 0;
    return n > 0 ? (int)n : 25;
}

static void one_death(const reference *ref, const char *base, unsigned int seed,
                      int iter, enum mode mode, int *checked_prefixes)
{
    char dir[4200], fp[FP_SIZE];
    pps_ledger_store *store;
    killer k;
    int pipefd[2], status, msg[2];
    long last_durable = -1, last_done = -1;
    size_t lo;
    pps_ledger *l;
    pid_t pid;
    int found = 0;

    snprintf(dir, sizeof(dir), "%s/run-%u-%d-%d", base, seed, (int)mode, iter);
    assert_int_equal(mkdir(dir, 0700), 0);
    memset(&k, 0, sizeof(k));
    k.mode = mode;
    k.rng = seed * 7919u + (unsigned int)iter * 104729u + (unsigned int)mode;
    rnd(&k.rng);
    k.fail_fsync = mode == M_FAIL && rnd(&k.rng) % 2;
    k.countdown = 1 + (int)(rnd(&k.rng) %
                            (mode == M_KILL ? ref->nops
                                            : (k.fail_fsync ? 60 : ref->nrec)));
    assert_int_equal(pipe(pipefd), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        child(ref, dir, &k, pipefd[1]);
    }
    close(pipefd[1]);
    while (read(pipefd[0], msg, sizeof(msg)) == (ssize_t)sizeof(msg)) {
        last_done = msg[0];
        if (msg[1] == 1)
            last_durable = msg[0];
        else if (msg[1] == 2 && msg[0] - 1 > last_durable)
            last_durable = msg[0] - 1;
    }
    close(pipefd[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        fail_msg("seed %u %s #%d: child exited %d", seed, mode_names[mode],
                 iter, WEXITSTATUS(status));

    /* The next poll opens the ledger. */
    assert_int_equal(pps_ledger_store_open_dir(&store, dir), 0);
    l = NULL;
    if (pps_ledger_open(&l, store, HOST, USER, NULL) != 0)
        fail_msg("seed %u %s #%d (after op %ld): reopen: %s", seed,
                 mode_names[mode], iter, last_done, pps_error_last()->message);
    fingerprint(fp, l);
    /* The poll goes on after the crash: what it appends must survive
     * (a torn tail left in place would swallow it). */
    assert_int_equal(pps_ledger_remember(l, "<after@crash>", "a@l", time(NULL)),
                     0);
    assert_int_equal(pps_ledger_sync(l), 0);
    pps_ledger_free(l);

    lo = last_durable < 0 ? 0 : ref->records_after[last_durable];
    for (size_t j = lo; j <= ref->nrec && !found; j++)
        found = strcmp(fp, ref->fp[j]) == 0;
    for (size_t p = 1; p < ref->nops && !found; p++) {
        if (ref->ops[p].kind == OP_PRUNE && ref->records_after[p] >= lo)
            found = partial_prune(fp, ref->fp[ref->records_after[p - 1]],
                                  ref->fp[ref->records_after[p]]);
    }
    if (!found && getenv("PPS_TEST_CRASH_DEBUG")) {
        for (size_t j = 0; j <= ref->nrec; j++)
            print_message("ref %3zu %s\n", j, ref->fp[j]);
        for (long i = last_done - 3; i < last_done + 3 && i >= 0; i++)
            print_message("op %ld kind %d msg %d mask %d records after %zu\n",
                          i, ref->ops[i].kind, ref->ops[i].msg,
                          ref->ops[i].mask, ref->records_after[i]);
    }
    if (!found)
        fail_msg("seed %u %s #%d: state after the crash is no prefix of "
                 ">= %zu records (last op %ld, last durable %ld):\n got %s",
                 seed, mode_names[mode], iter, lo, last_done, last_durable, fp);
    (*checked_prefixes)++;

    /* And it keeps working: the same state on the open after that. */
    l = open_ok(store, NULL);
    {
        char again[FP_SIZE];
        fingerprint(again, l);
        assert_string_equal(again, fp);
        assert_int_equal(pps_ledger_seen(l, "<after@crash>", "a@l"), 1);
    }
    pps_ledger_free(l);
    pps_ledger_store_free(store);
    {
        char cmd[4300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
    }
}

static void test_killed_at_random_points(void **state)
{
    char base[1024], cmd[1200];
    int checked = 0;
    reference *ref = calloc(1, sizeof(*ref));

    (void)state;
    assert_non_null(ref);
    for (unsigned int seed = 1; seed <= 3; seed++) {
        snprintf(base, sizeof(base), "%s/pps-crash-XXXXXX", scratch_base());
        assert_non_null(mkdtemp(base));
        build_reference(ref, seed, base);
        for (int mode = 0; mode < M_COUNT; mode++) {
            for (int it = 0; it < iterations(); it++)
                one_death(ref, base, seed, it, (enum mode)mode, &checked);
        }
        free(ref->fp);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
        assert_int_equal(system(cmd), 0);
    }
    print_message("%d crashes checked\n", checked);
    free(ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_killed_at_random_points),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
