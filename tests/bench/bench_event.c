/* SPDX-License-Identifier: MIT */
/*
 * bench_event.c - how long building a client.connack event takes: decode a
 * v5 CONNECT with properties once, then build the event N times into one
 * arena that is reset after each build (the broker's pattern), and the same
 * for a v3.1.1 CONNECT; also the cost of resolving a FROM topic and matching
 * an `$events/#` filter. Prints ns per operation.
 *
 *   bench_event [iterations]      (default 1000000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqttrule.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* v5 CONNECT: client id c_emqx, user u_emqx, password pw, keepalive 60, clean
 * start, Session-Expiry-Interval 60, Receive-Maximum 32, two user properties. */
static const uint8_t connect_v5[] = {
    0x10, 0x35, 0, 4, 'M', 'Q', 'T', 'T', 5, 0xC2, 0, 60, 22,
    0x11, 0, 0, 0, 60, 0x21, 0, 32,
    0x26, 0, 1, 'a', 0, 1, '1', 0x26, 0, 1, 'b', 0, 1, '2',
    0, 6, 'c', '_', 'e', 'm', 'q', 'x', 0, 6, 'u', '_', 'e', 'm', 'q', 'x', 0, 2, 'p', 'w',
};

/* v3.1.1 CONNECT: client id conn, user u_emqx, password pw, keepalive 60. */
static const uint8_t connect_v311[] = {
    0x10, 0x1c, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xC2, 0, 60,
    0, 4, 'c', 'o', 'n', 'n', 0, 6, 'u', '_', 'e', 'm', 'q', 'x', 0, 2, 'p', 'w',
};

/* Build the event `n` times; returns ns per build, or -1 on failure. */
static double bench_build(const uint8_t *bytes, size_t len, int reason, long n)
{
    mqr_packet_t pkt;
    size_t used;
    mqr_diag_t d;
    if (mqr_packet_decode(bytes, len, NULL, &pkt, &used, &d) != MQR_OK) {
        fprintf(stderr, "decode: %s\n", d.message);
        return -1;
    }
    mqr_connack_input_t in;
    mqr_event_connack_init(&in);
    in.connect = &pkt;
    in.reason_code = reason;
    in.peer = (mqr_sockaddr_t){.family = MQR_ADDR_IPV4, .port = 56431, .addr = {192, 168, 0, 10}};
    in.sock = (mqr_sockaddr_t){.family = MQR_ADDR_IPV4, .port = 1883};
    in.timestamp_ms = 1736512728667;
    in.node = "mqttrule@127.0.0.1";
    in.node_len = 18;
    mqr_arena_t *arena;
    if (mqr_arena_create(NULL, 0, &arena) != MQR_OK)
        return -1;
    mqr_value_t ev;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        in.timestamp_ms++;
        if (mqr_event_connack_build(&in, arena, &ev, NULL) != MQR_OK)
            return -1;
        mqr_arena_reset(arena);
    }
    double ns = (now_ns() - t0) / (double)n;
    mqr_arena_destroy(arena);
    return ns;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    if (n <= 0)
        n = 1;
    double v5 = bench_build(connect_v5, sizeof connect_v5, MQR_RC_SUCCESS, n);
    double v3 = bench_build(connect_v311, sizeof connect_v311, MQR_RC_NOT_AUTHORIZED, n);
    if (v5 < 0 || v3 < 0)
        return 1;

    static const char *const topics[] = {"$events/client_connack", "$events/client/connack",
                                         "$events/message/delivery_dropped", "t/a"};
    volatile uintptr_t sink = 0;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        const char *t = topics[i & 3];
        sink += (uintptr_t)mqr_event_find_topic(t, strlen(t));
    }
    double lookup = (now_ns() - t0) / (double)n;
    const mqr_event_schema_t *connack = mqr_event_at(MQR_EVENT_CLIENT_CONNACK);
    t0 = now_ns();
    for (long i = 0; i < n; i++)
        sink += (uintptr_t)mqr_event_filter_matches("$events/#", 9, connack);
    double match = (now_ns() - t0) / (double)n;
    (void)sink;

    printf("client.connack build, v5 CONNECT with properties: %8.1f ns/event\n", v5);
    printf("client.connack build, v3.1.1 CONNECT:             %8.1f ns/event\n", v3);
    printf("event topic lookup (mqr_event_find_topic):         %8.1f ns\n", lookup);
    printf("filter match \"$events/#\" vs client.connack:       %8.1f ns\n", match);
    return 0;
}
