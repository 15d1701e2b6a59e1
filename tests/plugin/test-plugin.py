"""The plug-in module, loaded by the example host (dlopen), delivering into
Maildirs through the host's callbacks, against the Dovecot test bed: both
scenarios of the design, start/stop/reload, and a host callback that fails
temporarily (the message stays on the remote server and is delivered on a
later poll, exactly once).

    test-plugin.py EXAMPLE_HOST MODULE PPS_CLI
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "poll"))
import e2e  # noqa: E402
from e2e import (TB, check, pps, seed, local, remote_count, new_confdir,  # noqa: E402
                 add_profile, message)

HOST = MODULE = None


def subjects(user):
    out = []
    for m in local(user):
        for line in m.split(b"\n"):
            if line.startswith(b"Subject: "):
                out.append(line[9:].strip().decode())
    return sorted(out)


class Host:
    """The example host as a child process, one command per line."""

    def __init__(self, conf):
        self.p = subprocess.Popen(
            [HOST, MODULE, conf, TB["PPS_TB_LOCAL_MAILDIR_FMT"]],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(os.path.join(conf, "host.log"), "w"), text=True)
        self.conf = conf
        self.first = self.p.stdout.readline().strip()

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        reply = self.p.stdout.readline().strip()
        print("  %s -> %s" % (line, reply))
        return reply

    def temp_failure(self, line):
        """A poll whose delivery failed temporarily: PPS_ETEMP (-12)."""
        r = self.cmd(line)
        check(not r.startswith("ok") and "-12" in r or "could not be delivered now" in r,
              "%s reports a temporary failure: %s" % (line, r))
        return r

    def ok(self, line):
        r = self.cmd(line)
        check(r.startswith("ok"), "%s: %s" % (line, r))
        return r

    def status(self, name):
        r = self.ok("status " + name)
        return dict(kv.split("=", 1) for kv in r[3:].split(" ")
                    if "=" in kv and not kv.startswith("text"))

    def wait_for(self, name, cond, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            st = self.status(name)
            if cond(st):
                return st
            time.sleep(0.3)
        e2e.fail("%s: condition not met in %ds: %s" % (name, timeout, st))

    def quit(self):
        self.p.stdin.write("quit\n")
        self.p.stdin.close()
        check(self.p.wait(timeout=60) == 0, "example host exits 0")
        return open(os.path.join(self.conf, "host.log")).read()


def test_both_scenarios():
    conf = new_confdir("maildir")
    add_profile(conf, "office", "single@remote.test", "alice")
    add_profile(conf, "catchall", "catchall@remote.test", "postmaster",
                "--distribute")
    before = {u: subjects(u) for u in ("alice", "bob", "carol", "postmaster")}
    seed("single@remote.test", message("p1", "office@isp.example"),
         message("p2", "someone@isp.example"))
    seed("catchall@remote.test",
         message("q1", "Alice <alice@local.test>, \"Bob B.\" <bob@local.test>",
                 cc="x@elsewhere.example"),
         message("q2", "team: carol@local.test;"),
         message("q3", "undisclosed-recipients:;"),
         message("q4", "kate@other.example", cc="Kate <CAROL@LOCAL.TEST>"),
         message("q5", "nobody-here@local.test"))
    h = Host(conf)
    check(h.first.startswith("ok loaded libpps"), "module loaded: " + h.first)
    h.ok("start")
    # Started: every profile is polled at once, on the module's threads.
    h.wait_for("office", lambda st: int(st["polls"]) >= 1)
    st = h.wait_for("catchall", lambda st: int(st["polls"]) >= 1)
    check(st["delivered"] == "5" and st["deleted"] == "5" and st["result"] == "0",
          "status of catchall: 5 delivered, 5 deleted")

    def new(u):
        return sorted(set(subjects(u)) - set(before[u]))
    check(new("alice") == ["p1", "p2", "q1"], "alice: p1, p2 (single drop) and q1: %s" % new("alice"))
    check(new("bob") == ["q1"], "bob: q1 only")
    check(new("carol") == ["q2", "q4"], "carol: the group and the Cc")
    check(new("postmaster") == ["q3", "q5"], "postmaster: the fallback")
    check(remote_count("single") == 0 and remote_count("catchall") == 0,
          "remote mailboxes emptied")
    for m in local("bob"):
        if b"Subject: q1" in m:
            check(b"(libpps profile \"catchall\") with POP3" in m, "trace header written through the host")
            check(b"\n.leading dot line\n" in m and b"\r\n" not in m, "LF line ends, dot kept")
    h.ok("poll office")
    check(len(subjects("alice")) == len(before["alice"]) + 3, "a second poll delivers nothing again")
    r = h.cmd("poll nosuch")
    check(r.startswith("err -4") and "nosuch" in r, "unknown profile: PPS_ENOTFOUND, named")
    log = h.quit()
    check("[office]" in log and "profile(s) loaded" in log, "the module logs through the host")
    check(TB["PPS_TB_PASSWORD"] not in log, "no password in the host's log")


def test_start_stop_reload():
    conf = new_confdir("maildir")
    add_profile(conf, "ticker", "user1@remote.test", "carol", "--interval", "10s")
    before = len(local("carol"))
    seed("user1@remote.test", message("t1", "x@isp.example"))
    h = Host(conf)
    r = h.cmd("poll ticker")
    check(r.startswith("err"), "poll before start refused: " + r)
    h.ok("start")
    r = h.cmd("start")
    check(r.startswith("err -5"), "a second start: PPS_EEXISTS")
    # A started module polls each profile at once, then on its interval.
    h.wait_for("ticker", lambda st: int(st["polls"]) >= 1)
    check(len(local("carol")) == before + 1, "first scheduled poll delivered t1")
    seed("user1@remote.test", message("t2", "x@isp.example"))
    st = h.wait_for("ticker", lambda st: int(st["polls"]) >= 2, timeout=25)
    check(len(local("carol")) == before + 2 and st["delivered"] == "1",
          "the next poll came by itself, on the 10 s interval")
    # A profile added while running is polled after reload, at once.
    add_profile(conf, "newcomer", "user2@remote.test", "bob", "--interval", "10m")
    seed("user2@remote.test", message("n1", "x@isp.example"))
    bob = len(local("bob"))
    h.ok("reload")
    h.wait_for("newcomer", lambda st: int(st["polls"]) >= 1)
    check(len(local("bob")) == bob + 1 and remote_count("user2") == 0, "new profile polled after reload")
    # Queue a poll without waiting.
    seed("user2@remote.test", message("n2", "x@isp.example"))
    h.ok("queue newcomer")
    h.wait_for("newcomer", lambda st: int(st["polls"]) >= 2)
    check(len(local("bob")) == bob + 2, "a queued poll ran")
    # Stopped: nothing is polled, even past the interval.
    h.ok("stop")
    polls = int(h.status("ticker")["polls"])
    seed("user1@remote.test", message("t3", "x@isp.example"))
    time.sleep(11)
    check(int(h.status("ticker")["polls"]) == polls and remote_count("user1") == 1,
          "no poll while stopped")
    r = h.cmd("poll ticker")
    check(r.startswith("err"), "poll now refused while stopped")
    h.ok("start")
    h.ok("poll ticker")
    check(remote_count("user1") == 0 and len(local("carol")) == before + 3, "started again: t3 delivered")
    # A removed profile is no longer known.
    pps(conf, "profile", "delete", "newcomer")
    h.ok("reload")
    check(h.cmd("status newcomer").startswith("err -4"), "deleted profile dropped on reload")
    # Saving a profile activates it without a reload: the module watches.
    add_profile(conf, "saved", "user2@remote.test", "alice", "--interval", "10m")
    seed("user2@remote.test", message("w1", "x@isp.example"))
    alice = len(local("alice"))
    end = time.time() + 15
    while time.time() < end and not h.cmd("status saved").startswith("ok polls=1"):
        time.sleep(0.3)
    check(len(local("alice")) == alice + 1 and remote_count("user2") == 0,
          "a saved profile is polled within seconds, without reload")
    h.quit()


def test_temporary_host_failure():
    conf = new_confdir("maildir")
    add_profile(conf, "flaky", "user3@remote.test", "alice")
    add_profile(conf, "flakymulti", "catchall@remote.test", "postmaster", "--distribute")
    h = Host(conf)
    h.ok("start")
    # Let the polls of the start pass (empty mailboxes); the next ones are
    # 10 minutes away, so only the polls asked for below run.
    h.wait_for("flaky", lambda st: int(st["polls"]) >= 1)
    h.wait_for("flakymulti", lambda st: int(st["polls"]) >= 1)
    alice, bob = len(local("alice")), len(local("bob"))
    seed("user3@remote.test", message("f1", "x@isp.example"))
    seed("catchall@remote.test", message("f2", "alice@local.test, bob@local.test"))
    h.ok("fail 1")
    # pps_poll_run counts a temporary delivery failure in failed_temp (the
    # message is left for the next poll) and returns PPS_ETEMP.
    h.temp_failure("poll flaky")
    check(remote_count("user3") == 1 and len(local("alice")) == alice,
          "the message stayed on the remote server, nothing delivered")
    st = h.status("flaky")
    check(st["failed_temp"] == "1", "status counts it as left for the next poll")
    h.ok("poll flaky")
    check(remote_count("user3") == 0 and len(local("alice")) == alice + 1,
          "delivered on the next poll once the callback succeeds")
    h.ok("poll flaky")
    check(len(local("alice")) == alice + 1, "exactly once")
    # The same with two recipients of one message.
    h.ok("fail 1")
    h.temp_failure("poll flakymulti")
    check(h.status("flakymulti")["failed_temp"] == "1", "two recipients: temporary failure")
    check(remote_count("catchall") == 1 and len(local("bob")) == bob, "kept on the server")
    h.ok("poll flakymulti")
    h.ok("poll flakymulti")
    check(len(local("alice")) == alice + 2 and len(local("bob")) == bob + 1 and
          remote_count("catchall") == 0, "each recipient got it exactly once")
    # One recipient of two fails: the other keeps its copy, the message
    # stays on the server, and the retry reaches only the one that failed.
    seed("catchall@remote.test", message("f3", "alice@local.test, bob@local.test"))
    h.ok("failrcpt bob@local.test 1")
    h.temp_failure("poll flakymulti")
    check(len(local("alice")) == alice + 3 and len(local("bob")) == bob + 1 and
          remote_count("catchall") == 1, "partial failure: alice has it, bob not, kept on the server")
    h.ok("poll flakymulti")
    check(len(local("alice")) == alice + 3 and len(local("bob")) == bob + 2 and
          remote_count("catchall") == 0, "retry delivered to bob only, then deleted")
    h.ok("poll flakymulti")
    check(subjects("alice").count("f3") == 1 and subjects("bob").count("f3") == 1,
          "f3 exactly once for each")
    h.quit()


def test_bad_configuration():
    conf = new_confdir("maildir")
    with open(os.path.join(conf, "pps.conf"), "a") as f:
        f.write("max_paralel = 3\n")
    h = Host(conf)
    check(h.first.startswith("err -6") and "max_paralel" in h.first and "pps.conf" in h.first,
          "a bad pps.conf: PPS_ECONFIG naming the file and key: " + h.first)
    h.p.wait(timeout=30)


if __name__ == "__main__":
    HOST, MODULE = sys.argv[1], sys.argv[2]
    sys.argv = [sys.argv[0], sys.argv[3]]
    e2e.main([test_both_scenarios, test_temporary_host_failure,
              test_start_stop_reload, test_bad_configuration])
