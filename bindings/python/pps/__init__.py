"""pps: the Python binding of libpps.

Profiles (parse, set, validate, serialise), routing a message under a
profile's policy, and one poll of a profile with delivery done in Python.
Standard library only: ctypes over the shared library libpps (found with
ctypes.util.find_library("pps"), or at $PPS_LIBRARY).

Every failure raises pps.Error with the library's code and text.
"""
from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Union

from . import _native as _n
from ._native import lib as _lib

__all__ = [
    "Error", "version", "Profile", "load_profile", "route", "poll",
    "Deliverer", "PollReport",
    "DELIVERED", "TEMPFAIL", "PERMFAIL",
    "OK", "EINVAL", "ENOMEM", "ENOTFOUND", "EEXISTS", "ECONFIG", "EAUTH",
    "ETLS", "EPROTO", "ETIMEOUT", "ENET", "ETEMP", "EPERM", "EIO",
    "EABORTED", "EUSER", "ETOOBIG", "EUNSUPPORTED",
]

# Status codes (pps/errors.h; never renumbered).
OK, ERROR, EINVAL, ENOMEM, ENOTFOUND, EEXISTS, ECONFIG, EAUTH = 0, -1, -2, -3, -4, -5, -6, -7
ETLS, EPROTO, ETIMEOUT, ENET, ETEMP, EPERM, EIO, EABORTED = -8, -9, -10, -11, -12, -13, -14, -15
EUSER, ETOOBIG, EUNSUPPORTED = -16, -17, -18

# A recipient's outcome (pps_deliver_outcome).
DELIVERED, TEMPFAIL, PERMFAIL = 1, 2, 3

# pps_profile_serialise flags.
_MASK_SECRETS = 1


class Error(Exception):
    """A libpps failure: `code` (a negative PPS_E* number), `message` (the
    library's description, naming what and where) and `server` (the
    peer's own words, or "")."""

    def __init__(self, code: int, message: str, server: str = "") -> None:
        super().__init__(message or _lib.pps_strerror(code).decode())
        self.code = code
        self.message = message
        self.server = server

    @property
    def temporary(self) -> bool:
        """True when retrying later may succeed (network, timeout...)."""
        return bool(_lib.pps_error_is_temporary(self.code))


def _check(err: int) -> int:
    """Raise Error with pps_error_last() when err < 0."""
    if err < 0:
        e = _lib.pps_error_last().contents
        raise Error(err, (e.message or b"").decode(errors="replace"),
                    (e.server or b"").decode(errors="replace"))
    return err


def _b(s: Union[str, bytes, os.PathLike]) -> bytes:
    if isinstance(s, bytes):
        return s
    return os.fsencode(s) if isinstance(s, os.PathLike) else s.encode()


def version() -> str:
    """The version of the loaded libpps, e.g. "0.1.0"."""
    return _lib.pps_version(None, None, None).decode()


