/*
 * ppsd - the service host of libpps: polls every enabled profile on its
 * interval until told to stop.
 *
 *     ppsd [-c DIR] [--foreground] [--once] [--pid-file FILE]
 *
 * Start-up, in this order, so that every failure is reported where the
 * administrator is looking (stderr, before detaching) with the contract's
 * exit status (2 configuration, 1 anything else):
 *   1. read DIR/pps.conf (a bad one: one line naming file, line and key);
 *   2. open the pid file and pop3.log while still root;
 *   3. switch to [service] user when started as root;
 *   4. make the runtime (profile store, ledger store, deliverer check) as
 *      that user, so that what it creates belongs to that user;
 *   5. detach (unless --foreground or --once), write the pid, run the
 *      scheduler.
 * SIGHUP reopens the log and rereads the profiles; SIGTERM and SIGINT
 * stop: every poll finishes its message in hand and QUITs, then exit 0.
 * --once polls every enabled profile one time and exits with the worst
 * status of the cycle (sched.c; `pps fetch` does the same sequentially).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "confdir.h"
#include "hostlog.h"
#include "ppsd.h"

volatile sig_atomic_t ppsd_stop;
volatile sig_atomic_t ppsd_hup;
static int wake_pipe[2] = {-1, -1};

typedef struct options {
    const char *dir;
    const char *pid_file;
    int foreground;
    int once;
} options;

/* --- the self-pipe and signals -------------------------------------------- */

int ppsd_wake_init(void)
{
    int i;

    if (pipe(wake_pipe) != 0)
        return -1;
    for (i = 0; i < 2; i++)
        if (fcntl(wake_pipe[i], F_SETFL, O_NONBLOCK) != 0 ||
            fcntl(wake_pipe[i], F_SETFD, FD_CLOEXEC) != 0)
            return -1;
    return 0;
}

int ppsd_wake_fd(void)
{
    return wake_pipe[0];
}

void ppsd_wake(void)
{
    int saved = errno; /* called from signal handlers too */
    ssize_t n = write(wake_pipe[1], "", 1);

    (void)n; /* a full pipe already wakes the loop */
    errno = saved;
}

/* Handlers only set a flag and wake the main loop, which does the work. */
static void on_signal(int sig)
{
    if (sig == SIGHUP)
        ppsd_hup = 1;
    else
        ppsd_stop = 1;
    ppsd_wake();
}

static int catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) ||
        sigaction(SIGHUP, &sa, NULL) != 0)
        return -1;
    sa.sa_handler = SIG_IGN; /* a peer closing is an error return, not death */
    return sigaction(SIGPIPE, &sa, NULL);
}

/* --- the command line ------------------------------------------------------
 */

static void usage(FILE *out)
{
    fputs("usage: ppsd [-c DIR] [--foreground] [--once] [--pid-file FILE]\n"
          "\n"
          "Poll every enabled profile of DIR on its interval and deliver the\n"
          "mail, until SIGTERM.  SIGHUP reopens the log file and rereads the\n"
          "profiles.\n"
          "\n"
          "  -c DIR           configuration folder (default $PPS_CONFIG_DIR,\n"
          "                   /etc/pps for root, ~/.config/pps otherwise)\n"
          "  --foreground     stay attached; log to stderr too (systemd)\n"
          "  --once           poll every enabled profile once, max_parallel\n"
          "                   at a time, then exit (cron); stays attached,\n"
          "                   errors on stderr (all lines with --foreground)\n"
          "  --pid-file FILE  write the daemon's pid there\n"
          "  --version        print the version and exit\n"
          "  --help           print this help and exit\n"
          "\n"
          "See ppsd(8), pps(1) and pps.conf(5).\n",
          out);
}

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "ppsd: %s%s%s (try 'ppsd --help')\n", what, arg ? " " : "",
            arg ? arg : "");
    return EXIT_CONFIG;
}

