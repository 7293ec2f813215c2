# SPDX-License-Identifier: MIT
"""Fault injection against mqttrule-broker (issue 9): an HTTP action whose
server is down, slow or answers garbage; a subscriber that stops reading
while 100,000 messages are published to it; 5,000 clients that connect and
drop their sockets abruptly; a client killed in the middle of a QoS 2 flow.

The broker must never crash, stay responsive, keep its memory bounded, and
account for every message: delivered, still queued, or counted as dropped
(the counters of the SIGUSR1 "stats" line, docs/broker.md). Every test binds
127.0.0.1 on a free port, bounds every wait and stops what it starts; the
Broker context manager also fails on any sanitizer report in the log.
"""
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from broker_util import (BROKER, TIMEOUT, Broker, Raw, connect_bytes, free_port, packet,
                         publish_bytes, raw_connect, stats, subscribe_bytes, vmrss_kb)

pytestmark = pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built")


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def abort_socket(sock):
    """Close with an RST, as a crashed peer's kernel may."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class AckCounter:
    """Reads a publisher's socket in a thread, counting the PUBACKs (4 bytes each)."""

    def __init__(self, sock):
        self.sock = sock
        self.nbytes = 0
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError:
                return
            if not chunk:
                return
            self.nbytes += len(chunk)

    def acks(self):
        return self.nbytes // 4

    def close(self):
        self.stop = True
        self.t.join(2)


def publish_many(port, topic, count, payload, clientid="pub"):
    """Publish `count` QoS 1 messages pipelined and wait for every PUBACK."""
    r, ack = raw_connect(port, clientid=clientid)
    assert ack == (0x20, b"\x00\x00"), ack
    acks = AckCounter(r.sock)
    batch = []
    for i in range(count):
        batch.append(publish_bytes(topic, payload, qos=1, pid=i % 65535 + 1))
        if len(batch) == 1000 or i == count - 1:
            r.sock.sendall(b"".join(batch))
            batch = []
    wait_until(lambda: acks.acks() >= count, 25, "%d PUBACKs (got %d)" % (count, acks.acks()))
    acks.close()
    r.close()


# ---- HTTP action faults ------------------------------------------------------------------

class FaultServer:
    """A TCP server on 127.0.0.1 that either never answers (slow) or answers
    garbage and closes (garbage)."""

    def __init__(self, kind):
        self.kind = kind
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.ls.settimeout(0.2)
        self.port = self.ls.getsockname()[1]
        self.held = []
        self.accepted = 0
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                s, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            if self.kind == "slow":
                self.held.append(s)  # read nothing, answer nothing
            else:
                s.settimeout(1)
                try:
                    s.recv(65536)
                    s.sendall(b"HTTP/9.9 xyz garbage\r\n\x00\xff\xfe\r\n\r\n{not http")
                except OSError:
                    pass
                s.close()

    def close(self):
        self.stop = True
        self.t.join(2)
        self.ls.close()
        for s in self.held:
            s.close()


@pytest.mark.parametrize("kind", ["down", "slow", "garbage"])
def test_http_server_down_slow_or_garbage(kind):
    srv = None if kind == "down" else FaultServer(kind)
    port = free_port() if srv is None else srv.port
    conf = ("http_timeout_ms 300\nhttp_max_queue 50\nshutdown_flush_ms 200\n"
            "rule to_http\n  sql SELECT payload FROM \"f/#\"\n"
            "  http http://127.0.0.1:%d/hook\nend\n" % port)
    try:
        with Broker(config=conf) as b:
            publish_many(b.port, "f/x", 500, b"x" * 100)
            # the broker stays responsive: a client connects and gets its own message
            r, ack = raw_connect(b.port, clientid="after")
            assert ack == (0x20, b"\x00\x00")
            r.send(subscribe_bytes(1, [("back/#", 0)]))
            assert r.read_packet()[0] == 0x90
            r.send(publish_bytes("back/1", b"hello"))
            first, body = r.read_packet()
            assert first == 0x30 and body.endswith(b"hello")
            r.close()
            st = stats(b)
            assert st["received"] == 501 and st["http.matched"] == 500, st
            assert st["http.success"] == 0, st
            held = (st["http.failed"] + st["http.dropped.queue_full"] + st["http.dropped.expired"]
                    + st["http.dropped.other"] + st["http.queuing"] + st["http.inflight"])
            assert held == 500, st
            # the queue limit holds: at most 50 messages kept at any time
            assert st["http.queuing"] + st["http.inflight"] <= 50, st
            assert st["http.dropped.queue_full"] >= 400, st
            if kind == "slow":
                assert st["http.timeouts"] > 0 or srv.accepted > 0, st
            assert b.stop() == 0
            assert "stats connections=" in b.logtext()  # the shutdown stats line
    finally:
        if srv is not None:
            srv.close()


# ---- a subscriber that stops reading ---------------------------------------------------------

