/*
 * log.c - the one process-wide log function, and a stderr one to install.
 *
 * The settings are written once by the host, before threads start, and only
 * read afterwards; they are the library's only global state besides the
 * per-thread error.
 */
#include <stdio.h>

#include "internal.h"

/* One formatted line; longer lines are cut (the log is for humans). */
#define LOG_LINE_MAX 2048

static struct {
    pps_log_fn fn;
    pps_log_level max_level;
    void *payload;
} log_settings;

void pps_log_set(pps_log_fn fn, pps_log_level max_level, void *payload)
{
    log_settings.fn = fn;
    log_settings.max_level = max_level;
    log_settings.payload = payload;
}

const char *pps_log_level_name(pps_log_level level)
{
    switch (level) {
    case PPS_LOG_ERROR:
        return "error";
    case PPS_LOG_WARN:
        return "warning";
    case PPS_LOG_INFO:
        return "info";
    case PPS_LOG_DEBUG:
        return "debug";
    case PPS_LOG_TRACE:
        return "trace";
    }
    return "?";
}

void pps_log_stderr(pps_log_level level, const char *profile,
                    const char *message, void *payload)
{
    (void)payload;
    if (profile)
        fprintf(stderr, "pps: %s: [%s] %s\n", pps_log_level_name(level),
                profile, message);
    else
        fprintf(stderr, "pps: %s: %s\n", pps_log_level_name(level), message);
}

int pps__log_enabled(pps_log_level level)
{
    return log_settings.fn != NULL && level <= log_settings.max_level;
}

void pps__vlog(pps_log_level level, const char *profile, const char *fmt,
               va_list ap)
{
    char line[LOG_LINE_MAX];

    if (!pps__log_enabled(level))
        return;
    if (vsnprintf(line, sizeof(line), fmt, ap) < 0)
        return;
    log_settings.fn(level, profile, line, log_settings.payload);
}

void pps__log(pps_log_level level, const char *profile, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    pps__vlog(level, profile, fmt, ap);
    va_end(ap);
}
