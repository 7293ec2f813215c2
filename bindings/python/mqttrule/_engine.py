# SPDX-License-Identifier: MIT
"""mqttrule.Engine: a set of rules with their actions (mqr_engine_t).

Python callables become C callbacks through two trampolines per engine:
one for callable actions (mqr_engine_action_add_callback, whose `ud`
carries the action's index into the engine's table) and one publisher for
Republish actions (the engine has a single publisher; it finds the
Republish that made the message through the message's action id, so each
Republish of a rule has its own publish callable). The trampolines and
every callable stay referenced by the Engine until close(), so garbage
collection cannot free a callback the library may still call.

A callable that raises is caught in the trampoline, kept in
Engine.callback_errors, and reported to the library as a failure, so the
action's and the rule's metrics count it as failed; the exception never
crosses into C.
"""

import ctypes
import json
import os
import socket
import time

from . import _lib
from ._base import L, OK, EIO, ValueArena, raise_status

NAMES = {"doc": 0, "emqx": 1}
ENGINE_UNDEFINED_AS_NULL = 0x01
HTTP_METHODS = {"POST": 1, "PUT": 2, "GET": 3, "DELETE": 4}
CALLBACK_ERRORS_KEPT = 100
QUEUE_SYNC = {"batch": 0, "interval": 1, "never": 2}           # MQR_QUEUE_SYNC_*
QUEUE_OVERFLOW = {"drop_oldest": 0, "refuse_newest": 1}       # MQR_QUEUE_OVERFLOW_*


def _b(s):
    """str -> UTF-8 bytes; None stays None."""
    return None if s is None else str(s).encode("utf-8")


class Republish:
    """A republish action (spec §9.1). Every argument except ``publish`` is
    a ``${...}`` template; None means the default (payload: the whole output
    as JSON, qos 0, retain false, D11).

    ``publish(message)`` is called with a dict: rule_id, topic, payload
    (bytes), qos, retain, direct_dispatch, user_properties (list of
    (key, value) str pairs), and the optional properties that were set. Its
    return value is ignored; raising counts the action as failed.
    """

    def __init__(self, topic, publish, payload=None, qos=None, retain=None,
                 user_properties=None, payload_format_indicator=None,
                 message_expiry_interval=None, content_type=None,
                 response_topic=None, correlation_data=None, direct_dispatch=None):
        if not callable(publish):
            raise TypeError("publish must be callable")
        self.publish = publish
        self.templates = {
            "topic": topic, "payload": payload, "qos": qos, "retain": retain,
            "user_properties": user_properties,
            "payload_format_indicator": payload_format_indicator,
            "message_expiry_interval": message_expiry_interval,
            "content_type": content_type, "response_topic": response_topic,
            "correlation_data": correlation_data, "direct_dispatch": direct_dispatch,
        }


class HTTP:
    """An HTTP action (spec §9.2) POSTing (by default) each output to
    ``url``. ``path``, ``headers`` (dict of name -> value templates) and
    ``body`` are templates; body None sends the output as JSON. The numeric
    options map to mqr_http_config_t fields (0 keeps the library default);
    requests make progress only while Engine.poll() or run_until_idle() runs.
    """

    def __init__(self, url, method="POST", path=None, headers=None, body=None,
                 request_timeout_ms=0, connect_timeout_ms=0, ttl_ms=0, max_attempts=0,
                 pool_size=0, max_queue_count=0, tls_insecure=False, ca_file=None,
                 cert_file=None, key_file=None):
        if method.upper() not in HTTP_METHODS:
            raise ValueError("method must be one of %s" % ", ".join(HTTP_METHODS))
        self.url = url
        self.method = method.upper()
        self.path = path
        self.headers = dict(headers or {})
        self.body = body
        self.numbers = {
            "request_timeout_ms": request_timeout_ms, "connect_timeout_ms": connect_timeout_ms,
            "ttl_ms": ttl_ms, "max_attempts": max_attempts, "pool_size": pool_size,
            "max_queue_count": max_queue_count, "tls_insecure": int(bool(tls_insecure)),
        }
        self.ca_file = ca_file
        self.cert_file = cert_file  # client certificate (https), key in key_file or in it
        self.key_file = key_file


def _opt_bytes(ptr, n):
    """Bytes at ptr (n long), or None for a NULL pointer."""
    return None if not ptr else ctypes.string_at(ptr, n)


