/*
 * test-manpage.c - docs/pps.conf.5 describes every key of the code's
 * tables, in the right section, with the code's default.
 *
 *     test-profile-manpage PATH/TO/pps.conf.5
 */
#include "../helpers/pps-test.h"

#include <stdio.h>

#include "profile/profile-internal.h"

static const char *man_path;
static char *man;

/* The text from `marker` to the next line starting with `.SH` or `.SS`
 * (`.SH` only when whole_section), as a new string. */
static char *region(const char *marker, int whole_section)
{
    const char *start = strstr(man, marker), *end;
    char *copy;

    if (!start)
        fail_msg("%s: no \"%s\"", man_path, marker);
    start += strlen(marker);
    end = strstr(start, "\n.SH ");
    if (!whole_section) {
        const char *ss = strstr(start, "\n.SS ");
        if (ss && (!end || ss < end))
            end = ss;
    }
    if (!end)
        end = start + strlen(start);
    copy = strndup(start, (size_t)(end - start));
    assert_non_null(copy);
    return copy;
}

static void check_keys(const char *where, const pps__key *keys, size_t count)
{
    char *text = region(where, strncmp(where, ".SH", 3) == 0);
    size_t i;

    for (i = 0; i < count; i++) {
        char head[96], want[160], *entry, *next;
        const char *def = keys[i].default_value;

        snprintf(head, sizeof(head), "\n.TP\n.B %s\n", keys[i].name);
        if (!(entry = strstr(text, head)))
            fail_msg("%s: %s has no entry \".B %s\"", man_path, where,
                     keys[i].name);
        entry += strlen(head);
        next = strstr(entry, "\n.TP");
        if (next)
            *next = '\0';
        if (def && def[0])
            snprintf(want, sizeof(want), "(default \\fB%s\\fR)", def);
        else if (def)
            snprintf(want, sizeof(want), "(default: ");
        else
            want[0] = '\0';
        if (!strstr(entry, want))
            fail_msg("%s: %s: key %s lacks \"%s\"", man_path, where,
                     keys[i].name, want);
        if (next)
            *next = '\n';
    }
    free(text);
}

static void test_every_key(void **state)
{
    size_t s;

    (void)state;
    check_keys(".SH PROFILE KEYS", pps__profile_keys, pps__profile_key_count);
    for (s = 0; s < pps__config_section_count; s++) {
        char marker[64];
        snprintf(marker, sizeof(marker), ".SS [%s]",
                 pps__config_sections[s].name);
        check_keys(marker, pps__config_sections[s].keys,
                   pps__config_sections[s].count);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_key),
    };
    FILE *f;
    long n;

    if (argc != 2)
        return 2;
    man_path = argv[1];
    if (!(f = fopen(man_path, "rb")) || fseek(f, 0, SEEK_END) != 0 ||
        (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        return perror(man_path), 2;
    man = calloc(1, (size_t)n + 1);
    if (!man || fread(man, 1, (size_t)n, f) != (size_t)n)
        return 2;
    fclose(f);
    n = cmocka_run_group_tests(tests, NULL, NULL);
    free(man);
    return (int)n;
}
