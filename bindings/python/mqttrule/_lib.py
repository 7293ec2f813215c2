# SPDX-License-Identifier: MIT
"""Loading libmqttrule and declaring the C functions the package calls.

The library is found in this order (the first that loads wins):

1. the path in the environment variable ``MQTTRULE_LIBRARY``;
2. ``libmqttrule.so*`` next to this package (a wheel or an install that
   copied the library in);
3. the system loader path (``ctypes.util.find_library("mqttrule")``, then
   ``libmqttrule.so.0``), e.g. after ``cmake --install``;
4. the build trees of a source checkout: ``$MQR_BUILD_DIR``, then
   ``<repo>/build`` where ``<repo>`` is three levels above this file.

Every prototype is declared here once, with argtypes and restype, so the
rest of the package calls plain, checked functions. The structs mirror the
public headers field for field (the headers promise fixed-width fields and
no enum or bool members, which is what ctypes reads reliably).
"""

import ctypes
import ctypes.util
import glob
import os

c_int = ctypes.c_int
c_int32 = ctypes.c_int32
c_uint32 = ctypes.c_uint32
c_int64 = ctypes.c_int64
c_uint64 = ctypes.c_uint64
c_size_t = ctypes.c_size_t
c_char_p = ctypes.c_char_p
c_void_p = ctypes.c_void_p
POINTER = ctypes.POINTER

_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    """Yield (description, path) for each place the library may be, in the
    documented search order."""
    env = os.environ.get("MQTTRULE_LIBRARY")
    if env:
        yield "MQTTRULE_LIBRARY", env
        return
    for path in sorted(glob.glob(os.path.join(_HERE, "libmqttrule.so*"))):
        yield "package directory", path
    found = ctypes.util.find_library("mqttrule")
    if found:
        yield "system loader", found
    yield "system loader", "libmqttrule.so.0"
    build_dirs = []
    if os.environ.get("MQR_BUILD_DIR"):
        build_dirs.append(os.environ["MQR_BUILD_DIR"])
    build_dirs.append(os.path.join(_HERE, "..", "..", "..", "build"))
    for d in build_dirs:
        yield "build directory", os.path.join(os.path.abspath(d), "libmqttrule.so")


def _load():
    """Load the first candidate that dlopen accepts; raise OSError listing
    every place tried when none does."""
    tried = []
    for where, path in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as exc:
            tried.append("%s (%s): %s" % (path, where, exc))
    raise OSError("libmqttrule not found; tried:\n  " + "\n  ".join(tried))


lib, path = _load()

# ---- structs (include/mqttrule/*.h) ----------------------------------------

DIAG_MESSAGE_MAX = 256
DIAG_FIELD_MAX = 48


class Diag(ctypes.Structure):
    """mqr_diag_t (common.h)."""
    _c_name_ = "mqr_diag_t"
    _fields_ = [
        ("code", c_int32), ("reason_code", c_int32), ("packet_type", c_int32),
        ("line", c_uint32), ("column", c_uint32), ("reserved_", c_uint32),
        ("offset", c_uint64),
        ("field", ctypes.c_char * DIAG_FIELD_MAX),
        ("message", ctypes.c_char * DIAG_MESSAGE_MAX),
    ]


class Props(ctypes.Structure):
    """mqr_props_t (packet.h): MQTT 5 property bytes."""
    _c_name_ = "mqr_props_t"
    _fields_ = [("ptr", c_void_p), ("len", c_uint32), ("present", c_uint32)]


class Value(ctypes.Structure):
    """mqr_value_t (value.h): only passed by pointer; the union is read
    through the JSON writer, never field by field."""
    _c_name_ = "mqr_value_t"
    _fields_ = [
        ("type", ctypes.c_uint8), ("flags", ctypes.c_uint8),
        ("reserved_", ctypes.c_uint16), ("len", c_uint32), ("u", c_uint64),
    ]


ALLOC_FN = ctypes.CFUNCTYPE(c_void_p, c_void_p, c_void_p, c_size_t, c_size_t)
CLOCK_FN = ctypes.CFUNCTYPE(c_int64, c_void_p)


