# SPDX-License-Identifier: MIT
"""mqttrule-broker on the wire: raw bytes in, the exact answer (or the
disconnect) out, and the client.connack event of refused CONNECTs
(decision D2). Also QoS handshakes, sessions, retained messages, wills and
keep alive, driven byte by byte."""
import os
import struct
import time

import pytest

from broker_util import reason_props, v5_disconnect
from broker_util import (BROKER, Broker, EventSubscriber, Raw, connect_bytes, packet, publish_bytes,
                         raw_connect, subscribe_bytes)

pytestmark = pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built")


@pytest.fixture(scope="module")
def broker():
    with Broker(config="max_packet_size 1000\n") as b:
        yield b


@pytest.fixture
def events(broker):
    sub = EventSubscriber(broker.port, clientid="events-%d" % time.monotonic_ns())
    yield sub
    sub.close()


def refused_silently(broker, data):
    r = Raw(broker.port)
    r.send(data)
    return r.closed()


def test_bad_remaining_length_closes_and_reports(broker, events):
    assert refused_silently(broker, b"\x10\xff\xff\xff\xff\x01")
    assert events.next_json()["reason_code"] == "malformed_packet"


def test_reserved_fixed_header_flags_close(broker, events):
    assert refused_silently(broker, b"\x12" + connect_bytes(level=4)[1:])
    assert events.next_json()["reason_code"] == "malformed_packet"


def reserved_connect_flag(level):
    c = bytearray(connect_bytes(clientid="r", level=level))
    name_len = 6 if level == 3 else 4
    c[2 + 2 + name_len + 1] |= 1
    return bytes(c)


def test_reserved_connect_flag_v5_gets_malformed_connack(broker, events):
    r = Raw(broker.port)
    r.send(reserved_connect_flag(5))
    first, body = r.read_packet()
    assert (first, body[:2]) == (0x20, b"\x00\x81")
    assert r.closed()
    ev = events.next_json()
    assert ev["reason_code"] == "malformed_packet"


def test_reserved_connect_flag_v311_closes(broker):
    assert refused_silently(broker, reserved_connect_flag(4))


def test_invalid_utf8_client_id(broker, events):
    r = Raw(broker.port)
    r.send(connect_bytes(clientid=b"\xc3\x28", level=5))
    first, body = r.read_packet()
    assert (first, body[:2]) == (0x20, b"\x00\x81")
    assert body[2:].find(b"UTF-8") > 0  # Reason-String
    assert events.next_json()["reason_code"] == "malformed_packet"
    assert refused_silently(broker, connect_bytes(clientid=b"\xc3\x28", level=4))


def test_oversized_connect(broker, events):
    r = Raw(broker.port)
    r.send(connect_bytes(clientid="big", level=5, will=("w", "x" * 2000, 0, False)))
    first, body = r.read_packet()
    assert (first, body[:2]) == (0x20, b"\x00\x95")
    assert events.next_json()["reason_code"] == "packet_too_large"
    assert refused_silently(broker, connect_bytes(clientid="big", level=4, will=("w", "x" * 2000, 0, False)))
    assert events.next_json()["reason_code"] == "packet_too_large"


def test_oversized_publish_gets_disconnect(broker):
    r, ack = raw_connect(broker.port, clientid="bigpub", level=5)
    assert ack[1][1] == 0
    r.send(publish_bytes("t", "y" * 2000, level=5))
    assert r.read_packet() == v5_disconnect(0x95)
    assert r.closed()


def test_second_connect(broker):
    r, _ = raw_connect(broker.port, clientid="two", level=5)
    r.send(connect_bytes(clientid="two", level=5))
    assert r.read_packet() == v5_disconnect(0x82)
    assert r.closed()
    r, _ = raw_connect(broker.port, clientid="two4", level=4)
    r.send(connect_bytes(clientid="two4", level=4))
    assert r.closed()


def test_publish_before_connect(broker):
    assert refused_silently(broker, publish_bytes("a", "x"))


