/* SPDX-License-Identifier: MIT */
/*
 * regex.c - a backtracking-free regular expression engine (PCRE subset, UTF-8)
 * for regex_match, regex_replace and regex_extract.
 *
 * How it works, in three stages:
 *   1. parse: recursive descent over the pattern's code points builds a tree
 *      of nodes in one array (children linked through `next`), and character
 *      classes as lists of code point ranges.
 *   2. compile: the tree's instruction count is computed first (so {n,m}
 *      cannot blow past MQR_REGEX_MAX_INSTS), then the tree is emitted as a
 *      program: CHAR, ANY, CLASS consume one code point; SPLIT x, y forks
 *      with x preferred; JMP; SAVE n records a capture offset; ASSERT tests
 *      ^ $ \b ...; LOOP ends a repeat after an iteration that matched
 *      nothing, as PCRE does (see emit_loop); MATCH. The program, classes
 *      and ranges live in one allocation and are never written again.
 *   3. run: a Pike VM keeps, for the current position, the list of threads
 *      (program counter + capture offsets) in priority order. Each program
 *      counter enters a list at most once per position, so a match costs
 *      O(instructions x subject length), and thread priority gives PCRE's
 *      leftmost-first choice among matches starting at the same place.
 *      Threads are added with an explicit stack, not recursion.
 */
#include <stdio.h>
#include <string.h>

#include "codec_util.h"
#include "internal.h"
#include "regex.h"

/* ---- program --------------------------------------------------------------- */

enum { OP_CHAR, OP_ANY, OP_CLASS, OP_SPLIT, OP_JMP, OP_SAVE, OP_ASSERT, OP_LOOP, OP_MATCH };

/* Assertion kinds. */
enum { AS_BOL, AS_BOL_ML, AS_EOL, AS_EOL_ML, AS_BOT, AS_EOT, AS_EOT_NL, AS_WORDB, AS_NWORDB };

typedef struct inst {
    uint8_t op;
    uint8_t icase;  /* CHAR, CLASS: case-insensitive; ANY: matches '\n' too */
    uint32_t arg;   /* CHAR: code point (case-folded if icase); CLASS: index;
                       SAVE, LOOP: slot; ASSERT: kind */
    uint32_t x, y;  /* JMP: x; SPLIT: x preferred, then y; LOOP: x if the
                       iteration was empty, else y */
} inst_t;

typedef struct cls {
    uint32_t first, count; /* ranges[first .. first+count) */
    uint32_t negated;
} cls_t;

struct mqr__regex {
    mqr_allocator_t alloc;
    size_t alloc_size;
    uint32_t ninst, ngroups, nclass, nrange;
    uint32_t nloops; /* hidden slots after the group slots, one per LOOP */
    uint32_t first_byte; /* the byte every match starts with, or NONE */
    inst_t *insts;
    cls_t *classes;
    uint32_t (*ranges)[2];
};

#define NONE UINT32_MAX
#define REPEAT_INF UINT32_MAX
#define BAD_BYTE_BASE 0xDC00u
/* Largest instructions x capture slots: bounds the VM's scratch (2 lists of
 * this many size_t) to 32 MiB on 64-bit platforms. */
#define MQR__REGEX_MAX_STATE (1u << 21) /* invalid subject byte b decodes to U+DC00 + b */

/* \w: ASCII letters, digits and '_' (PCRE without UCP). */
static int is_word(uint32_t cp)
{
    return cp < 0x80 && (cp == '_' || (cp | 0x20) - 'a' < 26u || cp - '0' < 10u);
}

/* ---- parse tree --------------------------------------------------------------- */

/* N_FLAGS is a (?i) group: it emits nothing and cannot be repeated. */
enum { N_EMPTY, N_FLAGS, N_CHAR, N_ANY, N_CLASS, N_ASSERT, N_CAT, N_ALT, N_GROUP, N_REPEAT };

typedef struct node {
    uint8_t kind;
    uint8_t greedy; /* REPEAT */
    uint32_t a;     /* CHAR: cp; CLASS: index; ASSERT: kind; GROUP: capture number;
                       REPEAT: min */
    uint32_t b;     /* REPEAT: max or REPEAT_INF */
    uint32_t loop;  /* REPEAT: hidden slot of an unbounded repeat whose operand
                       can match empty, else NONE */
    uint32_t child; /* CAT, ALT: first child; GROUP, REPEAT: operand */
    uint32_t next;  /* next sibling in a CAT or ALT */
} node_t;

typedef struct parser {
    const uint8_t *s;
    size_t len, pos;
    const mqr_allocator_t *a;
    mqr_diag_t *diag;
    int err;
    node_t *nodes;
    uint32_t nnodes, cap_nodes;
    cls_t *classes;
    uint32_t nclass, cap_class;
    uint32_t (*ranges)[2];
    uint32_t nrange, cap_range;
    uint32_t ngroups, nloops;
    int depth;
    int icase, dotall, multiline;
} parser_t;

/* Record the first error (code, byte offset, message) and return -1 as the
 * "no node" result, so parse functions can `return perr(...)`. */
static uint32_t perr(parser_t *p, int code, size_t off, const char *msg)
{
    if (p->err == MQR_OK) {
        p->err = code;
        if (p->diag) {
            mqr__diag_set(p->diag, code, "regex: %s at offset %zu", msg, off);
            p->diag->offset = off;
        }
    }
    return NONE;
}

/* Grow an array of `size`-byte items to hold one more than *n; 0 on failure
 * (p->err set to MQR_ENOMEM). */
static int grow(parser_t *p, void **arr, uint32_t n, uint32_t *cap, size_t size)
{
    if (n < *cap)
        return 1;
    uint32_t ncap = *cap ? *cap * 2 : 16;
    void *q = mqr__realloc(p->a, *arr, (size_t)*cap * size, (size_t)ncap * size);
    if (!q) {
        perr(p, MQR_ENOMEM, p->pos, "out of memory");
        return 0;
    }
    *arr = q;
    *cap = ncap;
    return 1;
}

/* Append a node of `kind` with field a; its index, or NONE (p->err set). */
static uint32_t new_node(parser_t *p, int kind, uint32_t a)
{
    if (!grow(p, (void **)&p->nodes, p->nnodes, &p->cap_nodes, sizeof(node_t)))
        return NONE;
    node_t *n = &p->nodes[p->nnodes];
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->a = a;
    n->child = n->next = n->loop = NONE;
    return p->nnodes++;
}

/* Append the range lo..hi to the class being built; 0 on allocation failure. */
static int add_range(parser_t *p, uint32_t lo, uint32_t hi)
{
    if (!grow(p, (void **)&p->ranges, p->nrange, &p->cap_range, sizeof p->ranges[0]))
        return 0;
    p->ranges[p->nrange][0] = lo;
    p->ranges[p->nrange][1] = hi;
    p->nrange++;
    return 1;
}

/* The ranges of \d, \w, \s (ASCII, as PCRE without UCP). ORDER: shorthand(). */
static const uint32_t sh_digit[][2] = {{'0', '9'}};
static const uint32_t sh_word[][2] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
static const uint32_t sh_space[][2] = {{'\t', '\r'}, {' ', ' '}};

