#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What the admin HTTP listener costs mqttrule-broker.

1. CPU time (user + system, from /proc/PID/stat) the broker uses over
   --seconds of an otherwise idle run: without an admin listener, with one
   nobody queries, and with its Prometheus endpoint scraped once a second.
2. The time one Prometheus scrape and one diagnostics (live page) request
   take, with --rules rules and --clients connected clients, measured by the
   client over a kept-alive connection (median and 99th percentile of
   --requests requests).

Usage: tests/bench/admin_cost.py [--build DIR] [--seconds S] [--rules N]
                                 [--clients N] [--requests N]
"""
import argparse
import http.client
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def connect(port, cid):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    body = struct.pack(">H", 4) + b"MQTT" + bytes([4, 2]) + struct.pack(">H", 600)
    body += struct.pack(">H", len(cid)) + cid.encode()
    s.sendall(bytes([0x10, len(body)]) + body)
    assert s.recv(4) == b"\x20\x02\x00\x00"
    return s


class Broker:
    def __init__(self, build, admin, rules):
        self.port, self.admin = free_port(), (free_port() if admin else None)
        self.tmp = tempfile.TemporaryDirectory(prefix="mqr-admin-cost-")
        conf = os.path.join(self.tmp.name, "b.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\n" % self.port)
            if self.admin:
                f.write("admin_listener %d\n" % self.admin)
            for i in range(rules):
                f.write("rule r%d\n  sql SELECT clientid FROM \"$events/client_connack\" "
                        "WHERE clientid = 'c%d'\n  republish out/%d\nend\n" % (i, i, i))
        self.proc = subprocess.Popen([os.path.join(build, "examples", "broker", "mqttrule-broker"),
                                      "-c", conf], stderr=subprocess.DEVNULL)
        for _ in range(250):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("the broker did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.tmp.cleanup()


def idle_cpu(build, mode, seconds):
    b = Broker(build, mode != "off", 10)
    try:
        time.sleep(0.5)
        start = cpu_seconds(b.proc.pid)
        t_end = time.monotonic() + seconds
        conn = http.client.HTTPConnection("127.0.0.1", b.admin, timeout=5) if mode == "scrape" else None
        while time.monotonic() < t_end:
            if conn:
                conn.request("GET", "/api/v5/prometheus/stats")
                conn.getresponse().read()
            time.sleep(1.0)
        return cpu_seconds(b.proc.pid) - start
    finally:
        b.stop()


def request_times(build, rules, clients, n):
    b = Broker(build, True, rules)
    socks = []
    try:
        socks = [connect(b.port, "c%d" % i) for i in range(clients)]
        conn = http.client.HTTPConnection("127.0.0.1", b.admin, timeout=5)
        out = {}
        for path in ("/api/v5/prometheus/stats", "/api/v5/diagnostics"):
            times, size = [], 0
            for _ in range(n):
                t0 = time.perf_counter()
                conn.request("GET", path)
                size = len(conn.getresponse().read())
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            out[path] = (statistics.median(times), times[int(len(times) * 0.99) - 1], size)
        return out
    finally:
        for s in socks:
            s.close()
        b.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--rules", type=int, default=100)
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    print("machine: %d CPUs, load %s" % (os.cpu_count(), " ".join("%.1f" % x for x in os.getloadavg())))
    print("| broker over %.0f s idle | CPU ms |" % args.seconds)
    print("|---|---:|")
    for mode, name in (("off", "no admin listener"), ("idle", "admin listener, not queried"),
                       ("scrape", "admin listener, Prometheus scrape every 1 s")):
        print("| %s | %.0f |" % (name, idle_cpu(args.build, mode, args.seconds) * 1000), flush=True)
    res = request_times(args.build, args.rules, args.clients, args.requests)
    print("\n| request (%d rules, %d clients) | median ms | p99 ms | bytes |" % (args.rules, args.clients))
    print("|---|---:|---:|---:|")
    for path, (med, p99, size) in res.items():
        print("| GET %s | %.2f | %.2f | %d |" % (path, med, p99, size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
