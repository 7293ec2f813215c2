# SPDX-License-Identifier: MIT
"""mqttrule-broker run as a service (issue #15, #14 item 6): every action
option in the configuration reaches the wire, start-up refuses what cannot
work with file:line, failing actions are logged (first, summary, recovery),
SIGHUP reloads bans, ACL, limits and rules and refuses a bad file whole,
shutdown reports what it could not deliver, mosquitto's directive names,
log types, --version.

Peers are real: HTTP(S) servers in threads on free loopback ports, a TLS
server that requires a client certificate (certificates made per run with
`openssl`), raw MQTT 5 subscribers.
"""
import json
import os
import queue
import signal
import ssl
import socket
import struct
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from broker_util import (BROKER, TIMEOUT, Broker, EventSubscriber, free_port, mstr, publish_bytes,
                         raw_connect, run_broker, subscribe_bytes, varint)


# ---- peers -----------------------------------------------------------------------

class Capture:
    """An HTTP server in a thread that records each request as a dict
    (method, path, headers, body, peer_cn) and answers `status`."""

    def __init__(self, port=0, tls=None, status=200, statuses=None, close=False):
        self.requests = queue.Queue()
        self.count = 0
        cap = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_any(self):
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n) if n else b""
                peer = None
                if isinstance(self.connection, ssl.SSLSocket):
                    cert = self.connection.getpeercert()
                    peer = dict(x[0] for x in cert["subject"])["commonName"] if cert else None
                cap.count += 1
                st = status
                if statuses is not None:
                    st = statuses(self.path, cap.count)
                cap.requests.put({"method": self.command, "path": self.path,
                                  "headers": {k.lower(): v for k, v in self.headers.items()},
                                  "body": body, "peer_cn": peer})
                text = b"nope: server says no" if st >= 300 else b"ok"
                self.send_response(st)
                self.send_header("content-length", str(len(text)))
                if close:  # no keep-alive: closing the server ends every connection
                    self.send_header("connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(text)

            do_POST = do_PUT = do_GET = do_DELETE = handle_any

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", port), H)
        if tls is not None:
            self.srv.socket = tls.wrap_socket(self.srv.socket, server_side=True)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout=TIMEOUT):
        try:
            return self.requests.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no HTTP request within %.1f s" % timeout)

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate
    (CN mqttrule-client), made with openssl in directory d."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=mqttrule-test-ca")
    for name, cn, ext in (("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1"),
                          ("client", "mqttrule-client", "extendedKeyUsage=clientAuth")):
        run("req", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn)
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext + "\n")
        run("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext")
    return {k: os.path.join(d, k) for k in ("ca.pem", "server.pem", "server.key", "client.pem",
                                            "client.key")}


def v5_props(buf):
    """Decode an MQTT 5 property block (without its length) into a list of
    (id, value)."""
    out, i = [], 0
    while i < len(buf):
        pid = buf[i]
        i += 1
        if pid in (0x01,):
            out.append((pid, buf[i]))
            i += 1
        elif pid in (0x02,):
            out.append((pid, struct.unpack(">I", buf[i:i + 4])[0]))
            i += 4
        elif pid in (0x03, 0x08):
            n = struct.unpack(">H", buf[i:i + 2])[0]
            out.append((pid, buf[i + 2:i + 2 + n].decode()))
            i += 2 + n
        elif pid == 0x09:
            n = struct.unpack(">H", buf[i:i + 2])[0]
            out.append((pid, buf[i + 2:i + 2 + n]))
            i += 2 + n
        elif pid == 0x26:
            n = struct.unpack(">H", buf[i:i + 2])[0]
            k = buf[i + 2:i + 2 + n].decode()
            i += 2 + n
            m = struct.unpack(">H", buf[i:i + 2])[0]
            out.append((pid, (k, buf[i + 2:i + 2 + m].decode())))
            i += 2 + m
        elif pid == 0x0B:
            v, mult = 0, 1
            while True:
                b = buf[i]
                i += 1
                v += (b & 0x7F) * mult
                mult *= 128
                if not b & 0x80:
                    break
            out.append((pid, v))
        else:
            raise AssertionError("unexpected property 0x%02x" % pid)
    return out


