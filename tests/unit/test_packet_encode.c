/* SPDX-License-Identifier: MIT */
/*
 * test_packet_encode.c - the encoder and the property writer: packets built
 * from scratch encode to the bytes the spec prescribes, the encoder rejects
 * what the decoder would reject, buffers are never overrun, and properties
 * written with mqr_packet_prop_add() read back through the iterator.
 */
#include "test_packet_helpers.h"

/* Encode *p and compare with the expected hex; also decode it back. */
static void expect_bytes(const mqr_packet_t *p, const char *hex)
{
    uint8_t want[GOLDEN_MAX], got[GOLDEN_MAX];
    size_t wn = hx(hex, want), gn = 0, size = 0;
    mqr_diag_t d;
    int rc = mqr_packet_encode(p, got, sizeof got, &gn, &d);
    cr_assert_eq(rc, MQR_OK, "%s: %s", mqr_status_name(rc), d.message);
    cr_assert_eq(mqr_packet_size(p, &size, NULL), MQR_OK);
    cr_assert_eq(size, gn);
    char shown[3 * GOLDEN_MAX + 1] = "";
    for (size_t i = 0; i < gn && i < 200; i++)
        snprintf(shown + 3 * i, 4, "%02x ", got[i]);
    cr_assert_eq(gn, wn, "length %zu, want %zu: %s", gn, wn, shown);
    cr_assert_arr_eq(got, want, wn, "got %s", shown);
    mqr_packet_opts_t o = {0, p->proto_ver, 0, 0};
    mqr_packet_t q;
    size_t used;
    cr_assert_eq(mqr_packet_decode(got, gn, &o, &q, &used, &d), MQR_OK, "%s", d.message);
}

/* Encoding *p fails with `status`; the buffer is left untouched. */
static void expect_reject(const mqr_packet_t *p, int status, const char *field)
{
    uint8_t buf[256];
    memset(buf, 0xA5, sizeof buf);
    size_t n = 0;
    mqr_diag_t d;
    int rc = mqr_packet_encode(p, buf, sizeof buf, &n, &d);
    cr_assert_eq(rc, status, "got %s (%s)", mqr_status_name(rc), d.message);
    cr_assert_str_eq(d.field, field);
    for (size_t i = 0; i < sizeof buf; i++)
        cr_assert_eq(buf[i], 0xA5);
    cr_assert_eq(mqr_packet_size(p, &n, NULL), status);
}

#define S(lit) ((mqr_str_t){lit, sizeof(lit) - 1, 0})
#define B(lit) ((mqr_bin_t){(const uint8_t *)lit, sizeof(lit) - 1, 0})

Test(packet_encode, connect_v311_from_scratch)
{
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_CONNECT;
    p.proto_ver = 4;
    p.connect.clean_start = 1;
    p.connect.keepalive = 60;
    p.connect.clientid = S("c1");
    expect_bytes(&p, "10 0e 00 04 4d 51 54 54 04 02 00 3c 00 02 63 31");
    p.proto_ver = 3; /* protocol name follows the level */
    expect_bytes(&p, "10 10 00 06 4d 51 49 73 64 70 03 02 00 3c 00 02 63 31");
}

Test(packet_encode, connect_v5_with_will_and_properties)
{
    uint8_t props[64], wprops[64];
    size_t pl = 0, wl = 0;
    mqr_prop_t pr = {.id = MQR_PROP_SESSION_EXPIRY_INTERVAL, .type = MQR_PROPTYPE_U32, .value = 60};
    cr_assert_eq(mqr_packet_prop_add(props, sizeof props, &pl, &pr), MQR_OK);
    mqr_prop_t wd = {.id = MQR_PROP_WILL_DELAY_INTERVAL, .type = MQR_PROPTYPE_U32, .value = 5};
    cr_assert_eq(mqr_packet_prop_add(wprops, sizeof wprops, &wl, &wd), MQR_OK);
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_CONNECT;
    p.proto_ver = 5;
    p.connect.clientid = S("c");
    p.connect.props = (mqr_props_t){props, (uint32_t)pl, 1};
    p.connect.will_flag = 1;
    p.connect.will_qos = 1;
    p.connect.will_props = (mqr_props_t){wprops, (uint32_t)wl, 1};
    p.connect.will_topic = S("w");
    p.connect.will_payload = B("x");
    p.connect.username = S("u");
    expect_bytes(&p, "10 22 00 04 4d 51 54 54 05 8c 00 00 05 11 00 00 00 3c 00 01 63"
                     "05 18 00 00 00 05 00 01 77 00 01 78 00 01 75");
}

