# SPDX-License-Identifier: MIT
"""MQTT 5 features of mqttrule-broker, driven with raw packets built here and
checked byte for byte on the wire: CONNACK properties, session and message
expiry, will delay, subscription options and identifiers, topic aliases in
both directions, flow control, maximum packet size, problem information,
shared subscriptions, property pass-through and enhanced authentication."""
import hashlib
import hmac
import struct
import time

import pytest

from broker_util import reason_props, v5_disconnect
from broker_util import (BROKER, Broker, EventSubscriber, Raw, connect_bytes, mstr, packet,
                         publish_bytes, raw_connect, subscribe_bytes, varint)
import os

pytestmark = pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built")

# ---- properties --------------------------------------------------------------------------

BYTE = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A}
U16 = {0x13, 0x21, 0x22, 0x23}
U32 = {0x02, 0x11, 0x18, 0x27}
VARINT = {0x0B}
STRING = {0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F}
BINARY = {0x09, 0x16}
PAIR = {0x26}


def props(*items):
    """Encode (id, value) pairs in order (a pair's value is a (name, value) tuple)."""
    out = b""
    for pid, v in items:
        out += varint(pid)
        if pid in BYTE:
            out += bytes([v])
        elif pid in U16:
            out += struct.pack(">H", v)
        elif pid in U32:
            out += struct.pack(">I", v)
        elif pid in VARINT:
            out += varint(v)
        elif pid in STRING or pid in BINARY:
            out += mstr(v)
        else:
            out += mstr(v[0]) + mstr(v[1])
    return out


def read_varint(buf, i):
    n, mult = 0, 1
    while True:
        b = buf[i]
        i += 1
        n += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            return n, i


def parse_props(buf, i):
    """(list of (id, value) in wire order, index after the properties)."""
    length, i = read_varint(buf, i)
    end = i + length
    out = []
    while i < end:
        pid, i = read_varint(buf, i)
        if pid in BYTE:
            v, i = buf[i], i + 1
        elif pid in U16:
            v, i = struct.unpack(">H", buf[i:i + 2])[0], i + 2
        elif pid in U32:
            v, i = struct.unpack(">I", buf[i:i + 4])[0], i + 4
        elif pid in VARINT:
            v, i = read_varint(buf, i)
        elif pid in STRING or pid in BINARY:
            n = struct.unpack(">H", buf[i:i + 2])[0]
            v = buf[i + 2:i + 2 + n]
            v = v.decode() if pid in STRING else bytes(v)
            i += 2 + n
        else:
            n = struct.unpack(">H", buf[i:i + 2])[0]
            name = buf[i + 2:i + 2 + n].decode()
            i += 2 + n
            n = struct.unpack(">H", buf[i:i + 2])[0]
            v = (name, buf[i + 2:i + 2 + n].decode())
            i += 2 + n
        out.append((pid, v))
    return out, end


def connack(pkt):
    """(session present, reason code, properties as a dict) of a v5 CONNACK."""
    first, body = pkt
    assert first == 0x20, pkt
    pr, _ = parse_props(body, 2)
    return body[0], body[1], dict(pr)


def publish(pkt):
    """(topic, qos, retain, packet id, property list, payload) of a v5 PUBLISH."""
    first, body = pkt
    assert first >> 4 == 3, pkt
    qos = (first >> 1) & 3
    tlen = struct.unpack(">H", body[:2])[0]
    topic = body[2:2 + tlen].decode()
    i = 2 + tlen
    pid = None
    if qos:
        pid = struct.unpack(">H", body[i:i + 2])[0]
        i += 2
    pr, i = parse_props(body, i)
    return topic, qos, first & 1, pid, pr, body[i:]


def pub5(topic, payload, qos=0, retain=False, pid=1, prs=b""):
    body = mstr(topic)
    if qos:
        body += struct.pack(">H", pid)
    body += varint(len(prs)) + prs
    if isinstance(payload, str):
        payload = payload.encode()
    return packet(0x30 | (qos << 1) | (1 if retain else 0), body + payload)


