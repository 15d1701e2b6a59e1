/*
 * test-address.c - the address list parser, item by item: what comes
 * back and how it is marked.
 */
#include "../helpers/pps-test.h"

#include <stdio.h>

#include "route/address.h"

/* Each item as "local@domain", prefixed with a mark when unusable:
 * "!name " display name, "!none " no address / no domain, "!bad ",
 * "!long "; items separated by " | ". */
static void describe(char *buf, size_t size, const char *value, size_t len)
{
    pps__addr_parser p;
    pps__addr a;
    size_t n = 0;

    buf[0] = '\0';
    pps__addr_parser_init(&p, value, len);
    while (pps__addr_parser_next(&p, &a) == 1 && n < size) {
        const char *mark = "";
        if (a.flags & PPS__ADDR_DISPLAY_NAME)
            mark = "!name ";
        else if (a.flags & (PPS__ADDR_NO_ADDRESS | PPS__ADDR_NO_DOMAIN))
            mark = "!none ";
        else if (a.flags & PPS__ADDR_TOO_LONG)
            mark = "!long ";
        else if (a.flags & PPS__ADDR_BAD)
            mark = "!bad ";
        n += (size_t)snprintf(buf + n, size - n, "%s%s%.*s@%.*s",
                              n ? " | " : "", mark, (int)a.local_len, a.local,
                              (int)a.domain_len, a.domain);
    }
    pps__addr_parser_deinit(&p);
}

static const struct {
    const char *value, *want;
} cases[] = {
    {"alice@local.test", "alice@local.test"},
    {"Alice <Alice@Local.Test>", "alice@local.test"},
    {"\"Alice Example\" <alice@x>, bob@y", "alice@x | bob@y"},
    {"alice@x (Alice (the (boss)))", "alice@x"},
    {"team: a@x, b@y;, c@z", "a@x | b@y | c@z"},
    {"undisclosed-recipients:;", ""},
    {"<@relay1,@relay2:user@host>", "user@host"},
    {"<@relay1 user@host>", "!bad @"},
    {"a@x,,b@y", "a@x | b@y"},
    {"a@x b@y", "a@x | b@y"},
    {"user @ host . com", "user@host.com"},
    {"first . last @ x", "first.last@x"},
    {"Smith, John <j@x>", "!none smith@ | j@x"},
    {"kate@local <kate@other>", "!name kate@local | kate@other"},
    {"\"kate@local\" <kate@other>", "kate@other"},
    {"=?utf-8?q?a@b?= <c@d>", "c@d"},
    {"=?utf-8?q?a?=@b", "!bad @b"},
    {"\"bob \"@x", "bob@x"},
    {"\"a\\\"b\"@x", "a\"b@x"},
    {"<alice>", "!none alice@"},
    {"<>", "!none @"},
    {"alice", "!none alice@"},
    {"alice@", "!none alice@"},
    {"@x", "!bad @x"},
    {"a@x.", "a@x"},
    {"a@[192.0.2.1]", "a@[192.0.2.1]"},
    {"Alice <alice@x", "alice@x"},
    {"Alice <alice@x, bob@y", "alice@x | bob@y"},
    {"\"Smith, Alice <alice@x>, bob@y", "!none smith@ | alice@x | bob@y"},
    {"a@x>, <<b@y>>", "a@x | b@y"},
    {"j\xc3\xb6rg@x", "j\xc3\xb6rg@x"},
    {"a:b:c@x;;d@y", "c@x | d@y"},
    {"(unterminated comment a@x", ""},
    {"a@x (unterminated", "a@x"},
    {"john.@x", "john@x"},
    {",,,;;;:::<<<>>>@@@", "!none @ | !bad @ | !bad @ | !bad @"},
};

static void test_items(void **state)
{
    char got[1024];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].value);
        char *v = pps_test_exact_copy(cases[i].value, len);
        describe(got, sizeof(got), v, len);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("row %zu [%s]: got [%s], want [%s]", i, cases[i].value,
                     got, cases[i].want);
        free(v);
    }
}

static unsigned int first_flags(const char *value)
{
    pps__addr_parser p;
    pps__addr a;

    pps__addr_parser_init(&p, value, strlen(value));
    assert_int_equal(pps__addr_parser_next(&p, &a), 1);
    pps__addr_parser_deinit(&p);
    return a.flags;
}

