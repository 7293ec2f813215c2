# SPDX-License-Identifier: MIT
"""Helpers for the mqttrule-broker integration tests.

Broker starts the program on a free port of 127.0.0.1 and stops it; Raw is a
minimal MQTT client over a plain socket that writes exact bytes and reads
whole packets, every read bounded by a timeout. MQR_BUILD_DIR names the
build tree (default: build/ in the repository). MQR_BROKER_WRAPPER, when
set, is a command put before the broker (tests/valgrind.sh runs a few broker
tests under valgrind that way); any valgrind report in the log fails the test.
"""
import json
import os
import re
import shlex
import signal
import socket
import struct
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("MQR_BUILD_DIR", os.path.join(ROOT, "build"))
BROKER = os.path.join(BUILD, "examples", "broker", "mqttrule-broker")
TIMEOUT = 5.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A running mqttrule-broker. Use as a context manager or call stop()."""

    def __init__(self, *args, config=None, port=None, port_flag=True, preexec_fn=None):
        """port_flag False: the configuration's listeners stay (-p would replace
        them); `port` must then be one of them, plain MQTT, for the start-up probe."""
        self.port = port or free_port()
        self.tmp = tempfile.TemporaryDirectory(prefix="mqr-broker-")
        argv = shlex.split(os.environ.get("MQR_BROKER_WRAPPER", "")) + [BROKER, "-v"]
        if port_flag:
            argv += ["-p", str(self.port)]
        if config is not None:
            path = os.path.join(self.tmp.name, "broker.conf")
            with open(path, "w") as f:
                f.write(config)
            argv += ["-c", path]
            self.config_path = path
        argv += list(args)
        self.log_path = os.path.join(self.tmp.name, "broker.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=preexec_fn)
        deadline = time.monotonic() + TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("broker exited with %d:\n%s" % (self.proc.returncode, self.logtext()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("broker did not listen:\n" + self.logtext())
                time.sleep(0.02)

    def logtext(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, text, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.logtext():
                return True
            time.sleep(0.02)
        return False

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=TIMEOUT + 5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=TIMEOUT)
        self.log.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        text = self.logtext()
        self.tmp.cleanup()
        # a sanitizer build reports memory errors and leaks in the log
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in text, text
        assert not re.search(r"^==\d+== ", text, re.M), text  # valgrind -q reports only errors


def run_broker(*args, timeout=TIMEOUT + 10):
    """Run the broker to completion (start-up errors, --test-connectors)."""
    return subprocess.run([BROKER] + list(args), capture_output=True, text=True, timeout=timeout)


# ---- raw MQTT --------------------------------------------------------------------

def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mstr(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack(">H", len(s)) + s


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect_bytes(clientid="c", level=4, clean=True, username=None, password=None, keepalive=60,
                  will=None, props=b"", name=None, will_props=b""):
    """A CONNECT. will = (topic, payload, qos, retain)."""
    flags = 0x02 if clean else 0
    payload = mstr(clientid)
    if will is not None:
        topic, msg, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        if level == 5:
            payload += varint(len(will_props)) + will_props
        payload += mstr(topic) + mstr(msg)
    if username is not None:
        flags |= 0x80
        payload += mstr(username)
    if password is not None:
        flags |= 0x40
        payload += mstr(password)
    if name is None:
        name = "MQIsdp" if level == 3 else "MQTT"
    vh = mstr(name) + bytes([level, flags]) + struct.pack(">H", keepalive)
    if level == 5:
        vh += varint(len(props)) + props
    return packet(0x10, vh + payload)


def reason_props(why):
    """The MQTT 5 property list (length first) holding only Reason-String `why`."""
    if isinstance(why, str):
        why = why.encode()
    props = b"\x1f" + mstr(why)
    return varint(len(props)) + props


# The Reason-String of each server-sent MQTT 5 DISCONNECT (mqtt5.c brk5_disconnect_why).
DISCONNECT_WHY = {
    0x82: "protocol error",
    0x8D: "keep-alive timeout: no packet within 1.5 times the Keep-Alive",
    0x8E: "session taken over by a new connection with the same Client Identifier",
    0x93: "receive maximum exceeded: too many unacknowledged QoS 2 PUBLISH packets",
    0x94: "topic alias invalid",
    0x95: "packet larger than the server's Maximum-Packet-Size",
}


def v5_disconnect(rc):
    """The (first byte, body) of the broker's MQTT 5 DISCONNECT with reason `rc`."""
    return (0xE0, bytes([rc]) + reason_props(DISCONNECT_WHY[rc]))


