"""A scriptable fault-injecting TCP proxy for the crash tests (loopback only).

It sits between `pps` and the test bed's Dovecot (POP3 on the plain port, or
LMTP) and forwards bytes both ways until its *plan* says otherwise.  A plan
is a dict; the keys (all optional):

  conn        which connection the faults apply to, 0-based, counted from
              set_plan() (None: every connection).  Others pass untouched
              (but keep the pop3 / s2c_line hooks when "persist" is true).
  s2c / c2s   a fault on the server->client / client->server stream:
              (action, where) with action "cut" (close both sockets) or
              "stall" (stop forwarding that direction; signal the test),
              and where either an int N (after exactly N bytes of that
              stream have been forwarded) or (pattern, occurrence, side)
              with side "before" or "after" the occurrence-th (1-based)
              match of the bytes pattern in that stream.
  armed_by    bytes: the faults fire only in a connection whose client has
              sent these bytes (with conn None: the LMTP connection that
              carries one given message).
  pop3        a POP3 hook object (see Pop3Hook): the proxy then pairs
              client commands with server responses so the hook can
              answer a command itself (refuse DELE, [IN-USE] at login,
              garbage) or rewrite a response (a lying LIST, duplicate
              UIDLs).
  s2c_line    a function(line_bytes) -> bytes applied to every line of
              the server's stream (LMTP replies: turn one recipient's final
              250 into a 451 or a 550).

When a stall point is reached, `reached` (a threading.Event) is set; the
test then kills the client (SIGKILL) at that precise point.  When the client
side closes, the proxy closes the server side without sending anything, so
Dovecot sees a dropped connection: no QUIT, no deletion committed.

Offsets count the bytes actually forwarded to the receiving side (after
any rewriting), so a sweep over N = 0..len(transcript) visits every byte
boundary of the stream the client really saw.
"""
import re
import socket
import threading

__all__ = ["FaultProxy", "Pop3Hook"]

# POP3 commands whose +OK response is multi-line (RFC 1939, RFC 2449):
# LIST and UIDL only without an argument.
_MULTILINE = {b"CAPA", b"RETR", b"TOP"}
_MULTILINE_NOARG = {b"LIST", b"UIDL"}


class Pop3Hook:
    """Override either method.

    command(line) -> None (forward it) or (reply_bytes, close_upstream):
        answer the client itself, in order, without telling the server;
        close_upstream drops the server connection afterwards (as a
        refused QUIT would leave it).
    response(command_line, response_bytes) -> bytes to send instead.
    """

    def command(self, line):
        return None

    def response(self, command, data):
        return data


class _Fault:
    def __init__(self, spec):
        self.action, where = spec
        assert self.action in ("cut", "stall")
        self.offset = where if isinstance(where, int) else None
        self.pattern = None if isinstance(where, int) else where
        self.hit = False

    def limit(self, history, armed=True):
        """Byte offset of the fault in the stream, or None if not known yet."""
        if not armed:
            return None
        if self.offset is not None:
            return self.offset
        pat, occurrence, side = self.pattern
        pos, n = -1, 0
        while n < occurrence:
            pos = history.find(pat, pos + 1)
            if pos < 0:
                return None
            n += 1
        return pos if side == "before" else pos + len(pat)


