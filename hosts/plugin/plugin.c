/*
 * plugin.c - the plug-in module's ABI (pps-plugin.h): a configuration
 * folder, the host's table, a scheduler, and one poll per profile at a
 * time delivered through the host.
 *
 * Like every host it is thin: it reads the folder with libpps (pps.conf,
 * the profile store, the ledger store) and runs pps_poll_run with a
 * deliverer over the host's callbacks (host-deliver.c).  The module links
 * libpps statically and exports only pps_plugin_* (plugin.map), so a
 * server that links another libpps too sees no clash.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pps/pps.h>
#include <pps/version.h>

#include "host-deliver.h"
#include "scheduler.h"

#if defined(__MINGW32__)
#define PRINTF_LIKE(f, a) __attribute__((format(gnu_printf, f, a)))
#else
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#endif

/* How often the polling threads look for changed profiles: saving a
 * profile activates it within this time, without a reload call. */
#define WATCH_SECONDS 2

struct pps_plugin {
    pps_plugin_host host; /* the host's table, copied */
    pps_config *config;
    pps_profile_store *profiles;
    pps_ledger_store *ledgers;
    pthread_mutex_t store_lock; /* the profile store: one thread at a time */
    uint64_t stamp;             /* of the profiles last read (store_lock) */
    sched *sched;
};

/* The one instance: libpps's log function is process-wide. */
static pthread_mutex_t instance_lock = PTHREAD_MUTEX_INITIALIZER;
static pps_plugin *instance;

/* The part of pps_plugin_host a host must know: up to deliver_abort. */
#define HOST_SIZE_MIN                           \
    (offsetof(pps_plugin_host, deliver_abort) + \
     sizeof(((pps_plugin_host *)0)->deliver_abort))

void pps_plugin_abi(unsigned int *major, unsigned int *minor)
{
    if (major)
        *major = PPS_PLUGIN_ABI_MAJOR;
    if (minor)
        *minor = PPS_PLUGIN_ABI_MINOR;
}

const char *pps_plugin_version(void)
{
    return pps_version(NULL, NULL, NULL);
}

/* --- errors: the calling thread's last failure -------------------------- */

/* Long enough for any libpps detail (they name a file, line and key). */
#define ERROR_TEXT_MAX 1024

static _Thread_local struct {
    int code;
    char text[ERROR_TEXT_MAX];
} last_error;

static int fail(int code, const char *fmt, ...) PRINTF_LIKE(2, 3);

static int fail(int code, const char *fmt, ...)
{
    va_list ap;

    last_error.code = code;
    va_start(ap, fmt);
    vsnprintf(last_error.text, sizeof(last_error.text), fmt, ap);
    va_end(ap);
    return code;
}

/* A libpps call failed with `code`: keep its detail. */
static int fail_lib(int code)
{
    return fail(code, "%s", pps_error_last()->message);
}

int pps_plugin_error(char *buf, size_t size)
{
    if (buf && size)
        snprintf(buf, size, "%s", last_error.text);
    return last_error.code;
}

/* --- logging ---------------------------------------------------------- */

static void to_host_log(pps_log_level level, const char *profile,
                        const char *message, void *payload)
{
    pps_plugin *pp = payload;

    pp->host.log((int)level, profile, message, pp->host.payload);
}

/* A line of the module itself. */
static void plog(pps_plugin *pp, int level, const char *profile,
                 const char *fmt, ...) PRINTF_LIKE(4, 5);

