/*
 * peak-rss.c - run a command and write its peak resident set size.
 *
 *     peak-rss OUT CMD [ARG...]
 *
 * Runs CMD, waits for it, writes its ru_maxrss (KiB, from wait4) to the
 * file OUT and exits as it did (128 + N when signal N killed it).
 *
 * Why not ask from the test script itself: Linux keeps in ru_maxrss the
 * largest resident set a process had, including the one before its exec,
 * so a child spawned by python3 reports at least python's own 19 MiB.
 * This program is small: what it holds when it spawns is far below the
 * start-up of pps, which test-memory.py checks by running it on true(1).
 */
#include <spawn.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv)
{
    struct rusage ru;
    FILE *out;
    pid_t pid;
    int status;

    if (argc < 3) {
        fprintf(stderr, "usage: peak-rss OUT CMD [ARG...]\n");
        return 2;
    }
    if (posix_spawnp(&pid, argv[2], NULL, NULL, argv + 2, environ) != 0) {
        perror(argv[2]);
        return 127;
    }
    if (wait4(pid, &status, 0, &ru) != pid) {
        perror("wait4");
        return 1;
    }
    if (!(out = fopen(argv[1], "w")) ||
        fprintf(out, "%ld\n", ru.ru_maxrss) < 0 || fclose(out) != 0) {
        perror(argv[1]);
        return 1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
