/* SPDX-License-Identifier: MIT */
/*
 * rule_parse.c - the rule SQL parser (spec §6.2).
 *
 * One pass, in the style of Lua's lparser.c: a recursive-descent parser
 * reads tokens from rule_lex.c and emits nodes of the flat program tree
 * (rule_int.h) directly; the grammar rule sits above each parse function.
 * While it emits, it resolves what can be resolved: function names to their
 * table entries (unknown, D9-unsupported and wrong-arity calls are errors,
 * D8), constant operands to folded constants (only when evaluating them
 * succeeds, so folding never turns a run-time error into a compile error),
 * ranges and constant lists to constant arrays. rule_compile.c then finishes
 * the program.
 *
 * As in rulesql, AND, OR, NOT and IN belong to conditions (WHERE, INCASE,
 * WHEN); a SELECT field, an argument or a list item cannot use them.
 */
#include <stdio.h>
#include <string.h>

#include "regex.h"
#include "rule_int.h"

const size_t mqr__rule_vec_esize[V__COUNT] = {
    sizeof(mqr__rn_t),    sizeof(uint32_t),         sizeof(mqr__rstep_t),
    sizeof(mqr_value_t),  sizeof(const mqr__func_t *), sizeof(mqr__rfield_t),
    sizeof(mqr__rfield_t), sizeof(mqr__rsource_t),
};

/* Append one element to vector k; MQR_OK and its index, or MQR_ENOMEM. */
static int vpush(mqr__cst_t *c, int k, const void *item, uint32_t *out_idx)
{
    mqr__vec_t *v = &c->v[k];
    size_t es = mqr__rule_vec_esize[k];
    if (out_idx)
        *out_idx = 0; /* defined on failure too */
    if (v->n == v->cap) {
        uint32_t ncap = v->cap ? v->cap * 2 : 16;
        void *np = mqr__realloc(&c->r->alloc, v->p, (size_t)v->cap * es, (size_t)ncap * es);
        if (!np)
            return mqr__diag_set(c->diag, MQR_ENOMEM, "out of memory while compiling");
        v->p = np;
        v->cap = ncap;
    }
    memcpy((char *)v->p + (size_t)v->n * es, item, es);
    if (out_idx)
        *out_idx = v->n;
    v->n++;
    return MQR_OK;
}

/* Point the rule at the arrays as they are now, so the evaluator can fold. */
static void sync_rule(mqr__cst_t *c)
{
    mqr_rule_t *r = c->r;
    r->nodes = c->v[V_NODES].p;
    r->kids = c->v[V_KIDS].p;
    r->steps = c->v[V_STEPS].p;
    r->consts = c->v[V_CONSTS].p;
    r->funcs = c->v[V_FUNCS].p;
}

/* ---- errors and tokens ------------------------------------------------------------ */
static int err_tok(mqr__cst_t *c, int code, const mqr__tok_t *t, const char *fmt, ...)
    MQR__PRINTF(4, 5);
