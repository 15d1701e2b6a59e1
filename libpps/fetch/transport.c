/*
 * transport.c - what every transport shares: option defaults and free.
 */
#include "pps/transport.h"

void pps_tls_options_init(pps_tls_options *opts)
{
    pps_tls_options defaults = PPS_TLS_OPTIONS_INIT;

    if (opts)
        *opts = defaults;
}

void pps_transport_free(pps_transport *t)
{
    if (t == NULL)
        return;
    if (t->close)
        t->close(t);
    if (t->free)
        t->free(t);
}
