"""The crash and fault sweeps of invariants 1 and 2 (design.md): whatever
point a poll is killed at, its connection dropped at, or a delivery or the
server fails at, every message ends up in each of its recipients' maildirs
exactly once (a second copy only for a recipient the ledger had in doubt,
docs/ledger.md), and nothing is deleted from the server undelivered.

    test-crash.py PPS SWEEP [SWEEP...]

SWEEP: cut, kill-pop3, kill-lmtp, lmtp-quit-window, kill-maildir,
dele-quit, refusals, delivery.  PPS_CRASH_FULL=1 visits every byte offset (slow: minutes).
Run under tests/testbed/testbed.py; docs/reliability.md has the numbers.
"""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crashlib as cl  # noqa: E402
from crashlib import check, PROFILES  # noqa: E402
from faultproxy import Pop3Hook  # noqa: E402

FULL = os.environ.get("PPS_CRASH_FULL") == "1"
PPS = None
tag_serial = [0]


def new_tag():
    tag_serial[0] += 1
    return "T%05d" % tag_serial[0]


def reference(bed, profile):
    """A fault-free poll through the proxies: its transcripts."""
    conf = bed.fresh_conf()
    tag = new_tag()
    cl.seed(profile, tag)
    bed.pop3.set_plan(None)
    bed.lmtp.set_plan(None)
    r = bed.run(conf, "fetch", profile, expect=0)
    check("5 listed, 5 delivered, 5 deleted" in r.stdout,
          "reference poll of %s: %s" % (profile, r.stdout.strip()))
    s2c = bytes(bed.pop3.transcript["s2c"])
    c2s = bytes(bed.pop3.transcript["c2s"])
    sc = cl.Score("reference")
    sc.judge(profile, tag, 0, "reference")
    check(sc.ok(), "reference poll delivers exactly once")
    return s2c, c2s


def interesting(stream, stride):
    """Offsets worth cutting at: every offset within 1 byte of the start
    of a response or of the end of a multi-line one, every
    offset of the last 12 bytes, and a stride elsewhere."""
    pts = set(range(0, len(stream) + 1, stride))
    for m in re.finditer(rb"(\+OK|-ERR|\r\n\.\r\n)", stream):
        for d in range(-1, 2):
            pts.add(m.start() + d)
    pts.update(range(len(stream) - 12, len(stream) + 1))
    return sorted(p for p in pts if 0 <= p <= len(stream))


def one_point(bed, sc, profile, plan, where, kill=False, in_doubt=(),
              conf=None, lmtp_plan=None, after_fault=None):
    """Seed, poll with the fault (killing pps when a stall is reached),
    call after_fault(tag) on the state the fault left, rerun without
    faults, judge.  A kill point whose stall was never reached is a
    problem (the point would prove nothing)."""
    conf = conf or bed.fresh_conf()
    tag = new_tag()
    cl.seed(profile, tag)
    bed.pop3.set_plan(plan)
    bed.lmtp.set_plan(lmtp_plan)
    p = bed.start(conf, profile)
    if kill:
        stalled = None
        deadline = time.time() + 20
        while time.time() < deadline and p.poll() is None:
            if bed.pop3.reached.wait(0.01) or bed.lmtp.reached.is_set():
                stalled = True
                break
        if stalled:
            p.send_signal(signal.SIGKILL)
            sc.kills += 1
        else:
            sc.problems.append("%s: the stall point was never reached "
                               "(pps exited %s)" % (where, p.poll()))
    try:
        p.communicate(timeout=cl.FETCH_TIMEOUT)
    except Exception:
        p.kill()
        p.communicate()
        bed.hangs += 1
        sc.problems.append("%s: the faulty poll hung (no stall reached, "
                           "no exit in %d s)" % (where, cl.FETCH_TIMEOUT))
    bed.pop3.drop_all()
    bed.lmtp.drop_all()
    quit_bug = ()
    if in_doubt == "ledger":
        doubt, quit_bug = cl.in_doubt_keys(bed, conf, profile)
        sc.ledger_doubt += len(doubt) + len(quit_bug)
    else:
        doubt = in_doubt(tag) if callable(in_doubt) else in_doubt
        if kill and doubt:
            # What the test expects in doubt, the ledger must have in
            # doubt too (an intent with no outcome).
            window, bug = cl.in_doubt_keys(bed, conf, profile)
            ledger = window | bug
            sc.ledger_doubt += len(ledger)
            if not set(doubt) <= ledger:
                sc.problems.append("%s: expected in doubt %s, the ledger "
                                   "has %s" % (where, sorted(doubt),
                                               sorted(ledger)))
    if after_fault:
        after_fault(tag)
    reruns = cl.rerun(bed, conf, profile)
    return sc.judge(profile, tag, reruns, where, doubt, quit_bug)