def sub5(pid, filters, prs=b""):
    body = struct.pack(">H", pid) + varint(len(prs)) + prs
    for f, opts in filters:
        body += mstr(f) + bytes([opts])
    return packet(0x82, body)


def c5(port, cid, prs=b"", **kw):
    r, ack = raw_connect(port, clientid=cid, level=5, props=prs, **kw)
    assert ack is not None and ack[1][1] == 0, ack
    return r, ack


def subscribed(r, filters, prs=b"", pid=1):
    r.send(sub5(pid, filters, prs))
    first, body = r.read_packet()
    assert first == 0x90, (first, body)
    _, i = parse_props(body, 2)
    return list(body[i:])


def nothing(r, timeout=0.4):
    try:
        return r.read_packet(timeout=timeout) is None
    except OSError:
        return True


def puback(pid):
    return packet(0x40, struct.pack(">H", pid))


@pytest.fixture
def broker():
    with Broker(config="topic_alias_maximum 4\nreceive_maximum 2\n") as b:
        yield b


# ---- CONNECT / CONNACK -----------------------------------------------------------------


def test_connack_advertises_limits_keepalive_and_response_information():
    conf = ("max_keepalive 30\nreceive_maximum 5\ntopic_alias_maximum 4\n"
            "response_information resp/\n")
    with Broker(config=conf) as b:
        r, ack = c5(b.port, "ka", props(
            (0x19, 1),), keepalive=120)
        _, rc, pr = connack(ack)
        assert rc == 0
        assert pr[0x21] == 5 and pr[0x22] == 4 and pr[0x13] == 30 and pr[0x1A] == "resp/"
        assert 0x2A not in pr and 0x29 not in pr  # shared subs and ids available
        r2, ack = c5(b.port, "ka2", keepalive=10)  # under the maximum, no response info
        _, _, pr = connack(ack)
        assert 0x13 not in pr and 0x1A not in pr
        r3, ack = c5(b.port, "ka0", keepalive=0)  # 0 means no limit: capped too
        assert connack(ack)[2][0x13] == 30


def test_assigned_client_identifier(broker):
    r, ack = raw_connect(broker.port, clientid="", level=5)
    _, rc, pr = connack(ack)
    assert rc == 0 and pr[0x12].startswith("auto-")


def test_session_expiry_set_at_disconnect():
    with Broker() as b:
        r, _ = c5(b.port, "sx", clean=False, prs=props((0x11, 60)))
        r.send(packet(0xE0, b"\x00" + varint(5) + props((0x11, 0))))  # expiry now 0
        assert r.closed()
        _, ack = c5(b.port, "sx", clean=False)
        assert connack(ack)[0] == 0  # the session ended at the disconnect
        r, _ = c5(b.port, "sy", clean=False)  # expiry 0 in CONNECT ...
        r.send(packet(0xE0, b"\x00" + varint(5) + props((0x11, 60))))  # ... cannot grow
        assert r.read_packet() == v5_disconnect(0x82)


# ---- message expiry -------------------------------------------------------------------


def test_message_expiry_is_decremented_and_expired_messages_dropped():
    with Broker() as b:
        s, _ = c5(b.port, "mx", clean=False, prs=props((0x11, 60)))
        assert subscribed(s, [("mx/#", 1)]) == [1]
        s.send(b"\xe0\x00")
        assert s.closed()
        p, _ = c5(b.port, "mxpub")
        p.send(pub5("mx/long", "L", qos=1, pid=1, prs=props((0x02, 30))))
        p.send(pub5("mx/short", "S", qos=1, pid=2, prs=props((0x02, 1))))
        p.read_packet()
        p.read_packet()
        time.sleep(2.2)
        s, ack = c5(b.port, "mx", clean=False, prs=props((0x11, 60)))
        assert connack(ack)[0] == 1
        topic, qos, _, pid, pr, payload = publish(s.read_packet())
        assert topic == "mx/long" and payload == b"L"
        assert 26 <= dict(pr)[0x02] <= 28  # 30 s minus the 2 s it waited
        s.send(puback(pid))
        assert nothing(s)  # mx/short expired while queued