class Allocator(ctypes.Structure):
    """mqr_allocator_t (common.h); left zeroed: libc."""
    _c_name_ = "mqr_allocator_t"
    _fields_ = [("fn", c_void_p), ("ud", c_void_p)]


class RuleOptions(ctypes.Structure):
    """mqr_rule_options_t (rule.h)."""
    _c_name_ = "mqr_rule_options_t"
    _fields_ = [
        ("rule_id", c_char_p), ("alloc", Allocator),
        ("max_sql_len", c_uint32), ("max_depth", c_uint32),
        ("max_steps", c_uint64), ("max_output", c_uint64),
        ("flags", c_uint32), ("local_offset_s", c_int32), ("rng_seed", c_uint64),
        ("clock", c_void_p), ("clock_ud", c_void_p),
    ]


class RuleTestOptions(ctypes.Structure):
    """mqr_rule_test_options_t (rule_test.h)."""
    _c_name_ = "mqr_rule_test_options_t"
    _fields_ = [("names", c_int32), ("reserved_", c_uint32), ("now_ms", c_int64),
                ("node", c_char_p), ("id_seq", POINTER(c_uint64))]


class HttpHeader(ctypes.Structure):
    """mqr_http_header_t (http.h)."""
    _c_name_ = "mqr_http_header_t"
    _fields_ = [("name", c_char_p), ("name_len", c_size_t),
                ("value", c_char_p), ("value_len", c_size_t)]


class HttpConfig(ctypes.Structure):
    """mqr_http_config_t (http.h)."""
    _c_name_ = "mqr_http_config_t"
    _fields_ = [
        ("url", c_char_p), ("method", c_int32), ("header_count", c_uint32),
        ("headers", POINTER(HttpHeader)),
        ("max_queue_count", c_uint32), ("enable_pipelining", c_uint32),
        ("max_queue_bytes", c_uint64),
        ("request_timeout_ms", c_uint32), ("connect_timeout_ms", c_uint32),
        ("ttl_ms", c_uint32), ("backoff_initial_ms", c_uint32),
        ("backoff_max_ms", c_uint32), ("pool_size", c_uint32),
        ("max_attempts", c_uint32), ("max_response_head", c_uint32),
        ("tls_insecure", c_uint32), ("max_inactive_ms", c_uint32),
        ("ca_file", c_char_p), ("allocator", Allocator),
        ("on_done", c_void_p), ("ud", c_void_p),
        ("cert_file", c_char_p), ("key_file", c_char_p),
    ]


class HttpActionConfig(ctypes.Structure):
    """mqr_http_action_config_t (engine.h)."""
    _c_name_ = "mqr_http_action_config_t"
    _fields_ = [
        ("http", HttpConfig), ("path", c_char_p), ("method", c_int32),
        ("header_count", c_uint32), ("headers", POINTER(HttpHeader)),
        ("body", c_char_p),
    ]


class RepublishConfig(ctypes.Structure):
    """mqr_republish_config_t (engine.h): every field a template."""
    _c_name_ = "mqr_republish_config_t"
    _fields_ = [(name, c_char_p) for name in (
        "topic", "payload", "qos", "retain", "user_properties",
        "payload_format_indicator", "message_expiry_interval", "content_type",
        "response_topic", "correlation_data", "direct_dispatch")] + [
        ("fixed_user_property_count", c_uint32), ("reserved_", c_uint32),
        ("fixed_user_properties", c_void_p)]


class UserProperty(ctypes.Structure):
    """mqr_user_property_t (engine.h)."""
    _c_name_ = "mqr_user_property_t"
    _fields_ = [("key", c_void_p), ("key_len", c_size_t),
                ("value", c_void_p), ("value_len", c_size_t)]


