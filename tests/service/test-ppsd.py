"""ppsd end to end, against the Dovecot test bed: both scenarios on their
intervals, profiles added / edited / deleted while it runs, SIGHUP log
rotation, SIGTERM in the middle of a big poll (exit 0, the rest delivered
exactly once by the next run), back-off of a wrong password, max_parallel,
start-up failures and the exit statuses, and detaching with a pid file;
`ppsd --once`: one cycle without the start-up spread, max_parallel, the
exit statuses of failed, backing-off and broken profiles, SIGTERM.

Usage (under testbed.py run): test-ppsd.py PPS PPSD

Timing: the shortest interval a profile accepts is 10 s; every wait below
is a generous upper bound polled every 0.2 s, never an exact sleep that a
slow machine could miss, except where the test proves that something does
NOT happen (then it waits well past the time it would have happened).
"""
import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import zlib

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


def max_in_flight(lines):
    """The most polls in flight at once, from 'poll started' (logged
    before the thread starts) and 'poll done/failed' (logged by the poll
    before its slot is freed): never more than the scheduler ran."""
    now = most = 0
    for (_, _, _, msg) in lines:
        if msg == "poll started":
            now += 1
            most = max(most, now)
        elif msg.startswith("poll done:") or msg.startswith("poll failed:"):
            now -= 1
    return most


