# SPDX-License-Identifier: MIT
"""Helpers for the golden SQL tests: loading the cases under tests/data/golden,
running mqttrule-sql, and comparing JSON strictly.

A case is a JSON object:
  name     unique test id
  sql      the rule SQL
  context  the rule-test context (§11.1); default {}
  args     extra command-line arguments for mqttrule-sql, before the SQL
  expect   the output: an object, an array (FOREACH) or null (no match)
  expect_text  instead of expect: the exact output line (with --template)
  error    instead of expect: "compile" (exit 3), "eval" (exit 2, prints null)
           or "usage" (exit 64)
  unordered  true: object key order is not compared (default: compared, D3)
  stderr_contains  a text that must appear on stderr
  known_bug  the case is right by the spec but the code does not pass it
           yet: the text says where and why; the test is a strict xfail

The comparison is strict: 1 and 1.0 differ, true and 1 differ, and unless a
case says "unordered" the key order of every object must match.
"""
import json
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
GOLDEN_DIR = ROOT / "tests" / "data" / "golden"
# The clock every case runs with: 2023-11-14T22:13:20Z.
PINNED_NOW_MS = "1700000000000"

EXIT_OK, EXIT_EVAL, EXIT_COMPILE, EXIT_USAGE = 0, 2, 3, 64
ERROR_EXIT = {"eval": EXIT_EVAL, "compile": EXIT_COMPILE, "usage": EXIT_USAGE}


def sql_binary():
    """Path of mqttrule-sql in $MQR_BUILD_DIR (default: <root>/build)."""
    build = pathlib.Path(os.environ.get("MQR_BUILD_DIR", ROOT / "build"))
    if not build.is_absolute():
        build = ROOT / build
    return build / "examples" / "sql" / "mqttrule-sql"


def load_cases():
    """Every case of every tests/data/golden/*.json, in file order."""
    cases = []
    for path in sorted(GOLDEN_DIR.glob("*.json")):
        for case in json.loads(path.read_text(encoding="utf-8")):
            case["_file"] = path.name
            cases.append(case)
    return cases


def run_sql(args, sql, context=None, stdin=None, env_extra=None, extra_args=()):
    """Run mqttrule-sql with a pinned clock and UTC time zone; returns the
    CompletedProcess (text mode). `extra_args` come after the context."""
    cmd = [str(sql_binary())] + list(args) + [sql]
    if context is not None:
        cmd.append(context if isinstance(context, str) else json.dumps(context))
    cmd += list(extra_args)
    env = dict(os.environ)
    env["TZ"] = "UTC"
    env["MQTTRULE_SQL_NOW"] = PINNED_NOW_MS
    env.pop("EMQXVAR_MQR_GOLDEN_SURELY_UNSET", None)
    if env_extra:
        env.update(env_extra)
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                          env=env, timeout=30)


def _pairs(pairs):
    return ("object", list(pairs))


def _canon(node, ordered):
    """A comparable form of parsed JSON that keeps int/float/bool apart and,
    when `ordered`, the key order of objects."""
    if isinstance(node, tuple) and node and node[0] == "object":
        items = [(k, _canon(v, ordered)) for k, v in node[1]]
        if not ordered:
            items.sort(key=lambda kv: kv[0])
        return ("object", tuple(items))
    if isinstance(node, list):
        return ("array", tuple(_canon(v, ordered) for v in node))
    if isinstance(node, bool):
        return ("bool", node)
    if isinstance(node, int):
        return ("int", node)
    if isinstance(node, float):
        return ("float", node)
    if node is None:
        return ("null",)
    return ("string", node)


def parse_strict(text):
    """Parse JSON keeping object key order and duplicates."""
    return json.loads(text, object_pairs_hook=_pairs)


def canonical(value, ordered=True):
    """Canonical form of a Python value written in a case file: re-encode and
    parse so that both sides go through the same path."""
    return _canon(parse_strict(json.dumps(value)), ordered)


def canonical_text(text, ordered=True):
    return _canon(parse_strict(text), ordered)
