/* SPDX-License-Identifier: MIT */
/*
 * bench_engine.c - the engine's throughput.
 *
 *   bench_engine [emits] [http requests]   (1000000 100000)
 *
 * 1. Emits per second of a message with 1, 100 and 10,000 rules of which one
 *    matches (topic filters "dev/<i>/+", the message goes to "dev/0/t"; the
 *    matching rule has a callback action), and of a message no rule matches.
 *    Also an event emit (client.connack) with one matching rule, by name
 *    (mqr_engine_emit_event) and by id (mqr_engine_emit_event_id).
 * 1b. A message.delivered event with one matching rule, built two ways: by
 *    the host as the broker did before issue #13 (a copy of a per-event
 *    template in the host's arena, values written by position, the address
 *    text formatted, emitted by id) and by the library from the host's facts
 *    (mqr_engine_emit_input).
 * 2. HTTP requests per second through the engine: one rule with an HTTP
 *    action posting the output as JSON over 8 keep-alive connections to the
 *    test HTTP/1.1 server (tests/support/http_server.h) forked on 127.0.0.1
 *    (a 200 with no body per request); a separate process, so this one stays
 *    single-threaded. Client and server share the machine.
 * Prints one JSON line per measurement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_server.h"
#include "mqttrule.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_cb(void *ud, const char *rule_id, const char *json, size_t len,
                    const mqr_value_t *out)
{
    (void)rule_id;
    (void)json;
    (void)len;
    (void)out;
    (*(long *)ud)++;
    return MQR_OK;
}

static mqr_engine_t *engine_with_rules(long nrules, long *calls)
{
    mqr_engine_t *e = NULL;
    if (mqr_engine_create(NULL, &e) != MQR_OK)
        exit(1);
    char id[32], sql[128];
    for (long i = 0; i < nrules; i++) {
        snprintf(id, sizeof id, "r%ld", i);
        snprintf(sql, sizeof sql, "SELECT clientid, topic, qos FROM \"dev/%ld/+\"", i);
        mqr_engine_rule_def_t d = {.id = id, .sql = sql, .enabled = 1};
        if (mqr_engine_rule_add(e, &d, NULL) != MQR_OK)
            exit(1);
    }
    mqr_engine_rule_def_t ev = {.id = "ev",
                                .sql = "SELECT clientid, reason_code FROM "
                                       "\"$events/client_connack\"",
                                .enabled = 1};
    if (mqr_engine_rule_add(e, &ev, NULL) != MQR_OK)
        exit(1);
    mqr_engine_action_add_callback(e, "r0", count_cb, calls, NULL, NULL);
    mqr_engine_action_add_callback(e, "ev", count_cb, calls, NULL, NULL);
    return e;
}

static void bench_emit(long nrules, long n)
{
    long calls = 0;
    mqr_engine_t *e = engine_with_rules(nrules, &calls);
    mqr_engine_message_t m = {.topic = "dev/0/t", .topic_len = 7, .payload = "{\"v\":1}",
                              .payload_len = 7, .clientid = "c1", .clientid_len = 2, .qos = 1};
    mqr_engine_message_t miss = m;
    miss.topic = "other/0/t";
    miss.topic_len = 9;
    mqr_member_t mem[3] = {{.key = "event", .key_len = 5},
                           {.key = "clientid", .key_len = 8},
                           {.key = "reason_code", .key_len = 11}};
    mqr_value_set_string(&mem[0].value, "client.connack", 14);
    mqr_value_set_string(&mem[1].value, "c1", 2);
    mqr_value_set_string(&mem[2].value, "success", 7);
    mqr_value_t cols = {.type = MQR_VAL_OBJECT, .len = 3};
    cols.u.members = mem;

    for (long i = 0; i < 1000; i++)
        mqr_engine_emit_message(e, &m, NULL, NULL);
    double t0 = now_s();
    for (long i = 0; i < n; i++)
        mqr_engine_emit_message(e, &m, NULL, NULL);
    double t1 = now_s();
    for (long i = 0; i < n; i++)
        mqr_engine_emit_message(e, &miss, NULL, NULL);
    double t2 = now_s();
    for (long i = 0; i < n; i++)
        mqr_engine_emit_event(e, "client.connack", 14, &cols, NULL, NULL);
    double t3 = now_s();
    for (long i = 0; i < n; i++)
        mqr_engine_emit_event_id(e, MQR_EVENT_CLIENT_CONNACK, &cols, NULL, NULL);
    double t4 = now_s();
    printf("{\"bench\":\"engine_emit\",\"rules\":%ld,\"emits\":%ld,\"match_one_per_s\":%.0f,"
           "\"match_none_per_s\":%.0f,\"event_per_s\":%.0f,\"event_id_per_s\":%.0f,"
           "\"ns_match_one\":%.0f,\"ns_match_none\":%.1f,\"callbacks\":%ld}\n",
           nrules, n, (double)n / (t1 - t0), (double)n / (t2 - t1), (double)n / (t3 - t2),
           (double)n / (t4 - t3), (t1 - t0) * 1e9 / (double)n, (t2 - t1) * 1e9 / (double)n,
           calls);
    mqr_engine_destroy(e);
}

/* The host-side build the broker used before mqr_engine_emit_input: copy
 * the event's template into the host's arena and write the values by
 * position (slot indices looked up once). */
