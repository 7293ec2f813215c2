"""The Reason-Strings and ack_user_property User-Properties of the broker's
MQTT 5 acknowledgements and DISCONNECT (issue 6), checked as raw bytes."""
import struct

from broker_util import (Broker, packet, publish_bytes, raw_connect, reason_props, mstr,
                         subscribe_bytes, v5_disconnect, varint)

UP = b"\x26" + mstr("region") + mstr("eu-1") + b"\x26" + mstr("node") + mstr("n7")
UP_CONFIG = "ack_user_property region eu-1\nack_user_property node n7\n"
NO_PROBLEM_INFO = b"\x17\x00"  # Request-Problem-Information = 0


def unsubscribe_bytes(pid, filters):
    return packet(0xA2, struct.pack(">H", pid) + b"\x00" + b"".join(mstr(f) for f in filters))


def test_suback_reason_string_withheld_when_problem_information_is_off():
    with Broker() as b:
        r, ack = raw_connect(b.port, level=5, clientid="np", props=NO_PROBLEM_INFO)
        assert ack[1][1] == 0
        r.send(subscribe_bytes(7, [("$events/client_connack", 0), ("ok/#", 1)], level=5))
        assert r.read_packet() == (0x90, b"\x00\x07\x00\x80\x01")


def test_unsuback_reason_string_withheld_when_problem_information_is_off():
    with Broker() as b:
        r, _ = raw_connect(b.port, level=5, clientid="np", props=NO_PROBLEM_INFO)
        r.send(unsubscribe_bytes(2, ["x/y"]))
        assert r.read_packet() == (0xB0, b"\x00\x02\x00\x11")


def test_suback_without_refusal_has_no_reason_string():
    with Broker() as b:
        r, _ = raw_connect(b.port, level=5, clientid="ok")
        r.send(subscribe_bytes(3, [("ok/#", 1)], level=5))
        assert r.read_packet() == (0x90, b"\x00\x03\x00\x01")


def test_disconnect_reason_string_sent_even_when_problem_information_is_off():
    with Broker() as b:
        old, _ = raw_connect(b.port, level=5, clientid="same", props=NO_PROBLEM_INFO)
        new, ack = raw_connect(b.port, level=5, clientid="same")
        assert ack[1][1] == 0
        assert old.read_packet() == v5_disconnect(0x8E)


def test_reason_string_dropped_above_client_maximum_packet_size():
    with Broker() as b:
        r, _ = raw_connect(b.port, level=5, clientid="small", props=b"\x27" + struct.pack(">I", 20))
        r.send(unsubscribe_bytes(2, ["x/y"]))
        assert r.read_packet() == (0xB0, b"\x00\x02\x00\x11")


def test_reason_string_dropped_before_user_property_above_maximum_packet_size():
    with Broker(config="ack_user_property k v\n") as b:
        r, _ = raw_connect(b.port, level=5, clientid="small", props=b"\x27" + struct.pack(">I", 30))
        r.send(unsubscribe_bytes(2, ["x/y"]))
        up = b"\x26" + mstr("k") + mstr("v")
        assert r.read_packet() == (0xB0, b"\x00\x02" + varint(len(up)) + up + b"\x11")


def test_ack_user_property_on_connack():
    with Broker(config=UP_CONFIG) as b:
        _, (first, body) = raw_connect(b.port, level=5, clientid="u")
        assert first == 0x20 and body[:2] == b"\x00\x00"
        plen = body[2]
        assert plen == len(body) - 3 and body[3:].endswith(UP)


def test_ack_user_property_on_suback_with_reason_string():
    with Broker(config=UP_CONFIG) as b:
        r, _ = raw_connect(b.port, level=5, clientid="u")
        r.send(subscribe_bytes(7, [("$events/#", 0), ("ok/#", 1)], level=5))
        why = b"\x1f" + mstr("subscription to '$events/#' refused: "
                             "$events topics are not subscribable")
        assert r.read_packet() == (0x90, b"\x00\x07" + varint(len(why + UP)) + why + UP +
                                   b"\x80\x01")


def test_ack_user_property_on_unsuback_and_puback():
    with Broker(config=UP_CONFIG) as b:
        r, _ = raw_connect(b.port, level=5, clientid="u")
        r.send(subscribe_bytes(1, [("a", 1)], level=5))
        assert r.read_packet() == (0x90, b"\x00\x01" + varint(len(UP)) + UP + b"\x01")
        r.send(unsubscribe_bytes(2, ["a"]))
        assert r.read_packet() == (0xB0, b"\x00\x02" + varint(len(UP)) + UP + b"\x00")
        r.send(publish_bytes("t", "x", qos=1, pid=9, level=5))
        # 0x10 is success-class: the user properties, but no Reason-String (issue 19)
        assert r.read_packet() == (0x40, b"\x00\x09\x10" + varint(len(UP)) + UP)


def test_ack_user_property_on_pubrec_and_pubcomp():
    with Broker(config=UP_CONFIG) as b:
        r, _ = raw_connect(b.port, level=5, clientid="u")
        r.send(publish_bytes("t", "x", qos=2, pid=5, level=5))
        assert r.read_packet() == (0x50, b"\x00\x05\x10" + varint(len(UP)) + UP)
        r.send(packet(0x62, b"\x00\x05"))
        assert r.read_packet() == (0x70, b"\x00\x05\x00" + varint(len(UP)) + UP)


def test_ack_user_property_on_pubrel_to_subscriber():
    with Broker(config=UP_CONFIG) as b:
        s, _ = raw_connect(b.port, level=5, clientid="sub")
        s.send(subscribe_bytes(1, [("q2", 2)], level=5))
        s.read_packet()
        p, _ = raw_connect(b.port, level=5, clientid="pub")
        p.send(publish_bytes("q2", "x", qos=2, pid=5, level=5))
        first, body = s.read_packet()
        assert first >> 4 == 3
        pid = body[4:6]
        s.send(packet(0x50, pid))
        assert s.read_packet() == (0x62, pid + b"\x00" + varint(len(UP)) + UP)


def test_ack_user_property_not_sent_below_mqtt5():
    with Broker(config=UP_CONFIG) as b:
        r, ack = raw_connect(b.port, level=4, clientid="old")
        assert ack == (0x20, b"\x00\x00")
        r.send(publish_bytes("t", "x", qos=1, pid=9))
        assert r.read_packet() == (0x40, b"\x00\x09")
