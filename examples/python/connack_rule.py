#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The source document's scenario in Python: a rule on
$events/client_connack that captures every CONNACK's reason code.

The broker side is played by a few CONNECT packets given as bytes: each is
handed to the engine with the reason code a broker would decide for it,
exactly as mqttrule-broker does after decoding a CONNECT. The rule is the
document's:

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


def main(argv):
    published = []
    actions = [
        lambda rule_id, out: print("rule %s: %s" % (rule_id, out)),
        mqttrule.Republish("connack/${clientid}", publish=published.append),
    ]
    if len(argv) > 1:
        actions.append(mqttrule.HTTP(argv[1]))
    # (CONNECT bytes, reason code decided, peer) as a broker would see them.
    connects = [
        (connect_packet("sensor-1", "alice"), 0x00, "192.168.0.10:56431"),
        (connect_packet("sensor-2", "bob"), 0x86, "192.168.0.11:40112"),
        (connect_packet("sensor-3", "carol", proto_ver=5), 0x87, "192.168.0.12:50000"),
        (connect_packet("sensor-4", None, proto_ver=5), 0x84, "192.168.0.13:50001"),
    ]
    with mqttrule.Engine(names="doc") as engine:
        engine.add_rule("connack_rule", RULE, actions=actions)
        for packet, code, peer in connects:
            engine.emit_connack(packet, code, peer=peer)
        if not engine.run_until_idle(10.0):
            print("HTTP messages still pending", file=sys.stderr)
        for msg in published:
            print("republished to %s: %s" % (msg["topic"], msg["payload"].decode()))
        print("metrics:", engine.metrics("connack_rule")["metrics"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
