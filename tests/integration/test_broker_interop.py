# SPDX-License-Identifier: MIT
"""mqttrule-broker with the clients people use, at MQTT 3.1.1 and 5:
mosquitto_pub/mosquitto_sub (Debian package mosquitto-clients), MQTT.js (npm
`mqtt`, tests/integration/node/mqtt5.js) and paho-mqtt (Python). Each run
exercises the MQTT 5 features the client exposes and checks what it printed
or received: properties passed through in order, subscription identifiers,
topic aliases, shared subscriptions, Server-Keep-Alive, an ACL that denies a
filter to everyone."""
import json
import os
import queue
import shutil
import subprocess
import time

import pytest

from broker_util import BROKER, TIMEOUT, Broker
from test_broker_clients import NODE_DIR, npm_install

pytestmark = pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built")

CONFIG = ("acl all deny test/nosubscribe\nacl all readwrite #\nmax_keepalive 60\n"
          "response_information response/\n")
MOSQ = shutil.which("mosquitto_sub") and shutil.which("mosquitto_pub")
needs_mosquitto = pytest.mark.skipif(not MOSQ, reason="mosquitto-clients are not installed")

try:
    import paho.mqtt.client as paho
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    from paho.mqtt.subscribeoptions import SubscribeOptions
except ImportError:  # pragma: no cover - reported as a skip
    paho = None


@pytest.fixture
def broker():
    with Broker(config=CONFIG) as b:
        yield b