Test(packet_encode, connect_rejects_what_the_decoder_rejects)
{
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_CONNECT;
    p.proto_ver = 4;
    p.connect.clientid = S("c");
    p.connect.will_flag = 1;
    p.connect.will_topic = S("a/#");
    expect_reject(&p, MQR_ETOPIC, "will topic");
    p.connect.will_topic = S("a");
    p.connect.will_qos = 3;
    expect_reject(&p, MQR_EMALFORMED, "will qos");
    p.connect.will_qos = 0;
    p.connect.will_flag = 0;
    p.connect.will_retain = 1;
    expect_reject(&p, MQR_EMALFORMED, "connect flags");
    p.connect.will_retain = 0;
    p.connect.password = B("pw");
    expect_reject(&p, MQR_EPROTOCOL, "password");
    p.connect.password = (mqr_bin_t){NULL, 0, 0};
    p.connect.clientid = S("a\xc0\x80");
    expect_reject(&p, MQR_EUTF8, "client identifier");
    p.connect.clientid = S("c");
    p.connect.proto_name = S("MQIsdp");
    expect_reject(&p, MQR_EPROTOVER, "protocol name");
    p.connect.proto_name = (mqr_str_t){NULL, 0, 0};
    p.proto_ver = 6;
    expect_reject(&p, MQR_EPROTOVER, "protocol level");
}

Test(packet_encode, publish_flags_and_validation)
{
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_PUBLISH;
    p.proto_ver = 4;
    p.publish.topic = S("a/b");
    p.publish.qos = 1;
    p.publish.retain = 1;
    p.publish.dup = 1;
    p.publish.packet_id = 5;
    p.publish.payload = B("hi");
    expect_bytes(&p, "3b 09 00 03 61 2f 62 00 05 68 69");
    p.publish.packet_id = 0;
    expect_reject(&p, MQR_EPROTOCOL, "packet identifier");
    p.publish.packet_id = 5;
    p.publish.qos = 3;
    expect_reject(&p, MQR_EMALFORMED, "qos");
    p.publish.qos = 0;
    expect_reject(&p, MQR_EPROTOCOL, "dup flag");
    p.publish.dup = 0;
    p.publish.topic = S("a/+");
    expect_reject(&p, MQR_ETOPIC, "topic");
    p.publish.topic = S("");
    expect_reject(&p, MQR_ETOPIC, "topic");
    p.proto_ver = 5; /* empty topic needs a Topic-Alias at v5 */
    expect_reject(&p, MQR_EPROTOCOL, "topic");
    uint8_t props[8];
    size_t pl = 0;
    mqr_prop_t alias = {.id = MQR_PROP_TOPIC_ALIAS, .type = MQR_PROPTYPE_U16, .value = 2};
    cr_assert_eq(mqr_packet_prop_add(props, sizeof props, &pl, &alias), MQR_OK);
    p.publish.props = (mqr_props_t){props, (uint32_t)pl, 1};
    expect_bytes(&p, "31 08 00 00 03 23 00 02 68 69");
    /* A property not allowed in PUBLISH. */
    pl = 0;
    mqr_prop_t se = {.id = MQR_PROP_SESSION_EXPIRY_INTERVAL, .type = MQR_PROPTYPE_U32, .value = 1};
    cr_assert_eq(mqr_packet_prop_add(props, sizeof props, &pl, &se), MQR_OK);
    p.publish.props.len = (uint32_t)pl;
    expect_reject(&p, MQR_EPROPERTY, "properties");
}

Test(packet_encode, ack_short_forms_follow_the_flags)
{
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_PUBACK;
    p.proto_ver = 5;
    p.ack.packet_id = 1;
    expect_bytes(&p, "40 02 00 01");
    p.ack.has_reason_code = 1;
    p.ack.reason_code = 0x10;
    expect_bytes(&p, "40 03 00 01 10");
    p.ack.props.present = 1;
    expect_bytes(&p, "40 04 00 01 10 00");
    p.ack.reason_code = 0x92;
    expect_reject(&p, MQR_EPROTOCOL, "reason code");
    p.proto_ver = 4; /* below v5 only the packet id */
    p.ack.reason_code = 0;
    expect_bytes(&p, "40 02 00 01");
    p.type = MQR_PKT_PUBREL;
    expect_bytes(&p, "62 02 00 01");
    p.ack.packet_id = 0;
    expect_reject(&p, MQR_EPROTOCOL, "packet identifier");
}