def _message_dict(m):
    """Copy an mqr_publish_msg_t into a dict (everything it points to is
    valid only during the callback)."""
    msg = {
        "rule_id": m.rule_id.decode("utf-8"), "action_id": m.action_id,
        "topic": ctypes.string_at(m.topic, m.topic_len).decode("utf-8"),
        "payload": _opt_bytes(m.payload, m.payload_len) or b"",
        "qos": m.qos, "retain": bool(m.retain), "direct_dispatch": bool(m.direct_dispatch),
        "user_properties": [
            (ctypes.string_at(p.key, p.key_len).decode("utf-8", "replace"),
             ctypes.string_at(p.value, p.value_len).decode("utf-8", "replace"))
            for p in (m.user_properties[i] for i in range(m.user_property_count))],
    }
    if m.payload_format_indicator >= 0:
        msg["payload_format_indicator"] = m.payload_format_indicator
    if m.message_expiry_interval >= 0:
        msg["message_expiry_interval"] = m.message_expiry_interval
    for key in ("content_type", "response_topic"):
        raw = _opt_bytes(getattr(m, key), getattr(m, key + "_len"))
        if raw is not None:
            msg[key] = raw.decode("utf-8", "replace")
    raw = _opt_bytes(m.correlation_data, m.correlation_data_len)
    if raw is not None:
        msg["correlation_data"] = raw
    return msg


def _error_dict(err):
    """An mqr_engine_error_t as a dict, or None when it records no error."""
    if err.count == 0:
        return None
    return {"status": L.mqr_status_name(err.status).decode(), "line": err.line,
            "message": err.message.decode("utf-8", "replace"), "column": err.column,
            "time_ms": err.time_ms, "count": err.count, "action_id": err.action_id}


def events():
    """The library's event table: a list of {"id", "name", "topic",
    "legacy_topic", "test_type"} (topics None when the event has none); the
    id is what Engine.emit() and event_listened() take as an int."""
    out = []
    for i in range(L.mqr_event_count()):
        ev = L.mqr_event_at(i)
        if not ev:
            continue
        ev = ev.contents

        def text(v):
            return v.decode("utf-8") if v is not None else None
        out.append({"id": ev.id, "name": text(ev.name), "topic": text(ev.topic),
                    "legacy_topic": text(ev.legacy_topic), "test_type": text(ev.test_type)})
    return out


def _event_input(event, conn, msg, packet, topic, qos, reason, reason_code, timestamp_ms):
    """The event id and mqr_event_input_t of emit_input()/build_event()'s
    arguments, with the list of objects it points into (keep it alive while
    the input is used). ValueError for an unknown event."""
    name = event.encode()
    sc = L.mqr_event_find(name, len(name))
    if not sc:
        raise ValueError("unknown event %r" % (event,))
    event_id = sc.contents.id
    keep = []

    def text(s):
        b = s.encode() if isinstance(s, str) else bytes(s)
        keep.append(b)
        return b, len(b)

    inp = _lib.EventInput()
    L.mqr_event_input_init(ctypes.byref(inp))
    if conn is not None:
        c = _facts(_lib.EventConn, L.mqr_event_conn_init, conn, keep,
                   ("clientid", "username", "mountpoint", "listener", "protocol"),
                   ("peer", "sock"))
        inp.conn = ctypes.pointer(c)
    if msg is not None:
        m = _facts(_lib.EventMsg, L.mqr_event_msg_init, msg, keep,
                   ("id", "topic", "payload", "from_clientid", "from_username"),
                   ("from_peer",))
        inp.msg = ctypes.pointer(m)
    if packet is not None:
        data = bytes(packet)
        storage = _lib.packet_storage()
        size = ctypes.c_size_t()
        opts = _lib.PacketOpts(0, 5, 0, 0)
        diag = _lib.Diag()
        rc = L.mqr_packet_decode(data, len(data), ctypes.byref(opts), ctypes.byref(storage),
                                 ctypes.byref(size), ctypes.byref(diag))
        if rc != OK:
            raise_status(rc, diag)
        keep += [data, storage]
        inp.packet = ctypes.addressof(storage)
    if topic is not None:
        inp.topic, inp.topic_len = text(topic)
    if reason is not None:
        inp.reason, inp.reason_len = text(reason)
    inp.qos = int(qos)
    inp.reason_code = int(reason_code)
    inp.timestamp_ms = int(timestamp_ms)
    return event_id, inp, keep


