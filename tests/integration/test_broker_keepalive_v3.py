"""max_keepalive for MQTT 3.1 / 3.1.1 clients (issue 19, item 10).

A 5 client is told a lower Server-Keep-Alive; a 3.1/3.1.1 client cannot be
told, so one asking for more than max_keepalive, or for none (0), is refused
with return code 2 (identifier rejected), as mosquitto does, and the refusal
is logged and reported as a client.connack event."""
from broker_util import Broker, EventSubscriber, raw_connect

CONF = ("max_keepalive 60\n"
        "rule ka\n  sql SELECT clientid, reason_code FROM \"$events/client_connack\"\n"
        "  republish ka/events\nend\n")


def test_v311_keepalive_above_maximum_is_refused():
    with Broker(config=CONF) as b:
        ev = EventSubscriber(b.port, "ka/events")
        for level in (3, 4):
            r, ack = raw_connect(b.port, level=level, clientid="long%d" % level, keepalive=61)
            assert ack == (0x20, b"\x00\x02"), ack
            assert r.closed()
            r, ack = raw_connect(b.port, level=level, clientid="none%d" % level, keepalive=0)
            assert ack == (0x20, b"\x00\x02"), ack
        r, ack = raw_connect(b.port, level=4, clientid="fits", keepalive=60)
        assert ack == (0x20, b"\x00\x00")
        got = [ev.next_json() for _ in range(5)]
        assert got[-1]["clientid"] == "fits", got
        refused = {e["clientid"]: e["reason_code"] for e in got if e["clientid"] != "fits"}
        assert refused == {"long3": "client_identifier_not_valid",
                           "none3": "client_identifier_not_valid",
                           "long4": "client_identifier_not_valid",
                           "none4": "client_identifier_not_valid"}, got
        assert "keep-alive above max_keepalive" in b.logtext()


def test_v5_keepalive_above_maximum_is_lowered_not_refused():
    with Broker(config=CONF) as b:
        r, (first, body) = raw_connect(b.port, level=5, clientid="v5", keepalive=300)
        assert first == 0x20 and body[1] == 0
        assert b"\x13\x00\x3c" in body  # Server-Keep-Alive 60