/* Returns -1 to go on, or an exit status. */
static int parse_args(options *o, int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--foreground") == 0 || strcmp(a, "-f") == 0) {
            o->foreground = 1;
        } else if (strcmp(a, "--once") == 0) {
            o->once = 1;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config-dir") == 0) {
            if (++i >= argc)
                return usage_error("-c needs a folder", NULL);
            o->dir = argv[i];
        } else if (strcmp(a, "--pid-file") == 0) {
            if (++i >= argc)
                return usage_error("--pid-file needs a file", NULL);
            o->pid_file = argv[i];
        } else if (strncmp(a, "--pid-file=", 11) == 0) {
            o->pid_file = a + 11;
        } else if (strcmp(a, "--version") == 0) {
            printf("ppsd %s (libpps %s)\n", PPS_VERSION_STRING,
                   pps_version(NULL, NULL, NULL));
            return EXIT_OK;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return EXIT_OK;
        } else {
            return usage_error("unknown argument", a);
        }
    }
    return -1;
}

/* --- start-up --------------------------------------------------------------
 */

/* A failure at start: one line on stderr (and in the log once it is open). */
static int start_failure(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int start_failure(int status, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "ppsd: %s\n", line);
    hostlog_stderr_errors(0); /* already said */
    hostlog(PPS_LOG_ERROR, NULL, "cannot start: %s", line);
    return status;
}

/* The folder part of path into buf; 0, or -1 when there is none. */
static int parent_of(char *buf, size_t size, const char *path)
{
    char *slash;

    if (snprintf(buf, size, "%s", path) >= (int)size ||
        !(slash = strrchr(buf, '/')) || slash == buf)
        return -1;
    *slash = '\0';
    return 0;
}

/* Every poll writes the ledger: a state folder the user we run as cannot
 * write (or make) is an error at start, not a failure of every poll. */
static int check_state_dir(const char *path, const char *user)
{
    char dir[PATH_MAX];

    if (!path || access(path, W_OK | X_OK) == 0)
        return -1;
    if (errno == ENOENT && parent_of(dir, sizeof(dir), path) == 0 &&
        access(dir, W_OK | X_OK) == 0)
        return -1; /* made on the first poll */
    return start_failure(EXIT_RUNTIME,
                         "[service] state_dir %s is not writable by user %s, "
                         "which ppsd runs as: chown it to %s",
                         path, user, user);
}

/* The log file is open already; after rotation it is made again, by the
 * user we run as, in its folder. */
static void check_log_file(const char *path, const char *user)
{
    char dir[PATH_MAX];

    if (!path || parent_of(dir, sizeof(dir), path) < 0 ||
        access(dir, W_OK | X_OK) == 0)
        return;
    hostlog(PPS_LOG_WARN, NULL,
            "[service] log_file %s: its folder %s is not writable by user "
            "%s, so ppsd cannot make the file again after log rotation (use "
            "logrotate's create or copytruncate)",
            path, dir, user);
}

static int open_log(const pps_config *cfg, const options *o)
{
    const char *file = pps_config_get(cfg, "service", "log_file");
    const char *name = pps_config_get(cfg, "service", "log_level");
    int level = name ? hostlog_level_from_name(name) : PPS_LOG_INFO;

    if (level < 0)
        level = PPS_LOG_INFO;
    /* In the foreground stderr receives what the file does (the journal);
     * otherwise only errors: until we detach, or all along with --once,
     * so that cron mails only trouble. */
    if (hostlog_open(file, (pps_log_level)level,
                     o->foreground ? (pps_log_level)level : PPS_LOG_ERROR) < 0)
        return start_failure(EXIT_RUNTIME, "cannot open the log file %s: %s",
                             file, strerror(errno));
    return -1;
}

static int switch_user(const pps_config *cfg)
{
    const char *user = pps_config_get(cfg, "service", "user");
    char err[512];

    if (geteuid() != 0) {
        if (user && *user) {
            struct passwd *pw = getpwnam(user);
            if (!pw || pw->pw_uid != geteuid())
                hostlog(PPS_LOG_WARN, NULL,
                        "[service] user = %s ignored: ppsd was not started "
                        "as root",
                        user);
        }
        return -1;
    }
    if (!user || !*user) {
        hostlog(PPS_LOG_WARN, NULL,
                "running as root: set [service] user unless ppsd delivers "
                "into Maildirs of many system users");
        return -1;
    }
    if (sys_drop_privileges(user, err, sizeof(err)) < 0)
        return start_failure(EXIT_RUNTIME, "%s", err);
    hostlog(PPS_LOG_INFO, NULL, "running as user %s", user);
    check_log_file(pps_config_get(cfg, "service", "log_file"), user);
    return check_state_dir(pps_config_get(cfg, "service", "state_dir"), user);
}

