/*
 * pps-plugin.h - the C ABI of the libpps plug-in module.
 *
 * A mail server loads the module (pps-plugin.so, pps-plugin.dll), gives it
 * a configuration folder and a table of its own functions, and the module
 * polls every profile of that folder on its interval, on its own threads,
 * handing each message to the server through the table.  The server keeps
 * its own spam and virus filtering, quotas and storage.
 *
 *     unsigned int major, minor;
 *     pps_plugin_abi(&major, &minor);             (check before anything)
 *     if (major != PPS_PLUGIN_ABI_MAJOR) ... refuse this module ...
 *
 *     pps_plugin_host h;
 *     memset(&h, 0, sizeof(h));
 *     h.abi_major = PPS_PLUGIN_ABI_MAJOR;
 *     h.abi_minor = PPS_PLUGIN_ABI_MINOR;
 *     h.size = sizeof(h);
 *     h.log = my_log; h.user_exists = my_user_exists;
 *     h.deliver_begin = my_begin; h.deliver_write = my_write;
 *     h.deliver_commit = my_commit; h.deliver_abort = my_abort;
 *     h.payload = my_server;
 *
 *     pps_plugin *pp;
 *     if (pps_plugin_load(&pp, "C:\\pps", &h) < 0) ... pps_plugin_error() ...
 *     pps_plugin_start(pp);                  (polling begins)
 *     ...
 *     pps_plugin_reload(pp);                 (the admin saved a profile)
 *     pps_plugin_poll_now(pp, "office", 1);  (poll now, wait for the result)
 *     pps_plugin_status(&st, pp, "office");  (last poll of a profile)
 *     ...
 *     pps_plugin_stop(pp);                   (polls in flight finish)
 *     pps_plugin_unload(pp);
 *
 * Every function returns 0 or a negative PPS_E* code of <pps/errors.h>
 * (the numbers never change); pps_plugin_error() gives the calling
 * thread's last error in words.  docs/plugin.md has the threading rules,
 * buffer ownership and version negotiation in full.
 *
 * This header needs nothing but the C standard library, so a host can
 * use it without the rest of libpps.
 */
#ifndef PPS_PLUGIN_H
#define PPS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#if defined(PPS_PLUGIN_BUILDING)
#define PPS_PLUGIN_API __declspec(dllexport)
#else
#define PPS_PLUGIN_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#define PPS_PLUGIN_API __attribute__((visibility("default")))
#else
#define PPS_PLUGIN_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes.  The major changes only when an existing
 * function or field changes meaning (a host built for another major must
 * not use the module); the minor grows when functions or fields are
 * appended. */
#define PPS_PLUGIN_ABI_MAJOR 1
#define PPS_PLUGIN_ABI_MINOR 0

/* A loaded instance (opaque). */
typedef struct pps_plugin pps_plugin;

/* The outcome of one recipient, set by deliver_commit (the same numbers
 * as pps_deliver_outcome). */
#define PPS_PLUGIN_PENDING   0 /* not decided: counts as TEMPFAIL */
#define PPS_PLUGIN_DELIVERED 1 /* durable in the server's store */
#define PPS_PLUGIN_TEMPFAIL  2 /* try again on a later poll */
#define PPS_PLUGIN_PERMFAIL                    \
    3 /* refused for good (no such user, quota \
         that will not clear, ...) */

/* Flags of pps_plugin_host. */
#define PPS_PLUGIN_HOST_CRLF 0x1u /* messages with CRLF line ends; else LF */

/* Log levels given to host->log (those of <pps/log.h>). */
#define PPS_PLUGIN_LOG_ERROR 1
#define PPS_PLUGIN_LOG_WARN  2
#define PPS_PLUGIN_LOG_INFO  3
#define PPS_PLUGIN_LOG_DEBUG 4
#define PPS_PLUGIN_LOG_TRACE 5

/*
 * What the host gives the module: its ABI version, and its functions.
 * Each function gets `payload` last.  Copied by pps_plugin_load; fields
 * are only ever appended, and `size` tells the module which ones the host
 * knows.  The strings passed to a callback are borrowed for that call.
 */
typedef struct pps_plugin_host {
    unsigned int abi_major; /* PPS_PLUGIN_ABI_MAJOR */
    unsigned int abi_minor; /* PPS_PLUGIN_ABI_MINOR */
    size_t size;            /* sizeof(pps_plugin_host) */
    unsigned int flags;     /* PPS_PLUGIN_HOST_* */
    void *payload;

    /* One line (no newline) at `level`; `profile` may be NULL.  Optional.
     * Any thread; several at once. */
    void (*log)(int level, const char *profile, const char *message,
                void *payload);

    /* Does local `user` (lower case) exist at `domain`?  1 yes, 0 no, -1
     * cannot tell now (the message is left on the remote server).
     * Optional (NULL: every user exists).  A polling thread. */
    int (*user_exists)(const char *user, const char *domain, void *payload);

    /* Begin one message for `count` recipients "user@domain" (lower
     * case), for the profile `profile`, from envelope sender `sender` (""
     * is the null sender).  Set *txn to your transaction (any pointer; it
     * comes back in the three calls below).  Return 0, or a negative
     * number: the message is then left on the remote server for a later
     * poll. */
    int (*deliver_begin)(void **txn, const char *profile, const char *sender,
                         const char *const *rcpts, size_t count, void *payload);

    /* The next `len` bytes of the message: our trace header first, then
     * the message as the remote server had it, line ends as flags say,
     * no dot-stuffing.  Chunks of any size.  0, or negative to give up
     * (the module then calls deliver_abort). */
    int (*deliver_write)(void *txn, const char *data, size_t len,
                         void *payload);

    /* The message is complete: store it durably, then set outcomes[i]
     * (PPS_PLUGIN_*, all PENDING on entry) for each recipient i in
     * begin's order.  Only recipients set DELIVERED count as delivered;
     * the remote copy is deleted only when every recipient has it.  The
     * transaction is over when this returns (the return value is
     * logged). */
    int (*deliver_commit)(void *txn, int *outcomes, size_t count,
                          void *payload);

    /* Drop the open transaction (after a failed write, or on stop):
     * discard what was written.  Must not fail. */
    void (*deliver_abort)(void *txn, void *payload);
} pps_plugin_host;

