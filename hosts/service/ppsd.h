/*
 * ppsd.h - the service: what its files share.
 *
 * main.c reads the command line and starts up (pps.conf, log, privileges,
 * runtime, daemon); sched.c is the scheduler and its worker threads;
 * system.c holds the Unix chores (daemonise, pid file, drop privileges).
 * No protocol or routing logic here: a poll is one pps_runtime_poll().
 */
#ifndef PPSD_H
#define PPSD_H

#include <pps/pps.h>
#include <signal.h>
#include <stddef.h>

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_CONFIG = 2 };

/* Set by the signal handlers (main.c), read by the main loop; ppsd_stop is
 * also the stop flag every poll watches. */
extern volatile sig_atomic_t ppsd_stop;
extern volatile sig_atomic_t ppsd_hup;

/* Wake the main loop: the write end of its self-pipe, written by signal
 * handlers and by workers when a poll ends. */
void ppsd_wake(void);

/* Create the self-pipe (non-blocking, close-on-exec).  0 or -1. */
int ppsd_wake_init(void);

/* The read end, for poll(2); draining it is the main loop's job. */
int ppsd_wake_fd(void);

typedef struct sched_options {
    unsigned int max_parallel; /* polls at once; 0 means 1 */
    int once;                  /* 1: one cycle over every profile, then end */
} sched_options;

/*
 * Run the scheduler until ppsd_stop: poll every enabled profile of rt on
 * its interval, at most max_parallel at once.  Returns EXIT_OK when every
 * poll stopped in time, EXIT_RUNTIME when some did not within the bound;
 * *polls_left is then 1: they still use rt, which must not be freed.
 *
 * With opts->once, poll every enabled profile once, at once (no start-up
 * spread), and return when the last poll ends: EXIT_OK when every poll
 * succeeded (a profile waiting for its server's LOGIN-DELAY included),
 * EXIT_CONFIG when a profile is not valid, else EXIT_RUNTIME when a poll
 * failed, a profile is backing off after failures, or a signal stopped
 * the cycle before every profile was polled.
 */
int sched_run(pps_runtime *rt, const sched_options *opts, int *polls_left);

/* --- system.c ---------------------------------------------------------- */

/* Detach from the terminal: fork, setsid, fork, chdir /, stdio to
 * /dev/null.  Only the grandchild returns (0); -1 with errno on failure. */
int sys_daemonise(void);

/* Switch to `user` (initgroups, setgid, setuid) and check that root cannot
 * be regained.  0, or -1 with a sentence in err. */
int sys_drop_privileges(const char *user, char *err, size_t size);

/* Write our pid into the open fd of the pid file.  0 or -1. */
int sys_write_pid(int fd);

#endif /* PPSD_H */