def read_v5_publish(raw, timeout=TIMEOUT):
    """(first byte, topic, properties, payload) of the next PUBLISH (v5)."""
    pkt = raw.read_packet(timeout)
    assert pkt is not None, "no PUBLISH within %.1f s" % timeout
    first, body = pkt
    assert first >> 4 == 3, pkt
    tlen = struct.unpack(">H", body[:2])[0]
    topic = body[2:2 + tlen].decode()
    i = 2 + tlen + (2 if (first >> 1) & 3 else 0)
    plen, mult = 0, 1
    while True:
        b = body[i]
        i += 1
        plen += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    return first, topic, v5_props(body[i:i + plen]), body[i + plen:]


def v5_subscriber(port, topic, clientid="sub5"):
    raw, ack = raw_connect(port, level=5, clientid=clientid)
    assert ack is not None and ack[1][1] == 0, ack
    raw.send(subscribe_bytes(1, [(topic, 1)], level=5))
    pkt = raw.read_packet()
    assert pkt is not None and pkt[0] == 0x90, pkt
    return raw


def start_quiet(conf_path, *args):
    """Start the broker without -v (Broker adds -v): for log_type tests."""
    port = free_port()
    log = open(conf_path + ".log", "wb")
    p = subprocess.Popen([BROKER, "-p", str(port), "-c", conf_path] + list(args), stdout=log,
                         stderr=subprocess.STDOUT)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p, port, log
        except OSError:
            time.sleep(0.02)
    p.kill()
    raise AssertionError("broker did not listen")


# ---- every action option on the wire --------------------------------------------------

def test_republish_block_options_reach_a_v5_subscriber():
    conf = """
rule rp
  sql SELECT payload.who AS who, payload.props AS props FROM "in/#"
  action republish
    topic audit/${who}
    qos 1
    retain true
    payload who=${who}
    user_properties ${props}
    user_property origin mqttrule
    payload_format_indicator 1
    message_expiry_interval 300
    content_type text/plain
    response_topic reply/${who}
    correlation_data corr-${who}
  end
end
"""
    with Broker(config=conf) as b:
        sub = v5_subscriber(b.port, "audit/#")
        pub, _ = raw_connect(b.port, level=5, clientid="pub")
        pub.send(publish_bytes("in/x", json.dumps({"who": "c1", "props": {"k": "v"}}), level=5))
        first, topic, props, payload = read_v5_publish(sub)
        assert topic == "audit/c1"
        assert payload == b"who=c1"
        assert (first >> 1) & 3 == 1, "qos 1"
        d = dict((p, v) for p, v in props if p != 0x26)
        assert d[0x01] == 1
        assert 0 < d[0x02] <= 300
        assert d[0x03] == "text/plain"
        assert d[0x08] == "reply/c1"
        assert d[0x09] == b"corr-c1"
        assert [v for p, v in props if p == 0x26] == [("k", "v"), ("origin", "mqttrule")]
        # retain true: a later subscriber gets it as a retained message
        late = v5_subscriber(b.port, "audit/#", clientid="late")
        first, topic, props, payload = read_v5_publish(late)
        assert (topic, first & 1) == ("audit/c1", 1)