/* Append the ranges of shorthand letter `c` (d w s, or D W S for the
 * complement over all code points) to the current class. */
static int add_shorthand(parser_t *p, uint8_t c)
{
    const uint32_t(*r)[2];
    size_t n;
    switch (c | 0x20) {
    case 'd': r = sh_digit, n = MQR__ARRAY_LEN(sh_digit); break;
    case 'w': r = sh_word, n = MQR__ARRAY_LEN(sh_word); break;
    default: r = sh_space, n = MQR__ARRAY_LEN(sh_space); break;
    }
    if (c >= 'a') {
        for (size_t i = 0; i < n; i++)
            if (!add_range(p, r[i][0], r[i][1]))
                return 0;
        return 1;
    }
    uint32_t lo = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i][0] > lo && !add_range(p, lo, r[i][0] - 1))
            return 0;
        lo = r[i][1] + 1;
    }
    return add_range(p, lo, MQR_UNICODE_MAX);
}

/* Start a class whose ranges are appended next; returns its index. */
static uint32_t begin_class(parser_t *p, int negated)
{
    if (!grow(p, (void **)&p->classes, p->nclass, &p->cap_class, sizeof(cls_t)))
        return NONE;
    p->classes[p->nclass].first = p->nrange;
    p->classes[p->nclass].count = 0;
    p->classes[p->nclass].negated = (uint32_t)negated;
    return p->nclass++;
}

static void end_class(parser_t *p, uint32_t ci)
{
    p->classes[ci].count = p->nrange - p->classes[ci].first;
}

/* The code point at p->pos (pattern validated as UTF-8 beforehand) and its
 * length in *n. */
static uint32_t peek_cp(const parser_t *p, size_t *n)
{
    uint32_t cp = 0;
    *n = mqr__utf8_decode(p->s + p->pos, p->len - p->pos, &cp);
    return cp;
}

static int at(const parser_t *p, char c)
{
    return p->pos < p->len && p->s[p->pos] == (uint8_t)c;
}

/* Escape results besides a literal code point. */
enum { ESC_CHAR, ESC_SHORTHAND, ESC_ASSERT, ESC_ERROR };

/*
 * escape := '\' ( [dDwWsS] | [bBAzZ] | [ntrfea] | '0' oct{0,2} | 'x' hex{1,2}
 *                | 'x{' hex+ '}' | non-alphanumeric )
 * p->pos is on the backslash. Sets *out to the code point (ESC_CHAR), the
 * shorthand letter (ESC_SHORTHAND) or the assertion kind (ESC_ASSERT). In a
 * class, \b is backspace and assertions are errors.
 */
static int parse_escape(parser_t *p, int in_class, uint32_t *out)
{
    size_t start = p->pos++;
    if (p->pos >= p->len) {
        perr(p, MQR_EINVAL, start, "pattern ends with a backslash");
        return ESC_ERROR;
    }
    uint8_t c = p->s[p->pos];
    int alnum = ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9');
    if (c >= 0x80 || !alnum) {
        size_t n;
        *out = peek_cp(p, &n);
        p->pos += n;
        return ESC_CHAR;
    }
    p->pos++;
    switch (c) {
    case 'd': case 'D': case 'w': case 'W': case 's': case 'S':
        *out = c;
        return ESC_SHORTHAND;
    case 'n': *out = '\n'; return ESC_CHAR;
    case 't': *out = '\t'; return ESC_CHAR;
    case 'r': *out = '\r'; return ESC_CHAR;
    case 'f': *out = '\f'; return ESC_CHAR;
    case 'e': *out = 0x1B; return ESC_CHAR;
    case 'a': *out = 0x07; return ESC_CHAR;
    case '0': {
        uint32_t v = 0;
        for (int i = 0; i < 2 && p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '7'; i++)
            v = v * 8 + (uint32_t)(p->s[p->pos++] - '0');
        *out = v;
        return ESC_CHAR;
    }
    case 'x': {
        uint32_t v = 0;
        int digits = 0;
        if (at(p, '{')) {
            p->pos++;
            while (p->pos < p->len && mqr__hex_value(p->s[p->pos]) >= 0 && digits < 7)
                v = v * 16 + (uint32_t)mqr__hex_value(p->s[p->pos++]), digits++;
            if (!at(p, '}') || digits == 0) {
                perr(p, MQR_EINVAL, start, "malformed \\x{...} escape");
                return ESC_ERROR;
            }
            p->pos++;
            if (v > MQR_UNICODE_MAX || (v >= 0xD800 && v <= 0xDFFF)) {
                perr(p, MQR_EINVAL, start, "\\x{...} is not a Unicode scalar value");
                return ESC_ERROR;
            }
        } else {
            while (digits < 2 && p->pos < p->len && mqr__hex_value(p->s[p->pos]) >= 0)
                v = v * 16 + (uint32_t)mqr__hex_value(p->s[p->pos++]), digits++;
            if (digits == 0) {
                perr(p, MQR_EINVAL, start, "\\x needs hex digits");
                return ESC_ERROR;
            }
        }
        *out = v;
        return ESC_CHAR;
    }
    case 'b':
        if (in_class) {
            *out = 0x08;
            return ESC_CHAR;
        }
        *out = AS_WORDB;
        return ESC_ASSERT;
    case 'B': *out = AS_NWORDB; break;
    case 'A': *out = AS_BOT; break;
    case 'z': *out = AS_EOT; break;
    case 'Z': *out = AS_EOT_NL; break;
    default: {
        char msg[48];
        const char *what = "unknown escape";
        int rc = MQR_EINVAL;
        if (c >= '1' && c <= '9')
            what = "backreferences are not supported:", rc = MQR_ENOTSUP;
        else if (strchr("gkGpPXRCKQENhHvVcuUlL", c))
            what = "escape not supported:", rc = MQR_ENOTSUP;
        snprintf(msg, sizeof msg, "%s \\%c", what, c);
        perr(p, rc, start, msg);
        return ESC_ERROR;
    }
    }
    if (in_class) {
        perr(p, MQR_EINVAL, start, "assertion inside a character class");
        return ESC_ERROR;
    }
    return ESC_ASSERT;
}

/*
 * class := '[' '^'? ']'? item* ']'
 * item  := ( char | escape ) ( '-' ( char | escape ) )?
 * p->pos is on '['. A ']' right after '[' or '[^' is literal, as is '-' first,
 * last or after a range or shorthand. POSIX [:name:] is not supported.
 */
