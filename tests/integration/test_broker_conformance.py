# SPDX-License-Identifier: MIT
"""Protocol violations against the normative statements of MQTT 3.1.1 and 5.0:
each case sends one violating packet over a raw socket (as the first packet,
or after a successful CONNECT) and checks what the broker answers before it
closes the connection. docs/broker.md ("Protocol violations") lists every
statement with the spec's requirement and the broker's choice; the case ids
here are the statement ids."""
import os
import struct

import pytest

from broker_util import (BROKER, Broker, Raw, connect_bytes, mstr, packet, publish_bytes,
                         raw_connect, subscribe_bytes)

pytestmark = pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built")

CLOSE = "close"  # closed without a packet


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        yield b


@pytest.fixture(scope="module")
def limited():
    with Broker(config="max_qos 1\nretain_available no\n") as b:
        yield b


def answer(r):
    """The packets the broker sends before closing, as (type, reason) pairs:
    type the first byte, reason the byte after a packet id for acks or the
    first body byte for CONNACK (return/reason code) and DISCONNECT."""
    out = []
    while True:
        p = r.read_packet()
        if p is None:
            return out
        first, body = p
        if first >> 4 == 2:
            out.append((first, body[1]))
        elif first >> 4 == 14:
            out.append((first, body[0] if body else 0))
        else:
            out.append((first, body))


def first_packet(port, data):
    r = Raw(port)
    try:
        r.send(data)
        return answer(r)
    finally:
        r.close()


def after_connect(port, level, data, clientid):
    r, ack = raw_connect(port, level=level, clientid=clientid)
    try:
        assert ack is not None and ack[0] == 0x20 and ack[1][1] == 0, ack
        r.send(data)
        return answer(r)
    finally:
        r.close()


def flags(data, set_bits=0, clear_bits=0):
    """The CONNECT `data` with its Connect Flags byte changed (a short
    CONNECT: one-byte remaining length, protocol name 'MQTT')."""
    b = bytearray(data)
    b[9] = (b[9] | set_bits) & ~clear_bits & 0xFF
    return bytes(b)


# (statement, first packet, expected answer): CONNECT violations
FIRST = [
    ("3.1.0-1 v4 first packet not CONNECT", b"\xc0\x00", []),
    ("3.1.2-1 v5 wrong protocol name", connect_bytes(level=5, name="MQIsdp"), [(0x20, 0x84)]),
    ("3.1.2-2 v4 unsupported level", connect_bytes(level=6), [(0x20, 0x01)]),
    ("3.1.2-3 v4 reserved connect flag", flags(connect_bytes(), 0x01), []),
    ("3.1.2-3 v5 reserved connect flag", flags(connect_bytes(level=5), 0x01), [(0x20, 0x81)]),
    ("3.1.2-11 v4 will QoS without will flag", flags(connect_bytes(), 0x08), []),
    ("3.1.2-13 v5 will retain without will flag", flags(connect_bytes(level=5), 0x20),
     [(0x20, 0x81)]),
    ("3.1.2-14 v4 will QoS 3", connect_bytes(will=("w", "x", 3, False)), []),
    ("3.1.2-14 v5 will QoS 3", connect_bytes(level=5, will=("w", "x", 3, False)), [(0x20, 0x81)]),
    ("3.1.2-22 v4 password without user name", connect_bytes(password="p"), []),
    ("3.1.3-8 v4 empty client id, clean session 0", connect_bytes(clientid="", clean=False),
     [(0x20, 0x02)]),
    ("1.5.3-1 v4 ill-formed UTF-8 client id", connect_bytes(clientid=b"\xff\xfe"), []),
    ("1.5.4-1 v5 surrogate in client id", connect_bytes(level=5, clientid=b"a\xed\xa0\x80"),
     [(0x20, 0x81)]),
    ("1.5.3-2 v4 NUL in client id", connect_bytes(clientid=b"a\x00b"), []),
    ("1.5.5-1 remaining length of 5 bytes", b"\x10\xff\xff\xff\xff\x7f", []),
    ("3.1.2-? v5 Receive-Maximum 0", connect_bytes(level=5, props=b"\x21\x00\x00"),
     [(0x20, 0x82)]),
    ("3.1.2-? v5 Maximum-Packet-Size 0", connect_bytes(level=5, props=b"\x27\x00\x00\x00\x00"),
     [(0x20, 0x82)]),
    ("2.2.2-2 v5 property twice", connect_bytes(level=5, props=b"\x21\x00\x05\x21\x00\x05"),
     [(0x20, 0x82)]),
    ("3.1.2-? v5 Request-Problem-Information 2", connect_bytes(level=5, props=b"\x17\x02"),
     [(0x20, 0x82)]),
    ("3.1.2-? v5 Authentication-Data without method",
     connect_bytes(level=5, props=b"\x16\x00\x01x"), [(0x20, 0x82)]),
    ("3.1.3-? v5 will property not allowed in a will",
     connect_bytes(level=5, will=("w", "x", 0, False), will_props=b"\x0b\x01"), [(0x20, 0x82)]),
    ("3.1.3-11 v4 will topic with a wildcard", connect_bytes(will=("a/#", "x", 0, False)),
     [(0x20, 0x03)]),
]


