# SPDX-License-Identifier: MIT
"""Shared pytest helpers for mqttrule's integration tests.

- build_dir(): the CMake build tree to test, from $MQR_BUILD_DIR (default build/
  at the repository root).
- free_port(): a TCP port on 127.0.0.1 that was free a moment ago.
- wait_for(predicate, timeout): poll until predicate() is true or fail.
"""
import os
import socket
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def build_dir() -> Path:
    return Path(os.environ.get("MQR_BUILD_DIR", str(ROOT / "build"))).resolve()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, step: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
