/* SPDX-License-Identifier: MIT */
/*
 * test_packet_json.c - packets as JSON and back (mqttrule/packet_json.h):
 * the exact JSON of a decoded CONNECT, byte-exact round trips, hex fallbacks,
 * protocol level tracking, and every schema error's status, message and
 * field.
 */
#include <criterion/criterion.h>
#include <string.h>

#include <mqttrule.h>

#include "value_test_alloc.h"

/* A v3.1.1 CONNECT from "sensor-1", user "alice", keepalive 60. */
static const uint8_t connect_v4[] = {
    0x10, 0x1b, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x82, 0x00, 0x3c,
    0x00, 0x08, 's',  'e',  'n', 's', 'o', 'r', '-', '1',
    0x00, 0x05, 'a',  'l',  'i', 'c', 'e',
};

static mqr_arena_t *arena;

static void setup(void)
{
    cr_assert_eq(mqr_arena_create(NULL, 0, &arena), MQR_OK);
}

static void teardown(void)
{
    mqr_arena_destroy(arena);
}

TestSuite(packet_json, .init = setup, .fini = teardown);

/* Decode buf and render it; asserts success. */
static const char *to_json(const uint8_t *buf, size_t len, int ver)
{
    mqr_packet_opts_t opts = {0, (uint8_t)ver, MQR_PKT_DIR_ANY, 0};
    mqr_packet_t p;
    size_t size = 0;
    cr_assert_eq(mqr_packet_decode(buf, len, &opts, &p, &size, NULL), MQR_OK);
    cr_assert_eq(size, len);
    const char *json = NULL;
    size_t n = 0;
    cr_assert_eq(mqr_packet_to_json(&p, arena, &json, &n), MQR_OK);
    cr_assert_eq(strlen(json), n);
    return json;
}

/* Encode JSON text; returns the status, bytes in *out. */
static int encode(const char *json, int *ver, const uint8_t **out, size_t *len, mqr_diag_t *d)
{
    return mqr_packet_encode_json(json, strlen(json), arena, ver, out, len, d);
}

Test(packet_json, connect_renders_the_documented_schema)
{
    cr_assert_str_eq(to_json(connect_v4, sizeof connect_v4, 4),
                     "{\"type\":\"CONNECT\",\"proto_name\":\"MQTT\",\"proto_ver\":4,"
                     "\"clean_start\":true,\"keepalive\":60,\"clientid\":\"sensor-1\","
                     "\"username\":\"alice\"}");
}

Test(packet_json, round_trip_is_byte_exact_and_follows_connect_level)
{
    int ver = 0;
    const uint8_t *out = NULL;
    size_t len = 0;
    const char *json = to_json(connect_v4, sizeof connect_v4, 4);
    cr_assert_eq(encode(json, &ver, &out, &len, NULL), MQR_OK);
    cr_assert_eq(len, sizeof connect_v4);
    cr_assert_eq(memcmp(out, connect_v4, len), 0);
    cr_assert_eq(ver, 4);

    ver = 0;
    cr_assert_eq(encode("{\"type\":\"CONNECT\",\"proto_ver\":5,\"clientid\":\"x\"}", &ver, &out,
                        &len, NULL), MQR_OK);
    cr_assert_eq(ver, 5);
    /* The next packet is encoded at level 5: a reason code and properties. */
    cr_assert_eq(encode("{\"type\":\"PUBACK\",\"packet_id\":7,\"reason_code\":16,"
                        "\"properties\":{\"Reason-String\":\"r\"}}", &ver, &out, &len, NULL),
                 MQR_OK);
    cr_assert_eq(out[0], 0x40);
    cr_assert_str_eq(to_json(out, len, 5),
                     "{\"type\":\"PUBACK\",\"packet_id\":7,\"reason_code\":16,"
                     "\"properties\":{\"Reason-String\":\"r\"}}");
}

Test(packet_json, binary_payload_falls_back_to_hex)
{
    int ver = 4;
    const uint8_t *out = NULL;
    size_t len = 0;
    cr_assert_eq(encode("{\"type\":\"PUBLISH\",\"topic\":\"t\",\"payload_hex\":\"00 ff\"}", &ver,
                        &out, &len, NULL), MQR_OK);
    cr_assert_str_eq(to_json(out, len, 4),
                     "{\"type\":\"PUBLISH\",\"topic\":\"t\",\"qos\":0,\"retain\":false,"
                     "\"dup\":false,\"payload_hex\":\"00ff\"}");
}

