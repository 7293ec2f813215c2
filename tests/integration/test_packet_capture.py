# SPDX-License-Identifier: MIT
"""mqttrule-packet against real MQTT traffic.

Starts Debian's mosquitto broker on a free 127.0.0.1 port, puts a recording
TCP relay in front of it, runs mosquitto_sub and mosquitto_pub through the
relay (MQTT 3.1.1 and 5: QoS 2, retain, a will, user properties), then
decodes each recorded direction with mqttrule-packet and checks the fields,
and that encoding the decoded JSON gives the recorded bytes back.
"""
import json
import pathlib
import select
import shutil
import socket
import subprocess
import threading

import pytest

from conftest import build_dir, free_port, port_open, wait_for

TOOL = build_dir() / "examples" / "packet" / "mqttrule-packet"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
TIMEOUT = 10

pytestmark = pytest.mark.skipif(
    not shutil.which("mosquitto_pub") or not shutil.which(MOSQUITTO),
    reason="mosquitto and mosquitto-clients are needed")


class Relay:
    """Accepts on 127.0.0.1, connects each client to the broker and records
    both directions of every connection, in accept order."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []  # [{"c2s": bytearray, "s2c": bytearray}]
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                client, _ = self.sock.accept()
            except socket.timeout:
                continue
            server = socket.create_connection(("127.0.0.1", self.upstream), timeout=TIMEOUT)
            rec = {"c2s": bytearray(), "s2c": bytearray()}
            with self.lock:
                self.conns.append(rec)
            t = threading.Thread(target=self._pump, args=(client, server, rec), daemon=True)
            self.threads.append(t)
            t.start()

    def _pump(self, client, server, rec):
        ends = {client: (server, "c2s"), server: (client, "s2c")}
        try:
            while not self.stop.is_set():
                ready, _, _ = select.select(list(ends), [], [], 0.1)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    other, key = ends[s]
                    with self.lock:
                        rec[key] += data
                    other.sendall(data)
        except OSError:
            pass
        finally:
            client.close()
            server.close()

    def snapshot(self, i, key):
        with self.lock:
            return bytes(self.conns[i][key]) if i < len(self.conns) else b""

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=TIMEOUT)
        self.sock.close()


@pytest.fixture
def relay(tmp_path):
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: port_open(port), TIMEOUT, "mosquitto to listen")
        r = Relay(port)
        yield r
        r.close()
    finally:
        broker.terminate()
        try:
            broker.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait(timeout=TIMEOUT)


def decode(data, proto_ver=None):
    args = [str(TOOL), "decode"]
    if proto_ver:
        args += ["--proto-ver", str(proto_ver)]
    out = subprocess.run(args, input=data, capture_output=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr.decode()
    packets = [json.loads(line) for line in out.stdout.decode().splitlines()]
    enc_args = [str(TOOL), "encode"] + (["--proto-ver", str(proto_ver)] if proto_ver else [])
    back = subprocess.run(enc_args, input=out.stdout, capture_output=True, timeout=TIMEOUT)
    assert back.returncode == 0, back.stderr.decode()
    assert back.stdout == data, "decode -> encode did not reproduce the captured bytes"
    return packets


def count_packets(data):
    """Number of complete MQTT packets at the start of data (framing only)."""
    n, i = 0, 0
    while i + 2 <= len(data):
        j, length, mult = i + 1, 0, 1
        while j < len(data) and data[j] & 0x80 and j - i < 4:
            length += (data[j] & 0x7F) * mult
            mult *= 128
            j += 1
        if j >= len(data):
            break
        length += data[j] * mult
        if j + 1 + length > len(data):
            break
        i = j + 1 + length
        n += 1
    return n


def wait_packets(relay, conn, key, n, what):
    wait_for(lambda: count_packets(relay.snapshot(conn, key)) >= n, TIMEOUT, what)


def exchange(relay, version, pub_extra):
    """mosquitto_sub waits for one message, mosquitto_pub sends it (QoS 2,
    retained) with a will; returns (sub c2s, sub s2c, pub c2s, pub s2c)."""
    common = ["-h", "127.0.0.1", "-p", str(relay.port), "-V", version]
    sub = subprocess.Popen(["mosquitto_sub", *common, "-i", "capture-sub", "-t", "cap/#",
                            "-q", "2", "-C", "1", "-W", str(TIMEOUT)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # CONNACK and SUBACK back to the subscriber: it is ready.
        wait_packets(relay, 0, "s2c", 2, "the SUBACK")
        subprocess.run(["mosquitto_pub", *common, "-i", "capture-pub", "-t", "cap/t1",
                        "-m", "hello \u00e9", "-q", "2", "-r", "--will-topic", "cap/will",
                        "--will-payload", "gone", "--will-qos", "1", "--will-retain",
                        "-u", "user1", "-P", "pw1", *pub_extra],
                       check=True, timeout=TIMEOUT, capture_output=True)
        out, _ = sub.communicate(timeout=TIMEOUT)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait(timeout=TIMEOUT)
    assert out.decode().strip() == "hello \u00e9"
    # Let the last bytes (PUBCOMP, DISCONNECT) pass the relay.
    wait_packets(relay, 0, "c2s", 5, "the subscriber's DISCONNECT")
    wait_packets(relay, 0, "s2c", 4, "the broker's PUBREL")
    wait_packets(relay, 1, "c2s", 4, "the publisher's DISCONNECT")
    wait_packets(relay, 1, "s2c", 3, "the broker's PUBCOMP")
    return [relay.snapshot(i, k) for i in (0, 1) for k in ("c2s", "s2c")]


def types(packets):
    return [p["type"] for p in packets]


def test_capture_mqtt311(relay):
    sub_c2s, sub_s2c, pub_c2s, pub_s2c = exchange(relay, "mqttv311", [])
    pub = decode(pub_c2s)
    assert types(pub) == ["CONNECT", "PUBLISH", "PUBREL", "DISCONNECT"]
    c = pub[0]
    assert c["proto_name"] == "MQTT" and c["proto_ver"] == 4
    assert c["clientid"] == "capture-pub" and c["clean_start"] is True
    assert c["username"] == "user1" and c["password"] == "pw1"
    assert c["will"] == {"topic": "cap/will", "payload": "gone", "qos": 1, "retain": True}
    assert "properties" not in c
    p = pub[1]
    assert (p["topic"], p["qos"], p["retain"], p["dup"]) == ("cap/t1", 2, True, False)
    assert p["payload"] == "hello \u00e9"
    assert pub[2]["packet_id"] == p["packet_id"]
    assert types(decode(pub_s2c, 4)) == ["CONNACK", "PUBREC", "PUBCOMP"]

    sub = decode(sub_c2s)
    assert types(sub) == ["CONNECT", "SUBSCRIBE", "PUBREC", "PUBCOMP", "DISCONNECT"]
    assert sub[1]["subscriptions"] == [{"topic": "cap/#", "qos": 2, "no_local": False,
                                        "retain_as_published": False, "retain_handling": 0}]
    down = decode(sub_s2c, 4)
    assert types(down) == ["CONNACK", "SUBACK", "PUBLISH", "PUBREL"]
    assert down[0] == {"type": "CONNACK", "session_present": False, "reason_code": 0}
    assert down[1]["reason_codes"] == [2]
    assert down[2]["topic"] == "cap/t1" and down[2]["qos"] == 2
    assert down[2]["payload"] == "hello \u00e9"


def test_capture_mqtt5(relay):
    extra = ["-D", "PUBLISH", "user-property", "k", "v", "-D", "PUBLISH", "user-property", "k", "v2",
             "-D", "PUBLISH", "content-type", "text/plain",
             "-D", "CONNECT", "session-expiry-interval", "30",
             "-D", "CONNECT", "user-property", "who", "me"]
    sub_c2s, sub_s2c, pub_c2s, pub_s2c = exchange(relay, "mqttv5", extra)
    pub = decode(pub_c2s)
    assert types(pub) == ["CONNECT", "PUBLISH", "PUBREL", "DISCONNECT"]
    c = pub[0]
    assert c["proto_ver"] == 5
    assert c["properties"]["Session-Expiry-Interval"] == 30
    assert c["properties"]["User-Property"] == [["who", "me"]]
    assert c["will"]["topic"] == "cap/will" and c["will"]["qos"] == 1
    assert c["will"]["properties"] == {}
    p = pub[1]
    assert p["properties"]["User-Property"] == [["k", "v"], ["k", "v2"]]
    assert p["properties"]["Content-Type"] == "text/plain"
    assert (p["qos"], p["retain"]) == (2, True)
    ack = decode(pub_s2c, 5)
    assert types(ack) == ["CONNACK", "PUBREC", "PUBCOMP"]
    assert ack[0]["reason_code"] == 0 and "properties" in ack[0]

    down = decode(sub_s2c, 5)
    assert types(down) == ["CONNACK", "SUBACK", "PUBLISH", "PUBREL"]
    fwd = down[2]
    assert fwd["topic"] == "cap/t1" and fwd["payload"] == "hello \u00e9"
    assert fwd["properties"]["User-Property"] == [["k", "v"], ["k", "v2"]]
    assert fwd["properties"]["Content-Type"] == "text/plain"
    assert types(decode(sub_c2s)) == ["CONNECT", "SUBSCRIBE", "PUBREC", "PUBCOMP", "DISCONNECT"]


def test_malformed_stream_reports_and_exits_1(tmp_path):
    # A PINGREQ, then a PUBLISH whose topic holds '+'.
    data = bytes.fromhex("c000" "3006 0003 612f2b 78".replace(" ", ""))
    out = subprocess.run([str(TOOL), "decode"], input=data, capture_output=True, timeout=TIMEOUT)
    assert out.returncode == 1
    assert out.stdout.decode().splitlines() == ['{"type":"PINGREQ"}']
    err = out.stderr.decode()
    assert "PUBLISH: topic contains '+' at byte 8" in err
    assert 'field "topic"' in err and "reason code 0x90" in err


def test_truncated_and_usage_errors():
    out = subprocess.run([str(TOOL), "decode", "--hex"], input=b"30 05 00 01",
                         capture_output=True, timeout=TIMEOUT)
    assert out.returncode == 1 and b"3 more bytes needed" in out.stderr
    assert subprocess.run([str(TOOL)], capture_output=True, timeout=TIMEOUT).returncode == 64
    assert subprocess.run([str(TOOL), "frobnicate"], capture_output=True,
                          timeout=TIMEOUT).returncode == 64
    assert subprocess.run([str(TOOL), "decode", "--proto-ver", "7"], capture_output=True,
                          timeout=TIMEOUT).returncode == 64


def test_encode_hex_round_trip_and_bad_json():
    lines = ('{"type":"PUBLISH","topic":"a/b","qos":1,"retain":false,"dup":false,'
             '"packet_id":7,"payload_hex":"00ff"}\n'
             '{"type":"DISCONNECT","proto_ver":5,"reason_code":4}\n')
    out = subprocess.run([str(TOOL), "encode", "--hex"], input=lines.encode(),
                         capture_output=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().split() == ["3209000361 2f620007 00ff".replace(" ", ""), "e00104"]
    bad = subprocess.run([str(TOOL), "encode"], input=b'{"type":"PUBLISH","topic":"a/#"}\n',
                         capture_output=True, timeout=TIMEOUT)
    assert bad.returncode == 1 and b"line 1" in bad.stderr and b"'#'" in bad.stderr


def test_hex_input_with_comments_decodes_golden_file():
    """The golden .hex files carry '#' comment lines; --hex skips them."""
    golden = (pathlib.Path(__file__).resolve().parents[1] / "data" / "packets"
              / "mosq_v5_pub_c2s_connect.hex")
    out = subprocess.run([str(TOOL), "decode", "--hex", str(golden)], capture_output=True,
                         timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr
    pkt = json.loads(out.stdout.decode().splitlines()[0])
    assert pkt["type"] == "CONNECT" and pkt["proto_ver"] == 5
    assert pkt["clientid"] == "capture-pub" and pkt["will"]["topic"] == "cap/will"
    bad = subprocess.run([str(TOOL), "decode", "--hex"], input=b"10 # comment\n0z",
                         capture_output=True, timeout=TIMEOUT)
    assert bad.returncode == 1 and b"character 14" in bad.stderr
