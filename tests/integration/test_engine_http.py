# SPDX-License-Identifier: MIT
"""Integration tests of the engine's HTTP action: rule -> template -> HTTP.

They run examples/engine-demo (mqttrule-engine-demo), which adds one rule
(by default the connack rule of the source document) with an HTTP action and
a counting callback action, emits one client.connack event per stdin line
("clientid [reason_code [username]]"), drives the engine until nothing is
pending and prints the rule's metrics as JSON. The servers are Python
http.server instances in threads on free ports of 127.0.0.1. MQR_BUILD_DIR
names the build tree (default: build/ in the repository).

Run with: /usr/bin/python3 -m pytest tests/integration/test_engine_http.py
"""
import json
import os
import ssl
import subprocess
import time

import pytest

# The HTTP client's suite already has the recording servers and the
# certificate maker; this suite reuses them.
from test_http_client import OPENSSL, Recorder, Server, free_port, make_cert

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("MQR_BUILD_DIR", os.path.join(ROOT, "build"))
PROGRAM = os.path.join(BUILD, "examples", "engine-demo", "mqttrule-engine-demo")

pytestmark = pytest.mark.skipif(not os.path.exists(PROGRAM), reason="mqttrule-engine-demo not built")


@pytest.fixture
def server():
    started = []

    def start(**kw):
        s = Server(Recorder(statuses=kw.get("statuses"), delay=kw.get("delay", 0.0)),
                   port=kw.get("port", 0), tls_context=kw.get("tls_context"))
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


def parse(stdout, stderr):
    lines = [json.loads(x) for x in stdout.splitlines() if x.strip()]
    assert len(lines) == 1, stdout + stderr
    return lines[0]


def run(url, events, *args, timeout=180):
    """Run the program; return (exit code, rule metrics, http action metrics, whole line)."""
    p = subprocess.run([PROGRAM, *args, url], input="".join(e + "\n" for e in events),
                       capture_output=True, text=True, timeout=timeout)
    out = parse(p.stdout, p.stderr)
    http = [a for a in out["rule"]["actions"] if a["type"] == "http"][0]["metrics"]
    return p.returncode, out["rule"]["metrics"], http, out


def check_balanced(rule, http):
    """Every message ended as exactly one of success, failed, dropped."""
    assert rule["matched"] == rule["passed"] + rule["failed"]
    assert rule["failed"] == rule["failed.exception"] + rule["failed.no_result"]
    assert http["matched"] == http["success"] + http["failed"] + http["dropped"]
    assert http["dropped"] == (http["dropped.queue_full"] + http["dropped.expired"]
                               + http["dropped.other"])
    assert http["queuing"] == 0 and http["inflight"] == 0
    # The rule's action counters cover the HTTP and the callback action.
    assert rule["actions.total"] == rule["actions.success"] + rule["actions.failed"]


def test_default_body_is_the_output_as_json(server):
    s = server()
    rc, rule, http, out = run(f"http://127.0.0.1:{s.port}/hook", ["dev-1", "dev-2 not_authorized bob"])
    assert rc == 0, out
    check_balanced(rule, http)
    assert http["success"] == 2 and out["callback_calls"] == 2
    bodies = sorted((json.loads(r["body"]) for r in s.rec.requests), key=lambda b: b["clientid"])
    assert [b["clientid"] for b in bodies] == ["dev-1", "dev-2"]
    assert bodies[0]["username"] == "undefined"  # D4 default
    assert bodies[1]["username"] == "bob" and bodies[1]["reason_code"] == "not_authorized"
    assert list(bodies[0].keys()) == ["clientid", "username", "reason_code", "timestamp"]
    assert all(r["method"] == "POST" and r["path"] == "/hook" for r in s.rec.requests)
    # The connector's default headers (spec §9.2).
    h = {k.lower(): v for k, v in s.rec.requests[0]["headers"].items()}
    assert h["content-type"] == "application/json" and h["accept"] == "application/json"
    assert h["cache-control"] == "no-cache" and h["keep-alive"] == "timeout=5"


def test_undefined_as_null_option(server):
    s = server()
    rc, rule, http, out = run(f"http://127.0.0.1:{s.port}/", ["dev-1"], "-n")
    assert rc == 0
    assert json.loads(s.rec.requests[0]["body"])["username"] is None


def test_path_headers_body_and_method_as_configured(server):
    s = server()
    rc, rule, http, out = run(
        f"http://127.0.0.1:{s.port}/base", ["c1 success alice"],
        "-m", "PUT", "-p", "clients/${clientid}", "-H", "X-Client: ${clientid}",
        "-H", "X-Reason: ${reason_code}", "-H", "Content-Type: text/plain", "-d", '{"who":"${username}","rc":"${reason_code}"}')
    assert rc == 0, out
    r = s.rec.requests[0]
    assert r["method"] == "PUT"
    assert r["path"] == "/base/clients/c1"
    assert r["headers"]["X-Client"] == "c1"
    assert r["headers"]["X-Reason"] == "success"
    assert [v for k, v in r["headers"].items() if k.lower() == "content-type"] == ["text/plain"]
    assert r["body"] == b'{"who":"alice","rc":"success"}'


def test_get_sends_no_body(server):
    s = server()
    rc, rule, http, out = run(f"http://127.0.0.1:{s.port}/q", ["c1"], "-m", "GET", "-p", "${clientid}")
    assert rc == 0
    assert s.rec.requests[0]["method"] == "GET" and s.rec.requests[0]["body"] == b""
    assert s.rec.requests[0]["path"] == "/q/c1"


