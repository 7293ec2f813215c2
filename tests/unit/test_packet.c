/* SPDX-License-Identifier: MIT */
/*
 * test_packet.c - the decoder: golden packets of every type and level
 * (tests/data/packets/NAME.hex) decode, stream byte by byte, ask for more bytes
 * on every proper prefix and re-encode to the same bytes; each validation
 * rule rejects with its exact status, reason code, field and offset; field
 * values of each packet type; limits and NULL arguments.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS for the guard pages */
#include <sys/mman.h>
#include <unistd.h>

#include "test_packet_helpers.h"

/* ---- golden packets ------------------------------------------------------------- */

static golden_t goldens[64];

Test(packet, golden_files_decode_whole)
{
    size_t n = golden_load_all(goldens, 64);
    cr_assert_geq(n, 40, "only %zu golden files", n);
    for (size_t i = 0; i < n; i++) {
        golden_t *g = &goldens[i];
        mqr_packet_t p;
        size_t used = 0;
        mqr_diag_t d;
        int rc = mqr_packet_decode(g->bytes, g->len, &g->opts, &p, &used, &d);
        cr_assert_eq(rc, MQR_OK, "%s: %s (%s)", g->name, mqr_status_name(rc), d.message);
        cr_assert_eq(used, g->len, "%s", g->name);
        cr_assert_eq(p.type, g->bytes[0] >> 4, "%s", g->name);
    }
}

Test(packet, golden_every_proper_prefix_needs_more)
{
    size_t n = golden_load_all(goldens, 64);
    for (size_t i = 0; i < n; i++) {
        golden_t *g = &goldens[i];
        for (size_t k = 0; k < g->len; k++) {
            /* A heap copy of exactly k bytes so ASan catches any over-read. */
            uint8_t *b = malloc(k ? k : 1);
            memcpy(b, g->bytes, k);
            mqr_packet_t p;
            size_t need = 0;
            int rc = mqr_packet_decode(k ? b : NULL, k, &g->opts, &p, &need, NULL);
            free(b);
            cr_assert_eq(rc, MQR_NEED_MORE, "%s prefix %zu: %s", g->name, k, mqr_status_name(rc));
            cr_assert_geq(need, 1);
            cr_assert_leq(k + need, g->len, "%s prefix %zu asks for %zu", g->name, k, need);
            /* Once the fixed header is complete the count is exact. */
            size_t hdr = 2;
            while (hdr < g->len && (g->bytes[hdr - 1] & 0x80))
                hdr++;
            if (k >= hdr)
                cr_assert_eq(k + need, g->len, "%s prefix %zu", g->name, k);
        }
    }
}

/* Two pages, the second PROT_NONE: bytes placed at the end of the first page
 * are followed by a guard that faults on any read past them, in every build. */
