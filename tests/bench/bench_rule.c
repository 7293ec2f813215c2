/* SPDX-License-Identifier: MIT */
/*
 * bench_rule.c - rule evaluation speed, in events per second and nanoseconds
 * per event, for the cases of docs/benchmarks.md "Rule SQL":
 *   (a) SELECT clientid, username, reason_code, timestamp FROM
 *       "$events/client_connack", including the JSON encoding of the output;
 *   (b) the same with WHERE reason_code != 'success' on a success event
 *       (no match);
 *   (c) a message rule with payload.x.y access, arithmetic and two functions
 *       over a 200-byte JSON payload, with JSON encoding;
 *   (d) a hand-written C function producing the same JSON as (a): the floor;
 *   (e) SELECT * FROM "t/#" over the 16 columns of a message.publish event,
 *       with JSON encoding (the copy of every column into the output);
 *   (f) regex_match(payload, '^[a-z]+[0-9]{2,4}$') over the same columns (a
 *       constant pattern), with JSON encoding.
 * Times are thread CPU time, best of 5 rounds (the build machine is shared,
 * so wall-clock runs are noisy). The scratch's allocator counts calls during
 * the timed loops: the `allocs` column must be 0.
 *
 * Usage: bench_rule [iterations per round]   (default 1000000; build Release)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqttrule.h"
#include "mqttrule/json.h"
#include "value_int.h"

static long g_allocs;

static void *counting_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    (void)ud;
    (void)old_size;
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    g_allocs++;
    return realloc(ptr, new_size);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile size_t g_sink;

static mqr_rule_t *compile_or_die(const char *sql)
{
    mqr_rule_t *r = NULL;
    mqr_diag_t d;
    if (mqr_rule_compile(sql, strlen(sql), NULL, &r, &d) != MQR_OK) {
        fprintf(stderr, "compile failed: %s\n", d.message);
        exit(1);
    }
    return r;
}

/* Time `iters` evaluations to JSON; prints one line, returns ns/event. */
static double bench_rule(const char *label, const mqr_rule_t *r, mqr_rule_scratch_t *s,
                         const mqr_value_t *cols, long iters, int want)
{
    const char *js;
    size_t len;
    for (int i = 0; i < 1000; i++)
        mqr_rule_eval_json(r, s, cols, &js, &len, NULL);
    long allocs = g_allocs;
    double ns = 1e30;
    for (int round = 0; round < 5; round++) {
        double t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            int rc = mqr_rule_eval_json(r, s, cols, &js, &len, NULL);
            if (rc != want) {
                fprintf(stderr, "%s: unexpected status %s\n", label, mqr_status_name(rc));
                exit(1);
            }
            g_sink += len;
        }
        double t = (now_ns() - t0) / (double)iters;
        if (t < ns)
            ns = t;
    }
    printf("%-58s %12.0f events/s %8.1f ns/event  allocs %ld\n", label, 1e9 / ns, ns,
           g_allocs - allocs);
    return ns;
}

/* (d): the same JSON as (a), written by hand from the columns at known
 * indexes with the library's JSON writer. */