def build_event(event, conn=None, msg=None, packet=None, topic=None, qos=0, reason=None,
                reason_code=0, timestamp_ms=0, node=None, undefined_as_null=True):
    """The columns of event ``event`` as a dict, built by the library from
    host facts without an engine (mqr_event_build): the same arguments as
    Engine.emit_input(), and ``node`` the `node` column. Undefined fields are None (``undefined_as_null``)
    or the text "undefined", as EMQX renders them. ValueError for an unknown event, MqttruleError
    (MQR_EINVAL, MQR_ENOTFOUND) when the library cannot build it."""
    event_id, inp, _keep = _event_input(event, conn, msg, packet, topic, qos, reason,
                                        reason_code, timestamp_ms)
    if node is not None:
        _keep.append(_b(node))
        inp.node, inp.node_len = _keep[-1], len(_keep[-1])
    arena = ValueArena()
    try:
        out = _lib.Value()
        diag = _lib.Diag()
        rc = L.mqr_event_build(event_id, ctypes.byref(inp), arena.arena, ctypes.byref(out),
                               ctypes.byref(diag))
        if rc != OK:
            raise_status(rc, diag)
        flags = 0x01 if undefined_as_null else 0
        n = ctypes.c_size_t()
        rc = L.mqr_json_write(ctypes.byref(out), flags, None, 0, ctypes.byref(n))
        buf = ctypes.create_string_buffer(n.value + 1)
        rc = L.mqr_json_write(ctypes.byref(out), flags, buf, len(buf), ctypes.byref(n))
        if rc != OK:
            raise_status(rc)
        return json.loads(buf.raw[:n.value].decode("utf-8", "replace"))
    finally:
        arena.close()


def _parse_peer(peer):
    """"host:port" or (host, port) -> mqr_sockaddr_t (IPv4 or IPv6)."""
    addr = _lib.SockAddr()
    if peer is None:
        return addr
    if isinstance(peer, str):
        host, _, port = peer.rpartition(":")
        host = host.strip("[]")
    else:
        host, port = peer
    for family, code, size in ((socket.AF_INET, 4, 4), (socket.AF_INET6, 6, 16)):
        try:
            packed = socket.inet_pton(family, host)
        except OSError:
            continue
        addr.family = code
        addr.port = int(port)
        for i in range(size):
            addr.addr[i] = packed[i]
        return addr
    raise ValueError("not an IP address: %r" % (host,))


def _facts(cls, init, values, keep, strings, addrs):
    """A ctypes struct `cls`, reset by `init`, with the members of dict
    `values`: strings (and their *_len), addresses ("host:port"), integers.
    Everything it points to is appended to `keep`."""
    st = cls()
    init(ctypes.byref(st))
    for k, v in values.items():
        if k in strings:
            b = v.encode() if isinstance(v, str) else bytes(v)
            keep.append(b)
            setattr(st, k, b)
            setattr(st, k + "_len", len(b))
        elif k in addrs:
            setattr(st, k, _parse_peer(v))
        else:
            setattr(st, k, int(v))
    keep.append(st)
    return st


