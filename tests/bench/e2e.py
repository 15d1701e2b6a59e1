"""End-to-end benchmark, run under testbed.py by e2e.sh (issue #8).

    e2e.py BUILD_DIR RUNS S1,S2,S3[,S4,S5]

S4 and S5 poll many accounts (200 / 1,000); libpps runs one cycle of
`ppsd --once` with max_parallel 32 (S4 also times sequential `pps fetch`),
against each tool's own multi-account mode (S4) or sequential fetchmail
(S5; see s5_ppsd).

Every tool pulls the same remote mailbox (seeded before each run by writing
files straight into the remote Maildir's new/, owned by the mail uid) into a
fresh local Maildir, durably (one fsync'd file per message), deleting on the
server.  After each run: every message delivered (files counted, sizes
compared for S3) and the remote mailbox empty, else the run is reported as
failed.  Timing: /usr/bin/time -f '%e %U %S %M' (wall, user, sys, peak RSS).

How each tool is set up for its best speed:
- libpps: `pps fetch` of one profile, `[delivery] method = maildir`
  (fsync of the file, rename into new/, fsync of new/ before DELE).
- mpop: --delivery=maildir,DIR (pipelining is automatic), --keep=off.
- fetchmail: fetchall nokeep, batchlimit 0, fetchlimit 0, mda = a small C
  program (maildir-mda, built here) that writes tmp/, fsyncs, renames
  into new/ and fsyncs new/: the cheapest durable one-file-per-message MDA
  (no shell, no Dovecot LDA configuration).
- getmail6: [destination] type = Maildir (fsyncs each file itself),
  [options] delete = true, read_all = true.
"""
import json
import os
import itertools
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

TB = os.environ
BUILD = os.path.abspath(sys.argv[1])
RUNS = int(sys.argv[2])
SCENARIOS = sys.argv[3].split(",")
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
USER = "user1"
ADDR = USER + "@remote.test"
PW = TB["PPS_TB_PASSWORD"]
UID, GID = int(TB["PPS_TB_MAIL_UID"]), int(TB["PPS_TB_MAIL_GID"])
WORK = tempfile.mkdtemp(prefix="pps-e2e-bench-")
os.chmod(WORK, 0o755)  # getmail runs as nobody
# The tools' Maildirs: a new one per run, all kept until the end, in a
# top-level folder of their own (ext4 spreads top-level folders over its
# block groups).  Deleting the last run's 2,000 files just before the
# next run made every tool's file creation walk past them (ext4 without
# a journal, as on this machine, skips recently freed inodes one by one):
# 0.5-0.75 ms per new file, for whichever tool ran next.
# PPS_BENCH_CHURN=1 measures that way again (docs/performance.md).
CHURN = os.environ.get("PPS_BENCH_CHURN") == "1"
OUT = WORK if CHURN else tempfile.mkdtemp(prefix="pps-e2e-out-", dir="/")
os.chmod(OUT, 0o755)
RUN_NUMBER = itertools.count()
PPS = os.path.join(BUILD, "hosts/cli/pps")
PPSD = os.path.join(BUILD, "hosts/service/ppsd")