# --- a. connection cut at every byte offset of the POP3 stream -----------

def sweep_cut(bed):
    """Cut the POP3 connection after byte N of the server's stream.  pps
    lives on: a message cut mid-RETR is aborted at the deliverer (never
    delivered in part), the session is given up without DELE or QUIT,
    and the rerun finishes the job.  No in-doubt allowance at all."""
    ok = True
    for profile, stride in (("cat", 23), ("single", 53)):
        s2c, _ = reference(bed, profile)
        pts = list(range(len(s2c) + 1)) if FULL else interesting(s2c, stride)
        sc = cl.Score("cut-%s" % profile)
        for n in pts:
            one_point(bed, sc, profile, {"conn": 0, "s2c": ("cut", n)},
                      "cut s2c at %d" % n)
        sc.summary(" (%d of %d offsets)" % (len(pts), len(s2c) + 1))
        ok &= sc.ok()
    check(ok, "connection cuts: exactly once, nothing lost")


# --- b. SIGKILL at many points --------------------------------------------

def sweep_kill_pop3(bed, name="kill-pop3"):
    """Stall the POP3 stream at offset N and SIGKILL pps the moment the
    proxy has forwarded byte N: pps is then anywhere in handling the bytes
    before N (routing, delivering, recording), or blocked reading byte
    N+1.  Every recipient must have exactly one copy, except one the
    ledger had in doubt at the kill (an intent, no outcome) whose
    delivery pps could not know about (with LMTP: whose final reply it
    had not read): it may have two (docs/ledger.md, "The window")."""
    s2c, _ = reference(bed, "cat")
    pts = list(range(len(s2c) + 1)) if FULL else interesting(s2c, 29)
    sc = cl.Score("%s (%s)" % (name, bed.method))
    for n in pts:
        one_point(bed, sc, "cat", {"conn": 0, "s2c": ("stall", n)},
                  "kill at s2c %d" % n, kill=True, in_doubt="ledger")
    sc.summary(" (%d of %d offsets)" % (len(pts), len(s2c) + 1))
    check(sc.ok(), "%s: SIGKILL at POP3 offsets: exactly once" % name)
    if bed.method == "maildir":
        # Maildir settles an in-doubt recipient by its delivery tag (the
        # file name says whether it got the message): no allowance at all.
        check(sc.allowed_dups == 0,
              "%s: no second copy even for recipients in doubt (%d)" %
              (name, sc.allowed_dups))