static uint32_t parse_class(parser_t *p)
{
    size_t start = p->pos++;
    int negated = at(p, '^');
    if (negated)
        p->pos++;
    uint32_t ci = begin_class(p, negated);
    if (ci == NONE)
        return NONE;
    int first = 1;
    for (;;) {
        if (p->pos >= p->len)
            return perr(p, MQR_EINVAL, start, "missing ']'");
        if (at(p, ']') && !first)
            break;
        first = 0;
        if (at(p, '[') && p->pos + 1 < p->len &&
            (p->s[p->pos + 1] == ':' || p->s[p->pos + 1] == '=' || p->s[p->pos + 1] == '.'))
            return perr(p, MQR_ENOTSUP, p->pos, "POSIX classes are not supported");
        size_t item = p->pos, n;
        uint32_t lo;
        if (at(p, '\\')) {
            int k = parse_escape(p, 1, &lo);
            if (k == ESC_ERROR)
                return NONE;
            if (k == ESC_SHORTHAND) {
                if (!add_shorthand(p, (uint8_t)lo))
                    return NONE;
                continue;
            }
        } else {
            lo = peek_cp(p, &n);
            p->pos += n;
        }
        uint32_t hi = lo;
        if (at(p, '-') && p->pos + 1 < p->len && p->s[p->pos + 1] != ']') {
            p->pos++;
            if (at(p, '\\')) {
                int k = parse_escape(p, 1, &hi);
                if (k == ESC_ERROR)
                    return NONE;
                if (k == ESC_SHORTHAND) { /* [a-\d]: '-' is literal */
                    if (!add_range(p, lo, lo) || !add_range(p, '-', '-') ||
                        !add_shorthand(p, (uint8_t)hi))
                        return NONE;
                    continue;
                }
            } else {
                hi = peek_cp(p, &n);
                p->pos += n;
            }
            if (hi < lo)
                return perr(p, MQR_EINVAL, item, "range out of order in character class");
        }
        if (!add_range(p, lo, hi))
            return NONE;
    }
    p->pos++; /* ']' */
    end_class(p, ci);
    return new_node(p, N_CLASS, ci);
}

static uint32_t parse_alt(parser_t *p);

/*
 * group := '(' ( '?:' | '?<' name '>' | '?P<' name '>' )? alt ')'
 *        | '(?' [ims]+ ')'            only at the very start of the pattern
 * p->pos is on '('. Lookaround, atomic groups, comments and other (?...)
 * forms are reported as not supported.
 */
static uint32_t parse_group(parser_t *p)
{
    size_t start = p->pos++;
    int capture = 1;
    if (at(p, '?')) {
        p->pos++;
        uint8_t c = p->pos < p->len ? p->s[p->pos] : 0;
        uint8_t c2 = p->pos + 1 < p->len ? p->s[p->pos + 1] : 0;
        if (c == ':') {
            capture = 0;
            p->pos++;
        } else if (c == '=' || c == '!' || (c == '<' && (c2 == '=' || c2 == '!'))) {
            return perr(p, MQR_ENOTSUP, start, "lookaround assertions are not supported");
        } else if (c == '<' || (c == 'P' && c2 == '<')) {
            p->pos += c == 'P' ? 2 : 1;
            size_t name = p->pos;
            while (p->pos < p->len && is_word(p->s[p->pos]))
                p->pos++;
            if (p->pos == name || !at(p, '>'))
                return perr(p, MQR_EINVAL, start, "malformed group name");
            p->pos++;
        } else if (c == 'i' || c == 'm' || c == 's') {
            if (start != 0)
                return perr(p, MQR_ENOTSUP, start,
                            "inline flags are only supported at the start of the pattern");
            while (p->pos < p->len && strchr("ims", p->s[p->pos]) && p->s[p->pos]) {
                uint8_t f = p->s[p->pos++];
                if (f == 'i')
                    p->icase = 1;
                else if (f == 'm')
                    p->multiline = 1;
                else
                    p->dotall = 1;
            }
            if (!at(p, ')'))
                return perr(p, MQR_ENOTSUP, start, "only (?i), (?m) and (?s) flags are supported");
            p->pos++;
            return new_node(p, N_FLAGS, 0);
        } else if (c == 0 || c == ')') {
            return perr(p, MQR_EINVAL, start, "'(?' without a group kind");
        } else {
            return perr(p, MQR_ENOTSUP, start, "this (? group is not supported");
        }
    }
    if (++p->depth > MQR_REGEX_MAX_DEPTH)
        return perr(p, MQR_ELIMIT, start, "groups nested too deeply");
    uint32_t group = 0;
    if (capture) {
        if (p->ngroups >= MQR_REGEX_MAX_GROUPS)
            return perr(p, MQR_ELIMIT, start, "too many capturing groups");
        group = ++p->ngroups;
    }
    uint32_t inner = parse_alt(p);
    if (inner == NONE)
        return NONE;
    if (!at(p, ')'))
        return perr(p, MQR_EINVAL, start, "missing ')'");
    p->pos++;
    p->depth--;
    if (!capture)
        return inner;
    uint32_t g = new_node(p, N_GROUP, group);
    if (g != NONE)
        p->nodes[g].child = inner;
    return g;
}

/* Read a decimal number of at most MQR_REGEX_MAX_REPEAT + 1 into *v. */
static int read_count(parser_t *p, uint32_t *v)
{
    size_t s = p->pos;
    *v = 0;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        if (*v <= MQR_REGEX_MAX_REPEAT)
            *v = *v * 10 + (p->s[p->pos] - '0');
        p->pos++;
    }
    return p->pos > s;
}

/*
 * brace := '{' digits ( ',' digits? )? '}'
 * Returns 1 and advances past it when p->pos starts a valid counted
 * quantifier; 0 (position unchanged) when '{' is a literal, as in PCRE.
 */
static int parse_brace(parser_t *p, uint32_t *min, uint32_t *max)
{
    size_t save = p->pos;
    p->pos++;
    if (!read_count(p, min))
        goto literal;
    *max = *min;
    if (at(p, ',')) {
        p->pos++;
        if (!read_count(p, max))
            *max = REPEAT_INF;
    }
    if (!at(p, '}'))
        goto literal;
    p->pos++;
    return 1;
literal:
    p->pos = save;
    return 0;
}

/* Is p->pos on a quantifier? Leaves the position unchanged. */
static int at_quantifier(parser_t *p)
{
    if (at(p, '*') || at(p, '+') || at(p, '?'))
        return 1;
    uint32_t a, b;
    size_t save = p->pos;
    int r = at(p, '{') && parse_brace(p, &a, &b);
    p->pos = save;
    return r;
}

/*
 * atom := '(' group | '[' class | '.' | '^' | '$' | escape | literal
 */
static uint32_t parse_atom(parser_t *p)
{
    size_t n;
    uint32_t cp = peek_cp(p, &n), v;
    switch (cp) {
    case '(': return parse_group(p);
    case '[': return parse_class(p);
    case '.': p->pos++; return new_node(p, N_ANY, 0);
    case '^': p->pos++; return new_node(p, N_ASSERT, p->multiline ? AS_BOL_ML : AS_BOL);
    case '$': p->pos++; return new_node(p, N_ASSERT, p->multiline ? AS_EOL_ML : AS_EOL);
    case '\\': {
        int k = parse_escape(p, 0, &v);
        if (k == ESC_ERROR)
            return NONE;
        if (k == ESC_ASSERT)
            return new_node(p, N_ASSERT, v);
        if (k == ESC_CHAR)
            return new_node(p, N_CHAR, v);
        uint32_t ci = begin_class(p, 0);
        if (ci == NONE || !add_shorthand(p, (uint8_t)v))
            return NONE;
        end_class(p, ci);
        return new_node(p, N_CLASS, ci);
    }
    default:
        if (at_quantifier(p))
            return perr(p, MQR_EINVAL, p->pos, "quantifier does not follow a repeatable item");
        p->pos += n;
        return new_node(p, N_CHAR, cp);
    }
}