MDA_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
/* maildir-mda DIR: stdin -> DIR/tmp/NAME, fsync, rename to DIR/new, fsync new/ */
int main(int argc, char **argv)
{
    char tmp[4096], dst[4096], buf[65536], name[128];
    struct timespec t;
    ssize_t n;
    int fd, d;
    if (argc != 2) return 75;
    clock_gettime(CLOCK_REALTIME, &t);
    snprintf(name, sizeof name, "%lld.M%ldP%d.bench", (long long)t.tv_sec,
             t.tv_nsec / 1000, (int)getpid());
    snprintf(tmp, sizeof tmp, "%s/tmp/%s", argv[1], name);
    snprintf(dst, sizeof dst, "%s/new/%s", argv[1], name);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0) return 75;
    while ((n = read(0, buf, sizeof buf)) > 0)
        if (write(fd, buf, (size_t)n) != n) return 75;
    if (n < 0 || fsync(fd) < 0 || close(fd) < 0) return 75;
    if (rename(tmp, dst) < 0) return 75;
    snprintf(tmp, sizeof tmp, "%s/new", argv[1]);
    if ((d = open(tmp, O_RDONLY | O_DIRECTORY)) < 0 || fsync(d) < 0) return 75;
    return 0;
}
"""


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def build_helpers():
    mda_c = os.path.join(WORK, "maildir-mda.c")
    with open(mda_c, "w") as f:
        f.write(MDA_C)
    sh("cc", "-O2", "-o", os.path.join(WORK, "maildir-mda"), mda_c)
    # The floor: tests/bench/pull.c (RETR all, to nowhere, no DELE) against
    # the same libpps.so, built here so a -Dtests=false build is enough.
    sh("cc", "-O2", "-I" + os.path.join(SRC, "include"),
       "-I" + os.path.join(BUILD, "include"), "-o",
       os.path.join(WORK, "pull"), os.path.join(HERE, "pull.c"),
       "-L" + os.path.join(BUILD, "libpps"), "-lpps",
       "-Wl,-rpath," + os.path.join(BUILD, "libpps"))


def remote_dir(user=USER):
    return TB["PPS_TB_REMOTE_MAILDIR_FMT"] % user


def count(d):
    n = 0
    for sub in ("new", "cur"):
        p = os.path.join(d, sub)
        if os.path.isdir(p):
            n += len(os.listdir(p))
    return n


def make_message(i, size):
    head = (b"From: a@remote.test\nTo: user1@remote.test\n"
            b"Subject: bench %d\nMessage-ID: <%d@bench>\n\n" % (i, i))
    line = b"x" * 75 + b"\n"
    body = (line * (size // len(line) + 1))[:size - 1] + b"\n"
    return head + body


def seed(messages, user=USER):
    """Write messages straight into the remote new/ (much faster than one
    `testbed.py seed` call each), emptying the mailbox first."""
    d = remote_dir(user)
    if not os.path.isdir(d):  # user21..: home made here, owned by the mail uid
        home = os.path.dirname(d)
        os.makedirs(d)
        for p in (os.path.dirname(home), home, d):
            os.chown(p, UID, GID)
    for sub in ("new", "cur", "tmp"):
        p = os.path.join(d, sub)
        os.makedirs(p, exist_ok=True)
        os.chown(p, UID, GID)
        for n in os.listdir(p):
            os.unlink(os.path.join(p, n))
    for f in os.listdir(d):  # Dovecot's uidlist/index: start fresh
        # ... but keep dovecot-uidvalidity*: without it a seed in the same
        # second as the last one got the same UIDVALIDITY, hence the same
        # UIDLs for new messages, which every UIDL-keeping fetcher (the
        # ledger of a profile polled before) rightly takes for messages it
        # has delivered already (a server must never reuse a UIDL).
        if f.startswith("dovecot") and not f.startswith("dovecot-uidvalidity"):
            p = os.path.join(d, f)
            shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
    for i, m in enumerate(messages):
        tmp = os.path.join(d, "tmp", "%d.bench%d.tb" % (i, os.getpid()))
        with open(tmp, "wb") as f:
            f.write(m)
        os.chown(tmp, UID, GID)
        os.rename(tmp, os.path.join(d, "new", os.path.basename(tmp)))


def fresh_maildir(name):
    if CHURN:
        d = os.path.join(WORK, "out", name)
        shutil.rmtree(d, ignore_errors=True)
    else:
        d = os.path.join(OUT, "out", "%s-%d" % (name, next(RUN_NUMBER)))
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(d, sub))
    return d


# ---- tool command lines: (argv, env) for one run into maildir `md` ----

def pps_cmd(md, tls):
    conf = os.path.join(WORK, "pps-conf")
    shutil.rmtree(conf, ignore_errors=True)
    os.makedirs(os.path.join(conf, "profiles"))
    os.chmod(conf, 0o700)
    with open(os.path.join(conf, "pps.conf"), "w") as f:
        f.write("[delivery]\nmethod = maildir\npath = %s\n" % md)
        f.write("[service]\nlog_level = warn\n")
    port = TB["PPS_TB_POP3S_PORT"] + "s" if tls else TB["PPS_TB_POP3_PORT"]
    extra = (["--tls-ca-file", TB["PPS_TB_CA_FILE"]] if tls else
             ["--tls", "none", "--allow-plaintext-password"])
    subprocess.run([PPS, "-c", conf, "profile", "add", "bench", "--server",
                    "127.0.0.1 " + port, "--user", ADDR, "--password-stdin",
                    "--local-user", "bench", "--local-domain", "local.test"]
                   + extra, input=PW + "\n", text=True, check=True,
                   capture_output=True)
    return [PPS, "-c", conf, "fetch", "bench"], None


def mpop_cmd(md, tls):
    port = TB["PPS_TB_POP3S_PORT"] if tls else TB["PPS_TB_POP3_PORT"]
    t = (["--tls=on", "--tls-starttls=off",
          "--tls-trust-file=" + TB["PPS_TB_CA_FILE"]] if tls else
         ["--tls=off"])
    return ["mpop", "--host=127.0.0.1", "--port=" + port] + t + [
        "--auth=user", "--user=" + ADDR, "--passwordeval=echo " + PW,
        "--keep=off", "--only-new=off",
        "--uidls-file=" + os.path.join(WORK, "mpop-uidls"),
        "--delivery=maildir," + md, "--quiet"], None


def fetchmail_cmd(md, tls):
    home = os.path.join(WORK, "fm")
    os.makedirs(home, exist_ok=True)
    port = TB["PPS_TB_POP3S_PORT"] if tls else TB["PPS_TB_POP3_PORT"]
    t = ('ssl sslcertfile "%s" sslcertck sslcommonname "%s"' %
         (TB["PPS_TB_CA_FILE"], TB["PPS_TB_CERT_NAME"]) if tls else
         "sslproto ''")  # plain: no opportunistic STLS
    rc = os.path.join(home, "fetchmailrc")
    with open(rc, "w") as f:
        f.write('poll 127.0.0.1 port %s proto pop3 user "%s" password "%s" '
                '%s fetchall nokeep batchlimit 0 fetchlimit 0 '
                'mda "%s %s"\n' % (port, ADDR, PW, t,
                                   os.path.join(WORK, "maildir-mda"), md))
    os.chmod(rc, 0o600)
    env = dict(os.environ, FETCHMAILHOME=home)
    return ["fetchmail", "-f", rc, "--nosyslog", "--silent", "--pidfile",
            os.path.join(home, "pid"), "--idfile",
            os.path.join(home, "ids")], env


def getmail_cmd(md, tls):
    gdir = os.path.join(WORK, "gm")
    shutil.rmtree(gdir, ignore_errors=True)
    os.makedirs(gdir)
    port = TB["PPS_TB_POP3S_PORT"] if tls else TB["PPS_TB_POP3_PORT"]
    r = ("type = SimplePOP3SSLRetriever\nca_certs = %s\n"
         "ssl_cert_hostname = %s\n" % (TB["PPS_TB_CA_FILE"],
                                       TB["PPS_TB_CERT_NAME"])
         if tls else "type = SimplePOP3Retriever\n")
    rc = os.path.join(gdir, "getmailrc")
    with open(rc, "w") as f:
        f.write("[retriever]\n%sserver = 127.0.0.1\nport = %s\n"
                "username = %s\npassword = %s\n"
                "[destination]\ntype = Maildir\npath = %s/\n"
                "[options]\ndelete = true\nread_all = true\nverbose = 0\n"
                % (r, port, ADDR, PW, md))
    # getmail refuses to deliver as root: run it as nobody, owning both
    # folders (the other tools run as root, as the test bed needs).
    for d in (gdir, md, rc) + tuple(os.path.join(md, s)
                                    for s in ("new", "cur", "tmp")):
        os.chown(d, 65534, 65534)
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
            "getmail", "--getmaildir", gdir, "--rcfile", rc], None


TOOLS = [("libpps", pps_cmd), ("mpop", mpop_cmd),
         ("fetchmail", fetchmail_cmd), ("getmail6", getmail_cmd)]
# PPS_BENCH_TOOLS=libpps,mpop runs only those (S1-S3; quick comparisons).
if os.environ.get("PPS_BENCH_TOOLS"):
    TOOLS = [t for t in TOOLS
             if t[0] in os.environ["PPS_BENCH_TOOLS"].split(",")]


def timed(argv, env=None):
    out = os.path.join(WORK, "time.out")
    r = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", out]
                       + argv, env=env, capture_output=True, text=True)
    e, u, s, m = open(out).read().split()[-4:]
    return r, float(e), float(u) + float(s), int(m)


def run_tool(name, fn, messages, tls):
    seed(messages)
    md = fresh_maildir(name)
    argv, env = fn(md, tls)
    r, wall, cpu, rss = timed(argv, env)
    got, left = count(md), count(remote_dir())
    ok = r.returncode == 0 and got == len(messages) and left == 0
    if ok and len(messages) == 1:  # S3: delivered intact, headers added on top
        f = os.path.join(md, "new", os.listdir(os.path.join(md, "new"))[0])
        ok = file_ends_with(f, messages[0])
    if not ok:
        print("  %s FAILED: exit %d, delivered %d/%d, %d left on server\n%s%s"
              % (name, r.returncode, got, len(messages), left,
                 r.stdout[-2000:], r.stderr[-2000:]), flush=True)
    return ok, wall, cpu, rss


def file_ends_with(path, data):
    size = os.path.getsize(path)
    if size < len(data) or size - len(data) > 8192:
        print("  size %d vs original %d" % (size, len(data)))
        return False
    with open(path, "rb") as f:
        f.seek(size - len(data))
        pos = 0
        while pos < len(data):
            chunk = f.read(1 << 20)
            if chunk != data[pos:pos + len(chunk)]:
                print("  content differs at byte %d" % pos)
                return False
            pos += len(chunk)
    return True


def floor(messages, tls):
    walls = []
    for _ in range(RUNS):
        seed(messages)
        port = TB["PPS_TB_POP3S_PORT"] + "s" if tls else TB["PPS_TB_POP3_PORT"]
        argv = [os.path.join(WORK, "pull"), "127.0.0.1 " + port, ADDR]
        if tls:
            argv.append(TB["PPS_TB_CA_FILE"])
        env = dict(os.environ, PPS_BENCH_PASSWORD=PW)
        if not tls:
            env["PPS_BENCH_PLAIN"] = "1"
        r, wall, cpu, rss = timed(argv, env)
        if r.returncode != 0:
            print("  floor (pull) failed: %s" % (r.stdout + r.stderr).strip())
            return None
        walls.append((wall, cpu, rss))
    return walls


def report(title, n, results, floor_runs):
    print("\n%s  (median of %d runs; 1-min load average at the end: %s)" %
          (title, RUNS, open("/proc/loadavg").read().split()[0]))
    print("%-10s %8s %8s %9s %9s %8s" %
          ("tool", "wall s", "cpu s", "RSS KiB", "msg/s", "vs pps"))
    base = None
    rows = []
    if floor_runs:
        rows.append(("floor", floor_runs))
    rows += results
    med = {}
    for name, rr in rows:
        if not rr:
            print("%-10s  failed" % name)
            continue
        wall = statistics.median(r[0] for r in rr)
        cpu = statistics.median(r[1] for r in rr)
        rss = max(r[2] for r in rr)
        med[name] = (wall, cpu, rss)
    base = med.get("libpps")
    for name, (wall, cpu, rss) in med.items():
        ratio = (base[0] / wall) if base else float("nan")
        print("%-10s %8.2f %8.2f %9d %9.0f %7.2fx" %
              (name, wall, cpu, rss, n / wall if wall else 0, ratio), flush=True)
    # Every run's wall time, in run order: the median hides the spread.
    for name, rr in rows:
        if rr:
            print("%-10s runs: %s" %
                  (name, " ".join("%.2f" % r[0] for r in rr)))
    return med


def scenario(title, messages, tls, with_floor):
    results = {name: [] for name, _ in TOOLS}
    for _ in range(RUNS):  # interleaved, so load drifts hit every tool
        for name, fn in TOOLS:
            ok, wall, cpu, rss = run_tool(name, fn, messages, tls)
            if ok:
                results[name].append((wall, cpu, rss))
    fl = floor(messages, tls) if with_floor else None
    return report(title, len(messages), list(results.items()), fl)


# ---- S4: many accounts, each tool in its best multi-account mode ----

S4_USERS = ["user%d" % i for i in range(1, 201)]


def add_profiles(conf, users, extra=(), ca=True):
    """One profile per remote user in conf/profiles, made with the CLI;
    the test CA as tls_ca_file unless ca is False (the system's store)."""
    os.makedirs(conf, mode=0o700)
    pwf = os.path.join(WORK, "pw")
    with open(pwf, "w") as f:
        f.write(PW + "\n")
    os.chmod(pwf, 0o600)
    for u in users:
        subprocess.run([PPS, "-c", conf, "profile", "add", u, "--server",
                        "127.0.0.1 %ss" % TB["PPS_TB_POP3S_PORT"], "--user",
                        u + "@remote.test", "--password-file", pwf,
                        "--local-user", "bench", "--local-domain",
                        "local.test"] + (["--tls-ca-file", TB["PPS_TB_CA_FILE"]]
                                         if ca else []) + list(extra),
                       check=True, capture_output=True)


def s4_conf(md):
    conf = os.path.join(WORK, "pps-conf4")
    if not os.path.isdir(conf):  # 200 profiles, made once with the CLI
        add_profiles(conf, S4_USERS)
    with open(os.path.join(conf, "pps.conf"), "w") as f:
        f.write("[delivery]\nmethod = maildir\npath = %s\n" % md)
        f.write("[service]\nmax_parallel = 32\nlog_level = warn\n")
    return conf


def s4_ppsd(md):
    """One cycle of every profile, 32 polls at once; errors on stderr."""
    return [PPSD, "-c", s4_conf(md), "--once"], None


def s4_fetch(md):
    """`pps fetch` of every profile: one after the other."""
    return [PPS, "-c", s4_conf(md), "fetch"], None


def s4_mpop(md):
    rc = os.path.join(WORK, "mpoprc")
    with open(rc, "w") as f:
        f.write("defaults\nhost 127.0.0.1\nport %s\ntls on\n"
                "tls_starttls off\ntls_trust_file %s\nauth user\n"
                "password %s\nkeep off\nonly_new off\n"
                "uidls_file %s/mpop-%%U.uidls\ndelivery maildir %s\n"
                % (TB["PPS_TB_POP3S_PORT"], TB["PPS_TB_CA_FILE"], PW, WORK, md))
        for u in S4_USERS:
            f.write("account %s\nuser %s@remote.test\n" % (u, u))
    os.chmod(rc, 0o600)
    return ["mpop", "-C", rc, "--all-accounts", "--quiet"], None


def s4_fetchmail(md, users=S4_USERS, home="fm4"):
    home = os.path.join(WORK, home)
    os.makedirs(home, exist_ok=True)
    rc = os.path.join(home, "fetchmailrc")
    with open(rc, "w") as f:
        for u in users:  # one poll entry per account, as an admin would
            f.write('poll %s via 127.0.0.1 port %s proto pop3 user "%s@remote.test" '
                    'password "%s" ssl sslcertfile "%s" sslcertck '
                    'sslcommonname "%s" fetchall nokeep batchlimit 0 '
                    'fetchlimit 0 mda "%s %s"\n'
                    % (u, TB["PPS_TB_POP3S_PORT"], u, PW, TB["PPS_TB_CA_FILE"],
                       TB["PPS_TB_CERT_NAME"],
                       os.path.join(WORK, "maildir-mda"), md))
    os.chmod(rc, 0o600)
    env = dict(os.environ, FETCHMAILHOME=home)
    return ["fetchmail", "-f", rc, "--nosyslog", "--silent", "--pidfile",
            os.path.join(home, "pid"), "--idfile",
            os.path.join(home, "ids")], env


def s4_getmail(md):
    gdir = os.path.join(WORK, "gm4")
    shutil.rmtree(gdir, ignore_errors=True)
    os.makedirs(gdir)
    argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
            "getmail", "--getmaildir", gdir]
    for u in S4_USERS:
        rc = os.path.join(gdir, u + ".rc")
        with open(rc, "w") as f:
            f.write("[retriever]\ntype = SimplePOP3SSLRetriever\n"
                    "ca_certs = %s\nssl_cert_hostname = %s\n"
                    "server = 127.0.0.1\nport = %s\nusername = %s@remote.test\n"
                    "password = %s\n[destination]\ntype = Maildir\n"
                    "path = %s/\n[options]\ndelete = true\nread_all = true\n"
                    "verbose = 0\n" % (TB["PPS_TB_CA_FILE"],
                                        TB["PPS_TB_CERT_NAME"],
                                        TB["PPS_TB_POP3S_PORT"], u, PW, md))
        os.chown(rc, 65534, 65534)
        argv += ["--rcfile", rc]
    for d in (gdir, md) + tuple(os.path.join(md, s)
                                for s in ("new", "cur", "tmp")):
        os.chown(d, 65534, 65534)
    return argv, None


