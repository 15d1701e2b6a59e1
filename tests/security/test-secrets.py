"""Secrets never leak: full polls with the test bed's password, at trace
level, through `pps fetch -vvv` and `ppsd --foreground` (log_level =
trace), with every auth method Dovecot offers that the engine supports and
every password source; then the password and its base64 forms (as AUTH
PLAIN and AUTH LOGIN would carry them) are searched for in every output,
pop3.log, every file of the configuration folder but the profile files,
and /proc/PID/{cmdline,environ} of ppsd and its children while it runs.
Also: file modes, a group-readable profile refused with `chmod 600`,
`profile show` masking, a wrong password's error not quoting it.

Usage (under testbed.py run): test-secrets.py PPS PPSD
"""
import base64
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "poll"))
import e2e  # noqa: E402
from e2e import TB, check, fail, pps, seed, local, new_confdir  # noqa: E402

PPSD = sys.argv[2]
PASSWORD = TB["PPS_TB_PASSWORD"]
WRONG = "pps-Wrong-secret9"  # never anybody's password: must never show
CHECKED = []  # (what, text) of every output searched at the end


def forms(pw, users):
    """The password and its base64 forms: AUTH LOGIN sends b64(pw), AUTH
    PLAIN b64(authzid NUL user NUL pw) with an empty or equal authzid."""
    out = {pw.encode(), base64.b64encode(pw.encode())}
    for u in users:
        for authz in ("", u):
            out.add(base64.b64encode(
                ("%s\0%s\0%s" % (authz, u, pw)).encode()))
    return out


USERS = ["user%d@remote.test" % i for i in range(1, 7)]
SECRETS = forms(PASSWORD, USERS) | forms(WRONG, USERS)


def leaked(data):
    if isinstance(data, str):
        data = data.encode()
    return [s for s in SECRETS if s in data]


def scan(what, data):
    found = leaked(data)
    if found:
        fail("%s contains a secret (%r)" % (what, found[0][:6] + b"..."))
    CHECKED.append(what)


def conf_trace():
    d = new_confdir("lmtp")
    path = os.path.join(d, "pps.conf")
    text = open(path).read().replace("log_level = debug", "log_level = trace")
    with open(path, "w") as f:
        f.write(text)
    return d


def add(conf, name, user, *source, stdin=None):
    r = pps(conf, "profile", "add", name, "--server",
            "127.0.0.1 %ss" % TB["PPS_TB_POP3S_PORT"], "--user", user,
            "--local-user", "alice", "--local-domain", "local.test",
            "--tls-ca-file", TB["PPS_TB_CA_FILE"], *source, stdin=stdin)
    scan("stdout/stderr of profile add %s" % name, r.stdout + r.stderr)


def secret_dir():
    """A folder outside the configuration for password_file/-command."""
    d = e2e.scratch_dir("pps-sec-")
    pwfile = os.path.join(d, "pw")
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, (PASSWORD + "\n").encode())
    os.close(fd)
    script = os.path.join(d, "pw.sh")
    with open(script, "w") as f:
        # Slow on purpose, so that the child is seen in /proc while ppsd
        # waits for it.
        f.write("#!/bin/sh\nsleep 0.5\nexec cat '%s'\n" % pwfile)
    os.chmod(script, 0o700)
    return pwfile, script


def scan_folder(conf):
    """Every file but the profiles (which hold the password by design)."""
    for root, dirs, files in os.walk(conf):
        for n in files:
            p = os.path.join(root, n)
            if os.path.dirname(p) == os.path.join(conf, "profiles") and \
                    n.endswith(".conf"):
                continue
            scan(p, open(p, "rb").read())


def check_modes(conf):
    for n in os.listdir(os.path.join(conf, "profiles")):
        m = stat.S_IMODE(os.stat(os.path.join(conf, "profiles", n)).st_mode)
        if m & 0o077:
            fail("profile %s has mode %04o" % (n, m))
    st = os.path.join(conf, "state")
    for root, dirs, files in os.walk(st):
        m = stat.S_IMODE(os.stat(root).st_mode)
        if m & 0o077:
            fail("state folder %s has mode %04o" % (root, m))
        for n in files:
            m = stat.S_IMODE(os.stat(os.path.join(root, n)).st_mode)
            if m & 0o077:
                fail("state file %s has mode %04o" % (n, m))
    m = stat.S_IMODE(os.stat(os.path.join(conf, "pop3.log")).st_mode)
    if m & 0o007:
        fail("pop3.log is readable by others: %04o" % m)
    print("ok: modes: profiles and state private, pop3.log not world-"
          "readable (%04o)" % m)


def message(tag, i):
    return ("From: s@elsewhere.example\nTo: alice@local.test\n"
            "Subject: %s-%d\nMessage-ID: <%s-%d@sec.test>\n\nbody\n" %
            (tag, i, tag, i))


def subjects(prefix):
    return [m for m in local("alice") if b"Subject: " + prefix.encode() in m]


# --- the tests -------------------------------------------------------------

