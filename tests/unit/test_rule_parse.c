/* SPDX-License-Identifier: MIT */
/*
 * test_rule_parse.c - the rule SQL grammar (spec §6.2) and compile-time
 * errors (D8): every construct, the rulesql edge cases of §6.2's notes, FROM
 * entries, error messages with line:column, and the SQL-length and nesting
 * limits exactly at and one past the limit.
 */
#include <stdio.h>

#include "rule_test_util.h"

/* Compile and expect `status` with exactly `msg` (when msg is not NULL). */
static void compile_expect(const char *sql, int status, const char *msg)
{
    mqr_rule_t *r = NULL;
    mqr_diag_t d;
    int rc = rt_compile(sql, &r, &d);
    cr_assert_eq(rc, status, "%s -> %s (%s)", sql, mqr_status_name(rc), d.message);
    if (status == MQR_OK) {
        cr_assert_not_null(r);
    } else {
        cr_assert_null(r);
        cr_assert_eq(d.code, status);
        if (msg)
            cr_assert_str_eq(d.message, msg, "%s", sql);
    }
    mqr_rule_free(r);
}

#define OK(sql) compile_expect(sql, MQR_OK, NULL)
#define SYNTAX(sql, msg) compile_expect(sql, MQR_ESYNTAX, msg)
#define COMPILE_ERR(sql, msg) compile_expect(sql, MQR_ECOMPILE, msg)

Test(rule_parse, select_forms)
{
    OK("SELECT * FROM \"t/#\"");
    OK("SELECT *, clientid FROM \"t/#\"");
    OK("select a, b as c, d e FROM \"t/#\" where a = 1");
    OK("SELECT a AS x.y.z, b AS x[1], c AS x[0], d AS x[-0], e AS \"odd key\" FROM \"t\"");
    OK("SELECT 1, 1.5, 'str', true, false, [1..3], [1, a, 'x'], [] FROM \"t\"");
    OK("SELECT -a, +a, - - a, a + b * c - d / e, a div b, a mod b FROM \"t\"");
    OK("SELECT a.b.c[1].'1'.100, a[-1], a[+2], a[i], a[b.c], a[1..3] FROM \"t\"");
    OK("SELECT a = b, a != b, a <> b, a < b, a <= b, a > b, a >= b, a =~ 't/#' FROM \"t\"");
    OK("SELECT a FROM \"t\" -- trailing comment");
    OK("SELECT a\n-- a comment line\nFROM \"t\"\n");
}

Test(rule_parse, conditions)
{
    OK("SELECT a FROM \"t\" WHERE a = 1 AND b = 2 OR NOT c = 3");
    OK("SELECT a FROM \"t\" WHERE a IN (1, 2, 'x') AND b NOT IN (3)");
    OK("SELECT a FROM \"t\" WHERE NOT (a = 1 AND b = 2) OR NOT (a = 1 OR b = 2)");
    OK("SELECT a FROM \"t\" WHERE (a = 1) AND ((b = 2))");
    OK("SELECT a FROM \"t\" WHERE true");
    OK("SELECT a FROM \"t\" WHERE is_null(a)");
}

Test(rule_parse, case_forms)
{
    OK("SELECT CASE WHEN a > 1 THEN 'big' WHEN a = 1 THEN 'one' ELSE 'small' END AS s "
       "FROM \"t\"");
    OK("SELECT CASE a WHEN 1 THEN 'one' WHEN 2 THEN 'two' END AS s FROM \"t\"");
    OK("SELECT (CASE WHEN a THEN 1 END) s FROM \"t\"");
    SYNTAX("SELECT CASE a END FROM \"t\"",
           "line 1, column 15: expected 'WHEN' but found 'END'");
    SYNTAX("SELECT CASE WHEN a THEN 1 FROM \"t\"",
           "line 1, column 27: expected 'WHEN', 'ELSE' or 'END' but found 'FROM'");
}

Test(rule_parse, foreach_forms)
{
    OK("FOREACH payload.sensors FROM \"t/#\"");
    OK("FOREACH payload.sensors AS s DO s.name AS n, clientid INCASE s.v > 1 FROM \"t/#\" "
       "WHERE clientid = 'c'");
    OK("FOREACH json_decode(payload) AS p, p.sensors AS s, s.collection AS c, c.info AS info "
       "FROM \"t/#\"");
    OK("FOREACH payload.a DO * FROM \"t\"");
    COMPILE_ERR("FOREACH a, * FROM \"t\"",
                "line 1, column 12: FOREACH needs a collection as its last field, not '*'");
}

