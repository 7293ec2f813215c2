/* SPDX-License-Identifier: MIT */
/* Tests of the map (§7.7) and array (§7.8) functions. */
#include "func_test_util.h"

TestSuite(func_map, .init = ft_setup, .fini = ft_teardown);

Test(func_map, map_new)
{
    mqr_value_t r;
    cr_assert_eq(CALL0(&r, "map_new"), MQR_OK);
    cr_assert_eq(r.type, MQR_VAL_OBJECT);
    cr_assert_eq(r.len, 0);
}

Test(func_map, map_get_paths)
{
    mqr_value_t m = J("{\"a\":{\"b\":{\"c\":7}},\"s\":\"{\\\"x\\\":1}\",\"a.b\":2}");
    EXPECT_INT(7, "map_get", S("a.b.c"), m);
    EXPECT_JSON("{\"c\":7}", "map_get", S("a.b"), m);
    EXPECT_INT(1, "map_get", S("s.x"), m); /* a JSON string on the way is decoded */
    EXPECT_INT(9, "map_get", S("a.x"), m, I(9));
    EXPECT_INT(9, "map_get", S("a.b.c.d"), m, I(9));
    EXPECT_INT(1, "map_get", S("x"), S("{\"x\":1}"));
    mqr_value_t r;
    cr_assert_eq(CALL(&r, "map_get", S("zz"), m), MQR_OK);
    cr_assert_eq(r.type, MQR_VAL_UNDEFINED);
    cr_assert_eq(CALL(&r, "map_get", S("a"), UNDEF()), MQR_OK); /* lenient on non-maps */
    cr_assert_eq(r.type, MQR_VAL_UNDEFINED);
    EXPECT_ERR("expected a string, got integer 1", "map_get", I(1), m);
}

Test(func_map, map_put_paths)
{
    mqr_value_t m = J("{\"a\":{\"b\":1},\"k\":0}");
    EXPECT_JSON("{\"a\":{\"b\":2},\"k\":0}", "map_put", S("a.b"), I(2), m);
    EXPECT_JSON("{\"a\":{\"b\":1,\"c\":{\"d\":3}},\"k\":0}", "map_put", S("a.c.d"), I(3), m);
    EXPECT_JSON("{\"a\":{\"b\":1},\"k\":{\"x\":1}}", "map_put", S("k.x"), I(1), m);
    EXPECT_JSON("{\"x\":{\"y\":true}}", "map_put", S("x.y"), B(1), UNDEF());
    EXPECT_JSON("{\"n\":1,\"m\":2}", "map_put", S("m"), I(2), S("{\"n\":1}"));
    /* The input is unchanged. */
    cr_assert_str_eq(ft_json(&m), "{\"a\":{\"b\":1},\"k\":0}");
    EXPECT_ERR("expected a string, got undefined", "map_put", UNDEF(), I(1), m);
}

Test(func_map, mget_mput_literal_keys)
{
    mqr_value_t m = J("{\"a.b\":1,\"a\":{\"b\":2}}");
    EXPECT_INT(1, "mget", S("a.b"), m);
    EXPECT_INT(5, "mget", S("zz"), m, I(5));
    EXPECT_INT(3, "mget", S("k"), S("{\"k\":3}"));
    mqr_value_t r;
    cr_assert_eq(CALL(&r, "mget", S("zz"), m), MQR_OK);
    cr_assert_eq(r.type, MQR_VAL_UNDEFINED);
    EXPECT_ERR("expected an object or a JSON object string, got undefined", "mget", S("a"),
               UNDEF());
    EXPECT_ERR("expected a string", "mget", I(1), m);
    EXPECT_JSON("{\"a.b\":9,\"a\":{\"b\":2}}", "mput", S("a.b"), I(9), m);
    EXPECT_JSON("{\"k\":3,\"n\":null}", "mput", S("n"), NUL(), S("{\"k\":3}"));
    EXPECT_ERR("got string \"[1]\"", "mput", S("a"), I(1), S("[1]"));
    cr_assert_str_eq(ft_json(&m), "{\"a.b\":1,\"a\":{\"b\":2}}");
}