def test_http_block_options_reach_the_server():
    srv = Capture(statuses=lambda path, n: 503 if path.startswith("/flaky") else 200)
    conf = """
rule h
  sql SELECT clientid FROM "$events/client_connack"
  action http
    url http://127.0.0.1:%d/base
    path events/${clientid}
    method put
    header Authorization Bearer s3cr3t
    header X-Client ${clientid}
    body {"who":"${clientid}"}
    pool_size 2
    connect_timeout 5s
    request_timeout 5s
    request_ttl 45s
    max_buffer_messages 100
    max_buffer_bytes 1MB
    max_response_head 16KB
  end
  action http
    url http://127.0.0.1:%d/flaky
    method delete
    max_retries 1
    retry_backoff 20ms
    retry_backoff_max 50ms
  end
end
""" % (srv.port, srv.port)
    try:
        with Broker(config=conf) as b:
            raw_connect(b.port, level=5, clientid="c1")
            got = sorted([srv.next(), srv.next(), srv.next()], key=lambda r: r["path"])
            put, flaky = got[0], got[1:]
            assert put["method"] == "PUT"
            assert put["path"] == "/base/events/c1"
            assert put["headers"]["authorization"] == "Bearer s3cr3t"
            assert put["headers"]["x-client"] == "c1"
            assert put["headers"]["content-type"] == "application/json"
            assert json.loads(put["body"]) == {"who": "c1"}
            # max_retries 1: the 503 is tried twice, then the message fails
            assert [r["method"] for r in flaky] == ["DELETE", "DELETE"]
            assert all(r["path"] == "/flaky" and r["body"] == b"" for r in flaky)
            time.sleep(0.5)
            assert srv.requests.empty(), "no third attempt"
    finally:
        srv.close()


def built_with_openssl():
    build = os.path.dirname(os.path.dirname(os.path.dirname(BROKER)))
    try:
        with open(os.path.join(build, "generated", "mqr_config.h")) as f:
            return "#define MQR_HAVE_OPENSSL 1" in f.read()
    except OSError:
        return False


@pytest.mark.skipif(not built_with_openssl() or
                    subprocess.run(["openssl", "version"], capture_output=True).returncode != 0,
                    reason="a build without OpenSSL, or no openssl command")
def test_http_client_certificate_against_a_server_that_requires_one(tmp_path):
    c = make_certs(str(tmp_path))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(c["server.pem"], c["server.key"])
    ctx.load_verify_locations(c["ca.pem"])
    ctx.verify_mode = ssl.CERT_REQUIRED
    srv = Capture(tls=ctx)
    conf = """
rule tls
  sql SELECT clientid FROM "$events/client_connack"
  action http
    url https://127.0.0.1:%d/secure
    ssl.enable true
    ssl.verify verify_peer
    ssl.cacertfile %s
    ssl.certfile %s
    ssl.keyfile %s
  end
end
""" % (srv.port, c["ca.pem"], c["client.pem"], c["client.key"])
    try:
        with Broker(config=conf) as b:
            raw_connect(b.port, level=5, clientid="c1")
            r = srv.next()
            assert (r["method"], r["path"], r["peer_cn"]) == ("POST", "/secure", "mqttrule-client")
            assert json.loads(r["body"])["clientid"] == "c1"
            # the connector test presents the certificate too
            t = run_broker("-c", b.config_path, "--test-connectors")
            assert t.returncode == 0 and t.stdout.startswith("ok "), t.stdout + t.stderr
            r = srv.next()
            assert (r["method"], r["peer_cn"]) == ("GET", "mqttrule-client")
    finally:
        srv.close()


# ---- start-up refuses what cannot work ------------------------------------------------

RULE = 'rule r\n  sql SELECT clientid FROM "$events/client_connack"\n'

