/* SPDX-License-Identifier: MIT */
/*
 * bench_func.c - cost of calling built-in SQL functions the way the
 * evaluator does (entry found once, then fn called with evaluated
 * arguments), on short typical arguments, with the arena reset after each
 * call as an evaluation would. Prints ns per call.
 *
 *   bench_func [iterations]      (default 1000000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "func.h"
#include "mqttrule/json.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static mqr_value_t str(const char *s)
{
    mqr_value_t v;
    mqr_value_set_string(&v, s, strlen(s));
    return v;
}

static mqr_value_t num(int64_t i)
{
    mqr_value_t v;
    mqr_value_set_int(&v, i);
    return v;
}

/* Call `name` n times with args; returns ns per call or -1 on error. */
static double bench(mqr__fctx_t *cx, const char *name, const mqr_value_t *args, uint32_t argc,
                    long n)
{
    const mqr__func_t *f = mqr__func_find(name, strlen(name));
    mqr_value_t out;
    if (!f)
        return -1;
    cx->fname = f->name;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        if (f->fn(cx, args, argc, &out) != MQR_OK)
            return -1;
        mqr_arena_reset(cx->arena);
    }
    return (now_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    mqr_arena_t *arena, *data;
    if (mqr_arena_create(NULL, 0, &arena) != MQR_OK || mqr_arena_create(NULL, 0, &data) != MQR_OK)
        return 1;
    uint64_t rng = 1;
    mqr__fctx_t cx = {0};
    cx.arena = arena;
    cx.rng = &rng;
    cx.now_ms = 1653561612345;
    const char *json = "{\"sensor\":{\"id\":\"s-17\",\"temp\":21.5,\"tags\":[\"a\",\"b\"]},\"ok\":true}";
    mqr_value_t obj;
    if (mqr_json_parse(data, json, strlen(json), 0, &obj, NULL) != MQR_OK)
        return 1;
    struct {
        const char *name;
        mqr_value_t args[3];
        uint32_t argc;
    } cases[] = {
        {"upper", {str("client-0042")}, 1},
        {"concat", {str("device/"), str("s-17")}, 2},
        {"substr", {str("2022-05-26T10:40:12Z"), num(0), num(10)}, 3},
        {"split", {str("t/site1/line2/temp"), str("/")}, 2},
        {"replace", {str("a/b/c/d"), str("/"), str(".")}, 3},
        {"str", {num(1653561612)}, 1},
        {"map_get", {str("sensor.temp"), obj}, 2},
        {"map_put", {str("sensor.unit"), str("C"), obj}, 3},
        {"json_decode", {str(json)}, 1},
        {"json_encode", {obj}, 1},
        {"md5", {str("client-0042")}, 1},
        {"sha256", {str("client-0042")}, 1},
        {"base64_encode", {str("hello world")}, 1},
        {"bin2hexstr", {str("\x01\x02\x03\x04\x05\x06\x07\x08")}, 1},
        {"uuid_v4", {{0}}, 0},
        {"sprintf", {str("~s=~p"), str("t"), num(21)}, 3},
        {"int", {str("12345")}, 1},
        {"round", {{0}}, 0},
    };
    mqr_value_set_double(&cases[17].args[0], 4.5);
    cases[17].argc = 1;
    printf("%-16s %10s\n", "function", "ns/call");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double ns = bench(&cx, cases[i].name, cases[i].args, cases[i].argc, n);
        if (ns < 0) {
            fprintf(stderr, "%s failed\n", cases[i].name);
            return 1;
        }
        printf("%-16s %10.1f\n", cases[i].name, ns);
    }
    mqr_arena_destroy(arena);
    mqr_arena_destroy(data);
    return 0;
}
