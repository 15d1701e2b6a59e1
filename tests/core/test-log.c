/*
 * test-log.c - the log callback: levels, formatting, off by default.
 */
#include "../helpers/pps-test.h"

#include <stdio.h>

#include "pps/log.h"
#include "core/internal.h"

typedef struct captured {
    int calls;
    pps_log_level level;
    char profile[64];
    char message[4096];
} captured;

static void capture(pps_log_level level, const char *profile,
                    const char *message, void *payload)
{
    captured *c = payload;

    c->calls++;
    c->level = level;
    snprintf(c->profile, sizeof(c->profile), "%s", profile ? profile : "-");
    snprintf(c->message, sizeof(c->message), "%s", message);
}

static void test_nothing_is_logged_by_default(void **state)
{
    (void)state;
    assert_false(pps__log_enabled(PPS_LOG_ERROR));
    pps__log(PPS_LOG_ERROR, NULL, "goes nowhere"); /* must not crash */
}

static void test_levels_and_payload(void **state)
{
    captured c = {0};

    (void)state;
    pps_log_set(capture, PPS_LOG_INFO, &c);
    pps__log(PPS_LOG_DEBUG, "p", "hidden %d", 1);
    assert_int_equal(c.calls, 0);
    assert_false(pps__log_enabled(PPS_LOG_DEBUG));
    pps__log(PPS_LOG_WARN, "office", "polled %d messages", 3);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.level, PPS_LOG_WARN);
    assert_string_equal(c.profile, "office");
    assert_string_equal(c.message, "polled 3 messages");
    pps__log(PPS_LOG_INFO, NULL, "no profile");
    assert_string_equal(c.profile, "-");
    pps_log_set(NULL, PPS_LOG_TRACE, NULL);
    pps__log(PPS_LOG_ERROR, NULL, "off again");
    assert_int_equal(c.calls, 2);
}

static void test_long_lines_are_cut_not_overflowed(void **state)
{
    captured c = {0};
    char big[5000];

    (void)state;
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    pps_log_set(capture, PPS_LOG_TRACE, &c);
    pps__log(PPS_LOG_TRACE, NULL, "%s", big);
    assert_int_equal(c.calls, 1);
    assert_true(strlen(c.message) < 4096);
    assert_true(strlen(c.message) > 1000);
    pps_log_set(NULL, PPS_LOG_ERROR, NULL);
}

static void test_level_names(void **state)
{
    (void)state;
    assert_string_equal(pps_log_level_name(PPS_LOG_ERROR), "error");
    assert_string_equal(pps_log_level_name(PPS_LOG_WARN), "warning");
    assert_string_equal(pps_log_level_name(PPS_LOG_TRACE), "trace");
    assert_string_equal(pps_log_level_name((pps_log_level)42), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_is_logged_by_default),
        cmocka_unit_test(test_levels_and_payload),
        cmocka_unit_test(test_long_lines_are_cut_not_overflowed),
        cmocka_unit_test(test_level_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
