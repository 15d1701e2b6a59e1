/*
 * runtime.c - the parts a host needs, made from one configuration folder.
 *
 * Hosts stay thin: they parse their arguments and call these, so the CLI,
 * the service, the plug-in and the bindings all read pps.conf the same way.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/internal.h"
#include "pps/ledger_store.h"
#include "pps/profile_store.h"
#include "pps/transport.h"
#include "poll-internal.h"

/* The SMTP AUTH password file holds one short line. */
#define AUTH_PASSWORD_MAX 1024

struct pps_runtime {
    pps_config *config;
    pps_profile_store *profiles;
    pps_ledger_store *ledgers;
    pps_deliver_options deliver_options; /* strings borrowed from config */
    char *auth_password;                 /* wiped on free */
};

static const char *setting(const pps_runtime *rt, const char *key)
{
    const char *v = pps_config_get(rt->config, "delivery", key);

    return v && *v ? v : NULL;
}

/* Booleans of pps.conf come back in canonical form: "yes" or "no". */
static int is_yes(const char *value)
{
    return value && strcmp(value, "yes") == 0;
}

/* The first line of [delivery] auth_password_file, which others may not
 * read (like a profile's password_file). */
static int read_auth_password(pps_runtime *rt, const char *path)
{
    char buf[AUTH_PASSWORD_MAX + 1];
    struct stat st;
    ssize_t n;
    size_t len = 0;
    int fd, err = 0;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
        return pps__error_set(PPS_ECONFIG,
                              "pps.conf: [delivery] auth_password_file %s: %s",
                              path, strerror(errno));
    if (fstat(fd, &st) == 0 && (st.st_mode & 077)) {
        close(fd);
        return pps__error_set(PPS_ECONFIG,
                              "pps.conf: [delivery] auth_password_file %s may "
                              "be read by others: chmod 600 %s",
                              path, path);
    }
    while (len < AUTH_PASSWORD_MAX &&
           (n = read(fd, buf + len, AUTH_PASSWORD_MAX - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!(rt->auth_password = pps__strdup(buf)))
        err = pps__error_oom();
    pps__wipe(buf, sizeof(buf));
    return err;
}

int pps_runtime_new(pps_runtime **out, const char *dir)
{
    pps_runtime *rt;
    pps_deliver *probe = NULL;
    const char *state_dir, *pwfile, *method;
    int err;

    if (!out || !dir)
        return pps__error_set(PPS_EINVAL, "pps_runtime_new: bad argument");
    *out = NULL;
    if (!(rt = pps__calloc(1, sizeof(*rt))))
        return pps__error_oom();
    if ((err = pps_config_load(&rt->config, dir)) < 0 ||
        (err = pps_profile_store_open_dir(&rt->profiles, dir)) < 0)
        goto fail;
    state_dir = pps_config_get(rt->config, "service", "state_dir");
    if ((err = pps_ledger_store_open_dir(&rt->ledgers, state_dir)) < 0)
        goto fail;

    pps_deliver_options_init(&rt->deliver_options);
    method = setting(rt, "method");
    rt->deliver_options.method = method;
    rt->deliver_options.path = setting(rt, "path");
    rt->deliver_options.server = setting(rt, "server");
    rt->deliver_options.command = setting(rt, "command");
    rt->deliver_options.username = setting(rt, "auth_user");
    rt->deliver_options.default_sender = setting(rt, "sender");
    rt->deliver_options.helo_name = setting(rt, "helo_name");
    rt->deliver_options.tls_ca_file = setting(rt, "tls_ca_file");
    rt->deliver_options.starttls = is_yes(setting(rt, "starttls"));
    rt->deliver_options.shell = is_yes(setting(rt, "shell"));
    rt->deliver_options.allow_plaintext_auth =
        is_yes(setting(rt, "allow_plaintext_auth"));
    if ((pwfile = setting(rt, "auth_password_file")) != NULL) {
        if ((err = read_auth_password(rt, pwfile)) < 0)
            goto fail;
        rt->deliver_options.password = rt->auth_password;
    }
    /* Check [delivery] now, so a bad setting is reported at start. */
    if ((err = pps_deliver_new(&probe, &rt->deliver_options)) < 0)
        goto fail;
    pps_deliver_free(probe);
    *out = rt;
    return 0;
fail:
    pps_runtime_free(rt);
    return err;
}

void pps_runtime_free(pps_runtime *rt)
{
    if (!rt)
        return;
    pps_ledger_store_free(rt->ledgers);
    pps_profile_store_free(rt->profiles);
    pps_config_free(rt->config);
    if (rt->auth_password) {
        pps__wipe(rt->auth_password, strlen(rt->auth_password));
        pps__free(rt->auth_password);
    }
    pps__free(rt);
}

const pps_config *pps_runtime_config(const pps_runtime *rt)
{
    return rt ? rt->config : NULL;
}

pps_profile_store *pps_runtime_profiles(pps_runtime *rt)
{
    return rt ? rt->profiles : NULL;
}

pps_ledger_store *pps_runtime_ledgers(pps_runtime *rt)
{
    return rt ? rt->ledgers : NULL;
}

int pps_runtime_deliver_new(pps_deliver **out, const pps_runtime *rt)
{
    if (!out || !rt)
        return pps__error_set(PPS_EINVAL,
                              "pps_runtime_deliver_new: bad argument");
    return pps_deliver_new(out, &rt->deliver_options);
}

int pps_runtime_poll(pps_poll_report *report, pps_runtime *rt,
                     const pps_profile *profile, volatile sig_atomic_t *stop,
                     int ignore_backoff)
{
    pps_poll_options o = PPS_POLL_OPTIONS_INIT;
    pps_deliver *d = NULL;
    int err;

    if (!rt || !profile)
        return pps__error_set(PPS_EINVAL, "pps_runtime_poll: bad argument");
    if ((err = pps_runtime_deliver_new(&d, rt)) < 0)
        return err;
    o.deliver = d;
    o.ledger_store = rt->ledgers;
    o.config = rt->config;
    o.stop = stop;
    o.ignore_backoff = ignore_backoff;
    err = pps_poll_run(report, profile, &o);
    pps_deliver_free(d);
    return err;
}

int pps_runtime_status(pps_ledger_status *out, pps_runtime *rt,
                       const pps_profile *profile)
{
    pps_profile_settings s = PPS_PROFILE_SETTINGS_INIT;
    pps_ledger_options lo = PPS_LEDGER_OPTIONS_INIT;
    pps_ledger *l = NULL;
    int err;

    if (!out || !rt || !profile)
        return pps__error_set(PPS_EINVAL, "pps_runtime_status: bad argument");
    if ((err = pps_profile_get_settings(&s, profile)) < 0)
        return err;
    if (!s.user || !s.server.host[0])
        return pps__error_set(PPS_ECONFIG, "profile %s: no server or user",
                              pps_profile_name(profile));
    lo.read_only = 1;
    lo.profile = pps_profile_name(profile);
    if ((err = pps_ledger_open(&l, rt->ledgers, s.server.host, s.user, &lo)) <
        0)
        return err;
    err = pps_ledger_status_get(out, l);
    pps_ledger_free(l);
    return err;
}

int pps_poll_route(pps_route_result **out, const pps_profile *profile,
                   const pps_poll_options *opts, const void *message,
                   size_t len)
{
    pps_poll_report report = PPS_POLL_REPORT_INIT;
    pps_poll_options o;
    poll_ctx ctx;
    int err;

    if (out)
        *out = NULL;
    if (!out || !profile || !opts ||
        opts->version != PPS_POLL_OPTIONS_VERSION || !opts->deliver ||
        (!message && len))
        return pps__error_set(PPS_EINVAL, "pps_poll_route: bad argument");
    /* The router's duplicate check asks the ledger, which a route of one
     * message in memory must not touch. */
    o = *opts;
    o.ledger_store = NULL;
    if ((err = pps__poll_ctx_init(&ctx, profile, &o, &report)) == 0 &&
        (err = pps__poll_policy_init(&ctx)) == 0)
        err = pps_route_buffer(out, &ctx.policy, message, len,
                               (size_t)ctx.set.header_limit);
    pps__poll_policy_free(&ctx);
    return err;
}

int pps_runtime_route(pps_route_result **out, pps_runtime *rt,
                      const pps_profile *profile, const void *message,
                      size_t len)
{
    pps_poll_options o = PPS_POLL_OPTIONS_INIT;
    int err;

    if (!out || !rt || !profile || (!message && len))
        return pps__error_set(PPS_EINVAL, "pps_runtime_route: bad argument");
    *out = NULL;
    if ((err = pps_runtime_deliver_new(&o.deliver, rt)) < 0)
        return err;
    o.config = rt->config;
    err = pps_poll_route(out, profile, &o, message, len);
    pps_deliver_free(o.deliver);
    return err;
}

int pps_runtime_check(pps_check_report *report, pps_runtime *rt,
                      const pps_profile *profile)
{
    pps_poll_options o = PPS_POLL_OPTIONS_INIT;
    pps_poll_report poll_report = PPS_POLL_REPORT_INIT;
    pps_transport *own = NULL;
    char *secret = NULL;
    poll_ctx ctx;
    int err;

    if (!report || report->version != PPS_CHECK_REPORT_VERSION || !rt ||
        !profile)
        return pps__error_set(PPS_EINVAL, "pps_runtime_check: bad argument");
    if ((err = pps_runtime_deliver_new(&o.deliver, rt)) < 0)
        return err;
    o.ledger_store = rt->ledgers;
    if ((err = pps__poll_ctx_init(&ctx, profile, &o, &poll_report)) < 0 ||
        (err = pps_profile_get_secret(&secret, NULL, profile)) < 0)
        goto done;
    err = pps__poll_connect(&ctx, &own, secret);
    if (ctx.session) {
        report->capabilities = pps_session_capabilities(ctx.session);
        report->login_delay = pps_session_login_delay(ctx.session);
        pps__snprintf(report->sasl, sizeof(report->sasl), "%s",
                      pps_session_sasl_mechanisms(ctx.session));
        pps__snprintf(report->auth_method, sizeof(report->auth_method), "%s",
                      pps_session_auth_method(ctx.session));
        report->tls = own && own->is_tls(own);
    }
    if (err == 0)
        err = pps_session_stat(ctx.session, &report->messages, &report->octets);
    if (err == 0)
        err = pps_session_quit(ctx.session);
done:
    if (err < 0) {
        /* Keep the failure's detail over what the clean-up may set. */
        pps__poll_fail(&ctx, err);
    }
    pps_session_free(ctx.session);
    pps_transport_free(own);
    pps_secret_free(secret);
    pps_deliver_free(o.deliver);
    if (err < 0)
        pps__error_set(err, "%s", poll_report.text);
    return err;
}
