# SPDX-License-Identifier: MIT
"""The ctypes mirrors of the C structs are checked against the library's
layout (mqttrule/abi.h) at import: the real mirrors pass, and deliberately
wrong mirrors fail with an ImportError naming the struct and the field."""

import ctypes
import os
import shutil
import subprocess
import sys

import pytest

from mqttrule import _lib


def test_every_mirror_matches_the_library():
    names = set()
    for cls in _lib.mirrors():
        _lib.check_layout(cls)  # raises on any difference
        names.add(cls._c_name_)
    # the 29 structs the package mirrors, each known to the library
    assert len(names) == 29
    known = set()
    i = 0
    while _lib.lib.mqr_abi_struct_name(i) is not None:
        known.add(_lib.lib.mqr_abi_struct_name(i).decode())
        i += 1
    assert names <= known


def test_the_library_reports_real_sizes():
    assert _lib.lib.mqr_abi_struct_size(b"mqr_diag_t") == ctypes.sizeof(_lib.Diag)
    assert _lib.lib.mqr_abi_struct_size(b"mqr_no_such_t") == 0
    off = ctypes.c_size_t(99)
    assert _lib.lib.mqr_abi_field_offset(b"mqr_diag_t", b"message", ctypes.byref(off)) == 0
    assert off.value == _lib.Diag.message.offset
    assert _lib.lib.mqr_abi_field_offset(b"mqr_diag_t", b"nope", ctypes.byref(off)) != 0


def _wrong(fields, c_name="mqr_rule_def_wrong"):
    return type("WrongRuleDef", (ctypes.Structure,),
                {"_c_name_": c_name, "_fields_": fields})


GOOD = [("id", ctypes.c_char_p), ("sql", ctypes.c_char_p),
        ("description", ctypes.c_char_p), ("enabled", ctypes.c_uint32),
        ("reserved_", ctypes.c_uint32)]


def test_a_correct_hand_mirror_passes():
    _lib.check_layout(_wrong(GOOD, "mqr_engine_rule_def_t"))


def test_missing_field_is_named():
    fields = [f for f in GOOD if f[0] != "description"]
    with pytest.raises(ImportError, match=r"mqr_engine_rule_def_t.*field description"):
        _lib.check_layout(_wrong(fields, "mqr_engine_rule_def_t"))


def test_reordered_fields_are_named():
    fields = [GOOD[1], GOOD[0]] + GOOD[2:]
    with pytest.raises(ImportError,
                       match=r"mqr_engine_rule_def_t.*field sql at offset 0 in the mirror, 8"):
        _lib.check_layout(_wrong(fields, "mqr_engine_rule_def_t"))


def test_wrong_field_width_is_named():
    fields = GOOD[:3] + [("enabled", ctypes.c_uint64), ("reserved_", ctypes.c_uint32)]
    with pytest.raises(ImportError, match=r"mqr_engine_rule_def_t.*field enabled is 8 bytes"):
        _lib.check_layout(_wrong(fields, "mqr_engine_rule_def_t"))


def test_extra_field_is_named():
    fields = GOOD + [("bogus", ctypes.c_uint32)]
    with pytest.raises(ImportError, match=r"mqr_engine_rule_def_t.*field bogus is not in"):
        _lib.check_layout(_wrong(fields, "mqr_engine_rule_def_t"))


def test_import_fails_on_a_wrong_mirror(tmp_path):
    """The import itself fails: a copy of the package whose RuleDef mirror
    lost a field (as after a header change it did not follow)."""
    pkg = os.path.dirname(os.path.abspath(_lib.__file__))
    dst = tmp_path / "mqttrule"
    shutil.copytree(pkg, dst, ignore=shutil.ignore_patterns("__pycache__", "*.so*"))
    src = (dst / "_lib.py").read_text()
    good = '("description", c_char_p),'
    assert good in src
    (dst / "_lib.py").write_text(src.replace(good, "", 1))
    env = dict(os.environ, MQTTRULE_LIBRARY=_lib.path)
    proc = subprocess.run([sys.executable, "-c", "import mqttrule"], cwd=str(tmp_path),
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "ImportError: mqr_engine_rule_def_t (RuleDef mirror): field description" \
        in proc.stderr, proc.stderr


def test_unknown_struct_is_named():
    with pytest.raises(ImportError, match=r"mqr_rule_def_wrong.*does not know"):
        _lib.check_layout(_wrong(GOOD))
