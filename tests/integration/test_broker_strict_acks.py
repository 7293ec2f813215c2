"""MQTT 5 acknowledgements a strict client codec accepts (issue 19, item 6).

Eclipse Paho's Python MQTT 5 test client refuses any PUBACK / PUBREC whose
remaining length is above 4 (packet id, reason code, an empty property
length) and drops the connection. `StrictClient` below carries the same check
in a raw-socket client. The broker sends no Reason-String on success-class
acknowledgements (below 0x80), and `reason_strings no` turns its
Reason-Strings off everywhere."""
from broker_util import Broker, mstr, packet, publish_bytes, raw_connect, subscribe_bytes


class StrictAckError(AssertionError):
    pass


def strict_read_ack(raw, want_type):
    """Read the next packet and check it as Paho's MQTT 5 codec does."""
    got = raw.read_packet()
    assert got is not None, "broker closed the connection"
    first, body = got
    assert first >> 4 == want_type, "expected type %d, got %#x" % (want_type, first)
    if len(body) > 4:
        raise StrictAckError("ack of %d bytes (%r): a strict client drops the connection"
                             % (len(body), body))
    return body


def test_puback_and_pubrec_without_subscribers_fit_a_strict_client():
    with Broker() as b:
        r, ack = raw_connect(b.port, level=5, clientid="strict")
        assert ack[1][1] == 0
        r.send(publish_bytes("nobody/listens", "x", qos=1, pid=9, level=5))
        assert strict_read_ack(r, 4) == b"\x00\x09\x10"
        r.send(publish_bytes("nobody/listens", "x", qos=2, pid=10, level=5))
        assert strict_read_ack(r, 5) == b"\x00\x0a\x10"
        r.send(packet(0x62, b"\x00\x0a"))
        assert strict_read_ack(r, 7) == b"\x00\x0a"
        # the connection is still up: a PINGREQ gets its PINGRESP
        r.send(b"\xc0\x00")
        assert r.read_packet() == (0xD0, b"")


def test_error_acks_keep_their_reason_string_by_default():
    with Broker(config="acl all read public/#\n") as b:
        r, _ = raw_connect(b.port, level=5, clientid="w")
        r.send(publish_bytes("secret/x", "x", qos=1, pid=3, level=5))
        first, body = r.read_packet()
        assert first == 0x40 and body[:3] == b"\x00\x03\x87"
        assert b"\x1f" in body[3:], "a refusal explains itself: %r" % (body,)
    with Broker(config="acl all read public/#\nreason_strings no\n") as b:
        r, _ = raw_connect(b.port, level=5, clientid="w")
        r.send(publish_bytes("secret/x", "x", qos=1, pid=3, level=5))
        assert strict_read_ack(r, 4) == b"\x00\x03\x87"


def test_reason_strings_off_removes_them_from_refusals(tmp_path):
    with Broker(config="reason_strings no\n") as b:
        r, _ = raw_connect(b.port, level=5, clientid="u")
        r.send(subscribe_bytes(7, [("$events/#", 0)], level=5))
        # SUBACK refusal 0x80 without the Reason-String it has by default
        assert r.read_packet() == (0x90, b"\x00\x07\x00\x80")
    with Broker() as b:
        r, _ = raw_connect(b.port, level=5, clientid="u")
        r.send(subscribe_bytes(7, [("$events/#", 0)], level=5))
        first, body = r.read_packet()
        assert first == 0x90 and b"\x1f" in body and body.endswith(b"\x80")


def test_reason_strings_off_removes_them_from_connack_refusals():
    with Broker("--password-file", "/dev/null", config="reason_strings no\n") as b:
        _, ack = raw_connect(b.port, level=5, clientid="x", username="u", password="p")
        assert ack[0] == 0x20 and ack[1][1] >= 0x80
        assert ack[1][2:] == b"\x00", "no properties at all: %r" % (ack[1],)
