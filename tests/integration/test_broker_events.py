# SPDX-License-Identifier: MIT
"""Every event the broker emits, as the library builds it from the broker's
facts (issue #13): a paho-mqtt v5 client sends properties in CONNECT,
SUBSCRIBE, PUBLISH (QoS 0, 1 and 2), UNSUBSCRIBE and DISCONNECT, a raw v5
receiver sends properties in PUBACK and PUBCOMP, and `SELECT *` rules on
every event topic republish to a watcher. Each event's property map and peer
fields (peerhost, peername, sockname) are checked against what the clients
sent. Also: a CONNECT with an unsupported protocol level reports the level it
asked for, and a republished message keeps the user properties the rule
rendered."""
import json
import os
import queue
import socket
import struct
import time

import pytest

from broker_util import (BROKER, TIMEOUT, Broker, EventSubscriber, mstr, packet, raw_connect,
                         varint)

pytestmark = pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built")

try:
    import paho.mqtt.client as paho
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    from paho.mqtt.subscribeoptions import SubscribeOptions
except ImportError:  # pragma: no cover - reported as a skip
    paho = None

# event topic -> the WHERE clause that keeps the watcher's own traffic out
EVENTS = {
    "client_connected": "clientid = 'v5c'",
    "client_connack": "clientid = 'v5c'",
    "client_disconnected": "clientid = 'v5c'",
    "session_subscribed": "clientid = 'v5c'",
    "session_unsubscribed": "clientid = 'v5c'",
    "client_check_authn_complete": "clientid = 'v5c'",
    "client_check_authz_complete": "clientid = 'v5c'",
    "message_delivered": "clientid = 'rx'",
    "message_acked": "clientid = 'rx'",
    "message_dropped": "clientid = 'v5c'",
    "delivery_dropped": "clientid = 'v5c'",
}


def user_props(pairs):
    """The property map members of spec §1.4 for user properties `pairs`."""
    out = {"User-Property": dict(pairs)}
    if pairs:
        out["User-Property-Pairs"] = [{"key": k, "value": v} for k, v in pairs]
    return out


def props_bytes(*items):
    """MQTT 5 properties (length first) from (id, encoded value) items."""
    body = b"".join(bytes([i]) + v for i, v in items)
    return varint(len(body)) + body


def user_prop(k, v):
    return (0x26, mstr(k) + mstr(v))


class Watcher:
    """Collects the JSON payloads republished to ev/<event>."""

    def __init__(self, port):
        self.sub = EventSubscriber(port, topic="ev/#", clientid="watch")
        self.seen = {}

    def wait(self, topic, count=1, timeout=TIMEOUT * 2):
        deadline = time.monotonic() + timeout
        while len(self.seen.get(topic, [])) < count:
            left = deadline - time.monotonic()
            assert left > 0, "no %s event within the timeout; seen: %s" % (topic, sorted(self.seen))
            first, body = self.sub.raw.read_packet(left)
            tlen = struct.unpack(">H", body[:2])[0]
            t = body[2:2 + tlen].decode()
            off = 2 + tlen + (2 if (first >> 1) & 3 else 0)
            self.seen.setdefault(t, []).append(json.loads(body[off:]))
        return self.seen[topic]


def rules_args():
    args = []
    for ev, where in EVENTS.items():
        args += ["--rule", 'SELECT * FROM "$events/%s" WHERE %s' % (ev, where),
                 "--republish", "ev/" + ev]
    args += ["--rule", 'SELECT * FROM "t/#"', "--republish", "ev/message_publish"]
    return args


