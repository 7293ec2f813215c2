# SPDX-License-Identifier: MIT
"""Engine.persist_action (mqr_engine_action_persist): an HTTP action's
durable queue survives its engine. Events whose delivery failed (nothing
listens) stay on disk when the engine closes; a new engine persisting its
action on the same directory replays them to the service, now up, each with
its Idempotency-Key. Also the fallback bindings (set_fallback,
set_fallback_only) and enable_action."""

import http.server
import json
import socket
import threading
import time

import pytest

import mqttrule

CONNACK_SQL = 'SELECT clientid, reason_code FROM "$events/client_connack"'


def _dead_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return "http://127.0.0.1:%d/in" % port


class _Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    got = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        self.got.append((self.headers.get("Idempotency-Key"), self.rfile.read(n)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def service():
    _Recorder.got = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d/in" % srv.server_address[1], _Recorder.got
    srv.shutdown()
    srv.server_close()


def _poll_until(engine, cond, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in %.0f s" % timeout
        engine.poll(0.05)


def test_failed_deliveries_are_replayed_by_a_new_engine(tmp_path, service):
    url, got = service
    qdir = tmp_path / "queue"
    qdir.mkdir()
    with mqttrule.Engine() as e:
        # retried until its TTL, then dropped as expired: the durable queue keeps
        # the record and sends it again (retries used up would end it as failed)
        (aid,) = e.add_rule("r1", CONNACK_SQL, actions=[mqttrule.HTTP(_dead_url(), ttl_ms=300)])
        e.persist_action(aid, qdir)
        for c in ("c1", "c2", "c3"):
            e.emit("client_connack", clientid=c, reason_code="success")
        # the service is not there: attempts fail, the records stay queued
        end = time.monotonic() + 1.0
        _poll_until(e, lambda: time.monotonic() > end)
        st = e.action_queue_stats(aid)
        assert (st["appended"], st["records"], st["acked"]) == (3, 3, 0), st
        assert e.action_metrics(aid)["success"] == 0
    assert got == []
    assert any(qdir.iterdir()), "the queue wrote nothing to its directory"
    # a new process would do the same: a new engine, the service up now
    with mqttrule.Engine() as e2:
        (aid,) = e2.add_rule("r1", CONNACK_SQL, actions=[mqttrule.HTTP(url)])
        e2.persist_action(aid, str(qdir))
        st = e2.action_queue_stats(aid)
        assert st["replayed"] == 3 and st["records"] == 3, st
        _poll_until(e2, lambda: e2.action_queue_stats(aid)["records"] == 0)
        assert e2.action_queue_stats(aid)["acked"] == 3
        assert e2.action_metrics(aid)["success"] == 3
    assert sorted(json.loads(body)["clientid"] for _, body in got) == ["c1", "c2", "c3"]
    keys = [k for k, _ in got]
    assert all(keys) and len(set(keys)) == 3, keys  # one Idempotency-Key per event


def test_persist_action_errors(tmp_path):
    with mqttrule.Engine() as e:
        (cb, rp) = e.add_rule("r1", CONNACK_SQL, actions=[
            lambda rid, out: None, mqttrule.Republish("t", publish=lambda m: None)])
        with pytest.raises(mqttrule.MqttruleError) as ei:
            e.persist_action(cb, tmp_path)
        assert ei.value.status_name == "MQR_ENOTSUP"
        with pytest.raises(mqttrule.MqttruleError):
            e.persist_action(rp, tmp_path / "missing")
        e.persist_action(rp, tmp_path)
        assert e.action_queue_stats(rp)["records"] == 0
        with pytest.raises(mqttrule.MqttruleError) as ei:
            e.persist_action(rp, tmp_path)
        assert ei.value.status_name == "MQR_EEXIST"
        with pytest.raises(mqttrule.MqttruleError) as ei:
            e.persist_action(9999, tmp_path)
        assert ei.value.status_name == "MQR_ENOTFOUND"
        with pytest.raises(ValueError):
            e.persist_action(rp, tmp_path, sync="sometimes")


def test_fallback_only_action_runs_when_its_action_fails():
    seen, dead = [], []

    def failing(rid, out):
        raise RuntimeError("service gone")

    with mqttrule.Engine() as e:
        bad, fb_bad = e.add_rule("bad", CONNACK_SQL, actions=[failing, lambda r, o: dead.append(o)])
        good, fb_good = e.add_rule("good", CONNACK_SQL, actions=[
            lambda r, o: seen.append(o), lambda r, o: dead.append(("good", o))])
        for a, f in ((bad, fb_bad), (good, fb_good)):
            e.set_fallback_only(f)
            e.set_fallback(a, [f])
        e.emit("client_connack", clientid="c1", reason_code="success")
        assert dead == [{"clientid": "c1", "reason_code": "success"}]
        assert seen == [{"clientid": "c1", "reason_code": "success"}]
        assert e.action_metrics(bad)["fallback_triggered"] == 1
        assert e.action_metrics(fb_good)["matched"] == 0
        # disabled, the failing action is discarded: no failure, no fallback
        e.enable_action(bad, False)
        e.emit("client_connack", clientid="c2", reason_code="success")
        assert len(dead) == 1 and e.action_metrics(bad)["discarded"] == 1
        with pytest.raises(mqttrule.MqttruleError):
            e.set_fallback(bad, [bad])
        with pytest.raises(mqttrule.MqttruleError):
            e.set_fallback_only(9999)
        e.set_fallback(bad, [])
