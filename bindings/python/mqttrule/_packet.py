# SPDX-License-Identifier: MIT
"""MQTT packets as dicts: decode(), Decoder and encode().

The dicts have the schema of mqttrule-packet (docs/packet.md) because the
same library code produces and reads them: the stream decoder
(mqr_packet_stream_next) fills an opaque mqr_packet_t, mqr_packet_to_json
renders it and json.loads reads the text; encode() serialises the dict and
hands it to mqr_packet_encode_json. Each Decoder owns one arena that is
reset per packet, so decoding a long stream does not grow memory.
"""

import ctypes
import json

from . import _lib
from ._base import L, OK, MalformedPacket, MqttruleError, diag_message, to_json_bytes

NEED_MORE = 1
_PACKET_STATUS_MIN, _PACKET_STATUS_MAX = -199, -100
_HEX_KEYS = ("payload", "password")


def _malformed(status, diag):
    """The MalformedPacket for a failed decode or encode (the stream decoder
    reports offsets from the start of the stream)."""
    return MalformedPacket(status, diag_message(diag), diag.packet_type,
                           diag.field.decode("utf-8", "replace"), diag.offset,
                           diag.reason_code)


class Decoder:
    """A resumable decoder for one direction of an MQTT connection.

    ``feed(data)`` appends bytes; iterating yields each complete packet as
    a dict and stops when the buffered bytes end inside a packet (feed more
    and iterate again). The protocol level of packets other than CONNECT is
    ``proto_ver`` (3, 4 or 5; None means 4) until a CONNECT sets it.
    A malformed packet raises MalformedPacket with its type, field, byte
    offset in the stream and reason code; the decoder then stays at that
    packet. ``buffered`` is the number of bytes held; ``offset`` the stream
    offset of the next packet. Not thread-safe; close() or ``with`` frees
    its memory at once.
    """

    def __init__(self, proto_ver=None, max_packet_size=0):
        if proto_ver not in (None, 3, 4, 5):
            raise ValueError("proto_ver must be 3, 4, 5 or None")
        self._arena = ctypes.c_void_p()
        rc = L.mqr_arena_create(None, 0, ctypes.byref(self._arena))
        if rc != OK:
            raise MqttruleError(rc)
        self._stream = _lib.PacketStream()
        opts = _lib.PacketOpts(max_packet_size=max_packet_size, proto_ver=proto_ver or 0)
        L.mqr_packet_stream_init(ctypes.byref(self._stream), ctypes.byref(opts))
        self._packet = _lib.packet_storage()
        self._buf = bytearray()
        self._pos = 0  # bytes of _buf already decoded

    @property
    def buffered(self):
        """Bytes fed but not yet decoded."""
        return len(self._buf) - self._pos

    @property
    def offset(self):
        """Stream offset of the next packet."""
        return self._stream.offset

    @property
    def proto_ver(self):
        """The protocol level in force (from the CONNECT, or the default)."""
        return self._stream.opts.proto_ver or 4

    def feed(self, data):
        """Append bytes (bytes, bytearray or memoryview) to the buffer.
        Raises ValueError once the decoder is closed."""
        if not self._arena:
            raise ValueError("decoder is closed")
        self._buf += data
        return self

    def __iter__(self):
        return self

    def __next__(self):
        """The next complete packet as a dict; StopIteration when the buffer
        holds no complete packet."""
        if not self._arena:
            raise ValueError("decoder is closed")
        avail = len(self._buf) - self._pos
        if avail == 0:
            raise StopIteration
        size = ctypes.c_size_t()
        diag = _lib.Diag()
        text = ctypes.c_void_p()
        n = ctypes.c_size_t()
        # The library reads the buffer in place; the view is released before
        # the bytearray changes size again.
        view = (ctypes.c_char * avail).from_buffer(self._buf, self._pos)
        try:
            rc = L.mqr_packet_stream_next(ctypes.byref(self._stream), view, avail,
                                          self._packet, ctypes.byref(size),
                                          ctypes.byref(diag))
            if rc == OK:
                L.mqr_arena_reset(self._arena)
                rc = L.mqr_packet_to_json(self._packet, self._arena, ctypes.byref(text),
                                          ctypes.byref(n))
                if rc != OK:
                    raise MqttruleError(rc)
        finally:
            del view
        if rc == NEED_MORE:
            raise StopIteration
        if rc != OK:
            raise _malformed(rc, diag)
        self._pos += size.value
        if self._pos * 2 > len(self._buf):
            del self._buf[:self._pos]
            self._pos = 0
        return json.loads(ctypes.string_at(text, n.value).decode("utf-8"))

    def close(self):
        """Free the decoder's memory; safe to call twice."""
        if getattr(self, "_arena", None):
            L.mqr_arena_destroy(self._arena)
            self._arena = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


def decode(data, proto_ver=None):
    """Decode every packet in ``data`` (bytes of one direction of a
    connection, starting at a packet boundary) into a list of dicts.

    ``proto_ver`` as for Decoder. Raises MalformedPacket for a malformed
    packet, and for input that ends inside a packet (status MQR_NEED_MORE,
    field "", offset at that packet's start, reason_code -1).
    """
    with Decoder(proto_ver) as d:
        d.feed(data)
        packets = list(d)
        if d.buffered:
            ptype = d._buf[d._pos] >> 4
            name = L.mqr_packet_type_name(ptype).decode("ascii")
            raise MalformedPacket(
                NEED_MORE, "input ends inside a %s packet at byte %d" % (name, d.offset),
                ptype, "", d.offset, -1)
        return packets


def _prepare(obj, in_props=False):
    """Copy a packet dict for JSON: bytes under "payload"/"password" become
    "<key>_hex", bytes property values {"hex": ...}."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if isinstance(v, (bytes, bytearray)):
                if k in _HEX_KEYS and not in_props:
                    out[k + "_hex"] = bytes(v).hex()
                else:
                    out[k] = {"hex": bytes(v).hex()}
            else:
                out[k] = _prepare(v, in_props or k == "properties")
        return out
    if isinstance(obj, list):
        return [_prepare(v, in_props) for v in obj]
    return obj


def encode(packet, proto_ver=None):
    """Encode one packet dict (docs/packet.md schema; bytes values allowed
    for payload, password and binary properties) to its wire bytes.

    ``proto_ver`` (3, 4, 5; None: the dict's "proto_ver", else 4) is the
    level of a packet that does not say. Raises MalformedPacket when the
    packet is not valid MQTT (its status, field and reason code), and
    MqttruleError (MQR_EINVAL) for a dict that does not follow the schema,
    with the message naming the member.
    """
    if not isinstance(packet, dict):
        raise TypeError("packet must be a dict")
    text = to_json_bytes(_prepare(packet))
    arena = ctypes.c_void_p()
    rc = L.mqr_arena_create(None, 0, ctypes.byref(arena))
    if rc != OK:
        raise MqttruleError(rc)
    try:
        ver = ctypes.c_int(proto_ver or 0)
        out = ctypes.c_void_p()
        n = ctypes.c_size_t()
        diag = _lib.Diag()
        rc = L.mqr_packet_encode_json(text, len(text), arena, ctypes.byref(ver),
                                      ctypes.byref(out), ctypes.byref(n), ctypes.byref(diag))
        if rc == OK:
            return ctypes.string_at(out, n.value)
        if _PACKET_STATUS_MIN <= rc <= _PACKET_STATUS_MAX:
            raise _malformed(rc, diag)
        raise MqttruleError(rc, diag_message(diag))
    finally:
        L.mqr_arena_destroy(arena)

