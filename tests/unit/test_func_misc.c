/* SPDX-License-Identifier: MIT */
/* Tests of the context helpers (§7.1), coalesce, uuid_v4 and getenv (§7.11). */
#include <stdlib.h>

#include "func_test_util.h"

TestSuite(func_misc, .init = ft_setup, .fini = ft_teardown);

static mqr_value_t cols;
static mqr_value_t payload;

static void with_columns(void)
{
    cols = J("{\"id\":\"0005E27C\",\"clientid\":\"c1\",\"username\":\"u\",\"peerhost\":\"10.0.0.1\","
             "\"topic\":\"t/a/b\",\"qos\":1,\"flags\":{\"retain\":true,\"dup\":false},"
             "\"payload\":\"{\\\"x\\\":{\\\"y\\\":5}}\"}");
    payload = J("{\"x\":{\"y\":5}}");
    ft.columns = &cols;
    ft.payload = &payload;
}

Test(func_misc, column_helpers)
{
    with_columns();
    EXPECT_STR("0005E27C", "msgid");
    EXPECT_INT(1, "qos");
    EXPECT_STR("c1", "clientid");
    EXPECT_STR("u", "username");
    EXPECT_STR("10.0.0.1", "peerhost");
    EXPECT_STR("10.0.0.1", "clientip");
    EXPECT_STR("t/a/b", "topic");
    EXPECT_JSON("{\"retain\":true,\"dup\":false}", "flags");
    EXPECT_STR("{\"x\":{\"y\":5}}", "payload");
}

Test(func_misc, topic_levels)
{
    with_columns();
    EXPECT_STR("t", "topic", I(1));
    EXPECT_STR("b", "topic", I(3));
    EXPECT_ERR("topic has no level 4", "topic", I(4));
    EXPECT_ERR("topic has no level 0", "topic", I(0));
    EXPECT_ERR("expected an integer, got string \"1\"", "topic", S("1"));
    cols = J("{\"topic\":\"a//\"}");
    EXPECT_STR("", "topic", I(2));
    EXPECT_STR("", "topic", I(3));
}

Test(func_misc, flag_and_payload_path)
{
    with_columns();
    EXPECT_BOOL(1, "flag", S("retain"));
    EXPECT_BOOL(0, "flag", S("dup"));
    mqr_value_t r;
    cr_assert_eq(CALL(&r, "flag", S("sys")), MQR_OK);
    cr_assert_eq(r.type, MQR_VAL_UNDEFINED);
    EXPECT_ERR("expected a string, got integer 1", "flag", I(1));
    EXPECT_INT(5, "payload", S("x.y"));
    EXPECT_JSON("{\"y\":5}", "payload", S("x"));
    cr_assert_eq(CALL(&r, "payload", S("x.z")), MQR_OK);
    cr_assert_eq(r.type, MQR_VAL_UNDEFINED);
    ft.payload = NULL; /* not JSON */
    cr_assert_eq(CALL(&r, "payload", S("x")), MQR_OK);
    cr_assert_eq(r.type, MQR_VAL_UNDEFINED);
    EXPECT_ERR("expected a string, got undefined", "payload", UNDEF());
}

Test(func_misc, helpers_in_where_and_without_columns)
{
    with_columns();
    ft.cx.in_where = 1;
    mqr_value_t r;
    cr_assert_eq(CALL(&r, "topic", I(1)), MQR_OK);
    cr_assert_eq(r.type, MQR_VAL_UNDEFINED);
    cr_assert_eq(CALL(&r, "payload", S("x")), MQR_OK);
    cr_assert_eq(r.type, MQR_VAL_UNDEFINED);
    cr_assert_eq(CALL(&r, "flag", S("retain")), MQR_OK);
    cr_assert_eq(r.type, MQR_VAL_UNDEFINED);
    cr_assert_eq(CALL0(&r, "flags"), MQR_OK);
    cr_assert_eq(r.type, MQR_VAL_UNDEFINED);
    ft.cx.in_where = 0;
    ft.cx.lookup = NULL;
    cr_assert_eq(CALL0(&r, "clientid"), MQR_OK);
    cr_assert_eq(r.type, MQR_VAL_UNDEFINED);
    EXPECT_JSON("{}", "flags"); /* EMQX's default when the event has no flags */
}

