#!/usr/bin/env python3
"""Soak: ppsd with many profiles against the Dovecot test bed for a bounded
time, mail arriving all the time, faults injected, RSS watched; at the end
every message sent must be in exactly one local maildir, exactly once.

Not part of `meson test` (it runs for minutes).  Run it under the test bed:

  tests/testbed/testbed.py run --users 200 -- \\
      python3 tests/soak/soak.py --minutes 10 build/hosts/cli/pps \\
      build/hosts/service/ppsd

What it does:
- one profile per remote user user1..userN (interval 10 s, the minimum the
  profile parser allows), POP3S, maildir delivery into CONF/mail/<profile>;
- a seeder thread puts a message with a unique Message-ID into a random
  account every --seed-every seconds (default 0.05);
- a fault every --fault-every seconds (default 20), in turn: ppsd stopped
  with SIGTERM and restarted; ppsd killed with SIGKILL and restarted; the
  password of a random account made wrong in the test bed's passwd file
  for one fault period, then restored;
- ppsd's VmRSS sampled every 5 s and printed;
- at the end: seeding stops, the passwords are restored, ppsd runs until
  every message sent is delivered (or --drain seconds pass), then SIGTERM.
  Checks: delivered = sent, no Message-ID twice, no unknown Message-ID,
  the remote maildirs empty.  Exit 0 when all hold.
"""
import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "testbed"))
import testbed  # noqa: E402

TB = os.environ
MSGID = re.compile(rb"^Message-ID: <([^>]*)>", re.M | re.I)


def log(msg):
    print("%s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def setup(pps, n):
    conf = tempfile.mkdtemp(prefix="pps-soak-")
    os.chmod(conf, 0o700)
    with open(os.path.join(conf, "pps.conf"), "w") as f:
        f.write("[delivery]\nmethod = maildir\npath = %s/mail/%%u\n"
                "[service]\nlog_level = info\n" % conf)
    for i in range(1, n + 1):
        # maildir delivery writes into existing maildirs only (a missing
        # one is an unknown local user).
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(conf, "mail", "u%d" % i, sub), 0o700)
        subprocess.run(
            [pps, "-c", conf, "profile", "add", "s%d" % i, "--server",
             "127.0.0.1 %ss" % TB["PPS_TB_POP3S_PORT"], "--user",
             "user%d@remote.test" % i, "--password-stdin",
             "--local-user", "u%d" % i, "--local-domain", "local.test",
             "--tls-ca-file", TB["PPS_TB_CA_FILE"], "--interval", "10s"],
            input=TB["PPS_TB_PASSWORD"] + "\n", text=True, check=True,
            capture_output=True)
    return conf


class Daemon:
    def __init__(self, ppsd, conf):
        self.ppsd, self.conf, self.p = ppsd, conf, None
        self.err = open(os.path.join(conf, "ppsd.stderr"), "ab")

    def start(self):
        self.p = subprocess.Popen([self.ppsd, "-c", self.conf,
                                   "--foreground"],
                                  stdout=subprocess.DEVNULL, stderr=self.err)

    def stop(self, sig=signal.SIGTERM):
        self.p.send_signal(sig)
        rc = self.p.wait(120)
        return rc

    def rss_kib(self):
        try:
            for line in open("/proc/%d/status" % self.p.pid):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return None


class Seeder(threading.Thread):
    def __init__(self, n, every):
        super().__init__(daemon=True)
        self.n, self.every = n, every
        self.sent = []
        self.stop_ev = threading.Event()
        self.errors = 0

    def run(self):
        seq = 0
        while not self.stop_ev.is_set():
            seq += 1
            mid = "soak-%d-%d@soak.test" % (os.getpid(), seq)
            user = "user%d" % random.randint(1, self.n)
            body = ("From: soak@elsewhere.example\nTo: %s@remote.test\n"
                    "Subject: soak %d\nMessage-ID: <%s>\n\n%s\n" %
                    (user, seq, mid, "x" * random.randint(10, 4000)))
            try:
                testbed.seed(TB["PPS_TB_DIR"], user, [body.encode()])
                self.sent.append(mid)
            except Exception as e:  # counted, never silently lost
                self.errors += 1
                log("seed failed: %s" % e)
            self.stop_ev.wait(self.every)


class Passwords:
    """Make one account's password wrong in the test bed's passwd-file
    (Dovecot re-reads it when it changes), and restore it."""

    def __init__(self):
        self.path = os.path.join(TB["PPS_TB_DIR"], "users.passwd")
        self.original = open(self.path).read()

    def break_one(self, user):
        text = self.original.replace(
            "%s@remote.test:{PLAIN}%s:" % (user, TB["PPS_TB_PASSWORD"]),
            "%s@remote.test:{PLAIN}soak-wrong:" % user)
        self._write(text)

    def restore(self):
        self._write(self.original)

    def _write(self, text):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.path)


