/*
 * scheduler.h - the plug-in's scheduler: every profile on its interval, at
 * most max_parallel at once, never two polls of one profile at once.
 *
 *     sched *s;
 *     sched_new(&s, max_parallel, poll_fn, payload);
 *     sched_update(s, entries, n);      (the profiles: names, intervals)
 *     sched_start(s);                   (worker threads pick due polls)
 *     sched_poll_now(s, "office", 1);   (ahead of time, wait for it)
 *     sched_stop(s);                    (polls in flight finish first)
 *     sched_free(s);
 *
 * It is deliberately small: ppsd's scheduler (hosts/service) does the same
 * job, and the two should become one library-level scheduler later.
 */
#ifndef PPS_PLUGIN_SCHED_H
#define PPS_PLUGIN_SCHED_H

#include <signal.h>

#include "pps-plugin.h"

typedef struct sched sched;

/* One profile as the scheduler sees it. */
typedef struct sched_entry {
    const char *name;
    unsigned long interval; /* seconds, >= 1 */
    int enabled;            /* 0: only polled on request */
} sched_entry;

/*
 * Poll profile `name` once, on a worker thread; fill *st (its figures,
 * text and next_due when a back-off asks for a later time than the
 * interval) and return 0 or the PPS_E* result.  `forced` is 1 for a poll
 * on request.  `stop` becomes non-zero when the scheduler stops.
 */
typedef int (*sched_poll_fn)(pps_plugin_profile_status *st, const char *name,
                             int forced, volatile sig_atomic_t *stop,
                             void *payload);

/* A stopped scheduler; 0, or PPS_EINVAL / PPS_ENOMEM. */
int sched_new(sched **out, unsigned int max_parallel, sched_poll_fn fn,
              void *payload);

/* While running, call `fn(payload)` about every `seconds` on one worker
 * with no lock held (it may call sched_update): the plug-in looks for
 * changed profiles there.  NULL: none. */
typedef void (*sched_tick_fn)(void *payload);
void sched_set_tick(sched *s, sched_tick_fn fn, unsigned int seconds);

/* Stop and free; NULL does nothing. */
void sched_free(sched *s);

/* The profiles from now on: new names are due at once, missing ones are
 * no longer polled (a poll of one in flight finishes), the others keep
 * their state and take the new interval from their next poll. */
int sched_update(sched *s, const sched_entry *entries, size_t count);

/* Start the worker threads (PPS_EEXISTS when running), stop them (waits
 * for polls in flight; 0 also when not running). */
int sched_start(sched *s);
int sched_stop(sched *s);

/* See pps_plugin_poll_now and pps_plugin_status. */
int sched_poll_now(sched *s, const char *name, int wait);
int sched_status(pps_plugin_profile_status *out, sched *s, const char *name);

#endif /* PPS_PLUGIN_SCHED_H */