def subscribe_bytes(pid, filters, level=4):
    body = struct.pack(">H", pid)
    if level == 5:
        body += varint(0)
    for f, opts in filters:
        body += mstr(f) + bytes([opts])
    return packet(0x82, body)


def publish_bytes(topic, payload, qos=0, retain=False, pid=1, level=4):
    body = mstr(topic)
    if qos:
        body += struct.pack(">H", pid)
    if level == 5:
        body += varint(0)
    if isinstance(payload, str):
        payload = payload.encode()
    return packet(0x30 | (qos << 1) | (1 if retain else 0), body + payload)


class Raw:
    """One TCP connection to the broker speaking raw MQTT."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.buf += chunk
        return True

    def read_packet(self, timeout=TIMEOUT):
        """(first byte, body) of the next packet, or None when the broker closed."""
        deadline = time.monotonic() + timeout
        if not self._fill(2, deadline):
            return None
        i, mult, length = 1, 1, 0
        while True:
            if not self._fill(i + 1, deadline):
                return None
            b = self.buf[i]
            length += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
        if not self._fill(i + length, deadline):
            return None
        first, body = self.buf[0], self.buf[i:i + length]
        self.buf = self.buf[i + length:]
        return first, body

    def closed(self, timeout=TIMEOUT):
        """True when the broker closes the connection without sending more."""
        try:
            return self.read_packet(timeout) is None
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        self.sock.close()


def raw_connect(port, **kw):
    """Connect and return (Raw, CONNACK (first, body) or None)."""
    r = Raw(port)
    r.send(connect_bytes(**kw))
    return r, r.read_packet()


class EventSubscriber:
    """A raw 3.1.1 client subscribed to a topic that collects PUBLISH payloads."""

    def __init__(self, port, topic="client_connack", clientid="event-sub", username=None,
                 password=None):
        self.raw, ack = raw_connect(port, clientid=clientid, username=username, password=password)
        assert ack is not None and ack[0] == 0x20 and ack[1][1] == 0, ack
        self.raw.send(subscribe_bytes(1, [(topic, 0)]))
        pkt = self.raw.read_packet()
        assert pkt is not None and pkt[0] == 0x90, pkt

    def next_message(self, timeout=TIMEOUT):
        """The next PUBLISH as (topic, its JSON payload decoded)."""
        pkt = self.raw.read_packet(timeout)
        assert pkt is not None, "no message within %.1f s" % timeout
        first, body = pkt
        assert first >> 4 == 3, pkt
        tlen = struct.unpack(">H", body[:2])[0]
        off = 2 + tlen + (2 if (first >> 1) & 3 else 0)
        return body[2:2 + tlen].decode(), json.loads(body[off:])

    def next_json(self, timeout=TIMEOUT):
        return self.next_message(timeout)[1]

    def close(self):
        self.raw.close()


def stats(broker, timeout=TIMEOUT):
    """Send SIGUSR1 and return the counters of the new "stats" log line as a
    dict of ints (docs/broker.md, "Counters")."""
    before = broker.logtext().count(" stats ")
    broker.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [l for l in broker.logtext().splitlines() if " mqttrule-broker: stats " in l]
        if len(lines) > before:
            fields = lines[-1].split(" mqttrule-broker: stats ", 1)[1].split()
            return {k: int(v) for k, v in (f.split("=", 1) for f in fields)}
        time.sleep(0.02)
    raise AssertionError("no stats line within %.1f s:\n%s" % (timeout, broker.logtext()))


def cpu_seconds(pid):
    """User + system CPU time process `pid` has used, in seconds (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vmrss_kb(pid):
    """The resident set size of process `pid` in KiB (/proc/PID/status)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)