static void test_flags(void **state)
{
    (void)state;
    assert_true(first_flags("<@r:u@h>") & PPS__ADDR_ROUTE);
    assert_true(first_flags("<u@h>") & PPS__ADDR_ANGLE);
    assert_false(first_flags("u@h") & PPS__ADDR_ANGLE);
    assert_true(first_flags("\"u\"@h") & PPS__ADDR_QUOTED);
    assert_true(first_flags("u @h") & PPS__ADDR_OBSOLETE);
    assert_false(first_flags("u@h") & PPS__ADDR_OBSOLETE);
    assert_true(first_flags("g: u@h;") & PPS__ADDR_IN_GROUP);
    assert_true(first_flags("\xc3\xa9@h") & PPS__ADDR_8BIT);
}

static void test_raw_text(void **state)
{
    static const char v[] = "  Alice <alice@x> , bob@y (Bob)";
    pps__addr_parser p;
    pps__addr a;

    (void)state;
    pps__addr_parser_init(&p, v, sizeof(v) - 1);
    assert_int_equal(pps__addr_parser_next(&p, &a), 1);
    assert_int_equal(a.raw_len, strlen("Alice <alice@x>"));
    assert_memory_equal(a.raw, "Alice <alice@x>", a.raw_len);
    assert_int_equal(pps__addr_parser_next(&p, &a), 1);
    assert_int_equal(a.raw_len, strlen("bob@y"));
    assert_memory_equal(a.raw, "bob@y", a.raw_len);
    assert_int_equal(pps__addr_parser_next(&p, &a), 0);
    assert_int_equal(pps__addr_parser_next(&p, &a), 0);
    pps__addr_parser_deinit(&p);
}

static void test_caps(void **state)
{
    char v[PPS__ADDR_LOCAL_MAX + 40], got[1024];
    size_t len;

    (void)state;
    memset(v, 'a', PPS__ADDR_LOCAL_MAX);
    memcpy(v + PPS__ADDR_LOCAL_MAX, "@x", 2);
    describe(got, sizeof(got), v, PPS__ADDR_LOCAL_MAX + 2);
    assert_int_equal(strncmp(got, "aaaa", 4), 0); /* exactly the cap: kept */
    memset(v, 'a', PPS__ADDR_LOCAL_MAX + 1);
    memcpy(v + PPS__ADDR_LOCAL_MAX + 1, "@x", 2);
    len = PPS__ADDR_LOCAL_MAX + 3;
    describe(got, sizeof(got), v, len);
    assert_int_equal(strncmp(got, "!long ", 6), 0);
}

/* Deep nesting and long junk cost linear time and no stack. */
static void test_hostile_input(void **state)
{
    size_t len = 200000, i;
    char *v = malloc(len);
    pps__addr_parser p;
    pps__addr a;
    size_t items = 0;

    (void)state;
    assert_non_null(v);
    memset(v, '(', len / 2);
    memset(v + len / 2, ')', len / 2);
    pps__addr_parser_init(&p, v, len);
    while (pps__addr_parser_next(&p, &a) == 1)
        items++;
    assert_int_equal(items, 0);
    /* unclosed quotes everywhere: every one is a stray character */
    for (i = 0; i < len; i++)
        v[i] = "\"\\a@b "[i % 6];
    pps__addr_parser_init(&p, v, len);
    while (pps__addr_parser_next(&p, &a) == 1)
        items++;
    assert_true(items > 0);
    /* "a@b " repeated without commas */
    for (i = 0; i < len; i++)
        v[i] = "a@b "[i % 4];
    items = 0;
    pps__addr_parser_init(&p, v, len);
    while (pps__addr_parser_next(&p, &a) == 1)
        items++;
    assert_int_equal(items, len / 4);
    free(v);
}

/* Every prefix of a messy list, in an exact-size buffer. */
static void test_growing_prefix(void **state)
{
    static const char v[] =
        "\"A, B\" <@r:a@x>, (c (d)) b @ y . z,, team: =?utf-8?q?x?= <c@w>;"
        " [1.2.3.4] d@[e] \"f\\\"g\"@h <i@j";
    char got[2048];
    size_t n;

    (void)state;
    for (n = 0; n <= sizeof(v) - 1; n++) {
        char *prefix = pps_test_exact_copy(v, n);
        describe(got, sizeof(got), prefix, n);
        free(prefix);
    }
    describe(got, sizeof(got), v, sizeof(v) - 1);
    /* the literal joins d's item; f"g@h is the name of <i@j> */
    assert_string_equal(got, "a@x | b@y.z | c@w | d@[e] | !name f\"g@h | "
                             "i@j");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_items),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_raw_text),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_hostile_input),
        cmocka_unit_test(test_growing_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