def test_rendered_header_with_cr_is_refused(server):
    s = server()
    rc, rule, http, out = run(f"http://127.0.0.1:{s.port}/", ["bad\rvalue"], "-H", "X-Client: ${clientid}")
    assert http["headers_refused"] == 1
    assert http["success"] == 1
    assert "X-Client" not in s.rec.requests[0]["headers"]


def test_header_template_with_cr_or_lf_is_refused_at_setup():
    for bad in ("X-A: a\rb", "X-A: a\nb"):
        p = subprocess.run([PROGRAM, "-H", bad, "http://127.0.0.1:1/"], input="",
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2
        assert "MQR_EINVAL" in p.stderr and "CR, LF or NUL" in p.stderr


def test_server_down_then_up_is_delivered_after_retry(server):
    port = free_port()
    proc = subprocess.Popen([PROGRAM, "-b", "100", "-B", "300", f"http://127.0.0.1:{port}/"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    proc.stdin.write("late-1\nlate-2\n")
    proc.stdin.close()
    time.sleep(1.0)
    s = server(port=port)
    proc.wait(timeout=60)
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    out = parse(stdout, stderr)
    http = [a for a in out["rule"]["actions"] if a["type"] == "http"][0]["metrics"]
    assert proc.returncode == 0, out
    assert http["success"] == 2 and http["retried"] >= 1
    check_balanced(out["rule"]["metrics"], http)
    assert sorted(json.loads(r["body"])["clientid"] for r in s.rec.requests) == ["late-1", "late-2"]


def test_500_fails_without_retry(server):
    s = server(statuses=[500])
    rc, rule, http, out = run(f"http://127.0.0.1:{s.port}/", ["c1"])
    assert rc == 1
    assert http["failed"] == 1 and http["retried"] == 0
    assert rule["actions.failed"] == 1 and rule["actions.failed.unknown"] == 1
    assert len(s.rec.requests) == 1
    check_balanced(rule, http)


def test_503_is_retried(server):
    s = server(statuses=[503, 503])
    rc, rule, http, out = run(f"http://127.0.0.1:{s.port}/", ["c1"], "-b", "50")
    assert rc == 0, out
    assert http["success"] == 1 and http["retried"] == 2
    assert len(s.rec.requests) == 3
    check_balanced(rule, http)


def test_slow_server_timeout_is_counted(server):
    s = server(delay=1.5)
    rc, rule, http, out = run(f"http://127.0.0.1:{s.port}/", ["c1"], "-r", "200", "-l", "700",
                              "-b", "50")
    assert rc == 1
    assert http["timeouts"] >= 1
    assert http["dropped.expired"] == 1
    assert rule["actions.failed.out_of_service"] == 1
    check_balanced(rule, http)


def test_full_queue_drops_are_counted(server):
    s = server(delay=0.2)
    n = 40
    rc, rule, http, out = run(f"http://127.0.0.1:{s.port}/", [f"c{i}" for i in range(n)],
                              "-q", "5", "-P", "1")
    assert rc == 1
    assert http["matched"] == n
    assert http["dropped.queue_full"] >= n - 5 - 1
    assert http["success"] + http["dropped.queue_full"] == n
    assert len(s.rec.requests) == http["success"]
    check_balanced(rule, http)


def test_ten_thousand_events_none_lost_none_duplicated(server):
    s = server()
    n = 10000
    rc, rule, http, out = run(f"http://127.0.0.1:{s.port}/bulk", [f"id-{i}" for i in range(n)])
    assert rc == 0, out
    assert http["success"] == n and rule["passed"] == n and out["callback_calls"] == n
    ids = [json.loads(r["body"])["clientid"] for r in s.rec.requests]
    assert len(ids) == n
    assert sorted(ids) == sorted(f"id-{i}" for i in range(n))
    check_balanced(rule, http)


def test_connector_test_reports_reachability(server):
    s = server()
    p = subprocess.run([PROGRAM, "-T", f"http://127.0.0.1:{s.port}/health"], capture_output=True,
                       text=True, timeout=30)
    r = json.loads(p.stdout)
    assert p.returncode == 0 and r["status"] == "MQR_OK" and r["http_status"] == 200
    p = subprocess.run([PROGRAM, "-T", f"http://127.0.0.1:{free_port()}/"], capture_output=True,
                       text=True, timeout=30)
    r = json.loads(p.stdout)
    assert p.returncode == 1 and r["status"] == "MQR_ECONNECT" and r["step"] == 2


def https_supported():
    if not OPENSSL:
        return False
    p = subprocess.run([PROGRAM, "-T", "https://127.0.0.1:1/"], capture_output=True, text=True,
                       timeout=30)
    return "MQR_ENOTSUP" not in p.stdout + p.stderr


def test_https_with_a_generated_certificate(server, tmp_path):
    if not https_supported():
        pytest.skip("built without OpenSSL")
    cert, key = make_cert(str(tmp_path), "srv")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    s = server(tls_context=ctx)
    rc, rule, http, out = run(f"https://127.0.0.1:{s.port}/tls", ["t1", "t2"], "-C", cert)
    assert rc == 0, out
    assert http["success"] == 2
    assert sorted(json.loads(r["body"])["clientid"] for r in s.rec.requests) == ["t1", "t2"]
    # Without the CA the handshake fails and the messages never succeed.
    rc, rule, http, out = run(f"https://127.0.0.1:{s.port}/tls", ["t3"], "-l", "600", "-b", "50")
    assert rc == 1 and http["success"] == 0
    check_balanced(rule, http)
