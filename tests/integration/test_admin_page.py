# SPDX-License-Identifier: MIT
"""The admin listener's live diagnostics page in a real browser.

Headless Chromium loads the page from a running mqttrule-broker; while it is
open, the test makes refused connections with known client ids and reasons
and reads the rendered DOM through the DevTools protocol (a minimal
WebSocket client below: no third-party module) until the page, polling the
broker on its own, shows them, without a reload. It then filters by client
id prefix and by reason, checks that the page fits a phone-sized window
without sideways scrolling, and saves screenshots. With
MQR_ADMIN_SCREENSHOT=path the desktop screenshot is also written there (how
docs/img/admin_page.png is made).
"""
import base64
import json
import os
import signal
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import pytest

from broker_util import BROKER, TIMEOUT, Broker, free_port, raw_connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built"),
              pytest.mark.skipif(CHROMIUM is None, reason="chromium missing")]


class DevTools:
    """A DevTools protocol session over a hand-written WebSocket client
    (RFC 6455 text frames, masked as a client must)."""

    def __init__(self, ws_url):
        u = urllib.parse.urlparse(ws_url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n" % (u.path, u.hostname, u.port, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            assert chunk, "DevTools closed the handshake"
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        assert b" 101 " in head.split(b"\r\n")[0], head
        self.next_id = 0

    def _send(self, data):
        hdr = bytearray([0x81])
        n = len(data)
        if n < 126:
            hdr.append(0x80 | n)
        elif n < 65536:
            hdr.append(0x80 | 126)
            hdr += struct.pack(">H", n)
        else:
            hdr.append(0x80 | 127)
            hdr += struct.pack(">Q", n)
        mask = os.urandom(4)
        hdr += mask
        self.sock.sendall(bytes(hdr) + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            assert chunk, "DevTools closed the connection"
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _message(self):
        data = b""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8))[0]
            data += self._exact(n)
            if b0 & 0x80:
                return json.loads(data)

    def call(self, method, **params):
        self.next_id += 1
        self._send(json.dumps({"id": self.next_id, "method": method, "params": params}).encode())
        while True:
            msg = self._message()
            if msg.get("id") == self.next_id:
                assert "error" not in msg, msg
                return msg["result"]

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return r["result"].get("value")

    def close(self):
        self.sock.close()


@pytest.fixture
def browser():
    port = free_port()
    profile = tempfile.mkdtemp(prefix="mqr-chromium-")
    proc = subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--no-first-run", "--user-data-dir=" + profile,
                             "--remote-debugging-port=%d" % port, "--window-size=1200,1000",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    ws = None
    while ws is None:
        assert proc.poll() is None, "chromium exited"
        assert time.monotonic() < deadline, "chromium did not open its DevTools port"
        try:
            targets = json.load(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=5))
            ws = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        except (OSError, StopIteration, ValueError):
            time.sleep(0.2)
    dt = DevTools(ws)
    yield dt
    dt.close()
    # Chromium's helpers (zygote, renderers, crashpad) are in its own session:
    # end them all, so none writes into the profile while it is removed.
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    shutil.rmtree(profile, ignore_errors=True)


