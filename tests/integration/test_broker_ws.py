# SPDX-License-Identifier: MIT
"""MQTT over WebSocket (RFC 6455) at the byte level, with a minimal client
(tls_util.WsClient): the upgrade and its refusals (400, 404, 426 with the
reason), MQTT packets split across frames, packed within one frame and
fragmented, ping/pong, the close handshake, unmasked and text frames refused,
a frame above max_packet_size refused with 1009, wss:// on a TLS listener,
and the Origin check (ws_check_origins, ws_allow_origin_absence: 403). MQTT.js over ws:// and wss:// from node is here too."""
import json
import os
import shutil
import signal
import struct
import subprocess

import pytest

from broker_util import BROKER, connect_bytes, publish_bytes, stats, subscribe_bytes
from tls_util import (WsClient, assert_startup_error, broker_has_tls, client_ctx,
                      listeners_config, make_certs, start_broker)

pytestmark = pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built")

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "node")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """The test PKI, or None when the broker or the machine has no TLS (the
    ws:// tests run, the wss:// ones skip)."""
    if shutil.which("openssl") is None or not broker_has_tls():
        return None
    return make_certs(str(tmp_path_factory.mktemp("pki")))


def need_tls(certs):
    if certs is None:
        pytest.skip("no TLS: mqttrule-broker built without OpenSSL, or no openssl command")


@pytest.fixture
def broker(certs):
    with start_broker(lambda ports: listeners_config(certs, ports, "max_packet_size 4096\n")) as b:
        yield b


def test_upgrade_and_roundtrip(broker):
    ws = WsClient(broker.ports.ws)
    assert ws.status == 101 and ws.accept_ok()
    assert ws.header("Sec-WebSocket-Protocol") == "mqtt"
    ws.send(connect_bytes("ws-raw"))
    assert ws.recv_mqtt() == b"\x20\x02\x00\x00"
    ws.send(subscribe_bytes(1, [("t/#", 0)]))
    assert ws.recv_mqtt()[:1] == b"\x90"
    ws.send(publish_bytes("t/a", "hello"))
    assert ws.recv_mqtt() == publish_bytes("t/a", "hello")
    ws.close()
    assert stats(broker)["ws.upgrades"] == 1


def test_mqttv31_subprotocol_and_none(broker):
    ws = WsClient(broker.ports.ws, protocol="foo, mqttv3.1")
    assert ws.status == 101 and ws.header("Sec-WebSocket-Protocol") == "mqttv3.1"
    ws.close()
    ws = WsClient(broker.ports.ws, protocol=None)
    assert ws.status == 101 and ws.header("Sec-WebSocket-Protocol") is None
    ws.close()


def test_split_packed_and_fragmented(broker):
    """The MQTT decoder sees one byte stream: a CONNECT split over three
    frames, SUBSCRIBE + PUBLISH packed in one frame, a PUBLISH fragmented
    into a binary frame and two continuations."""
    ws = WsClient(broker.ports.ws)
    c = connect_bytes("ws-split")
    ws.send(c[:3])
    ws.send(c[3:7])
    ws.send(c[7:])
    assert ws.recv_mqtt() == b"\x20\x02\x00\x00"
    ws.send(subscribe_bytes(1, [("s/#", 0)]) + publish_bytes("s/1", "packed"))
    assert ws.recv_mqtt()[:1] == b"\x90"
    assert ws.recv_mqtt() == publish_bytes("s/1", "packed")
    p = publish_bytes("s/2", "fragmented message")
    ws.send(p[:5], fin=False)
    ws.send(p[5:9], opcode=0, fin=False)
    ws.send(b"", opcode=9)  # a ping between fragments is allowed
    assert ws.recv_frame() == (1, 10, b"")
    ws.send(p[9:], opcode=0)
    assert ws.recv_mqtt() == p
    ws.close()


def test_ping_pong_and_close_handshake(broker):
    ws = WsClient(broker.ports.ws)
    ws.send(connect_bytes("ws-ping"))
    assert ws.recv_mqtt()[:1] == b"\x20"
    ws.send(b"abc", opcode=9)
    assert ws.recv_frame() == (1, 10, b"abc")
    ws.send(struct.pack(">H", 1000), opcode=8)
    assert ws.recv_frame() == (1, 8, struct.pack(">H", 1000))
    with pytest.raises(EOFError):
        ws.recv_frame()
    assert broker.wait_log("client 'ws-ping' from")


@pytest.mark.parametrize("frame,code,why", [
    (dict(payload=b"\x10", mask=False), 1002, "client frame not masked"),
    (dict(payload=b"hi", opcode=1), 1003, "text frame"),
    (dict(payload=b"x" * 5000), 1009, "frame larger than max_packet_size"),
    (dict(payload=b"x", opcode=0), 1002, "continuation frame without a message"),
    (dict(payload=b"x", rsv=0x40), 1002, "RSV bits set"),
    (dict(payload=b"x" * 126, opcode=9), 1002, "control frame fragmented or longer"),
])
def test_bad_frames_refused(broker, frame, code, why):
    ws = WsClient(broker.ports.ws)
    ws.send(**frame)
    fin, op, payload = ws.recv_frame()
    assert (op, struct.unpack(">H", payload)[0]) == (8, code)
    assert broker.wait_log(why), broker.logtext()
    assert sum(v for k, v in stats(broker).items() if k.startswith("ws.closed.")) == 1