class PublishMsg(ctypes.Structure):
    """mqr_publish_msg_t (engine.h). Strings are length-counted, so they are
    declared as void pointers and read with ctypes.string_at."""
    _c_name_ = "mqr_publish_msg_t"
    _fields_ = [
        ("rule_id", c_char_p), ("topic", c_void_p), ("topic_len", c_size_t),
        ("payload", c_void_p), ("payload_len", c_size_t),
        ("qos", c_int32), ("retain", c_int32), ("direct_dispatch", c_int32),
        ("user_property_count", c_uint32),
        ("user_properties", POINTER(UserProperty)),
        ("payload_format_indicator", c_int64), ("message_expiry_interval", c_int64),
        ("content_type", c_void_p), ("content_type_len", c_size_t),
        ("response_topic", c_void_p), ("response_topic_len", c_size_t),
        ("correlation_data", c_void_p), ("correlation_data_len", c_size_t),
        ("cause", c_void_p), ("cause_len", c_size_t),
        ("action_id", c_uint32), ("reserved_", c_uint32),
    ]


PUBLISH_FN = ctypes.CFUNCTYPE(c_int, c_void_p, POINTER(PublishMsg))
TOPIC_VISIT_FN = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)
CALLBACK_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_char_p, c_void_p, c_size_t,
                               POINTER(Value))


class EngineOptions(ctypes.Structure):
    """mqr_engine_options_t (engine.h)."""
    _c_name_ = "mqr_engine_options_t"
    _fields_ = [
        ("alloc", Allocator), ("names", c_int32), ("flags", c_uint32),
        ("node", c_char_p), ("clock", c_void_p), ("clock_ud", c_void_p),
        ("mono_clock", c_void_p), ("mono_clock_ud", c_void_p),
        ("publish", PUBLISH_FN), ("publish_ud", c_void_p),
        ("local_offset_s", c_int32), ("max_depth", c_uint32), ("rng_seed", c_uint64),
        ("max_steps", c_uint64), ("max_output", c_uint64),
        ("max_sql_len", c_uint32), ("reserved_", c_uint32),
        ("sock_fn", c_void_p), ("sock_ud", c_void_p),
        ("timer_fn", c_void_p), ("timer_ud", c_void_p),
        ("error_fn", c_void_p), ("error_ud", c_void_p),
    ]


class EngineMessage(ctypes.Structure):
    """mqr_engine_message_t (engine.h). Strings are length-counted."""
    _c_name_ = "mqr_engine_message_t"
    _fields_ = [
        ("topic", c_char_p), ("topic_len", c_size_t),
        ("payload", c_char_p), ("payload_len", c_size_t),
        ("qos", c_int32), ("retain", c_int32), ("dup", c_int32), ("direct_dispatch", c_int32),
        ("id", c_char_p), ("id_len", c_size_t),
        ("clientid", c_char_p), ("clientid_len", c_size_t),
        ("username", c_char_p), ("username_len", c_size_t),
        ("peerhost", c_char_p), ("peerhost_len", c_size_t),
        ("peername", c_char_p), ("peername_len", c_size_t),
        ("republish_by", c_char_p), ("republish_by_len", c_size_t),
        ("pub_props", POINTER(Value)), ("publish_received_at", c_int64),
        ("props", Props),  # the PUBLISH properties (none from Python)
        ("cause", c_void_p), ("cause_len", c_size_t),
    ]


class RuleDef(ctypes.Structure):
    """mqr_engine_rule_def_t (engine.h)."""
    _c_name_ = "mqr_engine_rule_def_t"
    _fields_ = [("id", c_char_p), ("sql", c_char_p), ("description", c_char_p),
                ("enabled", c_uint32), ("reserved_", c_uint32)]


class RuleMetrics(ctypes.Structure):
    """mqr_rule_metrics_t (engine.h)."""
    _c_name_ = "mqr_rule_metrics_t"
    _fields_ = [(name, c_uint64) for name in (
        "matched", "passed", "failed", "failed_exception", "failed_no_result",
        "actions_total", "actions_success", "actions_failed",
        "actions_failed_out_of_service", "actions_failed_unknown",
        "actions_discarded")] + [
        ("matched_rate", ctypes.c_double), ("matched_rate_max", ctypes.c_double),
        ("matched_rate_last5m", ctypes.c_double)]


class EngineError(ctypes.Structure):
    """mqr_engine_error_t (engine.h)."""
    _c_name_ = "mqr_engine_error_t"
    _fields_ = [("status", c_int32), ("action_id", c_uint32), ("line", c_uint32),
                ("column", c_uint32), ("offset", c_uint64), ("time_ms", c_int64),
                ("count", c_uint64), ("message", ctypes.c_char * 256)]