Test(packet_encode, subscribe_from_a_list)
{
    mqr_subscription_t subs[2] = {
        {.filter = S("a/+"), .qos = 1},
        {.filter = S("$share/g/#"), .qos = 2, .retain_handling = 1},
    };
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_SUBSCRIBE;
    p.proto_ver = 5;
    p.subscribe.packet_id = 9;
    p.subscribe.list = subs;
    p.subscribe.count = 2;
    expect_bytes(&p, "82 16 00 09 00 00 03 61 2f 2b 01 00 0a 24 73 68 61 72 65 2f 67 2f 23 12");
    p.proto_ver = 4; /* retain handling does not exist at 3.1.1 */
    expect_reject(&p, MQR_EMALFORMED, "retain handling");
    subs[1].retain_handling = 0;
    subs[1].filter = S("a/#/b");
    expect_reject(&p, MQR_EFILTER, "topic filter");
    p.subscribe.count = 0;
    expect_reject(&p, MQR_EPROTOCOL, "topic filter");
}

Test(packet_encode, unsubscribe_from_a_list_and_raw_entries)
{
    mqr_str_t filters[2] = {S("a"), S("b/#")};
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_UNSUBSCRIBE;
    p.proto_ver = 4;
    p.unsubscribe.packet_id = 3;
    p.unsubscribe.list = filters;
    p.unsubscribe.count = 2;
    expect_bytes(&p, "a2 0a 00 03 00 01 61 00 03 62 2f 23");
    /* The same entries as raw wire bytes. */
    p.unsubscribe.list = NULL;
    p.unsubscribe.entries = B("\x00\x01\x61\x00\x03\x62\x2f\x23");
    expect_bytes(&p, "a2 0a 00 03 00 01 61 00 03 62 2f 23");
    p.unsubscribe.entries = B("\x00\x01\x61\x00\x05\x62");
    expect_reject(&p, MQR_EMALFORMED, "topic filter");
}

Test(packet_encode, suback_unsuback_codes)
{
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_SUBACK;
    p.proto_ver = 4;
    p.suback.packet_id = 2;
    p.suback.codes = B("\x00\x80");
    expect_bytes(&p, "90 04 00 02 00 80");
    p.suback.codes = B("\x8f");
    expect_reject(&p, MQR_EPROTOCOL, "reason code");
    p.proto_ver = 5;
    expect_bytes(&p, "90 04 00 02 00 8f");
    p.suback.codes.len = 0;
    expect_reject(&p, MQR_EPROTOCOL, "reason codes");
    p.type = MQR_PKT_UNSUBACK;
    p.proto_ver = 4;
    expect_bytes(&p, "b0 02 00 02");
    p.unsuback.codes = B("\x00");
    expect_reject(&p, MQR_EPROTOCOL, "reason codes");
}

Test(packet_encode, connack_disconnect_auth_ping)
{
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_CONNACK;
    p.proto_ver = 4;
    p.connack.reason_code = 5;
    expect_bytes(&p, "20 02 00 05");
    p.connack.session_present = 1;
    expect_reject(&p, MQR_EPROTOCOL, "session present");
    p.connack.session_present = 0;
    p.connack.reason_code = 6;
    expect_reject(&p, MQR_EPROTOCOL, "reason code");
    p.proto_ver = 5;
    p.connack.reason_code = 0x95;
    expect_bytes(&p, "20 03 00 95 00");
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_DISCONNECT;
    p.proto_ver = 5;
    expect_bytes(&p, "e0 00");
    p.disconnect.has_reason_code = 1;
    p.disconnect.reason_code = 0x04;
    expect_bytes(&p, "e0 01 04");
    p.disconnect.has_reason_code = 0;
    expect_reject(&p, MQR_EINVAL, "reason code");
    p.type = MQR_PKT_AUTH;
    p.auth.reason_code = 0x18;
    p.auth.has_reason_code = 1;
    expect_bytes(&p, "f0 01 18");
    p.proto_ver = 4;
    expect_reject(&p, MQR_EPROTOCOL, "packet type");
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_PINGREQ;
    expect_bytes(&p, "c0 00");
    p.type = MQR_PKT_PINGRESP;
    expect_bytes(&p, "d0 00");
    p.type = 0;
    expect_reject(&p, MQR_EINVAL, "packet type");
}

