/*
 * scheduler.c - a small scheduler: worker threads that each pick the most
 * overdue profile nobody is polling, poll it, and pick again.
 *
 * There is no dispatcher thread: max_parallel workers share one lock and
 * one condition variable.  A worker with nothing due sleeps until the
 * earliest due time (at most IDLE_WAIT_SECONDS, so that a clock change
 * cannot strand it) or until something changes (update, poll_now, a poll
 * finishing, stop).  A profile being polled is marked busy, which is what
 * keeps two polls of one mailbox apart within this process; the ledger's
 * lock does the same across processes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pps/errors.h>
#include <pps/profile.h>

#include "scheduler.h"

/* The longest a worker sleeps without looking at the clock again. */
#define IDLE_WAIT_SECONDS 30

/* max_parallel of pps.conf is at most 256 (keys.c); so is this. */
#define WORKERS_MAX 256

typedef struct job {
    char name[PPS_PROFILE_NAME_MAX + 1];
    unsigned long interval;
    int enabled;
    int removed; /* gone from the profiles; kept for waiters' sake */
    int busy;    /* a worker is polling it */
    int force;   /* poll on request, ahead of time and back-off */
    time_t next_due;
    unsigned long started; /* polls begun and finished: poll_now waits */
    unsigned long finished;
    pps_plugin_profile_status last;
} job;

struct sched {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    job **jobs; /* never shrinks: removed jobs are only marked */
    size_t count;
    volatile sig_atomic_t stop;
    int running;
    unsigned long epoch; /* bumped by every stop: waiters give up */
    pthread_t workers[WORKERS_MAX];
    unsigned int worker_count, max_parallel;
    sched_poll_fn poll;
    void *payload;
    sched_tick_fn tick;
    unsigned int tick_seconds;
    time_t next_tick;
};

static job *find(sched *s, const char *name)
{
    size_t i;

    for (i = 0; i < s->count; i++)
        if (strcmp(s->jobs[i]->name, name) == 0)
            return s->jobs[i];
    return NULL;
}

/* The job to poll now, or NULL with *wake set to when one will be due. */
static job *pick(sched *s, time_t now, time_t *wake)
{
    job *best = NULL;
    size_t i;

    *wake = now + IDLE_WAIT_SECONDS;
    for (i = 0; i < s->count; i++) {
        job *j = s->jobs[i];
        if (j->busy || j->removed)
            continue;
        if (j->force)
            return j;
        if (!j->enabled)
            continue;
        if (j->next_due <= now) {
            if (!best || j->next_due < best->next_due)
                best = j;
        } else if (j->next_due < *wake) {
            *wake = j->next_due;
        }
    }
    return best;
}

static void run_one(sched *s, job *j)
{
    pps_plugin_profile_status st;
    char name[sizeof(j->name)];
    int forced = j->force, err;
    time_t due;

    j->busy = 1;
    j->force = 0;
    j->started++;
    memcpy(name, j->name, sizeof(name));
    pthread_mutex_unlock(&s->lock);

    memset(&st, 0, sizeof(st));
    st.size = sizeof(st);
    err = s->poll(&st, name, forced, &s->stop, s->payload);
    st.last_result = err;

    pthread_mutex_lock(&s->lock);
    due = time(NULL) + (time_t)j->interval;
    if (st.next_due > due)
        due = (time_t)st.next_due; /* a back-off asks for later */
    st.enabled = j->enabled;
    st.interval = j->interval;
    st.polls = j->last.polls + 1;
    j->last = st;
    j->next_due = due;
    j->busy = 0;
    j->finished++;
    pthread_cond_broadcast(&s->changed);
}

static void *worker(void *arg)
{
    sched *s = arg;
    struct timespec until;
    time_t now, wake;
    job *j;

    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        now = time(NULL);
        if (s->tick && now >= s->next_tick) {
            /* One worker at a time: the others see the new next_tick. */
            s->next_tick = now + (time_t)s->tick_seconds;
            pthread_mutex_unlock(&s->lock);
            s->tick(s->payload);
            pthread_mutex_lock(&s->lock);
            continue;
        }
        if ((j = pick(s, now, &wake)) != NULL) {
            run_one(s, j);
            continue;
        }
        if (s->tick && s->next_tick < wake)
            wake = s->next_tick;
        until.tv_sec = wake;
        until.tv_nsec = 0;
        pthread_cond_timedwait(&s->changed, &s->lock, &until);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int sched_new(sched **out, unsigned int max_parallel, sched_poll_fn fn,
              void *payload)
{
    sched *s;

    if (!out || !fn || max_parallel == 0 || max_parallel > WORKERS_MAX)
        return PPS_EINVAL;
    if (!(s = calloc(1, sizeof(*s))))
        return PPS_ENOMEM;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return PPS_ENOMEM;
    }
    if (pthread_cond_init(&s->changed, NULL) != 0) {
        pthread_mutex_destroy(&s->lock);
        free(s);
        return PPS_ENOMEM;
    }
    s->max_parallel = max_parallel;
    s->poll = fn;
    s->payload = payload;
    *out = s;
    return 0;
}