class _Conn:
    """One proxied connection: two pump threads."""

    def __init__(self, proxy, client, plan):
        self.proxy = proxy
        self.client = client
        self.plan = plan or {}
        self.upstream = socket.create_connection(proxy.target, timeout=30)
        self.upstream.settimeout(None)
        # No Nagle: a forwarded pipelined command must not wait for the
        # peer's delayed ACK (40 ms per round trip otherwise).
        for sock in (client, self.upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.lock = threading.Lock()  # writes to the client, the queue
        self.closed = False
        self.faults = {d: _Fault(self.plan[d]) for d in ("s2c", "c2s")
                       if self.plan.get(d)}
        self.sent = {"s2c": bytearray(), "c2s": bytearray()}
        self.stalled = {"s2c": False, "c2s": False}
        self.hook = self.plan.get("pop3")
        # POP3 pairing: commands awaiting a response, oldest first; each
        # is [line, injected_reply or None, close_after].  The greeting is
        # the response to no command.
        self.queue = [[b"", None, False]]
        self.sasl = False  # the next client line is a SASL continuation

    # --- output through the fault limiter ---------------------------------
    def emit(self, direction, data):
        """Forward data in `direction`, honouring that direction's fault.
        Returns False once the direction is cut or stalled."""
        if self.stalled[direction] or self.closed:
            return False
        sock = self.client if direction == "s2c" else self.upstream
        fault = self.faults.get(direction)
        hist = self.sent[direction]
        if fault:
            lim = fault.limit(hist + data, self.is_armed(direction, data))
            if lim is not None and lim <= len(hist) + len(data):
                keep = max(0, lim - len(hist))
                hist += data[:keep]  # before the peer can answer: see below
                try:
                    if keep:
                        sock.sendall(data[:keep])
                except OSError:
                    pass
                fault.hit = True
                self.proxy._record(direction, bytes(data[:keep]))
                if fault.action == "cut":
                    self.proxy._note("cut", direction, len(hist))
                    self.close()
                else:
                    self.stalled[direction] = True
                    self.proxy._note("stall", direction, len(hist))
                return False
        # Counted as sent before it is sent: the server may answer a
        # command before sendall returns here, and is_armed() in the other
        # direction must already see the command (armed_by).
        hist += data
        try:
            sock.sendall(data)
        except OSError:
            self.close()
            return False
        self.proxy._record(direction, bytes(data))
        return True

    def is_armed(self, direction, data):
        """With plan["armed_by"] = marker, faults fire only in a connection
        whose client has sent that marker (the one carrying a given
        message), counting from the connection's start."""
        marker = self.plan.get("armed_by")
        if marker is None:
            return True
        seen = self.sent["c2s"] + (data if direction == "c2s" else b"")
        return marker in seen

    def close(self):
        if self.closed:
            return
        self.closed = True
        for s in (self.client, self.upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    # --- client -> server -------------------------------------------------
    def pump_c2s(self):
        buf = b""
        try:
            while not self.closed:
                data = self.client.recv(65536)
                if not data:
                    break
                if not self.hook:
                    self.emit("c2s", data)
                    continue
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    self.c2s_line(line + b"\n")
        except OSError:
            pass
        self.close()

    def c2s_line(self, line):
        with self.lock:
            continuation, self.sasl = self.sasl, False
            answer = None if continuation else self.hook.command(line)
            if answer is not None:
                self.queue.append([line, answer[0], answer[1]])
                self.flush_injected()
                return
            if not continuation:
                # A SASL continuation is not a command: the AUTH command
                # still waits for its response at the head of the queue.
                self.queue.append([line, None, False])
        self.emit("c2s", line)

    def flush_injected(self):
        """Send the proxy's own answers that are next in line (lock held)."""
        while self.queue and self.queue[0][1] is not None:
            _, reply, close_after = self.queue.pop(0)
            self.emit("s2c", reply)
            if close_after:
                try:
                    self.upstream.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    # --- server -> client -------------------------------------------------
    def pump_s2c(self):
        buf = b""
        line_hook = self.plan.get("s2c_line")
        try:
            while not self.closed:
                data = self.upstream.recv(65536)
                if not data:
                    break
                if not self.hook and not line_hook:
                    self.emit("s2c", data)
                    continue
                buf += data
                if self.hook:
                    buf = self.pop3_responses(buf)
                else:
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        self.emit("s2c", line_hook(line + b"\n"))
        except OSError:
            pass
        # The server closed: let the client see it (unless stalled: then
        # the test kills the client first).
        if not self.stalled["s2c"]:
            if self.hook:
                with self.lock:
                    self.flush_injected()
            self.close()

    def pop3_responses(self, buf):
        while True:
            with self.lock:
                self.flush_injected()
                if b"\n" not in buf:
                    return buf
                cmd = self.queue[0][0] if self.queue else b""
                first, rest = buf.split(b"\n", 1)
                if first.startswith(b"+ "):
                    self.sasl = True  # the next client line answers it
                    self.emit("s2c", first + b"\n")
                    buf = rest
                    continue
                verb = cmd.split()[0].upper() if cmd.split() else b""
                multi = first.startswith(b"+OK") and (
                    verb in _MULTILINE or
                    (verb in _MULTILINE_NOARG and len(cmd.split()) == 1))
                if multi:
                    end = buf.find(b"\r\n.\r\n")
                    if end < 0:
                        return buf
                    resp, buf = buf[:end + 5], buf[end + 5:]
                else:
                    resp, buf = first + b"\n", rest
                if self.queue:
                    self.queue.pop(0)
                self.emit("s2c", self.hook.response(cmd, resp))


class FaultProxy:
    """Listen on 127.0.0.1:<port>, forward to target (host, port)."""

    def __init__(self, target_host, target_port):
        assert target_host in ("127.0.0.1", "::1", "localhost")
        self.target = (target_host, int(target_port))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.plan = None
        self.count = 0
        self.reached = threading.Event()
        self.events = []
        self.transcript = {"s2c": bytearray(), "c2s": bytearray()}
        self.conns = []
        self.history = []
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def set_plan(self, plan=None):
        """Faults for the next connections; clears the transcript and
        events.  Call between runs of the client, never during one."""
        with self.lock:
            self.plan = plan
            self.count = 0
            self.reached.clear()
            self.events = []
            self.transcript = {"s2c": bytearray(), "c2s": bytearray()}
            # Per connection: {"s2c": bytes forwarded, "c2s": ...}.
            self.history = []

    def _record(self, direction, data):
        with self.lock:
            self.transcript[direction] += data

    def _note(self, what, direction, offset):
        with self.lock:
            self.events.append((what, direction, offset))
        if what == "stall":
            self.reached.set()

    def _accept(self):
        while self.running:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                n = self.count
                self.count += 1
                plan = self.plan
            if plan and plan.get("conn") is not None and plan["conn"] != n:
                plan = {k: v for k, v in plan.items()
                        if k in ("pop3", "s2c_line") and plan.get("persist")}
            try:
                c = _Conn(self, client, plan)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns.append(c)
                self.history.append(c.sent)
            threading.Thread(target=c.pump_c2s, daemon=True).start()
            threading.Thread(target=c.pump_s2c, daemon=True).start()

    def drop_all(self):
        """Close every connection (after the test killed the client)."""
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            c.close()

    def close(self):
        self.running = False
        self.sock.close()
        self.drop_all()
