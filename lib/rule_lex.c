/* SPDX-License-Identifier: MIT */
/*
 * rule_lex.c - the rule SQL lexer (spec §6.1, the rulesql lexer).
 *
 * A hand-written scanner in the style of SQLite's tokenize.c: one call per
 * token, a switch on the first byte, no allocation. Tokens point into the SQL
 * text by offset; the parser copies what it keeps. The lexer tracks the line
 * and the column (1-based, counted in bytes) of every token so that every
 * error can say where it is.
 *
 * Lexical rules worth knowing: keywords are case-insensitive except `div`,
 * `mod`, `true` and `false` (lower case only); "double quoted" text is a name,
 * not a string; 'single quoted' strings have no escapes (a doubled '' stays
 * two quote characters); `[1..4]` written without spaces is one range token;
 * `--` starts a comment that runs to the end of the line.
 */
#include <stdio.h>
#include <string.h>

#include "rule_int.h"

/* ORDER TOKEN */
static const char *const tok_names[TK__COUNT] = {
    "end of input", "a name", "a quoted name", "a string", "an integer", "a number",
    "a range", "'SELECT'", "'FROM'", "'WHERE'", "'AS'", "'CASE'", "'WHEN'", "'THEN'",
    "'ELSE'", "'END'", "'FOREACH'", "'DO'", "'INCASE'", "'AND'", "'OR'", "'NOT'", "'IN'",
    "'IF'", "'ELSIF'", "'div'", "'mod'", "'true'", "'false'", "'='", "'!='", "'<'",
    "'<='", "'>'", "'>='", "'=~'", "'~='", "'+'", "'-'", "'*'", "'/'", "'('", "')'",
    "'['", "']'", "','", "'.'",
};

const char *mqr__rule_tok_name(uint32_t kind)
{
    return kind < TK__COUNT ? tok_names[kind] : "?";
}

