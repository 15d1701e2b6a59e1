#!/usr/bin/env python3
"""Proves the test bed stops exactly what it started.

Usage: test-testbed-lifecycle.py PATH/TO/testbed.py   (run directly, as root)

  - `start --dir D` / `stop --dir D`: the master pid from D/run/master.pid and
    all its children are gone afterwards, ports are closed, D is removed;
  - `run -- CMD` exits with CMD's status and prints Dovecot's log on failure;
  - `run --keep` stops Dovecot but keeps the folder;
  - a SIGTERM to the runner's process group (what meson does on timeout)
    stops everything within meson's 0.5 s grace period;
  - a SIGKILL of the runner alone still takes Dovecot down (PDEATHSIG);
  - `--users 1000` starts quickly.
Processes are found independently of testbed.py: by /proc session id and by
command lines naming the folder.
"""

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TB = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else \
    os.path.join(os.path.dirname(__file__), "..", "testbed", "testbed.py")
SKIP = 77
failures = 0


def check(cond, what, detail=""):
    global failures
    print("%s: %s" % ("ok" if cond else "FAIL", what), flush=True)
    if not cond:
        failures += 1
        if detail:
            print("    " + str(detail).replace("\n", "\n    "), flush=True)
    return cond


def tb(*args, **kw):
    return subprocess.run([sys.executable, TB] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=60, **kw)


def alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def procs_of(d, sid=None):
    """Live processes whose command line names folder d (Dovecot titles its
    children after instance_name, derived from d) or in session sid."""
    base = os.path.basename(d.rstrip("/")).encode()
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        pid = int(name)
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmd = f.read()
            with open("/proc/%s/stat" % name) as f:
                psid = int(f.read().rsplit(")", 1)[1].split()[4])
        except (OSError, ValueError, IndexError):
            continue
        if not alive(pid):
            continue
        if (base in cmd and b"testbed.py" not in cmd
                and b"sleep" not in cmd and b"sh\0-c" not in cmd) \
                or (sid is not None and psid == sid):
            out.append((pid, cmd.replace(b"\0", b" ").decode(errors="replace")))
    return out


def wait_until(pred, timeout):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_start_stop():
    d = tempfile.mkdtemp(prefix="pps-tb-lc-")
    t0 = time.monotonic()
    r = tb("start", "--dir", d)
    t_start = time.monotonic() - t0
    if not check(r.returncode == 0, "start --dir (%.2f s)" % t_start,
                 r.stderr):
        shutil.rmtree(d, ignore_errors=True)
        return
    env = {}
    for line in r.stdout.splitlines():
        k, _, v = line[len("export "):].partition("=")
        env[k] = v.strip("'")
    with open(os.path.join(d, "env")) as f:
        check(f.read() == r.stdout, "D/env holds the printed exports")
    with open(os.path.join(d, "run", "master.pid")) as f:
        master = int(f.read())
    check(os.readlink("/proc/%d/exe" % master) == "/usr/sbin/dovecot",
          "master pid %d is /usr/sbin/dovecot" % master)
    kids = [p for p in procs_of(d, sid=master) if p[0] != master]
    check(len(kids) >= 4, "master has its children (%d)" % len(kids), kids)
    port = int(env["PPS_TB_POP3_PORT"])
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    check(s.recv(100).startswith(b"+OK"), "POP3 answers while started")
    s.close()
    msg = os.path.join(d, "msg.eml")
    with open(msg, "w") as f:
        f.write("Subject: x\n\nx\n")
    r2 = tb("seed", "--dir", d, "user2", msg, msg)
    r3 = tb("count", "--dir", d, "user2@remote.test")
    check(r2.returncode == 0 and r3.stdout.strip() == "2",
          "seed/count with --dir", r2.stderr + r3.stdout)

    t0 = time.monotonic()
    r = tb("stop", "--dir", d)
    t_stop = time.monotonic() - t0
    check(r.returncode == 0, "stop --dir (%.2f s)" % t_stop, r.stderr)
    check(not alive(master), "master pid %d is gone" % master)
    left = [p for p in kids if alive(p[0])]
    check(not left, "all %d children are gone" % len(kids), left)
    left = procs_of(d, sid=master)
    check(not left, "no process names the folder or is in the session", left)
    check(not port_open(port), "POP3 port closed")
    check(not os.path.exists(d), "folder removed")


def run_with_dirfile(args, **kw):
    f = tempfile.NamedTemporaryFile(prefix="pps-tb-lc-", delete=False)
    f.close()
    cmd = [sys.executable, TB, "run"] + args + [
        "--", "sh", "-c", 'echo "$PPS_TB_DIR" > %s; %s' % (f.name, kw.pop(
            "shell_tail"))]
    return f.name, cmd