class ActionMetrics(ctypes.Structure):
    """mqr_action_metrics_t (engine.h)."""
    _c_name_ = "mqr_action_metrics_t"
    _fields_ = [("kind", c_int32), ("reserved_", c_uint32)] + [(name, c_uint64) for name in (
        "matched", "success", "failed", "dropped", "dropped_expired", "dropped_queue_full",
        "dropped_other", "queuing", "inflight", "retried", "timeouts", "refused_recursive",
        "headers_refused", "late_reply", "queuing_bytes", "retried_success", "retried_failed",
        "fallback_triggered", "discarded")]


class QueueStats(ctypes.Structure):
    """mqr_queue_stats_t (queue.h)."""
    _c_name_ = "mqr_queue_stats_t"
    _fields_ = [("state", c_int32), ("last_error_code", c_int32)] + [
        (name, c_uint64) for name in (
            "queue_id", "records", "bytes", "pending", "inflight", "next_seq", "appended",
            "acked", "retried", "replayed", "dropped_oldest", "refused_newest",
            "corrupt_records", "torn_tails", "memory_records", "write_errors", "fsyncs",
            "segments", "segments_deleted", "disk_bytes")]


class QueueOptions(ctypes.Structure):
    """mqr_queue_options_t (queue.h); alloc and clock are left to the engine."""
    _c_name_ = "mqr_queue_options_t"
    _fields_ = [("alloc", Allocator), ("dir", c_char_p), ("max_buffer_bytes", c_uint64),
                ("segment_bytes", c_uint64), ("sync", c_int32), ("sync_interval_ms", c_uint32),
                ("overflow", c_int32), ("reserved_", c_uint32), ("clock", c_void_p),
                ("clock_ud", c_void_p)]


class ActionPersistConfig(ctypes.Structure):
    """mqr_action_persist_config_t (queue.h): an action's durable queue."""
    _c_name_ = "mqr_action_persist_config_t"
    _fields_ = [("queue", QueueOptions), ("id_name", c_char_p), ("window", c_uint32),
                ("reserved_", c_uint32)]


class EventSchema(ctypes.Structure):
    """mqr_event_schema_t (event.h): one event of the library's table."""
    _c_name_ = "mqr_event_schema_t"
    _fields_ = [("id", c_uint32), ("field_count", c_uint32), ("name", c_char_p),
                ("legacy_topic", c_char_p), ("topic", c_char_p), ("test_type", c_char_p),
                ("fields", c_void_p)]


class SockAddr(ctypes.Structure):
    """mqr_sockaddr_t (event.h)."""
    _c_name_ = "mqr_sockaddr_t"
    _fields_ = [("family", ctypes.c_uint8), ("reserved_", ctypes.c_uint8),
                ("port", ctypes.c_uint16), ("addr", ctypes.c_uint8 * 16)]


class ConnackInput(ctypes.Structure):
    """mqr_connack_input_t (event.h)."""
    _c_name_ = "mqr_connack_input_t"
    _fields_ = [
        ("connect", c_void_p), ("complete", c_int32), ("reason_code", c_int32),
        ("connack_sent", c_int32), ("names", c_int32),
        ("peer", SockAddr), ("sock", SockAddr),
        ("timestamp_ms", c_int64), ("connected_at_ms", c_int64),
        ("v3_session_expiry_ms", c_int64), ("max_session_expiry_s", c_uint32),
        ("node_len", c_uint32), ("node", c_char_p),
    ]


class EventConn(ctypes.Structure):
    """mqr_event_conn_t (event.h): the facts of one client connection."""
    _c_name_ = "mqr_event_conn_t"
    _fields_ = [
        ("clientid", c_char_p), ("clientid_len", c_uint32), ("username_len", c_uint32),
        ("username", c_char_p), ("mountpoint", c_char_p), ("mountpoint_len", c_uint32),
        ("listener_len", c_uint32), ("listener", c_char_p), ("protocol", c_char_p),
        ("protocol_len", c_uint32), ("proto_ver", c_int32),
        ("peer", SockAddr), ("sock", SockAddr),
        ("keepalive", c_int32), ("clean_start", c_int32), ("is_bridge", c_int32),
        ("is_superuser", c_int32), ("receive_maximum", c_uint32), ("reserved_", c_uint32),
        ("expiry_interval_s", c_int64), ("connected_at_ms", c_int64),
        ("conn_props", Props),
    ]


