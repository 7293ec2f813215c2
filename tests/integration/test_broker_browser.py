# SPDX-License-Identifier: MIT
"""A real browser against the WebSocket listener: headless Chromium opens a
page (served by Python's http.server from a temporary directory) that loads
MQTT.js's browser bundle from tests/integration/node/node_modules, connects
over ws://, and subscribes to client_connack, where the broker's default
rule republishes every client.connack event. A client then connects over
plain TCP; the test reads the page's DOM in real time through the DevTools
protocol (--remote-debugging-port, Runtime.evaluate over a WebSocket) until
the event JSON of that client shows up. (--dump-dom with a virtual time
budget stalls the page's WebSocket traffic, so it is not used.)"""
import functools
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest

from broker_util import BROKER, free_port, raw_connect
from tls_util import WsClient, start_broker

HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLE = os.path.join(HERE, "node", "node_modules", "mqtt", "dist", "mqtt.min.js")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built"),
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
    pytest.mark.skipif(not os.path.exists(BUNDLE), reason="MQTT.js is not installed"),
]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>mqttrule ws</title>
<script src="mqtt.min.js"></script></head>
<body><p id="state">loading</p><pre id="events"></pre>
<script>
const state = document.getElementById('state');
const events = document.getElementById('events');
const port = new URLSearchParams(location.search).get('port');
const c = mqtt.connect('ws://127.0.0.1:' + port + '/mqtt', {clientId: 'browser-page', reconnectPeriod: 0});
c.on('error', (e) => { state.textContent = 'error: ' + e.message; });
c.on('connect', () => {
  state.textContent = 'connected';
  c.subscribe('client_connack', (err) => { state.textContent = err ? 'suback error' : 'subscribed'; });
});
c.on('message', (topic, payload) => { events.textContent += payload.toString() + '\\n'; });
</script></body></html>
"""


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class DevTools:
    """Runtime.evaluate over the DevTools protocol's WebSocket."""

    def __init__(self, port, page_url, timeout=30.0):
        deadline = time.monotonic() + timeout
        target = None
        while target is None:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=2) as r:
                    pages = json.load(r)
                target = next((p for p in pages if p.get("url") == page_url and
                               p.get("webSocketDebuggerUrl")), None)
            except OSError:
                pass
            if target is None:
                assert time.monotonic() < deadline, "no DevTools target for " + page_url
                time.sleep(0.1)
        path = target["webSocketDebuggerUrl"].split(str(port), 1)[1]
        self.ws = WsClient(port, path=path, protocol=None)
        assert self.ws.status == 101, self.ws.head
        self.next_id = 0

    def evaluate(self, expr):
        self.next_id += 1
        msg = {"id": self.next_id, "method": "Runtime.evaluate",
               "params": {"expression": expr, "returnByValue": True}}
        self.ws.send(json.dumps(msg).encode(), opcode=1)
        while True:
            data = b""
            while True:
                fin, op, payload = self.ws.recv_frame()
                data += payload
                if fin:
                    break
            reply = json.loads(data)
            if reply.get("id") == self.next_id:
                return reply["result"]["result"].get("value")

    def close(self):
        self.ws.close()


def poll(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    pytest.fail("timed out after %ss waiting for %s" % (timeout, what))


def test_browser_sees_connack_events():
    http_dir = tempfile.mkdtemp(prefix="mqr-browser-")
    profile = tempfile.mkdtemp(prefix="mqr-chromium-")
    shutil.copy(BUNDLE, os.path.join(http_dir, "mqtt.min.js"))
    with open(os.path.join(http_dir, "index.html"), "w") as f:
        f.write(PAGE)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(Quiet, directory=http_dir))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    browser = None
    devtools = None
    try:
        with start_broker(lambda p: "listener %d\nlistener %d\nprotocol websockets\n" % (
                p.plain, p.ws)) as b:
            plain_port = b.ports.plain
            page_url = "http://127.0.0.1:%d/index.html?port=%d" % (httpd.server_address[1],
                                                                  b.ports.ws)
            dt_port = free_port()
            browser = subprocess.Popen(
                [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-extensions", "--user-data-dir=" + profile,
                 "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=%d" % dt_port,
                 page_url],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            devtools = DevTools(dt_port, page_url)
            state = lambda: devtools.evaluate("document.getElementById('state').textContent")
            poll(lambda: state() == "subscribed", 30, "the page to subscribe (state: %s)" % state())
            assert b.wait_log("client 'browser-page' subscribed to 'client_connack'"), b.logtext()
            r, ack = raw_connect(plain_port, clientid="seen-by-browser", username="u1")
            assert ack is not None and ack[1][1] == 0
            text = poll(lambda: (lambda t: t if "seen-by-browser" in t else None)(
                devtools.evaluate("document.getElementById('events').textContent")),
                30, "the event in the page's DOM")
            r.close()
            events = [json.loads(line) for line in text.splitlines() if line.strip()]
            ev = next(e for e in events if e["clientid"] == "seen-by-browser")
            assert ev["username"] == "u1" and ev["reason_code"] == "connection_accepted"
            assert isinstance(ev["timestamp"], int)
            assert "WebSocket upgrade from" in b.logtext()
    finally:
        if devtools is not None:
            devtools.close()
        if browser is not None:
            browser.terminate()
            try:
                browser.wait(timeout=10)
            except subprocess.TimeoutExpired:
                browser.kill()
                browser.wait()
        httpd.shutdown()
        shutil.rmtree(http_dir, ignore_errors=True)
        shutil.rmtree(profile, ignore_errors=True)
