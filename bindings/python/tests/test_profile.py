"""Profiles, errors and the version through the binding."""
import pytest

import pps

GOOD = ("server = mail.example.com 995s\n"
        "user = me@example.com\n"
        "password = s3cret-pw\n"
        "local_user = alice\n"
        "local_domain = example.org\n")


def test_version():
    v = pps.version()
    assert v.count(".") == 2 and all(p.isdigit() for p in v.split("."))


def test_parse_validate_and_read_back():
    p = pps.Profile.parse(GOOD, name="office")
    p.validate()
    assert p.name == "office"
    assert p["server"] == "mail.example.com 995s"
    assert p["local_user"] == "alice"
    assert p["interval"] == "10m"  # the default
    assert "interval" not in p and "server" in p
    assert p["password"] == "********"  # never read back
    assert p["no_such_key"] is None


def test_values_are_canonical():
    p = pps.Profile("x")
    p["interval"] = "600"
    assert p["interval"] == "10m"
    p["distribute"] = True
    assert p["distribute"] == "yes"
    del p["distribute"]
    assert "distribute" not in p


def test_serialise_masks_the_password():
    p = pps.Profile.parse(GOOD, name="office")
    text = p.serialise()
    assert "s3cret-pw" not in text and "********" in text
    assert "s3cret-pw" in p.serialise(mask_secrets=False)
    again = pps.Profile.parse(p.serialise(mask_secrets=False), name="office")
    assert again.serialise() == text


def test_errors_carry_the_library_text():
    with pytest.raises(pps.Error) as e:
        pps.Profile.parse(GOOD + "intervall = 5m\n", name="office",
                          origin="profiles/office.conf")
    assert e.value.code == pps.ECONFIG
    assert "profiles/office.conf:6" in e.value.message
    assert "did you mean 'interval'" in e.value.message
    assert not e.value.temporary

    p = pps.Profile("half")
    p["server"] = "mail.example.com"
    with pytest.raises(pps.Error) as e:
        p.validate()
    assert e.value.code == pps.ECONFIG and "half" in str(e.value)

    with pytest.raises(pps.Error) as e:
        p["interval"] = "soon"
    assert e.value.code == pps.ECONFIG and "interval" in e.value.message
    with pytest.raises(pps.Error) as e:
        p["password"] = "x\ny"
    assert "x\ny" not in e.value.message  # never quotes a password

    with pytest.raises(pps.Error) as e:
        pps.Profile("../etc")
    assert e.value.code == pps.EINVAL


def test_closed_profile():
    with pps.Profile.parse(GOOD) as p:
        pass
    with pytest.raises(ValueError):
        p.validate()
    p.close()  # twice is fine


def test_load_profile(tmp_path):
    (tmp_path / "profiles").mkdir(mode=0o700)
    f = tmp_path / "profiles" / "office.conf"
    f.write_text(GOOD)
    f.chmod(0o600)
    p = pps.load_profile(tmp_path, "office")
    assert p.name == "office" and p["user"] == "me@example.com"
    with pytest.raises(pps.Error) as e:
        pps.load_profile(tmp_path, "nosuch")
    assert e.value.code == pps.ENOTFOUND
    f.chmod(0o644)
    with pytest.raises(pps.Error) as e:
        pps.load_profile(tmp_path, "office")
    assert e.value.code == pps.EPERM and "chmod 600" in e.value.message
