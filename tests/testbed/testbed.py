#!/usr/bin/env python3
"""Private Dovecot test bed for libpps integration tests.

Starts a Dovecot (2.3) that lives entirely in one temporary folder: its
configuration, generated test certificates, runtime sockets, state, log and
all mail.  It listens on loopback only, on ports chosen at run time, so any
number of test beds can run in parallel.  The system Dovecot and /etc/dovecot
are never used.

Sub-commands
    run [--dir D] [--keep] [--users N] [--reuse-processes] -- CMD ARGS...
        Start, run CMD with the variables below in its environment, stop,
        exit with CMD's status.  Prints Dovecot's log to stderr if CMD fails.
        Exits 77 (meson "skip") if not root or Dovecot is missing, unless
        PPS_TB_REQUIRE=1 is set (then it is an error, status 1).
    start [--dir D] [--users N] [--reuse-processes]
        Start and leave running; prints `export K=V` lines (also in D/env).
    --reuse-processes: Dovecot's high-performance mode, for benchmarks with
        many logins: pop3-login and pop3 processes serve one connection
        after another instead of one each (see REUSE_CONF below).
    stop [--dir D] [--keep]
        Stop the test bed in D (default $PPS_TB_DIR) and remove D.
    seed [--dir D] USER FILE...    ("-" reads stdin)
        Put messages into USER's Maildir/new (creating the Maildir if
        needed).  USER without "@" means USER@remote.test.
    count [--dir D] USER
        Print the number of messages in USER's Maildir (new + cur).

Environment given to CMD (and printed by `start`)
    PPS_TB_DIR                 the test bed folder
    PPS_TB_HOST                127.0.0.1
    PPS_TB_POP3_PORT           plain POP3; STLS offered, plaintext auth allowed
    PPS_TB_POP3S_PORT          POP3 over implicit TLS
    PPS_TB_CA_FILE             the test CA (PEM)
    PPS_TB_CERT_NAME           "localhost": the good certificate's DNS name
                               (it also has IP SAN 127.0.0.1)
    PPS_TB_WRONGHOST_HOST      127.0.0.2: cert for wrong.example, signed by CA
    PPS_TB_EXPIRED_HOST        127.0.0.3: cert for localhost, CA-signed, expired
    PPS_TB_SELFSIGNED_HOST     127.0.0.4: self-signed cert for localhost
    PPS_TB_POP3S_{WRONGHOST,EXPIRED,SELFSIGNED}_PORT
    PPS_TB_POP3_{WRONGHOST,EXPIRED,SELFSIGNED}_PORT
                               ports for those hosts (implicit TLS / STLS);
                               same numbers as PPS_TB_POP3S_PORT / _POP3_PORT
    PPS_TB_LMTP_PORT           LMTP over TCP on 127.0.0.1
    PPS_TB_LMTP_SOCKET         LMTP unix socket
    PPS_TB_MAIL_ROOT           folder holding every user's home
    PPS_TB_REMOTE_MAILDIR_FMT  printf pattern, %s = local part of a remote user
    PPS_TB_LOCAL_MAILDIR_FMT   printf pattern, %s = local part of a local user
    PPS_TB_REMOTE_DOMAIN       remote.test (POP3 users)
    PPS_TB_LOCAL_DOMAIN        local.test  (LMTP recipients)
    PPS_TB_REMOTE_USERS        "single catchall user1 ... userN" if N <= 20,
                               else "single catchall"; see PPS_TB_USER_COUNT
    PPS_TB_USER_COUNT          N: remote users user1..userN exist (the
                               Maildirs of user21.. appear on first seed,
                               login or delivery)
    PPS_TB_LOCAL_USERS         "alice bob carol postmaster"
    PPS_TB_PASSWORD            password of every user
    PPS_TB_MAIL_UID, PPS_TB_MAIL_GID   owner of all mail files
    PPS_TB_LOG                 Dovecot's log file
    PPS_TB_TESTBED             path of this script (for seed/count)

Knobs (environment of testbed.py): PPS_TB_USERS (default for --users, 3),
PPS_TB_MAIL_UID (default 59999, used as uid and gid; needs no passwd entry),
PPS_TB_KEEP=1 (same as --keep), PPS_TB_REQUIRE=1 (fail instead of skip),
PPS_TB_VERBOSE=1 (run: report the start-up time).

Python API (import this file): start(), stop(), seed(), count(), read_env().
"""

