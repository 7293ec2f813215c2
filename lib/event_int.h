/* SPDX-License-Identifier: MIT */
/*
 * event_int.h - what the event builders share with the engine and with each
 * other: the property-map builder of spec §1.4 (event_connack.c) and the
 * per-event templates the builders fill by position (event_build.c).
 *
 * A template is the members of one event in schema order with every value
 * undefined but `event`, plus, for each column the builders know (the
 * MQR__EVCOLS list), its position in that event or -1. It is made once from
 * the static schema (mqr__event_tmpl_init) and kept by its user: the engine
 * holds one per event id, mqr_event_build() makes one on the stack.
 */
#ifndef MQR_EVENT_INT_H
#define MQR_EVENT_INT_H

#include "mqttrule/event.h"

/*
 * Every column a builder sets. One X-macro makes the MQR__EVCOL_* ids and
 * their names, so the two stay in step.
 */
#define MQR__EVCOLS(X)                                                                          \
    X(action) X(activated_at) X(authz_source) X(clean_start) X(client_attrs) X(clientid)        \
    X(conn_props) X(connected_at) X(deactivated_at) X(details) X(disconn_props)                 \
    X(disconnected_at) X(expiry_interval) X(flags) X(from_clientid) X(from_username) X(id)      \
    X(is_anonymous) X(is_bridge) X(is_superuser) X(keepalive) X(message) X(mountpoint) X(name)  \
    X(node) X(payload) X(peerhost) X(peername) X(proto_name) X(proto_ver) X(pub_props)          \
    X(puback_props) X(publish_received_at) X(qos) X(reason) X(reason_code) X(receive_maximum)   \
    X(result) X(sockname) X(sub_props) X(timestamp) X(topic) X(transformation) X(unsub_props)   \
    X(username) X(validation)

enum {
#define MQR__EVCOL_ID(n) MQR__EVCOL_##n,
    MQR__EVCOLS(MQR__EVCOL_ID)
#undef MQR__EVCOL_ID
    MQR__EVCOL_COUNT
};

/* One event's template (see the top of this file). */
typedef struct mqr__ev_tmpl {
    uint32_t id;    /* MQR_EVENT_* */
    uint32_t n;     /* members */
    int8_t slot[MQR__EVCOL_COUNT];
    mqr_member_t members[MQR_EVENT_MAX_FIELDS];
} mqr__ev_tmpl_t;

/* Fill *t for event `id` (< MQR_EVENT_COUNT) from the static schema. */
void mqr__event_tmpl_init(mqr__ev_tmpl_t *t, uint32_t id);

/*
 * Build the event of template t from *in into *out, in `arena`, with room
 * for `spare` more members after the schema's (the engine appends
 * `metadata` there). `now` fills a zero in->timestamp_ms; node/node_len the
 * node column (NULL: undefined). Statuses of mqr_event_build().
 */
int mqr__event_build(const mqr__ev_tmpl_t *t, const mqr_event_input_t *in, mqr_arena_t *arena,
                     uint32_t spare, int64_t now, const char *node, size_t node_len,
                     mqr_value_t *out, mqr_diag_t *diag);

/*
 * A property map of spec §1.4 from `props` (NULL or not present: a v3
 * packet, {"User-Property": {}}): plain properties in wire order, then
 * "User-Property" (last of a repeated key wins) and, with at least one user
 * property, "User-Property-Pairs" in wire order. `what` names the event in
 * an error ("client.connack"). Returns MQR_OK, MQR_ENOMEM, or MQR_EINVAL for
 * property bytes that are not valid.
 */
int mqr__event_props(mqr_arena_t *arena, const mqr_props_t *props, const char *what,
                     mqr_value_t *out, mqr_diag_t *diag);

#endif /* MQR_EVENT_INT_H */
