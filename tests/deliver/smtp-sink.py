#!/usr/bin/env python3
"""smtp-sink.py -- COMMAND...: run COMMAND next to a real SMTP server.

Starts aiosmtpd (Debian's python3-aiosmtpd) on 127.0.0.1, a free port, and
runs COMMAND with
    PPS_SMTP_SERVER=127.0.0.1:PORT
    PPS_SMTP_SPOOL=folder where each accepted message lands as N.eml
    PPS_SMTP_USER / PPS_SMTP_PASSWORD  credentials AUTH accepts
    PPS_SMTP_CA_FILE=the self-signed certificate (CN and SAN localhost,
                     SAN IP 127.0.0.1) that STARTTLS presents, when the
                     openssl program is there to make one
and exits with its status.  Each spooled file starts with
"X-Envelope-From: <...>" and one "X-Envelope-To: <...>" per recipient.
RCPT TO nobody@... gets 550 5.1.1, full@... gets 552 5.2.2.

Installs nothing: without aiosmtpd it exits 77 (meson: SKIP) and says so.
"""
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile

try:
    import aiosmtpd  # noqa: F401
except ImportError:
    # A pyenv python may shadow Debian's, which has the package.
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("SKIP: python3-aiosmtpd is not installed "
          "(apt-get install -y python3-aiosmtpd)", file=sys.stderr)
    sys.exit(77)

from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult  # noqa: E402

USER = "pps"
PASSWORD = "pps-smtp-pass"


class Handler:
    def __init__(self, spool):
        self.spool = spool
        self.n = 0

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        if address.startswith("full@"):
            return "552 5.2.2 mailbox full"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        sender = envelope.mail_from or ""
        if sender == "<>":  # aiosmtpd keeps the null sender's brackets
            sender = ""
        head = "X-Envelope-From: <%s>\n" % sender
        head += "".join("X-Envelope-To: <%s>\n" % r for r in envelope.rcpt_tos)
        tmp = os.path.join(self.spool, ".%d.tmp" % self.n)
        with open(tmp, "wb") as f:
            f.write(head.encode() + envelope.original_content)
        os.rename(tmp, os.path.join(self.spool, "%d.eml" % self.n))
        return "250 2.0.0 Message accepted"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (auth_data.login == USER.encode()
          and auth_data.password == PASSWORD.encode())
    # handled=False: aiosmtpd then answers 535 itself.
    return AuthResult(success=ok, handled=False)


def make_tls(folder):
    """A self-signed certificate and the server context, or None."""
    cert = os.path.join(folder, "cert.pem")
    key = os.path.join(folder, "key.pem")
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec",
             "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", cert, "-days", "2",
             "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError):
        return None, None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx, cert


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    if len(sys.argv) < 3 or sys.argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    spool = tempfile.mkdtemp(prefix="pps-smtp-")
    certs = tempfile.mkdtemp(prefix="pps-smtp-tls-")
    controller = None
    try:
        tls_context, ca_file = make_tls(certs)
        for _ in range(5):
            port = free_port()
            controller = Controller(Handler(spool), hostname="127.0.0.1",
                                    port=port, authenticator=authenticator,
                                    auth_require_tls=False,
                                    tls_context=tls_context)
            try:
                controller.start()
                break
            except Exception:  # the port was taken meanwhile: try another
                controller = None
        if controller is None:
            print("cannot start aiosmtpd", file=sys.stderr)
            return 1
        env = dict(os.environ, PPS_SMTP_SERVER="127.0.0.1:%d" % port,
                   PPS_SMTP_SPOOL=spool, PPS_SMTP_USER=USER,
                   PPS_SMTP_PASSWORD=PASSWORD)
        if ca_file:
            env["PPS_SMTP_CA_FILE"] = ca_file
        return subprocess.call(sys.argv[2:], env=env)
    finally:
        if controller is not None:
            controller.stop()
        shutil.rmtree(spool, ignore_errors=True)
        shutil.rmtree(certs, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
