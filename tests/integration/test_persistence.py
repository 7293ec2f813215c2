# SPDX-License-Identifier: MIT
"""mqttrule-broker's persistence (docs/persistence.md), proved by killing it.

1. The crash test of issue 16: the HTTP service is down; a storm of STORM
   connections goes through the source document's CONNACK rule with an HTTP
   action; the broker is killed with SIGKILL while the events are queued,
   restarted on the same persistence_location, and the service comes up:
   every event arrives (deduplicated by the Idempotency-Key header: zero
   missing) and the extra copies are no more than the HTTP pool's in-flight
   window (8). Then again with the kill during delivery.
2. A retained message and an MQTT 5 persistent session with queued QoS 1 and
   QoS 2 messages and a QoS 2 packet id awaiting PUBREL survive SIGKILL and
   SIGTERM: the client resumes with session_present 1 and receives them;
   both from a snapshot and, with no snapshot after the changes, from the
   journal (broker.journal).
3. The journal: a retained clear and an unsubscribe right before SIGKILL are
   honoured, acknowledged messages are not redelivered, a torn tail (cut at
   every byte of the last record) and a corrupt middle record are counted,
   logged and survived, an unwritable journal leaves the broker running on
   snapshots and is retried.
4. Start-up errors: a missing directory, a file where the directory should be,
   a snapshot of a newer format.
"""
import asyncio
import json
import os
import resource
import signal
import struct
import subprocess
import threading
import time

import pytest

from conftest import wait_for
from broker_util import (BUILD, Broker, Raw, connect_bytes, free_port, packet,
                         publish_bytes, run_broker, subscribe_bytes)

BENCH = os.path.join(BUILD, "examples", "bench", "mqttrule-bench")


def sanitized_build():
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            return "MQR_SANITIZE:BOOL=ON" in f.read()
    except OSError:
        return False


# 20,000 connections, as the issue asks (both crash tests take about 50 s on the
# 2-core test machine); 5,000 against the ASan build, where 20,000 take 80 s.
# MQR_PERSIST_STORM overrides it.
STORM = int(os.environ.get("MQR_PERSIST_STORM", "5000" if sanitized_build() else "20000"))
WINDOW = 8  # the HTTP action's default pool size: the records out at once
RULE_SQL = 'SELECT clientid, username, reason_code, timestamp FROM "$events/client_connack"'