REFUSALS = [
    ("password_file /nonexistent/pw\n", ":1: password_file /nonexistent/pw: No such file"),
    (RULE + "  action http\n    url http://127.0.0.1:1/\n    ssl.cacertfile /nonexistent/ca.pem\n"
     "  end\nend\n", ":5: action http: ssl.cacertfile /nonexistent/ca.pem: No such file"),
    (RULE + "  action http\n    url http://127.0.0.1:1/\n    ssl.certfile /nonexistent/c.pem\n"
     "  end\nend\n", ":5: action http: ssl.certfile /nonexistent/c.pem: No such file"),
    (RULE + "  action republish\n    topic a/+/b\n  end\nend\n",
     ":4: action republish: topic 'a/+/b' is not a valid topic name"),
    (RULE + "  republish audit/#\nend\n", ":3: action republish: topic 'audit/#' is not a valid"),
    (RULE + "  action http\n    url http://127.0.0.1:1/\n    colour red\n  end\nend\n",
     ":5: action http: unknown option 'colour'"),
    (RULE + "  action republish\n    topic t\n    qos 3\n  end\nend\n",
     ":5: action republish: qos must be a number in 0..2, not '3'"),
    (RULE + "  action http\n    url http://127.0.0.1:1/\n    pool_size 5000\n  end\nend\n",
     ":5: action http: pool_size must be a number in 1..1024, not '5000'"),
    (RULE + "  action http\n    url http://127.0.0.1:1/\n    request_ttl 5x\n  end\nend\n",
     ":5: action http: request_ttl must be a duration"),
    (RULE + "  action http\n    url http://127.0.0.1:1/\n    method patch\n  end\nend\n",
     ":5: action http: method must be post, put, get or delete, not 'patch'"),
    (RULE + "  action http\n    url ftp://127.0.0.1/\n  end\nend\n", ":4: action http: url 'ftp://"),
    (RULE + "  action http\n    method put\n  end\nend\n", ":3: action http: needs a url"),
    (RULE + "  action smtp\n  end\nend\n", ":3: unknown action type 'smtp' (known: republish, http"),
    (RULE + "  action republish\n    topic t\n", ":3: action republish of rule 'r' is not closed"),
    (RULE + "  action republish\n    topic t\n  end\n", ":5: rule 'r' is not closed with 'end'"),
    ("max_queued notanumber\n", ":1: max_queued needs a number"),
    ("rul a\n", ":1: unknown directive 'rul'"),
    ("", ": the configuration file is empty"),
    ("log_type verbose\n", ":1: log_type needs error, warning, notice, information, debug"),
    ("log_dest syslog\n", ":1: log_dest needs stderr, stdout or file PATH"),
    ("include_dir /nonexistent/dir\n", ":1: include_dir /nonexistent/dir: No such file"),
    ("action_log_interval 1\n", ":1: action_log_interval needs a duration from 100ms"),
]


@pytest.mark.parametrize("conf,message", REFUSALS)
def test_startup_refuses_with_file_and_line(tmp_path, conf, message):
    path = tmp_path / "broker.conf"
    path.write_text(conf)
    r = run_broker("-c", str(path), "-p", str(free_port()))
    assert r.returncode == 2, r.stderr
    assert "mqttrule-broker: %s%s" % (path, message) in r.stderr, r.stderr


def test_rule_error_names_its_position_once(tmp_path):
    r = run_broker("--rule", "SELECT clientid FROM \"t\" WHERE", "-p", str(free_port()))
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("line 1, column") == 1, r.stderr
    assert "--rule #1: rule 'rule1': SQL line 1, column" in r.stderr, r.stderr


def test_a_topic_invalid_only_when_rendered_is_counted_and_logged():
    conf = RULE.replace("clientid FROM", "clientid, payload FROM").replace(
        '"$events/client_connack"', '"in/#"') + "  republish out/${payload}\nend\naction_log_interval 1s\n"
    with Broker(config=conf) as b:
        pub, _ = raw_connect(b.port, level=5, clientid="pub")
        pub.send(publish_bytes("in/x", "a/+/b", level=5))
        # the engine's last error names the rendered topic (mqr_engine_action_last_error)
        assert b.wait_log("rule 'r': action republish (topic out/${payload}) is failing: "
                          "republish: invalid topic name 'out/a/+/b'",
                          timeout=TIMEOUT + 5), b.logtext()
        pub.send(publish_bytes("in/y", "fine", level=5))
        assert b.wait_log("rule 'r': action republish (topic out/${payload}) recovered after",
                          timeout=TIMEOUT + 5), b.logtext()
        assert "(1 failed or dropped meanwhile)" in b.logtext()