def test_expired_retained_message_is_not_delivered():
    with Broker() as b:
        p, _ = c5(b.port, "rxp")
        p.send(pub5("rx/t", "old", retain=True, prs=props((0x02, 1))))
        p.send(pub5("rx/k", "kept", retain=True, prs=props((0x02, 100))))
        time.sleep(1.3)
        s, _ = c5(b.port, "rxs")
        subscribed(s, [("rx/#", 0)])
        topic, _, retain, _, pr, payload = publish(s.read_packet())
        assert (topic, retain, payload) == ("rx/k", 1, b"kept") and dict(pr)[0x02] <= 99
        assert nothing(s)


# ---- will delay ------------------------------------------------------------------------


def will_client(port, cid, session_expiry, will_delay):
    """A subscriber to CID/# and a v5 client CID with a delayed will on CID/x
    that then drops its connection without DISCONNECT; returns the subscriber."""
    sub, _ = c5(port, cid + "-sub")
    subscribed(sub, [(cid + "/#", 0)])
    w = Raw(port)
    w.send(connect_bytes(cid, level=5, clean=False, props=props((0x11, session_expiry)),
                         will=(cid + "/x", "will", 0, False),
                         will_props=props((0x18, will_delay))))
    assert connack(w.read_packet())[1] == 0
    w.close()
    return sub


def test_will_cancelled_by_reconnect_within_delay():
    with Broker() as b:
        w_sub = will_client(b.port, "wd", 60, 2)  # the will waits 2 s
        time.sleep(0.5)
        w, _ = c5(b.port, "wd", clean=False, prs=props((0x11, 60)))
        assert nothing(w_sub, timeout=3.0)  # cancelled


def test_will_delay_bounded_by_session_expiry():
    with Broker() as b:
        t0 = time.monotonic()
        w_sub = will_client(b.port, "wb", 1, 100)  # the session ends after 1 s
        topic, _, _, _, _, payload = publish(w_sub.read_packet(timeout=4))
        assert (topic, payload) == ("wb/x", b"will") and time.monotonic() - t0 < 3.5


# ---- subscription options ------------------------------------------------------------------


def test_no_local(broker):
    r, _ = c5(broker.port, "nl")
    subscribed(r, [("nl/t", 0x04)])  # No Local
    r.send(pub5("nl/t", "self"))
    assert nothing(r)
    o, _ = c5(broker.port, "nl-other")
    o.send(pub5("nl/t", "other"))
    assert publish(r.read_packet())[5] == b"other"


def test_retain_as_published(broker):
    p, _ = c5(broker.port, "rap-pub")
    a, _ = c5(broker.port, "rap-a")
    n, _ = c5(broker.port, "rap-n")
    subscribed(a, [("rap/#", 0x08)])
    subscribed(n, [("rap/#", 0x00)])
    p.send(pub5("rap/t", "x", retain=True))
    assert publish(a.read_packet())[2] == 1
    assert publish(n.read_packet())[2] == 0


def test_retain_handling(broker):
    p, _ = c5(broker.port, "rh-pub")
    p.send(pub5("rh/t", "kept", retain=True))
    time.sleep(0.1)
    r0, _ = c5(broker.port, "rh0")
    subscribed(r0, [("rh/#", 0x00)])
    assert publish(r0.read_packet())[5] == b"kept"
    subscribed(r0, [("rh/#", 0x00)], pid=2)  # again: sent again
    assert publish(r0.read_packet())[5] == b"kept"
    r1, _ = c5(broker.port, "rh1")
    subscribed(r1, [("rh/#", 0x10)])  # 1: only for a new subscription
    assert publish(r1.read_packet())[5] == b"kept"
    subscribed(r1, [("rh/#", 0x10)], pid=2)
    assert nothing(r1)
    r2, _ = c5(broker.port, "rh2")
    subscribed(r2, [("rh/#", 0x20)])  # 2: never
    assert nothing(r2)


# ---- subscription identifiers and overlapping subscriptions ---------------------------------


