# SPDX-License-Identifier: MIT
"""mqttrule-broker's persistence on a file system that fills up, and in a
directory that becomes read-only (issue 16's "full disk" and "read-only
directory" fault tests, on a real size-limited file system).

The test mounts a 256 KiB tmpfs as persistence_location (it needs root, as CI
runs; elsewhere it is skipped and says why). With the HTTP service down, a
storm's events fill it: the action's queue gets ENOSPC, says so once and
keeps the events in memory; retained messages published meanwhile cannot be
journaled, which the broker says once, going on with snapshots. The broker
keeps answering. When the service comes up every event arrives; the freed
space lets the queue and the journal return to disk, and after a kill -9 the
retained messages of the full period are there.
"""
import os
import signal
import subprocess
import time
import urllib.request

from prometheus_client import parser

import pytest

import test_persistence as tp  # its helpers; a module is not collected again
from broker_util import Broker, free_port
from conftest import wait_for

STORM = 3000  # ~110 bytes a record: 330 KB of queue, more than the file system holds
FS_SIZE = "256k"


def metrics(admin_port):
    """The admin listener's Prometheus samples: {sample name: value}, summed
    over labels (one rule, one action here)."""
    url = "http://127.0.0.1:%d/api/v5/prometheus/stats" % admin_port
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    out = {}
    for fam in parser.text_string_to_metric_families(text):
        for smp in fam.samples:
            out[smp.name] = out.get(smp.name, 0) + smp.value
    return out


@pytest.fixture
def small_fs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root (CI runs as root)")
    mnt = tmp_path / "fs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + FS_SIZE, "mqr-test", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + r.stderr.strip())
    try:
        yield str(mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_file_system_loses_nothing_and_says_so(small_fs):
    datadir = small_fs
    sport = free_port()
    svc = tp.Service(sport)
    admin = free_port()
    cfg = tp.broker_config(datadir, sport, "admin_listener %d\n" % admin)
    payload = "y" * 3000
    b = Broker(config=cfg)
    try:
        pub, _, _ = tp.connect5(b.port, "pub", clean=True, expiry=0)
        tp.publish_qos(pub, "r/before", "journaled", 1, 1, retain=True)
        tp.storm(b.port, STORM)
        assert b.wait_log("No space left on device", 20), b.logtext()
        assert b.wait_log("queue memory", 20), b.logtext()
        # 60 KB of retained messages while the file system is full
        for i in range(20):
            tp.publish_qos(pub, "r/full%02d" % i, payload + str(i), 1, 2 + i, retain=True)
        tp.ping(pub)
        assert b.wait_log("kept by snapshots alone", 20), b.logtext()
        assert b.proc.poll() is None
        log = b.logtext()
        assert log.count("kept by snapshots alone") == 1, log
        m = metrics(admin)  # ... and visible where operators look
        assert m["mqttrule_action_queue_on_disk"] == 0, m
        assert m["mqttrule_action_queue_memory_records_total"] > 0, m
        assert m["mqttrule_action_queue_write_errors_total"] >= 1, m
        assert m["mqttrule_action_queue_records"] == STORM + 1, m
        assert m["mqttrule_persistence_journal_up"] == 0, m
        assert m["mqttrule_persistence_journal_errors_total"] >= 1, m
        wait_for(lambda: metrics(admin)["mqttrule_persistence_snapshot_errors_total"] >= 1, 10,
                 "a failed snapshot counted")

        svc.start()
        n = STORM + 1  # the storm's CONNACK events and pub's
        wait_for(lambda: svc.unique()[1] >= n, 60, "every event at the service")
        keys, clientids, total = svc.unique()
        assert clientids == n and keys == n, (keys, clientids, total)
        # the acknowledged segments are deleted: the queue and the journal go back to disk
        assert b.wait_log("queue ok", 30), b.logtext()
        assert b.wait_log("broker.journal written again", 30), b.logtext()
        assert b.wait_log("broker.db written again after", 30), b.logtext()
        log = b.logtext()
        assert log.count("broker.db.tmp: No space left on device") == 1, log  # once, not per try
        m = metrics(admin)
        assert m["mqttrule_action_queue_on_disk"] == 1, m
        assert m["mqttrule_action_queue_records"] == 0, m
        assert m["mqttrule_persistence_journal_up"] == 1, m
        tp.publish_qos(pub, "r/after", "journaled again", 1, 30, retain=True)
        tp.ping(pub)
        pub.close()
        print("LOG\n" + b.logtext())
    finally:
        b.stop(signal.SIGKILL)
        svc.stop()
    with Broker(config=cfg, port=b.port) as b2:
        got = tp.retained_topics(b2.port)
        want = {"r/before": "journaled", "r/after": "journaled again"}
        want.update({"r/full%02d" % i: payload + str(i) for i in range(20)})
        assert got == want, (sorted(got), b2.logtext())


def test_read_only_directory_keeps_the_broker_running_and_loses_nothing(small_fs):
    """persistence_location made immutable while the broker runs (chattr +i:
    nothing can be created, renamed or deleted in it, root included): the
    snapshots fail, which the broker says once; the journal it has open
    still takes every change, so a kill -9 loses none; once the directory is
    writable again the next snapshot says so."""
    datadir = small_fs
    cfg = tp.persist_config(datadir, autosave=1)
    b = Broker(config=cfg)
    locked = False
    try:
        pub, _, _ = tp.connect5(b.port, "pub", clean=True, expiry=0)
        tp.publish_qos(pub, "r/before", "kept", 1, 1, retain=True)
        r = subprocess.run(["chattr", "+i", datadir], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip("chattr +i is not supported here: " + r.stderr.strip())
        locked = True
        assert b.wait_log("broker.db.tmp: Operation not permitted", 10), b.logtext()
        for i in range(5):
            tp.publish_qos(pub, "r/ro%d" % i, "while read-only %d" % i, 1, 2 + i, retain=True)
        tp.publish_qos(pub, "r/before", "", 1, 9, retain=True)  # a clear, journaled too
        tp.ping(pub)
        time.sleep(2.5)  # two more autosave attempts (autosave_interval 1), not logged again
        assert b.proc.poll() is None
        log = b.logtext()
        assert log.count("broker.db.tmp: Operation not permitted") == 1, log
        subprocess.run(["chattr", "-i", datadir], check=True)
        locked = False
        assert b.wait_log("broker.db written again after", 10), b.logtext()
        tp.publish_qos(pub, "r/after", "kept too", 1, 20, retain=True)
        tp.ping(pub)
        pub.close()
    finally:
        if locked:
            subprocess.run(["chattr", "-i", datadir])
        b.stop(signal.SIGKILL)
    with Broker(config=cfg, port=b.port) as b2:
        want = {"r/ro%d" % i: "while read-only %d" % i for i in range(5)}
        want["r/after"] = "kept too"
        assert tp.retained_topics(b2.port) == want, b2.logtext()