class RawReceiver:
    """A raw MQTT 5 client subscribed to t/# at QoS 2 that acknowledges with
    properties: PUBACK for QoS 1, PUBREC then PUBCOMP for QoS 2."""

    ACK_PROPS = [("ack", "one"), ("ack", "two")]

    def __init__(self, port):
        self.raw, ack = raw_connect(port, clientid="rx", level=5)
        assert ack[0] == 0x20 and ack[1][1] == 0, ack
        self.raw.send(packet(0x82, struct.pack(">H", 1) + varint(0) + mstr("t/#") + b"\x02"))
        assert self.raw.read_packet()[0] == 0x90
        self.local = self.raw.sock.getsockname()

    def ack_props(self):
        return props_bytes((0x1F, mstr("fine")), *[user_prop(k, v) for k, v in self.ACK_PROPS])

    def handle(self, n):
        """Receive n PUBLISH packets and acknowledge them; returns the topics."""
        topics = []
        while len(topics) < n:
            first, body = self.raw.read_packet()
            kind = first >> 4
            if kind == 3:
                qos = (first >> 1) & 3
                tlen = struct.unpack(">H", body[:2])[0]
                topics.append(body[2:2 + tlen].decode())
                if qos == 1:
                    self.raw.send(packet(0x40, body[2 + tlen:4 + tlen] + b"\x00" + self.ack_props()))
                elif qos == 2:
                    self.raw.send(packet(0x50, body[2 + tlen:4 + tlen]))
            elif kind == 6:  # PUBREL
                self.raw.send(packet(0x70, body[:2] + b"\x00" + self.ack_props()))
        return topics

    def drain(self, timeout=1.0):
        """Answer a last PUBREL."""
        pkt = self.raw.read_packet(timeout)
        if pkt and pkt[0] >> 4 == 6:
            self.raw.send(packet(0x70, pkt[1][:2] + b"\x00" + self.ack_props()))


CONN_USER = [("a", "1"), ("b", "2"), ("a", "3")]
SUB_USER = [("s", "x"), ("s", "y")]
UNSUB_USER = [("u", "1")]
PUB_USER = [("p", "1"), ("q", "2")]
DISC_USER = [("bye", "now")]


def v5_props(kind, **kw):
    p = Properties(kind)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


