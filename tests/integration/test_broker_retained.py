# SPDX-License-Identifier: MIT
"""The retained store (issue #14.3): max_retained_messages and
max_retained_bytes refuse and count (PUBACK/PUBREC 0x97 for MQTT 5 QoS 1/2;
other publishers' messages are routed without being kept), and the topic
trie matches filters as MQTT says, '$' topics and empty levels included."""
import os
import random
import struct

import pytest

from broker_util import (BROKER, Broker, publish_bytes, raw_connect, stats, subscribe_bytes,
                         vmrss_kb)

pytestmark = pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built")

QUOTA = 0x97


def v5_ack_code(r):
    first, body = r.read_packet()
    assert first >> 4 in (4, 5), (first, body)
    return body[2] if len(body) > 2 else 0


def retained_topics(port, filt, clientid="reader"):
    r, ack = raw_connect(port, clientid=clientid)
    r.send(subscribe_bytes(1, [(filt, 0)]) + b"\xc0\x00")
    assert r.read_packet()[0] == 0x90
    got = []
    while True:
        first, body = r.read_packet()
        if first == 0xD0:
            break
        assert first >> 4 == 3 and first & 1, (first, body)
        tlen = struct.unpack(">H", body[:2])[0]
        got.append(body[2:2 + tlen].decode())
    r.close()
    return sorted(got)


@pytest.mark.parametrize("qos", [1, 2])
def test_max_retained_messages_refuses_with_quota_exceeded(qos):
    with Broker(config="max_retained_messages 3\n") as b:
        r, ack = raw_connect(b.port, clientid="p", level=5)
        codes = []
        for i in range(5):
            r.send(publish_bytes("r/%d" % i, b"v", qos=qos, retain=True, pid=i + 1, level=5))
            codes.append(v5_ack_code(r))
        assert codes == [0x10, 0x10, 0x10, QUOTA, QUOTA], codes  # 0x10: no subscribers
        r.send(publish_bytes("r/0", b"replaced", qos=qos, retain=True, pid=10, level=5))
        assert v5_ack_code(r) == 0x10  # a replacement takes no new slot
        r.send(publish_bytes("r/1", b"", qos=qos, retain=True, pid=11, level=5))
        assert v5_ack_code(r) == 0x10  # clearing frees one
        r.send(publish_bytes("r/3", b"v", qos=qos, retain=True, pid=12, level=5))
        assert v5_ack_code(r) == 0x10
        st = stats(b)
        assert st["refused.retained"] == 2 and st["retained"] == 3, st
        assert "retained message on 'r/3' from p refused" in b.logtext()
        assert retained_topics(b.port, "r/#") == ["r/0", "r/2", "r/3"]
        r.close()


def test_max_retained_bytes_counts_topic_payload_and_properties():
    with Broker(config="max_retained_bytes 100\n") as b:
        r, ack = raw_connect(b.port, clientid="p", level=5)
        r.send(publish_bytes("b/1", b"x" * 60, qos=1, retain=True, pid=1, level=5))
        assert v5_ack_code(r) == 0x10
        r.send(publish_bytes("b/2", b"x" * 60, qos=1, retain=True, pid=2, level=5))
        assert v5_ack_code(r) == QUOTA
        r.send(publish_bytes("b/1", b"x" * 97, qos=1, retain=True, pid=3, level=5))
        assert v5_ack_code(r) == 0x10  # 3 + 97 = 100 replaces 63
        r.send(publish_bytes("b/1", b"x" * 98, qos=1, retain=True, pid=4, level=5))
        assert v5_ack_code(r) == QUOTA
        st = stats(b)
        assert st["refused.retained"] == 2 and st["retained_bytes"] == 100, st
        r.close()


def test_v3_publisher_over_the_cap_is_routed_but_not_kept():
    with Broker(config="max_retained_messages 1\n") as b:
        sub, ack = raw_connect(b.port, clientid="live")
        sub.send(subscribe_bytes(1, [("v3/#", 0)]))
        assert sub.read_packet()[0] == 0x90
        pub, ack = raw_connect(b.port, clientid="p3")
        pub.send(publish_bytes("v3/a", b"1", qos=1, retain=True, pid=1))
        assert pub.read_packet() == (0x40, b"\x00\x01")
        pub.send(publish_bytes("v3/b", b"2", qos=1, retain=True, pid=2))
        assert pub.read_packet() == (0x40, b"\x00\x02")  # v3 has no refusal code
        for _ in range(2):
            assert sub.read_packet()[0] >> 4 == 3  # both delivered live
        assert stats(b)["refused.retained"] == 1
        assert retained_topics(b.port, "v3/#") == ["v3/a"]
        sub.close()
        pub.close()


