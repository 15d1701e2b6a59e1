/*
 * libpps/ledger/state.h - the ledger's state in memory, shared by
 * ledger.c (memory, store, compaction, open/free), messages.c (the rules
 * of the message API) and dedup-status.c.
 */
#ifndef PPS_LEDGER_STATE_H
#define PPS_LEDGER_STATE_H

#include <string.h>

#include "ledger-internal.h"

enum { MSG_COMPLETE = 1, MSG_DELE_SENT = 2, MSG_DELETED = 4 };

typedef struct ledger_rcpt {
    char *addr;
    pps_ledger_rcpt_state state;
    int code;
    time_t when;
} ledger_rcpt;

typedef struct ledger_msg {
    pps__map_node node; /* keyed by uid */
    char *uid;
    unsigned int flags;
    time_t completed;
    time_t dele_time;
    unsigned long mark; /* prune generation */
    size_t n, cap;
    ledger_rcpt *r;
} ledger_msg;

typedef struct ledger_seen {
    pps__map_node node; /* keyed by "key\0rcpt" */
    char *kr;
    time_t when;
} ledger_seen;

struct pps_ledger {
    const pps_ledger_store *store;
    void *mb;
    char *host, *user, *profile;
    int read_only;
    long window;
    pps__map msgs;
    pps__map seen;
    pps_ledger_status status;
    size_t on_disk;   /* records the store holds */
    size_t dele_sent; /* messages in MSG_DELE_SENT */
    unsigned long mark_gen;
    int dirty;      /* records that must be durable before DELE */
    int dirty_hint; /* records whose loss does no harm */
    int poisoned;
    pps__ledger_clock clock;
    void *clock_payload;
};

/* The time records are stamped with (the test clock, or time()). */
time_t pps__ledger_now(const pps_ledger *l);

/* Lookups; NULL when absent. */
ledger_msg *pps__ledger_msg_find(const pps_ledger *l, const char *uid);
ledger_rcpt *pps__ledger_rcpt_find(const ledger_msg *m, const char *addr);
ledger_seen *pps__ledger_seen_find(const pps_ledger *l, const char *key,
                                   const char *addr);
int pps__ledger_seen_expired(const pps_ledger *l, const ledger_seen *s,
                             time_t t);

/* 0, or the error for a NULL, poisoned or (writing) read-only handle. */
int pps__ledger_usable(const pps_ledger *l, int writing);

/* PPS_EINVAL unless s is 1..max bytes; `what` names it in the detail. */
int pps__ledger_check_str(const char *s, size_t max, const char *what);

/* Append one record to the store and apply it to memory; any failure
 * poisons the handle. */
int pps__ledger_record(pps_ledger *l, const pps_ledger_record *rec);

/* Compact when the store holds more than twice what is needed (or when
 * forced); a failure is only logged unless it poisoned the handle. */
int pps__ledger_compact_if_worthwhile(pps_ledger *l, int forced);

/* A record of `type` about uid/addr at t (the other fields zero). */
static inline pps_ledger_record pps__ledger_rec_of(pps_ledger_record_type type,
                                                   const char *uid,
                                                   const char *addr, time_t t)
{
    pps_ledger_record rec;

    memset(&rec, 0, sizeof(rec));
    rec.type = type;
    rec.uid = uid;
    rec.rcpt = addr;
    rec.time = t;
    return rec;
}

#endif /* PPS_LEDGER_STATE_H */
