#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The cost of mqttrule-broker's retained store as it grows (issue #14.3).

For each N (default 10,000, 20,000 and 40,000) a fresh broker is started and
one client stores N retained messages on distinct topics ("bench/<i>/v",
pipelined, then a PINGREQ to wait for the last); the broker's CPU time for
that (user + system, /proc/PID/stat) is printed with the time per message.
With 60,000 held, 2,000 SUBSCRIBEs to exact topics and one "bench/+/v" then
show what matching costs. A store that scans itself per message grows
quadratically (0.14 / 0.37 / 1.89 s for 10k / 20k / 40k before the trie);
an index keeps the time per message flat.

Usage: tests/bench/retained_store.py [N ...]   (MQR_BUILD_DIR names the build)
Prints numbers; asserts nothing.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from broker_util import (Broker, cpu_seconds, publish_bytes, raw_connect,  # noqa: E402
                         subscribe_bytes)

CONF = "max_retained_messages 0\nmax_retained_bytes 0\nmax_subscriptions 0\n"


def store(b, n, start=0):
    r, ack = raw_connect(b.port, clientid="storer%d" % start)
    chunk = bytearray()
    for i in range(start, start + n):
        chunk += publish_bytes("bench/%d/v" % i, b"retained payload %d" % i, retain=True)
        if len(chunk) > 65536:
            r.send(bytes(chunk))
            chunk.clear()
    r.send(bytes(chunk) + b"\xc0\x00")
    pkt = r.read_packet(timeout=600)
    assert pkt == (0xD0, b""), pkt
    r.close()


def one(n):
    with Broker(config=CONF) as b:
        c0 = cpu_seconds(b.proc.pid)
        store(b, n)
        used = cpu_seconds(b.proc.pid) - c0
    print("store %6d retained: %6.3f s broker CPU, %5.2f us per message" % (n, used,
                                                                          used * 1e6 / n))
    return used


def matching(held=60000, subs=2000):
    with Broker(config=CONF) as b:
        store(b, held)
        r, ack = raw_connect(b.port, clientid="subscriber")
        c0, t0 = cpu_seconds(b.proc.pid), time.monotonic()
        for i in range(subs):
            r.send(subscribe_bytes(i % 65535 + 1, [("bench/%d/v" % (i * 7 % held), 0)]))
        r.send(b"\xc0\x00")
        got = 0
        while True:
            first, body = r.read_packet(timeout=600)
            if first == 0xD0:
                break
            got += first >> 4 == 3
        used = cpu_seconds(b.proc.pid) - c0
        print("%d SUBSCRIBEs to exact topics with %d held: %d messages, %.3f s broker CPU "
              "(%.1f us each), %.3f s wall" % (subs, held, got, used, used * 1e6 / subs,
                                                time.monotonic() - t0))
        c0 = cpu_seconds(b.proc.pid)
        r.send(subscribe_bytes(1, [("bench/+/v", 0)]) + b"\xc0\x00")
        got = 0
        while True:
            first, body = r.read_packet(timeout=600)
            if first == 0xD0:
                break
            got += first >> 4 == 3
        print("one SUBSCRIBE bench/+/v with %d held: %d messages, %.3f s broker CPU" %
              (held, got, cpu_seconds(b.proc.pid) - c0))
        r.close()


def main():
    ns = [int(a) for a in sys.argv[1:]] or [10000, 20000, 40000]
    times = [one(n) for n in ns]
    if len(ns) > 1 and times[0] > 0:
        print("growth %dx messages -> %.1fx CPU (linear: %.1fx)" % (
            ns[-1] // ns[0], times[-1] / times[0], ns[-1] / ns[0]))
    matching()


if __name__ == "__main__":
    main()