class Service:
    """An HTTP/1.1 keep-alive service on a fixed port that records the
    Idempotency-Key and the clientid of every POST; start() and stop() bring
    it up and down. `delay` slows each answer and `gated` holds every answer
    until open_gate() (to kill during delivery)."""

    def __init__(self, port, delay=0.0, gated=False):
        self.port = port
        self.delay = delay
        self.gated = gated
        self.gate = None
        self.keys = []
        self.clientids = []
        self.lock = threading.Lock()
        self.loop = None
        self.thread = None

    async def _client(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length, key = 0, None
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"idempotency-key":
                        key = value.strip().decode()
                body = await reader.readexactly(length) if length else b""
                if self.gated:
                    await self.gate.wait()
                if self.delay:
                    await asyncio.sleep(self.delay)
                with self.lock:
                    self.keys.append(key)
                    self.clientids.append(json.loads(body)["clientid"])
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def start(self):
        ready = threading.Event()

        def run():
            self.loop = asyncio.new_event_loop()
            self.gate = asyncio.Event()
            self.server = self.loop.run_until_complete(
                asyncio.start_server(self._client, "127.0.0.1", self.port, reuse_address=True))
            ready.set()
            self.loop.run_forever()
            self.server.close()
            self.loop.run_until_complete(self.server.wait_closed())
            self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert ready.wait(10)

    def open_gate(self):
        self.loop.call_soon_threadsafe(self.gate.set)

    def stop(self):
        if self.thread:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.thread = None

    def count(self):
        with self.lock:
            return len(self.keys)

    def unique(self):
        with self.lock:
            return len(set(self.keys)), len(set(self.clientids)), len(self.keys)


def broker_config(datadir, service_port, extra=""):
    return ("persistence true\npersistence_location %s\nautosave_interval 1\n%s"
            "rule connack_audit\n  sql %s\n  http http://127.0.0.1:%d/connack\nend\n"
            % (datadir, extra, RULE_SQL, service_port))


def storm(port, n):
    r = subprocess.run([BENCH, "conn", "-p", str(port), "-c", str(n), "-P", "100", "-j",
                        "-d", "120"], capture_output=True, text=True, timeout=180)
    out = json.loads(r.stdout)
    assert out["connected"] == n and out["failed"] == 0, r.stdout + r.stderr
    return out


def queued_on_disk(datadir):
    adir = os.path.join(datadir, "actions", "connack_audit.0.http")
    return sum(os.path.getsize(os.path.join(adir, f)) for f in os.listdir(adir)
               if f.endswith(".seg"))


def check_delivery(svc):
    keys, clientids, total = svc.unique()
    assert clientids == STORM, "missing events: %d of %d clientids" % (clientids, STORM)
    assert keys == STORM, "%d distinct Idempotency-Keys for %d events" % (keys, STORM)
    assert total - keys <= WINDOW, "%d extra copies (window %d)" % (total - keys, WINDOW)
    assert None not in svc.keys
    return total - keys


def test_kill_while_queued_then_service_up_delivers_every_event(tmp_path):
    datadir = str(tmp_path)
    sport = free_port()
    svc = Service(sport)
    cfg = broker_config(datadir, sport)
    b = Broker(config=cfg)
    try:
        storm(b.port, STORM)
        # every event is in the action's queue on disk (~110 bytes a record)
        wait_for(lambda: queued_on_disk(datadir) > STORM * 80, 30, "the queue on disk")
    finally:
        b.stop(signal.SIGKILL)
    assert svc.count() == 0
    svc.start()
    try:
        with Broker(config=cfg, port=b.port) as b2:
            assert b2.wait_log("queued event(s) replayed", 10), b2.logtext()
            wait_for(lambda: svc.unique()[1] >= STORM, 60, "every event at the service")
            time.sleep(0.5)  # anything sent twice would arrive now
        assert check_delivery(svc) == 0, "nothing was in flight at the kill"
    finally:
        svc.stop()


def test_kill_during_delivery_then_restart_delivers_every_event(tmp_path):
    datadir = str(tmp_path)
    sport = free_port()
    # answers held until the storm is over, then at most ~2,700/s (8 connections)
    svc = Service(sport, delay=0.003, gated=True)
    svc.start()
    cfg = broker_config(datadir, sport)
    try:
        b = Broker(config=cfg)
        try:
            storm(b.port, STORM)
            svc.open_gate()
            wait_for(lambda: svc.count() >= min(1000, STORM // 4), 30, "delivery under way")
        finally:
            b.stop(signal.SIGKILL)
        n = svc.count()
        assert 0 < n < STORM, "the kill must come during delivery (%d delivered)" % n
        before = svc.count()
        with Broker(config=cfg, port=b.port):
            wait_for(lambda: svc.unique()[1] >= STORM, 60, "every event at the service")
            time.sleep(0.5)
        extra = check_delivery(svc)
        assert before < STORM
        print("delivered before the kill: %d; extra copies: %d" % (before, extra))
    finally:
        svc.stop()


# ---- sessions and retained messages ----------------------------------------------------

def session_expiry(seconds):
    return bytes([0x11]) + struct.pack(">I", seconds)


def connect5(port, cid, clean, expiry=3600):
    r = Raw(port)
    r.send(connect_bytes(clientid=cid, level=5, clean=clean, props=session_expiry(expiry)))
    first, body = r.read_packet()
    assert first == 0x20, (first, body)
    return r, body[0] & 1, body[1]  # session_present, reason


def publish_qos(r, topic, payload, qos, pid, retain=False):
    r.send(publish_bytes(topic, payload, qos=qos, retain=retain, pid=pid, level=5))
    first, body = r.read_packet()
    if qos == 1:
        assert first >> 4 == 4, first  # PUBACK
        return
    assert first >> 4 == 5, first  # PUBREC
    r.send(packet(0x62, struct.pack(">H", pid)))
    first, body = r.read_packet()
    assert first >> 4 == 7, first  # PUBCOMP


def read_publishes(r, n):
    """Read n PUBLISH packets, acknowledging each (QoS 2: PUBREC, then PUBCOMP
    for the PUBREL, which may come after later messages). [(topic, payload,
    qos, retain)] in arrival order."""
    got, rel_waiting = [], set()
    while len(got) < n or rel_waiting:
        pkt = r.read_packet()
        assert pkt is not None, "only %d of %d messages: %r" % (len(got), n, got)
        first, body = pkt
        if first >> 4 == 6:  # PUBREL
            pid = struct.unpack(">H", body[:2])[0]
            rel_waiting.discard(pid)
            r.send(packet(0x70, struct.pack(">H", pid)))
            continue
        assert first >> 4 == 3, pkt
        qos = (first >> 1) & 3
        tlen = struct.unpack(">H", body[:2])[0]
        off = 2 + tlen
        pid = None
        if qos:
            pid = struct.unpack(">H", body[off:off + 2])[0]
            off += 2
        off += 1 + body[off]  # v5 property length (small here)
        got.append((body[2:2 + tlen].decode(), body[off:].decode(), qos, first & 1))
        if qos == 1:
            r.send(packet(0x40, struct.pack(">H", pid)))
        elif qos == 2:
            rel_waiting.add(pid)
            r.send(packet(0x50, struct.pack(">H", pid)))
    return got


def persist_config(datadir, autosave=3600, extra=""):
    return "persistence true\npersistence_location %s\nautosave_interval %d\n%s" % (
        datadir, autosave, extra)


@pytest.mark.parametrize("path", ["snapshot", "journal"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill9", "sigterm"])
def test_retained_and_persistent_session_survive(tmp_path, sig, path):
    """snapshot: autosave_interval 1 and a pause, so a snapshot holds the last
    change; journal: no snapshot after start-up (autosave_interval 3600), the
    kill comes right after the last change."""
    datadir = str(tmp_path)
    cfg = persist_config(datadir, 1 if path == "snapshot" else 3600)
    b = Broker(config=cfg)
    try:
        sub, present, rc = connect5(b.port, "keeper", clean=True)
        assert rc == 0 and present == 0
        sub.send(subscribe_bytes(1, [("p/#", 2)], level=5))
        assert sub.read_packet()[0] == 0x90
        sub.send(packet(0xE0, b"\x00\x00"))  # DISCONNECT, the session stays (expiry 3600)
        sub.close()
        pub, _, _ = connect5(b.port, "pub", clean=False)
        publish_qos(pub, "r/1", "kept", 1, 1, retain=True)
        publish_qos(pub, "p/a", "one", 1, 2)
        publish_qos(pub, "p/b", "two", 2, 3)
        publish_qos(pub, "p/c", "three", 1, 4)
        # a QoS 2 message whose PUBREL never came before the crash
        pub.send(publish_bytes("p/d", "four", qos=2, pid=9, level=5))
        assert pub.read_packet()[0] >> 4 == 5  # PUBREC
        pub.close()
        if path == "snapshot":
            time.sleep(2.5)  # autosave_interval 1: a snapshot after the last change
    finally:
        b.stop(sig)
    with Broker(config=cfg, port=b.port) as b2:
        assert b2.wait_log("restored 1 retained message(s)", 5), b2.logtext()
        sub, present, rc = connect5(b2.port, "keeper", clean=False)
        assert rc == 0 and present == 1, "session_present must be 1"
        got = read_publishes(sub, 4)
        assert [(t, p, q) for t, p, q, _ in got] == [
            ("p/a", "one", 1), ("p/b", "two", 2), ("p/c", "three", 1), ("p/d", "four", 2)], got
        sub.close()
        pub, present, _ = connect5(b2.port, "pub", clean=False)
        assert present == 1
        pub.send(packet(0x62, struct.pack(">H", 9)))  # PUBREL for the id awaiting it
        first, body = pub.read_packet()
        assert first >> 4 == 7 and struct.unpack(">H", body[:2])[0] == 9
        assert len(body) == 2 or body[2] == 0, "PUBCOMP success, not packet id not found"
        pub.close()
        fresh, _, _ = connect5(b2.port, "fresh", clean=True)
        fresh.send(subscribe_bytes(1, [("r/#", 1)], level=5))
        assert fresh.read_packet()[0] == 0x90
        (t, p, q, retain), = read_publishes(fresh, 1)
        assert (t, p, retain) == ("r/1", "kept", 1)
        fresh.close()


# ---- the journal -------------------------------------------------------------------------

JOURNAL_HEAD = 32
RECORD_HEAD = 25


def journal_records(path):
    """[(offset, end, type)] of every record of a journal (docs/persistence.md)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"MQRBJRNL", data[:JOURNAL_HEAD]
    out, pos = [], JOURNAL_HEAD
    while pos + RECORD_HEAD <= len(data):
        magic, length = struct.unpack_from("<II", data, pos)
        assert magic == 0x4A52514D, (pos, data[pos:pos + 8])
        end = pos + RECORD_HEAD + length
        out.append((pos, end, data[pos + 24]))
        pos = end
    assert pos == len(data), "the journal ends inside a record"
    return out


def ping(r):
    """PINGREQ and its PINGRESP: everything sent before it was handled."""
    r.send(b"\xc0\x00")
    assert r.read_packet()[0] == 0xD0


def retained_topics(port, filt="r/#"):
    """The retained messages a fresh subscription to filt gets: {topic: payload}."""
    c, _, _ = connect5(port, "look-%d" % free_port(), clean=True, expiry=0)
    c.send(subscribe_bytes(1, [(filt, 0)], level=5))
    assert c.read_packet()[0] == 0x90
    got = {}
    c.send(b"\xc0\x00")  # the retained messages come before the PINGRESP
    while True:
        first, body = c.read_packet()
        if first == 0xD0:
            break
        assert first >> 4 == 3, first
        tlen = struct.unpack(">H", body[:2])[0]
        off = 2 + tlen
        off += 1 + body[off]
        got[body[2:2 + tlen].decode()] = body[off:].decode()
    c.close()
    return got


def test_retained_clear_and_unsubscribe_before_kill_are_honoured(tmp_path):
    """What the snapshot holds (a retained message, a subscription) is removed
    right before kill -9: it must not come back."""
    datadir = str(tmp_path)
    cfg = persist_config(datadir)
    with Broker(config=cfg) as b:  # SIGTERM: a snapshot with both
        pub, _, _ = connect5(b.port, "pub", clean=True, expiry=0)
        publish_qos(pub, "r/keep", "k", 1, 1, retain=True)
        publish_qos(pub, "r/gone", "g", 1, 2, retain=True)
        pub.close()
        sub, _, _ = connect5(b.port, "keeper", clean=True)
        sub.send(subscribe_bytes(1, [("a/#", 1), ("b/#", 1)], level=5))
        assert sub.read_packet()[0] == 0x90
        sub.close()
    port = b.port
    b = Broker(config=cfg, port=port)
    try:
        assert b.wait_log("restored 2 retained message(s) and 1 session(s)", 5), b.logtext()
        sub, present, _ = connect5(port, "keeper", clean=False)
        assert present == 1
        sub.send(packet(0xA2, struct.pack(">H", 2) + b"\x00" + struct.pack(">H", 3) + b"b/#"))
        assert sub.read_packet()[0] == 0xB0  # UNSUBACK
        sub.send(packet(0xE0, b"\x00\x00"))
        sub.close()
        pub, _, _ = connect5(port, "pub", clean=True, expiry=0)
        publish_qos(pub, "r/gone", "", 1, 1, retain=True)  # clear
        publish_qos(pub, "b/x", "not for keeper", 1, 2)
        publish_qos(pub, "a/x", "for keeper", 1, 3)
        pub.close()
    finally:
        b.stop(signal.SIGKILL)
    with Broker(config=cfg, port=port) as b2:
        assert b2.wait_log("restored 1 retained message(s) and 1 session(s)", 5), b2.logtext()
        assert retained_topics(port) == {"r/keep": "k"}
        sub, present, _ = connect5(port, "keeper", clean=False)
        assert present == 1
        got = read_publishes(sub, 1)
        assert [(t, p) for t, p, _, _ in got] == [("a/x", "for keeper")], got
        ping(sub)  # nothing else was queued (b/x came after the unsubscribe)
        sub.close()


def test_acknowledged_messages_are_not_redelivered_after_kill(tmp_path):
    """A persistent session gets QoS 1 and 2 messages; it acknowledges some,
    leaves one QoS 2 message at PUBREL (PUBREC sent, PUBCOMP not) and one QoS
    1 unacknowledged; kill -9. After restart: only the unacknowledged QoS 1
    message is resent (DUP) and the PUBREL is resent for the QoS 2 one."""
    datadir = str(tmp_path)
    cfg = persist_config(datadir)
    b = Broker(config=cfg)
    port = b.port
    try:
        sub, _, _ = connect5(port, "keeper", clean=True)
        sub.send(subscribe_bytes(1, [("m/#", 2)], level=5))
        assert sub.read_packet()[0] == 0x90
        pub, _, _ = connect5(port, "pub", clean=True, expiry=0)
        publish_qos(pub, "m/1", "acked", 1, 1)
        publish_qos(pub, "m/2", "completed", 2, 2)
        publish_qos(pub, "m/3", "at pubrel", 2, 3)
        publish_qos(pub, "m/4", "unacked", 1, 4)
        pids = {}
        while len(pids) < 4:
            first, body = sub.read_packet()
            assert first >> 4 == 3, first
            tlen = struct.unpack(">H", body[:2])[0]
            pids[body[2:2 + tlen].decode()] = struct.unpack(">H", body[2 + tlen:4 + tlen])[0]
        sub.send(packet(0x40, struct.pack(">H", pids["m/1"])))  # PUBACK
        sub.send(packet(0x50, struct.pack(">H", pids["m/2"])))  # PUBREC
        first, body = sub.read_packet()
        assert first == 0x62 and struct.unpack(">H", body[:2])[0] == pids["m/2"]
        sub.send(packet(0x70, struct.pack(">H", pids["m/2"])))  # PUBCOMP
        sub.send(packet(0x50, struct.pack(">H", pids["m/3"])))  # PUBREC, no PUBCOMP
        first, body = sub.read_packet()
        assert first == 0x62 and struct.unpack(">H", body[:2])[0] == pids["m/3"]
        ping(sub)
    finally:
        b.stop(signal.SIGKILL)
    with Broker(config=cfg, port=port):
        sub, present, _ = connect5(port, "keeper", clean=False)
        assert present == 1
        seen = []
        sub.send(b"\xc0\x00")
        while True:
            first, body = sub.read_packet()
            if first == 0xD0:
                break
            seen.append((first, body))
        kinds = [(f >> 4, f & 8) for f, _ in seen]
        assert len(seen) == 2, seen
        # the PUBREL of m/3 and m/4 again with DUP, in flight order (m/3 went first)
        assert seen[0][0] == 0x62 and struct.unpack(">H", seen[0][1][:2])[0] == pids["m/3"], seen
        assert kinds[1] == (3, 8), kinds
        tlen = struct.unpack(">H", seen[1][1][:2])[0]
        assert seen[1][1][2:2 + tlen] == b"m/4"
        sub.close()


def test_shared_message_delayed_will_and_expiry_change_survive_kill(tmp_path):
    """One message for two persistent sessions (written once, referenced by
    the second record), a delayed will waiting when the broker dies, and a
    session whose expiry its DISCONNECT set to 0: after kill -9 both sessions
    get the message, the will is published when its delay ends, and the
    ended session is gone."""
    datadir = str(tmp_path)
    cfg = persist_config(datadir)
    b = Broker(config=cfg)
    port = b.port
    try:
        for cid in ("s1", "s2", "brief"):
            c, _, _ = connect5(port, cid, clean=True)
            c.send(subscribe_bytes(1, [("t/#", 1)], level=5))
            assert c.read_packet()[0] == 0x90
            if cid == "brief":  # DISCONNECT with Session-Expiry-Interval 0: the session ends
                c.send(packet(0xE0, b"\x00" + bytes([5]) + session_expiry(0)))
            else:
                c.send(packet(0xE0, b"\x00\x00"))
            c.close()
        w = Raw(port)
        w.send(connect_bytes(clientid="dying", level=5, clean=True, props=session_expiry(3600),
                             will=("will/dying", "gone", 1, False),
                             will_props=b"\x18" + struct.pack(">I", 2)))
        assert w.read_packet()[0] == 0x20
        pub, _, _ = connect5(port, "pub", clean=True, expiry=0)
        publish_qos(pub, "t/x", "shared", 1, 1)
        pub.close()
        w.close()  # no DISCONNECT: the will waits 2 s
        assert b.wait_log("client 'dying' from", 5)
        ping_c, _, _ = connect5(port, "pinger", clean=True, expiry=0)
        ping(ping_c)  # the close above was handled in an earlier round
    finally:
        b.stop(signal.SIGKILL)
    with Broker(config=cfg, port=port) as b2:
        assert b2.wait_log("restored 0 retained message(s) and 3 session(s)", 5), b2.logtext()
        watcher, _, _ = connect5(port, "watcher", clean=True, expiry=0)
        watcher.send(subscribe_bytes(1, [("will/#", 1)], level=5))
        assert watcher.read_packet()[0] == 0x90
        for cid in ("s1", "s2"):
            c, present, _ = connect5(port, cid, clean=False)
            assert present == 1
            got = read_publishes(c, 1)
            assert [(t, p) for t, p, _, _ in got] == [("t/x", "shared")], (cid, got)
            c.close()
        c, present, _ = connect5(port, "brief", clean=False)
        assert present == 0, "its DISCONNECT ended the session"
        c.close()
        got = read_publishes(watcher, 1)  # within the 5 s read timeout
        assert [(t, p) for t, p, _, _ in got] == [("will/dying", "gone")], got


def test_session_made_persistent_by_a_takeover_survives_kill(tmp_path):
    """A session opened with expiry 0 (not journaled) gets a subscription and
    an unacknowledged QoS 1 message; a CONNECT with clean start 0 and expiry
    3600 takes it over (session present), which makes it persistent; it goes
    offline and a message is queued; kill -9. After restart the session has
    all of it: the message in flight, the queued one, and the subscription
    (a later message arrives)."""
    datadir = str(tmp_path)
    cfg = persist_config(datadir)
    b = Broker(config=cfg)
    port = b.port
    try:
        c1, present, _ = connect5(port, "upg", clean=True, expiry=0)
        c1.send(subscribe_bytes(1, [("u/#", 1)], level=5))
        assert c1.read_packet()[0] == 0x90
        pub, _, _ = connect5(port, "pub", clean=True, expiry=0)
        publish_qos(pub, "u/0", "in flight", 1, 1)
        first, _ = c1.read_packet()
        assert first >> 4 == 3, first  # not acknowledged
        c2, present, _ = connect5(port, "upg", clean=False, expiry=3600)
        assert present == 1
        first, body = c2.read_packet()  # u/0 again, DUP; not acknowledged either
        assert first >> 4 == 3 and first & 8, (first, body)
        ping(c2)
        c2.close()  # no DISCONNECT: the session stays, offline
        assert b.wait_log("client 'upg' from", 5)
        publish_qos(pub, "u/1", "queued", 1, 2)
        ping(pub)
    finally:
        b.stop(signal.SIGKILL)
    with Broker(config=cfg, port=port):
        c, present, _ = connect5(port, "upg", clean=False, expiry=3600)
        assert present == 1
        got = read_publishes(c, 2)
        assert [(t, p) for t, p, _, _ in got] == [("u/0", "in flight"), ("u/1", "queued")], got
        pub, _, _ = connect5(port, "pub", clean=True, expiry=0)
        publish_qos(pub, "u/2", "after", 1, 1)
        got = read_publishes(c, 1)
        assert [(t, p) for t, p, _, _ in got] == [("u/2", "after")], got
        c.close()


def test_sighup_keeps_the_snapshot_generation_and_the_journal(tmp_path):
    """A configuration reload must not restart the snapshot generations or
    stop the journal: changes after it survive kill -9, once each."""
    datadir = str(tmp_path)
    cfg = persist_config(datadir)
    with Broker(config=cfg) as b:  # the session in a snapshot of generation 2
        sub, _, _ = connect5(b.port, "keeper", clean=True)
        sub.send(subscribe_bytes(1, [("a/#", 1)], level=5))
        assert sub.read_packet()[0] == 0x90
        sub.close()
    port = b.port
    b = Broker(config=cfg, port=port)  # generation 3 and its journal
    try:
        b.proc.send_signal(signal.SIGHUP)
        assert b.wait_log("configuration reloaded", 5), b.logtext()
        pub, _, _ = connect5(port, "pub", clean=True, expiry=0)
        publish_qos(pub, "a/1", "one", 1, 1)
        time.sleep(1.5)  # a timer round: no snapshot is due (autosave_interval 3600)
        publish_qos(pub, "a/2", "two", 1, 2)
        pub.close()
    finally:
        b.stop(signal.SIGKILL)
    with Broker(config=cfg, port=port):
        sub, present, _ = connect5(port, "keeper", clean=False)
        assert present == 1
        got = read_publishes(sub, 2)
        assert [(t, p) for t, p, _, _ in got] == [("a/1", "one"), ("a/2", "two")], got
        ping(sub)  # and nothing twice
        sub.close()


def make_journal(datadir):
    """A broker that snapshots nothing after start-up gets five retained
    messages (r/1..r/5) and then r/5 cleared; killed with SIGKILL. Returns the
    records of its journal."""
    cfg = persist_config(datadir)
    b = Broker(config=cfg)
    try:
        pub, _, _ = connect5(b.port, "pub", clean=True, expiry=0)
        for i in range(1, 6):
            publish_qos(pub, "r/%d" % i, "v%d" % i, 1, i, retain=True)
        publish_qos(pub, "r/5", "", 1, 6, retain=True)
        pub.close()
    finally:
        b.stop(signal.SIGKILL)
    recs = journal_records(os.path.join(datadir, "broker.journal"))
    assert [t for _, _, t in recs] == [1, 1, 1, 1, 1, 2], recs  # 5 sets, 1 clear
    return recs


def test_sighup_during_failing_snapshots_keeps_the_episode(tmp_path):
    """Snapshots fail (broker.db.tmp is a directory, which stops root too);
    a SIGHUP while they do must not start a new episode: the failure is
    logged once, and the first snapshot written after it is logged."""
    datadir = str(tmp_path)
    cfg = persist_config(datadir, 1)
    with Broker(config=cfg) as b:
        blocker = tmp_path / "broker.db.tmp"
        blocker.mkdir()
        assert b.wait_log("the previous snapshot stays", 10), b.logtext()
        b.proc.send_signal(signal.SIGHUP)
        assert b.wait_log("configuration reloaded", 5), b.logtext()
        time.sleep(2.5)  # snapshots keep failing after the reload
        blocker.rmdir()
        assert b.wait_log("written again after", 15), b.logtext()
        assert b.logtext().count("the previous snapshot stays") == 1, b.logtext()


def start_on(datadir, files):
    """A broker on a copy of the persistence files `files` {name: bytes}."""
    for name in os.listdir(datadir):
        p = os.path.join(datadir, name)
        if os.path.isfile(p):
            os.unlink(p)
    for name, data in files.items():
        with open(os.path.join(datadir, name), "wb") as f:
            f.write(data)
    return Broker(config=persist_config(datadir))


def test_torn_journal_tail_at_every_byte_of_the_last_record(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    recs = make_journal(str(src))
    files = {n: (src / n).read_bytes() for n in ("broker.db", "broker.journal")}
    journal = files["broker.journal"]
    start, end, _ = recs[-1]
    assert end == len(journal)
    work = tmp_path / "work"
    work.mkdir()
    for cut in range(start, end):
        b = start_on(str(work), dict(files, **{"broker.journal": journal[:cut]}))
        try:
            # r/5's clear is lost with its record; everything before it is kept
            assert b.wait_log("restored 5 retained message(s)", 5), (cut, b.logtext())
            assert b.wait_log("replayed 5 journal record(s)", 5), (cut, b.logtext())
            torn = "1 torn" if cut > start else "0 torn"
            assert torn in b.logtext(), (cut, b.logtext())
            if cut > start:
                assert "torn tail cut off" in b.logtext(), b.logtext()
        finally:
            b.stop(signal.SIGKILL)
    # and the whole journal: the clear applies
    with start_on(str(work), files) as b:
        assert b.wait_log("restored 4 retained message(s)", 5), b.logtext()
        assert retained_topics(b.port) == {"r/%d" % i: "v%d" % i for i in range(1, 5)}


@pytest.mark.parametrize("where", ["body", "length", "magic"])
def test_corrupt_middle_journal_record_is_skipped_and_counted(tmp_path, where):
    src = tmp_path / "src"
    src.mkdir()
    recs = make_journal(str(src))
    files = {n: (src / n).read_bytes() for n in ("broker.db", "broker.journal")}
    j = bytearray(files["broker.journal"])
    start, end, _ = recs[2]  # r/3's record
    at = {"body": end - 3, "length": start + 5, "magic": start}[where]
    j[at] ^= 0x40
    work = tmp_path / "work"
    work.mkdir()
    with start_on(str(work), dict(files, **{"broker.journal": bytes(j)})) as b:
        assert b.wait_log("1 corrupt", 5), b.logtext()
        assert "0 torn" in b.logtext(), b.logtext()
        assert "skipped" in b.logtext()
        want = {"r/%d" % i: "v%d" % i for i in (1, 2, 4)}  # r/3 lost, r/5 cleared
        assert retained_topics(b.port) == want


def forged_retained_record(gen, topic, payload):
    """A journal record setting a retained message, with its checksum, as a
    client could put one in a payload (docs/persistence.md, the format)."""
    def s(b):
        return struct.pack("<I", len(b)) + b
    body = (bytes([0, 1, 0, 0]) + struct.pack("<Iq", 0, 0) + s(topic) + s(payload) + s(b"")
            + s(b"x") + s(b"x") + b"0" * 32)
    tail = struct.pack("<QI", gen, 2) + bytes([1]) + body
    return struct.pack("<II", 0x4A52514D, len(body)) + struct.pack("<I", crc32c(tail)) + tail


def test_a_record_inside_a_torn_payload_is_not_replayed(tmp_path):
    """A client publishes a retained message whose payload holds a valid
    journal record (a retained message it may not set); the broker dies
    while writing it (the record is torn after the forged one). The torn
    tail is cut off: nothing inside it is replayed."""
    datadir = str(tmp_path)
    cfg = persist_config(datadir)
    b = Broker(config=cfg)
    port = b.port
    try:
        with open(os.path.join(datadir, "broker.journal"), "rb") as f:
            gen = struct.unpack_from("<Q", f.read(24), 16)[0]
        forged = forged_retained_record(gen, b"r/forged", b"evil")
        pub, _, _ = connect5(port, "pub", clean=True, expiry=0)
        publish_qos(pub, "r/big", b"A" * 64 + forged + b"B" * 64, 1, 1, retain=True)
        ping(pub)
    finally:
        b.stop(signal.SIGKILL)
    path = os.path.join(datadir, "broker.journal")
    data = open(path, "rb").read()
    at = data.find(forged)
    assert at > 0
    with open(path, "r+b") as f:
        f.truncate(at + len(forged) + 10)  # torn inside r/big's payload
    with Broker(config=cfg, port=port) as b2:
        assert b2.wait_log("1 torn", 5), b2.logtext()
        assert retained_topics(port) == {}, b2.logtext()


def test_journal_of_an_older_generation_is_ignored(tmp_path):
    """A crash between the snapshot's rename and the new journal's leaves the
    old journal, whose changes the snapshot holds: it must not be replayed
    again (here it would set r/1 again, which the snapshot no longer has)."""
    src = tmp_path / "src"
    src.mkdir()
    make_journal(str(src))
    old_journal = (src / "broker.journal").read_bytes()
    with Broker(config=persist_config(str(src))) as b:  # replays it, newer snapshots
        pub, _, _ = connect5(b.port, "pub", clean=True, expiry=0)
        publish_qos(pub, "r/1", "", 1, 1, retain=True)
        pub.close()
    work = tmp_path / "work"
    work.mkdir()
    files = {"broker.db": (src / "broker.db").read_bytes(), "broker.journal": old_journal}
    with start_on(str(work), files) as b:
        assert b.wait_log("ignored (the snapshot holds its changes)", 5), b.logtext()
        assert b.wait_log("restored 3 retained message(s)", 5), b.logtext()


def test_newer_journal_format_is_refused(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    with Broker(config=persist_config(str(d))):  # a valid journal header
        pass
    j = bytearray((d / "broker.journal").read_bytes())
    j[8] = 9  # the version
    (d / "broker.journal").write_bytes(crc_fixed_header(bytes(j)))
    r = run_with(tmp_path, persist_config(str(d)))
    assert r.returncode != 0
    assert "broker.journal: format version 9 is newer than this broker's (2)" in r.stderr, r.stderr


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def crc_fixed_header(j):
    crc = crc32c(j[16:32], crc32c(j[:12]))
    return j[:12] + struct.pack("<I", crc) + j[16:]


def test_unwritable_journal_keeps_the_broker_running_and_is_retried(tmp_path):
    """broker.journal.tmp is a directory (stops root too): the journal cannot
    be started; the broker says so once, runs on snapshots alone, and writes a
    snapshot and a new journal once it can (retried every 5 s)."""
    datadir = str(tmp_path)
    blocker = tmp_path / "broker.journal.tmp"
    blocker.mkdir()
    cfg = persist_config(datadir)
    b = Broker(config=cfg)
    try:
        assert b.wait_log("create broker.journal.tmp: Is a directory", 5), b.logtext()
        assert "kept by snapshots alone" in b.logtext()
        pub, _, _ = connect5(b.port, "pub", clean=True, expiry=0)
        publish_qos(pub, "r/1", "during", 1, 1, retain=True)
        blocker.rmdir()
        assert b.wait_log("written again", 15), b.logtext()
        publish_qos(pub, "r/2", "after", 1, 2, retain=True)
        pub.close()
        assert b.proc.poll() is None
        assert b.logtext().count("kept by snapshots alone") == 1, b.logtext()
    finally:
        b.stop(signal.SIGKILL)
    with Broker(config=cfg, port=b.port) as b2:
        # r/1 from the snapshot of the retry, r/2 from the new journal
        assert retained_topics(b2.port) == {"r/1": "during", "r/2": "after"}


def test_journal_past_a_file_size_limit_keeps_the_broker_running(tmp_path):
    """RLIMIT_FSIZE (a full disk as the process sees it): the journal's write
    fails with EFBIG; the broker logs it once, keeps serving, and what the
    journal held before the failure is restored after kill -9 (the record
    the limit cut is a torn tail)."""
    datadir = str(tmp_path)
    cfg = persist_config(datadir)
    limit = 48 * 1024

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    payload = "x" * 3000
    b = Broker(config=cfg, preexec_fn=small_files)
    try:
        pub, _, _ = connect5(b.port, "pub", clean=True, expiry=0)
        for i in range(30):  # 90 KB of retained messages: past the limit
            publish_qos(pub, "r/%02d" % i, payload + str(i), 1, i + 1, retain=True)
        assert b.wait_log("broker.journal: write: File too large", 5), b.logtext()
        publish_qos(pub, "r/after", "still served", 1, 99, retain=True)
        ping(pub)
        assert b.proc.poll() is None
        assert b.logtext().count("kept by snapshots alone") == 1
        pub.close()
    finally:
        b.stop(signal.SIGKILL)
    assert os.path.getsize(os.path.join(datadir, "broker.journal")) <= limit
    with Broker(config=cfg, port=b.port) as b2:
        got = retained_topics(b2.port)
        n = len(got)
        assert 10 <= n < 30, (n, b2.logtext())  # what fitted in 48 KB, no more
        assert got == {"r/%02d" % i: payload + str(i) for i in range(n)}, sorted(got)


# ---- start-up errors -------------------------------------------------------------------

def run_with(tmp_path, cfg_text):
    path = tmp_path / "b.conf"
    path.write_text(cfg_text)
    return run_broker("-p", str(free_port()), "-c", str(path))


def test_missing_directory_is_a_start_up_error(tmp_path):
    r = run_with(tmp_path, "persistence true\npersistence_location %s/nope\n" % tmp_path)
    assert r.returncode != 0
    assert "persistence_location %s/nope: no such directory" % tmp_path in r.stderr, r.stderr


def test_a_file_as_the_directory_is_a_start_up_error(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = run_with(tmp_path, "persistence true\npersistence_location %s\n" % f)
    assert r.returncode != 0 and "not a directory" in r.stderr, r.stderr


def test_unwritable_directory_is_a_start_up_error(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "broker.db.tmp").mkdir()  # the snapshot cannot be written, even by root
    r = run_with(tmp_path, "persistence true\npersistence_location %s\n" % d)
    assert r.returncode != 0 and "is not writable" in r.stderr, r.stderr


def test_newer_snapshot_format_is_refused(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "broker.db").write_bytes(b"MQRBSNAP" + struct.pack("<IIQ", 7, 0, 0))
    r = run_with(tmp_path, "persistence true\npersistence_location %s\n" % d)
    assert r.returncode != 0
    assert "format version 7 is newer than this broker's (2)" in r.stderr, r.stderr


def test_bad_directive_values_name_file_and_line(tmp_path):
    r = run_with(tmp_path, "persistence maybe\n")
    assert r.returncode != 0 and "b.conf:1: persistence needs true or false" in r.stderr, r.stderr
    r = run_with(tmp_path, "\npersistence_sync sometimes\n")
    assert "b.conf:2: persistence_sync needs batch, never or milliseconds" in r.stderr, r.stderr


# ---- republish --------------------------------------------------------------------------

def user_properties(body, qos):
    """The User-Property pairs of a v5 PUBLISH body."""
    tlen = struct.unpack(">H", body[:2])[0]
    off = 2 + tlen + (2 if qos else 0)
    plen, shift = 0, 0
    while True:
        byte = body[off]
        off += 1
        plen |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    props, out, i = body[off:off + plen], [], 0
    sizes = {0x01: 1, 0x02: 4, 0x23: 2, 0x0B: None}
    while i < len(props):
        pid = props[i]
        i += 1
        if pid == 0x26:
            kl = struct.unpack(">H", props[i:i + 2])[0]
            k = props[i + 2:i + 2 + kl].decode()
            i += 2 + kl
            vl = struct.unpack(">H", props[i:i + 2])[0]
            out.append((k, props[i + 2:i + 2 + vl].decode()))
            i += 2 + vl
        elif pid in (0x03, 0x08, 0x09):
            i += 2 + struct.unpack(">H", props[i:i + 2])[0]
        elif pid == 0x0B:
            while props[i] & 0x80:
                i += 1
            i += 1
        else:
            i += sizes[pid]
    return out


def test_republish_carries_the_idempotency_key_as_a_user_property(tmp_path):
    cfg = ("persistence true\npersistence_location %s\n"
           "rule echo\n  sql SELECT payload FROM \"in/#\"\n  republish out/echo\nend\n" % tmp_path)
    with Broker(config=cfg) as b:
        sub, _, _ = connect5(b.port, "watcher", clean=True)
        sub.send(subscribe_bytes(1, [("out/#", 1)], level=5))
        assert sub.read_packet()[0] == 0x90
        pub, _, _ = connect5(b.port, "src", clean=True)
        keys = []
        for i in range(3):
            pub.send(publish_bytes("in/x", "m%d" % i, qos=0, level=5))
            first, body = sub.read_packet()
            assert first >> 4 == 3
            keys += [v for k, v in user_properties(body, (first >> 1) & 3)
                     if k == "Idempotency-Key"]
            if (first >> 1) & 3:
                pid = struct.unpack(">H", body[2 + 8:2 + 8 + 2])[0]
                sub.send(packet(0x40, struct.pack(">H", pid)))
        assert len(keys) == 3 and len(set(keys)) == 3, keys
        assert [k.split("-")[1] for k in keys] == ["1", "2", "3"], keys


def test_unwritable_queue_keeps_the_broker_delivering_and_says_so(tmp_path):
    """A directory where the action's first segment must go (stops root too):
    the queue falls back to memory, the log says why, every event is still
    delivered."""
    datadir = str(tmp_path)
    sport = free_port()
    svc = Service(sport)
    svc.start()
    try:
        with Broker(config=broker_config(datadir, sport)) as b:
            qdir = os.path.join(datadir, "actions", "connack_audit.0.http")
            os.mkdir(os.path.join(qdir, "0000000000000001.seg"))
            storm(b.port, 50)
            assert b.wait_log("queue memory", 10), b.logtext()
            assert "0000000000000001.seg: create: File exists" in b.logtext()
            wait_for(lambda: svc.unique()[1] >= 50, 20, "every event at the service")
            assert b.proc.poll() is None
    finally:
        svc.stop()
