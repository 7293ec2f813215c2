/* SPDX-License-Identifier: MIT */
/*
 * test_packet_topic.c - UTF-8 well-formedness, topic name and topic filter
 * validation, and topic filter matching ('+', '#', '$' topics).
 */
#include "test_packet_helpers.h"

#define L(lit) lit, sizeof(lit) - 1

Test(packet_topic, utf8_accepts_well_formed_text)
{
    cr_assert_eq(mqr_packet_utf8_check(L(""), NULL), MQR_OK);
    cr_assert_eq(mqr_packet_utf8_check(NULL, 0, NULL), MQR_OK);
    cr_assert_eq(mqr_packet_utf8_check(L("plain ascii"), NULL), MQR_OK);
    cr_assert_eq(mqr_packet_utf8_check(L("\xc2\xa0 \xdf\xbf"), NULL), MQR_OK);     /* U+00A0 U+07FF */
    cr_assert_eq(mqr_packet_utf8_check(L("\xe0\xa0\x80 \xef\xbf\xbd"), NULL), MQR_OK); /* U+0800 U+FFFD */
    cr_assert_eq(mqr_packet_utf8_check(L("\xed\x9f\xbf \xee\x80\x80"), NULL), MQR_OK); /* around surrogates */
    cr_assert_eq(mqr_packet_utf8_check(L("\xef\xb7\x8f \xef\xb7\xb0"), NULL), MQR_OK); /* around U+FDD0-FDEF */
    cr_assert_eq(mqr_packet_utf8_check(L("\xf0\x90\x80\x80 \xf4\x8f\xbf\xbd"), NULL), MQR_OK);
    cr_assert_eq(mqr_packet_utf8_check(L(" ~"), NULL), MQR_OK); /* 0x20 and 0x7E are printable */
}

Test(packet_topic, utf8_strict_rejects_controls_and_non_characters_as_mosquitto_does)
{
    struct { const char *s; size_t len; size_t off; } bad[] = {
        {L("a\tb"), 1},                 /* U+0009 */
        {L("abcdefgh\x1f"), 8},         /* U+001F after a plain chunk */
        {L("abcdefghi\x7f"), 9},        /* U+007F in the overlapping tail */
        {L("x\xc2\x80"), 1},            /* U+0080 */
        {L("\xc2\x9f"), 0},             /* U+009F */
        {L("\xef\xb7\x90"), 0},         /* U+FDD0 */
        {L("\xef\xb7\xaf"), 0},         /* U+FDEF */
        {L("\xef\xbf\xbe"), 0},         /* U+FFFE */
        {L("\xef\xbf\xbf"), 0},         /* U+FFFF */
        {L("\xf0\x9f\xbf\xbe"), 0},     /* U+1FFFE */
        {L("\xf4\x8f\xbf\xbf"), 0},     /* U+10FFFF */
    };
    for (size_t i = 0; i < MQR__ARRAY_LEN(bad); i++) {
        mqr_diag_t d;
        cr_assert_eq(mqr_packet_utf8_check(bad[i].s, bad[i].len, &d), MQR_EUTF8, "case %zu", i);
        cr_assert_eq(d.offset, bad[i].off, "case %zu: offset %llu", i, (unsigned long long)d.offset);
    }
    cr_assert_eq(mqr_topic_validate_name(L("a/\x01"), NULL), MQR_EUTF8);
}

Test(packet_topic, utf8_rejects_overlongs_surrogates_nul_and_truncation)
{
    struct { const char *s; size_t len; size_t off; } bad[] = {
        {L("a\xc0\x80"), 1},         /* overlong NUL */
        {L("\xc1\xbf"), 0},          /* overlong */
        {L("\xe0\x9f\xbf"), 0},      /* overlong 3-byte */
        {L("\xf0\x8f\xbf\xbf"), 0},  /* overlong 4-byte */
        {L("ab\xed\xa0\x80"), 2},    /* high surrogate */
        {L("\xed\xbf\xbf"), 0},      /* low surrogate */
        {L("\xf4\x90\x80\x80"), 0},  /* above U+10FFFF */
        {L("\xf5\x80\x80\x80"), 0},
        {L("x\x80"), 1},             /* stray continuation */
        {L("\xe2\x82"), 0},          /* truncated */
        {L("\xe2\x28\xa1"), 0},      /* bad continuation */
        {"a\0b", 3, 1},              /* U+0000 */
    };
    for (size_t i = 0; i < MQR__ARRAY_LEN(bad); i++) {
        mqr_diag_t d;
        cr_assert_eq(mqr_packet_utf8_check(bad[i].s, bad[i].len, &d), MQR_EUTF8, "case %zu", i);
        cr_assert_eq(d.offset, bad[i].off, "case %zu: offset %llu", i, (unsigned long long)d.offset);
    }
    cr_assert_eq(mqr_packet_utf8_check(NULL, 1, NULL), MQR_EINVAL);
}

