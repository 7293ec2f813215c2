/* SPDX-License-Identifier: MIT */
/*
 * test_rule_event.c - rules over client.connack events built by the event
 * module from decoded CONNECT packets (the source document's scenario):
 * columns in schema order, atom-valued reason codes, undefined fields, and
 * SELECT * in the event's field order (D3).
 */
#include <stdio.h>

#include "rule_test_util.h"

typedef struct {
    uint8_t b[256];
    size_t n;
} bytes_t;

static void put8(bytes_t *w, unsigned v) { w->b[w->n++] = (uint8_t)v; }
static void putstr(bytes_t *w, const char *s)
{
    size_t n = strlen(s);
    put8(w, (unsigned)(n >> 8));
    put8(w, (unsigned)(n & 0xff));
    memcpy(w->b + w->n, s, n);
    w->n += n;
}

/* A CONNECT (protocol level 4 or 5, no properties) with an optional user
 * name, framed. */
static bytes_t connect_packet(unsigned level, const char *clientid, const char *username)
{
    bytes_t body = {.n = 0}, out = {.n = 0};
    putstr(&body, "MQTT");
    put8(&body, level);
    put8(&body, (username ? 0xC0 : 0) | 0x02);
    put8(&body, 0);
    put8(&body, 60);
    if (level == 5)
        put8(&body, 0);
    putstr(&body, clientid);
    if (username) {
        putstr(&body, username);
        putstr(&body, "pw");
    }
    put8(&out, 0x10);
    put8(&out, (unsigned)body.n);
    memcpy(out.b + out.n, body.b, body.n);
    out.n += body.n;
    return out;
}

/* Build client.connack for `pkt` with reason code `reason` into *ev. */
static void build_event(mqr_arena_t *a, const bytes_t *pkt_bytes, int reason, mqr_packet_t *pkt,
                        mqr_value_t *ev)
{
    size_t used = 0;
    cr_assert_eq(mqr_packet_decode(pkt_bytes->b, pkt_bytes->n, NULL, pkt, &used, NULL), MQR_OK);
    mqr_connack_input_t in;
    mqr_event_connack_init(&in);
    in.connect = pkt;
    in.reason_code = reason;
    in.peer = (mqr_sockaddr_t){.family = MQR_ADDR_IPV4, .port = 56431, .addr = {192, 168, 0, 10}};
    in.sock = (mqr_sockaddr_t){.family = MQR_ADDR_IPV4, .port = 1883};
    in.timestamp_ms = 1736512728667;
    in.connected_at_ms = 1736512728666;
    in.node = "mqttrule@127.0.0.1";
    in.node_len = (uint32_t)strlen(in.node);
    mqr_diag_t d;
    cr_assert_eq(mqr_event_connack_build(&in, a, ev, &d), MQR_OK, "%s", d.message);
}

/* Evaluate sql over ev; returns the status and the JSON in out (cap bytes). */
static int run_on(const char *sql, const mqr_value_t *ev, char *out, size_t cap)
{
    mqr_rule_t *r = NULL;
    mqr_diag_t d;
    cr_assert_eq(rt_compile(sql, &r, &d), MQR_OK, "%s", d.message);
    mqr_rule_scratch_t *s = NULL;
    cr_assert_eq(mqr_rule_scratch_create(NULL, &s), MQR_OK);
    const char *js;
    size_t len;
    int rc = mqr_rule_eval_json(r, s, ev, &js, &len, &d);
    snprintf(out, cap, "%.*s", (int)len, js);
    mqr_rule_scratch_free(s);
    mqr_rule_free(r);
    return rc;
}

Test(rule_event, connack_fields_of_the_source_document)
{
    mqr_arena_t *a = NULL;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    mqr_packet_t pkt;
    mqr_value_t ev;
    bytes_t b = connect_packet(5, "c_emqx", "u_emqx");
    build_event(a, &b, 0x00, &pkt, &ev);
    char out[2048];
    const char *sql =
        "SELECT clientid, username, reason_code, timestamp FROM \"$events/client_connack\"";
    cr_assert_eq(run_on(sql, &ev, out, sizeof out), MQR_OK);
    cr_assert_str_eq(out, "{\"clientid\":\"c_emqx\",\"username\":\"u_emqx\","
                          "\"reason_code\":\"success\",\"timestamp\":1736512728667}");
    /* success does not pass the failure filter; the new topic name works too */
    cr_assert_eq(run_on("SELECT clientid FROM \"$events/client/connack\" "
                        "WHERE reason_code != 'success'",
                        &ev, out, sizeof out),
                 MQR_NO_MATCH);
    mqr_arena_destroy(a);
}

Test(rule_event, refused_connack_passes_the_failure_filter)
{
    mqr_arena_t *a = NULL;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    mqr_packet_t pkt;
    mqr_value_t ev;
    bytes_t b = connect_packet(5, "c2", NULL);
    build_event(a, &b, 0x86, &pkt, &ev);
    char out[2048];
    cr_assert_eq(run_on("SELECT clientid, username, reason_code, connected_at "
                        "FROM \"$events/client_connack\" WHERE reason_code != 'success'",
                        &ev, out, sizeof out),
                 MQR_OK);
    cr_assert_str_eq(out, "{\"clientid\":\"c2\",\"username\":\"undefined\","
                          "\"reason_code\":\"bad_username_or_password\","
                          "\"connected_at\":\"undefined\"}");
    cr_assert_eq(run_on("SELECT 1 AS x FROM \"$events/#\" WHERE reason_code = "
                        "'bad_username_or_password' AND is_null(username)",
                        &ev, out, sizeof out),
                 MQR_OK);
    mqr_arena_destroy(a);
}

Test(rule_event, select_star_keeps_the_event_order)
{
    mqr_arena_t *a = NULL;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    mqr_packet_t pkt;
    mqr_value_t ev;
    bytes_t b = connect_packet(4, "c3", "u3");
    build_event(a, &b, 0x00, &pkt, &ev);
    char out[2048];
    cr_assert_eq(run_on("SELECT * FROM \"$events/client_connack\"", &ev, out, sizeof out),
                 MQR_OK);
    /* every column in the event's order, then metadata */
    const mqr_event_schema_t *s = mqr_event_find("client.connack", 14);
    cr_assert_not_null(s);
    const char *p = out;
    for (uint32_t i = 0; i < s->field_count; i++) {
        char key[64];
        snprintf(key, sizeof key, "\"%s\":", s->fields[i].name);
        const char *q = strstr(p, key);
        cr_assert_not_null(q, "%s missing or out of order in %s", key, out);
        p = q;
    }
    cr_assert_not_null(strstr(p, "\"metadata\":{\"rule_id\":\"r1\"}"), "%s", out);
    mqr_arena_destroy(a);
}