def test_will_topic_with_wildcard(broker, events):
    r = Raw(broker.port)
    r.send(connect_bytes(clientid="w", level=5, will=("a/+", "x", 0, False)))
    first, body = r.read_packet()
    assert (first, body[:2]) == (0x20, b"\x00\x90")
    assert events.next_json()["reason_code"] == "topic_name_invalid"
    # 3.1.1: return code 3; the doc profile names the code on the wire (D1)
    r = Raw(broker.port)
    r.send(connect_bytes(clientid="w", level=4, will=("a/+", "x", 0, False)))
    assert r.read_packet() == (0x20, b"\x00\x03")
    assert events.next_json()["reason_code"] == "server_unavailable"


def test_pingreq(broker):
    r, _ = raw_connect(broker.port, clientid="pinger")
    r.send(b"\xc0\x00")
    assert r.read_packet() == (0xD0, b"")


def test_qos2_both_directions(broker):
    sub, _ = raw_connect(broker.port, clientid="q2sub")
    sub.send(subscribe_bytes(1, [("q2/#", 2)]))
    assert sub.read_packet() == (0x90, b"\x00\x01\x02")
    pub, _ = raw_connect(broker.port, clientid="q2pub")
    pub.send(publish_bytes("q2/a", "hello", qos=2, pid=9))
    assert pub.read_packet() == (0x50, b"\x00\x09")  # PUBREC
    first, body = sub.read_packet()
    assert first == 0x34  # PUBLISH QoS 2
    pid = body[2 + 4:2 + 4 + 2]
    assert body[2 + 4 + 2:] == b"hello"
    pub.send(b"\x62\x02\x00\x09")  # PUBREL
    assert pub.read_packet() == (0x70, b"\x00\x09")  # PUBCOMP
    sub.send(b"\x50\x02" + pid)  # PUBREC
    assert sub.read_packet() == (0x62, pid)  # PUBREL
    sub.send(b"\x70\x02" + pid)  # PUBCOMP
    # a resent QoS 2 PUBLISH with the same id is not routed twice
    pub.send(publish_bytes("q2/a", "again", qos=2, pid=10))
    assert pub.read_packet() == (0x50, b"\x00\x0a")
    pub.send(bytes([0x3C]) + publish_bytes("q2/a", "again", qos=2, pid=10)[1:])
    assert pub.read_packet() == (0x50, b"\x00\x0a")
    first, body = sub.read_packet()
    assert body.endswith(b"again")
    sub.send(b"\x50\x02" + body[6:8])
    sub.read_packet()
    with pytest.raises(Exception):
        sub.read_packet(timeout=0.3)


def test_retained_set_deliver_clear(broker):
    pub, _ = raw_connect(broker.port, clientid="rpub")
    pub.send(publish_bytes("ret/a", "kept", qos=1, retain=True, pid=3))
    assert pub.read_packet() == (0x40, b"\x00\x03")
    sub, _ = raw_connect(broker.port, clientid="rsub")
    sub.send(subscribe_bytes(1, [("ret/+", 0)]))
    assert sub.read_packet() == (0x90, b"\x00\x01\x00")
    first, body = sub.read_packet()
    assert first == 0x31 and body.endswith(b"kept")  # retain flag set
    pub.send(publish_bytes("ret/a", "", qos=0, retain=True))
    time.sleep(0.1)
    sub2, _ = raw_connect(broker.port, clientid="rsub2")
    sub2.send(subscribe_bytes(1, [("ret/+", 0)]))
    assert sub2.read_packet() == (0x90, b"\x00\x01\x00")
    with pytest.raises(Exception):
        sub2.read_packet(timeout=0.3)


def test_wildcards_do_not_match_dollar_topics(broker):
    sub, _ = raw_connect(broker.port, clientid="dollar")
    sub.send(subscribe_bytes(1, [("#", 0), ("+/x", 0)]))
    assert sub.read_packet() == (0x90, b"\x00\x01\x00\x00")
    pub, _ = raw_connect(broker.port, clientid="dpub")
    pub.send(publish_bytes("$app/x", "no"))
    pub.send(publish_bytes("app/x", "yes"))
    while True:  # skip the default rule's client_connack messages
        first, body = sub.read_packet()
        if not body[2:].startswith(b"client_connack"):
            break
    assert body.endswith(b"yes")