/* Can node `n` match the empty string? */
static int nullable(const parser_t *p, uint32_t n)
{
    const node_t *nd = &p->nodes[n];
    switch (nd->kind) {
    case N_EMPTY: case N_FLAGS: case N_ASSERT: return 1;
    case N_CHAR: case N_ANY: case N_CLASS: return 0;
    case N_CAT:
        for (uint32_t c = nd->child; c != NONE; c = p->nodes[c].next)
            if (!nullable(p, c))
                return 0;
        return 1;
    case N_ALT:
        for (uint32_t c = nd->child; c != NONE; c = p->nodes[c].next)
            if (nullable(p, c))
                return 1;
        return 0;
    case N_GROUP: return nullable(p, nd->child);
    default: return nd->a == 0 || nullable(p, nd->child);
    }
}

/*
 * repeat := atom ( ( '*' | '+' | '?' | brace ) '?'? )?
 * A possessive '+' after a quantifier is not supported; a second quantifier
 * is an error.
 */
static uint32_t parse_repeat(parser_t *p)
{
    uint32_t atom = parse_atom(p);
    if (atom == NONE || !at_quantifier(p))
        return atom;
    size_t qpos = p->pos;
    uint8_t kind = p->nodes[atom].kind;
    if (kind == N_ASSERT || kind == N_FLAGS)
        return perr(p, MQR_EINVAL, qpos, "quantifier does not follow a repeatable item");
    uint32_t min = 0, max = REPEAT_INF;
    if (at(p, '*')) {
        p->pos++;
    } else if (at(p, '+')) {
        p->pos++, min = 1;
    } else if (at(p, '?')) {
        p->pos++, max = 1;
    } else {
        parse_brace(p, &min, &max);
        if (min > MQR_REGEX_MAX_REPEAT || (max != REPEAT_INF && max > MQR_REGEX_MAX_REPEAT))
            return perr(p, MQR_ELIMIT, qpos, "repeat count above 1000");
        if (max < min)
            return perr(p, MQR_EINVAL, qpos, "numbers out of order in {} quantifier");
    }
    int greedy = 1;
    if (at(p, '?')) {
        p->pos++;
        greedy = 0;
    } else if (at(p, '+')) {
        return perr(p, MQR_ENOTSUP, p->pos, "possessive quantifiers are not supported");
    }
    if (at_quantifier(p))
        return perr(p, MQR_EINVAL, p->pos, "nested quantifier");
    uint32_t r = new_node(p, N_REPEAT, min);
    if (r == NONE)
        return NONE;
    p->nodes[r].b = max;
    p->nodes[r].greedy = (uint8_t)greedy;
    p->nodes[r].child = atom;
    if ((max == REPEAT_INF || max > min) && nullable(p, atom)) {
        if (p->nloops >= MQR_REGEX_MAX_GROUPS)
            return perr(p, MQR_ELIMIT, qpos, "too many repeats of empty-matching items");
        p->nodes[r].loop = p->nloops++;
    }
    return r;
}

/* Build a CAT or ALT node from a sibling chain, or return the single node. */
static uint32_t join(parser_t *p, int kind, uint32_t first, uint32_t count)
{
    if (count == 0)
        return new_node(p, N_EMPTY, 0);
    if (count == 1)
        return first;
    uint32_t n = new_node(p, kind, 0);
    if (n != NONE)
        p->nodes[n].child = first;
    return n;
}

/* concat := repeat* */
static uint32_t parse_cat(parser_t *p)
{
    uint32_t first = NONE, last = NONE, count = 0;
    while (p->pos < p->len && !at(p, '|') && !at(p, ')')) {
        uint32_t n = parse_repeat(p);
        if (n == NONE)
            return NONE;
        if (p->nodes[n].kind == N_FLAGS)
            continue;
        if (last == NONE)
            first = n;
        else
            p->nodes[last].next = n;
        last = n;
        count++;
    }
    return join(p, N_CAT, first, count);
}

/* alt := concat ( '|' concat )* */
static uint32_t parse_alt(parser_t *p)
{
    uint32_t first = parse_cat(p), last = first, count = 1;
    if (first == NONE)
        return NONE;
    while (at(p, '|')) {
        p->pos++;
        uint32_t n = parse_cat(p);
        if (n == NONE)
            return NONE;
        p->nodes[last].next = n;
        last = n;
        count++;
    }
    return join(p, N_ALT, first, count);
}

/* ---- compile -------------------------------------------------------------------- */

/* Instructions node `n` emits, saturating above MQR_REGEX_MAX_INSTS. */
static uint64_t node_size(const parser_t *p, uint32_t n)
{
    const node_t *nd = &p->nodes[n];
    uint64_t s = 0, cap = MQR_REGEX_MAX_INSTS + 1;
    switch (nd->kind) {
    case N_EMPTY: case N_FLAGS: return 0;
    case N_CHAR: case N_ANY: case N_CLASS: case N_ASSERT: return 1;
    case N_CAT:
    case N_ALT:
        for (uint32_t c = nd->child; c != NONE; c = p->nodes[c].next) {
            s += node_size(p, c) + (nd->kind == N_ALT ? 2 : 0);
            if (s > cap)
                return cap;
        }
        return nd->kind == N_ALT ? s - 2 : s;
    case N_GROUP: return node_size(p, nd->child) + 2;
    default: { /* N_REPEAT */
        uint64_t x = node_size(p, nd->child);
        uint64_t guard = nd->loop != NONE ? 2 : 0; /* SAVE + LOOP per optional copy */
        if (nd->b == REPEAT_INF && guard) /* see emit_loop */
            s = (uint64_t)(nd->a ? nd->a - 1 : 0) * x + 2 * (x + 3) + (nd->a == 0);
        else if (nd->b == REPEAT_INF)
            s = nd->a == 0 ? x + 2 : (uint64_t)(nd->a - 1) * x + x + 1;
        else
            s = (uint64_t)nd->a * x + (uint64_t)(nd->b - nd->a) * (x + 1 + guard);
        return s > cap ? cap : s;
    }
    }
}

typedef struct emitter {
    const parser_t *p;
    inst_t *insts;
    uint32_t n;
} emitter_t;

static uint32_t put(emitter_t *e, int op, uint32_t arg, uint32_t x, uint32_t y)
{
    inst_t *i = &e->insts[e->n];
    i->op = (uint8_t)op;
    i->icase = 0;
    i->arg = arg;
    i->x = x;
    i->y = y;
    return e->n++;
}

/* A case-insensitive literal is stored folded; the VM folds the subject. */
static uint32_t fold(uint32_t cp)
{
    return mqr__unicode_lower(mqr__unicode_upper(cp));
}

/* Point every instruction of a patch chain at `target`. The chain runs
 * through the field that is to be patched (`in_y`: y, else x). */
