"""pps.poll with delivery in Python.  The test-bed tests run under
tests/testbed/testbed.py (PPS_TB_* set); the others need no server."""
import os
import socket
import subprocess
import sys

import pytest

import pps

TB = os.environ
needs_testbed = pytest.mark.skipif("PPS_TB_HOST" not in TB,
                                   reason="needs the Dovecot test bed")


class Memory(pps.Deliverer):
    """Keeps each delivered message per recipient; `fail` makes the next
    commits fail temporarily."""

    def __init__(self):
        super().__init__()
        self.boxes = {}
        self.fail = 0
        self.chunks = []
        self.aborted = 0

    def begin(self, recipients, sender):
        super().begin(recipients, sender)
        self.chunks = []

    def write(self, data):
        self.chunks.append(data)

    def commit(self):
        if self.fail:
            self.fail -= 1
            return {r: pps.TEMPFAIL for r in self.recipients}
        for r in self.recipients:
            self.boxes.setdefault(r, []).append(b"".join(self.chunks))
        return None  # all delivered

    def abort(self):
        self.aborted += 1

    def user_exists(self, user, domain):
        return user in ("alice", "bob", "carol", "postmaster")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_server_raises_a_network_error(tmp_path):
    port = free_port()
    p = pps.Profile("down", {"server": "127.0.0.1 %d" % port,
                             "user": "u", "password": "pw", "tls": "none",
                             "allow_plaintext_password": "yes",
                             "local_user": "alice", "local_domain": "local.test"})
    with pytest.raises(pps.Error) as e:
        pps.poll(p, Memory(), state_dir=tmp_path)
    assert e.value.code == pps.ENET and e.value.temporary
    assert "127.0.0.1 port %d" % port in e.value.message
    r = pps.poll(p, Memory(), state_dir=tmp_path, raise_on_failure=False)
    assert r.result == e.value.code and r.listed == 0


def test_poll_needs_somewhere_for_the_ledger():
    with pytest.raises(ValueError):
        pps.poll(pps.Profile("x"), Memory())


def seed(user, *messages):
    for m in messages:
        subprocess.run([sys.executable, TB["PPS_TB_TESTBED"], "seed", user, "-"],
                       input=m, check=True, capture_output=True)


def remote_count(user):
    d = TB["PPS_TB_REMOTE_MAILDIR_FMT"] % user
    return sum(len(os.listdir(os.path.join(d, s))) for s in ("new", "cur")
               if os.path.isdir(os.path.join(d, s)))


def tb_profile(name, remote_user, local_user, distribute=False):
    return pps.Profile(name, {
        "server": "127.0.0.1 %ss" % TB["PPS_TB_POP3S_PORT"],
        "user": remote_user, "password": TB["PPS_TB_PASSWORD"],
        "tls_ca_file": TB["PPS_TB_CA_FILE"], "local_user": local_user,
        "local_domain": "local.test", "distribute": distribute})


def msg(subject, to):
    return ("From: s@elsewhere.example\nTo: %s\nSubject: %s\n"
            "Message-ID: <%s@py>\n\nbody %s\n.dot\n" % (to, subject, subject, subject)).encode()


@needs_testbed
def test_poll_delivers_through_python_exactly_once(tmp_path):
    p = tb_profile("pyc", "catchall@remote.test", "postmaster", distribute=True)
    seed("catchall", msg("a", "alice@local.test, Bob <bob@local.test>"),
         msg("b", "kate@other.example"))
    d = Memory()
    r = pps.poll(p, d, state_dir=tmp_path)
    assert (r.listed, r.delivered, r.deleted, r.result) == (2, 2, 2, 0)
    assert sorted(d.boxes) == ["alice@local.test", "bob@local.test", "postmaster@local.test"]
    m = d.boxes["bob@local.test"][0]
    assert b"Subject: a" in m and b"\n.dot\n" in m and b"\r\n" not in m
    assert b'(libpps profile "pyc")' in m
    assert remote_count("catchall") == 0
    r = pps.poll(p, d, state_dir=tmp_path)
    assert (r.listed, r.delivered) == (0, 0)


@needs_testbed
def test_temporary_failure_keeps_the_message(tmp_path):
    p = tb_profile("pyt", "user1@remote.test", "carol")
    seed("user1", msg("t", "x@isp.example"))
    d = Memory()
    d.fail = 1
    with pytest.raises(pps.Error, match="could not be delivered now"):
        pps.poll(p, d, state_dir=tmp_path)
    assert d.boxes == {} and remote_count("user1") == 1
    d.fail = 1
    r = pps.poll(p, d, state_dir=tmp_path, raise_on_failure=False)
    assert r.result == -12 and r.failed_temp == 1 and r.deleted == 0
    assert d.boxes == {}
    assert remote_count("user1") == 1
    r = pps.poll(p, d, state_dir=tmp_path)
    assert r.delivered == 1 and remote_count("user1") == 0
    pps.poll(p, d, state_dir=tmp_path)
    assert len(d.boxes["carol@local.test"]) == 1


@needs_testbed
def test_exception_in_deliverer_is_raised_and_mail_kept(tmp_path):
    class Broken(Memory):
        def write(self, data):
            raise RuntimeError("disk on fire")
    p = tb_profile("pyx", "user2@remote.test", "carol")
    seed("user2", msg("x", "x@isp.example"))
    d = Broken()
    with pytest.raises(RuntimeError, match="disk on fire"):
        pps.poll(p, d, state_dir=tmp_path)
    assert d.aborted >= 1 and remote_count("user2") == 1
    r = pps.poll(p, Memory(), state_dir=tmp_path)
    assert r.delivered == 1 and remote_count("user2") == 0


@needs_testbed
def test_wrong_password_is_an_auth_error(tmp_path):
    p = tb_profile("pyw", "user3@remote.test", "carol")
    p["password"] = "not-it"
    with pytest.raises(pps.Error) as e:
        pps.poll(p, Memory(), state_dir=tmp_path)
    assert e.value.code == pps.EAUTH and "not-it" not in str(e.value)
