"""The libpps shared library and the C declarations the binding uses.

Only this module knows C types.  Structures mirror the public headers
(include/pps/*.h) at the versions named below; every options or report
struct is initialised by the library's own *_init() function so that the
version field is the library's.
"""
import ctypes
import ctypes.util
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_int,
                    c_long, c_size_t, c_uint, c_ulong, c_ulonglong, c_void_p)

__all__ = ["lib", "PollOptions", "PollReport", "DelivererClass", "ErrorStruct"]


def _load() -> ctypes.CDLL:
    path = os.environ.get("PPS_LIBRARY") or ctypes.util.find_library("pps")
    if not path:
        raise OSError("libpps not found: install it, or set PPS_LIBRARY to "
                      "the path of libpps.so")
    return ctypes.CDLL(path)


lib = _load()

# time_t is a C long on the platforms libpps builds for (LP64 Linux,
# and 64-bit mingw where it is long long: see docs/windows.md).
c_time_t = ctypes.c_int64 if os.name == "nt" else c_long


class ErrorStruct(Structure):
    """pps_error (pps/errors.h)."""
    _fields_ = [("code", c_int), ("message", c_char_p), ("server", c_char_p)]


class PollOptions(Structure):
    """pps_poll_options, version 1 (pps/poll.h)."""
    _fields_ = [("version", c_uint), ("deliver", c_void_p),
                ("ledger_store", c_void_p), ("config", c_void_p),
                ("transport", c_void_p), ("local_host", c_char_p),
                ("stop", c_void_p), ("ignore_backoff", c_int)]


POLL_TEXT_MAX = 255


class PollReport(Structure):
    """pps_poll_report, version 1 (pps/poll.h)."""
    _fields_ = [("version", c_uint), ("started", c_time_t),
                ("finished", c_time_t), ("result", c_int),
                ("text", c_char * (POLL_TEXT_MAX + 1)),
                ("listed", c_ulong), ("fetched", c_ulong),
                ("delivered", c_ulong), ("recipients", c_ulong),
                ("deleted", c_ulong), ("kept_too_big", c_ulong),
                ("failed_temp", c_ulong), ("failed_perm", c_ulong),
                ("bytes", c_ulonglong), ("login_delay", c_long),
                ("next_allowed", c_time_t)]


# The slots of pps_deliverer_class (pps/deliverer.h).
BEGIN_FN = CFUNCTYPE(c_int, c_void_p, c_void_p)
WRITE_FN = CFUNCTYPE(c_int, c_void_p, POINTER(c_char), c_size_t, c_void_p)
COMMIT_FN = CFUNCTYPE(c_int, c_void_p, c_void_p)
CANCEL_FN = CFUNCTYPE(None, c_void_p, c_void_p)
USER_EXISTS_FN = CFUNCTYPE(c_int, c_char_p, c_char_p, c_void_p)
DESCRIBE_FN = CFUNCTYPE(None, c_void_p, c_size_t, c_void_p)
FREE_FN = CFUNCTYPE(None, c_void_p)

DELIVERER_CLASS_VERSION = 1
DELIVERER_LF = 0x1
DELIVERER_CRLF = 0x2


class DelivererClass(Structure):
    """pps_deliverer_class, version 1."""
    _fields_ = [("version", c_uint), ("name", c_char_p), ("flags", c_uint),
                ("begin", BEGIN_FN), ("write", WRITE_FN),
                ("commit", COMMIT_FN), ("cancel", CANCEL_FN),
                ("user_exists", USER_EXISTS_FN), ("describe", DESCRIBE_FN),
                ("free", FREE_FN)]


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)


P = c_void_p
PP = POINTER(c_void_p)

_fn("pps_version", c_char_p, POINTER(c_int), POINTER(c_int), POINTER(c_int))
_fn("pps_error_last", POINTER(ErrorStruct))
_fn("pps_error_clear", None)
_fn("pps_strerror", c_char_p, c_int)
_fn("pps_error_is_temporary", c_int, c_int)

_fn("pps_profile_new", c_int, PP, c_char_p)
_fn("pps_profile_dup", c_int, PP, P)
_fn("pps_profile_free", None, P)
_fn("pps_profile_name", c_char_p, P)
_fn("pps_profile_set", c_int, P, c_char_p, c_char_p)
_fn("pps_profile_unset", c_int, P, c_char_p)
_fn("pps_profile_is_set", c_int, P, c_char_p)
_fn("pps_profile_get", c_char_p, P, c_char_p)
_fn("pps_profile_validate", c_int, P)
_fn("pps_profile_name_is_valid", c_int, c_char_p)
_fn("pps_profile_parse", c_int, PP, c_char_p, c_char_p, c_size_t, c_char_p)
_fn("pps_profile_serialise", c_int, PP, POINTER(c_size_t),
    P, c_uint)
_fn("pps_profile_text_free", None, c_void_p)
_fn("pps_profile_store_open_dir", c_int, PP, c_char_p)
_fn("pps_profile_store_load", c_int, PP, P, c_char_p)
_fn("pps_profile_store_free", None, P)

_fn("pps_config_load", c_int, PP, c_char_p)
_fn("pps_config_new", c_int, PP, c_char_p)
_fn("pps_config_get", c_char_p, P, c_char_p, c_char_p)
_fn("pps_config_free", None, P)

_fn("pps_ledger_store_open_dir", c_int, PP, c_char_p)
_fn("pps_ledger_store_free", None, P)

_fn("pps_deliver_new_custom", c_int, PP, POINTER(DelivererClass), P)
_fn("pps_deliver_free", None, P)
_fn("pps_deliverer_txn_count", c_size_t, P)
_fn("pps_deliverer_txn_recipient", c_char_p, P, c_size_t)
_fn("pps_deliverer_txn_sender", c_char_p, P)
_fn("pps_deliverer_txn_set", c_int, P, c_size_t, c_int, c_int, c_int, c_char_p,
    c_size_t)

_fn("pps_poll_options_init", None, POINTER(PollOptions))
_fn("pps_poll_report_init", None, POINTER(PollReport))
_fn("pps_poll_run", c_int, POINTER(PollReport), P, POINTER(PollOptions))
_fn("pps_poll_route", c_int, PP, P, POINTER(PollOptions), c_char_p, c_size_t)
_fn("pps_route_result_count", c_size_t, P)
_fn("pps_route_result_recipient", c_char_p, P, c_size_t)
_fn("pps_route_result_free", None, P)
