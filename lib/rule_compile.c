/* SPDX-License-Identifier: MIT */
/*
 * rule_compile.c - the rule compiler's finishing passes and the public
 * compile / free / inspect calls.
 *
 * mqr_rule_compile() checks the SQL's length and UTF-8, lets rule_parse.c
 * emit the program, then finishes it: it bounds the expression tree depth
 * (the evaluator recurses), marks every variable with what the evaluator
 * needs (whether an earlier field may have selected it, whether it is
 * payload or metadata, and its index in the columns of every event the FROM
 * clause covers), decides whether WHERE can run before the fields, prepares
 * the JSON key texts of a flat SELECT, compiles the constant patterns of the
 * regex functions once (each call site then reads its program instead of
 * compiling the pattern per call), and copies the arrays into the rule's
 * arena.
 *
 * Memory: the arrays grow on the heap while compiling and are copied into
 * the rule's arena at the end, so a compiled rule is one arena plus its
 * header struct. Names and strings are copied into the arena as they are
 * read. The regex programs are the exception: they are allocated through
 * the rule's allocator (a program carries the allocator it was made with)
 * and listed in the rule, which frees them. Any failure frees everything.
 */
#include <stdio.h>
#include <string.h>

#include "codec_util.h"
#include "regex.h"
#include "rule_int.h"

/* ---- after parsing ------------------------------------------------------------------ */

static int name_eq(const mqr_value_t *k, const char *s)
{
    size_t n = strlen(s);
    return k->len == n && memcmp(k->u.s, s, n) == 0;
}

static int str_eq(const mqr_value_t *a, const mqr_value_t *b)
{
    return a->len == b->len && memcmp(a->u.s, b->u.s, a->len) == 0;
}

/* 1 if one of the first `n` fields of the list writes the top-level key
 * equal to *name with a value other than what the name already denotes.
 * `SELECT x` (or `x AS x`) writes the value x has, so it shadows nothing. */
static int fields_write(const mqr__cst_t *c, int kind, uint32_t n, const mqr_value_t *name)
{
    const mqr__rfield_t *f = c->v[kind].p;
    const mqr__rstep_t *st = c->v[V_STEPS].p;
    for (uint32_t i = 0; i < n && i < c->v[kind].n; i++) {
        if (f[i].expr == MQR__RN_NONE)
            continue;
        const mqr_value_t *k = &CONSTS(c)[st[f[i].tstep].v];
        const mqr__rn_t *e = &NODES(c)[f[i].expr];
        if (kind == V_FIELDS && !c->r->is_foreach && f[i].tn == 1 && e->op == OP_VAR &&
            str_eq(&CONSTS(c)[e->a], k))
            continue;
        if (str_eq(k, name))
            return 1;
    }
    return 0;
}

/* The column index of `name` that every event of every FROM entry agrees
 * on, or NONE ("$bridges/..." entries have no schema). */
static uint32_t column_hint(const mqr__cst_t *c, const mqr_value_t *name)
{
    const mqr__rsource_t *src = c->v[V_SOURCES].p;
    int64_t hint = -1;
    for (uint32_t i = 0; i < c->v[V_SOURCES].n; i++) {
        if (src[i].kind == MQR_RULE_SRC_BRIDGE)
            return MQR__RN_NONE;
        for (uint32_t e = 0; e < mqr_event_count(); e++) {
            const mqr_event_schema_t *ev = mqr_event_at(e);
            if (!mqr__rule_source_covers(&src[i], ev))
                continue;
            uint32_t k;
            if (!mqr_event_field(ev, name->u.s, name->len, &k) || (hint >= 0 && hint != k))
                return MQR__RN_NONE;
            hint = k;
        }
    }
    return hint < 0 ? MQR__RN_NONE : (uint32_t)hint;
}

/* The number of SELECT fields evaluated before node i: a variable there can
 * only be found among the keys those fields wrote. WHERE (after every field)
 * and FOREACH statements (whose scopes nest) see all fields. */
static uint32_t fields_before(const mqr__cst_t *c, uint32_t i)
{
    const mqr__rfield_t *f = c->v[V_FIELDS].p;
    uint32_t n = c->v[V_FIELDS].n;
    if (c->r->is_foreach || i >= c->where_start)
        return UINT32_MAX;
    uint32_t k = 0;
    while (k + 1 < n && f[k + 1].nstart <= i)
        k++;
    return k;
}

/* Mark every variable: may it be a key already selected, is it payload /
 * metadata, and where is it in the columns. Decide whether WHERE can run
 * before the fields (it reads no selected key). */
