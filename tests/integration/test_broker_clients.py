# SPDX-License-Identifier: MIT
"""Real client libraries against mqttrule-broker: paho-mqtt (Python, the
Debian package python3-paho-mqtt) and MQTT.js (npm `mqtt`, installed in
tests/integration/node/). Each connects, subscribes, publishes at QoS 0, 1
and 2 and receives a retained message and a will."""
import json
import os
import queue
import shutil
import subprocess

import pytest

from broker_util import BROKER, TIMEOUT, Broker

pytestmark = pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built")

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "node")

try:
    import paho.mqtt.client as paho
except ImportError:  # pragma: no cover - reported as a skip
    paho = None


def paho_client(cid, version, q=None):
    proto = paho.MQTTv5 if version == 5 else paho.MQTTv311
    kw = {"client_id": cid, "protocol": proto}
    if version != 5:
        kw["clean_session"] = True
    c = paho.Client(**kw)
    if q is not None:
        c.on_message = lambda cl, ud, msg: q.put((msg.topic, msg.payload, msg.qos, msg.retain))
    return c


def wait_for(q, pred, timeout=TIMEOUT):
    """Next queued message for which pred holds (others are dropped)."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "timed out"
        m = q.get(timeout=left)
        if pred(m):
            return m


@pytest.mark.skipif(paho is None, reason="python3-paho-mqtt is not installed")
@pytest.mark.parametrize("version", [4, 5])
def test_paho(version):
    with Broker() as b:
        pre = "paho%d" % version
        ret = paho_client(pre + "-ret", version)
        ret.connect("127.0.0.1", b.port)
        ret.loop_start()
        ret.publish(pre + "/retained", b"kept", qos=1, retain=True).wait_for_publish(TIMEOUT)
        ret.disconnect()
        ret.loop_stop()

        q = queue.Queue()
        c = paho_client(pre + "-main", version, q)
        c.connect("127.0.0.1", b.port)
        c.loop_start()
        try:
            c.subscribe(pre + "/#", qos=2)
            m = wait_for(q, lambda m: m[0] == pre + "/retained")
            assert m == (pre + "/retained", b"kept", 1, 1)
            for qos in (0, 1, 2):
                c.publish("%s/q%d" % (pre, qos), b"m%d" % qos, qos=qos)
            got = sorted(wait_for(q, lambda m: "/q" in m[0])[:3] for _ in range(3))
            assert got == [(pre + "/q0", b"m0", 0), (pre + "/q1", b"m1", 1), (pre + "/q2", b"m2", 2)]
            dying = paho_client(pre + "-will", version)
            dying.will_set(pre + "/will", b"bye", qos=1)
            dying.connect("127.0.0.1", b.port)
            dying.loop(timeout=1.0)
            dying.socket().close()  # no DISCONNECT: the will goes out
            m = wait_for(q, lambda m: m[0] == pre + "/will")
            assert m[1] == b"bye"
        finally:
            c.disconnect()
            c.loop_stop()


def npm_install():
    """Install MQTT.js once; returns a skip reason or None."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node or npm is not installed"
    if os.path.isdir(os.path.join(NODE_DIR, "node_modules", "mqtt")):
        return None
    try:
        res = subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=NODE_DIR,
                             capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        return "npm install timed out"
    if res.returncode != 0:
        return "npm install failed: " + res.stderr.strip()[-300:]
    return None


@pytest.mark.parametrize("version", [4, 5])
def test_mqtt_js(version):
    reason = npm_install()
    if reason is not None:
        if os.environ.get("CI"):  # CI installs MQTT.js (tests/deps.sh): a skip would hide it
            pytest.fail(reason)
        pytest.skip(reason)
    with Broker() as b:
        res = subprocess.run(["node", "client.js", str(b.port), str(version)], cwd=NODE_DIR,
                             capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stderr + b.logtext()
        got = json.loads(res.stdout)
        assert got["messages"] == [
            {"topic": "js%d/q%d" % (version, q), "payload": "m%d" % q, "qos": q} for q in (0, 1, 2)]
        assert got["retained"] == {"payload": "kept", "retain": True}
        assert got["will"] == "bye"
