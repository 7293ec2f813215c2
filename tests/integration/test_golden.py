# SPDX-License-Identifier: MIT
"""Golden tests: every case in tests/data/golden/*.json runs through
mqttrule-sql (from $MQR_BUILD_DIR, default build/) as one parametrized test,
named after the case. See golden_util.py for the case format and the strict
comparison. A few tests at the end check the program's own behaviour: exit
codes, stdin contexts, diagnostics."""
import json

import pytest

import golden_util as gu

CASES = gu.load_cases()


def _param(case):
    """One pytest parameter per case; a case with "known_bug" is a strict
    xfail, so it reports when the bug it names is fixed."""
    marks = ()
    if "known_bug" in case:
        marks = pytest.mark.xfail(strict=True, reason=case["known_bug"])
    return pytest.param(case, id=case["name"], marks=marks)


def _need_binary():
    if not gu.sql_binary().exists():
        pytest.skip(f"{gu.sql_binary()} is not built")


def test_case_names_are_unique():
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names))
    assert len(CASES) >= 150


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_golden(case):
    _need_binary()
    proc = gu.run_sql(case.get("args", []), case["sql"], case.get("context", {}))
    where = f"{case['_file']}: {case['sql']!r}\nstdout: {proc.stdout!r}\nstderr: {proc.stderr!r}"
    if "error" in case:
        assert proc.returncode == gu.ERROR_EXIT[case["error"]], where
        if case["error"] == "eval":
            assert proc.stdout.strip() == "null", where
        assert proc.stderr.strip(), where
    else:
        assert proc.returncode == gu.EXIT_OK, where
        lines = proc.stdout.splitlines()
        assert len(lines) == 1, where
        if "expect_text" in case:
            assert lines[0] == case["expect_text"], where
        else:
            ordered = not case.get("unordered", False)
            assert gu.canonical_text(lines[0], ordered) == gu.canonical(case["expect"], ordered), where
    if "stderr_contains" in case:
        assert case["stderr_contains"] in proc.stderr, where


def test_stdin_one_context_per_line():
    _need_binary()
    stdin = "\n".join([json.dumps({"topic": "t/1", "payload": '{"n": 1}'}),
                       json.dumps({"topic": "x/1"}),
                       json.dumps({"topic": "t/2", "payload": '{"n": 2}'})]) + "\n"
    proc = gu.run_sql([], "SELECT payload.n AS n FROM 't/#'", stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ['{"n":1}', "null", '{"n":2}']


def test_stdin_exception_sets_exit_2_and_continues():
    _need_binary()
    stdin = "\n".join([json.dumps({"topic": "t/1", "payload": "nojson"}),
                       json.dumps({"topic": "t/1", "payload": '{"n": 3}'})]) + "\n"
    proc = gu.run_sql([], "SELECT payload.n AS n FROM 't/#'", stdin=stdin)
    assert proc.returncode == 2
    assert proc.stdout.splitlines() == ["null", '{"n":3}']
    assert proc.stderr.strip()


def test_eval_error_message_names_function_and_value():
    _need_binary()
    proc = gu.run_sql([], "SELECT upper(nosuch) AS u FROM 't/#'", {"topic": "t/1"})
    assert proc.returncode == 2
    assert "upper" in proc.stderr
    assert "undefined" in proc.stderr


def test_compile_error_has_line_and_column():
    _need_binary()
    proc = gu.run_sql([], "SELECT lenght(payload) AS n FROM 't/#'", {"topic": "t/1"})
    assert proc.returncode == 3
    assert "1:8" in proc.stderr
    assert "lenght" in proc.stderr


def test_usage_without_sql():
    _need_binary()
    proc = gu.run_sql([], "--names")
    assert proc.returncode == 64
    assert "usage" in proc.stderr.lower()


def test_help_exits_zero():
    _need_binary()
    proc = gu.run_sql(["--help"], "")
    assert proc.returncode == 0
    assert "mqttrule-sql" in proc.stdout


def test_now_flag_pins_timestamp():
    _need_binary()
    proc = gu.run_sql(["--now", "5"], "SELECT timestamp, now_timestamp('millisecond') AS n FROM 't/#'",
                      {"topic": "t/1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == '{"timestamp":5,"n":5}'


def test_blank_stdin_lines_are_skipped():
    _need_binary()
    proc = gu.run_sql([], "SELECT 1 AS x FROM 't/#'", stdin='\n{"topic": "t/1"}\n\n')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ['{"x":1}']


def test_node_option():
    _need_binary()
    proc = gu.run_sql(["--node", "mqr@host"], "SELECT node FROM 't/#'", {"topic": "t/1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == '{"node":"mqr@host"}'


def test_double_dash_ends_options():
    _need_binary()
    proc = gu.run_sql(["--"], "-- a comment\nSELECT 1 AS x FROM 't/#'", {"topic": "t/1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == '{"x":1}'


@pytest.mark.parametrize("args,env", [
    (["--now", "soon"], None),
    ([], {"MQTTRULE_SQL_NOW": "12x"}),
    (["--names", "v5"], None),
])
def test_bad_option_values_are_usage_errors(args, env):
    _need_binary()
    proc = gu.run_sql(args, "SELECT 1 AS x FROM 't/#'", {"topic": "t/1"}, env_extra=env)
    assert proc.returncode == 64
    assert "usage" in proc.stderr


def test_unexpected_argument_is_usage_error():
    _need_binary()
    proc = gu.run_sql([], "SELECT 1 AS x FROM 't/#'", '{"topic": "t/1"}', extra_args=["extra"])
    assert proc.returncode == 64
    assert "unexpected argument 'extra'" in proc.stderr


def test_stdin_bad_context_stops_with_64():
    _need_binary()
    stdin = '{"topic": "t/1"}\nnot json\n{"topic": "t/1"}\n'
    proc = gu.run_sql([], "SELECT 1 AS x FROM 't/#'", stdin=stdin)
    assert proc.returncode == 64
    assert proc.stdout.splitlines() == ['{"x":1}']
    assert "context 2" in proc.stderr


def test_unpinned_clock_is_now():
    _need_binary()
    import time
    before = int(time.time() * 1000)
    proc = gu.run_sql([], "SELECT timestamp FROM 't/#'", {"topic": "t/1"},
                      env_extra={"MQTTRULE_SQL_NOW": ""})
    after = int(time.time() * 1000)
    assert proc.returncode == 0, proc.stderr
    ts = json.loads(proc.stdout)["timestamp"]
    assert before - 1000 <= ts <= after + 1000
