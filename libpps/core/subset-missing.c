/*
 * subset-missing.c - the parts a Windows subset build leaves out.
 *
 * Built only with -Dwindows_subset=true (the mingw-w64 cross build, which
 * has no OpenSSL).  Each function the plug-in module needs from a part
 * that is not in the subset answers PPS_EUNSUPPORTED with a detail saying
 * so, so that the module compiles, links and loads, and says plainly why
 * it cannot poll.  NOT FINISHED: a full Windows build replaces this file
 * by the real parts (docs/windows.md lists the seams they need).
 */
#include "internal.h"
#include "pps/deliverer.h"
#include "pps/ledger.h"
#include "pps/poll.h"
#include "pps/profile_store.h"
#include "pps/transport.h"

static int missing(const char *what)
{
    return pps__error_set(PPS_EUNSUPPORTED,
                          "%s is not in this build (Windows subset: no "
                          "OpenSSL, docs/windows.md)",
                          what);
}

int pps_poll_run(pps_poll_report *report, const struct pps_profile *profile,
                 const pps_poll_options *opts)
{
    (void)profile;
    (void)opts;
    if (report) {
        report->result = PPS_EUNSUPPORTED;
        pps__snprintf(report->text, sizeof(report->text),
                      "polling is not in this build (Windows subset)");
    }
    return missing("polling");
}

int pps_deliver_new_custom(pps_deliver **out, const pps_deliverer_class *cls,
                           void *payload)
{
    (void)cls;
    (void)payload;
    if (out)
        *out = NULL;
    return missing("delivery");
}

void pps_deliver_free(pps_deliver *d)
{
    (void)d;
}

size_t pps_deliverer_txn_count(const pps_deliverer_txn *txn)
{
    (void)txn;
    return 0;
}

const char *pps_deliverer_txn_recipient(const pps_deliverer_txn *txn, size_t i)
{
    (void)txn;
    (void)i;
    return "";
}

const char *pps_deliverer_txn_sender(const pps_deliverer_txn *txn)
{
    (void)txn;
    return "";
}

int pps_deliverer_txn_set(pps_deliverer_txn *txn, size_t i,
                          pps_deliver_outcome outcome, int code, int reply,
                          const char *text, size_t text_len)
{
    (void)txn;
    (void)i;
    (void)outcome;
    (void)code;
    (void)reply;
    (void)text;
    (void)text_len;
    return missing("delivery");
}

int pps_ledger_store_open_dir(pps_ledger_store **out, const char *dir)
{
    (void)dir;
    if (out)
        *out = NULL;
    return missing("the ledger file store");
}

void pps_ledger_store_free(pps_ledger_store *store)
{
    (void)store;
}

int pps_profile_store_open_dir(pps_profile_store **out, const char *dir)
{
    (void)dir;
    if (out)
        *out = NULL;
    return missing("the profile folder store");
}

/* No TLS in this build: no shared contexts to drop. */
void pps_tls_cache_clear(void)
{
}