static uint8_t *guard_pages(size_t *page)
{
    *page = (size_t)sysconf(_SC_PAGESIZE);
    uint8_t *m = mmap(NULL, 2 * *page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(m, MAP_FAILED);
    cr_assert_eq(mprotect(m + *page, *page, PROT_NONE), 0);
    return m;
}

Test(packet, golden_prefixes_and_whole_packets_end_at_a_guard_page)
{
    size_t n = golden_load_all(goldens, 64), page;
    uint8_t *m = guard_pages(&page);
    for (size_t i = 0; i < n; i++) {
        golden_t *g = &goldens[i];
        for (size_t k = 0; k <= g->len; k++) {
            uint8_t *at = m + page - k;
            memcpy(at, g->bytes, k);
            mqr_packet_t p;
            size_t used;
            int rc = mqr_packet_decode(at, k, &g->opts, &p, &used, NULL);
            cr_assert_eq(rc, k == g->len ? MQR_OK : MQR_NEED_MORE, "%s prefix %zu", g->name, k);
            if (rc != MQR_OK)
                continue;
            /* Walk everything the packet exposes, still next to the guard. */
            mqr_packet_iter_t it;
            mqr_prop_t pr;
            mqr_subscription_t sub;
            mqr_str_t f;
            mqr_packet_iter_props(&it, &p.publish.props);
            if (p.type == MQR_PKT_PUBLISH)
                while (mqr_packet_prop_next(&it, &pr))
                    ;
            mqr_packet_iter_subscriptions(&it, &p);
            while (mqr_packet_subscription_next(&it, &sub))
                ;
            mqr_packet_iter_filters(&it, &p);
            while (mqr_packet_filter_next(&it, &f))
                ;
        }
    }
    munmap(m, 2 * page);
}

/* Feed the stream in chunks of `step` bytes into a buffer the caller compacts. */
static void stream_in_chunks(const uint8_t *bytes, size_t len, const mqr_packet_opts_t *opts,
                             size_t step, int *types, size_t *count)
{
    mqr_packet_stream_t s;
    mqr_packet_stream_init(&s, opts);
    uint8_t held[GOLDEN_MAX * 2];
    size_t have = 0, fed = 0;
    *count = 0;
    while (fed < len || have > 0) {
        mqr_packet_t p;
        size_t n = 0;
        int rc = mqr_packet_stream_next(&s, held, have, &p, &n, NULL);
        if (rc == MQR_OK) {
            types[(*count)++] = p.type;
            memmove(held, held + n, have - n);
            have -= n;
            continue;
        }
        cr_assert_eq(rc, MQR_NEED_MORE, "stream: %s", mqr_status_name(rc));
        cr_assert_eq(s.need, n);
        if (fed == len)
            break;
        size_t k = step < len - fed ? step : len - fed;
        memcpy(held + have, bytes + fed, k);
        have += k;
        fed += k;
    }
    cr_assert_eq(have, 0);
    cr_assert_eq(s.offset, len);
    cr_assert_eq(s.packets, *count);
}

Test(packet, golden_any_chunking_gives_the_same_packets)
{
    size_t n = golden_load_all(goldens, 64);
    for (size_t i = 0; i < n; i++) {
        golden_t *g = &goldens[i];
        /* Three copies back to back, as one stream. */
        uint8_t three[GOLDEN_MAX * 3];
        for (int c = 0; c < 3; c++)
            memcpy(three + c * g->len, g->bytes, g->len);
        size_t steps[] = {1, 2, 3, 7, 64, 3 * GOLDEN_MAX};
        for (size_t si = 0; si < MQR__ARRAY_LEN(steps); si++) {
            int types[8];
            size_t count = 0;
            stream_in_chunks(three, 3 * g->len, &g->opts, steps[si], types, &count);
            cr_assert_eq(count, 3, "%s step %zu: %zu packets", g->name, steps[si], count);
            for (int c = 0; c < 3; c++)
                cr_assert_eq(types[c], g->bytes[0] >> 4);
        }
    }
}

Test(packet, golden_decode_encode_decode_is_identity)
{
    size_t n = golden_load_all(goldens, 64);
    for (size_t i = 0; i < n; i++) {
        golden_t *g = &goldens[i];
        mqr_packet_t p, q;
        size_t used, size, out_len;
        cr_assert_eq(mqr_packet_decode(g->bytes, g->len, &g->opts, &p, &used, NULL), MQR_OK);
        mqr_diag_t d;
        int rc = mqr_packet_size(&p, &size, &d);
        cr_assert_eq(rc, MQR_OK, "%s: %s", g->name, d.message);
        cr_assert_eq(size, g->len, "%s: size %zu", g->name, size);
        uint8_t out[GOLDEN_MAX + 16];
        memset(out, 0xA5, sizeof out);
        rc = mqr_packet_encode(&p, out, sizeof out, &out_len, &d);
        cr_assert_eq(rc, MQR_OK, "%s: %s", g->name, d.message);
        cr_assert_eq(out_len, g->len);
        cr_assert_arr_eq(out, g->bytes, g->len, "%s: bytes differ", g->name);
        cr_assert_eq(mqr_packet_decode(out, out_len, &g->opts, &q, &used, NULL), MQR_OK);
        cr_assert_eq(q.type, p.type);
        cr_assert_eq(q.remaining_length, p.remaining_length);
    }
}

Test(packet, golden_encode_one_byte_short_is_ebuffer_and_writes_nothing_past)
{
    size_t n = golden_load_all(goldens, 64);
    for (size_t i = 0; i < n; i++) {
        golden_t *g = &goldens[i];
        mqr_packet_t p;
        size_t used, out_len = 0;
        cr_assert_eq(mqr_packet_decode(g->bytes, g->len, &g->opts, &p, &used, NULL), MQR_OK);
        /* Exactly len-1 bytes on the heap: ASan reports any write past it. */
        uint8_t *out = malloc(g->len - 1);
        memset(out, 0xA5, g->len - 1);
        int rc = mqr_packet_encode(&p, out, g->len - 1, &out_len, NULL);
        cr_assert_eq(rc, MQR_EBUFFER, "%s: %s", g->name, mqr_status_name(rc));
        cr_assert_eq(out_len, g->len);
        free(out);
        cr_assert_eq(mqr_packet_encode(&p, NULL, 0, &out_len, NULL), MQR_EBUFFER);
    }
}

/* ---- validation rules: one row per rule ------------------------------------------- */

typedef struct bad_case {
    const char *name;
    int ver;
    int direction;
    const char *hex;
    int status;
    int reason;
    const char *field;
    int offset; /* -1: not checked */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"type 0", 4, 0, "0000", MQR_EMALFORMED, 0x81, "packet type", 0},
    {"AUTH below v5", 4, 0, "f000", MQR_EMALFORMED, 0x81, "packet type", 0},
    {"PUBLISH QoS 3", 4, 0, "36050001610001", MQR_EMALFORMED, 0x81, "qos", 0},
    {"PUBACK flags", 4, 0, "41020001", MQR_EMALFORMED, 0x81, "fixed header flags", 0},
    {"PUBREL flags 0", 4, 0, "60020001", MQR_EMALFORMED, 0x81, "fixed header flags", 0},
    {"SUBSCRIBE flags 0", 4, 0, "8006000100016100", MQR_EMALFORMED, 0x81, "fixed header flags", 0},
    {"PINGREQ flags", 4, 0, "c100", MQR_EMALFORMED, 0x81, "fixed header flags", 0},
    {"5-byte remaining length", 4, 0, "30ffffffff7f", MQR_EMALFORMED, 0x81, "remaining length", 1},
    {"non-minimal remaining length", 4, 0, "c08000", MQR_EMALFORMED, 0x81, "remaining length", 1},
    {"CONNACK from client", 4, MQR_PKT_DIR_TO_SERVER, "20020000", MQR_EPROTOCOL, 0x82, "packet type", 0},
    {"SUBSCRIBE to client", 4, MQR_PKT_DIR_TO_CLIENT, "8206000100016100", MQR_EPROTOCOL, 0x82, "packet type", 0},
    {"PINGREQ with body", 4, 0, "c00100", MQR_EMALFORMED, 0x81, "remaining length", 2},
    {"PUBACK v4 trailing byte", 4, 0, "4003000100", MQR_EMALFORMED, 0x81, "remaining length", 4},
    {"CONNECT trailing byte", 4, 0, "100e00044d5154540402003c00016300", MQR_EMALFORMED, 0x81, "remaining length", 15},
    {"topic overruns", 4, 0, "3003000561", MQR_EMALFORMED, 0x81, "topic", 2},
    {"CONNECT cut before flags", 4, 0, "100700044d51545404", MQR_EMALFORMED, 0x81, "connect flags", 9},
    {"protocol name MQTX", 4, 0, "100d00044d51545804020000000163", MQR_EPROTOVER, 0x84, "protocol level", 2},
    {"protocol level 6", 4, 0, "100d00044d5154540602003c000163", MQR_EPROTOVER, 0x84, "protocol level", 2},
    {"MQIsdp at level 4", 4, 0, "100f00064d514973647004020000000163", MQR_EPROTOVER, 0x84, "protocol level", 2},
    {"connect reserved flag", 4, 0, "100d00044d5154540403003c000163", MQR_EMALFORMED, 0x81, "connect flags", 9},
    {"will QoS 3", 4, 0, "101300044d515454041e003c000163000177000170", MQR_EMALFORMED, 0x81, "will qos", 9},
    {"will QoS without will", 4, 0, "100d00044d515454040a003c000163", MQR_EMALFORMED, 0x81, "connect flags", 9},
    {"will retain without will", 4, 0, "100d00044d5154540422003c000163", MQR_EMALFORMED, 0x81, "connect flags", 9},
    {"password without user name v4", 4, 0, "101100044d5154540442003c00016300027077", MQR_EPROTOCOL, 0x82, "connect flags", 9},
    {"will topic with +", 4, 0, "101500044d5154540406003c0001630003612f2b000178", MQR_ETOPIC, 0x90, "will topic", 19},
    {"will topic with #", 4, 0, "101300044d5154540406003c000163000123000178", MQR_ETOPIC, 0x90, "will topic", 17},
    {"will topic empty", 4, 0, "101200044d5154540406003c0001630000000178", MQR_ETOPIC, 0x90, "will topic", 15},
    {"client id overlong NUL", 4, 0, "100f00044d5154540402003c000361c080", MQR_EUTF8, 0x81, "client identifier", 15},
    {"client id overlong 3-byte", 4, 0, "100f00044d5154540402003c0003e080af", MQR_EUTF8, 0x81, "client identifier", 14},
    {"client id U+0000", 4, 0, "100f00044d5154540402003c0003616200", MQR_EUTF8, 0x81, "client identifier", 16},
    {"user name surrogate", 4, 0, "101200044d5154540482003c0001630003eda080", MQR_EUTF8, 0x81, "user name", 17},
    {"user name above U+10FFFF", 4, 0, "101300044d5154540482003c0001630004f4908080", MQR_EUTF8, 0x81, "user name", 17},
    {"client id truncated sequence", 4, 0, "100e00044d5154540402003c0002e282", MQR_EUTF8, 0x81, "client identifier", 14},
    {"client id stray continuation", 4, 0, "100d00044d5154540402003c000180", MQR_EUTF8, 0x81, "client identifier", 14},
    {"client id 0xFF", 4, 0, "100d00044d5154540402003c0001ff", MQR_EUTF8, 0x81, "client identifier", 14},
    {"v5 auth data without method", 5, 0, "101200044d5154540502003c0416000178000163", MQR_EPROTOCOL, 0x82, "properties", 13},
    {"v5 AUTH data without method", 5, 0, "f0 06 18 04 16 00 01 78", MQR_EPROTOCOL, 0x82, "properties", 4},
    {"v5 Topic-Alias in CONNECT", 5, 0, "101100044d5154540502003c03230001000163", MQR_EPROPERTY, 0x82, "properties", 13},
    {"v5 Session-Expiry twice", 5, 0, "101800044d5154540502003c0a11000000011100000002000163", MQR_EPROPERTY, 0x82, "properties", 18},
    {"v5 unknown property", 5, 0, "101000044d5154540502003c020500000163", MQR_EPROPERTY, 0x81, "properties", 13},
    {"v5 Receive-Maximum 0", 5, 0, "101100044d5154540502003c03210000000163", MQR_EPROPERTY, 0x82, "properties", 13},
    {"v5 Maximum-Packet-Size 0", 5, 0, "101300044d5154540502003c052700000000000163", MQR_EPROPERTY, 0x82, "properties", 13},
    {"v5 Request-Problem-Information 2", 5, 0, "101000044d5154540502003c021702000163", MQR_EPROPERTY, 0x82, "properties", 13},
    {"v5 property overruns", 5, 0, "101100044d5154540502003c03110000000163", MQR_EMALFORMED, 0x81, "properties", 13},
    {"v5 property length overruns", 5, 0, "100c00044d515454050200000911", MQR_EMALFORMED, 0x81, "properties", 12},
    {"v5 Will-Delay in CONNECT properties", 5, 0, "101300044d5154540502003c051800000001000163", MQR_EPROPERTY, 0x82, "properties", 13},
    {"v5 Topic-Alias in will properties", 5, 0, "101800044d5154540506003c0000016303230001000177000170", MQR_EPROPERTY, 0x82, "will properties", 17},
    {"v5 user property bad UTF-8", 5, 0, "101500044d5154540502003c072600016b0001c3000163", MQR_EUTF8, 0x81, "properties", 19},
    {"CONNACK reserved flags", 4, 0, "20020200", MQR_EMALFORMED, 0x81, "acknowledge flags", 2},
    {"CONNACK v4 return code 6", 4, 0, "20020006", MQR_EPROTOCOL, 0x82, "reason code", 3},
    {"CONNACK session present with refusal", 4, 0, "20020105", MQR_EPROTOCOL, 0x82, "acknowledge flags", 2},
    {"CONNACK v5 reason 0x10", 5, 0, "2003001000", MQR_EPROTOCOL, 0x82, "reason code", 3},
    {"CONNACK v5 Topic-Alias", 5, 0, "2006000003230001", MQR_EPROPERTY, 0x82, "properties", 5},
    {"PUBLISH topic with #", 4, 0, "30060003612f2378", MQR_ETOPIC, 0x90, "topic", 6},
    {"PUBLISH topic with +", 4, 0, "300400012b78", MQR_ETOPIC, 0x90, "topic", 4},
    {"PUBLISH empty topic v4", 4, 0, "3003000078", MQR_ETOPIC, 0x90, "topic", 2},
    {"PUBLISH empty topic v5 without alias", 5, 0, "300400000078", MQR_EPROTOCOL, 0x82, "topic", 2},
    {"PUBLISH packet id 0", 4, 0, "32050001610000", MQR_EPROTOCOL, 0x82, "packet identifier", 5},
    {"PUBLISH dup at QoS 0", 4, 0, "3803000161", MQR_EPROTOCOL, 0x82, "dup flag", 0},
    {"PUBLISH Topic-Alias 0", 5, 0, "300700016103230000", MQR_EPROPERTY, 0x94, "properties", 6},
    {"PUBLISH Subscription-Identifier from client", 5, MQR_PKT_DIR_TO_SERVER, "3006000161020b01", MQR_EPROPERTY, 0x82, "properties", 5},
    {"PUBLISH Subscription-Identifier 0", 5, 0, "3006000161020b00", MQR_EPROPERTY, 0x82, "properties", 6},
    {"PUBLISH Payload-Format-Indicator 2", 5, 0, "3006000161020102", MQR_EPROPERTY, 0x82, "properties", 6},
    {"PUBLISH Response-Topic with wildcard", 5, 0, "300a00016106080003722f23", MQR_EPROPERTY, 0x82, "properties", 11},
    {"PUBLISH Session-Expiry", 5, 0, "3009000161051100000001", MQR_EPROPERTY, 0x82, "properties", 6},
    {"PUBLISH Content-Type twice", 5, 0, "300c000161080300017803000179", MQR_EPROPERTY, 0x82, "properties", 10},
    {"PUBLISH non-minimal property length", 5, 0, "30050001618000", MQR_EMALFORMED, 0x81, "properties", 5},
    {"PUBACK packet id 0", 4, 0, "40020000", MQR_EPROTOCOL, 0x82, "packet identifier", 2},
    {"PUBACK v5 reason 0x92", 5, 0, "4003000192", MQR_EPROTOCOL, 0x82, "reason code", 4},
    {"PUBREL v5 reason 0x10", 5, 0, "6203000110", MQR_EPROTOCOL, 0x82, "reason code", 4},
    {"PUBACK v5 Topic-Alias", 5, 0, "400700010003230001", MQR_EPROPERTY, 0x82, "properties", 6},
    {"PUBCOMP v5 trailing after properties", 5, 0, "70050001000000", MQR_EMALFORMED, 0x81, "remaining length", 6},
    {"SUBSCRIBE without filters", 4, 0, "82020001", MQR_EPROTOCOL, 0x82, "topic filter", 4},
    {"SUBSCRIBE packet id 0", 4, 0, "8206000000016100", MQR_EPROTOCOL, 0x82, "packet identifier", 2},
    {"SUBSCRIBE filter a/b#", 4, 0, "820900010004612f622300", MQR_EFILTER, 0x8F, "topic filter", 9},
    {"SUBSCRIBE filter a+", 4, 0, "820700010002612b00", MQR_EFILTER, 0x8F, "topic filter", 7},
    {"SUBSCRIBE filter #/a", 4, 0, "820800010003232f6100", MQR_EFILTER, 0x8F, "topic filter", 6},
    {"SUBSCRIBE empty filter", 4, 0, "82050001000000", MQR_EFILTER, 0x8F, "topic filter", 4},
    {"SUBSCRIBE share without filter", 5, 0, "820e00010000082473686172652f6700", MQR_EFILTER, 0x8F, "topic filter", 15},
    {"SUBSCRIBE share name with +", 5, 0, "8211000100000b2473686172652f672b2f6100", MQR_EFILTER, 0x8F, "topic filter", 15},
    {"SUBSCRIBE QoS 3", 4, 0, "8206000100016103", MQR_EMALFORMED, 0x81, "subscription options", 7},
    {"SUBSCRIBE v4 reserved option bits", 4, 0, "8206000100016104", MQR_EMALFORMED, 0x81, "subscription options", 7},
    {"SUBSCRIBE v5 reserved option bits", 5, 0, "820700010000016140", MQR_EMALFORMED, 0x81, "subscription options", 8},
    {"SUBSCRIBE v5 retain handling 3", 5, 0, "820700010000016130", MQR_EPROTOCOL, 0x82, "subscription options", 8},
    {"SUBSCRIBE v5 no local on shared", 5, 0, "8210000100000a2473686172652f672f6104", MQR_EPROTOCOL, 0x82, "subscription options", 17},
    {"SUBSCRIBE v5 two Subscription-Identifiers", 5, 0, "820b0001040b010b0200016100", MQR_EPROPERTY, 0x82, "properties", 7},
    {"SUBSCRIBE filter cut off", 4, 0, "8206000100036162", MQR_EMALFORMED, 0x81, "topic filter", 4},
    {"SUBSCRIBE options missing", 4, 0, "82050001000161", MQR_EMALFORMED, 0x81, "subscription options", 7},
    {"SUBACK v4 code 3", 4, 0, "900400010003", MQR_EPROTOCOL, 0x82, "reason codes", 5},
    {"SUBACK without codes", 4, 0, "90020001", MQR_EPROTOCOL, 0x82, "reason codes", 4},
    {"SUBACK v5 code 0x11", 5, 0, "900400010011", MQR_EPROTOCOL, 0x82, "reason codes", 5},
    {"UNSUBSCRIBE without filters", 4, 0, "a2020001", MQR_EPROTOCOL, 0x82, "topic filter", 4},
    {"UNSUBSCRIBE bad filter", 4, 0, "a20900010005612f232f62", MQR_EFILTER, 0x8F, "topic filter", 8},
    {"UNSUBACK v4 extra byte", 4, 0, "b003000100", MQR_EMALFORMED, 0x81, "remaining length", 4},
    {"UNSUBACK v5 without codes", 5, 0, "b003000100", MQR_EPROTOCOL, 0x82, "reason codes", 5},
    {"DISCONNECT v4 with body", 4, 0, "e00100", MQR_EMALFORMED, 0x81, "remaining length", 2},
    {"DISCONNECT v5 reason 0x18", 5, 0, "e00118", MQR_EPROTOCOL, 0x82, "reason code", 2},
    {"DISCONNECT v5 Topic-Alias", 5, 0, "e0050003230001", MQR_EPROPERTY, 0x82, "properties", 4},
    {"AUTH v5 reason 0x80", 5, 0, "f00180", MQR_EPROTOCOL, 0x82, "reason code", 2},
};

