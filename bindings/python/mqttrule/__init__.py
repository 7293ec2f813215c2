# SPDX-License-Identifier: MIT
"""mqttrule: Python bindings (ctypes, no compiled extension) for libmqttrule,
an embeddable MQTT codec, event builder and EMQX-compatible rule engine.

The shared library is located as mqttrule._lib documents: MQTTRULE_LIBRARY,
then next to this package, then the system loader path, then
$MQR_BUILD_DIR and <repo>/build. See docs/python.md.
"""

from . import _lib
from ._base import (EvaluationError, MalformedPacket, MqttruleError, SQLSyntaxError)
from ._auth import ct_equal, hmac, passwd_hash7, passwd_verify
from ._engine import HTTP, Engine, Republish, build_event, events
from ._packet import Decoder, decode, encode
from ._rule import Rule
from ._topic import TopicIndex, topic_match, validate_topic_filter, validate_topic_name

__version__ = "0.1.0"

__all__ = [
    "__version__", "library_version", "library_path",
    "reason_name", "reason_code", "connack_v3_code",
    "decode", "encode", "Decoder",
    "Rule", "Engine", "Republish", "HTTP", "events", "build_event",
    "TopicIndex", "topic_match", "validate_topic_name", "validate_topic_filter",
    "hmac", "ct_equal", "passwd_verify", "passwd_hash7",
    "MqttruleError", "SQLSyntaxError", "EvaluationError", "MalformedPacket",
]

_L = _lib.lib
_PROFILES = {"doc": 0, "emqx": 1}

#: The path the shared library was loaded from.
library_path = _lib.path


def library_version():
    """The loaded libmqttrule's version string, e.g. "0.1.0"."""
    return _L.mqr_version().decode("ascii")


def reason_name(code, proto_ver=5, profile="doc"):
    """The name of a CONNACK reason code.

    With ``proto_ver`` 5, ``code`` is an MQTT 5 reason code named under
    ``profile`` (decision D1: "doc" names 0x84 "unacceptable_protocol_version",
    "emqx" names it "unsupported_protocol_version"); codes that are no
    reason code give "unknown_error". With ``proto_ver`` 3 or 4, ``code`` is
    an MQTT 3.1/3.1.1 CONNACK return code (0..5) named as v3
    ("connection_accepted", ...; "unknown_error" otherwise). Raises
    ValueError for another proto_ver or profile.
    """
    if profile not in _PROFILES:
        raise ValueError("profile must be 'doc' or 'emqx'")
    code = int(code)
    if proto_ver in (3, 4):
        return _L.mqr_reason_v3_name(code).decode("ascii")
    if proto_ver != 5:
        raise ValueError("proto_ver must be 3, 4 or 5")
    return _L.mqr_reason_profile_name(code, _PROFILES[profile]).decode("ascii")


def reason_code(name):
    """The MQTT 5 reason code of a reason-code name in any spelling an event
    carries (v5 names of both profiles, "normal_disconnection",
    "granted_qos0", and v3 names as the v5 code they answer:
    "connection_accepted" -> 0, "malformed_username_or_password" -> 0x86).
    Raises KeyError for an unknown name."""
    raw = name.encode("utf-8")
    out = _lib.c_int32()
    if _L.mqr_reason_from_name(raw, len(raw), _lib.ctypes.byref(out)) != 0:
        raise KeyError(name)
    return out.value


def connack_v3_code(v5_code):
    """The MQTT 3.1.1 CONNACK return code (0..5) a broker sends a v3 client
    when it decided MQTT 5 reason code ``v5_code`` (EMQX's mapping, with
    the fallbacks reason.h lists)."""
    return _L.mqr_reason_connack_v3(int(v5_code))
