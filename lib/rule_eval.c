/* SPDX-License-Identifier: MIT */
/*
 * rule_eval.c - the rule evaluator (spec §6.3-§6.10) and the evaluation
 * scratch.
 *
 * Evaluation walks the compiled flat tree (rule_int.h) recursively: eval()
 * is one switch over the node kinds, each case documented with the semantics
 * it implements. Every intermediate value and the output are built in the
 * scratch's arena, which is reset at the start of each evaluation, so a warm
 * scratch makes no heap allocation. The rule itself is never written to.
 *
 * Names are looked up as EMQX does: fields already selected by this
 * statement first (only for names some field writes, known at compile
 * time), then the FOREACH item and FOREACH fields, then the columns (at the
 * index the compiler resolved, checked against the key, else by search),
 * then the rule's metadata. `payload.x` decodes the payload once per
 * evaluation; a path that walks into any other string decodes it on the way.
 *
 * Errors are exceptions in EMQX's sense: MQR_EEVAL with a message naming the
 * operator or function and the values, e.g. "operator '+': cannot add 1 and
 * true". Limits (steps, output bytes) give MQR_ELIMIT.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mqttrule/json.h"
#include "rule_int.h"

struct mqr_rule_scratch {
    mqr_allocator_t alloc;
    mqr_arena_t *arena;
    uint64_t rng;
    size_t json_hint; /* the last JSON output's length: the next buffer's size */
};

typedef struct ev {
    const mqr_rule_t *r;
    mqr_arena_t *arena;
    const mqr_value_t *cols; /* columns object, or NULL when folding */
    mqr_value_t *sel;        /* the output being built, or NULL */
    const mqr_value_t *fsel; /* FOREACH: its selected fields while iterating */
    const mqr_value_t *item_key;
    mqr_value_t item;
    int has_item;
    int in_where;
    const char *payload_src; /* the string the cached decode came from */
    uint32_t payload_len;
    int payload_state;       /* 0 none, 1 decoded, -1 not JSON */
    mqr_value_t payload;
    uint64_t steps;
    mqr_diag_t *diag;
    mqr__fctx_t fx;
} ev_t;

static int eval(ev_t *e, uint32_t n, mqr_value_t *out);

/* ---- messages ------------------------------------------------------------------ */

/* A short rendering of v for error messages: 1, 2.5, 'abc', true, undefined,
 * an array, an object. */
static const char *describe(const mqr_value_t *v, char *buf, size_t cap)
{
    switch (v->type) {
    case MQR_VAL_UNDEFINED: return "undefined";
    case MQR_VAL_NULL: return "null";
    case MQR_VAL_BOOL: return v->u.b ? "true" : "false";
    case MQR_VAL_INT: {
        char nb[MQR__NUMBUF];
        size_t n = mqr__fmt_int(v->u.i, nb);
        snprintf(buf, cap, "%.*s", (int)n, nb);
        return buf;
    }
    case MQR_VAL_DOUBLE: {
        char nb[MQR__NUMBUF];
        size_t n = mqr__fmt_double_json(v->u.d, nb);
        snprintf(buf, cap, "%.*s", (int)n, nb);
        return buf;
    }
    case MQR_VAL_STRING:
        snprintf(buf, cap, "'%.*s%s'", v->len > 32 ? 32 : (int)v->len, v->u.s,
                 v->len > 32 ? "..." : "");
        return buf;
    case MQR_VAL_ARRAY: return "an array";
    default: return "an object";
    }
}

static int ev_error(ev_t *e, const char *fmt, ...) MQR__PRINTF(2, 3);
static int ev_error(ev_t *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mqr__diag_vset(e->diag, MQR_EEVAL, fmt, ap);
    va_end(ap);
    return MQR_EEVAL;
}

static int ev_nomem(ev_t *e)
{
    return mqr__diag_set(e->diag, MQR_ENOMEM, "out of memory during evaluation");
}

/* ---- value helpers ---------------------------------------------------------------- */
static int is_num(const mqr_value_t *v)
{
    return v->type == MQR_VAL_INT || v->type == MQR_VAL_DOUBLE;
}

static double num_d(const mqr_value_t *v)
{
    return v->type == MQR_VAL_INT ? (double)v->u.i : v->u.d;
}

/* A plain string (not an atom): the kind '+' concatenates and §6.7 coerces. */
static int is_plain_str(const mqr_value_t *v)
{
    return v->type == MQR_VAL_STRING && !(v->flags & MQR_VALF_ATOM);
}

/* Strings, atoms, booleans and null compare as their text (§6.7 rule 4). */
static int text_of(const mqr_value_t *v, const char **s, size_t *len)
{
    switch (v->type) {
    case MQR_VAL_STRING: *s = v->u.s; *len = v->len; return 1;
    case MQR_VAL_BOOL:
        *s = v->u.b ? "true" : "false";
        *len = v->u.b ? 4 : 5;
        return 1;
    case MQR_VAL_NULL: *s = "null"; *len = 4; return 1;
    default: return 0;
    }
}

static int text_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}

/* Decode JSON text into the arena. MQR_OK, or an error status (no message). */
static int json_decode(ev_t *e, const char *s, size_t len, mqr_value_t *out)
{
    return mqr_json_parse(e->arena, s, len, 0, out, NULL);
}

/* The payload decoded once per evaluation (§6.4); `s` is the payload text. */
static int payload_decoded(ev_t *e, const mqr_value_t *s, mqr_value_t *out)
{
    if (e->payload_state == 0 || e->payload_src != s->u.s || e->payload_len != s->len) {
        e->payload_src = s->u.s;
        e->payload_len = s->len;
        int rc = json_decode(e, s->u.s, s->len, &e->payload);
        if (rc == MQR_ENOMEM)
            return ev_nomem(e);
        e->payload_state = rc == MQR_OK ? 1 : -1;
    }
    if (e->payload_state < 0)
        return ev_error(e, "decode_json_failed: payload is not valid JSON");
    *out = e->payload;
    return MQR_OK;
}

/* ---- name lookup ------------------------------------------------------------------- */
static const mqr_value_t *obj_get(const mqr_value_t *o, const char *k, size_t kl)
{
    return o ? mqr_value_object_get(o, k, kl) : NULL;
}

