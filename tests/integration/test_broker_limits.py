# SPDX-License-Identifier: MIT
"""mqttrule-broker's limits (docs/security.md): the connect timeout, topic
levels, subscriptions per client and queued bytes per session, each with the
error the client sees and the counter of the SIGUSR1 stats line."""
import os
import signal
import socket
import struct
import time

import pytest

from broker_util import reason_props, v5_disconnect
from broker_util import (BROKER, Broker, Raw, publish_bytes, raw_connect, run_broker, stats,
                         subscribe_bytes)

pytestmark = pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built")


def test_connect_timeout_closes_a_silent_socket():
    with Broker(config="connect_timeout_ms 500\n") as b:
        r = Raw(b.port)
        r.send(b"\x10")  # one byte of a CONNECT, then nothing
        t0 = time.monotonic()
        assert r.closed(timeout=4)
        assert 0.4 < time.monotonic() - t0 < 3.5
        assert stats(b)["connect_timeouts"] == 1
        r.close()


@pytest.mark.parametrize("level", [4, 5])
def test_topic_levels_limit(level):
    with Broker(config="max_topic_levels 3\n") as b:
        r, ack = raw_connect(b.port, clientid="deep", level=level)
        assert ack[1][1] == 0
        r.send(subscribe_bytes(1, [("a/b/c", 0), ("a/b/c/d", 0)], level=level))
        first, body = r.read_packet()
        refused = 0x8F if level == 5 else 0x80
        assert first == 0x90 and body[-2:] == bytes([0, refused]), body
        r.send(publish_bytes("a/b/c/d", b"x", level=level))
        if level == 5:
            first, body = r.read_packet()
            assert first == 0xE0 and body[0] == 0x90, body  # Topic Name invalid
        assert r.closed()
        st = stats(b)
        assert st["refused.topic_levels"] == 2 and st["received"] == 0, st
        r.close()


def test_max_subscriptions_per_client():
    with Broker(config="max_subscriptions 2\n") as b:
        r, ack = raw_connect(b.port, clientid="many", level=5)
        assert ack[1][1] == 0
        r.send(subscribe_bytes(1, [("a", 1), ("b", 1), ("a", 0), ("c", 1)], level=5))
        first, body = r.read_packet()
        # "a" again replaces the first one; "c" would be the third
        assert first == 0x90 and body[2:] == reason_props(
            "subscription to 'c' refused: max_subscriptions (2)") + bytes([1, 1, 0, 0x97]), body
        assert stats(b)["refused.subscriptions"] == 1
        r.close()


def test_max_queued_bytes_per_session():
    with Broker(config="max_queued_bytes 10000\nmax_inflight 1\n") as b:
        sub, ack = raw_connect(b.port, clientid="slow", clean=False)
        sub.send(subscribe_bytes(1, [("q", 1)]))
        assert sub.read_packet()[0] == 0x90
        pub, ack = raw_connect(b.port, clientid="pub")
        for i in range(20):  # 1 in flight, then 1001 bytes each: 9 fit in 10,000
            pub.send(publish_bytes("q", b"x" * 1000, qos=1, pid=i + 1))
            assert pub.read_packet()[0] == 0x40
        st = stats(b)
        assert st["inflight"] == 1 and st["queued"] == 9, st
        assert st["queued_bytes"] == 9 * 1001, st
        assert st["delivery.dropped.queue_full"] == 10, st
        pub.close()
        sub.close()