def sweep_kill_lmtp(bed, quit_window=False):
    """Stall the LMTP connection that carries message K at chosen points
    and SIGKILL pps.  Before the final dot reaches Dovecot nothing was
    delivered: exactly once.  From the final dot until pps has read the
    per-recipient replies, Dovecot has the message but the ledger cannot
    know: the recipients are in doubt and the rerun delivers them again
    (at-least-once, docs/ledger.md).  After the replies: exactly once."""
    # Which LMTP connection carries which message: the poll's sequence of
    # connections (routing's existence probes, then each delivery) is the
    # same in every run of the same messages, so a reference run tells.
    reference(bed, "cat")
    carrier = {}
    for i, conn in enumerate(bed.lmtp.history):
        m = re.search(rb"Message-ID: <T\d+-(m\d)@", bytes(conn["c2s"]))
        if m and b"\r\nDATA\r\n" in bytes(conn["c2s"]):
            carrier[m.group(1).decode()] = i
    check(sorted(carrier) == ["m1", "m2", "m3", "m4", "m5"],
          "each message has its LMTP connection: %s" % carrier)
    sc = cl.Score("lmtp-quit-window" if quit_window else "kill-lmtp")
    in_doubt_points = 0
    for key, _, _, users in PROFILES["cat"][2]:
        doubt_all = (lambda tag, key=key, users=users:
                     [(key, u) for u in users])
        points = [
            ("c2s before DATA", ("c2s", ("stall", (b"DATA\r\n", 1,
                                                   "before"))), ()),
            ("c2s mid-body", ("c2s", ("stall", (b"Body of", 1, "after"))),
             ()),
            ("c2s before the final dot",
             ("c2s", ("stall", (b"\r\n.\r\n", 1, "before"))), ()),
            # The literal point: the dot has left, SIGKILL at once.  The
            # replies still flow, so pps may be anywhere from waiting for
            # them to waiting for the QUIT reply: judged by the ledger.
            ("c2s just after the final dot",
             ("c2s", ("stall", (b"\r\n.\r\n", 1, "after"))), "ledger"),
            ("s2c before the first final reply (dot delivered)",
             ("s2c", ("stall", (b"250 2.0.0 <", 1, "before"))), doubt_all),
        ]
        if quit_window:
            # Every final reply is in: the ledger could know, so a second
            # copy here is a bug (see NOT FINISHED in main()).
            points = [
                ("s2c before the QUIT reply",
                 ("s2c", ("stall", (b"221 ", 1, "before"))), ()),
                ("s2c inside the QUIT reply",
                 ("s2c", ("stall", (b"221 ", 1, "after"))), ()),
            ]
        elif len(users) > 1:
            points.append(("s2c between per-recipient replies",
                           ("s2c", ("stall", (b"250 2.0.0 <", 2,
                                              "before"))), doubt_all))
            points.append(("s2c inside the first final reply",
                           ("s2c", ("stall", (b"250 2.0.0 <", 1,
                                              "after"))), doubt_all))
        for what, (direction, fault), doubt in points:
            conf = bed.fresh_conf()
            lplan = {"conn": carrier[key], direction: fault}
            before = sc.allowed_dups
            one_point(bed, sc, "cat", None, "%s: %s" % (key, what),
                      kill=True, in_doubt=doubt, conf=conf,
                      lmtp_plan=lplan)
            if doubt and doubt != "ledger":
                in_doubt_points += 1
            print("  %s %s: %d in-doubt duplicate(s)" %
                  (key, what, sc.allowed_dups - before), flush=True)
    sc.summary(" (%d in-doubt points)" % in_doubt_points)
    check(sc.ok(), "SIGKILL in LMTP: no loss; a duplicate only for a "
          "recipient in doubt")


def sweep_lmtp_quit_window(bed):
    # Was a bug (found by this sweep): smtp_commit() waited up to 5 s for
    # the reply to QUIT before returning, and the poll records outcomes
    # only when commit returns, so a crash during that wait left every
    # recipient "in doubt" although all the 250s were read, and the rerun
    # delivered the message again.  Fixed: commit sends QUIT and closes
    # without waiting.  Proof: the LMTP server's QUIT replies are held
    # back for ever on every connection; the poll must still finish at
    # once (the old code needed 5 s per message, 25 s here), with nothing
    # left in doubt, every message exactly once.
    sc = cl.Score("lmtp-quit-window")
    conf = bed.fresh_conf()
    started = time.time()
    one_point(bed, sc, "cat", None, "QUIT replies held back",
              conf=conf, lmtp_plan={"s2c": ("stall", (b"221 ", 1, "before"))})
    elapsed = time.time() - started
    doubt, quit_bug = cl.in_doubt_keys(bed, conf, "cat")
    sc.summary(" (poll and rerun took %.1f s)" % elapsed)
    check(elapsed < 15, "commit does not wait for the QUIT reply "
          "(%.1f s for 5 messages; waiting would take 25 s)" % elapsed)
    check(not doubt and not quit_bug, "nothing left in doubt")
    check(sc.ok(), "QUIT window closed: no loss, no duplicate")


