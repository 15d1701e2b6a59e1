/*
 * maildir-sync.c - the Maildir file work alone, four ways (issue #8,
 * docs/performance.md "Where the time goes").  Not built by meson: a
 * throwaway measurement of the disk, not of libpps.
 *
 *   cc -O2 -pthread -o /tmp/maildir-sync tests/bench/maildir-sync.c
 *   /tmp/maildir-sync MODE N BATCH DIR     (DIR must not exist)
 *
 * Each of N files of 4 KB is created in DIR/tmp and ends in DIR/new:
 *   1  mpop's way: write, fsync the file, link, unlink (no folder fsync)
 *   2  per batch: one syncfs, links, one fsync of new/
 *   3  per batch: an fsync per file, links, one fsync of new/
 *   4  as 3, with each file's write-back started when it is written
 *      (sync_file_range): what libpps's group commit did until sync-many.c
 *   5  as 4, the fsyncs of a batch made by 8 threads at once: what it
 *      does now (libpps/deliver/sync-many.c)
 * It prints the total time and the time spent in the batches' fsyncs.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void must(int ok, const char *what)
{
    if (!ok) {
        perror(what);
        exit(1);
    }
}

/* Mode 5: the files first..first+count-1 of a batch, fsync'd by
 * THREADS threads each taking every THREADS-th file. */
#define THREADS 8
static int batch_first, batch_count;

static void *sync_share(void *arg)
{
    char tn[64];
    int j, f;

    for (j = (int)(long)arg; j < batch_count; j += THREADS) {
        snprintf(tn, sizeof(tn), "tmp/%d", batch_first + j);
        must((f = open(tn, O_RDONLY)) >= 0 && fsync(f) == 0 && close(f) == 0,
             "fsync");
    }
    return NULL;
}

static void publish(int from, int to)
{
    char tn[64], nn[64];
    int j;

    for (j = from; j <= to; j++) {
        snprintf(tn, sizeof(tn), "tmp/%d", j);
        snprintf(nn, sizeof(nn), "new/%d", j);
        must(link(tn, nn) == 0 && unlink(tn) == 0, "link");
    }
}

int main(int argc, char **argv)
{
    char buf[4096], tn[64];
    int mode, n, batch, i, j, pending = 0, newfd;
    double t0, in_fsync = 0;

    if (argc != 5)
        return 2;
    mode = (int)strtol(argv[1], NULL, 10);
    n = (int)strtol(argv[2], NULL, 10);
    batch = (int)strtol(argv[3], NULL, 10);
    must(mkdir(argv[4], 0700) == 0 && chdir(argv[4]) == 0, argv[4]);
    must(mkdir("tmp", 0700) == 0 && mkdir("new", 0700) == 0, "mkdir");
    must((newfd = open("new", O_RDONLY | O_DIRECTORY)) >= 0, "new");
    memset(buf, 'x', sizeof(buf));
    t0 = now();
    for (i = 0; i < n; i++) {
        int fd;
        snprintf(tn, sizeof(tn), "tmp/%d", i);
        must((fd = open(tn, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0, tn);
        must(write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf), "write");
        if (mode == 1) {
            must(fsync(fd) == 0 && close(fd) == 0, "fsync");
            publish(i, i);
            continue;
        }
        if (mode >= 4)
            sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        must(close(fd) == 0, "close");
        if (++pending < batch && i < n - 1)
            continue;
        double t1 = now();
        if (mode == 2) {
            must(syncfs(newfd) == 0, "syncfs");
        } else if (mode == 5) {
            pthread_t t[THREADS];
            long k;
            batch_first = i - pending + 1;
            batch_count = pending;
            for (k = 0; k < THREADS; k++)
                must(pthread_create(&t[k], NULL, sync_share, (void *)k) == 0,
                     "thread");
            for (k = 0; k < THREADS; k++)
                pthread_join(t[k], NULL);
        } else {
            for (j = i - pending + 1; j <= i; j++) {
                int f;
                snprintf(tn, sizeof(tn), "tmp/%d", j);
                must((f = open(tn, O_RDONLY)) >= 0 && fsync(f) == 0 &&
                         close(f) == 0,
                     "fsync");
            }
        }
        in_fsync += now() - t1;
        publish(i - pending + 1, i);
        must(fsync(newfd) == 0, "fsync new/");
        pending = 0;
    }
    printf("mode %d: %d files in %.3f s (%.3f s in the batches' fsyncs)\n",
           mode, n, now() - t0, in_fsync);
    return 0;
}
