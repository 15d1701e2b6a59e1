/*
 * sched.c - the scheduler of ppsd: which profile to poll when, on which
 * thread.
 *
 * It keeps, per profile, only its name, the mailbox it polls (host and
 * user), a fingerprint of its settings and the time of its next poll: a
 * profile is loaded when it is due and freed when its poll ends, so an
 * idle service with a thousand profiles stays small.
 *
 * One main thread does everything but the polls: it watches the profile
 * store's stamp (every STAMP_CHECK_SECONDS, and at once on SIGHUP), starts
 * due polls on threads of their own (at most max_parallel, never two of one
 * mailbox), and sleeps in poll(2) on a self-pipe that signal handlers and
 * finishing workers write to.  A poll's outcome is logged by the library
 * ("poll done"/"poll failed"); the scheduler logs its own decisions.
 *
 * With --once the same loop runs one cycle: every enabled profile is due
 * at start (no spread), a poll that ends is not scheduled again, the
 * store is not watched, and the loop ends when nothing is due or running.
 * The outcomes are tallied into the exit status and one closing line.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "confdir.h"
#include "hostlog.h"
#include "ppsd.h"

/* How often the profile store is asked whether anything changed; the
 * stamp is cheap (one readdir and stat per profile of the folder). */
#define STAMP_CHECK_SECONDS 2

/* A new or edited profile is polled within this many seconds of being
 * noticed: "saving a profile activates it at once", spread a little. */
#define SOON_SECONDS 2

/* Jitter added to every interval, so that a thousand profiles made at
 * once do not fire at once: up to a tenth of the interval, at most this. */
#define JITTER_MAX_SECONDS 30

/* On SIGTERM, how long polls get to finish the message in hand and QUIT
 * (well inside systemd's default 90 s stop timeout). */
#define STOP_WAIT_SECONDS 60

typedef struct entry {
    char *name;
    char *mailbox;        /* "host\nuser" of the last load; NULL: unknown */
    uint64_t fingerprint; /* of the profile text at the last load */
    time_t due;           /* next poll; 0: not scheduled */
    unsigned long interval;
    unsigned int running : 1;        /* a poll is in flight */
    unsigned int removed : 1;        /* deleted while its poll was in flight */
    unsigned int repoll : 1;         /* edited while its poll was in flight */
    unsigned int status_known : 1;   /* the ledger's back-off was read */
    unsigned int ignore_backoff : 1; /* once, after an edit */
    unsigned int enabled : 1;
    unsigned int broken : 1; /* cannot be loaded; waits for an edit */
    int load_err;            /* why, when broken (a PPS_E* code) */
} entry;

typedef struct job {
    pthread_t thread;
    pps_runtime *rt;
    char *name;
    char *mailbox;
    pps_profile *profile; /* owned by the worker until it ends */
    int ignore_backoff;
    int result; /* of pps_runtime_poll */
    int done;   /* under done_lock */
    pps_poll_report report;
    struct job *next;
} job;

/* --once: what became of each enabled profile, and the exit status. */
typedef struct tally {
    unsigned long ok, failed;
    unsigned long backing_off; /* skipped: back-off after failures */
    unsigned long waiting;     /* skipped: the server's LOGIN-DELAY */
    unsigned long stopped;     /* cut short or never started: a signal */
    unsigned long delivered, deleted;
    int status; /* the worst exit status so far */
} tally;

typedef struct sched {
    pps_runtime *rt;
    int once;
    entry *entries; /* sorted by name, like the store's list */
    size_t count;
    job *jobs; /* in flight */
    unsigned int running, max_parallel;
    uint64_t stamp;
    int have_stamp;
    int stamp_failing; /* log a failing store once, not every check */
    time_t next_stamp_check;
    uint64_t rng;
    tally tally;
} sched;

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;

/* --- small helpers -------------------------------------------------------- */

static unsigned long random_below(sched *s, unsigned long n)
{
    /* xorshift64: spreading start times needs no better randomness. */
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return n ? (unsigned long)(s->rng % n) : 0;
}

static time_t jitter(sched *s, unsigned long interval)
{
    unsigned long cap = interval / 10;

    if (cap > JITTER_MAX_SECONDS)
        cap = JITTER_MAX_SECONDS;
    return (time_t)random_below(s, cap + 1);
}

static void format_utc(char *buf, size_t size, time_t t)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static uint64_t fnv(const char *text, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)text[i];
        h *= 1099511628211ull;
    }
    return h ? h : 1; /* 0 means "never loaded" */
}