def test_overlapping_subscriptions_one_copy_with_every_identifier(broker):
    s, _ = c5(broker.port, "ov")
    assert subscribed(s, [("ov/#", 0)], props((0x0B, 7))) == [0]
    assert subscribed(s, [("ov/+/x", 1)], props((0x0B, 300)), pid=2) == [1]
    assert subscribed(s, [("other/#", 1)], props((0x0B, 9)), pid=3) == [1]
    p, _ = c5(broker.port, "ov-pub")
    p.send(pub5("ov/a/x", "hi", qos=1))
    topic, qos, _, pid, pr, payload = publish(s.read_packet())
    assert (topic, qos, payload) == ("ov/a/x", 1, b"hi")
    assert sorted(v for k, v in pr if k == 0x0B) == [7, 300]
    s.send(puback(pid))
    assert nothing(s)  # one copy only


def test_overlapping_subscriptions_v311_highest_qos(broker):
    s, _ = raw_connect(broker.port, clientid="ov3")
    s.send(subscribe_bytes(1, [("o3/#", 0), ("o3/+", 2)]))
    assert s.read_packet() == (0x90, b"\x00\x01\x00\x02")
    p, _ = raw_connect(broker.port, clientid="ov3-pub")
    p.send(publish_bytes("o3/t", "m", qos=2, pid=5))
    first, body = s.read_packet()
    assert first == 0x34 and body[2:6] == b"o3/t"
    assert nothing(s)


def test_queued_message_keeps_its_subscription_identifier(broker):
    s, _ = c5(broker.port, "qid", clean=False, prs=props((0x11, 60)))
    subscribed(s, [("qid/#", 1)], props((0x0B, 77)))
    s.send(b"\xe0\x00")
    assert s.closed()
    p, _ = c5(broker.port, "qid-pub")
    p.send(pub5("qid/t", "while away", qos=1))
    assert p.read_packet()[0] == 0x40
    s, ack = c5(broker.port, "qid", clean=False, prs=props((0x11, 60)))
    topic, qos, _, _, pr, payload = publish(s.read_packet())
    assert (topic, qos, payload) == ("qid/t", 1, b"while away") and dict(pr)[0x0B] == 77


def test_retained_message_carries_the_subscription_identifier(broker):
    p, _ = c5(broker.port, "rid-pub")
    p.send(pub5("rid/t", "r", retain=True))
    time.sleep(0.1)
    s, _ = c5(broker.port, "rid")
    subscribed(s, [("rid/#", 0)], props((0x0B, 42)))
    assert dict(publish(s.read_packet())[4])[0x0B] == 42


# ---- topic aliases -----------------------------------------------------------------------


def test_incoming_topic_alias(broker):
    s, _ = c5(broker.port, "ta-sub")
    subscribed(s, [("ta/#", 0)])
    p, _ = c5(broker.port, "ta-pub")
    p.send(pub5("ta/long/topic", "1", prs=props((0x23, 3))))
    p.send(pub5("", "2", prs=props((0x23, 3))))
    p.send(pub5("ta/other", "3", prs=props((0x23, 3))))  # remapped
    p.send(pub5("", "4", prs=props((0x23, 3))))
    got = [publish(s.read_packet()) for _ in range(4)]
    assert [(g[0], g[5]) for g in got] == [("ta/long/topic", b"1"), ("ta/long/topic", b"2"),
                                           ("ta/other", b"3"), ("ta/other", b"4")]
    assert all(0x23 not in dict(g[4]) for g in got)  # not forwarded


@pytest.mark.parametrize("alias,topic,code", [(5, "ta/x", 0x94), (0, "ta/x", 0x94),
                                              (2, "", 0x82)])
def test_bad_incoming_topic_alias(broker, alias, topic, code):
    p, _ = c5(broker.port, "ta-bad")
    p.send(pub5(topic, "x", prs=props((0x23, alias))))
    assert p.read_packet() == v5_disconnect(code)