@pytest.mark.skipif(paho is None, reason="python3-paho-mqtt is not installed")
def test_v5_client_every_event_and_its_properties():
    with Broker(*rules_args()) as b:
        w = Watcher(b.port)
        rx = RawReceiver(b.port)
        c = paho.Client(client_id="v5c", protocol=paho.MQTTv5)
        c.username_pw_set("alice")
        connected = queue.Queue()
        c.on_connect = lambda *a: connected.put(1)
        cp = v5_props(PacketTypes.CONNECT, SessionExpiryInterval=60, ReceiveMaximum=20,
                      UserProperty=CONN_USER)
        c.connect("127.0.0.1", b.port, keepalive=30, properties=cp)
        c.loop_start()
        try:
            connected.get(timeout=TIMEOUT)
            local = c.socket().getsockname()
            peername = "%s:%d" % local
            sockname = "127.0.0.1:%d" % b.port
            subp = v5_props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=7, UserProperty=SUB_USER)
            c.subscribe("s/#", options=SubscribeOptions(qos=1), properties=subp)
            w.wait("ev/session_subscribed")
            # its own messages come back to it: delivery.dropped (no_local)
            c.subscribe("t/#", options=SubscribeOptions(qos=2, noLocal=True))
            w.wait("ev/session_subscribed", 2)
            pubp = v5_props(PacketTypes.PUBLISH, PayloadFormatIndicator=1, MessageExpiryInterval=300,
                            ContentType="text/plain", ResponseTopic="r/1",
                            CorrelationData=b"cd", UserProperty=PUB_USER)
            for qos in (0, 1, 2):
                c.publish("t/q%d" % qos, b"m%d" % qos, qos=qos, properties=pubp).wait_for_publish(TIMEOUT)
            assert sorted(rx.handle(3)) == ["t/q0", "t/q1", "t/q2"]
            rx.drain()
            c.publish("nobody/x", b"lost", qos=1, properties=pubp).wait_for_publish(TIMEOUT)
            unsubp = v5_props(PacketTypes.UNSUBSCRIBE, UserProperty=UNSUB_USER)
            c.unsubscribe("s/#", properties=unsubp)
            w.wait("ev/session_unsubscribed")
            discp = v5_props(PacketTypes.DISCONNECT, SessionExpiryInterval=0, ReasonString="done",
                             UserProperty=DISC_USER)
            c.disconnect(properties=discp)
        finally:
            c.loop_stop()

        conn_props = {"Session-Expiry-Interval": 60, "Receive-Maximum": 20, **user_props(CONN_USER)}
        peer = {"peername": peername}

        ev = w.wait("ev/client_connected")[0]
        assert ev["event"] == "client.connected"
        assert {k: ev[k] for k in ("clientid", "username", "peername", "sockname", "proto_name",
                                   "proto_ver", "keepalive", "clean_start", "receive_maximum",
                                   "expiry_interval", "is_bridge", "conn_props")} == {
            "clientid": "v5c", "username": "alice", "peername": peername, "sockname": sockname,
            "proto_name": "MQTT", "proto_ver": 5, "keepalive": 30, "clean_start": True,
            "receive_maximum": 20, "expiry_interval": 60, "is_bridge": False,
            "conn_props": conn_props}
        assert ev["connected_at"] > 0

        ev = w.wait("ev/client_connack")[0]
        assert ev["conn_props"] == conn_props and ev["expiry_interval"] == 60000
        assert ev["peername"] == peername and ev["sockname"] == sockname

        ev = w.wait("ev/client_check_authn_complete")[0]
        assert ev["clientid"] == "v5c" and ev["username"] == "alice" and ev["peername"] == peername
        assert ev["reason_code"] == "success" and ev["is_anonymous"] is False

        ev = w.wait("ev/client_check_authz_complete")[0]
        assert ev["topic"] == "s/#" and ev["action"] == "subscribe" and ev["result"] == "allow"
        assert ev["peername"] == peername and ev["peerhost"] == "127.0.0.1"

        ev = w.wait("ev/session_subscribed")[0]
        assert ev["topic"] == "s/#" and ev["qos"] == 1
        assert ev["peername"] == peername and ev["peerhost"] == "127.0.0.1"
        assert ev["sub_props"] == {"Subscription-Identifier": 7, **user_props(SUB_USER)}

        ev = w.wait("ev/session_unsubscribed")[0]
        assert ev["topic"] == "s/#" and ev["peername"] == peername and ev["peerhost"] == "127.0.0.1"
        assert ev["unsub_props"] == user_props(UNSUB_USER)

        pub_props = {"Payload-Format-Indicator": 1, "Message-Expiry-Interval": 300,
                     "Content-Type": "text/plain", "Response-Topic": "r/1",
                     "Correlation-Data": "cd", **user_props(PUB_USER)}
        pubs = w.wait("ev/message_publish", 3)
        assert sorted(e["topic"] for e in pubs) == ["t/q0", "t/q1", "t/q2"]
        for e in pubs:
            assert e["pub_props"] == pub_props and e["clientid"] == "v5c"
            assert e["peername"] == peername and e["peerhost"] == "127.0.0.1"

        rx_peer = "%s:%d" % rx.local
        dlv = w.wait("ev/message_delivered", 3)
        assert sorted(e["topic"] for e in dlv) == ["t/q0", "t/q1", "t/q2"]
        for e in dlv:
            assert e["from_clientid"] == "v5c" and e["from_username"] == "alice"
            assert e["peername"] == rx_peer and e["peerhost"] == "127.0.0.1"
            # a delivery carries the PUBLISH properties as the publisher sent them
            assert e["pub_props"] == pub_props

        acked = w.wait("ev/message_acked", 2)
        assert sorted(e["topic"] for e in acked) == ["t/q1", "t/q2"]
        for e in acked:
            assert e["pub_props"] == pub_props
            assert e["puback_props"] == {"Reason-String": "fine",
                                         **user_props(RawReceiver.ACK_PROPS)}
            assert e["peername"] == rx_peer and e["peerhost"] == "127.0.0.1"

        nl = w.wait("ev/delivery_dropped", 3)
        assert sorted(e["topic"] for e in nl) == ["t/q0", "t/q1", "t/q2"]
        for e in nl:
            assert e["reason"] == "no_local" and e["from_clientid"] == "v5c"
            assert e["peername"] == peername and e["peerhost"] == "127.0.0.1"
            assert e["pub_props"] == pub_props

        ev = w.wait("ev/message_dropped")[0]
        assert ev["topic"] == "nobody/x" and ev["reason"] == "no_subscribers"
        # the publisher's address (issue #13: undefined before)
        assert ev["peername"] == peername and ev["peerhost"] == "127.0.0.1"
        assert ev["pub_props"] == pub_props

        ev = w.wait("ev/client_disconnected")[0]
        assert ev["reason"] == "normal" and ev["peername"] == peername
        assert ev["sockname"] == sockname
        assert ev["disconn_props"] == {"Session-Expiry-Interval": 0, "Reason-String": "done",
                                       **user_props(DISC_USER)}
        w.sub.close()
        rx.raw.close()


