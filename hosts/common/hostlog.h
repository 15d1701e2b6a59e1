/*
 * hostlog.h - the log of a host program: pop3.log and standard error.
 *
 * Shared by pps and ppsd.  Lines go to the log file (pps.conf [service]
 * log_file, default DIR/pop3.log, mode 0640) at the configured level, and
 * to stderr at the level the command line asks for.  Thread-safe; the file
 * is reopened on request (SIGHUP, after log rotation).
 */
#ifndef PPS_HOSTLOG_H
#define PPS_HOSTLOG_H

#include <pps/log.h>

/* Start logging: `path` may be NULL (no file).  Installs the library's
 * log function.  Returns 0, or -1 with errno when the file cannot be
 * opened (logging to stderr still works). */
int hostlog_open(const char *path, pps_log_level file_level,
                 pps_log_level stderr_level);

/* 0: library lines of level error go to the file only, because the host
 * reports each failure itself in one line (the CLI); 1 (default): to
 * stderr too. */
void hostlog_stderr_errors(int show);

/* The name that starts every stderr line ("pps", "ppsd"); a string that
 * outlives logging.  Call before hostlog_open. */
void hostlog_set_program(const char *name);

/* Reopen the file (log rotation).  Safe to call from the main loop, not
 * from a signal handler. */
int hostlog_reopen(void);

/* Close the file. */
void hostlog_close(void);

/* A line from the host itself, same format. */
void hostlog(pps_log_level level, const char *profile, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "error", "warning", "info", "debug", "trace" -> level; -1 unknown. */
int hostlog_level_from_name(const char *name);

#endif /* PPS_HOSTLOG_H */