def test_outgoing_topic_alias(broker):
    s, _ = c5(broker.port, "tao", props((0x22, 1)))  # the client accepts one alias
    subscribed(s, [("tao/#", 0)])
    p, _ = c5(broker.port, "tao-pub")
    for t in ["tao/a", "tao/a", "tao/b", "tao/a"]:
        p.send(pub5(t, t))
    got = [publish(s.read_packet()) for _ in range(4)]
    assert [(g[0], dict(g[4]).get(0x23), g[5]) for g in got] == [
        ("tao/a", 1, b"tao/a"), ("", 1, b"tao/a"), ("tao/b", None, b"tao/b"), ("", 1, b"tao/a")]


def test_no_outgoing_alias_without_client_maximum(broker):
    s, _ = c5(broker.port, "tan")
    subscribed(s, [("tan/#", 0)])
    p, _ = c5(broker.port, "tan-pub")
    p.send(pub5("tan/a", "1"))
    p.send(pub5("tan/a", "2"))
    for _ in range(2):
        topic, _, _, _, pr, _ = publish(s.read_packet())
        assert topic == "tan/a" and 0x23 not in dict(pr)


# ---- flow control -----------------------------------------------------------------------------


def test_client_receive_maximum_is_honoured(broker):
    s, _ = c5(broker.port, "rm", props((0x21, 2)))
    subscribed(s, [("rm/#", 1)])
    p, _ = c5(broker.port, "rm-pub")
    for i in range(5):
        p.send(pub5("rm/t", str(i), qos=1, pid=i + 1))
    first = [publish(s.read_packet()) for _ in range(2)]
    assert [f[5] for f in first] == [b"0", b"1"]
    assert nothing(s)  # window full
    s.send(puback(first[0][3]))
    third = publish(s.read_packet())
    assert third[5] == b"2"
    assert nothing(s)


def test_exceeding_the_broker_receive_maximum_disconnects(broker):
    p, ack = c5(broker.port, "rmx")
    assert connack(ack)[2][0x21] == 2
    for i in range(2):
        p.send(pub5("rmx/t", "q2", qos=2, pid=i + 1))
        assert p.read_packet()[0] == 0x50  # PUBREC; no PUBREL sent
    p.send(pub5("rmx/t", "q2", qos=2, pid=3))
    assert p.read_packet() == v5_disconnect(0x93)


# ---- maximum packet size -----------------------------------------------------------------------


def test_packet_too_large_both_ways():
    with Broker(config="max_packet_size 200\n") as b:
        _, ack = c5(b.port, "mp")
        assert connack(ack)[2][0x27] == 200
        s, _ = c5(b.port, "mps", props((0x27, 60)))
        subscribed(s, [("mp/#", 0)])
        p, _ = c5(b.port, "mpp")
        p.send(pub5("mp/t", "x" * 100))  # fits the broker, not the subscriber
        p.send(pub5("mp/t", "small"))
        assert publish(s.read_packet())[5] == b"small"
        p.send(pub5("mp/t", "y" * 300))  # above the broker's maximum
        assert p.read_packet() == v5_disconnect(0x95)


# ---- problem information and reason strings ----------------------------------------------------


def test_reason_string_only_when_problem_information_allowed():
    with Broker(config="acl all deny secret/#\nacl all readwrite #\n") as b:
        r, _ = c5(b.port, "rp1")
        r.send(pub5("secret/x", "s", qos=1, pid=9))
        first, body = r.read_packet()
        assert first == 0x40 and body[:3] == b"\x00\x09\x87"
        pr, _ = parse_props(body, 3)
        assert dict(pr)[0x1F]
        q, _ = c5(b.port, "rp0", props((0x17, 0)))
        q.send(pub5("secret/x", "s", qos=1, pid=9))
        assert q.read_packet() == (0x40, b"\x00\x09\x87")


def test_acl_for_everyone_denies_a_filter():
    with Broker(config="acl all deny test/nosubscribe\nacl all readwrite #\n") as b:
        r, _ = c5(b.port, "ns")
        assert subscribed(r, [("test/nosubscribe", 0), ("test/ok", 1)]) == [0x80, 1]
        r3, _ = raw_connect(b.port, clientid="ns3")
        r3.send(subscribe_bytes(1, [("test/nosubscribe", 1)]))
        assert r3.read_packet() == (0x90, b"\x00\x01\x80")