def s4(per_user):
    msgs = [make_message(i, 4096) for i in range(per_user)]
    tools = [("libpps", s4_ppsd), ("pps fetch", s4_fetch), ("mpop", s4_mpop),
             ("fetchmail", s4_fetchmail), ("getmail6", s4_getmail)]
    results = {name: [] for name, _ in tools}
    total = per_user * len(S4_USERS)
    for _ in range(RUNS):
        for name, fn in tools:
            for u in S4_USERS:
                seed(msgs, u)
            md = fresh_maildir(name.replace(" ", "-"))
            argv, env = fn(md)
            r, wall, cpu, rss = timed(argv, env)
            got = count(md)
            left = sum(count(remote_dir(u)) for u in S4_USERS)
            if r.returncode == 0 and got == total and left == 0:
                results[name].append((wall, cpu, rss))
            else:
                print("  %s FAILED: exit %d, delivered %d/%d, %d left\n%s%s"
                      % (name, r.returncode, got, total, left,
                         r.stdout[-1500:], r.stderr[-1500:]), flush=True)
    report("S4: %d accounts x %d x 4 KB, implicit TLS; libpps = ppsd --once, "
           "max_parallel 32; pps fetch sequential" % (len(S4_USERS), per_user),
           total, list(results.items()), None)


