# SPDX-License-Identifier: MIT
"""The PostgreSQL sink in mqttrule-broker (`action pgsql`) against a real
server started by the test (pg_util.PgServer): a 5,000-connection storm
lands row for row; the server stopped in the middle of a storm and started
again loses nothing (the rows wait in the sink's queue and are sent again);
a connection the server closes in the middle of a batch loses nothing;
hostile client ids are stored verbatim; a missing table and a wrong column
type are counted with the server's message while the broker keeps serving;
the connector test; the password file. The durable queue (persistence
true): the server stopped mid-storm, the broker killed with SIGKILL while
the events wait, restarted, the server back: every event written, the
duplicates bounded by the in-flight window and removed by the
${idempotency_key} column. Without it, with a small queue: the rows
missing are exactly the events counted dropped. A pool of connections,
each with a window of pipelined batches."""
import signal
import threading
import time

import pytest

import pg_util
from broker_util import Broker, free_port, raw_connect, run_broker
from sink_util import (BIG_ID, CONNACK_SQL, HOSTILE_IDS, balanced, have_sink, sink_stats, storm,
                       wait_until)

pytestmark = pytest.mark.skipif(not (have_sink("pgsql") and pg_util.available()),
                                reason="PostgreSQL sink not built or no PostgreSQL server")

SCHEMA = ("CREATE TABLE %s (id bigserial, clientid text, username text, reason_code text, "
          "ts bigint)")
INSERT = ("INSERT INTO %s (clientid, username, reason_code, ts) "
          "VALUES (${clientid}, ${username}, ${reason_code}, ${timestamp})")


@pytest.fixture(scope="module")
def pg():
    s = pg_util.PgServer()
    yield s
    s.close()


_n = [0]


def table(pg, schema=SCHEMA):
    _n[0] += 1
    name = "connack_log_%d" % _n[0]
    pg.psql(schema % name)
    return name


def config(pg, tbl, extra="", sql=None, server=None):
    return "max_clientid_len 65535\nrule audit\n  sql %s\n%send\n" % (
        CONNACK_SQL, action(pg, tbl, extra, sql, server))


def action(pg, tbl, extra="", sql=None, server=None):
    return ("  action pgsql\n"
            "    server %s\n"
            "    database %s\n"
            "    username postgres\n"
            "    sql %s\n"
            "    retry_backoff 50ms\n"
            "    retry_backoff_max 500ms\n"
            "%s"
            "  end\n" % (server or "127.0.0.1:%d" % pg.port, pg.db, sql or INSERT % tbl, extra))


def rows(pg, tbl, where="true"):
    return int(pg.psql("SELECT count(*) FROM %s WHERE %s" % (tbl, where)))


def distinct_ids(pg, tbl):
    return int(pg.psql("SELECT count(DISTINCT clientid) FROM %s" % tbl))


def test_storm_lands_row_for_row(pg):
    tbl = table(pg)
    with Broker(config=config(pg, tbl)) as b:
        assert b.wait_log("connected", 20), b.logtext()
        storm(b.port, 5000)
        wait_until(lambda: rows(pg, tbl) >= 5000, 90, "5000 rows")
        st = sink_stats(b)
        assert st["pgsql.success"] == 5000 and st["pgsql.failed"] == 0, st
        assert balanced(st, "pgsql"), st
    assert rows(pg, tbl) == 5000
    assert distinct_ids(pg, tbl) == 5000
    assert pg.psql("SELECT DISTINCT reason_code FROM %s" % tbl) == "connection_accepted"
    assert rows(pg, tbl, "ts > 1600000000000") == 5000


def test_server_restart_mid_storm_loses_nothing(pg):
    tbl = table(pg)
    with Broker(config=config(pg, tbl, extra="    request_ttl 120s\n")) as b:
        assert b.wait_log("connected", 20), b.logtext()
        done = []
        t = threading.Thread(target=lambda: done.append(storm(b.port, 5000, parallel=20)))
        t.start()
        wait_until(lambda: rows(pg, tbl) >= 200, 60, "the first rows")
        pg.stop("fast")
        time.sleep(1.0)
        pg.start()
        t.join(180)
        assert done, "the storm did not finish"
        wait_until(lambda: distinct_ids(pg, tbl) >= 5000, 120, "every client id")
        st = wait_until(lambda: (lambda s: s if s["pgsql.queuing"] + s["pgsql.inflight"] == 0
                                 else None)(sink_stats(b)), 60, "an empty queue")
        assert st["pgsql.dropped.queue_full"] + st["pgsql.dropped.expired"] == 0, st
        assert st["pgsql.failed"] == 0, st
        assert balanced(st, "pgsql"), st
        assert "reconnecting in" in b.logtext()
    # Nothing lost; a batch whose commit raced the shutdown may be written
    # twice (at least once), never partly.
    assert distinct_ids(pg, tbl) == 5000
    assert rows(pg, tbl) >= 5000