# ---- shared subscriptions ----------------------------------------------------------------------


def test_shared_subscription_round_robin(broker):
    a, _ = c5(broker.port, "sh-a")
    b_, _ = c5(broker.port, "sh-b")
    n, _ = c5(broker.port, "sh-n")
    assert subscribed(a, [("$share/g/sh/#", 1)]) == [1]
    assert subscribed(b_, [("$share/g/sh/#", 1)]) == [1]
    assert subscribed(n, [("sh/#", 0)]) == [0]
    p, _ = c5(broker.port, "sh-pub")
    for i in range(4):
        p.send(pub5("sh/t", str(i)))
    got_a = [publish(a.read_packet())[5] for _ in range(2)]
    got_b = [publish(b_.read_packet())[5] for _ in range(2)]
    assert sorted(got_a + got_b) == [b"0", b"1", b"2", b"3"]
    assert got_a in ([b"0", b"2"], [b"1", b"3"])  # alternating
    assert [publish(n.read_packet())[5] for _ in range(4)] == [b"0", b"1", b"2", b"3"]
    assert nothing(a) and nothing(b_)


def test_shared_subscription_skips_offline_member_and_gets_no_retained(broker):
    p, _ = c5(broker.port, "sho-pub")
    p.send(pub5("sho/r", "ret", retain=True))
    a, _ = c5(broker.port, "sho-a")
    assert subscribed(a, [("$share/g/sho/#", 0)]) == [0]
    assert nothing(a)  # no retained messages for shared subscriptions
    off, _ = c5(broker.port, "sho-off", clean=False, prs=props((0x11, 60)))
    subscribed(off, [("$share/g/sho/#", 0)])
    off.send(b"\xe0\x00")
    assert off.closed()
    for i in range(3):
        p.send(pub5("sho/t", str(i)))
    assert [publish(a.read_packet())[5] for _ in range(3)] == [b"0", b"1", b"2"]


def test_shared_subscription_v311(broker):
    members = []
    for i in range(2):
        r, _ = raw_connect(broker.port, clientid="s3-%d" % i)
        r.send(subscribe_bytes(1, [("$share/g3/s3/#", 1)]))
        assert r.read_packet() == (0x90, b"\x00\x01\x01")
        members.append(r)
    p, _ = raw_connect(broker.port, clientid="s3-pub")
    p.send(publish_bytes("s3/t", "a"))
    p.send(publish_bytes("s3/t", "b"))
    got = sorted(m.read_packet()[1][6:] for m in members)
    assert got == [b"a", b"b"]
    assert all(nothing(m) for m in members)


@pytest.mark.parametrize("f", ["$share//t", "$share/g+/t", "$share/g/", "$share/g"])
def test_malformed_shared_subscription(broker, f):
    r, _ = c5(broker.port, "shm")
    r.send(sub5(1, [(f, 0)]))
    assert r.read_packet() == (0xE0, b"\x8f")  # topic_filter_invalid


def test_shared_subscription_with_no_local_is_refused(broker):
    r, _ = c5(broker.port, "shnl")
    r.send(sub5(1, [("$share/g/t", 0x04)]))
    assert r.read_packet() == v5_disconnect(0x82)  # protocol error (MQTT 5 3.8.3.1)


# ---- pass-through ---------------------------------------------------------------------------------


def test_publish_properties_pass_through_in_order(broker):
    s, _ = c5(broker.port, "pt")
    subscribed(s, [("pt/#", 0)])
    p, _ = c5(broker.port, "pt-pub")
    sent = [(0x26, ("z", "1")), (0x01, 1), (0x03, "text/plain"), (0x26, ("a", "2")),
            (0x08, "pt/reply"), (0x09, b"\x00corr\xff"), (0x26, ("z", "3"))]
    p.send(pub5("pt/t", "body", prs=props(*sent)))
    topic, _, _, _, pr, payload = publish(s.read_packet())
    assert pr == sent and payload == b"body"


