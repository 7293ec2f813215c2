# SPDX-License-Identifier: MIT
"""A session belongs to the user that created it (issue #14.2): another user
connecting with its client id neither resumes it (and its queued messages),
nor takes over its live connection; session_owner_mismatch says whether such
a CONNECT is refused (default) or starts a fresh session. Real mosquitto
clients, a password file and ACL entries."""
import os
import shutil
import subprocess

import pytest

from broker_util import (BROKER, TIMEOUT, Broker, publish_bytes, raw_connect, stats,
                         subscribe_bytes)

pytestmark = [
    pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built"),
    pytest.mark.skipif(shutil.which("mosquitto_sub") is None, reason="mosquitto clients missing"),
]


def config(tmp_path, extra=""):
    path = str(tmp_path / "passwd")
    for i, (user, pw) in enumerate((("alice", "apw"), ("bob", "bpw"))):
        subprocess.run(["mosquitto_passwd", "-b"] + (["-c"] if i == 0 else []) + [path, user, pw],
                       check=True, capture_output=True, timeout=TIMEOUT)
    return ("password_file %s\n"
            "allow_anonymous no\n"
            "acl user alice readwrite alice/#\n"
            "acl user bob readwrite bob/#\n" % path) + extra


def sub(port, user, pw, topic, *extra, timeout=TIMEOUT + 5):
    """mosquitto_sub as client id alice-dev, clean session 0, QoS 1."""
    return subprocess.run(["mosquitto_sub", "-p", str(port), "-i", "alice-dev", "-c", "-q", "1",
                           "-u", user, "-P", pw, "-t", topic, "-v"] + list(extra),
                          capture_output=True, text=True, timeout=timeout)


def alice_leaves_a_queued_message(b):
    r = sub(b.port, "alice", "apw", "alice/#", "-E")
    assert r.returncode == 0, r.stderr
    subprocess.run(["mosquitto_pub", "-p", str(b.port), "-i", "pubber", "-u", "alice", "-P", "apw",
                    "-q", "1", "-t", "alice/private", "-m", "secret"], check=True, timeout=TIMEOUT)
    st = stats(b)
    assert st["queued"] == 1, st


def test_another_user_is_refused_and_the_owner_keeps_her_session(tmp_path):
    with Broker(config=config(tmp_path)) as b:
        alice_leaves_a_queued_message(b)
        r = sub(b.port, "bob", "bpw", "bob/#", "-C", "1", "-W", "2")
        assert "secret" not in r.stdout, r.stdout
        assert r.returncode != 0, r  # refused (mosquitto_sub retries until -W)
        assert b.wait_log("refused client 'alice-dev' username 'bob'")
        assert "the session belongs to 'alice'" in b.logtext()
        st = stats(b)
        assert st["refused.session_owner"] == 1 and st["queued"] == 1, st
        # alice comes back and gets it
        r = sub(b.port, "alice", "apw", "alice/#", "-C", "1", "-W", "5")
        assert r.stdout.strip() == "alice/private secret", (r.stdout, r.stderr)


def test_fresh_mode_gives_another_user_an_empty_session(tmp_path):
    with Broker(config=config(tmp_path, "session_owner_mismatch fresh\n")) as b:
        alice_leaves_a_queued_message(b)
        raw, ack = raw_connect(b.port, clientid="alice-dev", clean=False, username="bob",
                               password="bpw")
        assert ack == (0x20, b"\x00\x00"), ack  # session present 0
        raw.send(b"\xc0\x00")
        assert raw.read_packet() == (0xD0, b""), "nothing of alice's arrives"
        st = stats(b)
        assert st["session_owner.fresh"] == 1 and st["queued"] == 0, st
        raw.close()
        # with real clients: bob resumes his own session, nothing of alice's in it
        r = sub(b.port, "bob", "bpw", "bob/#", "-C", "1", "-W", "2")
        assert "secret" not in r.stdout, r.stdout


@pytest.mark.parametrize("mode", ["refuse", "fresh"])
def test_another_user_cannot_kick_a_live_connection(tmp_path, mode):
    with Broker(config=config(tmp_path, "session_owner_mismatch %s\n" % mode)) as b:
        alice, ack = raw_connect(b.port, clientid="alice-dev", username="alice", password="apw")
        assert ack == (0x20, b"\x00\x00")
        bob, ack = raw_connect(b.port, clientid="alice-dev", username="bob", password="bpw")
        assert ack == (0x20, b"\x00\x02"), ack  # identifier rejected
        alice.send(b"\xc0\x00")  # still connected: PINGRESP
        assert alice.read_packet() == (0xD0, b"")
        # the same user may take over, as before
        again, ack = raw_connect(b.port, clientid="alice-dev", username="alice", password="apw")
        assert ack == (0x20, b"\x00\x00")
        assert alice.closed()
        for r in (alice, bob, again):
            r.close()


def test_retained_messages_respect_the_acl_behind_an_allowed_filter(tmp_path):
    conf = config(tmp_path, "acl user alice deny alice/secret\nacl user bob readwrite alice/#\n")
    with Broker(config=conf) as b:
        pub, ack = raw_connect(b.port, clientid="bobpub", username="bob", password="bpw")
        pub.send(publish_bytes("alice/secret", b"s", retain=True))
        pub.send(publish_bytes("alice/open", b"o", retain=True))
        pub.send(b"\xc0\x00")
        assert pub.read_packet() == (0xD0, b"")
        r, ack = raw_connect(b.port, clientid="reader", username="alice", password="apw")
        r.send(subscribe_bytes(1, [("alice/#", 0)]))
        assert r.read_packet()[0] == 0x90
        first, body = r.read_packet()
        assert first >> 4 == 3 and body[2:12] == b"alice/open", body
        r.send(b"\xc0\x00")
        assert r.read_packet() == (0xD0, b""), "alice/secret must not be sent"
        for x in (pub, r):
            x.close()
