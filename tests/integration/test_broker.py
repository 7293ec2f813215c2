# SPDX-License-Identifier: MIT
"""mqttrule-broker end to end: the source document's client.connack scenarios.

Every refusal is checked twice: the CONNACK bytes on the wire and the
reason_code of the client.connack event the default rule republishes to
`client_connack`, under both naming profiles (decision D1).
"""
import json
import struct
import os
import shutil
import signal
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from broker_util import reason_props, v5_disconnect
from broker_util import (BROKER, TIMEOUT, Broker, EventSubscriber, Raw, connect_bytes, publish_bytes,
                         raw_connect,
                         run_broker, subscribe_bytes)

pytestmark = pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built")


def passwd_file(tmp_path):
    path = str(tmp_path / "passwd")
    subprocess.run(["mosquitto_passwd", "-b", "-c", path, "u_emqx", "secret"], check=True,
                   capture_output=True, timeout=TIMEOUT)
    return path


@pytest.mark.skipif(shutil.which("mosquitto_pub") is None, reason="mosquitto clients missing")
def test_default_rule_with_mosquitto_clients():
    with Broker() as b:
        sub = subprocess.Popen(["mosquitto_sub", "-p", str(b.port), "-i", "sub", "-t", "client_connack",
                                "-C", "1", "-W", "10"], stdout=subprocess.PIPE, text=True)
        assert b.wait_log("client 'sub' subscribed to 'client_connack'")
        subprocess.run(["mosquitto_pub", "-p", str(b.port), "-V", "5", "-i", "conn", "-u", "u_emqx",
                        "-t", "t", "-m", "x"], check=True, timeout=TIMEOUT)
        out, _ = sub.communicate(timeout=15)
        ev = json.loads(out)
        assert list(ev) == ["clientid", "username", "reason_code", "timestamp"]
        assert ev["clientid"] == "conn"
        assert ev["username"] == "u_emqx"
        assert ev["reason_code"] == "success"
        assert isinstance(ev["timestamp"], int) and ev["timestamp"] > 1600000000000


@pytest.mark.parametrize("names,expected", [("doc", "connection_accepted"), ("emqx", "success")])
def test_v311_success_name_by_profile(names, expected):
    with Broker("--names", names) as b:
        sub = EventSubscriber(b.port)
        r, ack = raw_connect(b.port, clientid="v3", level=4)
        assert ack == (0x20, b"\x00\x00")
        ev = sub.next_json()
        assert ev["clientid"] == "v3" and ev["reason_code"] == expected
        r.close()
        sub.close()


# (name, broker args builder, connect kwargs, v5 CONNACK code, v3 return code,
#  v5 name, v3 name under doc, v3 name under emqx)
REFUSALS = [
    ("wrong_password", lambda tmp: ["--password-file", passwd_file(tmp)],
     dict(clientid="conn", username="u_emqx", password="wrong"),
     0x86, 4, "bad_username_or_password", "malformed_username_or_password", "bad_username_or_password"),
    ("banned_client", lambda tmp: ["-c", write_conf(tmp, "ban clientid evil\n")],
     dict(clientid="evil"), 0x8A, 5, "banned", "unauthorized_client", "banned"),
    ("invalid_client_id", lambda tmp: [], dict(clientid="", clean=False),
     0x85, 2, "client_identifier_not_valid", "client_identifier_not_valid", "client_identifier_not_valid"),
    ("unauthorized_user", lambda tmp: ["--password-file", passwd_file(tmp), "--allow-anonymous", "no"],
     dict(clientid="anon"),
     0x87, 5, "not_authorized", "unauthorized_client", "not_authorized"),
]