/* The scopes a name is looked up in, in order (§6.3): the fields this
 * statement selected so far (only for names a field writes, known at compile
 * time), the FOREACH element, the FOREACH fields, the columns, and the rule's
 * metadata. */
enum { SC_SELECTED, SC_ITEM, SC_FOREACH, SC_COLUMNS, SC_METADATA, SC__COUNT };

/* Name k in scope sc, or NULL. `hint` is the column index the compiler
 * resolved; it is used only when the key there matches. */
static const mqr_value_t *scope_get(const ev_t *e, int sc, const char *k, size_t kl,
                                    uint32_t hint, uint32_t flags)
{
    switch (sc) {
    case SC_SELECTED: return (flags & VARF_SELECTED) ? obj_get(e->sel, k, kl) : NULL;
    case SC_ITEM:
        return e->has_item && e->item_key->len == kl && memcmp(e->item_key->u.s, k, kl) == 0
                   ? &e->item
                   : NULL;
    case SC_FOREACH: return obj_get(e->fsel, k, kl);
    case SC_COLUMNS:
        if (!e->cols)
            return NULL;
        if (hint < e->cols->len) {
            const mqr_member_t *m = &e->cols->u.members[hint];
            if (m->key_len == kl && memcmp(m->key, k, kl) == 0)
                return &m->value;
        }
        return mqr_value_object_get(e->cols, k, kl);
    default: return (flags & VARF_METADATA) ? &e->r->metadata : NULL;
    }
}

/* The value a name denotes for functions (§7.1 helpers): the first scope
 * where it is defined, or NULL. */
static const mqr_value_t *lookup(const ev_t *e, const char *k, size_t kl, uint32_t flags)
{
    const mqr_value_t *found = NULL;
    for (int sc = 0; sc < SC__COUNT; sc++) {
        const mqr_value_t *p = scope_get(e, sc, k, kl, MQR__RN_NONE, flags);
        if (p && p->type != MQR_VAL_UNDEFINED)
            return p;
        if (p && !found)
            found = p;
    }
    return found;
}

/* ---- paths --------------------------------------------------------------------------- */

/* One read step on *cur (§6.4): object key, 1-based or negative index, an
 * index computed by an expression; a string on the way is JSON-decoded;
 * anything missing is undefined. */
static int step_read(ev_t *e, const mqr__rstep_t *st, mqr_value_t *cur)
{
    if (cur->type == MQR_VAL_STRING) {
        mqr_value_t d;
        int rc = json_decode(e, cur->u.s, cur->len, &d);
        if (rc == MQR_ENOMEM)
            return ev_nomem(e);
        if (rc != MQR_OK) {
            mqr_value_set_undefined(cur);
            return MQR_OK;
        }
        *cur = d;
    }
    int64_t idx;
    const char *key;
    size_t klen;
    switch (st->kind) {
    case STEP_KEY: {
        const mqr_value_t *k = &e->r->consts[st->v];
        key = k->u.s;
        klen = k->len;
        goto by_key;
    }
    case STEP_INDEX: idx = st->v; goto by_index;
    case STEP_EXPR: {
        mqr_value_t iv;
        int rc = eval(e, (uint32_t)st->v, &iv);
        if (rc != MQR_OK)
            return rc;
        if (iv.type == MQR_VAL_INT) {
            idx = iv.u.i;
            goto by_index;
        }
        if (iv.type == MQR_VAL_STRING) {
            key = iv.u.s;
            klen = iv.len;
            goto by_key;
        }
        break;
    }
    default: break;
    }
    mqr_value_set_undefined(cur);
    return MQR_OK;
by_key: {
    const mqr_value_t *p = cur->type == MQR_VAL_OBJECT ? mqr_value_object_get(cur, key, klen) : NULL;
    if (p)
        *cur = *p;
    else
        mqr_value_set_undefined(cur);
    return MQR_OK;
}
by_index:
    if (cur->type == MQR_VAL_ARRAY && idx != 0) {
        int64_t n = cur->len;
        int64_t at = idx > 0 ? idx - 1 : n + idx;
        if (at >= 0 && at < n) {
            *cur = cur->u.items[at];
            return MQR_OK;
        }
    }
    mqr_value_set_undefined(cur);
    return MQR_OK;
}

/* A name and its path steps (a.b[1]...): the path is applied in each scope
 * that has the name, and the first result that is not undefined wins, as
 * EMQX's lookup over [selected, columns] does (`SELECT payload.x,
 * payload.y` finds y in the columns although `payload` was selected).
 * `payload.x` uses the once-per-evaluation decode and raises
 * decode_json_failed when the payload is not JSON. */
static int resolve(ev_t *e, const mqr__rn_t *var, const mqr__rstep_t *st, uint32_t n,
                   mqr_value_t *out)
{
    const mqr_value_t *k = &e->r->consts[var->a];
    int sc = SC_SELECTED;
    if (!(var->sub & VARF_SELECTED) && !e->has_item && !e->fsel)
        sc = SC_COLUMNS; /* the common case: straight to the columns */
    for (; sc < SC__COUNT; sc++) {
        const mqr_value_t *p = scope_get(e, sc, k->u.s, k->len, var->b, var->sub);
        if (!p)
            continue;
        *out = *p;
        int rc;
        if (n && (var->sub & VARF_PAYLOAD) && out->type == MQR_VAL_STRING &&
            (rc = payload_decoded(e, out, out)) != MQR_OK)
            return rc;
        for (uint32_t i = 0; i < n && out->type != MQR_VAL_UNDEFINED; i++)
            if ((rc = step_read(e, &st[i], out)) != MQR_OK)
                return rc;
        if (out->type != MQR_VAL_UNDEFINED)
            return MQR_OK;
    }
    mqr_value_set_undefined(out);
    return MQR_OK;
}

/* a[lo..hi]: a 1-based inclusive slice; negative bounds count from the end;
 * 0 or a non-array is an exception (§6.4). */
