"""ppsd end to end, against the Dovecot test bed: both scenarios on their
intervals, profiles added / edited / deleted while it runs, SIGHUP log
rotation, SIGTERM in the middle of a big poll (exit 0, the rest delivered
exactly once by the next run), back-off of a wrong password, max_parallel,
start-up failures and the exit statuses, and detaching with a pid file.

Usage (under testbed.py run): test-ppsd.py PPS PPSD

Timing: the shortest interval a profile accepts is 10 s; every wait below
is a generous upper bound polled every 0.2 s, never an exact sleep that a
slow machine could miss, except where the test proves that something does
NOT happen (then it waits well past the time it would have happened).
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "poll"))
import e2e  # noqa: E402
from e2e import (TB, check, fail, pps, seed, local, remote_count,  # noqa: E402
                 new_confdir, add_profile, message)

PPSD = sys.argv[2] if len(sys.argv) > 2 else None
LINE = re.compile(r"^(\S+) (\w+) \[([^\]]*)\] (.*)$")


# --- helpers ---------------------------------------------------------------

def service_conf(method="lmtp", extra=""):
    """A fresh folder; `extra` lines join the [service] section."""
    d = new_confdir(method)
    with open(os.path.join(d, "pps.conf"), "a") as f:
        f.write(extra)
    return d


class Daemon:
    """ppsd --foreground on a folder; stderr kept in the folder."""

    def __init__(self, conf, *args):
        self.conf = conf
        self.err = open(os.path.join(conf, "ppsd.stderr"), "a")
        self.p = subprocess.Popen([PPSD, "-c", conf, "--foreground"] +
                                  list(args), stdout=subprocess.DEVNULL,
                                  stderr=self.err)

    def signal(self, sig):
        self.p.send_signal(sig)

    def stop(self, timeout=90):
        self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            fail("ppsd did not stop within %d s of SIGTERM" % timeout)
        self.err.close()
        return rc

    def alive(self):
        return self.p.poll() is None


def wait_for(cond, timeout, what):
    start = time.time()
    while time.time() - start < timeout:
        if cond():
            print("ok: %s (after %.1f s)" % (what, time.time() - start))
            return time.time() - start
        time.sleep(0.2)
    fail("%s: not within %d s" % (what, timeout))


def log_lines(conf, name="pop3.log"):
    path = os.path.join(conf, name)
    if not os.path.exists(path):
        return []
    out = []
    for line in open(path, errors="replace").read().splitlines():
        m = LINE.match(line)
        if m:
            out.append(m.groups())  # (time, level, profile, message)
    return out


def lines_of(conf, profile, prefix, name="pop3.log"):
    return [l for l in log_lines(conf, name)
            if l[2] == profile and l[3].startswith(prefix)]


def subjects(user, prefix=""):
    out = []
    for m in local(user):
        for line in m.split(b"\n"):
            if line.startswith(b"Subject: "):
                s = line[9:].strip().decode()
                if s.startswith(prefix):
                    out.append(s)
    return sorted(out)


def seed_many(user, messages):
    """Seed many messages with one call of the test bed."""
    d = tempfile.mkdtemp(prefix="pps-seed-")
    paths = []
    for i, m in enumerate(messages):
        p = os.path.join(d, "%05d.eml" % i)
        with open(p, "w") as f:
            f.write(m)
        paths.append(p)
    subprocess.run([sys.executable, TB["PPS_TB_TESTBED"], "seed", user] +
                   paths, check=True, capture_output=True)


def check_never_overlapping(lines):
    """With max_parallel = 1, every 'poll started' is followed by that
    profile's 'poll done/failed' before the next start."""
    in_flight, starts = None, 0
    for (_, _, prof, msg) in lines:
        if msg == "poll started":
            if in_flight is not None:
                fail("poll of %s started while %s was still polling" %
                     (prof, in_flight))
            in_flight, starts = prof, starts + 1
        elif msg.startswith("poll done:") or msg.startswith("poll failed:"):
            if in_flight != prof:
                fail("poll of %s ended, but %s was the one started" %
                     (prof, in_flight))
            in_flight = None
    return starts