def write_conf(tmp, text):
    path = str(tmp / "extra.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


@pytest.mark.parametrize("names", ["doc", "emqx"])
@pytest.mark.parametrize("case", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_refusals(tmp_path, names, case):
    _, args, kw, v5code, v3code, v5name, v3doc, v3emqx = case
    with Broker("--names", names, *args(tmp_path)) as b:
        sub = EventSubscriber(b.port, username="u_emqx", password="secret")
        # MQTT 5: CONNACK with the v5 code, event with the v5 name
        r, ack = raw_connect(b.port, level=5, **kw)
        assert ack is not None and ack[0] == 0x20 and ack[1][1] == v5code, ack
        assert r.closed()
        ev = sub.next_json()
        assert ev["reason_code"] == v5name
        # MQTT 3.1.1: the mapped return code, the name by profile
        r, ack = raw_connect(b.port, level=4, **kw)
        assert ack == (0x20, bytes([0, v3code]))
        assert r.closed()
        ev = sub.next_json()
        assert ev["reason_code"] == (v3doc if names == "doc" else v3emqx)
        assert "refused client" in b.logtext()
        sub.close()


@pytest.mark.parametrize("names,expected", [("doc", "unacceptable_protocol_version"),
                                            ("emqx", "unsupported_protocol_version")])
def test_unsupported_protocol_level(names, expected):
    with Broker("--names", names) as b:
        sub = EventSubscriber(b.port)
        r, ack = raw_connect(b.port, level=6, clientid="lvl6")
        assert ack == (0x20, b"\x00\x01")
        assert r.closed()
        ev = sub.next_json()
        assert ev["reason_code"] == expected
        sub.close()


def test_correct_password_is_accepted(tmp_path):
    with Broker("--password-file", passwd_file(tmp_path)) as b:
        r, ack = raw_connect(b.port, level=5, clientid="ok", username="u_emqx", password="secret")
        assert ack[0] == 0x20 and ack[1][1] == 0
        r.close()
        # no user name while a password file is configured: anonymous is off
        r, ack = raw_connect(b.port, level=4, clientid="anon")
        assert ack == (0x20, b"\x00\x05")


def test_unreadable_password_file_is_server_unavailable(tmp_path):
    # every CONNECT is refused while the configured file cannot be read, so
    # the event is checked through the log and the CONNACKs on the wire
    # (start-up refuses a missing file: test_broker_ops.py; here it goes away later)
    pw = tmp_path / "pw"
    pw.write_text("u:$6$x$y\n")
    with Broker("--password-file", str(pw)) as b:
        pw.unlink()
        r, ack = raw_connect(b.port, level=5, clientid="x", username="u", password="p")
        assert ack[1][1] == 0x88
        r, ack = raw_connect(b.port, level=4, clientid="y")
        assert ack == (0x20, b"\x00\x03")
        assert b.wait_log("server_unavailable (0x88): the password file cannot be read")


@pytest.mark.parametrize("level,code", [(4, 0x80), (5, 0x80)])
def test_events_subscription_refused(level, code):
    with Broker() as b:
        r, ack = raw_connect(b.port, level=level, clientid="snoop")
        r.send(subscribe_bytes(7, [("$events/client_connack", 0), ("ok/#", 1)], level=level))
        first, body = r.read_packet()
        assert first == 0x90
        if level == 4:
            assert body[2:] == bytes([code, 1])
        else:
            why = b"subscription to '$events/client_connack' refused: " \
                  b"$events topics are not subscribable"
            props = b"\x1f" + struct.pack(">H", len(why)) + why
            assert body[2:] == bytes([len(props)]) + props + bytes([code, 1])


def test_events_subscription_not_authorized_option():
    with Broker(config="refused_subscription_v5 not_authorized\n") as b:
        r, _ = raw_connect(b.port, level=5, clientid="snoop")
        r.send(subscribe_bytes(7, [("$events/#", 0)], level=5))
        first, body = r.read_packet()
        assert (first, body[2:]) == (0x90, reason_props(
            "subscription to '$events/#' refused: $events topics are not subscribable") + b"\x87")
        r2, _ = raw_connect(b.port, level=4, clientid="snoop3")
        r2.send(subscribe_bytes(7, [("$events/#", 0)], level=4))
        assert r2.read_packet() == (0x90, b"\x00\x07\x80")


def test_http_action_delivers_the_event():
    got = []
    done = threading.Event()

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got.append((self.path, self.headers.get("Content-Type"), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            done.set()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = "http://127.0.0.1:%d/hook" % srv.server_address[1]
        sql = 'SELECT clientid, username, reason_code, timestamp FROM "$events/client_connack"'
        with Broker("--rule", sql, "--http", url) as b:
            r, ack = raw_connect(b.port, level=5, clientid="conn", username="u_emqx")
            assert ack[1][1] == 0
            assert done.wait(TIMEOUT)
            path, ctype, body = got[0]
            ev = json.loads(body)
            assert path == "/hook" and ctype == "application/json"
            assert list(ev) == ["clientid", "username", "reason_code", "timestamp"]
            assert (ev["clientid"], ev["username"], ev["reason_code"]) == ("conn", "u_emqx", "success")
    finally:
        srv.shutdown()
        srv.server_close()


def test_test_connectors_reports_each_url():
    sql = 'SELECT * FROM "$events/client_connack"'
    port = __import__("broker_util").free_port()  # nothing listens there
    res = run_broker("--rule", sql, "--http", "http://127.0.0.1:%d/x" % port, "--test-connectors")
    assert res.returncode == 1
    assert "FAILED" in res.stdout and ("http://127.0.0.1:%d/x" % port) in res.stdout


def test_bad_sql_stops_start_up_with_location(tmp_path):
    conf = tmp_path / "b.conf"
    conf.write_text("listener 1\nrule r1\n  sql SELEC x FROM \"t\"\n  republish out\nend\n")
    res = run_broker("-c", str(conf))
    assert res.returncode == 2
    assert "%s:2" % conf in res.stderr and "r1" in res.stderr


def test_bad_config_line_stops_start_up(tmp_path):
    conf = tmp_path / "b.conf"
    conf.write_text("# comment\nmax_qos 7\n")
    res = run_broker("-c", str(conf))
    assert res.returncode == 2
    assert "%s:2:" % conf in res.stderr and "max_qos" in res.stderr


def test_flags_override_the_file_and_rules_come_from_the_file(tmp_path):
    conf = ("names emqx\n"
            "rule mine\n"
            "  sql SELECT clientid, reason_code\n"
            "  sql FROM \"$events/client_connack\"\n"
            "  republish seen\n"
            "end\n")
    with Broker("--names", "doc", config=conf) as b:
        sub = EventSubscriber(b.port, topic="seen")
        r, ack = raw_connect(b.port, level=4, clientid="v3")
        assert sub.next_json() == {"clientid": "v3", "reason_code": "connection_accepted"}


def test_sighup_reloads_rules(tmp_path):
    conf = "rule a\n  sql SELECT clientid FROM \"$events/client_connack\"\n  republish one\nend\n"
    with Broker(config=conf) as b:
        with open(b.config_path, "w") as f:
            f.write("rule a\n  sql SELECT reason_code FROM \"$events/client_connack\"\n  republish two\nend\n")
        b.send_signal(signal.SIGHUP)
        assert b.wait_log("configuration reloaded")
        sub = EventSubscriber(b.port, topic="two")
        r, _ = raw_connect(b.port, level=5, clientid="after")
        assert sub.next_json() == {"reason_code": "success"}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_shuts_down_cleanly(sig):
    b = Broker()
    r, ack = raw_connect(b.port, clientid="x")
    assert b.stop(sig) == 0
    assert "shutting down" in b.logtext()
    b.tmp.cleanup()


def test_acl_per_user_and_for_everyone(tmp_path):
    conf = ("password_file %s\n"
            "acl user u_emqx readwrite a/#\n"
            "acl all read public/#\n"
            "acl user u_emqx deny a/secret\n") % passwd_file(tmp_path)
    with Broker(config=conf) as b:
        r, ack = raw_connect(b.port, level=5, clientid="alice", username="u_emqx", password="secret")
        assert ack[1][1] == 0
        r.send(subscribe_bytes(1, [("a/#", 1), ("public/x", 0), ("b/x", 0), ("a/secret", 0)], level=5))
        first, body = r.read_packet()
        assert (first, body[2:]) == (0x90, reason_props(
            "subscription to 'b/x' refused: not authorized by ACL") + bytes([1, 0, 0x80, 0x80]))
        r.send(publish_bytes("a/secret", "no", qos=1, pid=4, level=5))
        first, body = r.read_packet()
        assert (first, body[:3]) == (0x40, b"\x00\x04\x87")  # PUBACK not authorized
        r.send(publish_bytes("a/ok", "yes", qos=1, pid=5, level=5))
        got = [r.read_packet(), r.read_packet()]  # PUBACK and the delivery, in some order
        assert any(p[0] == 0x40 and p[1][:2] == b"\x00\x05" for p in got)
        assert any(p[0] >> 4 == 3 and p[1].endswith(b"yes") for p in got)
        assert "subscription to 'b/x' not authorized" in b.logtext()


def test_ban_address():
    with Broker(config="ban address 127.0.0.0/8\n") as b:
        r, ack = raw_connect(b.port, level=5, clientid="local")
        assert ack[1][1] == 0x8A
        assert b.wait_log("address banned")


def test_other_events_reach_rules():
    rules = [
        ('SELECT clientid, reason FROM "$events/client_disconnected"', "ev/disc"),
        ('SELECT clientid, topic, qos FROM "$events/session_subscribed"', "ev/sub"),
        ('SELECT from_clientid, clientid, topic, payload FROM "$events/message_delivered"', "ev/dlv"),
        ('SELECT clientid, topic FROM "$events/message_acked"', "ev/ack"),
        ('SELECT topic, reason FROM "$events/message_dropped"', "ev/drop"),
        ('SELECT clientid, reason_code, is_anonymous FROM "$events/client_check_authn_complete"', "ev/authn"),
        ('SELECT clientid, topic, action, result FROM "$events/client_check_authz_complete" '
         'WHERE result = \'deny\'', "ev/authz"),
        ('SELECT payload, topic FROM "in/#"', "ev/msg"),
    ]
    args = []
    for sql, topic in rules:
        args += ["--rule", sql, "--republish", topic]
    with Broker(*args) as b:
        sub = EventSubscriber(b.port, topic="ev/#", clientid="watch")
        # the subscriber's own subscription (session.subscribed before the SUBACK)
        seen = {}

        def take(n):
            for _ in range(n):
                first, body = sub.raw.read_packet()
                tlen = struct.unpack(">H", body[:2])[0]
                topic = body[2:2 + tlen].decode()
                seen.setdefault(topic, []).append(json.loads(body[2 + tlen:]))

        pub, _ = raw_connect(b.port, clientid="pub")
        rec, _ = raw_connect(b.port, clientid="rec")
        rec.send(subscribe_bytes(1, [("in/#", 1)]))
        rec.read_packet()
        pub.send(publish_bytes("in/x", "hello", qos=1, pid=2))
        pub.read_packet()
        first, body = rec.read_packet()
        rec.send(b"\x40\x02" + body[6:8])  # PUBACK
        pub.send(publish_bytes("nobody/here", "lost"))
        rec.send(subscribe_bytes(2, [("$events/#", 0)]))
        rec.read_packet()
        pub.close()
        import time
        deadline = time.monotonic() + 5
        want = {"ev/disc", "ev/sub", "ev/dlv", "ev/ack", "ev/drop", "ev/authn", "ev/authz", "ev/msg"}
        while not want <= set(seen) and time.monotonic() < deadline:
            take(1)
        assert {"clientid": "pub", "reason": "tcp_closed"} in seen["ev/disc"]
        assert {"clientid": "rec", "topic": "in/#", "qos": 1} in seen["ev/sub"]
        assert {"from_clientid": "pub", "clientid": "rec", "topic": "in/x", "payload": "hello"} in seen["ev/dlv"]
        assert {"clientid": "rec", "topic": "in/x"} in seen["ev/ack"]
        assert {"topic": "nobody/here", "reason": "no_subscribers"} in seen["ev/drop"]
        assert {"clientid": "pub", "reason_code": "success", "is_anonymous": True} in seen["ev/authn"]
        assert {"clientid": "rec", "topic": "$events/#", "action": "subscribe", "result": "deny"} in seen["ev/authz"]
        assert {"payload": "hello", "topic": "in/x"} in seen["ev/msg"]


def test_test_connectors_success():
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d/hook" % srv.server_address[1]
        res = run_broker("--rule", 'SELECT * FROM "$events/client_connack"', "--http", url,
                         "--test-connectors")
        assert res.returncode == 0, res.stdout + res.stderr
        assert res.stdout.startswith("ok") and url in res.stdout
    finally:
        srv.shutdown()
        srv.server_close()


def test_sigterm_flushes_http_queue():
    got = []

    class Slow(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            import time
            time.sleep(0.5)
            got.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d/hook" % srv.server_address[1]
        b = Broker("--rule", 'SELECT clientid FROM "$events/client_connack"', "--http", url)
        raw_connect(b.port, clientid="last")
        assert b.stop(signal.SIGTERM) == 0
        assert got == [b'{"clientid":"last"}']
        b.tmp.cleanup()
    finally:
        srv.shutdown()
        srv.server_close()


def test_sample_configuration_file_runs_the_default_rule():
    sample = os.path.join(__import__("broker_util").ROOT, "examples", "broker", "mqttrule-broker.conf")
    with Broker("-c", sample) as b:
        sub = EventSubscriber(b.port)
        r, ack = raw_connect(b.port, level=5, clientid="conn", username="u_emqx")
        ev = sub.next_json()
        assert (ev["clientid"], ev["username"], ev["reason_code"]) == ("conn", "u_emqx", "success")


def test_http_connections_closing_while_clients_connect():
    # The server closes every HTTP connection after its response, so the
    # engine's descriptors come and go (and their numbers are reused by MQTT
    # clients) while clients keep connecting.
    got = []
    lock = threading.Lock()

    class Closing(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                got.append(json.loads(body)["clientid"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Closing)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d/hook" % srv.server_address[1]
        with Broker("--rule", 'SELECT clientid FROM "$events/client_connack"', "--http", url) as b:
            clients = []
            for i in range(60):
                r, ack = raw_connect(b.port, clientid="n%d" % i)
                assert ack == (0x20, b"\x00\x00")
                if i % 2:
                    r.close()
                else:
                    clients.append(r)
            import time
            deadline = time.monotonic() + 10
            while len(got) < 60 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert sorted(got) == sorted("n%d" % i for i in range(60))
            for r in clients:  # every kept connection still works
                r.send(b"\xc0\x00")
                assert r.read_packet() == (0xD0, b"")
    finally:
        srv.shutdown()
        srv.server_close()


def test_sighup_with_a_bad_rule_keeps_the_old_rules():
    conf = "rule a\n  sql SELECT clientid FROM \"$events/client_connack\"\n  republish one\nend\n"
    with Broker(config=conf) as b:
        with open(b.config_path, "w") as f:
            f.write("rule a\n  sql SELECT clientid FROM \"$events/client_connack\"\n  republish two\nend\n"
                    "rule b\n  sql SELEC broken\n  republish three\nend\n")
        b.send_signal(signal.SIGHUP)
        assert b.wait_log("the running configuration stays")
        assert "rule 'b'" in b.logtext()
        sub = EventSubscriber(b.port, topic="one")
        r, _ = raw_connect(b.port, level=5, clientid="still-old")
        assert sub.next_json() == {"clientid": "still-old"}


def test_select_star_keeps_the_schema_order():
    with Broker("--rule", 'SELECT * FROM "$events/session_subscribed"', "--republish", "out") as b:
        sub = EventSubscriber(b.port, topic="out")
        ev = sub.next_json()  # the subscriber's own subscription
        assert list(ev) == ["event", "clientid", "username", "peerhost", "peername", "topic", "qos",
                            "sub_props", "client_attrs", "timestamp", "node", "metadata"]
        assert ev["event"] == "session.subscribed" and ev["topic"] == "out"
        assert ev["sub_props"] == {"User-Property": {}}


def test_nested_emits_keep_the_outer_event_intact():
    # The first republish action is delivered to the watcher at once, which
    # builds message.delivered (a nested emit) while session.subscribed is
    # still being handled; the second action renders the outer event's output
    # afterwards and must still see its columns intact.
    args = ["--rule", 'SELECT * FROM "$events/session_subscribed" WHERE topic = \'some/filter\'',
            "--republish", "w/one", "--republish", "w/two"]
    with Broker(*args) as b:
        watch = EventSubscriber(b.port, topic="w/#", clientid="watch")
        r, _ = raw_connect(b.port, clientid="subscriber")
        r.send(subscribe_bytes(1, [("some/filter", 1)]))
        r.read_packet()
        got = {}
        for _ in range(2):
            first, body = watch.raw.read_packet()
            tlen = struct.unpack(">H", body[:2])[0]
            got[body[2:2 + tlen].decode()] = json.loads(body[2 + tlen:])
        assert got["w/one"] == got["w/two"]
        assert got["w/two"]["sub_props"] == {"User-Property": {}}
        assert got["w/two"]["client_attrs"] == {}
        assert got["w/two"]["topic"] == "some/filter"