static int eval_range_get(ev_t *e, const mqr__rn_t *n, mqr_value_t *out)
{
    mqr_value_t base;
    int rc = eval(e, n->a, &base);
    if (rc != MQR_OK)
        return rc;
    int32_t lo = (int32_t)n->b, hi = (int32_t)n->c;
    char b1[48];
    if (base.type != MQR_VAL_ARRAY)
        return ev_error(e, "range_get: cannot slice %s [%d..%d]: not an array",
                        describe(&base, b1, sizeof b1), lo, hi);
    if (lo == 0 || hi == 0)
        return ev_error(e, "range_get: index 0 in [%d..%d] (indexes start at 1)", lo, hi);
    int64_t len = base.len;
    int64_t s = lo > 0 ? lo : len + lo + 1, t = hi > 0 ? hi : len + hi + 1;
    if (s < 1)
        s = 1;
    if (t > len)
        t = len;
    size_t cnt = t >= s ? (size_t)(t - s + 1) : 0;
    if (mqr_value_array_new(e->arena, cnt, out) != MQR_OK)
        return ev_nomem(e);
    for (int64_t i = s; i <= t; i++)
        if (mqr_value_array_push(e->arena, out, &base.u.items[i - 1]) != MQR_OK)
            return ev_nomem(e);
    return MQR_OK;
}

/* ---- operators ----------------------------------------------------------------------- */
static const char *const ar_name[] = {"+", "-", "*", "/", "div", "mod"};
static const char *const ar_verb[] = {"add", "subtract", "multiply", "divide", "divide",
                                      "take the remainder of"};

static int finite_or_error(ev_t *e, int op, double d, mqr_value_t *out)
{
    if (!isfinite(d))
        return ev_error(e, "operator '%s': the result is not a finite number", ar_name[op]);
    mqr_value_set_double(out, d);
    return MQR_OK;
}

/* '+' with a string operand: concatenate both operands' text (§6.5). */
static int concat(ev_t *e, const mqr_value_t *a, const mqr_value_t *b, mqr_value_t *out)
{
    mqr__sbuf_t sb;
    mqr__sbuf_init_arena(&sb, e->arena);
    mqr__value_to_text(&sb, a);
    mqr__value_to_text(&sb, b);
    if (mqr__sbuf_status(&sb) != MQR_OK)
        return ev_nomem(e);
    mqr_value_set_string(out, sb.p, sb.len);
    return MQR_OK;
}

/* Arithmetic (§6.5, D7): integers stay integers and overflow is an error;
 * '/' always gives a float; div and mod take integers only. */
static int arith(ev_t *e, int op, const mqr_value_t *a, const mqr_value_t *b, mqr_value_t *out)
{
    char b1[48], b2[48];
    if (!is_num(a) || !is_num(b)) {
        if (op == AR_ADD && (is_plain_str(a) || is_plain_str(b)))
            return concat(e, a, b, out);
        goto bad;
    }
    int ints = a->type == MQR_VAL_INT && b->type == MQR_VAL_INT;
    int64_t r;
    switch (op) {
    case AR_ADD:
        if (!ints)
            return finite_or_error(e, op, num_d(a) + num_d(b), out);
        if (__builtin_add_overflow(a->u.i, b->u.i, &r))
            goto overflow;
        break;
    case AR_SUB:
        if (!ints)
            return finite_or_error(e, op, num_d(a) - num_d(b), out);
        if (__builtin_sub_overflow(a->u.i, b->u.i, &r))
            goto overflow;
        break;
    case AR_MUL:
        if (!ints)
            return finite_or_error(e, op, num_d(a) * num_d(b), out);
        if (__builtin_mul_overflow(a->u.i, b->u.i, &r))
            goto overflow;
        break;
    case AR_DIV:
        if (num_d(b) == 0.0)
            goto divzero;
        return finite_or_error(e, op, num_d(a) / num_d(b), out);
    default: /* AR_IDIV, AR_MOD */
        if (!ints)
            goto bad;
        if (b->u.i == 0)
            goto divzero;
        if (b->u.i == -1) {
            if (op == AR_MOD) {
                r = 0;
                break;
            }
            if (__builtin_sub_overflow((int64_t)0, a->u.i, &r))
                goto overflow;
            break;
        }
        r = op == AR_IDIV ? a->u.i / b->u.i : a->u.i % b->u.i;
        break;
    }
    mqr_value_set_int(out, r);
    return MQR_OK;
bad:
    return ev_error(e, "operator '%s': cannot %s %s and %s", ar_name[op], ar_verb[op],
                    describe(a, b1, sizeof b1), describe(b, b2, sizeof b2));
overflow:
    return ev_error(e, "operator '%s': integer overflow with %s and %s", ar_name[op],
                    describe(a, b1, sizeof b1), describe(b, b2, sizeof b2));
divzero:
    return ev_error(e, "operator '%s': division by zero (%s %s %s)", ar_name[op],
                    describe(a, b1, sizeof b1), ar_name[op], describe(b, b2, sizeof b2));
}

static const char *const cmp_name[] = {"=", "!=", "<", "<=", ">", ">=", "=~", "~="};

/* A string as a number for §6.7 rule 3: integer syntax, else float syntax. */
static int str_to_num(const mqr_value_t *s, mqr_value_t *out)
{
    int64_t i;
    double d;
    if (mqr__parse_int(s->u.s, s->len, &i) == MQR_OK) {
        mqr_value_set_int(out, i);
        return 1;
    }
    if (mqr__parse_double(s->u.s, s->len, &d) == MQR_OK) {
        mqr_value_set_double(out, d);
        return 1;
    }
    return 0;
}

/* Comparison (§6.7), in its order: both undefined are equal; one undefined
 * is false for every operator; number vs string converts the string;
 * text-like values (strings, atoms, booleans, null) compare as text;
 * anything else in Erlang term order. */