# --- the tests -------------------------------------------------------------

def test_start_failures_and_detach():
    """Exit 2 with one line for a bad pps.conf, 1 for a log that cannot be
    opened; without --foreground the parent returns at once, the daemon
    writes its pid file and stops on SIGTERM, removing it."""
    d = tempfile.mkdtemp(prefix="ppsd-bad-")
    with open(os.path.join(d, "pps.conf"), "w") as f:
        f.write("[service]\nmax_paralel = 3\n")
    r = subprocess.run([PPSD, "-c", d, "--foreground"], capture_output=True,
                       text=True, timeout=30)
    check(r.returncode == 2, "bad pps.conf: exit 2 (got %d)" % r.returncode)
    err = r.stderr.strip().splitlines()
    check(len(err) == 1 and "pps.conf:2" in err[0] and "max_paralel" in err[0],
          "one stderr line naming file, line and key: %r" % r.stderr)

    with open(os.path.join(d, "pps.conf"), "w") as f:
        f.write("[service]\nlog_file = %s/no/such/dir/pop3.log\n" % d)
    r = subprocess.run([PPSD, "-c", d, "--foreground"], capture_output=True,
                       text=True, timeout=30)
    check(r.returncode == 1 and "log file" in r.stderr,
          "log file that cannot be opened: exit 1 with why (%d: %r)" %
          (r.returncode, r.stderr))

    r = subprocess.run([PPSD, "--frobnicate"], capture_output=True,
                       text=True, timeout=30)
    check(r.returncode == 2 and "--frobnicate" in r.stderr,
          "unknown argument: exit 2")

    conf = service_conf("maildir")
    pid_file = os.path.join(conf, "ppsd.pid")
    r = subprocess.run([PPSD, "-c", conf, "--pid-file", pid_file],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "daemon: the starting process exits 0")
    wait_for(lambda: os.path.exists(pid_file) and
             open(pid_file).read().strip().isdigit(), 10, "pid file written")
    pid = int(open(pid_file).read())
    check(os.path.exists("/proc/%d" % pid), "the daemon runs")
    session = open("/proc/%d/stat" % pid).read().split(") ")[1].split()[3]
    check(session != str(os.getsid(0)),
          "the daemon is in a session of its own")
    check(os.readlink("/proc/%d/cwd" % pid) == "/", "the daemon works in /")
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not os.path.exists("/proc/%d" % pid) or
             open("/proc/%d/stat" % pid).read().split(") ")[1][0] == "Z",
             30, "the daemon stopped on SIGTERM")
    wait_for(lambda: not os.path.exists(pid_file), 10, "pid file removed")
    check(any(l[3] == "ppsd stopped" for l in log_lines(conf)),
          "pop3.log: ppsd stopped")