static void patch(emitter_t *e, uint32_t head, int in_y, uint32_t target)
{
    while (head != NONE) {
        uint32_t *f = in_y ? &e->insts[head].y : &e->insts[head].x;
        head = *f;
        *f = target;
    }
}

static void emit(emitter_t *e, uint32_t n);

/* Point SPLIT `i` at `body` and `out`, preferring `body` if greedy. */
static void set_split(emitter_t *e, uint32_t i, int greedy, uint32_t body, uint32_t out)
{
    e->insts[i].x = greedy ? body : out;
    e->insts[i].y = greedy ? out : body;
}

/*
 * An unbounded repeat whose operand can match empty stops, as in PCRE, after
 * an iteration that matched nothing, instead of looping:
 *   [F: SPLIT L1, out]  (only for min 0)
 *   L1: SAVE hidden; operand copy 1; LOOP hidden -> out if empty, else S1
 *   S1: SPLIT L2, out
 *   L2: SAVE hidden; operand copy 2; LOOP hidden -> out if empty, else S2
 *   S2: SPLIT L1, out
 * The hidden slot holds where the iteration started. Iterations alternate
 * between two copies of the operand so that the empty iteration PCRE tries
 * after a non-empty one does not run into the program positions the
 * non-empty one has just passed at the same subject position (a Pike VM
 * visits each position once per step); one copy would lose it.
 */
static void emit_loop(emitter_t *e, const node_t *nd)
{
    int g = nd->greedy;
    uint32_t slot = 2 * (e->p->ngroups + 1) + nd->loop, first = NONE, l[2], lp[2], sp[2];
    for (uint32_t i = 1; i < nd->a; i++)
        emit(e, nd->child);
    if (nd->a == 0)
        first = put(e, OP_SPLIT, 0, 0, 0);
    for (int c = 0; c < 2; c++) {
        l[c] = put(e, OP_SAVE, slot, 0, 0);
        emit(e, nd->child);
        lp[c] = put(e, OP_LOOP, slot, 0, e->n + 1);
        sp[c] = put(e, OP_SPLIT, 0, 0, 0);
    }
    uint32_t out = e->n;
    for (int c = 0; c < 2; c++) {
        e->insts[lp[c]].x = out;
        set_split(e, sp[c], g, l[1 - c], out);
    }
    if (first != NONE)
        set_split(e, first, g, l[0], out);
}

/* x{min,max} with max finite: x repeated min times, then max - min nested
 * optional copies whose skip branches all go to the end; when x can match
 * empty, each optional copy is guarded by SAVE/LOOP so that an empty
 * iteration also goes to the end. Unbounded repeats: see emit_loop. */
static void emit_repeat(emitter_t *e, const node_t *nd)
{
    int g = nd->greedy;
    uint32_t i, chain = NONE, empty_exits = NONE;
    if (nd->b == REPEAT_INF && nd->loop != NONE) {
        emit_loop(e, nd);
        return;
    }
    if (nd->b == REPEAT_INF) {
        for (i = 1; i < nd->a; i++)
            emit(e, nd->child);
        if (nd->a == 0) { /* L: SPLIT body, out; body; JMP L */
            uint32_t l = put(e, OP_SPLIT, 0, NONE, NONE);
            emit(e, nd->child);
            put(e, OP_JMP, 0, l, 0);
            e->insts[l].x = g ? l + 1 : e->n;
            e->insts[l].y = g ? e->n : l + 1;
        } else { /* L: body; SPLIT L, out */
            uint32_t l = e->n;
            emit(e, nd->child);
            put(e, OP_SPLIT, 0, g ? l : e->n + 1, g ? e->n + 1 : l);
        }
        return;
    }
    for (i = 0; i < nd->a; i++)
        emit(e, nd->child);
    for (; i < nd->b; i++) {
        uint32_t s = put(e, OP_SPLIT, 0, g ? e->n + 1 : chain, g ? chain : e->n + 1);
        chain = s;
        if (nd->loop == NONE) {
            emit(e, nd->child);
            continue;
        }
        /* an empty optional iteration ends the repeat, as in PCRE */
        uint32_t slot = 2 * (e->p->ngroups + 1) + nd->loop;
        put(e, OP_SAVE, slot, 0, 0);
        emit(e, nd->child);
        empty_exits = put(e, OP_LOOP, slot, empty_exits, e->n + 1);
    }
    patch(e, chain, g, e->n);
    patch(e, empty_exits, 0, e->n);
}

/* Emit node `n` at e->n; node_size() said exactly how much room it takes. */
static void emit(emitter_t *e, uint32_t n)
{
    const node_t *nd = &e->p->nodes[n];
    uint32_t i;
    switch (nd->kind) {
    case N_EMPTY: case N_FLAGS: break;
    case N_CHAR:
        i = put(e, OP_CHAR, e->p->icase ? fold(nd->a) : nd->a, 0, 0);
        e->insts[i].icase = (uint8_t)e->p->icase;
        break;
    case N_ANY:
        i = put(e, OP_ANY, 0, 0, 0);
        e->insts[i].icase = (uint8_t)e->p->dotall;
        break;
    case N_CLASS:
        i = put(e, OP_CLASS, nd->a, 0, 0);
        e->insts[i].icase = (uint8_t)e->p->icase;
        break;
    case N_ASSERT: put(e, OP_ASSERT, nd->a, 0, 0); break;
    case N_CAT:
        for (uint32_t c = nd->child; c != NONE; c = e->p->nodes[c].next)
            emit(e, c);
        break;
    case N_ALT: { /* SPLIT L1, next; L1: a; JMP end; next: SPLIT ... ; last */
        uint32_t jumps = NONE;
        for (uint32_t c = nd->child; c != NONE; c = e->p->nodes[c].next) {
            if (e->p->nodes[c].next == NONE) {
                emit(e, c);
                break;
            }
            uint32_t s = put(e, OP_SPLIT, 0, e->n + 1, 0);
            emit(e, c);
            jumps = put(e, OP_JMP, 0, jumps, 0);
            e->insts[s].y = e->n;
        }
        patch(e, jumps, 0, e->n);
        break;
    }
    case N_GROUP:
        put(e, OP_SAVE, 2 * nd->a, 0, 0);
        emit(e, nd->child);
        put(e, OP_SAVE, 2 * nd->a + 1, 0, 0);
        break;
    default: emit_repeat(e, nd); break;
    }
}

static void parser_release(parser_t *p)
{
    mqr__free(p->a, p->nodes, (size_t)p->cap_nodes * sizeof(node_t));
    mqr__free(p->a, p->classes, (size_t)p->cap_class * sizeof(cls_t));
    mqr__free(p->a, p->ranges, (size_t)p->cap_range * sizeof p->ranges[0]);
}

/* The first byte of every match, when the program starts (after SAVEs)
 * with a case-sensitive literal; NONE otherwise. The VM uses it to skip
 * through the subject with memchr while no thread is alive. */