static int err_tok(mqr__cst_t *c, int code, const mqr__tok_t *t, const char *fmt, ...)
{
    char msg[MQR_DIAG_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mqr__rule_error_at(c->diag, code, t->line, t->col, t->off, "%s", msg);
}

/* "'FROM'" / "end of input": the current token as the user wrote it. */
static void tok_text(const mqr__cst_t *c, const mqr__tok_t *t, char *buf, size_t cap)
{
    if (t->kind == TK_EOF) {
        snprintf(buf, cap, "end of input");
        return;
    }
    int n = t->len > 32 ? 32 : (int)t->len;
    snprintf(buf, cap, "'%.*s%s'", n, c->sql + t->off, t->len > 32 ? "..." : "");
}

/* "expected <what> after ',' but found 'FROM'". */
static int expected(mqr__cst_t *c, const char *what)
{
    char found[48];
    tok_text(c, &c->tok, found, sizeof found);
    if (c->prev_kind == TK__COUNT)
        return err_tok(c, MQR_ESYNTAX, &c->tok, "expected %s but found %s", what, found);
    char prev[48];
    snprintf(prev, sizeof prev, "%s", mqr__rule_tok_name(c->prev_kind));
    if (c->prev_kind == TK_NAME || c->prev_kind == TK_QNAME || c->prev_kind == TK_STRING ||
        c->prev_kind == TK_INT || c->prev_kind == TK_FLOAT || c->prev_kind == TK_RANGE)
        return err_tok(c, MQR_ESYNTAX, &c->tok, "expected %s but found %s", what, found);
    return err_tok(c, MQR_ESYNTAX, &c->tok, "expected %s after %s but found %s", what, prev,
                   found);
}

static int advance(mqr__cst_t *c)
{
    c->prev_kind = c->tok.kind;
    c->prev_end = c->tok.off + c->tok.len;
    return mqr__rule_lex_next(&c->lx, &c->tok, c->diag);
}

static int accept(mqr__cst_t *c, uint32_t kind, int *rc)
{
    if (c->tok.kind != kind)
        return 0;
    *rc = advance(c);
    return 1;
}

static int expect(mqr__cst_t *c, uint32_t kind, const char *what)
{
    if (c->tok.kind != kind)
        return expected(c, what);
    return advance(c);
}

/* ---- building nodes ------------------------------------------------------------------- */
static int add_node(mqr__cst_t *c, uint8_t op, uint8_t sub, uint32_t a, uint32_t b, uint32_t off,
                    uint32_t *out)
{
    mqr__rn_t n = {op, sub, 0, a, b, 0, off};
    return vpush(c, V_NODES, &n, out);
}

static int add_const(mqr__cst_t *c, const mqr_value_t *v, uint32_t *out)
{
    return vpush(c, V_CONSTS, v, out);
}

int mqr__rule_add_string(mqr__cst_t *c, const char *s, size_t len, uint32_t *out)
{
    mqr_value_t v;
    if (mqr_value_string_copy(c->r->arena, s, len, &v) != MQR_OK)
        return mqr__diag_set(c->diag, MQR_ENOMEM, "out of memory while compiling");
    return add_const(c, &v, out);
}

/* A constant node for *v; `literal` marks a string literal (for key derivation). */
static int const_node(mqr__cst_t *c, const mqr_value_t *v, uint8_t literal, uint32_t off,
                      uint32_t *out)
{
    uint32_t k;
    int rc = add_const(c, v, &k);
    if (rc == MQR_OK)
        rc = add_node(c, OP_CONST, literal, k, 0, off, out);
    return rc;
}

/* Replace node n by a constant when it evaluates without error and every
 * child is constant. Never an error: a failing fold leaves the node as is,
 * so the exception happens at run time as in EMQX. */
static int try_fold(mqr__cst_t *c, uint32_t n, const uint32_t *kids, uint32_t nk)
{
    for (uint32_t i = 0; i < nk; i++)
        if (NODES(c)[kids[i]].op != OP_CONST)
            return MQR_OK;
    sync_rule(c);
    mqr_value_t v;
    if (mqr__rule_fold(c->r, n, &v) != MQR_OK)
        return MQR_OK;
    uint32_t k;
    int rc = add_const(c, &v, &k);
    if (rc != MQR_OK)
        return rc;
    mqr__rn_t *node = &NODES(c)[n];
    node->op = OP_CONST;
    node->sub = 0;
    node->a = k;
    node->n = 0;
    return MQR_OK;
}

/* Store a child list; *first receives the index of the first kid. */
static int add_kids(mqr__cst_t *c, const uint32_t *kids, uint32_t nk, uint32_t *first)
{
    *first = c->v[V_KIDS].n;
    for (uint32_t i = 0; i < nk; i++) {
        int rc = vpush(c, V_KIDS, &kids[i], NULL);
        if (rc != MQR_OK)
            return rc;
    }
    return MQR_OK;
}

/* A small stack-first list of node indexes for argument lists and friends. */
typedef struct nlist {
    uint32_t buf[16];
    uint32_t *p;
    uint32_t n;
    uint32_t cap;
} nlist_t;

static void nl_init(nlist_t *l)
{
    l->p = l->buf;
    l->n = 0;
    l->cap = 16;
}

static int nl_push(mqr__cst_t *c, nlist_t *l, uint32_t x)
{
    if (l->n == l->cap) {
        uint32_t ncap = l->cap * 2;
        uint32_t *np = mqr__alloc(&c->r->alloc, ncap * sizeof *np);
        if (!np)
            return mqr__diag_set(c->diag, MQR_ENOMEM, "out of memory while compiling");
        memcpy(np, l->p, l->n * sizeof *np);
        if (l->p != l->buf)
            mqr__free(&c->r->alloc, l->p, l->cap * sizeof *np);
        l->p = np;
        l->cap = ncap;
    }
    l->p[l->n++] = x;
    return MQR_OK;
}

static void nl_free(mqr__cst_t *c, nlist_t *l)
{
    if (l->p != l->buf)
        mqr__free(&c->r->alloc, l->p, l->cap * sizeof *l->p);
}

/* A node with a kid list (call, list, IN, CASE), folded when constant. */
static int list_node(mqr__cst_t *c, uint8_t op, uint8_t sub, uint32_t a, const nlist_t *l,
                     uint32_t off, int foldable, uint32_t *out)
{
    uint32_t first;
    int rc = add_kids(c, l->p, l->n, &first);
    if (rc == MQR_OK)
        rc = add_node(c, op, sub, a, first, off, out);
    if (rc != MQR_OK)
        return rc;
    NODES(c)[*out].n = (uint16_t)l->n;
    if (foldable)
        rc = try_fold(c, *out, l->p, l->n);
    return rc;
}

static int binary_node(mqr__cst_t *c, uint8_t op, uint8_t sub, uint32_t a, uint32_t b, uint32_t off,
                       uint32_t *out)
{
    int rc = add_node(c, op, sub, a, b, off, out);
    uint32_t kids[2] = {a, b};
    if (rc == MQR_OK)
        rc = try_fold(c, *out, kids, op == OP_NEG || op == OP_NOT ? 1 : 2);
    return rc;
}

/* ---- expressions ------------------------------------------------------------------- */
static int parse_expr(mqr__cst_t *c, uint32_t *out);

/* Parse an expression where conditions (AND, OR, NOT, IN) are allowed
 * (cond 1: WHERE, INCASE, WHEN) or not (cond 0: fields, arguments, lists,
 * CASE values), as rulesql's grammar has it. Parentheses keep the mode. */
static int parse_in(mqr__cst_t *c, int cond, uint32_t *out)
{
    int saved = c->cond;
    c->cond = cond;
    int rc = parse_expr(c, out);
    c->cond = saved;
    return rc;
}

static int enter(mqr__cst_t *c)
{
    if (++c->depth > c->max_depth)
        return err_tok(c, MQR_ELIMIT, &c->tok, "expression nesting deeper than %u",
                       (unsigned)c->max_depth);
    return MQR_OK;
}

/* key = NAME | QNAME | INT | SQ_STRING   (after '.') */
static int parse_key(mqr__cst_t *c, mqr__rstep_t *st)
{
    const mqr__tok_t t = c->tok;
    const char *s = c->sql + t.off;
    size_t len = t.len;
    if (t.kind == TK_QNAME || t.kind == TK_STRING) {
        s++;
        len -= 2;
    } else if (t.kind != TK_NAME && t.kind != TK_INT) {
        return expected(c, "a key");
    }
    uint32_t k;
    int rc = mqr__rule_add_string(c, s, len, &k);
    if (rc != MQR_OK)
        return rc;
    st->kind = STEP_KEY;
    st->v = (int32_t)k;
    return advance(c);
}

static int parse_path_expr(mqr__cst_t *c, uint32_t *out);

/* index = "[" ( INT | "-" INT | "+" INT | name_or_path ) "]"
 * `[-0]` is STEP_APPEND: reads find nothing, writes append. */
static int parse_index(mqr__cst_t *c, mqr__rstep_t *st)
{
    int rc = advance(c); /* '[' */
    if (rc != MQR_OK)
        return rc;
    int neg = 0;
    if (c->tok.kind == TK_MINUS || c->tok.kind == TK_PLUS) {
        neg = c->tok.kind == TK_MINUS;
        if ((rc = advance(c)) != MQR_OK)
            return rc;
        if (c->tok.kind != TK_INT)
            return expected(c, "an integer index");
    }
    if (c->tok.kind == TK_INT) {
        int64_t i = neg ? -c->tok.i : c->tok.i;
        if (i > INT32_MAX || i < -INT32_MAX)
            return err_tok(c, MQR_ESYNTAX, &c->tok, "index out of range");
        st->kind = neg && i == 0 ? STEP_APPEND : STEP_INDEX;
        st->v = (int32_t)i;
        rc = advance(c);
    } else if (c->tok.kind == TK_NAME || c->tok.kind == TK_QNAME) {
        uint32_t n = 0;
        if ((rc = enter(c)) == MQR_OK)
            rc = parse_path_expr(c, &n);
        c->depth--;
        st->kind = STEP_EXPR;
        st->v = (int32_t)n;
    } else {
        return expected(c, "an index");
    }
    if (rc != MQR_OK)
        return rc;
    return expect(c, TK_RBRACKET, "']'");
}

/* name_or_path = NAME { "." key | index }
 * Fills the base name token and the steps (in a local list the caller owns). */
typedef struct pathbuf {
    mqr__rstep_t st[32];
    uint32_t n;
} pathbuf_t;

static int parse_name_or_path(mqr__cst_t *c, mqr__tok_t *base, pathbuf_t *pb)
{
    *base = c->tok;
    pb->n = 0;
    int rc = advance(c);
    while (rc == MQR_OK && (c->tok.kind == TK_DOT || c->tok.kind == TK_LBRACKET)) {
        if (pb->n == MQR__ARRAY_LEN(pb->st))
            return err_tok(c, MQR_ELIMIT, &c->tok, "path longer than %u steps",
                           (unsigned)MQR__ARRAY_LEN(pb->st));
        if (c->tok.kind == TK_DOT) {
            if ((rc = advance(c)) != MQR_OK)
                return rc;
            rc = parse_key(c, &pb->st[pb->n]);
        } else {
            rc = parse_index(c, &pb->st[pb->n]);
        }
        pb->n++;
    }
    return rc;
}

/* The name of a name token (quotes stripped). */
static void name_of(const mqr__cst_t *c, const mqr__tok_t *t, const char **s, size_t *len)
{
    *s = c->sql + t->off;
    *len = t->len;
    if (t->kind == TK_QNAME || t->kind == TK_STRING) {
        (*s)++;
        *len -= 2;
    }
}

/* A variable node for the base name and, when there are steps, a path node. */
static int var_path_node(mqr__cst_t *c, const mqr__tok_t *base, const pathbuf_t *pb, uint32_t *out)
{
    const char *s;
    size_t len;
    name_of(c, base, &s, &len);
    uint32_t k = 0, var = 0;
    int rc = mqr__rule_add_string(c, s, len, &k);
    if (rc == MQR_OK)
        rc = add_node(c, OP_VAR, 0, k, MQR__RN_NONE, base->off, &var);
    if (rc != MQR_OK || pb->n == 0) {
        *out = var;
        return rc;
    }
    uint32_t first = c->v[V_STEPS].n;
    for (uint32_t i = 0; i < pb->n && rc == MQR_OK; i++)
        rc = vpush(c, V_STEPS, &pb->st[i], NULL);
    if (rc == MQR_OK)
        rc = add_node(c, OP_PATH, 0, var, first, base->off, out);
    if (rc == MQR_OK)
        NODES(c)[*out].n = (uint16_t)pb->n;
    return rc;
}

static int parse_path_expr(mqr__cst_t *c, uint32_t *out)
{
    mqr__tok_t base;
    pathbuf_t pb;
    int rc = parse_name_or_path(c, &base, &pb);
    if (rc == MQR_OK)
        rc = var_path_node(c, &base, &pb, out);
    return rc;
}

/* Resolve a function name to its table entry or report why it cannot be
 * called: unknown (with a suggestion), not supported (D9), or a module
 * other than emqx_rule_funcs. */
static int resolve_func(mqr__cst_t *c, const mqr__tok_t *base, const pathbuf_t *pb, uint32_t argc,
                        uint32_t *out_fi)
{
    const char *name;
    size_t len;
    name_of(c, base, &name, &len);
    if (pb->n > 0) {
        /* Mod.func(...): only EMQX's own function module is allowed. */
        int ok = pb->n == 1 && pb->st[0].kind == STEP_KEY &&
                 ((len == 15 && memcmp(name, "emqx_rule_funcs", 15) == 0) ||
                  (len == 13 && memcmp(name, "EmqxRuleFuncs", 13) == 0));
        if (!ok)
            return err_tok(c, MQR_ECOMPILE, base, "function module '%.*s' is not allowed",
                           (int)len, name);
        const mqr_value_t *kv = &CONSTS(c)[pb->st[0].v];
        name = kv->u.s;
        len = kv->len;
    }
    const mqr__func_t *f = mqr__func_find(name, len);
    if (!f) {
        if (mqr__func_is_unsupported(name, len))
            return err_tok(c, MQR_ECOMPILE, base, "function '%.*s' is not supported", (int)len,
                           name);
        const char *sug = mqr__func_suggest(name, len);
        if (sug)
            return err_tok(c, MQR_ECOMPILE, base, "unknown function '%.*s' (did you mean '%s'?)",
                           (int)len, name, sug);
        return err_tok(c, MQR_ECOMPILE, base, "unknown function '%.*s'", (int)len, name);
    }
    if (argc < f->min_args || (f->max_args != MQR__FUNC_VARIADIC && argc > f->max_args)) {
        char want[48];
        if (f->max_args == MQR__FUNC_VARIADIC)
            snprintf(want, sizeof want, "at least %u argument%s", f->min_args,
                     f->min_args == 1 ? "" : "s");
        else if (f->min_args == f->max_args)
            snprintf(want, sizeof want, "%u argument%s", f->min_args,
                     f->min_args == 1 ? "" : "s");
        else
            snprintf(want, sizeof want, "%u to %u arguments", f->min_args, f->max_args);
        return err_tok(c, MQR_ECOMPILE, base, "function '%s' takes %s but %u %s given", f->name,
                       want, (unsigned)argc, argc == 1 ? "was" : "were");
    }
    return vpush(c, V_FUNCS, &f, out_fi);
}

/* expr_list = [ expr { "," expr } ] close   (empty only when allow_empty)
 * The caller has consumed the opening token. */
static int parse_expr_list(mqr__cst_t *c, nlist_t *l, uint32_t close, const char *what,
                           int allow_empty)
{
    int rc = MQR_OK;
    if (!(allow_empty && c->tok.kind == close)) {
        for (;;) {
            uint32_t a;
            if ((rc = parse_in(c, 0, &a)) != MQR_OK || (rc = nl_push(c, l, a)) != MQR_OK)
                return rc;
            if (c->tok.kind != TK_COMMA)
                break;
            if ((rc = advance(c)) != MQR_OK)
                return rc;
        }
    }
    return expect(c, close, what);
}

/* A constant sprintf format is checked against the argument count, and a
 * constant pattern of regex_match / regex_replace / regex_extract (the
 * second argument) is compiled here once, so a bad one is a compile error
 * (D8) at the call rather than an exception on every message, with its
 * line and column. The program is freed again: rule_compile.c compiles the
 * constant patterns once more into the compiled rule, which the calls then
 * share (so such a pattern is compiled twice per rule compile, never per
 * evaluation). */
static int check_const_args(mqr__cst_t *c, const mqr__tok_t *base, const mqr__func_t *f,
                               const nlist_t *args)
{
    if (strcmp(f->name, "sprintf") == 0) {
        const mqr__rn_t *fn = &NODES(c)[args->p[0]];
        const mqr_value_t *fv = fn->op == OP_CONST ? &CONSTS(c)[fn->a] : NULL;
        char why[128];
        if (fv && fv->type == MQR_VAL_STRING &&
            mqr__func_format_check(fv->u.s, fv->len, args->n - 1, why, sizeof why) != MQR_OK)
            return err_tok(c, MQR_ECOMPILE, base, "function 'sprintf': %s", why);
        return MQR_OK;
    }
    if (strncmp(f->name, "regex_", 6) != 0 || args->n < 2)
        return MQR_OK;
    const mqr__rn_t *pn = &NODES(c)[args->p[1]];
    if (pn->op != OP_CONST)
        return MQR_OK;
    const mqr_value_t *pv = &CONSTS(c)[pn->a];
    if (pv->type != MQR_VAL_STRING)
        return MQR_OK;
    mqr__regex_t *re = NULL;
    mqr_diag_t d;
    mqr_diag_clear(&d);
    int rc = mqr__regex_compile(pv->u.s, pv->len, &c->r->alloc, &re, &d);
    mqr__regex_free(re);
    if (rc == MQR_OK)
        return MQR_OK;
    if (rc == MQR_ENOMEM)
        return mqr__diag_set(c->diag, MQR_ENOMEM, "out of memory while compiling");
    return err_tok(c, MQR_ECOMPILE, base, "function '%s': bad regular expression: %s", f->name,
                   d.message);
}

/* func_call = name_or_path "(" [ expr { "," expr } ] ")"   (at the '(') */
static int parse_call(mqr__cst_t *c, const mqr__tok_t *base, const pathbuf_t *pb, uint32_t *out)
{
    nlist_t args;
    nl_init(&args);
    int rc = advance(c); /* '(' */
    if (rc == MQR_OK)
        rc = parse_expr_list(c, &args, TK_RPAREN, "',' or ')'", 1);
    uint32_t fi = 0;
    if (rc == MQR_OK && args.n > 255)
        rc = err_tok(c, MQR_ELIMIT, base, "more than 255 arguments");
    if (rc == MQR_OK)
        rc = resolve_func(c, base, pb, args.n, &fi);
    if (rc == MQR_OK) {
        sync_rule(c);
        rc = check_const_args(c, base, c->r->funcs[fi], &args);
    }
    if (rc == MQR_OK) {
        int pure = (c->r->funcs[fi]->flags & MQR__FUNC_PURE) != 0;
        rc = list_node(c, OP_CALL, 0, fi, &args, base->off, pure, out);
    }
    nl_free(c, &args);
    return rc;
}

/* ("div" | "mod") "(" expr "," expr ")": the function forms of the operators. */
static int parse_divmod_call(mqr__cst_t *c, uint32_t *out)
{
    mqr__tok_t base = c->tok;
    base.kind = TK_NAME;
    pathbuf_t pb;
    pb.n = 0;
    int rc = advance(c);
    if (rc == MQR_OK && c->tok.kind != TK_LPAREN)
        return expected(c, "'('");
    return rc == MQR_OK ? parse_call(c, &base, &pb, out) : rc;
}

/* list = "[" [ expr { "," expr } ] "]" */
static int parse_list(mqr__cst_t *c, uint32_t *out)
{
    uint32_t off = c->tok.off;
    nlist_t items;
    nl_init(&items);
    int rc = advance(c);
    if (rc == MQR_OK)
        rc = parse_expr_list(c, &items, TK_RBRACKET, "',' or ']'", 1);
    if (rc == MQR_OK)
        rc = list_node(c, OP_LIST, 0, 0, &items, off, 1, out);
    nl_free(c, &items);
    return rc;
}

/* A range literal [a..b] as a constant array of integers. */
static int range_const(mqr__cst_t *c, uint32_t *out)
{
    const mqr__tok_t t = c->tok;
    mqr_value_t arr;
    int64_t lo = t.i, hi = t.j;
    if (hi >= lo && (uint64_t)(hi - lo) >= 1000000u)
        return err_tok(c, MQR_ELIMIT, &t, "range of more than 1000000 integers");
    size_t n = hi >= lo ? (size_t)(hi - lo + 1) : 0;
    if (mqr_value_array_new(c->r->arena, n, &arr) != MQR_OK)
        return mqr__diag_set(c->diag, MQR_ENOMEM, "out of memory while compiling");
    for (int64_t i = lo; i <= hi; i++) {
        mqr_value_t v;
        mqr_value_set_int(&v, i);
        if (mqr_value_array_push(c->r->arena, &arr, &v) != MQR_OK)
            return mqr__diag_set(c->diag, MQR_ENOMEM, "out of memory while compiling");
    }
    int rc = const_node(c, &arr, 0, t.off, out);
    return rc == MQR_OK ? advance(c) : rc;
}

static int parse_case(mqr__cst_t *c, uint32_t *out);

/* primary = literal | "(" expr ")" | list | case_expr | func_call | var_ref
 *         | range_get | ("div"|"mod") "(" arg "," arg ")" */
static int parse_primary(mqr__cst_t *c, uint32_t *out)
{
    mqr__tok_t t = c->tok;
    mqr_value_t v;
    int rc;
    switch (t.kind) {
    case TK_INT:
        mqr_value_set_int(&v, t.i);
        goto literal;
    case TK_FLOAT:
        mqr_value_set_double(&v, t.d);
        goto literal;
    case TK_TRUE:
    case TK_FALSE:
        mqr_value_set_bool(&v, t.kind == TK_TRUE);
        goto literal;
    case TK_STRING: {
        uint32_t k;
        if ((rc = mqr__rule_add_string(c, c->sql + t.off + 1, t.len - 2, &k)) != MQR_OK)
            return rc;
        if ((rc = add_node(c, OP_CONST, 1, k, 0, t.off, out)) != MQR_OK)
            return rc;
        return advance(c);
    }
    case TK_RANGE:
        return range_const(c, out);
    case TK_LPAREN:
        if ((rc = advance(c)) != MQR_OK || (rc = parse_expr(c, out)) != MQR_OK)
            return rc;
        return expect(c, TK_RPAREN, "')'");
    case TK_LBRACKET:
        return parse_list(c, out);
    case TK_CASE:
        return parse_case(c, out);
    case TK_DIV:
    case TK_MOD:
        return parse_divmod_call(c, out);
    case TK_NAME:
    case TK_QNAME: {
        mqr__tok_t base;
        pathbuf_t pb;
        if ((rc = parse_name_or_path(c, &base, &pb)) != MQR_OK)
            return rc;
        if (c->tok.kind == TK_LPAREN)
            return parse_call(c, &base, &pb, out);
        if ((rc = var_path_node(c, &base, &pb, out)) != MQR_OK)
            return rc;
        if (c->tok.kind == TK_RANGE) {
            /* range_get = name_or_path RANGE */
            int64_t lo = c->tok.i, hi = c->tok.j;
            if (lo < INT32_MIN || lo > INT32_MAX || hi < INT32_MIN || hi > INT32_MAX)
                return err_tok(c, MQR_ESYNTAX, &c->tok, "range bound out of range");
            uint32_t base_node = *out;
            if ((rc = add_node(c, OP_RANGE_GET, 0, base_node, (uint32_t)(int32_t)lo, t.off,
                               out)) != MQR_OK)
                return rc;
            NODES(c)[*out].c = (uint32_t)(int32_t)hi;
            return advance(c);
        }
        return MQR_OK;
    }
    default:
        return expected(c, "an expression");
    }
literal:
    if ((rc = const_node(c, &v, 0, t.off, out)) != MQR_OK)
        return rc;
    return advance(c);
}

/* unary = ("+"|"-") unary | primary */
static int parse_unary(mqr__cst_t *c, uint32_t *out)
{
    if (c->tok.kind != TK_MINUS && c->tok.kind != TK_PLUS)
        return parse_primary(c, out);
    int rc = enter(c);
    uint32_t off = c->tok.off;
    int neg = c->tok.kind == TK_MINUS;
    uint32_t a;
    if (rc == MQR_OK && (rc = advance(c)) == MQR_OK && (rc = parse_unary(c, &a)) == MQR_OK) {
        if (neg)
            rc = binary_node(c, OP_NEG, 0, a, 0, off, out);
        else
            *out = a;
    }
    c->depth--;
    return rc;
}

/* mul = unary { ("*"|"/"|"div"|"mod") unary } */
static int parse_mul(mqr__cst_t *c, uint32_t *out)
{
    int rc = parse_unary(c, out);
    while (rc == MQR_OK) {
        uint8_t sub;
        switch (c->tok.kind) {
        case TK_STAR: sub = AR_MUL; break;
        case TK_SLASH: sub = AR_DIV; break;
        case TK_DIV: sub = AR_IDIV; break;
        case TK_MOD: sub = AR_MOD; break;
        default: return MQR_OK;
        }
        uint32_t off = c->tok.off, b;
        if ((rc = advance(c)) == MQR_OK && (rc = parse_unary(c, &b)) == MQR_OK)
            rc = binary_node(c, OP_ARITH, sub, *out, b, off, out);
    }
    return rc;
}

/* add = mul { ("+"|"-") mul } */
static int parse_add(mqr__cst_t *c, uint32_t *out)
{
    int rc = parse_mul(c, out);
    while (rc == MQR_OK && (c->tok.kind == TK_PLUS || c->tok.kind == TK_MINUS)) {
        uint8_t sub = c->tok.kind == TK_PLUS ? AR_ADD : AR_SUB;
        uint32_t off = c->tok.off, b;
        if ((rc = advance(c)) == MQR_OK && (rc = parse_mul(c, &b)) == MQR_OK)
            rc = binary_node(c, OP_ARITH, sub, *out, b, off, out);
    }
    return rc;
}

static int cmp_of(uint32_t kind)
{
    switch (kind) {
    case TK_EQ: return CMP_EQ;
    case TK_NE: return CMP_NE;
    case TK_LT: return CMP_LT;
    case TK_LE: return CMP_LE;
    case TK_GT: return CMP_GT;
    case TK_GE: return CMP_GE;
    case TK_MATCH: return CMP_MATCH;
    case TK_TILDE_EQ: return CMP_TILDE_EQ;
    default: return -1;
    }
}

/* cmp = add [ CMP_OP add | ["NOT"] "IN" "(" expr { "," expr } ")" ]   (non-associative) */
static int parse_cmp(mqr__cst_t *c, uint32_t *out)
{
    int rc = parse_add(c, out);
    if (rc != MQR_OK)
        return rc;
    int op = cmp_of(c->tok.kind);
    if (op >= 0) {
        uint32_t off = c->tok.off, b;
        if ((rc = advance(c)) != MQR_OK || (rc = parse_add(c, &b)) != MQR_OK)
            return rc;
        if ((rc = binary_node(c, OP_CMP, (uint8_t)op, *out, b, off, out)) != MQR_OK)
            return rc;
        if (cmp_of(c->tok.kind) >= 0)
            return err_tok(c, MQR_ESYNTAX, &c->tok,
                           "comparisons do not chain: put one in parentheses");
        return MQR_OK;
    }
    if ((c->tok.kind != TK_IN && c->tok.kind != TK_NOT) || !c->cond)
        return MQR_OK;
    uint32_t off = c->tok.off;
    uint8_t negated = 0;
    if (c->tok.kind == TK_NOT) {
        negated = 1;
        if ((rc = advance(c)) != MQR_OK)
            return rc;
        if (c->tok.kind != TK_IN)
            return expected(c, "'IN'");
    }
    if ((rc = advance(c)) != MQR_OK || (rc = expect(c, TK_LPAREN, "'('")) != MQR_OK)
        return rc;
    nlist_t items; /* the subject is kid 0 */
    nl_init(&items);
    rc = nl_push(c, &items, *out);
    if (rc == MQR_OK)
        rc = parse_expr_list(c, &items, TK_RPAREN, "',' or ')'", 0);
    if (rc == MQR_OK)
        rc = list_node(c, OP_IN, negated, 0, &items, off, 1, out);
    nl_free(c, &items);
    return rc;
}

/* not = "NOT" not | cmp */
static int parse_not(mqr__cst_t *c, uint32_t *out)
{
    if (c->tok.kind != TK_NOT)
        return parse_cmp(c, out);
    uint32_t off = c->tok.off, a;
    int rc = enter(c);
    if (rc == MQR_OK && (rc = advance(c)) == MQR_OK && (rc = parse_not(c, &a)) == MQR_OK)
        rc = binary_node(c, OP_NOT, 0, a, 0, off, out);
    c->depth--;
    return rc;
}

/* and = not { "AND" not } */
static int parse_and(mqr__cst_t *c, uint32_t *out)
{
    int rc = parse_not(c, out);
    while (rc == MQR_OK && c->tok.kind == TK_AND) {
        uint32_t off = c->tok.off, b;
        if ((rc = advance(c)) == MQR_OK && (rc = parse_not(c, &b)) == MQR_OK)
            rc = binary_node(c, OP_AND, 0, *out, b, off, out);
    }
    return rc;
}

static int is_cond_word(uint32_t kind)
{
    return kind == TK_AND || kind == TK_OR || kind == TK_NOT || kind == TK_IN;
}

static int cond_not_here(mqr__cst_t *c)
{
    return err_tok(c, MQR_ESYNTAX, &c->tok,
                   "%s is only allowed in WHERE, INCASE and WHEN conditions "
                   "(use CASE WHEN ... THEN true ELSE false END)",
                   mqr__rule_tok_name(c->tok.kind));
}

/* condition = and { "OR" and }        (cond mode)
 * expr_or_cmp = add [ CMP_OP add ]     (otherwise)
 * The whole precedence ladder; depth-limited. */
static int parse_expr(mqr__cst_t *c, uint32_t *out)
{
    int rc = enter(c);
    if (rc == MQR_OK && !c->cond) {
        if (c->tok.kind == TK_NOT)
            rc = cond_not_here(c);
        else if ((rc = parse_cmp(c, out)) == MQR_OK && is_cond_word(c->tok.kind))
            rc = cond_not_here(c);
        c->depth--;
        return rc;
    }
    while (rc == MQR_OK) {
        rc = parse_and(c, out);
        while (rc == MQR_OK && c->tok.kind == TK_OR) {
            uint32_t off = c->tok.off, b;
            if ((rc = advance(c)) == MQR_OK && (rc = parse_and(c, &b)) == MQR_OK)
                rc = binary_node(c, OP_OR, 0, *out, b, off, out);
        }
        break;
    }
    c->depth--;
    return rc;
}

/* case_expr = "CASE" [ expr ] when_clause { when_clause } [ "ELSE" expr ] "END"
 * when_clause = "WHEN" expr "THEN" expr */
static int parse_case(mqr__cst_t *c, uint32_t *out)
{
    uint32_t off = c->tok.off;
    uint8_t flags = 0;
    nlist_t kids;
    nl_init(&kids);
    int rc = enter(c);
    if (rc == MQR_OK)
        rc = advance(c);
    if (rc == MQR_OK && c->tok.kind != TK_WHEN) {
        uint32_t s;
        flags |= CASEF_SUBJECT;
        if ((rc = parse_in(c, 0, &s)) == MQR_OK)
            rc = nl_push(c, &kids, s);
    }
    if (rc == MQR_OK && c->tok.kind != TK_WHEN)
        rc = expected(c, "'WHEN'");
    while (rc == MQR_OK && c->tok.kind == TK_WHEN) {
        uint32_t w, t;
        if ((rc = advance(c)) != MQR_OK || (rc = parse_in(c, 1, &w)) != MQR_OK ||
            (rc = expect(c, TK_THEN, "'THEN'")) != MQR_OK || (rc = parse_in(c, 0, &t)) != MQR_OK)
            break;
        if ((rc = nl_push(c, &kids, w)) == MQR_OK)
            rc = nl_push(c, &kids, t);
    }
    if (rc == MQR_OK && c->tok.kind == TK_ELSE) {
        uint32_t e;
        flags |= CASEF_ELSE;
        if ((rc = advance(c)) == MQR_OK && (rc = parse_in(c, 0, &e)) == MQR_OK)
            rc = nl_push(c, &kids, e);
    }
    if (rc == MQR_OK)
        rc = expect(c, TK_END, "'WHEN', 'ELSE' or 'END'");
    if (rc == MQR_OK && kids.n > UINT16_MAX)
        rc = err_tok(c, MQR_ELIMIT, &c->tok, "CASE with too many branches");
    if (rc == MQR_OK)
        rc = list_node(c, OP_CASE, flags, 0, &kids, off, 0, out);
    nl_free(c, &kids);
    c->depth--;
    return rc;
}

/* ---- fields ----------------------------------------------------------------------- */

/* Store a target path and fill f->tstep / f->tn. */
static int add_target(mqr__cst_t *c, mqr__rfield_t *f, uint32_t key, const mqr__rstep_t *st,
                      uint32_t n)
{
    mqr__rstep_t first = {STEP_KEY, (int32_t)key};
    f->tstep = c->v[V_STEPS].n;
    f->tn = n + 1;
    int rc = vpush(c, V_STEPS, &first, NULL);
    for (uint32_t i = 0; i < n && rc == MQR_OK; i++)
        rc = vpush(c, V_STEPS, &st[i], NULL);
    return rc;
}

/* The output key of a field without alias (§6.3): a name or path keeps its
 * shape, a string literal its text, a range slice its base name; anything
 * else is keyed by its SQL text as written (e.g. "1 + 2", "upper(name)"). */
static int derive_target(mqr__cst_t *c, mqr__rfield_t *f, uint32_t start, uint32_t end)
{
    const mqr__rn_t *n = &NODES(c)[f->expr];
    if (n->op == OP_VAR)
        return add_target(c, f, n->a, NULL, 0);
    if (n->op == OP_RANGE_GET)
        return add_target(c, f, NODES(c)[NODES(c)[n->a].op == OP_PATH ? NODES(c)[n->a].a : n->a].a,
                          NULL, 0);
    if (n->op == OP_CONST && n->sub == 1)
        return add_target(c, f, n->a, NULL, 0);
    if (n->op == OP_PATH) {
        const mqr__rstep_t *st = (const mqr__rstep_t *)c->v[V_STEPS].p + n->b;
        int ok = 1;
        for (uint32_t i = 0; i < n->n; i++)
            ok &= st[i].kind == STEP_KEY || st[i].kind == STEP_INDEX;
        if (ok) {
            mqr__rstep_t copy[32];
            memcpy(copy, st, n->n * sizeof *st);
            return add_target(c, f, NODES(c)[n->a].a, copy, n->n);
        }
    }
    uint32_t k;
    int rc = mqr__rule_add_string(c, c->sql + start, end - start, &k);
    return rc == MQR_OK ? add_target(c, f, k, NULL, 0) : rc;
}

/* field = "*" | expr [ [ "AS" ] name_or_path ] */
static int parse_field(mqr__cst_t *c, int kind)
{
    mqr__rfield_t f = {MQR__RN_NONE, 0, 0, c->tok.off, 0, c->v[V_NODES].n};
    int rc;
    if (c->tok.kind == TK_STAR) {
        rc = advance(c);
        return rc == MQR_OK ? vpush(c, kind, &f, NULL) : rc;
    }
    uint32_t start = c->tok.off;
    if ((rc = parse_in(c, 0, &f.expr)) != MQR_OK)
        return rc;
    uint32_t end = c->prev_end;
    int has_as = 0;
    if (c->tok.kind == TK_AS) {
        has_as = 1;
        if ((rc = advance(c)) != MQR_OK)
            return rc;
    }
    if (c->tok.kind == TK_NAME || c->tok.kind == TK_QNAME) {
        mqr__tok_t base;
        pathbuf_t pb;
        if ((rc = parse_name_or_path(c, &base, &pb)) != MQR_OK)
            return rc;
        const char *s;
        size_t len;
        name_of(c, &base, &s, &len);
        uint32_t k;
        if ((rc = mqr__rule_add_string(c, s, len, &k)) != MQR_OK)
            return rc;
        for (uint32_t i = 0; i < pb.n; i++)
            if (pb.st[i].kind == STEP_EXPR)
                return err_tok(c, MQR_ESYNTAX, &base,
                               "an alias path cannot use a variable index");
        rc = add_target(c, &f, k, pb.st, pb.n);
        f.aliased = 1;
    } else if (has_as) {
        return expected(c, "an alias");
    } else {
        rc = derive_target(c, &f, start, end);
    }
    return rc == MQR_OK ? vpush(c, kind, &f, NULL) : rc;
}

/* field_list = field { "," field } */
static int parse_fields(mqr__cst_t *c, int kind)
{
    int rc = parse_field(c, kind);
    while (rc == MQR_OK && c->tok.kind == TK_COMMA) {
        if ((rc = advance(c)) == MQR_OK)
            rc = parse_field(c, kind);
    }
    return rc;
}

/* ---- FROM ------------------------------------------------------------------------ */
static int has_prefix(const char *s, size_t len, const char *p)
{
    size_t n = strlen(p);
    return len >= n && memcmp(s, p, n) == 0;
}

/* source = QNAME | SQ_STRING | NAME */
static int parse_source(mqr__cst_t *c)
{
    mqr__tok_t t = c->tok;
    if (t.kind != TK_NAME && t.kind != TK_QNAME && t.kind != TK_STRING)
        return expected(c, "a topic");
    const char *s;
    size_t len;
    name_of(c, &t, &s, &len);
    mqr__rsource_t src;
    src.len = (uint32_t)len;
    if (has_prefix(s, len, "$events/")) {
        src.kind = MQR_RULE_SRC_EVENT;
        if (!mqr__rule_filter_valid(s, len) || !mqr__rule_events_known(s, len))
            return err_tok(c, MQR_ECOMPILE, &t, "unknown event topic '%.*s'", (int)len, s);
    } else if (has_prefix(s, len, "$bridges/") || has_prefix(s, len, "$sources/")) {
        if (c->r->flags & MQR_RULE_NO_BRIDGE_SOURCES)
            return err_tok(c, MQR_ECOMPILE, &t,
                           "'%.*s': data bridge sources have no ingress in mqttrule, so a "
                           "rule on them would never fire",
                           (int)len, s);
        src.kind = MQR_RULE_SRC_BRIDGE;
    } else {
        src.kind = MQR_RULE_SRC_TOPIC;
        if (!mqr__rule_filter_valid(s, len))
            return err_tok(c, MQR_ECOMPILE, &t, "invalid topic filter '%.*s'", (int)len, s);
    }
    char *copy = mqr_arena_alloc(c->r->arena, len + 1);
    if (!copy)
        return mqr__diag_set(c->diag, MQR_ENOMEM, "out of memory while compiling");
    memcpy(copy, s, len);
    copy[len] = '\0';
    src.s = copy;
    int rc = vpush(c, V_SOURCES, &src, NULL);
    return rc == MQR_OK ? advance(c) : rc;
}

/* from_clause = "FROM" source { "," source } */
static int parse_from(mqr__cst_t *c)
{
    int rc = expect(c, TK_FROM, c->prev_kind == TK_COMMA ? "a field" : "',' or 'FROM'");
    if (rc == MQR_OK)
        rc = parse_source(c);
    while (rc == MQR_OK && c->tok.kind == TK_COMMA)
        if ((rc = advance(c)) == MQR_OK)
            rc = parse_source(c);
    return rc;
}

/* sql = select_stmt | foreach_stmt
 * select_stmt  = "SELECT" field_list from_clause [ "WHERE" expr ]
 * foreach_stmt = "FOREACH" field_list [ "DO" field_list ] [ "INCASE" expr ]
 *                from_clause [ "WHERE" expr ] */
static int parse_statement(mqr__cst_t *c)
{
    mqr_rule_t *r = c->r;
    int rc;
    r->where = r->incase = MQR__RN_NONE;
    if (c->tok.kind == TK_FOREACH) {
        r->is_foreach = 1;
        if ((rc = advance(c)) != MQR_OK || (rc = parse_fields(c, V_FIELDS)) != MQR_OK)
            return rc;
        if (c->tok.kind == TK_DO) {
            r->has_do = 1;
            if ((rc = advance(c)) != MQR_OK || (rc = parse_fields(c, V_DOS)) != MQR_OK)
                return rc;
        }
        if (c->tok.kind == TK_INCASE) {
            if ((rc = advance(c)) != MQR_OK || (rc = parse_in(c, 1, &r->incase)) != MQR_OK)
                return rc;
        }
    } else {
        if ((rc = expect(c, TK_SELECT, "'SELECT' or 'FOREACH'")) != MQR_OK ||
            (rc = parse_fields(c, V_FIELDS)) != MQR_OK)
            return rc;
    }
    if ((rc = parse_from(c)) != MQR_OK)
        return rc;
    int has_where = 0;
    c->where_start = c->v[V_NODES].n;
    if (accept(c, TK_WHERE, &rc)) {
        has_where = 1;
        if (rc != MQR_OK || (rc = parse_in(c, 1, &r->where)) != MQR_OK)
            return rc;
    }
    if (rc != MQR_OK)
        return rc;
    if (c->tok.kind != TK_EOF)
        return expected(c, has_where ? "an operator or end of input"
                                     : "',', 'WHERE' or end of input");
    return MQR_OK;
}

int mqr__rule_parse(mqr__cst_t *c)
{
    int rc = mqr__rule_lex_next(&c->lx, &c->tok, c->diag);
    if (rc == MQR_OK && c->tok.kind == TK_EOF)
        rc = mqr__rule_error_at(c->diag, MQR_ESYNTAX, c->tok.line, c->tok.col, c->tok.off,
                                "empty SQL: expected 'SELECT' or 'FOREACH'");
    return rc == MQR_OK ? parse_statement(c) : rc;
}