class EventMsg(ctypes.Structure):
    """mqr_event_msg_t (event.h): a message as the message events carry it."""
    _c_name_ = "mqr_event_msg_t"
    _fields_ = [
        ("id", c_char_p), ("id_len", c_uint32), ("topic_len", c_uint32),
        ("topic", c_char_p), ("payload", c_char_p), ("payload_len", c_uint32),
        ("qos", c_int32), ("retain", c_int32), ("dup", c_int32),
        ("from_clientid", c_char_p), ("from_username", c_char_p),
        ("from_clientid_len", c_uint32), ("from_username_len", c_uint32),
        ("from_peer", SockAddr), ("publish_received_at_ms", c_int64),
        ("props", Props),
    ]


class EventInput(ctypes.Structure):
    """mqr_event_input_t (event.h): what the event builders read."""
    _c_name_ = "mqr_event_input_t"
    _fields_ = [
        ("conn", POINTER(EventConn)), ("msg", POINTER(EventMsg)), ("packet", c_void_p),
        ("topic", c_char_p), ("topic_len", c_uint32), ("qos", c_int32),
        ("reason", c_char_p), ("reason_len", c_uint32), ("reason_code", c_int32),
        ("action", c_int32), ("allow", c_int32), ("authz_source", c_char_p),
        ("message", c_char_p), ("details", c_void_p),
        ("timestamp_ms", c_int64), ("at_ms", c_int64), ("deactivated_at_ms", c_int64),
        ("node", c_char_p), ("node_len", c_uint32), ("reserved_", c_uint32),
    ]


class PacketOpts(ctypes.Structure):
    """mqr_packet_opts_t (packet.h)."""
    _c_name_ = "mqr_packet_opts_t"
    _fields_ = [("max_packet_size", c_uint32), ("proto_ver", ctypes.c_uint8),
                ("direction", ctypes.c_uint8), ("utf8", ctypes.c_uint16)]


class PacketStream(ctypes.Structure):
    """mqr_packet_stream_t (packet.h)."""
    _c_name_ = "mqr_packet_stream_t"
    _fields_ = [("opts", PacketOpts), ("need", c_uint32), ("packets", c_uint32),
                ("offset", c_uint64)]


def _proto(name, restype, *argtypes):
    """Declare lib.<name> with its result and argument types."""
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)


