# SPDX-License-Identifier: MIT
"""mqttrule.Rule: compile errors, evaluation, FROM matching, lifetime and
memory growth over many evaluations."""

import gc
import time

import pytest

import mqttrule

CONNACK_SQL = ('SELECT clientid, username, reason_code, timestamp\n'
               'FROM "$events/client_connack"')


def test_select_over_an_event_context():
    with mqttrule.Rule(CONNACK_SQL) as r:
        out = r.evaluate({"event_type": "client_connack", "clientid": "c1",
                          "username": "u1", "reason_code": "success", "timestamp": 5})
        assert out == {"clientid": "c1", "username": "u1", "reason_code": "success",
                       "timestamp": 5}
        assert list(out) == ["clientid", "username", "reason_code", "timestamp"]


def test_missing_fields_get_the_event_examples():
    with mqttrule.Rule("SELECT * FROM \"$events/client_connack\"", now_ms=1700000000000,
                       node="n1@host") as r:
        out = r.evaluate({"event_type": "client_connack", "clientid": "c9", "extra": 1})
    assert list(out)[:4] == ["event", "reason_code", "clientid", "username"]
    assert out["clientid"] == "c9"
    assert out["username"] == "u_emqx"
    assert out["reason_code"] == "success"
    assert out["timestamp"] == 1700000000000
    assert out["node"] == "n1@host"
    assert out["extra"] == 1
    assert out["metadata"] == {"rule_id": "sql_tester"}


def test_connack_reason_code_named_per_profile():
    sql = 'SELECT reason_code FROM "$events/client_connack"'
    ctx = {"event_type": "client_connack", "proto_ver": 4, "reason_code": 0x86}
    with mqttrule.Rule(sql) as r:
        assert r.evaluate(ctx) == {"reason_code": "malformed_username_or_password"}
    with mqttrule.Rule(sql, names="emqx") as r:
        assert r.evaluate(ctx) == {"reason_code": "bad_username_or_password"}
    with pytest.raises(ValueError):
        mqttrule.Rule(sql, names="other")


def test_message_ids_are_fresh_per_evaluation():
    with mqttrule.Rule('SELECT id FROM "t"', now_ms=16) as r:
        a = r.evaluate({"topic": "t"})["id"]
        b = r.evaluate({"topic": "t"})["id"]
    assert (a, b) == ("0000000000000010" + "0" * 15 + "1", "0000000000000010" + "0" * 15 + "2")


def test_unknown_event_type_is_a_value_error():
    with mqttrule.Rule('SELECT * FROM "t"') as r:
        with pytest.raises(ValueError, match="unknown event_type 'nope'"):
            r.evaluate({"event_type": "nope"})


def test_bridge_source_context():
    with mqttrule.Rule('SELECT x FROM "$bridges/mqtt:b"') as r:
        assert r.evaluate({"event_type": "$bridges/mqtt:b", "x": 2}) == {"x": 2}
        assert r.evaluate({"event_type": "$bridges/mqtt:other", "x": 2}) is None


def test_sources_lists_from_entries():
    with mqttrule.Rule('SELECT * FROM "t/#", "$events/client/connack"') as r:
        assert r.sources == ["t/#", "$events/client/connack"]


def test_from_mismatch_gives_none():
    with mqttrule.Rule(CONNACK_SQL) as r:
        assert r.evaluate({"event_type": "client_connected"}) is None
    with mqttrule.Rule('SELECT topic FROM "t/+"') as r:
        assert r.evaluate({"topic": "u/1"}) is None
        assert r.evaluate({"topic": "t/1"}) == {"topic": "t/1"}


def test_where_false_gives_none():
    with mqttrule.Rule('SELECT 1 AS one FROM "t/#" WHERE qos = 2') as r:
        assert r.evaluate({"topic": "t", "qos": 1}) is None
        assert r.evaluate({"topic": "t", "qos": 2}) == {"one": 1}


def test_payload_object_is_passed_as_json_text():
    with mqttrule.Rule('SELECT payload.a.b AS b, payload AS p FROM "t"') as r:
        out = r.evaluate({"topic": "t", "payload": {"a": {"b": [1, 2]}}})
        assert out == {"b": [1, 2], "p": '{"a":{"b":[1,2]}}'}


