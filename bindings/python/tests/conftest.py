# SPDX-License-Identifier: MIT
"""Test setup: which libmqttrule the tests load, and the sanitizer case.

The tests load the library from MQTTRULE_LIBRARY when it is set, else from
$MQR_BUILD_DIR/libmqttrule.so (what the CMake test sets), else from
<repo>/build. The package itself is imported from this source tree.

A library built with -DMQR_SANITIZE=ON (gcc) needs the ASan runtime loaded
first in the process, which a plain python3 does not do. When the library
names libasan and the runtime is not loaded yet, this file re-executes the
same pytest command once with LD_PRELOAD set to gcc's libasan and
ASAN_OPTIONS=detect_leaks=0 (CPython keeps memory alive until exit by
design, so leak reports there are not about the library; the memory-growth
test covers leaks). When gcc cannot name its libasan, every test is
skipped with that reason (not collected; the run says why and passes).
"""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_ROOT = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(PKG_ROOT))


def _library_path():
    if os.environ.get("MQTTRULE_LIBRARY"):
        return os.environ["MQTTRULE_LIBRARY"]
    build = os.environ.get("MQR_BUILD_DIR") or os.path.join(REPO, "build")
    return os.path.join(os.path.abspath(build), "libmqttrule.so")


LIBRARY = _library_path()
os.environ["MQTTRULE_LIBRARY"] = LIBRARY
sys.path.insert(0, PKG_ROOT)


def _needs_asan(path):
    try:
        with open(path, "rb") as f:
            return b"libasan.so" in f.read()
    except OSError:
        return False


def _asan_loaded():
    with open("/proc/self/maps") as f:
        return "libasan" in f.read()


ASAN = _needs_asan(LIBRARY)
SKIP_REASON = None
_REEXEC_ENV = None
if ASAN and not _asan_loaded():
    try:
        runtime = subprocess.run(["gcc", "-print-file-name=libasan.so"], check=True,
                                 capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        runtime = ""
    if os.path.isabs(runtime) and not os.environ.get("MQR_PYTEST_REEXEC"):
        _REEXEC_ENV = dict(os.environ, LD_PRELOAD=runtime, MQR_PYTEST_REEXEC="1",
                           ASAN_OPTIONS="detect_leaks=0:" + os.environ.get("ASAN_OPTIONS", ""))
    else:
        SKIP_REASON = ("%s is an ASan build and the ASan runtime could not be preloaded "
                       "(gcc -print-file-name=libasan.so gave %r)" % (LIBRARY, runtime))


def pytest_configure(config):
    """Re-execute pytest with the ASan runtime preloaded (see above), after
    giving the real stdout and stderr back from pytest's output capture."""
    if _REEXEC_ENV is None:
        return
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        capman.stop_global_capturing()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "pytest"] + sys.argv[1:], _REEXEC_ENV)


# Without the runtime the library cannot even be loaded, so the test modules
# (which import mqttrule) are not collected and the run reports why.
collect_ignore_glob = ["test_*.py"] if SKIP_REASON else []


def pytest_report_header(config):
    return ["mqttrule library: %s%s" % (LIBRARY, " (ASan)" if ASAN else "")] + (
        ["SKIPPED: " + SKIP_REASON] if SKIP_REASON else [])


def pytest_sessionfinish(session, exitstatus):
    if SKIP_REASON and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        print("\nall tests skipped: " + SKIP_REASON)
        session.exitstatus = pytest.ExitCode.OK


@pytest.fixture
def asan():
    """True when the library under test is an ASan build."""
    return ASAN