Test(packet, every_validation_rule_has_its_status_reason_field_and_offset)
{
    for (size_t i = 0; i < MQR__ARRAY_LEN(bad_cases); i++) {
        const bad_case_t *c = &bad_cases[i];
        uint8_t b[GOLDEN_MAX];
        size_t len = hx(c->hex, b);
        mqr_packet_opts_t o = {0, (uint8_t)c->ver, (uint8_t)c->direction, 0};
        mqr_packet_t p;
        size_t used = 0;
        mqr_diag_t d;
        int rc = mqr_packet_decode(b, len, &o, &p, &used, &d);
        cr_expect_eq(rc, c->status, "%s: got %s (%s)", c->name, mqr_status_name(rc), d.message);
        if (rc != c->status)
            continue;
        cr_expect_eq(d.code, c->status, "%s", c->name);
        cr_expect_eq(d.reason_code, c->reason, "%s: reason 0x%02X", c->name, d.reason_code);
        cr_expect_str_eq(d.field, c->field, "%s: field '%s'", c->name, d.field);
        cr_expect_eq(d.packet_type, b[0] >> 4, "%s", c->name);
        if (c->offset >= 0)
            cr_expect_eq(d.offset, (uint64_t)c->offset, "%s: offset %llu (%s)", c->name,
                         (unsigned long long)d.offset, d.message);
        cr_expect_neq(strstr(d.message, mqr_packet_type_name(b[0] >> 4)), NULL, "%s", c->name);
    }
}

