# SPDX-License-Identifier: MIT
"""mqttrule-broker's $SYS topics and admin HTTP listener (docs/broker.md).

$SYS values are read with mosquitto_sub while clients connect and are
refused; every REST path is exercised with good and bad input; a rule added
through the API fires on the next CONNECT and stops when disabled; the
Prometheus endpoint is parsed with prometheus_client's text parser; the
listener keeps serving MQTT while an admin client stalls mid-request.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from broker_util import (BROKER, TIMEOUT, Broker, EventSubscriber, Raw, connect_bytes, free_port,
                         raw_connect, run_broker)

pytestmark = pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built")
needs_mosquitto = pytest.mark.skipif(shutil.which("mosquitto_sub") is None,
                                     reason="mosquitto clients missing")


def passwd(tmp_path, *users):
    """A mosquitto_passwd file with (user, password) pairs."""
    path = str(tmp_path / "passwd")
    for i, (u, p) in enumerate(users):
        args = ["mosquitto_passwd", "-b"] + (["-c"] if i == 0 else []) + [path, u, p]
        subprocess.run(args, check=True, capture_output=True, timeout=TIMEOUT)
    return path


class Admin:
    """An HTTP client of the admin listener (one connection, kept alive)."""

    def __init__(self, port, auth=None):
        self.port = port
        self.auth = auth
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)

    def request(self, method, path, body=None, headers=None):
        h = dict(headers or {})
        if self.auth is not None:
            import base64
            h["Authorization"] = "Basic " + base64.b64encode(self.auth.encode()).decode()
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        self.conn.request(method, path, body=body, headers=h)
        r = self.conn.getresponse()
        data = r.read()
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        ctype = r.getheader("Content-Type", "")
        if data and ctype.startswith("application/json"):
            return r.status, json.loads(data), r
        return r.status, data.decode("utf-8", "replace"), r

    def close(self):
        self.conn.close()


def admin_broker(tmp_path, extra="", password_file=None):
    port = free_port()
    conf = "admin_listener %d\nsys_interval 1\n%s" % (port, extra)
    if password_file:
        conf += "admin_password_file %s\n" % password_file
    b = Broker(config=conf)
    b.admin_port = port
    return b


def sys_value(port, topic, user=None, pw=None, fresh=True):
    """The value of a $SYS topic: the retained one, then (fresh) the next
    published, so the value counts the reading client itself."""
    args = ["mosquitto_sub", "-p", str(port), "-t", topic, "-C", "2" if fresh else "1", "-W", "10"]
    if user:
        args += ["-u", user, "-P", pw]
    out = subprocess.run(args, capture_output=True, text=True, timeout=20).stdout.split("\n")
    vals = [l for l in out if l]
    return vals[-1] if vals else None


def assert_quiet(sub, timeout=1.0):
    """Nothing arrives for the subscriber within `timeout` seconds."""
    try:
        pkt = sub.raw.read_packet(timeout)
    except socket.timeout:
        return
    raise AssertionError("unexpected packet %r" % (pkt,))


def refuse(port, clientid, username=None, password=None, level=4):
    r, ack = raw_connect(port, clientid=clientid, username=username, password=password,
                         level=level)
    r.close()
    return ack


# ---- $SYS ------------------------------------------------------------------------------

@needs_mosquitto
def test_sys_topics_move_with_connects_and_refusals(tmp_path):
    pw = passwd(tmp_path, ("admin", "adminpw"), ("dev", "devpw"))
    extra = ("password_file %s\nacl user admin read $SYS/#\nacl user dev readwrite t/#\n"
             "rule watch\n  sql SELECT clientid FROM \"$events/client_connack\"\nend\n" % pw)
    with admin_broker(tmp_path, extra) as b:
        sub = lambda t, **kw: sys_value(b.port, t, "admin", "adminpw", **kw)
        assert sub("$SYS/broker/version").startswith("mqttrule version ")
        assert int(sub("$SYS/broker/uptime").split()[0]) >= 0
        assert sub("$SYS/broker/clients/connected") == "1"  # the reader itself
        before_ok = int(sub("$SYS/broker/connack/success"))
        # a client that stays connected, and three refused ones
        held, ack = raw_connect(b.port, clientid="held", username="dev", password="devpw")
        assert ack == (0x20, b"\x00\x00")
        for i in range(3):
            assert refuse(b.port, "bad-%d" % i, "dev", "wrong")[1][1] == 4  # bad user or password
        assert sub("$SYS/broker/clients/connected") == "2"
        assert int(sub("$SYS/broker/connack/success")) >= before_ok + 1
        assert sub("$SYS/broker/connack/bad_username_or_password") == "3"
        assert int(sub("$SYS/broker/clients/total")) >= 2
        assert int(sub("$SYS/broker/rules/watch/matched")) >= 3 + 1
        # a subscription moves subscriptions/count; a publish moves messages/received
        held.send(b"\x82\x08\x00\x01\x00\x03t/a\x00")
        assert held.read_packet()[0] == 0x90
        held.send(b"\x30\x06\x00\x03t/ax")
        assert int(sub("$SYS/broker/subscriptions/count")) >= 1
        assert int(sub("$SYS/broker/messages/received")) >= 1
        assert float(sub("$SYS/broker/load/connections/1min")) >= 0.0
        assert sub("$SYS/broker/retained messages/count") is not None
        # the ACL limits who reads $SYS: dev's subscription to it is refused
        out = subprocess.run(["mosquitto_sub", "-p", str(b.port), "-u", "dev", "-P", "devpw", "-t",
                              "$SYS/broker/version", "-C", "1", "-W", "3"],
                             capture_output=True, text=True, timeout=20)
        assert "mqttrule version" not in out.stdout
        held.close()


@needs_mosquitto
def test_sys_interval_zero_publishes_nothing(tmp_path):
    with Broker(config="sys_interval 0\n") as b:
        out = subprocess.run(["mosquitto_sub", "-p", str(b.port), "-t", "$SYS/#", "-C", "1", "-W",
                              "3"], capture_output=True, text=True, timeout=20)
        assert out.stdout == ""


# ---- the admin listener: framing, limits, authentication ------------------------------

def test_admin_is_off_by_default():
    with Broker() as b:
        assert "admin listener" not in b.logtext()


def test_non_loopback_without_password_file_is_a_start_up_error(tmp_path):
    conf = tmp_path / "b.conf"
    conf.write_text("admin_listener %d 0.0.0.0\n" % free_port())
    r = run_broker("-p", str(free_port()), "-c", str(conf))
    assert r.returncode != 0
    assert "loopback" in r.stderr and "admin_password_file" in r.stderr


def test_non_loopback_with_password_file_starts(tmp_path):
    pw = passwd(tmp_path, ("ops", "opspw"))
    port = free_port()
    with Broker(config="admin_listener %d 0.0.0.0\nadmin_password_file %s\n" % (port, pw)) as b:
        assert b.wait_log("admin listener on 0.0.0.0:%d" % port)
        st, body, r = Admin(port).request("GET", "/api/v5/rules")
        assert st == 401 and body["code"] == "BAD_USERNAME_OR_PWD"
        assert r.getheader("WWW-Authenticate", "").startswith("Basic")


def test_basic_authentication(tmp_path):
    pw = passwd(tmp_path, ("ops", "opspw"))
    with admin_broker(tmp_path, password_file=pw) as b:
        assert Admin(b.admin_port).request("GET", "/api/v5/rules")[0] == 401
        assert Admin(b.admin_port, "ops:wrong").request("GET", "/api/v5/rules")[0] == 401
        assert Admin(b.admin_port, "nobody:opspw").request("GET", "/api/v5/rules")[0] == 401
        assert Admin(b.admin_port).request("GET", "/",
                                           headers={"Authorization": "Basic !!!"})[0] == 401
        st, body, _ = Admin(b.admin_port, "ops:opspw").request("GET", "/api/v5/rules")
        assert st == 200 and "data" in body
        assert Admin(b.admin_port, "ops:opspw").request("GET", "/")[0] == 200


def test_framing_limits_and_keep_alive(tmp_path):
    with admin_broker(tmp_path) as b:
        a = Admin(b.admin_port)
        for _ in range(3):  # one connection, several requests
            assert a.request("GET", "/api/v5/rules")[0] == 200
        st, body, _ = a.request("PATCH", "/api/v5/rules")
        assert st == 405 and body["code"] == "METHOD_NOT_ALLOWED"
        st, body, _ = a.request("GET", "/no/such/path")
        assert st == 404 and body["code"] == "NOT_FOUND"
        st, body, _ = a.request("POST", "/api/v5/rules", body="x" * 70000)
        assert st == 413
        # raw garbage, a head that never ends, a declared body too large
        for data, status in ((b"NOT HTTP\r\n\r\n", 400), (b"GET / HTTP/1.1\r\nX: " + b"a" * 9000, 431),
                             (b"POST /api/v5/rules HTTP/1.1\r\nContent-Length: 999999\r\n\r\n", 413)):
            s = socket.create_connection(("127.0.0.1", b.admin_port), timeout=TIMEOUT)
            s.sendall(data)
            resp = s.recv(4096)
            assert resp.startswith(b"HTTP/1.1 %d " % status), resp
            s.close()


def test_stalled_admin_clients_do_not_block_mqtt(tmp_path):
    with admin_broker(tmp_path) as b:
        stalled = []
        for _ in range(40):  # more than the connection limit, each stuck mid-request
            s = socket.create_connection(("127.0.0.1", b.admin_port), timeout=TIMEOUT)
            s.sendall(b"GET /api/v5/rules HTTP/1.1\r\nHost: x\r\n")
            stalled.append(s)
        t0 = time.monotonic()
        r, ack = raw_connect(b.port, clientid="still-served")
        assert ack == (0x20, b"\x00\x00")
        assert time.monotonic() - t0 < TIMEOUT
        r.close()
        for s in stalled[:5]:  # the stalled requests complete when their end arrives
            s.sendall(b"\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200 ")
        for s in stalled:
            s.close()
        assert Admin(b.admin_port).request("GET", "/api/v5/rules")[0] == 200


# ---- rules --------------------------------------------------------------------------------

RULES_CONF = ("rule from_file\n  sql SELECT clientid FROM \"$events/client_connack\"\n"
              "  republish file/out\nend\n")


def test_rules_crud_and_errors(tmp_path):
    with admin_broker(tmp_path, RULES_CONF) as b:
        a = Admin(b.admin_port)
        st, body, _ = a.request("GET", "/api/v5/rules")
        assert st == 200 and body["meta"]["count"] == 1
        r = body["data"][0]
        assert r["id"] == "from_file" and r["enable"] is True
        assert r["actions"] == [{"function": "republish", "args": {"topic": "file/out"}}]
        st, body, _ = a.request("POST", "/api/v5/rules", {
            "id": "api1", "sql": "SELECT clientid FROM \"t/#\"", "description": "d1",
            "actions": [{"function": "republish", "args": {"topic": "api/out"}}]})
        assert st == 201 and body["id"] == "api1" and body["description"] == "d1"
        assert body["enable"] is True and body["sql"] == "SELECT clientid FROM \"t/#\""
        st, body, _ = a.request("GET", "/api/v5/rules/api1")
        assert st == 200 and body["actions"][0]["args"]["topic"] == "api/out"
        st, body, _ = a.request("GET", "/api/v5/rules?page=2&limit=1")
        assert st == 200 and len(body["data"]) == 1 and body["meta"]["count"] == 2
        assert body["data"][0]["id"] == "api1" and body["meta"]["hasnext"] is False
        # bad input
        st, body, _ = a.request("POST", "/api/v5/rules", body="{not json")
        assert st == 400 and body["code"] == "BAD_REQUEST" and "JSON" in body["message"]
        st, body, _ = a.request("POST", "/api/v5/rules", {"sql": "SELECT lenght(clientid) FROM \"t\""})
        assert st == 400 and body["code"] == "BAD_REQUEST"
        assert body["message"].startswith("line 1, column 8: ") and "length" in body["message"]
        st, body, _ = a.request("POST", "/api/v5/rules", {"id": "x", "sql": "SELECT a FROM \"t\"\nWHERE ("})
        assert st == 400 and body["message"].startswith("line 2, column ")
        st, body, _ = a.request("POST", "/api/v5/rules", {"id": "api1", "sql": "SELECT 1 FROM \"t\""})
        assert st == 400 and "already exists" in body["message"]
        st, body, _ = a.request("POST", "/api/v5/rules", {"description": "no sql"})
        assert st == 400 and "sql" in body["message"]
        st, body, _ = a.request("POST", "/api/v5/rules", {"sql": "SELECT 1 FROM \"t\"", "enable": "yes"})
        assert st == 400 and "enable" in body["message"]
        st, body, _ = a.request("POST", "/api/v5/rules", {"sql": "SELECT 1 FROM \"t\"",
                                                          "actions": ["webhook:x"]})
        assert st == 400 and "actions[0]" in body["message"]
        # every option of the action type is reachable (the config file's names);
        # an unknown one is refused by the type's factory
        st, body, _ = a.request("POST", "/api/v5/rules", {"sql": "SELECT 1 FROM \"t\"", "actions": [
            {"function": "republish", "args": {"topic": "x", "bogus": 1}}]})
        assert st == 400 and "unknown option 'bogus'" in body["message"], body
        st, body, _ = a.request("POST", "/api/v5/rules", {"id": "q1", "sql": "SELECT 1 FROM \"t\"",
                                                          "actions": [{"function": "republish",
                                                                       "args": {"topic": "x", "qos": 1}}]})
        assert st == 201 and body["actions"] == [
            {"function": "republish", "args": {"topic": "x", "qos": 1}}], body
        assert a.request("DELETE", "/api/v5/rules/q1")[0] == 204
        for path in ("/api/v5/rules/nope", "/api/v5/rules/nope/metrics"):
            st, body, _ = a.request("GET", path)
            assert st == 404 and body["code"] == "NOT_FOUND"
        assert a.request("PUT", "/api/v5/rules/nope", {"enable": False})[0] == 404
        assert a.request("DELETE", "/api/v5/rules/nope")[0] == 404
        assert a.request("PUT", "/api/v5/rules/nope/metrics/reset")[0] == 404
        # a failed change leaves the rule as it was
        st, body, _ = a.request("PUT", "/api/v5/rules/api1", {"sql": "SELECT FROM"})
        assert st == 400 and body["message"].startswith("line 1, column ")
        assert a.request("GET", "/api/v5/rules/api1")[1]["sql"] == "SELECT clientid FROM \"t/#\""
        # change, then delete
        st, body, _ = a.request("PUT", "/api/v5/rules/api1", {"enable": False, "description": "d2"})
        assert st == 200 and body["enable"] is False and body["description"] == "d2"
        assert a.request("DELETE", "/api/v5/rules/api1")[0] == 204
        assert a.request("GET", "/api/v5/rules/api1")[0] == 404
        assert a.request("DELETE", "/api/v5/rules/from_file")[0] == 204
        assert a.request("GET", "/api/v5/rules")[1]["meta"]["count"] == 0


def test_rule_added_through_the_api_fires_and_stops_when_disabled(tmp_path):
    with admin_broker(tmp_path) as b:
        a = Admin(b.admin_port)
        sub = EventSubscriber(b.port, topic="alerts/connack")
        st, _, _ = a.request("POST", "/api/v5/rules", {
            "id": "connack_alert",
            "sql": "SELECT clientid, reason_code FROM \"$events/client_connack\" "
                   "WHERE clientid <> 'event-sub'",
            "actions": [{"function": "republish", "args": {"topic": "alerts/connack"}}]})
        assert st == 201
        r, ack = raw_connect(b.port, clientid="dev-1")
        assert ack == (0x20, b"\x00\x00")
        ev = sub.next_json()
        assert ev["clientid"] == "dev-1" and ev["reason_code"] in ("connection_accepted", "success")
        r.close()
        st, m, _ = a.request("GET", "/api/v5/rules/connack_alert/metrics")
        assert st == 200 and m["metrics"]["matched"] >= 1 and m["metrics"]["passed"] == 1
        assert m["metrics"]["actions.success"] == 1 and m["node_metrics"][0]["metrics"] == m["metrics"]
        # disabled: no more output, no more counting
        st, body, _ = a.request("PUT", "/api/v5/rules/connack_alert", {"enable": False})
        assert st == 200 and body["enable"] is False
        r, ack = raw_connect(b.port, clientid="dev-2")
        assert ack == (0x20, b"\x00\x00")
        assert_quiet(sub)
        r.close()
        st, m2, _ = a.request("GET", "/api/v5/rules/connack_alert/metrics")
        assert m2["metrics"]["passed"] == 1
        # enabled again, then its metrics reset
        assert a.request("PUT", "/api/v5/rules/connack_alert", {"enable": True})[0] == 200
        r, _ = raw_connect(b.port, clientid="dev-3")
        assert sub.next_json()["clientid"] == "dev-3"
        r.close()
        assert a.request("PUT", "/api/v5/rules/connack_alert/metrics/reset")[0] == 204
        st, m3, _ = a.request("GET", "/api/v5/rules/connack_alert/metrics")
        assert m3["metrics"]["matched"] == 0 and m3["metrics"]["passed"] == 0
        sub.close()


def test_api_rules_survive_sighup(tmp_path):
    with admin_broker(tmp_path, RULES_CONF) as b:
        a = Admin(b.admin_port)
        assert a.request("POST", "/api/v5/rules", {"id": "kept", "sql": "SELECT 1 FROM \"t\""})[0] == 201
        assert a.request("PUT", "/api/v5/rules/from_file", {"enable": False})[0] == 200
        b.send_signal(signal.SIGHUP)
        assert b.wait_log("made through the REST API applied again")
        rules = {r["id"]: r for r in a.request("GET", "/api/v5/rules")[1]["data"]}
        assert set(rules) == {"from_file", "kept"}
        assert rules["from_file"]["enable"] is False  # the API wins over the file
        sub = EventSubscriber(b.port, topic="file/out")
        r, _ = raw_connect(b.port, clientid="after-hup")
        assert_quiet(sub)
        r.close()
        sub.close()


def test_api_rules_survive_a_restart_with_admin_rules_file(tmp_path):
    saved = tmp_path / "api-rules.json"
    extra = RULES_CONF + "admin_rules_file %s\n" % saved
    with admin_broker(tmp_path, extra) as b:
        a = Admin(b.admin_port)
        assert a.request("POST", "/api/v5/rules", {
            "id": "kept", "sql": "SELECT clientid FROM \"$events/client_connack\"",
            "description": "survives", "enable": False,
            "actions": [{"function": "republish", "args": {"topic": "kept/out"}}]})[0] == 201
        assert a.request("DELETE", "/api/v5/rules/from_file")[0] == 204
    doc = json.loads(saved.read_text())
    assert {r["id"] for r in doc} == {"kept", "from_file"}
    with admin_broker(tmp_path, extra) as b:
        assert b.wait_log("2 rule change(s) of the REST API applied")
        rules = {r["id"]: r for r in Admin(b.admin_port).request("GET", "/api/v5/rules")[1]["data"]}
        assert set(rules) == {"kept"}
        assert rules["kept"]["enable"] is False and rules["kept"]["description"] == "survives"
        assert rules["kept"]["actions"] == [{"function": "republish", "args": {"topic": "kept/out"}}]
    saved.write_text("[{\"id\": 1}]")
    conf = tmp_path / "bad.conf"
    conf.write_text(extra)
    r = run_broker("-p", str(free_port()), "-c", str(conf))
    assert r.returncode != 0 and "admin_rules_file" in r.stderr and "id" in r.stderr


def test_api_rules_survive_a_restart_with_persistence_on(tmp_path):
    """With persistence on and no admin_rules_file, the API's rule changes are
    kept in persistence_location/admin_rules.json and applied at the next start."""
    pdir = tmp_path / "state"
    pdir.mkdir()
    extra = RULES_CONF + "persistence true\npersistence_location %s\n" % pdir
    with admin_broker(tmp_path, extra) as b:
        st, body, _ = Admin(b.admin_port).request("POST", "/api/v5/rules", {
            "id": "persisted", "sql": "SELECT clientid FROM \"$events/client_connack\"",
            "actions": [{"function": "republish", "args": {"topic": "p/out"}}]})
        assert st == 201, body
    assert (pdir / "admin_rules.json").exists()
    with admin_broker(tmp_path, extra) as b:
        rules = {r["id"] for r in Admin(b.admin_port).request("GET", "/api/v5/rules")[1]["data"]}
        assert "persisted" in rules, b.logtext()


# ---- rule test ---------------------------------------------------------------------------

SQL_TESTER = os.path.join(os.path.dirname(BROKER), "..", "sql", "mqttrule-sql")


def test_rule_test_matches_mqttrule_sql(tmp_path):
    sql = "SELECT clientid, username, reason_code, node FROM \"$events/client_connack\""
    ctx = {"event_type": "client_connack", "clientid": "c_emqx", "username": "u_emqx",
           "reason_code": "success", "clean_start": True}
    with admin_broker(tmp_path) as b:
        a = Admin(b.admin_port)
        st, body, _ = a.request("POST", "/api/v5/rule_test", {"sql": sql, "context": ctx})
        assert st == 200
        assert body == {"clientid": "c_emqx", "username": "u_emqx", "reason_code": "success",
                        "node": "emqx@127.0.0.1"}
        # mqttrule-sql gives the same answer: both build the columns with mqr_rule_test_columns
        out = subprocess.run([SQL_TESTER, sql, json.dumps(ctx)], capture_output=True, text=True,
                             timeout=TIMEOUT, check=True)
        assert json.loads(out.stdout) == body
        # a v5 numeric reason is named; FOREACH gives an array
        st, body, _ = a.request("POST", "/api/v5/rule_test", {
            "sql": "SELECT reason_code FROM \"$events/client_connack\"",
            "context": {"event_type": "client_connack", "reason_code": 134}})
        assert st == 200 and body == {"reason_code": "bad_username_or_password"}
        st, body, _ = a.request("POST", "/api/v5/rule_test", {
            "sql": "FOREACH payload.xs DO item AS x FROM \"t/#\"", "context": {"topic": "t/1",
                                                               "payload": "{\"xs\":[1,2]}"}})
        assert st == 200 and body == [{"x": 1}, {"x": 2}]
        # no match, bad SQL, bad context, evaluation errors
        st, body, _ = a.request("POST", "/api/v5/rule_test",
                                {"sql": "SELECT 1 FROM \"t/a\"", "context": {"topic": "x/y"}})
        assert st == 412 and body == {"code": "NOT_MATCH", "message": "SQL Not Match"}
        st, body, _ = a.request("POST", "/api/v5/rule_test",
                                {"sql": "SELECT 1 FROM \"t/a\" WHERE false", "context": {"topic": "t/a"}})
        assert st == 412
        st, body, _ = a.request("POST", "/api/v5/rule_test", {"sql": "SELECT nope( FROM \"t\""})
        assert st == 400 and body["message"].startswith("line 1, column ")
        st, body, _ = a.request("POST", "/api/v5/rule_test",
                                {"sql": "SELECT 1 FROM \"t\"", "context": {"event_type": "bogus"}})
        assert st == 400 and "bogus" in body["message"]
        st, body, _ = a.request("POST", "/api/v5/rule_test", {"sql": "SELECT 1 FROM \"t\"",
                                                              "context": [1]})
        assert st == 400
        st, body, _ = a.request("POST", "/api/v5/rule_test", body="]")
        assert st == 400
        st, body, _ = a.request("POST", "/api/v5/rule_test", {
            "sql": "SELECT map_get(1, 1) AS x FROM \"t/#\"", "context": {"topic": "t/1"}})
        assert st == 400 and body["code"] == "BAD_REQUEST"
        assert a.request("GET", "/api/v5/rule_test")[0] == 405


# ---- clients ------------------------------------------------------------------------------

def test_clients_list_get_and_kick(tmp_path):
    with admin_broker(tmp_path) as b:
        a = Admin(b.admin_port)
        conns = [raw_connect(b.port, clientid="cl-%d" % i, username="u%d" % i)[0] for i in range(3)]
        v5, ack = raw_connect(b.port, clientid="cl-v5", level=5)
        st, body, _ = a.request("GET", "/api/v5/clients")
        assert st == 200 and body["meta"]["count"] == 4
        ids = {c["clientid"] for c in body["data"]}
        assert ids == {"cl-0", "cl-1", "cl-2", "cl-v5"}
        pages = [a.request("GET", "/api/v5/clients?page=%d&limit=2" % p)[1] for p in (1, 2, 3)]
        assert [len(p["data"]) for p in pages] == [2, 2, 0]
        assert pages[0]["meta"]["hasnext"] is True and pages[1]["meta"]["hasnext"] is False
        assert {c["clientid"] for p in pages for c in p["data"]} == ids
        st, c, _ = a.request("GET", "/api/v5/clients/cl-1")
        assert st == 200 and c["username"] == "u1" and c["connected"] is True
        assert c["ip_address"] == "127.0.0.1" and c["proto_ver"] == 4 and c["keepalive"] == 60
        st, body, _ = a.request("GET", "/api/v5/clients/nobody")
        assert st == 404 and body["code"] == "CLIENTID_NOT_FOUND"
        assert a.request("DELETE", "/api/v5/clients/nobody")[0] == 404
        # kick: a v3 client's socket closes; a v5 client gets DISCONNECT 0x98
        assert a.request("DELETE", "/api/v5/clients/cl-1")[0] == 204
        assert conns[1].closed()
        assert a.request("DELETE", "/api/v5/clients/cl-v5")[0] == 204
        pkt = v5.read_packet()
        assert pkt is not None and pkt[0] == 0xE0 and pkt[1][0] == 0x98
        st, c, _ = a.request("GET", "/api/v5/clients/cl-0")
        assert c["connected"] is True
        for r in conns:
            r.close()
        v5.close()


# ---- Prometheus ---------------------------------------------------------------------------

def test_prometheus_text_parses(tmp_path):
    parser = pytest.importorskip("prometheus_client.parser")
    pw = passwd(tmp_path, ("u", "upw"))
    extra = ("password_file %s\n" % pw) + RULES_CONF + "rule q2\n  sql SELECT 1 FROM \"t/#\"\nend\n"
    with admin_broker(tmp_path, extra) as b:
        raw_connect(b.port, clientid="ok", username="u", password="upw")[0].close()
        for i in range(2):
            refuse(b.port, "nope-%d" % i, "u", "bad")
        refuse(b.port, "anon")
        time.sleep(0.2)
        # curl when present (the documented way), urllib otherwise
        url = "http://127.0.0.1:%d/api/v5/prometheus/stats" % b.admin_port
        if shutil.which("curl"):
            text = subprocess.run(["curl", "-sf", url], capture_output=True, text=True,
                                  timeout=TIMEOUT, check=True).stdout
        else:
            import urllib.request
            text = urllib.request.urlopen(url, timeout=TIMEOUT).read().decode()
        fams = {f.name: f for f in parser.text_string_to_metric_families(text)}
        samples = lambda name: {tuple(sorted(s.labels.items())): s.value for s in fams[name].samples
                                if s.name.endswith("_total") or s.name == name}
        connack = samples("mqttrule_connack")
        assert connack[(("code", "0"), ("reason", "success"))] == 1
        assert connack[(("code", "134"), ("reason", "bad_username_or_password"))] == 2
        assert connack[(("code", "135"), ("reason", "not_authorized"))] == 1
        assert fams["mqttrule_connack"].type == "counter"
        matched = samples("mqttrule_rule_matched")
        assert matched[(("rule", "from_file"),)] == 4
        assert matched[(("rule", "q2"),)] == 0
        succ = samples("mqttrule_action_success")
        mine = [v for k, v in succ.items() if ("rule", "from_file") in k and ("type", "republish") in k]
        assert mine == [4]
        assert samples("mqttrule_clients_connected")[()] == 0
        assert fams["mqttrule_clients_connected"].type == "gauge"
        assert samples("mqttrule_messages_dropped")[(("reason", "no_subscribers"),)] >= 4


def test_prometheus_lists_every_action_of_a_big_rule(tmp_path):
    """A rule with 5 actions of 15 fallbacks each (80 engine actions: the
    fallbacks are actions of the rule): every one has its metric lines."""
    fb = "".join("    fallback republish fb/%d\n" % k for k in range(15))
    acts = "".join("  action republish\n    topic out/%d\n%s  end\n" % (i, fb) for i in range(5))
    extra = "rule big\n  sql SELECT 1 FROM \"t/#\"\n%send\n" % acts
    with admin_broker(tmp_path, extra) as b:
        url = "http://127.0.0.1:%d/api/v5/prometheus/stats" % b.admin_port
        import urllib.request
        text = urllib.request.urlopen(url, timeout=TIMEOUT).read().decode()
        lines = [l for l in text.splitlines()
                 if l.startswith("mqttrule_action_matched_total{rule=\"big\"")]
        assert len(lines) == 80, len(lines)