class Profile:
    """One profile: a remote POP3 account and where its mail goes.

    Values are checked as they are set and kept in canonical form
    (``p["interval"] = "600"`` reads back as ``"10m"``).  The password is
    never read back (``"********"``).  Freed when garbage-collected, or
    at once with close() / a ``with`` block.
    """

    def __init__(self, name: str, settings: Optional[Mapping[str, str]] = None) -> None:
        h = ctypes.c_void_p()
        _check(_lib.pps_profile_new(ctypes.byref(h), _b(name)))
        self._h: Optional[int] = h.value
        for k, v in (settings or {}).items():
            self[k] = v

    @classmethod
    def _own(cls, handle: int) -> "Profile":
        p = cls.__new__(cls)
        p._h = handle
        return p

    @classmethod
    def parse(cls, text: Union[str, bytes], name: str = "profile",
              origin: Optional[str] = None) -> "Profile":
        """Parse the text of a profile file.  `origin` starts every error
        text ("profiles/office.conf:7: ...").  Not validated."""
        data = _b(text)
        h = ctypes.c_void_p()
        _check(_lib.pps_profile_parse(ctypes.byref(h), _b(name), data, len(data),
                                      _b(origin or name + ".conf")))
        return cls._own(h.value)

    def _handle(self) -> int:
        if not self._h:
            raise ValueError("profile is closed")
        return self._h

    @property
    def name(self) -> str:
        return _lib.pps_profile_name(self._handle()).decode()

    def __setitem__(self, key: str, value: Union[str, int, bool]) -> None:
        if isinstance(value, bool):
            value = "yes" if value else "no"
        _check(_lib.pps_profile_set(self._handle(), _b(key), _b(str(value))))

    def __getitem__(self, key: str) -> Optional[str]:
        """The canonical value, the default when unset, None when neither
        (or the key is unknown)."""
        v = _lib.pps_profile_get(self._handle(), _b(key))
        return v.decode() if v is not None else None

    def __delitem__(self, key: str) -> None:
        _check(_lib.pps_profile_unset(self._handle(), _b(key)))

    def __contains__(self, key: str) -> bool:
        return bool(_lib.pps_profile_is_set(self._handle(), _b(key)))

    def validate(self) -> None:
        """Raise Error (ECONFIG, naming the key) unless complete."""
        _check(_lib.pps_profile_validate(self._handle()))

    def serialise(self, mask_secrets: bool = True) -> str:
        """The profile as file text; the password as ******** unless
        mask_secrets is False."""
        out = ctypes.c_void_p()
        n = ctypes.c_size_t()
        _check(_lib.pps_profile_serialise(ctypes.byref(out), ctypes.byref(n),
                                          self._handle(),
                                          _MASK_SECRETS if mask_secrets else 0))
        try:
            return ctypes.string_at(out.value, n.value).decode()
        finally:
            _lib.pps_profile_text_free(out)

    def close(self) -> None:
        """Free the profile now (its password is wiped)."""
        if getattr(self, "_h", None):
            _lib.pps_profile_free(self._h)
            self._h = None

    def __enter__(self) -> "Profile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<pps.Profile %s>" % (self.name if self._h else "(closed)")


def load_profile(config_dir: Union[str, os.PathLike], name: str) -> Profile:
    """Load profile `name` from CONFIG_DIR/profiles (the files pps and ppsd
    use)."""
    store = ctypes.c_void_p()
    _check(_lib.pps_profile_store_open_dir(ctypes.byref(store), _b(config_dir)))
    try:
        h = ctypes.c_void_p()
        _check(_lib.pps_profile_store_load(ctypes.byref(h), store, _b(name)))
        return Profile._own(h.value)
    finally:
        _lib.pps_profile_store_free(store)


class Deliverer:
    """Where a poll's messages go: subclass it.

    For each message the poll calls begin(recipients, sender), write(data)
    with the message in chunks (our trace header first; LF line ends, or
    CRLF when `crlf` is True), then commit() or abort().  commit() stores
    the message durably and returns the outcome per recipient: a mapping
    recipient -> DELIVERED / TEMPFAIL / PERMFAIL, or a list in begin's
    order, or None for "all delivered".  A recipient left out counts as a
    temporary failure (the message stays on the remote server).  An
    exception in any method also counts as a temporary failure for that
    message; poll() raises the first one after the poll has finished.

    user_exists(user, domain) answers the router: True, False, or None
    for "cannot tell now".  The default says every user exists.
    """

    crlf = False
    name = "python"

    def __init__(self) -> None:
        self.recipients: List[str] = []
        self.sender: str = ""

    def begin(self, recipients: List[str], sender: str) -> None:
        self.recipients = recipients
        self.sender = sender

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def commit(self) -> Union[Mapping[str, int], Iterable[int], None]:
        raise NotImplementedError

    def abort(self) -> None:
        pass

    def user_exists(self, user: str, domain: str) -> Optional[bool]:
        return True


