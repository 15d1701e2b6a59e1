/*
 * libpps/deliver/writeback.h - a helper thread that starts the write-back
 * of staged files and closes them, off the poll's path (writeback.c says
 * why).
 *
 *     pps__writeback_start(&w)      the thread starts
 *     pps__writeback_hand(w, fd)    fd is the thread's now: it starts its
 *                                   write-back (sync_file_range) and
 *                                   closes it; waits while 32 are queued
 *     pps__writeback_drain(w)       every fd handed over is closed
 *     pps__writeback_stop(w)        drain, and the thread ends
 *
 * Only the thread that started it may call the others.
 */
#ifndef PPS_DELIVER_WRITEBACK_H
#define PPS_DELIVER_WRITEBACK_H

typedef struct pps__writeback pps__writeback;

/* 0, or PPS_ENOMEM / PPS_EIO when no thread could start (then start
 * write-back and close in the caller's thread, as without one). */
int pps__writeback_start(pps__writeback **out);
void pps__writeback_hand(pps__writeback *w, int fd);
/* NULL is allowed (nothing to wait for). */
void pps__writeback_drain(pps__writeback *w);
/* NULL is allowed. */
void pps__writeback_stop(pps__writeback *w);

#endif /* PPS_DELIVER_WRITEBACK_H */