def test_lifecycle():
    """Both scenarios; add, edit, delete while running; SIGHUP rotation;
    max_parallel = 1; SIGTERM exits 0."""
    conf = service_conf("lmtp", "max_parallel = 1\n")
    add_profile(conf, "office", "single@remote.test", "alice",
                "--interval", "10s")
    add_profile(conf, "catchall", "catchall@remote.test", "postmaster",
                "--distribute", "--interval", "10s")
    seed("single@remote.test", message("L-s1", "office@isp.example"),
         message("L-s2", "someone@isp.example"))
    seed("catchall@remote.test",
         message("L-c1", "Alice <alice@local.test>, bob@local.test"),
         message("L-c2", "team: carol@local.test;"),
         message("L-c3", "nobody@elsewhere.example"))
    d = Daemon(conf)
    try:
        wait_for(lambda: subjects("alice", "L-") == ["L-c1", "L-s1", "L-s2"]
                 and subjects("bob", "L-") == ["L-c1"]
                 and subjects("carol", "L-") == ["L-c2"]
                 and subjects("postmaster", "L-") == ["L-c3"],
                 60, "both scenarios delivered (single drop, catch-all)")
        check(remote_count("single") == 0 and remote_count("catchall") == 0,
              "remote mailboxes emptied")

        # Added while running, with an interval of an hour: only "saving a
        # profile activates it at once" can deliver this within the bound.
        seed("user1@remote.test", message("L-late", "x@isp.example"))
        add_profile(conf, "late", "user1@remote.test", "bob",
                    "--interval", "1h")
        wait_for(lambda: "L-late" in subjects("bob", "L-"), 20,
                 "a profile added while running is polled within seconds")
        check(lines_of(conf, "late", "profile added"),
              "pop3.log: the scheduler says it saw the new profile")

        # Edited: the next poll goes to the new local user.
        pps(conf, "profile", "edit", "office", "--local-user", "carol")
        seed("single@remote.test", message("L-s3", "office@isp.example"))
        wait_for(lambda: "L-s3" in subjects("carol", "L-"), 40,
                 "an edited profile's new local user gets the next poll")
        check("L-s3" not in subjects("alice", "L-"),
              "and the old local user does not")

        # Deleted: never polled again.
        pps(conf, "profile", "delete", "catchall")
        wait_for(lambda: lines_of(conf, "catchall", "profile deleted"), 20,
                 "pop3.log: the scheduler says the profile was deleted")
        seed("catchall@remote.test", message("L-c9", "bob@local.test"))

        # Meanwhile, log rotation: rename, SIGHUP, a new file fills.
        os.rename(os.path.join(conf, "pop3.log"),
                  os.path.join(conf, "pop3.log.1"))
        d.signal(signal.SIGHUP)
        wait_for(lambda: any("SIGHUP" in l[3] for l in log_lines(conf)), 15,
                 "SIGHUP: a new pop3.log is opened")
        wait_for(lambda: lines_of(conf, "office", "poll done"), 40,
                 "polls are logged in the new pop3.log")
        old_size = os.path.getsize(os.path.join(conf, "pop3.log.1"))
        # Two more intervals of office and late (10 s + jitter): catchall
        # would have been polled by now had it not been deleted.
        time.sleep(25)
        check(os.path.getsize(os.path.join(conf, "pop3.log.1")) == old_size,
              "nothing is written to the rotated file after SIGHUP")
        check(remote_count("catchall") == 1 and
              "L-c9" not in subjects("bob", "L-"),
              "a deleted profile's mailbox is not polled any more")
        after = log_lines(conf)
        check(not [l for l in after if l[2] == "catchall"],
              "no line of the deleted profile in the new log")
        check(d.alive(), "ppsd still running")
    finally:
        rc = d.stop()
    check(rc == 0, "SIGTERM: exit 0 (got %d)" % rc)

    lines = log_lines(conf, "pop3.log.1") + log_lines(conf)
    starts = check_never_overlapping(lines)
    check(starts >= 6, "max_parallel = 1: %d polls, none overlapping" %
          starts)
    check(any(l[1] == "debug" and l[3] == "poll started" for l in lines),
          "a poll's start is logged at debug")
    for user in ("alice", "bob", "carol", "postmaster"):
        s = subjects(user, "L-")
        check(len(s) == len(set(s)), "%s: every message once" % user)
    check(TB["PPS_TB_PASSWORD"] not in open(os.path.join(conf, "pop3.log.1"))
          .read(), "no password in pop3.log")