def delivered(conf):
    """Message-IDs of every message in the local maildirs (with repeats)."""
    out = []
    root = os.path.join(conf, "mail")
    if not os.path.isdir(root):
        return out
    for prof in os.listdir(root):
        for sub in ("new", "cur"):
            d = os.path.join(root, prof, sub)
            if not os.path.isdir(d):
                continue
            for n in os.listdir(d):
                with open(os.path.join(d, n), "rb") as f:
                    m = MSGID.search(f.read(8192))
                out.append(m.group(1).decode() if m else "(none)")
    return out


def remote_left(n):
    total = 0
    for i in range(1, n + 1):
        md = TB["PPS_TB_REMOTE_MAILDIR_FMT"] % ("user%d" % i)
        for sub in ("new", "cur"):
            d = os.path.join(md, sub)
            if os.path.isdir(d):
                total += len(os.listdir(d))
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--seed-every", type=float, default=0.05)
    ap.add_argument("--fault-every", type=float, default=20)
    ap.add_argument("--drain", type=float, default=300)
    ap.add_argument("pps")
    ap.add_argument("ppsd")
    a = ap.parse_args()
    n = int(TB["PPS_TB_USER_COUNT"])

    t0 = time.time()
    conf = setup(a.pps, n)
    log("%d profiles in %s (%.1f s)" % (n, conf, time.time() - t0))
    d = Daemon(a.ppsd, conf)
    pw = Passwords()
    d.start()
    seeder = Seeder(n, a.seed_every)
    seeder.start()

    rss = []
    faults = {"sigterm": 0, "sigkill": 0, "wrong-password": 0}
    kinds = ["sigterm", "wrong-password", "sigkill", "wrong-password"]
    end = time.time() + a.minutes * 60
    next_rss, next_fault, k, broken = time.time(), time.time() + \
        a.fault_every, 0, None
    while time.time() < end:
        now = time.time()
        if now >= next_rss:
            r = d.rss_kib()
            if r:
                rss.append(r)
            log("RSS %s KiB, sent %d, delivered %d" %
                (r, len(seeder.sent), len(delivered(conf))))
            next_rss = now + 5
        if now >= next_fault:
            if broken:
                pw.restore()
                broken = None
            kind = kinds[k % len(kinds)]
            k += 1
            if kind == "wrong-password":
                broken = "user%d" % random.randint(1, n)
                pw.break_one(broken)
                log("fault: wrong password for %s" % broken)
            else:
                sig = signal.SIGTERM if kind == "sigterm" else signal.SIGKILL
                rc = d.stop(sig)
                log("fault: ppsd %s (exit %s), restarted" % (kind, rc))
                if kind == "sigterm" and rc != 0:
                    log("ERROR: ppsd exited %d on SIGTERM" % rc)
                d.start()
            faults[kind] += 1
            next_fault = now + a.fault_every
        time.sleep(0.2)

    seeder.stop_ev.set()
    seeder.join()
    if broken:
        pw.restore()
    sent = list(seeder.sent)
    log("seeding stopped: %d sent (%d seed errors); draining" %
        (len(sent), seeder.errors))
    t_drain = time.time()
    while time.time() - t_drain < a.drain:
        if len(set(delivered(conf)) & set(sent)) >= len(sent) and \
                remote_left(n) == 0:
            break
        time.sleep(1)
    drain_s = time.time() - t_drain
    r = d.rss_kib()
    if r:
        rss.append(r)
    rc = d.stop()

    got = delivered(conf)
    counts = {}
    for m in got:
        counts[m] = counts.get(m, 0) + 1
    dups = [m for m, c in counts.items() if c > 1]
    missing = set(sent) - set(counts)
    unknown = set(counts) - set(sent)
    left = remote_left(n)
    log("RESULT: sent %d, delivered %d files, %d distinct; duplicates %d, "
        "missing %d, unknown %d, left on server %d; drain %.0f s; ppsd "
        "final exit %d" % (len(sent), len(got), len(counts), len(dups),
                           len(missing), len(unknown), left, drain_s, rc))
    log("RSS KiB: first %s, last %s, max %s (%d samples)" %
        (rss[0] if rss else None, rss[-1] if rss else None,
         max(rss) if rss else None, len(rss)))
    log("faults: %s" % faults)
    if dups:
        log("duplicates: %s" % dups[:10])
    if missing:
        log("missing: %s" % sorted(missing)[:10])
    ok = not dups and not missing and not unknown and left == 0 and rc == 0
    log("PASS" if ok else "FAIL (folder kept: %s)" % conf)
    if ok:
        shutil.rmtree(conf)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
