/* SPDX-License-Identifier: MIT */
/*
 * bench_packet.c - speed of the MQTT codec: ns per packet and MB/s for
 * decoding and encoding typical packets (CONNECT v5 with properties,
 * PUBLISH with 64 B and 1 KiB payloads at 3.1.1 and 5, SUBSCRIBE with 10
 * filters), and proof that decoding never allocates: malloc, calloc, realloc
 * and free are interposed here and counted around the decode loops.
 *
 * Build RelWithDebInfo or Release and run: build/tests/bench/bench_packet
 * [seconds-per-case, default 1]. Output: one line per case; times are the
 * best of 5 rounds of thread CPU time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqttrule.h"

/* glibc's own allocator entry points, used by the interposed functions. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);

static volatile size_t alloc_calls;

void *malloc(size_t size)
{
    alloc_calls++;
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    alloc_calls++;
    return __libc_calloc(n, size);
}

void *realloc(void *ptr, size_t size)
{
    alloc_calls++;
    return __libc_realloc(ptr, size);
}

void free(void *ptr)
{
    if (ptr)
        alloc_calls++;
    __libc_free(ptr);
}

/* Rounds per case; the fastest is reported. */
#define ROUNDS 5

/* CPU time of this thread, in seconds. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct bench_case {
    const char *name;
    uint8_t bytes[2048];
    size_t len;
    uint8_t ver;
} bench_case_t;


/* Build a packet through the encoder itself (so the bench inputs are valid). */
static void build(bench_case_t *c, const char *name, const mqr_packet_t *p)
{
    c->name = name;
    c->ver = p->proto_ver;
    mqr_diag_t d;
    if (mqr_packet_encode(p, c->bytes, sizeof c->bytes, &c->len, &d) != MQR_OK) {
        fprintf(stderr, "bench input %s: %s\n", name, d.message);
        exit(1);
    }
}

