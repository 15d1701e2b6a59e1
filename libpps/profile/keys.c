/*
 * keys.c - every key of a profile file and of pps.conf, in one place.
 *
 * The tables are the single source of truth: the parser, the serialiser
 * (canonical order = table order), pps_profile_key_at() for the hosts, and
 * the test that docs/pps.conf.5 documents every key all read them.
 */
#include <pthread.h>
#include <string.h>

#include "../core/internal.h"
#include "profile-internal.h"

#define MINUTE 60ull
#define HOUR   (60ull * MINUTE)
#define DAY    (24ull * HOUR)
#define KIB    1024ull
#define MIB    (1024ull * KIB)
#define GIB    (1024ull * MIB)

static const char *const tls_choices[] = {"required", "if-offered", "none",
                                          NULL};
static const char *const auth_choices[] = {"auto",    "user",        "apop",
                                           "plain",   "login",       "cram-md5",
                                           "xoauth2", "oauthbearer", NULL};
static const char *const unknown_user_choices[] = {"fallback", "skip", NULL};
static const char *const failure_choices[] = {"fallback", "keep", NULL};

/* Canonical order: what a reader of the file wants to see first. */
const pps__key pps__profile_keys[] = {
    {"server", PPS__T_SERVER, NULL, 0, 0, NULL, PPS__KEY_REQUIRED,
     "the remote POP3 server: host [port][s]"},
    {"user", PPS__T_TEXT, NULL, 1, 255, NULL, PPS__KEY_REQUIRED,
     "the remote account's user name"},
    {"password", PPS__T_SECRET, NULL, 1, 1024, NULL, PPS__KEY_SECRET,
     "the remote password, stored in the profile"},
    {"password_file", PPS__T_PATH, NULL, 0, 0, NULL, 0,
     "a file whose first line is the password"},
    {"password_command", PPS__T_COMMAND, NULL, 1, 2048, NULL, 0,
     "a command whose first output line is the password or OAuth2 token"},
    {"local_user", PPS__T_LOCALPART, NULL, 0, 0, NULL, PPS__KEY_REQUIRED,
     "the local user that gets the mail (and the fallback)"},
    {"local_domain", PPS__T_DOMAIN, NULL, 0, 0, NULL, PPS__KEY_REQUIRED,
     "the local domain"},
    {"distribute", PPS__T_BOOL, "no", 0, 0, NULL, 0,
     "deliver to the local users named in To and Cc"},
    {"local_domains", PPS__T_DOMAIN_LIST, "", 0, 0, NULL, PPS__KEY_EMPTY_OK,
     "more domains whose addresses are local when distributing"},
    {"aliases", PPS__T_ALIASES, "", 0, 0, NULL, PPS__KEY_EMPTY_OK,
     "alias:user pairs applied when distributing"},
    {"subaddress_separator", PPS__T_SEPARATOR, "", 0, 0, NULL,
     PPS__KEY_EMPTY_OK, "characters that start a subaddress (user+tag)"},
    {"unknown_user", PPS__T_ENUM, "fallback", 0, 0, unknown_user_choices, 0,
     "mail for a local user that does not exist: fallback or skip"},
    {"envelope_headers", PPS__T_HEADER_LIST, "", 0, 0, NULL, PPS__KEY_EMPTY_OK,
     "headers that carry the envelope recipient"},
    {"envelope_skip", PPS__T_COUNT, "0", 0, 100, NULL, 0,
     "envelope header occurrences to skip from the top"},
    {"interval", PPS__T_DURATION, "10m", 10, 30 * DAY, NULL, 0,
     "time between polls"},
    {"keep", PPS__T_BOOL, "no", 0, 0, NULL, 0,
     "keep messages on the server (no DELE)"},
    {"enabled", PPS__T_BOOL, "yes", 0, 0, NULL, 0, "poll this profile"},
    {"tls", PPS__T_ENUM, "required", 0, 0, tls_choices, 0,
     "STLS: required, if-offered or none"},
    {"tls_verify", PPS__T_BOOL, "yes", 0, 0, NULL, 0,
     "verify the certificate chain and host name"},
    {"tls_ca_file", PPS__T_PATH, NULL, 0, 0, NULL, 0,
     "CA certificates (PEM) to verify the server with"},
    {"tls_fingerprint", PPS__T_FINGERPRINT, NULL, 0, 0, NULL, 0,
     "the SHA-256 fingerprint the server certificate must have"},
    {"allow_plaintext_password", PPS__T_BOOL, "no", 0, 0, NULL, 0,
     "allow sending the password over an unencrypted connection"},
    {"auth", PPS__T_ENUM, "auto", 0, 0, auth_choices, 0,
     "the authentication method"},
    {"max_message_size", PPS__T_SIZE, "0", 0, 4 * GIB, NULL, 0,
     "larger messages are left on the server (0 = no limit)"},
    {"max_messages", PPS__T_COUNT, "0", 0, 1000000, NULL, 0,
     "messages fetched per poll (0 = no limit)"},
    {"poll_timeout", PPS__T_DURATION, "1h", 10, DAY, NULL, 0,
     "the longest one poll may take"},
    {"header_limit", PPS__T_SIZE, "256k", 4 * KIB, 64 * MIB, NULL, 0,
     "the largest header block read for routing"},
    {"loop_limit", PPS__T_COUNT, "3", 1, 1000, NULL, 0,
     "copies of this profile's own trace header that mark a mail loop"},
    {"duplicate_window", PPS__T_DURATION, "7d", 0, 365 * DAY, NULL, 0,
     "how long Message-IDs are remembered to drop duplicates (0 = off)"},
    {"trace_header", PPS__T_BOOL, "yes", 0, 0, NULL, 0,
     "add a Received header naming the profile"},
    {"on_permanent_failure", PPS__T_ENUM, "fallback", 0, 0, failure_choices, 0,
     "a permanently failed delivery: fallback or keep"},
};
const size_t pps__profile_key_count =
    sizeof(pps__profile_keys) / sizeof(pps__profile_keys[0]);

