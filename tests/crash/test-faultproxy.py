"""Unit test of the fault proxy against a tiny scripted POP3-like server on
loopback: pass-through, cut and stall at a byte offset (both directions),
pattern positions, armed_by, and the POP3 hooks (answers in order with
pipelined commands, rewritten responses, SASL continuations)."""
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultproxy import FaultProxy, Pop3Hook  # noqa: E402

GREETING = b"+OK hello\r\n"
LISTING = b"+OK 2 messages\r\n1 10\r\n2 20\r\n.\r\n"
failures = 0


def check(cond, msg):
    global failures
    print(("ok: " if cond else "FAIL: ") + msg, flush=True)
    if not cond:
        failures += 1


class Server:
    """Greets, then answers each line: LIST multi-line, AUTH with a '+ '
    continuation, QUIT closes, anything else '+OK <line>'.  Records what
    it received."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.received = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(c,), daemon=True).start()

    def one(self, c):
        try:
            self.talk(c)
        except OSError:
            pass  # the proxy cut the connection: that is the test
        c.close()

    def talk(self, c):
        got = bytearray()
        self.received.append(got)
        f = c.makefile("rb")
        c.sendall(GREETING)
        sasl = False
        for line in f:
            got += line
            cmd = line.strip()
            if sasl:
                sasl = False
                c.sendall(b"+OK logged in\r\n")
            elif cmd == b"LIST":
                c.sendall(LISTING)
            elif cmd == b"AUTH PLAIN":
                sasl = True
                c.sendall(b"+ \r\n")
            elif cmd == b"QUIT":
                c.sendall(b"+OK bye\r\n")
                break
            else:
                c.sendall(b"+OK " + cmd + b"\r\n")


def talk(port, lines, timeout=5):
    """Send all lines at once (pipelined), read until EOF or timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(b"".join(lines))
    out = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            out += d
    except socket.timeout:
        pass
    s.close()
    return out


def main():
    srv = Server()
    px = FaultProxy("127.0.0.1", srv.port)
    cmds = [b"NOOP\r\n", b"LIST\r\n", b"DELE 1\r\n", b"QUIT\r\n"]
    full = GREETING + b"+OK NOOP\r\n" + LISTING + b"+OK DELE 1\r\n+OK bye\r\n"

    px.set_plan(None)
    check(talk(px.port, cmds) == full, "pass-through is byte-exact")
    check(bytes(px.transcript["s2c"]) == full, "transcript records s2c")

    for n in (0, 1, 10, 11, 25, len(full) - 1):
        px.set_plan({"s2c": ("cut", n)})
        out = talk(px.port, cmds)
        check(out == full[:n], "cut s2c at %d: client got exactly %d bytes"
              % (n, n))

    px.set_plan({"s2c": ("stall", 17)})
    out = talk(px.port, cmds, timeout=0.5)
    check(out == full[:17] and px.reached.is_set(),
          "stall s2c at 17: 17 bytes, then nothing; reached set")
    px.drop_all()

    px.set_plan({"c2s": ("stall", (b"DELE", 1, "before"))})
    out = talk(px.port, cmds, timeout=0.5)
    check(px.reached.is_set() and b"DELE" not in srv.received[-1] and
          srv.received[-1].endswith(b"LIST\r\n"),
          "stall c2s before DELE: the server never sees it")
    px.drop_all()

    px.set_plan({"s2c": ("cut", (b"\r\n.\r\n", 1, "after"))})
    out = talk(px.port, cmds)
    check(out == full[:full.index(b"\r\n.\r\n") + 5],
          "cut after the end of the listing")

    px.set_plan({"conn": 1, "s2c": ("cut", 3)})
    check(talk(px.port, cmds) == full, "conn 1 only: conn 0 untouched")
    check(talk(px.port, cmds) == full[:3], "conn 1 cut")

    px.set_plan({"armed_by": b"DELE", "s2c": ("cut", 5)})
    out = talk(px.port, cmds[:2], timeout=0.5)
    check(out == GREETING + b"+OK NOOP\r\n" + LISTING,
          "armed_by: no fault in a connection without the marker")
    px.drop_all()
    px.set_plan({"armed_by": b"DELE",
                 "s2c": ("cut", (b"+OK DELE", 1, "after"))})
    out = talk(px.port, cmds)
    check(out == full[:full.index(b"+OK DELE") + 8],
          "armed_by: fires in the connection that sent the marker")

    class Refuse(Pop3Hook):
        def command(self, line):
            if line.startswith(b"DELE"):
                return (b"-ERR no\r\n", False)
            if line.startswith(b"QUIT"):
                return (b"-ERR [SYS/TEMP] later\r\n", True)
            return None

        def response(self, command, data):
            if command.strip() == b"LIST":
                return data.replace(b"1 10", b"1 99")
            return data

    px.set_plan({"pop3": Refuse()})
    out = talk(px.port, cmds)
    want = (GREETING + b"+OK NOOP\r\n" + LISTING.replace(b"1 10", b"1 99") +
            b"-ERR no\r\n-ERR [SYS/TEMP] later\r\n")
    check(out == want, "hook: answers in order, LIST rewritten: %r" % out)
    check(b"DELE" not in srv.received[-1] and b"QUIT" not in srv.received[-1],
          "hook: the server never saw DELE or QUIT")

    px.set_plan({"pop3": Pop3Hook()})
    out = talk(px.port, [b"AUTH PLAIN\r\n", b"AGZvbwBiYXI=\r\n", b"NOOP\r\n",
                         b"QUIT\r\n"])
    check(out == GREETING + b"+ \r\n+OK logged in\r\n+OK NOOP\r\n+OK bye\r\n",
          "hook: a SASL continuation is not taken for a command")

    px.set_plan({"s2c_line": lambda l: l.replace(b"+OK NOOP", b"-ERR x")})
    check(talk(px.port, cmds) == full.replace(b"+OK NOOP", b"-ERR x"),
          "s2c_line rewrites lines")

    px.close()
    print("%d failure(s)" % failures)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
