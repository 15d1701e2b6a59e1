/*
 * libpps/core/internal.h - helpers shared by every part of the library.
 *
 * Nothing here is exported.  Names are pps__<part>_<name> or pps__<name>.
 */
#ifndef PPS_CORE_INTERNAL_H
#define PPS_CORE_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "pps/errors.h"
#include "pps/log.h"
#include "platform.h"

#if defined(__MINGW32__)
/* mingw's "printf" is Microsoft's, without %zu; with
 * __USE_MINGW_ANSI_STDIO the C99 one is used (docs/windows.md). */
#define PPS__PRINTF(f, a) __attribute__((format(gnu_printf, f, a)))
#elif defined(__GNUC__)
#define PPS__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PPS__PRINTF(f, a)
#endif

/* --- errors (error.c) -------------------------------------------------- */

/*
 * Record the detail of a failure on this thread and return `code`, so that
 * a failing path reads `return pps__error_set(PPS_ECONFIG, "...", ...);`.
 * Clears the server text.
 */
int pps__error_set(int code, const char *fmt, ...) PPS__PRINTF(2, 3);

/*
 * Attach the peer's own words to the current error: made printable (control
 * and 8-bit bytes become '?') and cut to PPS__ERROR_SERVER_MAX bytes.  The
 * caller removes secrets first.
 */
void pps__error_set_server(const char *text, size_t len);

/* Record "out of memory" and return PPS_ENOMEM. */
int pps__error_oom(void);

/* Size of the detail buffers; longer text is cut with "...". */
#define PPS__ERROR_MESSAGE_MAX 512
#define PPS__ERROR_SERVER_MAX  200

/* --- logging (log.c) --------------------------------------------------- */

/* 1 when a line of `level` would reach the log function. */
int pps__log_enabled(pps_log_level level);

/* Format one line and hand it to the installed log function. */
void pps__log(pps_log_level level, const char *profile, const char *fmt, ...)
    PPS__PRINTF(3, 4);
void pps__vlog(pps_log_level level, const char *profile, const char *fmt,
               va_list ap) PPS__PRINTF(3, 0);

/* --- memory (alloc.c) -------------------------------------------------- */

/*
 * Every allocation of the library goes through these, so that the tests
 * can make the Nth one fail (pps__alloc_fail_after) and prove that each
 * caller returns PPS_ENOMEM cleanly.  They do not set the error detail.
 */
void *pps__malloc(size_t size);
void *pps__calloc(size_t count, size_t size);
void *pps__realloc(void *ptr, size_t size);
/* Room for one more item in a growing array of `count` items (*cap
 * allocated, each item_size bytes): the array itself when there is room,
 * else the array grown to twice *cap (`first` when empty) and *cap
 * updated, or NULL with the array and *cap unchanged. */
void *pps__grow(void *items, size_t count, size_t *cap, size_t item_size,
                size_t first);
char *pps__strdup(const char *s);
char *pps__strndup(const char *s, size_t n);
void pps__free(void *ptr);

/*
 * Test hook: after `n` more successful allocations, every allocation fails
 * (n < 0: never fail, the default).  Process-wide; for single-threaded
 * tests only.
 */
void pps__alloc_fail_after(long n);

/* --- time (clock.c) ---------------------------------------------------- */

/* Milliseconds of the monotonic clock (CLOCK_MONOTONIC): for deadlines. */
long long pps__now_ms(void);

/* --- strings (str.c) --------------------------------------------------- */

/* Bounded formatting that always terminates; returns the full length
 * vsnprintf would have written, like snprintf, or -1 on error. */
int pps__snprintf(char *buf, size_t size, const char *fmt, ...)
    PPS__PRINTF(3, 4);

/* Overwrite a secret in memory so that it does not linger after free; the
 * compiler may not optimise it away. */
void pps__wipe(void *ptr, size_t len);

/* ASCII-only helpers: mail protocols are case-insensitive in ASCII only. */
int pps__ascii_tolower(int c);
int pps__ascii_strcasecmp(const char *a, const char *b);
int pps__ascii_strncasecmp(const char *a, const char *b, size_t n);

/*
 * Copy `len` bytes of untrusted text into buf as a double-quoted string fit
 * for an error message: '"' and '\\' escaped, control and 8-bit bytes as
 * \xNN, cut with "..." when buf is too small.  buf must hold at least 8
 * bytes; returns buf.
 */
char *pps__quote(char *buf, size_t size, const char *s, size_t len);

#endif /* PPS_CORE_INTERNAL_H */