@pytest.mark.parametrize("data,expect", [c[1:] for c in FIRST], ids=[c[0] for c in FIRST])
def test_connect_violation(broker, data, expect):
    assert first_packet(broker.port, data) == expect


def sub5(filter_, opts):
    return subscribe_bytes(1, [(filter_, opts)], level=5)


# (statement, protocol level, packet after CONNECT, expected answer)
AFTER = [
    ("3.1.0-2 v4 second CONNECT", 4, connect_bytes(clientid="c2"), []),
    ("3.1.0-2 v5 second CONNECT", 5, connect_bytes(level=5, clientid="c2"), [(0xE0, 0x82)]),
    ("3.3.1-4 v4 PUBLISH QoS 3", 4, packet(0x36, mstr("t") + b"\x00\x01x"), []),
    ("3.3.1-4 v5 PUBLISH QoS 3", 5, packet(0x36, mstr("t") + b"\x00\x01\x00x"), [(0xE0, 0x81)]),
    ("3.3.1-2 v5 DUP on QoS 0", 5, packet(0x38, mstr("t") + b"\x00x"), [(0xE0, 0x82)]),
    ("3.3.2-2 v4 wildcard in Topic Name", 4, publish_bytes("a/+", "x"), []),
    ("3.3.2-2 v5 wildcard in Topic Name", 5, publish_bytes("a/#", "x", level=5), [(0xE0, 0x90)]),
    ("4.7.3-1 v4 empty Topic Name", 4, publish_bytes("", "x"), []),
    ("3.3.2-? v5 empty Topic Name without alias", 5, publish_bytes("", "x", level=5),
     [(0xE0, 0x82)]),
    ("4.7.3-2 v5 NUL in Topic Name", 5, publish_bytes("a\x00b", "x", level=5), [(0xE0, 0x81)]),
    ("1.5.3-1 v4 surrogate in Topic Name", 4, packet(0x30, mstr(b"a\xed\xa0\x80") + b"x"), []),
    ("2.2.1-3 v4 PUBLISH QoS 1 packet id 0", 4, publish_bytes("t", "x", qos=1, pid=0), []),
    ("2.2.1-3 v5 PUBLISH QoS 1 packet id 0", 5, publish_bytes("t", "x", qos=1, pid=0, level=5),
     [(0xE0, 0x82)]),
    ("2.3.1-1 v4 SUBSCRIBE packet id 0", 4, subscribe_bytes(0, [("t", 0)]), []),
    ("3.8.1-1 v4 SUBSCRIBE reserved flags", 4,
     packet(0x80, struct.pack(">H", 1) + mstr("t") + b"\x00"), []),
    ("3.8.3-3 v4 SUBSCRIBE without filters", 4, packet(0x82, struct.pack(">H", 1)), []),
    ("3.8.3-2 v5 SUBSCRIBE without filters", 5, packet(0x82, struct.pack(">H", 1) + b"\x00"),
     [(0xE0, 0x82)]),
    ("3.8.3-4 v4 SUBSCRIBE reserved option bits", 4, subscribe_bytes(1, [("t", 0x04)]), []),
    ("3.8.3-4 v4 SUBSCRIBE QoS 3", 4, subscribe_bytes(1, [("t", 3)]), []),
    ("3.8.3-4 v5 No Local on a shared subscription", 5, sub5("$share/g/t", 0x04),
     [(0xE0, 0x82)]),
    ("3.8.3-5 v5 SUBSCRIBE reserved option bits", 5, sub5("t", 0xC0), [(0xE0, 0x81)]),
    ("3.8.3-? v5 SUBSCRIBE QoS 3", 5, sub5("t", 0x03), [(0xE0, 0x81)]),
    ("3.8.3-? v5 Retain Handling 3", 5, sub5("t", 0x30), [(0xE0, 0x82)]),
    ("3.8.2-? v5 Subscription-Identifier 0", 5,
     packet(0x82, struct.pack(">H", 1) + b"\x02\x0b\x00" + mstr("t") + b"\x00"), [(0xE0, 0x82)]),
    ("4.7.1-1 v4 misplaced multi-level wildcard", 4, subscribe_bytes(1, [("a/#/b", 0)]), []),
    ("4.7.1-2 v5 misplaced single-level wildcard", 5, sub5("a+", 0), [(0xE0, 0x8F)]),
    ("4.7.3-1 v5 empty Topic Filter", 5, sub5("", 0), [(0xE0, 0x8F)]),
    ("3.10.1-1 v4 UNSUBSCRIBE reserved flags", 4,
     packet(0xA0, struct.pack(">H", 1) + mstr("t")), []),
    ("3.10.3-2 v4 UNSUBSCRIBE without filters", 4, packet(0xA2, struct.pack(">H", 1)), []),
    ("3.10.3-2 v5 UNSUBSCRIBE without filters", 5, packet(0xA2, struct.pack(">H", 1) + b"\x00"),
     [(0xE0, 0x82)]),
    ("3.6.1-1 v4 PUBREL reserved flags", 4, packet(0x60, struct.pack(">H", 1)), []),
    ("2.2.2-2 v4 PINGREQ reserved flags", 4, b"\xc1\x00", []),
    ("3.14.1-1 v4 DISCONNECT reserved flags", 4, b"\xe1\x00", []),
    ("2.2.1-? v4 reserved packet type 0", 4, b"\x00\x00", []),
    ("2.2.1-? v4 AUTH in 3.1.1", 4, b"\xf0\x00", []),
    ("4.8.0-1 v4 CONNACK from a client", 4, b"\x20\x02\x00\x00", []),
    ("3.3.2-7 v5 Topic Alias 0", 5, packet(0x30, mstr("t") + b"\x03\x23\x00\x00x"),
     [(0xE0, 0x94)]),
    ("3.3.2-9 v5 Topic Alias above the maximum", 5,
     packet(0x30, mstr("t") + b"\x03\x23\xff\xffx"), [(0xE0, 0x94)]),
    ("3.3.2-? v5 unknown Topic Alias with empty topic", 5,
     packet(0x30, mstr("") + b"\x03\x23\x00\x01x"), [(0xE0, 0x82)]),
    ("3.3.4-6 v5 Subscription-Identifier from a client", 5,
     packet(0x30, mstr("t") + b"\x02\x0b\x01x"), [(0xE0, 0x82)]),
    ("3.3.2-14 v5 wildcard in Response-Topic", 5,
     packet(0x30, mstr("t") + b"\x04\x08\x00\x01#x"), [(0xE0, 0x82)]),
    ("3.14.2-? v5 DISCONNECT Session-Expiry from 0", 5,
     packet(0xE0, b"\x00\x05\x11\x00\x00\x00\x01"), [(0xE0, 0x82)]),
    ("3.14.2-? v5 DISCONNECT invalid reason code", 5, packet(0xE0, b"\x05"), [(0xE0, 0x82)]),
    ("3.4.2-? v5 PUBACK invalid reason code", 5, packet(0x40, b"\x00\x01\x05"), [(0xE0, 0x82)]),
    ("2.2.2-2 v5 PINGREQ reserved flags", 5, b"\xc1\x00", [(0xE0, 0x81)]),
    ("2.2.2-2 v5 DISCONNECT reserved flags", 5, b"\xe1\x00", [(0xE0, 0x81)]),
    ("3.8.1-1 v5 SUBSCRIBE reserved flags", 5,
     packet(0x80, struct.pack(">H", 1) + b"\x00" + mstr("t") + b"\x00"), [(0xE0, 0x81)]),
    ("3.6.1-1 v5 PUBREL reserved flags", 5, packet(0x60, struct.pack(">H", 1)), [(0xE0, 0x81)]),
    ("2.2.1-? v5 reserved packet type 0", 5, b"\x00\x00", [(0xE0, 0x81)]),
    ("4.8.0-1 v5 CONNACK from a client", 5, b"\x20\x03\x00\x00\x00", [(0xE0, 0x82)]),
    ("4.7.1-? v5 bad shared subscription name", 5, sub5("$share/g+/t", 0), [(0xE0, 0x8F)]),
]


