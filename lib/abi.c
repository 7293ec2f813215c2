/* SPDX-License-Identifier: MIT */
/*
 * abi.c - layout introspection (mqttrule/abi.h): the size of each public
 * struct a binding mirrors and the offset and size of each of its fields.
 *
 * How it works: MQR__ABI_LIST below is the one list of (struct, field)
 * pairs; the struct table and the field table are both generated from it
 * with sizeof/offsetof, so the answers are the compiler's and cannot drift
 * from the headers. A struct added to a header's public surface that a
 * binding mirrors is added here (S) with every field (F); a field renamed
 * or removed in a header breaks the build here. Lookups are linear scans of
 * constant tables (a binding asks a few hundred questions once, at load).
 */
#include <stddef.h>
#include <string.h>

#include "mqttrule.h"

/* Every field, in declaration order, of every covered struct. */
#define MQR__ABI_LIST(S, F) \
    S(mqr_diag_t) \
    F(mqr_diag_t, code) F(mqr_diag_t, reason_code) F(mqr_diag_t, packet_type) \
    F(mqr_diag_t, line) F(mqr_diag_t, column) F(mqr_diag_t, reserved_) F(mqr_diag_t, offset) \
    F(mqr_diag_t, field) F(mqr_diag_t, message) \
    S(mqr_value_t) \
    F(mqr_value_t, type) F(mqr_value_t, flags) F(mqr_value_t, reserved_) F(mqr_value_t, len) \
    F(mqr_value_t, u) \
    S(mqr_member_t) \
    F(mqr_member_t, key) F(mqr_member_t, key_len) F(mqr_member_t, reserved_) \
    F(mqr_member_t, value) \
    S(mqr_allocator_t) \
    F(mqr_allocator_t, fn) F(mqr_allocator_t, ud) \
    S(mqr_rule_options_t) \
    F(mqr_rule_options_t, rule_id) F(mqr_rule_options_t, alloc) \
    F(mqr_rule_options_t, max_sql_len) F(mqr_rule_options_t, max_depth) \
    F(mqr_rule_options_t, max_steps) F(mqr_rule_options_t, max_output) \
    F(mqr_rule_options_t, flags) F(mqr_rule_options_t, local_offset_s) \
    F(mqr_rule_options_t, rng_seed) F(mqr_rule_options_t, clock) \
    F(mqr_rule_options_t, clock_ud) \
    S(mqr_rule_test_options_t) \
    F(mqr_rule_test_options_t, names) F(mqr_rule_test_options_t, reserved_) \
    F(mqr_rule_test_options_t, now_ms) F(mqr_rule_test_options_t, node) \
    F(mqr_rule_test_options_t, id_seq) \
    S(mqr_http_header_t) \
    F(mqr_http_header_t, name) F(mqr_http_header_t, name_len) F(mqr_http_header_t, value) \
    F(mqr_http_header_t, value_len) \
    S(mqr_http_config_t) \
    F(mqr_http_config_t, url) F(mqr_http_config_t, method) \
    F(mqr_http_config_t, header_count) F(mqr_http_config_t, headers) \
    F(mqr_http_config_t, max_queue_count) F(mqr_http_config_t, enable_pipelining) \
    F(mqr_http_config_t, max_queue_bytes) F(mqr_http_config_t, request_timeout_ms) \
    F(mqr_http_config_t, connect_timeout_ms) F(mqr_http_config_t, ttl_ms) \
    F(mqr_http_config_t, backoff_initial_ms) F(mqr_http_config_t, backoff_max_ms) \
    F(mqr_http_config_t, pool_size) F(mqr_http_config_t, max_attempts) \
    F(mqr_http_config_t, max_response_head) F(mqr_http_config_t, tls_insecure) \
    F(mqr_http_config_t, max_inactive_ms) F(mqr_http_config_t, ca_file) \
    F(mqr_http_config_t, allocator) F(mqr_http_config_t, on_done) F(mqr_http_config_t, ud) \
    F(mqr_http_config_t, cert_file) F(mqr_http_config_t, key_file) \
    S(mqr_http_action_config_t) \
    F(mqr_http_action_config_t, http) F(mqr_http_action_config_t, path) \
    F(mqr_http_action_config_t, method) F(mqr_http_action_config_t, header_count) \
    F(mqr_http_action_config_t, headers) F(mqr_http_action_config_t, body) \
    S(mqr_republish_config_t) \
    F(mqr_republish_config_t, topic) F(mqr_republish_config_t, payload) \
    F(mqr_republish_config_t, qos) F(mqr_republish_config_t, retain) \
    F(mqr_republish_config_t, user_properties) \
    F(mqr_republish_config_t, payload_format_indicator) \
    F(mqr_republish_config_t, message_expiry_interval) \
    F(mqr_republish_config_t, content_type) F(mqr_republish_config_t, response_topic) \
    F(mqr_republish_config_t, correlation_data) F(mqr_republish_config_t, direct_dispatch) \
    F(mqr_republish_config_t, fixed_user_property_count) \
    F(mqr_republish_config_t, reserved_) F(mqr_republish_config_t, fixed_user_properties) \
    S(mqr_user_property_t) \
    F(mqr_user_property_t, key) F(mqr_user_property_t, key_len) \
    F(mqr_user_property_t, value) F(mqr_user_property_t, value_len) \
    S(mqr_publish_msg_t) \
    F(mqr_publish_msg_t, rule_id) F(mqr_publish_msg_t, topic) \
    F(mqr_publish_msg_t, topic_len) F(mqr_publish_msg_t, payload) \
    F(mqr_publish_msg_t, payload_len) F(mqr_publish_msg_t, qos) F(mqr_publish_msg_t, retain) \
    F(mqr_publish_msg_t, direct_dispatch) F(mqr_publish_msg_t, user_property_count) \
    F(mqr_publish_msg_t, user_properties) F(mqr_publish_msg_t, payload_format_indicator) \
    F(mqr_publish_msg_t, message_expiry_interval) F(mqr_publish_msg_t, content_type) \
    F(mqr_publish_msg_t, content_type_len) F(mqr_publish_msg_t, response_topic) \
    F(mqr_publish_msg_t, response_topic_len) F(mqr_publish_msg_t, correlation_data) \
    F(mqr_publish_msg_t, correlation_data_len) F(mqr_publish_msg_t, cause) \
    F(mqr_publish_msg_t, cause_len) F(mqr_publish_msg_t, action_id) \
    F(mqr_publish_msg_t, reserved_) \
    S(mqr_action_metrics_t) \
    F(mqr_action_metrics_t, kind) F(mqr_action_metrics_t, reserved_) \
    F(mqr_action_metrics_t, matched) F(mqr_action_metrics_t, success) \
    F(mqr_action_metrics_t, failed) F(mqr_action_metrics_t, dropped) \
    F(mqr_action_metrics_t, dropped_expired) F(mqr_action_metrics_t, dropped_queue_full) \
    F(mqr_action_metrics_t, dropped_other) F(mqr_action_metrics_t, queuing) \
    F(mqr_action_metrics_t, inflight) F(mqr_action_metrics_t, retried) \
    F(mqr_action_metrics_t, timeouts) F(mqr_action_metrics_t, refused_recursive) \
    F(mqr_action_metrics_t, headers_refused) F(mqr_action_metrics_t, late_reply) \
    F(mqr_action_metrics_t, queuing_bytes) F(mqr_action_metrics_t, retried_success) \
    F(mqr_action_metrics_t, retried_failed) F(mqr_action_metrics_t, fallback_triggered) \
    F(mqr_action_metrics_t, discarded) \
    S(mqr_queue_stats_t) \
    F(mqr_queue_stats_t, state) F(mqr_queue_stats_t, last_error_code) \
    F(mqr_queue_stats_t, queue_id) F(mqr_queue_stats_t, records) F(mqr_queue_stats_t, bytes) \
    F(mqr_queue_stats_t, pending) F(mqr_queue_stats_t, inflight) \
    F(mqr_queue_stats_t, next_seq) F(mqr_queue_stats_t, appended) \
    F(mqr_queue_stats_t, acked) F(mqr_queue_stats_t, retried) F(mqr_queue_stats_t, replayed) \
    F(mqr_queue_stats_t, dropped_oldest) F(mqr_queue_stats_t, refused_newest) \
    F(mqr_queue_stats_t, corrupt_records) F(mqr_queue_stats_t, torn_tails) \
    F(mqr_queue_stats_t, memory_records) F(mqr_queue_stats_t, write_errors) \
    F(mqr_queue_stats_t, fsyncs) F(mqr_queue_stats_t, segments) \
    F(mqr_queue_stats_t, segments_deleted) F(mqr_queue_stats_t, disk_bytes) \
    S(mqr_queue_options_t) \
    F(mqr_queue_options_t, alloc) F(mqr_queue_options_t, dir) \
    F(mqr_queue_options_t, max_buffer_bytes) F(mqr_queue_options_t, segment_bytes) \
    F(mqr_queue_options_t, sync) F(mqr_queue_options_t, sync_interval_ms) \
    F(mqr_queue_options_t, overflow) F(mqr_queue_options_t, reserved_) \
    F(mqr_queue_options_t, clock) F(mqr_queue_options_t, clock_ud) \
    S(mqr_action_persist_config_t) \
    F(mqr_action_persist_config_t, queue) F(mqr_action_persist_config_t, id_name) \
    F(mqr_action_persist_config_t, window) F(mqr_action_persist_config_t, reserved_) \
    S(mqr_event_schema_t) \
    F(mqr_event_schema_t, id) F(mqr_event_schema_t, field_count) F(mqr_event_schema_t, name) \
    F(mqr_event_schema_t, legacy_topic) F(mqr_event_schema_t, topic) \
    F(mqr_event_schema_t, test_type) F(mqr_event_schema_t, fields) \
    S(mqr_engine_options_t) \
    F(mqr_engine_options_t, alloc) F(mqr_engine_options_t, names) \
    F(mqr_engine_options_t, flags) F(mqr_engine_options_t, node) \
    F(mqr_engine_options_t, clock) F(mqr_engine_options_t, clock_ud) \
    F(mqr_engine_options_t, mono_clock) F(mqr_engine_options_t, mono_clock_ud) \
    F(mqr_engine_options_t, publish) F(mqr_engine_options_t, publish_ud) \
    F(mqr_engine_options_t, local_offset_s) F(mqr_engine_options_t, max_depth) \
    F(mqr_engine_options_t, rng_seed) F(mqr_engine_options_t, max_steps) \
    F(mqr_engine_options_t, max_output) F(mqr_engine_options_t, max_sql_len) \
    F(mqr_engine_options_t, reserved_) F(mqr_engine_options_t, sock_fn) \
    F(mqr_engine_options_t, sock_ud) F(mqr_engine_options_t, timer_fn) \
    F(mqr_engine_options_t, timer_ud) F(mqr_engine_options_t, error_fn) \
    F(mqr_engine_options_t, error_ud) \
    S(mqr_engine_message_t) \
    F(mqr_engine_message_t, topic) F(mqr_engine_message_t, topic_len) \
    F(mqr_engine_message_t, payload) F(mqr_engine_message_t, payload_len) \
    F(mqr_engine_message_t, qos) F(mqr_engine_message_t, retain) \
    F(mqr_engine_message_t, dup) F(mqr_engine_message_t, direct_dispatch) \
    F(mqr_engine_message_t, id) F(mqr_engine_message_t, id_len) \
    F(mqr_engine_message_t, clientid) F(mqr_engine_message_t, clientid_len) \
    F(mqr_engine_message_t, username) F(mqr_engine_message_t, username_len) \
    F(mqr_engine_message_t, peerhost) F(mqr_engine_message_t, peerhost_len) \
    F(mqr_engine_message_t, peername) F(mqr_engine_message_t, peername_len) \
    F(mqr_engine_message_t, republish_by) F(mqr_engine_message_t, republish_by_len) \
    F(mqr_engine_message_t, pub_props) F(mqr_engine_message_t, publish_received_at) \
    F(mqr_engine_message_t, props) F(mqr_engine_message_t, cause) \
    F(mqr_engine_message_t, cause_len) \
    S(mqr_engine_rule_def_t) \
    F(mqr_engine_rule_def_t, id) F(mqr_engine_rule_def_t, sql) \
    F(mqr_engine_rule_def_t, description) F(mqr_engine_rule_def_t, enabled) \
    F(mqr_engine_rule_def_t, reserved_) \
    S(mqr_rule_metrics_t) \
    F(mqr_rule_metrics_t, matched) F(mqr_rule_metrics_t, passed) \
    F(mqr_rule_metrics_t, failed) F(mqr_rule_metrics_t, failed_exception) \
    F(mqr_rule_metrics_t, failed_no_result) F(mqr_rule_metrics_t, actions_total) \
    F(mqr_rule_metrics_t, actions_success) F(mqr_rule_metrics_t, actions_failed) \
    F(mqr_rule_metrics_t, actions_failed_out_of_service) \
    F(mqr_rule_metrics_t, actions_failed_unknown) \
    F(mqr_rule_metrics_t, actions_discarded) F(mqr_rule_metrics_t, matched_rate) \
    F(mqr_rule_metrics_t, matched_rate_max) F(mqr_rule_metrics_t, matched_rate_last5m) \
    S(mqr_engine_error_t) \
    F(mqr_engine_error_t, status) F(mqr_engine_error_t, action_id) \
    F(mqr_engine_error_t, line) F(mqr_engine_error_t, column) F(mqr_engine_error_t, offset) \
    F(mqr_engine_error_t, time_ms) F(mqr_engine_error_t, count) \
    F(mqr_engine_error_t, message) \
    S(mqr_sockaddr_t) \
    F(mqr_sockaddr_t, family) F(mqr_sockaddr_t, reserved_) F(mqr_sockaddr_t, port) \
    F(mqr_sockaddr_t, addr) \
    S(mqr_connack_input_t) \
    F(mqr_connack_input_t, connect) F(mqr_connack_input_t, complete) \
    F(mqr_connack_input_t, reason_code) F(mqr_connack_input_t, connack_sent) \
    F(mqr_connack_input_t, names) F(mqr_connack_input_t, peer) F(mqr_connack_input_t, sock) \
    F(mqr_connack_input_t, timestamp_ms) F(mqr_connack_input_t, connected_at_ms) \
    F(mqr_connack_input_t, v3_session_expiry_ms) \
    F(mqr_connack_input_t, max_session_expiry_s) F(mqr_connack_input_t, node_len) \
    F(mqr_connack_input_t, node) \
    S(mqr_props_t) \
    F(mqr_props_t, ptr) F(mqr_props_t, len) F(mqr_props_t, present) \
    S(mqr_event_conn_t) \
    F(mqr_event_conn_t, clientid) F(mqr_event_conn_t, clientid_len) \
    F(mqr_event_conn_t, username_len) F(mqr_event_conn_t, username) \
    F(mqr_event_conn_t, mountpoint) F(mqr_event_conn_t, mountpoint_len) \
    F(mqr_event_conn_t, listener_len) F(mqr_event_conn_t, listener) \
    F(mqr_event_conn_t, protocol) F(mqr_event_conn_t, protocol_len) \
    F(mqr_event_conn_t, proto_ver) F(mqr_event_conn_t, peer) F(mqr_event_conn_t, sock) \
    F(mqr_event_conn_t, keepalive) F(mqr_event_conn_t, clean_start) \
    F(mqr_event_conn_t, is_bridge) F(mqr_event_conn_t, is_superuser) \
    F(mqr_event_conn_t, receive_maximum) F(mqr_event_conn_t, reserved_) \
    F(mqr_event_conn_t, expiry_interval_s) F(mqr_event_conn_t, connected_at_ms) \
    F(mqr_event_conn_t, conn_props) \
    S(mqr_event_msg_t) \
    F(mqr_event_msg_t, id) F(mqr_event_msg_t, id_len) F(mqr_event_msg_t, topic_len) \
    F(mqr_event_msg_t, topic) F(mqr_event_msg_t, payload) F(mqr_event_msg_t, payload_len) \
    F(mqr_event_msg_t, qos) F(mqr_event_msg_t, retain) F(mqr_event_msg_t, dup) \
    F(mqr_event_msg_t, from_clientid) F(mqr_event_msg_t, from_username) \
    F(mqr_event_msg_t, from_clientid_len) F(mqr_event_msg_t, from_username_len) \
    F(mqr_event_msg_t, from_peer) F(mqr_event_msg_t, publish_received_at_ms) \
    F(mqr_event_msg_t, props) \
    S(mqr_event_input_t) \
    F(mqr_event_input_t, conn) F(mqr_event_input_t, msg) F(mqr_event_input_t, packet) \
    F(mqr_event_input_t, topic) F(mqr_event_input_t, topic_len) F(mqr_event_input_t, qos) \
    F(mqr_event_input_t, reason) F(mqr_event_input_t, reason_len) \
    F(mqr_event_input_t, reason_code) F(mqr_event_input_t, action) \
    F(mqr_event_input_t, allow) F(mqr_event_input_t, authz_source) \
    F(mqr_event_input_t, message) F(mqr_event_input_t, details) \
    F(mqr_event_input_t, timestamp_ms) F(mqr_event_input_t, at_ms) \
    F(mqr_event_input_t, deactivated_at_ms) F(mqr_event_input_t, node) \
    F(mqr_event_input_t, node_len) F(mqr_event_input_t, reserved_) \
    S(mqr_packet_opts_t) \
    F(mqr_packet_opts_t, max_packet_size) F(mqr_packet_opts_t, proto_ver) \
    F(mqr_packet_opts_t, direction) F(mqr_packet_opts_t, utf8) \
    S(mqr_packet_stream_t) \
    F(mqr_packet_stream_t, opts) F(mqr_packet_stream_t, need) \
    F(mqr_packet_stream_t, packets) F(mqr_packet_stream_t, offset)