def test_will_on_abrupt_close_not_on_disconnect(broker):
    sub, _ = raw_connect(broker.port, clientid="wsub")
    sub.send(subscribe_bytes(1, [("will/#", 1)]))
    sub.read_packet()
    w, ack = raw_connect(broker.port, clientid="dying", will=("will/dying", "gone", 1, False))
    assert ack == (0x20, b"\x00\x00")
    w.close()
    first, body = sub.read_packet()
    assert first >> 4 == 3 and body.endswith(b"gone")
    sub.send(b"\x40\x02" + body[2 + 10:2 + 10 + 2])
    w, _ = raw_connect(broker.port, clientid="polite", will=("will/polite", "gone", 0, False))
    w.send(b"\xe0\x00")
    assert w.closed()
    with pytest.raises(Exception):
        sub.read_packet(timeout=0.3)


def test_persistent_session_queues_and_redelivers(broker):
    s, ack = raw_connect(broker.port, clientid="persist", clean=False)
    s.send(subscribe_bytes(1, [("p/#", 1)]))
    s.read_packet()
    s.send(b"\xe0\x00")
    s.closed()
    pub, _ = raw_connect(broker.port, clientid="ppub")
    pub.send(publish_bytes("p/1", "while-away", qos=1, pid=5))
    assert pub.read_packet() == (0x40, b"\x00\x05")
    s, ack = raw_connect(broker.port, clientid="persist", clean=False)
    assert ack == (0x20, b"\x01\x00")  # session present
    first, body = s.read_packet()
    assert first == 0x32 and body.endswith(b"while-away")
    # not acknowledged: after a reconnect it comes again with DUP
    s.close()
    time.sleep(0.1)
    s, ack = raw_connect(broker.port, clientid="persist", clean=False)
    first, body = s.read_packet()
    assert first == 0x3A and body.endswith(b"while-away")
    s.send(b"\x40\x02" + body[5:7])
    s, ack = raw_connect(broker.port, clientid="persist", clean=True)
    assert ack == (0x20, b"\x00\x00")


def test_takeover(broker):
    a, _ = raw_connect(broker.port, clientid="same", level=5)
    b, ack = raw_connect(broker.port, clientid="same", level=5)
    assert ack[1][:2] == b"\x00\x00"
    assert a.read_packet() == v5_disconnect(0x8E)
    assert a.closed()


def test_keepalive_timeout():
    with Broker() as b:
        r, ack = raw_connect(b.port, clientid="sleepy", keepalive=1, level=5)
        t0 = time.monotonic()
        assert r.read_packet(timeout=5) == v5_disconnect(0x8D)
        assert 1.4 <= time.monotonic() - t0 <= 4


def test_client_maximum_packet_size_is_respected(broker):
    small = b"\x27" + struct.pack(">I", 64)  # Maximum-Packet-Size 64
    sub, ack = raw_connect(broker.port, clientid="tiny", level=5, props=small)
    assert ack[1][1] == 0
    sub.send(subscribe_bytes(1, [("mps/#", 1)], level=5))
    assert sub.read_packet()[0] == 0x90
    pub, _ = raw_connect(broker.port, clientid="mpspub")
    pub.send(publish_bytes("mps/big", "z" * 200, qos=1, pid=1))
    pub.send(publish_bytes("mps/small", "ok", qos=1, pid=2))
    first, body = sub.read_packet()
    assert first == 0x32 and body[2:11] == b"mps/small" and body.endswith(b"ok")


def test_session_expiry_v5():
    with Broker() as b:
        expiry = b"\x11" + struct.pack(">I", 1)  # Session-Expiry-Interval 1 s
        s, ack = raw_connect(b.port, clientid="brief", level=5, clean=False, props=expiry)
        assert ack[1][:2] == b"\x00\x00"
        s.send(b"\xe0\x00")
        assert s.closed()
        s, ack = raw_connect(b.port, clientid="brief", level=5, clean=False, props=expiry)
        assert ack[1][:2] == b"\x01\x00"  # still there
        s.send(b"\xe0\x00")
        assert s.closed()
        time.sleep(2.6)  # expiry plus the one-second timer
        s, ack = raw_connect(b.port, clientid="brief", level=5, clean=False, props=expiry)
        assert ack[1][:2] == b"\x00\x00"  # expired