def test_connection_closed_mid_batch_loses_nothing(pg):
    tbl = table(pg)
    with Broker(config=config(pg, tbl)) as b:
        assert b.wait_log("connected", 20), b.logtext()
        done = []
        t = threading.Thread(target=lambda: done.append(storm(b.port, 3000, parallel=20)))
        t.start()
        wait_until(lambda: rows(pg, tbl) >= 100, 60, "the first rows")
        killed = pg.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                         "WHERE application_name = 'mqttrule'")
        assert killed == "1"
        t.join(180)
        assert done
        wait_until(lambda: distinct_ids(pg, tbl) >= 3000, 120, "every client id")
        st = sink_stats(b)
        assert st["pgsql.failed"] + st["pgsql.dropped.queue_full"] == 0, st
        assert "terminating connection" in b.logtext() or "server closed" in b.logtext()


def test_hostile_client_ids_are_stored_verbatim(pg):
    tbl = table(pg)
    with Broker(config=config(pg, tbl)) as b:
        assert b.wait_log("connected", 20), b.logtext()
        for cid in HOSTILE_IDS + [BIG_ID]:
            r, ack = raw_connect(b.port, clientid=cid)
            assert ack is not None and ack[1][1] == 0, ack
            r.close()
        r, ack = raw_connect(b.port, clientid="a\x00b")  # malformed: no client id
        r.close()
        wait_until(lambda: rows(pg, tbl) >= len(HOSTILE_IDS) + 2, 30, "the rows")
    for cid in HOSTILE_IDS:
        hexid = cid.encode().hex()
        assert rows(pg, tbl, "encode(convert_to(clientid, 'UTF8'), 'hex') = '%s'" % hexid) == 1
    assert rows(pg, tbl, "clientid = '%s' AND length(clientid) = 65535" % BIG_ID) == 1
    assert rows(pg, tbl, "clientid IS NULL AND reason_code = 'malformed_packet'") == 1
    assert pg.psql("SELECT count(*) FROM pg_tables WHERE tablename = '%s'" % tbl) == "1"


def test_missing_table_and_wrong_type_are_counted(pg):
    with Broker(config=config(pg, "no_such_table")) as b:
        storm(b.port, 100)
        st = wait_until(lambda: (lambda s: s if s["pgsql.failed"] >= 100 else None)(
            sink_stats(b)), 30, "100 failed")
        assert st["pgsql.success"] == 0 and balanced(st, "pgsql"), st
        assert 'relation "no_such_table" does not exist' in b.logtext()
        r, ack = raw_connect(b.port, clientid="still-serving")
        assert ack is not None and ack[1][1] == 0
        r.close()
        # the table appears: the statement is prepared again, rows land
        pg.psql(SCHEMA % "no_such_table")

        def landed():
            r, ack = raw_connect(b.port, clientid="later")
            r.close()
            return rows(pg, "no_such_table", "clientid = 'later'") > 0
        wait_until(landed, 30, "a row after CREATE TABLE", step=0.5)
    tbl = table(pg, "CREATE TABLE %s (clientid text, username text, reason_code integer, "
                    "ts bigint)")
    with Broker(config=config(pg, tbl)) as b:
        assert b.wait_log("connected", 20), b.logtext()
        storm(b.port, 50)
        st = wait_until(lambda: (lambda s: s if s["pgsql.failed"] >= 50 else None)(
            sink_stats(b)), 60, "50 failed")
        assert st["pgsql.success"] == 0 and balanced(st, "pgsql"), st
        assert "invalid input syntax for type integer" in b.logtext()
    assert rows(pg, tbl) == 0


def test_connector_test_and_password_file(pg, tmp_path):
    tbl = table(pg)
    pg.psql("CREATE ROLE writer LOGIN PASSWORD 's3cret'; GRANT ALL ON %s TO writer; "
            "GRANT ALL ON SEQUENCE %s_id_seq TO writer" % (tbl, tbl))
    pw = tmp_path / "pg.pass"
    pw.write_text("s3cret\n")
    conf = tmp_path / "ok.conf"
    conf.write_text(config(pg, tbl).replace("username postgres",
                                            "username writer\n    password_file %s" % pw))
    r = run_broker("-c", str(conf), "--test-connectors")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok      rule audit: pgsql 127.0.0.1:%d/audit" % pg.port in r.stdout
    down = tmp_path / "down.conf"
    down.write_text(config(pg, tbl, server="127.0.0.1:%d" % pg_util.free_port()))
    r = run_broker("-c", str(down), "--test-connectors")
    assert r.returncode != 0 and "FAILED  rule audit: pgsql" in r.stdout, r.stdout
    assert "Connection refused" in r.stdout or "connection" in r.stdout.lower()
    bad = tmp_path / "bad.conf"
    bad.write_text(config(pg, "nope"))
    r = run_broker("-c", str(bad), "--test-connectors")
    assert r.returncode != 0 and 'relation "nope" does not exist' in r.stdout, r.stdout


