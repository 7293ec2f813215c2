/* SPDX-License-Identifier: MIT */
/*
 * test_rule_lex.c - the rule SQL lexer (spec §6.1): every token kind, the
 * case rules of keywords, quoting, numbers, ranges, comments, and errors with
 * their line and column.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "rule_int.h"

/* Lex `src` into kinds[] (up to max, ending with TK_EOF); returns the status. */
static int lex_all(const char *src, uint32_t *kinds, size_t max, mqr__tok_t *toks,
                   mqr_diag_t *d)
{
    mqr__lex_t lx;
    mqr__rule_lex_init(&lx, src, strlen(src));
    for (size_t i = 0; i < max; i++) {
        mqr__tok_t t;
        int rc = mqr__rule_lex_next(&lx, &t, d);
        if (rc != MQR_OK)
            return rc;
        kinds[i] = t.kind;
        if (toks)
            toks[i] = t;
        if (t.kind == TK_EOF)
            return MQR_OK;
    }
    return MQR_OK;
}

#define LEX_EXPECT(src, ...)                                                         \
    do {                                                                             \
        const uint32_t want_[] = {__VA_ARGS__, TK_EOF};                              \
        uint32_t got_[64];                                                           \
        mqr_diag_t d_;                                                               \
        cr_assert_eq(lex_all(src, got_, 64, NULL, &d_), MQR_OK, "%s: %s", src,       \
                     d_.message);                                                    \
        for (size_t i_ = 0; i_ < sizeof want_ / sizeof want_[0]; i_++)               \
            cr_assert_eq(got_[i_], want_[i_], "%s: token %zu is %s, want %s", src,   \
                         i_, mqr__rule_tok_name(got_[i_]),                           \
                         mqr__rule_tok_name(want_[i_]));                             \
    } while (0)

Test(rule_lex, keywords_any_case)
{
    LEX_EXPECT("SELECT select SeLeCt FROM where AS case WHEN then ELSE end",
               TK_SELECT, TK_SELECT, TK_SELECT, TK_FROM, TK_WHERE, TK_AS, TK_CASE, TK_WHEN,
               TK_THEN, TK_ELSE, TK_END);
    LEX_EXPECT("FOREACH do INCASE and OR not IN if ELSIF", TK_FOREACH, TK_DO, TK_INCASE, TK_AND,
               TK_OR, TK_NOT, TK_IN, TK_IF, TK_ELSIF);
}

Test(rule_lex, lower_case_only_words)
{
    LEX_EXPECT("div mod true false", TK_DIV, TK_MOD, TK_TRUE, TK_FALSE);
    LEX_EXPECT("DIV Mod TRUE False", TK_NAME, TK_NAME, TK_NAME, TK_NAME);
}

Test(rule_lex, names)
{
    mqr__tok_t t[8];
    uint32_t k[8];
    cr_assert_eq(lex_all("a1_$@~ \"x y/#\" 'str'", k, 8, t, NULL), MQR_OK);
    cr_assert_eq(k[0], TK_NAME);
    cr_assert_eq(t[0].len, 6u);
    cr_assert_eq(k[1], TK_QNAME);
    cr_assert_eq(t[1].len, 7u);
    cr_assert_eq(k[2], TK_STRING);
    cr_assert_eq(t[2].len, 5u);
}

Test(rule_lex, single_quotes_doubled_stay_in_the_string)
{
    mqr__tok_t t[4];
    uint32_t k[4];
    cr_assert_eq(lex_all("'it''s' x", k, 4, t, NULL), MQR_OK);
    cr_assert_eq(k[0], TK_STRING);
    cr_assert_eq(t[0].len, 7u);
    cr_assert_eq(k[1], TK_NAME);
}

Test(rule_lex, numbers)
{
    mqr__tok_t t[8];
    uint32_t k[8];
    cr_assert_eq(lex_all("42 1.5 1.100 0", k, 8, t, NULL), MQR_OK);
    cr_assert_eq(k[0], TK_INT);
    cr_assert_eq(t[0].i, 42);
    cr_assert_eq(k[1], TK_FLOAT);
    cr_assert_float_eq(t[1].d, 1.5, 1e-12);
    cr_assert_eq(k[2], TK_FLOAT);
    cr_assert_float_eq(t[2].d, 1.1, 1e-12);
    cr_assert_eq(k[3], TK_INT);
    cr_assert_eq(lex_all("9223372036854775807", k, 2, t, NULL), MQR_OK);
    cr_assert_eq(t[0].i, INT64_MAX);
}

Test(rule_lex, number_errors)
{
    uint32_t k[4];
    mqr_diag_t d;
    cr_assert_eq(lex_all("12e5", k, 4, NULL, &d), MQR_ESYNTAX);
    cr_assert_str_eq(d.message, "line 1, column 1: invalid number '12e5'");
    cr_assert_eq(lex_all("1e2 + 1", k, 4, NULL, &d), MQR_ESYNTAX);
    cr_assert_str_eq(d.message, "line 1, column 1: invalid number '1e2'");
    cr_assert_eq(lex_all("x 1.5f", k, 4, NULL, &d), MQR_ESYNTAX);
    cr_assert_eq(d.column, 3u);
    cr_assert_str_eq(d.message, "line 1, column 3: invalid number '1.5f'");
    cr_assert_eq(lex_all("9223372036854775808", k, 4, NULL, &d), MQR_ESYNTAX);
    cr_assert(strstr(d.message, "out of range") != NULL);
}