typedef struct {
    mqr_member_t tmpl[MQR_EVENT_MAX_FIELDS];
    uint32_t n;
    uint32_t id, from, cid, payload, peerhost, peername, topic, qos, flags, props, at;
} host_tmpl_t;

static uint32_t slot(const mqr_event_schema_t *sc, const char *name)
{
    uint32_t i = 0;
    if (!mqr_event_field(sc, name, strlen(name), &i))
        exit(1);
    return i;
}

static void host_tmpl_init(host_tmpl_t *t)
{
    const mqr_event_schema_t *sc = mqr_event_at(MQR_EVENT_MESSAGE_DELIVERED);
    memset(t, 0, sizeof *t);
    for (uint32_t i = 0; i < sc->field_count - 2; i++) { /* the engine adds timestamp, node */
        t->tmpl[i].key = sc->fields[i].name;
        t->tmpl[i].key_len = sc->fields[i].name_len;
    }
    t->n = sc->field_count - 2;
    mqr_value_set_string(&t->tmpl[0].value, sc->name, strlen(sc->name));
    t->id = slot(sc, "id");
    t->from = slot(sc, "from_clientid");
    t->cid = slot(sc, "clientid");
    t->payload = slot(sc, "payload");
    t->peerhost = slot(sc, "peerhost");
    t->peername = slot(sc, "peername");
    t->topic = slot(sc, "topic");
    t->qos = slot(sc, "qos");
    t->flags = slot(sc, "flags");
    t->props = slot(sc, "pub_props");
    t->at = slot(sc, "publish_received_at");
}

static void host_build_emit(mqr_engine_t *e, mqr_arena_t *a, const host_tmpl_t *t,
                            const mqr_event_conn_t *c, const mqr_event_msg_t *m)
{
    char host[MQR_ADDR_TEXT_MAX];
    mqr_arena_reset(a);
    mqr_member_t *mem = mqr_arena_alloc(a, t->n * sizeof *mem);
    memcpy(mem, t->tmpl, t->n * sizeof *mem);
    mqr_value_set_string(&mem[t->id].value, m->id, m->id_len);
    mqr_value_set_string(&mem[t->from].value, m->from_clientid, m->from_clientid_len);
    mqr_value_set_string(&mem[t->cid].value, c->clientid, c->clientid_len);
    mqr_value_set_string(&mem[t->payload].value, m->payload, m->payload_len);
    mqr_sockaddr_format(&c->peer, 0, host, sizeof host, NULL);
    mqr_value_string_copy(a, host, strlen(host), &mem[t->peerhost].value);
    mqr_value_set_string(&mem[t->peername].value, "10.0.0.1:5000", 13); /* cached per connection */
    mqr_value_set_string(&mem[t->topic].value, m->topic, m->topic_len);
    mqr_value_set_int(&mem[t->qos].value, m->qos);
    mqr_value_t v, up;
    mqr_value_object_new(a, 2, &mem[t->flags].value);
    mqr_value_set_bool(&v, m->retain);
    mqr_value_object_append(a, &mem[t->flags].value, "retain", 6, &v);
    mqr_value_set_bool(&v, m->dup);
    mqr_value_object_append(a, &mem[t->flags].value, "dup", 3, &v);
    mqr_value_object_new(a, 1, &mem[t->props].value);
    mqr_value_object_new(a, 0, &up);
    mqr_value_object_append(a, &mem[t->props].value, "User-Property", 13, &up);
    mqr_value_set_int(&mem[t->at].value, m->publish_received_at_ms);
    mqr_value_t cols = {.type = MQR_VAL_OBJECT, .len = t->n};
    cols.u.members = mem;
    mqr_engine_emit_event_id(e, MQR_EVENT_MESSAGE_DELIVERED, &cols, NULL, NULL);
}