static int compare(ev_t *e, int op, const mqr_value_t *a, const mqr_value_t *b,
                   mqr_value_t *out)
{
    char b1[48], b2[48];
    int au = a->type == MQR_VAL_UNDEFINED, bu = b->type == MQR_VAL_UNDEFINED;
    const char *as, *bs;
    size_t al, bl;
    if (op == CMP_MATCH) {
        if (au && bu)
            return ev_error(e, "operator '=~': both sides are undefined");
        if (au || bu) {
            mqr_value_set_bool(out, 0);
            return MQR_OK;
        }
        if (a->type != MQR_VAL_STRING || b->type != MQR_VAL_STRING)
            return ev_error(e, "operator '=~': cannot match %s against filter %s",
                            describe(a, b1, sizeof b1), describe(b, b2, sizeof b2));
        mqr_value_set_bool(out, mqr__rule_topic_match(b->u.s, b->len, a->u.s, a->len));
        return MQR_OK;
    }
    if (op == CMP_TILDE_EQ)
        return ev_error(e, "operator '~=' is not supported (use '=~')");
    int c;
    if (au || bu) {
        if (!(au && bu)) {
            mqr_value_set_bool(out, 0);
            return MQR_OK;
        }
        c = 0;
    } else if (is_num(a) && is_plain_str(b)) {
        mqr_value_t bn;
        if (!str_to_num(b, &bn))
            goto bad;
        c = mqr__value_compare(a, &bn);
    } else if (is_plain_str(a) && is_num(b)) {
        mqr_value_t an;
        if (!str_to_num(a, &an))
            goto bad;
        c = mqr__value_compare(&an, b);
    } else if (text_of(a, &as, &al) && text_of(b, &bs, &bl)) {
        c = text_cmp(as, al, bs, bl);
    } else {
        c = mqr__value_compare(a, b);
    }
    int r;
    switch (op) {
    case CMP_EQ: r = c == 0; break;
    case CMP_NE: r = c != 0; break;
    case CMP_LT: r = c < 0; break;
    case CMP_LE: r = c <= 0; break;
    case CMP_GT: r = c > 0; break;
    default: r = c >= 0; break;
    }
    mqr_value_set_bool(out, r);
    return MQR_OK;
bad:
    return ev_error(e, "operator '%s': cannot compare %s with %s", cmp_name[op],
                    describe(a, b1, sizeof b1), describe(b, b2, sizeof b2));
}

/* AND / OR operands must be booleans (§6.6). */
static int want_bool(ev_t *e, const char *what, const mqr_value_t *v)
{
    char b1[48];
    if (v->type == MQR_VAL_BOOL)
        return MQR_OK;
    return ev_error(e, "%s: %s is not a boolean", what, describe(v, b1, sizeof b1));
}

/* ---- calls, lists, CASE, IN --------------------------------------------------------- */

/* The child list of node n (NULL when it has none: the rule may have no
 * child lists at all). */
static const uint32_t *kids_of(const mqr_rule_t *r, const mqr__rn_t *n)
{
    return n->n ? r->kids + n->b : NULL;
}
static int eval_call(ev_t *e, const mqr__rn_t *n, mqr_value_t *out)
{
    const mqr__func_t *f = e->r->funcs[n->a];
    mqr_value_t stackargs[8];
    mqr_value_t *args = stackargs;
    if (n->n > MQR__ARRAY_LEN(stackargs)) {
        args = mqr_arena_alloc(e->arena, n->n * sizeof *args);
        if (!args)
            return ev_nomem(e);
    }
    const uint32_t *k = kids_of(e->r, n);
    for (uint32_t i = 0; i < n->n; i++) {
        int rc = eval(e, k[i], &args[i]);
        if (rc != MQR_OK)
            return rc;
    }
    e->fx.fname = f->name;
    e->fx.in_where = e->in_where;
    e->fx.regex = n->c ? e->r->regexes[n->c - 1] : NULL;
    int rc = f->fn(&e->fx, args, n->n, out);
    if (rc != MQR_OK && e->diag && e->diag->code == MQR_OK)
        mqr__diag_set(e->diag, rc, "function '%s': %s", f->name, mqr_strerror(rc));
    return rc;
}

static int eval_list(ev_t *e, const mqr__rn_t *n, mqr_value_t *out)
{
    if (mqr_value_array_new(e->arena, n->n, out) != MQR_OK)
        return ev_nomem(e);
    const uint32_t *k = kids_of(e->r, n);
    for (uint32_t i = 0; i < n->n; i++) {
        mqr_value_t v;
        int rc = eval(e, k[i], &v);
        if (rc != MQR_OK)
            return rc;
        if (mqr_value_array_push(e->arena, out, &v) != MQR_OK)
            return ev_nomem(e);
    }
    return MQR_OK;
}

/* CASE (§6.8): the searched form takes the first WHEN that is true (anything
 * else is "no match"); the simple form compares the subject to each WHEN by
 * exact match. No match and no ELSE: undefined. */
static int eval_case(ev_t *e, const mqr__rn_t *n, mqr_value_t *out)
{
    const uint32_t *k = kids_of(e->r, n);
    uint32_t i = 0, end = n->n - ((n->sub & CASEF_ELSE) ? 1u : 0u);
    mqr_value_t subj, w;
    int rc;
    if (n->sub & CASEF_SUBJECT) {
        if ((rc = eval(e, k[0], &subj)) != MQR_OK)
            return rc;
        i = 1;
    }
    for (; i + 1 < end; i += 2) {
        if ((rc = eval(e, k[i], &w)) != MQR_OK)
            return rc;
        int hit = (n->sub & CASEF_SUBJECT) ? mqr__value_exact_equal(&subj, &w)
                                            : (w.type == MQR_VAL_BOOL && w.u.b);
        if (hit)
            return eval(e, k[i + 1], out);
    }
    if (n->sub & CASEF_ELSE)
        return eval(e, k[n->n - 1], out);
    mqr_value_set_undefined(out);
    return MQR_OK;
}

/* x IN (...) is true iff x exactly equals an item (§6.6); NOT IN negates (D6). */
static int eval_in(ev_t *e, const mqr__rn_t *n, mqr_value_t *out)
{
    const uint32_t *k = kids_of(e->r, n);
    mqr_value_t x, v;
    int rc = eval(e, k[0], &x);
    int found = 0;
    for (uint32_t i = 1; rc == MQR_OK && i < n->n && !found; i++)
        if ((rc = eval(e, k[i], &v)) == MQR_OK)
            found = mqr__value_exact_equal(&x, &v);
    if (rc == MQR_OK)
        mqr_value_set_bool(out, n->sub ? !found : found);
    return rc;
}