Test(packet, diag_message_names_packet_field_and_byte)
{
    /* CONNECT 3.1.1, client "c", will topic "a/+" */
    uint8_t b[64];
    size_t len = hx("10 15 00 04 4d 51 54 54 04 06 00 3c 00 01 63 00 03 61 2f 2b 00 01 78", b);
    mqr_packet_t p;
    size_t used;
    mqr_diag_t d;
    cr_assert_eq(mqr_packet_decode(b, len, NULL, &p, &used, &d), MQR_ETOPIC);
    cr_assert_str_eq(d.message, "CONNECT: will topic contains '+' at byte 19");
    cr_assert_str_eq(d.field, "will topic");
    cr_assert_eq(d.reason_code, 0x90);
    /* The fields read before the failure are kept (for a connack event). */
    cr_assert_eq(p.connect.clientid.len, 1);
    cr_assert_eq(p.connect.clientid.ptr[0], 'c');
    cr_assert_eq(p.connect.keepalive, 60);
    cr_assert_eq(p.proto_ver, 4);
}

Test(packet, utf8_policy_strict_by_default_wellformed_on_request)
{
    /* CONNECT 3.1.1 whose client id "a<TAB>" holds a control character, then
     * one whose client id is U+FFFF (a non-character). */
    const char *hexes[] = {"10 0e 00 04 4d 51 54 54 04 02 00 3c 00 02 61 09",
                           "10 0f 00 04 4d 51 54 54 04 02 00 3c 00 03 ef bf bf"};
    for (size_t i = 0; i < 2; i++) {
        uint8_t b[64];
        size_t len = hx(hexes[i], b), n;
        mqr_packet_t p;
        mqr_diag_t d;
        cr_assert_eq(mqr_packet_decode(b, len, NULL, &p, &n, &d), MQR_EUTF8);
        cr_assert_eq(d.offset, i ? 14 : 15);
        cr_assert_eq(d.reason_code, 0x81);
        cr_assert_str_eq(d.field, "client identifier");
        mqr_packet_opts_t o = {0, 0, 0, MQR_PKT_UTF8_WELLFORMED};
        cr_assert_eq(mqr_packet_decode(b, len, &o, &p, &n, &d), MQR_OK, "%s", d.message);
        cr_assert_eq(p.connect.clientid.len, len - 14);
    }
    /* The policy reaches property strings and topic names too. */
    uint8_t b[64];
    size_t len = hx("30 0b 00 03 61 2f 62 05 03 00 02 0a 0a", b), n;
    mqr_packet_t p;
    mqr_packet_opts_t o = {0, 5, 0, MQR_PKT_UTF8_STRICT};
    cr_assert_eq(mqr_packet_decode(b, len, &o, &p, &n, NULL), MQR_EUTF8);
    o.utf8 = MQR_PKT_UTF8_WELLFORMED;
    cr_assert_eq(mqr_packet_decode(b, len, &o, &p, &n, NULL), MQR_OK);
    len = hx("30 07 00 03 61 09 62 00 78", b);
    cr_assert_eq(mqr_packet_decode(b, len, &o, &p, &n, NULL), MQR_OK);
    o.utf8 = MQR_PKT_UTF8_STRICT;
    cr_assert_eq(mqr_packet_decode(b, len, &o, &p, &n, NULL), MQR_EUTF8);
    o.utf8 = 2;
    cr_assert_eq(mqr_packet_decode(b, len, &o, &p, &n, NULL), MQR_EINVAL);
    /* U+0000 is refused under both policies. */
    o.utf8 = MQR_PKT_UTF8_WELLFORMED;
    len = hx("30 07 00 03 61 00 62 00 78", b);
    cr_assert_eq(mqr_packet_decode(b, len, &o, &p, &n, NULL), MQR_EUTF8);
}

