# SPDX-License-Identifier: MIT
"""Integration tests of the non-blocking HTTP client (lib/http_client.c).

They run examples/http-post (mqttrule-http-post), which submits one request
per stdin line and prints one JSON line per outcome plus the metrics, against
real Python HTTP servers bound to 127.0.0.1 on free ports. MQR_BUILD_DIR
names the build tree (default: build/ in the repository).
"""
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("MQR_BUILD_DIR", os.path.join(ROOT, "build"))
PROGRAM = os.path.join(BUILD, "examples", "http-post", "mqttrule-http-post")

pytestmark = pytest.mark.skipif(not os.path.exists(PROGRAM), reason="mqttrule-http-post not built")


class Recorder:
    """What a server saw, and how it should answer the n-th request."""

    def __init__(self, statuses=None, delay=0.0):
        self.lock = threading.Lock()
        self.requests = []
        self.statuses = list(statuses or [])
        self.delay = delay

    def next_status(self):
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200


def make_handler(rec):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without this, Nagle's
        # algorithm on the server meets the client's delayed ACK and every
        # response waits 40 ms.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with rec.lock:
                rec.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                     "body": body})
            if rec.delay:
                time.sleep(rec.delay)
            status = rec.next_status()
            reply = b'{"ok":true}'
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except OSError:
                pass

        do_POST = do_PUT = do_GET = do_DELETE = handle_any

    return Handler


class Server:
    def __init__(self, rec, port=0, tls_context=None):
        self.rec = rec
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), make_handler(rec))
        self.httpd.daemon_threads = True
        if tls_context:
            self.httpd.socket = tls_context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    started = []

    def start(**kw):
        s = Server(Recorder(**{k: v for k, v in kw.items() if k in ("statuses", "delay")}),
                   port=kw.get("port", 0), tls_context=kw.get("tls_context"))
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(url, bodies, *args, timeout=120):
    """Run the program; return (exit code, outcome lines, metrics)."""
    p = subprocess.run([PROGRAM, *args, url], input="".join(b + "\n" for b in bodies),
                       capture_output=True, text=True, timeout=timeout)
    lines = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    metrics = [x["metrics"] for x in lines if "metrics" in x]
    outcomes = [x for x in lines if "outcome" in x]
    assert len(metrics) == 1, p.stdout + p.stderr
    return p.returncode, outcomes, metrics[0]


def check_balanced(m):
    assert m["matched"] == m["success"] + m["failed"] + m["dropped"]
    assert m["dropped"] == m["dropped.queue_full"] + m["dropped.expired"] + m["dropped.other"]
    assert m["queuing"] == 0 and m["inflight"] == 0 and m["queuing_bytes"] == 0


def test_bodies_headers_and_path_as_configured(server):
    s = server()
    rc, outs, m = run(f"http://127.0.0.1:{s.port}/base", ['{"a":1}', '{"b":2}'],
                      "-m", "PUT", "-p", "events/x", "-H", "X-Token: secret",
                      "-H", "Content-Type: application/json")
    assert rc == 0
    assert [o["outcome"] for o in outs] == ["success", "success"]
    assert m["success"] == 2 and m["matched"] == 2
    check_balanced(m)
    reqs = sorted(s.rec.requests, key=lambda r: r["body"])
    assert [r["body"] for r in reqs] == [b'{"a":1}', b'{"b":2}']
    for r in reqs:
        assert r["method"] == "PUT"
        assert r["path"] == "/base/events/x"
        assert r["headers"]["X-Token"] == "secret"
        assert r["headers"]["Content-Type"] == "application/json"
        assert r["headers"]["Host"] == f"127.0.0.1:{s.port}"