@pytest.mark.parametrize("kw,status,why", [
    (dict(path="/other"), 404, "no MQTT endpoint at this path"),
    (dict(path="/mqtt?x=1", protocol="chat"), 400, "offers neither mqtt nor mqttv3.1"),
    (dict(headers={"Sec-WebSocket-Version": "8"}), 400, None),  # a second version header
])
def test_upgrade_refusals(broker, kw, status, why):
    ws = WsClient(broker.ports.ws, **kw)
    if why is None:  # two Sec-WebSocket-Version headers: the last one (8) is refused
        assert ws.status == 426 and ws.header("Sec-WebSocket-Version") == "13"
        return
    assert ws.status == status
    assert why in ws.body()
    assert stats(broker)["ws.refused.%d" % status] == 1


def test_plain_http_to_ws_listener_gets_426(broker):
    ws = WsClient(broker.ports.ws, upgrade=False)
    assert ws.request("GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n") == 426
    assert "send Upgrade: websocket" in ws.body()
    ws = WsClient(broker.ports.ws, upgrade=False)
    assert ws.request("GARBAGE\r\n\r\n") == 400
    assert "malformed request line" in ws.body()


def test_wss(broker, certs):
    need_tls(certs)
    ws = WsClient(broker.ports.wss, ctx=client_ctx(certs))
    assert ws.status == 101 and ws.accept_ok()
    ws.send(connect_bytes("wss-raw"))
    assert ws.recv_mqtt() == b"\x20\x02\x00\x00"
    ws.send(subscribe_bytes(1, [("w/#", 0)]))
    ws.recv_mqtt()
    big = os.urandom(3000)
    ws.send(publish_bytes("w/big", big))
    assert ws.recv_mqtt() == publish_bytes("w/big", big)
    ws.close()


def node_skip():
    if shutil.which("node") is None:
        return "node is not installed"
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "mqtt")):
        return "MQTT.js is not installed in tests/integration/node"
    return None


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_mqtt_js(certs, scheme):
    """MQTT.js from node over ws:// and wss:// (the CA passed to node)."""
    if scheme == "wss":
        need_tls(certs)
    reason = node_skip()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with start_broker(lambda ports: listeners_config(certs, ports)) as b:
        port = b.ports.ws if scheme == "ws" else b.ports.wss
        url = "%s://localhost:%d/mqtt" % (scheme, port)
        env = dict(os.environ, MQR_CA=certs["ca"]) if certs else dict(os.environ)
        res = subprocess.run(["node", "ws.js", url], cwd=NODE_DIR, capture_output=True, text=True,
                             timeout=30, env=env)
        assert res.returncode == 0, res.stderr + b.logtext()
        got = json.loads(res.stdout)
        assert got["messages"] == [{"topic": "js/q%d" % q, "payload": "m%d" % q, "qos": q}
                                   for q in (0, 1, 2)]
        assert got["connack"]["clientid"] == "js-%s-2" % scheme
        assert "WebSocket upgrade from" in b.logtext()


# ---- the Origin check (ws_check_origins, ws_allow_origin_absence) -------------------------

ORIGINS = "ws_check_origins http://a.example,https://b.example:8443\nws_check_origins null\n"


@pytest.fixture
def origin_broker():
    """ws: Origin checked, absence allowed (the default); wss port: a second
    ws:// listener that refuses a request without Origin."""
    def config(ports):
        return ("listener %d\nlistener %d\nprotocol websockets\n%s"
                "listener %d\nprotocol websockets\n%sws_allow_origin_absence false\n"
                % (ports.plain, ports.ws, ORIGINS, ports.wss, ORIGINS))
    with start_broker(config) as b:
        yield b


@pytest.mark.parametrize("origin", ["http://a.example", "HTTPS://B.example:8443", "null"])
def test_origin_allowed(origin_broker, origin):
    """A listed origin (scheme and host compare case-blind) upgrades and
    speaks MQTT."""
    for port in (origin_broker.ports.ws, origin_broker.ports.wss):
        ws = WsClient(port, headers={"Origin": origin})
        assert ws.status == 101 and ws.accept_ok()
        ws.send(connect_bytes("origin-ok"))
        assert ws.recv_mqtt() == b"\x20\x02\x00\x00"
        ws.close()


