# SPDX-License-Identifier: MIT
"""What the rule and engine wrappers share: the exception classes, the
translation of a status plus mqr_diag_t into one of them, and the bridge
that turns a Python dict into a library value.

Values cross the boundary as JSON: a dict is serialised with the json
module and read by the library's own JSON reader (mqr_json_parse) into an
arena; results come back as JSON text from the library's writer and are
read with json.loads. One parser on each side, no per-field marshalling.
"""

import ctypes
import json

from . import _lib

L = _lib.lib

OK = 0
NO_MATCH = 2
ESYNTAX = -200
ECOMPILE = -201
EEVAL = -202
ELIMIT = -4
ENOMEM = -2
EIO = -8


class MqttruleError(Exception):
    """A libmqttrule call failed.

    Attributes: ``status`` (the negative MQR_* code), ``status_name``
    ("MQR_EINVAL", ...) and ``message`` (the diagnostic text, or the
    status's description when the call gave none).
    """

    def __init__(self, status, message=None):
        self.status = status
        self.status_name = L.mqr_status_name(status).decode()
        self.message = message or L.mqr_strerror(status).decode()
        super().__init__("%s: %s" % (self.status_name, self.message))


class SQLSyntaxError(MqttruleError):
    """Rule SQL that does not compile (syntax, unknown function, argument
    count, unknown event topic, a limit). ``line`` and ``column`` are
    1-based; ``offset`` is the byte offset into the SQL."""

    def __init__(self, status, message, line, column, offset):
        self.line = line
        self.column = column
        self.offset = offset
        super().__init__(status, message)


class EvaluationError(MqttruleError):
    """An exception raised while evaluating a rule (bad operand types, a
    function's error, integer overflow, an evaluation limit)."""


class MalformedPacket(MqttruleError):
    """MQTT bytes that are not a valid packet. ``packet_type`` (1..15 or 0),
    ``field`` (the field being read, "" if none), ``offset`` (byte offset
    into the input) and ``reason_code`` (the MQTT 5 reason code a broker
    answers with, or -1)."""

    def __init__(self, status, message, packet_type, field, offset, reason_code):
        self.packet_type = packet_type
        self.field = field
        self.offset = offset
        self.reason_code = reason_code
        super().__init__(status, message)


def diag_message(diag):
    """The diag's message as str ("" when empty)."""
    return diag.message.decode("utf-8", "replace")


def raise_status(status, diag=None):
    """Raise the exception a negative status and its diag stand for."""
    msg = diag_message(diag) if diag is not None else ""
    if status in (ESYNTAX, ECOMPILE) and diag is not None:
        raise SQLSyntaxError(status, msg, diag.line, diag.column, diag.offset)
    if status == EEVAL:
        raise EvaluationError(status, msg)
    raise MqttruleError(status, msg)


def as_bytes(s):
    """A str as UTF-8 bytes; bytes-like objects as bytes."""
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


def to_json_bytes(obj):
    """Serialise obj as UTF-8 JSON the library reads; NaN and infinities are
    refused because JSON has no spelling for them."""
    return json.dumps(obj, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode("utf-8")


class ValueArena:
    """An mqr_arena_t that holds values built from Python objects.

    load() resets the arena and parses the object into it; the returned
    Value stays valid until the next load() or close(). The JSON text is
    kept referenced alongside, since parsed strings borrow it.
    """

    def __init__(self):
        self._arena = ctypes.c_void_p()
        rc = L.mqr_arena_create(None, 0, ctypes.byref(self._arena))
        if rc != OK:
            raise_status(rc)
        self._text = b""
        self.value = _lib.Value()

    def load(self, obj):
        """Parse obj (anything json.dumps accepts) into self.value. A dict's
        bytes values (binary strings, which JSON cannot carry) are appended
        to the parsed object as string values with
        mqr_value_object_append, in the dict's order after the others."""
        if not self._arena:
            raise ValueError("arena is closed")
        L.mqr_arena_reset(self._arena)
        binary = []
        if isinstance(obj, dict):
            binary = [(k, v) for k, v in obj.items() if isinstance(v, (bytes, bytearray))]
            if binary:
                obj = {k: v for k, v in obj.items() if not isinstance(v, (bytes, bytearray))}
        self._text = to_json_bytes(obj)
        diag = _lib.Diag()
        rc = L.mqr_json_parse(self._arena, self._text, len(self._text), 0,
                              ctypes.byref(self.value), ctypes.byref(diag))
        if rc != OK:
            raise_status(rc, diag)
        for key, data in binary:
            k, data = str(key).encode("utf-8"), bytes(data)
            s = _lib.Value()
            rc = L.mqr_value_string_copy(self._arena, data, len(data), ctypes.byref(s))
            if rc == OK:
                rc = L.mqr_value_object_append(self._arena, ctypes.byref(self.value), k,
                                               len(k), ctypes.byref(s))
            if rc != OK:
                raise_status(rc)
        return self.value

    @property
    def arena(self):
        """The mqr_arena_t, for building more values next to the loaded one
        (they too live until the next load())."""
        return self._arena

    def close(self):
        """Free the arena; safe to call twice."""
        if self._arena:
            L.mqr_arena_destroy(self._arena)
            self._arena = ctypes.c_void_p()