def test_client_ping_carries_the_connect_properties():
    rule = 'SELECT * FROM "$events/client/ping" WHERE clientid = \'pinger\''
    with Broker("--rule", rule, "--republish", "ev/ping") as b:
        w = Watcher(b.port)
        cp = props_bytes((0x11, struct.pack(">I", 30)), user_prop("k", "v"))[1:]  # no length
        r, ack = raw_connect(b.port, clientid="pinger", level=5, keepalive=20, props=cp)
        assert ack[1][1] == 0
        r.send(b"\xc0\x00")
        assert r.read_packet()[0] == 0xD0
        ev = w.wait("ev/ping")[0]
        local = r.sock.getsockname()
        assert ev["event"] == "client.ping" and ev["clientid"] == "pinger"
        assert ev["peername"] == "%s:%d" % local and ev["sockname"] == "127.0.0.1:%d" % b.port
        assert ev["proto_ver"] == 5 and ev["keepalive"] == 20 and ev["clean_start"] is True
        assert ev["expiry_interval"] == 30000  # milliseconds in client.ping (D10)
        assert ev["conn_props"] == {"Session-Expiry-Interval": 30, **user_props([("k", "v")])}
        r.close()
        w.sub.close()


def test_v3_session_expiry_agrees_between_connack_and_connected():
    args = []
    for ev in ("client_connected", "client_connack"):
        args += ["--rule", 'SELECT expiry_interval, receive_maximum, conn_props FROM '
                 '"$events/%s" WHERE clientid = \'v3\'' % ev, "--republish", "ev/" + ev]
    with Broker(*args, config="v3_session_expiry 90\nmax_inflight 7\n") as b:
        w = Watcher(b.port)
        r, ack = raw_connect(b.port, clientid="v3", clean=False)
        assert ack[1][1] == 0
        con = w.wait("ev/client_connected")[0]
        cak = w.wait("ev/client_connack")[0]
        # D10: seconds in client.connected, milliseconds in client.connack
        assert con["expiry_interval"] == 90 and cak["expiry_interval"] == 90000
        # a v3 client gets what the broker lets it have in flight
        assert con["receive_maximum"] == 7
        assert con["conn_props"] == {"User-Property": {}}
        r.close()
        w.sub.close()


@pytest.mark.parametrize("level", [6, 2])
def test_unsupported_protocol_level_is_reported(level):
    rule = ('SELECT proto_ver, clientid, keepalive, clean_start, reason_code FROM '
            '"$events/client_connack"')
    with Broker("--rule", rule, "--republish", "ev/connack") as b:
        w = Watcher(b.port)
        s = socket.create_connection(("127.0.0.1", b.port), timeout=TIMEOUT)
        vh = mstr("MQTT") + bytes([level, 0x00]) + struct.pack(">H", 42)
        s.sendall(packet(0x10, vh + mstr("old-client")))
        s.recv(16)
        s.close()
        ev = w.wait("ev/connack")[0]  # (the watcher's own came before it subscribed)
        assert ev == {"proto_ver": level, "clientid": "old-client", "keepalive": 42,
                      "clean_start": False,
                      "reason_code": "unacceptable_protocol_version"}
        w.sub.close()


@pytest.mark.skipif(paho is None, reason="python3-paho-mqtt is not installed")
def test_republish_keeps_the_rendered_user_properties():
    rule = "SELECT payload, pub_props.'User-Property' as user_properties FROM \"in/#\""
    with Broker("--rule", rule, "--republish", "out/copy") as b:
        got = queue.Queue()
        sub = paho.Client(client_id="sub5", protocol=paho.MQTTv5)
        sub.on_message = lambda cl, ud, msg: got.put(msg)
        sub.connect("127.0.0.1", b.port)
        sub.loop_start()
        try:
            sub.subscribe("out/#", qos=1)[1]
            time.sleep(0.2)
            pub = paho.Client(client_id="pub5", protocol=paho.MQTTv5)
            pub.connect("127.0.0.1", b.port)
            pub.loop_start()
            pp = v5_props(PacketTypes.PUBLISH, UserProperty=[("k1", "v1"), ("k2", "v2")])
            pub.publish("in/x", b"hello", qos=1, properties=pp).wait_for_publish(TIMEOUT)
            msg = got.get(timeout=TIMEOUT * 2)
            pub.loop_stop()
            pub.disconnect()
        finally:
            sub.loop_stop()
            sub.disconnect()
        assert msg.topic == "out/copy"
        assert json.loads(msg.payload)["payload"] == "hello"
        assert sorted(msg.properties.UserProperty) == [("k1", "v1"), ("k2", "v2")]