Test(func_misc, contains_topic)
{
    mqr_value_t subs = J("[{\"topic\":\"t/1\",\"qos\":1},{\"topic\":\"t/#\",\"qos\":2}]");
    EXPECT_BOOL(1, "contains_topic", subs, S("t/1"));
    EXPECT_BOOL(1, "contains_topic", subs, S("t/1"), I(1));
    EXPECT_BOOL(0, "contains_topic", subs, S("t/1"), I(2));
    EXPECT_BOOL(0, "contains_topic", subs, S("t/2"));
    EXPECT_BOOL(1, "contains_topic", subs, S("t/#"));
    EXPECT_BOOL(1, "contains_topic", J("[\"a\",[\"b\",0]]"), S("b"), I(0));
    EXPECT_BOOL(1, "contains_topic_match", subs, S("t/2"));
    EXPECT_BOOL(1, "contains_topic_match", subs, S("t/2/3"), I(2));
    EXPECT_BOOL(0, "contains_topic_match", subs, S("t/2"), I(1));
    EXPECT_BOOL(1, "contains_topic_match", subs, S("t")); /* t/# matches the parent */
    EXPECT_BOOL(0, "contains_topic_match", subs, S("u/1"));
    EXPECT_BOOL(1, "contains_topic_match", J("[\"+/x/+\"]"), S("a/x/b"));
    EXPECT_BOOL(0, "contains_topic_match", J("[\"+/x/+\"]"), S("a/x"));
    EXPECT_BOOL(0, "contains_topic_match", J("[\"#\"]"), S("$SYS/x"));
    EXPECT_BOOL(1, "contains_topic_match", J("[\"$SYS/#\"]"), S("$SYS/x"));
    EXPECT_BOOL(1, "contains_topic_match", J("[\"a/+\"]"), S("a/"));
    EXPECT_ERR("expected an array, got undefined", "contains_topic", UNDEF(), S("t"));
    EXPECT_ERR("expected a string, got integer 1", "contains_topic_match", subs, I(1));
}

Test(func_misc, null_and_coalesce)
{
    mqr_value_t r;
    cr_assert_eq(CALL0(&r, "null"), MQR_OK);
    cr_assert_eq(r.type, MQR_VAL_UNDEFINED);
    EXPECT_INT(2, "coalesce", UNDEF(), I(2));
    EXPECT_STR("", "coalesce", S(""), I(2));
    EXPECT_INT(3, "coalesce", UNDEF(), UNDEF(), I(3));
    EXPECT_JSON("[null,2]", "coalesce", J("[null,2]"), I(9)); /* two-argument form */
    EXPECT_JSON("null", "coalesce", J("[null,2]")); /* null is a value */
    EXPECT_INT(2, "coalesce_ne", S(""), I(2));
    EXPECT_INT(2, "coalesce_ne", J("[\"\",2]"));
    cr_assert_eq(CALL(&r, "coalesce", UNDEF(), UNDEF()), MQR_OK);
    cr_assert_eq(r.type, MQR_VAL_UNDEFINED);
    cr_assert_eq(CALL(&r, "coalesce_ne", J("[]")), MQR_OK);
    cr_assert_eq(r.type, MQR_VAL_UNDEFINED);
    EXPECT_ERR("expected an array, got integer 1", "coalesce", I(1));
    EXPECT_ERR("expected an array, got undefined", "coalesce_ne", UNDEF());
}

Test(func_misc, uuid_v4)
{
    mqr_value_t a, b;
    cr_assert_eq(CALL0(&a, "uuid_v4"), MQR_OK);
    cr_assert_eq(a.type, MQR_VAL_STRING);
    cr_assert_eq(a.len, 36);
    for (uint32_t i = 0; i < 36; i++) {
        char c = a.u.s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23)
            cr_assert_eq(c, '-');
        else
            cr_assert((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'), "%c", c);
    }
    cr_assert_eq(a.u.s[14], '4');
    cr_assert(strchr("89ab", a.u.s[19]) != NULL);
    cr_assert_eq(CALL0(&b, "uuid_v4_no_hyphen"), MQR_OK);
    cr_assert_eq(b.len, 32);
    cr_assert_eq(b.u.s[12], '4');
    cr_assert(memchr(b.u.s, '-', b.len) == NULL);
    cr_assert(memcmp(a.u.s, b.u.s, 8) != 0);
    ft.cx.rng = NULL;
    EXPECT_ERR("no random number state", "uuid_v4");
    EXPECT_ERR("no random number state", "uuid_v4_no_hyphen");
}

Test(func_misc, getenv)
{
    setenv("EMQXVAR_MQR_TEST_VAR", "hello", 1);
    unsetenv("EMQXVAR_MQR_UNSET_VAR");
    EXPECT_STR("hello", "getenv", S("MQR_TEST_VAR"));
    EXPECT_STR("", "getenv", S("MQR_UNSET_VAR"));
    EXPECT_STR("", "getenv", S("A=B"));
    EXPECT_ERR("expected a string, got undefined", "getenv", UNDEF());
}
