# SPDX-License-Identifier: MIT
"""Run examples/host (built against the installed library) end to end:
an HTTP service here records POSTs, two MQTT clients send CONNECT (v5 with
a username, v3.1.1 without) and read their CONNACK, and the host must POST
both client.connack events of the source document's rule, then exit 0.

Usage: python3 host_check.py PATH_TO_HOST_BINARY   (tests/install/run.sh)
"""
import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TIMEOUT = 30.0
got = []


class Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        got.append((self.path, json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mqtt_str(s):
    b = s.encode()
    return len(b).to_bytes(2, "big") + b


def connect_packet(level, clientid, username=None):
    flags = 0x02 | (0x80 if username else 0)
    var = mqtt_str("MQTT") + bytes([level, flags]) + (60).to_bytes(2, "big")
    if level == 5:
        var += b"\x00"  # no properties
    payload = mqtt_str(clientid) + (mqtt_str(username) if username else b"")
    body = var + payload
    return bytes([0x10, len(body)]) + body


def fail(msg):
    print("host_check: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/connack" % srv.server_address[1]
    port = free_port()
    host = subprocess.Popen([sys.argv[1], str(port), url, "2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + TIMEOUT
    for level, cid, user in ((5, "conn", "u_emqx"), (4, "dev-2", None)):
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
                break
            except OSError:
                if host.poll() is not None:
                    fail("the host exited %d: %s" % (host.returncode, host.stderr.read()))
                if time.monotonic() > deadline:
                    fail("the host does not listen on %d" % port)
                time.sleep(0.05)
        with s:
            s.sendall(connect_packet(level, cid, user))
            ack = s.recv(16)
            if len(ack) < 4 or ack[0] != 0x20 or ack[3] != 0:
                fail("a successful CONNACK expected, got %r" % ack)
    try:
        out, err = host.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        host.kill()
        fail("the host did not deliver 2 events within %.0f s; POSTs seen: %r" % (TIMEOUT, got))
    srv.shutdown()
    if host.returncode != 0:
        fail("host exited %d: %s %s" % (host.returncode, out, err))
    evs = sorted((e for _, e in got), key=lambda e: e["clientid"])
    if [p for p, _ in got] != ["/connack", "/connack"] or len(evs) != 2:
        fail("expected 2 POSTs to /connack, got %r" % got)
    if list(evs[0]) != ["clientid", "username", "reason_code", "timestamp"]:
        fail("columns %r" % list(evs[0]))
    if (evs[0]["clientid"], evs[0]["username"], evs[0]["reason_code"]) != ("conn", "u_emqx", "success"):
        fail("first event %r" % evs[0])
    # v3.1.1 names its CONNACK codes by the v3 names (docs/events.md, D1)
    if evs[1]["clientid"] != "dev-2" or evs[1]["reason_code"] != "connection_accepted":
        fail("second event %r" % evs[1])
    if '"actions.success":2' not in out:
        fail("metrics printed: %r" % out)
    print("host_check: the installed host POSTed both client.connack events")


main()
