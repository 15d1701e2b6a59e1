/*
 * fuzz/server - the server string parser.
 *
 * Properties beyond "no crash": a string that parses formats to a
 * canonical form that parses to the same address, and a refusal always
 * comes with a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pps/errors.h"
#include "pps/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A failed property: crash loudly so both libFuzzer and replay notice. */
#define CHECK(cond)           \
    do {                      \
        if (!(cond))          \
            __builtin_trap(); \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pps_server_address a = PPS_SERVER_ADDRESS_INIT;
    pps_server_address b = PPS_SERVER_ADDRESS_INIT;
    char canonical[PPS_SERVER_HOST_MAX + 64];
    char *text = malloc(size + 1);

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    if (pps_server_parse(&a, text) == 0) {
        CHECK(a.port >= 1 && a.port <= 65535);
        CHECK(strlen(a.host) > 0 && strlen(a.host) <= PPS_SERVER_HOST_MAX);
        CHECK(pps_server_format(canonical, sizeof(canonical), &a) > 0);
        CHECK(pps_server_parse(&b, canonical) == 0);
        CHECK(memcmp(&a, &b, sizeof(a)) == 0);
    } else {
        CHECK(pps_error_last()->code == PPS_ECONFIG);
        CHECK(pps_error_last()->message[0] != '\0');
    }
    free(text);
    return 0;
}