typedef struct abi_struct {
    const char *name;
    size_t size;
} abi_struct_t;

typedef struct abi_field {
    const char *type;
    const char *name;
    size_t offset;
    size_t size;
} abi_field_t;

#define ABI_S(T) {#T, sizeof(T)},
#define ABI_NONE(T, f)
static const abi_struct_t abi_structs[] = {MQR__ABI_LIST(ABI_S, ABI_NONE)};

#define ABI_F(T, f) {#T, #f, offsetof(T, f), sizeof(((T *)0)->f)},
#define ABI_NOS(T)
static const abi_field_t abi_fields[] = {MQR__ABI_LIST(ABI_NOS, ABI_F)};

#define ABI_COUNT(a) (sizeof(a) / sizeof((a)[0]))

size_t mqr_abi_struct_size(const char *struct_name)
{
    if (struct_name == NULL) return 0;
    for (size_t i = 0; i < ABI_COUNT(abi_structs); i++)
        if (strcmp(abi_structs[i].name, struct_name) == 0) return abi_structs[i].size;
    return 0;
}

const char *mqr_abi_struct_name(size_t index)
{
    return index < ABI_COUNT(abi_structs) ? abi_structs[index].name : NULL;
}

/* The table row of (struct_name, field_name), NULL when either is NULL or
 * not covered. */
