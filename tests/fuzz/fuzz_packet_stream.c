/* SPDX-License-Identifier: MIT */
/*
 * fuzz_packet_stream.c - libFuzzer target for the stream decoder. The first
 * input byte picks the options (protocol level, direction, a small maximum
 * packet size) and the chunk size, the input's parity the UTF-8 policy; the
 * rest is one direction of a TCP stream. The same bytes are decoded twice, whole and in chunks, and must
 * give the same packets, the same final status and the same error offset.
 * Every decoded packet is walked with the property, subscription and filter
 * iterators, which must not read outside the input (ASan checks).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqttrule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PACKETS 64

typedef struct run {
    int status;
    size_t count;
    uint8_t types[MAX_PACKETS];
    size_t sizes[MAX_PACKETS];
    uint64_t err_offset;
} run_t;

/* Walk everything a packet exposes through iterators. */
static void walk(const mqr_packet_t *p)
{
    const mqr_props_t *lists[2] = {NULL, NULL};
    switch (p->type) {
    case MQR_PKT_CONNECT: lists[0] = &p->connect.props; lists[1] = &p->connect.will_props; break;
    case MQR_PKT_CONNACK: lists[0] = &p->connack.props; break;
    case MQR_PKT_PUBLISH: lists[0] = &p->publish.props; break;
    case MQR_PKT_SUBSCRIBE: lists[0] = &p->subscribe.props; break;
    case MQR_PKT_UNSUBSCRIBE: lists[0] = &p->unsubscribe.props; break;
    case MQR_PKT_SUBACK:
    case MQR_PKT_UNSUBACK: lists[0] = &p->suback.props; break;
    case MQR_PKT_DISCONNECT:
    case MQR_PKT_AUTH: lists[0] = &p->disconnect.props; break;
    default: lists[0] = &p->ack.props; break;
    }
    volatile uint32_t sink = 0;
    for (int i = 0; i < 2; i++) {
        if (!lists[i])
            continue;
        mqr_packet_iter_t it;
        mqr_prop_t pr;
        mqr_packet_iter_props(&it, lists[i]);
        while (mqr_packet_prop_next(&it, &pr))
            sink += pr.value + pr.str.len + pr.str2.len + pr.bin.len;
    }
    mqr_packet_iter_t it;
    mqr_subscription_t s;
    uint32_t n = 0;
    mqr_packet_iter_subscriptions(&it, p);
    while (mqr_packet_subscription_next(&it, &s))
        n++;
    if (p->type == MQR_PKT_SUBSCRIBE && n != p->subscribe.count)
        abort();
    mqr_str_t f;
    n = 0;
    mqr_packet_iter_filters(&it, p);
    while (mqr_packet_filter_next(&it, &f))
        n++;
    if (p->type == MQR_PKT_UNSUBSCRIBE && n != p->unsubscribe.count)
        abort();
    (void)sink;
}

/* Decode data[0..size) delivering `step` bytes at a time (0: all at once). */
static void run_stream(const uint8_t *data, size_t size, const mqr_packet_opts_t *o, size_t step,
                       run_t *out)
{
    mqr_packet_stream_t s;
    mqr_packet_stream_init(&s, o);
    memset(out, 0, sizeof *out);
    size_t start = 0, avail = step ? (step < size ? step : size) : size;
    for (;;) {
        mqr_packet_t p;
        size_t n = 0;
        mqr_diag_t d;
        /* A heap copy of exactly the available bytes: over-reads are caught. */
        size_t have = avail - start;
        uint8_t *copy = malloc(have ? have : 1);
        memcpy(copy, data + start, have);
        int rc = mqr_packet_stream_next(&s, copy, have, &p, &n, &d);
        if (rc == MQR_OK) {
            walk(&p);
            free(copy);
            if (out->count < MAX_PACKETS) {
                out->types[out->count] = p.type;
                out->sizes[out->count] = n;
            }
            out->count++;
            start += n;
            continue;
        }
        free(copy);
        if (rc == MQR_NEED_MORE && avail < size) {
            avail = step && avail + step < size ? avail + step : size;
            continue;
        }
        out->status = rc;
        out->err_offset = rc < 0 ? d.offset : 0;
        return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    mqr_packet_opts_t o;
    memset(&o, 0, sizeof o);
    o.proto_ver = (uint8_t)(3 + (sel & 3) % 3);
    o.direction = (uint8_t)((sel >> 2) & 3) % 3;
    o.max_packet_size = (sel & 0x10) ? 64 : 0;
    o.utf8 = (uint16_t)(size & 1); /* both UTF-8 policies, without a selector bit */
    size_t step = (size_t)(sel >> 5) + 1; /* 1..8 */
    run_t whole, chunked;
    run_stream(data + 1, size - 1, &o, 0, &whole);
    run_stream(data + 1, size - 1, &o, step, &chunked);
    if (whole.count != chunked.count || whole.status != chunked.status ||
        whole.err_offset != chunked.err_offset)
        abort();
    size_t k = whole.count < MAX_PACKETS ? whole.count : MAX_PACKETS;
    if (memcmp(whole.types, chunked.types, k) != 0 ||
        memcmp(whole.sizes, chunked.sizes, k * sizeof(size_t)) != 0)
        abort();
    return 0;
}
