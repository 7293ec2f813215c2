# SPDX-License-Identifier: MIT
"""Every CONNACK reason of the source document, caused for real: each case
configures the broker, sends one CONNECT at MQTT 5 and at 3.1.1, and checks
the CONNACK on the wire and the reason_code of the client.connack event
(doc profile, decision D1)."""
import os
import struct
import time

import pytest

from broker_util import BROKER, TIMEOUT, Broker, EventSubscriber, connect_bytes, raw_connect, \
    stats, varint

try:
    import paho.mqtt.client as paho
except ImportError:  # pragma: no cover - reported as a skip
    paho = None

pytestmark = pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built")


def prop_u32(pid, v):
    return bytes([pid]) + struct.pack(">I", v)


def prop_str(pid, s):
    return bytes([pid]) + struct.pack(">H", len(s)) + s.encode()


# name, config, connect kwargs, v5 code, v3 return code, v3 name under the
# doc profile. The event subscriber ("ev", MQTT 3.1.1) connects first: it
# holds the one connection, session or rate token the limits allow.
CASES = [
    ("quota_exceeded", "max_connections 1\n", {}, 0x97, 3, "server_unavailable"),
    ("server_busy", "max_connections 1\nmax_connections_reason server_busy\n", {}, 0x89, 3,
     "server_unavailable"),
    ("connection_rate_exceeded", "connection_rate 1\n", {}, 0x9F, 3, "server_unavailable"),
    ("implementation_specific_error", "refuse_will yes\n", {"will": ("w", "x", 0, False)},
     0x83, 1, "unacceptable_protocol_version"),
    ("quota_exceeded/max_sessions", "max_sessions 1\n", {}, 0x97, 3, "server_unavailable"),
    ("qos_not_supported", "max_qos 1\n", {"will": ("w", "x", 2, False)}, 0x9B, 3,
     "qos_not_supported"),
    ("retain_not_supported", "retain_available no\n", {"will": ("w", "x", 0, True)}, 0x9A, 3,
     "retain_not_supported"),
    ("not_authorized", "acl all read #\nacl all write allowed/#\n",
     {"will": ("secret", "x", 0, False)}, 0x87, 5, "unauthorized_client"),
    ("unacceptable_protocol_version", "protocols 4\n", {"v3level": 3}, 0x84, 1,
     "unacceptable_protocol_version"),
    ("client_identifier_not_valid", "max_clientid_len 4\n", {"clientid": "toolong"}, 0x85, 2,
     "client_identifier_not_valid"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_reason(case):
    name, conf, kw, v5code, v3code, v3name = case
    name = name.split("/")[0]  # "reason/what causes it" where a reason has several causes
    kw = dict(kw)
    v3level = kw.pop("v3level", 4)
    with Broker(config=conf) as b:
        sub = EventSubscriber(b.port, clientid="ev")
        for level, code in ((5, v5code), (v3level, v3code)):
            kw.setdefault("clientid", "c%d" % level)
            r, ack = raw_connect(b.port, level=level, **kw)
            assert ack is not None and ack[0] == 0x20 and ack[1][1] == code, (level, ack, b.logtext())
            assert r.closed()
            ev = sub.next_json()
            assert ev["clientid"] == kw["clientid"]
            assert ev["reason_code"] == (name if level == 5 else v3name)
        assert "refused client '%s'" % kw["clientid"] in b.logtext()


@pytest.mark.parametrize("reason,code", [("use_another_server", 0x9C), ("server_moved", 0x9D)])
def test_redirect(reason, code):
    # every client is redirected, the event subscriber too: the log shows it
    with Broker(config="redirect %s other.example:1883\n" % reason) as b:
        r, ack = raw_connect(b.port, level=5, clientid="moving")
        assert ack[1][1] == code and b"other.example:1883" in ack[1]  # Server-Reference
        r, ack = raw_connect(b.port, level=4, clientid="moving3")
        assert ack == (0x20, b"\x00\x03")
        assert b.wait_log("refused client 'moving' username (none) from 127.0.0.1")
        assert "%s (0x%02X)" % (reason, code) in b.logtext()


def test_bad_authentication_method():
    with Broker() as b:
        sub = EventSubscriber(b.port)
        props = prop_str(0x15, "SCRAM-SHA-1")
        r, ack = raw_connect(b.port, level=5, clientid="scram", props=props)
        assert ack[1][:2] == b"\x00\x8c"
        assert sub.next_json()["reason_code"] == "bad_authentication_method"


def test_protocol_error_receive_maximum_zero():
    with Broker() as b:
        sub = EventSubscriber(b.port)
        props = b"\x21\x00\x00"  # Receive-Maximum 0
        r, ack = raw_connect(b.port, level=5, clientid="rm0", props=props)
        assert ack is not None and ack[1][1] == 0x82, ack
        assert sub.next_json()["reason_code"] == "protocol_error"


def test_reason_string_only_when_problem_information_allowed():
    with Broker("--allow-anonymous", "no") as b:
        r, ack = raw_connect(b.port, level=5, clientid="a")
        assert ack[1][1] == 0x87 and b"anonymous" in ack[1]
        r, ack = raw_connect(b.port, level=5, clientid="b", props=b"\x17\x00")
        assert ack == (0x20, b"\x00\x87\x00")


def paho_connack(port, clientid, protocol, clean=True):
    """Connect a paho-mqtt client; the CONNACK code it got (v5: the reason
    code's value, 3.1.1: the return code), or None when none came."""
    got = []
    if protocol == paho.MQTTv5:
        c = paho.Client(client_id=clientid, protocol=protocol)
    else:
        c = paho.Client(client_id=clientid, protocol=protocol, clean_session=clean)
    if protocol == paho.MQTTv5:
        c.on_connect = lambda cl, ud, flags, rc, props: got.append(rc.value)
    else:
        c.on_connect = lambda cl, ud, flags, rc: got.append(rc)
    c.connect("127.0.0.1", port)
    deadline = time.monotonic() + TIMEOUT
    while not got and time.monotonic() < deadline:
        c.loop(0.1)
    c.disconnect()
    return got[0] if got else None


@pytest.mark.skipif(paho is None, reason="python3-paho-mqtt is not installed")
def test_max_sessions_refuses_with_quota_exceeded_to_paho():
    # EMQX answers a session or connection quota with quota_exceeded (0x97),
    # which 3.1.1 clients see as 3 (server unavailable); a client id that
    # already has a session is not refused
    with Broker(config="max_sessions 2\n") as b:
        sub = EventSubscriber(b.port, clientid="ev")
        # keeper's session outlives its connection: with ev's, the table is full
        assert paho_connack(b.port, "keeper", paho.MQTTv311, clean=False) == 0
        assert sub.next_json()["reason_code"] == "connection_accepted"  # doc profile, v3
        assert paho_connack(b.port, "p5", paho.MQTTv5) == 0x97
        ev = sub.next_json()
        assert (ev["clientid"], ev["reason_code"]) == ("p5", "quota_exceeded")
        assert paho_connack(b.port, "p3", paho.MQTTv311) == 3
        ev = sub.next_json()
        assert (ev["clientid"], ev["reason_code"]) == ("p3", "server_unavailable")
        assert paho_connack(b.port, "keeper", paho.MQTTv311, clean=False) == 0  # its own
        assert sub.next_json()["reason_code"] == "connection_accepted"
        assert stats(b)["refused.max_sessions"] == 2
        assert "session table full (max_sessions)" in b.logtext()