static uint32_t first_byte(const mqr__regex_t *re)
{
    uint32_t pc = 0;
    while (re->insts[pc].op == OP_SAVE)
        pc++;
    const inst_t *in = &re->insts[pc];
    if (in->op != OP_CHAR || in->icase)
        return NONE;
    uint8_t enc[4];
    return mqr__utf8_encode(in->arg, enc) ? enc[0] : NONE;
}

/* Lay the program, classes and ranges out in one allocation. */
static int build(parser_t *p, uint32_t root, mqr__regex_t **out_re)
{
    uint64_t body = node_size(p, root);
    if (body + 3 > MQR_REGEX_MAX_INSTS)
        return perr(p, MQR_ELIMIT, 0, "program too large (repeat counts multiply)"), MQR_ELIMIT;
    uint32_t ninst = (uint32_t)body + 3;
    if ((uint64_t)ninst * (2 * (p->ngroups + 1) + p->nloops) > MQR__REGEX_MAX_STATE)
        return perr(p, MQR_ELIMIT, 0, "program too large for its number of groups"), MQR_ELIMIT;
    size_t size = sizeof(mqr__regex_t) + (size_t)ninst * sizeof(inst_t) +
                  (size_t)p->nclass * sizeof(cls_t) + (size_t)p->nrange * sizeof p->ranges[0];
    mqr__regex_t *re = mqr__alloc(p->a, size);
    if (!re)
        return perr(p, MQR_ENOMEM, 0, "out of memory"), MQR_ENOMEM;
    memset(re, 0, sizeof *re);
    if (p->a)
        re->alloc = *p->a;
    re->alloc_size = size;
    re->ninst = ninst;
    re->ngroups = p->ngroups;
    re->nloops = p->nloops;
    re->nclass = p->nclass;
    re->nrange = p->nrange;
    re->insts = (inst_t *)(re + 1);
    re->classes = (cls_t *)(re->insts + ninst);
    re->ranges = (uint32_t(*)[2])(void *)(re->classes + p->nclass);
    if (p->nclass)
        memcpy(re->classes, p->classes, (size_t)p->nclass * sizeof(cls_t));
    if (p->nrange)
        memcpy(re->ranges, p->ranges, (size_t)p->nrange * sizeof p->ranges[0]);
    emitter_t e = {p, re->insts, 0};
    put(&e, OP_SAVE, 0, 0, 0);
    emit(&e, root);
    put(&e, OP_SAVE, 1, 0, 0);
    put(&e, OP_MATCH, 0, 0, 0);
    re->first_byte = first_byte(re);
    *out_re = re;
    return MQR_OK;
}

int mqr__regex_compile(const char *pattern, size_t len, const mqr_allocator_t *a,
                       mqr__regex_t **out_re, mqr_diag_t *diag)
{
    parser_t p;
    memset(&p, 0, sizeof p);
    p.s = (const uint8_t *)pattern;
    p.len = len;
    p.a = a;
    p.diag = diag;
    *out_re = NULL;
    if (!pattern && len)
        return perr(&p, MQR_EINVAL, 0, "NULL pattern"), MQR_EINVAL;
    if (len > MQR_REGEX_MAX_PATTERN)
        return perr(&p, MQR_ELIMIT, MQR_REGEX_MAX_PATTERN, "pattern longer than 8192 bytes"),
               MQR_ELIMIT;
    size_t bad;
    if (mqr__utf8_validate(p.s, len, MQR_UTF8_ALLOW_NUL, &bad) != MQR_OK)
        return perr(&p, MQR_EINVAL, bad, "invalid UTF-8 in pattern"), MQR_EINVAL;
    uint32_t root = parse_alt(&p);
    if (root != NONE && p.pos < len)
        perr(&p, MQR_EINVAL, p.pos, "unmatched ')'");
    int rc = p.err;
    if (rc == MQR_OK)
        rc = build(&p, root, out_re);
    parser_release(&p);
    return rc;
}

void mqr__regex_free(mqr__regex_t *re)
{
    if (re) {
        mqr_allocator_t a = re->alloc;
        mqr__free(&a, re, re->alloc_size);
    }
}

size_t mqr__regex_groups(const mqr__regex_t *re) { return re ? re->ngroups : 0; }

size_t mqr__regex_size(const mqr__regex_t *re) { return re ? re->ninst : 0; }

/* ---- the Pike VM ------------------------------------------------------------------ */

/* One thread list: the set of program counters already visited at this
 * position (sparse set, no clearing needed), and the threads waiting on a
 * consuming instruction or MATCH, in priority order, with their captures. */
typedef struct tlist {
    uint32_t *sparse, *dense, nvisit;
    uint32_t *pc, nthread;
    size_t *caps; /* nthread rows of k slots */
} tlist_t;

typedef struct vm {
    const mqr__regex_t *re;
    const uint8_t *s;
    size_t len, start;
    uint32_t k;         /* capture slots tracked (even, >= 2) */
    size_t *cur;        /* the captures of the thread being extended */
    uint32_t *stack_pc; /* pc, or RESTORE | slot */
    size_t *stack_old;
    uint64_t steps;
    tlist_t list[2];
} vm_t;

#define RESTORE 0x80000000u

/* Slots tracked for `ncaps` requested pairs: never fewer than the whole
 * match, never more than the pattern has; all of them, plus the hidden loop
 * slots, when the program has LOOP instructions. */
static uint32_t track_slots(const mqr__regex_t *re, size_t ncaps)
{
    if (re->nloops)
        return 2 * (re->ngroups + 1) + re->nloops;
    size_t pairs = ncaps < 1 ? 1 : ncaps;
    if (pairs > (size_t)re->ngroups + 1)
        pairs = (size_t)re->ngroups + 1;
    return (uint32_t)(2 * pairs);
}

size_t mqr__regex_scratch_size(const mqr__regex_t *re, size_t ncaps)
{
    if (!re)
        return 0;
    size_t n = re->ninst, k = track_slots(re, ncaps), stack = 2 * n + 4;
    return sizeof(size_t) * (2 * n * k + k + stack) + sizeof(uint32_t) * (6 * n + stack);
}

/* Carve the scratch buffer (size checked by the caller) into the VM's arrays. */
static void vm_layout(vm_t *m, void *scratch)
{
    size_t n = m->re->ninst, stack = 2 * n + 4;
    size_t *z = scratch;
    m->list[0].caps = z, z += n * m->k;
    m->list[1].caps = z, z += n * m->k;
    m->cur = z, z += m->k;
    m->stack_old = z, z += stack;
    uint32_t *u = (uint32_t *)z;
    for (int i = 0; i < 2; i++) {
        m->list[i].sparse = u, u += n;
        m->list[i].dense = u, u += n;
        m->list[i].pc = u, u += n;
        m->list[i].nvisit = m->list[i].nthread = 0;
        /* Zeroed once so the sparse-set test never reads indeterminate
         * memory (valgrind); correctness does not depend on it. */
        memset(m->list[i].sparse, 0, n * sizeof(uint32_t));
    }
    m->stack_pc = u;
}

/* Decode the subject code point at `pos` (pos < len); an invalid byte b is
 * returned as BAD_BYTE_BASE + b with length 1. */
