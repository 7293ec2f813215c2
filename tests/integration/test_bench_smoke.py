# SPDX-License-Identifier: MIT
"""Smoke test of mqttrule-bench against mqttrule-broker (about a second).

A connection storm of 50 with the default CONNACK rule republishing to a
subscriber, and a 1 -> 1 pub/sub run of 1,000 messages at QoS 1: the JSON
output has its fields and its counts add up (nothing lost). The
side-by-side benchmark against mosquitto (tests/bench/side_by_side.py) runs
once with tiny loads, to check its JSON and its plots.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from broker_util import BUILD, Broker
from tls_util import broker_has_tls

BENCH = os.path.join(BUILD, "examples", "bench", "mqttrule-bench")

pytestmark = pytest.mark.skipif(not os.path.exists(BENCH), reason="mqttrule-bench not built")


def run_bench(*args, timeout=30):
    proc = subprocess.run([BENCH, *args, "--json", "-d", "20"], capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0])


def check_latency(lat, samples):
    assert lat["samples"] == samples
    assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]


def test_connection_storm_with_connack_events():
    with Broker() as b:
        r = run_bench("conn", "-p", str(b.port), "-c", "50", "-P", "10",
                      "--event-topic", "client_connack")
    assert r["mode"] == "conn" and r["ok"] is True and r["protocol"] == 4
    assert r["connections"] == 50 and r["parallel"] == 10
    assert r["connected"] == 50 and r["failed"] == 0
    assert r["events_received"] == 50
    assert r["elapsed_s"] > 0
    assert r["connections_per_s"] == pytest.approx(50 / r["elapsed_s"], rel=0.01)
    check_latency(r["latency_us"], 50)


@pytest.mark.parametrize("proto", ["4", "5"])
def test_pubsub_qos1_loses_nothing(proto):
    with Broker() as b:
        r = run_bench("pubsub", "-p", str(b.port), "-V", proto, "-q", "1", "-n", "1000",
                      "-s", "64")
    assert r["mode"] == "pubsub" and r["ok"] is True and r["protocol"] == int(proto)
    assert (r["qos"], r["payload"], r["publishers"], r["subscribers"]) == (1, 64, 1, 1)
    assert r["messages_per_publisher"] == 1000
    assert r["sent"] == r["acked"] == r["expected"] == r["received"] == 1000
    assert r["lost"] == 0 and r["duplicates"] == 0
    assert r["received_per_s"] == pytest.approx(1000 / r["elapsed_s"], rel=0.01)
    check_latency(r["latency_us"], 1000)


def test_fan_out_counts_every_subscriber():
    with Broker() as b:
        r = run_bench("pubsub", "-p", str(b.port), "-q", "1", "-n", "100", "--subs", "5")
    assert r["sent"] == 100 and r["expected"] == r["received"] == 500 and r["lost"] == 0


def test_refused_connections_fail_the_run():
    with Broker("--allow-anonymous", "no") as b:
        proc = subprocess.run([BENCH, "conn", "-p", str(b.port), "-c", "5", "--json", "-d", "10"],
                              capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    r = json.loads(proc.stdout)
    assert r["ok"] is False and r["connected"] == 0 and r["failed"] == 5
    assert "CONNACK reason code" in r["error"]


@pytest.mark.parametrize("args", [[], ["storm"], ["conn", "-q", "3"], ["conn", "--nope"],
                                  ["conn", "-p"], ["conn", "-h", "localhost"]])
def test_bad_command_line_exits_64(args):
    proc = subprocess.run([BENCH, *args], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 64
    assert proc.stderr.startswith("mqttrule-bench: ") and "--help" in proc.stderr
    assert proc.stdout == ""


def test_help_exits_0():
    proc = subprocess.run([BENCH, "--help"], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: mqttrule-bench MODE")


SIDE_BY_SIDE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "bench", "side_by_side.py")


@pytest.mark.skipif(not shutil.which("mosquitto"), reason="mosquitto not installed")
def test_side_by_side_runs_every_load_on_every_broker(tmp_path):
    # tiny loads: this checks the script, its JSON and its plots, not speed
    out = tmp_path / "r.json"
    plots = tmp_path / "img"
    proc = subprocess.run(
        [sys.executable, SIDE_BY_SIDE, "--build", BUILD, "--rounds", "1", "--storm", "100",
         "--messages", "1000", "--sizes", "64", "--fanout", "10", "--idle", "100",
         "--busy-poll-us", "100", "--tls-storm", "50", "--sinks", "sqlite", "--json", str(out),
         "--plots", str(plots)],
        capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    assert doc["busy_poll_us"] == 100
    seen = {(r["test"], r["broker"]) for r in doc["results"]}
    tests = {t for t, _ in seen}
    # 3 storms (plain, HTTP rule, persistence), QoS 0 and 1 at 64 B, fan-out,
    # memory; over TLS: storm, QoS 0, memory; the SQLite storm when built
    sqlite = os.path.exists(os.path.join(BUILD, "sinks", "libmqttrule_sqlite.so"))
    assert len(tests) == (10 if broker_has_tls() else 7) + sqlite, tests
    assert ("2a storm (+rule, SQLite)" in tests) == sqlite, tests
    for t in tests:
        kinds = {"mosquitto", "mqttrule"} | (set() if t[0] in "5678" else {"mqttrule-bp"})
        assert {k for tt, k in seen if tt == t} == kinds, t
    for r in doc["results"]:
        assert r["value"] > 0, r
        if r["test"][0] not in "58":
            assert r["raw"]["ok"] is True, r
    for row in doc["summary"]:
        assert row["ratio"] > 0 and row["round_ratio"] > 0, row
    for png in ("bench_throughput.png", "bench_connections.png"):
        assert (plots / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
