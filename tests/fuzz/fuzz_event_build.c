/* SPDX-License-Identifier: MIT */
/*
 * fuzz_event_build.c - feeds the event builders (mqr_event_build) whatever the
 * packet decoder makes of arbitrary bytes. The first input byte picks the
 * event id and the MQTT level the rest is decoded at; a packet that decodes
 * becomes in.packet, and its bytes also serve as the connection's CONNECT
 * properties and the message's PUBLISH properties (unvalidated bytes: the
 * builder must refuse them with MQR_EINVAL, never read past them). Every
 * build returns MQR_OK, MQR_EINVAL or MQR_ENOTFOUND, and a built event has
 * its schema's members in order and renders to JSON. The arena is small so
 * that growth paths run too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqttrule.h"
#include "value_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t id = data[0] % MQR_EVENT_COUNT;
    mqr_packet_opts_t o = {0, (data[0] & 0x80) ? MQR_PROTO_V5 : MQR_PROTO_V311, MQR_PKT_DIR_ANY,
                           0};
    mqr_packet_t pkt;
    size_t used = 0;
    memset(&pkt, 0, sizeof pkt);
    int dst = mqr_packet_decode(data + 1, size - 1, &o, &pkt, &used, NULL);

    mqr_props_t raw = {data + 1, (uint32_t)(size - 1), 1};
    mqr_event_conn_t c;
    mqr_event_conn_init(&c);
    c.clientid = "c";
    c.clientid_len = 1;
    c.proto_ver = data[1] & 7;
    c.peer.family = MQR_ADDR_IPV6;
    memset(c.peer.addr, data[1], sizeof c.peer.addr);
    c.conn_props = raw;
    mqr_event_msg_t m;
    mqr_event_msg_init(&m);
    m.topic = "t";
    m.topic_len = 1;
    m.props = raw;
    mqr_event_input_t in;
    mqr_event_input_init(&in);
    in.conn = &c;
    in.msg = &m;
    in.packet = dst == MQR_OK ? &pkt : NULL;

    mqr_arena_t *arena;
    if (mqr_arena_create(NULL, 64, &arena) != MQR_OK)
        return 0;
    mqr_value_t ev;
    int st = mqr_event_build(id, &in, arena, &ev, NULL);
    if (st != MQR_OK && st != MQR_EINVAL && st != MQR_ENOTFOUND)
        abort();
    if (st == MQR_OK) {
        const mqr_event_schema_t *schema = mqr_event_at(id);
        if (ev.type != MQR_VAL_OBJECT || ev.len != schema->field_count)
            abort();
        for (uint32_t i = 0; i < ev.len; i++)
            if (ev.u.members[i].key_len != schema->fields[i].name_len)
                abort();
        mqr__sbuf_t b;
        mqr__sbuf_init_heap(&b, NULL);
        mqr__json_write(&b, &ev, 0);
        if (mqr__sbuf_status(&b) != MQR_OK)
            abort();
        mqr__sbuf_free(&b);
    }
    mqr_arena_destroy(arena);
    return 0;
}