int mqr__rule_error_at(mqr_diag_t *diag, int code, uint32_t line, uint32_t col, uint32_t off,
                       const char *fmt, ...)
{
    if (!diag)
        return code;
    char msg[MQR_DIAG_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mqr__diag_set(diag, code, "line %u, column %u: %s", (unsigned)line, (unsigned)col, msg);
    diag->line = line;
    diag->column = col;
    diag->offset = off;
    return code;
}

void mqr__rule_lex_init(mqr__lex_t *lx, const char *src, size_t len)
{
    lx->src = src;
    lx->len = len;
    lx->pos = 0;
    lx->line = 1;
    lx->line_start = 0;
}

static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_name_char(int c)
{
    return is_alpha(c) || is_digit(c) || c == '_' || c == '$' || c == '@' || c == '~';
}

/* Case-insensitive keywords; `lower` ones match only in lower case. */
static const struct {
    const char *text;
    uint32_t kind;
    uint32_t lower;
} keywords[] = {
    {"select", TK_SELECT, 0}, {"from", TK_FROM, 0},       {"where", TK_WHERE, 0},
    {"as", TK_AS, 0},         {"case", TK_CASE, 0},       {"when", TK_WHEN, 0},
    {"then", TK_THEN, 0},     {"else", TK_ELSE, 0},       {"end", TK_END, 0},
    {"foreach", TK_FOREACH, 0}, {"do", TK_DO, 0},         {"incase", TK_INCASE, 0},
    {"and", TK_AND, 0},       {"or", TK_OR, 0},           {"not", TK_NOT, 0},
    {"in", TK_IN, 0},         {"if", TK_IF, 0},           {"elsif", TK_ELSIF, 0},
    {"div", TK_DIV, 1},       {"mod", TK_MOD, 1},         {"true", TK_TRUE, 1},
    {"false", TK_FALSE, 1},
};

static uint32_t keyword_kind(const char *s, size_t n)
{
    for (size_t k = 0; k < MQR__ARRAY_LEN(keywords); k++) {
        const char *kw = keywords[k].text;
        if (strlen(kw) != n)
            continue;
        size_t i = 0;
        for (; i < n; i++) {
            char c = s[i];
            if (!keywords[k].lower && c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (c != kw[i])
                break;
        }
        if (i == n)
            return keywords[k].kind;
    }
    return TK_NAME;
}

/* Parse an optionally signed decimal integer at s[*p]; 1 on success. */
static int scan_signed(const char *s, size_t len, size_t *p, int64_t *out)
{
    size_t i = *p;
    int neg = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (i >= len || !is_digit((unsigned char)s[i]))
        return 0;
    uint64_t v = 0;
    for (; i < len && is_digit((unsigned char)s[i]); i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_C(9223372036854775808) - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    if (!neg && v > (uint64_t)INT64_MAX)
        return 0;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    *p = i;
    return 1;
}

/* `[a..b]` with no spaces, starting at the '['. 1 and the bounds on success. */
static int scan_range(mqr__lex_t *lx, mqr__tok_t *t)
{
    size_t p = lx->pos + 1;
    int64_t lo, hi;
    if (!scan_signed(lx->src, lx->len, &p, &lo))
        return 0;
    if (p + 2 > lx->len || lx->src[p] != '.' || lx->src[p + 1] != '.')
        return 0;
    p += 2;
    if (!scan_signed(lx->src, lx->len, &p, &hi))
        return 0;
    if (p >= lx->len || lx->src[p] != ']')
        return 0;
    t->kind = TK_RANGE;
    t->i = lo;
    t->j = hi;
    lx->pos = p + 1;
    return 1;
}

/* Integer `[0-9]+` or float `digits.digits`; a letter right after is an
 * error (12e5, 1.5f, 3abc), as is a value out of range. */
static int scan_number(mqr__lex_t *lx, mqr__tok_t *t, mqr_diag_t *diag)
{
    const char *s = lx->src;
    size_t i = lx->pos, n = lx->len;
    while (i < n && is_digit((unsigned char)s[i]))
        i++;
    int is_float = 0;
    if (i + 1 < n && s[i] == '.' && is_digit((unsigned char)s[i + 1])) {
        is_float = 1;
        i++;
        while (i < n && is_digit((unsigned char)s[i]))
            i++;
    }
    if (i < n && (is_name_char((unsigned char)s[i]))) {
        size_t end = i; /* quote the whole run: '1e2', '1.5f', '3abc' */
        while (end < n && is_name_char((unsigned char)s[end]))
            end++;
        return mqr__rule_error_at(diag, MQR_ESYNTAX, t->line, t->col, t->off,
                                  "invalid number '%.*s'", (int)(end - lx->pos), s + lx->pos);
    }
    if (is_float) {
        size_t k = i - lx->pos;
        if (mqr__parse_double(s + lx->pos, k, &t->d) != MQR_OK)
            return mqr__rule_error_at(diag, MQR_ESYNTAX, t->line, t->col, t->off,
                                      "float '%.*s%s' is out of range", (int)(k > 32 ? 32 : k),
                                      s + lx->pos, k > 32 ? "..." : "");
        t->kind = TK_FLOAT;
    } else {
        size_t p = lx->pos;
        if (!scan_signed(s, i, &p, &t->i))
            return mqr__rule_error_at(diag, MQR_ESYNTAX, t->line, t->col, t->off,
                                      "integer '%.*s' is out of range", (int)(i - lx->pos),
                                      s + lx->pos);
        t->kind = TK_INT;
    }
    lx->pos = i;
    return MQR_OK;
}

/* Quoted text from the quote at lx->pos to the matching quote. For single
 * quotes a doubled '' does not end the string. */
static int scan_quoted(mqr__lex_t *lx, mqr__tok_t *t, char q, mqr_diag_t *diag)
{
    size_t i = lx->pos + 1;
    for (;;) {
        if (i >= lx->len)
            return mqr__rule_error_at(diag, MQR_ESYNTAX, t->line, t->col, t->off,
                                      "unterminated %s", q == '\'' ? "string" : "quoted name");
        if (lx->src[i] == '\n') {
            lx->line++;
            lx->line_start = i + 1;
        }
        if (lx->src[i] == q) {
            if (q == '\'' && i + 1 < lx->len && lx->src[i + 1] == '\'') {
                i += 2;
                continue;
            }
            break;
        }
        i++;
    }
    t->kind = q == '\'' ? TK_STRING : TK_QNAME;
    lx->pos = i + 1;
    return MQR_OK;
}

/* Skip whitespace and `--` comments. */
static void skip_space(mqr__lex_t *lx)
{
    while (lx->pos < lx->len) {
        char c = lx->src[lx->pos];
        if (c == '\n') {
            lx->pos++;
            lx->line++;
            lx->line_start = lx->pos;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            lx->pos++;
        } else if (c == '-' && lx->pos + 1 < lx->len && lx->src[lx->pos + 1] == '-') {
            while (lx->pos < lx->len && lx->src[lx->pos] != '\n')
                lx->pos++;
        } else {
            break;
        }
    }
}

/* Two-byte operators, then one-byte ones. */
static uint32_t scan_op(mqr__lex_t *lx)
{
    const char *s = lx->src + lx->pos;
    size_t left = lx->len - lx->pos;
    if (left >= 2) {
        static const struct {
            char a, b;
            uint32_t kind;
        } two[] = {{'!', '=', TK_NE}, {'<', '>', TK_NE}, {'<', '=', TK_LE},
                   {'>', '=', TK_GE}, {'=', '~', TK_MATCH}, {'~', '=', TK_TILDE_EQ}};
        for (size_t k = 0; k < MQR__ARRAY_LEN(two); k++)
            if (s[0] == two[k].a && s[1] == two[k].b) {
                lx->pos += 2;
                return two[k].kind;
            }
    }
    uint32_t kind;
    switch (s[0]) {
    case '=': kind = TK_EQ; break;
    case '<': kind = TK_LT; break;
    case '>': kind = TK_GT; break;
    case '+': kind = TK_PLUS; break;
    case '-': kind = TK_MINUS; break;
    case '*': kind = TK_STAR; break;
    case '/': kind = TK_SLASH; break;
    case '(': kind = TK_LPAREN; break;
    case ')': kind = TK_RPAREN; break;
    case '[': kind = TK_LBRACKET; break;
    case ']': kind = TK_RBRACKET; break;
    case ',': kind = TK_COMMA; break;
    case '.': kind = TK_DOT; break;
    default: return TK__COUNT;
    }
    lx->pos++;
    return kind;
}

int mqr__rule_lex_next(mqr__lex_t *lx, mqr__tok_t *t, mqr_diag_t *diag)
{
    skip_space(lx);
    memset(t, 0, sizeof *t);
    t->off = (uint32_t)lx->pos;
    t->line = lx->line;
    t->col = (uint32_t)(lx->pos - lx->line_start + 1);
    if (lx->pos >= lx->len) {
        t->kind = TK_EOF;
        return MQR_OK;
    }
    unsigned char c = (unsigned char)lx->src[lx->pos];
    int rc = MQR_OK;
    if (is_alpha(c)) {
        size_t i = lx->pos + 1;
        while (i < lx->len && is_name_char((unsigned char)lx->src[i]))
            i++;
        t->kind = keyword_kind(lx->src + lx->pos, i - lx->pos);
        lx->pos = i;
    } else if (is_digit(c)) {
        rc = scan_number(lx, t, diag);
    } else if (c == '"' || c == '\'') {
        rc = scan_quoted(lx, t, (char)c, diag);
    } else if (c == '[' && scan_range(lx, t)) {
        /* range token consumed */
    } else {
        t->kind = scan_op(lx);
        if (t->kind == TK__COUNT) {
            if (c >= 0x20 && c < 0x7f)
                return mqr__rule_error_at(diag, MQR_ESYNTAX, t->line, t->col, t->off,
                                          "unexpected character '%c'", c);
            return mqr__rule_error_at(diag, MQR_ESYNTAX, t->line, t->col, t->off,
                                      "unexpected byte 0x%02x", c);
        }
    }
    t->len = (uint32_t)(lx->pos - t->off);
    return rc;
}
