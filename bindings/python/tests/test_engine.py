# SPDX-License-Identifier: MIT
"""mqttrule.Engine: rules with callable, Republish and HTTP actions, raising
callbacks, garbage collection while callbacks are registered, metrics and
the HTTP action driven by poll()/run_until_idle() against a local server."""

import gc
import http.server
import json
import socket
import threading
import weakref

import pytest

import mqttrule

CONNACK_SQL = 'SELECT clientid, username, reason_code FROM "$events/client_connack"'

# A v3.1.1 CONNECT from client "sensor-1" with user name "alice".
CONNECT_V4 = (bytes([0x10, 0x1b, 0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x82, 0x00, 0x3c])
              + bytes([0x00, 0x08]) + b"sensor-1" + bytes([0x00, 0x05]) + b"alice")


def test_callable_action_runs_before_emit_returns():
    got = []
    with mqttrule.Engine() as e:
        e.add_rule("r1", CONNACK_SQL, actions=[lambda rid, out: got.append((rid, out))])
        assert e.emit("client_connack", clientid="c1", username="u",
                      reason_code="success") == 1
        assert got == [("r1", {"clientid": "c1", "username": "u", "reason_code": "success"})]
        assert e.emit("client.connack", clientid="c2") == 1
        assert e.emit("$events/client/connack", clientid="c3") == 1
        assert [o["clientid"] for _, o in got] == ["c1", "c2", "c3"]
        assert e.emit("client_connected", clientid="c4") == 0


def test_emit_connack_from_connect_bytes_names_per_profile():
    for names, expected in (("doc", "malformed_username_or_password"),
                            ("emqx", "bad_username_or_password")):
        got = []
        with mqttrule.Engine(names=names) as e:
            e.add_rule("r1", 'SELECT clientid, username, reason_code, peername, proto_ver '
                             'FROM "$events/client_connack"',
                       actions=[lambda rid, out: got.append(out)])
            assert e.emit_connack(CONNECT_V4, 0x86, peer="10.0.0.1:5555") == 1
        assert got == [{"clientid": "sensor-1", "username": "alice", "reason_code": expected,
                        "peername": "10.0.0.1:5555", "proto_ver": 4}]


def test_emit_input_builds_events_from_host_facts():
    """mqr_engine_emit_input through ctypes: the library builds
    session.subscribed (sub_props from the SUBSCRIBE's properties) and
    message.dropped (the publisher's address) from the host's facts."""
    got = []
    # SUBSCRIBE (v5): Subscription-Identifier 7, User-Property s=x, filter t/# QoS 1
    props = b"\x0b\x07\x26\x00\x01s\x00\x01x"
    body = b"\x00\x01" + bytes([len(props)]) + props + b"\x00\x03t/#\x01"
    subscribe = bytes([0x82, len(body)]) + body
    with mqttrule.Engine() as e:
        e.add_rule("r1", 'SELECT clientid, peerhost, topic, qos, sub_props '
                         'FROM "$events/session/subscribed"',
                   actions=[lambda rid, out: got.append(out)])
        e.add_rule("r2", 'SELECT clientid, peername, reason, pub_props '
                         'FROM "$events/message_dropped"',
                   actions=[lambda rid, out: got.append(out)])
        conn = {"clientid": "c1", "proto_ver": 5, "peer": "10.0.0.1:5000"}
        assert e.emit_input("session.subscribed", conn=conn, packet=subscribe, topic="t/#",
                            qos=1) == 1
        msg = {"topic": "t/a", "payload": "hi", "from_clientid": "pub",
               "from_peer": "10.0.0.9:7000"}
        assert e.emit_input("message.dropped", msg=msg, reason="no_subscribers") == 1
        assert e.emit_input("client.ping", conn=conn) == 0
        with pytest.raises(mqttrule.MqttruleError):
            e.emit_input("message.dropped")  # a rule listens, but there is no message
        with pytest.raises(mqttrule.MqttruleError):
            e.emit_input("client.connack")  # built by emit_connack
    assert got == [
        {"clientid": "c1", "peerhost": "10.0.0.1", "topic": "t/#", "qos": 1,
         "sub_props": {"Subscription-Identifier": 7, "User-Property": {"s": "x"},
                       "User-Property-Pairs": [{"key": "s", "value": "x"}]}},
        {"clientid": "pub", "peername": "10.0.0.9:7000", "reason": "no_subscribers",
         "pub_props": {"User-Property": {}}},
    ]


def test_emit_connack_for_a_malformed_connect():
    """Decision D2: a CONNECT with invalid UTF-8 in the user name still gives
    an event with the fields read before the error. A v3 client closed
    without a CONNACK is named by the v5 reason; one answered with a CONNACK
    by the v3 return code sent (D1)."""
    got = []
    bad = CONNECT_V4[:-3] + b"\xff\xfe\xfd"
    with mqttrule.Engine() as e:
        e.add_rule("r1", CONNACK_SQL, actions=[lambda rid, out: got.append(out)])
        assert e.emit_connack(bad, 0x81, connack_sent=False) == 1
        assert e.emit_connack(bad, 0x81) == 1
    assert got[0]["clientid"] == "sensor-1"
    assert got[0]["reason_code"] == "malformed_packet"
    assert got[1]["reason_code"] == "unacceptable_protocol_version"