/* ---- the dispatcher ------------------------------------------------------------------ */
static int eval(ev_t *e, uint32_t idx, mqr_value_t *out)
{
    const mqr__rn_t *n = &e->r->nodes[idx];
    if (MQR__UNLIKELY(++e->steps > e->r->max_steps))
        return mqr__diag_set(e->diag, MQR_ELIMIT,
                             "evaluation took more than %llu steps",
                             (unsigned long long)e->r->max_steps);
    mqr_value_t a, b;
    int rc;
    switch (n->op) {
    case OP_CONST: /* a literal or folded constant */
        *out = e->r->consts[n->a];
        return MQR_OK;
    case OP_VAR: /* a name: selected, item, FOREACH fields, columns, metadata */
        return resolve(e, n, NULL, 0, out);
    case OP_PATH: /* a name and its steps */
        return resolve(e, &e->r->nodes[n->a], e->r->steps + n->b, n->n, out);
    case OP_RANGE_GET: return eval_range_get(e, n, out);
    case OP_NEG: /* -x: numbers only; -INT64_MIN overflows (D7) */
        if ((rc = eval(e, n->a, &a)) != MQR_OK)
            return rc;
        if (a.type == MQR_VAL_INT) {
            if (a.u.i == INT64_MIN)
                return ev_error(e, "operator '-': integer overflow negating %lld",
                                (long long)a.u.i);
            mqr_value_set_int(out, -a.u.i);
        } else if (a.type == MQR_VAL_DOUBLE) {
            mqr_value_set_double(out, -a.u.d);
        } else {
            char b1[48];
            return ev_error(e, "operator '-': cannot negate %s", describe(&a, b1, sizeof b1));
        }
        return MQR_OK;
    case OP_ARITH:
        if ((rc = eval(e, n->a, &a)) != MQR_OK || (rc = eval(e, n->b, &b)) != MQR_OK)
            return rc;
        return arith(e, n->sub, &a, &b, out);
    case OP_CMP:
        if ((rc = eval(e, n->a, &a)) != MQR_OK || (rc = eval(e, n->b, &b)) != MQR_OK)
            return rc;
        return compare(e, n->sub, &a, &b, out);
    case OP_AND: /* short-circuit; both operands booleans */
    case OP_OR: {
        const char *what = n->op == OP_AND ? "operator 'AND'" : "operator 'OR'";
        if ((rc = eval(e, n->a, &a)) != MQR_OK || (rc = want_bool(e, what, &a)) != MQR_OK)
            return rc;
        if (a.u.b == (n->op == OP_OR)) {
            *out = a;
            return MQR_OK;
        }
        if ((rc = eval(e, n->b, out)) != MQR_OK)
            return rc;
        return want_bool(e, what, out);
    }
    case OP_NOT: /* a boolean is negated; anything else gives false (§6.6) */
        if ((rc = eval(e, n->a, &a)) != MQR_OK)
            return rc;
        mqr_value_set_bool(out, a.type == MQR_VAL_BOOL && !a.u.b);
        return MQR_OK;
    case OP_IN: return eval_in(e, n, out);
    case OP_CALL: return eval_call(e, n, out);
    case OP_LIST: return eval_list(e, n, out);
    case OP_CASE: return eval_case(e, n, out);
    default: return ev_error(e, "internal error: bad node %u", (unsigned)n->op);
    }
}

/* ---- writing the output ----------------------------------------------------------------- */

/* Append every member of object src to obj without looking its key up
 * first: one pass. Only for an obj that is empty, so that the result is the
 * one mqr_value_object_put would give member by member, which holds as long
 * as src's keys are distinct; they are for every object the library builds
 * (the JSON reader folds duplicate keys, put replaces, and the event and
 * message columns are fixed distinct names), and mqr_value_object_append's
 * contract leaves a caller-built duplicate to the caller. The callers
 * presize obj for the columns, so it normally does not grow (append grows
 * it when it must, as for `*` among the FOREACH fields). */
static int append_all(ev_t *e, mqr_value_t *obj, const mqr_value_t *src)
{
    for (uint32_t i = 0; i < src->len; i++) {
        const mqr_member_t *m = &src->u.members[i];
        if (mqr_value_object_append(e->arena, obj, m->key, m->key_len, &m->value) != MQR_OK)
            return ev_nomem(e);
    }
    return MQR_OK;
}

/* A shallow copy of object o (or a new empty object when o is not one) with
 * room for one more member. */
static int obj_copy(ev_t *e, const mqr_value_t *o, mqr_value_t *out)
{
    uint32_t n = o && o->type == MQR_VAL_OBJECT ? o->len : 0;
    if (mqr_value_object_new(e->arena, n + 1, out) != MQR_OK)
        return ev_nomem(e);
    return n ? append_all(e, out, o) : MQR_OK;
}

/* `cur` with `val` written at steps st[0..n) (§6.4 writes): keys insert or
 * replace (a non-object becomes a new object; a string under the top-level
 * key `payload` is decoded first so its keys are kept); [0] prepends, [-0]
 * appends, [k] replaces the k-th element (no-op when out of range); an
 * index into a non-array makes [value]. Containers are copied, never
 * modified in place, since they may belong to the columns. */
static int write_path(ev_t *e, const mqr_value_t *cur, const mqr__rstep_t *st, uint32_t n,
                      const mqr_value_t *val, int decode, mqr_value_t *out)
{
    mqr_value_t inner, base;
    int rc;
    if (st->kind == STEP_KEY) {
        const mqr_value_t *k = &e->r->consts[st->v];
        if (decode && cur && cur->type == MQR_VAL_STRING) {
            mqr_value_t d;
            if (json_decode(e, cur->u.s, cur->len, &d) == MQR_OK && d.type == MQR_VAL_OBJECT)
                cur = &d;
            if ((rc = obj_copy(e, cur, &base)) != MQR_OK)
                return rc;
        } else if ((rc = obj_copy(e, cur, &base)) != MQR_OK) {
            return rc;
        }
        if (n == 1) {
            inner = *val;
        } else if ((rc = write_path(e, obj_get(&base, k->u.s, k->len), st + 1, n - 1, val, 0,
                                    &inner)) != MQR_OK) {
            return rc;
        }
        if (mqr_value_object_put(e->arena, &base, k->u.s, k->len, &inner) != MQR_OK)
            return ev_nomem(e);
        *out = base;
        return MQR_OK;
    }
    /* an index step */
    int is_arr = cur && cur->type == MQR_VAL_ARRAY;
    uint32_t len = is_arr ? cur->len : 0;
    int64_t at = -1;
    if (is_arr && st->kind == STEP_INDEX && st->v != 0) {
        at = st->v > 0 ? st->v - 1 : (int64_t)len + st->v;
        if (at < 0 || at >= len) {
            *out = *cur; /* out of range: no-op */
            return MQR_OK;
        }
    }
    if (n == 1)
        inner = *val;
    else if ((rc = write_path(e, at >= 0 ? &cur->u.items[at] : NULL, st + 1, n - 1, val, 0,
                              &inner)) != MQR_OK)
        return rc;
    if (mqr_value_array_new(e->arena, len + 1, &base) != MQR_OK)
        return ev_nomem(e);
    int prepend = is_arr && st->kind == STEP_INDEX && st->v == 0;
    if (prepend && mqr_value_array_push(e->arena, &base, &inner) != MQR_OK)
        return ev_nomem(e);
    for (uint32_t i = 0; i < len; i++)
        if (mqr_value_array_push(e->arena, &base, i == at ? &inner : &cur->u.items[i]) != MQR_OK)
            return ev_nomem(e);
    if ((!is_arr || st->kind == STEP_APPEND) &&
        mqr_value_array_push(e->arena, &base, &inner) != MQR_OK)
        return ev_nomem(e);
    *out = base;
    return MQR_OK;
}

