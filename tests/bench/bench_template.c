/* SPDX-License-Identifier: MIT */
/*
 * bench_template.c - how long rendering an action template takes on the hot
 * path (mqr__template_render_sbuf into an arena-backed builder, arena reset
 * after each render, as an action does per output): a topic with one
 * placeholder, ${.} of a client.connack-sized output, and a path through a
 * JSON payload string (which costs a JSON decode per render). Prints ns per
 * render.
 *
 *   bench_template [iterations]      (default 1000000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqttrule.h"
#include "mqttrule/json.h"
#include "mqttrule/template.h"
#include "template_int.h"

static const char output_json[] =
    "{\"event\":\"client.connack\",\"reason_code\":\"success\",\"clientid\":\"c_emqx\","
    "\"username\":\"u_emqx\",\"peername\":\"192.168.0.10:56431\",\"sockname\":\"0.0.0.0:1883\","
    "\"proto_name\":\"MQTT\",\"proto_ver\":5,\"keepalive\":60,\"clean_start\":true,"
    "\"expiry_interval\":3600000,\"connected_at\":1736512728666,"
    "\"conn_props\":{\"Session-Expiry-Interval\":3600,\"User-Property\":{}},"
    "\"timestamp\":1736512728667,\"node\":\"emqx@127.0.0.1\","
    "\"payload\":\"{\\\"temp\\\":21.5,\\\"hum\\\":40,\\\"id\\\":\\\"s1\\\"}\"}";

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Render `text` n times; prints and returns ns per render (-1 on failure). */
static double bench(const char *text, const mqr_value_t *out, long n)
{
    mqr_template_t *t;
    mqr_arena_t *arena;
    if (mqr_template_compile(text, strlen(text), NULL, &t, NULL) != MQR_OK ||
        mqr_arena_create(NULL, 0, &arena) != MQR_OK)
        return -1;
    size_t bytes = 0;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        mqr__sbuf_t b;
        mqr__sbuf_init_arena(&b, arena);
        if (mqr__template_render_sbuf(t, out, 0, arena, &b) != MQR_OK)
            return -1;
        bytes += b.len;
        mqr_arena_reset(arena);
    }
    double ns = (now_ns() - t0) / (double)n;
    printf("%-40s %8.1f ns/render  (%zu bytes)\n", text, ns, bytes / (size_t)n);
    mqr_arena_destroy(arena);
    mqr_template_free(t);
    return ns;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    if (n <= 0)
        n = 1;
    mqr_arena_t *data;
    mqr_value_t out;
    if (mqr_arena_create(NULL, 0, &data) != MQR_OK ||
        mqr_json_parse(data, output_json, strlen(output_json), 0, &out, NULL) != MQR_OK) {
        fputs("setup failed\n", stderr);
        return 1;
    }
    int bad = bench("devices/${clientid}/connack", &out, n) < 0;
    bad |= bench("${clientid},${reason_code},${timestamp}", &out, n) < 0;
    bad |= bench("${.}", &out, n) < 0;
    bad |= bench("${payload.temp}", &out, n) < 0;
    mqr_arena_destroy(data);
    return bad;
}
