# SPDX-License-Identifier: MIT
"""The Kafka sink in mqttrule-broker (`action kafka`) against librdkafka's
mock cluster (three brokers on real ports, tests/support/kafka_mock) with
kcat as the independent consumer: every event of a storm consumed once,
keyed by client id, with the templated header and the output as the value;
a broker taken down and brought back in the middle of a storm loses
nothing; two broker instances feeding one cluster (scale-out); a topic that
does not exist counted failed with a clear error while the broker keeps
serving; properties passed through; the connector test. With the
durable queue: every mock broker down, the broker killed with SIGKILL while
the events wait, restarted, the cluster back: every event consumed once,
with its stable ${idempotency_key} header."""
import json
import signal
import threading
import time

import pytest

import kafka_util
from broker_util import Broker, free_port, raw_connect, run_broker
from sink_util import CONNACK_SQL, balanced, have_sink, sink_stats, storm, wait_until

pytestmark = pytest.mark.skipif(not (have_sink("kafka") and kafka_util.available()),
                                reason="Kafka sink, kafka_mock or kcat not built/installed")


@pytest.fixture
def kafka():
    k = kafka_util.KafkaMock(3)
    yield k
    k.close()


def config(bootstrap, topic="connack-events", extra=""):
    return ("max_clientid_len 65535\n"
            "rule audit\n"
            "  sql %s\n"
            "  action kafka\n"
            "    bootstrap_hosts %s\n"
            "    topic %s\n"
            "    key ${clientid}\n"
            "    value ${.}\n"
            "    header reason ${reason_code}\n"
            "    property linger.ms 5\n"
            "%s"
            "  end\n"
            "end\n" % (CONNACK_SQL, bootstrap, topic, extra))


def keys(kafka, topic="connack-events"):
    return [k for k in kafka.consume(topic).splitlines() if k]


def drained(b, total):
    st = sink_stats(b)
    if st["kafka.success"] + st["kafka.failed"] >= total and st["kafka.inflight"] == 0:
        return st
    return None


def test_storm_consumed_once_keyed_by_client_id(kafka):
    kafka.command("topic connack-events 6")
    with Broker(config=config(kafka.bootstrap)) as b:
        storm(b.port, 5000)
        st = wait_until(lambda: drained(b, 5000), 60, "5000 deliveries")
        assert st["kafka.success"] == 5000 and st["kafka.failed"] == 0, st
        assert balanced(st, "kafka"), st
    got = keys(kafka)
    assert len(got) == 5000 and len(set(got)) == 5000
    assert all(k.startswith("bench-") for k in got)
    # the value is the output as JSON, the header is rendered per message
    one = kafka.consume("connack-events", fmt="%k\\t%h\\t%s\\n").splitlines()[0]
    key, headers, value = one.split("\t", 2)
    out = json.loads(value)
    assert out["clientid"] == key and out["reason_code"] == "connection_accepted"
    assert "reason=connection_accepted" in headers


def test_broker_down_and_up_loses_nothing(kafka):
    kafka.command("topic connack-events 3")
    with Broker(config=config(kafka.bootstrap)) as b:
        done = []
        t = threading.Thread(target=lambda: done.append(storm(b.port, 4000, parallel=20)))
        t.start()
        wait_until(lambda: sink_stats(b)["kafka.success"] >= 300, 60, "the first deliveries")
        kafka.command("down 1")
        time.sleep(2.0)
        kafka.command("up 1")
        t.join(180)
        assert done
        st = wait_until(lambda: drained(b, 4000), 90, "4000 deliveries")
        assert st["kafka.success"] == 4000, st
        assert st["kafka.failed"] + st["kafka.dropped.expired"] == 0, st
    got = keys(kafka)
    assert len(set(got)) == 4000
    assert len(got) == 4000  # idempotent producer: no duplicates either