# ---- S5: 1,000 accounts, one ppsd cycle against sequential fetchmail ----

S5_USERS = ["user%d" % i for i in range(1, 1001)]
SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"  # Debian's bundle


def child_of(pid, timeout=5.0):
    """The child of pid (ppsd, started by /usr/bin/time)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                kids = f.read().split()
        except OSError:
            kids = []
        if kids:
            return int(kids[0])
        time.sleep(0.002)
    raise RuntimeError("no child of /usr/bin/time (%d)" % pid)


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f
                    if ":\t" in line)


def proc_cpu(pid):
    """user + system seconds of pid so far (/proc/PID/stat fields 14, 15)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu():
    """CPU seconds used so far by the test bed's Dovecot: every process of
    its session (the master's pid) plus the children the master reaped
    (pop3-login and pop3 live for one connection each)."""
    with open(os.path.join(TB["PPS_TB_DIR"], "testbed.json")) as f:
        master = json.load(f)["master_pid"]
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) != master:  # field 6, the session id
            continue
        total += int(fields[11]) + int(fields[12])
        if int(name) == master:  # cutime, cstime
            total += int(fields[13]) + int(fields[14])
    return total / os.sysconf("SC_CLK_TCK")


def kib(v):
    return int(v.split()[0])


def s5_ppsd(md, once, total, system_ca=False):
    """One ppsd cycle over S5_USERS into md.

    - once: `ppsd -c DIR --once` (every profile due at start, no start-up
      spread, exit when the last poll ends) under /usr/bin/time: wall, CPU
      and peak RSS are the whole process's, start-up included; it must
      exit 0 having logged 1,000 `poll done`.
    - cold (once False): the service as shipped, `ppsd --foreground` with
      the profiles in place: its first cycle includes the start-up spread
      (up to a tenth of the interval, at most 30 s).  The clock (from the
      exec) stops when every message is in md and every remote mailbox is
      empty (checked every 50 ms); CPU is ppsd's at that moment.  Then
      ppsd idles 3 s (VmRSS, VmHWM, threads sampled: the idle service
      with 1,000 profiles) and is stopped with SIGTERM (exit 0 required).
    system_ca: the profiles name no tls_ca_file, so every poll loads the
    system's CA store, as real profiles do; SSL_CERT_FILE points OpenSSL
    at a copy of the system bundle with the test CA appended.
    Interval 1d, so the service polls each profile once."""
    made = os.path.join(WORK, "pps-conf5-sysca" if system_ca else
                        "pps-conf5-made")
    staged = os.path.join(made, "profiles")
    env = None
    if system_ca:
        bundle = os.path.join(WORK, "system-and-test-ca.pem")
        with open(bundle, "wb") as f:
            for src in (SYSTEM_CA_FILE, TB["PPS_TB_CA_FILE"]):
                with open(src, "rb") as g:
                    f.write(g.read())
        env = dict(os.environ, SSL_CERT_FILE=bundle)
    if not os.path.isdir(made):  # 1,000 profiles, made once with the CLI
        add_profiles(made, S5_USERS, ["--interval", "1d"], ca=not system_ca)
    conf = os.path.join(WORK, "pps-conf5")
    shutil.rmtree(conf, ignore_errors=True)  # no ledger of an earlier run
    live = os.path.join(conf, "profiles")
    os.makedirs(live, mode=0o700)
    os.chmod(conf, 0o700)
    with open(os.path.join(conf, "pps.conf"), "w") as f:
        f.write("[delivery]\nmethod = maildir\npath = %s\n" % md)
        f.write("[service]\nmax_parallel = 32\nlog_level = info\n")
    names = sorted(os.listdir(staged))

    def move(src, dst):
        for n in os.listdir(src):
            os.rename(os.path.join(src, n), os.path.join(dst, n))

    errf = os.path.join(WORK, "ppsd.stderr")
    out = os.path.join(WORK, "time5.out")
    res = {"ok": False}
    move(staged, live)
    srv0 = server_cpu()
    with open(errf, "w") as err:
        t0 = time.monotonic()
        tp = subprocess.Popen(["/usr/bin/time", "-f", "%e %U %S %M", "-o",
                               out, PPSD, "-c", conf,
                               "--once" if once else "--foreground"],
                              stdin=subprocess.DEVNULL, env=env,
                              stdout=subprocess.DEVNULL, stderr=err)
    pid = None
    try:
        if once:
            tp.wait(timeout=900)
            res["server"] = server_cpu() - srv0
            e, u, sy, m = open(out).read().split()[-4:]
            res["wall"], res["cpu"] = float(e), float(u) + float(sy)
        else:
            pid = child_of(tp.pid)
            end = t0 + 900
            while tp.poll() is None and time.monotonic() < end:
                if count(md) >= total and not any(
                        count(remote_dir(u)) for u in S5_USERS):
                    res["wall"] = time.monotonic() - t0
                    res["cpu"] = proc_cpu(pid)
                    res["server"] = server_cpu() - srv0
                    break
                time.sleep(0.05)
            if "wall" in res:
                time.sleep(3)  # idle: every poll over, one stamp check done
                st = proc_status(pid)
                res["idle_rss"] = kib(st["VmRSS"])
                res["hwm"] = kib(st["VmHWM"])
                res["threads"] = int(st["Threads"])
            os.kill(pid, signal.SIGTERM)
            tp.wait(timeout=90)
    finally:
        if tp.poll() is None:
            for p in (pid, tp.pid):
                if p:
                    os.kill(p, signal.SIGKILL)
            tp.wait()
        move(live, staged)
    with open(os.path.join(conf, "pop3.log")) as f:
        log = f.read()
    done, failed = log.count(" poll done: "), log.count(" poll failed")
    got = count(md)
    left = sum(count(remote_dir(u)) for u in S5_USERS)
    rc = tp.returncode
    try:
        res["rss"] = int(open(out).read().split()[-1])
    except (OSError, ValueError, IndexError):
        res["rss"] = 0
    res["ok"] = ("wall" in res and rc == 0 and got == total and left == 0
                 and done == len(names) and failed == 0)
    if not res["ok"]:
        print("  ppsd (%s) FAILED: exit %s, delivered %d/%d, %d left, "
              "%d poll done, %d poll failed\n%s\n%s"
              % (("--once" if once else "cold") + (", system CAs" if system_ca
                                                   else ""), rc, got, total,
                 left, done, failed,
                 "\n".join(l for l in log.splitlines()
                           if " info " not in l)[-1500:],
                 open(errf).read()[-1500:]), flush=True)
    return res