static void resolve_vars(mqr__cst_t *c)
{
    mqr_rule_t *r = c->r;
    mqr__rn_t *nodes = NODES(c);
    r->where_first = r->where != MQR__RN_NONE && !r->is_foreach;
    for (uint32_t i = 0; i < c->v[V_NODES].n; i++) {
        mqr__rn_t *n = &nodes[i];
        if (n->op == OP_CALL)
            r->has_calls = 1;
        if (n->op != OP_VAR)
            continue;
        const mqr_value_t *name = &CONSTS(c)[n->a];
        uint32_t before = fields_before(c, i);
        if (fields_write(c, V_FIELDS, before, name) ||
            (r->is_foreach && fields_write(c, V_DOS, UINT32_MAX, name))) {
            n->sub |= VARF_SELECTED;
            if (i >= c->where_start)
                r->where_first = 0;
        }
        if (name_eq(name, "payload"))
            n->sub |= VARF_PAYLOAD;
        if (name_eq(name, "metadata"))
            n->sub |= VARF_METADATA;
        n->b = column_hint(c, name);
    }
}

/* The line and column of byte `off`. */
static void locate(const char *s, size_t off, uint32_t *line, uint32_t *col)
{
    uint32_t l = 1;
    size_t start = 0;
    for (size_t i = 0; i < off; i++)
        if (s[i] == '\n') {
            l++;
            start = i + 1;
        }
    *line = l;
    *col = (uint32_t)(off - start + 1);
}

/* 1 when the SELECT output can be built member by member without looking
 * for existing keys: no '*', no alias paths, every top-level key distinct. */
static uint32_t flat_select(const mqr__cst_t *c)
{
    const mqr__rfield_t *f = c->v[V_FIELDS].p;
    const mqr__rstep_t *st = c->v[V_STEPS].p;
    if (c->r->is_foreach)
        return 0;
    for (uint32_t i = 0; i < c->v[V_FIELDS].n; i++) {
        if (f[i].expr == MQR__RN_NONE || f[i].tn != 1)
            return 0;
        for (uint32_t j = 0; j < i; j++)
            if (str_eq(&CONSTS(c)[st[f[i].tstep].v], &CONSTS(c)[st[f[j].tstep].v]))
                return 0;
    }
    return 1;
}

/* The depth of the deepest expression tree. Nodes are emitted after their
 * children, so one forward pass suffices. Operator chains (a + b + c ...,
 * x = 1 OR x = 2 ...) are parsed in loops, not by recursion, but evaluate by
 * recursion: this bounds the evaluator's stack. MQR_OK or MQR_ELIMIT. */
static int check_tree_depth(mqr__cst_t *c)
{
    uint32_t n = c->v[V_NODES].n;
    const mqr__rn_t *nodes = NODES(c);
    const uint32_t *kids = c->v[V_KIDS].p;
    const mqr__rstep_t *steps = c->v[V_STEPS].p;
    uint16_t *d = mqr__alloc(&c->r->alloc, (size_t)n * sizeof *d + 1);
    if (!d)
        return mqr__diag_set(c->diag, MQR_ENOMEM, "out of memory while compiling");
    uint32_t worst = 0, at = 0;
    for (uint32_t i = 0; i < n; i++) {
        const mqr__rn_t *x = &nodes[i];
        uint32_t m = 0;
        switch (x->op) {
        case OP_ARITH: case OP_CMP: case OP_AND: case OP_OR:
            m = d[x->b];
            /* fall through */
        case OP_NEG: case OP_NOT: case OP_RANGE_GET:
            m = m > d[x->a] ? m : d[x->a];
            break;
        case OP_PATH:
            m = d[x->a];
            for (uint32_t k = 0; k < x->n; k++)
                if (steps[x->b + k].kind == STEP_EXPR && d[steps[x->b + k].v] > m)
                    m = d[steps[x->b + k].v];
            break;
        case OP_IN: case OP_CALL: case OP_LIST: case OP_CASE:
            for (uint32_t k = 0; k < x->n; k++)
                if (d[kids[x->b + k]] > m)
                    m = d[kids[x->b + k]];
            break;
        default: break;
        }
        d[i] = (uint16_t)(m + 1 > UINT16_MAX ? UINT16_MAX : m + 1);
        if (d[i] > worst) {
            worst = d[i];
            at = x->off;
        }
    }
    mqr__free(&c->r->alloc, d, (size_t)n * sizeof *d + 1);
    if (worst <= MQR_RULE_MAX_TREE_DEPTH)
        return MQR_OK;
    uint32_t line, col;
    locate(c->sql, at, &line, &col);
    return mqr__rule_error_at(c->diag, MQR_ELIMIT, line, col, at,
                              "expression %u levels deep (operator chains count; at most %u)",
                              (unsigned)worst, (unsigned)MQR_RULE_MAX_TREE_DEPTH);
}

