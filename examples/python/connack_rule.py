#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The source document's scenario in Python: a rule on
$events/client_connack that captures every CONNACK's reason code.

The broker side is played by recorded traffic: each client's CONNECT and
the CONNACK the server answered, as bytes. mqttrule.decode() reads the
CONNACK (its reason code; a v3.1.1 return code is mapped to the MQTT 5
code it answers), and the engine builds client.connack from the CONNECT
bytes and that code, as mqttrule-broker does. The rule is the document's:

    SELECT clientid, username, reason_code, timestamp
    FROM "$events/client_connack"

and its actions are a Python callable that prints each output and a
republish to connack/${clientid} (the document's "Republish" action with
default values: the payload is the selected fields as JSON, D11). With a
URL argument an HTTP action also POSTs each output there.

Run from a build:  MQR_BUILD_DIR=build python3 examples/python/connack_rule.py [URL]
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "bindings", "python"))

import mqttrule  # noqa: E402

RULE = ('SELECT clientid, username, reason_code, timestamp\n'
        'FROM "$events/client_connack"')


def connect_packet(client_id, username=None, proto_ver=4):
    """A CONNECT (v3.1.1 or v5) with clean start, keepalive 60."""
    name = b"MQTT"
    flags = 0x02 | (0x80 if username else 0)
    var = bytes([0, len(name)]) + name + bytes([proto_ver, flags, 0, 60])
    if proto_ver == 5:
        var += b"\x00"  # no properties
    payload = bytes([0, len(client_id)]) + client_id.encode()
    if username:
        payload += bytes([0, len(username)]) + username.encode()
    body = var + payload
    return bytes([0x10, len(body)]) + body


def connack_packet(code, proto_ver=4):
    """A CONNACK with return/reason code `code` (v5: no properties)."""
    if proto_ver == 5:
        return bytes([0x20, 3, 0, code, 0])
    return bytes([0x20, 2, 0, code])


def reason_of(connack_bytes, proto_ver):
    """Decode a CONNACK and return its MQTT 5 reason code: a v3.1.1 return
    code through its name ("malformed_username_or_password" -> 0x86)."""
    [packet] = mqttrule.decode(connack_bytes, proto_ver=proto_ver)
    code = packet["reason_code"]
    if proto_ver == 5:
        return code
    return mqttrule.reason_code(mqttrule.reason_name(code, proto_ver=proto_ver))


def main(argv):
    published = []
    actions = [
        lambda rule_id, out: print("rule %s: %s" % (rule_id, out)),
        mqttrule.Republish("connack/${clientid}", publish=published.append),
    ]
    if len(argv) > 1:
        actions.append(mqttrule.HTTP(argv[1]))
    # (CONNECT bytes, CONNACK bytes, protocol level, peer) per connection.
    traffic = [
        (connect_packet("sensor-1", "alice"), connack_packet(0), 4, "192.168.0.10:56431"),
        (connect_packet("sensor-2", "bob"), connack_packet(4), 4, "192.168.0.11:40112"),
        (connect_packet("sensor-3", "carol", 5), connack_packet(0x87, 5), 5,
         "192.168.0.12:50000"),
        (connect_packet("sensor-4", None, 5), connack_packet(0x84, 5), 5,
         "192.168.0.13:50001"),
    ]
    with mqttrule.Engine(names="doc") as engine:
        engine.add_rule("connack_rule", RULE, actions=actions)
        for connect, connack, proto_ver, peer in traffic:
            engine.emit_connack(connect, reason_of(connack, proto_ver), peer=peer)
        if not engine.run_until_idle(10.0):
            print("HTTP messages still pending", file=sys.stderr)
        for msg in published:
            print("republished to %s: %s" % (msg["topic"], msg["payload"].decode()))
        print("metrics:", engine.metrics("connack_rule")["metrics"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
