#!/usr/bin/env python3
"""Proves the Dovecot test bed works; run under `testbed.py run -- THIS`.

Checks, with a plain-socket client and `openssl s_client`:
  - plain POP3 USER/PASS login, STAT shows the seeded count, RETR returns the
    seeded message, DELE+QUIT removes it from the maildir, a wrong password
    is refused;
  - STLS and implicit TLS verify against the test CA and host name (and IP);
  - the wrong-host, expired and self-signed certificates fail verification,
    each for its own reason (and pass when only that check is disabled);
  - LMTP over TCP and over the unix socket delivers to local users (the
    message lands in their maildir, owned by the mail uid) and answers 550
    for an unknown user.
Exit status 0 = all passed; prints one line per check.
"""

import os
import re
import socket
import subprocess
import sys
import time
import uuid

E = os.environ
failures = 0


def check(cond, what, detail=""):
    global failures
    print("%s: %s" % ("ok" if cond else "FAIL", what), flush=True)
    if not cond:
        failures += 1
        if detail:
            print("    " + str(detail).replace("\n", "\n    "), flush=True)
    return cond


class Line:
    """Minimal line-oriented client over a socket (CRLF)."""

    def __init__(self, addr):
        fam = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
        self.s = socket.socket(fam, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(addr)
        self.f = self.s.makefile("rb")

    def line(self):
        return self.f.readline().decode("utf-8", "replace").rstrip("\r\n")

    def send(self, text):
        self.s.sendall(text.encode() + b"\r\n")

    def cmd(self, text):
        self.send(text)
        return self.line()

    def multiline(self):
        out = []
        while True:
            ln = self.line()
            if ln == ".":
                return out
            out.append(ln[1:] if ln.startswith("..") else ln)

    def close(self):
        self.f.close()
        self.s.close()


def testbed(*args):
    return subprocess.run([sys.executable, E["PPS_TB_TESTBED"]] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=30)


def count(user):
    r = testbed("count", user)
    return int(r.stdout) if r.returncode == 0 else -1


def maildir_files(fmt, local):
    md = fmt % local
    return [os.path.join(md, sub, n) for sub in ("new", "cur")
            for n in os.listdir(os.path.join(md, sub))]


# ------------------------------------------------------------------ seeding

def test_seed(tmp):
    msgs = []
    for i in range(1, 4):
        p = os.path.join(tmp, "m%d.eml" % i)
        with open(p, "w") as f:
            f.write("From: a@example.org\nTo: user1@remote.test\n"
                    "Subject: seed %d\nMessage-ID: <seed%d@pps.test>\n\n"
                    "body %d\n.leading dot line\n" % (i, i, i))
        msgs.append(p)
    r = testbed("seed", "user1@remote.test", *msgs)
    check(r.returncode == 0, "seed 3 messages into user1", r.stderr)
    check(count("user1@remote.test") == 3, "count user1 == 3")
    files = maildir_files(E["PPS_TB_REMOTE_MAILDIR_FMT"], "user1")
    check(len(files) == 3 and all(
        os.stat(f).st_uid == int(E["PPS_TB_MAIL_UID"]) for f in files),
        "seeded files owned by PPS_TB_MAIL_UID", files)
    check(count("single") == 0, "count single == 0")


# ------------------------------------------------------------------ POP3

def test_pop3_plain():
    host, port = E["PPS_TB_HOST"], int(E["PPS_TB_POP3_PORT"])
    c = Line((host, port))
    check(c.line().startswith("+OK"), "plain POP3 greeting")
    c.send("CAPA")
    capa = c.line()
    caps = c.multiline() if capa.startswith("+OK") else []
    check("STLS" in caps, "CAPA offers STLS", caps)
    check("USER" in caps, "CAPA offers USER (plaintext auth allowed)", caps)
    check(c.cmd("USER user1@remote.test").startswith("+OK"), "USER")
    r = c.cmd("PASS " + E["PPS_TB_PASSWORD"])
    check(r.startswith("+OK"), "PASS accepted on plain connection", r)
    r = c.cmd("STAT")
    check(re.match(r"^\+OK 3 \d+$", r) is not None, "STAT shows 3", r)
    c.send("RETR 2")
    r = c.line()
    body = c.multiline() if r.startswith("+OK") else []
    check("Subject: seed 2" in body and ".leading dot line" in body,
          "RETR 2 returns the seeded message (dot-unstuffed)", body)
    check(c.cmd("DELE 3").startswith("+OK"), "DELE 3")
    check(c.cmd("QUIT").startswith("+OK"), "QUIT commits")
    c.close()
    check(count("user1") == 2, "maildir has 2 after DELE+QUIT")

    c = Line((host, port))
    c.line()
    c.cmd("USER user2@remote.test")
    r = c.cmd("PASS wrong-password")
    check(r.startswith("-ERR"), "wrong password refused", r)
    c.close()

    c = Line((host, port))
    c.line()
    c.cmd("USER single@remote.test")
    c.cmd("PASS " + E["PPS_TB_PASSWORD"])
    r = c.cmd("STAT")
    check(r == "+OK 0 0", "single@remote.test: STAT +OK 0 0", r)
    c.cmd("QUIT")
    c.close()


def s_client(host, port, starttls, extra, session=""):
    args = ["openssl", "s_client", "-connect", "%s:%s" % (host, port),
            "-CAfile", E["PPS_TB_CA_FILE"], "-verify_return_error",
            "-crlf", "-nocommands", "-ign_eof"] + extra
    if starttls:
        args += ["-starttls", "pop3"]
    r = subprocess.run(args, input=session, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=30)
    return r.returncode, r.stdout


LOGIN = "USER user1@remote.test\nPASS %s\nSTAT\nQUIT\n"


def test_tls_good():
    name = E["PPS_TB_CERT_NAME"]
    host = E["PPS_TB_HOST"]
    session = LOGIN % E["PPS_TB_PASSWORD"]
    for label, port, stls in [("STLS", E["PPS_TB_POP3_PORT"], True),
                              ("implicit TLS", E["PPS_TB_POP3S_PORT"], False)]:
        rc, out = s_client(host, port, stls, ["-verify_hostname", name],
                           session)
        check(rc == 0 and "Verify return code: 0 (ok)" in out,
              "%s verifies (CA + host name %s)" % (label, name), out)
        check(re.search(r"^\+OK 2 \d+", out, re.M) is not None,
              "%s: login and STAT over TLS" % label, out)
        rc, out = s_client(host, port, stls, ["-verify_ip", host], "QUIT\n")
        check(rc == 0 and "Verify return code: 0 (ok)" in out,
              "%s verifies by IP %s" % (label, host), out)


# kind -> (expected verify error, option that disables just that check)
NEGATIVE = {
    "WRONGHOST": (r"num=62:hostname mismatch", None),
    "EXPIRED": (r"num=10:certificate has expired", ["-no_check_time"]),
    "SELFSIGNED": (r"num=18:self.signed certificate", None),
}


def test_tls_bad():
    name = E["PPS_TB_CERT_NAME"]
    for kind, (err, relax) in NEGATIVE.items():
        host = E["PPS_TB_%s_HOST" % kind]
        for label, port, stls in [
                ("STLS", E["PPS_TB_POP3_%s_PORT" % kind], True),
                ("implicit TLS", E["PPS_TB_POP3S_%s_PORT" % kind], False)]:
            rc, out = s_client(host, port, stls, ["-verify_hostname", name],
                               "QUIT\n")
            check(rc != 0 and re.search(err, out) is not None,
                  "%s cert on %s:%s (%s) fails verification: %s"
                  % (kind.lower(), host, port, label, err), out)
        # Control: with only the intended defect out of the way it verifies,
        # so the failure above is caused by that defect and nothing else.
        port = E["PPS_TB_POP3S_%s_PORT" % kind]
        if kind == "WRONGHOST":
            extra = ["-verify_hostname", "wrong.example"]
        elif kind == "SELFSIGNED":
            extra = ["-verify_hostname", name]
        else:
            extra = ["-verify_hostname", name] + relax
        if kind == "SELFSIGNED":
            # Trust the self-signed cert itself instead of the CA.
            pem = subprocess.run(
                ["openssl", "s_client", "-connect", "%s:%s" % (host, port)],
                input="", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, timeout=30).stdout
            m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END "
                          r"CERTIFICATE-----\n", pem, re.S)
            path = os.path.join(E["PPS_TB_DIR"], "selfsigned-trusted.pem")
            with open(path, "w") as f:
                f.write(m.group(0) if m else "")
            extra += ["-CAfile", path]
        rc, out = s_client(host, port, False, extra, "QUIT\n")
        check(rc == 0, "control: %s cert verifies once that defect is "
              "allowed" % kind.lower(), out)