Test(packet_encode, exact_buffer_and_one_short)
{
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_PUBLISH;
    p.publish.topic = S("t");
    p.publish.payload = B("0123456789");
    size_t need;
    cr_assert_eq(mqr_packet_size(&p, &need, NULL), MQR_OK);
    cr_assert_eq(need, 15);
    uint8_t *exact = malloc(need);
    size_t n = 0;
    cr_assert_eq(mqr_packet_encode(&p, exact, need, &n, NULL), MQR_OK);
    cr_assert_eq(n, need);
    free(exact);
    uint8_t *shortb = malloc(need - 1);
    cr_assert_eq(mqr_packet_encode(&p, shortb, need - 1, &n, NULL), MQR_EBUFFER);
    cr_assert_eq(n, need);
    free(shortb);
}

Test(packet_encode, large_payload_uses_a_multi_byte_length)
{
    static uint8_t payload[200000], out[200100];
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_PUBLISH;
    p.publish.topic = S("t");
    p.publish.payload = (mqr_bin_t){payload, sizeof payload, 0};
    size_t n;
    cr_assert_eq(mqr_packet_encode(&p, out, sizeof out, &n, NULL), MQR_OK);
    cr_assert_eq(n, 1 + 3 + 3 + sizeof payload);
    mqr_packet_t q;
    size_t used;
    cr_assert_eq(mqr_packet_decode(out, n, NULL, &q, &used, NULL), MQR_OK);
    cr_assert_eq(q.publish.payload.len, sizeof payload);
}

/* ---- properties ---------------------------------------------------------------------- */

Test(packet_encode, prop_add_then_iterate_every_type)
{
    uint8_t buf[256];
    size_t len = 0;
    mqr_prop_t in[] = {
        {.id = MQR_PROP_PAYLOAD_FORMAT_INDICATOR, .type = MQR_PROPTYPE_BYTE, .value = 1},
        {.id = MQR_PROP_TOPIC_ALIAS, .type = MQR_PROPTYPE_U16, .value = 65535},
        {.id = MQR_PROP_MESSAGE_EXPIRY_INTERVAL, .type = MQR_PROPTYPE_U32, .value = 0xFFFFFFFFu},
        {.id = MQR_PROP_SUBSCRIPTION_IDENTIFIER, .type = MQR_PROPTYPE_VARINT, .value = 16384},
        {.id = MQR_PROP_CONTENT_TYPE, .type = MQR_PROPTYPE_STRING, .str = S("text/plain")},
        {.id = MQR_PROP_CORRELATION_DATA, .type = MQR_PROPTYPE_BINARY, .bin = B("\x00\xff")},
        {.id = MQR_PROP_USER_PROPERTY, .type = MQR_PROPTYPE_PAIR, .str = S("k"), .str2 = S("v")},
        {.id = MQR_PROP_USER_PROPERTY, .type = MQR_PROPTYPE_PAIR, .str = S("k"), .str2 = S("")},
    };
    for (size_t i = 0; i < MQR__ARRAY_LEN(in); i++)
        cr_assert_eq(mqr_packet_prop_add(buf, sizeof buf, &len, &in[i]), MQR_OK, "prop %zu", i);
    mqr_props_t props = {buf, (uint32_t)len, 1};
    mqr_packet_iter_t it;
    mqr_prop_t out;
    size_t i = 0;
    mqr_packet_iter_props(&it, &props);
    while (mqr_packet_prop_next(&it, &out)) {
        cr_assert_eq(out.id, in[i].id);
        cr_assert_eq(out.type, in[i].type);
        cr_assert_eq(out.value, in[i].value);
        cr_assert_eq(out.str.len, in[i].str.len);
        cr_assert_eq(out.str2.len, in[i].str2.len);
        cr_assert_eq(out.bin.len, in[i].bin.len);
        i++;
    }
    cr_assert_eq(i, MQR__ARRAY_LEN(in));
    /* The bytes are valid PUBLISH properties. */
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_PUBLISH;
    p.proto_ver = 5;
    p.publish.topic = S("t");
    p.publish.props = props;
    uint8_t out_buf[300];
    size_t n;
    cr_assert_eq(mqr_packet_encode(&p, out_buf, sizeof out_buf, &n, NULL), MQR_OK);
}