/* The text of a status, NUL included (a poll report's text). */
#define PPS_PLUGIN_TEXT_SIZE 256

/* The state of one profile, filled by pps_plugin_status.  Times are
 * seconds since 1970 UTC, 0 for never. */
typedef struct pps_plugin_profile_status {
    size_t size;       /* sizeof(pps_plugin_profile_status), set by the host */
    int enabled;       /* 1 when polled on its interval */
    int running;       /* 1 while a poll of it runs */
    uint64_t interval; /* seconds between polls */
    int64_t next_due;  /* the next scheduled poll */
    int64_t last_started; /* the last poll finished by this instance */
    int64_t last_finished;
    int last_result; /* 0 or its PPS_E* code */
    uint64_t polls;  /* polls finished by this instance */
    uint64_t listed; /* figures of the last poll */
    uint64_t delivered;
    uint64_t deleted;
    uint64_t failed_temp;
    uint64_t failed_perm;
    char text[PPS_PLUGIN_TEXT_SIZE]; /* the last result in words */
} pps_plugin_profile_status;

/* The ABI of this module: compare *major with PPS_PLUGIN_ABI_MAJOR before
 * calling anything else.  Either pointer may be NULL. */
PPS_PLUGIN_API void pps_plugin_abi(unsigned int *major, unsigned int *minor);

/* The version of libpps inside the module, e.g. "0.1.0" (static). */
PPS_PLUGIN_API const char *pps_plugin_version(void);

/*
 * Load the configuration folder `config_dir` (pps.conf and profiles/, as
 * for ppsd; [delivery] is ignored: the host delivers) and read its
 * profiles.  `host` is copied; deliver_begin, deliver_write,
 * deliver_commit and deliver_abort are required.  Nothing is polled until
 * pps_plugin_start.  One instance per process (the library's log
 * function is process-wide): a second load returns PPS_EEXISTS.  *out
 * belongs to the caller (pps_plugin_unload).  Returns 0, PPS_EINVAL (a
 * required callback missing, an unknown major, a size too small),
 * PPS_ECONFIG, PPS_EIO, PPS_ENOMEM.
 */
PPS_PLUGIN_API int pps_plugin_load(pps_plugin **out, const char *config_dir,
                                   const pps_plugin_host *host);

/* Start polling: [service] max_parallel threads poll every enabled
 * profile on its interval, the first time at once.  PPS_EEXISTS when
 * already started. */
PPS_PLUGIN_API int pps_plugin_start(pps_plugin *pp);

/* Stop polling: a poll in flight finishes the message in hand and QUITs
 * (committing the deletions of what was delivered); returns when every
 * thread has ended.  0 also when not started.  May be followed by
 * pps_plugin_start again. */
PPS_PLUGIN_API int pps_plugin_stop(pps_plugin *pp);

/* Read the profiles again now: new profiles are polled at once, removed
 * ones no more, changed intervals apply from their next poll.  Polls in
 * flight go on.  While started, the module also does this by itself
 * within 2 seconds of a change in the profile folder; call it after
 * saving a profile to make it take effect at once.  Returns 0, or the
 * first failure (the profiles that could be read are still used). */
PPS_PLUGIN_API int pps_plugin_reload(pps_plugin *pp);

/*
 * Poll `profile` now, ahead of its interval and of any back-off after
 * failures (the instance must be started).  wait = 0 queues it and
 * returns 0; wait = 1 returns the result of that poll (0 or its PPS_E*
 * code), after it ran.  Never two polls of one profile at once: when one
 * is running, the requested one follows it.  PPS_ENOTFOUND for an
 * unknown profile, PPS_EINVAL when not started, PPS_EABORTED when
 * stopped while waiting.  Not from a host callback.
 */
PPS_PLUGIN_API int pps_plugin_poll_now(pps_plugin *pp, const char *profile,
                                       int wait);

/* The state of `profile` into *out (out->size set by the caller: fields
 * past it are not written).  PPS_ENOTFOUND for an unknown profile. */
PPS_PLUGIN_API int pps_plugin_status(pps_plugin_profile_status *out,
                                     pps_plugin *pp, const char *profile);

/* The calling thread's last error in words into buf (NUL-terminated, cut
 * to size); returns its PPS_E* code (0 when none). */
PPS_PLUGIN_API int pps_plugin_error(char *buf, size_t size);

/* Stop (as pps_plugin_stop) and free the instance.  NULL does nothing. */
PPS_PLUGIN_API void pps_plugin_unload(pps_plugin *pp);

#ifdef __cplusplus
}
#endif

#endif /* PPS_PLUGIN_H */