def s5(per_user):
    msgs = [make_message(i, 4096) for i in range(per_user)]
    total = per_user * len(S5_USERS)
    # (row, once, system CAs); once None: fetchmail
    modes = [("ppsd once", True, False), ("once sysCA", True, True),
             ("ppsd cold", False, False), ("fetchmail", None, False)]
    if os.environ.get("PPS_BENCH_S5_COLD", "1") == "0":
        modes = [m for m in modes if m[0] != "ppsd cold"]
    if (os.environ.get("PPS_BENCH_S5_SYSCA", "1") == "0" or
            not os.path.isfile(SYSTEM_CA_FILE)):
        modes = [m for m in modes if m[0] != "once sysCA"]
    results = {name: [] for name, _, _ in modes}
    idle = {name: [] for name, once, _ in modes if once is False}
    for _ in range(RUNS):
        for name, once, sysca in modes:
            for u in S5_USERS:
                seed(msgs, u)
            md = fresh_maildir("s5")
            if once is None:
                argv, env = s4_fetchmail(md, S5_USERS, "fm5")
                srv0 = server_cpu()
                r, wall, cpu, rss = timed(argv, env)
                srv = server_cpu() - srv0
                got = count(md)
                left = sum(count(remote_dir(u)) for u in S5_USERS)
                if r.returncode == 0 and got == total and left == 0:
                    results[name].append((wall, cpu, rss, srv))
                    print("  fetchmail: cpu %.2f, rss %d, server %.2f, "
                          "wall %.2f" % (cpu, rss, srv, wall), flush=True)
                else:
                    print("  fetchmail FAILED: exit %d, delivered %d/%d, "
                          "%d left\n%s%s" % (r.returncode, got, total, left,
                                             r.stdout[-1500:],
                                             r.stderr[-1500:]), flush=True)
                continue
            res = s5_ppsd(md, once, total, system_ca=sysca)
            if res["ok"]:
                results[name].append((res["wall"], res["cpu"], res["rss"],
                                      res["server"]))
                if name in idle:
                    idle[name].append((res["idle_rss"], res["hwm"],
                                       res["threads"]))
            print("  %s: %s" % (name, ", ".join(
                "%s %s" % (k, ("%.2f" % v) if isinstance(v, float) else v)
                for k, v in sorted(res.items()))), flush=True)
    with open(os.path.join(TB["PPS_TB_DIR"], "testbed.json")) as f:
        reuse = json.load(f).get("reuse_processes")
    print("\nS5: %d accounts x %d x 4 KB, implicit TLS, one cycle; ppsd "
          "max_parallel 32; Dovecot %s  (median of %d runs; 1-min load "
          "average at the end: %s)" % (
              len(S5_USERS), per_user,
              "reusing processes" if reuse else "one process per login",
              RUNS, open("/proc/loadavg").read().split()[0]))
    print("%-10s %8s %8s %9s %9s %9s %10s %15s" % (
        "tool", "wall s", "cpu s", "dovecot s", "RSS KiB", "msg/s",
        "accounts/s", "fetchmail/tool"))
    med = {}
    for name, rr in results.items():
        if rr:
            med[name] = (statistics.median(r[0] for r in rr),
                         statistics.median(r[1] for r in rr),
                         max(r[2] for r in rr),
                         statistics.median(r[3] for r in rr))
    ref = med.get("fetchmail")
    for name, _, _ in modes:
        if name not in med:
            print("%-10s  failed" % name)
            continue
        wall, cpu, rss, srv = med[name]
        print("%-10s %8.2f %8.2f %9.2f %9d %9.0f %10.1f %14.2fx" % (
            name, wall, cpu, srv, rss, total / wall, len(S5_USERS) / wall,
            ref[0] / wall if ref else float("nan")))
    print("(ppsd once: `ppsd --once` from exec to exit, its CPU and peak "
          "RSS, /usr/bin/time; once sysCA: the same with the system CA "
          "store; ppsd cold: the service as shipped, from exec to the last "
          "message delivered and every remote mailbox empty (start-up "
          "spread included), CPU at that moment, RSS KiB its peak over the "
          "whole process life; dovecot s: CPU of the test bed's Dovecot "
          "over the same span)")
    for name, ii in idle.items():
        if ii:
            print("%s, idle after the cycle with %d profiles: VmRSS %s KiB, "
                  "VmHWM %s KiB, threads %s (per run)" % (
                      name, len(S5_USERS), "/".join(str(i[0]) for i in ii),
                      "/".join(str(i[1]) for i in ii),
                      "/".join(str(i[2]) for i in ii)), flush=True)