@pytest.mark.parametrize("level,data,expect", [c[1:] for c in AFTER], ids=[c[0] for c in AFTER])
def test_violation_after_connect(broker, level, data, expect):
    # each case its own client id: a reused id would take the session over
    clientid = "conf-%d" % (abs(hash(data)) % 10 ** 8)
    assert after_connect(broker.port, level, data, clientid) == expect


def test_pubrel_for_unknown_packet_id(broker):
    """[MQTT-4.3.3-?] PUBCOMP answers a PUBREL whatever its packet id: 0x00
    for 3.1.1, 0x92 (Packet Identifier not found) for 5; the connection stays."""
    for level, want in ((4, b"\x00\x07"), (5, b"\x00\x07\x92")):
        r, ack = raw_connect(broker.port, level=level, clientid="pubrel-%d" % level)
        r.send(packet(0x62, struct.pack(">H", 7)))
        assert r.read_packet() == (0x70, want)
        r.send(b"\xc0\x00")
        assert r.read_packet() == (0xD0, b"")
        r.close()


def test_resent_qos2_is_not_delivered_twice(broker):
    """[MQTT-4.3.3-9]: until the PUBREL, a PUBLISH with the same packet id is
    acknowledged again (PUBREC) and not delivered again."""
    r, ack = raw_connect(broker.port, clientid="qos2-twice")
    r.send(subscribe_bytes(1, [("q2/t", 0)]))
    assert r.read_packet()[0] == 0x90
    r.send(publish_bytes("q2/t", "one", qos=2, pid=9))
    got = [r.read_packet(), r.read_packet()]
    assert (0x30, mstr("q2/t") + b"one") in got and (0x50, b"\x00\x09") in got
    r.send(publish_bytes("q2/t", "one", qos=2, pid=9))
    assert r.read_packet() == (0x50, b"\x00\x09")
    r.send(b"\xc0\x00")
    assert r.read_packet() == (0xD0, b"")  # no second delivery came before it
    r.close()