Test(packet_encode, prop_add_rejects_bad_values_and_small_buffers)
{
    uint8_t buf[8];
    size_t len = 0;
    mqr_prop_t pr = {.id = MQR_PROP_RECEIVE_MAXIMUM, .type = MQR_PROPTYPE_U16, .value = 0};
    cr_assert_eq(mqr_packet_prop_add(buf, sizeof buf, &len, &pr), MQR_EPROPERTY);
    pr.value = 70000;
    cr_assert_eq(mqr_packet_prop_add(buf, sizeof buf, &len, &pr), MQR_EPROPERTY);
    pr.type = MQR_PROPTYPE_U32;
    cr_assert_eq(mqr_packet_prop_add(buf, sizeof buf, &len, &pr), MQR_EINVAL);
    mqr_prop_t unknown = {.id = 0x05, .type = MQR_PROPTYPE_BYTE};
    cr_assert_eq(mqr_packet_prop_add(buf, sizeof buf, &len, &unknown), MQR_EINVAL);
    mqr_prop_t bad = {.id = MQR_PROP_CONTENT_TYPE, .type = MQR_PROPTYPE_STRING, .str = S("\xed\xa0\x80")};
    cr_assert_eq(mqr_packet_prop_add(buf, sizeof buf, &len, &bad), MQR_EUTF8);
    mqr_prop_t s5 = {.id = MQR_PROP_CONTENT_TYPE, .type = MQR_PROPTYPE_STRING, .str = S("12345")};
    cr_assert_eq(mqr_packet_prop_add(buf, 7, &len, &s5), MQR_EBUFFER);
    cr_assert_eq(len, 0);
    cr_assert_eq(mqr_packet_prop_add(buf, 8, &len, &s5), MQR_OK);
    cr_assert_eq(len, 8);
    cr_assert_eq(mqr_packet_prop_add(NULL, 8, &len, &s5), MQR_EINVAL);
    cr_assert_eq(mqr_packet_prop_add(buf, 8, NULL, &s5), MQR_EINVAL);
    cr_assert_eq(mqr_packet_prop_add(buf, 8, &len, NULL), MQR_EINVAL);
}

Test(packet_encode, prop_names_ids_types_and_accessor_errors)
{
    cr_assert_str_eq(mqr_packet_prop_name(MQR_PROP_SESSION_EXPIRY_INTERVAL), "Session-Expiry-Interval");
    cr_assert_str_eq(mqr_packet_prop_name(MQR_PROP_USER_PROPERTY), "User-Property");
    cr_assert_null(mqr_packet_prop_name(0x05));
    cr_assert_null(mqr_packet_prop_name(0xFF));
    cr_assert_eq(mqr_packet_prop_id("Maximum-QoS", 11), MQR_PROP_MAXIMUM_QOS);
    cr_assert_eq(mqr_packet_prop_id("Maximum-QoSx", 12), -1);
    cr_assert_eq(mqr_packet_prop_id(NULL, 0), -1);
    cr_assert_eq(mqr_packet_prop_type(MQR_PROP_CORRELATION_DATA), MQR_PROPTYPE_BINARY);
    cr_assert_eq(mqr_packet_prop_type(0x2B), 0);
    /* Every defined id round-trips through its name. */
    for (int id = 0; id < 256; id++) {
        const char *n = mqr_packet_prop_name((uint8_t)id);
        if (n)
            cr_assert_eq(mqr_packet_prop_id(n, strlen(n)), id);
    }
    uint8_t buf[] = {0x23, 0x00, 0x07};
    mqr_props_t props = {buf, 3, 1};
    uint32_t v;
    mqr_str_t s;
    cr_assert_eq(mqr_packet_prop_get_int(&props, MQR_PROP_TOPIC_ALIAS, &v), MQR_OK);
    cr_assert_eq(v, 7);
    cr_assert_eq(mqr_packet_prop_get_str(&props, MQR_PROP_TOPIC_ALIAS, &s), MQR_EINVAL);
    cr_assert_eq(mqr_packet_prop_get_int(&props, MQR_PROP_CONTENT_TYPE, &v), MQR_EINVAL);
    cr_assert_eq(mqr_packet_prop_get_int(&props, 0x05, &v), MQR_EINVAL);
    cr_assert_eq(mqr_packet_prop_get_int(NULL, MQR_PROP_TOPIC_ALIAS, &v), MQR_EINVAL);
    cr_assert_eq(mqr_packet_prop_get_int(&props, MQR_PROP_TOPIC_ALIAS, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_packet_prop_get_str(&props, MQR_PROP_CONTENT_TYPE, &s), MQR_ENOTFOUND);
    /* The iterator stops at bytes that are not properties. */
    uint8_t junk[] = {0x23, 0x00};
    mqr_props_t jp = {junk, 2, 1};
    mqr_packet_iter_t it;
    mqr_prop_t pr;
    mqr_packet_iter_props(&it, &jp);
    cr_assert_not(mqr_packet_prop_next(&it, &pr));
    mqr_packet_iter_props(&it, NULL);
    cr_assert_not(mqr_packet_prop_next(&it, &pr));
    cr_assert_not(mqr_packet_prop_next(NULL, &pr));
}