static uint32_t subject_cp(const vm_t *m, size_t pos, size_t *n)
{
    uint32_t cp;
    if (m->s[pos] < 0x80) {
        *n = 1;
        return m->s[pos];
    }
    *n = mqr__utf8_decode(m->s + pos, m->len - pos, &cp);
    if (*n == 0) {
        *n = 1;
        return BAD_BYTE_BASE + m->s[pos];
    }
    return cp;
}

/* The code point that ends just before `pos` (only for \b at the start of a
 * search), or NONE at the beginning of the subject. */
static uint32_t prev_cp(const vm_t *m, size_t pos)
{
    if (pos == 0)
        return NONE;
    size_t back = 1;
    while (back < 4 && back < pos && (m->s[pos - back] & 0xC0) == 0x80)
        back++;
    size_t n;
    uint32_t cp = subject_cp(m, pos - back, &n);
    return n == back ? cp : BAD_BYTE_BASE + m->s[pos - 1];
}

/* Does assertion `kind` hold at `pos`, between code points `prev` and
 * `next` (NONE at either end of the subject)? */
static int assert_holds(const vm_t *m, uint32_t kind, size_t pos, uint32_t prev, uint32_t next)
{
    switch (kind) {
    case AS_BOL: case AS_BOT: return pos == 0;
    case AS_BOL_ML: return pos == 0 || prev == '\n';
    case AS_EOT: return pos == m->len;
    case AS_EOL: case AS_EOT_NL: return pos == m->len || (pos + 1 == m->len && next == '\n');
    case AS_EOL_ML: return pos == m->len || next == '\n';
    case AS_WORDB: return is_word(prev) != is_word(next);
    default: return is_word(prev) == is_word(next); /* AS_NWORDB */
    }
}

/*
 * Follow the non-consuming instructions from `pc` at position `pos` with the
 * captures in m->cur, adding every consuming or MATCH instruction reached to
 * `l` in priority order. SPLIT pushes its second branch; SAVE pushes the old
 * slot value so it is restored before the second branch runs. Each pc is
 * visited at most once per list, which bounds the work and breaks empty loops.
 */
static void add_thread(vm_t *m, tlist_t *l, uint32_t pc0, size_t pos, uint32_t prev,
                       uint32_t next)
{
    const inst_t *insts = m->re->insts;
    uint32_t sp = 0;
    m->stack_pc[sp++] = pc0;
    while (sp > 0) {
        uint32_t pc = m->stack_pc[--sp];
        if (pc & RESTORE) {
            m->cur[pc & ~RESTORE] = m->stack_old[sp];
            continue;
        }
        for (;;) {
            uint32_t d = l->sparse[pc];
            if (d < l->nvisit && l->dense[d] == pc)
                break;
            l->sparse[pc] = l->nvisit;
            l->dense[l->nvisit++] = pc;
            m->steps++;
            const inst_t *in = &insts[pc];
            if (in->op == OP_JMP) {
                pc = in->x;
            } else if (in->op == OP_SPLIT) {
                m->stack_pc[sp++] = in->y;
                pc = in->x;
            } else if (in->op == OP_SAVE) {
                if (in->arg < m->k) {
                    m->stack_old[sp] = m->cur[in->arg];
                    m->stack_pc[sp++] = RESTORE | in->arg;
                    m->cur[in->arg] = pos;
                }
                pc++;
            } else if (in->op == OP_LOOP) {
                pc = m->cur[in->arg] == pos ? in->x : in->y;
            } else if (in->op == OP_ASSERT) {
                if (!assert_holds(m, in->arg, pos, prev, next))
                    break;
                pc++;
            } else {
                l->pc[l->nthread] = pc;
                memcpy(l->caps + (size_t)l->nthread * m->k, m->cur, m->k * sizeof(size_t));
                l->nthread++;
                break;
            }
        }
    }
}

static int class_has(const mqr__regex_t *re, const cls_t *c, uint32_t cp)
{
    for (uint32_t i = 0; i < c->count; i++)
        if (cp >= re->ranges[c->first + i][0] && cp <= re->ranges[c->first + i][1])
            return 1;
    return 0;
}

/* Does consuming instruction `in` accept code point `cp`? */
static int consumes(const mqr__regex_t *re, const inst_t *in, uint32_t cp)
{
    switch (in->op) {
    case OP_CHAR: return in->arg == cp || (in->icase && in->arg == fold(cp));
    case OP_ANY: return in->icase || cp != '\n';
    default: { /* OP_CLASS */
        const cls_t *c = &re->classes[in->arg];
        int has = class_has(re, c, cp);
        if (!has && in->icase)
            has = class_has(re, c, mqr__unicode_lower(cp)) ||
                  class_has(re, c, mqr__unicode_upper(cp)) || class_has(re, c, fold(cp));
        return has != (int)c->negated;
    }
    }
}

/* Add a thread that starts a match at `pos` (all captures unset) to `l`,
 * at the lowest priority. */
static void start_thread(vm_t *m, tlist_t *l, size_t pos, uint32_t prev, uint32_t next)
{
    for (uint32_t i = 0; i < m->k; i++)
        m->cur[i] = MQR_REGEX_UNSET;
    add_thread(m, l, 0, pos, prev, next);
}

/* With no thread alive, a match can only start at the program's required
 * first byte (when it has one): move *pos to its next occurrence. Returns 0
 * when there is none, so no match is possible from *pos on. */
static int skip_to_first_byte(const vm_t *m, size_t *pos)
{
    if (m->re->first_byte == NONE || *pos >= m->len)
        return 1;
    const uint8_t *q = memchr(m->s + *pos, (int)m->re->first_byte, m->len - *pos);
    if (!q)
        return 0;
    *pos = (size_t)(q - m->s);
    return 1;
}

/* The VM loop: one pass over the subject from m->start, stepping every
 * thread of the current list over the code point at `pos` into the next
 * list. A MATCH ends the threads of lower priority; once a match is found no
 * new start threads are added, and the loop ends when no thread is left. */
static int vm_run(vm_t *m, unsigned flags, size_t *best)
{
    int matched = 0;
    size_t pos = m->start, clen = 0;
    int unanchored = !(flags & MQR_REGEX_ANCHORED);
    if (unanchored && !skip_to_first_byte(m, &pos))
        return 0;
    uint32_t prev = prev_cp(m, pos);
    uint32_t cp = pos < m->len ? subject_cp(m, pos, &clen) : NONE;
    tlist_t *cl = &m->list[0], *nl = &m->list[1];
    start_thread(m, cl, pos, prev, cp);
    for (;;) {
        size_t npos = pos + clen;
        uint32_t ncp = NONE;
        size_t nlen = 0;
        if (pos < m->len && npos < m->len)
            ncp = subject_cp(m, npos, &nlen);
        nl->nvisit = nl->nthread = 0;
        for (uint32_t t = 0; t < cl->nthread; t++) {
            const inst_t *in = &m->re->insts[cl->pc[t]];
            size_t *caps = cl->caps + (size_t)t * m->k;
            m->steps++;
            if (in->op == OP_MATCH) {
                if ((flags & MQR_REGEX_NOTEMPTY_ATSTART) && caps[0] == m->start &&
                    caps[1] == m->start)
                    continue;
                memcpy(best, caps, m->k * sizeof(size_t));
                matched = 1;
                break; /* lower-priority threads lose */
            }
            if (cp != NONE && consumes(m->re, in, cp)) {
                memcpy(m->cur, caps, m->k * sizeof(size_t));
                add_thread(m, nl, cl->pc[t] + 1, npos, cp, ncp);
            }
        }
        if (cp == NONE)
            break;
        prev = cp;
        if (!matched && unanchored) {
            if (nl->nthread == 0 && npos < m->len && m->s[npos] != m->re->first_byte) {
                if (!skip_to_first_byte(m, &npos))
                    break;
                prev = prev_cp(m, npos);
                ncp = subject_cp(m, npos, &nlen);
            }
            start_thread(m, nl, npos, prev, ncp);
        }
        if (nl->nthread == 0 && (matched || !unanchored))
            break;
        tlist_t *tmp = cl;
        cl = nl, nl = tmp;
        pos = npos, cp = ncp, clen = nlen;
    }
    return matched;
}

