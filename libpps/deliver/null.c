/*
 * libpps/deliver/null.c - accept and discard (tests and benchmarks).
 *
 * Every recipient is "delivered" at commit; nothing is kept.
 * pps_deliver_counts() tells how many messages and bytes went by.
 */
#include "core/internal.h"
#include "deliver/deliver-int.h"

/* The payload is unused; any non-NULL address does. */
static char null_payload;

static int null_begin(pps_deliverer_txn *txn, void *payload)
{
    (void)txn;
    (void)payload;
    return 0;
}

static int null_write(pps_deliverer_txn *txn, const char *data, size_t len,
                      void *payload)
{
    (void)txn;
    (void)data;
    (void)len;
    (void)payload;
    return 0;
}

static int null_commit(pps_deliverer_txn *txn, void *payload)
{
    size_t i;

    (void)payload;
    for (i = 0; i < pps_deliverer_txn_count(txn); i++)
        if (pps_deliverer_txn_outcome(txn, i) == PPS_DELIVER_PENDING)
            pps_deliverer_txn_set(txn, i, PPS_DELIVER_DELIVERED, PPS_OK, 0,
                                  "discarded", 9);
    return 0;
}

static void null_abort(pps_deliverer_txn *txn, void *payload)
{
    (void)txn;
    (void)payload;
}

static void null_describe(char *buf, size_t size, void *payload)
{
    (void)payload;
    pps__snprintf(buf, size, "null (discards every message)");
}

static void null_free(void *payload)
{
    (void)payload;
}

static int null_open(void **payload, const pps_deliver_options *o)
{
    (void)o;
    *payload = &null_payload;
    return 0;
}

static const pps_deliverer_class null_class = {
    .version = PPS_DELIVERER_CLASS_VERSION,
    .name = "null",
    .flags = 0,
    .begin = null_begin,
    .write = null_write,
    .commit = null_commit,
    .cancel = null_abort,
    .user_exists = NULL,
    .describe = null_describe,
    .free = null_free,
};

const pps__deliver_builtin pps__deliver_null = {.cls = &null_class,
                                                .open = null_open};
