/*
 * test-scheduler.c - the plug-in's scheduler with a fake poll: never two
 * polls of one profile at once, at most max_parallel in all, intervals,
 * disabled profiles, poll now (waiting for its result), update, stop.
 */
#include "../helpers/pps-test.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <pps/errors.h>

#include "scheduler.h"

#define NAMES 4

/* What the fake poll saw. */
typedef struct observed {
    pthread_mutex_t lock;
    const char *names[NAMES];
    int running[NAMES]; /* polls of each profile running now */
    int max_running[NAMES];
    int total, max_total;
    int polls[NAMES];
    int forced;
    unsigned int sleep_ms;
    int result_of_bad; /* what profile "bad" returns */
} observed;

static int index_of(observed *o, const char *name)
{
    int i;

    for (i = 0; i < NAMES; i++)
        if (o->names[i] && strcmp(o->names[i], name) == 0)
            return i;
    fail_msg("unknown profile %s", name);
    return -1;
}

static void sleep_ms(unsigned int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int fake_poll(pps_plugin_profile_status *st, const char *name,
                     int forced, volatile sig_atomic_t *stop, void *payload)
{
    observed *o = payload;
    int i = index_of(o, name);
    unsigned int waited = 0;

    pthread_mutex_lock(&o->lock);
    o->running[i]++;
    o->total++;
    if (o->running[i] > o->max_running[i])
        o->max_running[i] = o->running[i];
    if (o->total > o->max_total)
        o->max_total = o->total;
    o->forced += forced;
    pthread_mutex_unlock(&o->lock);

    while (waited < o->sleep_ms && !*stop) {
        sleep_ms(5);
        waited += 5;
    }
    snprintf(st->text, sizeof(st->text), "polled %s", name);
    st->delivered = 1;

    pthread_mutex_lock(&o->lock);
    o->running[i]--;
    o->total--;
    o->polls[i]++;
    pthread_mutex_unlock(&o->lock);
    return strcmp(name, "bad") == 0 ? o->result_of_bad : 0;
}

static observed *observed_new(unsigned int sleep_ms_each)
{
    observed *o = calloc(1, sizeof(*o));

    assert_non_null(o);
    pthread_mutex_init(&o->lock, NULL);
    o->names[0] = "a";
    o->names[1] = "b";
    o->names[2] = "c";
    o->names[3] = "bad";
    o->sleep_ms = sleep_ms_each;
    o->result_of_bad = PPS_ETEMP;
    return o;
}

static int polls_of(observed *o, int i)
{
    int n;

    pthread_mutex_lock(&o->lock);
    n = o->polls[i];
    pthread_mutex_unlock(&o->lock);
    return n;
}

typedef struct asker {
    sched *s;
    const char *name;
    int rounds;
} asker;

static void *ask_repeatedly(void *arg)
{
    asker *a = arg;
    int i;

    for (i = 0; i < a->rounds; i++)
        sched_poll_now(a->s, a->name, i % 2);
    return NULL;
}

static void test_never_two_at_once(void **state)
{
    observed *o = observed_new(20);
    sched_entry e[] = {{"a", 1, 1}, {"b", 1, 1}, {"c", 1, 1}};
    pthread_t t[6];
    asker a[6];
    sched *s;
    int i;

    (void)state;
    assert_int_equal(sched_new(&s, 2, fake_poll, o), 0);
    assert_int_equal(sched_update(s, e, 3), 0);
    assert_int_equal(sched_start(s), 0);
    /* Six threads hammer poll-now on three profiles. */
    for (i = 0; i < 6; i++) {
        a[i].s = s;
        a[i].name = e[i % 3].name;
        a[i].rounds = 10;
        assert_int_equal(pthread_create(&t[i], NULL, ask_repeatedly, &a[i]), 0);
    }
    for (i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(sched_stop(s), 0);
    for (i = 0; i < 3; i++) {
        assert_int_equal(o->max_running[i], 1);
        assert_true(o->polls[i] >= 2);
    }
    assert_int_equal(o->max_total, 2); /* max_parallel, and it was reached */
    assert_true(o->forced > 0);
    sched_free(s);
    free(o);
}

static void test_poll_now_waits_for_its_result(void **state)
{
    observed *o = observed_new(0);
    sched_entry e[] = {{"a", 600, 1}, {"bad", 600, 1}};
    pps_plugin_profile_status st;
    sched *s;

    (void)state;
    assert_int_equal(sched_new(&s, 1, fake_poll, o), 0);
    assert_int_equal(sched_update(s, e, 2), 0);
    /* Not started: refused. */
    assert_int_equal(sched_poll_now(s, "a", 1), PPS_EINVAL);
    assert_int_equal(sched_start(s), 0);
    assert_int_equal(sched_start(s), PPS_EEXISTS);
    assert_int_equal(sched_poll_now(s, "bad", 1), PPS_ETEMP);
    assert_int_equal(sched_poll_now(s, "a", 1), 0);
    assert_int_equal(sched_poll_now(s, "nosuch", 1), PPS_ENOTFOUND);

    memset(&st, 0, sizeof(st));
    st.size = sizeof(st);
    assert_int_equal(sched_status(&st, s, "bad"), 0);
    assert_int_equal(st.last_result, PPS_ETEMP);
    assert_true(st.polls >= 1); /* the start's own poll and ours */
    assert_int_equal(st.interval, 600);
    assert_int_equal(st.enabled, 1);
    assert_int_equal(st.running, 0);
    assert_string_equal(st.text, "polled bad");
    assert_true(st.next_due > (int64_t)time(NULL) + 500);
    assert_int_equal(sched_status(&st, s, "nosuch"), PPS_ENOTFOUND);

    /* A caller that knows fewer fields gets only those. */
    {
        unsigned char buf[sizeof(st)];
        pps_plugin_profile_status *small = (void *)buf;
        memset(buf, 0xAB, sizeof(buf));
        small->size = offsetof(pps_plugin_profile_status, interval);
        assert_int_equal(sched_status(small, s, "a"), 0);
        assert_int_equal(small->enabled, 1);
        assert_int_equal(buf[offsetof(pps_plugin_profile_status, interval)],
                         0xAB);
    }
    sched_free(s);
    free(o);
}

static void test_intervals_and_disabled(void **state)
{
    observed *o = observed_new(0);
    sched_entry e[] = {{"a", 1, 1}, {"b", 1, 0}};
    sched *s;

    (void)state;
    assert_int_equal(sched_new(&s, 2, fake_poll, o), 0);
    assert_int_equal(sched_update(s, e, 2), 0);
    assert_int_equal(sched_start(s), 0);
    sleep_ms(2600);
    /* At once, then every second. */
    assert_true(polls_of(o, 0) >= 2 && polls_of(o, 0) <= 4);
    assert_int_equal(polls_of(o, 1), 0); /* disabled: only on request */
    assert_int_equal(sched_poll_now(s, "b", 1), 0);
    assert_int_equal(polls_of(o, 1), 1);
    /* Enabling it on update polls it at once. */
    e[1].enabled = 1;
    e[1].interval = 600;
    assert_int_equal(sched_update(s, e, 2), 0);
    sleep_ms(300);
    assert_int_equal(polls_of(o, 1), 2);
    sched_free(s);
    free(o);
}

static void test_update_removes_and_adds(void **state)
{
    observed *o = observed_new(0);
    sched_entry first[] = {{"a", 600, 1}};
    sched_entry second[] = {{"b", 600, 1}};
    pps_plugin_profile_status st;
    sched *s;

    (void)state;
    assert_int_equal(sched_new(&s, 1, fake_poll, o), 0);
    assert_int_equal(sched_update(s, first, 1), 0);
    assert_int_equal(sched_start(s), 0);
    assert_int_equal(sched_poll_now(s, "a", 1), 0);
    assert_int_equal(sched_update(s, second, 1), 0);
    st.size = sizeof(st);
    assert_int_equal(sched_status(&st, s, "a"), PPS_ENOTFOUND);
    assert_int_equal(sched_poll_now(s, "a", 0), PPS_ENOTFOUND);
    assert_int_equal(sched_poll_now(s, "b", 1), 0);
    /* Back again: its history is kept. */
    assert_int_equal(sched_update(s, first, 1), 0);
    assert_int_equal(sched_status(&st, s, "a"), 0);
    assert_true(st.polls >= 1);
    sched_free(s);
    free(o);
}

typedef struct waiter {
    sched *s;
    int result;
} waiter;

static void *wait_for_a(void *arg)
{
    waiter *w = arg;

    w->result = sched_poll_now(w->s, "a", 1);
    return NULL;
}

static void test_stop_ends_polls_and_waiters(void **state)
{
    observed *o = observed_new(60 * 1000); /* a poll that would take 60 s */
    sched_entry e[] = {{"a", 600, 1}};
    waiter w = {NULL, 1};
    time_t t0;
    pthread_t t;
    sched *s;

    (void)state;
    assert_int_equal(sched_new(&s, 1, fake_poll, o), 0);
    assert_int_equal(sched_stop(s), 0); /* not started: fine */
    assert_int_equal(sched_update(s, e, 1), 0);
    assert_int_equal(sched_start(s), 0);
    w.s = s;
    while (polls_of(o, 0) == 0 && o->total == 0)
        sleep_ms(5);
    /* The start's poll is running; ask for one more and wait for it. */
    assert_int_equal(pthread_create(&t, NULL, wait_for_a, &w), 0);
    sleep_ms(50);
    t0 = time(NULL);
    assert_int_equal(sched_stop(s), 0); /* the poll sees the stop flag */
    pthread_join(t, NULL);
    assert_true(time(NULL) - t0 < 5);
    assert_int_equal(w.result, PPS_EABORTED);
    assert_int_equal(o->total, 0);
    /* And it starts again. */
    o->sleep_ms = 0;
    assert_int_equal(sched_start(s), 0);
    assert_int_equal(sched_poll_now(s, "a", 1), 0);
    sched_free(s);
    free(o);
}

static int ticks;
static sched *tick_sched;

/* Gets the scheduler's payload (the observed record). */
static void count_tick(void *payload)
{
    sched_entry e[] = {{"c", 600, 1}};

    __atomic_add_fetch(&ticks, 1, __ATOMIC_SEQ_CST);
    /* No lock is held: updating from here must not deadlock. */
    assert_non_null(payload);
    assert_int_equal(sched_update(tick_sched, e, 1), 0);
}

static void test_tick_runs_unlocked_while_started(void **state)
{
    observed *o = observed_new(0);
    sched *s;

    (void)state;
    assert_int_equal(sched_new(&s, 2, fake_poll, o), 0);
    tick_sched = s;
    sched_set_tick(s, count_tick, 1);
    sleep_ms(1200);
    assert_int_equal(__atomic_load_n(&ticks, __ATOMIC_SEQ_CST), 0);
    assert_int_equal(sched_start(s), 0);
    sleep_ms(2600);
    assert_true(__atomic_load_n(&ticks, __ATOMIC_SEQ_CST) >= 2);
    assert_true(polls_of(o, 2) >= 1); /* "c", added by the tick */
    sched_free(s);
    free(o);
}

static void test_bad_arguments(void **state)
{
    observed *o = observed_new(0);
    sched_entry long_name = {"x123456789012345678901234567890123456789012345"
                             "67890123456789012345",
                             60, 1};
    sched *s;

    (void)state;
    assert_int_equal(sched_new(&s, 0, fake_poll, o), PPS_EINVAL);
    assert_int_equal(sched_new(&s, 257, fake_poll, o), PPS_EINVAL);
    assert_int_equal(sched_new(&s, 1, NULL, o), PPS_EINVAL);
    assert_int_equal(sched_new(&s, 1, fake_poll, o), 0);
    assert_int_equal(sched_update(s, &long_name, 1), PPS_EINVAL);
    assert_int_equal(sched_update(s, NULL, 1), PPS_EINVAL);
    assert_int_equal(sched_update(s, NULL, 0), 0);
    sched_free(s);
    sched_free(NULL);
    free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_never_two_at_once),
        cmocka_unit_test(test_poll_now_waits_for_its_result),
        cmocka_unit_test(test_intervals_and_disabled),
        cmocka_unit_test(test_update_removes_and_adds),
        cmocka_unit_test(test_stop_ends_polls_and_waiters),
        cmocka_unit_test(test_tick_runs_unlocked_while_started),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
