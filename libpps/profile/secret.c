/*
 * secret.c - the password of a profile, from wherever the profile says.
 *
 * password_command is run with posix_spawn (safe in a threaded service):
 * /bin/sh -c COMMAND, stdin from /dev/null, standard output into a pipe, in its
 * own process group so that a timeout kills the shell and everything it
 * started.  SIGPIPE is reset to its default in the child only; this
 * process never writes to the pipe, so it cannot get SIGPIPE, and no
 * signal handler of the host is touched.  The child is always reaped.
 * Error details name the profile and the exit status, never the output.
 */
#define _GNU_SOURCE /* pipe2, mkostemp: O_CLOEXEC without a race */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/internal.h"
#include "profile-internal.h"

extern char **environ;

/* A password file's first line; the file itself is bounded like config. */
#define SECRET_FILE_MAX PPS__SECRET_OUTPUT_MAX

void pps_secret_free(char *secret)
{
    if (!secret)
        return;
    pps__wipe(secret, strlen(secret));
    pps__free(secret);
}

/* Keep the first line of buf (without CR LF) as a new secret. */
static int first_line(char **out, size_t *len, const char *buf, size_t n,
                      const char *who, const char *source)
{
    const char *nl = memchr(buf, '\n', n);
    size_t m = nl ? (size_t)(nl - buf) : n;
    char *s;

    if (m && buf[m - 1] == '\r')
        m--;
    if (m == 0)
        return pps__error_set(PPS_EAUTH,
                              "profile '%s': %s gave an empty "
                              "password",
                              who, source);
    if (memchr(buf, '\0', m))
        return pps__error_set(PPS_EAUTH,
                              "profile '%s': %s gave a password "
                              "with a NUL byte",
                              who, source);
    if (!(s = pps__malloc(m + 1)))
        return pps__error_oom();
    memcpy(s, buf, m);
    s[m] = '\0';
    *out = s;
    if (len)
        *len = m;
    return 0;
}