Test(packet_json, schema_errors_name_the_member)
{
    int ver = 4;
    const uint8_t *out = NULL;
    size_t len = 0;
    mqr_diag_t d;
    cr_assert_eq(encode("{\"type\":\"PUBLISH\",\"qos\":1,\"topic\":\"a\"}", &ver, &out, &len, &d),
                 MQR_EINVAL);
    cr_assert_str_eq(d.message, "missing \"packet_id\"");
    cr_assert_str_eq(d.field, "packet_id");
    cr_assert_eq(encode("{\"type\":\"NOPE\"}", &ver, &out, &len, &d), MQR_EINVAL);
    cr_assert_str_eq(d.field, "type");
    cr_assert_eq(encode("[1]", &ver, &out, &len, &d), MQR_EINVAL);
    cr_assert_eq(encode("{\"type\":\"PUBLISH\",\"topic\":\"a\",\"payload_hex\":\"abc\"}", &ver,
                        &out, &len, &d), MQR_EINVAL);
    cr_assert_str_eq(d.message, "\"payload_hex\" is not valid hex");
    ver = 5;
    cr_assert_eq(encode("{\"type\":\"CONNECT\",\"clientid\":\"c\",\"properties\":{\"Nope\":1}}",
                        &ver, &out, &len, &d), MQR_EINVAL);
    cr_assert_str_eq(d.message, "unknown property \"Nope\"");
    cr_assert_eq(ver, 5);
    cr_assert_eq(encode("not json", &ver, &out, &len, &d), MQR_EJSON);
    /* Valid schema, invalid packet: the encoder's status. */
    cr_assert_eq(encode("{\"type\":\"PUBLISH\",\"topic\":\"a/+\"}", &ver, &out, &len, &d),
                 MQR_ETOPIC);
}

Test(packet_json, null_arguments_and_levels)
{
    int ver = 4;
    const uint8_t *out = NULL;
    size_t len = 0;
    mqr_value_t v;
    mqr_packet_t p;
    cr_assert_eq(mqr_packet_struct_size(), sizeof(mqr_packet_t));
    cr_assert_eq(mqr_packet_to_value(NULL, arena, &v), MQR_EINVAL);
    cr_assert_eq(mqr_packet_to_json(&p, arena, NULL, &len), MQR_EINVAL);
    cr_assert_eq(mqr_packet_encode_json(NULL, 0, arena, &ver, &out, &len, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_packet_encode_json("{}", 2, NULL, &ver, &out, &len, NULL), MQR_EINVAL);
    mqr_value_set_null(&v);
    cr_assert_eq(mqr_packet_from_value(&v, arena, NULL, &p, NULL), MQR_EINVAL);
    ver = 6;
    cr_assert_eq(mqr_packet_from_value(&v, arena, &ver, &p, NULL), MQR_EINVAL);
    ver = 0; /* 0 means 4 */
    cr_assert_eq(mqr_packet_encode_json("{\"type\":\"PINGREQ\"}", 18, arena, &ver, &out, &len,
                                        NULL), MQR_OK);
    cr_assert_eq(ver, 4);
    cr_assert_eq(len, 2);
}

Test(packet_json, allocation_failure_at_every_step)
{
    const char *json = "{\"type\":\"CONNECT\",\"proto_ver\":5,\"clientid\":\"x\","
                       "\"will\":{\"topic\":\"w\",\"payload_hex\":\"00ff\"},"
                       "\"properties\":{\"User-Property\":[[\"a\",\"b\"],[\"c\",\"d\"]],"
                       "\"Session-Expiry-Interval\":5}}";
    /* Fail the Nth allocation for N = 1, 2, ... until a run makes fewer than N
     * calls: every failure gives MQR_ENOMEM and leaves nothing allocated. */
    int enomem = 0;
    for (size_t n = 1;; n++) {
        counting_t c = {0, 0, n};
        mqr_allocator_t a = {counting_alloc, &c};
        mqr_arena_t *small = NULL;
        int rc = mqr_arena_create(&a, 64, &small);
        int ver = 0;
        const uint8_t *out = NULL;
        size_t len = 0;
        if (rc == MQR_OK)
            rc = mqr_packet_encode_json(json, strlen(json), small, &ver, &out, &len, NULL);
        if (rc == MQR_OK) {
            mqr_packet_t p;
            size_t size = 0;
            const char *text = NULL;
            size_t tlen = 0;
            cr_assert_eq(mqr_packet_decode(out, len, NULL, &p, &size, NULL), MQR_OK);
            rc = mqr_packet_to_json(&p, small, &text, &tlen);
        }
        cr_assert(rc == MQR_OK || rc == MQR_ENOMEM, "n=%zu rc=%d", n, rc);
        enomem += rc == MQR_ENOMEM;
        mqr_arena_destroy(small);
        cr_assert_eq(c.live, 0, "n=%zu leaked %zu bytes", n, c.live);
        if (c.calls < n) {
            cr_assert_eq(rc, MQR_OK);
            break;
        }
    }
    cr_assert_gt(enomem, 1);
}