Test(func_map, keys_values_entries_size)
{
    mqr_value_t m = J("{\"k\":1,\"v\":[2]}");
    EXPECT_JSON("[\"k\",\"v\"]", "map_keys", m);
    EXPECT_JSON("[1,[2]]", "map_values", m);
    EXPECT_JSON("[{\"key\":\"k\",\"value\":1},{\"key\":\"v\",\"value\":[2]}]", "map_to_entries", m);
    EXPECT_JSON("[\"x\"]", "map_keys", S("{\"x\":0}"));
    EXPECT_JSON("[\"p\"]", "map_keys", J("[[\"p\",1]]"));
    EXPECT_INT(1, "mget", S("p"), J("[[\"p\",1]]"));
    EXPECT_INT(2, "map_size", m);
    EXPECT_INT(1, "map_size", S("{\"x\":0}"));
    EXPECT_INT(2, "map_size", J("[[\"a\",1],[\"b\",2]]"));
    EXPECT_INT(0, "map_size", J("{}"));
    EXPECT_ERR("got integer 1", "map_keys", I(1));
    EXPECT_ERR("got undefined", "map_values", UNDEF());
    EXPECT_ERR("got string \"x\"", "map_to_entries", S("x"));
    EXPECT_ERR("got null", "map_size", NUL());
}

Test(func_map, nth)
{
    mqr_value_t a = J("[\"a\",\"b\",\"c\"]");
    EXPECT_STR("a", "nth", I(1), a);
    EXPECT_STR("c", "nth", I(3), a);
    EXPECT_ERR("index 0 out of range 1..3", "nth", I(0), a);
    EXPECT_ERR("index 4 out of range 1..3", "nth", I(4), a);
    EXPECT_ERR("expected an integer, got string \"1\"", "nth", S("1"), a);
    EXPECT_ERR("expected an array, got undefined", "nth", I(1), UNDEF());
}

Test(func_map, length)
{
    EXPECT_INT(3, "length", J("[1,2,3]"));
    EXPECT_INT(0, "length", J("[]"));
    EXPECT_ERR("expected an array, got string \"abc\"", "length", S("abc"));
}

Test(func_map, sublist)
{
    mqr_value_t a = J("[1,2,3,4]");
    EXPECT_JSON("[1,2]", "sublist", I(2), a);
    EXPECT_JSON("[1,2,3,4]", "sublist", I(10), a);
    EXPECT_JSON("[]", "sublist", I(0), a);
    EXPECT_JSON("[2,3]", "sublist", I(2), I(2), a);
    EXPECT_JSON("[4]", "sublist", I(4), I(5), a);
    EXPECT_JSON("[]", "sublist", I(5), I(1), a);
    EXPECT_JSON("[]", "sublist", I(50), I(1), a);
    EXPECT_ERR("start must be >= 1", "sublist", I(0), I(1), a);
    EXPECT_ERR("length >= 0", "sublist", I(-1), a);
    EXPECT_ERR("expected an array, got integer 2", "sublist", I(1), I(2));
}

Test(func_map, first_last)
{
    mqr_value_t a = J("[1,2,3]");
    EXPECT_INT(1, "first", a);
    EXPECT_INT(3, "last", a);
    EXPECT_ERR("the array is empty", "first", J("[]"));
    EXPECT_ERR("the array is empty", "last", J("[]"));
    EXPECT_ERR("expected an array, got undefined", "first", UNDEF());
    EXPECT_ERR("expected an array, got object", "last", J("{}"));
}

Test(func_map, contains_exact)
{
    mqr_value_t a = J("[1,\"2\",{\"a\":[1]},null]");
    EXPECT_BOOL(1, "contains", I(1), a);
    EXPECT_BOOL(0, "contains", D(1.0), a); /* exact match: 1 != 1.0 */
    EXPECT_BOOL(0, "contains", I(2), a);
    EXPECT_BOOL(1, "contains", S("2"), a);
    EXPECT_BOOL(1, "contains", J("{\"a\":[1]}"), a);
    EXPECT_BOOL(1, "contains", NUL(), a);
    EXPECT_BOOL(0, "contains", UNDEF(), a);
    EXPECT_ERR("expected an array, got string \"1\"", "contains", I(1), S("1"));
}