Test(packet, errors_in_the_fixed_header_come_before_the_body)
{
    mqr_packet_t p;
    size_t n;
    /* One byte of a bad type: no need to wait for more. */
    cr_assert_eq(mqr_packet_decode((const uint8_t *)"\x00", 1, NULL, &p, &n, NULL), MQR_EMALFORMED);
    /* A fifth length byte with the continuation bit, before any body. */
    cr_assert_eq(mqr_packet_decode((const uint8_t *)"\x30\x80\x80\x80\x80", 5, NULL, &p, &n, NULL),
                 MQR_EMALFORMED);
    /* Four continuation bytes so far: still a possible length. */
    cr_assert_eq(mqr_packet_decode((const uint8_t *)"\x30\x80\x80\x80", 4, NULL, &p, &n, NULL),
                 MQR_NEED_MORE);
    cr_assert_eq(n, 1);
}

/* ---- limits -------------------------------------------------------------------------- */

Test(packet, max_packet_size_exactly_and_plus_one)
{
    uint8_t b[64];
    size_t len = hx("30 07 00 03 61 2f 62 68 69", b); /* 9 bytes */
    mqr_packet_opts_t o = {9, 4, 0, 0};
    mqr_packet_t p;
    size_t n;
    cr_assert_eq(mqr_packet_decode(b, len, &o, &p, &n, NULL), MQR_OK);
    o.max_packet_size = 8;
    mqr_diag_t d;
    cr_assert_eq(mqr_packet_decode(b, len, &o, &p, &n, &d), MQR_ETOOLARGE);
    cr_assert_eq(d.reason_code, 0x95);
    /* Reported as soon as the fixed header is known. */
    cr_assert_eq(mqr_packet_decode(b, 2, &o, &p, &n, &d), MQR_ETOOLARGE);
    /* Largest remaining length the protocol has: 0xFF 0xFF 0xFF 0x7F. */
    o.max_packet_size = 0;
    cr_assert_eq(mqr_packet_decode((const uint8_t *)"\x30\xff\xff\xff\x7f", 5, &o, &p, &n, NULL),
                 MQR_NEED_MORE);
    cr_assert_eq(n, 268435455u);
}