class _Bridge:
    """A pps_deliverer_class whose slots call a Python Deliverer.  Keeps
    the CFUNCTYPE objects alive as long as the C deliverer lives."""

    def __init__(self, target: Deliverer) -> None:
        self.target = target
        self.exc: Optional[BaseException] = None
        self.cls = _n.DelivererClass(
            version=_n.DELIVERER_CLASS_VERSION, name=_b(target.name),
            flags=_n.DELIVERER_CRLF if target.crlf else _n.DELIVERER_LF,
            begin=_n.BEGIN_FN(self._begin), write=_n.WRITE_FN(self._write),
            commit=_n.COMMIT_FN(self._commit),
            cancel=_n.CANCEL_FN(self._cancel),
            user_exists=_n.USER_EXISTS_FN(self._user_exists),
            describe=_n.DESCRIBE_FN(), free=_n.FREE_FN())
        h = ctypes.c_void_p()
        _check(_lib.pps_deliver_new_custom(ctypes.byref(h), ctypes.byref(self.cls), None))
        self.handle = h.value

    def close(self) -> None:
        if self.handle:
            _lib.pps_deliver_free(self.handle)
            self.handle = None

    def _failed(self, exc: BaseException) -> int:
        if self.exc is None:
            self.exc = exc
        return ETEMP

    def _begin(self, txn: int, _payload: int) -> int:
        try:
            n = _lib.pps_deliverer_txn_count(txn)
            rcpts = [_lib.pps_deliverer_txn_recipient(txn, i).decode() for i in range(n)]
            sender = _lib.pps_deliverer_txn_sender(txn).decode()
            self.target.begin(rcpts, sender)
            return 0
        except BaseException as e:  # never let an exception cross C
            return self._failed(e)

    def _write(self, txn: int, data: "ctypes._Pointer[ctypes.c_char]", length: int,
               _payload: int) -> int:
        try:
            self.target.write(ctypes.string_at(data, length))
            return 0
        except BaseException as e:
            return self._failed(e)

    def _commit(self, txn: int, _payload: int) -> int:
        try:
            result = self.target.commit()
            rcpts = self.target.recipients
            if result is None:
                outcomes = {r: DELIVERED for r in rcpts}
            elif isinstance(result, Mapping):
                outcomes = dict(result)
            else:
                outcomes = dict(zip(rcpts, result))
        except BaseException as e:
            return self._failed(e)  # undecided: temporary failures
        n = _lib.pps_deliverer_txn_count(txn)
        for i in range(n):
            r = _lib.pps_deliverer_txn_recipient(txn, i).decode()
            o = outcomes.get(r)
            if o == DELIVERED:
                _lib.pps_deliverer_txn_set(txn, i, DELIVERED, OK, 0, None, 0)
            elif o == PERMFAIL:
                t = b"refused by the Python deliverer"
                _lib.pps_deliverer_txn_set(txn, i, PERMFAIL, EPERM, 0, t, len(t))
            else:
                t = b"not delivered by the Python deliverer (will retry)"
                _lib.pps_deliverer_txn_set(txn, i, TEMPFAIL, ETEMP, 0, t, len(t))
        return 0

    def _cancel(self, txn: int, _payload: int) -> None:
        try:
            self.target.abort()
        except BaseException as e:
            self._failed(e)

    def _user_exists(self, user: bytes, domain: bytes, _payload: int) -> int:
        try:
            r = self.target.user_exists(user.decode(), domain.decode())
        except BaseException as e:
            self._failed(e)
            return -1
        return -1 if r is None else int(bool(r))


class _Lookup(Deliverer):
    """A deliverer that only answers the router (for route())."""

    def __init__(self, fn: Optional[Callable[[str, str], Optional[bool]]]) -> None:
        super().__init__()
        self.fn = fn

    def user_exists(self, user: str, domain: str) -> Optional[bool]:
        return True if self.fn is None else self.fn(user, domain)


class _Config:
    """pps.conf of a folder (all defaults when None or missing)."""

    def __init__(self, config_dir: Optional[Union[str, os.PathLike]]) -> None:
        h = ctypes.c_void_p()
        if config_dir is None:
            _check(_lib.pps_config_new(ctypes.byref(h), b"."))
        else:
            _check(_lib.pps_config_load(ctypes.byref(h), _b(config_dir)))
        self.handle = h.value

    def get(self, section: str, key: str) -> Optional[str]:
        v = _lib.pps_config_get(self.handle, _b(section), _b(key))
        return v.decode() if v is not None else None

    def close(self) -> None:
        if self.handle:
            _lib.pps_config_free(self.handle)
            self.handle = None