Test(rule_parse, from_entries)
{
    mqr_rule_t *r = NULL;
    cr_assert_eq(rt_compile("SELECT a FROM abc, \"$events/client_connack\", 't/+/x', "
                            "\"$bridges/mqtt:b\", \"foo 'bar' bazz\"",
                            &r, NULL),
                 MQR_OK);
    cr_assert_eq(mqr_rule_source_count(r), 5u);
    size_t len = 0;
    cr_assert_str_eq(mqr_rule_source(r, 0, &len), "abc");
    cr_assert_eq(len, 3u);
    cr_assert_eq(mqr_rule_source_kind(r, 0), MQR_RULE_SRC_TOPIC);
    cr_assert_str_eq(mqr_rule_source(r, 1, NULL), "$events/client_connack");
    cr_assert_eq(mqr_rule_source_kind(r, 1), MQR_RULE_SRC_EVENT);
    cr_assert_str_eq(mqr_rule_source(r, 2, NULL), "t/+/x");
    cr_assert_eq(mqr_rule_source_kind(r, 3), MQR_RULE_SRC_BRIDGE);
    cr_assert_str_eq(mqr_rule_source(r, 4, NULL), "foo 'bar' bazz");
    cr_assert_null(mqr_rule_source(r, 5, NULL));
    cr_assert_eq(mqr_rule_source_kind(r, 5), -1);
    cr_assert_eq(mqr_rule_is_foreach(r), 0u);
    cr_assert_str_eq(mqr_rule_id(r), "r1");
    mqr_rule_free(r);
}

Test(rule_parse, from_matching)
{
    mqr_rule_t *r = NULL;
    cr_assert_eq(rt_compile("SELECT a FROM \"t/#\", \"$events/client/+\"", &r, NULL), MQR_OK);
    cr_assert_eq(mqr_rule_matches_topic(r, "t", 1), 1);
    cr_assert_eq(mqr_rule_matches_topic(r, "t/a/b", 5), 1);
    cr_assert_eq(mqr_rule_matches_topic(r, "u/a", 3), 0);
    cr_assert_eq(mqr_rule_matches_topic(r, "$events/client/connack", 22), 0);
    cr_assert_eq(mqr_rule_matches_event(r, "client.connack", 14), 1);
    cr_assert_eq(mqr_rule_matches_event(r, "$events/client_connack", 22), 1);
    cr_assert_eq(mqr_rule_matches_event(r, "session.subscribed", 18), 0);
    cr_assert_eq(mqr_rule_matches_event(r, "nothing", 7), 0);
    cr_assert_eq(mqr_rule_matches_event(NULL, "client.connack", 14), 0);
    mqr_rule_free(r);
    cr_assert_eq(rt_compile("SELECT a FROM \"$events/#\"", &r, NULL), MQR_OK);
    cr_assert_eq(mqr_rule_matches_event(r, "alarm.deactivated", 17), 1);
    cr_assert_eq(mqr_rule_matches_event(r, "client.connack", 14), 1);
    mqr_rule_free(r);
    cr_assert_eq(rt_compile("SELECT a FROM \"$events/client_connack\"", &r, NULL), MQR_OK);
    cr_assert_eq(mqr_rule_matches_event(r, "client.connack", 14), 1);
    cr_assert_eq(mqr_rule_matches_event(r, "client.connected", 16), 0);
    mqr_rule_free(r);
}

Test(rule_parse, rulesql_edge_cases)
{
    /* SELECT a b = SELECT a AS b */
    RT_EXPECT("SELECT a b FROM \"t\"", "{\"a\":1}", "{\"b\":1}");
    SYNTAX("SELECT 1.b FROM \"t\"",
           "line 1, column 9: expected ',' or 'FROM' but found '.'");
    SYNTAX("SELECT [1].b FROM \"t\"",
           "line 1, column 11: expected ',' or 'FROM' after ']' but found '.'");
    SYNTAX("SELECT a[1].[2] FROM \"t\"",
           "line 1, column 13: expected a key after '.' but found '['");
    SYNTAX("SELECT a.1.100 FROM \"t\"",
           "line 1, column 10: expected a key after '.' but found '1.100'");
    RT_EXPECT("SELECT a.b.c[1].'1'.100 AS v FROM \"t\"",
              "{\"a\":{\"b\":{\"c\":[{\"1\":{\"100\":7}}]}}}", "{\"v\":7}");
    SYNTAX("SELECT a FROM abc ec",
           "line 1, column 19: expected ',', 'WHERE' or end of input but found 'ec'");
    OK("SELECT a FROM abc, e, f");
    OK("SELECT a FROM 't/#'");
    OK("SELECT emqx_rule_funcs.upper('a') FROM \"t\"");
    COMPILE_ERR("SELECT lists.reverse(a) FROM \"t\"",
                "line 1, column 8: function module 'lists' is not allowed");
}