def test_raising_callback_is_a_failed_action():
    ok = []

    def boom(rid, out):
        raise RuntimeError("callback failed on purpose")

    with mqttrule.Engine() as e:
        e.add_rule("r1", CONNACK_SQL, actions=[boom, lambda rid, out: ok.append(out)])
        assert e.emit("client_connack", clientid="c1") == 1
        m = e.metrics("r1")
        assert m["metrics"]["matched"] == 1
        assert m["metrics"]["passed"] == 1
        assert m["metrics"]["actions.total"] == 2
        assert m["metrics"]["actions.success"] == 1
        assert m["metrics"]["actions.failed"] == 1
        assert m["actions"][0]["metrics"]["failed"] == 1
        assert len(ok) == 1
        assert isinstance(e.callback_errors[-1], RuntimeError)


def test_callbacks_survive_garbage_collection():
    got = []

    def make_engine():
        e = mqttrule.Engine()
        e.add_rule("r1", CONNACK_SQL, actions=[lambda rid, out: got.append(out["clientid"])],)
        return e

    e = make_engine()
    gc.collect()
    assert e.emit("client_connack", clientid="after-gc") == 1
    assert got == ["after-gc"]
    ref = weakref.ref(e)
    del e
    gc.collect()
    assert ref() is None


def test_engine_collected_without_close():
    e = mqttrule.Engine()
    e.add_rule("r1", CONNACK_SQL, actions=[lambda rid, out: None])
    ref = weakref.ref(e)
    del e
    gc.collect()
    assert ref() is None


def test_republish_calls_the_publish_callable():
    msgs = []
    with mqttrule.Engine() as e:
        e.add_rule("r1", CONNACK_SQL, actions=[
            mqttrule.Republish("connack/${clientid}", publish=msgs.append, qos="1",
                               retain="true", content_type="application/json")])
        e.emit("client_connack", clientid="c1", username="u", reason_code="success")
        assert e.metrics("r1")["actions"][0]["metrics"]["success"] == 1
    assert len(msgs) == 1
    m = msgs[0]
    assert m["rule_id"] == "r1"
    assert m["topic"] == "connack/c1"
    assert json.loads(m["payload"]) == {"clientid": "c1", "username": "u",
                                        "reason_code": "success"}
    assert (m["qos"], m["retain"]) == (1, True)
    assert m["content_type"] == "application/json"


def test_raising_publish_is_a_failed_action():
    def boom(msg):
        raise ValueError("publish failed on purpose")

    with mqttrule.Engine() as e:
        e.add_rule("r1", CONNACK_SQL, actions=[mqttrule.Republish("t", publish=boom)])
        e.emit("client_connack", clientid="c1")
        assert e.metrics("r1")["metrics"]["actions.failed"] == 1
        assert isinstance(e.callback_errors[-1], ValueError)


def test_add_rule_errors():
    with mqttrule.Engine() as e:
        with pytest.raises(mqttrule.SQLSyntaxError) as info:
            e.add_rule("bad", 'SELECT FROM "t"')
        assert info.value.line == 1
        e.add_rule("r1", CONNACK_SQL)
        with pytest.raises(mqttrule.MqttruleError) as info:
            e.add_rule("r1", CONNACK_SQL)
        assert info.value.status_name == "MQR_EEXIST"
        with pytest.raises(TypeError):
            e.add_rule("r2", CONNACK_SQL, actions=[42])
        with pytest.raises(mqttrule.MqttruleError) as info:
            e.add_rule("r4", CONNACK_SQL, actions=[mqttrule.HTTP("ftp://nowhere")])
        assert info.value.status_name == "MQR_EINVAL"
        # the rule whose action failed is not left behind
        e.add_rule("r4", CONNACK_SQL)
        with pytest.raises(mqttrule.MqttruleError) as info:
            e.emit("no_such_event")
        assert info.value.status_name == "MQR_ENOTFOUND"
        with pytest.raises(mqttrule.MqttruleError) as info:
            e.metrics("nope")
        assert info.value.status_name == "MQR_ENOTFOUND"
        e.remove_rule("r1")
        with pytest.raises(mqttrule.MqttruleError):
            e.remove_rule("r1")
    with pytest.raises(ValueError):
        mqttrule.Engine(names="other")


def test_closed_engine_refuses_use():
    e = mqttrule.Engine()
    e.close()
    e.close()
    with pytest.raises(ValueError):
        e.emit("client_connack")
    with pytest.raises(ValueError):
        e.add_rule("r", CONNACK_SQL)


