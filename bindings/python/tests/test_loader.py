# SPDX-License-Identifier: MIT
"""Where the package finds libmqttrule: MQTTRULE_LIBRARY alone when set,
else (no copy next to the package, none on the loader path here) the build
directory named by MQR_BUILD_DIR."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_ROOT = os.path.dirname(HERE)


def _run(env_updates, drop=()):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_updates)
    env["PYTHONPATH"] = PKG_ROOT
    code = "import mqttrule; print(mqttrule.library_path)"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, cwd="/")


def test_mqttrule_library_wins_and_is_the_only_place_tried():
    r = _run({"MQTTRULE_LIBRARY": "/nonexistent/libmqttrule.so"})
    assert r.returncode != 0
    assert "libmqttrule not found; tried:" in r.stderr
    assert "/nonexistent/libmqttrule.so (MQTTRULE_LIBRARY)" in r.stderr
    assert "build directory" not in r.stderr


def test_build_directory_from_mqr_build_dir():
    lib = os.environ["MQTTRULE_LIBRARY"]
    r = _run({"MQR_BUILD_DIR": os.path.dirname(lib)}, drop=("MQTTRULE_LIBRARY",))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == os.path.abspath(lib)