@pytest.mark.parametrize("headers,why", [
    ({"Origin": "http://evil.example"}, "the Origin is not in ws_check_origins"),
    ({"Origin": "https://b.example"}, "the Origin is not in ws_check_origins"),  # port differs
    ({"Origin": "http://a.example.evil.example"}, "the Origin is not in ws_check_origins"),
])
def test_origin_refused(origin_broker, headers, why):
    """An origin not listed gets 403 with the reason; the log names the peer
    and the origin; counted as ws.refused.403."""
    ws = WsClient(origin_broker.ports.ws, headers=headers)
    assert ws.status == 403
    assert why in ws.body()
    assert origin_broker.wait_log("refused (403): %s (/mqtt, origin '%s')" % (
        why, headers["Origin"])), origin_broker.logtext()
    st = stats(origin_broker)
    assert st["ws.refused.403"] == 1 and st["ws.upgrades"] == 0, st


def test_origin_absence(origin_broker):
    """Without an Origin header (a device, MQTT.js in node): allowed by
    default, refused with ws_allow_origin_absence false. Two Origin headers
    are refused."""
    ws = WsClient(origin_broker.ports.ws)
    assert ws.status == 101
    ws.close()
    ws = WsClient(origin_broker.ports.wss)
    assert ws.status == 403
    assert "no Origin header, and ws_allow_origin_absence is false" in ws.body()
    ws = WsClient(origin_broker.ports.ws, upgrade=False)
    ws.key = "dGhlIHNhbXBsZSBub25jZQ=="
    req = ("GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOrigin: http://a.example\r\n"
           "Origin: http://evil.example\r\n\r\n" % ws.key)
    assert ws.request(req) == 403
    assert "more than one Origin header" in ws.body()
    assert stats(origin_broker)["ws.refused.403"] == 2


def test_origin_check_off_by_default(broker):
    """Without ws_check_origins any Origin upgrades (EMQX's
    check_origin_enable defaults to false)."""
    ws = WsClient(broker.ports.ws, headers={"Origin": "http://anything.example"})
    assert ws.status == 101
    ws.close()


@pytest.mark.parametrize("text,msg", [
    ("listener 1\nprotocol websockets\nws_check_origins https://a.example/\n",
     "broker.conf:3: ws_check_origins: 'https://a.example/' is not an origin"),
    ("listener 1\nprotocol websockets\nws_check_origins a.example\n",
     "broker.conf:3: ws_check_origins: 'a.example' is not an origin"),
    ("listener 1\nprotocol websockets\nws_check_origins http://a.example,,http://b\n",
     "broker.conf:3: ws_check_origins: '' is not an origin"),
    ("listener 1\nws_check_origins http://a.example\n",
     "broker.conf:1: listener 1: ws_check_origins and ws_allow_origin_absence need 'protocol "
     "websockets'"),
    ("listener 1\nprotocol websockets\nws_allow_origin_absence false\n",
     "broker.conf:1: listener 1: ws_allow_origin_absence needs ws_check_origins"),
    ("listener 1\nprotocol websockets\nws_allow_origin_absence maybe\n",
     "broker.conf:3: ws_allow_origin_absence needs true or false, not 'maybe'"),
])
def test_origin_config_errors(tmp_path, text, msg):
    assert_startup_error(tmp_path, text, msg)


def test_origin_reloaded_on_sighup(tmp_path):
    """ws_check_origins changes with SIGHUP, without a restart: the next
    upgrade is decided by the new list."""
    with start_broker(lambda ports: "listener %d\nlistener %d\nprotocol websockets\n"
                      "ws_check_origins http://a.example\n" % (ports.plain, ports.ws)) as b:
        assert WsClient(b.ports.ws, headers={"Origin": "http://c.example"}).status == 403
        with open(b.config_path) as f:
            text = f.read()
        with open(b.config_path, "w") as f:
            f.write(text.replace("http://a.example", "http://c.example"))
        b.send_signal(signal.SIGHUP)
        assert b.wait_log("SIGHUP: listener %d: WebSocket options changed" % b.ports.ws), \
            b.logtext()
        assert WsClient(b.ports.ws, headers={"Origin": "http://c.example"}).status == 101
        assert WsClient(b.ports.ws, headers={"Origin": "http://a.example"}).status == 403


@pytest.mark.parametrize("origin,ok", [("http://a.example", True), ("http://evil.example", False)])
def test_mqtt_js_origin(origin, ok):
    """MQTT.js from node sending an Origin (wsOptions.origin): a listed one
    connects, another gets 403."""
    reason = node_skip()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with start_broker(lambda ports: "listener %d\nlistener %d\nprotocol websockets\n%s"
                      % (ports.plain, ports.ws, ORIGINS)) as b:
        url = "ws://localhost:%d/mqtt" % b.ports.ws
        res = subprocess.run(["node", "ws.js", url], cwd=NODE_DIR, capture_output=True, text=True,
                             timeout=30, env=dict(os.environ, MQR_WS_ORIGIN=origin))
        if ok:
            assert res.returncode == 0, res.stderr + b.logtext()
        else:
            # MQTT.js reports no error event for a refused upgrade: it never connects
            assert res.returncode != 0, res.stdout
            assert b.wait_log("refused (403): the Origin is not in ws_check_origins (/mqtt, "
                              "origin '%s')" % origin), b.logtext()
            assert "client 'js-ws' connected" not in b.logtext()
