"""pps.route: a message under a profile's policy (pps_poll_route)."""
import pytest

import pps

MSG = (b"From: x@elsewhere.example\r\n"
       b"To: Alice <ALICE@example.org>, kate@other.example\r\n"
       b"Cc: bob@example.org, nobody@example.org\r\n"
       b"Subject: hi\r\n\r\nbody\r\n")


def profile(distribute):
    p = pps.Profile("office", {"server": "127.0.0.1 995s", "user": "u@remote",
                               "password": "pw", "local_user": "postmaster",
                               "local_domain": "example.org"})
    p["distribute"] = distribute
    return p


def existing(user, domain):
    return domain == "example.org" and user in ("alice", "bob", "postmaster")


def test_single_drop():
    assert pps.route(profile(False), MSG, existing) == ["postmaster@example.org"]


def test_catch_all_by_to_and_cc():
    # nobody@ does not exist: the fallback user gets a copy too.
    assert pps.route(profile(True), MSG, existing) == [
        "alice@example.org", "bob@example.org", "postmaster@example.org"]


def test_every_user_exists_by_default():
    assert pps.route(profile(True), MSG) == [
        "alice@example.org", "bob@example.org", "nobody@example.org"]


def test_lookup_that_cannot_tell_is_temporary():
    with pytest.raises(pps.Error) as e:
        pps.route(profile(True), MSG, lambda u, d: None)
    assert e.value.code == pps.ETEMP and e.value.temporary


def test_exception_in_the_callback_propagates():
    def broken(user, domain):
        raise KeyError(user)
    with pytest.raises(KeyError):
        pps.route(profile(True), MSG, broken)


def test_global_aliases_from_config_dir(tmp_path):
    (tmp_path / "pps.conf").write_text("[aliases]\nsales = bob\n")
    msg = b"To: sales@example.org\r\nSubject: x\r\n\r\n"
    assert pps.route(profile(True), msg, existing, config_dir=tmp_path) == [
        "bob@example.org"]


def test_incomplete_profile():
    with pytest.raises(pps.Error) as e:
        pps.route(pps.Profile("half"), MSG)
    assert e.value.code == pps.ECONFIG and "half" in e.value.message
