/* SPDX-License-Identifier: MIT */
/*
 * test_rule_eval.c - the evaluator against spec §6.3-§6.10: one test per
 * row of the operator (§6.5), logic (§6.6) and comparison (§6.7) tables,
 * CASE, IN / NOT IN (D6), paths and payload decoding (§6.4), writes to alias
 * paths, SELECT key derivation, FOREACH / DO / INCASE, metadata, undefined
 * rendering (D4), overflow (D7) and the evaluation limits.
 *
 * Test JSON uses ' for " (see rule_test_util.h).
 */
#include <stdio.h>

#include "rule_test_util.h"

/* ---- §6.5 operators ------------------------------------------------------------- */
Test(rule_ops, plus_numbers) { RT_VALUE("1 + 2", "{}", "3"); RT_VALUE("1 + 2.5", "{}", "3.5"); }
Test(rule_ops, plus_string_concatenates) { RT_VALUE("'a' + 1", "{}", "'a1'"); RT_VALUE("1 + 'a'", "{}", "'1a'"); }
Test(rule_ops, plus_string_and_undefined) { RT_VALUE("'x' + nothing", "{}", "'xundefined'"); }
Test(rule_ops, plus_string_and_float) { RT_VALUE("'x' + 2.0", "{}", "'x2.0'"); }
Test(rule_ops, plus_number_and_bool_fails)
{
    RT_VALUE_FAIL("1 + true", "{}", "operator '+': cannot add 1 and true");
}
Test(rule_ops, plus_number_and_undefined_fails)
{
    RT_VALUE_FAIL("1 + nothing", "{}", "operator '+': cannot add 1 and undefined");
}
Test(rule_ops, minus_and_times)
{
    RT_VALUE("5 - 7", "{}", "-2");
    RT_VALUE("2 * 3", "{}", "6");
    RT_VALUE("2 * 1.5", "{}", "3.0");
    RT_VALUE_FAIL("'a' - 1", "{}", "operator '-': cannot subtract 'a' and 1");
    RT_VALUE_FAIL("'a' * 2", "{}", "operator '*': cannot multiply 'a' and 2");
}
Test(rule_ops, divide_is_float) { RT_VALUE("4 / 2", "{}", "2.0"); RT_VALUE("1 / 4", "{}", "0.25"); }
Test(rule_ops, divide_by_zero_fails)
{
    RT_VALUE_FAIL("1 / 0", "{}", "operator '/': division by zero");
    RT_VALUE_FAIL("1 / 0.0", "{}", "division by zero");
}
Test(rule_ops, div_truncates)
{
    RT_VALUE("7 div 2", "{}", "3");
    RT_VALUE("-7 div 2", "{}", "-3");
    RT_VALUE_FAIL("7.0 div 2", "{}", "operator 'div': cannot divide 7.0 and 2");
    RT_VALUE_FAIL("7 div 0", "{}", "operator 'div': division by zero");
}
Test(rule_ops, mod_has_sign_of_dividend)
{
    RT_VALUE("7 mod 2", "{}", "1");
    RT_VALUE("-7 mod 2", "{}", "-1");
    RT_VALUE("(-9223372036854775807 - 1) mod -1", "{}", "0");
    RT_VALUE_FAIL("7 mod 0", "{}", "operator 'mod': division by zero");
}
Test(rule_ops, unary)
{
    RT_VALUE("-a", "{'a':3}", "-3");
    RT_VALUE("+a", "{'a':3}", "3");
    RT_VALUE("-a", "{'a':1.5}", "-1.5");
    RT_VALUE_FAIL("-a", "{'a':'x'}", "operator '-': cannot negate 'x'");
}
Test(rule_ops, overflow_is_an_error)
{
    RT_VALUE_FAIL("9223372036854775807 + 1", "{}", "operator '+': integer overflow");
    RT_VALUE_FAIL("-9223372036854775807 - 2", "{}", "operator '-': integer overflow");
    RT_VALUE_FAIL("4611686018427387904 * 2", "{}", "operator '*': integer overflow");
    RT_VALUE_FAIL("(-9223372036854775807 - 1) div -1", "{}", "operator 'div': integer overflow");
    RT_VALUE_FAIL("-a", "{'a':-9223372036854775808}", "integer overflow negating");
    RT_VALUE("9223372036854775806 + 1", "{}", "9223372036854775807");
}
Test(rule_ops, precedence)
{
    RT_VALUE("1 + 2 * 3", "{}", "7");
    RT_VALUE("(1 + 2) * 3", "{}", "9");
    RT_VALUE("10 - 4 - 3", "{}", "3");
    RT_VALUE("- 2 * 3", "{}", "-6");
    RT_VALUE("1 + 2 = 3", "{}", "true");
}

