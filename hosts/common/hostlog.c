/*
 * hostlog.c - pop3.log and stderr for the host programs.
 *
 * One line per event: "2026-11-27T03:04:05Z info [office] message".
 * The library already keeps secrets out of its messages; this file only
 * formats and writes.
 */
#include "hostlog.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *file;
static char *file_path;
static pps_log_level file_max = PPS_LOG_INFO;
static pps_log_level stderr_max = PPS_LOG_WARN;
static int stderr_errors = 1;
static const char *program = "pps"; /* the stderr prefix */

static FILE *open_file(const char *path)
{
    /* 0640: the log names users and servers; never world-readable. */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    FILE *f;

    if (fd < 0)
        return NULL;
    if (!(f = fdopen(fd, "a"))) {
        close(fd);
        return NULL;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    return f;
}

static void write_line(pps_log_level level, const char *profile,
                       const char *message, void *payload)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;

    (void)payload;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    pthread_mutex_lock(&lock);
    if (file && level <= file_max)
        fprintf(file, "%s %s [%s] %s\n", stamp, pps_log_level_name(level),
                profile ? profile : "-", message);
    if (level <= stderr_max && (stderr_errors || level != PPS_LOG_ERROR)) {
        if (profile)
            fprintf(stderr, "%s: %s: %s: %s\n", program,
                    pps_log_level_name(level), profile, message);
        else
            fprintf(stderr, "%s: %s: %s\n", program, pps_log_level_name(level),
                    message);
    }
    pthread_mutex_unlock(&lock);
}

int hostlog_open(const char *path, pps_log_level file_level,
                 pps_log_level stderr_level)
{
    int rc = 0;

    pthread_mutex_lock(&lock);
    file_max = file_level;
    stderr_max = stderr_level;
    free(file_path);
    file_path = path ? strdup(path) : NULL;
    if (file_path && !(file = open_file(file_path)))
        rc = -1;
    pthread_mutex_unlock(&lock);
    pps_log_set(write_line,
                file_level > stderr_level ? file_level : stderr_level, NULL);
    return rc;
}

void hostlog_set_program(const char *name)
{
    program = name;
}

void hostlog_stderr_errors(int show)
{
    stderr_errors = show;
}

int hostlog_reopen(void)
{
    FILE *fresh;
    int rc = 0;

    pthread_mutex_lock(&lock);
    if (file_path) {
        if ((fresh = open_file(file_path)) != NULL) {
            if (file)
                fclose(file);
            file = fresh;
        } else {
            rc = -1;
        }
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

void hostlog_close(void)
{
    pps_log_set(NULL, PPS_LOG_ERROR, NULL);
    pthread_mutex_lock(&lock);
    if (file)
        fclose(file);
    file = NULL;
    free(file_path);
    file_path = NULL;
    pthread_mutex_unlock(&lock);
}

void hostlog(pps_log_level level, const char *profile, const char *fmt, ...)
{
    char line[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    write_line(level, profile, line, NULL);
}

int hostlog_level_from_name(const char *name)
{
    static const char *const names[] = {"error", "warning", "info", "debug",
                                        "trace"};
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return (int)i + PPS_LOG_ERROR;
    if (strcmp(name, "warn") == 0)
        return PPS_LOG_WARN;
    return -1;
}