/* For a flat SELECT, the JSON text before each value: "{\"k\":" for the
 * first field, ",\"k\":" for the others, so rendering writes only values. */
static int key_json(mqr__cst_t *c)
{
    const mqr__rfield_t *f = c->v[V_FIELDS].p;
    uint32_t n = c->v[V_FIELDS].n;
    mqr_value_t *kj = mqr_arena_alloc(c->r->arena, n * sizeof *kj);
    if (!kj)
        return mqr__diag_set(c->diag, MQR_ENOMEM, "out of memory while compiling");
    for (uint32_t i = 0; i < n; i++) {
        const mqr_value_t *k = &CONSTS(c)[((const mqr__rstep_t *)c->v[V_STEPS].p)[f[i].tstep].v];
        mqr__sbuf_t b;
        mqr__sbuf_init_arena(&b, c->r->arena);
        mqr__sbuf_putc(&b, i ? ',' : '{');
        mqr__json_write(&b, k, 0);
        mqr__sbuf_putc(&b, ':');
        if (mqr__sbuf_status(&b) != MQR_OK)
            return mqr__diag_set(c->diag, MQR_ENOMEM, "out of memory while compiling");
        mqr_value_set_string(&kj[i], b.p, b.len);
    }
    c->r->keyjson = kj;
    return MQR_OK;
}

/* The constant pattern of call node n when it is a regex function (its
 * second argument an OP_CONST string), else NULL. */
static const mqr_value_t *regex_const_pattern(mqr__cst_t *c, const mqr__rn_t *n)
{
    const mqr__func_t *f = ((const mqr__func_t *const *)c->v[V_FUNCS].p)[n->a];
    if (strncmp(f->name, "regex_", 6) != 0 || n->n < 2)
        return NULL;
    const mqr__rn_t *pn = &NODES(c)[((const uint32_t *)c->v[V_KIDS].p)[n->b + 1]];
    if (pn->op != OP_CONST || CONSTS(c)[pn->a].type != MQR_VAL_STRING)
        return NULL;
    return &CONSTS(c)[pn->a];
}

/* Compile every constant regex pattern into r->regexes and number its call
 * node (c = index + 1). The parser has already rejected a bad pattern
 * written as a literal (D8); a constant it did not see (one folded from an
 * expression) that does not compile is left to the call, which reports it
 * at run time as before. MQR_OK or MQR_ENOMEM. */
static int compile_regexes(mqr__cst_t *c)
{
    mqr_rule_t *r = c->r;
    mqr__rn_t *nodes = NODES(c);
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->v[V_NODES].n; i++)
        n += nodes[i].op == OP_CALL && regex_const_pattern(c, &nodes[i]) != NULL;
    if (n == 0)
        return MQR_OK;
    r->regexes = mqr_arena_alloc(r->arena, n * sizeof *r->regexes);
    if (!r->regexes)
        return mqr__diag_set(c->diag, MQR_ENOMEM, "out of memory while compiling");
    for (uint32_t i = 0; i < c->v[V_NODES].n; i++) {
        const mqr_value_t *p = nodes[i].op == OP_CALL ? regex_const_pattern(c, &nodes[i]) : NULL;
        if (!p)
            continue;
        mqr__regex_t *re = NULL;
        int rc = mqr__regex_compile(p->u.s, p->len, &r->alloc, &re, NULL);
        if (rc == MQR_ENOMEM)
            return mqr__diag_set(c->diag, MQR_ENOMEM, "out of memory while compiling");
        if (rc != MQR_OK)
            continue;
        r->regexes[r->nregexes++] = re;
        nodes[i].c = r->nregexes;
    }
    return MQR_OK;
}

/* Copy vector k into the arena; NULL on failure (or for an empty vector). */
static void *freeze(mqr__cst_t *c, int k, int *rc)
{
    mqr__vec_t *v = &c->v[k];
    if (v->n == 0)
        return NULL;
    size_t bytes = (size_t)v->n * mqr__rule_vec_esize[k];
    void *p = mqr_arena_alloc(c->r->arena, bytes);
    if (!p) {
        *rc = mqr__diag_set(c->diag, MQR_ENOMEM, "out of memory while compiling");
        return NULL;
    }
    memcpy(p, v->p, bytes);
    return p;
}