static entry *find_entry(sched *s, const char *name)
{
    size_t lo = 0, hi = s->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, s->entries[mid].name);
        if (c == 0)
            return &s->entries[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static void entry_clear(entry *e)
{
    free(e->name);
    free(e->mailbox);
    memset(e, 0, sizeof(*e));
}

static int mailbox_busy(const sched *s, const char *mailbox)
{
    const job *j;

    if (!mailbox)
        return 0;
    for (j = s->jobs; j; j = j->next)
        if (strcmp(j->mailbox, mailbox) == 0)
            return 1;
    return 0;
}

/* --once: one more profile that failed, with the exit status `pps fetch`
 * gives it: 2 for a profile that is not valid, 1 for a failed poll. */
static void tally_failed(sched *s, int status)
{
    s->tally.failed++;
    if (status > s->tally.status)
        s->tally.status = status;
}

/*
 * Load profile e->name and refresh what the scheduler keeps of it.  *out
 * gets the profile when out is not NULL (the caller frees it).  Returns 1
 * when its text changed since the last load, 0 when not, -1 when it cannot
 * be loaded (logged; the entry waits for the next change).
 */
static int inspect(sched *s, entry *e, pps_profile **out)
{
    pps_profile_settings set = PPS_PROFILE_SETTINGS_INIT;
    pps_profile *p = NULL;
    char *text = NULL;
    size_t len = 0;
    uint64_t fp;
    int err, changed;

    if (out)
        *out = NULL;
    if ((err = pps_profile_store_load(&p, pps_runtime_profiles(s->rt),
                                      e->name)) < 0 ||
        (err = pps_profile_validate(p)) < 0 ||
        (err = pps_profile_get_settings(&set, p)) < 0 ||
        (err = pps_profile_serialise(&text, &len, p,
                                     PPS_PROFILE_SERIALISE_NO_HEADER)) < 0) {
        if (!e->broken)
            hostlog(PPS_LOG_ERROR, e->name,
                    "cannot load the profile: %s; not polled until it is "
                    "fixed",
                    pps_error_last()->message);
        pps_profile_free(p);
        e->broken = 1;
        e->load_err = err;
        e->fingerprint = 0;
        e->due = 0;
        return -1;
    }
    /* The text holds the password; only its fingerprint is kept. */
    fp = fnv(text, len);
    pps_profile_text_free(text);
    changed = e->fingerprint != 0 && fp != e->fingerprint;
    e->fingerprint = fp;
    e->broken = 0;
    e->enabled = set.enabled ? 1 : 0;
    e->interval = set.interval_seconds ? set.interval_seconds : 600;
    free(e->mailbox);
    e->mailbox = NULL;
    {
        size_t hl = strlen(set.server.host), ul = strlen(set.user);
        if ((e->mailbox = malloc(hl + ul + 2)) != NULL) {
            memcpy(e->mailbox, set.server.host, hl);
            e->mailbox[hl] = '\n';
            memcpy(e->mailbox + hl + 1, set.user, ul + 1);
        }
    }
    if (out)
        *out = p;
    else
        pps_profile_free(p);
    return changed;
}

/* --- following the profile store ------------------------------------------ */

/* A profile seen for the first time: at start (spread over a tenth of its
 * interval; at once with --once) or added while running (polled within
 * seconds). */
static void adopt(sched *s, entry *e, int at_start, time_t now)
{
    if (inspect(s, e, NULL) < 0) {
        if (s->once)
            tally_failed(s, exit_status_of(e->load_err));
        return;
    }
    if (!e->enabled) {
        e->due = 0;
        hostlog(PPS_LOG_INFO, e->name, "profile %s, disabled: not polled",
                at_start ? "found" : "added");
        return;
    }
    if (at_start) {
        e->due = s->once ? now : now + jitter(s, e->interval);
        hostlog(PPS_LOG_DEBUG, e->name, "profile found: polled every %lu s",
                e->interval);
    } else {
        e->due = now + (time_t)random_below(s, SOON_SECONDS + 1);
        hostlog(PPS_LOG_INFO, e->name,
                "profile added: first poll within %d s, then every %lu s",
                SOON_SECONDS, e->interval);
    }
}

/* A known profile after the store changed: edited ones are polled soon
 * (once even when backing off: the administrator may have fixed it). */
static void recheck(sched *s, entry *e, time_t now)
{
    int was_broken = e->broken;
    int changed = inspect(s, e, NULL);

    if (changed < 0 || (changed == 0 && !was_broken))
        return;
    if (!e->enabled) {
        e->due = 0;
        hostlog(PPS_LOG_INFO, e->name, "profile changed: disabled, not polled");
        return;
    }
    e->ignore_backoff = 1;
    if (e->running) {
        e->repoll = 1;
        hostlog(PPS_LOG_INFO, e->name,
                "profile changed: polled again when the poll in progress "
                "ends");
        return;
    }
    e->due = now + (time_t)random_below(s, SOON_SECONDS + 1);
    hostlog(PPS_LOG_INFO, e->name,
            "profile changed: next poll within %d s, then every %lu s",
            SOON_SECONDS, e->interval);
}

/* Merge the store's sorted list of names into the sorted entries.
 * Returns 0, or a PPS_E* code when the store cannot be read (logged). */
static int sync_profiles(sched *s, int force, time_t now)
{
    pps_profile_names names = {NULL, 0};
    entry *merged;
    uint64_t stamp;
    size_t i = 0, k = 0, n = 0, enabled = 0;
    int at_start = !s->have_stamp, err;

    s->next_stamp_check = now + STAMP_CHECK_SECONDS;
    if ((err = pps_profile_store_stamp(&stamp, pps_runtime_profiles(s->rt))) <
        0) {
        if (!s->stamp_failing)
            hostlog(PPS_LOG_ERROR, NULL, "cannot check the profiles: %s",
                    pps_error_last()->message);
        s->stamp_failing = 1;
        return err;
    }
    if (s->have_stamp && stamp == s->stamp && !force)
        return 0;
    if ((err = pps_profile_store_list(&names, pps_runtime_profiles(s->rt))) <
        0) {
        if (!s->stamp_failing)
            hostlog(PPS_LOG_ERROR, NULL, "cannot list the profiles: %s",
                    pps_error_last()->message);
        s->stamp_failing = 1;
        return err;
    }
    s->stamp_failing = 0;
    if (!(merged = calloc(names.count + s->count + 1, sizeof(*merged)))) {
        hostlog(PPS_LOG_ERROR, NULL, "out of memory reading the profiles");
        pps_profile_names_free(&names);
        return PPS_ENOMEM;
    }
    while (i < s->count || k < names.count) {
        int c = i >= s->count      ? 1
                : k >= names.count ? -1
                                   : strcmp(s->entries[i].name, names.names[k]);
        if (c < 0) { /* gone from the store */
            entry *e = &s->entries[i++];
            if (e->running && !e->removed) {
                e->removed = 1;
                hostlog(PPS_LOG_INFO, e->name,
                        "profile deleted: the poll in progress finishes, no "
                        "more polls");
                merged[n++] = *e;
            } else if (e->running) {
                merged[n++] = *e;
            } else {
                hostlog(PPS_LOG_INFO, e->name,
                        "profile deleted: no more polls");
                entry_clear(e);
            }
        } else if (c > 0) { /* new */
            entry *e = &merged[n++];
            e->name = names.names[k];
            names.names[k++] = NULL;
            adopt(s, e, at_start, now);
        } else {
            entry *e = &s->entries[i++];
            k++;
            if (e->removed) { /* deleted and made again, still running */
                e->removed = 0;
                e->fingerprint = 0;
            }
            recheck(s, e, now);
            merged[n++] = *e;
        }
    }
    free(s->entries);
    s->entries = merged;
    s->count = n;
    s->stamp = stamp;
    s->have_stamp = 1;
    pps_profile_names_free(&names);
    if (at_start) {
        for (i = 0; i < n; i++)
            enabled += merged[i].enabled && !merged[i].broken;
        hostlog(PPS_LOG_INFO, NULL, "%zu profile(s), %zu enabled", n, enabled);
    }
    return 0;
}

/* --- workers ---------------------------------------------------------------
 */

static void *worker(void *arg)
{
    job *j = arg;

    j->result = pps_runtime_poll(&j->report, j->rt, j->profile, &ppsd_stop,
                                 j->ignore_backoff);
    /* The library logs every poll it ran; one that could not begin (no
     * deliverer, say) is ours to log. */
    if (j->result < 0 && j->report.started == 0)
        hostlog(PPS_LOG_ERROR, j->name, "poll failed: %s",
                pps_error_last()->message);
    pps_profile_free(j->profile);
    j->profile = NULL;
    pthread_mutex_lock(&done_lock);
    j->done = 1;
    pthread_mutex_unlock(&done_lock);
    ppsd_wake();
    return NULL;
}

static void job_free(job *j)
{
    if (!j)
        return;
    pps_profile_free(j->profile);
    free(j->name);
    free(j->mailbox);
    free(j);
}

/* A poll of e could not be started: try again an interval later, or with
 * --once, count it as failed. */
static void not_started(sched *s, entry *e, time_t now)
{
    if (s->once) {
        e->due = 0;
        tally_failed(s, EXIT_RUNTIME);
    } else {
        e->due = now + (time_t)e->interval;
    }
}

/*
 * The ledger asks e to wait until st->next_allowed.  The service waits;
 * --once skips it: a failure after failed polls (the mailbox is still in
 * trouble), not one when only the server's LOGIN-DELAY is running.
 */
static void wait_for_backoff(sched *s, entry *e, const pps_ledger_status *st)
{
    char until[32];

    format_utc(until, sizeof(until), st->next_allowed);
    if (!s->once) {
        e->due = st->next_allowed + 1;
        hostlog(PPS_LOG_INFO, e->name,
                "backing off until %s after %lu failed poll(s)", until,
                st->consecutive_failures);
        return;
    }
    e->due = 0;
    if (st->consecutive_failures == 0) {
        s->tally.waiting++;
        hostlog(PPS_LOG_INFO, e->name,
                "not polled: the server's LOGIN-DELAY allows the next poll "
                "at %s",
                until);
        return;
    }
    s->tally.backing_off++;
    if (s->tally.status < EXIT_RUNTIME)
        s->tally.status = EXIT_RUNTIME;
    hostlog(PPS_LOG_ERROR, e->name,
            "not polled: backing off until %s after %lu failed poll(s)", until,
            st->consecutive_failures);
}

/*
 * Start a poll of e, which is due.  Returns 1 when started, 0 when e was
 * rescheduled or left waiting (its mailbox is busy after a reload).
 */
static int start(sched *s, entry *e, time_t now)
{
    pps_profile *p = NULL;
    sigset_t all, old;
    job *j;
    int err;

    if (inspect(s, e, &p) < 0) {
        if (s->once)
            tally_failed(s, exit_status_of(e->load_err));
        return 0;
    }
    if (!e->enabled) {
        e->due = 0;
        pps_profile_free(p);
        return 0;
    }
    if (mailbox_busy(s, e->mailbox)) { /* edited to another's mailbox */
        pps_profile_free(p);
        return 0;
    }
    /* After a (re)start, the ledger may still ask us to wait. */
    if (!e->status_known && !e->ignore_backoff) {
        pps_ledger_status st = PPS_LEDGER_STATUS_INIT;
        e->status_known = 1;
        if (pps_runtime_status(&st, s->rt, p) == 0 && st.next_allowed > now) {
            wait_for_backoff(s, e, &st);
            pps_profile_free(p);
            return 0;
        }
    }
    e->status_known = 1;

    if (!(j = calloc(1, sizeof(*j))) || !(j->name = strdup(e->name)) ||
        !(j->mailbox = strdup(e->mailbox ? e->mailbox : ""))) {
        job_free(j);
        pps_profile_free(p);
        hostlog(PPS_LOG_ERROR, e->name, "out of memory starting a poll");
        not_started(s, e, now);
        return 0;
    }
    j->rt = s->rt;
    j->profile = p;
    j->ignore_backoff = e->ignore_backoff;
    pps_poll_report_init(&j->report);
    e->ignore_backoff = 0;

    hostlog(PPS_LOG_DEBUG, e->name, "poll started");
    /* Signals belong to the main thread: workers block them all. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&j->thread, NULL, worker, j);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        hostlog(PPS_LOG_ERROR, e->name, "cannot start a poll thread: %s",
                strerror(err));
        job_free(j);
        not_started(s, e, now);
        return 0;
    }
    j->next = s->jobs;
    s->jobs = j;
    s->running++;
    e->running = 1;
    e->due = 0;
    return 1;
}

/* Start due polls while there is room: the most overdue first. */
static void dispatch(sched *s, time_t now)
{
    while (s->running < s->max_parallel) {
        entry *best = NULL;
        size_t i;

        for (i = 0; i < s->count; i++) {
            entry *e = &s->entries[i];
            if (e->running || e->removed || e->due == 0 || e->due > now ||
                mailbox_busy(s, e->mailbox))
                continue;
            if (!best || e->due < best->due)
                best = e;
        }
        if (!best)
            return;
        /* When it does not start, start() has moved its time on, or its
         * mailbox has become busy: either way the next round skips it. */
        start(s, best, now);
    }
}

/* Schedule the next poll of e after its poll ended with report r. */
static void reschedule(sched *s, entry *e, const pps_poll_report *r, time_t now)
{
    time_t base = r->finished ? r->finished : now;

    e->due = base + (time_t)e->interval + jitter(s, e->interval);
    if (r->result < 0 && r->next_allowed > now) {
        char until[32];
        if (r->next_allowed + 1 > e->due)
            e->due = r->next_allowed + 1;
        format_utc(until, sizeof(until), r->next_allowed);
        hostlog(PPS_LOG_INFO, e->name, "backing off until %s", until);
    }
    if (e->repoll) {
        e->repoll = 0;
        e->due = now + (time_t)random_below(s, SOON_SECONDS + 1);
    }
    if (!e->enabled || e->broken)
        e->due = 0;
}

/* --once: tally the poll of e that ended; it is not polled again. */
static void settle(sched *s, entry *e, const job *j, time_t now)
{
    const pps_poll_report *r = &j->report;

    e->due = 0;
    s->tally.delivered += r->delivered;
    s->tally.deleted += r->deleted;
    if (j->result == 0) {
        s->tally.ok++;
        return;
    }
    if (j->result == PPS_EABORTED) {
        s->tally.stopped++;
        if (s->tally.status < EXIT_RUNTIME)
            s->tally.status = EXIT_RUNTIME;
        return;
    }
    tally_failed(s, j->result == PPS_ECONFIG ? EXIT_CONFIG : EXIT_RUNTIME);
    if (r->next_allowed > now) {
        char until[32];
        format_utc(until, sizeof(until), r->next_allowed);
        hostlog(PPS_LOG_INFO, e->name, "backing off until %s", until);
    }
}

/* Join every finished worker and schedule its profile again (--once:
 * tally it). */
static void reap(sched *s, time_t now)
{
    job **link = &s->jobs;

    while (*link) {
        job *j = *link;
        entry *e;
        int done;

        pthread_mutex_lock(&done_lock);
        done = j->done;
        pthread_mutex_unlock(&done_lock);
        if (!done) {
            link = &j->next;
            continue;
        }
        pthread_join(j->thread, NULL);
        *link = j->next;
        s->running--;
        if ((e = find_entry(s, j->name)) != NULL) {
            e->running = 0;
            if (e->removed) {
                size_t at = (size_t)(e - s->entries);
                entry_clear(e);
                memmove(e, e + 1, (s->count - at - 1) * sizeof(*e));
                s->count--;
            } else if (s->once) {
                settle(s, e, j, now);
            } else if (!ppsd_stop) {
                reschedule(s, e, &j->report, now);
            }
        }
        job_free(j);
    }
}

/* --- the main loop ---------------------------------------------------------
 */

/* Milliseconds until the next thing to do (a due poll that can start, or
 * the next stamp check); polls waiting for a slot or their mailbox are
 * woken by the pipe when a poll ends. */
static int sleep_ms(const sched *s, time_t now)
{
    time_t next = s->next_stamp_check;
    size_t i;

    if (s->running < s->max_parallel)
        for (i = 0; i < s->count; i++) {
            const entry *e = &s->entries[i];
            if (e->due > now && !e->running && e->due < next)
                next = e->due;
        }
    if (next <= now)
        return 0;
    /* time() rounds down, so sleeping whole seconds never wakes early. */
    return (int)(next - now) * 1000;
}

static void drain_wake_pipe(void)
{
    char buf[64];

    while (read(ppsd_wake_fd(), buf, sizeof(buf)) > 0)
        ;
}

/* --once: a profile still due when the loop ends (a signal stopped it). */
static int any_due(const sched *s)
{
    size_t i;

    for (i = 0; i < s->count; i++)
        if (s->entries[i].due != 0 && !s->entries[i].running)
            return 1;
    return 0;
}

/* --once: the closing line, at error when the exit status is not 0. */
static void log_cycle(const sched *s, int status)
{
    const tally *t = &s->tally;
    char more[192];
    size_t n = 0;

    more[0] = '\0';
    if (t->backing_off)
        n += (size_t)snprintf(more + n, sizeof(more) - n, ", %lu backing off",
                              t->backing_off);
    if (t->waiting && n < sizeof(more))
        n += (size_t)snprintf(more + n, sizeof(more) - n,
                              ", %lu waiting for LOGIN-DELAY", t->waiting);
    if (t->stopped && n < sizeof(more))
        snprintf(more + n, sizeof(more) - n, ", %lu stopped by a signal",
                 t->stopped);
    hostlog(status == EXIT_OK ? PPS_LOG_INFO : PPS_LOG_ERROR, NULL,
            "ppsd stopped after one cycle: %lu profile(s): %lu ok, %lu "
            "failed%s; %lu message(s) delivered, %lu deleted; exit status %d",
            t->ok + t->failed + t->backing_off + t->waiting + t->stopped, t->ok,
            t->failed, more, t->delivered, t->deleted, status);
}

int sched_run(pps_runtime *rt, const sched_options *opts, int *polls_left)
{
    sched s;
    time_t now, stop_deadline = 0;
    int status = EXIT_OK;
    size_t i;

    memset(&s, 0, sizeof(s));
    s.rt = rt;
    s.once = opts->once;
    s.max_parallel = opts->max_parallel ? opts->max_parallel : 1;
    s.rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^
            0x9e3779b97f4a7c15ull;
    *polls_left = 0;

    hostlog(PPS_LOG_INFO, NULL, "ppsd started%s: at most %u poll(s) at once",
            s.once ? " for one cycle (--once)" : "", s.max_parallel);
    for (;;) {
        struct pollfd pfd;

        now = time(NULL);
        if (ppsd_hup) {
            ppsd_hup = 0;
            if (hostlog_reopen() < 0)
                hostlog(PPS_LOG_ERROR, NULL,
                        "SIGHUP: cannot reopen the log file: %s",
                        strerror(errno));
            pps_tls_cache_clear(); /* CA files are read again */
            hostlog(PPS_LOG_INFO, NULL,
                    "SIGHUP: log file reopened, CA files to be reread%s",
                    s.once ? "" : ", profiles reread");
            if (!ppsd_stop && !s.once)
                sync_profiles(&s, 1, now);
        }
        reap(&s, now);
        if (ppsd_stop) {
            if (!stop_deadline) {
                stop_deadline = now + STOP_WAIT_SECONDS;
                hostlog(PPS_LOG_INFO, NULL,
                        "stopping: waiting for %u poll(s) to finish",
                        s.running);
            }
            if (s.running == 0)
                break;
            if (now >= stop_deadline) {
                hostlog(PPS_LOG_ERROR, NULL,
                        "stopping: %u poll(s) did not finish within %d s; "
                        "leaving them (the ledger keeps every message once)",
                        s.running, STOP_WAIT_SECONDS);
                status = EXIT_RUNTIME;
                *polls_left = 1;
                break;
            }
        } else if (s.once && !s.have_stamp) { /* the cycle's profiles */
            int err = sync_profiles(&s, 0, now);
            if (err < 0) { /* logged; no profile to count */
                s.tally.status = exit_status_of(err);
                break;
            }
            dispatch(&s, now);
        } else {
            if (now >= s.next_stamp_check) {
                if (s.once) /* --once does not follow the store */
                    s.next_stamp_check = now + STAMP_CHECK_SECONDS;
                else
                    sync_profiles(&s, 0, now);
            }
            dispatch(&s, now);
        }
        if (s.once && !ppsd_stop && s.running == 0 && !any_due(&s))
            break; /* the cycle is over */

        pfd.fd = ppsd_wake_fd();
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (poll(&pfd, 1, ppsd_stop ? 1000 : sleep_ms(&s, time(NULL))) > 0)
            drain_wake_pipe();
    }

    if (s.once) {
        for (i = 0; i < s.count; i++)
            if (s.entries[i].due != 0 && !s.entries[i].running)
                s.tally.stopped++; /* never started: stopped by a signal */
        s.tally.stopped += s.running;
        if ((s.tally.stopped || !s.have_stamp) && s.tally.status < EXIT_RUNTIME)
            s.tally.status = EXIT_RUNTIME;
        if (s.tally.status > status)
            status = s.tally.status;
    }
    if (s.running == 0) {
        for (i = 0; i < s.count; i++)
            entry_clear(&s.entries[i]);
        free(s.entries);
    }
    /* Jobs still running keep their memory: the process is about to end. */
    if (s.once)
        log_cycle(&s, status);
    else
        hostlog(PPS_LOG_INFO, NULL, "ppsd stopped");
    return status;
}
