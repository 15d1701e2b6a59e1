/*
 * system.c - the Unix chores of a daemon: detach, pid file, privileges.
 */
#define _GNU_SOURCE /* initgroups, setresuid on glibc */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ppsd.h"

int sys_daemonise(void)
{
    pid_t pid;
    int fd;

    fflush(NULL); /* nothing buffered may be written twice */
    if ((pid = fork()) < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        return -1;
    /* A second fork: the session leader exits, so the daemon can never
     * acquire a controlling terminal again. */
    if ((pid = fork()) < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    if (chdir("/") != 0)
        return -1;
    if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
        return -1;
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2)
        close(fd);
    return 0;
}

int sys_write_pid(int fd)
{
    char line[32];
    int len = snprintf(line, sizeof(line), "%ld\n", (long)getpid());

    if (ftruncate(fd, 0) != 0 || write(fd, line, (size_t)len) != len)
        return -1;
    return 0;
}

int sys_drop_privileges(const char *user, char *err, size_t size)
{
    struct passwd *pw;

    errno = 0;
    if (!(pw = getpwnam(user))) {
        snprintf(err, size, "[service] user %s: %s", user,
                 errno ? strerror(errno) : "no such user");
        return -1;
    }
    /* Groups first: after setuid we may no longer change them. */
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0) {
        snprintf(err, size, "[service] user %s: cannot switch groups: %s", user,
                 strerror(errno));
        return -1;
    }
    if (setuid(pw->pw_uid) != 0) {
        snprintf(err, size, "[service] user %s: cannot switch user: %s", user,
                 strerror(errno));
        return -1;
    }
    /* setuid() as root sets real, effective and saved ids; prove it. */
    if (pw->pw_uid != 0 &&
        (setuid(0) == 0 || seteuid(0) == 0 || getuid() != pw->pw_uid ||
         geteuid() != pw->pw_uid || getgid() != pw->pw_gid ||
         getegid() != pw->pw_gid)) {
        snprintf(err, size,
                 "[service] user %s: root privileges could be regained after "
                 "switching; refusing to run",
                 user);
        return -1;
    }
    return 0;
}
