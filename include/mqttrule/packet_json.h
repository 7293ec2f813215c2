/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/packet_json.h - MQTT packets as JSON and back, in the schema of
 * docs/packet.md (one object per packet: "type", then the packet's fields;
 * binary data as text or "<key>_hex"; MQTT 5 properties by their spec
 * names). mqttrule-packet and the Python bindings are built on it.
 *
 * Decoded packets become mqr_value_t objects (mqr_packet_to_value) or JSON
 * text (mqr_packet_to_json); objects and JSON text become packets
 * (mqr_packet_from_value) or wire bytes (mqr_packet_encode_json). The round
 * trip decode -> JSON -> encode gives the input bytes back. Every function
 * takes its memory from the caller's arena (mqttrule/value.h), so one
 * mqr_arena_reset() frees a conversion's results; none keeps state, and
 * different arenas may be used from different threads at once.
 */
#ifndef MQTTRULE_PACKET_JSON_H
#define MQTTRULE_PACKET_JSON_H

#include "common.h"
#include "packet.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * sizeof(mqr_packet_t), for bindings that hold a packet as opaque storage
 * (ctypes) instead of mirroring its layout. Thread-safe.
 */
MQR_API size_t mqr_packet_struct_size(void);

/**
 * Build the JSON object of a decoded packet in `arena`.
 *
 * The value's strings borrow the bytes the packet was decoded from: it is
 * valid while those bytes are unchanged and the arena is not reset or
 * destroyed. Returns MQR_OK; MQR_EINVAL (an argument is NULL); MQR_ENOMEM
 * (the arena could not grow; *out_value unchanged). Thread-safe for
 * different arenas.
 */
MQR_API int mqr_packet_to_value(const mqr_packet_t *packet, mqr_arena_t *arena,
                                mqr_value_t *out_value);

/**
 * As mqr_packet_to_value(), then write the object as compact JSON into the
 * arena: *out_json (NUL-terminated, *out_len bytes without the NUL) lives
 * until the arena is reset or destroyed and does not borrow the input.
 * Returns MQR_OK, MQR_EINVAL (an argument is NULL) or MQR_ENOMEM.
 */
MQR_API int mqr_packet_to_json(const mqr_packet_t *packet, mqr_arena_t *arena,
                               const char **out_json, size_t *out_len);

/**
 * Read a JSON object as mqr_packet_to_value() writes it into *out_packet.
 *
 * *io_proto_ver is the protocol level of packets that do not say (3, 4 or 5;
 * 0 means 4); a packet's own "proto_ver" member overrides it for that
 * packet, and a CONNECT's level is stored back into *io_proto_ver, so
 * successive calls follow a stream as the decoder does. Property buffers,
 * hex-decoded bytes and SUBSCRIBE/UNSUBSCRIBE lists are allocated in
 * `arena`; other strings borrow from `value`. The packet is valid while
 * both are. It is not validated beyond the schema: mqr_packet_size() and
 * mqr_packet_encode() check it.
 *
 * Returns MQR_OK; MQR_EINVAL (a NULL argument, a level outside 3..5, or a
 * schema error: not an object, unknown "type", a missing required member, a
 * member of the wrong type or range, an unknown property name, bad hex;
 * diag->message says which, e.g. "missing \"packet_id\"", and diag->field
 * names the member); MQR_ENOMEM. diag may be NULL. Thread-safe for
 * different arenas.
 */
MQR_API int mqr_packet_from_value(const mqr_value_t *value, mqr_arena_t *arena,
                                  int *io_proto_ver, mqr_packet_t *out_packet,
                                  mqr_diag_t *diag);

/**
 * Parse `len` bytes of JSON text (one packet object), read it with
 * mqr_packet_from_value() and encode it: *out_bytes (*out_len bytes) lives
 * in the arena until its next reset. *io_proto_ver as for
 * mqr_packet_from_value(). `json` must stay unchanged for the call only.
 *
 * Returns MQR_OK; MQR_EJSON / MQR_ELIMIT (not valid JSON, with the byte
 * offset in diag); the statuses of mqr_packet_from_value(); the encoder's
 * statuses (MQR_EPROTOCOL, MQR_EUTF8, MQR_ETOPIC, MQR_EFILTER, MQR_EPROPERTY,
 * MQR_ETOOLARGE, ... as mqttrule/packet.h lists them, with the field in
 * diag); MQR_EINVAL for a NULL argument; MQR_ENOMEM. diag may be NULL.
 */
MQR_API int mqr_packet_encode_json(const char *json, size_t len, mqr_arena_t *arena,
                                   int *io_proto_ver, const uint8_t **out_bytes,
                                   size_t *out_len, mqr_diag_t *diag);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_PACKET_JSON_H */
