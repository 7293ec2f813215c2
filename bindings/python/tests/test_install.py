# SPDX-License-Identifier: MIT
"""The package installs into a virtual environment offline
(`pip install --no-build-isolation --no-index bindings/python`) and the
installed copy imports and works with MQTTRULE_LIBRARY pointing at the
built library."""

import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_ROOT = os.path.dirname(HERE)


def test_pip_install_into_venv(tmp_path):
    if shutil.which("pip3") is None and subprocess.run(
            [sys.executable, "-m", "venv", "--help"], capture_output=True).returncode:
        pytest.skip("python3-venv is not installed")
    # Build from a copy so setuptools' build/ and *.egg-info stay out of the tree.
    src = tmp_path / "src"
    shutil.copytree(PKG_ROOT, src, ignore=shutil.ignore_patterns(
        "tests", "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True)
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("MQR_BUILD_DIR", "PYTHONPATH")}
    r = subprocess.run([py, "-m", "pip", "install", "--no-build-isolation", "--no-index",
                        "--quiet", str(src)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    code = ("import mqttrule, sys; "
            "assert mqttrule.__file__.startswith(sys.prefix), mqttrule.__file__; "
            "print(mqttrule.library_version(), mqttrule.library_path, "
            "mqttrule.reason_name(0x84, proto_ver=5))")
    r = subprocess.run([py, "-c", code], env=env, cwd=str(tmp_path),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    version, path, name = r.stdout.split()
    assert version == "0.1.0"
    assert path == os.environ["MQTTRULE_LIBRARY"]
    assert name == "unacceptable_protocol_version"
