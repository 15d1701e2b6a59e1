"""End to end: `pps profile add` + `pps fetch` against the real Dovecot of
the test bed, in both scenarios of the design, plus keep, oversize, rerun
(exactly once), status, route and check."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import (TB, check, pps, seed, local, remote_count, new_confdir,
                 add_profile, message, main)


def subjects(user):
    out = []
    for m in local(user):
        for line in m.split(b"\n"):
            if line.startswith(b"Subject: "):
                out.append(line[9:].strip().decode())
    return sorted(out)


def test_single_drop_and_catch_all():
    conf = new_confdir("lmtp")
    add_profile(conf, "office", "single@remote.test", "alice")
    add_profile(conf, "catchall", "catchall@remote.test", "postmaster",
                "--distribute")
    seed("single@remote.test", message("s1", "office@isp.example"),
         message("s2", "someone@isp.example"))
    seed("catchall@remote.test",
         message("c1", "Alice <alice@local.test>, \"Bob B.\" <bob@local.test>",
                 cc="x@elsewhere.example"),
         message("c2", "team: carol@local.test;"),
         message("c3", "undisclosed-recipients:;"),
         message("c4", "kate@other.example", cc="Kate <CAROL@LOCAL.TEST>"),
         message("c5", "nobody-here@local.test"))
    r = pps(conf, "fetch")
    check("office: 2 listed, 2 delivered, 2 deleted" in r.stdout, "office fetched")
    check("catchall: 5 listed, 5 delivered, 5 deleted" in r.stdout, "catchall fetched")
    check(subjects("alice") == ["c1", "s1", "s2"], "alice got s1, s2 (single drop) and c1: %s" % subjects("alice"))
    check(subjects("bob") == ["c1"], "bob got c1 only")
    check(subjects("carol") == ["c2", "c4"], "carol got the group and the Cc (case-insensitive)")
    check(subjects("postmaster") == ["c3", "c5"], "postmaster (fallback) got the message naming nobody and the unknown user")
    check(remote_count("single") == 0 and remote_count("catchall") == 0, "remote mailboxes emptied")

    # Every delivered message carries our trace header, and dot-stuffing
    # survived both ways.
    for m in local("bob"):
        check(b"(libpps profile \"catchall\") with POP3" in m, "trace header present")
        check(b"\n.leading dot line\n" in m, "leading dot kept")

    # A second poll delivers nothing again.
    r = pps(conf, "fetch")
    check("office: 0 listed, 0 delivered, 0 deleted" in r.stdout, "rerun: nothing new")
    check(len(local("alice")) == 3, "no duplicates after rerun")

    r = pps(conf, "status")
    check("office: last poll" in r.stdout and ": ok:" in r.stdout, "status shows the last poll")
    log = open(os.path.join(conf, "pop3.log")).read()
    check("[office]" in log and "poll done" in log, "pop3.log records the polls")
    check(TB["PPS_TB_PASSWORD"] not in log, "no password in pop3.log")


def test_keep_delivers_once_and_leaves_mail():
    conf = new_confdir("maildir")
    add_profile(conf, "keeper", "user1@remote.test", "bob", "--keep")
    seed("user1@remote.test", message("k1", "x@isp.example"),
         message("k2", "x@isp.example"))
    before = len(local("bob"))
    pps(conf, "fetch", "keeper")
    pps(conf, "fetch", "keeper")
    check(len(local("bob")) == before + 2, "keep: each message delivered once over two polls")
    check(remote_count("user1") == 2, "keep: both still on the server")
    pps(conf, "profile", "edit", "keeper", "--no-keep")
    r = pps(conf, "fetch", "keeper")
    check("2 deleted" in r.stdout and len(local("bob")) == before + 2,
          "after --no-keep: deleted without delivering again")
    check(remote_count("user1") == 0, "remote emptied")


def test_oversize_stays_on_server():
    conf = new_confdir("lmtp")
    add_profile(conf, "small", "user2@remote.test", "carol",
                "--max-message-size", "2k")
    before = len(local("carol"))
    seed("user2@remote.test", message("big", "x@isp.example", extra="X-Pad: " + "p" * 4000 + "\n"),
         message("tiny", "x@isp.example"))
    r = pps(conf, "fetch", "small")
    check("1 too big (kept)" in r.stdout, "oversize reported: " + r.stdout.strip())
    check(len(local("carol")) == before + 1 and remote_count("user2") == 1,
          "the small one delivered, the big one left on the server")
    log = open(os.path.join(conf, "pop3.log")).read()
    check("max_message_size" in log, "the log says why it was left")


def test_route_check_and_errors():
    conf = new_confdir("lmtp")
    add_profile(conf, "multi", "user3@remote.test", "postmaster", "--distribute")
    path = os.path.join(conf, "m.eml")
    with open(path, "w") as f:
        f.write(message("r", "Bob <BOB@local.test>, kate@other.example", cc="alice@local.test"))
    r = pps(conf, "route", "multi", path, "--explain")
    check(r.stdout.split() == ["bob@local.test", "alice@local.test"], "route prints the recipients only: %r" % r.stdout)
    check("kate@other.example" in r.stderr, "--explain names the skipped foreign address")
    r = pps(conf, "check", "multi")
    check("ok: logged in" in r.stdout and "over TLS" in r.stdout, "check logs in over TLS")
    r = pps(conf, "profile", "show", "multi")
    check("password = ********" in r.stdout and TB["PPS_TB_PASSWORD"] not in r.stdout, "show masks the password")
    r = pps(conf, "fetch", "nosuch", expect=2)
    check("nosuch" in r.stderr, "unknown profile: exit 2, named")
    r = pps(conf, "profile", "add", "x", "--password", "secret", expect=2)
    check("never taken from the command line" in r.stderr, "--password refused")
    # A wrong password is a runtime failure (exit 1) naming the profile.
    pps(conf, "profile", "add", "wrong", "--server", "127.0.0.1 %ss" % TB["PPS_TB_POP3S_PORT"],
        "--user", "user3@remote.test", "--password-stdin", "--local-user", "alice",
        "--local-domain", "local.test", "--tls-ca-file", TB["PPS_TB_CA_FILE"], stdin="not-it\n")
    r = pps(conf, "fetch", "wrong", expect=1)
    check("wrong" in r.stderr, "bad password: exit 1 naming the profile: " + r.stderr.strip())
    # A self-signed certificate is refused (the wrong-host one carries its
    # IP address too, so it only fails by name: tests/fetch covers that).
    pps(conf, "profile", "add", "badcert", "--server", "%s %ss" % (TB["PPS_TB_SELFSIGNED_HOST"], TB["PPS_TB_POP3S_PORT"]),
        "--user", "user3@remote.test", "--password-stdin", "--local-user", "alice",
        "--local-domain", "local.test", "--tls-ca-file", TB["PPS_TB_CA_FILE"], stdin=TB["PPS_TB_PASSWORD"] + "\n")
    r = pps(conf, "fetch", "badcert", expect=1)
    check("badcert" in r.stderr and "self-signed" in r.stderr.lower(),
          "self-signed certificate refused: " + r.stderr.strip())
    check(len(r.stderr.strip().split("\n")) == 1, "one error line on stderr")


def test_duplicate_copies_delivered_once():
    """A catch-all mailbox often holds one copy of a message per local
    recipient at the provider: each local user gets it once, and every copy
    is deleted."""
    conf = new_confdir("lmtp")
    add_profile(conf, "dups", "user4@remote.test", "postmaster", "--distribute")
    before_a, before_b = len(local("alice")), len(local("bob"))
    m = message("dup", "alice@local.test, bob@local.test")
    seed("user4@remote.test", m, m, m)
    r = pps(conf, "fetch", "dups")
    check("3 listed, 3 delivered, 3 deleted" in r.stdout, "three copies handled: " + r.stdout.strip())
    check(len(local("alice")) == before_a + 1 and len(local("bob")) == before_b + 1,
          "alice and bob got one copy each")
    check(remote_count("user4") == 0, "every copy deleted")


if __name__ == "__main__":
    main([test_single_drop_and_catch_all, test_keep_delivers_once_and_leaves_mail,
          test_oversize_stays_on_server, test_route_check_and_errors,
          test_duplicate_copies_delivered_once])