@pytest.mark.parametrize("config", [None, "busy_poll_us 2000\n"])
def test_burst_reaches_a_slow_reader_whole_and_in_order(config):
    # the broker collects a round's packets per connection and writes them at
    # its end; a subscriber that reads only after the whole burst makes the
    # socket fill, so the rest waits for EPOLLOUT. 3,000 x 1 KiB is more than
    # a loopback socket buffer holds and less than the 8 MiB QoS 0 limit.
    count = 3000
    with Broker(config=config) as b:
        sub, ack = raw_connect(b.port, clientid="sub")
        assert ack == (0x20, b"\x00\x00")
        sub.send(subscribe_bytes(1, [("burst/#", 0)]))
        assert sub.read_packet()[0] == 0x90
        pub, ack = raw_connect(b.port, clientid="pub")
        assert ack == (0x20, b"\x00\x00")
        body = b"x" * 1000
        pub.send(b"".join(publish_bytes("burst/t", b"%06d" % i + body) for i in range(count)))
        time.sleep(0.5)  # the broker has written what the socket takes and waits
        for i in range(count):
            p = sub.read_packet()
            assert p is not None and p[0] == 0x30, (i, p)
            assert p[1][2 + len("burst/t"):][:6] == b"%06d" % i
        st = stats(b)
        assert st["delivered"] == count and st["delivery.dropped.queue_full"] == 0, st
        pub.close()
        sub.close()


def test_busy_poll_us_keeps_timers_running():
    # polling without sleeping after a busy round must not starve the
    # one-second timers: a silent socket is still closed on time
    with Broker(config="busy_poll_us 100000\nconnect_timeout_ms 500\n") as b:
        r = Raw(b.port)
        r.send(b"\x10")
        t0 = time.monotonic()
        assert r.closed(timeout=4)
        assert 0.4 < time.monotonic() - t0 < 3.5
        r.close()


def test_busy_poll_us_out_of_range_stops_start_up(tmp_path):
    conf = tmp_path / "b.conf"
    conf.write_text("busy_poll_us 100001\n")
    res = run_broker("-c", str(conf))
    assert res.returncode == 2
    assert "%s:1:" % conf in res.stderr and "busy_poll_us must be 0..100000" in res.stderr


def test_deferred_accept_skips_silent_sockets_and_still_times_them_out():
    # tcp_defer_accept (default yes): a socket is handed to the broker with its
    # first bytes (or its FIN); one reset before sending anything never
    # reaches it, and
    # one that stays silent is accepted after the connect timeout and closed
    # by the broker's own connect timeout
    with Broker(config="connect_timeout_ms 1000\n") as b:
        before = stats(b)["accepted"]  # the start-up probe's connections
        s = socket.create_connection(("127.0.0.1", b.port), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # an RST: gone before it said anything
        r, ack = raw_connect(b.port, clientid="talks")
        assert ack == (0x20, b"\x00\x00")
        assert stats(b)["accepted"] == before + 1
        silent = Raw(b.port)
        t0 = time.monotonic()
        assert silent.closed(timeout=15)
        assert time.monotonic() - t0 > 0.9
        assert stats(b)["connect_timeouts"] == 1
        silent.close()
        r.close()


def test_without_deferred_accept_every_socket_is_accepted():
    with Broker(config="tcp_defer_accept no\n") as b:
        before = stats(b)["accepted"]  # the start-up probe's connections
        s = socket.create_connection(("127.0.0.1", b.port), timeout=5)
        t0 = time.monotonic()
        while stats(b)["accepted"] < before + 1 and time.monotonic() - t0 < 5:
            time.sleep(0.05)
        assert stats(b)["accepted"] == before + 1
        s.close()


def test_busy_polling_broker_stops_at_once_on_sigterm():
    # a signal's handler only sets a flag; the polling must look at it rather
    # than spin on and then block for the rest of the loop's timeout
    with Broker(config="busy_poll_us 100000\n") as b:
        r, ack = raw_connect(b.port, clientid="ping")
        assert ack == (0x20, b"\x00\x00")
        r.send(b"\xc0\x00")
        assert r.read_packet() == (0xD0, b"")
        time.sleep(0.02)  # inside the 100 ms of polling after that round
        t0 = time.monotonic()
        b.proc.send_signal(signal.SIGTERM)
        b.proc.wait(timeout=10)
        assert time.monotonic() - t0 < 0.3
        r.close()