static const abi_field_t *abi_field_find(const char *struct_name, const char *field_name)
{
    if (struct_name == NULL || field_name == NULL) return NULL;
    for (size_t i = 0; i < ABI_COUNT(abi_fields); i++)
        if (strcmp(abi_fields[i].type, struct_name) == 0 &&
            strcmp(abi_fields[i].name, field_name) == 0)
            return &abi_fields[i];
    return NULL;
}

const char *mqr_abi_field_name(const char *struct_name, size_t index)
{
    if (struct_name == NULL) return NULL;
    for (size_t i = 0; i < ABI_COUNT(abi_fields); i++)
        if (strcmp(abi_fields[i].type, struct_name) == 0 && index-- == 0)
            return abi_fields[i].name;
    return NULL;
}

int mqr_abi_field_offset(const char *struct_name, const char *field_name, size_t *out_offset)
{
    if (struct_name == NULL || field_name == NULL || out_offset == NULL) return MQR_EINVAL;
    const abi_field_t *f = abi_field_find(struct_name, field_name);
    if (f == NULL) return MQR_ENOTFOUND;
    *out_offset = f->offset;
    return MQR_OK;
}

size_t mqr_abi_field_size(const char *struct_name, const char *field_name)
{
    const abi_field_t *f = abi_field_find(struct_name, field_name);
    return f ? f->size : 0;
}
