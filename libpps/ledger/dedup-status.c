/*
 * dedup-status.c - the duplicate store of routing and the poll status.
 */
#include <string.h>

#include "core/internal.h"
#include "state.h"

/* --- duplicate store --------------------------------------------------- */

int pps_ledger_seen(const pps_ledger *l, const char *key, const char *addr)
{
    const ledger_seen *s;
    int err;

    if ((err = pps__ledger_usable(l, 0)) < 0 ||
        (err = pps__ledger_check_str(key, PPS_LEDGER_KEY_MAX,
                                     "duplicate key")) < 0 ||
        (err = pps__ledger_check_str(addr, PPS_LEDGER_RCPT_MAX, "recipient")) <
            0)
        return err;
    s = pps__ledger_seen_find(l, key, addr);
    return s && !pps__ledger_seen_expired(l, s, pps__ledger_now(l)) ? 1 : 0;
}

int pps_ledger_remember(pps_ledger *l, const char *key, const char *addr,
                        time_t when)
{
    pps_ledger_record rec;
    int err;

    if ((err = pps__ledger_usable(l, 1)) < 0 ||
        (err = pps__ledger_check_str(key, PPS_LEDGER_KEY_MAX,
                                     "duplicate key")) < 0 ||
        (err = pps__ledger_check_str(addr, PPS_LEDGER_RCPT_MAX, "recipient")) <
            0)
        return err;
    rec = pps__ledger_rec_of(PPS_LEDGER_REC_SEEN, key, addr, when);
    return pps__ledger_record(l, &rec);
}

/* --- status ----------------------------------------------------------- */

int pps_ledger_status_get(pps_ledger_status *out, const pps_ledger *l)
{
    int err;

    if (!out || out->version != PPS_LEDGER_STATUS_VERSION)
        return pps__error_set(PPS_EINVAL,
                              "ledger: status NULL or of another version");
    if ((err = pps__ledger_usable(l, 0)) < 0)
        return err;
    *out = l->status;
    return 0;
}

int pps_ledger_status_set(pps_ledger *l, const pps_ledger_status *st)
{
    pps_ledger_status copy;
    pps_ledger_record rec;
    size_t len;
    int err;

    if ((err = pps__ledger_usable(l, 1)) < 0)
        return err;
    if (!st || st->version != PPS_LEDGER_STATUS_VERSION)
        return pps__error_set(PPS_EINVAL,
                              "ledger: status NULL or of another version");
    if (st->result > 0 || st->result < -1000)
        return pps__error_set(PPS_EINVAL, "ledger: status result %d",
                              st->result);
    copy = *st;
    len = strnlen(copy.text, sizeof(copy.text) - 1);
    copy.text[len] = '\0';
    rec = pps__ledger_rec_of(PPS_LEDGER_REC_STATUS, NULL, NULL, 0);
    rec.status = &copy;
    return pps__ledger_record(l, &rec);
}