def test_values_bind_with_their_types(pg):
    """Integers, floats, booleans, objects (JSON), undefined (NULL) and a
    string with a NUL byte (refused with a clear message: text cannot hold
    it) from a published JSON payload."""
    from broker_util import publish_bytes
    tbl = table(pg, "CREATE TABLE %s (i bigint, d double precision, b boolean, o jsonb, "
                    "n text, s text)")
    sql = ("INSERT INTO %s (i, d, b, o, n, s) VALUES (${i}, ${d}, ${b}, ${o}, ${missing}, ${s})"
           % tbl)
    conf = config(pg, tbl, sql=sql).replace(
        "sql %s\n" % CONNACK_SQL,
        "sql SELECT payload.i as i, payload.d as d, payload.b as b, payload.o as o, "
        "payload.s as s FROM \"t/#\"\n")
    with Broker(config=conf) as b:
        assert b.wait_log("connected", 20), b.logtext()
        r, ack = raw_connect(b.port, clientid="pub")
        r.send(publish_bytes("t/1", b'{"i": 42, "d": 1.5, "b": true, "o": {"k": [1, 2]}, '
                                    b'"s": "it\'s"}'))
        r.send(publish_bytes("t/1", b'{"i": 7, "s": "a\\u0000b"}'))
        r.close()
        st = wait_until(lambda: (lambda s: s if s["pgsql.success"] + s["pgsql.failed"] >= 2
                                 else None)(sink_stats(b)), 30, "both rows ended")
        assert st["pgsql.success"] == 1 and st["pgsql.failed"] == 1, st
        assert "holds a NUL byte" in b.logtext()
    assert pg.psql("SELECT i, d, b, o::text, n IS NULL, s FROM %s" % tbl) == \
        '42|1.5|t|{"k": [1, 2]}|t|it\'s'


def test_refused_rows_fail_alone_in_their_batch(pg):
    """A CHECK constraint refuses the clients whose index ends in 7: those
    rows fail (SQLSTATE 23514), the others of each batch are written."""
    tbl = table(pg, "CREATE TABLE %s (clientid text CHECK (clientid NOT LIKE 'bench-%%-%%-%%7-%%'), "
                    "username text, reason_code text, ts bigint)")
    with Broker(config=config(pg, tbl)) as b:
        assert b.wait_log("connected", 20), b.logtext()
        storm(b.port, 500)
        st = wait_until(lambda: (lambda s: s if s["pgsql.success"] + s["pgsql.failed"] >= 500
                                 else None)(sink_stats(b)), 60, "500 rows ended")
        assert st["pgsql.failed"] == 50 and st["pgsql.success"] == 450, st
        assert st["pgsql.dropped.expired"] == 0 and balanced(st, "pgsql"), st
        assert "violates check constraint" in b.logtext()
    assert rows(pg, tbl) == 450


def test_rows_refused_at_commit_are_not_reported_written(pg):
    """A deferred constraint trigger refuses, at COMMIT, the clients whose
    index ends in 7: the error arrives after every row's own result, at the
    batch's Sync. The batch is rolled back, so no row of it may be counted
    written: the batch is split into single rows, the refused ones fail
    (50) and the others are written (450)."""
    tbl = table(pg)
    pg.psql("CREATE FUNCTION %s_chk() RETURNS trigger AS $$ BEGIN "
            "IF NEW.clientid LIKE 'bench-%%-%%-%%7-%%' THEN "
            "RAISE EXCEPTION 'refused at commit: %%', NEW.clientid USING ERRCODE = '23514'; "
            "END IF; RETURN NULL; END $$ LANGUAGE plpgsql" % tbl)
    pg.psql("CREATE CONSTRAINT TRIGGER %s_chk AFTER INSERT ON %s DEFERRABLE INITIALLY DEFERRED "
            "FOR EACH ROW EXECUTE FUNCTION %s_chk()" % (tbl, tbl, tbl))
    with Broker(config=config(pg, tbl, extra="    batch_size 20\n")) as b:
        assert b.wait_log("connected", 20), b.logtext()
        storm(b.port, 500)
        st = wait_until(lambda: (lambda s: s if s["pgsql.success"] + s["pgsql.failed"] >= 500
                                 else None)(sink_stats(b)), 60, "500 rows ended")
        assert rows(pg, tbl) == st["pgsql.success"], (rows(pg, tbl), st)
        assert st["pgsql.failed"] == 50 and st["pgsql.success"] == 450, st
        assert balanced(st, "pgsql"), st
        assert "refused at commit" in b.logtext()
    assert rows(pg, tbl) == 450