# ------------------------------------------------------------------ LMTP

def lmtp_deliver(addr, rcpts, msg):
    """LMTP session; returns dict rcpt -> RCPT reply and the DATA replies."""
    c = Line(addr)
    greet = c.line()
    c.send("LHLO client.test")
    while True:
        ln = c.line()
        if not ln.startswith("250-"):
            break
    c.cmd("MAIL FROM:<sender@remote.test>")
    replies, accepted = {}, 0
    for r in rcpts:
        replies[r] = c.cmd("RCPT TO:<%s>" % r)
        accepted += replies[r].startswith("250")
    data = []
    if accepted:
        if c.cmd("DATA").startswith("354"):
            c.s.sendall(msg.replace(b"\n", b"\r\n") + b".\r\n")
            data = [c.line() for _ in range(accepted)]
    c.cmd("QUIT")
    c.close()
    return greet, replies, data


def test_lmtp():
    fmt = E["PPS_TB_LOCAL_MAILDIR_FMT"]
    uid = int(E["PPS_TB_MAIL_UID"])
    for label, addr, user in [
            ("TCP", (E["PPS_TB_HOST"], int(E["PPS_TB_LMTP_PORT"])), "alice"),
            ("unix socket", E["PPS_TB_LMTP_SOCKET"], "bob")]:
        mid = "<%s@pps.test>" % uuid.uuid4()
        msg = ("From: sender@remote.test\nTo: %s@local.test\nSubject: lmtp\n"
               "Message-ID: %s\n\nhello\n" % (user, mid)).encode()
        before = count("%s@local.test" % user)
        greet, replies, data = lmtp_deliver(
            addr, ["%s@local.test" % user, "nosuchuser@local.test"], msg)
        check(greet.startswith("220 "), "LMTP %s greeting" % label, greet)
        ok = replies["%s@local.test" % user]
        check(ok.startswith("250"), "LMTP %s: RCPT %s accepted"
              % (label, user), ok)
        bad = replies["nosuchuser@local.test"]
        check(bad.startswith("550"), "LMTP %s: unknown user refused with 550"
              % label, bad)
        check(len(data) == 1 and data[0].startswith("250"),
              "LMTP %s: DATA delivered" % label, data)
        files = maildir_files(fmt, user)
        found = [f for f in files if mid.encode() in open(f, "rb").read()]
        check(count("%s@local.test" % user) == before + 1 and len(found) == 1,
              "LMTP %s: message is in %s's maildir" % (label, user), files)
        check(all(os.stat(f).st_uid == uid for f in found),
              "LMTP %s: delivered file owned by mail uid" % label)


def main():
    t0 = time.monotonic()
    tmp = os.path.join(E["PPS_TB_DIR"], "test-tmp")
    os.makedirs(tmp, exist_ok=True)
    test_seed(tmp)
    for t in (test_pop3_plain, test_tls_good, test_tls_bad, test_lmtp):
        t1 = time.monotonic()
        t()
        print("-- %s: %.2f s" % (t.__name__, time.monotonic() - t1))
    print("%d failure(s) in %.2f s" % (failures, time.monotonic() - t0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