class _Recorder(http.server.BaseHTTPRequestHandler):
    bodies = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        self.bodies.append((self.path, self.headers.get("X-Client"), self.rfile.read(n)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    _Recorder.bodies = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d" % srv.server_address[1], _Recorder.bodies
    srv.shutdown()
    srv.server_close()


def test_http_action_posts_each_output(http_server):
    url, bodies = http_server
    with mqttrule.Engine() as e:
        e.add_rule("r1", CONNACK_SQL, actions=[
            mqttrule.HTTP(url, path="events/${clientid}", headers={"X-Client": "${clientid}"})])
        e.emit("client_connack", clientid="c1", username="u", reason_code="success")
        e.emit("client_connack", clientid="c2", username="u", reason_code="success")
        assert e.pending() == 2
        assert e.run_until_idle(10.0)
        m = e.metrics("r1")
        assert m["metrics"]["actions.success"] == 2
        assert m["actions"][0]["type"] == "http"
    assert sorted(p for p, _, _ in bodies) == ["/events/c1", "/events/c2"]
    assert sorted(h for _, h, _ in bodies) == ["c1", "c2"]
    assert {json.loads(b)["clientid"] for _, _, b in bodies} == {"c1", "c2"}


def test_http_action_to_a_closed_port_fails():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with mqttrule.Engine() as e:
        e.add_rule("r1", CONNACK_SQL, actions=[
            mqttrule.HTTP("http://127.0.0.1:%d/" % port, max_attempts=1, ttl_ms=2000)])
        e.emit("client_connack", clientid="c1")
        assert e.run_until_idle(10.0)
        assert e.poll(0) == 0
        m = e.metrics("r1")
        assert m["metrics"]["actions.success"] == 0
        assert m["metrics"]["actions.failed"] == 1


def test_example_script_reproduces_the_document_rule():
    """examples/python/connack_rule.py: v3.1.1 clients get the document's v3
    names, v5 clients the v5 names, 0x84 as the document spells it."""
    import os
    import subprocess
    import sys
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    r = subprocess.run([sys.executable, os.path.join(repo, "examples", "python",
                                                     "connack_rule.py")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    names = [json.loads(line.split(": ", 1)[1])["reason_code"]
             for line in r.stdout.splitlines() if line.startswith("republished")]
    assert names == ["connection_accepted", "malformed_username_or_password",
                     "not_authorized", "unacceptable_protocol_version"]


def test_emit_message_runs_topic_rules():
    got = []
    with mqttrule.Engine() as e:
        e.add_rule("m1", 'SELECT topic, payload.x AS x, qos, clientid FROM "sensors/#"',
                   actions=[lambda rid, out: got.append(out)])
        assert e.emit("message.publish", topic="sensors/1", payload=b'{"x": 5}', qos=1,
                      clientid="c1") == 1
        assert e.emit_message("other/1", payload="{}") == 0
        assert e.emit_message("sensors/2", payload="{}", pub_props={"User-Property": {}}) == 1
        with pytest.raises(mqttrule.MqttruleError) as info:
            e.emit_message("bad/+")
        assert info.value.status_name == "MQR_EINVAL"
    assert got[0] == {"topic": "sensors/1", "x": 5, "qos": 1, "clientid": "c1"}
    assert got[1]["clientid"] == "undefined"


def test_last_error_of_a_rule_is_remembered():
    with mqttrule.Engine() as e:
        e.add_rule("r", 'SELECT payload.x AS x FROM "t/#"', actions=[lambda rid, out: None])
        assert e.last_error("r") is None
        e.emit_message("t/1", payload=b"not json")
        err = e.last_error("r")
        assert err["status"] == "MQR_EEVAL" and err["count"] == 1
        assert err["message"].startswith("rule 'r': ") and err["time_ms"] > 0
        assert e.metrics("r")["last_error"]["status"] == "MQR_EEVAL"
        with pytest.raises(mqttrule.MqttruleError):
            e.last_error("none")


def test_each_republish_has_its_own_publish_callable():
    """Two Republish actions on one rule (and one on another rule) each call
    their own publish callable, with the message that action rendered."""
    a, b, c = [], [], []
    with mqttrule.Engine() as e:
        ids = e.add_rule("r1", CONNACK_SQL,
                         actions=[mqttrule.Republish("a/${clientid}", publish=a.append),
                                  mqttrule.Republish("b/${clientid}", publish=b.append)])
        assert len(ids) == 2 and ids[0] != ids[1]
        e.add_rule("r2", CONNACK_SQL, actions=[mqttrule.Republish("c/${clientid}",
                                                                  publish=c.append)])
        assert e.emit("client_connack", clientid="x", reason_code="success") == 2
        assert [m["topic"] for m in a] == ["a/x"]
        assert [m["topic"] for m in b] == ["b/x"]
        assert [m["topic"] for m in c] == ["c/x"]
        assert a[0]["rule_id"] == "r1" and c[0]["rule_id"] == "r2"
        assert a[0]["action_id"] == ids[0] and b[0]["action_id"] == ids[1]
        e.remove_rule("r1")
        e.emit("client_connack", clientid="y", reason_code="success")
        assert len(a) == 1 and len(b) == 1 and [m["topic"] for m in c] == ["c/x", "c/y"]