def test_header_with_cr_or_lf_is_refused():
    p = subprocess.run([PROGRAM, "-H", "X-Bad: a\rb", "http://127.0.0.1:1/"], input="x\n",
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert "value contains CR at byte 1" in p.stderr


def test_bad_url_is_reported():
    p = subprocess.run([PROGRAM, "ftp://127.0.0.1/"], input="", capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 2
    assert "unsupported scheme 'ftp'" in p.stderr


def test_server_down_then_up_is_delivered_after_retry(server):
    port = free_port()
    proc = subprocess.Popen([PROGRAM, "-b", "100", "-B", "400", f"http://127.0.0.1:{port}/"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    proc.stdin.write("first\nsecond\n")
    proc.stdin.close()
    time.sleep(1.0)
    s = server(port=port)
    out = proc.stdout.read()
    proc.wait(timeout=60)
    lines = [json.loads(x) for x in out.splitlines()]
    outs = [x for x in lines if "outcome" in x]
    m = lines[-1]["metrics"]
    assert proc.returncode == 0
    assert [o["outcome"] for o in outs] == ["success", "success"]
    assert max(o["attempts"] for o in outs) > 1
    assert m["retried"] >= 1 and m["retried.success"] >= 1
    assert sorted(r["body"] for r in s.rec.requests) == [b"first", b"second"]
    check_balanced(m)


def test_500_fails_without_retry(server):
    s = server(statuses=[500])
    rc, outs, m = run(f"http://127.0.0.1:{s.port}/", ["x"])
    assert rc == 1
    assert outs[0]["outcome"] == "failed"
    assert outs[0]["http_status"] == 500
    assert outs[0]["attempts"] == 1
    assert m["failed"] == 1 and m["retried"] == 0
    assert len(s.rec.requests) == 1


def test_400_fails_without_retry(server):
    s = server(statuses=[404])
    rc, outs, m = run(f"http://127.0.0.1:{s.port}/", ["x"])
    assert outs[0]["outcome"] == "failed" and outs[0]["http_status"] == 404
    assert len(s.rec.requests) == 1


@pytest.mark.parametrize("status", [503, 429])
def test_503_and_429_are_retried(server, status):
    s = server(statuses=[status, status])
    rc, outs, m = run(f"http://127.0.0.1:{s.port}/", ["x"], "-b", "50")
    assert rc == 0
    assert outs[0]["outcome"] == "success"
    assert outs[0]["attempts"] == 3
    assert m["retried"] == 2 and m["retried.success"] == 1
    assert len(s.rec.requests) == 3
    check_balanced(m)


def test_retryable_status_until_ttl_is_dropped_expired(server):
    s = server(statuses=[503] * 100)
    rc, outs, m = run(f"http://127.0.0.1:{s.port}/", ["x"], "-b", "50", "-B", "100", "-l", "600")
    assert outs[0]["outcome"] == "dropped" and outs[0]["reason"] == "expired"
    assert m["dropped.expired"] == 1 and m["retried"] >= 2
    check_balanced(m)


def test_slow_server_times_out(server):
    s = server(delay=1.5)
    rc, outs, m = run(f"http://127.0.0.1:{s.port}/", ["x"], "-r", "300", "-a", "1")
    assert rc == 1
    assert outs[0]["outcome"] == "failed"
    assert outs[0]["status"] == "MQR_ETIMEOUT"
    assert outs[0]["step"] == "response"
    assert "timed out after 300 ms" in outs[0]["error"]
    assert m["timeouts"] == 1
    check_balanced(m)


def test_slow_server_with_ttl_is_dropped_expired_and_late_reply_counted(server):
    s = server(delay=0.8)
    rc, outs, m = run(f"http://127.0.0.1:{s.port}/", ["x"], "-l", "300", "-r", "2000")
    # The message expires in flight at 300 ms; the program keeps polling only
    # while messages are pending, so the late reply is not always seen.
    assert outs[0]["outcome"] == "dropped" and outs[0]["reason"] == "expired"
    assert 250 <= outs[0]["elapsed_ms"] < 800
    assert m["dropped.expired"] == 1
    check_balanced(m)


def test_full_queue_drops_are_counted(server):
    s = server(delay=0.05)
    bodies = [f"m{i}" for i in range(20)]
    rc, outs, m = run(f"http://127.0.0.1:{s.port}/", bodies, "-q", "5", "-P", "2")
    assert len(outs) == 20
    dropped = [o for o in outs if o["outcome"] == "dropped"]
    assert len(dropped) == 15 and all(o["reason"] == "queue_full" for o in dropped)
    assert m["dropped.queue_full"] == 15 and m["success"] == 5
    assert sorted(o["line"] for o in outs) == list(range(20))
    check_balanced(m)


def test_ten_thousand_requests_none_lost_none_duplicated(server):
    s = server()
    n = 10000
    bodies = [f"msg-{i}" for i in range(n)]
    rc, outs, m = run(f"http://127.0.0.1:{s.port}/", bodies, timeout=600)
    assert rc == 0
    assert m["success"] == n and m["matched"] == n
    check_balanced(m)
    assert sorted(o["line"] for o in outs) == list(range(n))
    seen = [r["body"].decode() for r in s.rec.requests]
    assert len(seen) == n
    assert sorted(seen) == sorted(bodies)


def test_connector_test_reports_the_failing_step(server):
    s = server(statuses=[204])
    p = subprocess.run([PROGRAM, "-T", f"http://127.0.0.1:{s.port}/health"], capture_output=True,
                       text=True, timeout=30)
    t = json.loads(p.stdout)["test"]
    assert p.returncode == 0 and t["status"] == "MQR_OK" and t["step"] == "done"
    assert t["http_status"] == 204
    assert s.rec.requests[0]["method"] == "GET" and s.rec.requests[0]["path"] == "/health"

    p = subprocess.run([PROGRAM, "-T", f"http://127.0.0.1:{free_port()}/"], capture_output=True,
                       text=True, timeout=30)
    t = json.loads(p.stdout)["test"]
    assert p.returncode == 1 and t["status"] == "MQR_ECONNECT" and t["step"] == "connect"
    assert "Connection refused" in t["message"]

    p = subprocess.run([PROGRAM, "-T", "http://no-such-host.invalid/"], capture_output=True,
                       text=True, timeout=60)
    t = json.loads(p.stdout)["test"]
    assert t["status"] == "MQR_ERESOLVE" and t["step"] == "resolve"


# ---- https ------------------------------------------------------------------------

OPENSSL = shutil.which("openssl")


def make_cert(tmp, name):
    """A self-signed certificate for 127.0.0.1 and localhost: (cert, key)."""
    cert, key = os.path.join(tmp, name + ".pem"), os.path.join(tmp, name + ".key")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def https_supported():
    if not OPENSSL or not os.path.exists(PROGRAM):
        return False
    p = subprocess.run([PROGRAM, "-T", "https://127.0.0.1:1/"], capture_output=True, text=True,
                       timeout=30)
    return "MQR_ENOTSUP" not in p.stdout and "needs a build with OpenSSL" not in p.stderr


@pytest.fixture
def tls_server(server, tmp_path):
    if not https_supported():
        pytest.skip("built without OpenSSL")
    cert, key = make_cert(str(tmp_path), "server")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return server(tls_context=ctx), cert


def test_https_with_the_right_ca_succeeds(tls_server):
    s, cert = tls_server
    rc, outs, m = run(f"https://127.0.0.1:{s.port}/tls", ["a", "b", "c"], "-C", cert)
    assert rc == 0, outs
    assert m["success"] == 3
    assert sorted(r["body"] for r in s.rec.requests) == [b"a", b"b", b"c"]
    p = subprocess.run([PROGRAM, "-T", "-C", cert, f"https://127.0.0.1:{s.port}/"],
                       capture_output=True, text=True, timeout=30)
    assert json.loads(p.stdout)["test"]["status"] == "MQR_OK"


def test_https_with_another_ca_fails_at_tls(tls_server, tmp_path):
    s, _ = tls_server
    other, _ = make_cert(str(tmp_path), "other")
    rc, outs, m = run(f"https://127.0.0.1:{s.port}/", ["a"], "-C", other, "-a", "1")
    assert rc == 1
    assert outs[0]["outcome"] == "failed"
    assert outs[0]["status"] == "MQR_ETLS" and outs[0]["step"] == "tls"
    assert "certificate verify failed" in outs[0]["error"]
    assert s.rec.requests == []
    p = subprocess.run([PROGRAM, "-T", "-C", other, f"https://127.0.0.1:{s.port}/"],
                       capture_output=True, text=True, timeout=30)
    t = json.loads(p.stdout)["test"]
    assert t["status"] == "MQR_ETLS" and t["step"] == "tls"
    assert "certificate verify failed" in t["message"]


def test_https_insecure_skips_verification(tls_server, tmp_path):
    s, _ = tls_server
    other, _ = make_cert(str(tmp_path), "other")
    rc, outs, m = run(f"https://127.0.0.1:{s.port}/", ["a"], "-C", other, "-k")
    assert rc == 0 and m["success"] == 1