def read_dirfile(path, timeout=10):
    def ready():
        try:
            with open(path) as f:
                return f.read().endswith("\n")
        except OSError:
            return False
    if not wait_until(ready, timeout):
        return None
    with open(path) as f:
        return f.read().strip()


def test_run_status():
    path, cmd = run_with_dirfile([], shell_tail="exit 3")
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    d = read_dirfile(path, 0)
    os.unlink(path)
    check(r.returncode == 3, "run exits with CMD's status 3", r.returncode)
    check("starting up for pop3, lmtp" in r.stderr,
          "run prints Dovecot's log when CMD fails", r.stderr[-500:])
    check(d and not os.path.exists(d), "run removed its folder", d)
    check(d and not procs_of(d), "no process left after run", d)

    path, cmd = run_with_dirfile(["--keep"], shell_tail="exit 0")
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    d = read_dirfile(path, 0)
    os.unlink(path)
    check(r.returncode == 0 and "starting up" not in r.stderr,
          "run --keep: status 0, no log printed", r.stderr)
    check(d and os.path.isfile(os.path.join(d, "dovecot.log")),
          "run --keep keeps the folder and log", d)
    check(d and not procs_of(d), "run --keep: processes stopped")
    if d and d.startswith(tempfile.gettempdir()):
        shutil.rmtree(d, ignore_errors=True)


def test_sigterm_group():
    path, cmd = run_with_dirfile([], shell_tail="exec sleep 60")
    p = subprocess.Popen(cmd, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    d = read_dirfile(path)
    os.unlink(path)
    if not check(d is not None, "run started (for SIGTERM test)"):
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        return
    t0 = time.monotonic()
    os.killpg(p.pid, signal.SIGTERM)  # what meson does on timeout
    try:
        rc = p.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        rc = p.wait()
    took = time.monotonic() - t0
    p.stderr.close()
    check(rc == 128 + signal.SIGTERM, "SIGTERM: run exits 143", rc)
    # meson sends SIGKILL 0.5 s after SIGTERM; allow slack for a busy machine
    check(took < 1.0, "SIGTERM: cleaned up in %.2f s" % took)
    check(not procs_of(d), "SIGTERM: no process left", procs_of(d))
    check(not os.path.exists(d), "SIGTERM: folder removed")


def test_sigkill_runner():
    path, cmd = run_with_dirfile([], shell_tail="exec sleep 60")
    p = subprocess.Popen(cmd, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    d = read_dirfile(path)
    os.unlink(path)
    if not check(d is not None, "run started (for SIGKILL test)"):
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        return
    os.kill(p.pid, signal.SIGKILL)  # the runner only; no cleanup possible
    p.wait()
    t0 = time.monotonic()
    # Dovecot's own shutdown can take seconds (idle lmtp processes linger).
    gone = wait_until(lambda: not procs_of(d), 20)
    check(gone, "SIGKILL of runner: Dovecot exits by itself (PDEATHSIG) "
          "in %.2f s" % (time.monotonic() - t0),
          procs_of(d))
    try:
        os.killpg(p.pid, signal.SIGKILL)  # the orphaned sleep
    except ProcessLookupError:
        pass
    shutil.rmtree(d, ignore_errors=True)


def test_many_users():
    d = tempfile.mkdtemp(prefix="pps-tb-lc-")
    t0 = time.monotonic()
    r = tb("start", "--dir", d, "--users", "1000")
    took = time.monotonic() - t0
    if check(r.returncode == 0, "start --users 1000 (%.2f s)" % took,
             r.stderr):
        check(took < 5, "1000 users start in under 5 s")
        check("PPS_TB_USER_COUNT=1000" in r.stdout, "PPS_TB_USER_COUNT=1000")
        c = tb("count", "--dir", d, "user1000")
        check(c.returncode == 0 and c.stdout.strip() == "0",
              "user1000 has a maildir", c.stderr)
        r = tb("stop", "--dir", d)
        check(r.returncode == 0 and not os.path.exists(d),
              "stop after 1000 users", r.stderr)
    shutil.rmtree(d, ignore_errors=True)


def reap_orphans():
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root")
        return SKIP
    # `testbed.py start` exits leaving Dovecot running; be its subreaper so
    # its processes come back to us and none stays a zombie of init's.
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    t0 = time.monotonic()
    for t in (test_start_stop, test_run_status, test_sigterm_group,
              test_sigkill_runner, test_many_users):
        t()
        reap_orphans()
    print("%d failure(s) in %.2f s" % (failures, time.monotonic() - t0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
