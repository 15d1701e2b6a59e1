/*
 * fileio.c - read a small file whole, with a cap.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "../core/internal.h"
#include "profile-internal.h"

int pps__read_fd_bounded(char **out, size_t *len, int fd, const char *path,
                         size_t max)
{
    /* One byte more than allowed, to see that a file is too long. */
    char *buf = pps__malloc(max + 2);
    size_t used = 0;

    *out = NULL;
    *len = 0;
    if (!buf)
        return pps__error_oom();
    while (used < max + 1) {
        ssize_t n = pps__read(fd, buf + used, max + 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            pps__wipe(buf, used);
            pps__free(buf);
            return pps__error_set(PPS_EIO, "%s: cannot read: %s", path,
                                  strerror(e));
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    if (used > max) {
        pps__wipe(buf, used); /* it may be a password file */
        pps__free(buf);
        return pps__error_set(PPS_ETOOBIG, "%s: longer than %zu bytes", path,
                              max);
    }
    buf[used] = '\0';
    *out = buf;
    *len = used;
    return 0;
}