TOPICS = ["a", "a/b", "a/b/c", "a/c", "a//c", "/a", "/", "b/x/y", "$data/x", "$x", "a/b/c/d"]


def mqtt_match(filt, topic):
    f, t = filt.split("/"), topic.split("/")
    if topic.startswith("$") and f[0] in ("+", "#"):
        return False
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(f) == len(t)


@pytest.mark.parametrize("filt", ["#", "+", "a/#", "a/+", "a/+/c", "+/+", "/#", "+/a", "a//c",
                                  "$data/#", "+/b/#", "a/b/c/d/#", "a/b", "$x", "nothing/#"])
def test_retained_trie_matches_like_mqtt(filt):
    with Broker() as b:
        r, ack = raw_connect(b.port, clientid="p")
        for t in TOPICS:
            r.send(publish_bytes(t, t.encode(), retain=True))
        r.send(b"\xc0\x00")
        assert r.read_packet() == (0xD0, b"")
        expected = sorted(t for t in TOPICS if mqtt_match(filt, t))
        assert retained_topics(b.port, filt) == expected
        # clearing one prunes its node but keeps those below it
        r.send(publish_bytes("a/b", b"", retain=True) + b"\xc0\x00")
        assert r.read_packet() == (0xD0, b"")
        assert retained_topics(b.port, filt, "again") == [t for t in expected if t != "a/b"]
        r.close()


def test_retained_trie_against_a_reference_with_random_topics_and_clears():
    rnd = random.Random(14)
    levels = ["a", "b", "", "$s", "cc"]
    topics = sorted({"/".join(rnd.choice(levels) for _ in range(rnd.randint(1, 4)))
                     for _ in range(300)})
    topics = [t for t in topics if t]  # a topic name has at least one character
    filters = ["#"] + ["/".join(rnd.choice(levels + ["+", "+"]) for _ in range(rnd.randint(1, 4)))
                       + rnd.choice(["", "", "/#"]) for _ in range(40)]
    with Broker() as b:
        r, ack = raw_connect(b.port, clientid="p")
        for t in topics:
            r.send(publish_bytes(t, b"v", retain=True))
        cleared = set(rnd.sample(topics, len(topics) // 3))
        for t in cleared:
            r.send(publish_bytes(t, b"", retain=True))
        r.send(b"\xc0\x00")
        assert r.read_packet() == (0xD0, b"")
        kept = [t for t in topics if t not in cleared]
        assert stats(b)["retained"] == len(kept)
        for i, f in enumerate(filters):
            expected = sorted(t for t in kept if mqtt_match(f, t))
            assert retained_topics(b.port, f, "r%d" % i) == expected, f
        r.close()


def test_default_byte_cap_bounds_the_memory_of_large_retained_messages(monkeypatch):
    # the case: 1 MB retained messages from one anonymous client.
    # ASan keeps freed memory in quarantine; keep it small so VmRSS means something
    asan = os.environ.get("ASAN_OPTIONS", "")
    monkeypatch.setenv("ASAN_OPTIONS", (asan + ":" if asan else "") + "quarantine_size_mb=16")
    with Broker() as b:
        rss0 = vmrss_kb(b.proc.pid)
        r, ack = raw_connect(b.port, clientid="big", level=5)
        codes = []
        for i in range(80):
            r.send(publish_bytes("big/%d" % i, b"x" * 1000000, qos=1, retain=True, pid=i + 1,
                                 level=5))
            codes.append(v5_ack_code(r))
        st = stats(b)
        assert st["retained_bytes"] <= 64 * 1024 * 1024, st
        # st["retained"] also counts the $SYS topics once sys_interval has passed (a slow
        # ASan run): compare the refusals with the refused counter instead
        refused = codes.count(QUOTA)
        assert 0 < refused == st["refused.retained"], (codes, st)
        assert sum(c < 0x80 for c in codes) == 80 - refused, codes  # 0x10: no subscribers
        grown = vmrss_kb(b.proc.pid) - rss0
        assert grown < 100 * 1024, "VmRSS grew by %d KiB" % grown  # 64 MiB held
        r.close()