Test(rule_lex, ranges)
{
    mqr__tok_t t[8];
    uint32_t k[8];
    cr_assert_eq(lex_all("[1..4] [-3..-1] a[1] [ 1..2]", k, 8, t, NULL), MQR_OK);
    cr_assert_eq(k[0], TK_RANGE);
    cr_assert_eq(t[0].i, 1);
    cr_assert_eq(t[0].j, 4);
    cr_assert_eq(k[1], TK_RANGE);
    cr_assert_eq(t[1].i, -3);
    cr_assert_eq(t[1].j, -1);
    cr_assert_eq(k[2], TK_NAME);
    cr_assert_eq(k[3], TK_LBRACKET);
    cr_assert_eq(k[4], TK_INT);
    cr_assert_eq(k[5], TK_RBRACKET);
    cr_assert_eq(k[6], TK_LBRACKET); /* "[ 1..2]" has a space: not a range */
}

Test(rule_lex, operators)
{
    LEX_EXPECT("= != <> < <= > >= =~ ~= + - * / ( ) [ ] , .", TK_EQ, TK_NE, TK_NE, TK_LT,
               TK_LE, TK_GT, TK_GE, TK_MATCH, TK_TILDE_EQ, TK_PLUS, TK_MINUS, TK_STAR,
               TK_SLASH, TK_LPAREN, TK_RPAREN, TK_LBRACKET, TK_RBRACKET, TK_COMMA, TK_DOT);
    LEX_EXPECT("a<=b", TK_NAME, TK_LE, TK_NAME);
}

Test(rule_lex, comments_and_lines)
{
    mqr__tok_t t[8];
    uint32_t k[8];
    cr_assert_eq(lex_all("SELECT -- all\n  x\r\n\tFROM -- end", k, 8, t, NULL), MQR_OK);
    cr_assert_eq(k[0], TK_SELECT);
    cr_assert_eq(k[1], TK_NAME);
    cr_assert_eq(t[1].line, 2u);
    cr_assert_eq(t[1].col, 3u);
    cr_assert_eq(k[2], TK_FROM);
    cr_assert_eq(t[2].line, 3u);
    cr_assert_eq(t[2].col, 2u);
    cr_assert_eq(k[3], TK_EOF);
}

Test(rule_lex, errors_with_positions)
{
    uint32_t k[8];
    mqr_diag_t d;
    cr_assert_eq(lex_all("SELECT `a`", k, 8, NULL, &d), MQR_ESYNTAX);
    cr_assert_str_eq(d.message, "line 1, column 8: unexpected character '`'");
    cr_assert_eq(d.line, 1u);
    cr_assert_eq(d.column, 8u);
    cr_assert_eq(d.offset, 7u);
    cr_assert_eq(lex_all("SELECT\n _x", k, 8, NULL, &d), MQR_ESYNTAX);
    cr_assert_str_eq(d.message, "line 2, column 2: unexpected character '_'");
    cr_assert_eq(lex_all("'abc", k, 8, NULL, &d), MQR_ESYNTAX);
    cr_assert_str_eq(d.message, "line 1, column 1: unterminated string");
    cr_assert_eq(lex_all("x \"abc", k, 8, NULL, &d), MQR_ESYNTAX);
    cr_assert_str_eq(d.message, "line 1, column 3: unterminated quoted name");
    cr_assert_eq(lex_all("a ; b", k, 8, NULL, &d), MQR_ESYNTAX);
    cr_assert_eq(lex_all("a \x01", k, 8, NULL, &d), MQR_ESYNTAX);
    cr_assert_str_eq(d.message, "line 1, column 3: unexpected byte 0x01");
}

Test(rule_lex, token_names)
{
    cr_assert_str_eq(mqr__rule_tok_name(TK_FROM), "'FROM'");
    cr_assert_str_eq(mqr__rule_tok_name(TK_EOF), "end of input");
    cr_assert_str_eq(mqr__rule_tok_name(TK_DOT), "'.'");
    cr_assert_str_eq(mqr__rule_tok_name(TK__COUNT), "?");
}

Test(rule_lex, long_float_literals)
{
    /* 64 and more characters: one float token with the nearest double */
    char src[512];
    mqr__tok_t t[2];
    uint32_t k[2];
    memset(src, '0', 70);
    memcpy(src, "1.", 2);
    memcpy(src + 69, "5", 2);
    cr_assert_eq(strlen(src), 70u);
    cr_assert_eq(lex_all(src, k, 2, t, NULL), MQR_OK);
    cr_assert_eq(k[0], TK_FLOAT);
    cr_assert_eq(t[0].d, 1.0);
    memset(src, '1', 400);
    memcpy(src + 400, ".5", 3);
    mqr_diag_t d;
    cr_assert_eq(lex_all(src, k, 2, t, &d), MQR_ESYNTAX);
    cr_assert(strstr(d.message, "is out of range") != NULL, "%s", d.message);
    memset(src, '1', 300);
    memcpy(src + 300, ".25", 4);
    cr_assert_eq(lex_all(src, k, 2, t, NULL), MQR_OK);
    cr_assert_eq(k[0], TK_FLOAT);
    cr_assert_gt(t[0].d, 1.1e299);
}