def main():
    build_helpers()
    print("uptime:", subprocess.run(["uptime"], capture_output=True,
                                    text=True).stdout.strip())
    print("tools: %s; %s; %s" % (
        subprocess.run(["mpop", "--version"], capture_output=True,
                       text=True).stdout.splitlines()[0],
        subprocess.run(["fetchmail", "--version"], capture_output=True,
                       text=True).stdout.splitlines()[0],
        subprocess.run(["getmail", "--version"], capture_output=True,
                       text=True).stdout.strip()), flush=True)
    n = int(os.environ.get("PPS_BENCH_N", "2000"))
    small = [make_message(i, 4096) for i in range(n)]
    if "S1" in SCENARIOS:
        scenario("S1: %d x 4 KB, implicit TLS" % n, small, True, True)
    if "S2" in SCENARIOS:
        scenario("S2: %d x 4 KB, plain POP3" % n, small, False, True)
    if "S3" in SCENARIOS:
        for mb in (10, 100):
            scenario("S3: one %d MB message, implicit TLS" % mb,
                     [make_message(0, mb << 20)], True, False)
    if "S4" in SCENARIOS:
        s4(int(os.environ.get("PPS_BENCH_S4_N", "10")))
    if "S5" in SCENARIOS:
        s5(int(os.environ.get("PPS_BENCH_S5_N", "5")))
    print("\nuptime:", subprocess.run(["uptime"], capture_output=True,
                                      text=True).stdout.strip())
    shutil.rmtree(WORK, ignore_errors=True)
    shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
