# SPDX-License-Identifier: MIT
"""The wrappers of the public functions bound after the first release:
emit by event id, rule update/enable/info, action removal and metrics,
listened topics and events, binary columns (mqr_value_object_append), the
topic index, topic checks, HMAC and password hashes."""

import hashlib
import hmac as py_hmac

import pytest

import mqttrule

CONNACK_SQL = 'SELECT clientid, reason_code FROM "$events/client_connack"'


def _event_id(name):
    return next(e["id"] for e in mqttrule.events() if e["name"] == name)


def test_events_table():
    evs = mqttrule.events()
    names = [e["name"] for e in evs]
    assert "client.connack" in names and "message.publish" in names
    ev = evs[names.index("client.connack")]
    assert ev["topic"] == "$events/client/connack"
    assert ev["legacy_topic"] == "$events/client_connack"
    assert ev["test_type"] == "client_connack"
    assert [e["id"] for e in evs] == list(range(len(evs)))


def test_emit_by_event_id():
    out = []
    with mqttrule.Engine() as e:
        e.add_rule("r1", CONNACK_SQL, actions=[lambda rid, o: out.append(o)])
        assert e.emit(_event_id("client.connack"), clientid="c9", reason_code="success") == 1
        assert e.emit(_event_id("client.connected"), clientid="c9") == 0
        assert out == [{"clientid": "c9", "reason_code": "success"}]
        with pytest.raises(mqttrule.MqttruleError):
            e.emit(100000, clientid="x")


def test_binary_columns_are_appended():
    out = []
    with mqttrule.Engine() as e:
        e.add_rule("r1", 'SELECT bin2hexstr(payload) AS h, clientid FROM '
                   '"$events/message_delivered"', actions=[lambda rid, o: out.append(o)])
        e.emit("message.delivered", clientid="c1", payload=b"\xff\x00A")
    assert out == [{"h": "FF0041", "clientid": "c1"}]


def test_rule_update_enable_info_count():
    out = []
    with mqttrule.Engine() as e:
        e.add_rule("r1", CONNACK_SQL, actions=[lambda rid, o: out.append(o)],
                   description="first")
        assert e.rule_count() == 1
        assert e.rule_info("r1") == {"description": "first", "enabled": True}
        assert e.rule_info("nope") is None
        e.update_rule("r1", 'SELECT clientid FROM "$events/client_connack"',
                      description="second")
        e.emit("client_connack", clientid="a", reason_code="success")
        assert out == [{"clientid": "a"}]          # the new SQL, the same action
        with pytest.raises(mqttrule.SQLSyntaxError):
            e.update_rule("r1", "SELECT FROM")
        e.enable_rule("r1", False)
        assert e.rule_info("r1") == {"description": "second", "enabled": False}
        assert e.emit("client_connack", clientid="b", reason_code="success") == 0
        e.enable_rule("r1")
        assert e.emit("client_connack", clientid="c", reason_code="success") == 1
        with pytest.raises(mqttrule.MqttruleError) as info:
            e.update_rule("nope", CONNACK_SQL)
        assert info.value.status_name == "MQR_ENOTFOUND"
        with pytest.raises(mqttrule.MqttruleError):
            e.enable_rule("nope")


def test_action_metrics_errors_and_removal():
    def boom(msg):
        raise RuntimeError("refused")

    with mqttrule.Engine() as e:
        good, bad = [], None
        ids = e.add_rule("r1", CONNACK_SQL,
                         actions=[lambda rid, o: good.append(o),
                                  mqttrule.Republish("t/${clientid}", publish=boom)])
        cb_id, rp_id = ids
        e.emit("client_connack", clientid="a", reason_code="success")
        m = e.action_metrics(cb_id)
        assert (m["matched"], m["success"], m["failed"]) == (1, 1, 0)
        m = e.action_metrics(rp_id)
        assert (m["matched"], m["success"], m["failed"]) == (1, 0, 1)
        assert e.action_last_error(cb_id) is None
        bad = e.action_last_error(rp_id)
        assert bad["count"] == 1 and bad["action_id"] == rp_id
        e.reset_metrics("r1")
        assert e.action_metrics(rp_id)["failed"] == 0
        assert e.metrics("r1")["metrics"]["matched"] == 0
        e.remove_action(rp_id)
        with pytest.raises(mqttrule.MqttruleError) as info:
            e.action_metrics(rp_id)
        assert info.value.status_name == "MQR_ENOTFOUND"
        e.emit("client_connack", clientid="b", reason_code="success")
        assert len(good) == 2
        # no durable queue attached from Python: the stats say so
        with pytest.raises(mqttrule.MqttruleError) as info:
            e.action_queue_stats(cb_id)
        assert info.value.status_name == "MQR_ENOTFOUND"