# --- c. SIGKILL around DELE and QUIT -----------------------------------

def sweep_dele_quit(bed):
    sc = cl.Score("dele-quit")
    # (what, plan, messages the server still has after the kill)
    cases = [
        ("before the first DELE leaves",
         {"c2s": ("stall", (b"DELE ", 1, "before"))}, 5),
        ("between DELE 2 and DELE 3",
         {"c2s": ("stall", (b"DELE 3", 1, "before"))}, 5),
        ("DELE replies half read",
         {"s2c": ("stall", (b"+OK Marked", 3, "before"))}, 5),
        ("before QUIT leaves", {"c2s": ("stall", (b"QUIT", 1, "before"))},
         5),
        # Dovecot got QUIT: it commits the deletions, then answers; pps
        # dies without the +OK (the ledger has P records, no Q).
        ("QUIT sent, before its reply",
         {"s2c": ("stall", (b"+OK Logging out", 1, "before"))}, 0),
    ]
    for what, plan, left in cases:
        plan["conn"] = 0
        conf = bed.fresh_conf()
        tag = "T%05d" % (tag_serial[0] + 1)

        def after(tag, what=what, left=left):
            # Killed before QUIT +OK: every recipient already has its
            # copy; Dovecot deleted nothing unless it received QUIT.
            check(cl.remote_count("cat") == left,
                  "%s: killed; the server has %d left" % (what, left))
            got = cl.count_copies("cat", tag)
            check(got == cl.expected("cat"),
                  "%s: every recipient had its copy before the kill" % what)
        one_point(bed, sc, "cat", plan, what, kill=True, conf=conf,
                  after_fault=after)
        want = "0 delivered, 5 deleted" if left else "0 listed"
        check(want in bed.last_reruns[0],
              "%s: the rerun: %s" % (what, bed.last_reruns[0].strip()))
        r = bed.run(conf, "fetch", "cat", expect=0)
        check("0 listed" in r.stdout, "%s: a later poll finds nothing (%s)"
              % (what, tag))
    sc.summary()
    check(sc.ok(), "SIGKILL before DELE / before QUIT: nothing lost, "
          "nothing duplicated, deleted by the rerun")


# --- d. server refusals and lies ---------------------------------------

class Answer(Pop3Hook):
    """Answer commands matching a regex with a fixed reply; optionally
    rewrite the responses of a command."""

    def __init__(self, match=None, reply=None, close=False, rewrite=None):
        self.match = re.compile(match) if match else None
        self.reply, self.close, self.rewrite = reply, close, rewrite

    def command(self, line):
        if self.match and self.match.match(line):
            return (self.reply, self.close)
        return None

    def response(self, command, data):
        return self.rewrite(command, data) if self.rewrite else data


def poll_once(bed, conf, profile, plan, expect):
    bed.pop3.set_plan(plan)
    bed.lmtp.set_plan(None)
    r = bed.run(conf, "fetch", profile)
    bed.pop3.drop_all()
    if expect is not None:
        check(r.returncode == expect, "exit %d (want %d): %s" %
              (r.returncode, expect, (r.stdout + r.stderr).strip()[:300]))
    return r


def settle(bed, conf, profile, plan, limit=5):
    """Polls with `plan` (a persistent server behaviour, or None) until
    the remote mailbox is empty; how many it took."""
    bed.last_reruns = []
    for n in range(1, limit + 1):
        bed.pop3.set_plan(plan)
        r = bed.run(conf, "fetch", profile)
        bed.last_reruns.append(r.stdout + r.stderr)
        if cl.remote_count(profile) == 0:
            return n
    return limit + 1