void sched_set_tick(sched *s, sched_tick_fn fn, unsigned int seconds)
{
    pthread_mutex_lock(&s->lock);
    s->tick = fn;
    s->tick_seconds = seconds ? seconds : 1;
    s->next_tick = time(NULL) + (time_t)s->tick_seconds;
    pthread_mutex_unlock(&s->lock);
}

void sched_free(sched *s)
{
    size_t i;

    if (!s)
        return;
    sched_stop(s);
    for (i = 0; i < s->count; i++)
        free(s->jobs[i]);
    free(s->jobs);
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int add_job(sched *s, const sched_entry *e, time_t now)
{
    job **grown, *j;

    if (strlen(e->name) > PPS_PROFILE_NAME_MAX)
        return PPS_EINVAL;
    if (!(j = calloc(1, sizeof(*j))))
        return PPS_ENOMEM;
    if (!(grown = realloc(s->jobs, (s->count + 1) * sizeof(*grown)))) {
        free(j);
        return PPS_ENOMEM;
    }
    s->jobs = grown;
    memcpy(j->name, e->name, strlen(e->name) + 1);
    j->next_due = now;
    j->last.size = sizeof(j->last);
    s->jobs[s->count++] = j;
    return 0;
}

int sched_update(sched *s, const sched_entry *entries, size_t count)
{
    time_t now = time(NULL);
    size_t i, k;
    int err = 0;
    job *j;

    if (!s || (!entries && count))
        return PPS_EINVAL;
    pthread_mutex_lock(&s->lock);
    for (i = 0; i < s->count; i++)
        s->jobs[i]->removed = 1;
    for (k = 0; k < count && err == 0; k++) {
        if (!(j = find(s, entries[k].name))) {
            if ((err = add_job(s, &entries[k], now)) < 0)
                break;
            j = s->jobs[s->count - 1];
        } else if (!j->enabled && entries[k].enabled) {
            j->next_due = now; /* newly enabled: poll it now */
        }
        j->removed = 0;
        j->enabled = entries[k].enabled;
        j->interval = entries[k].interval ? entries[k].interval : 1;
    }
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    return err;
}

int sched_start(sched *s)
{
    unsigned int i;

    if (!s)
        return PPS_EINVAL;
    pthread_mutex_lock(&s->lock);
    if (s->running) {
        pthread_mutex_unlock(&s->lock);
        return PPS_EEXISTS;
    }
    s->stop = 0;
    s->running = 1;
    pthread_mutex_unlock(&s->lock);
    for (i = 0; i < s->max_parallel; i++) {
        if (pthread_create(&s->workers[i], NULL, worker, s) != 0)
            break;
        s->worker_count++;
    }
    if (s->worker_count == 0) {
        s->running = 0;
        return PPS_ENOMEM;
    }
    return 0;
}

int sched_stop(sched *s)
{
    unsigned int i;

    if (!s)
        return PPS_EINVAL;
    pthread_mutex_lock(&s->lock);
    if (!s->running) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    s->stop = 1;
    s->epoch++;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    for (i = 0; i < s->worker_count; i++)
        pthread_join(s->workers[i], NULL);
    pthread_mutex_lock(&s->lock);
    s->worker_count = 0;
    s->running = 0;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int sched_poll_now(sched *s, const char *name, int wait)
{
    unsigned long epoch, target;
    int err = 0;
    job *j;

    if (!s || !name)
        return PPS_EINVAL;
    pthread_mutex_lock(&s->lock);
    if (!s->running || s->stop) {
        err = PPS_EINVAL;
        goto done;
    }
    if (!(j = find(s, name)) || j->removed) {
        err = PPS_ENOTFOUND;
        goto done;
    }
    /* The poll asked for starts after any poll running now. */
    target = j->started + 1;
    j->force = 1;
    pthread_cond_broadcast(&s->changed);
    epoch = s->epoch;
    while (wait && j->finished < target) {
        if (s->epoch != epoch || !s->running) {
            err = PPS_EABORTED;
            goto done;
        }
        pthread_cond_wait(&s->changed, &s->lock);
    }
    if (wait)
        err = j->last.last_result;
done:
    pthread_mutex_unlock(&s->lock);
    return err;
}

int sched_status(pps_plugin_profile_status *out, sched *s, const char *name)
{
    pps_plugin_profile_status st;
    size_t size;
    job *j;

    if (!out || !s || !name || out->size < sizeof(size_t))
        return PPS_EINVAL;
    pthread_mutex_lock(&s->lock);
    if (!(j = find(s, name)) || j->removed) {
        pthread_mutex_unlock(&s->lock);
        return PPS_ENOTFOUND;
    }
    st = j->last;
    st.enabled = j->enabled;
    st.running = j->busy;
    st.interval = j->interval;
    st.next_due = (int64_t)j->next_due;
    pthread_mutex_unlock(&s->lock);
    /* Only the fields the caller knows. */
    size = out->size < sizeof(st) ? out->size : sizeof(st);
    st.size = out->size;
    memcpy(out, &st, size);
    return 0;
}