def test_foreach_returns_a_list():
    sql = 'FOREACH payload.xs AS x DO x.v AS v FROM "t"'
    with mqttrule.Rule(sql) as r:
        assert r.evaluate({"topic": "t", "payload": {"xs": [{"v": 1}, {"v": 2}]}}) == [
            {"v": 1}, {"v": 2}]
        assert r.evaluate({"topic": "t", "payload": {"xs": []}}) == []
    # WHERE false is no match, unlike an empty collection (spec §6.3)
    with mqttrule.Rule(sql + " WHERE clientid = 'zz'") as r:
        assert r.evaluate({"topic": "t", "clientid": "c1", "payload": {"xs": [{"v": 1}]}}) is None


def test_large_output_grows_the_buffer():
    with mqttrule.Rule('SELECT payload AS p FROM "t"') as r:
        big = "x" * 100000
        assert r.evaluate({"topic": "t", "payload": big}) == {"p": big}
        assert r.evaluate({"topic": "t", "payload": "small"}) == {"p": "small"}


def test_undefined_rendering_profiles():
    with mqttrule.Rule('SELECT missing FROM "t"') as r:
        assert r.evaluate({"topic": "t"}) == {"missing": "undefined"}
    with mqttrule.Rule('SELECT missing FROM "t"', undefined_as_null=True) as r:
        assert r.evaluate({"topic": "t"}) == {"missing": None}


def test_metadata_rule_id():
    with mqttrule.Rule('SELECT metadata.rule_id AS id FROM "t"', rule_id="r9") as r:
        assert r.evaluate({"topic": "t"}) == {"id": "r9"}


def test_syntax_error_has_line_and_column():
    with pytest.raises(mqttrule.SQLSyntaxError) as info:
        mqttrule.Rule('SELECT a,\n  FROM "t"')
    e = info.value
    assert e.status_name == "MQR_ESYNTAX"
    assert e.line == 2
    assert e.column >= 1
    assert "line 2" in e.message


def test_unknown_function_is_a_compile_error():
    with pytest.raises(mqttrule.SQLSyntaxError) as info:
        mqttrule.Rule('SELECT lenght(a) FROM "t"')
    e = info.value
    assert e.status_name == "MQR_ECOMPILE"
    assert (e.line, e.column) == (1, 8)
    assert "did you mean 'length'" in e.message


def test_evaluation_error_raises():
    with mqttrule.Rule('SELECT 1 + a AS x FROM "t"') as r:
        with pytest.raises(mqttrule.EvaluationError) as info:
            r.evaluate({"topic": "t", "a": True})
        assert info.value.status_name == "MQR_EEVAL"
        assert "+" in info.value.message
        # the rule stays usable after an exception
        assert r.evaluate({"topic": "t", "a": 2}) == {"x": 3}


def test_integer_overflow_is_an_evaluation_error():
    with mqttrule.Rule('SELECT a * 2 AS x FROM "t"') as r:
        with pytest.raises(mqttrule.EvaluationError):
            r.evaluate({"topic": "t", "a": 2 ** 62})


def test_bad_context_type():
    with mqttrule.Rule('SELECT 1 AS x FROM "t"') as r:
        with pytest.raises(TypeError):
            r.evaluate(["not", "a", "dict"])


def test_closed_rule_refuses_use():
    r = mqttrule.Rule('SELECT 1 AS x FROM "t"')
    r.close()
    r.close()
    with pytest.raises(ValueError):
        r.evaluate({"topic": "t"})
    with pytest.raises(ValueError):
        r.sources


def _rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_no_growth_over_many_evaluations(asan):
    """200,000 evaluations after a warm-up: resident memory may not grow by
    more than 2 MiB, and rules created and freed in a loop do not
    accumulate either."""
    if asan:
        pytest.skip("ASan keeps freed memory in its quarantine (up to 256 MiB), "
                    "so resident memory grows by design; run without ASan")
    n = 200000
    ctx = {"event_type": "client_connack", "clientid": "c1", "username": "u",
           "reason_code": "success", "timestamp": 1}
    with mqttrule.Rule(CONNACK_SQL + " WHERE clientid = 'c1'") as r:
        for _ in range(2000):
            r.evaluate(ctx)
        gc.collect()
        before = _rss_kib()
        t0 = time.monotonic()
        for _ in range(n):
            r.evaluate(ctx)
        elapsed = time.monotonic() - t0
        gc.collect()
        grown = _rss_kib() - before
    assert grown < 2048, "RSS grew %d KiB over %d evaluations" % (grown, n)
    for _ in range(500):
        mqttrule.Rule(CONNACK_SQL).close()
    gc.collect()
    assert _rss_kib() - before < 4096
    print("%d evaluations in %.2f s, RSS growth %d KiB" % (n, elapsed, grown))