def sweep_refusals(bed):
    sc = cl.Score("refusals")

    # DELE or QUIT refused: everyone has the mail once, the server still
    # has it all; the rerun deletes without delivering again.
    for what, hook in [
        ("-ERR on every DELE", Answer(rb"DELE ", b"-ERR refused\r\n")),
        ("-ERR [SYS/TEMP] on QUIT",
         Answer(rb"QUIT", b"-ERR [SYS/TEMP] cannot commit\r\n", close=True)),
    ]:
        print("--", what, flush=True)
        conf = bed.fresh_conf()
        tag = new_tag()
        cl.seed("cat", tag)
        poll_once(bed, conf, "cat", {"pop3": hook}, 1)
        check(cl.remote_count("cat") == 5,
              "%s: nothing deleted on the server" % what)
        check(cl.count_copies("cat", tag) == cl.expected("cat"),
              "%s: each recipient has it exactly once" % what)
        reruns = settle(bed, conf, "cat", None)
        check("0 delivered, 5 deleted" in bed.last_reruns[0],
              "%s: the rerun deletes without delivering: %s" %
              (what, bed.last_reruns[0].strip()))
        sc.judge("cat", tag, reruns, what)

    # [IN-USE] at login: exit 1 naming it, nothing changes.
    print("-- [IN-USE] at login", flush=True)
    conf = bed.fresh_conf()
    tag = new_tag()
    cl.seed("cat", tag)
    r = poll_once(bed, conf, "cat",
                  {"pop3": Answer(rb"(AUTH|USER|PASS|APOP) ",
                                  b"-ERR [IN-USE] Mailbox is locked by "
                                  b"another session\r\n")}, 1)
    check("cat" in r.stderr and "IN-USE" in r.stderr.upper().replace(
        " ", "-"), "[IN-USE]: the error names the profile and the lock: " +
        r.stderr.strip())
    check(cl.remote_count("cat") == 5 and cl.count_copies("cat", tag) == {},
          "[IN-USE]: nothing delivered, nothing deleted")
    sc.judge("cat", tag, settle(bed, conf, "cat", None), "[IN-USE]")

    # Garbage where a response belongs, and a LIST that lies about sizes
    # (once): the poll fails or copes; the reruns deliver exactly once.
    garbage = b"\x00\xffgarbage \x1b[2J not pop3\r\n"

    def lie(c, d):
        if c.strip() != b"LIST":
            return d
        out = []
        for line in d.split(b"\r\n"):
            m = re.match(rb"^(\d+) (\d+)$", line)
            if m:
                size = int(m.group(2))
                size = size // 3 if int(m.group(1)) % 2 else size * 7
                line = m.group(1) + b" " + str(size).encode()
            out.append(line)
        return b"\r\n".join(out)

    for what, hook in [
        ("garbage for CAPA", Answer(rb"CAPA", garbage)),
        ("garbage for STAT", Answer(rb"STAT", garbage)),
        ("garbage for UIDL", Answer(rb"UIDL", garbage)),
        ("garbage for RETR 3", Answer(rb"RETR 3", garbage)),
        ("garbage for DELE 2", Answer(rb"DELE 2", garbage)),
        ("garbage for QUIT", Answer(rb"QUIT", garbage, close=True)),
        ("text garbage for STAT",
         Answer(rb"STAT", b"* OK this is IMAP, not POP3\r\n")),
        ("text garbage for RETR 4",
         Answer(rb"RETR 4", b"hello there\r\n")),
        ("binary junk inside the body of message 2 (it is data)",
         Answer(rewrite=lambda c, d: d.replace(b"\r\n\r\nBody of",
                                               b"\r\n\r\n" + garbage +
                                               b"Body of")
                if c.startswith(b"RETR 2") else d)),
        ("LIST sizes lie (1/3 and 7x)", Answer(rewrite=lie)),
    ]:
        print("--", what, flush=True)
        conf = bed.fresh_conf()
        tag = new_tag()
        cl.seed("cat", tag)
        r = poll_once(bed, conf, "cat", {"pop3": hook}, None)
        print("   first poll: exit %d: %s" % (
            r.returncode, (r.stdout + r.stderr).strip()[:200]), flush=True)
        sc.judge("cat", tag, settle(bed, conf, "cat", None), what)

    # Duplicate UIDLs in every session (the server is consistently
    # broken): messages 2, 3 and 4 report message 2's UIDL.  They are
    # keyed by the header digest (docs/ledger.md): still exactly once,
    # also when killed in the middle.
    def dup_uidl(c, d):
        if c.strip() != b"UIDL":
            return d
        lines = d.split(b"\r\n")
        if len(lines) < 6:  # fewer than 3 messages left: nothing to spoil
            return d
        uid2 = lines[2].split(b" ", 1)[1]
        return b"\r\n".join(
            re.sub(rb"^([34]) .*$", rb"\1 " + uid2, x) for x in lines)
    dup = {"pop3": Answer(rewrite=dup_uidl)}
    print("-- duplicate UIDLs", flush=True)
    conf = bed.fresh_conf()
    tag = new_tag()
    cl.seed("cat", tag)
    r = poll_once(bed, conf, "cat", dup, 0)
    log = open(os.path.join(conf, "pop3.log")).read()
    check("no usable UIDL for 3 message(s)" in log,
          "duplicate UIDLs: 3 messages keyed by their header digest")
    sc.judge("cat", tag, settle(bed, conf, "cat", dup), "duplicate UIDLs")
    s2c, _ = reference(bed, "cat")
    for n in range(40, len(s2c), max(1, len(s2c) // 12)):
        conf = bed.fresh_conf()
        tag = new_tag()
        cl.seed("cat", tag)
        plan = dict(dup, conn=0, s2c=("stall", n))
        bed.pop3.set_plan(plan)
        p = bed.start(conf, "cat")
        if bed.pop3.reached.wait(20):
            # Killed once blocked on the stalled read: the fallback keys
            # cannot be mapped to messages for an in-doubt allowance.
            time.sleep(0.3)
            p.send_signal(signal.SIGKILL)
            sc.kills += 1
        else:
            sc.problems.append("dup UIDL: stall at %d not reached" % n)
        p.communicate(timeout=60)
        bed.pop3.drop_all()
        sc.judge("cat", tag, settle(bed, conf, "cat", dup),
                 "duplicate UIDLs, SIGKILL at s2c %d" % n)
    sc.summary()
    check(sc.ok(), "server refusals, garbage and lies: exactly once, "
          "nothing lost")


# --- e. the delivery side ----------------------------------------------

def final_reply_for(user, key_index, reply):
    """An s2c_line hook turning the key_index-th (1-based) final LMTP
    reply for `user` into `reply`."""
    state = {"n": 0}
    prefix = ("250 2.0.0 <%s@local.test>" % user).encode()

    def hook(line):
        if line.startswith(prefix):
            state["n"] += 1
            if state["n"] == key_index:
                return reply
        return line
    return hook


def remove_copy(tag, key, user):
    """Remove the copy Dovecot saved behind a reply the proxy turned into
    a failure, so the maildirs show what a real failure leaves."""
    marker = ("Message-ID: <%s-%s@" % (tag, key)).encode()
    for p in cl._files(cl.TB["PPS_TB_LOCAL_MAILDIR_FMT"], user):
        if marker in open(p, "rb").read():
            os.unlink(p)
            return True
    return False


def sweep_delivery(bed):
    sc = cl.Score("delivery")
    # m2 goes to alice, bob, carol; bob's 2nd final reply is m2's.
    for what, reply, onperm, want_left in [
        ("451 for bob on m2", b"451 4.2.0 <bob@local.test> Try later\r\n",
         None, 1),
        ("550 for bob on m2 (fallback)",
         b"550 5.2.2 <bob@local.test> Mailbox full\r\n", None, 0),
        ("550 for bob on m2 (on_permanent_failure = keep)",
         b"550 5.2.2 <bob@local.test> Mailbox full\r\n", "keep", 1),
    ]:
        print("--", what, flush=True)
        conf = bed.fresh_conf(**({"cat": {"on-permanent-failure": onperm}}
                                 if onperm else {}))
        tag = new_tag()
        cl.seed("cat", tag)
        bed.pop3.set_plan(None)
        bed.lmtp.set_plan({"s2c_line": final_reply_for("bob", 2, reply)})
        r = bed.run(conf, "fetch", "cat")
        check(remove_copy(tag, "m2", "bob"),
              "%s: Dovecot's copy behind the rewritten reply removed" % what)
        check(cl.remote_count("cat") == want_left,
              "%s: %d message(s) left on the server (%s)" %
              (what, want_left, r.stdout.strip() or r.stderr.strip()))
        bed.lmtp.set_plan(None)
        bed.lmtp.transcript["c2s"] = bytearray()
        r2 = bed.run(conf, "fetch", "cat")
        # The envelopes that carried DATA (the routing's existence probes
        # send RCPT and QUIT only).
        rcpts = []
        for env in bytes(bed.lmtp.transcript["c2s"]).split(b"MAIL FROM:"):
            if b"\r\nDATA\r\n" in env:
                rcpts += re.findall(rb"RCPT TO:<([^>]*)>", env)
        counts = cl.tally("cat", tag)
        want = {(k, u): 1 for k, _, _, us in PROFILES["cat"][2] for u in us}
        if reply.startswith(b"451"):
            check(rcpts == [b"bob@local.test"],
                  "451: the rerun delivers to bob only: %r" % rcpts)
            check(cl.remote_count("cat") == 0, "451: then m2 is deleted")
        elif onperm is None:
            del want[("m2", "bob")]
            want[("m2", "postmaster")] = 1
            check(cl.remote_count("cat") == 0,
                  "550: m2 deleted after the fallback user got it")
        else:
            del want[("m2", "bob")]
            check(cl.remote_count("cat") == 1 and "0 delivered" in r2.stdout,
                  "550 + keep: m2 stays, nothing redelivered: " +
                  r2.stdout.strip())
            cl.clear_remote("cat")
        check(counts == want, "%s: exactly the right copies: %s" %
              (what, sorted(set(counts.items()) ^ set(want.items()))))
        sc.points += 1

    # The LMTP connection cut mid-DATA, and cut right after the final
    # dot (in doubt: a second copy allowed for m3's recipients only).
    for what, fault, doubt in [
        ("LMTP cut mid-DATA", ("cut", (b"Body of", 1, "after")), ()),
        ("LMTP cut before the final dot",
         ("cut", (b"\r\n.\r\n", 1, "before")), ()),
        ("LMTP cut just after the final dot",
         ("cut", (b"\r\n.\r\n", 1, "after")),
         [("m3", "bob"), ("m3", "carol")]),
    ]:
        tag_next = "T%05d" % (tag_serial[0] + 1)
        before = sc.allowed_dups
        one_point(bed, sc, "cat", None, what, in_doubt=doubt,
                  lmtp_plan={"armed_by": ("Message-ID: <%s-m3@" %
                                          tag_next).encode(),
                             "c2s": fault})
        print("  %s: %d in-doubt duplicate(s)" %
              (what, sc.allowed_dups - before), flush=True)
    sc.summary()
    check(sc.ok(), "delivery failures: only the missing recipient "
          "retried, fallback or keep as configured")


SWEEPS = {
    "cut": (sweep_cut, "lmtp"),
    "kill-pop3": (sweep_kill_pop3, "lmtp"),
    "kill-maildir": (lambda bed: sweep_kill_pop3(bed, "kill-maildir"),
                     "maildir"),
    "kill-lmtp": (sweep_kill_lmtp, "lmtp"),
    "lmtp-quit-window": (sweep_lmtp_quit_window, "lmtp"),
    "dele-quit": (sweep_dele_quit, "maildir"),
    "refusals": (sweep_refusals, "maildir"),
    "delivery": (sweep_delivery, "lmtp"),
}


def main():
    global PPS
    PPS = sys.argv[1]
    for name in sys.argv[2:]:
        fn, method = SWEEPS[name]
        print("== sweep", name, "(delivery: %s)" % method, flush=True)
        bed = cl.Bed(PPS, method)
        try:
            fn(bed)
            check(bed.hangs == 0, "no pps fetch hung (%d did)" % bed.hangs)
        finally:
            bed.close()
    print("all passed")


if __name__ == "__main__":
    main()