static void bench_built(long n)
{
    long calls = 0;
    mqr_engine_t *e = NULL;
    mqr_arena_t *a = NULL;
    if (mqr_engine_create(NULL, &e) != MQR_OK || mqr_arena_create(NULL, 8192, &a) != MQR_OK)
        exit(1);
    mqr_engine_rule_def_t d = {.id = "dlv",
                               .sql = "SELECT clientid, topic FROM \"$events/message_delivered\"",
                               .enabled = 1};
    if (mqr_engine_rule_add(e, &d, NULL) != MQR_OK)
        exit(1);
    mqr_engine_action_add_callback(e, "dlv", count_cb, &calls, NULL, NULL);
    mqr_event_conn_t c;
    mqr_event_conn_init(&c);
    c.clientid = "rx";
    c.clientid_len = 2;
    c.proto_ver = 5;
    c.peer = (mqr_sockaddr_t){.family = MQR_ADDR_IPV4, .port = 5000, .addr = {10, 0, 0, 1}};
    mqr_event_msg_t m;
    mqr_event_msg_init(&m);
    m.id = "0123456789ABCDEF0123456789ABCDEF";
    m.id_len = 32;
    m.topic = "dev/0/t";
    m.topic_len = 7;
    m.payload = "{\"v\":1}";
    m.payload_len = 7;
    m.qos = 1;
    m.from_clientid = "c1";
    m.from_clientid_len = 2;
    m.publish_received_at_ms = 1;
    mqr_event_input_t in;
    mqr_event_input_init(&in);
    in.conn = &c;
    in.msg = &m;
    host_tmpl_t t;
    host_tmpl_init(&t);
    for (long i = 0; i < 1000; i++) {
        host_build_emit(e, a, &t, &c, &m);
        mqr_engine_emit_input(e, MQR_EVENT_MESSAGE_DELIVERED, &in, NULL, NULL);
    }
    double t0 = now_s();
    for (long i = 0; i < n; i++)
        host_build_emit(e, a, &t, &c, &m);
    double t1 = now_s();
    for (long i = 0; i < n; i++)
        mqr_engine_emit_input(e, MQR_EVENT_MESSAGE_DELIVERED, &in, NULL, NULL);
    double t2 = now_s();
    printf("{\"bench\":\"engine_event_build\",\"emits\":%ld,\"host_built_per_s\":%.0f,"
           "\"library_built_per_s\":%.0f,\"ns_host_built\":%.0f,\"ns_library_built\":%.0f,"
           "\"callbacks\":%ld}\n",
           n, (double)n / (t1 - t0), (double)n / (t2 - t1), (t1 - t0) * 1e9 / (double)n,
           (t2 - t1) * 1e9 / (double)n, calls);
    mqr_arena_destroy(a);
    mqr_engine_destroy(e);
}

static void bench_http(long total)
{
    http_server_t srv = {.steps = HTTP_SERVER_FOREVER, .max_conns = 32, .process = 1};
    if (http_server_start(&srv) != 0) {
        perror("bench_engine: server");
        exit(1);
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/ingest", srv.port);

    long calls = 0;
    mqr_engine_t *e = engine_with_rules(1, &calls);
    mqr_http_action_config_t ac;
    memset(&ac, 0, sizeof ac);
    mqr_http_config_init(&ac.http);
    ac.http.url = url;
    ac.http.max_queue_count = (uint32_t)total;
    uint32_t aid;
    mqr_diag_t d;
    if (mqr_engine_action_add_http(e, "r0", &ac, &aid, &d) != MQR_OK) {
        fprintf(stderr, "bench_engine: %s\n", d.message);
        http_server_stop(&srv);
        exit(1);
    }
    mqr_engine_message_t m = {.topic = "dev/0/t", .topic_len = 7, .payload = "{\"v\":1}",
                              .payload_len = 7, .clientid = "c1", .clientid_len = 2, .qos = 1};
    double t0 = now_s();
    for (long i = 0; i < total; i++) {
        mqr_engine_emit_message(e, &m, NULL, NULL);
        if (i % 256 == 255)
            mqr_engine_poll(e, 0);
    }
    while (mqr_engine_pending(e) > 0)
        mqr_engine_poll(e, 1000);
    double t1 = now_s();
    mqr_action_metrics_t am;
    mqr_engine_action_metrics(e, aid, &am);
    mqr_engine_destroy(e);
    http_server_stop(&srv);
    printf("{\"bench\":\"engine_http\",\"requests\":%ld,\"connections\":8,\"success\":%llu,"
           "\"failed\":%llu,\"dropped\":%llu,\"seconds\":%.3f,\"requests_per_s\":%.0f}\n",
           total, (unsigned long long)am.success, (unsigned long long)am.failed,
           (unsigned long long)am.dropped, t1 - t0, (double)total / (t1 - t0));
}

int main(int argc, char **argv)
{
    long emits = argc > 1 ? atol(argv[1]) : 1000000;
    long requests = argc > 2 ? atol(argv[2]) : 100000;
    const long sizes[] = {1, 100, 10000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        bench_emit(sizes[i], emits);
    bench_built(emits);
    if (requests > 0)
        bench_http(requests);
    return 0;
}
