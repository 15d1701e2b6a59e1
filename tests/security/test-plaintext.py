"""No password in clear without the opt-in: a tiny POP3 recorder on
loopback (greeting, CAPA with USER and SASL PLAIN LOGIN, no STLS) records every
byte `pps fetch` sends.  Without allow_plaintext_password the password
bytes (plain or base64) must never arrive, and no USER/PASS/AUTH command
either; with the opt-in they do (the control, proving the recorder would
have seen them).

Usage: test-plaintext.py PPS   (no test bed needed: maildir delivery)
"""
import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

PPS = sys.argv[1]
USER = "rec@remote.test"
PASSWORD = "pps-Clear-secret7"


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok:", msg)


class Recorder:
    """Speaks just enough POP3 to reach and pass a login; keeps every byte
    received, across all connections."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.data = b""
        self.connections = 0
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        c.settimeout(10)
        f = c.makefile("rb")
        c.sendall(b"+OK recorder ready\r\n")
        login_steps = 0  # AUTH LOGIN continuation lines still expected
        try:
            while True:
                line = f.readline(2048)
                if not line:
                    break
                with self.lock:
                    self.data += line
                cmd = line.split(b" ")[0].strip().upper()
                if login_steps:  # AUTH LOGIN: user name, then password
                    login_steps -= 1
                    c.sendall(b"+ UGFzc3dvcmQ6\r\n" if login_steps
                              else b"+OK\r\n")
                elif cmd == b"AUTH" and line.split()[1:2] == [b"LOGIN"]:
                    login_steps = 2
                    c.sendall(b"+ VXNlcm5hbWU6\r\n")
                elif cmd == b"CAPA":
                    c.sendall(b"+OK\r\nUSER\r\nUIDL\r\nSASL PLAIN LOGIN\r\n.\r\n")
                elif cmd == b"AUTH" and len(line.split()) == 2:
                    c.sendall(b"+ \r\n")
                elif cmd in (b"USER", b"PASS", b"AUTH", b"NOOP", b"DELE"):
                    c.sendall(b"+OK\r\n")
                elif cmd == b"STAT":
                    c.sendall(b"+OK 0 0\r\n")
                elif cmd in (b"LIST", b"UIDL"):
                    c.sendall(b"+OK\r\n.\r\n")
                elif cmd == b"QUIT":
                    c.sendall(b"+OK bye\r\n")
                    break
                elif line.strip() and cmd.isalpha() and len(cmd) <= 8:
                    c.sendall(b"-ERR unknown\r\n")
                else:  # an AUTH continuation line (base64)
                    c.sendall(b"+OK\r\n")
        except OSError:
            pass
        c.close()

    def take(self):
        with self.lock:
            d, self.data = self.data, b""
            return d


def secrets():
    return [PASSWORD.encode(), base64.b64encode(PASSWORD.encode()),
            base64.b64encode(("\0%s\0%s" % (USER, PASSWORD)).encode()),
            base64.b64encode(("%s\0%s\0%s" % (USER, USER, PASSWORD))
                             .encode())]


def conf_with(rec, name, lines):
    d = tempfile.mkdtemp(prefix="pps-clear-")
    os.chmod(d, 0o700)
    md = os.path.join(d, "mail", "%u")
    with open(os.path.join(d, "pps.conf"), "w") as f:
        f.write("[delivery]\nmethod = maildir\npath = %s\n" % md)
    os.mkdir(os.path.join(d, "profiles"), 0o700)
    path = os.path.join(d, "profiles", name + ".conf")
    # Written by hand: `pps profile add` itself refuses tls = none without
    # the opt-in, and this test is about the engine, not the CLI.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, ("server = 127.0.0.1 %d\nuser = %s\npassword = %s\n"
                  "local_user = alice\nlocal_domain = local.test\n%s" %
                  (rec.port, USER, PASSWORD, "".join(
                      l + "\n" for l in lines))).encode())
    os.close(fd)
    return d


def fetch(d, name):
    return subprocess.run([PPS, "-c", d, "-vvv", "fetch", name],
                          capture_output=True, text=True, timeout=60)


def sent_secret(data):
    return [s for s in secrets() if s in data]


def logged_in(data):
    return [l for l in data.split(b"\r\n")
            if l.split(b" ")[0].upper() in (b"USER", b"PASS", b"AUTH")]


def main():
    rec = Recorder()
    refused = [
        ("none", ["tls = none"]),
        ("none-plain", ["tls = none", "auth = plain"]),
        ("none-user", ["tls = none", "auth = user"]),
        ("ifoffered", ["tls = if-offered"]),
        ("ifoffered-plain", ["tls = if-offered", "auth = plain"]),
        ("ifoffered-user", ["tls = if-offered", "auth = user"]),
        ("ifoffered-login", ["tls = if-offered", "auth = login"]),
        ("optout-no", ["tls = none", "allow_plaintext_password = no"]),
    ]
    for name, lines in refused:
        d = conf_with(rec, name, lines)
        r = fetch(d, name)
        data = rec.take()
        check(r.returncode != 0, "%s: fetch fails (%d): %s" % (
            name, r.returncode, (r.stderr.strip().splitlines() or [""])[-1]))
        check("allow_plaintext_password" in r.stderr,
              "%s: the error names the opt-in" % name)
        check(not sent_secret(data), "%s: no password bytes on the wire "
              "(%d bytes recorded)" % (name, len(data)))
        check(not logged_in(data), "%s: no USER, PASS or AUTH sent: %r" %
              (name, logged_in(data)))
        check(not sent_secret((r.stdout + r.stderr).encode()),
              "%s: password not in the output" % name)
        shutil.rmtree(d)

    # Control: with the opt-in the recorder does see the password, so the
    # checks above could have failed.
    for name, lines, want in [
            ("optin-user", ["tls = none", "allow_plaintext_password = yes",
                            "auth = user"], PASSWORD.encode()),
            ("optin-plain", ["tls = none", "allow_plaintext_password = yes",
                             "auth = plain"], None),
            ("optin-login", ["tls = none", "allow_plaintext_password = yes",
                             "auth = login"], None),
            ("optin-ifoffered", ["tls = if-offered",
                                 "allow_plaintext_password = yes"], None)]:
        d = conf_with(rec, name, lines)
        r = fetch(d, name)
        data = rec.take()
        if r.returncode != 0:
            fail("%s: fetch failed (%d): %s" % (name, r.returncode, r.stderr))
        print("ok: %s: fetch succeeds" % name)
        check(sent_secret(data), "%s: the recorder saw the password" % name)
        if want:
            check(b"PASS " + want in data, "%s: PASS carried it" % name)
        check(not sent_secret((r.stdout + r.stderr).encode()),
              "%s: yet the password is not in the output" % name)
        log = open(os.path.join(d, "pop3.log"), "rb").read() \
            if os.path.exists(os.path.join(d, "pop3.log")) else b""
        check(not sent_secret(log), "%s: nor in pop3.log" % name)
        shutil.rmtree(d)
    check(rec.connections > 0, "the recorder was reached (%d connections)" %
          rec.connections)
    print("all passed")


if __name__ == "__main__":
    main()