class Engine:
    """A rule engine: rules, their actions, metrics (mqr_engine_t).

    ``Engine(names="doc", undefined_as_null=False, node=None)``: ``names``
    is the reason-code naming profile of decision D1 ("doc" or "emqx"),
    ``node`` the `node` column (None: "mqttrule@127.0.0.1").

    The engine is used from one thread at a time. Free it with close() or a
    ``with`` block; a closed engine raises ValueError. Callables are called
    synchronously from emit()/emit_connack() (callable and Republish
    actions) and from poll() (HTTP completions only update metrics).
    """

    def __init__(self, names="doc", undefined_as_null=False, node=None):
        if names not in NAMES:
            raise ValueError("names must be 'doc' or 'emqx'")
        self._engine = ctypes.c_void_p()
        self._callables = []      # index = the callback action's ud
        self._publishers = {}     # action id -> the publish callable of that Republish
        self._node = _b(node)     # copied by the library; kept for clarity
        self._columns = None
        self._rule_actions = {}   # rule id -> its action ids
        self.callback_errors = []
        self._callback_tramp = _lib.CALLBACK_FN(self._on_callback)
        self._publish_tramp = _lib.PUBLISH_FN(self._on_publish)
        opts = _lib.EngineOptions()
        L.mqr_engine_options_init(ctypes.byref(opts))
        opts.names = NAMES[names]
        if undefined_as_null:
            opts.flags |= ENGINE_UNDEFINED_AS_NULL
        opts.node = self._node
        opts.publish = self._publish_tramp
        rc = L.mqr_engine_create(ctypes.byref(opts), ctypes.byref(self._engine))
        if rc != OK:
            raise_status(rc)
        self._columns = ValueArena()

    # ---- trampolines -------------------------------------------------------

    def _record(self, exc):
        """Keep the most recent callback exceptions for inspection."""
        self.callback_errors.append(exc)
        del self.callback_errors[:-CALLBACK_ERRORS_KEPT]

    def _on_callback(self, ud, rule_id, json_ptr, json_len, _value):
        """mqr_engine_callback_fn: call the Python callable at index ud."""
        try:
            fn = self._callables[ud or 0]
            output = json.loads(ctypes.string_at(json_ptr, json_len).decode("utf-8"))
            fn(rule_id.decode("utf-8"), output)
            return OK
        except BaseException as exc:  # never let an exception cross into C
            self._record(exc)
            return EIO

    def _on_publish(self, _ud, msg_ptr):
        """mqr_engine_publish_fn: call the rule's Republish publish callable."""
        try:
            msg = _message_dict(msg_ptr.contents)
            fn = self._publishers[msg_ptr.contents.action_id]
            fn(msg)
            return OK
        except BaseException as exc:
            self._record(exc)
            return EIO

    # ---- rules and actions ---------------------------------------------------

    def _check(self):
        if not self._engine:
            raise ValueError("engine is closed")

    def add_rule(self, rule_id, sql, actions=(), description=None, enabled=True):
        """Compile ``sql`` as rule ``rule_id`` and attach ``actions`` (Python
        callables taking (rule_id, output), Republish or HTTP objects), in
        order; each Republish calls its own publish callable. Returns the
        actions' ids (for action_metrics() and friends), in order. Raises
        SQLSyntaxError (line, column) when the SQL does not compile,
        MqttruleError (MQR_EEXIST) for a taken id, TypeError for an action
        of another kind. When an action fails to attach, the rule is removed
        again and the error raised.
        """
        self._check()
        for a in actions:
            if not (callable(a) or isinstance(a, (Republish, HTTP))):
                raise TypeError("an action is a callable, Republish or HTTP")
        rid = _b(rule_id)
        d = _lib.RuleDef(id=rid, sql=_b(sql), description=_b(description),
                         enabled=1 if enabled else 0)
        diag = _lib.Diag()
        rc = L.mqr_engine_rule_add(self._engine, ctypes.byref(d), ctypes.byref(diag))
        if rc != OK:
            raise_status(rc, diag)
        ids = []
        try:
            for a in actions:
                ids.append(self._add_action(rid, a))
        except BaseException:
            L.mqr_engine_rule_remove(self._engine, rid)
            for aid in ids:
                self._publishers.pop(aid, None)
            raise
        for a, aid in zip(actions, ids):
            if isinstance(a, Republish):
                self._publishers[aid] = a.publish
        self._rule_actions[rule_id] = ids
        return ids

    def _add_action(self, rid, action):
        """Attach one action to rule rid (bytes); raise on failure."""
        diag = _lib.Diag()
        out_id = ctypes.c_uint32()
        if isinstance(action, Republish):
            cfg = _lib.RepublishConfig(**{k: _b(v) for k, v in action.templates.items()})
            rc = L.mqr_engine_action_add_republish(self._engine, rid, ctypes.byref(cfg),
                                                   ctypes.byref(out_id), ctypes.byref(diag))
        elif isinstance(action, HTTP):
            cfg = _lib.HttpActionConfig()
            L.mqr_http_config_init(ctypes.byref(cfg.http))
            cfg.http.url = _b(action.url)
            for k, v in action.numbers.items():
                if v:
                    setattr(cfg.http, k, v)
            cfg.http.ca_file = _b(action.ca_file)
            cfg.http.cert_file = _b(action.cert_file)
            cfg.http.key_file = _b(action.key_file)
            cfg.method = HTTP_METHODS[action.method]
            cfg.path = _b(action.path)
            cfg.body = _b(action.body)
            keep = [(_b(k), _b(v)) for k, v in action.headers.items()]
            hdrs = (_lib.HttpHeader * max(1, len(keep)))()
            for i, (k, v) in enumerate(keep):
                hdrs[i] = _lib.HttpHeader(k, len(k), v, len(v))
            cfg.header_count = len(keep)
            cfg.headers = hdrs
            rc = L.mqr_engine_action_add_http(self._engine, rid, ctypes.byref(cfg),
                                              ctypes.byref(out_id), ctypes.byref(diag))
        else:
            self._callables.append(action)
            ud = len(self._callables) - 1
            rc = L.mqr_engine_action_add_callback(self._engine, rid, self._callback_tramp,
                                                  ud, ctypes.byref(out_id),
                                                  ctypes.byref(diag))
        if rc != OK:
            raise_status(rc, diag)
        return out_id.value

    def remove_rule(self, rule_id):
        """Remove a rule and its actions. Raises MqttruleError
        (MQR_ENOTFOUND) for an unknown id."""
        self._check()
        rc = L.mqr_engine_rule_remove(self._engine, _b(rule_id))
        if rc != OK:
            raise_status(rc)
        for aid in self._rule_actions.pop(rule_id, ()):
            self._publishers.pop(aid, None)

    def update_rule(self, rule_id, sql, description=None, enabled=True):
        """Replace rule ``rule_id``'s SQL, description and enabled flag,
        keeping its actions and metrics. SQLSyntaxError as add_rule (the old
        rule stays in force), MqttruleError (MQR_ENOTFOUND) for an unknown
        id."""
        self._check()
        d = _lib.RuleDef(id=_b(rule_id), sql=_b(sql), description=_b(description),
                         enabled=1 if enabled else 0)
        diag = _lib.Diag()
        rc = L.mqr_engine_rule_update(self._engine, ctypes.byref(d), ctypes.byref(diag))
        if rc != OK:
            raise_status(rc, diag)

    def enable_rule(self, rule_id, enabled=True):
        """Enable or disable a rule (a disabled rule is neither matched nor
        counted). MqttruleError (MQR_ENOTFOUND) for an unknown id."""
        self._check()
        rc = L.mqr_engine_rule_enable(self._engine, _b(rule_id), 1 if enabled else 0)
        if rc != OK:
            raise_status(rc)

    def rule_count(self):
        """The number of rules, enabled or not."""
        self._check()
        return L.mqr_engine_rule_count(self._engine)

    def rule_info(self, rule_id):
        """{"description", "enabled"} of rule ``rule_id``, or None when there
        is no such rule."""
        self._check()
        enabled = ctypes.c_uint32()
        desc = L.mqr_engine_rule_info(self._engine, _b(rule_id), ctypes.byref(enabled))
        if desc is None:
            return None
        return {"description": desc.decode("utf-8", "replace"), "enabled": bool(enabled.value)}

    def remove_action(self, action_id):
        """Remove one action (an id add_rule returned). MqttruleError
        (MQR_ENOTFOUND) for an unknown id."""
        self._check()
        rc = L.mqr_engine_action_remove(self._engine, int(action_id))
        if rc != OK:
            raise_status(rc)
        self._publishers.pop(action_id, None)

    # ---- emitting ------------------------------------------------------------

    def emit(self, event_type, **fields):
        """Emit event ``event_type`` ("client.connack", "client_connack" or an
        event topic such as "$events/client/connack") with ``fields`` as its
        columns, run every matching rule and their callable and Republish
        actions before returning, and return the number of rules fired.
        "message.publish" (or "message_publish") is a published message:
        see emit_message() for its fields. Raises MqttruleError
        (MQR_ENOTFOUND) for an unknown event.
        """
        self._check()
        if isinstance(event_type, int):
            return self._emit_id(event_type, fields)
        if event_type in ("message.publish", "message_publish"):
            return self.emit_message(**fields)
        name = event_type
        if "." not in name and "/" not in name and "_" in name:
            name = name.replace("_", ".", 1)
        name_b = name.encode("utf-8")
        columns = self._columns.load(fields)
        fired = ctypes.c_uint32()
        diag = _lib.Diag()
        rc = L.mqr_engine_emit_event(self._engine, name_b, len(name_b), ctypes.byref(columns),
                                     ctypes.byref(fired), ctypes.byref(diag))
        if rc != OK:
            raise_status(rc, diag)
        return fired.value

    def _emit_id(self, event_id, fields):
        """emit() by event id (mqr_engine_emit_event_id): no name lookup."""
        columns = self._columns.load(fields)
        fired = ctypes.c_uint32()
        diag = _lib.Diag()
        rc = L.mqr_engine_emit_event_id(self._engine, event_id, ctypes.byref(columns),
                                        ctypes.byref(fired), ctypes.byref(diag))
        if rc != OK:
            raise_status(rc, diag)
        return fired.value

    def emit_message(self, topic, payload=b"", qos=0, retain=False, dup=False, clientid=None,
                     username=None, peerhost=None, peername=None, id=None, pub_props=None,
                     publish_received_at=0, republish_by=None):
        """Run the rules whose FROM topic filters match ``topic`` over a
        published message (spec §5). ``payload`` is bytes or str; absent
        strings are undefined columns, ``id`` None is generated,
        ``pub_props`` a dict of MQTT 5 properties (None: no properties),
        ``publish_received_at`` 0 means now. Returns the number of rules
        fired; MqttruleError (MQR_EINVAL) for an invalid topic name.
        """
        self._check()
        keep = {}

        def s(name, value):
            if value is None:
                return None, 0
            raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
            keep[name] = raw
            return raw, len(raw)

        m = _lib.EngineMessage(qos=int(qos), retain=int(bool(retain)), dup=int(bool(dup)),
                               publish_received_at=int(publish_received_at))
        for name, value in (("topic", topic), ("payload", payload), ("id", id),
                            ("clientid", clientid), ("username", username),
                            ("peerhost", peerhost), ("peername", peername),
                            ("republish_by", republish_by)):
            ptr, n = s(name, value)
            setattr(m, name, ptr)
            setattr(m, name + "_len", n)
        if pub_props is not None:
            m.pub_props = ctypes.pointer(self._columns.load(pub_props))
        fired = ctypes.c_uint32()
        diag = _lib.Diag()
        rc = L.mqr_engine_emit_message(self._engine, ctypes.byref(m), ctypes.byref(fired),
                                       ctypes.byref(diag))
        if rc != OK:
            raise_status(rc, diag)
        return fired.value

    def emit_connack(self, connect, reason_code=0, connack_sent=True, peer=None, sock=None):
        """Emit client.connack for the CONNECT packet in ``connect`` (bytes
        as received) that the broker answered with MQTT 5 ``reason_code``.

        A CONNECT that does not decode is still emitted (decision D2) with
        the fields read before the error; pass the reason code decided for
        it (e.g. 0x81 malformed_packet) and, for a v3 client closed without
        a CONNACK, ``connack_sent=False``. ``peer`` and ``sock`` are
        "host:port" strings or (host, port) pairs. Returns the number of
        rules fired.
        """
        self._check()
        data = bytes(connect)
        packet = _lib.packet_storage()
        size = ctypes.c_size_t()
        diag = _lib.Diag()
        rc = L.mqr_packet_decode(data, len(data), None, ctypes.byref(packet),
                                 ctypes.byref(size), ctypes.byref(diag))
        inp = _lib.ConnackInput()
        L.mqr_event_connack_init(ctypes.byref(inp))
        inp.connect = ctypes.addressof(packet)
        inp.complete = 1 if rc == OK else 0
        inp.reason_code = int(reason_code)
        inp.connack_sent = 1 if connack_sent else 0
        inp.peer = _parse_peer(peer)
        inp.sock = _parse_peer(sock)
        fired = ctypes.c_uint32()
        diag = _lib.Diag()
        rc = L.mqr_engine_emit_connack(self._engine, ctypes.byref(inp), ctypes.byref(fired),
                                       ctypes.byref(diag))
        if rc != OK:
            raise_status(rc, diag)
        return fired.value

    def emit_input(self, event, conn=None, msg=None, packet=None, topic=None, qos=0,
                   reason=None, reason_code=0, timestamp_ms=0):
        """Build event ``event`` (its name, e.g. "session.subscribed"; any
        event but client.connack and message.publish) from host facts with
        mqr_engine_emit_input() and run its rules. ``conn`` is a dict of
        mqr_event_conn_t members (clientid, username, proto_ver, keepalive,
        clean_start, receive_maximum, expiry_interval_s, connected_at_ms;
        peer and sock as "host:port"); ``msg`` a dict of mqr_event_msg_t
        members (id, topic, payload, qos, retain, dup, from_clientid,
        from_username, from_peer, publish_received_at_ms); ``packet`` the
        bytes of the packet the event is about (a v5 SUBSCRIBE, DISCONNECT,
        PUBACK, ... whose properties fill the event's property map).
        Returns the number of rules fired."""
        self._check()
        event_id, inp, _keep = _event_input(event, conn, msg, packet, topic, qos, reason,
                                            reason_code, timestamp_ms)
        fired = ctypes.c_uint32()
        diag = _lib.Diag()
        rc = L.mqr_engine_emit_input(self._engine, event_id, ctypes.byref(inp),
                                     ctypes.byref(fired), ctypes.byref(diag))
        if rc != OK:
            raise_status(rc, diag)
        return fired.value

    # ---- HTTP ------------------------------------------------------------------

    def set_fallback(self, action_id, fallback_ids):
        """Name the actions to run when an invocation of ``action_id``
        finally fails (EMQX's fallback_actions; an empty list removes them).
        MqttruleError: MQR_EINVAL (more than 16, or the action itself),
        MQR_ENOTFOUND (an unknown id)."""
        self._check()
        ids = [int(i) for i in fallback_ids]
        arr = (ctypes.c_uint32 * max(1, len(ids)))(*ids)
        rc = L.mqr_engine_action_set_fallback(self._engine, int(action_id), arr, len(ids))
        if rc != OK:
            raise_status(rc)

    def set_fallback_only(self, action_id, only=True):
        """Keep action ``action_id`` out of its rule's normal run, so that it
        runs only as another action's fallback (an inline fallback)."""
        self._check()
        rc = L.mqr_engine_action_set_fallback_only(self._engine, int(action_id),
                                                   1 if only else 0)
        if rc != OK:
            raise_status(rc)

    def enable_action(self, action_id, enabled=True):
        """Enable or disable one action (a disabled action's invocations are
        counted as discarded). MqttruleError (MQR_ENOTFOUND)."""
        self._check()
        rc = L.mqr_engine_action_enable(self._engine, int(action_id), 1 if enabled else 0)
        if rc != OK:
            raise_status(rc)

    def persist_action(self, action_id, directory, sync="batch", sync_interval_ms=0,
                       max_buffer_bytes=0, segment_bytes=0, overflow="drop_oldest",
                       id_name=None, window=0):
        """Give HTTP or Republish action ``action_id`` a durable queue in
        ``directory`` (mqr_engine_action_persist, mqttrule/queue.h), which
        must exist; records an earlier engine left there are replayed. Call
        it once, right after add_rule and before events flow. Every output
        is written to the queue first and carries the record's identifier
        (HTTP: the ``id_name`` header, "Idempotency-Key" by default; "" sends
        none); what is not delivered when the engine is closed stays on disk.
        ``sync`` is "batch", "interval" or "never"; ``overflow``
        "drop_oldest" or "refuse_newest"; 0 takes the library's default.
        MqttruleError: MQR_ENOTSUP (a callable action), MQR_EEXIST (it has
        a queue already), MQR_ENOTFOUND, and the queue's open errors (a
        missing or unwritable directory) with the library's message."""
        self._check()
        if sync not in QUEUE_SYNC:
            raise ValueError("sync must be 'batch', 'interval' or 'never'")
        if overflow not in QUEUE_OVERFLOW:
            raise ValueError("overflow must be 'drop_oldest' or 'refuse_newest'")
        cfg = _lib.ActionPersistConfig()
        L.mqr_action_persist_config_init(ctypes.byref(cfg))
        path = _b(os.fspath(directory))
        cfg.queue.dir = path          # copied by the library
        cfg.queue.sync = QUEUE_SYNC[sync]
        cfg.queue.overflow = QUEUE_OVERFLOW[overflow]
        if sync_interval_ms:
            cfg.queue.sync_interval_ms = int(sync_interval_ms)
        if max_buffer_bytes:
            cfg.queue.max_buffer_bytes = int(max_buffer_bytes)
        if segment_bytes:
            cfg.queue.segment_bytes = int(segment_bytes)
        name = _b(id_name)
        cfg.id_name = name
        cfg.window = int(window)
        diag = _lib.Diag()
        rc = L.mqr_engine_action_persist(self._engine, int(action_id), ctypes.byref(cfg),
                                         ctypes.byref(diag))
        if rc != OK:
            raise_status(rc, diag)

    def poll(self, timeout=0.0):
        """One poll() round over the HTTP actions' sockets for at most
        ``timeout`` seconds (None: until the next timer); returns the number
        of HTTP messages still pending."""
        self._check()
        ms = -1 if timeout is None else max(0, int(timeout * 1000))
        rc = L.mqr_engine_poll(self._engine, ms)
        if rc != OK:
            raise_status(rc)
        return L.mqr_engine_pending(self._engine)

    def pending(self):
        """HTTP messages not yet completed."""
        self._check()
        return L.mqr_engine_pending(self._engine)

    def run_until_idle(self, timeout=10.0):
        """poll() until no HTTP message is pending or ``timeout`` seconds
        pass; True when idle."""
        deadline = time.monotonic() + timeout
        while self.pending():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.poll(min(left, 0.1))
        return True

    # ---- metrics -----------------------------------------------------------------

    def metrics(self, rule_id):
        """Rule ``rule_id``'s metrics with EMQX's names: {"id", "metrics":
        {"matched", "passed", "failed", "failed.exception", ...},
        "actions": [{"id", "type", "metrics": {...}}]}. Raises MqttruleError
        (MQR_ENOTFOUND) for an unknown id."""
        self._check()
        rid = _b(rule_id)
        n = ctypes.c_size_t()
        rc = L.mqr_engine_rule_metrics_json(self._engine, rid, None, 0, ctypes.byref(n))
        if rc not in (OK, -3):
            raise_status(rc)
        buf = ctypes.create_string_buffer(n.value + 1)
        rc = L.mqr_engine_rule_metrics_json(self._engine, rid, buf, len(buf), ctypes.byref(n))
        if rc != OK:
            raise_status(rc)
        return json.loads(buf.raw[:n.value].decode("utf-8"))

    def last_error(self, rule_id):
        """Rule ``rule_id``'s last evaluation error as {"status", "message",
        "line", "column", "time_ms", "count"}, or None when it has had none.
        Raises MqttruleError (MQR_ENOTFOUND) for an unknown id."""
        self._check()
        err = _lib.EngineError()
        rc = L.mqr_engine_rule_last_error(self._engine, _b(rule_id), ctypes.byref(err))
        if rc != OK:
            raise_status(rc)
        return _error_dict(err)

    def reset_metrics(self, rule_id):
        """Zero rule ``rule_id``'s counters and those of its actions.
        MqttruleError (MQR_ENOTFOUND) for an unknown id."""
        self._check()
        rc = L.mqr_engine_rule_metrics_reset(self._engine, _b(rule_id))
        if rc != OK:
            raise_status(rc)

    def action_metrics(self, action_id):
        """Action ``action_id``'s counters as a dict with the C field names
        (matched, success, failed, dropped, ..., late_reply; kind the
        MQR_ACTION_* number). MqttruleError (MQR_ENOTFOUND)."""
        self._check()
        m = _lib.ActionMetrics()
        rc = L.mqr_engine_action_metrics(self._engine, int(action_id), ctypes.byref(m))
        if rc != OK:
            raise_status(rc)
        return {name: getattr(m, name) for name, _t in m._fields_ if name != "reserved_"}

    def action_last_error(self, action_id):
        """Action ``action_id``'s last error (rendering, publisher, HTTP) as
        last_error() gives a rule's, or None when it has had none."""
        self._check()
        err = _lib.EngineError()
        rc = L.mqr_engine_action_last_error(self._engine, int(action_id), ctypes.byref(err))
        if rc != OK:
            raise_status(rc)
        return _error_dict(err)

    def action_queue_stats(self, action_id):
        """The durable queue counters of action ``action_id`` (queue.h field
        names; "state" as its name, e.g. "memory" or "disk"; "last_error" its
        text). MqttruleError (MQR_ENOTFOUND) when the action has no queue
        (see persist_action)."""
        self._check()
        st = _lib.QueueStats()
        rc = L.mqr_engine_action_queue_stats(self._engine, int(action_id), ctypes.byref(st))
        if rc != OK:
            raise_status(rc)
        out = {name: getattr(st, name) for name, _t in st._fields_}
        out["state"] = L.mqr_queue_state_name(st.state).decode()
        err = L.mqr_engine_action_queue_error(self._engine, int(action_id))
        out["last_error"] = err.decode("utf-8", "replace") if err else ""
        return out

    def topic_listened(self, topic):
        """True when an enabled rule's FROM topic filter matches topic name
        ``topic`` (a host can skip building the message otherwise)."""
        self._check()
        raw = _b(topic)
        out = ctypes.c_uint32()
        rc = L.mqr_engine_topic_listened(self._engine, raw, len(raw), ctypes.byref(out))
        if rc != OK:
            raise_status(rc)
        return bool(out.value)

    def event_listened(self, event_id):
        """True when an enabled rule listens to event ``event_id`` (see
        mqttrule.events())."""
        self._check()
        return bool(L.mqr_engine_event_listened(self._engine, int(event_id)))

    # ---- lifetime ----------------------------------------------------------------

    def close(self):
        """Destroy the engine (pending HTTP messages end as dropped) and
        release the callables; safe to call twice."""
        if self._engine:
            L.mqr_engine_destroy(self._engine)
            self._engine = ctypes.c_void_p()
        if self._columns is not None:
            self._columns.close()
            self._columns = None
        self._callables = []
        self._publishers = {}
        self._rule_actions = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if "_columns" in self.__dict__:  # __init__ got far enough to own memory
            self.close()