def mosq_sub(port, version, *args, count=1):
    """Start mosquitto_sub printing one line per message; returns the process
    once its subscription is in place (the broker logs it)."""
    return subprocess.Popen(["mosquitto_sub", "-p", str(port), "-V", version, "-C", str(count),
                             "-W", "10"] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def mosq_pub(port, version, *args):
    res = subprocess.run(["mosquitto_pub", "-p", str(port), "-V", version] + list(args),
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr


def wait_subscribed(b, cid, n=1):
    deadline = time.monotonic() + TIMEOUT
    while b.logtext().count("client '%s' subscribed" % cid) < n:
        assert time.monotonic() < deadline, b.logtext()
        time.sleep(0.02)


def finish(proc):
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    return out.splitlines()


# ---- mosquitto_pub / mosquitto_sub ---------------------------------------------------------


@needs_mosquitto
@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_mosquitto_overlapping_subscriptions_and_retained(broker, version):
    mosq_pub(broker.port, version, "-t", "mo/ret", "-m", "kept", "-r", "-q", "1")
    sub = mosq_sub(broker.port, version, "-i", "mo-sub", "-t", "mo/#", "-t", "mo/+", "-q", "2",
                   "-F", "%t|%p|%q|%r", count=2)
    wait_subscribed(broker, "mo-sub", 2)
    mosq_pub(broker.port, version, "-t", "mo/x", "-m", "live", "-q", "2")
    # the retained message once per filter, then one copy of the live one at QoS 2
    lines = finish(sub)
    assert lines == ["mo/ret|kept|1|1", "mo/x|live|2|0"] or \
        lines == ["mo/ret|kept|1|1", "mo/ret|kept|1|1"], lines


@needs_mosquitto
def test_mosquitto_v5_properties_identifiers_and_aliases(broker):
    # libmosquitto 2.0.11 reads the alias of a PUBLISH but refuses an empty
    # topic (protocol error), so the subscriber takes one message: the one
    # that assigns the alias, topic included.
    sub = mosq_sub(broker.port, "mqttv5", "-i", "m5-sub", "-t", "m5/#",
                   "-D", "subscribe", "subscription-identifier", "5",
                   "-D", "connect", "topic-alias-maximum", "3",
                   "-F", "%t|%p|%P|%C|%D|%E|%F|%R|%S|%A", count=1)
    wait_subscribed(broker, "m5-sub")
    mosq_pub(broker.port, "mqttv5", "-t", "m5/x", "-m", "hello",
             "-D", "publish", "user-property", "k1", "v1",
             "-D", "publish", "user-property", "k0", "v0",
             "-D", "publish", "content-type", "text/x",
             "-D", "publish", "message-expiry-interval", "100",
             "-D", "publish", "response-topic", "r/t",
             "-D", "publish", "correlation-data", "abc",
             "-D", "publish", "payload-format-indicator", "1",
             "-D", "publish", "topic-alias", "1")
    assert finish(sub) == ["m5/x|hello|k1:v1 k0:v0|text/x|abc|100|1|r/t|5|1"]


@needs_mosquitto
@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_mosquitto_acl_denies_nosubscribe(broker, version):
    res = subprocess.run(["mosquitto_sub", "-p", str(broker.port), "-V", version, "-t",
                          "test/nosubscribe", "-C", "1", "-W", "5"],
                         capture_output=True, text=True, timeout=TIMEOUT + 5)
    assert "All subscription requests were denied." in res.stderr


@needs_mosquitto
def test_mosquitto_shared_subscription(broker):
    subs = [mosq_sub(broker.port, "mqttv5", "-i", "ms-%d" % i, "-t", "$share/grp/ms/#",
                     count=2) for i in range(2)]
    for i in range(2):
        wait_subscribed(broker, "ms-%d" % i)
    for i in range(4):
        mosq_pub(broker.port, "mqttv5", "-t", "ms/t", "-m", str(i))
    a, b = finish(subs[0]), finish(subs[1])
    assert sorted(a + b) == ["0", "1", "2", "3"] and len(a) == 2


@needs_mosquitto
def test_mosquitto_keepalive_above_maximum(broker):
    sub = mosq_sub(broker.port, "mqttv5", "-i", "mk", "-k", "300", "-t", "mk/t")
    wait_subscribed(broker, "mk")
    mosq_pub(broker.port, "mqttv5", "-t", "mk/t", "-m", "ok", "-k", "300")
    assert finish(sub) == ["ok"]


# ---- MQTT.js --------------------------------------------------------------------------------


def test_mqtt_js_v5_features(broker):
    reason = npm_install()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    res = subprocess.run(["node", "mqtt5.js", str(broker.port)], cwd=NODE_DIR,
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr + broker.logtext()
    got = json.loads(res.stdout)
    assert got["connack"]["serverKeepAlive"] == 60
    assert got["connack"]["topicAliasMaximum"] == 10
    assert got["connack"]["responseInformation"] == "response/"
    first, second = got["messages"]
    assert first == {"topic": "js5/a/x", "payload": "first", "qos": 1,
                     "subscriptionIdentifier": [1, 2], "userProperties": {"b": "2", "a": "1"},
                     "contentType": "text/plain", "responseTopic": "js5/reply",
                     "correlationData": "corr", "messageExpiryInterval": 60,
                     "payloadFormatIndicator": True, "topicAlias": 1}
    assert second["topic"] == "js5/a/x" and second["payload"] == "second"
    assert second["subscriptionIdentifier"] == [1, 2] and second["topicAlias"] == 1
    assert got["shared"] == {"a": 2, "b": 2}


# ---- paho-mqtt ------------------------------------------------------------------------------


@pytest.mark.skipif(paho is None, reason="python3-paho-mqtt is not installed")
def test_paho_v5_features(broker):
    q = queue.Queue()
    sub = paho.Client(client_id="paho5-sub", protocol=paho.MQTTv5)
    sub.on_message = lambda c, ud, m: q.put(m)
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    pub = paho.Client(client_id="paho5-pub", protocol=paho.MQTTv5)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    try:
        sp = Properties(PacketTypes.SUBSCRIBE)
        sp.SubscriptionIdentifier = 11
        sub.subscribe("paho5/#", options=SubscribeOptions(qos=1, noLocal=False), properties=sp)
        wait_subscribed(broker, "paho5-sub")
        pp = Properties(PacketTypes.PUBLISH)
        pp.UserProperty = [("z", "1"), ("a", "2")]
        pp.ContentType = "application/json"
        pp.ResponseTopic = "paho5/reply"
        pp.CorrelationData = b"\x01\x02"
        pp.MessageExpiryInterval = 30
        pub.publish("paho5/t", b"{}", qos=1, properties=pp).wait_for_publish(TIMEOUT)
        m = q.get(timeout=TIMEOUT)
        assert (m.topic, m.payload, m.qos) == ("paho5/t", b"{}", 1)
        p = m.properties
        assert p.UserProperty == [("z", "1"), ("a", "2")]
        assert p.ContentType == "application/json" and p.ResponseTopic == "paho5/reply"
        assert p.CorrelationData == b"\x01\x02" and 29 <= p.MessageExpiryInterval <= 30
        assert p.SubscriptionIdentifier == [11]
    finally:
        for c in (sub, pub):
            c.disconnect()
            c.loop_stop()