/* ---- §6.6 logic ----------------------------------------------------------------- */
Test(rule_logic, and_or_short_circuit)
{
    RT_FALSE("false AND 1 + true = 1", "{}");
    RT_TRUE("true OR 1 + true = 1", "{}");
    RT_FALSE("true AND false", "{}");
    RT_TRUE("false OR true", "{}");
}
Test(rule_logic, and_or_need_booleans)
{
    RT_COND_FAIL("1 AND true", "{}", "operator 'AND': 1 is not a boolean");
    RT_COND_FAIL("true AND x", "{}", "operator 'AND': undefined is not a boolean");
    RT_COND_FAIL("false OR 'a'", "{}", "operator 'OR': 'a' is not a boolean");
}
Test(rule_logic, not_of_non_boolean_is_false)
{
    RT_FALSE("NOT true", "{}");
    RT_TRUE("NOT false", "{}");
    RT_FALSE("NOT x", "{}");
    RT_FALSE("NOT 1", "{}");
}
Test(rule_logic, in_is_exact)
{
    RT_TRUE("1 IN (1, 2)", "{}");
    RT_FALSE("3 IN (1, 2)", "{}");
    RT_FALSE("1 IN (1.0)", "{}");
    RT_FALSE("'1' IN (1)", "{}");
    RT_TRUE("a IN ('x', b)", "{'a':'y','b':'y'}");
}
Test(rule_logic, not_in_and_negated_groups_work)
{
    RT_TRUE("3 NOT IN (1, 2)", "{}");
    RT_FALSE("1 NOT IN (1, 2)", "{}");
    RT_TRUE("NOT (a = 1 AND b = 2)", "{'a':1,'b':3}");
    RT_FALSE("NOT (a = 1 OR b = 2)", "{'a':1,'b':3}");
    RT_FALSE("NOT a IN (1, 2)", "{'a':1}");
}
Test(rule_logic, conditions_only_where_conditions_stand)
{
    RT_FAIL("SELECT a AND b AS v FROM \"t\"", "{}", MQR_ESYNTAX,
            "'AND' is only allowed in WHERE, INCASE and WHEN conditions");
    RT_FAIL("SELECT abs(NOT a) FROM \"t\"", "{}", MQR_ESYNTAX, "'NOT' is only allowed");
    RT_FAIL("SELECT [a IN (1)] FROM \"t\"", "{}", MQR_ESYNTAX, "'IN' is only allowed");
    RT_VALUE("CASE WHEN a IN (1) AND NOT b = 1 THEN 'y' END", "{'a':1}", "'y'");
    RT_TRUE("(a = 1 AND (b = 2 OR b = 3))", "{'a':1,'b':3}");
}

Test(rule_logic, where_must_be_boolean)
{
    RT_FAIL("SELECT a FROM \"t\" WHERE a", "{'a':1}", MQR_EEVAL, "WHERE: the condition gave 1");
    RT_FAIL("SELECT a FROM \"t\" WHERE 1", "{}", MQR_EEVAL, "not a boolean");
    RT_FAIL("SELECT a FROM \"t\" WHERE a = 2", "{'a':1}", MQR_NO_MATCH, "");
    RT_EXPECT("SELECT a FROM \"t\" WHERE a = 1", "{'a':1}", "{'a':1}");
}

/* ---- §6.7 comparisons, one test per rule ------------------------------------------- */
Test(rule_cmp, both_undefined_are_equal)
{
    RT_VALUE("x = y", "{}", "true");
    RT_VALUE("x != y", "{}", "false");
    RT_VALUE("x <= y", "{}", "true");
    RT_VALUE("x >= y", "{}", "true");
    RT_VALUE("x < y", "{}", "false");
    RT_VALUE("x > y", "{}", "false");
}
Test(rule_cmp, one_undefined_is_false_for_every_operator)
{
    RT_VALUE("x = 1", "{}", "false");
    RT_VALUE("x != 1", "{}", "false");
    RT_VALUE("x <> 1", "{}", "false");
    RT_VALUE("1 < x", "{}", "false");
    RT_VALUE("x >= 1", "{}", "false");
}
Test(rule_cmp, number_vs_string_converts_the_string)
{
    RT_VALUE("'2' = 2", "{}", "true");
    RT_VALUE("'2.0' = 2", "{}", "true");
    RT_VALUE("10 > '9'", "{}", "true");
    RT_VALUE("n = '1.5'", "{'n':1.5}", "true");
    RT_VALUE_FAIL("n = 'abc'", "{'n':1}", "operator '=': cannot compare 1 with 'abc'");
    RT_VALUE_FAIL("' 2' = 2", "{}", "cannot compare");
}
Test(rule_cmp, atoms_compare_as_text)
{
    RT_VALUE("flags.retain = 'true'", "{'flags':{'retain':true}}", "true");
    RT_VALUE("payload.v = 'null'", "{'payload':'{\\'v\\':null}'}", "true");
    RT_VALUE("true = 'false'", "{}", "false");
}
Test(rule_cmp, term_order_otherwise)
{
    RT_VALUE("1 = 1.0", "{}", "true");
    RT_VALUE("'a' < 'b'", "{}", "true");
    RT_VALUE("'ab' > 'a'", "{}", "true");
    RT_VALUE("1 < true", "{}", "true");
    RT_VALUE("[1, 2] = [1, 2]", "{}", "true");
    RT_VALUE("a = b", "{'a':{'x':1},'b':{'x':1}}", "true");
    RT_VALUE("a < b", "{'a':{'x':1},'b':[1]}", "true");
    RT_VALUE("a != b", "{'a':'x','b':'y'}", "true");
}
Test(rule_cmp, topic_match)
{
    RT_VALUE("topic =~ 't/#'", "{'topic':'t/a/b'}", "true");
    RT_VALUE("topic =~ 't/+'", "{'topic':'t/a/b'}", "false");
    RT_VALUE("topic =~ '#'", "{'topic':'$SYS/x'}", "false");
    RT_VALUE("x =~ 't/#'", "{}", "false");
    RT_VALUE_FAIL("x =~ y", "{}", "operator '=~': both sides are undefined");
    RT_VALUE_FAIL("1 =~ 't'", "{}", "operator '=~': cannot match 1");
    RT_VALUE_FAIL("'a' ~= 'b'", "{}", "operator '~=' is not supported");
}