# ---- failures in the log ------------------------------------------------------------------

def test_http_outage_logs_first_summary_and_recovery():
    port = free_port()  # nothing listens yet: connection refused
    conf = """
action_log_interval 1s
rule out
  sql SELECT clientid FROM "$events/client_connack"
  action http
    url http://127.0.0.1:%d/events
    retry_backoff 50ms
    retry_backoff_max 300ms
    request_ttl 60s
  end
end
""" % port
    target = "rule 'out': action http (http://127.0.0.1:%d/events)" % port
    srv = Capture(port=port, close=True)
    with Broker(config=conf) as b:
        raw_connect(b.port, level=5, clientid="c0")
        assert json.loads(srv.next()["body"])["clientid"] == "c0"
        srv.close()  # the server goes down
        raw_connect(b.port, level=5, clientid="c1")
        assert b.wait_log(target + " is failing: connection refused", timeout=TIMEOUT + 5), b.logtext()
        assert b.wait_log(target + " still failing for", timeout=TIMEOUT + 5), b.logtext()
        srv = Capture(port=port, close=True)  # and comes back
        try:
            assert b.wait_log(target + " recovered after", timeout=TIMEOUT + 10), b.logtext()
            assert json.loads(srv.next()["body"])["clientid"] == "c1"
            assert b.logtext().count(target + " is failing") == 1
        finally:
            srv.close()


def test_http_error_status_is_logged_as_failing():
    srv = Capture(status=400)
    conf = ("action_log_interval 1s\n" + RULE +
            "  action http\n    url http://127.0.0.1:%d/x\n  end\nend\n") % srv.port
    try:
        with Broker(config=conf) as b:
            raw_connect(b.port, level=5, clientid="c1")
            srv.next()
            line = "rule 'r': action http (http://127.0.0.1:%d/x) is failing: " % srv.port
            assert b.wait_log(line, timeout=TIMEOUT + 5), b.logtext()
            why = b.logtext().split(line, 1)[1].splitlines()[0]
            # the engine's last error (status and first body bytes) when it
            # keeps one, else what the counters say
            assert why.startswith("http: failed after 1 attempt(s): HTTP status 400: nope: server "
                                  "says no") or why.startswith("request failed"), why
    finally:
        srv.close()


def test_shutdown_counts_undelivered_messages_per_action():
    port = free_port()  # never listens
    conf = ("shutdown_flush_ms 300\n" + RULE + "  action http\n    url http://127.0.0.1:%d/x\n"
            "    retry_backoff 50ms\n  end\nend\n") % port
    b = Broker(config=conf)
    try:
        for i in range(3):
            raw_connect(b.port, level=5, clientid="c%d" % i)
        time.sleep(0.3)
        assert b.stop() == 0
        assert ("shutdown: rule 'r': action http (http://127.0.0.1:%d/x): 3 message(s) lost, "
                "not delivered within shutdown_flush_ms (300 ms)" % port) in b.logtext(), b.logtext()
    finally:
        b.tmp.cleanup()


def test_shutdown_delivers_what_the_server_accepts_in_time():
    srv = Capture()
    conf = ("shutdown_flush_ms 5000\n" + RULE + "  http http://127.0.0.1:%d/x\nend\n") % srv.port
    b = Broker(config=conf)
    try:
        raw_connect(b.port, level=5, clientid="last")
        assert b.stop() == 0
        assert json.loads(srv.next()["body"])["clientid"] == "last"
        assert "lost" not in b.logtext()
    finally:
        srv.close()
        b.tmp.cleanup()


# ---- SIGHUP -----------------------------------------------------------------------------------

def sighup(b, text, timeout=TIMEOUT):
    before = b.logtext().count(text)
    b.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if b.logtext().count(text) > before:
            return
        time.sleep(0.02)
    raise AssertionError("no '%s' after SIGHUP:\n%s" % (text, b.logtext()))


