# SPDX-License-Identifier: MIT
"""Event cascades (issue #14.1, #13.2): a rule never republishes on an event
caused by its own output, at any depth; the messages rules derive from one
client packet have a budget (max_cascade_messages); and the broker stays
responsive (CONNECT answered, SIGTERM honoured) while a cascade runs."""
import json
import os
import signal
import socket
import struct
import time

import pytest

from broker_util import BROKER, Broker, Raw, publish_bytes, raw_connect, stats, subscribe_bytes

pytestmark = pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built")

AUDIT = ("rule audit\n"
         "  sql SELECT clientid, topic FROM \"$events/message_delivered\"\n"
         "  republish audit/delivered\n"
         "end\n")


def subscribe_all(port, n, topic="#"):
    subs = []
    for i in range(n):
        r, ack = raw_connect(port, clientid="all-%d" % i)
        assert ack == (0x20, b"\x00\x00"), ack
        r.send(subscribe_bytes(1, [(topic, 0)]))
        assert r.read_packet()[0] == 0x90
        subs.append(r)
    return subs


def publishes(r, quiet=0.5, limit=5.0):
    """(topic, payload) of each PUBLISH packet r gets until it has been quiet
    for `quiet` seconds (or `limit` seconds passed)."""
    out = []
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            pkt = r.read_packet(timeout=quiet)
        except (socket.timeout, OSError):
            break
        if pkt is None:
            break
        first, body = pkt
        assert first >> 4 == 3, pkt
        tlen = struct.unpack(">H", body[:2])[0]
        out.append((body[2:2 + tlen].decode(), body[2 + tlen:]))
    return out


def topics_received(r):
    return [t for t, _ in publishes(r)]


def connect_time(port):
    t0 = time.monotonic()
    r, ack = raw_connect(port, clientid="latecomer")
    took = time.monotonic() - t0
    assert ack == (0x20, b"\x00\x00"), ack
    r.close()
    return took


@pytest.mark.parametrize("n", [5, 8])
def test_delivered_audit_rule_with_n_wildcard_subscribers_is_bounded(n):
    with Broker(config=AUDIT) as b:
        subs = subscribe_all(b.port, n)
        pub, ack = raw_connect(b.port, clientid="pub")
        pub.send(publish_bytes("t/1", b"x"))
        # meanwhile, a new client is answered at once
        took = connect_time(b.port)
        got = [topics_received(r) for r in subs]
        # each subscriber: the message, and the audit message of each of its
        # n deliveries; the deliveries of those are the rule's own output
        for g in got:
            assert sorted(g) == ["audit/delivered"] * n + ["t/1"], g
        st = stats(b)
        assert st["delivered"] == n + n * n, st
        assert st["refused.cascade"] == 0, st
        assert took < 0.1, "CONNECT answered after %.3f s" % took
        for r in subs + [pub]:
            r.close()


def test_sigterm_is_honoured_within_a_second_after_a_cascade():
    with Broker(config=AUDIT) as b:
        subs = subscribe_all(b.port, 8)
        pub, ack = raw_connect(b.port, clientid="pub")
        for i in range(20):
            pub.send(publish_bytes("t/%d" % i, b"x"))
        t0 = time.monotonic()
        b.send_signal(signal.SIGTERM)
        b.proc.wait(timeout=10)
        assert time.monotonic() - t0 < 1.0
        for r in subs + [pub]:
            r.close()


def test_cascade_budget_caps_the_messages_one_packet_derives():
    with Broker(config=AUDIT + "max_cascade_messages 3\n") as b:
        subs = subscribe_all(b.port, 8)
        pub, ack = raw_connect(b.port, clientid="pub")
        pub.send(publish_bytes("t/1", b"x"))
        got = [topics_received(r) for r in subs]
        for g in got:
            assert sorted(g) == ["audit/delivered"] * 3 + ["t/1"], g
        st = stats(b)
        assert st["refused.cascade"] == 5, st
        log = b.logtext()
        assert log.count("cascade budget (max_cascade_messages) is spent") == 1, log
        # the next packet has a budget of its own, and its refusals are logged again
        pub.send(publish_bytes("t/2", b"x"))
        got = [topics_received(r) for r in subs]
        assert all(sorted(g) == ["audit/delivered"] * 3 + ["t/2"] for g in got), got
        assert stats(b)["refused.cascade"] == 10
        assert b.logtext().count("cascade budget (max_cascade_messages) is spent") == 2
        for r in subs + [pub]:
            r.close()