static const char *const method_choices[] = {
    "maildir", "lmtp", "smtp", "pipe", "emailarchitect", "null", NULL};
static const char *const level_choices[] = {"error", "warn",  "info",
                                            "debug", "trace", NULL};

/* Defaults that depend on DIR or the method are resolved in config.c. */
static const pps__key delivery_keys[] = {
    {"method", PPS__T_ENUM, "maildir", 0, 0, method_choices, 0,
     "how mail is delivered"},
    {"path", PPS__T_PATH_TEMPLATE, "/var/vmail/%d/%u/Maildir", 0, 0, NULL, 0,
     "the Maildir of a user (%u user, %d domain)"},
    {"server", PPS__T_ENDPOINT, NULL, 0, 0, NULL, 0,
     "the LMTP or SMTP server: host:port or a unix socket path"},
    {"command", PPS__T_COMMAND, NULL, 1, 2048, NULL, 0,
     "the delivery command of method pipe"},
    {"auth_user", PPS__T_TEXT, "", 0, 255, NULL, PPS__KEY_EMPTY_OK,
     "the SMTP AUTH user (empty: no AUTH)"},
    {"auth_password_file", PPS__T_PATH, "", 0, 0, NULL, PPS__KEY_EMPTY_OK,
     "a file whose first line is the SMTP AUTH password"},
    {"sender", PPS__T_ADDRESS, "", 0, 0, NULL, PPS__KEY_EMPTY_OK,
     "the envelope sender when a message has none (empty: <>)"},
    {"starttls", PPS__T_BOOL, "no", 0, 0, NULL, 0,
     "smtp: require STARTTLS (verified) before AUTH and the message"},
    {"tls_ca_file", PPS__T_PATH, "", 0, 0, NULL, PPS__KEY_EMPTY_OK,
     "smtp: the CA bundle for STARTTLS (empty: the system's CAs)"},
    {"allow_plaintext_auth", PPS__T_BOOL, "no", 0, 0, NULL, 0,
     "smtp: allow AUTH over an unencrypted TCP connection to another host"},
    {"shell", PPS__T_BOOL, "no", 0, 0, NULL, 0,
     "pipe: run the command with /bin/sh -c instead of splitting it"},
    {"helo_name", PPS__T_TEXT, "", 0, 255, NULL, PPS__KEY_EMPTY_OK,
     "lmtp/smtp: the name given in LHLO/EHLO (empty: this host's name)"},
};

static const pps__key service_keys[] = {
    {"max_parallel", PPS__T_COUNT, "8", 1, 256, NULL, 0,
     "profiles polled at the same time"},
    {"log_file", PPS__T_PATH, NULL, 0, 0, NULL, 0,
     "the log file (default DIR/pop3.log)"},
    {"log_level", PPS__T_ENUM, "info", 0, 0, level_choices, 0,
     "the least important level logged"},
    {"user", PPS__T_SYSUSER, "", 0, 0, NULL, PPS__KEY_EMPTY_OK,
     "the unprivileged account the service runs as (empty: do not switch)"},
    {"state_dir", PPS__T_PATH, NULL, 0, 0, NULL, 0,
     "where the ledger is kept (default DIR/state)"},
};

const pps__section pps__config_sections[] = {
    {"delivery", delivery_keys, sizeof(delivery_keys) / sizeof(*delivery_keys)},
    {"service", service_keys, sizeof(service_keys) / sizeof(*service_keys)},
    /* [aliases] has free keys (alias names); config.c handles it. */
    {"aliases", NULL, 0},
};
const size_t pps__config_section_count =
    sizeof(pps__config_sections) / sizeof(pps__config_sections[0]);

long pps__key_find(const pps__key *keys, size_t count, const char *name)
{
    size_t i;

    for (i = 0; i < count; i++)
        if (strcmp(keys[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* The public view of the profile table, filled once. */
static pps_profile_key_info
    key_infos[sizeof(pps__profile_keys) / sizeof(pps__profile_keys[0])];
static pthread_once_t key_infos_once = PTHREAD_ONCE_INIT;

static void fill_key_infos(void)
{
    size_t i;

    for (i = 0; i < pps__profile_key_count; i++) {
        const pps__key *k = &pps__profile_keys[i];
        pps_profile_key_info *info = &key_infos[i];

        info->name = k->name;
        info->default_value = k->default_value;
        info->is_boolean = k->type == PPS__T_BOOL;
        info->is_secret = (k->flags & PPS__KEY_SECRET) != 0;
        info->is_required = (k->flags & PPS__KEY_REQUIRED) != 0;
        info->summary = k->summary;
    }
}

const pps_profile_key_info *pps_profile_key_at(size_t i)
{
    if (i >= pps__profile_key_count)
        return NULL;
    pthread_once(&key_infos_once, fill_key_infos);
    return &key_infos[i];
}
