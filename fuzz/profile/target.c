/*
 * fuzz/profile - the profile and pps.conf text reader.
 *
 * Properties beyond "no crash": a text that parses serialises to a text
 * that parses to an equal profile, and serialising that gives the same
 * bytes (canonical form is a fixed point); a refusal always comes with a
 * message.  The same input is also read as pps.conf.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pps/errors.h"
#include "pps/profile.h"
#include "profile/profile-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A failed property: crash loudly so both libFuzzer and replay notice. */
#define CHECK(cond)           \
    do {                      \
        if (!(cond))          \
            __builtin_trap(); \
    } while (0)

static void profile_round_trip(const char *text, size_t size)
{
    pps_profile *p = NULL, *q = NULL;
    char *out1 = NULL, *out2 = NULL;
    size_t len1 = 0, len2 = 0;
    pps_profile_settings s = PPS_PROFILE_SETTINGS_INIT;

    if (pps_profile_parse(&p, "fuzz", text, size, "fuzz.conf") != 0) {
        CHECK(pps_error_last()->code != PPS_OK);
        CHECK(pps_error_last()->message[0] != '\0');
        CHECK(p == NULL);
        return;
    }
    CHECK(pps_profile_serialise(&out1, &len1, p, 0) == 0);
    CHECK(pps_profile_parse(&q, "fuzz", out1, len1, "round.conf") == 0);
    CHECK(pps__profile_equal(p, q));
    CHECK(pps_profile_serialise(&out2, &len2, q, 0) == 0);
    CHECK(len1 == len2 && memcmp(out1, out2, len1) == 0);
    /* The typed view and validation must cope with any parsed profile. */
    CHECK(pps_profile_get_settings(&s, p) == 0);
    (void)pps_profile_validate(p);
    pps_profile_text_free(out1);
    pps_profile_text_free(out2);
    pps_profile_free(p);
    pps_profile_free(q);
}

static void config_parse(const char *text, size_t size)
{
    pps_config *cfg = NULL;

    if (pps_config_parse(&cfg, "/fuzz", text, size, "pps.conf") != 0) {
        CHECK(pps_error_last()->message[0] != '\0');
        CHECK(cfg == NULL);
        return;
    }
    CHECK(pps_config_get(cfg, "delivery", "method") != NULL);
    CHECK(pps_config_max_parallel(cfg) >= 1);
    pps_config_free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    profile_round_trip((const char *)data, size);
    config_parse((const char *)data, size);
    return 0;
}