/* Write val at field f's target in object *obj. */
static int put_target(ev_t *e, mqr_value_t *obj, const mqr__rfield_t *f, const mqr_value_t *val)
{
    const mqr__rstep_t *st = e->r->steps + f->tstep;
    const mqr_value_t *k = &e->r->consts[st->v];
    if (f->tn == 1) {
        if (mqr_value_object_put(e->arena, obj, k->u.s, k->len, val) != MQR_OK)
            return ev_nomem(e);
        return MQR_OK;
    }
    mqr_value_t inner;
    const mqr_value_t *cur = mqr_value_object_get(obj, k->u.s, k->len);
    int decode = k->len == 7 && memcmp(k->u.s, "payload", 7) == 0;
    int rc = write_path(e, cur, st + 1, f->tn - 1, val, decode, &inner);
    if (rc != MQR_OK)
        return rc;
    if (mqr_value_object_put(e->arena, obj, k->u.s, k->len, &inner) != MQR_OK)
        return ev_nomem(e);
    return MQR_OK;
}

/* Put every member of src into obj (SELECT * and the FOREACH context): an
 * empty obj (`*` first, the common case) takes them in one pass; otherwise
 * each is put, replacing in place a key an earlier field wrote. */
static int merge(ev_t *e, mqr_value_t *obj, const mqr_value_t *src)
{
    if (!src || src->type != MQR_VAL_OBJECT)
        return MQR_OK;
    if (obj->len == 0)
        return append_all(e, obj, src);
    for (uint32_t i = 0; i < src->len; i++) {
        const mqr_member_t *m = &src->u.members[i];
        if (mqr_value_object_put(e->arena, obj, m->key, m->key_len, &m->value) != MQR_OK)
            return ev_nomem(e);
    }
    return MQR_OK;
}

/* The whole context: columns, metadata when the columns lack it, the
 * FOREACH fields and the item (§6.3). */
static int merge_context(ev_t *e, mqr_value_t *obj)
{
    /* obj empty before: it holds exactly the columns, which lack metadata,
     * so metadata is appended without a lookup */
    int was_empty = obj->len == 0;
    int rc = merge(e, obj, e->cols);
    if (rc == MQR_OK && !mqr_value_object_get(e->cols, "metadata", 8) &&
        (was_empty ? mqr_value_object_append : mqr_value_object_put)(
            e->arena, obj, "metadata", 8, &e->r->metadata) != MQR_OK)
        rc = ev_nomem(e);
    if (rc == MQR_OK)
        rc = merge(e, obj, e->fsel);
    if (rc == MQR_OK && e->has_item &&
        mqr_value_object_put(e->arena, obj, e->item_key->u.s, e->item_key->len, &e->item) !=
            MQR_OK)
        rc = ev_nomem(e);
    return rc;
}

/* Evaluate fields[0..n) into *obj (which becomes e->sel while they run). */
static int eval_fields(ev_t *e, const mqr__rfield_t *f, uint32_t n, mqr_value_t *obj)
{
    mqr_value_t *saved = e->sel;
    e->sel = obj;
    int rc = MQR_OK;
    for (uint32_t i = 0; i < n && rc == MQR_OK; i++) {
        if (f[i].expr == MQR__RN_NONE) {
            rc = merge_context(e, obj);
            continue;
        }
        mqr_value_t v;
        if ((rc = eval(e, f[i].expr, &v)) == MQR_OK)
            rc = put_target(e, obj, &f[i], &v);
    }
    e->sel = saved;
    return rc;
}

/* A WHERE or INCASE condition: must be a boolean (§6.6). 1 true, 0 false,
 * or a negative status. */
static int condition(ev_t *e, uint32_t node, const char *what)
{
    mqr_value_t v;
    e->in_where = 1;
    int rc = eval(e, node, &v);
    e->in_where = 0;
    if (rc != MQR_OK)
        return rc;
    if (v.type != MQR_VAL_BOOL) {
        char b1[48];
        return ev_error(e, "%s: the condition gave %s, not a boolean", what,
                        describe(&v, b1, sizeof b1));
    }
    return v.u.b;
}

/* The working memory of an evaluation (its arena) may not exceed
 * MQR__RULE_MEM_FACTOR times max_output: values take more room than their
 * JSON text, and the JSON text itself is held to max_output exactly. */
#define MQR__RULE_MEM_FACTOR 8u
static int check_output(ev_t *e)
{
    uint64_t max = e->r->max_output * MQR__RULE_MEM_FACTOR;
    if (mqr_arena_used(e->arena) > max)
        return mqr__diag_set(e->diag, MQR_ELIMIT,
                             "evaluation working memory exceeds %llu bytes (8 x max_output)",
                             (unsigned long long)max);
    return MQR_OK;
}

static int build_select(ev_t *e, mqr_value_t *out);

/* SELECT (§6.3): WHERE first when it reads no selected name (it cannot
 * change the outcome, and a non-matching event then costs only the WHERE),
 * else after the fields against columns and selected. */