def once(conf, *args, timeout=120):
    """ppsd --once on conf: (exit status, seconds, stdout, stderr)."""
    t0 = time.monotonic()
    r = subprocess.run([PPSD, "-c", conf, "--once"] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, time.monotonic() - t0, r.stdout, r.stderr


def summary(conf):
    """The closing line of the last --once run in pop3.log."""
    got = [l for l in log_lines(conf)
           if l[3].startswith("ppsd stopped after one cycle:")]
    return got[-1] if got else None


def ledger_path(conf, remote_user, host="127.0.0.1"):
    """docs/ledger.md: state/<first 128 bits of SHA-256(host NUL user)>."""
    digest = hashlib.sha256(("%s\0%s" % (host, remote_user)).encode())
    return os.path.join(conf, "state", digest.hexdigest()[:32] + ".ledger")


def append_status(path, consecutive, next_allowed):
    """Append a poll-status record (docs/ledger.md, type T) as a poll that
    met a LOGIN-DELAY (consecutive = 0) would leave it."""
    now = int(time.time())
    body = "T %d %d 0 0 0 0 0 %d %d %d ok" % (now, now, consecutive,
                                              next_allowed, now)
    with open(path, "a") as f:
        f.write("%08x %s\n" % (zlib.crc32(body.encode()), body))


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
        # Delivered files are visible a moment before DELE and QUIT.
        wait_for(lambda: remote_count("single") == 0 and
                 remote_count("catchall") == 0, 10, "remote mailboxes emptied")

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


def test_once_cycle():
    """--once polls every enabled profile at once (no start-up spread),
    delivers everything, prints nothing on stdout (nor on stderr unless
    --foreground), never detaches, exits 0; a profile waiting for its
    server's LOGIN-DELAY is skipped without failing the cycle."""
    conf = service_conf("lmtp")
    mailboxes = ["single", "catchall", "user1", "user2", "user3"]
    earlier = sum(remote_count(b) for b in mailboxes)  # left by other tests
    for i, box in enumerate(mailboxes):  # default interval: 10 min
        add_profile(conf, "p%d" % i, box + "@remote.test", "alice")
        seed(box + "@remote.test",
             *[message("O-%d-%d" % (i, k), "x@isp.example")
               for k in range(3)])
    add_profile(conf, "off", "user1@remote.test", "bob", "--no-enabled")
    want = sorted("O-%d-%d" % (i, k) for i in range(5) for k in range(3))

    rc, secs, out, err = once(conf)
    check(rc == 0, "--once: exit 0 (got %d; stderr %r)" % (rc, err))
    # At start the service spreads first polls over up to 30 s (a tenth of
    # 10 min): five profiles all inside 10 s by chance is (1/3)^5.
    check(secs < 10, "--once is done in %.1f s, without the start-up "
          "spread" % secs)
    check(out == "" and err == "",
          "nothing on stdout, nor stderr without --foreground (%r, %r)" %
          (out, err))
    check(subjects("alice", "O-") == want,
          "every message delivered once, as soon as ppsd returned")
    check(not any(remote_count(b) for b in mailboxes),
          "every remote mailbox emptied")
    check(len([l for l in log_lines(conf) if l[3].startswith("poll done")])
          == 5, "pop3.log: five polls done")
    check(not lines_of(conf, "off", "poll"),
          "a disabled profile is not polled")
    last = summary(conf)
    check(last and last[1] == "info" and last[3] ==
          "ppsd stopped after one cycle: 5 profile(s): 5 ok, 0 failed; %d "
          "message(s) delivered, %d deleted; exit status 0" %
          (15 + earlier, 15 + earlier),
          "pop3.log: one closing line that sums the cycle: %r" % (last,))
    check(not os.path.exists(os.path.join(conf, "ppsd.pid")),
          "no pid file unless asked")

    # p0 polled a server that set LOGIN-DELAY 10 min (a status record as
    # the poll leaves it: no failure, next poll not before now + 600).
    append_status(ledger_path(conf, "single@remote.test"), 0,
                  int(time.time()) + 600)
    seed("single@remote.test", message("O-late-0", "x@isp.example"))
    seed("user1@remote.test", message("O-late-2", "x@isp.example"))
    pid_file = os.path.join(conf, "once.pid")
    rc, secs, out, err = once(conf, "--foreground", "--pid-file", pid_file)
    check(rc == 0, "LOGIN-DELAY is no failure: exit 0 (got %d)" % rc)
    check(out == "", "--foreground: still nothing on stdout")
    check("p2: poll done" in err and "ppsd stopped after one cycle" in err,
          "--foreground: the log lines on stderr too")
    check("O-late-2" in subjects("alice", "O-") and
          "O-late-0" not in subjects("alice", "O-") and
          remote_count("single") == 1,
          "the profile waiting for LOGIN-DELAY is not polled, the others "
          "are")
    check(lines_of(conf, "p0", "not polled: the server's LOGIN-DELAY"),
          "pop3.log: why p0 was not polled")
    check(summary(conf)[3].startswith(
          "ppsd stopped after one cycle: 5 profile(s): 4 ok, 0 failed, "
          "1 waiting for LOGIN-DELAY;"), "the closing line counts it")
    check(not os.path.exists(pid_file), "the pid file asked for is removed")


def test_once_max_parallel():
    """--once runs max_parallel polls at once, never more, and never two of
    one mailbox, like the service."""
    conf = service_conf("lmtp", "max_parallel = 2\n")
    mailboxes = ["single", "catchall", "user1", "user2", "user3"]
    body = "body line to make the poll last a little\n" * 400
    for i, box in enumerate(mailboxes):
        add_profile(conf, "m%d" % i, box + "@remote.test", "bob")
        seed_many(box + "@remote.test",
                  [message("M-%d-%02d" % (i, k), "x@isp.example") + body
                   for k in range(30)])
    add_profile(conf, "m2-twin", "user1@remote.test", "carol")
    rc, secs, out, err = once(conf)
    check(rc == 0, "exit 0 (got %d; %r)" % (rc, err))
    lines = log_lines(conf)
    most = max_in_flight(lines)
    check(most == 2, "at most max_parallel = 2 polls at once, and 2 were "
          "(%d)" % most)
    twins = [l for l in lines if l[2] in ("m2", "m2-twin")]
    check(check_never_overlapping(twins) == 2,
          "the two profiles of one mailbox polled one after the other")
    got = sorted(subjects("bob", "M-") + subjects("carol", "M-"))
    check(got == sorted("M-%d-%02d" % (i, k) for i in range(5)
                        for k in range(30)),
          "150 messages, each delivered once")
    check(summary(conf)[3].startswith(
          "ppsd stopped after one cycle: 6 profile(s): 6 ok, 0 failed;"),
          "six profiles polled")


def test_once_failures():
    """A wrong password makes the exit status 1 while the other profiles
    are delivered; the next --once honours the back-off (skips it, says so
    on stderr, exit 1); `pps fetch` of the fixed profile ends it; a profile
    that is not valid makes it 2.  Without --foreground, stderr has the
    error lines only: what cron would mail."""
    conf = service_conf("lmtp")
    add_profile(conf, "good-a", "user2@remote.test", "carol")
    add_profile(conf, "good-b", "user3@remote.test", "carol")
    server = "127.0.0.1 %ss" % TB["PPS_TB_POP3S_PORT"]
    pps(conf, "profile", "add", "badpw", "--server", server,
        "--user", "user1@remote.test", "--password-stdin",
        "--local-user", "bob", "--local-domain", "local.test",
        "--tls-ca-file", TB["PPS_TB_CA_FILE"], stdin="not-the-password\n")
    seed("user1@remote.test", message("W-bad", "x@isp.example"))
    seed("user2@remote.test", message("W-a1", "x@isp.example"))
    seed("user3@remote.test", message("W-b1", "x@isp.example"))

    rc, secs, out, err = once(conf)
    check(rc == 1, "a wrong password: exit 1 (got %d)" % rc)
    check(subjects("carol", "W-") == ["W-a1", "W-b1"],
          "the other profiles are delivered all the same")
    check(remote_count("user1") == 1, "the failing mailbox keeps its mail")
    errs = err.splitlines()
    check(out == "" and errs and
          all(": error: " in e for e in errs) and
          any("badpw: poll failed" in e for e in errs) and
          not any("good-" in e for e in errs),
          "stdout empty; stderr: the error lines only (%r)" % err)
    check("3 profile(s): 2 ok, 1 failed;" in errs[-1] and
          errs[-1].endswith("exit status 1"),
          "the closing line on stderr: %r" % errs[-1])

    seed("user2@remote.test", message("W-a2", "x@isp.example"))
    rc, secs, out, err = once(conf)
    check(rc == 1, "backing off: exit 1 again (got %d)" % rc)
    check(len(lines_of(conf, "badpw", "poll failed")) == 1,
          "no new login with the wrong password (back-off honoured)")
    check("badpw: not polled: backing off until" in err,
          "stderr says the profile is backing off")
    check("W-a2" in subjects("carol", "W-"), "the others still delivered")
    check("3 profile(s): 2 ok, 0 failed, 1 backing off;" in
          err.splitlines()[-1], "the closing line counts it")

    # The administrator fixes the password; `pps fetch` ignores the back-off.
    pps(conf, "profile", "edit", "badpw", "--password-stdin",
        stdin=TB["PPS_TB_PASSWORD"] + "\n")
    pps(conf, "fetch", "badpw")
    check("W-bad" in subjects("bob", "W-"), "pps fetch of the fixed profile")
    rc, secs, out, err = once(conf)
    check(rc == 0 and err == "", "back-off over: exit 0, stderr empty")

    with open(os.path.join(conf, "profiles", "broken.conf"), "w") as f:
        f.write("server = 127.0.0.1 %ss\nfrobnicate = yes\n" %
                TB["PPS_TB_POP3S_PORT"])
    os.chmod(os.path.join(conf, "profiles", "broken.conf"), 0o600)
    seed("user3@remote.test", message("W-b2", "x@isp.example"))
    rc, secs, out, err = once(conf)
    check(rc == 2, "a profile that is not valid: exit 2 (got %d)" % rc)
    check("broken" in err and "W-b2" in subjects("carol", "W-"),
          "named on stderr; the others still delivered")


def test_once_sigterm():
    """SIGTERM during --once: the poll in progress finishes its message in
    hand and QUITs, profiles not started are not, exit 1 (the cycle is not
    complete); nothing lost, and the next --once delivers the rest exactly
    once."""
    total = 300
    conf = service_conf("lmtp", "max_parallel = 1\n")
    add_profile(conf, "a-bulk", "user2@remote.test", "carol")
    add_profile(conf, "b-small", "user3@remote.test", "carol")
    pad = "X-Pad: " + "p" * 900 + "\n"
    body = ("line of body text to make the message take some time\n" * 300)
    seed_many("user2@remote.test",
              [message("S-%03d" % i, "x@isp.example", extra=pad) + body
               for i in range(total)])
    seed("user3@remote.test", message("S-small", "x@isp.example"))

    p = subprocess.Popen([PPSD, "-c", conf, "--once"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        wait_for(lambda: len(subjects("carol", "S-")) >= 5, 60,
                 "the big poll is under way")
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    check(p.returncode == 1, "SIGTERM cut the cycle short: exit 1 (got %d)"
          % p.returncode)
    got = subjects("carol", "S-")
    left = remote_count("user2")
    check(out == "", "nothing on stdout")
    check(len(got) < total, "the poll stopped early (%d of %d)" %
          (len(got), total))
    check(left == total - len(got),
          "QUIT committed the DELEs of everything delivered (%d + %d)" %
          (len(got), left))
    check(not lines_of(conf, "b-small", "poll"),
          "the profile not yet started is not started after the signal")
    check("2 stopped by a signal" in err.splitlines()[-1],
          "stderr: the closing line says why (%r)" % err.splitlines()[-1])

    rc, secs, out, err = once(conf)
    check(rc == 0, "the next --once: exit 0 (got %d)" % rc)
    got = subjects("carol", "S-")
    check(got == sorted(["S-%03d" % i for i in range(total)] + ["S-small"]),
          "every message exactly once (%d delivered)" % len(got))
    check(remote_count("user2") == 0 and remote_count("user3") == 0,
          "both mailboxes emptied")


if __name__ == "__main__":
    if not PPSD:
        print("usage: test-ppsd.py PPS PPSD")
        sys.exit(2)
    tests = [test_start_failures_and_detach, test_lifecycle,
              test_sigterm_mid_poll_then_rerun_exactly_once,
              test_backoff_wrong_password,
              test_same_mailbox_never_concurrent, test_privilege_drop,
              test_once_cycle, test_once_max_parallel, test_once_failures,
              test_once_sigterm]
    # PPSD_TESTS=name,name runs only those (while working on one).
    only = os.environ.get("PPSD_TESTS")
    if only:
        tests = [t for t in tests if t.__name__ in only.split(",")]
    e2e.main(tests)
