/*
 * libpps/core/platform.h - the few spellings that differ on Windows.
 *
 * Included by internal.h, so every library file sees the same names.  The
 * library is written to POSIX; a Windows (mingw-w64) build gets these
 * open(2) flags mapped or neutralised here, and the larger seams
 * (sockets, processes, directory fsync) are left out of the Windows
 * subset build: docs/windows.md lists them.
 */
#ifndef PPS_CORE_PLATFORM_H
#define PPS_CORE_PLATFORM_H

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#if defined(_WIN32)
#ifndef O_CLOEXEC
#define O_CLOEXEC _O_NOINHERIT /* handles not inherited by children */
#endif
#ifndef O_NOCTTY
#define O_NOCTTY 0 /* no controlling terminals on Windows */
#endif
#ifndef O_DIRECTORY
#define O_DIRECTORY 0 /* opening a folder fails: its fsync is skipped */
#endif
#ifndef O_NOFOLLOW
#define O_NOFOLLOW 0 /* reparse points are not followed by _open anyway */
#endif
#ifndef O_NONBLOCK
#define O_NONBLOCK 0 /* no FIFOs to block on */
#endif
#include <direct.h>
#include <io.h>
/* Folder modes do not exist: ACLs of the parent apply. */
#define mkdir(path, mode) _mkdir(path)
/* The file's data and metadata to disk. */
#define fsync(fd) _commit(fd)
/* read(2) of a size_t count; Windows takes an unsigned int. */
static inline ssize_t pps__read(int fd, void *buf, size_t len)
{
    return _read(fd, buf, (unsigned int)(len > INT_MAX ? INT_MAX : len));
}
#else
#define pps__read read
#endif

#endif /* PPS_CORE_PLATFORM_H */