_P = POINTER
for _name, _res, _args in (
    # abi.h
    ("mqr_abi_struct_size", c_size_t, (c_char_p,)),
    ("mqr_abi_struct_name", c_char_p, (c_size_t,)),
    ("mqr_abi_field_name", c_char_p, (c_char_p, c_size_t)),
    ("mqr_abi_field_offset", c_int, (c_char_p, c_char_p, _P(c_size_t))),
    ("mqr_abi_field_size", c_size_t, (c_char_p, c_char_p)),
    # common.h
    ("mqr_version", c_char_p, ()),
    ("mqr_version_number", c_uint32, ()),
    ("mqr_status_name", c_char_p, (c_int,)),
    ("mqr_strerror", c_char_p, (c_int,)),
    ("mqr_diag_clear", None, (_P(Diag),)),
    # reason.h
    ("mqr_reason_profile_name", c_char_p, (c_int, c_int)),
    ("mqr_reason_v3_name", c_char_p, (c_int,)),
    ("mqr_reason_from_name", c_int, (c_char_p, c_size_t, _P(c_int32))),
    ("mqr_reason_v3_from_name", c_int, (c_char_p, c_size_t, _P(c_int32))),
    ("mqr_reason_connack_v3", c_int, (c_int,)),
    # value.h / json.h
    ("mqr_arena_create", c_int, (c_void_p, c_size_t, _P(c_void_p))),
    ("mqr_arena_reset", None, (c_void_p,)),
    ("mqr_arena_destroy", None, (c_void_p,)),
    ("mqr_json_parse", c_int, (c_void_p, c_char_p, c_size_t, c_uint32, _P(Value), _P(Diag))),
    ("mqr_json_write", c_int, (_P(Value), c_uint32, c_void_p, c_size_t, _P(c_size_t))),
    # rule.h
    ("mqr_rule_options_init", None, (_P(RuleOptions),)),
    ("mqr_rule_compile", c_int, (c_char_p, c_size_t, _P(RuleOptions), _P(c_void_p), _P(Diag))),
    ("mqr_rule_free", None, (c_void_p,)),
    ("mqr_rule_is_foreach", c_uint32, (c_void_p,)),
    ("mqr_rule_source_count", c_size_t, (c_void_p,)),
    ("mqr_rule_source", c_char_p, (c_void_p, c_size_t, _P(c_size_t))),
    ("mqr_rule_source_kind", c_int, (c_void_p, c_size_t)),
    ("mqr_rule_matches_topic", c_int, (c_void_p, c_char_p, c_size_t)),
    ("mqr_rule_matches_event", c_int, (c_void_p, c_char_p, c_size_t)),
    ("mqr_rule_scratch_create", c_int, (c_void_p, _P(c_void_p))),
    ("mqr_rule_scratch_free", None, (c_void_p,)),
    ("mqr_rule_eval", c_int, (c_void_p, c_void_p, _P(Value), _P(Value), _P(Diag))),
    ("mqr_rule_eval_json", c_int, (c_void_p, c_void_p, _P(Value), _P(c_void_p),
                                   _P(c_size_t), _P(Diag))),
    ("mqr_rule_id", c_char_p, (c_void_p,)),
    # value.h
    ("mqr_value_string_copy", c_int, (c_void_p, c_char_p, c_size_t, _P(Value))),
    ("mqr_value_object_append", c_int, (c_void_p, _P(Value), c_char_p, c_size_t,
                                        _P(Value))),
    # auth.h
    ("mqr_hash_size", c_size_t, (c_int,)),
    ("mqr_hmac", c_int, (c_int, c_char_p, c_size_t, c_char_p, c_size_t, c_void_p)),
    ("mqr_ct_equal", c_int, (c_char_p, c_char_p, c_size_t)),
    ("mqr_passwd_verify", c_int, (c_char_p, c_size_t, c_char_p, c_size_t)),
    ("mqr_passwd_format7", c_int, (c_char_p, c_size_t, c_char_p, c_size_t, c_uint32,
                                   c_char_p, c_size_t, _P(c_size_t))),
    # topic.h, packet.h (topics)
    ("mqr_topic_index_create", c_int, (c_void_p, _P(c_void_p))),
    ("mqr_topic_index_destroy", None, (c_void_p,)),
    ("mqr_topic_index_insert", c_int, (c_void_p, c_char_p, c_size_t, c_void_p)),
    ("mqr_topic_index_remove", c_int, (c_void_p, c_char_p, c_size_t, c_void_p)),
    ("mqr_topic_index_match", c_int, (c_void_p, c_char_p, c_size_t, TOPIC_VISIT_FN,
                                      c_void_p)),
    ("mqr_topic_index_count", c_size_t, (c_void_p,)),
    ("mqr_topic_validate_name", c_int, (c_char_p, c_size_t, _P(Diag))),
    ("mqr_topic_validate_filter", c_int, (c_char_p, c_size_t, _P(Diag))),
    ("mqr_topic_match", c_int, (c_char_p, c_size_t, c_char_p, c_size_t)),
    # rule_test.h
    ("mqr_rule_test_columns", c_int, (c_void_p, _P(Value), _P(RuleTestOptions), c_void_p,
                                      _P(Value), _P(c_int32), _P(Diag))),
    # event.h
    ("mqr_event_connack_init", None, (_P(ConnackInput),)),
    ("mqr_event_find", _P(EventSchema), (c_char_p, c_size_t)),
    ("mqr_event_build", c_int, (c_uint32, _P(EventInput), c_void_p, _P(Value), _P(Diag))),
    ("mqr_event_conn_init", None, (_P(EventConn),)),
    ("mqr_event_msg_init", None, (_P(EventMsg),)),
    ("mqr_event_input_init", None, (_P(EventInput),)),
    ("mqr_event_count", c_uint32, ()),
    ("mqr_event_at", _P(EventSchema), (c_uint32,)),
    # packet.h, packet_json.h
    ("mqr_packet_decode", c_int, (c_char_p, c_size_t, c_void_p, c_void_p, _P(c_size_t),
                                  _P(Diag))),
    ("mqr_packet_type_name", c_char_p, (c_int,)),
    ("mqr_packet_stream_init", None, (_P(PacketStream), _P(PacketOpts))),
    ("mqr_packet_stream_next", c_int, (_P(PacketStream), c_void_p, c_size_t, c_void_p,
                                       _P(c_size_t), _P(Diag))),
    ("mqr_packet_struct_size", c_size_t, ()),
    ("mqr_packet_to_json", c_int, (c_void_p, c_void_p, _P(c_void_p), _P(c_size_t))),
    ("mqr_packet_encode_json", c_int, (c_char_p, c_size_t, c_void_p, _P(c_int),
                                       _P(c_void_p), _P(c_size_t), _P(Diag))),
    # engine.h
    ("mqr_engine_options_init", None, (_P(EngineOptions),)),
    ("mqr_engine_create", c_int, (_P(EngineOptions), _P(c_void_p))),
    ("mqr_engine_destroy", None, (c_void_p,)),
    ("mqr_engine_rule_add", c_int, (c_void_p, _P(RuleDef), _P(Diag))),
    ("mqr_engine_rule_remove", c_int, (c_void_p, c_char_p)),
    ("mqr_engine_action_add_republish", c_int, (c_void_p, c_char_p, _P(RepublishConfig),
                                                _P(c_uint32), _P(Diag))),
    ("mqr_engine_action_add_http", c_int, (c_void_p, c_char_p, _P(HttpActionConfig),
                                           _P(c_uint32), _P(Diag))),
    ("mqr_engine_action_add_callback", c_int, (c_void_p, c_char_p, CALLBACK_FN, c_void_p,
                                               _P(c_uint32), _P(Diag))),
    ("mqr_engine_emit_event", c_int, (c_void_p, c_char_p, c_size_t, _P(Value),
                                      _P(c_uint32), _P(Diag))),
    ("mqr_engine_emit_message", c_int, (c_void_p, _P(EngineMessage), _P(c_uint32),
                                        _P(Diag))),
    ("mqr_engine_emit_connack", c_int, (c_void_p, _P(ConnackInput), _P(c_uint32),
                                        _P(Diag))),
    ("mqr_engine_emit_input", c_int, (c_void_p, c_uint32, _P(EventInput), _P(c_uint32),
                                      _P(Diag))),
    ("mqr_engine_cause_set", c_int, (c_void_p, c_void_p, c_size_t)),
    ("mqr_engine_poll", c_int, (c_void_p, c_int)),
    ("mqr_engine_pending", c_size_t, (c_void_p,)),
    ("mqr_engine_rule_metrics", c_int, (c_void_p, c_char_p, _P(RuleMetrics))),
    ("mqr_engine_rule_last_error", c_int, (c_void_p, c_char_p, _P(EngineError))),
    ("mqr_engine_rule_metrics_json", c_int, (c_void_p, c_char_p, c_void_p, c_size_t,
                                             _P(c_size_t))),
    ("mqr_engine_emit_event_id", c_int, (c_void_p, c_uint32, _P(Value), _P(c_uint32),
                                         _P(Diag))),
    ("mqr_engine_rule_update", c_int, (c_void_p, _P(RuleDef), _P(Diag))),
    ("mqr_engine_rule_enable", c_int, (c_void_p, c_char_p, c_uint32)),
    ("mqr_engine_rule_count", c_size_t, (c_void_p,)),
    ("mqr_engine_rule_info", c_char_p, (c_void_p, c_char_p, _P(c_uint32))),
    ("mqr_engine_action_remove", c_int, (c_void_p, c_uint32)),
    ("mqr_engine_rule_metrics_reset", c_int, (c_void_p, c_char_p)),
    ("mqr_engine_action_metrics", c_int, (c_void_p, c_uint32, _P(ActionMetrics))),
    ("mqr_engine_action_last_error", c_int, (c_void_p, c_uint32, _P(EngineError))),
    ("mqr_engine_action_set_fallback", c_int, (c_void_p, c_uint32, _P(c_uint32), c_size_t)),
    ("mqr_engine_action_set_fallback_only", c_int, (c_void_p, c_uint32, c_uint32)),
    ("mqr_engine_action_enable", c_int, (c_void_p, c_uint32, c_uint32)),
    ("mqr_engine_topic_listened", c_int, (c_void_p, c_char_p, c_size_t, _P(c_uint32))),
    ("mqr_engine_event_listened", c_uint32, (c_void_p, c_uint32)),
    # queue.h
    ("mqr_action_persist_config_init", None, (_P(ActionPersistConfig),)),
    ("mqr_engine_action_persist", c_int, (c_void_p, c_uint32, _P(ActionPersistConfig),
                                          _P(Diag))),
    ("mqr_engine_action_queue_stats", c_int, (c_void_p, c_uint32, _P(QueueStats))),
    ("mqr_engine_action_queue_error", c_char_p, (c_void_p, c_uint32)),
    ("mqr_queue_state_name", c_char_p, (c_int32,)),
    ("mqr_http_config_init", None, (_P(HttpConfig),)),
):
    _proto(_name, _res, *_args)