import argparse
import ctypes
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
# Extra loopback addresses serving the certificates of the negative tests.
BAD_HOSTS = {
    "WRONGHOST": "127.0.0.2",
    "EXPIRED": "127.0.0.3",
    "SELFSIGNED": "127.0.0.4",
}
ALL_ADDRS = [HOST] + list(BAD_HOSTS.values())
CERT_NAME = "localhost"
REMOTE_DOMAIN = "remote.test"
LOCAL_DOMAIN = "local.test"
REMOTE_FIXED_USERS = ["single", "catchall"]
LOCAL_USERS = ["alice", "bob", "carol", "postmaster"]
PASSWORD = "pps-Test-pass1"
DEFAULT_MAIL_UID = 59999
DEFAULT_USERS = 3
DOVECOT = shutil.which("dovecot", path="/usr/sbin:/usr/bin:/sbin:/bin") \
    or "/usr/sbin/dovecot"
DOVECOT_LIBEXEC = "/usr/lib/dovecot/"
START_TIMEOUT = 10.0
START_ATTEMPTS = 5
SKIP = 77

# --reuse-processes.  By default (Dovecot's default) every connection gets
# a fresh pop3-login process (fork + exec, TLS context from scratch) and a
# fresh pop3 process: ~19 ms of the server's CPU per login, which on a
# small machine running fetcher and server together is most of the cost
# of polling 1,000 accounts (tests/bench e2e S5).  Reusing both cuts it to
# ~5 ms.  All users share one uid, so pop3 processes may be reused across
# users.  auth's client_limit must then cover every process that may hold
# a connection to it (pop3 1024 + pop3-login 100 + lmtp 100).
REUSE_CONF = """\
service pop3-login {
  service_count = 0
  process_min_avail = 2
}
service pop3 {
  service_count = 0
}
service auth {
  client_limit = 1300
}
"""


class TestbedError(Exception):
    pass


class Skip(TestbedError):
    pass


