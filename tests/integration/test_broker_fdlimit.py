# SPDX-License-Identifier: MIT
"""Out of descriptors (issue #14.5): with RLIMIT_NOFILE low and more clients
than it allows, the broker stops watching its listener instead of spinning
on failing accept() calls, logs it once with a counter, and accepts again
when clients leave."""
import os
import resource
import socket
import time

import pytest

from broker_util import BROKER, Broker, Raw, connect_bytes, cpu_seconds, stats

pytestmark = pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built")

LIMIT = 64


def low_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


def test_exhausted_descriptors_pause_the_listener_and_resume():
    with Broker(preexec_fn=low_nofile) as b:
        clients = []
        for i in range(LIMIT + 20):  # more than the broker can hold
            r = Raw(b.port)
            r.send(connect_bytes(clientid="c%d" % i))
            clients.append(r)
        assert b.wait_log("not accepting until one closes"), b.logtext()
        answered = []
        for r in clients:
            try:
                pkt = r.read_packet(timeout=0.2)
            except (socket.timeout, OSError):
                pkt = None
            answered.append(pkt == (0x20, b"\x00\x00"))
        waiting = [r for r, ok in zip(clients, answered) if not ok]
        held = [r for r, ok in zip(clients, answered) if ok]
        assert 20 <= len(waiting) < LIMIT, len(waiting)
        # exhausted: the broker sleeps rather than spins
        t0, c0 = time.monotonic(), cpu_seconds(b.proc.pid)
        time.sleep(2.0)
        used = cpu_seconds(b.proc.pid) - c0
        wall = time.monotonic() - t0
        assert used < 0.25 * wall, "broker used %.2f s of CPU in %.2f s" % (used, wall)
        assert b.logtext().count("not accepting until one closes") == 1
        # clients leave: the waiting ones are answered
        for r in held[:len(waiting) + 5]:
            r.close()
        for r in waiting:
            assert r.read_packet(timeout=10) == (0x20, b"\x00\x00")
        # and a new client connects after that
        late = Raw(b.port)
        late.send(connect_bytes(clientid="late"))
        assert late.read_packet(timeout=10) == (0x20, b"\x00\x00")
        assert stats(b)["accept.paused"] >= 1
        for r in clients + [late]:
            r.close()
