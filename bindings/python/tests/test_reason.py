# SPDX-License-Identifier: MIT
"""Reason-code names (decision D1), name lookup and the v5 -> v3 mapping."""

import pytest

import mqttrule


def test_version_matches_library():
    assert mqttrule.library_version() == "0.1.0"
    assert mqttrule.__version__ == mqttrule.library_version()


def test_v5_names_by_profile():
    assert mqttrule.reason_name(0) == "success"
    assert mqttrule.reason_name(0x86) == "bad_username_or_password"
    assert mqttrule.reason_name(0x84) == "unacceptable_protocol_version"
    assert mqttrule.reason_name(0x84, profile="emqx") == "unsupported_protocol_version"
    assert mqttrule.reason_name(0x95, 5, "emqx") == "packet_too_large"
    assert mqttrule.reason_name(0x42) == "unknown_error"


def test_v3_names_for_protocol_3_and_4():
    names = ["connection_accepted", "unacceptable_protocol_version",
             "client_identifier_not_valid", "server_unavailable",
             "malformed_username_or_password", "unauthorized_client"]
    for rc, name in enumerate(names):
        assert mqttrule.reason_name(rc, proto_ver=4) == name
        assert mqttrule.reason_name(rc, proto_ver=3) == name
    assert mqttrule.reason_name(6, proto_ver=4) == "unknown_error"


def test_reason_name_bad_arguments():
    with pytest.raises(ValueError):
        mqttrule.reason_name(0, proto_ver=6)
    with pytest.raises(ValueError):
        mqttrule.reason_name(0, profile="mosquitto")


def test_reason_code_every_spelling():
    assert mqttrule.reason_code("success") == 0
    assert mqttrule.reason_code("connection_accepted") == 0
    assert mqttrule.reason_code("unacceptable_protocol_version") == 0x84
    assert mqttrule.reason_code("unsupported_protocol_version") == 0x84
    assert mqttrule.reason_code("malformed_username_or_password") == 0x86
    assert mqttrule.reason_code("normal_disconnection") == 0
    with pytest.raises(KeyError):
        mqttrule.reason_code("no_such_reason")


def test_connack_v3_mapping():
    assert mqttrule.connack_v3_code(0x00) == 0
    assert mqttrule.connack_v3_code(0x84) == 1
    assert mqttrule.connack_v3_code(0x85) == 2
    assert mqttrule.connack_v3_code(0x88) == 3
    assert mqttrule.connack_v3_code(0x86) == 4
    assert mqttrule.connack_v3_code(0x87) == 5
    assert mqttrule.connack_v3_code(0x95) == 1
    assert mqttrule.connack_v3_code(0x99) == 3