int pps__secret_read_file(char **out, size_t *len, const char *path,
                          const char *who)
{
    char *text = NULL;
    size_t n = 0;
    struct stat st;
    int fd, err;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return pps__error_set(errno == ENOENT ? PPS_ENOTFOUND : PPS_EIO,
                              "profile '%s': password_file %s: cannot open: "
                              "%s",
                              who, path, strerror(errno));
    if (fstat(fd, &st) < 0)
        err = pps__error_set(PPS_EIO, "profile '%s': password_file %s: %s", who,
                             path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        err = pps__error_set(PPS_ECONFIG,
                             "profile '%s': password_file %s: "
                             "not a regular file",
                             who, path);
    else if (st.st_mode & 027)
        err =
            pps__error_set(PPS_EPERM,
                           "profile '%s': password_file %s: group may "
                           "write or others may read it (mode %04o); "
                           "refusing to use it: run chmod 600 %s",
                           who, path, (unsigned int)(st.st_mode & 07777), path);
    else
        err = pps__read_fd_bounded(&text, &n, fd, path, SECRET_FILE_MAX);
    close(fd);
    if (err == 0)
        err = first_line(out, len, text, n, who, "password_file");
    if (text) {
        pps__wipe(text, n);
        pps__free(text);
    }
    return err;
}

static int spawn_shell(pid_t *pid, int *read_fd, const char *command)
{
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t empty, pipe_only;
    char *argv[4];
    int fds[2], rc;

    if (pipe2(fds, O_CLOEXEC) < 0)
        return errno;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    sigemptyset(&empty);
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                        POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setsigdefault(&attr, &pipe_only);
    argv[0] = (char *)"sh";
    argv[1] = (char *)"-c";
    argv[2] = (char *)command;
    argv[3] = NULL;
    rc = posix_spawn(pid, "/bin/sh", &actions, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return rc;
    }
    *read_fd = fds[0];
    return 0;
}

/* Kill the child's whole process group and reap the child. */
static void kill_and_reap(pid_t pid, int *status)
{
    kill(-pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
}

/* Wait for the child until the deadline; then kill it. 1 when it ended
 * by itself. */
static int reap(pid_t pid, int *status, long long deadline)
{
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        struct timespec tick = {0, 10 * 1000000};
        if (r == pid)
            return 1;
        if (r < 0 && errno != EINTR) {
            *status = -1; /* reaped by someone else (a SIGCHLD handler) */
            return 1;
        }
        if (pps__now_ms() >= deadline) {
            kill_and_reap(pid, status);
            return 0;
        }
        nanosleep(&tick, NULL);
    }
}

int pps__secret_run_command(char **out, size_t *len, const char *command,
                            const char *who, int timeout_ms, size_t output_max)
{
    long long deadline = pps__now_ms() + timeout_ms;
    char *buf;
    size_t used = 0;
    pid_t pid;
    int fd = -1, status = 0, err = 0, rc, timed_out = 0, too_big = 0;

    if (!(buf = pps__malloc(output_max + 1)))
        return pps__error_oom();
    if ((rc = spawn_shell(&pid, &fd, command)) != 0) {
        pps__free(buf);
        return pps__error_set(PPS_EIO,
                              "profile '%s': cannot run password_command: %s",
                              who, strerror(rc));
    }
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        long long left = deadline - pps__now_ms();
        ssize_t n;

        if (left <= 0) {
            timed_out = 1;
            break;
        }
        rc = poll(&pfd, 1, (int)(left > 1000 ? 1000 : left));
        if (rc < 0 && errno != EINTR) {
            err = pps__error_set(PPS_EIO,
                                 "profile '%s': password_command: "
                                 "poll: %s",
                                 who, strerror(errno));
            break;
        }
        if (rc <= 0)
            continue;
        n = read(fd, buf + used, output_max + 1 - used);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break; /* EOF (or an error, reported by the exit status) */
        used += (size_t)n;
        if (used > output_max) {
            too_big = 1;
            break;
        }
    }
    close(fd);
    if (timed_out || too_big || err)
        kill_and_reap(pid, &status);
    else if (!reap(pid, &status, deadline))
        timed_out = 1;

    if (err)
        ;
    else if (timed_out)
        err = pps__error_set(PPS_ETIMEOUT,
                             "profile '%s': password_command did not finish "
                             "within %d s; killed it",
                             who, (timeout_ms + 999) / 1000);
    else if (too_big)
        err = pps__error_set(PPS_ETOOBIG,
                             "profile '%s': password_command printed more "
                             "than %zu bytes; killed it",
                             who, output_max);
    else if (status == -1)
        err = pps__error_set(PPS_EIO,
                             "profile '%s': password_command: its exit status "
                             "was lost (reaped elsewhere)",
                             who);
    else if (WIFSIGNALED(status))
        err = pps__error_set(PPS_EAUTH,
                             "profile '%s': password_command was killed by "
                             "signal %d",
                             who, WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0)
        err = pps__error_set(PPS_EAUTH,
                             "profile '%s': password_command exited with "
                             "status %d",
                             who, WEXITSTATUS(status));
    else
        err = first_line(out, len, buf, used, who, "password_command");
    pps__wipe(buf, output_max + 1);
    pps__free(buf);
    return err;
}

int pps_profile_get_secret(char **out, size_t *len, const pps_profile *p)
{
    const char *who, *v;
    long i;

    if (!out || !p)
        return pps__error_set(PPS_EINVAL,
                              "pps_profile_get_secret: NULL argument");
    *out = NULL;
    if (len)
        *len = 0;
    who = pps_profile_name(p);
    i = pps__key_find(pps__profile_keys, pps__profile_key_count, "password");
    if ((v = pps__profile_value(p, (size_t)i)->text) != NULL) {
        if (!(*out = pps__strdup(v)))
            return pps__error_oom();
        if (len)
            *len = strlen(v);
        return 0;
    }
    if ((v = pps_profile_get(p, "password_file")) != NULL)
        return pps__secret_read_file(out, len, v, who);
    if ((v = pps_profile_get(p, "password_command")) != NULL)
        return pps__secret_run_command(out, len, v, who,
                                       PPS__SECRET_COMMAND_TIMEOUT_MS,
                                       PPS__SECRET_OUTPUT_MAX);
    return pps__error_set(PPS_ECONFIG,
                          "profile '%s': no password, password_file or "
                          "password_command is set",
                          who);
}
