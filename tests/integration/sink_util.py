# SPDX-License-Identifier: MIT
"""Helpers for the sink integration tests (SQLite, PostgreSQL, Kafka).

- have_sink(name): whether the build made libmqttrule_NAME (and so the
  broker's `action NAME` blocks).
- storm(port, n): a connection storm of n clients with mqttrule-bench; the
  client ids are bench-PID-0-INDEX-START, one per connection.
- sink_stats(broker): the broker's "sinks" log line after SIGUSR1 as a dict.
- CONNACK_SQL: the source document's rule.
"""
import os
import re
import signal
import subprocess
import time

from broker_util import BUILD, TIMEOUT

BENCH = os.path.join(BUILD, "examples", "bench", "mqttrule-bench")
CONNACK_SQL = 'SELECT clientid, username, reason_code, timestamp FROM "$events/client_connack"'


def have_sink(name):
    return os.path.exists(os.path.join(BUILD, "sinks", "libmqttrule_%s.so" % name))


def storm(port, n, parallel=50, timeout=120):
    """Run a connection storm of n connections; returns the bench's output."""
    r = subprocess.run([BENCH, "conn", "-p", str(port), "-c", str(n), "-P", str(parallel),
                        "-d", str(timeout)], capture_output=True, text=True, timeout=timeout + 30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "%d of %d connected" % (n, n) in r.stdout, r.stdout
    return r.stdout


def sink_stats(broker, timeout=TIMEOUT):
    """Send SIGUSR1 and return the counters of the new "sinks" log line."""
    before = broker.logtext().count(" mqttrule-broker: sinks ")
    broker.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [l for l in broker.logtext().splitlines() if " mqttrule-broker: sinks " in l]
        if len(lines) > before:
            fields = lines[-1].split(" mqttrule-broker: sinks ", 1)[1].split()
            return {k: int(v) for k, v in (f.split("=", 1) for f in fields)}
        time.sleep(0.02)
    raise AssertionError("no sinks line within %.1f s:\n%s" % (timeout, broker.logtext()[-3000:]))


def wait_until(fn, timeout, what, step=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(step)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


def balanced(st, kind):
    """The metric invariant of one sink type's counters."""
    k = kind + "."
    return st[k + "matched"] == (st[k + "success"] + st[k + "failed"] +
                                 st[k + "dropped.queue_full"] + st[k + "dropped.expired"] +
                                 st[k + "dropped.other"] + st[k + "queuing"] + st[k + "inflight"])


HOSTILE_IDS = ["x'); DROP TABLE connack_log; --", "Robert'); --\"\\", "é€😀 'quoted' \"double\""]
BIG_ID = ("0123456789abcdef" * 4096)[:65535]


def bench_ids(out_text):
    return re.findall(r"bench-\d+-\d+-\d+-\d+", out_text)
