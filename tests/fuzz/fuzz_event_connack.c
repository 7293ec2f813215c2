/* SPDX-License-Identifier: MIT */
/*
 * fuzz_event_connack.c - feeds the client.connack builder whatever the packet
 * decoder makes of arbitrary bytes: a complete CONNECT, or (decision D2) the
 * partial CONNECT a failed decode leaves behind. The first input byte picks
 * the reason code, the profile and whether a CONNACK was sent; the rest is the
 * packet. The builder must return MQR_OK for every CONNECT (complete or
 * partial), produce the schema's members in order, and render to JSON; the
 * arena is small so that growth paths run too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqttrule.h"
#include "value_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t ctl = data[0];
    mqr_packet_t pkt;
    size_t used = 0;
    memset(&pkt, 0, sizeof pkt);
    int st = mqr_packet_decode(data + 1, size - 1, NULL, &pkt, &used, NULL);
    if (pkt.type != MQR_PKT_CONNECT || st == MQR_NEED_MORE || st == MQR_EINVAL)
        return 0;

    mqr_connack_input_t in;
    mqr_event_connack_init(&in);
    in.connect = &pkt;
    in.complete = st == MQR_OK;
    in.reason_code = (ctl & 0x80) ? 0x80 + (ctl & 0x3f) : (ctl & 0x07);
    in.names = (ctl >> 6) & 1;
    in.connack_sent = (ctl >> 5) & 1;
    in.peer.family = MQR_ADDR_IPV6;
    memset(in.peer.addr, ctl, sizeof in.peer.addr);
    in.timestamp_ms = 1;

    mqr_arena_t *arena;
    if (mqr_arena_create(NULL, 64, &arena) != MQR_OK)
        return 0;
    mqr_value_t ev;
    st = mqr_event_connack_build(&in, arena, &ev, NULL);
    if (st != MQR_OK)
        abort();
    const mqr_event_schema_t *schema = mqr_event_at(MQR_EVENT_CLIENT_CONNACK);
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
    mqr_arena_destroy(arena);
    return 0;
}