def test_serialization_failure_at_commit_is_retried(pg):
    """A deferred trigger fails the first three COMMITs with SQLSTATE 40001
    (a sequence counts them: nextval is not rolled back): those batches are
    retried, and every row lands once."""
    tbl = table(pg)
    pg.psql("CREATE SEQUENCE %s_n" % tbl)
    pg.psql("CREATE FUNCTION %s_chk() RETURNS trigger AS $$ BEGIN "
            "IF nextval('%s_n') <= 3 THEN "
            "RAISE EXCEPTION 'serialization failure at commit' USING ERRCODE = '40001'; "
            "END IF; RETURN NULL; END $$ LANGUAGE plpgsql" % (tbl, tbl))
    pg.psql("CREATE CONSTRAINT TRIGGER %s_chk AFTER INSERT ON %s DEFERRABLE INITIALLY DEFERRED "
            "FOR EACH ROW EXECUTE FUNCTION %s_chk()" % (tbl, tbl, tbl))
    with Broker(config=config(pg, tbl, extra="    batch_size 20\n")) as b:
        assert b.wait_log("connected", 20), b.logtext()
        storm(b.port, 200)
        st = drained(b)
        assert st["pgsql.success"] == 200 and st["pgsql.failed"] == 0, st
        assert st["pgsql.retried"] > 0 and balanced(st, "pgsql"), st
        assert "serialization failure at commit" in b.logtext()
    assert rows(pg, tbl) == 200 and distinct_ids(pg, tbl) == 200


KEYED = ("CREATE TABLE %s (rid text, clientid text, username text, reason_code text, "
         "ts bigint)")
KEYED_UNIQUE = KEYED.replace("rid text", "rid text UNIQUE")
INSERT_KEYED = ("INSERT INTO %s (rid, clientid, username, reason_code, ts) VALUES "
                "(${idempotency_key}, ${clientid}, ${username}, ${reason_code}, ${timestamp})")
ON_CONFLICT = INSERT_KEYED + " ON CONFLICT (rid) DO NOTHING"


def drained(b):
    """The sinks' counters once nothing is queued or in flight."""
    return wait_until(lambda: (lambda s: s if s["pgsql.queuing"] + s["pgsql.inflight"] == 0
                               else None)(sink_stats(b)), 120, "an empty queue")


def test_durable_queue_survives_server_down_and_kill_9(pg, tmp_path):
    """persistence true: the server is stopped mid-storm, the broker is
    killed with SIGKILL while the events wait in its queue, restarted on the
    same directory, then the server comes back: every event of the storm is
    written. Two actions of the rule write the same events: into a plain
    table, where a batch whose commit raced the stop may be written twice
    (at most the in-flight window: batch_size 50 x inflight_window 4) with
    the same ${idempotency_key}, so the copies are removable; and with ON
    CONFLICT DO NOTHING on a UNIQUE key column: exactly one row per event."""
    n = 3000
    plain, uniq = table(pg, KEYED), table(pg, KEYED_UNIQUE)
    opts = "    request_ttl 600s\n    batch_size 50\n    inflight_window 4\n"
    conf = ("max_clientid_len 65535\npersistence true\npersistence_location %s\n"
            "rule audit\n  sql %s\n%s%send\n" % (
                tmp_path, CONNACK_SQL, action(pg, plain, opts, INSERT_KEYED % plain),
                action(pg, uniq, opts, ON_CONFLICT % uniq)))
    port = free_port()
    b = Broker(config=conf, port=port)
    try:
        assert b.wait_log("connected", 20), b.logtext()
        done = []
        t = threading.Thread(target=lambda: done.append(storm(port, n, parallel=20)))
        t.start()
        wait_until(lambda: rows(pg, plain) >= 200, 60, "the first rows")
        pg.stop("fast")
        t.join(180)
        assert done, "the storm did not finish"
        st = sink_stats(b)
        assert st["pgsql.queuing"] + st["pgsql.inflight"] > 0, st  # events wait
        assert "reconnecting in" in b.logtext()
    finally:
        b.stop(signal.SIGKILL)
    with Broker(config=conf, port=port) as b2:
        assert b2.wait_log("queued event(s) replayed", 20), b2.logtext()
        pg.start()
        wait_until(lambda: distinct_ids(pg, plain) >= n and distinct_ids(pg, uniq) >= n, 180,
                   "every client id in both tables")
        st = drained(b2)
        assert st["pgsql.failed"] == 0, st
        assert st["pgsql.dropped.queue_full"] + st["pgsql.dropped.expired"] == 0, st
    assert distinct_ids(pg, plain) == n and distinct_ids(pg, uniq) == n
    # the unique key column: exactly one row per event
    assert rows(pg, uniq) == n
    assert int(pg.psql("SELECT count(DISTINCT rid) FROM %s" % uniq)) == n
    # the plain table: copies only of batches in flight, each with its event's key
    extra = rows(pg, plain) - n
    assert 0 <= extra <= 50 * 4, extra
    assert int(pg.psql("SELECT count(DISTINCT rid) FROM %s" % plain)) == n
    assert pg.psql("SELECT count(*) FROM (SELECT clientid FROM %s GROUP BY clientid "
                   "HAVING count(DISTINCT rid) > 1) x" % plain) == "0"
    # the durable queue's identifiers "<16 hex digits>-<seq>"
    assert rows(pg, uniq, "rid ~ '^[0-9a-f]{16}-[0-9]+$'") == n
    print("copies in the plain table: %d" % extra)