/* ---- §6.8 CASE --------------------------------------------------------------------- */
Test(rule_case, searched)
{
    RT_VALUE("CASE WHEN a > 5 THEN 'big' WHEN a > 1 THEN 'mid' ELSE 'small' END", "{'a':3}",
             "'mid'");
    RT_VALUE("CASE WHEN a > 5 THEN 'big' ELSE 'small' END", "{'a':1}", "'small'");
    RT_VALUE("CASE WHEN a THEN 1 WHEN true THEN 2 END", "{'a':'yes'}", "2");
}
Test(rule_case, simple_is_exact)
{
    RT_VALUE("CASE a WHEN 1 THEN 'one' WHEN 2 THEN 'two' END", "{'a':2}", "'two'");
    RT_VALUE("CASE a WHEN 1 THEN 'one' ELSE 'other' END", "{'a':1.0}", "'other'");
}
Test(rule_case, no_match_without_else_is_undefined_and_present)
{
    RT_VALUE("CASE WHEN false THEN 1 END", "{}", "'undefined'");
}

/* ---- §6.4 paths --------------------------------------------------------------------- */
Test(rule_paths, indexes_are_one_based)
{
    const char *c = "{'a':[10,20,30],'i':2}";
    RT_VALUE("a[1]", c, "10");
    RT_VALUE("a[3]", c, "30");
    RT_VALUE("a[4]", c, "'undefined'");
    RT_VALUE("a[0]", c, "'undefined'");
    RT_VALUE("a[-1]", c, "30");
    RT_VALUE("a[-3]", c, "10");
    RT_VALUE("a[-4]", c, "'undefined'");
    RT_VALUE("a[i]", c, "20");
}
Test(rule_paths, objects_and_missing)
{
    const char *c = "{'a':{'b':{'c':1}},'s':'str'}";
    RT_VALUE("a.b.c", c, "1");
    RT_VALUE("a.x.c", c, "'undefined'");
    RT_VALUE("s.x", c, "'undefined'");
    RT_VALUE("a[1]", c, "'undefined'");
}
Test(rule_paths, strings_on_the_way_are_decoded)
{
    RT_VALUE("f.x.y", "{'f':'{\\'x\\':{\\'y\\':5}}'}", "5");
    RT_VALUE("f[2]", "{'f':'[1,2]'}", "2");
    RT_VALUE("f.x", "{'f':'not json'}", "'undefined'");
}
Test(rule_paths, payload_is_decoded_once_or_fails)
{
    const char *c = "{'payload':'{\\'x\\':{\\'y\\':[1,2]}}'}";
    RT_VALUE("payload.x.y[2]", c, "2");
    RT_VALUE("payload", c, "'{\\'x\\':{\\'y\\':[1,2]}}'");
    RT_VALUE_FAIL("payload.x", "{'payload':'oops'}", "decode_json_failed");
    RT_VALUE("payload.x", "{'payload':{'x':3}}", "3");
}
Test(rule_paths, ranges)
{
    RT_VALUE("[1..4]", "{}", "[1,2,3,4]");
    RT_VALUE("[-1..1]", "{}", "[-1,0,1]");
    RT_VALUE("[3..1]", "{}", "[]");
    RT_VALUE("a[2..3]", "{'a':[1,2,3,4]}", "[2,3]");
    RT_VALUE("a[-2..-1]", "{'a':[1,2,3,4]}", "[3,4]");
    RT_VALUE("a[2..9]", "{'a':[1,2,3]}", "[2,3]");
    RT_VALUE_FAIL("a[1..2]", "{'a':'x'}", "range_get: cannot slice 'x' [1..2]: not an array");
    RT_VALUE_FAIL("a[0..2]", "{'a':[1]}", "range_get: index 0");
}
Test(rule_paths, lists)
{
    RT_VALUE("[1, a, 'x', [b]]", "{'a':2,'b':true}", "[1,2,'x',[true]]");
    RT_VALUE("[]", "{}", "[]");
}

