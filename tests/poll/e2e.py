"""Shared helpers for the end-to-end tests of `pps`, run under testbed.py.

Each test gets a fresh configuration folder, profiles made with the CLI
exactly as an administrator would, and the private Dovecot of the test bed
(PPS_TB_* variables) as both the remote POP3 server and the local LMTP
server.
"""
import os
import shutil
import subprocess
import sys
import tempfile

TB = os.environ
PPS = None  # set by main()


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok:", msg)


def pps(confdir, *args, stdin=None, expect=0):
    r = subprocess.run([PPS, "-c", confdir] + list(args), input=stdin,
                       capture_output=True, text=True, timeout=120)
    if expect is not None and r.returncode != expect:
        fail("pps %s exited %d, expected %d\nstdout: %s\nstderr: %s" %
             (" ".join(args), r.returncode, expect, r.stdout, r.stderr))
    return r


def seed(user, *messages):
    for m in messages:
        with tempfile.NamedTemporaryFile("wb", delete=False) as f:
            f.write(m.encode() if isinstance(m, str) else m)
            path = f.name
        subprocess.run([sys.executable, TB["PPS_TB_TESTBED"], "seed", user,
                        path], check=True, capture_output=True)
        os.unlink(path)


def maildir_files(fmt, user):
    base = fmt % user
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(base, sub)
        if os.path.isdir(d):
            out += [os.path.join(d, n) for n in os.listdir(d)]
    return out


def local(user):
    """Messages in local user's maildir, as bytes."""
    return [open(p, "rb").read()
            for p in maildir_files(TB["PPS_TB_LOCAL_MAILDIR_FMT"], user)]


def remote_count(user):
    return len(maildir_files(TB["PPS_TB_REMOTE_MAILDIR_FMT"], user))


# Folders made for the tests; they hold the test bed's password, so they
# are removed when every test passed (kept for debugging otherwise).
CREATED = []


def scratch_dir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    CREATED.append(d)
    return d


def new_confdir(method="lmtp"):
    d = scratch_dir("pps-e2e-")
    os.chmod(d, 0o700)
    with open(os.path.join(d, "pps.conf"), "w") as f:
        f.write("[delivery]\n")
        if method == "lmtp":
            f.write("method = lmtp\nserver = 127.0.0.1:%s\n" %
                    TB["PPS_TB_LMTP_PORT"])
        else:
            f.write("method = maildir\npath = %s\n" %
                    TB["PPS_TB_LOCAL_MAILDIR_FMT"].replace("%s", "%u"))
        f.write("[service]\nlog_level = debug\n")
    return d


def add_profile(confdir, name, remote_user, local_user, *extra):
    server = "127.0.0.1 %ss" % TB["PPS_TB_POP3S_PORT"]
    pps(confdir, "profile", "add", name, "--server", server,
        "--user", remote_user, "--password-stdin",
        "--local-user", local_user, "--local-domain", "local.test",
        "--tls-ca-file", TB["PPS_TB_CA_FILE"], *extra,
        stdin=TB["PPS_TB_PASSWORD"] + "\n")


def message(subject, to, cc=None, extra=""):
    head = "From: Sender <sender@elsewhere.example>\nTo: %s\n" % to
    if cc:
        head += "Cc: %s\n" % cc
    head += "Subject: %s\nMessage-ID: <%s@test>\n%s" % (
        subject, subject.replace(" ", "-"), extra)
    return head + "\nBody of %s.\n.leading dot line\n" % subject


def main(tests):
    global PPS
    PPS = sys.argv[1]
    for t in tests:
        print("--", t.__name__)
        t()
    for d in CREATED:
        shutil.rmtree(d, ignore_errors=True)
    print("all passed")