static int run_select(ev_t *e, mqr_value_t *out)
{
    const mqr_rule_t *r = e->r;
    int rc;
    if (r->where_first && (rc = condition(e, r->where, "WHERE")) <= 0)
        return rc == 0 ? MQR_NO_MATCH : rc;
    if (r->flat_select) {
        /* distinct keys, no paths: members are written in place, no search */
        mqr_member_t *m = mqr_arena_alloc(e->arena, r->nfields * sizeof *m);
        if (!m)
            return ev_nomem(e);
        memset(out, 0, sizeof *out);
        out->type = MQR_VAL_OBJECT;
        out->u.members = m;
        e->sel = out;
        for (uint32_t i = 0; i < r->nfields; i++) {
            const mqr__rfield_t *f = &r->fields[i];
            const mqr_value_t *k = &r->consts[r->steps[f->tstep].v];
            if ((rc = eval(e, f->expr, &m[i].value)) != MQR_OK)
                return rc;
            m[i].key = k->u.s;
            m[i].key_len = k->len;
            m[i].reserved_ = 0;
            out->len = i + 1;
        }
        e->sel = NULL;
    } else {
        if ((rc = build_select(e, out)) != MQR_OK)
            return rc;
    }
    if (r->where != MQR__RN_NONE && !r->where_first) {
        e->sel = out;
        rc = condition(e, r->where, "WHERE");
        e->sel = NULL;
        if (rc <= 0)
            return rc == 0 ? MQR_NO_MATCH : rc;
    }
    return check_output(e);
}

/* The general SELECT: fields written through their target paths. */
static int build_select(ev_t *e, mqr_value_t *out)
{
    const mqr_rule_t *r = e->r;
    uint32_t cap = r->nfields;
    for (uint32_t i = 0; i < r->nfields; i++)
        if (r->fields[i].expr == MQR__RN_NONE)
            cap += e->cols->len + 1;
    if (mqr_value_object_new(e->arena, cap, out) != MQR_OK)
        return ev_nomem(e);
    return eval_fields(e, r->fields, r->nfields, out);
}

/* FOREACH (§6.3): the fields are selected; the last is also the
 * collection (a JSON string is decoded; a non-array is []); WHERE once; then
 * per element INCASE and DO (or the whole context). */
static int run_foreach(ev_t *e, mqr_value_t *out)
{
    const mqr_rule_t *r = e->r;
    mqr_value_t fsel, coll;
    if (mqr_value_array_new(e->arena, 0, out) != MQR_OK ||
        mqr_value_object_new(e->arena, r->nfields, &fsel) != MQR_OK)
        return ev_nomem(e);
    int rc = eval_fields(e, r->fields, r->nfields - 1, &fsel);
    if (rc != MQR_OK)
        return rc;
    e->sel = &fsel;
    rc = eval(e, r->fields[r->nfields - 1].expr, &coll);
    /* The collection is selected too (emqx_rule_runtime:select_and_collect/3
     * puts it at its alias or path), so WHERE sees it and each element
     * without DO carries it, shallow-merged over the columns: `FOREACH
     * payload.x` gives elements whose payload is {"x": [...]}. */
    if (rc == MQR_OK)
        rc = put_target(e, &fsel, &r->fields[r->nfields - 1], &coll);
    if (rc == MQR_OK && r->where != MQR__RN_NONE)
        rc = condition(e, r->where, "WHERE");
    else if (rc == MQR_OK)
        rc = 1;
    e->sel = NULL;
    if (rc == 0) { /* WHERE false: no match, which is not an empty result (§6.3) */
        mqr_value_set_undefined(out);
        return MQR_NO_MATCH;
    }
    if (rc < 0)
        return rc;
    if (coll.type == MQR_VAL_STRING) {
        mqr_value_t d;
        if (json_decode(e, coll.u.s, coll.len, &d) == MQR_OK)
            coll = d;
    }
    if (coll.type != MQR_VAL_ARRAY)
        return MQR_NO_MATCH;
    e->fsel = &fsel;
    e->item_key = &r->consts[r->item_key];
    e->has_item = 1;
    for (uint32_t i = 0; i < coll.len; i++) {
        e->item = coll.u.items[i];
        if (r->incase != MQR__RN_NONE) {
            if ((rc = condition(e, r->incase, "INCASE")) < 0)
                return rc;
            if (rc == 0)
                continue;
        }
        mqr_value_t o;
        if (mqr_value_object_new(e->arena, r->has_do ? r->ndos : e->cols->len + fsel.len + 2,
                                 &o) != MQR_OK)
            return ev_nomem(e);
        rc = r->has_do ? eval_fields(e, r->dos, r->ndos, &o) : merge_context(e, &o);
        if (rc == MQR_OK && mqr_value_array_push(e->arena, out, &o) != MQR_OK)
            rc = ev_nomem(e);
        if (rc == MQR_OK)
            rc = check_output(e);
        if (rc != MQR_OK)
            return rc;
    }
    return out->len ? MQR_OK : MQR_NO_MATCH;
}

/* ---- the function context ------------------------------------------------------------- */
static const mqr_value_t *fx_lookup(void *ud, const char *name, size_t len)
{
    ev_t *e = ud;
    return lookup(e, name, len, VARF_SELECTED | VARF_METADATA);
}

static const mqr_value_t *fx_payload_json(void *ud)
{
    ev_t *e = ud;
    const mqr_value_t *p = lookup(e, "payload", 7, VARF_SELECTED);
    if (!p || p->type != MQR_VAL_STRING)
        return NULL;
    mqr_diag_t *saved = e->diag;
    e->diag = NULL;
    mqr_value_t v;
    int rc = payload_decoded(e, p, &v);
    e->diag = saved;
    return rc == MQR_OK ? &e->payload : NULL;
}