Test(packet, null_arguments)
{
    uint8_t b[] = {0xC0, 0x00};
    mqr_packet_t p;
    size_t n;
    mqr_diag_t d;
    cr_assert_eq(mqr_packet_decode(NULL, 2, NULL, &p, &n, &d), MQR_EINVAL);
    cr_assert_eq(d.code, MQR_EINVAL);
    cr_assert_eq(mqr_packet_decode(b, 2, NULL, NULL, &n, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_packet_decode(b, 2, NULL, &p, NULL, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_packet_decode(NULL, 0, NULL, &p, &n, NULL), MQR_NEED_MORE);
    cr_assert_eq(n, 1);
    cr_assert_eq(mqr_packet_decode(b, 2, NULL, &p, &n, NULL), MQR_OK);
    mqr_packet_opts_t bad = {0, 9, 0, 0};
    cr_assert_eq(mqr_packet_decode(b, 2, &bad, &p, &n, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_packet_stream_next(NULL, b, 2, &p, &n, NULL), MQR_EINVAL);
    mqr_packet_stream_init(NULL, NULL);
    cr_assert_eq(mqr_packet_size(NULL, &n, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_packet_size(&p, NULL, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_packet_encode(NULL, b, 2, &n, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_packet_encode(&p, b, 2, NULL, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_packet_encode(&p, NULL, 2, &n, NULL), MQR_EINVAL);
}

/* ---- fields of each packet type -------------------------------------------------------- */

static void decode_golden(const char *file, mqr_packet_t *p, golden_t *g)
{
    char path[512];
    snprintf(path, sizeof path, "%s/packets/%s.hex", MQR_TEST_DATA_DIR, file);
    golden_load(path, g);
    size_t n;
    mqr_diag_t d;
    int rc = mqr_packet_decode(g->bytes, g->len, &g->opts, p, &n, &d);
    cr_assert_eq(rc, MQR_OK, "%s: %s", file, d.message);
}

#define STR_EQ(s, lit) (s.ptr && s.len == sizeof(lit) - 1 && memcmp(s.ptr, lit, s.len) == 0)

static golden_t g1;

Test(packet, connect_v311_fields)
{
    mqr_packet_t p;
    decode_golden("v311_connect_full", &p, &g1);
    const mqr_pkt_connect_t *c = &p.connect;
    cr_assert_eq(p.type, MQR_PKT_CONNECT);
    cr_assert_eq(p.proto_ver, 4);
    cr_assert(STR_EQ(c->proto_name, "MQTT"));
    cr_assert(STR_EQ(c->clientid, "client-7"));
    cr_assert_eq(c->keepalive, 10);
    cr_assert_eq(c->clean_start, 1);
    cr_assert_eq(c->will_flag, 1);
    cr_assert_eq(c->will_qos, 1);
    cr_assert_eq(c->will_retain, 1);
    cr_assert(STR_EQ(c->will_topic, "will/t"));
    cr_assert_eq(c->will_payload.len, 5);
    cr_assert_eq(c->will_payload.ptr[1], 0xFF);
    cr_assert(STR_EQ(c->username, "user"));
    cr_assert_eq(c->password.len, 5);
    cr_assert_eq(c->password.ptr[2], 0);
    cr_assert_eq(c->props.present, 0);
    /* Strings point into the input. */
    cr_assert(c->clientid.ptr > (const char *)g1.bytes &&
              c->clientid.ptr < (const char *)g1.bytes + g1.len);
}

Test(packet, connect_v31_and_absent_fields)
{
    mqr_packet_t p;
    decode_golden("v31_connect_min", &p, &g1);
    cr_assert_eq(p.proto_ver, 3);
    cr_assert(STR_EQ(p.connect.proto_name, "MQIsdp"));
    cr_assert(STR_EQ(p.connect.clientid, "legacy-client"));
    cr_assert_null(p.connect.username.ptr);
    cr_assert_null(p.connect.password.ptr);
    cr_assert_eq(p.connect.will_flag, 0);
    cr_assert_null(p.connect.will_topic.ptr);
}

Test(packet, connect_v5_properties_and_will)
{
    mqr_packet_t p;
    decode_golden("v5_connect_full", &p, &g1);
    const mqr_pkt_connect_t *c = &p.connect;
    cr_assert_eq(p.proto_ver, 5);
    uint32_t v;
    cr_assert_eq(mqr_packet_prop_get_int(&c->props, MQR_PROP_SESSION_EXPIRY_INTERVAL, &v), MQR_OK);
    cr_assert_eq(v, 3600);
    cr_assert_eq(mqr_packet_prop_get_int(&c->props, MQR_PROP_RECEIVE_MAXIMUM, &v), MQR_OK);
    cr_assert_eq(v, 20);
    cr_assert_eq(mqr_packet_prop_get_int(&c->props, MQR_PROP_TOPIC_ALIAS, &v), MQR_ENOTFOUND);
    mqr_str_t s;
    cr_assert_eq(mqr_packet_prop_get_str(&c->props, MQR_PROP_AUTHENTICATION_METHOD, &s), MQR_OK);
    cr_assert(STR_EQ(s, "SCRAM"));
    mqr_bin_t bin;
    cr_assert_eq(mqr_packet_prop_get_bin(&c->props, MQR_PROP_AUTHENTICATION_DATA, &bin), MQR_OK);
    cr_assert_eq(bin.len, 2);
    /* User properties in order, duplicates kept. */
    mqr_packet_iter_t it;
    mqr_prop_t pr;
    const char *vals[] = {"v", "v2"};
    int users = 0;
    mqr_packet_iter_props(&it, &c->props);
    while (mqr_packet_prop_next(&it, &pr))
        if (pr.id == MQR_PROP_USER_PROPERTY) {
            cr_assert(pr.str.len == 1 && pr.str.ptr[0] == 'k');
            cr_assert_eq(pr.str2.len, strlen(vals[users]));
            cr_assert_eq(memcmp(pr.str2.ptr, vals[users], pr.str2.len), 0);
            users++;
        }
    cr_assert_eq(users, 2);
    cr_assert_eq(c->will_qos, 2);
    cr_assert_eq(c->will_retain, 1);
    cr_assert(STR_EQ(c->will_topic, "will/topic"));
    cr_assert_eq(mqr_packet_prop_get_int(&c->will_props, MQR_PROP_WILL_DELAY_INTERVAL, &v), MQR_OK);
    cr_assert_eq(v, 5);
    cr_assert_eq(mqr_packet_prop_get_str(&c->will_props, MQR_PROP_RESPONSE_TOPIC, &s), MQR_OK);
    cr_assert(STR_EQ(s, "reply/to"));
    cr_assert(STR_EQ(c->username, "alice"));
}

Test(packet, connect_v5_password_without_user_name)
{
    mqr_packet_t p;
    decode_golden("v5_connect_password_only", &p, &g1);
    cr_assert_null(p.connect.username.ptr);
    cr_assert_eq(p.connect.password.len, 3);
    cr_assert_not_null(p.connect.clientid.ptr);
    cr_assert_eq(p.connect.clientid.len, 0);
    cr_assert_eq(p.connect.clean_start, 0);
    cr_assert_eq(p.connect.props.present, 1);
}

Test(packet, connack_fields)
{
    mqr_packet_t p;
    decode_golden("v311_connack_ok", &p, &g1);
    cr_assert_eq(p.connack.session_present, 1);
    cr_assert_eq(p.connack.reason_code, 0);
    decode_golden("v5_connack_refused", &p, &g1);
    cr_assert_eq(p.connack.reason_code, 0x86);
    mqr_str_t s;
    cr_assert_eq(mqr_packet_prop_get_str(&p.connack.props, MQR_PROP_REASON_STRING, &s), MQR_OK);
    cr_assert(STR_EQ(s, "bad password"));
}

Test(packet, publish_fields)
{
    mqr_packet_t p;
    decode_golden("v311_publish_qos2_dup", &p, &g1);
    cr_assert_eq(p.publish.qos, 2);
    cr_assert_eq(p.publish.dup, 1);
    cr_assert_eq(p.publish.retain, 0);
    cr_assert_eq(p.publish.packet_id, 65535);
    cr_assert(STR_EQ(p.publish.topic, "x"));
    cr_assert_eq(p.publish.payload.len, 256);
    cr_assert_eq(p.publish.payload.ptr[255], 255);
    decode_golden("v5_publish_alias", &p, &g1);
    cr_assert_eq(p.publish.topic.len, 0);
    uint32_t v;
    cr_assert_eq(mqr_packet_prop_get_int(&p.publish.props, MQR_PROP_TOPIC_ALIAS, &v), MQR_OK);
    cr_assert_eq(v, 3);
    decode_golden("v5_publish_subids", &p, &g1);
    mqr_packet_iter_t it;
    mqr_prop_t pr;
    mqr_packet_iter_props(&it, &p.publish.props);
    cr_assert(mqr_packet_prop_next(&it, &pr));
    cr_assert_eq(pr.value, 1);
    cr_assert(mqr_packet_prop_next(&it, &pr));
    cr_assert_eq(pr.value, 268435455u);
    cr_assert_eq(pr.type, MQR_PROPTYPE_VARINT);
    cr_assert_not(mqr_packet_prop_next(&it, &pr));
    cr_assert_eq(p.publish.payload.len, 0);
}

Test(packet, ack_short_forms)
{
    mqr_packet_t p;
    decode_golden("v5_puback_short", &p, &g1);
    cr_assert_eq(p.ack.packet_id, 1);
    cr_assert_eq(p.ack.has_reason_code, 0);
    cr_assert_eq(p.ack.props.present, 0);
    decode_golden("v5_puback_reason", &p, &g1);
    cr_assert_eq(p.ack.has_reason_code, 1);
    cr_assert_eq(p.ack.reason_code, 0x10);
    cr_assert_eq(p.ack.props.present, 0);
    decode_golden("v5_puback_emptyprops", &p, &g1);
    cr_assert_eq(p.ack.props.present, 1);
    cr_assert_eq(p.ack.props.len, 0);
    decode_golden("v311_pubrel", &p, &g1);
    cr_assert_eq(p.type, MQR_PKT_PUBREL);
    cr_assert_eq(p.flags, 2);
    cr_assert_eq(p.ack.packet_id, 8);
}

Test(packet, subscribe_entries)
{
    mqr_packet_t p;
    decode_golden("v5_subscribe", &p, &g1);
    cr_assert_eq(p.subscribe.packet_id, 11);
    cr_assert_eq(p.subscribe.count, 2);
    uint32_t v;
    cr_assert_eq(mqr_packet_prop_get_int(&p.subscribe.props, MQR_PROP_SUBSCRIPTION_IDENTIFIER, &v),
                 MQR_OK);
    cr_assert_eq(v, 42);
    mqr_packet_iter_t it;
    mqr_subscription_t s;
    mqr_packet_iter_subscriptions(&it, &p);
    cr_assert(mqr_packet_subscription_next(&it, &s));
    cr_assert(STR_EQ(s.filter, "a/b"));
    cr_assert_eq(s.qos, 1);
    cr_assert_eq(s.no_local, 1);
    cr_assert_eq(s.retain_as_published, 1);
    cr_assert_eq(s.retain_handling, 2);
    cr_assert(mqr_packet_subscription_next(&it, &s));
    cr_assert(STR_EQ(s.filter, "$share/g/x/#"));
    cr_assert_eq(s.qos, 2);
    cr_assert_not(mqr_packet_subscription_next(&it, &s));
    /* The filter iterator yields nothing for a SUBSCRIBE. */
    mqr_str_t f;
    mqr_packet_iter_filters(&it, &p);
    cr_assert_not(mqr_packet_filter_next(&it, &f));
}

Test(packet, unsubscribe_filters_and_acks)
{
    mqr_packet_t p;
    decode_golden("v311_unsubscribe", &p, &g1);
    cr_assert_eq(p.unsubscribe.count, 2);
    mqr_packet_iter_t it;
    mqr_str_t f;
    mqr_packet_iter_filters(&it, &p);
    cr_assert(mqr_packet_filter_next(&it, &f));
    cr_assert(STR_EQ(f, "a/+/c"));
    cr_assert(mqr_packet_filter_next(&it, &f));
    cr_assert(STR_EQ(f, "#"));
    cr_assert_not(mqr_packet_filter_next(&it, &f));
    decode_golden("v5_suback", &p, &g1);
    cr_assert_eq(p.suback.codes.len, 4);
    cr_assert_eq(p.suback.codes.ptr[2], 0x8F);
    decode_golden("v5_unsuback", &p, &g1);
    cr_assert_eq(p.unsuback.codes.len, 2);
    cr_assert_eq(p.unsuback.codes.ptr[1], 0x11);
    decode_golden("v311_unsuback", &p, &g1);
    cr_assert_eq(p.unsuback.codes.len, 0);
}

Test(packet, disconnect_and_auth)
{
    mqr_packet_t p;
    decode_golden("v5_disconnect_short", &p, &g1);
    cr_assert_eq(p.disconnect.has_reason_code, 0);
    decode_golden("v5_disconnect_props", &p, &g1);
    cr_assert_eq(p.disconnect.reason_code, 0x8E);
    mqr_str_t s;
    cr_assert_eq(mqr_packet_prop_get_str(&p.disconnect.props, MQR_PROP_SERVER_REFERENCE, &s),
                 MQR_OK);
    cr_assert(STR_EQ(s, "other:1883"));
    decode_golden("v5_auth", &p, &g1);
    cr_assert_eq(p.type, MQR_PKT_AUTH);
    cr_assert_eq(p.auth.reason_code, 0x18);
    decode_golden("v311_pingreq", &p, &g1);
    cr_assert_eq(p.type, MQR_PKT_PINGREQ);
    cr_assert_eq(p.remaining_length, 0);
}

Test(packet, stream_learns_the_level_from_connect)
{
    uint8_t b[256];
    /* CONNECT v5 (no properties), then a v5 PUBACK with a reason code. */
    size_t len = hx("10 0e 00 04 4d 51 54 54 05 02 00 3c 00 00 01 63"
                    "40 03 00 01 10", b);
    mqr_packet_stream_t s;
    mqr_packet_stream_init(&s, NULL);
    mqr_packet_t p;
    size_t n;
    cr_assert_eq(mqr_packet_stream_next(&s, b, len, &p, &n, NULL), MQR_OK);
    cr_assert_eq(s.opts.proto_ver, 5);
    cr_assert_eq(mqr_packet_stream_next(&s, b + n, len - n, &p, &n, NULL), MQR_OK);
    cr_assert_eq(p.ack.reason_code, 0x10);
    cr_assert_eq(s.offset, len);
    /* The same PUBACK at level 4 is malformed; offsets are stream offsets. */
    mqr_packet_stream_init(&s, NULL);
    mqr_diag_t d;
    uint8_t v4[] = {0xC0, 0x00, 0x40, 0x03, 0x00, 0x01, 0x10};
    cr_assert_eq(mqr_packet_stream_next(&s, v4, 7, &p, &n, NULL), MQR_OK);
    cr_assert_eq(mqr_packet_stream_next(&s, v4 + 2, 5, &p, &n, &d), MQR_EMALFORMED);
    cr_assert_eq(d.offset, 6);
}

Test(packet, type_names)
{
    cr_assert_str_eq(mqr_packet_type_name(MQR_PKT_CONNECT), "CONNECT");
    cr_assert_str_eq(mqr_packet_type_name(MQR_PKT_AUTH), "AUTH");
    cr_assert_str_eq(mqr_packet_type_name(0), "RESERVED");
    cr_assert_str_eq(mqr_packet_type_name(16), "RESERVED");
    cr_assert_str_eq(mqr_packet_type_name(-1), "RESERVED");
}