def test_two_brokers_feed_one_cluster(kafka):
    kafka.command("topic connack-events 6")
    with Broker(config=config(kafka.bootstrap)) as b1, \
            Broker(config=config(kafka.bootstrap)) as b2:
        outs = []
        ts = [threading.Thread(target=lambda p=p: outs.append(storm(p, 2500)))
              for p in (b1.port, b2.port)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(180)
        assert len(outs) == 2
        wait_until(lambda: drained(b1, 2500), 60, "broker 1's deliveries")
        wait_until(lambda: drained(b2, 2500), 60, "broker 2's deliveries")
    got = keys(kafka)
    assert len(got) == 5000 and len(set(got)) == 5000
    # the two storms came from two bench processes: two prefixes
    assert len({k.split("-")[1] for k in got}) == 2


def test_missing_topic_is_counted_and_broker_keeps_serving(kafka):
    kafka.command("error missing-topic 3")  # UNKNOWN_TOPIC_OR_PARTITION
    extra = ("    property topic.metadata.propagation.max.ms 500\n"
             "    property message.timeout.ms 3000\n"
             "    request_ttl 4s\n")
    with Broker(config=config(kafka.bootstrap, topic="missing-topic", extra=extra)) as b:
        storm(b.port, 50)
        st = wait_until(lambda: (lambda s: s if s["kafka.failed"] + s["kafka.dropped.expired"]
                                 >= 50 else None)(sink_stats(b)), 60, "50 failed")
        assert st["kafka.success"] == 0 and balanced(st, "kafka"), st
        assert "missing-topic" in b.logtext() and "Unknown topic" in b.logtext()
        r, ack = raw_connect(b.port, clientid="still-serving")
        assert ack is not None and ack[1][1] == 0
        r.close()


def test_connector_test_and_bad_property(kafka, tmp_path):
    kafka.command("topic connack-events 1")
    ok = tmp_path / "ok.conf"
    ok.write_text(config(kafka.bootstrap))
    r = run_broker("-c", str(ok), "--test-connectors")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok      rule audit: kafka" in r.stdout
    down = tmp_path / "down.conf"
    down.write_text(config("127.0.0.1:%d" % free_port()))
    r = run_broker("-c", str(down), "--test-connectors", timeout=30)
    assert r.returncode != 0 and "FAILED  rule audit: kafka" in r.stdout, r.stdout
    bad = tmp_path / "bad.conf"
    bad.write_text(config(kafka.bootstrap, extra="    property no.such.property 1\n"))
    r = run_broker("-c", str(bad))
    assert r.returncode != 0
    assert "bad.conf:11: action kafka: kafka: property no.such.property" in r.stderr, r.stderr


def test_topic_is_a_template(kafka):
    with Broker(config=config(kafka.bootstrap, topic="audit-${reason_code}")) as b:
        for cid in ("t1", "t2", "t3"):
            r, ack = raw_connect(b.port, clientid=cid)
            r.close()
        wait_until(lambda: drained(b, 3), 60, "3 deliveries")
    assert sorted(keys(kafka, "audit-connection_accepted")) == ["t1", "t2", "t3"]


def test_durable_queue_survives_cluster_down_and_kill_9(kafka, tmp_path):
    """persistence true: a first storm is delivered, the three brokers of
    the cluster go down, a second storm waits (handed to the producer, and
    in the durable queue), the broker is killed with SIGKILL, restarted on
    the same directory, the cluster comes back: every event of both storms
    is consumed, keyed by client id, each with one ${idempotency_key}
    header value, and none twice (nothing reached the cluster unacknowledged:
    it was down at the kill)."""
    first, n = 500, 3000
    kafka.command("topic connack-events 3")
    extra = "    header rid ${idempotency_key}\n    request_ttl 600s\n"
    conf = ("persistence true\npersistence_location %s\n" % tmp_path +
            config(kafka.bootstrap, extra=extra))
    port = free_port()
    b = Broker(config=conf, port=port)
    try:
        storm(port, first)
        wait_until(lambda: drained(b, first), 60, "the first storm's deliveries")
        for i in (1, 2, 3):
            kafka.command("down %d" % i)
        storm(port, n, parallel=20)
        st = wait_until(lambda: (lambda s: s if s["kafka.matched"] == first + n else None)(
            sink_stats(b)), 30, "every event matched")
        assert st["kafka.success"] < first + n, st
        assert st["kafka.queuing"] + st["kafka.inflight"] > 0, st
    finally:
        b.stop(signal.SIGKILL)
    with Broker(config=conf, port=port) as b2:
        assert b2.wait_log("queued event(s) replayed", 20), b2.logtext()
        for i in (1, 2, 3):
            kafka.command("up %d" % i)
        st = wait_until(lambda: (lambda s: s if s["kafka.queuing"] + s["kafka.inflight"] == 0
                                 else None)(sink_stats(b2)), 120, "an empty queue")
        assert st["kafka.failed"] + st["kafka.dropped.expired"] == 0, st
    lines = [l for l in kafka.consume("connack-events", fmt="%k\\t%h\\n").splitlines() if l]
    rids = {}
    for l in lines:
        key, headers = l.split("\t", 1)
        rid = dict(h.split("=", 1) for h in headers.split(","))["rid"]
        rids.setdefault(key, set()).add(rid)
    copies = len(lines) - len(rids)
    assert len(rids) == first + n, "%d of %d client ids consumed" % (len(rids), first + n)
    # a copy would be an event the cluster took without its acknowledgement
    # reaching the broker before the kill: none, the cluster was down
    assert copies == 0, copies
    assert all(len(r) == 1 for r in rids.values())  # a copy has its event's key
    print("copies: %d" % copies)