static void make_cases(bench_case_t *cs, size_t *n)
{
    static uint8_t payload[1024];
    memset(payload, 'x', sizeof payload);
    static uint8_t props[256];
    size_t pl = 0;
    mqr_prop_t list[] = {
        {.id = MQR_PROP_SESSION_EXPIRY_INTERVAL, .type = MQR_PROPTYPE_U32, .value = 3600},
        {.id = MQR_PROP_RECEIVE_MAXIMUM, .type = MQR_PROPTYPE_U16, .value = 100},
        {.id = MQR_PROP_MAXIMUM_PACKET_SIZE, .type = MQR_PROPTYPE_U32, .value = 1 << 20},
        {.id = MQR_PROP_TOPIC_ALIAS_MAXIMUM, .type = MQR_PROPTYPE_U16, .value = 10},
        {.id = MQR_PROP_REQUEST_PROBLEM_INFORMATION, .type = MQR_PROPTYPE_BYTE, .value = 1},
        {.id = MQR_PROP_USER_PROPERTY, .type = MQR_PROPTYPE_PAIR, .str = {"region", 6, 0},
         .str2 = {"eu-west-1", 9, 0}},
    };
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
        mqr_packet_prop_add(props, sizeof props, &pl, &list[i]);
    static uint8_t pubprops[64];
    size_t ppl = 0;
    mqr_prop_t pp[] = {
        {.id = MQR_PROP_PAYLOAD_FORMAT_INDICATOR, .type = MQR_PROPTYPE_BYTE, .value = 1},
        {.id = MQR_PROP_MESSAGE_EXPIRY_INTERVAL, .type = MQR_PROPTYPE_U32, .value = 60},
    };
    for (size_t i = 0; i < 2; i++)
        mqr_packet_prop_add(pubprops, sizeof pubprops, &ppl, &pp[i]);

    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_CONNECT;
    p.proto_ver = 5;
    p.connect.clean_start = 1;
    p.connect.keepalive = 60;
    p.connect.clientid = (mqr_str_t){"sensor-0042-eu", 14, 0};
    p.connect.props = (mqr_props_t){props, (uint32_t)pl, 1};
    p.connect.username = (mqr_str_t){"device", 6, 0};
    p.connect.password = (mqr_bin_t){(const uint8_t *)"s3cr3t-token", 12, 0};
    build(&cs[(*n)++], "CONNECT v5 + props", &p);

    const char *topic = "building/7/floor/3/temperature";
    static const char *names[] = {"PUBLISH v3.1.1 64 B", "PUBLISH v3.1.1 1 KiB", "PUBLISH v5 64 B",
                                  "PUBLISH v5 1 KiB"};
    for (int i = 0; i < 4; i++) {
        memset(&p, 0, sizeof p);
        p.type = MQR_PKT_PUBLISH;
        p.proto_ver = i < 2 ? 4 : 5;
        p.publish.qos = 1;
        p.publish.packet_id = 77;
        p.publish.topic = (mqr_str_t){topic, (uint32_t)strlen(topic), 0};
        p.publish.payload = (mqr_bin_t){payload, (i & 1) ? 1024 : 64, 0};
        if (i >= 2)
            p.publish.props = (mqr_props_t){pubprops, (uint32_t)ppl, 1};
        build(&cs[(*n)++], names[i], &p);
    }

    static mqr_subscription_t subs[10];
    static char filters[10][32];
    for (int i = 0; i < 10; i++) {
        int k = snprintf(filters[i], sizeof filters[i], "site/%d/+/status/#", i);
        subs[i] = (mqr_subscription_t){.filter = {filters[i], (uint32_t)k, 0}, .qos = 1};
    }
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_SUBSCRIBE;
    p.proto_ver = 5;
    p.subscribe.packet_id = 9;
    p.subscribe.list = subs;
    p.subscribe.count = 10;
    build(&cs[(*n)++], "SUBSCRIBE v5 10 filters", &p);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    bench_case_t *cs = __libc_calloc(8, sizeof *cs);
    size_t n = 0;
    make_cases(cs, &n);
    printf("%-26s %6s %12s %10s %12s %10s %8s\n", "case", "bytes", "decode ns", "MB/s",
           "encode ns", "MB/s", "allocs");
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        bench_case_t *c = &cs[i];
        mqr_packet_opts_t o = {0, c->ver, 0, 0};
        mqr_packet_t p;
        size_t used = 0;
        volatile size_t sink = 0;
        /* Decode, then encode the decoded packet: ROUNDS rounds of batches
         * of 4096 for secs/ROUNDS each; the best round counts, which filters
         * out time stolen by other processes on a shared machine. */
        size_t allocs_before = alloc_calls;
        double dec_ns = 1e30, enc_ns = 1e30;
        static uint8_t out[4096];
        for (int round = 0; round < ROUNDS; round++) {
            size_t iters = 0;
            double t0 = now_s(), t1;
            do {
                for (int k = 0; k < 4096; k++) {
                    if (mqr_packet_decode(c->bytes, c->len, &o, &p, &used, NULL) != MQR_OK)
                        bad = 1;
                    sink += used + p.type;
                }
                iters += 4096;
                t1 = now_s();
            } while (t1 - t0 < secs / ROUNDS);
            double ns = (t1 - t0) * 1e9 / (double)iters;
            dec_ns = ns < dec_ns ? ns : dec_ns;
        }
        size_t allocs = alloc_calls - allocs_before;
        for (int round = 0; round < ROUNDS; round++) {
            size_t iters = 0, olen = 0;
            double t0 = now_s(), t1;
            do {
                for (int k = 0; k < 4096; k++) {
                    if (mqr_packet_encode(&p, out, sizeof out, &olen, NULL) != MQR_OK)
                        bad = 1;
                    sink += olen + out[0];
                }
                iters += 4096;
                t1 = now_s();
            } while (t1 - t0 < secs / ROUNDS);
            double ns = (t1 - t0) * 1e9 / (double)iters;
            enc_ns = ns < enc_ns ? ns : enc_ns;
        }
        printf("%-26s %6zu %12.1f %10.1f %12.1f %10.1f %8zu\n", c->name, c->len, dec_ns,
               (double)c->len / dec_ns * 1e3, enc_ns, (double)c->len / enc_ns * 1e3, allocs);
        if (allocs)
            bad = 1;
        (void)sink;
    }
    __libc_free(cs);
    if (bad)
        fprintf(stderr, "bench_packet: a decode or encode failed, or decoding allocated\n");
    return bad;
}
