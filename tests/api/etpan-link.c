/*
 * etpan-link.c - libetpan, the test-only oracle, links in this build.
 *
 * Debian's libetpan.pc carries gcc-only link flags; meson.build keeps only
 * its library and compile flags so that clang, ASan and libFuzzer builds
 * can link the differential tests.  This proves it, and that the parser
 * answers as expected on a plain list.
 */
#include <libetpan/libetpan.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    static const char list[] = "Alice <alice@local.test>, bob@local.test";
    struct mailimf_address_list *result = NULL;
    size_t index = 0;
    int count;

    if (mailimf_address_list_parse(list, strlen(list), &index, &result) !=
        MAILIMF_NO_ERROR) {
        fprintf(stderr, "libetpan refused a plain address list\n");
        return 1;
    }
    count = clist_count(result->ad_list);
    mailimf_address_list_free(result);
    if (count != 2) {
        fprintf(stderr, "libetpan found %d addresses, expected 2\n", count);
        return 1;
    }
    return 0;
}