/* ---- writes to alias paths ---------------------------------------------------------- */
Test(rule_writes, nested_keys)
{
    RT_EXPECT("SELECT 1 AS a.b.c, 2 AS a.b.d, 3 AS a.e FROM \"t\"", "{}",
              "{'a':{'b':{'c':1,'d':2},'e':3}}");
}
Test(rule_writes, indexes)
{
    RT_EXPECT("SELECT 1 AS a[1] FROM \"t\"", "{}", "{'a':[1]}");
    RT_EXPECT("SELECT [1, 2] AS a, 0 AS a[0] FROM \"t\"", "{}", "{'a':[0,1,2]}");
    RT_EXPECT("SELECT [1, 2] AS a, 3 AS a[-0] FROM \"t\"", "{}", "{'a':[1,2,3]}");
    RT_EXPECT("SELECT [1, 2] AS a, 9 AS a[2] FROM \"t\"", "{}", "{'a':[1,9]}");
    RT_EXPECT("SELECT [1, 2] AS a, 9 AS a[3] FROM \"t\"", "{}", "{'a':[1,2]}");
    RT_EXPECT("SELECT [1, 2] AS a, 9 AS a[-1] FROM \"t\"", "{}", "{'a':[1,9]}");
}
Test(rule_writes, into_strings_and_payload)
{
    const char *c = "{'payload':'{\\'f\\':42,\\'g\\':1}'}";
    RT_EXPECT("SELECT payload AS p, payload.f AS p.answer FROM \"t\"", c, "{'p':{'answer':42}}");
    RT_EXPECT("SELECT payload, 7 AS payload.h FROM \"t\"", c, "{'payload':{'f':42,'g':1,'h':7}}");
}
Test(rule_writes, columns_are_not_modified)
{
    /* writing into a selected column value copies it */
    RT_EXPECT("SELECT o AS p, 2 AS p.y, o FROM \"t\"", "{'o':{'x':1}}",
              "{'p':{'x':1,'y':2},'o':{'x':1}}");
}

/* ---- §6.3 SELECT -------------------------------------------------------------------- */
Test(rule_select, key_derivation)
{
    const char *c = "{'a':{'b':{'c':1}},'n':[5,6],'payload':'{\\'x\\':2}'}";
    RT_EXPECT("SELECT a.b.c FROM \"t\"", c, "{'a':{'b':{'c':1}}}");
    RT_EXPECT("SELECT payload.x FROM \"t\"", c, "{'payload':{'x':2}}");
    RT_EXPECT("SELECT 'abc' FROM \"t\"", c, "{'abc':'abc'}");
    RT_EXPECT("SELECT n[2] FROM \"t\"", c, "{'n':[6]}");
    RT_EXPECT("SELECT n[1..2] FROM \"t\"", c, "{'n':[5,6]}");
    RT_EXPECT("SELECT 1 + 2, abs(-1), a.b.c = 1 FROM \"t\"", c,
              "{'1 + 2':3,'abs(-1)':1,'a.b.c = 1':true}");
}
Test(rule_select, order_and_undefined)
{
    RT_EXPECT("SELECT b, a, missing FROM \"t\"", "{'a':1,'b':2}",
              "{'b':2,'a':1,'missing':'undefined'}");
}
Test(rule_select, undefined_as_null_option)
{
    mqr_rule_options_t o;
    mqr_rule_options_init(&o);
    o.flags = MQR_RULE_UNDEFINED_AS_NULL;
    mqr_rule_t *r = NULL;
    const char *sql = "SELECT missing, [missing] AS l FROM \"t\"";
    cr_assert_eq(mqr_rule_compile(sql, strlen(sql), &o, &r, NULL), MQR_OK);
    mqr_rule_scratch_t *s = NULL;
    cr_assert_eq(mqr_rule_scratch_create(NULL, &s), MQR_OK);
    mqr_value_t cols;
    mqr_arena_t *a = NULL;
    mqr_arena_create(NULL, 0, &a);
    mqr_value_object_new(a, 0, &cols);
    const char *js;
    size_t len;
    cr_assert_eq(mqr_rule_eval_json(r, s, &cols, &js, &len, NULL), MQR_OK);
    cr_assert_eq(len, strlen("{\"missing\":null,\"l\":[null]}"));
    cr_assert(memcmp(js, "{\"missing\":null,\"l\":[null]}", len) == 0);
    mqr_arena_destroy(a);
    mqr_rule_scratch_free(s);
    mqr_rule_free(r);
}
Test(rule_select, selected_fields_first)
{
    /* a path that finds nothing in the selected fields falls through to the columns */
    RT_EXPECT("SELECT payload.x, payload.y FROM \"t\"", "{'payload':'{\\'x\\':1,\\'y\\':2}'}",
              "{'payload':{'x':1,'y':2}}");
    RT_EXPECT("SELECT nothing AS x, x AS y FROM \"t\"", "{'x':5}", "{'x':'undefined','y':5}");
    const char *c = "{'payload':'{\\'cmd\\':{\\'info\\':\\'hi\\'}}','x':'col'}";
    RT_EXPECT("SELECT payload.cmd AS cmd, cmd.info AS info FROM \"t\"", c,
              "{'cmd':{'info':'hi'},'info':'hi'}");
    RT_EXPECT("SELECT 'sel' AS x, x AS y FROM \"t\"", c, "{'x':'sel','y':'sel'}");
    RT_EXPECT("SELECT x AS y, 'sel' AS x FROM \"t\"", c, "{'y':'col','x':'sel'}");
}
Test(rule_select, where_sees_aliases)
{
    const char *c = "{'payload':'{\\'x\\':1}'}";
    RT_EXPECT("SELECT payload.x AS x FROM \"t\" WHERE x = 1", c, "{'x':1}");
    RT_FAIL("SELECT payload.x AS x FROM \"t\" WHERE x = 2", c, MQR_NO_MATCH, "");
}
Test(rule_select, star_and_metadata)
{
    RT_EXPECT("SELECT * FROM \"t\"", "{'a':1}", "{'a':1,'metadata':{'rule_id':'r1'}}");
    RT_EXPECT("SELECT *, 2 AS a FROM \"t\"", "{'a':1}", "{'a':2,'metadata':{'rule_id':'r1'}}");
    RT_EXPECT("SELECT 2 AS a, * FROM \"t\"", "{'a':1}", "{'a':1,'metadata':{'rule_id':'r1'}}");
    RT_EXPECT("SELECT a FROM \"t\"", "{'a':1}", "{'a':1}");
    RT_EXPECT("SELECT a, metadata FROM \"t\"", "{'a':1}", "{'a':1,'metadata':{'rule_id':'r1'}}");
    RT_EXPECT("SELECT metadata.rule_id AS id FROM \"t\" WHERE metadata.rule_id = 'r1'", "{}",
              "{'id':'r1'}");
    RT_EXPECT("SELECT * FROM \"t\"", "{'metadata':{'rule_id':'mine'}}",
              "{'metadata':{'rule_id':'mine'}}");
}
/* A message.publish event's 16 columns in the engine's order (metadata
 * included), and the same without metadata. */