def test_sighup_applies_a_changed_ban_acl_and_limit_to_new_connections():
    base = RULE + "  republish one\nend\n"
    with Broker(config=base + "max_inflight_messages 7\nacl all readwrite #\n") as b:
        old, ack = raw_connect(b.port, level=5, clientid="old")
        assert ack[1][1] == 0
        with open(b.config_path, "w") as f:
            f.write(base + "max_inflight 8\nban clientid evil\n"
                    "acl all deny secret/#\nacl all readwrite #\n")
        sighup(b, "SIGHUP: configuration reloaded")
        log = b.logtext()
        assert "SIGHUP: max_inflight 7 -> 8" in log
        assert "SIGHUP: ban clientid 'evil' added" in log
        assert "SIGHUP: acl changed (1 -> 2 entries)" in log
        r, ack = raw_connect(b.port, level=5, clientid="evil")
        assert ack[1][1] == 0x8A, "banned after the reload"
        r, ack = raw_connect(b.port, level=5, clientid="new")
        assert ack[1][1] == 0
        r.send(subscribe_bytes(3, [("secret/x", 0)], level=5))
        first, body = r.read_packet()
        assert first == 0x90 and body[-1] >= 0x80, "the new ACL refuses the subscription"
        old.send(b"\xc0\x00")  # PINGREQ: the old client was not dropped
        assert old.read_packet() == (0xD0, b"")