def test_disconnect_with_will_message_v5(broker):
    sub, _ = raw_connect(broker.port, clientid="w5sub")
    sub.send(subscribe_bytes(1, [("will5/#", 0)]))
    sub.read_packet()
    w, ack = raw_connect(broker.port, clientid="w5", level=5, will=("will5/x", "asked", 0, False))
    w.send(b"\xe0\x01\x04")  # DISCONNECT 0x04: disconnect with will message
    assert w.closed()
    first, body = sub.read_packet()
    assert body.endswith(b"asked")


def test_unsubscribe(broker):
    r, _ = raw_connect(broker.port, clientid="unsub", level=5)
    r.send(subscribe_bytes(1, [("u/#", 0)], level=5))
    r.read_packet()
    body = struct.pack(">H", 2) + b"\x00" + b"\x00\x03u/#" + b"\x00\x03x/y"
    r.send(packet(0xA2, body))
    why = reason_props("no subscription existed for 'x/y'")
    assert r.read_packet() == (0xB0, b"\x00\x02" + why + b"\x00\x11")
    pub, _ = raw_connect(broker.port, clientid="upub")
    pub.send(publish_bytes("u/1", "gone"))
    with pytest.raises(Exception):
        r.read_packet(timeout=0.3)


def test_connection_closed_inside_connect_is_reported(broker, events):
    r = Raw(broker.port)
    r.send(connect_bytes(clientid="halfway", level=4)[:12])
    time.sleep(0.1)
    r.close()
    ev = events.next_json()
    assert ev["reason_code"] == "malformed_packet"


def test_connection_closed_before_any_byte_is_no_event(broker, events):
    Raw(broker.port).close()
    r, _ = raw_connect(broker.port, clientid="after-nothing")
    ev = events.next_json()
    assert ev["clientid"] == "after-nothing"


def test_will_delay_interval():
    with Broker() as b:
        sub, _ = raw_connect(b.port, clientid="wdsub")
        sub.send(subscribe_bytes(1, [("wd/#", 0)]))
        sub.read_packet()
        expiry = b"\x11" + struct.pack(">I", 60)
        delay = b"\x18" + struct.pack(">I", 1) + b"\x26\x00\x01k\x00\x01v"  # delay 1 s, a user property
        # back within the delay: no will
        w, _ = raw_connect(b.port, clientid="wd", level=5, clean=False, props=expiry,
                           will=("wd/x", "late", 0, False), will_props=delay)
        w.close()
        time.sleep(0.2)
        w, ack = raw_connect(b.port, clientid="wd", level=5, clean=False, props=expiry)
        assert ack[1][:2] == b"\x01\x00"
        with pytest.raises(Exception):
            sub.read_packet(timeout=2.5)
        w.send(b"\xe0\x00")
        # gone for good: the will comes after the delay, not at once
        w, _ = raw_connect(b.port, clientid="wd", level=5, clean=False, props=expiry,
                           will=("wd/x", "late", 0, False), will_props=delay)
        t0 = time.monotonic()
        w.close()
        first, body = sub.read_packet(timeout=5)
        assert body.endswith(b"late")
        assert time.monotonic() - t0 >= 0.9


def test_random_bytes_never_break_the_broker():
    import random
    rng = random.Random(20261125)
    valid = [connect_bytes(clientid="fz", level=5), subscribe_bytes(1, [("a/#", 2)], level=5),
             publish_bytes("a/b", "p", qos=2, pid=3, level=5), b"\x62\x02\x00\x03", b"\xc0\x00"]
    with Broker() as b:
        for i in range(300):
            data = bytearray(b"".join(valid[:rng.randint(0, len(valid))]))
            for _ in range(rng.randint(1, 8)):  # flip, insert or cut bytes
                op = rng.randint(0, 2)
                if op == 0 and data:
                    data[rng.randrange(len(data))] = rng.randrange(256)
                elif op == 1:
                    data.insert(rng.randint(0, len(data)), rng.randrange(256))
                elif data:
                    del data[rng.randrange(len(data)):]
            r = Raw(b.port)
            try:
                r.send(bytes(data))
                r.read_packet(timeout=0.02)
            except Exception:
                pass
            r.close()
        r, ack = raw_connect(b.port, clientid="still-alive")
        assert ack == (0x20, b"\x00\x00")