#define RT_PUB_HEAD                                                                        \
    "{'id':'0005E27C1D24E44FF440000017520000','clientid':'sensor-1','username':'u',"       \
    "'payload':'{\\'x\\':1}','peerhost':'192.168.0.10','peername':'192.168.0.10:56431',"   \
    "'topic':'t/sensors/1','qos':1,'flags':{'dup':false,'retain':false},"                 \
    "'pub_props':{'User-Property':{}},'publish_received_at':1736512728666,"              \
    "'client_attrs':{},'event':'message.publish','timestamp':1736512728667,"              \
    "'node':'emqx@127.0.0.1'"
#define RT_PUB RT_PUB_HEAD ",'metadata':{'rule_id':'from-columns'}}"
#define RT_PUB_NO_MD RT_PUB_HEAD "}"
/* RT_PUB_HEAD's members without the opening brace, qos and flags replaced. */
#define RT_PUB_FROM_ID                                                                     \
    "'id':'0005E27C1D24E44FF440000017520000','clientid':'sensor-1','username':'u',"        \
    "'payload':'{\\'x\\':1}','peerhost':'192.168.0.10','peername':'192.168.0.10:56431',"   \
    "'topic':'t/sensors/1'"
#define RT_PUB_AFTER_FLAGS                                                                 \
    "'pub_props':{'User-Property':{}},'publish_received_at':1736512728666,"              \
    "'client_attrs':{},'event':'message.publish','timestamp':1736512728667,"              \
    "'node':'emqx@127.0.0.1'"

Test(rule_select, star_copies_message_columns_in_order)
{
    RT_EXPECT("SELECT * FROM \"t/#\"", RT_PUB, RT_PUB);
    RT_EXPECT("SELECT * FROM \"t/#\"", RT_PUB_NO_MD,
              RT_PUB_HEAD ",'metadata':{'rule_id':'r1'}}");
}
Test(rule_select, star_then_alias_overrides_in_place)
{
    const char *md = ",'metadata':{'rule_id':'r1'}";
    char want[2048];
    /* a later field replaces the column where it stands; a new key goes last */
    snprintf(want, sizeof want, "{" RT_PUB_FROM_ID ",'qos':2,'flags':{'dup':false,'retain':false},"
             RT_PUB_AFTER_FLAGS "%s,'extra':'e'}", md);
    RT_EXPECT("SELECT *, 2 AS qos, 'e' AS extra FROM \"t/#\"", RT_PUB_NO_MD, want);
    /* a write into a column's object copies it and keeps both orders */
    snprintf(want, sizeof want, "{" RT_PUB_FROM_ID ",'qos':1,"
             "'flags':{'dup':true,'retain':false,'x':3}," RT_PUB_AFTER_FLAGS "%s}", md);
    RT_EXPECT("SELECT *, true AS flags.dup, 3 AS flags.x FROM \"t/#\"", RT_PUB_NO_MD, want);
    /* `*` twice: the second puts every column again, in place */
    snprintf(want, sizeof want, "{" RT_PUB_FROM_ID ",'qos':1,'flags':{'dup':false,'retain':false},"
             RT_PUB_AFTER_FLAGS "%s,'z':0}", md);
    RT_EXPECT("SELECT *, 0 AS z, * FROM \"t/#\"", RT_PUB_NO_MD, want);
}
Test(rule_select, fields_before_star_keep_their_place)
{
    /* an earlier field stays first and the column's value replaces it; the
     * other columns follow in their order */
    char want[2048];
    snprintf(want, sizeof want, "{'qos':1," RT_PUB_FROM_ID ",'flags':{'dup':false,'retain':false},"
             RT_PUB_AFTER_FLAGS ",'metadata':{'rule_id':'from-columns'}}");
    RT_EXPECT("SELECT 9 AS qos, * FROM \"t/#\"", RT_PUB, want);
}
Test(rule_select, star_copies_event_columns_in_order)
{
    const char *connack =
        "{'event':'client.connack','reason_code':'success','clientid':'c_emqx',"
        "'username':'u_emqx','peername':'192.168.0.10:56431','sockname':'0.0.0.0:1883',"
        "'proto_name':'MQTT','proto_ver':5,'keepalive':60,'clean_start':true,"
        "'expiry_interval':3600000,'connected_at':1736512728666,"
        "'conn_props':{'Session-Expiry-Interval':3600,'User-Property':{}},"
        "'timestamp':1736512728667,'node':'emqx@127.0.0.1'}";
    char want[2048];
    snprintf(want, sizeof want, "%.*s,'metadata':{'rule_id':'r1'}}", (int)strlen(connack) - 1,
             connack);
    RT_EXPECT("SELECT * FROM \"$events/client_connack\"", connack, want);
    snprintf(want, sizeof want, "%.*s,'metadata':{'rule_id':'r1'}}", (int)strlen(connack) - 1,
             connack);
    char *p = strstr(want, "'success'");
    cr_assert_not_null(p);
    memcpy(p, "'failure'", 9);
    RT_EXPECT("SELECT *, 'failure' AS reason_code FROM \"$events/client_connack\"", connack,
              want);
}
Test(rule_foreach, context_fields_override_columns_in_place)
{
    /* the whole context: columns, metadata, then the fields before the
     * collection (put: qos keeps its place), then the item */
    RT_EXPECT("FOREACH 9 AS qos, l FROM \"t\"", "{'qos':1,'l':[7],'topic':'t'}",
              "[{'qos':9,'l':[7],'topic':'t','metadata':{'rule_id':'r1'},'item':7}]");
    /* `*` among the fields: the selected object outgrows its first size */
    RT_EXPECT("FOREACH *, l FROM \"t\"", "{'l':[7],'q':1,'r':2,'s':3}",
              "[{'l':[7],'q':1,'r':2,'s':3,'metadata':{'rule_id':'r1'},'item':7}]");
}
Test(rule_select, event_columns_resolve_by_index_or_search)
{
    const char *sql = "SELECT clientid, reason_code FROM \"$events/client_connack\"";
    RT_EXPECT(sql,
              "{'event':'client.connack','reason_code':'success','clientid':'c1','username':'u'}",
              "{'clientid':'c1','reason_code':'success'}");
    /* columns in another order are still found */
    RT_EXPECT(sql, "{'clientid':'c2','x':1,'reason_code':'bad'}",
              "{'clientid':'c2','reason_code':'bad'}");
}
Test(rule_select, functions_see_columns)
{
    RT_EXPECT("SELECT clientid() AS c FROM \"t\"", "{'clientid':'me'}", "{'c':'me'}");
}

