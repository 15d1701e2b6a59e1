/*
 * cmd-run.c - pps fetch | route | check | status: the commands that use
 * profiles rather than edit them.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* SIGINT/SIGTERM during `pps fetch`: finish the message in hand, QUIT. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void catch_stop_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* --- fetch ------------------------------------------------------------------
 */

static int fetch_one(cli *c, const char *name)
{
    pps_poll_report r = PPS_POLL_REPORT_INIT;
    pps_profile *p;
    int status = 0, err;

    if (!(p = cli_load_profile(c, name, &status)))
        return status;
    err = pps_runtime_poll(&r, c->rt, p, &stop_requested, 1);
    pps_profile_free(p);
    if (err < 0) {
        fprintf(stderr, "pps: %s: %s\n", name, r.text);
        return err == PPS_ECONFIG ? EXIT_USAGE : EXIT_RUNTIME;
    }
    printf("%s: %lu listed, %lu delivered, %lu deleted", name, r.listed,
           r.delivered, r.deleted);
    if (r.kept_too_big)
        printf(", %lu too big (kept)", r.kept_too_big);
    if (r.failed_temp)
        printf(", %lu to retry", r.failed_temp);
    printf("\n");
    return EXIT_OK;
}

int cmd_fetch(cli *c, int argc, char **argv)
{
    pps_profile_names names = {NULL, 0};
    int i, err, status = EXIT_OK, one;
    size_t k;

    if (!cli_runtime(c))
        return EXIT_USAGE;
    catch_stop_signals();
    if (argc > 0) {
        for (i = 0; i < argc && !stop_requested; i++)
            if ((one = fetch_one(c, argv[i])) > status)
                status = one;
        return status;
    }
    /* Every enabled profile. */
    if ((err = pps_profile_store_list(&names, pps_runtime_profiles(c->rt))) < 0)
        return cli_fail(err, c->dir);
    for (k = 0; k < names.count && !stop_requested; k++) {
        pps_profile *p = cli_load_profile(c, names.names[k], &one);
        pps_profile_settings s = PPS_PROFILE_SETTINGS_INIT;

        if (!p) {
            status = one > status ? one : status;
            continue;
        }
        pps_profile_get_settings(&s, p);
        pps_profile_free(p);
        if (!s.enabled)
            continue;
        if ((one = fetch_one(c, names.names[k])) > status)
            status = one;
    }
    pps_profile_names_free(&names);
    return status;
}

/* --- route ------------------------------------------------------------------
 */

/* Read at most `limit` bytes of FILE (or stdin): only the header block
 * matters, and it is bounded. */
static int read_head(const char *path, size_t limit, char **out, size_t *len)
{
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : 0;
    char *buf;
    ssize_t n;

    if (fd < 0)
        return cli_usage("%s: %s", path, strerror(errno));
    if (!(buf = malloc(limit ? limit : 1))) {
        if (path)
            close(fd);
        fprintf(stderr, "pps: out of memory\n");
        return EXIT_RUNTIME;
    }
    *len = 0;
    while (*len < limit && (n = read(fd, buf + *len, limit - *len)) > 0)
        *len += (size_t)n;
    if (path)
        close(fd);
    *out = buf;
    return 0;
}

int cmd_route(cli *c, int argc, char **argv)
{
    pps_route_result *res = NULL;
    pps_profile *p;
    pps_profile_settings s = PPS_PROFILE_SETTINGS_INIT;
    const char *name = NULL, *file = NULL, *why;
    char *msg = NULL;
    size_t len = 0, i;
    int explain = 0, status = 0, err;

    for (i = 0; i < (size_t)argc; i++) {
        if (strcmp(argv[i], "--explain") == 0)
            explain = 1;
        else if (!name)
            name = argv[i];
        else if (!file)
            file = argv[i];
        else
            return cli_usage("route takes NAME [FILE] [--explain]");
    }
    if (!name)
        return cli_usage("route needs a profile NAME");
    if (!(p = cli_load_profile(c, name, &status)))
        return status;
    pps_profile_get_settings(&s, p);
    /* One byte past the limit tells the router the block was cut. */
    if ((status = read_head(file, (size_t)s.header_limit + 1, &msg, &len)) != 0)
        goto done;
    if ((err = pps_runtime_route(&res, c->rt, p, msg, len)) < 0) {
        status = cli_fail(err, name);
        goto done;
    }
    for (i = 0; i < pps_route_result_count(res); i++)
        printf("%s\n", pps_route_result_recipient(res, i));
    if (explain && pps_route_result_explain(&why, res) == 0)
        fputs(why, stderr);
done:
    pps_route_result_free(res);
    free(msg);
    pps_profile_free(p);
    return status;
}

