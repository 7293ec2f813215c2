#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mqttrule-broker against mosquitto, side by side, with mqttrule-bench.

Starts mosquitto (`mosquitto -c CONF`) and mqttrule-broker on free ports of
127.0.0.1 with the same limits, runs the same loads against both, alternating
which goes first, for several rounds, and prints every figure with the ratio
mqttrule / mosquitto (the median over the rounds in the summary):

  1. connection storm; mqttrule runs the source document's rule and
     republishes every CONNACK event to a subscriber that the storm waits for,
     mosquitto runs plain;
  2. the same storm with the rule's HTTP action POSTing every event to a local
     keep-alive HTTP server (tests/bench/http_sink.c, compiled with cc; an
     asyncio server in this process without a compiler); the figure counts
     until the server has received every event; "2p" is that storm again with
     persistence on both sides: mosquitto `persistence true`, mqttrule-broker
     `persistence true` with `persistence_sync 100` (every event written to
     the action's durable queue before it is sent, fsync every 100 ms);
     then (2a-2c) with each sink
     the build has writing every event to SQLite, PostgreSQL or Kafka
     (tests/bench/sink_loads.py; --sinks), counted until the sink confirmed
     every event;
  3. QoS 0 and QoS 1 throughput, 1 -> 1, for several payload sizes;
  4. fan-out 1 -> 100 subscribers, QoS 0;
  5. resident memory of the broker process (VmRSS from /proc/PID/status)
     before and after 10,000 idle connections;
  6. over TLS (both brokers with the same certificates, made with openssl for
     the run; every connection a full handshake, TLS 1.3): the connection
     storm of load 1, mqttrule running the rule and republishing;
  7. QoS 0 throughput 1 -> 1, 64 B, over TLS;
  8. resident memory per idle TLS connection, as load 5.

mqttrule-broker runs twice in loads 1-4: with its default configuration
("mqttrule") and with `busy_poll_us` (--busy-poll-us, default 300;
"mqttrule-bp"), which keeps the broker polling briefly after a busy round so
that the load generator does not pay for waking it. 0 leaves that column out.

Both brokers get: max 32 QoS 1/2 messages in flight per client, 1000 queued
messages per client, no connection limit, TCP_NODELAY, no persistence, little
logging. The load generator closes its loop (at most --window messages ahead
of the subscribers, 16 unacknowledged per publisher), so neither broker has to
drop or queue without bound.

--admin idle gives every mqttrule-broker an admin HTTP listener that nobody
queries; --admin scrape also GETs its Prometheus endpoint once a second for
the whole run (a Prometheus server's scrape), to show what either costs.

Usage: tests/bench/side_by_side.py [--build DIR] [--rounds N] [--quick] [--tls-only]
                                   [--no-tls] [--busy-poll-us N] [--admin off|idle|scrape]
                                   [--json FILE] [--plots DIR]
The build directory must hold examples/bench/mqttrule-bench and
examples/broker/mqttrule-broker (a RelWithDebInfo or Release build). Takes a
few minutes; every process it starts is stopped on exit.
"""
import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import sink_loads

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from tls_util import broker_has_tls_at, make_certs  # noqa: E402  (the test suite's PKI)

MQR_KINDS = ("mqttrule", "mqttrule-bp")
RULE_SQL = 'SELECT clientid, username, reason_code, timestamp FROM "$events/client_connack"'
LIMITS_MOSQUITTO = """\
max_inflight_messages 32
max_queued_messages 1000
max_connections -1
set_tcp_nodelay true
persistence false
log_dest stderr
log_type error
log_type warning
"""
LIMITS_MQTTRULE = """\
max_inflight 32
max_queued 1000
max_packet_size 1048576
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


class Broker:
    """mosquitto or mqttrule-broker on a free port with a generated config."""

    def __init__(self, kind, build, tmp, extra="", busy_poll_us=0, certs=None, admin=False):
        """certs: also a TLS listener (self.tls_port) with these certificates."""
        self.kind = kind
        self.port = free_port()
        self.tls_port = free_port() if certs else None
        self.admin_port = None
        if admin and kind != "mosquitto":
            self.admin_port = free_port()
            extra += "admin_listener %d 127.0.0.1\n" % self.admin_port
        conf = os.path.join(tmp, "%s-%d.conf" % (kind, self.port))
        tls = ""
        if certs:  # the same directive names in both brokers
            tls = "listener %d 127.0.0.1\ncertfile %s\nkeyfile %s\n" % (
                self.tls_port, certs["server"], certs["server_key"])
        if kind == "mosquitto":
            text = "listener %d 127.0.0.1\n%sallow_anonymous true\n%s%s" % (
                self.port, tls, LIMITS_MOSQUITTO, extra)
            if os.geteuid() == 0:
                text += "user root\n"
            argv = [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", conf]
        else:
            text = "listener %d 127.0.0.1\n%s%s%s" % (self.port, tls, LIMITS_MQTTRULE, extra)
            if kind == "mqttrule-bp":
                text += "busy_poll_us %d\n" % busy_poll_us
            argv = [os.path.join(build, "examples", "broker", "mqttrule-broker"), "-c", conf]
        with open(conf, "w") as f:
            f.write(text)
        self.log = open(conf + ".log", "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 5
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited: %s" % (kind, open(conf + ".log").read()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("%s did not listen" % kind)
                time.sleep(0.02)

    def rss(self):
        return rss_kib(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Scraper(threading.Thread):
    """GETs /api/v5/prometheus/stats of every broker with an admin listener
    once a second, as a Prometheus server would, until stopped."""

    def __init__(self, brokers):
        super().__init__(daemon=True)
        self.brokers = [b for b in brokers if b.admin_port]
        self.halt = threading.Event()
        self.scrapes = self.failures = 0

    def run(self):
        import urllib.request
        while not self.halt.wait(1.0):
            for b in self.brokers:
                try:
                    url = "http://127.0.0.1:%d/api/v5/prometheus/stats" % b.admin_port
                    urllib.request.urlopen(url, timeout=5).read()
                    self.scrapes += 1
                except OSError:
                    self.failures += 1

    def stop(self):
        self.halt.set()
        self.join()


class HttpSink:
    """A keep-alive HTTP/1.1 server on 127.0.0.1 that answers every request
    with 200 and counts them; runs an asyncio loop in a daemon thread."""

    RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"

    def __init__(self):
        self.count = 0
        self.last = 0.0
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self.thread.start()
        started.wait(5)

    def _run(self, started):
        sink = self

        class Proto(asyncio.Protocol):
            def connection_made(self, transport):
                self.t = transport
                self.buf = b""

            def data_received(self, data):
                self.buf += data
                out = []
                while True:
                    end = self.buf.find(b"\r\n\r\n")
                    if end < 0:
                        break
                    head = self.buf[:end].lower()
                    length = 0
                    i = head.find(b"content-length:")
                    if i >= 0:
                        j = head.find(b"\r\n", i)
                        length = int(head[i + 15:j if j >= 0 else len(head)])
                    if len(self.buf) < end + 4 + length:
                        break
                    self.buf = self.buf[end + 4 + length:]
                    out.append(HttpSink.RESPONSE)
                if out:
                    sink.count += len(out)
                    sink.last = time.monotonic()
                    self.t.write(b"".join(out))

        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            self.loop.create_server(Proto, "127.0.0.1", self.port, backlog=1024))
        started.set()
        self.loop.run_forever()
        server.close()

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class CHttpSink:
    """tests/bench/http_sink.c compiled with the system's cc: the same
    interface as HttpSink, faster, so the server is not the bottleneck."""

    def __init__(self, exe):
        self.port = free_port()
        self.proc = subprocess.Popen([exe, str(self.port)], stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("http_sink did not start")

    def _query(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"GET /count HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data or not data.split(b"\r\n\r\n", 1)[1]:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        count, last = data.split(b"\r\n\r\n", 1)[1].split()
        return int(count), float(last)

    @property
    def count(self):
        return self._query()[0]

    @property
    def last(self):
        return self._query()[1]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(5)
        self.proc.stdout.close()


def build_http_sink(tmp):
    """Compile http_sink.c into tmp; None when there is no C compiler."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if not cc:
        return None
    exe = os.path.join(tmp, "http_sink")
    src = os.path.join(ROOT, "tests", "bench", "http_sink.c")
    if subprocess.run([cc, "-O2", "-o", exe, src]).returncode != 0:
        return None
    return exe


class SideBySide:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.bench = os.path.join(self.build, "examples", "bench", "mqttrule-bench")
        self.tmp = tempfile.mkdtemp(prefix="mqr-side-")
        self.results = []  # {"test", "broker", "round", "value", "unit", "raw"}
        self.live = []
        self.sink_exe = build_http_sink(self.tmp)
        self.certs = None
        broker = os.path.join(self.build, "examples", "broker", "mqttrule-broker")
        if not args.no_tls and not broker_has_tls_at(broker):
            print("no TLS loads: mqttrule-broker was built without OpenSSL", file=sys.stderr)
        elif not args.no_tls:
            d = os.path.join(self.tmp, "pki")
            os.makedirs(d)
            self.certs = make_certs(d)

    # ---- helpers ------------------------------------------------------------------

    def start(self, kind, extra="", tls=False):
        b = Broker(kind, self.build, self.tmp, extra, self.args.busy_poll_us,
                   self.certs if tls else None, self.args.admin != "off")
        self.live.append(b)
        return b

    def stop(self, b):
        b.stop()
        self.live.remove(b)

    def run_bench(self, port, *args, timeout=120):
        argv = [self.bench, *args, "-p", str(port), "--json", "-d", str(timeout - 10)]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if not p.stdout.strip():
            raise RuntimeError("mqttrule-bench failed: %s" % p.stderr)
        r = json.loads(p.stdout.strip().splitlines()[-1])
        if not r["ok"]:
            print("    warning: %s" % json.dumps(r), file=sys.stderr)
        return r

    def record(self, test, broker, rnd, value, unit, raw):
        self.results.append({"test": test, "broker": broker, "round": rnd, "value": value,
                             "unit": unit, "raw": raw})

    def kinds(self):
        """The brokers of loads 1-4: mosquitto first, then the mqttrule columns."""
        return ["mosquitto", "mqttrule"] + (["mqttrule-bp"] if self.args.busy_poll_us else [])

    def show(self, test, rnd, unit):
        vals = {r["broker"]: r["value"] for r in self.results
                if r["test"] == test and r["round"] == rnd}
        mo = vals.get("mosquitto")
        line = "  round %d  %-34s mosquitto %12.1f" % (rnd, test, mo or 0)
        for kind in MQR_KINDS:
            if kind in vals:
                line += "  %s %12.1f (%.2f)" % (kind, vals[kind], vals[kind] / mo if mo else float("nan"))
        print(line + "  " + unit, flush=True)

    def order(self, rnd, kinds=None):
        """kinds rotated by the round, so that each broker takes each slot in turn"""
        kinds = kinds or self.kinds()
        k = rnd % len(kinds)
        return kinds[k:] + kinds[:k]

    # ---- the loads -----------------------------------------------------------------------

    def storm(self, rnd, brokers):
        n = str(self.args.storm)
        for kind in self.order(rnd):
            b = brokers[kind]
            extra = ["-e", "client_connack"] if kind in MQR_KINDS else []
            r = self.run_bench(b.port, "conn", "-c", n, "-P", "50", *extra)
            self.record("1 storm (+rule, republish)", kind, rnd, r["connections_per_s"],
                        "conn/s", r)
        self.show("1 storm (+rule, republish)", rnd, "conn/s")

    def storm_http(self, rnd, brokers, persist=False):
        n = self.args.storm
        test = "2p storm (+rule, HTTP, persistence)" if persist else "2 storm (+rule, HTTP)"
        sink = CHttpSink(self.sink_exe) if self.sink_exe else HttpSink()
        rule = "rule connack_http\n  sql %s\n  http http://127.0.0.1:%d/connack\nend\n" % (
            RULE_SQL, sink.port)
        pdirs = {}
        if persist:
            for kind in self.kinds():
                pdirs[kind] = tempfile.mkdtemp(prefix="persist-%s-" % kind, dir=self.tmp)
        mq = {kind: self.start(kind, rule + (
                  "persistence true\npersistence_location %s\npersistence_sync 100\n"
                  % pdirs[kind] if persist else ""))
              for kind in self.kinds() if kind in MQR_KINDS}
        if persist:
            mq["mosquitto"] = self.start("mosquitto", "persistence true\npersistence_location %s/\n"
                                         % pdirs["mosquitto"])
        try:
            for kind in self.order(rnd):
                if kind == "mosquitto":
                    b = mq["mosquitto"] if persist else brokers[kind]
                    r = self.run_bench(b.port, "conn", "-c", str(n), "-P", "50")
                    self.record(test, kind, rnd, r["connections_per_s"], "conn/s", r)
                    continue
                before = sink.count
                t0 = time.monotonic()
                r = self.run_bench(mq[kind].port, "conn", "-c", str(n), "-P", "50")
                deadline = time.monotonic() + 30
                while sink.count - before < r["connected"] and time.monotonic() < deadline:
                    time.sleep(0.01)
                got = sink.count - before
                span = max(sink.last, t0 + r["elapsed_s"]) - t0
                r["http_requests"] = got
                r["http_span_s"] = span
                # connections per second until the last event reached the HTTP server
                rate = min(r["connections_per_s"], got / span if span > 0 else 0)
                if got < r["connected"]:
                    print("    warning: HTTP server got %d of %d events" % (got, r["connected"]),
                          file=sys.stderr)
                self.record(test, kind, rnd, rate, "conn/s", r)
        finally:
            for b in mq.values():
                self.stop(b)
            sink.stop()
        self.show(test, rnd, "conn/s")

    def throughput(self, rnd, brokers):
        for qos in (0, 1):
            for size in self.args.sizes:
                test = "3 QoS %d 1->1 %5d B" % (qos, size)
                n = self.args.messages if qos == 0 else self.args.messages // 2
                for kind in self.order(rnd):
                    r = self.run_bench(brokers[kind].port, "pubsub", "-q", str(qos), "-s",
                                       str(size), "-n", str(n))
                    self.record(test, kind, rnd, r["received_per_s"], "msg/s", r)
                self.show(test, rnd, "msg/s")

    def fanout(self, rnd, brokers):
        test = "4 fan-out 1->100 QoS 0 64 B"
        for kind in self.order(rnd):
            r = self.run_bench(brokers[kind].port, "pubsub", "-q", "0", "-s", "64", "-n",
                               str(self.args.fanout), "--subs", "100", "-w", "200")
            self.record(test, kind, rnd, r["received_per_s"], "msg/s", r)
        self.show(test, rnd, "msg/s")

    def memory(self, rnd, tls=False):
        test = "8 RSS per idle TLS connection" if tls else "5 RSS per idle connection"
        n = self.args.idle
        for kind in self.order(rnd, ["mosquitto", "mqttrule"]):
            b = self.start(kind, tls=tls)
            try:
                time.sleep(0.3)
                before = b.rss()
                argv = [self.bench, "idle", "-p", str(b.tls_port if tls else b.port), "-c", str(n),
                        "-P", "100", "--json", "-d", "120"]
                if tls:
                    argv += ["--tls", "--cafile", self.certs["ca"]]
                p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
                try:
                    line = p.stdout.readline()
                    r = json.loads(line)
                    time.sleep(1.5 if tls else 0.5)  # TLS: a second for heap trimming
                    after = b.rss()
                finally:
                    p.send_signal(signal.SIGTERM)
                    p.wait(30)
                r.update({"rss_before_kib": before, "rss_after_kib": after})
                per = (after - before) * 1024.0 / max(1, r["connected"])
                self.record(test, kind, rnd, per, "B/conn", r)
            finally:
                self.stop(b)
        self.show(test, rnd, "B/conn")

    def tls_loads(self, rnd):
        """Loads 6-8 over TLS: mosquitto and mqttrule (default configuration)
        with the same certificates; the bench verifies the server with the CA."""
        tls = ["--tls", "--cafile", self.certs["ca"]]
        rule = ("rule connack_to_topic\n  sql %s\n  republish client_connack\nend\n" % RULE_SQL)
        kinds = self.order(rnd, ["mosquitto", "mqttrule"])
        brokers = {k: self.start(k, "" if k == "mosquitto" else rule, tls=True) for k in kinds}
        try:
            test = "6 TLS storm (+rule, republish)"
            for kind in kinds:
                extra = ["-e", "client_connack"] if kind in MQR_KINDS else []
                r = self.run_bench(brokers[kind].tls_port, "conn", "-c", str(self.args.tls_storm),
                                   "-P", "50", *tls, *extra)
                self.record(test, kind, rnd, r["connections_per_s"], "conn/s", r)
            self.show(test, rnd, "conn/s")
            test = "7 TLS QoS 0 1->1    64 B"
            for kind in kinds:
                r = self.run_bench(brokers[kind].tls_port, "pubsub", "-q", "0", "-s", "64", "-n",
                                   str(self.args.messages), *tls)
                self.record(test, kind, rnd, r["received_per_s"], "msg/s", r)
            self.show(test, rnd, "msg/s")
        finally:
            for b in brokers.values():
                self.stop(b)
        self.memory(rnd, tls=True)

    # ---- driver ---------------------------------------------------------------------

    def run(self):
        limit = raise_nofile(self.args.idle + 2000)
        if limit < self.args.idle + 100:
            sys.exit("need %d descriptors, the hard limit allows %d" % (self.args.idle + 100, limit))
        version = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True).stdout
        print("mosquitto: %s" % version.splitlines()[0])
        print("HTTP server: %s" % ("tests/bench/http_sink.c" if self.sink_exe else "Python asyncio"))
        print("machine: %s, %d CPUs, load %s" % (cpu_model(), os.cpu_count(),
                                                 " ".join("%.1f" % x for x in os.getloadavg())))
        sinks = [k for k in self.args.sinks.split(",") if k in sink_loads.available(self.build)]
        self.sink_targets = {k: sink_loads.SinkTarget(k, self) for k in sinks}
        for rnd in range(1, self.args.rounds + 1):
            print("round %d" % rnd, flush=True)
            if self.certs:
                self.tls_loads(rnd)
            if self.args.tls_only:
                continue
            rule = ("rule connack_to_topic\n  sql %s\n  republish client_connack\nend\n" %
                    RULE_SQL)
            brokers = {kind: self.start(kind, "" if kind == "mosquitto" else rule)
                       for kind in self.kinds()}
            scraper = Scraper(brokers.values()) if self.args.admin == "scrape" else None
            if scraper:
                scraper.start()
            try:
                self.storm(rnd, brokers)
                self.storm_http(rnd, brokers)
                self.storm_http(rnd, brokers, persist=True)
                sink_loads.storm_sinks(self, rnd, brokers, self.sink_targets)
                self.throughput(rnd, brokers)
                self.fanout(rnd, brokers)
            finally:
                if scraper:
                    scraper.stop()
                    print("  Prometheus scrapes: %d, failed: %d" % (scraper.scrapes, scraper.failures))
                for b in brokers.values():
                    self.stop(b)
            self.memory(rnd)
        return self.summary()

    def summary(self):
        tests = []
        for r in self.results:
            if r["test"] not in tests:
                tests.append(r["test"])
        kinds = [k for k in MQR_KINDS if any(r["broker"] == k for r in self.results)]
        rows = []
        print("\nmedian of %d rounds; ratio: of the medians; rounds: median of the round ratios"
              % self.args.rounds)
        print("| test | unit | mosquitto | %s |" % " | ".join(
            "%s | ratio | rounds" % k for k in kinds))
        print("|---|---|---:|%s" % ("---:|---:|---:|" * len(kinds)))
        for t in tests:
            med = {}
            for kind in ["mosquitto"] + kinds:
                vals = [r["value"] for r in self.results if r["test"] == t and r["broker"] == kind]
                med[kind] = statistics.median(vals) if vals else float("nan")
            unit = next(r["unit"] for r in self.results if r["test"] == t)
            row = {"test": t, "unit": unit, "mosquitto": med["mosquitto"]}
            cells = []
            for kind in kinds:
                mo = med["mosquitto"]
                ratio = med[kind] / mo if mo else float("nan")
                rounds = round_ratios(self.results, t, kind)
                rr = statistics.median(rounds) if rounds else float("nan")
                suffix = "" if kind == "mqttrule" else "_bp"
                row.update({"mqttrule" + suffix: med[kind], "ratio" + suffix: ratio,
                            "round_ratio" + suffix: rr})
                cells.append("%.0f | %.2f | %.2f" % (med[kind], ratio, rr))
            rows.append(row)
            print("| %s | %s | %.0f | %s |" % (t.strip(), unit, med["mosquitto"], " | ".join(cells)))
        return rows

    def cleanup(self):
        for b in list(self.live):
            b.stop()
        for t in getattr(self, "sink_targets", {}).values():
            t.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def round_ratios(results, test, kind="mqttrule"):
    """kind / mosquitto of each round that measured both."""
    by = {}
    for r in results:
        if r["test"] == test:
            by.setdefault(r["round"], {})[r["broker"]] = r["value"]
    return [v[kind] / v["mosquitto"] for v in by.values() if v.get("mosquitto") and kind in v]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def plot(doc, outdir):
    """Two PNGs with gnuplot from the results: throughput against payload size,
    connections per second."""
    os.makedirs(outdir, exist_ok=True)
    med = {(r["test"], r["broker"]): [] for r in doc["results"]}
    for r in doc["results"]:
        med[(r["test"], r["broker"])].append(r["value"])
    med = {k: statistics.median(v) for k, v in med.items()}
    with tempfile.TemporaryDirectory() as tmp:
        kinds = ["mosquitto", "mqttrule"] + (
            ["mqttrule-bp"] if any(r["broker"] == "mqttrule-bp" for r in doc["results"]) else [])
        tp = os.path.join(tmp, "throughput.dat")
        with open(tp, "w") as f:
            f.write("# size, then per QoS 0 and 1: %s\n" % " ".join(kinds))
            for size in doc["sizes"]:
                vals = [med.get(("3 QoS %d 1->1 %5d B" % (q, size), k), 0) / 1000.0
                        for q in (0, 1) for k in kinds]
                f.write("%d %s\n" % (size, " ".join("%.3f" % v for v in vals)))
        cp = os.path.join(tmp, "conn.dat")
        with open(cp, "w") as f:
            for i, (t, label) in enumerate((("1 storm (+rule, republish)", "storm + rule + republish"),
                                            ("2 storm (+rule, HTTP)", "storm + rule + HTTP"))):
                f.write('%d "%s" %s\n' % (i, label, " ".join(
                    "%.1f" % med.get((t, k), 0) for k in kinds)))
        names = {"mosquitto": "mosquitto", "mqttrule": "mqttrule-broker",
                 "mqttrule-bp": "mqttrule-broker busy\\_poll\\_us %d" % doc.get("busy_poll_us", 0)}
        nk = len(kinds)
        lines = []
        for q in (0, 1):
            for j, k in enumerate(kinds):
                lines.append("'{tp}' u 1:%d w lp lw 2 lc %d%s t '%s QoS %d'" % (
                    2 + q * nk + j, j + 1, " dt 2" if q else "", names[k], q))
        bars = ["'{cp}' u %d%s t '%s'" % (3 + j, ":xtic(2)" if j == 0 else "",
                                          names[k] + (" (plain)" if j == 0 else " (rule + action)"))
                for j, k in enumerate(kinds)]
        script = """
set terminal pngcairo size 800,560 font ",10"
set output '{out}/bench_throughput.png'
set title "1 -> 1 throughput against payload size (median of {rounds} rounds)"
set xlabel "payload (bytes)"; set ylabel "messages received per second (thousands, log scale)"
set logscale x 2; set logscale y; set grid; set key outside below; set yrange [*:*]
plot """ + ", \\\n     ".join(lines) + """
set output '{out}/bench_connections.png'
unset logscale x; unset logscale y
set title "Connection storm, {storm} connections, 50 in parallel (median of {rounds} rounds)"
set xlabel ""; set ylabel "connections per second"
set style data histogram; set style histogram cluster gap 1; set style fill solid 0.8 border -1
set boxwidth 0.9; set xtics nomirror; set key outside below; set yrange [0:*]
plot """ + ", ".join(bars) + """
"""
        script = script.format(out=outdir, tp=tp, cp=cp, rounds=doc["rounds"], storm=doc["storm"])
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    print("plots: %s/bench_throughput.png, %s/bench_connections.png" % (outdir, outdir))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"),
                    help="build tree with the two programs (default build-bench)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--storm", type=int, default=20000, help="connections per storm")
    ap.add_argument("--busy-poll-us", type=int, default=300,
                    help="busy_poll_us of the mqttrule-bp column (0: no such column)")
    ap.add_argument("--messages", type=int, default=200000, help="QoS 0 messages (QoS 1: half)")
    ap.add_argument("--sizes", default="16,64,256,1024,4096", help="payload sizes")
    ap.add_argument("--fanout", type=int, default=2000, help="fan-out messages (x100 deliveries)")
    ap.add_argument("--idle", type=int, default=10000, help="idle connections")
    ap.add_argument("--tls-storm", type=int, default=5000, help="connections per TLS storm")
    ap.add_argument("--no-tls", action="store_true", help="leave out the TLS loads 6-8")
    ap.add_argument("--tls-only", action="store_true", help="only the TLS loads 6-8")
    ap.add_argument("--quick", action="store_true", help="1 round of small loads")
    ap.add_argument("--sinks", default="sqlite,pgsql,kafka",
                    help="the sinks of loads 2a-2c (those the build has; '' for none)")
    ap.add_argument("--admin", choices=("off", "idle", "scrape"), default="off",
                    help="mqttrule-broker with an admin listener nobody queries (idle), or "
                         "scraped for Prometheus once a second (scrape)")
    ap.add_argument("--json", help="write every result to this file")
    ap.add_argument("--plots", help="write the gnuplot PNGs into this directory")
    ap.add_argument("--plot-only", help="only plot the results of this JSON file")
    args = ap.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]
    if args.plot_only:
        with open(args.plot_only) as f:
            plot(json.load(f), args.plots or ".")
        return 0
    if args.quick:
        args.rounds, args.storm, args.messages, args.fanout, args.idle = 1, 1000, 20000, 200, 1000
        args.tls_storm = 500
    sb = SideBySide(args)
    for prog in (sb.bench, os.path.join(sb.build, "examples", "broker", "mqttrule-broker")):
        if not os.access(prog, os.X_OK):
            sys.exit("%s not built (cmake --build %s)" % (prog, args.build))
    try:
        rows = sb.run()
    finally:
        sb.cleanup()
    doc = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpu": cpu_model(),
           "cpus": os.cpu_count(), "rounds": args.rounds, "storm": args.storm,
           "sizes": args.sizes, "messages": args.messages, "fanout": args.fanout,
           "tls_storm": args.tls_storm, "admin": args.admin,
           "idle": args.idle, "busy_poll_us": args.busy_poll_us, "summary": rows, "results": sb.results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
    if args.plots:
        plot(doc, args.plots)
    return 0


if __name__ == "__main__":
    sys.exit(main())
