# SPDX-License-Identifier: MIT
"""The SQLite sink in mqttrule-broker (`action sqlite`): the source
document's rule into a file, a 5,000-connection storm read back with the
sqlite3 program, hostile client ids stored verbatim with the table intact,
a refused statement and refused rows counted with clear errors while the
broker keeps serving, the connector test, and ${idempotency_key} with
INSERT OR IGNORE: one row per event."""
import os
import subprocess

import pytest

from broker_util import Broker, raw_connect, run_broker
from sink_util import (BIG_ID, CONNACK_SQL, HOSTILE_IDS, balanced, have_sink,
                       sink_stats, storm, wait_until)

pytestmark = pytest.mark.skipif(not have_sink("sqlite"), reason="SQLite sink not built")

INSERT = ("INSERT INTO connack_log (clientid, username, reason_code, ts) "
          "VALUES (${clientid}, ${username}, ${reason_code}, ${timestamp})")
SCHEMA = "CREATE TABLE connack_log (clientid TEXT, username TEXT, reason_code TEXT, ts INTEGER)"


def sqlite(db, sql):
    r = subprocess.run(["sqlite3", "-batch", db, sql], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def config(db, sql=INSERT, extra=""):
    return ("max_clientid_len 65535\n"
            "rule audit\n"
            "  sql %s\n"
            "  action sqlite\n"
            "    database %s\n"
            "    sql %s\n"
            "%s"
            "  end\n"
            "end\n" % (CONNACK_SQL, db, sql, extra))


def count(db, where="1"):
    return int(sqlite(db, "SELECT count(*) FROM connack_log WHERE %s" % where).strip())


def test_storm_lands_row_for_row(tmp_path):
    db = str(tmp_path / "audit.db")
    sqlite(db, SCHEMA)
    with Broker(config=config(db)) as b:
        storm(b.port, 5000)
        wait_until(lambda: count(db) >= 5000, 60, "5000 rows")
        st = sink_stats(b)
        assert st["sqlite.success"] == 5000, st
        assert st["sqlite.failed"] == 0 and st["sqlite.dropped.queue_full"] == 0, st
        assert balanced(st, "sqlite"), st
    assert count(db) == 5000
    rows = sqlite(db, "SELECT clientid, reason_code, typeof(ts) FROM connack_log").splitlines()
    ids = {r.split("|")[0] for r in rows}
    assert len(ids) == 5000
    assert all(i.startswith("bench-") for i in ids)
    assert {r.split("|", 1)[1] for r in rows} == {"connection_accepted|integer"}
    # WAL mode, as the sink sets it
    assert sqlite(db, "PRAGMA journal_mode").strip() == "wal"


def test_hostile_client_ids_are_stored_verbatim(tmp_path):
    db = str(tmp_path / "audit.db")
    sqlite(db, SCHEMA)
    with Broker(config=config(db)) as b:
        for cid in HOSTILE_IDS + [BIG_ID]:
            r, ack = raw_connect(b.port, clientid=cid)
            assert ack is not None and ack[0] == 0x20 and ack[1][1] == 0, ack
            r.close()
        # A NUL byte is not allowed in an MQTT string [MQTT-1.5.4-2]: the
        # CONNECT is refused as malformed and the event has no client id.
        r, ack = raw_connect(b.port, clientid="a\x00b")
        r.close()
        wait_until(lambda: count(db) >= len(HOSTILE_IDS) + 2, 30, "the rows")
        st = sink_stats(b)
        assert st["sqlite.success"] == len(HOSTILE_IDS) + 2, st
    # The table is intact, each id is the bytes that were sent.
    for cid in HOSTILE_IDS:
        hexid = cid.encode().hex().upper()
        assert count(db, "hex(clientid) = '%s'" % hexid) == 1, cid
    assert count(db, "length(clientid) = 65535 AND clientid = '%s'" % BIG_ID) == 1
    assert count(db, "clientid IS NULL AND reason_code = 'malformed_packet'") == 1
    assert sqlite(db, "SELECT name FROM sqlite_master").split() == ["connack_log"]


def test_refused_statement_is_counted_and_broker_keeps_serving(tmp_path):
    db = str(tmp_path / "audit.db")
    sqlite(db, "CREATE TABLE other (x)")
    with Broker(config=config(db)) as b:
        storm(b.port, 200)
        st = wait_until(lambda: (lambda s: s if s["sqlite.failed"] >= 200 else None)(
            sink_stats(b)), 30, "200 failed")
        assert st["sqlite.success"] == 0 and balanced(st, "sqlite"), st
        assert "no such table: connack_log" in b.logtext()
        # logged once per second at most, not once per row
        assert b.logtext().count("no such table") < 20
        # the broker is unaffected: clients still connect
        r, ack = raw_connect(b.port, clientid="after")
        assert ack is not None and ack[1][1] == 0
        r.close()
        # the table appears: rows land from then on
        sqlite(db, SCHEMA)
        r, ack = raw_connect(b.port, clientid="later")
        r.close()
        wait_until(lambda: count(db, "clientid = 'later'") == 1, 30, "the row after CREATE")


def test_wrong_type_fails_the_row_only(tmp_path):
    db = str(tmp_path / "audit.db")
    sqlite(db, "CREATE TABLE connack_log (clientid TEXT, username TEXT, reason_code INTEGER, "
               "ts INTEGER) STRICT")
    with Broker(config=config(db)) as b:
        r, ack = raw_connect(b.port, clientid="typed")
        r.close()
        st = wait_until(lambda: (lambda s: s if s["sqlite.failed"] >= 1 else None)(
            sink_stats(b)), 30, "the refused row")
        assert balanced(st, "sqlite"), st
        assert "row refused" in b.logtext() and "cannot store TEXT value in INTEGER" in b.logtext()
        r, ack = raw_connect(b.port, clientid="still-fine")
        assert ack is not None and ack[1][1] == 0
        r.close()


def test_connector_test(tmp_path):
    db = str(tmp_path / "audit.db")
    sqlite(db, SCHEMA)
    conf = tmp_path / "ok.conf"
    conf.write_text(config(db))
    r = run_broker("-c", str(conf), "--test-connectors")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok      rule audit: sqlite %s" % db in r.stdout
    bad = tmp_path / "bad.conf"
    bad.write_text(config(db, sql=INSERT.replace("connack_log", "nope")))
    r = run_broker("-c", str(bad), "--test-connectors")
    assert r.returncode != 0
    assert "FAILED  rule audit: sqlite" in r.stdout and "no such table: nope" in r.stdout


def test_config_errors_name_file_and_line(tmp_path):
    db = str(tmp_path / "audit.db")
    conf = tmp_path / "b.conf"
    conf.write_text(config(db, sql="INSERT INTO t VALUES ('${clientid}')"))
    r = run_broker("-c", str(conf))
    assert r.returncode != 0
    assert "b.conf:6: action sqlite:" in r.stderr + r.stdout
    assert "inside a quoted string" in r.stderr + r.stdout
    conf.write_text(config(db, extra="    batch_size 0\n"))
    r = run_broker("-c", str(conf))
    assert r.returncode != 0 and "b.conf:7: action sqlite: batch_size" in r.stderr + r.stdout
    conf.write_text(config(db, extra="    colour blue\n"))
    r = run_broker("-c", str(conf))
    assert "b.conf:7: action sqlite: unknown option 'colour'" in r.stderr + r.stdout
    assert not os.path.exists(str(tmp_path / "nothing.db"))


def test_sighup_replaces_the_sink(tmp_path):
    import signal
    db = str(tmp_path / "audit.db")
    sqlite(db, SCHEMA)
    sqlite(db, SCHEMA.replace("connack_log", "connack_log2"))
    with Broker(config=config(db)) as b:
        r, ack = raw_connect(b.port, clientid="before")
        r.close()
        wait_until(lambda: count(db, "clientid = 'before'") == 1, 30, "the first row")
        with open(b.config_path, "w") as f:
            f.write(config(db, sql=INSERT.replace("connack_log", "connack_log2")))
        b.send_signal(signal.SIGHUP)
        assert b.wait_log("rule 'audit' changed", 10), b.logtext()
        r, ack = raw_connect(b.port, clientid="after")
        r.close()
        wait_until(lambda: sqlite(db, "SELECT count(*) FROM connack_log2 WHERE clientid = "
                                      "'after'").strip() == "1", 30, "the row in the new table")
    assert count(db, "clientid = 'after'") == 0


def test_idempotency_key_gives_each_event_one_row(tmp_path):
    """${idempotency_key} binds the record's stable identifier (here, no
    durable queue: a random prefix and the ticket), so INSERT OR IGNORE
    into a UNIQUE column keeps one row per event; it is not looked up in
    the rule's output."""
    db = str(tmp_path / "audit.db")
    sqlite(db, "CREATE TABLE connack_log (rid TEXT UNIQUE NOT NULL, clientid TEXT)")
    sql = ("INSERT OR IGNORE INTO connack_log (rid, clientid) "
           "VALUES (${idempotency_key}, ${clientid})")
    with Broker(config=config(db, sql=sql)) as b:
        storm(b.port, 500)
        wait_until(lambda: count(db) >= 500, 60, "500 rows")
        st = sink_stats(b)
        assert st["sqlite.success"] == 500 and st["sqlite.failed"] == 0, st
    assert count(db) == 500
    rids = sqlite(db, "SELECT rid FROM connack_log").split()
    assert len(set(rids)) == 500
    prefixes = {r.split("-m")[0] for r in rids}
    assert len(prefixes) == 1 and len(prefixes.pop()) == 16, rids[:3]
