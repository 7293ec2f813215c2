# SPDX-License-Identifier: MIT
"""The connection storm with each sink, for tests/bench/side_by_side.py.

For every sink the build has (SQLite, PostgreSQL, Kafka) and every round:
mosquitto runs the plain storm; each mqttrule column runs a broker whose
rule is the source document's rule with an `action sqlite|pgsql|kafka`
writing every CONNACK event to the sink (a database file in the scratch
directory; a PostgreSQL server started with tests/integration/pg_util.py;
librdkafka's mock cluster, tests/support/kafka_mock). The figure counts
until the sink has confirmed every event (the broker's "sinks" stats line:
rows committed, Kafka deliveries acknowledged), so it is both the storm's
connections per second and the events per second into the sink.
"""
import os
import re
import signal
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

RULE_SQL = 'SELECT clientid, username, reason_code, timestamp FROM "$events/client_connack"'
INSERT = ("INSERT INTO connack_log (clientid, username, reason_code, ts) "
          "VALUES (${clientid}, ${username}, ${reason_code}, ${timestamp})")


def available(build):
    return [s for s in ("sqlite", "pgsql", "kafka")
            if os.path.exists(os.path.join(build, "sinks", "libmqttrule_%s.so" % s))]


def sink_success(b, kind, timeout=5.0):
    """The sink's success count from a fresh "sinks" stats line of broker b."""
    path = b.log.name
    before = open(path, "rb").read().count(b" sinks ")
    b.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = open(path, "rb").read()
        if text.count(b" sinks ") > before:
            m = re.findall(rb" %s\.success=(\d+)" % kind.encode(), text)
            return int(m[-1]) if m else 0
        time.sleep(0.01)
    return 0


class SinkTarget:
    """The store one sink writes to, started for the whole run."""

    def __init__(self, kind, sb):
        self.kind = kind
        self.sb = sb
        self.server = None
        self.n = 0
        if kind == "pgsql":
            import pg_util
            self.server = pg_util.PgServer()
        elif kind == "kafka":
            import kafka_util
            self.server = kafka_util.KafkaMock(3)
            self.server.command("topic connack-events 6")

    def action(self):
        """The `action` block of a fresh target (a new file or table)."""
        self.n += 1
        if self.kind == "sqlite":
            import sqlite3
            db = os.path.join(self.sb.tmp, "sink-%d.db" % self.n)
            with sqlite3.connect(db) as c:
                c.execute("CREATE TABLE connack_log (clientid TEXT, username TEXT, "
                          "reason_code TEXT, ts INTEGER)")
            return "  action sqlite\n    database %s\n    sql %s\n  end\n" % (db, INSERT)
        if self.kind == "pgsql":
            tbl = "connack_log_%d" % self.n
            self.server.psql("CREATE TABLE %s (clientid text, username text, reason_code text, "
                             "ts bigint)" % tbl)
            return ("  action pgsql\n    server 127.0.0.1:%d\n    database %s\n"
                    "    username postgres\n    sql %s\n  end\n" %
                    (self.server.port, self.server.db, INSERT.replace("connack_log", tbl)))
        return ("  action kafka\n    bootstrap_hosts %s\n    topic connack-events\n"
                "    key ${clientid}\n    value ${.}\n    property linger.ms 5\n  end\n" %
                self.server.bootstrap)

    def close(self):
        if self.server is not None:
            self.server.close()


def storm_sinks(sb, rnd, brokers, targets):
    """One round of the storm into each sink (see the module's text)."""
    n = sb.args.storm
    for kind, target in targets.items():
        test = "2%s storm (+rule, %s)" % ({"sqlite": "a", "pgsql": "b", "kafka": "c"}[kind],
                                          {"sqlite": "SQLite", "pgsql": "PostgreSQL",
                                           "kafka": "Kafka"}[kind])
        for col in sb.order(rnd):
            if col == "mosquitto":
                r = sb.run_bench(brokers[col].port, "conn", "-c", str(n), "-P", "50")
                sb.record(test, col, rnd, r["connections_per_s"], "conn/s", r)
                continue
            rule = "rule connack_sink\n  sql %s\n%send\n" % (RULE_SQL, target.action())
            b = sb.start(col, rule)
            try:
                time.sleep(0.3)  # the PostgreSQL connection, Kafka metadata
                t0 = time.monotonic()
                r = sb.run_bench(b.port, "conn", "-c", str(n), "-P", "50")
                deadline = time.monotonic() + 60
                got = 0
                while time.monotonic() < deadline:
                    got = sink_success(b, kind)
                    if got >= r["connected"]:
                        break
                    time.sleep(0.02)
                span = time.monotonic() - t0
                r["sink_success"] = got
                r["sink_span_s"] = span
                if got < r["connected"]:
                    print("    warning: %s stored %d of %d events" % (kind, got, r["connected"]),
                          file=sys.stderr)
                rate = min(r["connections_per_s"], got / span if span > 0 else 0)
                sb.record(test, col, rnd, rate, "conn/s", r)
            finally:
                sb.stop(b)
        sb.show(test, rnd, "conn/s")
