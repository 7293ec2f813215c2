# SPDX-License-Identifier: MIT
"""Authentication helpers (mqttrule/auth.h): HMAC, constant-time
comparison and mosquitto password-file hashes ($6$ and $7$)."""

import ctypes

from . import _lib
from ._base import L, OK, as_bytes as _b, raise_status

HASHES = {"md5": 0, "sha1": 1, "sha224": 2, "sha256": 3, "sha384": 4, "sha512": 5}
NO_MATCH = 2


def hmac(alg, key, data):
    """HMAC of ``data`` with ``key`` under ``alg`` ("md5", "sha1", "sha224",
    "sha256", "sha384", "sha512"), as bytes. ValueError for another alg."""
    if alg not in HASHES:
        raise ValueError("alg must be one of %s" % ", ".join(sorted(HASHES)))
    k, d = _b(key), _b(data)
    out = ctypes.create_string_buffer(L.mqr_hash_size(HASHES[alg]))
    rc = L.mqr_hmac(HASHES[alg], k, len(k), d, len(d), out)
    if rc != OK:
        raise_status(rc)
    return out.raw


def ct_equal(a, b):
    """True when bytes ``a`` equal ``b``; the time depends only on the
    length (unequal lengths are unequal at once)."""
    a, b = _b(a), _b(b)
    return len(a) == len(b) and L.mqr_ct_equal(a, b, len(a)) == 1


def passwd_verify(hash_part, password):
    """True when ``password`` matches ``hash_part`` (a mosquitto password
    file's text after "user:": "$6$salt$hash" or "$7$iter$salt$hash"), False
    when it does not. MqttruleError for a malformed hash part (MQR_EINVAL),
    another scheme (MQR_ENOTSUP) or a limit (MQR_ELIMIT)."""
    h, p = _b(hash_part), _b(password)
    rc = L.mqr_passwd_verify(h, len(h), p, len(p))
    if rc == OK:
        return True
    if rc == NO_MATCH:
        return False
    raise_status(rc)


def passwd_hash7(password, salt, iterations=101):
    """The "$7$<iterations>$<salt>$<hash>" hash part (str) for ``password``
    with the caller's random ``salt`` bytes (mosquitto uses 12 from
    os.urandom). MqttruleError (MQR_EINVAL, MQR_ELIMIT) for bad arguments."""
    p, s = _b(password), bytes(salt)
    n = ctypes.c_size_t()
    buf = ctypes.create_string_buffer(256)
    rc = L.mqr_passwd_format7(p, len(p), s, len(s), int(iterations), buf, len(buf),
                              ctypes.byref(n))
    if rc == -3:  # MQR_EBUFFER: a long salt
        buf = ctypes.create_string_buffer(n.value + 1)
        rc = L.mqr_passwd_format7(p, len(p), s, len(s), int(iterations), buf, len(buf),
                                  ctypes.byref(n))
    if rc != OK:
        raise_status(rc)
    return buf.raw[:n.value].decode("ascii")