Test(packet_topic, utf8_length_limit_exactly_and_plus_one)
{
    static char big[65536];
    memset(big, 'a', sizeof big);
    cr_assert_eq(mqr_packet_utf8_check(big, 65535, NULL), MQR_OK);
    cr_assert_eq(mqr_packet_utf8_check(big, 65536, NULL), MQR_EUTF8);
    cr_assert_eq(mqr_topic_validate_name(big, 65535, NULL), MQR_OK);
    cr_assert_eq(mqr_topic_validate_name(big, 65536, NULL), MQR_ETOPIC);
    cr_assert_eq(mqr_topic_validate_filter(big, 65536, NULL), MQR_EFILTER);
}

Test(packet_topic, topic_names)
{
    cr_assert_eq(mqr_topic_validate_name(L("a/b/c"), NULL), MQR_OK);
    cr_assert_eq(mqr_topic_validate_name(L("/"), NULL), MQR_OK);
    cr_assert_eq(mqr_topic_validate_name(L("$SYS/x"), NULL), MQR_OK);
    cr_assert_eq(mqr_topic_validate_name(L("caf\xc3\xa9"), NULL), MQR_OK);
    mqr_diag_t d;
    cr_assert_eq(mqr_topic_validate_name(L("a/+/c"), &d), MQR_ETOPIC);
    cr_assert_eq(d.offset, 2);
    cr_assert_str_eq(d.message, "topic name contains '+' at byte 2");
    cr_assert_eq(mqr_topic_validate_name(L("a#"), NULL), MQR_ETOPIC);
    cr_assert_eq(mqr_topic_validate_name(L(""), NULL), MQR_ETOPIC);
    cr_assert_eq(mqr_topic_validate_name(L("a\xff"), NULL), MQR_EUTF8);
    cr_assert_eq(mqr_topic_validate_name(NULL, 0, NULL), MQR_EINVAL);
}

Test(packet_topic, topic_filters)
{
    const char *good[] = {"#", "+", "a/#", "a/+", "+/+", "/+", "+/", "a/+/c/#", "$SYS/#",
                          "$share/g/a/+", "$share/g/#", "$sharex/+", "a//b"};
    for (size_t i = 0; i < MQR__ARRAY_LEN(good); i++)
        cr_assert_eq(mqr_topic_validate_filter(good[i], strlen(good[i]), NULL), MQR_OK, "%s", good[i]);
    const char *bad[] = {"", "a#", "a/#/b", "#/", "a/b#", "a+", "+a", "a/+b", "##",
                         "$share/", "$share//a", "$share/g", "$share/g/", "$share/g+/a",
                         "$share/#/a", "$share/g/a#"};
    for (size_t i = 0; i < MQR__ARRAY_LEN(bad); i++)
        cr_assert_eq(mqr_topic_validate_filter(bad[i], strlen(bad[i]), NULL), MQR_EFILTER, "%s", bad[i]);
    cr_assert_eq(mqr_topic_validate_filter(L("a/\xc0\xaf"), NULL), MQR_EUTF8);
    cr_assert_eq(mqr_topic_validate_filter(NULL, 0, NULL), MQR_EINVAL);
}

/* Match helper with NUL-terminated arguments. */
static int m(const char *f, const char *t)
{
    return mqr_topic_match(f, strlen(f), t, strlen(t));
}

Test(packet_topic, match_wildcards)
{
    cr_assert_eq(m("a/b", "a/b"), 1);
    cr_assert_eq(m("a/b", "a/c"), 0);
    cr_assert_eq(m("a/b", "a/b/c"), 0);
    cr_assert_eq(m("a/b/c", "a/b"), 0);
    cr_assert_eq(m("a/+", "a/b"), 1);
    cr_assert_eq(m("a/+", "a/"), 1);
    cr_assert_eq(m("a/+", "a"), 0);
    cr_assert_eq(m("a/+", "a/b/c"), 0);
    cr_assert_eq(m("+/+", "/x"), 1);
    cr_assert_eq(m("+", "/x"), 0);
    cr_assert_eq(m("/+", "/x"), 1);
    cr_assert_eq(m("a/#", "a"), 1);
    cr_assert_eq(m("a/#", "a/"), 1);
    cr_assert_eq(m("a/#", "a/b/c"), 1);
    cr_assert_eq(m("a/#", "ab"), 0);
    cr_assert_eq(m("a/b/#", "a"), 0);
    cr_assert_eq(m("#", "a/b"), 1);
    cr_assert_eq(m("#", "/"), 1);
    cr_assert_eq(m("+/b/#", "x/b"), 1);
    cr_assert_eq(m("+/b/#", "x/c"), 0);
    cr_assert_eq(m("ab", "a"), 0);
    cr_assert_eq(m("a", "ab"), 0);
}

Test(packet_topic, dollar_topics_and_first_level_wildcards)
{
    cr_assert_eq(m("#", "$SYS/x"), 0);
    cr_assert_eq(m("+/x", "$SYS/x"), 0);
    cr_assert_eq(m("$SYS/#", "$SYS/x"), 1);
    cr_assert_eq(m("$SYS/+", "$SYS/x"), 1);
    cr_assert_eq(m("$events/#", "$events/client_connack"), 1);
    cr_assert_eq(m("a/#", "a/$b"), 1);
    cr_assert_eq(mqr_topic_match(NULL, 0, "a", 1), 0);
    cr_assert_eq(mqr_topic_match("a", 1, NULL, 0), 0);
}