def test_dollar_topics_do_not_match_leading_wildcards(broker):
    """[MQTT-4.7.2-1]: '#' and '+/y' do not match '$x/y'."""
    r, ack = raw_connect(broker.port, clientid="dollar")
    r.send(subscribe_bytes(1, [("#", 0), ("+/y", 0)]))
    assert r.read_packet()[0] == 0x90
    r.send(publish_bytes("$x/y", "z"))
    r.send(b"\xc0\x00")
    assert r.read_packet() == (0xD0, b"")
    r.close()


LIMITED = [
    ("3.2.2-11 v5 PUBLISH QoS above Maximum-QoS", 5,
     publish_bytes("t", "x", qos=2, pid=1, level=5), [(0xE0, 0x9B)]),
    ("3.2.2-14 v5 PUBLISH retain when not available", 5,
     publish_bytes("t", "x", retain=True, level=5), [(0xE0, 0x9A)]),
    ("v4 PUBLISH QoS above max_qos", 4, publish_bytes("t", "x", qos=2, pid=1), []),
    ("v4 PUBLISH retain when not available", 4, publish_bytes("t", "x", retain=True), []),
]


@pytest.mark.parametrize("level,data,expect", [c[1:] for c in LIMITED],
                         ids=[c[0] for c in LIMITED])
def test_unsupported_qos_and_retain(limited, level, data, expect):
    clientid = "lim-%d" % (abs(hash(data)) % 10 ** 8)
    assert after_connect(limited.port, level, data, clientid) == expect


