/*
 * host-deliver.c - the plug-in's deliverer: each step of a libpps
 * delivery transaction becomes one call of the host's table.
 *
 * begin    -> host->deliver_begin(&txn, profile, sender, rcpts, n)
 * write    -> host->deliver_write(txn, chunk)
 * commit   -> host->deliver_commit(txn, outcomes[n]); each outcome is
 *             recorded with pps_deliverer_txn_set (PENDING stays
 *             undecided, which libpps counts as a temporary failure)
 * cancel   -> host->deliver_abort(txn), only for a transaction the host
 *             opened and did not commit
 */
#include <stdlib.h>
#include <string.h>

#include <pps/deliverer.h>
#include <pps/errors.h>

#include "host-deliver.h"

typedef struct host_deliver {
    const pps_plugin_host *host;
    const char *profile;
    void *txn;          /* the host's transaction */
    int open;           /* deliver_begin succeeded, no commit or abort yet */
    const char **rcpts; /* this transaction's recipients, borrowed */
    int *outcomes;
    size_t count;
} host_deliver;

static void release(host_deliver *hd)
{
    free(hd->rcpts);
    free(hd->outcomes);
    hd->rcpts = NULL;
    hd->outcomes = NULL;
    hd->count = 0;
    hd->open = 0;
    hd->txn = NULL;
}

static int hd_begin(pps_deliverer_txn *txn, void *payload)
{
    host_deliver *hd = payload;
    size_t n = pps_deliverer_txn_count(txn), i;
    int rc;

    release(hd);
    hd->rcpts = calloc(n ? n : 1, sizeof(*hd->rcpts));
    hd->outcomes = calloc(n ? n : 1, sizeof(*hd->outcomes));
    if (!hd->rcpts || !hd->outcomes) {
        release(hd);
        return PPS_ENOMEM;
    }
    for (i = 0; i < n; i++)
        hd->rcpts[i] = pps_deliverer_txn_recipient(txn, i);
    hd->count = n;
    rc = hd->host->deliver_begin(&hd->txn, hd->profile,
                                 pps_deliverer_txn_sender(txn), hd->rcpts, n,
                                 hd->host->payload);
    if (rc < 0) {
        release(hd);
        return PPS_ETEMP; /* undecided recipients: temporary failures */
    }
    hd->open = 1;
    return 0;
}

static int hd_write(pps_deliverer_txn *txn, const char *data, size_t len,
                    void *payload)
{
    host_deliver *hd = payload;

    (void)txn;
    if (hd->host->deliver_write(hd->txn, data, len, hd->host->payload) < 0)
        return PPS_ETEMP; /* libpps calls cancel next */
    return 0;
}

static int hd_commit(pps_deliverer_txn *txn, void *payload)
{
    static const char temp[] = "the mail server failed temporarily";
    static const char perm[] = "the mail server refused the recipient";
    host_deliver *hd = payload;
    size_t i, n = hd->count;
    int rc;

    memset(hd->outcomes, 0, n * sizeof(*hd->outcomes));
    rc = hd->host->deliver_commit(hd->txn, hd->outcomes, n, hd->host->payload);
    hd->open = 0; /* over, whatever the host says */
    for (i = 0; i < n; i++) {
        switch (hd->outcomes[i]) {
        case PPS_PLUGIN_DELIVERED:
            pps_deliverer_txn_set(txn, i, PPS_DELIVER_DELIVERED, PPS_OK, 0,
                                  NULL, 0);
            break;
        case PPS_PLUGIN_PERMFAIL:
            pps_deliverer_txn_set(txn, i, PPS_DELIVER_PERMFAIL, PPS_EPERM, 0,
                                  perm, sizeof(perm) - 1);
            break;
        case PPS_PLUGIN_TEMPFAIL:
        default: /* PENDING or nonsense: try again later, never lose it */
            pps_deliverer_txn_set(txn, i, PPS_DELIVER_TEMPFAIL, PPS_ETEMP, 0,
                                  temp, sizeof(temp) - 1);
            break;
        }
    }
    release(hd);
    return rc < 0 ? PPS_ETEMP : 0;
}

static void hd_cancel(pps_deliverer_txn *txn, void *payload)
{
    host_deliver *hd = payload;

    (void)txn;
    if (hd->open)
        hd->host->deliver_abort(hd->txn, hd->host->payload);
    release(hd);
}

static int hd_user_exists(const char *user, const char *domain, void *payload)
{
    host_deliver *hd = payload;
    int rc;

    if (!hd->host->user_exists)
        return 1;
    rc = hd->host->user_exists(user, domain, hd->host->payload);
    return rc < 0 ? -1 : rc > 0;
}

static void hd_describe(char *buf, size_t size, void *payload)
{
    static const char text[] = "the plug-in host's delivery";

    (void)payload;
    if (size == 0)
        return;
    if (size > sizeof(text))
        size = sizeof(text);
    memcpy(buf, text, size - 1);
    buf[size - 1] = '\0';
}

static void hd_free(void *payload)
{
    host_deliver *hd = payload;

    if (hd->open)
        hd->host->deliver_abort(hd->txn, hd->host->payload);
    release(hd);
    free(hd);
}

#define HOST_CLASS(line_ends)                                       \
    {                                                               \
        .version = PPS_DELIVERER_CLASS_VERSION, .name = "host",     \
        .flags = (line_ends), .begin = hd_begin, .write = hd_write, \
        .commit = hd_commit, .cancel = hd_cancel,                   \
        .user_exists = hd_user_exists, .describe = hd_describe,     \
        .free = hd_free,                                            \
    }

static const pps_deliverer_class host_class_lf = HOST_CLASS(PPS_DELIVERER_LF);
static const pps_deliverer_class host_class_crlf =
    HOST_CLASS(PPS_DELIVERER_CRLF);

int host_deliver_new(pps_deliver **out, const pps_plugin_host *host,
                     const char *profile)
{
    host_deliver *hd;
    int err;

    if (!(hd = calloc(1, sizeof(*hd))))
        return PPS_ENOMEM;
    hd->host = host;
    hd->profile = profile;
    err = pps_deliver_new_custom(out,
                                 (host->flags & PPS_PLUGIN_HOST_CRLF)
                                     ? &host_class_crlf
                                     : &host_class_lf,
                                 hd);
    if (err < 0)
        free(hd);
    return err;
}