static void plog(pps_plugin *pp, int level, const char *profile,
                 const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    if (!pp->host.log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    pp->host.log(level, profile, line, pp->host.payload);
}

static pps_log_level level_of(const char *name)
{
    static const char *const names[] = {"error", "warning", "info", "debug",
                                        "trace"};
    size_t i;

    for (i = 0; name && i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return (pps_log_level)(i + 1);
    return PPS_LOG_INFO;
}

/* --- one poll (a worker thread) ---------------------------------------- */

static int poll_profile(pps_plugin_profile_status *st, const char *name,
                        int forced, volatile sig_atomic_t *stop, void *payload)
{
    pps_plugin *pp = payload;
    pps_poll_options o = PPS_POLL_OPTIONS_INIT;
    pps_poll_report r = PPS_POLL_REPORT_INIT;
    pps_profile *p = NULL;
    int err;

    pthread_mutex_lock(&pp->store_lock);
    err = pps_profile_store_load(&p, pp->profiles, name);
    pthread_mutex_unlock(&pp->store_lock);
    if (err == 0 && (err = host_deliver_new(&o.deliver, &pp->host, name)) < 0)
        pps_profile_free(p);
    if (err < 0) {
        snprintf(st->text, sizeof(st->text), "%s", pps_error_last()->message);
        plog(pp, PPS_PLUGIN_LOG_ERROR, name, "%s", st->text);
        return err;
    }
    o.ledger_store = pp->ledgers;
    o.config = pp->config;
    o.stop = stop;
    o.ignore_backoff = forced;
    err = pps_poll_run(&r, p, &o);
    pps_deliver_free(o.deliver);
    pps_profile_free(p);

    st->last_started = (int64_t)r.started;
    st->last_finished = (int64_t)r.finished;
    st->next_due = (int64_t)r.next_allowed;
    st->listed = r.listed;
    st->delivered = r.delivered;
    st->deleted = r.deleted;
    st->failed_temp = r.failed_temp;
    st->failed_perm = r.failed_perm;
    snprintf(st->text, sizeof(st->text), "%s", r.text);
    return err;
}

/* --- load / reload ------------------------------------------------------ */

/* Read every profile's name, interval and enabled flag into the
 * scheduler.  A profile that cannot be read is logged and left out; the
 * first such failure is returned. */
static int read_profiles(pps_plugin *pp)
{
    pps_profile_names names = {NULL, 0};
    sched_entry *entries = NULL;
    pps_profile **loaded = NULL;
    size_t i, n = 0;
    int err, first = 0;

    pthread_mutex_lock(&pp->store_lock);
    /* The stamp before the listing: a change during it is seen next time. */
    if (pps_profile_store_stamp(&pp->stamp, pp->profiles) < 0)
        pp->stamp = 0;
    if ((err = pps_profile_store_list(&names, pp->profiles)) < 0) {
        fail_lib(err);
        goto done;
    }
    entries = calloc(names.count + 1, sizeof(*entries));
    loaded = calloc(names.count + 1, sizeof(*loaded));
    if (!entries || !loaded) {
        err = fail(PPS_ENOMEM, "reading the profiles: out of memory");
        goto done;
    }
    for (i = 0; i < names.count; i++) {
        pps_profile_settings s = PPS_PROFILE_SETTINGS_INIT;
        pps_profile *p;
        if ((err = pps_profile_store_load(&p, pp->profiles, names.names[i])) <
                0 ||
            (err = pps_profile_validate(p)) < 0) {
            if (err != PPS_ENOTFOUND) /* deleted since the listing: fine */
                plog(pp, PPS_PLUGIN_LOG_ERROR, names.names[i], "%s",
                     pps_error_last()->message);
            if (err != PPS_ENOTFOUND && first == 0)
                first = fail_lib(err);
            if (err != PPS_ENOTFOUND)
                pps_profile_free(p);
            continue;
        }
        pps_profile_get_settings(&s, p);
        loaded[n] = p;
        entries[n].name = pps_profile_name(p);
        entries[n].interval = s.interval_seconds;
        entries[n].enabled = s.enabled;
        n++;
    }
    if ((err = sched_update(pp->sched, entries, n)) < 0)
        fail(err, "reading the profiles: out of memory");
    plog(pp, PPS_PLUGIN_LOG_INFO, NULL, "%zu profile(s) loaded", n);
done:
    pthread_mutex_unlock(&pp->store_lock);
    for (i = 0; loaded && i < n; i++)
        pps_profile_free(loaded[i]);
    free(loaded);
    free(entries);
    pps_profile_names_free(&names);
    return err < 0 ? err : first;
}

/* A polling thread, every WATCH_SECONDS: read the profiles again when
 * the store says something changed. */
static void watch_profiles(void *payload)
{
    pps_plugin *pp = payload;
    uint64_t now = 0;
    int changed;

    pthread_mutex_lock(&pp->store_lock);
    changed =
        pps_profile_store_stamp(&now, pp->profiles) == 0 && now != pp->stamp;
    pthread_mutex_unlock(&pp->store_lock);
    if (changed) {
        plog(pp, PPS_PLUGIN_LOG_INFO, NULL, "profiles changed: reading them");
        read_profiles(pp);
    }
}

static void plugin_free(pps_plugin *pp)
{
    sched_free(pp->sched);
    pps_ledger_store_free(pp->ledgers);
    pps_profile_store_free(pp->profiles);
    pps_config_free(pp->config);
    pthread_mutex_destroy(&pp->store_lock);
    free(pp);
}

static int check_host(const pps_plugin_host *host)
{
    if (!host)
        return fail(PPS_EINVAL, "pps_plugin_load: no host "
                                "table");
    if (host->abi_major != PPS_PLUGIN_ABI_MAJOR)
        return fail(PPS_EINVAL,
                    "pps_plugin_load: the host speaks ABI "
                    "%u, this module %u",
                    host->abi_major, PPS_PLUGIN_ABI_MAJOR);
    if (host->size < HOST_SIZE_MIN)
        return fail(PPS_EINVAL,
                    "pps_plugin_load: host table of %zu "
                    "bytes, at least %zu needed",
                    host->size, (size_t)HOST_SIZE_MIN);
    if (!host->deliver_begin || !host->deliver_write || !host->deliver_commit ||
        !host->deliver_abort)
        return fail(PPS_EINVAL, "pps_plugin_load: deliver_begin, "
                                "deliver_write, deliver_commit and "
                                "deliver_abort are required");
    return 0;
}

int pps_plugin_load(pps_plugin **out, const char *config_dir,
                    const pps_plugin_host *host)
{
    pps_plugin *pp;
    size_t size;
    int err;

    if (!out || !config_dir)
        return fail(PPS_EINVAL, "pps_plugin_load: bad argument");
    *out = NULL;
    if ((err = check_host(host)) < 0)
        return err;
    if (!(pp = calloc(1, sizeof(*pp))))
        return fail(PPS_ENOMEM, "pps_plugin_load: out of "
                                "memory");
    /* Fields the host does not know stay zero (NULL: not offered). */
    size = host->size < sizeof(pp->host) ? host->size : sizeof(pp->host);
    memcpy(&pp->host, host, size);
    pthread_mutex_init(&pp->store_lock, NULL);

    pthread_mutex_lock(&instance_lock);
    if (instance) {
        pthread_mutex_unlock(&instance_lock);
        pthread_mutex_destroy(&pp->store_lock);
        free(pp);
        return fail(PPS_EEXISTS, "pps_plugin_load: already loaded in "
                                 "this process");
    }
    instance = pp;
    pthread_mutex_unlock(&instance_lock);

    if ((err = pps_config_load(&pp->config, config_dir)) < 0 ||
        (err = pps_profile_store_open_dir(&pp->profiles, config_dir)) < 0 ||
        (err = pps_ledger_store_open_dir(
             &pp->ledgers,
             pps_config_get(pp->config, "service", "state_dir"))) < 0 ||
        (err = sched_new(&pp->sched, pps_config_max_parallel(pp->config),
                         poll_profile, pp)) < 0)
        goto fail;
    if (pp->host.log)
        pps_log_set(
            to_host_log,
            level_of(pps_config_get(pp->config, "service", "log_level")), pp);
    /* A bad profile is logged and skipped; the others are polled. */
    read_profiles(pp);
    sched_set_tick(pp->sched, watch_profiles, WATCH_SECONDS);
    *out = pp;
    return 0;
fail:
    fail_lib(err);
    pthread_mutex_lock(&instance_lock);
    instance = NULL;
    pthread_mutex_unlock(&instance_lock);
    plugin_free(pp);
    return err;
}

int pps_plugin_start(pps_plugin *pp)
{
    int err;

    if (!pp)
        return fail(PPS_EINVAL, "pps_plugin_start: NULL");
    if ((err = sched_start(pp->sched)) < 0)
        return fail(err, "pps_plugin_start: %s",
                    err == PPS_EEXISTS ? "already started" : "no thread");
    plog(pp, PPS_PLUGIN_LOG_INFO, NULL, "started, %u polling thread(s)",
         pps_config_max_parallel(pp->config));
    return 0;
}

int pps_plugin_stop(pps_plugin *pp)
{
    if (!pp)
        return fail(PPS_EINVAL, "pps_plugin_stop: NULL");
    sched_stop(pp->sched);
    plog(pp, PPS_PLUGIN_LOG_INFO, NULL, "stopped");
    return 0;
}

int pps_plugin_reload(pps_plugin *pp)
{
    if (!pp)
        return fail(PPS_EINVAL, "pps_plugin_reload: NULL");
    return read_profiles(pp);
}

int pps_plugin_poll_now(pps_plugin *pp, const char *profile, int wait)
{
    int err;

    if (!pp || !profile)
        return fail(PPS_EINVAL, "pps_plugin_poll_now: bad argument");
    err = sched_poll_now(pp->sched, profile, wait);
    if (err == PPS_ENOTFOUND)
        return fail(err, "profile %s: not found (reload?)", profile);
    if (err == PPS_EINVAL)
        return fail(err, "pps_plugin_poll_now: not started");
    if (err == PPS_EABORTED)
        return fail(err, "profile %s: stopped while waiting", profile);
    if (err < 0) {
        pps_plugin_profile_status st;
        st.size = sizeof(st);
        if (sched_status(&st, pp->sched, profile) == 0)
            fail(err, "profile %s: %s", profile, st.text);
    }
    return err;
}

int pps_plugin_status(pps_plugin_profile_status *out, pps_plugin *pp,
                      const char *profile)
{
    int err;

    if (!pp || !profile)
        return fail(PPS_EINVAL, "pps_plugin_status: bad argument");
    if ((err = sched_status(out, pp->sched, profile)) < 0)
        return fail(err, "pps_plugin_status: %s",
                    err == PPS_ENOTFOUND ? "no such profile" : "bad argument");
    return 0;
}

void pps_plugin_unload(pps_plugin *pp)
{
    if (!pp)
        return;
    sched_stop(pp->sched);
    if (pp->host.log)
        pps_log_set(NULL, PPS_LOG_ERROR, NULL);
    pthread_mutex_lock(&instance_lock);
    if (instance == pp)
        instance = NULL;
    pthread_mutex_unlock(&instance_lock);
    plugin_free(pp);
    pps_tls_cache_clear(); /* dlclose must not strand the shared contexts */
}