def test_will_qos_and_retain_not_supported(limited):
    """[MQTT-3.2.2-12] / [MQTT-3.2.2-15]: CONNACK 0x9B / 0x9A for 5; 3.1.1
    has no such code and gets 0x03 (Server unavailable)."""
    assert first_packet(limited.port, connect_bytes(level=5, will=("w", "x", 2, False))) == \
        [(0x20, 0x9B)]
    assert first_packet(limited.port, connect_bytes(level=5, will=("w", "x", 0, True))) == \
        [(0x20, 0x9A)]
    assert first_packet(limited.port, connect_bytes(will=("w", "x", 0, True))) == [(0x20, 0x03)]


def test_subscribe_qos_above_maximum_is_granted_lower(limited):
    """[MQTT-3.8.4-6]: the broker grants its Maximum QoS, it does not refuse."""
    r, ack = raw_connect(limited.port, level=5, clientid="grant")
    r.send(subscribe_bytes(1, [("t", 2)], level=5))
    assert r.read_packet() == (0x90, b"\x00\x01\x00\x01")
    r.close()


@pytest.mark.parametrize("rc,published", [(0x00, False), (0x04, True), (0x80, True), (0x83, True)])
def test_will_after_disconnect_reason(broker, rc, published):
    """[MQTT-3.1.2-8]: the will is published when the connection closes
    unless a DISCONNECT with Reason Code 0x00 deleted it; 0x04 and the error
    codes (0x80 and above) keep it. (The broker used to drop it for every
    code but 0x04.)"""
    sub, _ = raw_connect(broker.port, clientid="wsub-%x" % rc)
    sub.send(subscribe_bytes(1, [("willrc/%x" % rc, 0)]))
    assert sub.read_packet()[0] == 0x90
    w, ack = raw_connect(broker.port, clientid="wpub-%x" % rc, level=5,
                         will=("willrc/%x" % rc, "bye", 0, False))
    w.send(bytes([0xE0, 1, rc]))
    assert w.closed()
    w.close()
    sub.send(b"\xc0\x00")  # PINGRESP comes after a will published before it
    got = sub.read_packet()
    if published:
        assert got == (0x30, mstr("willrc/%x" % rc) + b"bye")
        got = sub.read_packet()
    assert got == (0xD0, b"")
    sub.close()


@pytest.mark.parametrize("level", [4, 5])
def test_pubrel_resent_on_reconnect(broker, level):
    """[MQTT-4.4.0-1]: a QoS 2 delivery the client acknowledged with PUBREC
    but not PUBCOMP is resumed with PUBREL (same packet id), not a PUBLISH."""
    kw = dict(level=level, clean=False, clientid="relsub-%d" % level)
    if level == 5:
        kw["props"] = b"\x11\x00\x00\x00\x3c"  # Session-Expiry-Interval 60
    topic = "rel/%d" % level
    s, _ = raw_connect(broker.port, **kw)
    s.send(subscribe_bytes(1, [(topic, 2)], level=level))
    assert s.read_packet()[0] == 0x90
    p, _ = raw_connect(broker.port, clientid="relpub-%d" % level)
    p.send(publish_bytes(topic, "m", qos=2, pid=1))
    assert p.read_packet() == (0x50, b"\x00\x01")
    p.send(packet(0x62, b"\x00\x01"))
    assert p.read_packet() == (0x70, b"\x00\x01")
    first, body = s.read_packet()
    assert first == 0x34
    pid = body[2 + len(topic):4 + len(topic)]
    s.send(packet(0x50, pid))
    assert s.read_packet() == (0x62, pid)
    s.close()
    s, ack = raw_connect(broker.port, **kw)
    assert ack[1][0] == 1  # session present
    assert s.read_packet() == (0x62, pid)
    s.close()
    p.close()


def test_resubscribe_replaces_and_resends_retained(broker):
    """[MQTT-3.8.4-3]: an identical filter replaces the subscription and the
    retained messages are sent again."""
    p, _ = raw_connect(broker.port, clientid="rr-pub")
    p.send(publish_bytes("rr/1", "kept", retain=True))
    p.send(b"\xc0\x00")
    assert p.read_packet() == (0xD0, b"")
    s, _ = raw_connect(broker.port, clientid="rr-sub")
    for pid in (1, 2):
        s.send(subscribe_bytes(pid, [("rr/#", 0)]))
        assert s.read_packet() == (0x90, bytes([0, pid, 0]))
        assert s.read_packet() == (0x31, mstr("rr/1") + b"kept")
    s.close()
    p.close()