def test_fetch_every_auth_and_source():
    """pps fetch -vvv: auto, plain, login, user with --password-stdin;
    auto with --password-file and --password-command."""
    conf = conf_trace()
    pwfile, script = secret_dir()
    cases = [("auto", "user1@remote.test", ["--password-stdin"]),
             ("plain", "user2@remote.test", ["--password-stdin"]),
             ("login", "user3@remote.test", ["--password-stdin"]),
             ("user", "user4@remote.test", ["--password-stdin"]),
             ("auto", "user5@remote.test", ["--password-file", pwfile]),
             ("auto", "user6@remote.test", ["--password-command", script])]
    for i, (auth, user, source) in enumerate(cases):
        name = "p%d" % i
        stdin = PASSWORD + "\n" if source[0] == "--password-stdin" else None
        add(conf, name, user, "--auth", auth, *source, stdin=stdin)
        seed(user, message("F%d" % i, 1))
        r = pps(conf, "-vvv", "fetch", name)
        check("1 delivered" in r.stdout,
              "fetch %s (auth %s, %s): delivered" % (name, auth, source[0]))
        check("trace:" in r.stderr, "fetch -vvv wrote the trace")
        scan("stdout of fetch %s" % name, r.stdout)
        scan("stderr of fetch %s" % name, r.stderr)
    r = pps(conf, "status")
    scan("stdout/stderr of status", r.stdout + r.stderr)
    r = pps(conf, "-vvv", "check", "p2")
    scan("stdout/stderr of check", r.stdout + r.stderr)
    log = open(os.path.join(conf, "pop3.log"), "rb").read()
    check(b"--> AUTH PLAIN" in log and b"--> AUTH LOGIN" in log and
          b"--> PASS" in log, "pop3.log has the transcript of every method")
    scan_folder(conf)
    check_modes(conf)
    check(stat.S_IMODE(os.stat(pwfile).st_mode) == 0o600,
          "password file untouched, 0600")

    for i in range(len(cases)):
        r = pps(conf, "profile", "show", "p%d" % i)
        scan("profile show p%d" % i, r.stdout + r.stderr)
    r = pps(conf, "profile", "show", "p0")
    check("password = ********" in r.stdout, "profile show masks it")


def descendants(pid):
    """pid and every process below it (via /proc/*/stat)."""
    kids = {}
    for n in os.listdir("/proc"):
        if not n.isdigit():
            continue
        try:
            s = open("/proc/%s/stat" % n).read()
        except OSError:
            continue
        ppid = int(s.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(n))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def test_ppsd_trace():
    """ppsd --foreground, log_level = trace, the same methods and sources,
    /proc of ppsd and its children sampled while it polls."""
    conf = conf_trace()
    pwfile, script = secret_dir()
    cases = [("auto", "user1@remote.test", ["--password-stdin"]),
             ("plain", "user2@remote.test", ["--password-stdin"]),
             ("login", "user3@remote.test", ["--password-command", script]),
             ("user", "user4@remote.test", ["--password-file", pwfile])]
    for i, (auth, user, source) in enumerate(cases):
        stdin = PASSWORD + "\n" if source[0] == "--password-stdin" else None
        add(conf, "d%d" % i, user, "--auth", auth, "--interval", "10s",
            *source, stdin=stdin)
        seed(user, message("D%d" % i, 1))
    out = open(os.path.join(conf, "ppsd.out"), "wb")
    # The test bed hands its password to this test in PPS_TB_PASSWORD;
    # ppsd must not inherit it, or its environ would "leak" what we put in.
    env = {k: v for k, v in os.environ.items() if k != "PPS_TB_PASSWORD"}
    p = subprocess.Popen([PPSD, "-c", conf, "--foreground"], stdout=out,
                         stderr=subprocess.STDOUT, env=env)
    seen, children, leaks = set(), set(), []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            for pid in descendants(p.pid):
                for what in ("cmdline", "environ"):
                    try:
                        data = open("/proc/%d/%s" % (pid, what), "rb").read()
                    except OSError:
                        continue
                    if leaked(data):
                        leaks.append("/proc/%d/%s (%s)" % (
                            pid, what, data[:60]))
                    CHECKED.append("/proc/%d/%s" % (pid, what))
                    seen.add(pid)
                    if pid != p.pid:
                        children.add(pid)
            time.sleep(0.02)

    t = threading.Thread(target=sample)
    t.start()
    try:
        deadline = time.time() + 40
        while time.time() < deadline and len(subjects("D")) < len(cases):
            time.sleep(0.2)
    finally:
        stop.set()
        t.join()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(60)
        out.close()
    check(not leaks, "no secret in /proc of ppsd or its children: %s" %
          leaks[:3])
    check(len(subjects("D")) == len(cases),
          "ppsd delivered one message per method")
    check(rc == 0, "ppsd stopped with 0")
    check(p.pid in seen, "/proc of ppsd was read while it ran")
    check(children, "password_command's child was seen in /proc (%d)" %
          len(children))
    scan_folder(conf)
    check_modes(conf)
    log = open(os.path.join(conf, "pop3.log"), "rb").read()
    check(b"--> AUTH LOGIN" in log and b"--> PASS" in log,
          "ppsd's pop3.log has the trace")


def test_wrong_password_and_modes():
    """A wrong password's error names neither it nor its base64; a
    group-readable profile is refused naming the file and chmod 600."""
    conf = conf_trace()
    for auth in ("plain", "login", "user"):
        add(conf, "w" + auth, "user1@remote.test", "--auth", auth,
            "--password-stdin", stdin=WRONG + "\n")
        r = pps(conf, "-vvv", "fetch", "w" + auth, expect=1)
        check("w" + auth in r.stderr, "wrong password (%s): fails, says "
              "so: %s" % (auth, r.stderr.strip().splitlines()[-1]))
        scan("stdout of wrong fetch", r.stdout)
        scan("stderr of wrong fetch", r.stderr)
    scan_folder(conf)

    prof = os.path.join(conf, "profiles", "wplain.conf")
    os.chmod(prof, 0o640)
    r = pps(conf, "fetch", "wplain", expect=None)
    check(r.returncode != 0 and prof in r.stderr and "chmod 600" in r.stderr,
          "group-readable profile refused: %s" % r.stderr.strip())
    scan("stderr of refused profile", r.stderr)


if __name__ == "__main__":
    e2e.main([test_fetch_every_auth_and_source, test_ppsd_trace,
              test_wrong_password_and_modes])
    print("searched %d outputs, files and /proc entries" % len(CHECKED))