def check_layout(cls):
    """Compare the ctypes mirror `cls` (its ``_c_name_`` names the C struct)
    with the layout the library was compiled with (mqttrule/abi.h): the
    struct's size, and each field's presence, offset and size, both ways.
    Raise ImportError naming the struct and the field on the first
    difference, so a header the mirror did not follow fails at import
    instead of corrupting memory."""
    c_name = getattr(cls, "_c_name_", None)
    where = "%s (%s mirror)" % (c_name, cls.__name__)
    if not c_name:
        raise ImportError("%s: the mirror names no C struct (_c_name_)" % cls.__name__)
    cn = c_name.encode()
    size = lib.mqr_abi_struct_size(cn)
    if size == 0:
        raise ImportError("%s: the library does not know this struct" % where)
    mine = [f[0] for f in cls._fields_]
    theirs = []
    while True:
        name = lib.mqr_abi_field_name(cn, len(theirs))
        if name is None:
            break
        theirs.append(name.decode())
    for i, field in enumerate(theirs):
        if field not in mine:
            raise ImportError("%s: field %s (C field #%d) is missing from the mirror"
                              % (where, field, i))
    for field in mine:
        off = c_size_t()
        if lib.mqr_abi_field_offset(cn, field.encode(), ctypes.byref(off)) != 0:
            raise ImportError("%s: field %s is not in the C struct" % (where, field))
        desc = getattr(cls, field)
        if desc.offset != off.value:
            raise ImportError("%s: field %s at offset %d in the mirror, %d in C"
                              % (where, field, desc.offset, off.value))
        c_size = lib.mqr_abi_field_size(cn, field.encode())
        if desc.size != c_size:
            raise ImportError("%s: field %s is %d bytes in the mirror, %d in C"
                              % (where, field, desc.size, c_size))
    if ctypes.sizeof(cls) != size:
        raise ImportError("%s: %d bytes in the mirror, %d in C"
                          % (where, ctypes.sizeof(cls), size))


def mirrors():
    """Every ctypes.Structure this module mirrors from the C headers."""
    return [v for v in globals().values()
            if isinstance(v, type) and issubclass(v, ctypes.Structure)
            and v.__module__ == __name__]


for _cls in mirrors():
    check_layout(_cls)
del _cls


def packet_storage():
    """Zeroed, 8-byte aligned storage for one mqr_packet_t, which the
    bindings pass to the library without reading it."""
    return (c_uint64 * ((lib.mqr_packet_struct_size() + 7) // 8))()