int mqr__regex_exec(const mqr__regex_t *re, const char *subject, size_t len, size_t start,
                    unsigned flags, size_t *caps, size_t ncaps, void *scratch,
                    size_t scratch_len, uint64_t *out_steps)
{
    if (out_steps)
        *out_steps = 0;
    if (!re || start > len || (!subject && len) || (!caps && ncaps) ||
        !scratch || scratch_len < mqr__regex_scratch_size(re, ncaps))
        return MQR_EINVAL;
    vm_t m;
    m.re = re;
    m.s = (const uint8_t *)subject;
    m.len = len;
    m.start = start;
    m.k = track_slots(re, ncaps);
    m.steps = 0;
    vm_layout(&m, scratch);
    size_t best[2 * (MQR_REGEX_MAX_GROUPS + 1) + MQR_REGEX_MAX_GROUPS];
    int matched = vm_run(&m, flags, best);
    if (out_steps)
        *out_steps = m.steps;
    if (!matched)
        return MQR_NO_MATCH;
    for (size_t i = 0; i < 2 * ncaps; i++)
        caps[i] = i < m.k ? best[i] : MQR_REGEX_UNSET;
    return MQR_OK;
}

int mqr__regex_search(const mqr__regex_t *re, const char *subject, size_t len, size_t start,
                      unsigned flags, size_t *caps, size_t ncaps, uint64_t *out_steps)
{
    if (!re)
        return MQR_EINVAL;
    size_t size = mqr__regex_scratch_size(re, ncaps);
    void *scratch = mqr__alloc(&re->alloc, size);
    if (!scratch)
        return MQR_ENOMEM;
    int rc = mqr__regex_exec(re, subject, len, start, flags, caps, ncaps, scratch, size,
                             out_steps);
    mqr__free(&re->alloc, scratch, size);
    return rc;
}

/* ---- replace -------------------------------------------------------------------------- */

typedef struct sbuf {
    const mqr_allocator_t *a;
    char *p;
    size_t len, cap;
    int oom;
} sbuf_t;

/* Append n bytes, growing by doubling; after a failed allocation b->oom
 * stays set and further appends do nothing. */
static void sb_put(sbuf_t *b, const char *s, size_t n)
{
    if (b->oom || n == 0)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 64;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        char *q = mqr__realloc(b->a, b->p, b->cap, ncap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q, b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* Append the replacement template with '&', \N and \g{N} expanded. */
static void expand(sbuf_t *b, const char *subj, const size_t *caps, size_t ncaps,
                   const char *rep, size_t rep_len)
{
    for (size_t i = 0; i < rep_len; i++) {
        size_t g = SIZE_MAX;
        if (rep[i] == '&') {
            g = 0;
        } else if (rep[i] == '\\' && i + 1 < rep_len) {
            char c = rep[i + 1];
            if (c == '&' || c == '\\') {
                sb_put(b, &rep[++i], 1);
                continue;
            }
            if (c >= '0' && c <= '9') {
                g = (size_t)(c - '0');
                i++;
            } else if (c == 'g' && i + 2 < rep_len && rep[i + 2] == '{') {
                size_t j = i + 3, v = 0;
                while (j < rep_len && rep[j] >= '0' && rep[j] <= '9' && v < 1000)
                    v = v * 10 + (size_t)(rep[j++] - '0');
                if (j < rep_len && rep[j] == '}' && j > i + 3) {
                    g = v;
                    i = j;
                }
            }
        }
        if (g == SIZE_MAX) {
            sb_put(b, &rep[i], 1);
        } else if (g < ncaps && caps[2 * g] != MQR_REGEX_UNSET) {
            sb_put(b, subj + caps[2 * g], caps[2 * g + 1] - caps[2 * g]);
        }
    }
}

int mqr__regex_replace(const mqr__regex_t *re, const char *subject, size_t len,
                       const char *rep, size_t rep_len, const mqr_allocator_t *a, char **out,
                       size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (!re || (!subject && len) || (!rep && rep_len))
        return MQR_EINVAL;
    size_t ncaps = (size_t)re->ngroups + 1;
    size_t size = mqr__regex_scratch_size(re, ncaps);
    void *scratch = mqr__alloc(a, size);
    if (!scratch)
        return MQR_ENOMEM;
    size_t caps[2 * (MQR_REGEX_MAX_GROUPS + 1)];
    sbuf_t b = {a, NULL, 0, 0, 0};
    size_t pos = 0, last = 0;
    int notempty = 0;
    while (!b.oom) {
        unsigned fl = notempty ? MQR_REGEX_ANCHORED | MQR_REGEX_NOTEMPTY_ATSTART : 0;
        int rc = mqr__regex_exec(re, subject, len, pos, fl, caps, ncaps, scratch, size, NULL);
        if (rc != MQR_OK) {
            if (!notempty || pos >= len)
                break;
            /* no non-empty match here: step over one code point */
            uint32_t cp;
            size_t n = mqr__utf8_decode((const uint8_t *)subject + pos, len - pos, &cp);
            pos += n ? n : 1;
            notempty = 0;
            continue;
        }
        sb_put(&b, subject + last, caps[0] - last);
        expand(&b, subject, caps, ncaps, rep, rep_len);
        last = pos = caps[1];
        notempty = caps[0] == caps[1];
    }
    sb_put(&b, subject + last, len - last);
    mqr__free(a, scratch, size);
    if (!b.oom && !b.p) /* empty result: still a string */
        b.p = mqr__alloc(a, 1), b.cap = 1, b.oom = !b.p;
    if (!b.oom && b.cap != b.len + 1) {
        char *q = mqr__realloc(a, b.p, b.cap, b.len + 1);
        if (q)
            b.p = q, b.cap = b.len + 1;
        else
            b.oom = 1;
    }
    if (b.oom) {
        mqr__free(a, b.p, b.cap);
        return MQR_ENOMEM;
    }
    b.p[b.len] = '\0';
    *out = b.p;
    *out_len = b.len;
    return MQR_OK;
}
