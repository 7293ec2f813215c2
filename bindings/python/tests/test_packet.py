# SPDX-License-Identifier: MIT
"""decode(), Decoder and encode(): the mqttrule-packet schema, streaming,
round trips and MalformedPacket's fields."""

import pytest

import mqttrule

# A v3.1.1 CONNECT from client "sensor-1" with user name "alice".
CONNECT_V4 = (bytes([0x10, 0x1b, 0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x82, 0x00, 0x3c])
              + bytes([0x00, 0x08]) + b"sensor-1" + bytes([0x00, 0x05]) + b"alice")
CONNACK_REFUSED = bytes([0x20, 0x02, 0x00, 0x05])
CONNECT_DICT = {"type": "CONNECT", "proto_name": "MQTT", "proto_ver": 4, "clean_start": True,
                "keepalive": 60, "clientid": "sensor-1", "username": "alice"}


def test_decode_gives_the_documented_dicts():
    assert mqttrule.decode(CONNECT_V4 + CONNACK_REFUSED) == [
        CONNECT_DICT, {"type": "CONNACK", "session_present": False, "reason_code": 5}]
    assert mqttrule.decode(b"") == []


def test_round_trip_is_byte_exact():
    data = CONNECT_V4 + CONNACK_REFUSED
    assert b"".join(mqttrule.encode(p) for p in mqttrule.decode(data)) == data


def test_v5_properties_and_binary_payload():
    pkt = {"type": "PUBLISH", "topic": "t/1", "qos": 1, "packet_id": 7,
           "properties": {"User-Property": [["k", "v"]], "Correlation-Data": b"\x00\x01"},
           "payload": b"\xff\x00"}
    raw = mqttrule.encode(pkt, proto_ver=5)
    [back] = mqttrule.decode(raw, proto_ver=5)
    assert back == {"type": "PUBLISH", "topic": "t/1", "qos": 1, "retain": False, "dup": False,
                    "packet_id": 7,
                    "properties": {"User-Property": [["k", "v"]],
                                   "Correlation-Data": {"hex": "0001"}},
                    "payload_hex": "ff00"}
    assert mqttrule.encode(back, proto_ver=5) == raw


def test_decoder_streams_byte_by_byte():
    data = CONNECT_V4 + CONNACK_REFUSED
    with mqttrule.Decoder() as d:
        got = []
        for i in range(len(data)):
            d.feed(data[i:i + 1])
            got.extend(d)
        assert got == mqttrule.decode(data)
        assert d.buffered == 0
        assert d.offset == len(data)
        assert d.proto_ver == 4


def test_decoder_follows_the_connect_level():
    v5_connect = mqttrule.encode({"type": "CONNECT", "proto_ver": 5, "clientid": "x"})
    puback_v5 = bytes([0x40, 0x03, 0x00, 0x01, 0x10])
    with mqttrule.Decoder() as d:
        d.feed(v5_connect + puback_v5)
        pkts = list(d)
    assert pkts[1] == {"type": "PUBACK", "packet_id": 1, "reason_code": 16}
    with pytest.raises(mqttrule.MalformedPacket):
        mqttrule.decode(puback_v5)  # at level 4 a PUBACK has no reason code


def test_malformed_packet_carries_type_field_offset_reason():
    bad = CONNECT_V4[:-5] + b"\xff\xfe\x00\x00\x00"
    with pytest.raises(mqttrule.MalformedPacket) as info:
        mqttrule.decode(CONNACK_REFUSED + bad)
    e = info.value
    assert e.status_name == "MQR_EUTF8"
    assert e.packet_type == 1
    assert e.field == "user name"
    assert e.offset == len(CONNACK_REFUSED) + 24
    assert e.reason_code == 0x81


def test_truncated_input():
    with pytest.raises(mqttrule.MalformedPacket) as info:
        mqttrule.decode(CONNACK_REFUSED + CONNECT_V4[:10])
    e = info.value
    assert e.status_name == "MQR_NEED_MORE"
    assert (e.packet_type, e.offset, e.reason_code) == (1, 4, -1)


def test_encode_errors():
    with pytest.raises(mqttrule.MalformedPacket) as info:
        mqttrule.encode({"type": "PUBLISH", "topic": "a/+"})
    assert info.value.status_name == "MQR_ETOPIC"
    assert info.value.field == "topic"
    with pytest.raises(mqttrule.MqttruleError) as info:
        mqttrule.encode({"type": "PUBLISH", "qos": 1, "topic": "a"})
    assert info.value.status_name == "MQR_EINVAL"
    assert info.value.message == 'missing "packet_id"'
    with pytest.raises(TypeError):
        mqttrule.encode([1])
    with pytest.raises(ValueError):
        mqttrule.Decoder(proto_ver=6)


def test_closed_decoder():
    d = mqttrule.Decoder()
    d.close()
    d.close()
    with pytest.raises(ValueError):
        d.feed(CONNACK_REFUSED)
    assert d.buffered == 0
    with pytest.raises(ValueError):
        next(d)
