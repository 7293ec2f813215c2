# SPDX-License-Identifier: MIT
"""MQTT 3.1.1 persistent sessions expire (issue #14.4): an abandoned clean
session 0 session is removed after v3_session_expiry seconds (default 7200,
as EMQX), with its queued messages; the default is finite."""
import os
import time

import pytest

from broker_util import (BROKER, Broker, EventSubscriber, publish_bytes, raw_connect, stats,
                         subscribe_bytes)

pytestmark = pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built")


def test_abandoned_v3_session_expires_with_its_queue():
    with Broker(config="v3_session_expiry 2\n") as b:
        r, ack = raw_connect(b.port, clientid="keeper", clean=False)
        assert ack == (0x20, b"\x00\x00")
        r.send(subscribe_bytes(1, [("k/#", 1)]))
        assert r.read_packet()[0] == 0x90
        r.close()
        pub, ack = raw_connect(b.port, clientid="pub")
        pub.send(publish_bytes("k/1", b"x", qos=1, pid=1))
        assert pub.read_packet()[0] == 0x40
        st = stats(b)
        assert st["sessions"] == 2 and st["queued"] == 1, st  # keeper's and pub's
        deadline = time.monotonic() + 15
        while stats(b)["sessions"] != 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        st = stats(b)
        assert st["sessions"] == 1 and st["queued"] == 0, st
        r, ack = raw_connect(b.port, clientid="keeper", clean=False)
        assert ack == (0x20, b"\x00\x00"), "session present 0: it expired"
        r.close()
        pub.close()


def test_v3_session_expiry_and_max_sessions_defaults_are_finite():
    conf = ("rule r\n"
            "  sql SELECT expiry_interval FROM \"$events/client_connected\"\n"
            "  republish seen\n"
            "end\n")
    with Broker(config=conf) as b:
        ev = EventSubscriber(b.port, topic="seen")
        r, ack = raw_connect(b.port, clientid="v3-keeper", clean=False)
        assert ev.next_json() == {"expiry_interval": 7200}
        r.close()
        ev.close()
    with Broker(config="max_sessions 1\n") as b:  # the directive still bounds it
        r, ack = raw_connect(b.port, clientid="one", clean=False)
        assert ack == (0x20, b"\x00\x00")
        r2, ack = raw_connect(b.port, clientid="two", clean=False)
        assert ack[1][1] != 0, ack
        r.close()
        r2.close()