def test_stalled_subscriber_memory_bounded_and_drops_counted(monkeypatch):
    # ASan keeps freed memory in quarantine; keep it small so VmRSS means something
    asan = os.environ.get("ASAN_OPTIONS", "")
    monkeypatch.setenv("ASAN_OPTIONS", (asan + ":" if asan else "") + "quarantine_size_mb=16")
    count = 100000
    with Broker(config="max_queued 1000\nmax_inflight 32\n") as b:
        subs = []
        for cid, qos in (("stalled1", 1), ("stalled0", 0)):
            r, ack = raw_connect(b.port, clientid=cid)
            assert ack == (0x20, b"\x00\x00")
            r.send(subscribe_bytes(1, [("load/#", qos)]))
            assert r.read_packet()[0] == 0x90
            subs.append(r)  # from here on nothing is read from it
        rss0 = vmrss_kb(b.proc.pid)
        publish_many(b.port, "load/t", count, b"p" * 1000)
        rss1 = vmrss_kb(b.proc.pid)
        st = stats(b)
        assert st["received"] == count, st
        # every message reached each subscriber, or waits in its queue, or was dropped
        outcomes = st["delivered"] + st["queued"] + st["delivery.dropped.queue_full"]
        assert outcomes == 2 * count, st
        assert st["queued"] == 1000 and st["inflight"] == 32, st
        assert st["delivery.dropped.queue_full"] > count // 2, st
        # 100 MB went through; what is held is bounded by max_queued, max_inflight
        # and the 8 MiB QoS 0 output limit
        assert rss1 - rss0 < 64 * 1024, (rss0, rss1)
        for r in subs:
            abort_socket(r.sock)


# ---- many clients dropping their sockets -------------------------------------------------

def test_5000_clients_connect_and_drop_abruptly():
    # tcp_defer_accept off: the broker accepts the sockets that send nothing too
    with Broker(config="connect_timeout_ms 2000\ntcp_defer_accept no\n") as b:
        full = connect_bytes(clientid="x", keepalive=30)
        n = 0
        t0 = time.monotonic()
        while n < 5000:
            batch = []
            for _ in range(50):
                s = socket.create_connection(("127.0.0.1", b.port), timeout=TIMEOUT)
                mode = n % 3
                if mode == 0:
                    s.sendall(connect_bytes(clientid="c%d" % n))
                elif mode == 1:
                    s.sendall(full[:n % (len(full) - 1) + 1])  # a partial CONNECT
                batch.append(s)
                n += 1
            for s in batch:
                abort_socket(s)
            assert b.proc.poll() is None, b.logtext()
        assert time.monotonic() - t0 < 25
        wait_until(lambda: stats(b)["connections"] <= 1, 10, "the dropped sockets to close")
        st = stats(b)
        assert st["accepted"] >= 5000 and st["sessions"] == 0, st
        r, ack = raw_connect(b.port, clientid="still-alive")
        assert ack == (0x20, b"\x00\x00")
        r.close()


# ---- a client killed in the middle of a QoS 2 flow ---------------------------------------

KILLED_PUBLISHER = r"""
import socket, struct, sys, time
port = int(sys.argv[1])
def mstr(s): return struct.pack(">H", len(s)) + s
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(bytes([0x10, 12 + 6]) + mstr(b"MQTT") + bytes([4, 0, 0, 60]) + mstr(b"q2pub!"))
assert s.recv(4) == b"\x20\x02\x00\x00"
body = mstr(b"q2/a") + struct.pack(">H", 7) + b"once"
s.sendall(bytes([0x34, len(body)]) + body)
assert s.recv(4) == b"\x50\x02\x00\x07"
print("pubrec", flush=True)
time.sleep(30)
"""


def test_client_killed_mid_qos2_flow():
    with Broker() as b:
        sub, ack = raw_connect(b.port, clientid="q2sub", clean=False)
        assert ack == (0x20, b"\x00\x00")
        sub.send(subscribe_bytes(1, [("q2/#", 2)]))
        assert sub.read_packet() == (0x90, b"\x00\x01\x02")
        # the publisher is killed after PUBREC, before it sends PUBREL
        p = subprocess.Popen([sys.executable, "-c", KILLED_PUBLISHER, str(b.port)],
                             stdout=subprocess.PIPE)
        try:
            assert p.stdout.readline().strip() == b"pubrec"
        finally:
            p.kill()
            p.wait(TIMEOUT)
        # the subscriber got the message once, sends PUBREC, gets PUBREL, then dies
        first, body = sub.read_packet()
        assert first == 0x34 and body.endswith(b"once")
        pid = body[2 + 4:2 + 4 + 2]
        sub.send(packet(0x50, pid))
        assert sub.read_packet() == (0x62, pid)
        abort_socket(sub.sock)
        # the publisher's session completes the flow: PUBREL -> PUBCOMP
        pub, ack = raw_connect(b.port, clientid="q2pub!", clean=False)
        assert ack == (0x20, b"\x01\x00")
        pub.send(packet(0x62, b"\x00\x07"))
        assert pub.read_packet() == (0x70, b"\x00\x07")
        # so does the subscriber's: PUBREL again, no second PUBLISH
        sub, ack = raw_connect(b.port, clientid="q2sub", clean=False)
        assert ack == (0x20, b"\x01\x00")
        assert sub.read_packet() == (0x62, pid)
        sub.send(packet(0x70, pid))
        # PINGREQ: nothing else comes before PINGRESP, and its arrival proves the
        # broker has handled the PUBCOMP before the stats signal is sent (a slow
        # broker, e.g. under valgrind, would otherwise be asked too early).
        sub.send(packet(0xC0, b""))
        assert sub.read_packet() == (0xD0, b"")
        st = stats(b)
        assert st["received"] == 1 and st["delivered"] == 1 and st["acked"] == 1, st
        assert st["inflight"] == 0 and st["queued"] == 0, st
        pub.close()
        sub.close()