/* ---- §6.3 FOREACH ------------------------------------------------------------------- */
Test(rule_foreach, do_and_incase)
{
    const char *c = "{'payload':'{\\'s\\':[{\\'v\\':1},{\\'v\\':5},{\\'v\\':7}]}','clientid':'c'}";
    RT_EXPECT("FOREACH payload.s AS s DO s.v AS v, clientid INCASE s.v > 1 FROM \"t\"", c,
              "[{'v':5,'clientid':'c'},{'v':7,'clientid':'c'}]");
    RT_EXPECT("FOREACH payload.s DO item.v AS v FROM \"t\"", c, "[{'v':1},{'v':5},{'v':7}]");
}
Test(rule_foreach, without_do_the_whole_context)
{
    RT_EXPECT("FOREACH a FROM \"t\"", "{'a':[1,2]}",
              "[{'a':[1,2],'metadata':{'rule_id':'r1'},'item':1},"
              "{'a':[1,2],'metadata':{'rule_id':'r1'},'item':2}]");
}
Test(rule_foreach, earlier_fields_feed_later_ones)
{
    const char *c = "{'payload':'{\\'sensors\\':{\\'collection\\':[{\\'info\\':[1,2]}]}}'}";
    RT_EXPECT("FOREACH json_decode(payload) AS p, p.sensors AS s, s.collection AS c DO "
              "c.info AS info FROM \"t\"",
              c, "[{'info':[1,2]}]");
}
Test(rule_foreach, json_string_collection_is_decoded)
{
    RT_EXPECT("FOREACH a AS x DO x FROM \"t\"", "{'a':'[1,2]'}", "[{'x':1},{'x':2}]");
}
Test(rule_foreach, no_match_cases)
{
    RT_FAIL("FOREACH a FROM \"t\"", "{'a':[]}", MQR_NO_MATCH, "");
    RT_FAIL("FOREACH a FROM \"t\"", "{'a':5}", MQR_NO_MATCH, "");
    RT_FAIL("FOREACH a FROM \"t\" WHERE b = 1", "{'a':[1],'b':2}", MQR_NO_MATCH, "");
    RT_FAIL("FOREACH a AS x INCASE x > 5 FROM \"t\"", "{'a':[1]}", MQR_NO_MATCH, "");
    RT_EXPECT("FOREACH a AS x DO x FROM \"t\" WHERE b = 2", "{'a':[1],'b':2}", "[{'x':1}]");
}
Test(rule_foreach, incase_does_not_see_do_aliases)
{
    RT_FAIL("FOREACH a AS x DO x AS y INCASE y > 0 FROM \"t\"", "{'a':[1]}", MQR_NO_MATCH, "");
    RT_FAIL("FOREACH a AS x INCASE x FROM \"t\"", "{'a':[1]}", MQR_EEVAL, "INCASE");
}
Test(rule_foreach, do_star)
{
    RT_EXPECT("FOREACH a AS x DO * FROM \"t\"", "{'a':[1]}",
              "[{'a':[1],'metadata':{'rule_id':'r1'},'x':1}]");
}