static int finish(mqr__cst_t *c)
{
    mqr_rule_t *r = c->r;
    if (r->is_foreach) {
        const mqr__rfield_t *f = c->v[V_FIELDS].p;
        const mqr__rfield_t *last = &f[c->v[V_FIELDS].n - 1];
        uint32_t line, col;
        locate(c->sql, last->off, &line, &col);
        if (last->expr == MQR__RN_NONE)
            return mqr__rule_error_at(c->diag, MQR_ECOMPILE, line, col, last->off,
                                      "FOREACH needs a collection as its last field, not '*'");
        /* The item name is the alias of the collection, else `item` (§6.3). */
        if (last->aliased) {
            r->item_key = (uint32_t)((const mqr__rstep_t *)c->v[V_STEPS].p)[last->tstep].v;
        } else {
            int rc0 = mqr__rule_add_string(c, "item", 4, &r->item_key);
            if (rc0 != MQR_OK)
                return rc0;
        }
    }
    int rc = check_tree_depth(c);
    if (rc != MQR_OK)
        return rc;
    resolve_vars(c);
    if ((rc = compile_regexes(c)) != MQR_OK)
        return rc;
    r->flat_select = flat_select(c);
    rc = r->flat_select ? key_json(c) : MQR_OK;
    r->nodes = freeze(c, V_NODES, &rc);
    r->kids = freeze(c, V_KIDS, &rc);
    r->steps = freeze(c, V_STEPS, &rc);
    r->consts = freeze(c, V_CONSTS, &rc);
    r->funcs = freeze(c, V_FUNCS, &rc);
    r->fields = freeze(c, V_FIELDS, &rc);
    r->dos = freeze(c, V_DOS, &rc);
    r->sources = freeze(c, V_SOURCES, &rc);
    r->nfields = c->v[V_FIELDS].n;
    r->ndos = c->v[V_DOS].n;
    r->nsources = c->v[V_SOURCES].n;
    return rc;
}

/* ---- the public calls -------------------------------------------------------------- */

void mqr_rule_options_init(mqr_rule_options_t *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->max_sql_len = MQR_RULE_DEFAULT_MAX_SQL;
    opts->max_depth = MQR_RULE_DEFAULT_MAX_DEPTH;
    opts->max_steps = MQR_RULE_DEFAULT_MAX_STEPS;
    opts->max_output = MQR_RULE_DEFAULT_MAX_OUTPUT;
}

/* The rule struct, its arena, id and metadata. */
static int rule_new(const mqr_rule_options_t *o, mqr_rule_t **out, mqr_diag_t *diag)
{
    mqr_rule_t *r = mqr__calloc(&o->alloc, 1, sizeof *r);
    if (!r)
        return mqr__diag_set(diag, MQR_ENOMEM, "out of memory while compiling");
    r->alloc = o->alloc;
    if (mqr_arena_create(&r->alloc, 1024, &r->arena) != MQR_OK) {
        mqr__free(&o->alloc, r, sizeof *r);
        return mqr__diag_set(diag, MQR_ENOMEM, "out of memory while compiling");
    }
    *out = r;
    const char *id = o->rule_id ? o->rule_id : "";
    size_t idlen = strlen(id);
    char *idc = mqr_arena_alloc(r->arena, idlen + 1);
    mqr_value_t idv;
    if (!idc || mqr_value_object_new(r->arena, 1, &r->metadata) != MQR_OK)
        return mqr__diag_set(diag, MQR_ENOMEM, "out of memory while compiling");
    memcpy(idc, id, idlen + 1);
    r->id = idc;
    mqr_value_set_string(&idv, idc, idlen);
    if (mqr_value_object_put(r->arena, &r->metadata, "rule_id", 7, &idv) != MQR_OK)
        return mqr__diag_set(diag, MQR_ENOMEM, "out of memory while compiling");
    r->flags = o->flags;
    r->local_offset_s = o->local_offset_s;
    r->max_steps = o->max_steps ? o->max_steps : MQR_RULE_DEFAULT_MAX_STEPS;
    r->max_output = o->max_output ? o->max_output : MQR_RULE_DEFAULT_MAX_OUTPUT;
    r->max_depth = o->max_depth ? o->max_depth : MQR_RULE_DEFAULT_MAX_DEPTH;
    if (r->max_depth > MQR_RULE_MAX_DEPTH_CAP)
        r->max_depth = MQR_RULE_MAX_DEPTH_CAP; /* the parser and evaluator recurse */
    r->rng_seed = o->rng_seed; /* 0: each scratch seeds itself (mqr_rule_eval) */
    r->clock = o->clock;
    r->clock_ud = o->clock_ud;
    return MQR_OK;
}

