# SPDX-License-Identifier: MIT
"""A Kafka cluster for the Kafka sink tests: tests/support/kafka_mock (the
librdkafka mock cluster, three brokers on real TCP ports of 127.0.0.1),
driven through its stdin (down ID, up ID, topic NAME PARTS, error TOPIC
CODE), and an independent consumer: Debian's kcat (kafkacat)."""
import os
import shutil
import subprocess

from broker_util import BUILD

MOCK = os.path.join(BUILD, "tests", "support", "kafka_mock")
KCAT = shutil.which("kcat") or shutil.which("kafkacat")


def available():
    return os.path.exists(MOCK) and KCAT is not None


class KafkaMock:
    def __init__(self, brokers=3):
        self.proc = subprocess.Popen([MOCK, str(brokers)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "bootstrap", line
        self.bootstrap = line[1]

    def command(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        assert answer == "ok", (cmd, answer)

    def consume(self, topic, fmt="%k\\n", timeout=60):
        """Every message of `topic` from the beginning, as kcat prints them
        with `fmt` (one per line by default)."""
        r = subprocess.run([KCAT, "-C", "-b", self.bootstrap, "-t", topic, "-o", "beginning",
                            "-e", "-q", "-f", fmt], capture_output=True, text=True,
                           timeout=timeout)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=10)