def test_two_rules_feeding_each_other_stop_at_their_origin():
    # A on deliveries of t/1 and b/x republishes to a/x, B on a/# republishes
    # to b/x: the deliveries of b/x are caused by A (two levels down), so A
    # does not fire on them
    conf = ("rule A\n"
            "  sql SELECT topic FROM \"$events/message_delivered\" "
            "WHERE topic = 't/1' or topic = 'b/x'\n"
            "  republish a/x\n"
            "end\n"
            "rule B\n"
            "  sql SELECT topic FROM \"a/#\"\n"
            "  republish b/x\n"
            "end\n")
    with Broker(config=conf) as b:
        subs = subscribe_all(b.port, 2)
        pub, ack = raw_connect(b.port, clientid="pub")
        pub.send(publish_bytes("t/1", b"x"))
        for r in subs:
            assert sorted(topics_received(r)) == ["a/x", "a/x", "b/x", "b/x", "t/1"]
        for r in subs + [pub]:
            r.close()


def test_dropped_rule_republishing_to_nowhere_gives_one_copy():
    # issue #13.2: the rule's own output is dropped too; a watcher rule sees
    # every drop, so the subscriber counts them
    conf = ("rule d\n"
            "  sql SELECT topic FROM \"$events/message_dropped\" WHERE topic <> 'seen'\n"
            "  republish void/x\n"
            "end\n"
            "rule watch\n"
            "  sql SELECT topic FROM \"$events/message_dropped\" WHERE topic <> 'seen'\n"
            "  republish seen\n"
            "end\n")
    with Broker(config=conf) as b:
        (sub,) = subscribe_all(b.port, 1, topic="seen")
        pub, ack = raw_connect(b.port, clientid="pub")
        pub.send(publish_bytes("nobody/1", b"x"))
        drops = [json.loads(p)["topic"] for _, p in publishes(sub)]
        assert sorted(drops) == ["nobody/1", "void/x"], drops
        sub.close()
        pub.close()


def test_later_deliveries_from_the_queue_keep_the_cause():
    # QoS 1 audit messages wait behind a window of one in flight and are
    # delivered when the subscribers acknowledge: outside the rule's own
    # emit, so only the cause kept with each message stops the rule
    conf = ("max_inflight 1\n"
            "rule audit\n"
            "  sql SELECT clientid, topic, qos FROM \"$events/message_delivered\"\n"
            "  republish audit/delivered\n"
            "end\n")
    with Broker(config=conf) as b:
        subs = []
        for i in range(3):
            r, ack = raw_connect(b.port, clientid="q-%d" % i)
            r.send(subscribe_bytes(1, [("#", 1)]))
            assert r.read_packet()[0] == 0x90
            subs.append(r)
        pub, ack = raw_connect(b.port, clientid="pub")
        pub.send(publish_bytes("t/1", b"x", qos=1, pid=1))
        assert pub.read_packet()[0] == 0x40
        got = [[] for _ in subs]
        quiet_rounds = 0
        while quiet_rounds < 3 and sum(map(len, got)) < 200:
            quiet = True
            for r, g in zip(subs, got):
                try:
                    pkt = r.read_packet(timeout=0.2)
                except (socket.timeout, OSError):
                    continue
                if pkt is None:
                    continue
                quiet = False
                first, body = pkt
                tlen = struct.unpack(">H", body[:2])[0]
                g.append(body[2:2 + tlen].decode())
                if (first >> 1) & 3:
                    r.send(b"\x40\x02" + body[2 + tlen:4 + tlen])  # PUBACK
            quiet_rounds = quiet_rounds + 1 if quiet else 0
        for g in got:
            assert sorted(g) == ["audit/delivered"] * 3 + ["t/1"], g
        st = stats(b)
        assert st["queued"] == 0 and st["inflight"] == 0, st
        for r in subs + [pub]:
            r.close()