def test_sighup_reloads_the_password_file(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("")
    pw2 = tmp_path / "pw2"
    pw2.write_text("")
    with Broker(config="password_file %s\nallow_anonymous yes\n" % pw) as b:
        with open(b.config_path, "w") as f:
            f.write("password_file %s\nallow_anonymous no\n" % pw2)
        sighup(b, "SIGHUP: configuration reloaded")
        assert "SIGHUP: password_file %s -> %s" % (pw, pw2) in b.logtext()
        r, ack = raw_connect(b.port, level=5, clientid="anon")
        assert ack[1][1] == 0x87, "anonymous access off after the reload"


def test_sighup_logs_what_needs_a_restart():
    with Broker(config=RULE + "  republish one\nend\nnames doc\n") as b:
        with open(b.config_path, "w") as f:
            f.write(RULE + "  republish one\nend\nnames emqx\ntcp_defer_accept no\n")
        sighup(b, "SIGHUP: configuration reloaded")
        log = b.logtext()
        assert "SIGHUP: names changed; that needs a restart, doc stays" in log
        assert "SIGHUP: tcp_defer_accept 1 -> 0 needs a restart; 1 stays" in log
        r, ack = raw_connect(b.port, level=5, clientid="still")
        assert ack[1][1] == 0, "still listening where it was"


BAD_RELOADS = [
    ("colour blue\n", ":1: unknown directive 'colour'"),
    ("rul a\n", ":1: unknown directive 'rul'"),
    ("", ": the configuration file is empty"),
    ("max_queued notanumber\n", ":1: max_queued needs a number"),
    (RULE + "  action republish\n    topic a/#\n  end\nend\n", ":4: action republish: topic 'a/#'"),
    ("password_file /nonexistent/pw\n", ":1: password_file /nonexistent/pw"),
    (RULE.replace("SELECT clientid", "SELEC clientid") + "  republish two\nend\n", ":1: rule 'r': SQL"),
]


@pytest.mark.parametrize("conf,message", BAD_RELOADS)
def test_a_bad_reload_keeps_the_running_configuration(conf, message):
    with Broker(config=RULE + "  republish one\nend\nban clientid evil\n") as b:
        with open(b.config_path, "w") as f:
            f.write(conf)
        sighup(b, "the running configuration stays")
        assert "SIGHUP: %s%s" % (b.config_path, message) in b.logtext(), b.logtext()
        sub = EventSubscriber(b.port, topic="one")
        raw_connect(b.port, level=5, clientid="after")
        assert sub.next_json()["clientid"] == "after", "the old rule still runs"
        r, ack = raw_connect(b.port, level=5, clientid="evil")
        assert ack[1][1] == 0x8A, "the old ban still holds"


def test_sighup_keeps_an_unchanged_rule_and_replaces_a_changed_one():
    two = RULE + "  republish one\nend\n" + RULE.replace("rule r", "rule s") + "  republish two\nend\n"
    with Broker(config=two) as b:
        with open(b.config_path, "w") as f:
            f.write(RULE + "  republish one\nend\n" + RULE.replace("rule r", "rule s") +
                    "  republish three\nend\n" + RULE.replace("rule r", "rule t") + "  republish four\nend\n")
        sighup(b, "SIGHUP: configuration reloaded")
        log = b.logtext()
        assert "rule 's' changed" in log and "rule 't' added" in log
        assert "rule 'r' changed" not in log
        sub = EventSubscriber(b.port, topic="three")
        raw_connect(b.port, level=5, clientid="x")
        assert sub.next_json()["clientid"] == "x"


# ---- mosquitto names, log types, --version -------------------------------------------------

def test_mosquitto_directive_names(tmp_path):
    inc = tmp_path / "conf.d"
    inc.mkdir()
    (inc / "10-rule.conf").write_text(RULE + "  republish included\nend\n")
    (inc / "README").write_text("not a .conf: ignored\n")
    log = tmp_path / "broker.log"
    pid = tmp_path / "broker.pid"
    conf = ("max_inflight_messages 7\nmax_queued_messages 9\nlog_dest file %s\npid_file %s\n"
            "include_dir %s\n") % (log, pid, inc)
    with Broker(config=conf) as b:
        sub = EventSubscriber(b.port, topic="included")
        raw_connect(b.port, level=5, clientid="x")
        assert sub.next_json()["clientid"] == "x", "the included rule runs"
        assert int(pid.read_text()) == b.proc.pid
        deadline = time.monotonic() + TIMEOUT
        while "started" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "started" in log.read_text()
        with open(b.config_path, "a") as f:
            f.write("max_inflight 8\nmax_queued 10\n")
        b.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + TIMEOUT
        while "configuration reloaded" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        text = log.read_text()
        assert "SIGHUP: max_inflight 7 -> 8" in text and "SIGHUP: max_queued 9 -> 10" in text
    assert not pid.exists(), "pid_file removed at a clean exit"


def test_log_type_selects_levels(tmp_path):
    conf = tmp_path / "broker.conf"
    conf.write_text("log_type error\nlog_type warning\n" + RULE + "  republish t\nend\n")
    p, port, log = start_quiet(str(conf))
    try:
        raw_connect(port, level=5, clientid="x")
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=TIMEOUT + 5)
    finally:
        log.close()
    text = open(str(conf) + ".log").read()
    assert "started" not in text and "connected from" not in text, text
    conf.write_text("log_type all\n" + RULE + "  republish t\nend\n")
    p, port, log = start_quiet(str(conf))
    try:
        raw_connect(port, level=5, clientid="x")
        time.sleep(0.2)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=TIMEOUT + 5)
    finally:
        log.close()
    text = open(str(conf) + ".log").read()
    assert "started" in text and "client 'x' connected from" in text, text