def log(msg):
    print("testbed: " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- certs

def _openssl(args, cwd):
    r = subprocess.run(["openssl"] + args, cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise TestbedError("openssl %s failed:\n%s"
                           % (" ".join(args), r.stdout.decode(errors="replace")))


_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
_LEAF = ["-addext", "basicConstraints=critical,CA:FALSE",
         "-addext", "keyUsage=critical,digitalSignature",
         "-addext", "extendedKeyUsage=serverAuth"]

_CA_CNF = """\
[ca]
default_ca = tb
[tb]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = pol
copy_extensions = copy
unique_subject = no
[pol]
commonName = supplied
"""


def make_certs(cdir):
    """Generate CA, good, wrong-host, expired and self-signed certs (P-256)."""
    os.makedirs(cdir, exist_ok=True)
    san_good = "subjectAltName=DNS:localhost,IP:127.0.0.1"
    # CA
    _openssl(["req", "-x509"] + _EC + ["-keyout", "ca.key", "-out", "ca.pem",
              "-days", "3650", "-subj", "/CN=libpps test CA",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"], cdir)
    # Good and wrong-host certs, signed by the CA (OpenSSL 3: req -x509 -CA).
    for name, cn, san in [
            ("good", CERT_NAME, san_good),
            ("wronghost", "wrong.example",
             "subjectAltName=DNS:wrong.example,IP:127.0.0.2")]:
        _openssl(["req", "-x509", "-CA", "ca.pem", "-CAkey", "ca.key"] + _EC
                 + ["-keyout", name + ".key", "-out", name + ".pem",
                    "-days", "825", "-subj", "/CN=" + cn, "-addext", san]
                 + _LEAF, cdir)
    # Self-signed cert for the right name: only the issuer is wrong.
    _openssl(["req", "-x509"] + _EC + [
        "-keyout", "selfsigned.key", "-out", "selfsigned.pem", "-days", "825",
        "-subj", "/CN=" + CERT_NAME,
        "-addext", san_good + ",IP:127.0.0.4"] + _LEAF, cdir)
    # Expired cert for the right name, signed by the CA: only the dates are
    # wrong.  `openssl ca` is the OpenSSL 3.0 way to set past dates.
    _openssl(["req", "-new"] + _EC + [
        "-keyout", "expired.key", "-out", "expired.csr",
        "-subj", "/CN=" + CERT_NAME,
        "-addext", san_good + ",IP:127.0.0.3"] + _LEAF, cdir)
    with open(os.path.join(cdir, "ca.cnf"), "w") as f:
        f.write(_CA_CNF)
    open(os.path.join(cdir, "index.txt"), "w").close()
    with open(os.path.join(cdir, "serial"), "w") as f:
        f.write("1000\n")
    _openssl(["ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem",
              "-keyfile", "ca.key", "-in", "expired.csr", "-out",
              "expired.pem", "-notext", "-startdate", "20200101000000Z",
              "-enddate", "20200201000000Z"], cdir)


# ---------------------------------------------------------------- users

def _gid_of(group):
    import grp
    return grp.getgrnam(group).gr_gid


def remote_users(n):
    return REMOTE_FIXED_USERS + ["user%d" % i for i in range(1, n + 1)]


def maildir_of(state, user):
    local, _, domain = user.partition("@")
    domain = domain or REMOTE_DOMAIN
    return os.path.join(state["mail_root"], domain, local, "Maildir")


# Homes created at start: every local and fixed remote user, and user1..
# user20.  mkdir is slow on some file systems (~1 ms), so the homes of
# user21..userN are made on demand: by seed(), or by Dovecot itself on
# first login or delivery (the domain folders belong to the mail uid).
PRECREATED_USERS = 20


def _make_maildir(home, uid, gid):
    md = os.path.join(home, "Maildir")
    for p in (home, md, md + "/new", md + "/cur", md + "/tmp"):
        try:
            os.mkdir(p, 0o700)
        except FileExistsError:
            continue
        os.chown(p, uid, gid)
    return md


def _write_users(d, mail_root, n, uid, gid):
    """passwd-file for passdb and userdb; the first homes pre-created."""
    lines = []
    for domain, users in [(REMOTE_DOMAIN, remote_users(n)),
                          (LOCAL_DOMAIN, LOCAL_USERS)]:
        droot = os.path.join(mail_root, domain)
        os.mkdir(droot, 0o755)
        os.chown(droot, uid, gid)
        for i, u in enumerate(users):
            home = os.path.join(droot, u)
            lines.append("%s@%s:{PLAIN}%s:%d:%d::%s::\n"
                         % (u, domain, PASSWORD, uid, gid, home))
            if i < PRECREATED_USERS + len(REMOTE_FIXED_USERS):
                _make_maildir(home, uid, gid)
    path = os.path.join(d, "users.passwd")
    with open(path, "w") as f:
        f.writelines(lines)
    # Read by the auth process, which runs as default_internal_user.
    os.chown(path, 0, _gid_of("dovecot"))
    os.chmod(path, 0o640)
    return path


# ---------------------------------------------------------------- config

def _dovecot_conf(d, st):
    c = os.path.join(d, "certs")
    addrs = ", ".join(ALL_ADDRS)
    locals_ = "".join(
        "local %s {\n  ssl_cert = <%s/%s.pem\n  ssl_key = <%s/%s.key\n}\n"
        % (addr, c, kind.lower(), c, kind.lower())
        for kind, addr in BAD_HOSTS.items())
    return f"""\
# Generated by tests/testbed/testbed.py -- private test Dovecot.
instance_name = {st['instance']}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = pop3 lmtp
listen = {HOST}
shutdown_clients = yes
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = {st['uid']}
last_valid_uid = {st['uid']}
first_valid_gid = {st['gid']}
last_valid_gid = {st['gid']}
mail_location = maildir:~/Maildir
login_greeting = pps-testbed {st['token']} ready.
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
# Failed logins are answered at once and do not slow later logins from
# 127.0.0.1 (tests of wrong passwords would otherwise cost 2-15 s each):
# no failure delay, and the auth process finds no anvil penalty socket.
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {d}/users.passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%Lu {d}/users.passwd
}}
ssl = yes
ssl_min_protocol = TLSv1.2
ssl_cert = <{c}/good.pem
ssl_key = <{c}/good.key
{locals_}
service pop3-login {{
  inet_listener pop3 {{
    address = {addrs}
    port = {st['pop3_port']}
  }}
  inet_listener pop3s {{
    address = {addrs}
    port = {st['pop3s_port']}
    ssl = yes
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
  inet_listener lmtp {{
    address = {HOST}
    port = {st['lmtp_port']}
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    path = anvil-auth-penalty-disabled
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
{REUSE_CONF if st.get('reuse_processes') else ''}"""


def env_of(st):
    """The PPS_TB_* variables of a running test bed (dict)."""
    d = st["dir"]
    n = st["users"]
    users = remote_users(n) if n <= 20 else REMOTE_FIXED_USERS
    e = {
        "PPS_TB_DIR": d,
        "PPS_TB_HOST": HOST,
        "PPS_TB_POP3_PORT": st["pop3_port"],
        "PPS_TB_POP3S_PORT": st["pop3s_port"],
        "PPS_TB_CA_FILE": os.path.join(d, "certs", "ca.pem"),
        "PPS_TB_CERT_NAME": CERT_NAME,
        "PPS_TB_LMTP_PORT": st["lmtp_port"],
        "PPS_TB_LMTP_SOCKET": os.path.join(d, "run", "lmtp"),
        "PPS_TB_MAIL_ROOT": st["mail_root"],
        "PPS_TB_REMOTE_MAILDIR_FMT":
            os.path.join(st["mail_root"], REMOTE_DOMAIN, "%s", "Maildir"),
        "PPS_TB_LOCAL_MAILDIR_FMT":
            os.path.join(st["mail_root"], LOCAL_DOMAIN, "%s", "Maildir"),
        "PPS_TB_REMOTE_DOMAIN": REMOTE_DOMAIN,
        "PPS_TB_LOCAL_DOMAIN": LOCAL_DOMAIN,
        "PPS_TB_REMOTE_USERS": " ".join(users),
        "PPS_TB_USER_COUNT": n,
        "PPS_TB_LOCAL_USERS": " ".join(LOCAL_USERS),
        "PPS_TB_PASSWORD": PASSWORD,
        "PPS_TB_MAIL_UID": st["uid"],
        "PPS_TB_MAIL_GID": st["gid"],
        "PPS_TB_LOG": os.path.join(d, "dovecot.log"),
        "PPS_TB_TESTBED": os.path.abspath(__file__),
    }
    for kind, addr in BAD_HOSTS.items():
        e["PPS_TB_%s_HOST" % kind] = addr
        e["PPS_TB_POP3S_%s_PORT" % kind] = st["pop3s_port"]
        e["PPS_TB_POP3_%s_PORT" % kind] = st["pop3_port"]
    return {k: str(v) for k, v in e.items()}


# ---------------------------------------------------------------- ports

def _pick_ports(count):
    """Ports free on every test bed address right now (bind 0, release)."""
    held, ports = [], []
    try:
        while len(ports) < count:
            s = socket.socket()
            s.bind((HOST, 0))
            held.append(s)
            port = s.getsockname()[1]
            ok = True
            for addr in ALL_ADDRS[1:]:
                t = socket.socket()
                held.append(t)
                try:
                    t.bind((addr, port))
                except OSError:
                    ok = False
                    break
            if ok:
                ports.append(port)
    finally:
        for s in held:
            s.close()
    return ports


# ---------------------------------------------------------------- readiness

def _greets(addr, expect, token, tls=False, timeout=0.5):
    """True if addr answers with a greeting carrying our token."""
    fam = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(addr)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s)
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(512)
            if not chunk:
                break
            buf += chunk
        if not buf.startswith(expect):
            return False
        if token.encode() not in buf:
            raise TestbedError("port %r answered by another server: %r"
                               % (addr, buf))
        s.sendall(b"QUIT\r\n")
        return True
    except (OSError, ssl.SSLError):
        return False
    finally:
        s.close()


def _wait_ready(proc_alive, st, deadline):
    checks = []
    for addr in ALL_ADDRS:
        checks.append(((addr, st["pop3_port"]), b"+OK", False))
        checks.append(((addr, st["pop3s_port"]), b"+OK", True))
    checks.append(((HOST, st["lmtp_port"]), b"220 ", False))
    checks.append((os.path.join(st["dir"], "run", "lmtp"), b"220 ", False))
    while checks:
        if not proc_alive():
            return False
        if time.monotonic() > deadline:
            raise TestbedError("dovecot not ready after %.0f s" % START_TIMEOUT)
        addr, expect, tls = checks[0]
        if _greets(addr, expect, st["token"], tls=tls):
            checks.pop(0)
        else:
            time.sleep(0.01)
    return True


# ---------------------------------------------------------------- processes

def _proc_info(pid):
    """(session id, exe path, cwd, root) of pid, or None if gone/zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] in ("Z", "X"):
            return None
        sid = int(fields[3])
        info = [sid]
        for link in ("exe", "cwd", "root"):
            try:
                info.append(os.readlink("/proc/%d/%s" % (pid, link)))
            except OSError:
                info.append("")
        return tuple(info)
    except (OSError, ValueError, IndexError):
        return None


def _is_dovecot_exe(exe):
    exe = exe.replace(" (deleted)", "")
    return exe == os.path.realpath(DOVECOT) or exe.startswith(DOVECOT_LIBEXEC)


def find_processes(st):
    """Pids of live processes belonging to this test bed's Dovecot.

    Dovecot is started in its own session (setsid), so its master's pid is
    the session id of all its children.  A process is ours if it runs a
    Dovecot binary and is in that session or has its cwd or root (the login
    chroot) in the folder.  Other programs (a shell cd'ed into the folder,
    the test itself) are never touched.
    """
    d = st["dir"].rstrip("/") + "/"
    sid = st.get("master_pid")
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid == os.getpid():
            continue
        info = _proc_info(pid)
        if info is None:
            continue
        psid, exe, cwd, root = info
        if _is_dovecot_exe(exe) and (
                psid == sid or (cwd + "/").startswith(d)
                or (root + "/").startswith(d)):
            found.append(pid)
    return found


def _kill(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _reap(pids, timeout=0.0):
    """Collect the exit status of those pids that are our children.

    The master is our child in `run`; its orphaned children are too when
    this process is a child subreaper (see cmd_run), else init reaps them.
    With a timeout, wait that long for children that are dying right now.
    """
    pending = set(pids)
    deadline = time.monotonic() + timeout
    while pending:
        for pid in list(pending):
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    pending.discard(pid)
            except ChildProcessError:
                pending.discard(pid)
        if not pending or time.monotonic() > deadline:
            return
        time.sleep(0.005)


def _wait_gone(st, timeout, seen=None):
    seen = set() if seen is None else seen
    if st.get("master_pid"):
        seen.add(st["master_pid"])
    deadline = time.monotonic() + timeout
    while True:
        _reap(seen)
        left = find_processes(st)
        seen.update(left)
        if not left or time.monotonic() > deadline:
            _reap(seen, timeout=0.0 if left else 0.2)
            return left
        time.sleep(0.01)


def _is_log_process(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().rstrip(b"\0").endswith(b"/log")
    except OSError:
        return False


def _stop_processes(st, grace=5.0):
    """Stop the master and every child; SIGKILL what outlives grace seconds.

    Left alone, Dovecot's master takes one to several seconds to shut down
    (idle lmtp processes linger; once its children are gone it still waits
    on a timer).  So every child of ours gets SIGTERM at once -- the log
    process last, so the final log lines are kept -- and a master that is
    alone and still there after 0.2 s gets SIGKILL: it has nothing left to
    do.  Nothing else is touched (see find_processes()).
    """
    pid = st.get("master_pid")
    info = _proc_info(pid) if pid else None
    if info and info[0] == pid:
        _kill([pid], signal.SIGTERM)
    termed, seen = set(), {pid} if pid else set()
    now = time.monotonic()
    deadline, alone_since = now + grace, None
    while True:
        _reap(seen)
        left = find_processes(st)
        if not left:
            _reap(seen, timeout=0.2)
            return
        seen.update(left)
        kids = [p for p in left if p != pid]
        only_log = all(_is_log_process(p) for p in kids)
        todo = [p for p in kids if p not in termed
                and (only_log or not _is_log_process(p))]
        _kill(todo, signal.SIGTERM)
        termed.update(todo)
        now = time.monotonic()
        if kids:
            alone_since = None
        elif alone_since is None:
            alone_since = now
        elif now - alone_since > min(grace, 0.2):
            _kill([pid], signal.SIGKILL)
        if now > deadline:
            break
        time.sleep(0.01)
    log("SIGKILL leftovers %s" % left)
    _kill(left, signal.SIGKILL)
    left = _wait_gone(st, 2.0, seen)
    if left:
        raise TestbedError("processes left running: %s" % left)


def _prctl(option, arg):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, arg, 0, 0, 0)
    except Exception:  # best effort only
        return -1


PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _set_pdeathsig():
    """In the child: get SIGTERM when the parent dies (PR_SET_PDEATHSIG)."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


# ---------------------------------------------------------------- start/stop

def _state_path(d):
    return os.path.join(d, "testbed.json")


def _save(st):
    tmp = _state_path(st["dir"]) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(st, f, indent=1)
    os.replace(tmp, _state_path(st["dir"]))


def load(d=None):
    d = d or os.environ.get("PPS_TB_DIR")
    if not d:
        raise TestbedError("no test bed folder: give --dir or set PPS_TB_DIR")
    with open(_state_path(d)) as f:
        return json.load(f)


def check_prerequisites():
    if os.geteuid() != 0:
        raise Skip("the Dovecot test bed must run as root")
    if not os.access(DOVECOT, os.X_OK) or not os.path.isdir(DOVECOT_LIBEXEC):
        raise Skip("Dovecot not installed (%s)" % DOVECOT)
    if not shutil.which("openssl"):
        raise Skip("openssl CLI not installed")


def start(d=None, users=None, uid=None, detach=False, reuse_processes=False):
    """Start a test bed; return its state dict (see env_of()).

    d: folder to use (created; must be empty) or None for a new mkdtemp one.
    detach: True for `start` (Dovecot outlives this process); False ties
    Dovecot to this process (it gets SIGTERM if we die -- strictly, when the
    calling thread exits, so call it from the main thread).
    reuse_processes: see REUSE_CONF.
    """
    check_prerequisites()
    if users is None:
        users = int(os.environ.get("PPS_TB_USERS", DEFAULT_USERS))
    if uid is None:
        uid = int(os.environ.get("PPS_TB_MAIL_UID", DEFAULT_MAIL_UID))
    if d is None:
        d = tempfile.mkdtemp(prefix="pps-tb-")
    else:
        d = os.path.abspath(d)
        os.makedirs(d, exist_ok=True)
        if os.listdir(d):
            raise TestbedError("%s is not empty" % d)
    # Login processes (dovenull) chroot into D/run/login and the mail
    # processes (uid) need D/mail: the folder must be traversable.
    os.chmod(d, 0o755)
    st = {
        "dir": d,
        "instance": "pps-tb-" + os.path.basename(d).replace("pps-tb-", ""),
        "token": secrets.token_hex(8),
        "users": users,
        "uid": uid,
        "gid": uid,
        "mail_root": os.path.join(d, "mail"),
        "master_pid": None,
        "reuse_processes": bool(reuse_processes),
    }
    _save(st)
    try:
        make_certs(os.path.join(d, "certs"))
        os.makedirs(st["mail_root"], mode=0o755)
        _write_users(d, st["mail_root"], users, uid, uid)
        for attempt in range(1, START_ATTEMPTS + 1):
            if _start_dovecot(st, detach):
                break
            log("start attempt %d failed (port collision?), retrying"
                % attempt)
        else:
            raise TestbedError("dovecot did not start:\n" + read_log(d))
    except BaseException:
        try:
            _stop_processes(st, grace=1.0)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        raise
    with open(os.path.join(d, "env"), "w") as f:
        f.write(format_env(env_of(st)))
    return st


def _start_dovecot(st, detach):
    """One attempt; False if Dovecot exited during start-up (port taken)."""
    d = st["dir"]
    st["pop3_port"], st["pop3s_port"], st["lmtp_port"] = _pick_ports(3)
    conf = os.path.join(d, "dovecot.conf")
    with open(conf, "w") as f:
        f.write(_dovecot_conf(d, st))
    # Clean leftovers of a failed attempt.
    shutil.rmtree(os.path.join(d, "run"), ignore_errors=True)
    with open(os.path.join(d, "dovecot.stderr"), "ab") as err:
        proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", conf], cwd=d, stdin=subprocess.DEVNULL,
            stdout=err, stderr=err, start_new_session=True,
            preexec_fn=None if detach else _set_pdeathsig)
    st["master_pid"] = proc.pid
    _save(st)
    if detach:
        # We will not wait() for it; let Python forget the child quietly.
        proc.returncode = 0
    st_alive = (lambda: _proc_info(proc.pid) is not None) if detach \
        else (lambda: proc.poll() is None)
    if _wait_ready(st_alive, st, time.monotonic() + START_TIMEOUT):
        return True
    _stop_processes(st, grace=1.0)
    return False


def stop(st, keep=False, grace=5.0):
    """Stop the test bed's processes; remove its folder unless keep."""
    try:
        _stop_processes(st, grace)
    finally:
        if not keep:
            shutil.rmtree(st["dir"], ignore_errors=True)


def read_log(d):
    out = []
    for name in ("dovecot.stderr", "dovecot.log"):
        try:
            with open(os.path.join(d, name), errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        if text:
            out.append("==== %s/%s ====\n%s" % (d, name, text))
    return "".join(out)


def format_env(env):
    return "".join("export %s=%s\n" % (k, shlex.quote(v))
                   for k, v in env.items())


def read_env(d=None):
    """The PPS_TB_* variables of the running test bed in d (or $PPS_TB_DIR)."""
    return env_of(load(d))


# ---------------------------------------------------------------- mail

_seq = 0


def seed(st_or_dir, user, messages):
    """Put messages (bytes, or paths to files) into user's Maildir/new.

    Returns the created paths.  Files are written to tmp/ then renamed into
    new/, owned by the mail uid, named uniquely (time, pid, counter).
    """
    global _seq
    st = st_or_dir if isinstance(st_or_dir, dict) else load(st_or_dir)
    md = maildir_of(st, user)
    home = os.path.dirname(md)
    if not os.path.isdir(md):
        if not os.path.isdir(os.path.dirname(home)):
            raise TestbedError("no such domain: %s" % user)
        _make_maildir(home, st["uid"], st["gid"])
    paths = []
    for m in messages:
        if not isinstance(m, (bytes, bytearray)):
            if m == "-":
                m = sys.stdin.buffer.read()
            else:
                with open(m, "rb") as f:
                    m = f.read()
        _seq += 1
        now = time.time()
        name = "%d.M%dP%dQ%d.%s.pps-testbed" % (
            int(now), int(now * 1e6) % 1000000, os.getpid(), _seq,
            secrets.token_hex(4))
        tmp = os.path.join(md, "tmp", name)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, m)
            os.fchown(fd, st["uid"], st["gid"])
        finally:
            os.close(fd)
        dst = os.path.join(md, "new", name)
        os.rename(tmp, dst)
        paths.append(dst)
    return paths


def count(st_or_dir, user):
    """Number of messages in user's Maildir (new/ + cur/)."""
    st = st_or_dir if isinstance(st_or_dir, dict) else load(st_or_dir)
    md = maildir_of(st, user)
    n = 0
    for sub in ("new", "cur"):
        try:
            n += sum(1 for e in os.listdir(os.path.join(md, sub))
                     if not e.startswith("."))
        except FileNotFoundError:
            pass
    return n


# ---------------------------------------------------------------- commands

class _Signalled(BaseException):
    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _raise_signal(signum, frame):
    raise _Signalled(signum)


def cmd_run(a):
    if not a.cmd:
        raise TestbedError("run: missing command after --")
    keep = a.keep or os.environ.get("PPS_TB_KEEP") == "1"
    sigs = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    # Dovecot children orphaned by a dying master come to us, not to init,
    # so we can wait for (reap) them: none is left behind, not even a zombie.
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    for s in sigs:
        signal.signal(s, _raise_signal)
    st, child, status = None, None, 1
    t0 = time.monotonic()
    try:
        st = start(a.dir, a.users, reuse_processes=a.reuse_processes)
        if os.environ.get("PPS_TB_VERBOSE") == "1":
            log("ready in %.3f s: %s" % (time.monotonic() - t0, st["dir"]))
        env = dict(os.environ)
        env.update(env_of(st))
        try:
            child = subprocess.Popen(a.cmd, env=env)
        except OSError as e:
            log("cannot run %s: %s" % (a.cmd[0], e))
            status = 127
        else:
            status = child.wait()
        if status < 0:
            status = 128 - status
    except _Signalled as e:
        status = 128 + e.signum
        log("got signal %d, stopping" % e.signum)
        if child is not None and child.poll() is None:
            child.send_signal(e.signum)
            try:
                child.wait(0.2)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    finally:
        # No more interruptions while cleaning up (SIGKILL still works).
        for s in sigs:
            signal.signal(s, signal.SIG_IGN)
        if st is not None:
            if status not in (0, SKIP):
                sys.stderr.write(read_log(st["dir"]))
            quick = status >= 128
            t1 = time.monotonic()
            stop(st, keep=keep, grace=0.3 if quick else 5.0)
            if os.environ.get("PPS_TB_VERBOSE") == "1":
                log("stopped in %.3f s" % (time.monotonic() - t1))
            if keep:
                log("kept %s (stopped); env in %s/env"
                    % (st["dir"], st["dir"]))
    return status


def cmd_start(a):
    st = start(a.dir, a.users, detach=True,
               reuse_processes=a.reuse_processes)
    sys.stdout.write(format_env(env_of(st)))
    return 0


def cmd_stop(a):
    st = load(a.dir)
    stop(st, keep=a.keep or os.environ.get("PPS_TB_KEEP") == "1")
    return 0


def cmd_seed(a):
    for p in seed(a.dir, a.user, a.files):
        if a.verbose:
            print(p)
    return 0


def cmd_count(a):
    print(count(a.dir, a.user))
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Private Dovecot test bed (see module docstring).")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="start, run CMD, stop")
    r.add_argument("--dir")
    r.add_argument("--keep", action="store_true")
    r.add_argument("--users", type=int)
    r.add_argument("--reuse-processes", action="store_true")
    r.add_argument("cmd", nargs=argparse.REMAINDER)
    s = sub.add_parser("start", help="start and leave running")
    s.add_argument("--dir")
    s.add_argument("--users", type=int)
    s.add_argument("--reuse-processes", action="store_true")
    s = sub.add_parser("stop", help="stop a started test bed")
    s.add_argument("--dir")
    s.add_argument("--keep", action="store_true")
    s = sub.add_parser("seed", help="put message files into USER's Maildir")
    s.add_argument("--dir")
    s.add_argument("-v", "--verbose", action="store_true")
    s.add_argument("user")
    s.add_argument("files", nargs="+")
    s = sub.add_parser("count", help="print USER's message count")
    s.add_argument("--dir")
    s.add_argument("user")
    a = p.parse_args(argv)
    if getattr(a, "cmd", None) and a.cmd[0] == "--":
        a.cmd = a.cmd[1:]
    fn = {"run": cmd_run, "start": cmd_start, "stop": cmd_stop,
          "seed": cmd_seed, "count": cmd_count}[a.command]
    try:
        return fn(a)
    except Skip as e:
        log("SKIP: %s" % e)
        return 1 if os.environ.get("PPS_TB_REQUIRE") == "1" else SKIP
    except TestbedError as e:
        log("error: %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