static int64_t now_ms(const mqr_rule_t *r)
{
    if (r->clock)
        return r->clock(r->clock_ud);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reset the evaluation state. The function context is filled only when the
 * rule calls functions (most event rules do not), to keep evaluation cheap. */
static void ev_init(ev_t *e, const mqr_rule_t *r, mqr_arena_t *arena, uint64_t *rng,
                    mqr_diag_t *diag)
{
    e->r = r;
    e->arena = arena;
    e->cols = NULL;
    e->sel = NULL;
    e->fsel = NULL;
    e->item_key = NULL;
    e->has_item = 0;
    e->in_where = 0;
    e->payload_src = NULL;
    e->payload_len = 0;
    e->payload_state = 0;
    e->steps = 0;
    e->diag = diag;
    if (!r->has_calls && rng != NULL)
        return;
    memset(&e->fx, 0, sizeof e->fx);
    e->fx.arena = arena;
    e->fx.local_offset_s = r->local_offset_s;
    e->fx.rng = rng;
    e->fx.json_flags = (r->flags & MQR_RULE_UNDEFINED_AS_NULL) ? MQR__JSONF_UNDEFINED_AS_NULL : 0;
    e->fx.lookup = fx_lookup;
    e->fx.payload_json = fx_payload_json;
    e->fx.ud = e;
    e->fx.diag = diag;
}

int mqr__rule_fold(const mqr_rule_t *rule, uint32_t n, mqr_value_t *out)
{
    ev_t e;
    ev_init(&e, rule, rule->arena, NULL, NULL);
    uint64_t rng = rule->rng_seed;
    e.fx.rng = &rng;
    return eval(&e, n, out);
}

/* ---- the public calls ------------------------------------------------------------------- */

int mqr_rule_scratch_create(const mqr_allocator_t *alloc, mqr_rule_scratch_t **out)
{
    if (!out)
        return MQR_EINVAL;
    *out = NULL;
    mqr_rule_scratch_t *s = mqr__calloc(alloc, 1, sizeof *s);
    if (!s)
        return MQR_ENOMEM;
    if (alloc)
        s->alloc = *alloc;
    if (mqr_arena_create(&s->alloc, 16384, &s->arena) != MQR_OK) {
        mqr__free(&s->alloc, s, sizeof *s);
        return MQR_ENOMEM;
    }
    *out = s;
    return MQR_OK;
}

void mqr_rule_scratch_free(mqr_rule_scratch_t *scratch)
{
    if (!scratch)
        return;
    mqr_allocator_t a = scratch->alloc;
    mqr_arena_destroy(scratch->arena);
    mqr__free(&a, scratch, sizeof *scratch);
}

int mqr_rule_eval(const mqr_rule_t *rule, mqr_rule_scratch_t *scratch,
                  const mqr_value_t *columns, mqr_value_t *out_value, mqr_diag_t *diag)
{
    if (out_value)
        mqr_value_set_undefined(out_value);
    if (diag) { /* an out-parameter: reset without reading it (cheaper than a full clear) */
        diag->code = MQR_OK;
        diag->reason_code = -1;
        diag->packet_type = 0;
        diag->line = diag->column = 0;
        diag->offset = 0;
        diag->field[0] = 0;
        diag->message[0] = 0;
    }
    if (!rule || !scratch || !columns || !out_value)
        return mqr__diag_set(diag, MQR_EINVAL, "rule, scratch, columns and out_value are required");
    if (columns->type != MQR_VAL_OBJECT)
        return mqr__diag_set(diag, MQR_EINVAL, "columns must be an object, not %s",
                             mqr_value_type_name(columns->type));
    mqr_arena_reset(scratch->arena);
    if (scratch->rng == 0)
        scratch->rng = rule->rng_seed ? rule->rng_seed : mqr__random_seed(scratch);
    ev_t e;
    ev_init(&e, rule, scratch->arena, &scratch->rng, diag);
    e.cols = columns;
    if (rule->has_calls)
        e.fx.now_ms = now_ms(rule);
    mqr_value_t out;
    int rc = rule->is_foreach ? run_foreach(&e, &out) : run_select(&e, &out);
    if (rc == MQR_OK || (rc == MQR_NO_MATCH && rule->is_foreach))
        *out_value = out;
    return rc;
}

/* JSON of an evaluation's output. A flat SELECT writes its precomputed key
 * texts and only renders the values. */
static void render_json(const mqr_rule_t *rule, const mqr_value_t *v, uint32_t jflags,
                        mqr__sbuf_t *sb)
{
    if (!rule->flat_select || v->type != MQR_VAL_OBJECT || v->len != rule->nfields ||
        rule->nfields == 0) {
        mqr__json_write(sb, v, jflags);
        return;
    }
    for (uint32_t i = 0; i < v->len; i++) {
        const mqr_value_t *k = &rule->keyjson[i];
        mqr__sbuf_put(sb, k->u.s, k->len);
        mqr__json_write(sb, &v->u.members[i].value, jflags);
    }
    mqr__sbuf_put1(sb, '}');
}

int mqr_rule_eval_json(const mqr_rule_t *rule, mqr_rule_scratch_t *scratch,
                       const mqr_value_t *columns, const char **out_json, size_t *out_len,
                       mqr_diag_t *diag)
{
    if (out_len)
        *out_len = 0;
    if (out_json)
        *out_json = "";
    if (!out_json || !out_len)
        return mqr__diag_set(diag, MQR_EINVAL, "out_json and out_len are required");
    mqr_value_t v;
    int rc = mqr_rule_eval(rule, scratch, columns, &v, diag);
    if (rc != MQR_OK)
        return rc;
    /* Render into an arena buffer sized from the last output, so a warm
     * scratch writes in one pass without growing; when it is too small,
     * render again into a growing arena builder. */
    uint32_t jflags = (rule->flags & MQR_RULE_UNDEFINED_AS_NULL) ? MQR__JSONF_UNDEFINED_AS_NULL : 0;
    size_t cap = scratch->json_hint < 256 ? 256 : scratch->json_hint + scratch->json_hint / 2;
    if (cap > rule->max_output + 1)
        cap = rule->max_output + 1;
    char *buf = mqr_arena_alloc(scratch->arena, cap);
    mqr__sbuf_t sb;
    mqr__sbuf_init_bounded(&sb, buf, buf ? cap : 0);
    render_json(rule, &v, jflags, &sb);
    if (mqr__sbuf_status(&sb) == MQR_EBUFFER) {
        mqr__sbuf_init_arena(&sb, scratch->arena);
        mqr__sbuf_set_max(&sb, rule->max_output);
        render_json(rule, &v, jflags, &sb);
    }
    rc = mqr__sbuf_status(&sb);
    if (rc == MQR_OK && sb.len > rule->max_output)
        rc = MQR_ELIMIT;
    if (rc == MQR_ELIMIT)
        return mqr__diag_set(diag, MQR_ELIMIT, "JSON output exceeds %llu bytes",
                             (unsigned long long)rule->max_output);
    if (rc != MQR_OK)
        return mqr__diag_set(diag, rc, "out of memory rendering JSON");
    scratch->json_hint = sb.len;
    *out_json = sb.p ? sb.p : "";
    *out_len = sb.len;
    return MQR_OK;
}