def wait_js(dt, expr, what, timeout=30):
    """Poll a JavaScript expression in the page until it is truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = dt.js(expr)
        if v:
            return v
        time.sleep(0.25)
    raise AssertionError("the page never showed %s; body: %s" % (what, dt.js("document.body.innerText")))


ROWS = ("JSON.stringify(Array.from(document.querySelectorAll('#refusals tbody tr[data-clientid]'))"
        ".map(function (tr) { return [tr.dataset.clientid, tr.dataset.reason,"
        " tr.cells[2].textContent, tr.cells[3].textContent, tr.cells[4].textContent]; }))")


def rows(dt):
    return json.loads(dt.js(ROWS))


def shot(dt, path):
    data = base64.b64decode(dt.call("Page.captureScreenshot", format="png")["data"])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with open(path, "wb") as f:
        f.write(data)


def test_live_page_shows_refused_connections(browser, tmp_path):
    dt = browser
    admin = free_port()
    conf = ("admin_listener %d\nmax_clientid_len 20\nban clientid banned-cam-1\n"
            "protocols 4 5\n"
            "rule connack_log\n  sql SELECT clientid, reason_code FROM \"$events/client_connack\"\n"
            "  republish log/connack\nend\n"
            "rule hot\n  sql SELECT payload.t AS t FROM \"sensors/#\" WHERE payload.t > 30\nend\n" % admin)
    with Broker(config=conf) as b:
        dt.call("Page.enable")
        dt.call("Page.navigate", url="http://127.0.0.1:%d/" % admin)
        wait_js(dt, "document.body && document.body.dataset.updated", "its first update")
        first = dt.js("document.body.dataset.updated")
        assert rows(dt) == []
        assert "connack_log" in dt.js("document.querySelector('#rules').innerText")
        # the page is open: now clients are refused, each for a known reason
        ok, _ = raw_connect(b.port, clientid="good-sensor-1", username="alice")
        for cid, kw in (("banned-cam-1", {"username": "cam"}),
                        ("x" * 30, {}),                              # longer than max_clientid_len
                        ("old-gw-7", {"level": 3}),                  # MQTT 3.1 is off
                        ("banned-cam-1", {"level": 5, "username": "cam5"})):
            r, ack = raw_connect(b.port, clientid=cid, **kw)
            r.close()
        want = {("banned-cam-1", "banned"), ("x" * 20, "client_identifier_not_valid"),
                ("old-gw-7", "unsupported_protocol_version")}
        wait_js(dt, "(function(){var r=%s; return %s.every(function(w){return r.some(function(x)"
                "{return x[0].indexOf(w[0])===0 && x[1]===w[1];});});})()"
                % (ROWS.replace("JSON.stringify", ""), json.dumps([list(w) for w in want])),
                "the refused connections")
        assert dt.js("document.body.dataset.updated") != first  # updated in place, no reload
        got = rows(dt)
        cam = [r for r in got if r[0] == "banned-cam-1"]
        assert len(cam) == 2 and {r[2] for r in cam} == {"cam", "cam5"}
        assert all(r[3].startswith("127.0.0.1:") and r[4] == "127.0.0.1:%d" % b.port for r in got)
        assert "good-sensor-1" not in [r[0] for r in got]
        # the chart's legend and the rules' counters follow
        wait_js(dt, "document.querySelector('#legend').innerText.indexOf('banned 2') >= 0",
                "the chart legend")
        assert dt.js("document.querySelectorAll('#chart svg rect').length") >= 2
        wait_js(dt, "(function(){var tr=document.querySelector('#rules tr[data-rule=\"connack_log\"]');"
                    "return tr && tr.cells[1].textContent === '5';})()", "the rule's matched count")
        shot(dt, str(tmp_path / "desktop.png"))
        if os.environ.get("MQR_ADMIN_SCREENSHOT"):
            shutil.copy(str(tmp_path / "desktop.png"), os.environ["MQR_ADMIN_SCREENSHOT"])
        # filters: client id prefix, then reason
        dt.js("var p=document.getElementById('f-prefix'); p.value='old-'; "
              "p.dispatchEvent(new Event('input'))")
        wait_js(dt, "(function(){var r=%s; return r.length===1 && r[0][0]==='old-gw-7';})()"
                % ROWS.replace("JSON.stringify", ""), "the prefix filter")
        dt.js("var p=document.getElementById('f-prefix'); p.value=''; "
              "var s=document.getElementById('f-reason'); s.value='banned'; "
              "s.dispatchEvent(new Event('change'))")
        wait_js(dt, "(function(){var r=%s; return r.length===2 && r.every(function(x)"
                "{return x[1]==='banned';});})()" % ROWS.replace("JSON.stringify", ""),
                "the reason filter")
        # a phone-sized window: no sideways scrolling of the page itself
        dt.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=2,
                mobile=True)
        time.sleep(0.5)
        assert dt.js("document.documentElement.scrollWidth <= window.innerWidth + 1")
        shot(dt, str(tmp_path / "phone.png"))
        ok.close()