/* The folder as an absolute path: the daemon changes to / and the log
 * and state paths default to places inside it. */
static const char *absolute_dir(char *buf, size_t size, const char *dir)
{
    char cwd[PATH_MAX];

    if (dir[0] == '/')
        return dir;
    if (realpath(dir, buf))
        return buf;
    if (!getcwd(cwd, sizeof(cwd)) ||
        snprintf(buf, size, "%s/%s", cwd, dir) >= (int)size)
        return dir;
    return buf;
}

int main(int argc, char **argv)
{
    char dirbuf[PATH_MAX], absbuf[PATH_MAX];
    options o = {NULL, NULL, 0, 0};
    sched_options so;
    pps_config *cfg = NULL;
    pps_runtime *rt = NULL;
    int status, err, pid_fd = -1, polls_left = 0;

    hostlog_set_program("ppsd");
    hostlog_open(NULL, PPS_LOG_ERROR, PPS_LOG_WARN);
    if ((status = parse_args(&o, argc, argv)) >= 0)
        return status;
    if (!o.dir)
        o.dir = confdir_default(dirbuf, sizeof(dirbuf));
    o.dir = absolute_dir(absbuf, sizeof(absbuf), o.dir);

    /* 1. pps.conf */
    if ((err = pps_config_load(&cfg, o.dir)) < 0) {
        fprintf(stderr, "ppsd: %s\n", pps_error_last()->message);
        return exit_status_of(err) == 0 ? EXIT_RUNTIME : exit_status_of(err);
    }
    /* 2. pid file and log, while we may still write anywhere */
    if (o.pid_file &&
        (pid_fd = open(o.pid_file, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                       0644)) < 0) {
        status = start_failure(EXIT_RUNTIME, "cannot open the pid file %s: %s",
                               o.pid_file, strerror(errno));
        goto out;
    }
    if ((status = open_log(cfg, &o)) >= 0)
        goto out;
    /* 3. privileges */
    if ((status = switch_user(cfg)) >= 0)
        goto out;
    /* 4. the runtime */
    if ((err = pps_runtime_new(&rt, o.dir)) < 0) {
        const char *user = pps_config_get(cfg, "service", "user");
        status = exit_status_of(err) ? exit_status_of(err) : EXIT_RUNTIME;
        if (geteuid() != getuid() || !user || !*user || getuid() == 0)
            status = start_failure(status, "%s", pps_error_last()->message);
        else
            status = start_failure(status,
                                   "%s (ppsd runs as user %s: %s must be "
                                   "readable, its state folder writable, "
                                   "by that user)",
                                   pps_error_last()->message, user, o.dir);
        goto out;
    }
    if (ppsd_wake_init() < 0 || catch_signals() < 0) {
        status = start_failure(EXIT_RUNTIME, "cannot set up signals: %s",
                               strerror(errno));
        goto out;
    }
    /* 5. detach (never for one cycle) and run */
    if (!o.foreground && !o.once && sys_daemonise() < 0) {
        status =
            start_failure(EXIT_RUNTIME, "cannot detach: %s", strerror(errno));
        goto out;
    }
    if (pid_fd >= 0 && sys_write_pid(pid_fd) < 0)
        hostlog(PPS_LOG_WARN, NULL, "cannot write the pid file %s: %s",
                o.pid_file, strerror(errno));
    so.max_parallel = pps_config_max_parallel(cfg);
    so.once = o.once;
    status = sched_run(rt, &so, &polls_left);
    if (o.pid_file)
        unlink(o.pid_file); /* may fail after switching user: harmless */
    if (polls_left)
        return status; /* polls still hold rt and the log: end around them */

out:
    if (pid_fd >= 0)
        close(pid_fd);
    pps_runtime_free(rt);
    pps_config_free(cfg);
    hostlog_close();
    return status;
}