/* ---- evaluation API ------------------------------------------------------------------ */
Test(rule_api, eval_arguments)
{
    mqr_rule_t *r = NULL;
    cr_assert_eq(rt_compile("SELECT a FROM \"t\"", &r, NULL), MQR_OK);
    mqr_rule_scratch_t *s = NULL;
    cr_assert_eq(mqr_rule_scratch_create(NULL, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_rule_scratch_create(NULL, &s), MQR_OK);
    mqr_value_t cols, out;
    mqr_value_set_int(&cols, 1);
    mqr_diag_t d;
    cr_assert_eq(mqr_rule_eval(r, s, &cols, &out, &d), MQR_EINVAL);
    cr_assert_str_eq(d.message, "columns must be an object, not int");
    cr_assert_eq(mqr_rule_eval(NULL, s, &cols, &out, &d), MQR_EINVAL);
    cr_assert_eq(mqr_rule_eval(r, NULL, &cols, &out, &d), MQR_EINVAL);
    cr_assert_eq(mqr_rule_eval(r, s, NULL, &out, &d), MQR_EINVAL);
    cr_assert_eq(mqr_rule_eval(r, s, &cols, NULL, &d), MQR_EINVAL);
    const char *js;
    size_t len;
    cr_assert_eq(mqr_rule_eval_json(r, s, &cols, NULL, &len, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_rule_eval_json(r, s, &cols, &js, NULL, NULL), MQR_EINVAL);
    mqr_rule_scratch_free(s);
    mqr_rule_scratch_free(NULL);
    mqr_rule_free(r);
}

/* Evaluate sql over {"a":[1,2,3]} with the given limits. */
static int eval_limited(const char *sql, uint64_t steps, uint64_t output, mqr_diag_t *d)
{
    mqr_rule_options_t o;
    mqr_rule_options_init(&o);
    o.max_steps = steps;
    o.max_output = output;
    mqr_rule_t *r = NULL;
    cr_assert_eq(mqr_rule_compile(sql, strlen(sql), &o, &r, d), MQR_OK);
    mqr_rule_scratch_t *s = NULL;
    cr_assert_eq(mqr_rule_scratch_create(NULL, &s), MQR_OK);
    mqr_arena_t *a = NULL;
    mqr_arena_create(NULL, 0, &a);
    mqr_value_t cols;
    rt_json(a, "{'a':[1,2,3]}", &cols);
    const char *js;
    size_t len;
    int rc = mqr_rule_eval_json(r, s, &cols, &js, &len, d);
    mqr_arena_destroy(a);
    mqr_rule_scratch_free(s);
    mqr_rule_free(r);
    return rc;
}

Test(rule_limits, steps_exactly_and_one_more)
{
    mqr_diag_t d;
    /* one step per node: a (1), a[1] + 1 (3: +, the path, 1), a[2] (1) */
    const char *sql = "SELECT a AS x, a[1] + 1 AS y, a[2] AS z FROM \"t\"";
    cr_assert_eq(eval_limited(sql, 5, 0, &d), MQR_OK, "%s", d.message);
    cr_assert_eq(eval_limited(sql, 4, 0, &d), MQR_ELIMIT);
    cr_assert_str_eq(d.message, "evaluation took more than 4 steps");
}

Test(rule_limits, output_exactly_and_one_more)
{
    mqr_diag_t d;
    const char *sql = "SELECT a FROM \"t\""; /* {"a":[1,2,3]} is 13 bytes */
    cr_assert_eq(eval_limited(sql, 0, 13, &d), MQR_OK, "%s", d.message);
    cr_assert_eq(eval_limited(sql, 0, 12, &d), MQR_ELIMIT);
    cr_assert_str_eq(d.message, "JSON output exceeds 12 bytes");
}

Test(rule_limits, working_memory_is_bounded)
{
    mqr_diag_t d;
    const char *sql = "FOREACH [1..100000] AS x DO x, x + 1 AS y FROM \"t\"";
    cr_assert_eq(eval_limited(sql, 0, 1000, &d), MQR_ELIMIT);
    cr_assert(strstr(d.message, "working memory") != NULL, "%s", d.message);
}

/* eval_json (flat SELECT key texts, buffer sized from the last output, a
 * second pass when it was too small) renders exactly what the JSON writer
 * makes of the output value. */
Test(rule_api, json_rendering_matches_the_value)
{
    static const char *const sqls[] = {
        "SELECT a, b AS \"back\\\\slash\", c AS x FROM \"t\"",
        "SELECT a, b, a AS c.d FROM \"t\"",
        "FOREACH [1..300] AS i DO i, a FROM \"t\"",
        "SELECT [1..5] AS r FROM \"t\"",
    };
    mqr_arena_t *a = NULL;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    mqr_value_t cols;
    rt_json(a, "{'a':'x','b':[1,2],'c':{'k':'v'}}", &cols);
    mqr_rule_scratch_t *s = NULL;
    cr_assert_eq(mqr_rule_scratch_create(NULL, &s), MQR_OK);
    /* alternate small and big outputs so the size hint is wrong both ways */
    for (int round = 0; round < 3; round++) {
        for (size_t q = 0; q < sizeof sqls / sizeof sqls[0]; q++) {
            mqr_rule_t *r = NULL;
            cr_assert_eq(rt_compile(sqls[q], &r, NULL), MQR_OK, "%s", sqls[q]);
            mqr_value_t v;
            cr_assert_eq(mqr_rule_eval(r, s, &cols, &v, NULL), MQR_OK);
            size_t need = 0;
            mqr_json_write(&v, 0, NULL, 0, &need);
            char *want = malloc(need + 1);
            cr_assert_eq(mqr_json_write(&v, 0, want, need + 1, &need), MQR_OK);
            const char *js;
            size_t len;
            cr_assert_eq(mqr_rule_eval_json(r, s, &cols, &js, &len, NULL), MQR_OK);
            cr_assert_eq(len, need, "%s", sqls[q]);
            cr_assert(memcmp(js, want, len) == 0, "%s: %.*s vs %s", sqls[q], (int)len, js, want);
            free(want);
            mqr_rule_free(r);
        }
    }
    mqr_rule_scratch_free(s);
    mqr_arena_destroy(a);
}

/* Event builders mark reason codes, event names and node as atoms
 * (MQR_VALF_ATOM): they compare with strings as text (§6.7 rule 4), are not
 * numbers for coercion, and '+' concatenates only with a real string. */
Test(rule_cmp, atom_columns)
{
    mqr_arena_t *a = NULL;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    mqr_value_t cols, v;
    mqr_value_object_new(a, 2, &cols);
    mqr_value_set_string(&v, "success", 7);
    v.flags = MQR_VALF_ATOM;
    mqr_value_object_put(a, &cols, "reason_code", 11, &v);
    mqr_value_set_string(&v, "12", 2);
    v.flags = MQR_VALF_ATOM;
    mqr_value_object_put(a, &cols, "n", 1, &v);
    static const struct {
        const char *sql;
        int status;
        const char *json;
    } cases[] = {
        {"SELECT reason_code = 'success' AS v FROM \"t\"", MQR_OK, "{\"v\":true}"},
        {"SELECT reason_code != 'success' AS v FROM \"t\"", MQR_OK, "{\"v\":false}"},
        {"SELECT 1 AS v FROM \"t\" WHERE reason_code IN ('x', 'success')", MQR_OK, "{\"v\":1}"},
        {"SELECT n = 12 AS v FROM \"t\"", MQR_OK, "{\"v\":false}"},
        {"SELECT 'r:' + reason_code AS v FROM \"t\"", MQR_OK, "{\"v\":\"r:success\"}"},
        {"SELECT reason_code + reason_code AS v FROM \"t\"", MQR_EEVAL, NULL},
        {"SELECT reason_code FROM \"t\" WHERE reason_code = 'success'", MQR_OK,
         "{\"reason_code\":\"success\"}"},
    };
    mqr_rule_scratch_t *s = NULL;
    cr_assert_eq(mqr_rule_scratch_create(NULL, &s), MQR_OK);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mqr_rule_t *r = NULL;
        cr_assert_eq(rt_compile(cases[i].sql, &r, NULL), MQR_OK);
        const char *js;
        size_t len;
        mqr_diag_t d;
        int rc = mqr_rule_eval_json(r, s, &cols, &js, &len, &d);
        cr_expect_eq(rc, cases[i].status, "%s: %s", cases[i].sql, d.message);
        if (rc == MQR_OK && cases[i].json)
            cr_expect(len == strlen(cases[i].json) && memcmp(js, cases[i].json, len) == 0,
                      "%s: %.*s", cases[i].sql, (int)len, js);
        mqr_rule_free(r);
    }
    mqr_rule_scratch_free(s);
    mqr_arena_destroy(a);
}

/* uuid_v4() of a fresh scratch over a rule compiled with `seed`. */
static char *uuid_of_fresh_scratch(uint64_t seed)
{
    static const char sql[] = "SELECT uuid_v4() AS u FROM \"t\"";
    mqr_rule_options_t o;
    mqr_rule_options_init(&o);
    o.rng_seed = seed;
    mqr_rule_t *r = NULL;
    cr_assert_eq(mqr_rule_compile(sql, strlen(sql), &o, &r, NULL), MQR_OK);
    mqr_arena_t *a = NULL;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    mqr_value_t c;
    rt_json(a, "{}", &c);
    mqr_rule_scratch_t *s = NULL;
    cr_assert_eq(mqr_rule_scratch_create(NULL, &s), MQR_OK);
    const char *js = NULL;
    size_t len = 0;
    cr_assert_eq(mqr_rule_eval_json(r, s, &c, &js, &len, NULL), MQR_OK);
    char *res = strndup(js, len);
    mqr_rule_scratch_free(s);
    mqr_arena_destroy(a);
    mqr_rule_free(r);
    return res;
}

Test(rule_eval, seed_zero_differs_between_scratches)
{
    char *u1 = uuid_of_fresh_scratch(0);
    char *u2 = uuid_of_fresh_scratch(0);
    cr_assert_str_neq(u1, u2);
    free(u1);
    free(u2);
}

Test(rule_eval, fixed_seed_repeats_between_scratches)
{
    char *u1 = uuid_of_fresh_scratch(42);
    char *u2 = uuid_of_fresh_scratch(42);
    cr_assert_str_eq(u1, u2);
    free(u1);
    free(u2);
}
