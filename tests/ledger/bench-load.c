/*
 * bench-load.c - how long does opening a 100k-message ledger take?
 *
 * Writes a ledger of N messages (intent, delivered and complete for each:
 * 3N records, the shape a keep = yes mailbox grows into), then times
 * pps_ledger_open (read, check and hash every record), a lookup of every
 * uid, a compaction and pps_ledger_free.  Prints the times; asserts
 * nothing but success.
 *
 *     meson test -C build --benchmark --verbose ledger-load
 *     build/tests/ledger/bench-ledger-load [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "ledger/ledger-internal.h"
#include "pps/errors.h"
#include "pps/ledger.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int fail(const char *what)
{
    fprintf(stderr, "bench-ledger-load: %s: %s\n", what,
            pps_error_last()->message);
    return 1;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[1024], path[2048], line[PPS__LEDGER_LINE_MAX], uid[64];
    pps_ledger_store *store;
    pps_ledger *l;
    pps_ledger_message_info info;
    struct stat sb;
    double t0, t1, t2, t3, t4;
    FILE *f;
    int len;

    snprintf(dir, sizeof(dir), "%s/pps-bench-XXXXXX", tmp);
    if (n <= 0 || !mkdtemp(dir))
        return 1;
    if (pps_ledger_store_open_dir(&store, dir) != 0 ||
        pps__ledger_file_path(path, sizeof(path), store, "pop.example.com",
                              "bench") != 0)
        return fail("store");
    if (!(f = fopen(path, "w")))
        return 1;
    len = pps__ledger_header_encode(line, sizeof(line), "pop.example.com",
                                    "bench");
    fwrite(line, 1, (size_t)len, f);
    for (long i = 0; i < n; i++) {
        static const pps_ledger_record_type types[] = {PPS_LEDGER_REC_INTENT,
                                                       PPS_LEDGER_REC_DELIVERED,
                                                       PPS_LEDGER_REC_COMPLETE};
        pps_ledger_record rec;

        /* Dovecot-like UIDLs: 8 hex digits of uidvalidity, 8 of uid. */
        snprintf(uid, sizeof(uid), "%08x%08lx", 0x5f3e1a2bu, (unsigned long)i);
        for (int k = 0; k < 3; k++) {
            memset(&rec, 0, sizeof(rec));
            rec.type = types[k];
            rec.uid = uid;
            rec.rcpt = k < 2 ? "alice@local.test" : NULL;
            rec.time = 1700000000 + i;
            len = pps__ledger_record_encode(line, sizeof(line), &rec);
            fwrite(line, 1, (size_t)len, f);
        }
    }
    fclose(f);
    stat(path, &sb);

    t0 = now_ms();
    if (pps_ledger_open(&l, store, "pop.example.com", "bench", NULL) != 0)
        return fail("open");
    t1 = now_ms();
    for (long i = 0; i < n; i++) {
        snprintf(uid, sizeof(uid), "%08x%08lx", 0x5f3e1a2bu, (unsigned long)i);
        if (pps_ledger_message(&info, l, uid) != 0 ||
            info.state != PPS_LEDGER_COMPLETE)
            return fail("lookup");
    }
    t2 = now_ms();
    if (pps_ledger_compact(l) != 0)
        return fail("compact");
    t3 = now_ms();
    pps_ledger_free(l);
    t4 = now_ms();

    printf("ledger of %ld messages, %ld records, %.1f MB\n", n, 3 * n,
           (double)sb.st_size / 1e6);
    printf("open (read + verify + hash): %8.1f ms\n", t1 - t0);
    printf("lookup of every uid:         %8.1f ms (%.0f ns each)\n", t2 - t1,
           (t2 - t1) * 1e6 / (double)n);
    printf("compact (write, fsync, rename): %5.1f ms\n", t3 - t2);
    printf("free:                        %8.1f ms\n", t4 - t3);

    unlink(path);
    snprintf(path + strlen(path) - strlen(".ledger"), 16, ".lock");
    unlink(path);
    rmdir(dir);
    pps_ledger_store_free(store);
    return 0;
}