def test_sigterm_mid_poll_then_rerun_exactly_once():
    """SIGTERM while a poll of many messages is running: the message in
    hand finishes, QUIT commits the DELEs, exit 0; the next run delivers
    the rest, each message exactly once."""
    total = 300
    conf = service_conf("lmtp")
    add_profile(conf, "bulk", "user2@remote.test", "carol", "--interval", "1h")
    pad = "X-Pad: " + "p" * 900 + "\n"
    body = ("line of body text to make the message take some time\n" * 300)
    seed_many("user2@remote.test",
              [message("B-%03d" % i, "x@isp.example", extra=pad) + body
               for i in range(total)])
    check(remote_count("user2") == total, "%d messages seeded" % total)

    d = Daemon(conf)
    wait_for(lambda: len(subjects("carol", "B-")) >= 5, 60,
             "the big poll is under way")
    rc = d.stop()
    check(rc == 0, "SIGTERM during a poll: exit 0 (got %d)" % rc)
    got = subjects("carol", "B-")
    left = remote_count("user2")
    print("delivered before the stop: %d of %d, left on the server: %d" %
          (len(got), total, left))
    # 300 messages of 17 kB through LMTP take seconds; SIGTERM came after
    # the fifth: a stop that waited for the whole poll would deliver all.
    check(len(got) < total, "the poll stopped early (%d of %d)" %
          (len(got), total))
    check(any("stopping" in l[3] for l in log_lines(conf)),
          "pop3.log: stopping")
    check(left == total - len(got),
          "QUIT committed the DELEs of everything delivered (%d + %d)" %
          (len(got), left))
    check(len(got) == len(set(got)), "no duplicate before the restart")

    d = Daemon(conf)
    wait_for(lambda: remote_count("user2") == 0 and
             len(subjects("carol", "B-")) >= total, 120,
             "the rerun delivers the rest")
    rc = d.stop()
    check(rc == 0, "second stop: exit 0")
    got = subjects("carol", "B-")
    check(got == ["B-%03d" % i for i in range(total)],
          "every message exactly once (%d delivered)" % len(got))


def test_backoff_wrong_password():
    """A wrong password fails once and backs off: no retry every interval,
    not even after a restart; fixing the password polls at once."""
    conf = service_conf("lmtp")
    server = "127.0.0.1 %ss" % TB["PPS_TB_POP3S_PORT"]
    pps(conf, "profile", "add", "badpw", "--server", server,
        "--user", "user3@remote.test", "--password-stdin",
        "--local-user", "bob", "--local-domain", "local.test",
        "--tls-ca-file", TB["PPS_TB_CA_FILE"], "--interval", "10s",
        stdin="not-the-password\n")
    seed("user3@remote.test", message("F-1", "x@isp.example"))
    d = Daemon(conf)
    try:
        wait_for(lambda: lines_of(conf, "badpw", "poll failed"), 30,
                 "the first poll fails")
        wait_for(lambda: lines_of(conf, "badpw", "backing off until"), 10,
                 "pop3.log: backing off until ...")
        time.sleep(25)  # 2.5 intervals: without back-off, 2 more failures
        n = len(lines_of(conf, "badpw", "poll failed"))
        check(n == 1, "failures logged once per back-off step (%d)" % n)
    finally:
        rc = d.stop()
    check(rc == 0, "exit 0")
    r = pps(conf, "status")
    check("failure(s) in a row" in r.stdout, "pps status shows the back-off")

    # A restart does not forget the back-off (it is in the ledger).
    d = Daemon(conf)
    try:
        wait_for(lambda: len(lines_of(conf, "badpw", "backing off until")) >= 2,
                 15, "after a restart: still backing off")
        time.sleep(3)
        check(len(lines_of(conf, "badpw", "poll failed")) == 1,
              "no new failed poll after the restart")
        # The administrator fixes the password: polled at once.
        pps(conf, "profile", "edit", "badpw", "--password-stdin",
            stdin=TB["PPS_TB_PASSWORD"] + "\n")
        wait_for(lambda: "F-1" in subjects("bob", "F-"), 30,
                 "a fixed profile is polled without waiting for the back-off")
        check(lines_of(conf, "badpw", "profile changed"),
              "pop3.log: profile changed")
    finally:
        rc = d.stop()
    check(rc == 0, "exit 0")