Test(rule_parse, compile_errors_with_positions)
{
    SYNTAX("SELECT a,FROM \"t\"",
           "line 1, column 10: expected an expression after ',' but found 'FROM'");
    SYNTAX("SELECT , FROM \"t\"",
           "line 1, column 8: expected an expression after 'SELECT' but found ','");
    COMPILE_ERR("SELECT clientid, username, lenght(payload) FROM \"t/#\"",
                "line 1, column 28: unknown function 'lenght' (did you mean 'length'?)");
    COMPILE_ERR("SELECT zzzzqqq(1) FROM \"t\"", "line 1, column 8: unknown function 'zzzzqqq'");
    COMPILE_ERR("SELECT jq('.a', payload) FROM \"t\"",
                "line 1, column 8: function 'jq' is not supported");
    COMPILE_ERR("SELECT abs(1, 2) FROM \"t\"",
                "line 1, column 8: function 'abs' takes 1 argument but 2 were given");
    COMPILE_ERR("SELECT abs() FROM \"t\"",
                "line 1, column 8: function 'abs' takes 1 argument but 0 were given");
    COMPILE_ERR("SELECT a FROM \"$events/client_connac\"",
                "line 1, column 15: unknown event topic '$events/client_connac'");
    COMPILE_ERR("SELECT a FROM \"$events/message_publish\"",
                "line 1, column 15: unknown event topic '$events/message_publish'");
    COMPILE_ERR("SELECT a FROM \"t/#/x\"", "line 1, column 15: invalid topic filter 't/#/x'");
    COMPILE_ERR("SELECT a\nFROM \"t\"\nWHERE lenght(a) = 1",
                "line 3, column 7: unknown function 'lenght' (did you mean 'length'?)");
    SYNTAX("SELECT a FROM", "line 1, column 14: expected a topic after 'FROM' but found end of input");
    SYNTAX("SELECT a", "line 1, column 9: expected ',' or 'FROM' but found end of input");
    SYNTAX("SELECT a FROM \"t\" WHERE", NULL);
    SYNTAX("SELECT a FROM \"t\" WHERE a = 1 b",
           "line 1, column 31: expected an operator or end of input but found 'b'");
    SYNTAX("SELECT a = b = c FROM \"t\"",
           "line 1, column 14: comparisons do not chain: put one in parentheses");
    SYNTAX("SELECT a FROM \"t\" WHERE a NOT b", "line 1, column 31: expected 'IN' after 'NOT' but found 'b'");
    SYNTAX("SELECT random() < 1 AND random() >= 0 AS r FROM 't/#'",
           "line 1, column 21: 'AND' is only allowed in WHERE, INCASE and WHEN conditions "
           "(use CASE WHEN ... THEN true ELSE false END)");
    SYNTAX("SELECT a AS FROM \"t\"", "line 1, column 13: expected an alias after 'AS' but found 'FROM'");
    SYNTAX("UPDATE t", "line 1, column 1: expected 'SELECT' or 'FOREACH' but found 'UPDATE'");
    SYNTAX("", "line 1, column 1: empty SQL: expected 'SELECT' or 'FOREACH'");
    SYNTAX("  -- only a comment", NULL);
    SYNTAX("SELECT 'caf\xc3 FROM \"t\"", "line 1, column 12: invalid UTF-8");
    SYNTAX("SELECT f(a FROM \"t\"", NULL);
}

