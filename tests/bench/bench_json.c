/* SPDX-License-Identifier: MIT */
/*
 * bench_json.c - timings of the value/JSON hot paths: writing a rule output
 * (a 4-field object) into a caller buffer and into an arena builder, parsing
 * an event-sized payload into a warm arena, and formatting doubles. Prints
 * one line per case: name, nanoseconds per operation, and MB/s where the
 * operation has an input or output size. Build with
 * -DCMAKE_BUILD_TYPE=Release for meaningful numbers.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mqttrule.h"
#include "value_int.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: the machine is shared */
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Keeps results observable so the compiler cannot drop the work. */
static volatile size_t sink;

static void report(const char *name, double ns_total, long iters, size_t bytes)
{
    double per = ns_total / (double)iters;
    if (bytes)
        printf("%-36s %8.1f ns/op %9.1f MB/s\n", name, per, (double)bytes / per * 1e3);
    else
        printf("%-36s %8.1f ns/op\n", name, per);
}

int main(void)
{
    mqr_arena_t *arena;
    if (mqr_arena_create(NULL, 0, &arena) != MQR_OK)
        return 1;
    const long N = 2000000;

    /* a rule output: SELECT clientid, reason_code, connected_at, proto_ver */
    mqr_value_t obj, f[4];
    mqr_value_set_string(&f[0], "sensor-0042", 11);
    mqr_value_set_string(&f[1], "success", 7);
    f[1].flags = MQR_VALF_ATOM;
    mqr_value_set_int(&f[2], 1700000000123);
    mqr_value_set_int(&f[3], 5);
    const char *keys[4] = {"clientid", "reason_code", "connected_at", "proto_ver"};
    mqr_value_object_new(arena, 4, &obj);
    for (int i = 0; i < 4; i++)
        mqr_value_object_put(arena, &obj, keys[i], strlen(keys[i]), &f[i]);

    char buf[512];
    size_t n = 0;
    double t0 = now_ns();
    for (long i = 0; i < N; i++) {
        mqr_json_write(&obj, 0, buf, sizeof buf, &n);
        sink += n;
    }
    report("write 4-field object (caller buf)", now_ns() - t0, N, n);

    mqr_arena_t *scratch;
    mqr_arena_create(NULL, 0, &scratch);
    t0 = now_ns();
    for (long i = 0; i < N; i++) {
        mqr__sbuf_t b;
        mqr__sbuf_init_arena(&b, scratch);
        mqr__json_write(&b, &obj, 0);
        sink += b.len;
        mqr_arena_reset(scratch);
    }
    report("write 4-field object (arena sbuf)", now_ns() - t0, N, n);

    t0 = now_ns();
    for (long i = 0; i < N; i++) {
        mqr_value_t o;
        mqr_value_object_new(scratch, 4, &o);
        for (int k = 0; k < 4; k++)
            mqr_value_object_put(scratch, &o, keys[k], 0 + strlen(keys[k]), &f[k]);
        mqr__sbuf_t b;
        mqr__sbuf_init_arena(&b, scratch);
        mqr__json_write(&b, &o, 0);
        sink += b.len;
        mqr_arena_reset(scratch);
    }
    report("build + write 4-field object", now_ns() - t0, N, 0);

    const char *payload =
        "{\"clientid\":\"sensor-0042\",\"username\":\"u1\",\"peername\":\"10.0.0.7:51234\","
        "\"reason_code\":\"success\",\"proto_ver\":5,\"keepalive\":60,\"clean_start\":true,"
        "\"expiry_interval\":0,\"conn_props\":{\"Session-Expiry-Interval\":0},"
        "\"temp\":23.5,\"hum\":0.41,\"tags\":[\"a\",\"b\\u00e9\"],\"connected_at\":1700000000123}";
    size_t plen = strlen(payload);
    t0 = now_ns();
    for (long i = 0; i < N / 4; i++) {
        mqr_value_t v;
        mqr_json_parse(scratch, payload, plen, 0, &v, NULL);
        sink += v.len;
        mqr_arena_reset(scratch);
    }
    report("parse 290-byte event payload", now_ns() - t0, N / 4, plen);

    mqr_value_t pv;
    mqr_json_parse(arena, payload, plen, 0, &pv, NULL);
    t0 = now_ns();
    for (long i = 0; i < N / 4; i++) {
        mqr_json_write(&pv, 0, buf, sizeof buf, &n);
        sink += n;
    }
    report("write the parsed payload back", now_ns() - t0, N / 4, n);

    char num[MQR__NUMBUF];
    const double ds[] = {23.5, 0.41, 1700000000.125, 0.1 + 0.2, 1e-9, 6.02214076e23};
    const char *dn[] = {"fmt_double_json 23.5", "fmt_double_json 0.41", "fmt_double_json 1700000000.125",
                        "fmt_double_json 0.30000000000000004", "fmt_double_json 1e-9",
                        "fmt_double_json 6.02214076e23"};
    for (size_t k = 0; k < sizeof ds / sizeof ds[0]; k++) {
        t0 = now_ns();
        for (long i = 0; i < N / 4; i++)
            sink += mqr__fmt_double_json(ds[k], num);
        report(dn[k], now_ns() - t0, N / 4, 0);
    }
    t0 = now_ns();
    for (long i = 0; i < N; i++)
        sink += mqr__fmt_int(1700000000123 + i, num);
    report("fmt_int 13 digits", now_ns() - t0, N, 0);

    mqr_arena_destroy(scratch);
    mqr_arena_destroy(arena);
    return 0;
}