def test_same_mailbox_never_concurrent():
    """Two profiles of one remote mailbox (same host and user) never poll
    at once, though max_parallel would allow it: the second waits for the
    first instead of hitting the ledger's lock."""
    total = 60
    conf = service_conf("lmtp", "max_parallel = 8\n")
    add_profile(conf, "twin-a", "user1@remote.test", "alice",
                "--interval", "10s")
    add_profile(conf, "twin-b", "user1@remote.test", "bob",
                "--interval", "10s")
    body = "body line to make the poll last a little\n" * 1500
    seed_many("user1@remote.test",
              [message("T-%02d" % i, "x@isp.example") + body
               for i in range(total)])
    d = Daemon(conf)
    try:
        wait_for(lambda: remote_count("user1") == 0, 90,
                 "the shared mailbox is emptied")
        # Both twins due every 10 s: give them two more rounds together.
        wait_for(lambda: len(lines_of(conf, "twin-a", "poll started")) >= 2
                 and len(lines_of(conf, "twin-b", "poll started")) >= 2, 60,
                 "both twins polled at least twice")
    finally:
        rc = d.stop()
    check(rc == 0, "exit 0")
    twins = [l for l in log_lines(conf) if l[2] in ("twin-a", "twin-b")]
    starts = check_never_overlapping(twins)
    check(starts >= 4, "%d polls of one mailbox, none overlapping" % starts)
    check(not [l for l in twins if "poll failed" in l[3]],
          "no poll failed on the mailbox lock")
    got = sorted(subjects("alice", "T-") + subjects("bob", "T-"))
    check(got == ["T-%02d" % i for i in range(total)],
          "every message delivered once, by one twin or the other")


def test_privilege_drop():
    """Started as root with [service] user: runs as that user, refuses a
    state folder that user cannot write, and polls as that user."""
    if os.geteuid() != 0:
        print("skipped: not root")
        return
    import pwd
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        print("skipped: no user nobody")
        return
    conf = service_conf("lmtp", "user = nobody\n")
    add_profile(conf, "dropped", "user1@remote.test", "alice",
                "--interval", "10s")
    os.makedirs(os.path.join(conf, "state"))
    r = subprocess.run([PPSD, "-c", conf, "--foreground"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 1 and "state_dir" in r.stderr and
          "not writable by user nobody" in r.stderr,
          "a state folder the user cannot write: exit 1 saying so (%d: %r)" %
          (r.returncode, r.stderr))
    for root, dirs, files in os.walk(conf):
        for n in dirs + files + ["."]:
            os.chown(os.path.join(root, n), nobody.pw_uid, nobody.pw_gid)
    seed("user1@remote.test", message("P-1", "x@isp.example"))
    d = Daemon(conf)
    try:
        wait_for(lambda: "P-1" in subjects("alice", "P-"), 40,
                 "delivered by the service running as nobody")
        uids = [l for l in open("/proc/%d/status" % d.p.pid)
                if l.startswith("Uid:")][0].split()[1:]
        check(uids == [str(nobody.pw_uid)] * 4,
              "real, effective, saved and fs uid are nobody's: %s" % uids)
        check(os.stat(os.path.join(conf, "state")).st_uid == nobody.pw_uid,
              "the state folder is the user's")
    finally:
        rc = d.stop()
    check(rc == 0, "exit 0")


if __name__ == "__main__":
    if not PPSD:
        print("usage: test-ppsd.py PPS PPSD")
        sys.exit(2)
    tests = [test_start_failures_and_detach, test_lifecycle,
              test_sigterm_mid_poll_then_rerun_exactly_once,
              test_backoff_wrong_password,
              test_same_mailbox_never_concurrent, test_privilege_drop]
    # PPSD_TESTS=name,name runs only those (while working on one).
    only = os.environ.get("PPSD_TESTS")
    if only:
        tests = [t for t in tests if t.__name__ in only.split(",")]
    e2e.main(tests)