static size_t handwritten(const mqr_value_t *cols, mqr__sbuf_t *b)
{
    static const struct {
        const char *k;
        uint32_t idx;
    } f[] = {{"{\"clientid\":", 2}, {",\"username\":", 3}, {",\"reason_code\":", 1},
             {",\"timestamp\":", 13}};
    b->len = 0;
    for (size_t i = 0; i < 4; i++) {
        mqr__sbuf_append(b, f[i].k, strlen(f[i].k));
        mqr__json_write(b, &cols->u.members[f[i].idx].value, 0);
    }
    mqr__sbuf_putc(b, '}');
    return b->len;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 1000000;
    mqr_allocator_t al = {counting_alloc, NULL};
    mqr_arena_t *a = NULL;
    mqr_rule_scratch_t *s = NULL;
    if (mqr_arena_create(NULL, 0, &a) != MQR_OK || mqr_rule_scratch_create(&al, &s) != MQR_OK)
        return 1;

    /* a client.connack event's columns in schema order (as the event builder makes them) */
    static const char connack[] =
        "{\"event\":\"client.connack\",\"reason_code\":\"success\",\"clientid\":\"c_emqx\","
        "\"username\":\"u_emqx\",\"peername\":\"192.168.0.10:56431\",\"sockname\":"
        "\"0.0.0.0:1883\",\"proto_name\":\"MQTT\",\"proto_ver\":5,\"keepalive\":60,"
        "\"clean_start\":true,\"expiry_interval\":3600000,\"connected_at\":1736512728666,"
        "\"conn_props\":{\"Session-Expiry-Interval\":3600,\"User-Property\":{}},"
        "\"timestamp\":1736512728667,\"node\":\"emqx@127.0.0.1\"}";
    mqr_value_t ev;
    if (mqr_json_parse(a, connack, strlen(connack), 0, &ev, NULL) != MQR_OK)
        return 1;

    /* a message with a ~200-byte JSON payload */
    static const char payload[] =
        "{\"x\":{\"y\":21.5,\"z\":\"unit-celsius\"},\"a\":17,\"b\":4,\"n\":-3,"
        "\"device\":{\"id\":\"dev-000123\",\"fw\":\"1.4.2\",\"tags\":[\"roof\",\"north\"]},"
        "\"ts\":1736512728666,\"seq\":918273,\"ok\":true,\"note\":\"a sample payload, 200 bytes\"}";
    char msg[1024];
    snprintf(msg, sizeof msg,
             "{\"id\":\"0005E27C1D24E44FF440000017520000\",\"clientid\":\"sensor-1\","
             "\"username\":\"u\",\"payload\":\"\",\"topic\":\"t/sensors/1\",\"qos\":1}");
    mqr_value_t mv, pv;
    if (mqr_json_parse(a, msg, strlen(msg), 0, &mv, NULL) != MQR_OK)
        return 1;
    mqr_value_set_string(&pv, payload, strlen(payload));
    mqr_value_object_put(a, &mv, "payload", 7, &pv);

    /* a message.publish event's 16 columns in the engine's order, short payload */
    static const char pub[] =
        "{\"id\":\"0005E27C1D24E44FF440000017520000\",\"clientid\":\"sensor-1\","
        "\"username\":\"u\",\"payload\":\"sensor1234\",\"peerhost\":\"192.168.0.10\","
        "\"peername\":\"192.168.0.10:56431\",\"topic\":\"t/sensors/1\",\"qos\":1,"
        "\"flags\":{\"dup\":false,\"retain\":false},\"pub_props\":{\"User-Property\":{}},"
        "\"publish_received_at\":1736512728666,\"client_attrs\":{},"
        "\"event\":\"message.publish\",\"timestamp\":1736512728667,"
        "\"node\":\"emqx@127.0.0.1\",\"metadata\":{\"rule_id\":\"r1\"}}";
    mqr_value_t pubv;
    if (mqr_json_parse(a, pub, strlen(pub), 0, &pubv, NULL) != MQR_OK || pubv.len != 16)
        return 1;

    mqr_rule_t *ra = compile_or_die(
        "SELECT clientid, username, reason_code, timestamp FROM \"$events/client_connack\"");
    mqr_rule_t *rb = compile_or_die(
        "SELECT clientid, username, reason_code, timestamp FROM \"$events/client_connack\" "
        "WHERE reason_code != 'success'");
    mqr_rule_t *rc = compile_or_die(
        "SELECT payload.x.y AS y, payload.a * 2 + payload.b AS v, upper(clientid) AS c, "
        "abs(payload.n) AS n FROM \"t/#\"");
    mqr_rule_t *re = compile_or_die("SELECT * FROM \"t/#\"");
    mqr_rule_t *rf =
        compile_or_die("SELECT regex_match(payload, '^[a-z]+[0-9]{2,4}$') AS m FROM \"t/#\"");

    printf("payload: %zu bytes; %ld iterations\n", strlen(payload), iters);
    double na = bench_rule("(a) SELECT 4 fields of client.connack + JSON", ra, s, &ev, iters,
                           MQR_OK);
    bench_rule("(b) same + WHERE reason_code != 'success' (no match)", rb, s, &ev, iters,
               MQR_NO_MATCH);
    bench_rule("(c) message: payload.x.y, arithmetic, 2 functions + JSON", rc, s, &mv,
               iters / 4, MQR_OK);
    bench_rule("(e) SELECT * over 16 message.publish columns + JSON", re, s, &pubv, iters / 4,
               MQR_OK);
    bench_rule("(f) regex_match(payload, constant pattern) + JSON", rf, s, &pubv, iters / 4,
               MQR_OK);

    /* (d) */
    char buf[512];
    mqr__sbuf_t b;
    mqr__sbuf_init_fixed(&b, buf, sizeof buf);
    const char *js;
    size_t len;
    mqr_rule_eval_json(ra, s, &ev, &js, &len, NULL);
    size_t hl = handwritten(&ev, &b);
    if (hl != len || memcmp(js, b.p, len) != 0) {
        fprintf(stderr, "(d) differs from (a): %.*s vs %.*s\n", (int)hl, b.p, (int)len, js);
        return 1;
    }
    double nd = 1e30;
    for (int round = 0; round < 5; round++) {
        double t0 = now_ns();
        for (long i = 0; i < iters; i++)
            g_sink += handwritten(&ev, &b);
        double t = (now_ns() - t0) / (double)iters;
        if (t < nd)
            nd = t;
    }
    printf("%-58s %12.0f events/s %8.1f ns/event\n", "(d) hand-written C, same JSON as (a)",
           1e9 / nd, nd);
    printf("(a) / (d) = %.2f\n", na / nd);
    mqr__sbuf_free(&b);
    mqr_rule_free(ra);
    mqr_rule_free(rb);
    mqr_rule_free(rc);
    mqr_rule_free(re);
    mqr_rule_free(rf);
    mqr_rule_scratch_free(s);
    mqr_arena_destroy(a);
    return 0;
}