Test(rule_parse, null_arguments)
{
    mqr_rule_t *r = (mqr_rule_t *)1;
    mqr_diag_t d;
    cr_assert_eq(mqr_rule_compile(NULL, 0, NULL, &r, &d), MQR_EINVAL);
    cr_assert_null(r);
    cr_assert_eq(mqr_rule_compile("SELECT a FROM t", 15, NULL, NULL, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_rule_compile("SELECT a FROM t", 15, NULL, &r, NULL), MQR_OK);
    mqr_rule_free(r);
    mqr_rule_free(NULL);
    cr_assert_eq(mqr_rule_source_count(NULL), 0u);
    cr_assert_str_eq(mqr_rule_id(NULL), "");
    cr_assert_eq(mqr_rule_matches_topic(NULL, "t", 1), 0);
}

/* "SELECT a FROM t" padded with spaces to exactly n bytes. */
static char *sql_of_len(size_t n)
{
    char *s = malloc(n + 1);
    memset(s, ' ', n);
    memcpy(s, "SELECT a FROM t", 15);
    s[n] = '\0';
    return s;
}

Test(rule_parse, sql_length_limit)
{
    mqr_rule_options_t o;
    mqr_rule_options_init(&o);
    o.max_sql_len = 100;
    mqr_rule_t *r = NULL;
    mqr_diag_t d;
    char *s = sql_of_len(100);
    cr_assert_eq(mqr_rule_compile(s, 100, &o, &r, &d), MQR_OK);
    mqr_rule_free(r);
    free(s);
    s = sql_of_len(101);
    cr_assert_eq(mqr_rule_compile(s, 101, &o, &r, &d), MQR_ELIMIT);
    cr_assert_str_eq(d.message, "SQL is 101 bytes, longer than the limit of 100");
    free(s);
    /* the default is 64 KiB */
    s = sql_of_len(65537);
    cr_assert_eq(mqr_rule_compile(s, 65537, NULL, &r, &d), MQR_ELIMIT);
    free(s);
    s = sql_of_len(65536);
    cr_assert_eq(mqr_rule_compile(s, 65536, NULL, &r, &d), MQR_OK);
    mqr_rule_free(r);
    free(s);
}

/* SELECT ((((a)))) with n parentheses: nesting depth n + 1. */
static char *nested(size_t n)
{
    char *s = malloc(2 * n + 32);
    strcpy(s, "SELECT ");
    for (size_t i = 0; i < n; i++)
        strcat(s, "(");
    strcat(s, "a");
    for (size_t i = 0; i < n; i++)
        strcat(s, ")");
    strcat(s, " FROM t");
    return s;
}

Test(rule_parse, nesting_limit)
{
    mqr_rule_options_t o;
    mqr_rule_options_init(&o);
    o.max_depth = 10;
    mqr_rule_t *r = NULL;
    mqr_diag_t d;
    char *s = nested(9); /* depth 10 */
    cr_assert_eq(mqr_rule_compile(s, strlen(s), &o, &r, &d), MQR_OK, "%s", d.message);
    mqr_rule_free(r);
    free(s);
    s = nested(10); /* depth 11 */
    cr_assert_eq(mqr_rule_compile(s, strlen(s), &o, &r, &d), MQR_ELIMIT);
    cr_assert_str_eq(d.message, "line 1, column 18: expression nesting deeper than 10");
    free(s);
    /* default 64 */
    s = nested(63);
    cr_assert_eq(mqr_rule_compile(s, strlen(s), NULL, &r, &d), MQR_OK);
    mqr_rule_free(r);
    free(s);
    s = nested(64);
    cr_assert_eq(mqr_rule_compile(s, strlen(s), NULL, &r, &d), MQR_ELIMIT);
    free(s);
    /* unary minus and NOT count too */
    o.max_depth = 4;
    const char *neg = "SELECT - - - a FROM t";
    cr_assert_eq(mqr_rule_compile(neg, strlen(neg), &o, &r, &d), MQR_OK);
    mqr_rule_free(r);
    const char *neg2 = "SELECT - - - - a FROM t";
    cr_assert_eq(mqr_rule_compile(neg2, strlen(neg2), &o, &r, &d), MQR_ELIMIT);
}

Test(rule_parse, constant_folding_keeps_runtime_errors)
{
    /* 1 + true cannot fold; it fails when evaluated, as in EMQX */
    OK("SELECT 1 + true AS x FROM \"t\"");
    RT_FAIL("SELECT 1 + true AS x FROM \"t\"", "{}", MQR_EEVAL, "cannot add 1 and true");
    RT_EXPECT("SELECT 1 + 2 * 3 AS x, upper('ab') AS y, -(2) AS z FROM \"t\"", "{}",
              "{\"x\":7,\"y\":\"AB\",\"z\":-2}");
}

Test(rule_parse, structural_limits)
{
    mqr_rule_options_t o;
    mqr_rule_options_init(&o);
    o.max_depth = 4;
    mqr_rule_t *r = NULL;
    mqr_diag_t d;
    /* variable indexes nest too */
    const char *idx3 = "SELECT a[b[c]] FROM t";
    cr_assert_eq(mqr_rule_compile(idx3, strlen(idx3), &o, &r, &d), MQR_OK, "%s", d.message);
    mqr_rule_free(r);
    const char *idx5 = "SELECT a[b[c[d[e]]]] FROM t";
    cr_assert_eq(mqr_rule_compile(idx5, strlen(idx5), &o, &r, &d), MQR_ELIMIT);
    /* 32 path steps pass, 33 do not */
    char sql[512] = "SELECT a";
    for (int i = 0; i < 32; i++)
        strcat(sql, ".b");
    strcat(sql, " FROM t");
    cr_assert_eq(mqr_rule_compile(sql, strlen(sql), NULL, &r, &d), MQR_OK);
    mqr_rule_free(r);
    strcpy(sql, "SELECT a");
    for (int i = 0; i < 33; i++)
        strcat(sql, ".b");
    strcat(sql, " FROM t");
    cr_assert_eq(mqr_rule_compile(sql, strlen(sql), NULL, &r, &d), MQR_ELIMIT);
    cr_assert_str_eq(d.message, "line 1, column 73: path longer than 32 steps");
    const char *big = "SELECT [0..1000000] FROM t";
    cr_assert_eq(mqr_rule_compile(big, strlen(big), NULL, &r, &d), MQR_ELIMIT);
    cr_assert_str_eq(d.message, "line 1, column 8: range of more than 1000000 integers");
    /* operator chains are parsed in loops but count for the tree depth:
     * a + a + ... with k operators is k + 1 levels deep */
    char *chain = malloc(4 * 2100 + 64);
    for (int k = 2047; k <= 2048; k++) {
        strcpy(chain, "SELECT a");
        for (int i = 0; i < k; i++)
            strcat(chain, " + a");
        strcat(chain, " FROM t");
        int rc = mqr_rule_compile(chain, strlen(chain), NULL, &r, &d);
        if (k == 2047) {
            cr_assert_eq(rc, MQR_OK, "%s", d.message);
            mqr_rule_free(r);
        } else {
            cr_assert_eq(rc, MQR_ELIMIT);
            cr_assert(strstr(d.message, "2049 levels deep") != NULL, "%s", d.message);
        }
    }
    free(chain);
    /* max_depth above the cap is lowered to it */
    o.max_depth = 100000;
    char *deep = nested(MQR_RULE_MAX_DEPTH_CAP);
    cr_assert_eq(mqr_rule_compile(deep, strlen(deep), &o, &r, &d), MQR_ELIMIT);
    free(deep);
}

Test(rule_parse, constant_regex_pattern_is_checked_at_compile_time)
{
    COMPILE_ERR("SELECT regex_match(payload, 'a(b') AS m FROM \"t\"",
                "line 1, column 8: function 'regex_match': bad regular expression: "
                "regex: missing ')' at offset 1");
    COMPILE_ERR("SELECT 1 AS x,\n  regex_replace(payload, '[z-a]', 'x') AS r FROM \"t\"",
                "line 2, column 3: function 'regex_replace': bad regular expression: "
                "regex: range out of order in character class at offset 1");
    COMPILE_ERR("SELECT regex_extract(payload, '(?<=a)b') AS e FROM \"t\"",
                "line 1, column 8: function 'regex_extract': bad regular expression: "
                "regex: lookaround assertions are not supported at offset 0");
    OK("SELECT regex_match(payload, '^a(b|c)+$') AS m FROM \"t\"");
    OK("SELECT regex_match(payload, payload.re) AS m FROM \"t\""); /* not constant: run time */
}

Test(rule_parse, constant_sprintf_format_is_checked_at_compile_time)
{
    COMPILE_ERR("SELECT sprintf('~s and ~s', payload) AS m FROM \"t\"",
                "line 1, column 8: function 'sprintf': no argument left for directive '~s'");
    COMPILE_ERR("SELECT sprintf('~s', a, b) AS m FROM \"t\"",
                "line 1, column 8: function 'sprintf': 2 arguments but the format uses 1");
    COMPILE_ERR("SELECT sprintf('~q', a) AS m FROM \"t\"",
                "line 1, column 8: function 'sprintf': unsupported directive '~q'");
    COMPILE_ERR("SELECT sprintf('50~', a) AS m FROM \"t\"",
                "line 1, column 8: function 'sprintf': format ends with '~'");
    OK("SELECT sprintf('~ts ~p ~w ~B ~f ~c~n~~', a, b, c, 1, 1.5, 65) AS m FROM \"t\"");
    OK("SELECT sprintf(payload.fmt, a) AS m FROM \"t\""); /* not constant: run time */
}