def route(profile: Profile, message: bytes,
          user_exists: Optional[Callable[[str, str], Optional[bool]]] = None,
          config_dir: Optional[Union[str, os.PathLike]] = None) -> List[str]:
    """The local recipients ("user@domain", lower case) of `message` under
    the profile's policy, exactly as a poll would route it (without the
    duplicate check).  `user_exists(user, domain)` says which local users
    exist (True / False / None for "cannot tell now", which raises
    Error(ETEMP)); None: every user exists.  `config_dir` adds the global
    [aliases] of its pps.conf."""
    bridge = _Bridge(_Lookup(user_exists))
    config = _Config(config_dir) if config_dir is not None else None
    try:
        opts = _n.PollOptions()
        _lib.pps_poll_options_init(ctypes.byref(opts))
        opts.deliver = bridge.handle
        opts.config = config.handle if config else None
        res = ctypes.c_void_p()
        err = _lib.pps_poll_route(ctypes.byref(res), profile._handle(), ctypes.byref(opts),
                                  bytes(message), len(message))
        if bridge.exc is not None:
            raise bridge.exc
        _check(err)
        try:
            return [_lib.pps_route_result_recipient(res, i).decode()
                    for i in range(_lib.pps_route_result_count(res))]
        finally:
            _lib.pps_route_result_free(res)
    finally:
        bridge.close()
        if config:
            config.close()


@dataclass
class PollReport:
    """What one poll did (pps_poll_report)."""
    result: int
    text: str
    started: int
    finished: int
    listed: int
    fetched: int
    delivered: int
    recipients: int
    deleted: int
    kept_too_big: int
    failed_temp: int
    failed_perm: int
    bytes: int
    login_delay: int
    next_allowed: int


def poll(profile: Profile, deliverer: Deliverer,
         config_dir: Optional[Union[str, os.PathLike]] = None,
         state_dir: Optional[Union[str, os.PathLike]] = None,
         ignore_backoff: bool = True, raise_on_failure: bool = True) -> PollReport:
    """Poll `profile` once on this thread, delivering through `deliverer`.

    The ledger (what makes every message exactly once) lives in
    `state_dir`, by default [service] state_dir of CONFIG_DIR/pps.conf
    (CONFIG_DIR/state).  One of the two is required.  Returns the report;
    a failed poll raises Error (unless raise_on_failure is False: the
    report's `result` then says).  An exception raised by the deliverer is
    re-raised after the poll (its message stayed on the server).
    """
    if config_dir is None and state_dir is None:
        raise ValueError("poll() needs config_dir or state_dir")
    config = _Config(config_dir)
    bridge = None
    store = ctypes.c_void_p()
    try:
        sd = state_dir if state_dir is not None else config.get("service", "state_dir")
        _check(_lib.pps_ledger_store_open_dir(ctypes.byref(store), _b(sd)))
        bridge = _Bridge(deliverer)
        opts = _n.PollOptions()
        _lib.pps_poll_options_init(ctypes.byref(opts))
        opts.deliver = bridge.handle
        opts.ledger_store = store.value
        opts.config = config.handle
        opts.ignore_backoff = 1 if ignore_backoff else 0
        r = _n.PollReport()
        _lib.pps_poll_report_init(ctypes.byref(r))
        err = _lib.pps_poll_run(ctypes.byref(r), profile._handle(), ctypes.byref(opts))
        report = PollReport(**{f: getattr(r, f) for f, _ in _n.PollReport._fields_
                               if f != "version"})
        report.text = r.text.decode(errors="replace")
        if bridge.exc is not None:
            raise bridge.exc
        if err < 0 and raise_on_failure:
            raise Error(err, report.text)
        return report
    finally:
        if bridge:
            bridge.close()
        if store.value:
            _lib.pps_ledger_store_free(store)
        config.close()