# ---- enhanced authentication ------------------------------------------------------------------------


def auth_packet(rc, method, data=None):
    pr = [(0x15, method)] + ([(0x16, data)] if data is not None else [])
    body = props(*pr)
    return packet(0xF0, bytes([rc]) + varint(len(body)) + body)


def auth_start(port, method="mqttrule-hmac"):
    r = Raw(port)
    r.send(connect_bytes("ea", level=5, props=props((0x15, method))))
    return r, r.read_packet()


def test_enhanced_authentication_hmac():
    with Broker(config="auth_hmac_secret s3cret\n") as b:
        ev = EventSubscriber(b.port)
        r, pkt = auth_start(b.port)
        first, body = pkt
        assert first == 0xF0 and body[0] == 0x18
        pr = dict(parse_props(body, 1)[0])
        assert pr[0x15] == "mqttrule-hmac" and len(pr[0x16]) == 16
        answer = hmac.new(b"s3cret", pr[0x16], hashlib.sha256).digest()
        r.send(auth_packet(0x18, "mqttrule-hmac", answer))
        _, rc, cpr = connack(r.read_packet())
        assert rc == 0 and cpr[0x15] == "mqttrule-hmac"
        assert ev.next_json()["clientid"] == "ea"
        r.send(pub5("t", "still works", qos=1))
        assert r.read_packet()[0] == 0x40


def hmac_connect(port, secret=b"s3cret"):
    r, pkt = auth_start(port)
    nonce = dict(parse_props(pkt[1], 1)[0])[0x16]
    r.send(auth_packet(0x18, "mqttrule-hmac", hmac.new(secret, nonce, hashlib.sha256).digest()))
    return r, r.read_packet()


def test_enhanced_authentication_counts_once_against_the_connection_rate():
    # a bucket of one: the CONNECT takes the token; resumed after AUTH it
    # must not be charged again (it would find the bucket empty: 0x9F)
    with Broker(config="auth_hmac_secret s3cret\nconnection_rate 1\n") as b:
        r, ack = hmac_connect(b.port)
        assert connack(ack)[1] == 0
        r2, pkt = auth_start(b.port)  # the next one within the second is refused
        assert connack(pkt)[1] == 0x9F


def test_re_authentication():
    with Broker(config="auth_hmac_secret s3cret\n") as b:
        r, ack = hmac_connect(b.port)
        assert connack(ack)[1] == 0
        for secret, ok in ((b"s3cret", True), (b"wrong", False)):
            r.send(auth_packet(0x19, "mqttrule-hmac"))
            first, body = r.read_packet()
            assert first == 0xF0 and body[0] == 0x18
            nonce = dict(parse_props(body, 1)[0])[0x16]
            r.send(auth_packet(0x18, "mqttrule-hmac",
                               hmac.new(secret, nonce, hashlib.sha256).digest()))
            if ok:
                first, body = r.read_packet()
                assert first == 0xF0 and body[0] == 0x00
                assert dict(parse_props(body, 1)[0]) == {0x15: "mqttrule-hmac"}
            else:
                assert r.read_packet() == (0xE0, b"\x87")


def test_auth_without_enhanced_authentication_is_a_protocol_error(broker):
    r, _ = c5(broker.port, "noauth")
    r.send(auth_packet(0x19, "mqttrule-hmac"))
    assert r.read_packet() == v5_disconnect(0x82)


def test_enhanced_authentication_wrong_answer():
    with Broker(config="auth_hmac_secret s3cret\n") as b:
        r, ack = hmac_connect(b.port, b"wrong")
        assert connack(ack)[1] == 0x87
        assert r.closed()


def test_enhanced_authentication_unknown_method():
    with Broker(config="auth_hmac_secret s3cret\n") as b:
        _, pkt = auth_start(b.port, "SCRAM-SHA-1")
        assert connack(pkt)[1] == 0x8C
    with Broker() as b:  # no secret: the method is off
        _, pkt = auth_start(b.port)
        assert connack(pkt)[1] == 0x8C