int mqr_rule_compile(const char *sql, size_t len, const mqr_rule_options_t *opts,
                     mqr_rule_t **out_rule, mqr_diag_t *diag)
{
    mqr_diag_clear(diag);
    if (out_rule)
        *out_rule = NULL;
    if (!sql || !out_rule)
        return mqr__diag_set(diag, MQR_EINVAL, "sql and out_rule must not be NULL");
    mqr_rule_options_t defaults;
    mqr_rule_options_init(&defaults);
    const mqr_rule_options_t *o = opts ? opts : &defaults;
    size_t max_sql = o->max_sql_len ? o->max_sql_len : MQR_RULE_DEFAULT_MAX_SQL;
    if (len > max_sql)
        return mqr__diag_set(diag, MQR_ELIMIT, "SQL is %zu bytes, longer than the limit of %zu",
                             len, max_sql);
    size_t bad = 0;
    if (mqr__utf8_validate((const uint8_t *)sql, len, MQR_UTF8_ALLOW_NUL, &bad) != MQR_OK) {
        uint32_t line, col;
        locate(sql, bad, &line, &col);
        return mqr__rule_error_at(diag, MQR_ESYNTAX, line, col, (uint32_t)bad,
                                  "invalid UTF-8");
    }
    mqr__cst_t c;
    memset(&c, 0, sizeof c);
    c.sql = sql;
    c.diag = diag;
    c.prev_kind = TK__COUNT;
    int rc = rule_new(o, &c.r, diag);
    if (rc != MQR_OK) {
        mqr_rule_free(c.r);
        return rc;
    }
    c.max_depth = c.r->max_depth;
    mqr__rule_lex_init(&c.lx, sql, len);
    rc = mqr__rule_parse(&c);
    if (rc == MQR_OK)
        rc = finish(&c);
    for (int k = 0; k < V__COUNT; k++)
        mqr__free(&c.r->alloc, c.v[k].p, (size_t)c.v[k].cap * mqr__rule_vec_esize[k]);
    if (rc != MQR_OK) {
        mqr_rule_free(c.r);
        return rc;
    }
    *out_rule = c.r;
    return MQR_OK;
}

void mqr_rule_free(mqr_rule_t *rule)
{
    if (!rule)
        return;
    mqr_allocator_t a = rule->alloc;
    for (uint32_t i = 0; i < rule->nregexes; i++)
        mqr__regex_free(rule->regexes[i]);
    mqr_arena_destroy(rule->arena);
    mqr__free(&a, rule, sizeof *rule);
}

const char *mqr_rule_id(const mqr_rule_t *rule) { return rule ? rule->id : ""; }

uint32_t mqr_rule_is_foreach(const mqr_rule_t *rule) { return rule ? rule->is_foreach : 0; }

size_t mqr_rule_source_count(const mqr_rule_t *rule) { return rule ? rule->nsources : 0; }

const char *mqr_rule_source(const mqr_rule_t *rule, size_t i, size_t *out_len)
{
    if (!rule || i >= rule->nsources)
        return NULL;
    if (out_len)
        *out_len = rule->sources[i].len;
    return rule->sources[i].s;
}

int mqr_rule_source_kind(const mqr_rule_t *rule, size_t i)
{
    if (!rule || i >= rule->nsources)
        return -1;
    return rule->sources[i].kind;
}

int mqr_rule_matches_topic(const mqr_rule_t *rule, const char *topic, size_t len)
{
    if (!rule || !topic)
        return 0;
    for (uint32_t i = 0; i < rule->nsources; i++) {
        const mqr__rsource_t *s = &rule->sources[i];
        if (s->kind == MQR_RULE_SRC_TOPIC && mqr__rule_topic_match(s->s, s->len, topic, len))
            return 1;
    }
    return 0;
}

int mqr_rule_matches_event(const mqr_rule_t *rule, const char *event, size_t len)
{
    if (!rule || !event)
        return 0;
    const mqr_event_schema_t *e = mqr_event_find(event, len);
    if (!e)
        e = mqr_event_find_topic(event, len);
    for (uint32_t i = 0; i < rule->nsources; i++) {
        const mqr__rsource_t *s = &rule->sources[i];
        if (s->kind == MQR_RULE_SRC_EVENT && e && mqr__rule_source_covers(s, e))
            return 1;
        if (s->kind == MQR_RULE_SRC_BRIDGE && s->len == len && memcmp(s->s, event, len) == 0)
            return 1;
    }
    return 0;
}