def test_listened_topics_and_events():
    with mqttrule.Engine() as e:
        assert not e.topic_listened("sensors/1/temp")
        e.add_rule("r1", 'SELECT * FROM "sensors/+/temp"')
        assert e.topic_listened("sensors/1/temp")
        assert not e.topic_listened("sensors/1/hum")
        connack = _event_id("client.connack")
        assert not e.event_listened(connack)
        e.add_rule("r2", CONNACK_SQL)
        assert e.event_listened(connack)
        e.enable_rule("r2", False)
        assert not e.event_listened(connack)


def test_topic_checks():
    assert mqttrule.topic_match("a/+/c", "a/b/c")
    assert mqttrule.topic_match("a/#", "a")
    assert not mqttrule.topic_match("+/x", "$SYS/x")
    mqttrule.validate_topic_name("a/b")
    mqttrule.validate_topic_filter("a/+/#")
    with pytest.raises(mqttrule.MqttruleError) as info:
        mqttrule.validate_topic_name("a/+")
    assert info.value.status_name == "MQR_ETOPIC"
    with pytest.raises(mqttrule.MqttruleError):
        mqttrule.validate_topic_filter("a/#/b")


def test_topic_index():
    sub1, sub2 = object(), object()
    with mqttrule.TopicIndex() as idx:
        idx.insert("a/+", sub1)
        idx.insert("a/#", sub2)
        idx.insert("b/c", sub1)
        assert len(idx) == 3
        found = idx.match("a/x")
        assert len(found) == 2 and sub1 in found and sub2 in found
        assert idx.match("b/c") == [sub1]
        assert idx.match("c") == []
        idx.remove("a/+", sub1)
        assert idx.match("a/x") == [sub2]
        assert idx.match("b/c") == [sub1]          # still held under b/c
        with pytest.raises(KeyError):
            idx.remove("a/+", sub1)
        assert len(idx) == 2
    with pytest.raises(ValueError):
        idx.match("a")


def test_hmac_and_ct_equal():
    # RFC 4231 test case 2
    assert mqttrule.hmac("sha256", b"Jefe", b"what do ya want for nothing?").hex() == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    for alg in ("md5", "sha1", "sha224", "sha384", "sha512"):
        assert mqttrule.hmac(alg, b"k", b"data") == \
            py_hmac.new(b"k", b"data", getattr(hashlib, alg)).digest()
    with pytest.raises(ValueError):
        mqttrule.hmac("sha3", b"k", b"d")
    assert mqttrule.ct_equal(b"abc", b"abc")
    assert not mqttrule.ct_equal(b"abc", b"abd")
    assert not mqttrule.ct_equal(b"abc", b"ab")


def test_password_hashes():
    h = mqttrule.passwd_hash7("secret", b"0123456789ab", iterations=1000)
    assert h.startswith("$7$1000$")
    assert mqttrule.passwd_verify(h, "secret") is True
    assert mqttrule.passwd_verify(h, "Secret") is False
    # the $7$ hash is PBKDF2-HMAC-SHA512 over the salt, as Python computes it
    import base64
    want = hashlib.pbkdf2_hmac("sha512", b"secret", b"0123456789ab", 1000, 64)
    assert h.split("$")[4] == base64.b64encode(want).decode()
    with pytest.raises(mqttrule.MqttruleError) as info:
        mqttrule.passwd_verify("$argon2id$v=19$xyz", "secret")
    assert info.value.status_name == "MQR_ENOTSUP"
    with pytest.raises(mqttrule.MqttruleError):
        mqttrule.passwd_hash7("x", b"", iterations=10)


def test_build_event_without_an_engine():
    ev = mqttrule.build_event("session.subscribed",
                              conn={"clientid": "c1", "username": "u", "proto_ver": 5,
                                    "peer": "10.0.0.1:5555"},
                              topic="a/b", qos=1, timestamp_ms=1700000000000, node="n@h")
    assert ev["event"] == "session.subscribed"
    assert (ev["clientid"], ev["username"], ev["peerhost"]) == ("c1", "u", "10.0.0.1")
    assert (ev["topic"], ev["qos"], ev["timestamp"], ev["node"]) == ("a/b", 1,
                                                                    1700000000000, "n@h")
    ev = mqttrule.build_event("message.delivered", conn={"clientid": "c2"},
                              msg={"topic": "t", "payload": "hi", "from_clientid": "c1"},
                              undefined_as_null=False)
    assert (ev["clientid"], ev["from_clientid"], ev["payload"]) == ("c2", "c1", "hi")
    assert ev["username"] == "undefined"          # as EMQX renders an undefined column
    with pytest.raises(ValueError):
        mqttrule.build_event("no.such.event")
    with pytest.raises(mqttrule.MqttruleError) as info:
        mqttrule.build_event("message.delivered")   # a message event needs msg
    assert info.value.status_name == "MQR_EINVAL"