def test_version_flag():
    r = run_broker("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("mqttrule-broker ") and "libmqttrule" in r.stdout


def test_refusal_log_uses_the_event_name_for_0x84():
    with Broker() as b:
        s = socket.create_connection(("127.0.0.1", b.port))
        # MQTT level 9: answered 0x84 (v5 format would need level 5; v3 gets rc 1)
        body = mstr("MQTT") + bytes([9, 2]) + struct.pack(">H", 60) + mstr("p9")
        s.sendall(bytes([0x10]) + varint(len(body)) + body)
        time.sleep(0.3)
        s.close()
        assert b.wait_log("unacceptable_protocol_version (0x84)"), b.logtext()
        assert "unsupported_protocol_version" not in b.logtext()


def test_silent_socket_closed_after_connect_timeout_despite_defer_accept():
    with Broker(config="connect_timeout_ms 3000\ntcp_defer_accept yes\n") as b:
        s = socket.create_connection(("127.0.0.1", b.port))
        start = time.monotonic()
        s.settimeout(15)
        try:
            data = s.recv(1)
        except ConnectionResetError:
            data = b""
        took = time.monotonic() - start
        assert data == b""
        assert took < 6.5, "closed %.1f s after connecting (connect_timeout_ms 3000)" % took


def test_systemd_notify_ready_reloading_stopping(tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(TIMEOUT)
    conf = tmp_path / "broker.conf"
    conf.write_text(RULE + "  republish t\nend\n")
    env = dict(os.environ, NOTIFY_SOCKET=path)
    p = subprocess.Popen([BROKER, "-p", str(free_port()), "-c", str(conf)], env=env,
                         stderr=subprocess.DEVNULL)
    try:
        assert sock.recv(256) == b"READY=1"
        p.send_signal(signal.SIGHUP)
        assert sock.recv(256) == b"RELOADING=1"
        assert sock.recv(256) == b"READY=1"
        p.send_signal(signal.SIGTERM)
        assert sock.recv(256) == b"STOPPING=1"
        assert p.wait(timeout=TIMEOUT + 5) == 0
    finally:
        if p.poll() is None:
            p.kill()
        sock.close()


@pytest.mark.parametrize("options,why", [
    ("max_buffer_messages 1\n    retry_backoff 1s", "queue full (max_buffer_messages / max_buffer_bytes)"),
    ("request_ttl 200ms\n    retry_backoff 2s", "expired (request_ttl passed before it was delivered)"),
])
def test_http_drop_reasons_are_logged(options, why):
    port = free_port()  # never listens
    conf = ("action_log_interval 1s\n" + RULE + "  action http\n    url http://127.0.0.1:%d/x\n"
            "    %s\n  end\nend\n") % (port, options)
    with Broker(config=conf) as b:
        for i in range(3):
            raw_connect(b.port, level=5, clientid="c%d" % i)
        assert b.wait_log("rule 'r': action http (http://127.0.0.1:%d/x) is failing: " % port,
                          timeout=TIMEOUT + 5), b.logtext()
        assert why in b.logtext() or "http: dropped" in b.logtext(), b.logtext()


def test_republish_direct_dispatch_and_emqx_property_names():
    conf = """
rule first
  sql SELECT payload FROM "in/#"
  action republish
    topic chain/direct
    direct_dispatch true
    mqtt_properties.Content-Type application/json
    mqtt_properties.Message-Expiry-Interval 60
  end
  action republish
    topic chain/routed
  end
end
rule second
  sql SELECT topic FROM "chain/#"
  republish seen
end
"""
    with Broker(config=conf) as b:
        seen = v5_subscriber(b.port, "seen", clientid="seen")
        chain = v5_subscriber(b.port, "chain/direct", clientid="chain")
        pub, _ = raw_connect(b.port, level=5, clientid="pub")
        pub.send(publish_bytes("in/x", "hello", level=5))
        first, topic, props, payload = read_v5_publish(chain)
        assert topic == "chain/direct" and json.loads(payload) == {"payload": "hello"}
        d = dict(props)
        assert d[0x03] == "application/json" and 0 < d[0x02] <= 60
        # only the routed copy runs rule 'second'
        first, topic, props, payload = read_v5_publish(seen)
        assert json.loads(payload) == {"topic": "chain/routed"}
        pkt = None
        try:
            pkt = seen.read_packet(timeout=1.0)
        except socket.timeout:
            pass
        assert pkt is None, "direct_dispatch: no rule ran on chain/direct"
