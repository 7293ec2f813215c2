# SPDX-License-Identifier: MIT
"""Fallback actions in the broker's configuration and REST API (EMQX 5.7's
fallback_actions, docs/broker.md "Fallback actions"): an HTTP action whose
service is gone (nothing listens, or it answers 500) hands the rule's output
to its republish fallback, whose topic a real client (mosquitto_sub, or a
raw MQTT client) receives; with the service up the fallback never runs; a
mistake inside a fallback block stops start-up with its file:line."""
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from broker_util import (BROKER, TIMEOUT, Broker, EventSubscriber, free_port, publish_bytes,
                         raw_connect, run_broker, stats)

pytestmark = pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built")

MOSQ = shutil.which("mosquitto_sub")


def rule(url, fallback="    fallback republish\n      topic out/dead/${topic}\n    end\n"):
    return ("rule fwd\n"
            "  sql SELECT clientid, payload, topic FROM \"data/#\"\n"
            "  action http\n"
            "    url %s\n"
            "    request_ttl 3s\n"
            "    max_retries 1\n"
            "    retry_backoff 100ms\n"
            "%s"
            "  end\n"
            "end\n" % (url, fallback))


class Service:
    """An HTTP service answering every POST with `status`; counts them."""

    def __init__(self, status):
        self.posts = []
        self.got = threading.Event()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.posts.append(body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                outer.got.set()

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/ingest" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def publish(port, topic, payload, clientid="pub"):
    r, ack = raw_connect(port, clientid=clientid)
    assert ack == (0x20, b"\x00\x00"), ack
    r.send(publish_bytes(topic, payload))
    return r


def wait_subscribed(b, cid):
    deadline = time.monotonic() + TIMEOUT
    while "client '%s' subscribed" % cid not in b.logtext():
        assert time.monotonic() < deadline, b.logtext()
        time.sleep(0.02)


def wait_stat(b, key, value, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        st = stats(b)
        if st[key] == value:
            return st
        assert time.monotonic() < deadline, (key, st[key], b.logtext())
        time.sleep(0.1)


@pytest.mark.skipif(not MOSQ, reason="mosquitto-clients are not installed")
def test_http_to_a_dead_port_runs_the_republish_fallback():
    url = "http://127.0.0.1:%d/ingest" % free_port()  # nothing listens there
    with Broker(config=rule(url)) as b:
        sub = subprocess.Popen(["mosquitto_sub", "-p", str(b.port), "-i", "dlq", "-t",
                                "out/dead/#", "-v", "-C", "1", "-W", "20"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_subscribed(b, "dlq")
        r = publish(b.port, "data/room1", "21.5")
        out, err = sub.communicate(timeout=30)
        assert sub.returncode == 0, (err, b.logtext())
        topic, payload = out.strip().split(" ", 1)
        assert topic == "out/dead/data/room1"
        # the fallback gets the rule's output, the same columns the HTTP action had
        assert json.loads(payload) == {"clientid": "pub", "payload": "21.5", "topic": "data/room1"}
        st = stats(b)
        assert st["http.matched"] == 1 and st["http.success"] == 0
        assert st["http.failed"] + st["http.dropped.expired"] == 1, st
        r.close()


def test_http_answering_500_runs_the_fallback_and_a_200_does_not():
    bad, good = Service(500), Service(200)
    conf = rule(bad.url) + rule(good.url).replace("rule fwd", "rule ok").replace(
        "out/dead/", "out/dead-ok/")
    try:
        with Broker(config=conf) as b:
            sub = EventSubscriber(b.port, topic="out/#", clientid="watch")
            r = publish(b.port, "data/x", "v1")
            # only the failing service's fallback: out/dead-ok/ would come first
            # if the ok rule's fallback ran as an ordinary action at match time
            assert sub.next_message(15) == ("out/dead/data/x",
                                     {"clientid": "pub", "payload": "v1", "topic": "data/x"})
            assert bad.got.wait(TIMEOUT) and good.got.wait(TIMEOUT)
            wait_stat(b, "http.success", 1)
            # then a marker: the next thing the subscriber gets
            r.send(publish_bytes("out/marker", '{"m":1}'))
            assert sub.next_message(15) == ("out/marker", {"m": 1})
            assert len(good.posts) == 1 and len(bad.posts) == 1
            sub.close()
            r.close()
    finally:
        bad.close()
        good.close()


def test_fallback_one_line_form_and_a_changed_fallback_on_sighup():
    url = "http://127.0.0.1:%d/ingest" % free_port()
    with Broker(config=rule(url, fallback="    fallback republish out/one/${clientid}\n")) as b:
        sub = EventSubscriber(b.port, topic="out/#", clientid="watch")
        r = publish(b.port, "data/a", "x")
        assert sub.next_message(15) == ("out/one/pub", {"clientid": "pub", "payload": "x",
                                                 "topic": "data/a"})
        # only the fallback changes: the reload must see it and replace the rule
        with open(b.config_path, "w") as f:
            f.write(rule(url, fallback="    fallback republish out/two/${clientid}\n"))
        b.send_signal(signal.SIGHUP)
        assert b.wait_log("configuration reloaded"), b.logtext()
        r.send(publish_bytes("data/b", "y"))
        assert sub.next_message(15)[0] == "out/two/pub"
        sub.close()
        r.close()


FB_RULE = "rule r\n  sql SELECT * FROM \"t\"\n  action http\n    url http://127.0.0.1:1/\n"
FB_REFUSALS = [
    (FB_RULE + "    fallback republish\n      topic t\n      bogus 1\n    end\n  end\nend\n",
     ":7: fallback republish: unknown option 'bogus'"),
    (FB_RULE + "    fallback republish\n      qos 1\n    end\n  end\nend\n",
     ":5: fallback republish: needs a topic"),
    (FB_RULE + "    fallback republish a/+\n  end\nend\n",
     ":5: fallback republish: topic 'a/+' is not a valid topic name"),
    (FB_RULE + "    fallback smtp\n    end\n  end\nend\n",
     ":5: fallback: unknown action type 'smtp' (known: republish, http"),
    (FB_RULE + "    fallback\n  end\nend\n", ":5: fallback needs an action TYPE"),
    (FB_RULE + "    fallback republish\n      topic t\n      fallback republish u\n",
     ":7: fallback republish: a fallback has no fallbacks of its own"),
    (FB_RULE + "    fallback republish\n      topic t\n",
     ":5: fallback republish of action http is not closed with 'end'"),
    (FB_RULE + "    fallback http\n      url ftp://x/\n    end\n  end\nend\n",
     ":6: fallback http: url 'ftp://x/'"),
]


@pytest.mark.parametrize("conf,message", FB_REFUSALS)
def test_a_mistake_in_a_fallback_names_its_file_and_line(tmp_path, conf, message):
    path = tmp_path / "broker.conf"
    path.write_text(conf)
    r = run_broker("-c", str(path), "-p", str(free_port()))
    assert r.returncode == 2, r.stderr
    assert "mqttrule-broker: %s%s" % (path, message) in r.stderr, r.stderr


def test_rest_api_fallback_actions(tmp_path):
    from test_broker_admin import Admin, admin_broker
    url = "http://127.0.0.1:%d/ingest" % free_port()
    with admin_broker(tmp_path) as b:
        a = Admin(b.admin_port)
        sub = EventSubscriber(b.port, topic="out/#", clientid="watch")
        body = {"id": "api_fwd", "sql": "SELECT clientid, payload FROM \"data/#\"",
                "actions": [{"function": "http",
                             "args": {"url": url, "request_ttl": "3s", "max_retries": 1},
                             "fallback_actions": [
                                 {"kind": "republish", "args": {"topic": "out/api/${clientid}"}}]}]}
        st, res, _ = a.request("POST", "/api/v5/rules", body)
        assert st == 201, res
        r = publish(b.port, "data/z", "zz")
        assert sub.next_json(timeout=15) == {"clientid": "pub", "payload": "zz"}
        st, got, _ = a.request("GET", "/api/v5/rules/api_fwd")
        assert st == 200 and got["actions"][0]["fallback_actions"][0]["kind"] == "republish"
        # a reference to a named action: the broker's actions have no names
        bad = dict(body, id="api_ref")
        bad["actions"] = [dict(body["actions"][0], fallback_actions=[
            {"kind": "reference", "type": "mqtt", "name": "x"}])]
        st, res, _ = a.request("POST", "/api/v5/rules", bad)
        assert st == 400 and "actions[0].fallback_actions[0]" in res["message"], res
        assert "reference" in res["message"]
        # a bad option inside a fallback is the type's message with its place
        bad["actions"] = [dict(body["actions"][0], fallback_actions=[
            {"function": "republish", "args": {"topic": "t", "colour": "red"}}])]
        st, res, _ = a.request("POST", "/api/v5/rules", bad)
        assert st == 400 and "fallback republish: unknown option 'colour'" in res["message"], res
        # not an array, however long: said so; an unknown type names its place, no ":0:"
        bad["actions"] = [dict(body["actions"][0], fallback_actions="x" * 40)]
        st, res, _ = a.request("POST", "/api/v5/rules", bad)
        assert st == 400 and res["message"] == "actions[0].fallback_actions must be an array", res
        bad["actions"] = [dict(body["actions"][0], fallback_actions=[
            {"function": "nope", "args": {}}])]
        st, res, _ = a.request("POST", "/api/v5/rules", bad)
        assert st == 400 and res["message"] == (
            "actions[0].fallback_actions[0]: unknown action type 'nope'"), res
        sub.close()
        r.close()


def test_file_rule_fallbacks_show_in_the_rest_api(tmp_path):
    from test_broker_admin import Admin
    port = free_port()
    url = "http://127.0.0.1:%d/ingest" % free_port()
    with Broker(config="admin_listener %d\n" % port + rule(url)) as b:
        st, got, _ = Admin(port).request("GET", "/api/v5/rules/fwd")
        assert st == 200, got
        fb = got["actions"][0]["fallback_actions"]
        assert fb == [{"function": "republish", "args": {"topic": "out/dead/${topic}"}}], got
        assert b.proc.poll() is None