/* --- check ------------------------------------------------------------------
 */

int cmd_check(cli *c, int argc, char **argv)
{
    static const struct {
        unsigned int bit;
        const char *name;
    } capas[] = {
        {PPS_CAPA_TOP, "TOP"},
        {PPS_CAPA_UIDL, "UIDL"},
        {PPS_CAPA_USER, "USER"},
        {PPS_CAPA_SASL, "SASL"},
        {PPS_CAPA_STLS, "STLS"},
        {PPS_CAPA_PIPELINING, "PIPELINING"},
        {PPS_CAPA_RESP_CODES, "RESP-CODES"},
        {PPS_CAPA_AUTH_RESP_CODE, "AUTH-RESP-CODE"},
        {PPS_CAPA_LOGIN_DELAY, "LOGIN-DELAY"},
        {PPS_CAPA_EXPIRE, "EXPIRE"},
        {PPS_CAPA_APOP, "APOP"},
    };
    pps_check_report r = PPS_CHECK_REPORT_INIT;
    pps_profile *p;
    size_t i;
    int status = 0, err;

    if (argc != 1)
        return cli_usage("check needs exactly one profile NAME");
    if (!(p = cli_load_profile(c, argv[0], &status)))
        return status;
    err = pps_runtime_check(&r, c->rt, p);
    pps_profile_free(p);
    if (err < 0)
        return cli_fail(err, argv[0]);
    printf("%s: ok: logged in with %s over %s\n", argv[0], r.auth_method,
           r.tls ? "TLS" : "an unencrypted connection");
    printf("capabilities:");
    for (i = 0; i < sizeof(capas) / sizeof(capas[0]); i++)
        if (r.capabilities & capas[i].bit)
            printf(" %s", capas[i].name);
    printf("\n");
    if (r.sasl[0])
        printf("sasl: %s\n", r.sasl);
    if (r.login_delay >= 0)
        printf("login-delay: %ld s\n", r.login_delay);
    printf("messages: %u (%llu octets)\n", r.messages, r.octets);
    return EXIT_OK;
}

/* --- status ------------------------------------------------------------------
 */

static void format_time(char *buf, size_t size, time_t t)
{
    struct tm tm;

    if (t == 0) {
        snprintf(buf, size, "never");
        return;
    }
    localtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

int cmd_status(cli *c, int argc, char **argv)
{
    pps_profile_names names = {NULL, 0};
    size_t k;
    int err, status = EXIT_OK;

    (void)argv;
    if (argc != 0)
        return cli_usage("status takes no arguments");
    if (!cli_runtime(c))
        return EXIT_USAGE;
    if ((err = pps_profile_store_list(&names, pps_runtime_profiles(c->rt))) < 0)
        return cli_fail(err, c->dir);
    for (k = 0; k < names.count; k++) {
        pps_ledger_status st = PPS_LEDGER_STATUS_INIT;
        char when[32], next[32];
        pps_profile *p = cli_load_profile(c, names.names[k], &status);

        if (!p)
            continue;
        err = pps_runtime_status(&st, c->rt, p);
        pps_profile_free(p);
        if (err == PPS_ENOTFOUND) {
            printf("%s: never polled\n", names.names[k]);
            continue;
        }
        if (err < 0) {
            status = cli_fail(err, names.names[k]);
            continue;
        }
        format_time(when, sizeof(when), st.finished);
        if (st.result == 0)
            printf("%s: last poll %s: ok: %lu listed, %lu delivered, %lu "
                   "deleted, %lu failed",
                   names.names[k], when, st.listed, st.delivered, st.deleted,
                   st.failed);
        else
            printf("%s: last poll %s: FAILED: %s", names.names[k], when,
                   st.text);
        if (st.consecutive_failures) {
            format_time(next, sizeof(next), st.next_allowed);
            printf("; %lu failure(s) in a row, next poll not before %s",
                   st.consecutive_failures, next);
        }
        printf("\n");
    }
    pps_profile_names_free(&names);
    return status;
}
