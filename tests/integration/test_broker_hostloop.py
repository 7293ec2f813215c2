# SPDX-License-Identifier: MIT
"""The broker drives the rule engine through its socket-state and timer
callbacks (issue #13): HTTP actions deliver, and an idle keep-alive
connection to the HTTP service costs the broker no CPU (the poll backend
used to ask for POLLIN|POLLOUT on it and spin at ~0.9 CPU).

MQR_BUILD_DIR names the build tree; a build with -DMQR_BROKER_POLL=ON runs
the same tests against the poll() backend.
Run with: /usr/bin/python3 -m pytest tests/integration/test_broker_hostloop.py
"""
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from broker_util import TIMEOUT, Broker, raw_connect

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of process pid, from /proc/<pid>/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Hook:
    """An HTTP/1.1 keep-alive server recording the POSTs it answers."""

    def __init__(self, port=0):
        self.got = []
        self.conns = []
        self.cv = threading.Condition()
        hook = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                with hook.cv:
                    hook.conns.append(self.connection)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with hook.cv:
                    hook.got.append(json.loads(body))
                    hook.cv.notify_all()

        ThreadingHTTPServer.allow_reuse_address = True
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                self.srv = ThreadingHTTPServer(("127.0.0.1", port), H)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d/hook" % self.srv.server_address[1]

    def wait(self, n, timeout=TIMEOUT * 4):
        with self.cv:
            return self.cv.wait_for(lambda: len(self.got) >= n, timeout)

    def close(self):
        """Stop listening and close every connection (keep-alive ones too)."""
        self.srv.shutdown()
        self.srv.server_close()
        with self.cv:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


SQL = 'SELECT clientid, username, reason_code, timestamp FROM "$events/client_connack"'


def test_http_action_through_the_engine_callbacks_then_idle_costs_no_cpu():
    hook = Hook()
    try:
        with Broker("--rule", SQL, "--http", hook.url) as b:
            clients = []
            for i in range(5):
                r, ack = raw_connect(b.port, level=5, clientid="c%d" % i, username="u")
                assert ack[1][1] == 0
                clients.append(r)
            assert hook.wait(5), "5 POSTs, got %d" % len(hook.got)
            assert sorted(e["clientid"] for e in hook.got) == ["c0", "c1", "c2", "c3", "c4"]
            time.sleep(0.3)  # the connection settles into keep-alive
            c0 = cpu_seconds(b.proc.pid)
            time.sleep(2.0)
            used = cpu_seconds(b.proc.pid) - c0
            assert used < 0.2, "idle broker with a keep-alive HTTP connection used %.2f s CPU in 2 s" % used
            # still delivering after the idle time
            r, ack = raw_connect(b.port, level=5, clientid="late", username="u")
            assert hook.wait(6)
            assert hook.got[-1]["clientid"] == "late"
    finally:
        hook.close()


def test_http_service_restarting_closes_and_reopens_descriptors():
    # the service goes away (its keep-alive connection closes) and comes back
    # on the same port: the engine tells the broker to drop the old
    # descriptor and to watch the new one; the event after is delivered
    hook = Hook()
    port = hook.srv.server_address[1]
    with Broker("--rule", SQL, "--http", hook.url) as b:
        raw_connect(b.port, level=5, clientid="before", username="u")
        assert hook.wait(1)
        hook.close()
        time.sleep(0.3)
        hook = Hook(port)
        try:
            raw_connect(b.port, level=5, clientid="after", username="u")
            assert hook.wait(1), "the event after the restart arrives"
            assert hook.got[0]["clientid"] == "after"
            assert "rule engine descriptor" not in b.logtext()
        finally:
            hook.close()
