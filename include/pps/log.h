/*
 * pps/log.h - where libpps sends what it has to say.
 *
 * The library never prints.  A program that wants log lines installs one
 * function for the whole process, once, before it starts using libpps from
 * several threads:
 *
 *     pps_log_set(my_log, PPS_LOG_INFO, my_state);
 *
 * The function may be called from any thread that runs libpps code, and
 * from several at once, so it must be thread-safe.  pps_log_stderr is a
 * ready-made one that writes "pps: LEVEL: [profile] message" lines to
 * standard error.  Until a function is installed, nothing is logged.
 *
 * Messages never contain passwords, tokens or other secrets.
 */
#ifndef PPS_LOG_H
#define PPS_LOG_H

#include "common.h"

PPS_BEGIN_DECLS

typedef enum pps_log_level {
    PPS_LOG_ERROR = 1, /* something failed; the operation gave up */
    PPS_LOG_WARN = 2,  /* something is wrong but work went on */
    PPS_LOG_INFO = 3,  /* one line per poll and per message */
    PPS_LOG_DEBUG = 4, /* decisions: routing, retries, capabilities */
    PPS_LOG_TRACE = 5  /* the protocol transcript, secrets masked */
} pps_log_level;

/*
 * A log function.  `profile` names the profile the line is about, or is
 * NULL; `message` is one line without a trailing newline.  Both are valid
 * only during the call.
 */
typedef void (*pps_log_fn)(pps_log_level level, const char *profile,
                           const char *message, void *payload);

/*
 * Install `fn` for the whole process; lines above `max_level` are not even
 * formatted.  A NULL fn turns logging off.
 */
PPS_API void pps_log_set(pps_log_fn fn, pps_log_level max_level, void *payload);

/* A log function that writes to stderr; payload is ignored. */
PPS_API void pps_log_stderr(pps_log_level level, const char *profile,
                            const char *message, void *payload);

/* "error", "warning", "info", "debug" or "trace"; "?" for anything else. */
PPS_API const char *pps_log_level_name(pps_log_level level);

PPS_END_DECLS

#endif /* PPS_LOG_H */