def test_without_durable_queue_every_loss_is_counted(pg):
    """No persistence and a queue of 300 events: the server is down during a
    storm of 2,000, so most events find the queue full. When it is back, the
    rows missing are exactly the events counted dropped, and the rest are
    all there."""
    n = 2000
    tbl = table(pg)
    with Broker(config=config(pg, tbl, extra="    max_buffer_messages 300\n")) as b:
        assert b.wait_log("connected", 20), b.logtext()
        pg.stop("fast")
        try:
            storm(b.port, n, parallel=20)
            st = sink_stats(b)
            assert st["pgsql.dropped.queue_full"] > 0, st
        finally:
            pg.start()
        st = drained(b)
        wait_until(lambda: distinct_ids(pg, tbl) >= st["pgsql.success"] or None, 30, "the rows")
        st = sink_stats(b)
        assert st["pgsql.matched"] == n and balanced(st, "pgsql"), st
        assert st["pgsql.failed"] == 0, st
        dropped = (st["pgsql.dropped.queue_full"] + st["pgsql.dropped.expired"] +
                   st["pgsql.dropped.other"])
        assert dropped > 0, st
    assert n - distinct_ids(pg, tbl) == dropped
    assert rows(pg, tbl) >= n - dropped


def test_pool_of_pipelined_connections(pg):
    """pool_size 3, inflight_window 2, batches of 20: a storm lands row for
    row over three connections, and ${idempotency_key} without a durable
    queue gives every event its own stable key (ON CONFLICT keeps one row
    each)."""
    n = 2000
    tbl = table(pg, KEYED_UNIQUE)
    extra = "    pool_size 3\n    inflight_window 2\n    batch_size 20\n"
    with Broker(config=config(pg, tbl, extra=extra, sql=ON_CONFLICT % tbl)) as b:
        wait_until(lambda: pg.psql("SELECT count(*) FROM pg_stat_activity "
                                   "WHERE application_name = 'mqttrule'") == "3", 30,
                   "three connections")
        storm(b.port, n)
        wait_until(lambda: rows(pg, tbl) >= n, 90, "%d rows" % n)
        st = drained(b)
        assert st["pgsql.success"] == n and st["pgsql.failed"] == 0, st
        assert balanced(st, "pgsql"), st
    assert rows(pg, tbl) == n and distinct_ids(pg, tbl) == n
    assert rows(pg, tbl, "rid ~ '^[0-9a-f]{16}-m[0-9]+$'") == n


def test_pool_and_window_options_are_checked(pg, tmp_path):
    for opt, msg in (("inflight_window 0", "inflight_window must be a number in 1..1024, not '0'"),
                     ("pool_size 65", "pool_size must be a number in 1..64, not '65'")):
        conf = tmp_path / "bad.conf"
        conf.write_text(config(pg, "t", extra="    %s\n" % opt))
        r = run_broker("-c", str(conf))
        assert r.returncode != 0, r.stdout + r.stderr
        assert "bad.conf:11: action pgsql: %s" % msg in r.stderr + r.stdout, r.stderr
