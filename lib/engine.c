/* SPDX-License-Identifier: MIT */
/*
 * engine.c - the rule engine: rules and their lifecycle, the FROM index,
 * emitting events and messages, and metrics (spec §1.1, §6.9, §10).
 *
 * Rules are kept in a hash table by id and in a list in creation order. The
 * index that decides which rules an emit runs has two parts: a vector of
 * rules per event id (an "$events/..." FROM entry is read as a filter over
 * the event topics once, when the rule is added, and sets one bit per event
 * it matches under either name, D5), and a topic trie of the MQTT topic
 * filters (topic_trie.c). An emit collects the matching enabled rules into
 * the level's hit vector, deduplicated with a per-collection stamp (a rule
 * listing several matching sources fires once) and sorted by creation order.
 * When nothing matches the emit returns before touching its arena.
 *
 * Otherwise the level's arena is reset, the columns are copied into it with
 * `timestamp` and `node` added when absent, and for each rule `metadata`
 * {"rule_id": id} is set before the rule is evaluated into the level's
 * scratch. Actions run on the output right away (engine_actions.c). Emits
 * nest (an action's callback may emit again) up to MQR_ENGINE_MAX_DEPTH
 * levels; each level has its own arena, scratch and buffers, created on first
 * use and kept warm, so a warm emit makes no heap allocation. While an emit
 * runs, rules and actions cannot change (MQR_ESTATE).
 */
#include <string.h>
#include <time.h>

#include "engine_int.h"
#include "timefmt.h"

/* ---- clocks ---------------------------------------------------------------------------------- */

int64_t mqr__engine_now(const mqr_engine_t *e)
{
    if (e->opts.clock)
        return e->opts.clock(e->opts.clock_ud);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mqr__engine_now_coarse(const mqr_engine_t *e)
{
    if (e->opts.clock)
        return e->opts.clock(e->opts.clock_ud);
    struct timespec ts;
#ifdef CLOCK_REALTIME_COARSE
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
#else
    clock_gettime(CLOCK_REALTIME, &ts);
#endif
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t mqr__engine_mono(const mqr_engine_t *e)
{
    if (e->opts.mono_clock)
        return (uint64_t)e->opts.mono_clock(e->opts.mono_clock_ud);
    return mqr_http_now_ms();
}

int mqr__engine_json(const mqr_engine_t *e, mqr_arena_t *arena, const mqr_value_t *v,
                     const char **out, size_t *out_len)
{
    mqr__sbuf_t b;
    mqr__sbuf_init_arena(&b, arena);
    mqr__json_write(&b, v, (e->opts.flags & MQR_ENGINE_UNDEFINED_AS_NULL)
                               ? MQR__JSONF_UNDEFINED_AS_NULL : 0);
    mqr__sbuf_putc(&b, '\0');
    int rc = mqr__sbuf_status(&b);
    if (rc != MQR_OK)
        return rc;
    *out = b.p;
    *out_len = b.len - 1;
    return MQR_OK;
}

/* ---- creation -------------------------------------------------------------------------------- */

void mqr_engine_options_init(mqr_engine_options_t *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->names = MQR_NAMES_DOC;
    opts->local_offset_s = MQR_ENGINE_LOCAL_OFFSET_PROCESS;
}

/* Create emit level i's arena and scratch if it has none. */
int mqr__engine_level_ready(mqr_engine_t *e, uint32_t i)
{
    mqr__emit_ctx_t *cx = &e->ctx[i];
    if (!cx->arena && mqr_arena_create(&e->alloc, 8192, &cx->arena) != MQR_OK)
        return MQR_ENOMEM;
    if (!cx->scratch && mqr_rule_scratch_create(&e->alloc, &cx->scratch) != MQR_OK)
        return MQR_ENOMEM;
    return MQR_OK;
}

int mqr_engine_create(const mqr_engine_options_t *opts, mqr_engine_t **out_engine)
{
    if (!out_engine)
        return MQR_EINVAL;
    *out_engine = NULL;
    mqr_engine_options_t o;
    if (opts)
        o = *opts;
    else
        mqr_engine_options_init(&o);
    if (o.names != MQR_NAMES_DOC && o.names != MQR_NAMES_EMQX)
        return MQR_EINVAL;
    if (o.local_offset_s == MQR_ENGINE_LOCAL_OFFSET_PROCESS) {
        int32_t off = 0;
        if (mqr__local_offset_seconds(time(NULL), &off) != MQR_OK)
            off = 0; /* no usable local time zone: UTC */
        o.local_offset_s = off;
    } else if (o.local_offset_s < -MQR_TIME_MAX_OFFSET || o.local_offset_s > MQR_TIME_MAX_OFFSET) {
        return MQR_EINVAL;
    }
    mqr_engine_t *e = mqr__calloc(&o.alloc, 1, sizeof *e);
    if (!e)
        return MQR_ENOMEM;
    e->alloc = o.alloc;
    e->opts = o;
    const char *node = o.node ? o.node : MQR_ENGINE_DEFAULT_NODE;
    e->node_len = strlen(node);
    e->node_copy = mqr__strndup(&e->alloc, node, e->node_len);
    e->opts.node = e->node_copy;
    e->nbuckets = 16;
    e->buckets = mqr__calloc(&e->alloc, e->nbuckets, sizeof *e->buckets);
    e->next_action_id = 1;
    if (!e->node_copy || !e->buckets || mqr__trie_init(&e->trie, &e->alloc) != MQR_OK ||
        mqr__engine_level_ready(e, 0) != MQR_OK) {
        mqr_engine_destroy(e);
        return MQR_ENOMEM;
    }
    *out_engine = e;
    return MQR_OK;
}

static void rule_free(mqr_engine_t *e, mqr__erule_t *r)
{
    while (r->actions) {
        mqr__action_t *a = r->actions;
        r->actions = a->next;
        mqr__engine_action_free(e, a);
    }
    mqr_rule_free(r->compiled);
    mqr__free(&e->alloc, r->id, r->id_len + 1);
    if (r->desc)
        mqr__free(&e->alloc, r->desc, strlen(r->desc) + 1);
    mqr__free(&e->alloc, r, sizeof *r);
}

void mqr_engine_destroy(mqr_engine_t *e)
{
    if (!e)
        return;
    mqr__erule_t *r = e->first;
    while (r) {
        mqr__erule_t *next = r->next;
        rule_free(e, r);
        r = next;
    }
    mqr__free(&e->alloc, e->buckets, e->nbuckets * sizeof *e->buckets);
    mqr__trie_free(&e->trie);
    for (uint32_t i = 0; i < MQR_EVENT_COUNT; i++)
        mqr__free(&e->alloc, e->by_event[i].v, e->by_event[i].cap * sizeof *e->by_event[i].v);
    for (uint32_t i = 0; i < MQR_ENGINE_MAX_DEPTH; i++) {
        mqr__emit_ctx_t *cx = &e->ctx[i];
        mqr_arena_destroy(cx->arena);
        mqr_rule_scratch_free(cx->scratch);
        mqr__free(&e->alloc, cx->hits, cx->cap_hits * sizeof *cx->hits);
        mqr__trie_walk_free(&cx->walk, &e->alloc);
    }
    mqr__engine_poll_free(e);
    if (e->node_copy)
        mqr__free(&e->alloc, e->node_copy, e->node_len + 1);
    mqr_allocator_t a = e->alloc;
    mqr__free(&a, e, sizeof *e);
}

/* ---- the rule table -------------------------------------------------------------------------- */

static size_t id_hash(const char *s, size_t len)
{
    size_t h = 5381;
    for (size_t i = 0; i < len; i++)
        h = h * 33 + (unsigned char)s[i];
    return h;
}

mqr__erule_t *mqr__engine_rule_find(const mqr_engine_t *e, const char *id, size_t len)
{
    for (mqr__erule_t *r = e->buckets[id_hash(id, len) & (e->nbuckets - 1)]; r; r = r->hnext)
        if (r->id_len == len && memcmp(r->id, id, len) == 0)
            return r;
    return NULL;
}

/* Double the bucket array when the table is fuller than one rule per bucket;
 * a failed allocation only leaves the chains longer. */
static void table_grow(mqr_engine_t *e)
{
    if (e->nrules < e->nbuckets)
        return;
    size_t n = e->nbuckets * 2;
    mqr__erule_t **nb = mqr__calloc(&e->alloc, n, sizeof *nb);
    if (!nb)
        return;
    for (mqr__erule_t *r = e->first; r; r = r->next) {
        size_t b = id_hash(r->id, r->id_len) & (n - 1);
        r->hnext = nb[b];
        nb[b] = r;
    }
    mqr__free(&e->alloc, e->buckets, e->nbuckets * sizeof *e->buckets);
    e->buckets = nb;
    e->nbuckets = n;
}

static void table_unlink(mqr_engine_t *e, mqr__erule_t *r)
{
    mqr__erule_t **pp = &e->buckets[id_hash(r->id, r->id_len) & (e->nbuckets - 1)];
    while (*pp != r)
        pp = &(*pp)->hnext;
    *pp = r->hnext;
    if (r->prev)
        r->prev->next = r->next;
    else
        e->first = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        e->last = r->prev;
    e->nrules--;
}

/* ---- the FROM index -------------------------------------------------------------------------- */

/* The events matched by the "$events/..." entries of `rule`, one bit each. */
static uint32_t event_mask(const mqr_rule_t *rule)
{
    uint32_t mask = 0;
    for (size_t i = 0; i < mqr_rule_source_count(rule); i++) {
        if (mqr_rule_source_kind(rule, i) != MQR_RULE_SRC_EVENT)
            continue;
        size_t len;
        const char *src = mqr_rule_source(rule, i, &len);
        for (uint32_t ev = 0; ev < MQR_EVENT_COUNT; ev++)
            if (mqr_event_filter_matches(src, len, mqr_event_at(ev)))
                mask |= 1u << ev;
    }
    return mask;
}

static int vec_push(mqr_engine_t *e, mqr__rule_vec_t *v, mqr__erule_t *r)
{
    if (v->n == v->cap) {
        uint32_t cap = v->cap ? v->cap * 2 : 4;
        mqr__erule_t **nv = mqr__realloc(&e->alloc, v->v, v->cap * sizeof *nv, cap * sizeof *nv);
        if (!nv)
            return MQR_ENOMEM;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = r;
    return MQR_OK;
}

static void vec_remove(mqr__rule_vec_t *v, const mqr__erule_t *r)
{
    for (uint32_t i = 0; i < v->n; i++) {
        if (v->v[i] == r) {
            memmove(&v->v[i], &v->v[i + 1], (v->n - i - 1) * sizeof *v->v);
            v->n--;
            return;
        }
    }
}

/* Remove the index entries that `compiled` (with event mask `mask`) gave r.
 * `upto_src` and `upto_ev` bound a partial addition being rolled back. */
static void index_remove(mqr_engine_t *e, mqr__erule_t *r, const mqr_rule_t *compiled,
                         uint32_t mask, size_t upto_src, uint32_t upto_ev)
{
    for (size_t i = 0; i < upto_src; i++) {
        if (mqr_rule_source_kind(compiled, i) != MQR_RULE_SRC_TOPIC)
            continue;
        size_t len;
        const char *src = mqr_rule_source(compiled, i, &len);
        mqr__trie_remove(&e->trie, src, len, r);
    }
    for (uint32_t ev = 0; ev < upto_ev; ev++)
        if (mask & (1u << ev))
            vec_remove(&e->by_event[ev], r);
}

/* Index r under every FROM entry of `compiled`. MQR_OK or MQR_ENOMEM (no
 * entry added). */
static int index_add(mqr_engine_t *e, mqr__erule_t *r, const mqr_rule_t *compiled, uint32_t mask)
{
    size_t n = mqr_rule_source_count(compiled);
    for (size_t i = 0; i < n; i++) {
        if (mqr_rule_source_kind(compiled, i) != MQR_RULE_SRC_TOPIC)
            continue;
        size_t len;
        const char *src = mqr_rule_source(compiled, i, &len);
        if (mqr__trie_insert(&e->trie, src, len, r) != MQR_OK) {
            index_remove(e, r, compiled, mask, i, 0);
            return MQR_ENOMEM;
        }
    }
    for (uint32_t ev = 0; ev < MQR_EVENT_COUNT; ev++) {
        if ((mask & (1u << ev)) && vec_push(e, &e->by_event[ev], r) != MQR_OK) {
            index_remove(e, r, compiled, mask, n, ev);
            return MQR_ENOMEM;
        }
    }
    return MQR_OK;
}

/* ---- rules ----------------------------------------------------------------------------------- */

static int check_def(const mqr_engine_t *e, const mqr_engine_rule_def_t *def, mqr_diag_t *diag)
{
    if (!e || !def || !def->id || !def->id[0] || !def->sql)
        return mqr__diag_set(diag, MQR_EINVAL, "rule: id and sql are required");
    if (e->depth)
        return mqr__diag_set(diag, MQR_ESTATE, "rule '%s': rules cannot change during an emit",
                             def->id);
    return MQR_OK;
}

static int compile(const mqr_engine_t *e, const mqr_engine_rule_def_t *def, mqr_rule_t **out,
                   mqr_diag_t *diag)
{
    mqr_rule_options_t ro;
    mqr_rule_options_init(&ro);
    ro.rule_id = def->id;
    ro.alloc = e->alloc;
    ro.flags |= MQR_RULE_NO_BRIDGE_SOURCES; /* nothing feeds them (issue 19) */
    if (e->opts.flags & MQR_ENGINE_UNDEFINED_AS_NULL)
        ro.flags |= MQR_RULE_UNDEFINED_AS_NULL;
    ro.clock = e->opts.clock;
    ro.clock_ud = e->opts.clock_ud;
    ro.local_offset_s = e->opts.local_offset_s;
    ro.rng_seed = e->opts.rng_seed;
    ro.max_sql_len = e->opts.max_sql_len;
    ro.max_depth = e->opts.max_depth;
    ro.max_steps = e->opts.max_steps;
    ro.max_output = e->opts.max_output;
    return mqr_rule_compile(def->sql, strlen(def->sql), &ro, out, diag);
}

static char *desc_copy(const mqr_engine_t *e, const char *desc)
{
    return mqr__strndup(&e->alloc, desc ? desc : "", desc ? strlen(desc) : 0);
}

int mqr_engine_rule_add(mqr_engine_t *e, const mqr_engine_rule_def_t *def, mqr_diag_t *diag)
{
    int rc = check_def(e, def, diag);
    if (rc != MQR_OK)
        return rc;
    size_t id_len = strlen(def->id);
    if (mqr__engine_rule_find(e, def->id, id_len))
        return mqr__diag_set(diag, MQR_EEXIST, "rule '%s' already exists", def->id);
    mqr__erule_t *r = mqr__calloc(&e->alloc, 1, sizeof *r);
    if (!r)
        return mqr__diag_set(diag, MQR_ENOMEM, "rule '%s': out of memory", def->id);
    r->id_len = id_len;
    r->id = mqr__strndup(&e->alloc, def->id, id_len);
    r->desc = desc_copy(e, def->description);
    if (!r->id || !r->desc) {
        rule_free(e, r);
        return mqr__diag_set(diag, MQR_ENOMEM, "rule '%s': out of memory", def->id);
    }
    rc = compile(e, def, &r->compiled, diag);
    if (rc != MQR_OK) {
        rule_free(e, r);
        return rc;
    }
    r->enabled = def->enabled ? 1u : 0u;
    r->event_mask = event_mask(r->compiled);
    if (index_add(e, r, r->compiled, r->event_mask) != MQR_OK) {
        rule_free(e, r);
        return mqr__diag_set(diag, MQR_ENOMEM, "rule '%s': out of memory", def->id);
    }
    r->seq = e->next_seq++;
    size_t b = id_hash(r->id, id_len) & (e->nbuckets - 1);
    r->hnext = e->buckets[b];
    e->buckets[b] = r;
    r->prev = e->last;
    if (e->last)
        e->last->next = r;
    else
        e->first = r;
    e->last = r;
    e->nrules++;
    table_grow(e);
    return MQR_OK;
}

int mqr_engine_rule_update(mqr_engine_t *e, const mqr_engine_rule_def_t *def, mqr_diag_t *diag)
{
    int rc = check_def(e, def, diag);
    if (rc != MQR_OK)
        return rc;
    mqr__erule_t *r = mqr__engine_rule_find(e, def->id, strlen(def->id));
    if (!r)
        return mqr__diag_set(diag, MQR_ENOTFOUND, "rule '%s' does not exist", def->id);
    char *desc = desc_copy(e, def->description);
    if (!desc)
        return mqr__diag_set(diag, MQR_ENOMEM, "rule '%s': out of memory", def->id);
    mqr_rule_t *compiled;
    rc = compile(e, def, &compiled, diag);
    if (rc != MQR_OK) {
        mqr__free(&e->alloc, desc, strlen(desc) + 1);
        return rc;
    }
    uint32_t mask = event_mask(compiled);
    /* Add the new entries before removing the old ones, so that a failure
     * leaves the old rule indexed as it was. */
    if (index_add(e, r, compiled, mask) != MQR_OK) {
        mqr_rule_free(compiled);
        mqr__free(&e->alloc, desc, strlen(desc) + 1);
        return mqr__diag_set(diag, MQR_ENOMEM, "rule '%s': out of memory", def->id);
    }
    index_remove(e, r, r->compiled, r->event_mask, mqr_rule_source_count(r->compiled),
                 MQR_EVENT_COUNT);
    mqr_rule_free(r->compiled);
    mqr__free(&e->alloc, r->desc, strlen(r->desc) + 1);
    r->compiled = compiled;
    r->event_mask = mask;
    r->desc = desc;
    r->enabled = def->enabled ? 1u : 0u;
    return MQR_OK;
}

/* The rule named id for a lifecycle call, with MQR_EINVAL/ESTATE/ENOTFOUND. */
static int lookup_mutable(mqr_engine_t *e, const char *id, mqr__erule_t **out)
{
    if (!e || !id)
        return MQR_EINVAL;
    if (e->depth)
        return MQR_ESTATE;
    *out = mqr__engine_rule_find(e, id, strlen(id));
    return *out ? MQR_OK : MQR_ENOTFOUND;
}

int mqr_engine_rule_enable(mqr_engine_t *e, const char *id, uint32_t enabled)
{
    mqr__erule_t *r = NULL;
    int rc = lookup_mutable(e, id, &r);
    if (rc == MQR_OK)
        r->enabled = enabled ? 1u : 0u;
    return rc;
}

int mqr_engine_rule_remove(mqr_engine_t *e, const char *id)
{
    mqr__erule_t *r = NULL;
    int rc = lookup_mutable(e, id, &r);
    if (rc != MQR_OK)
        return rc;
    index_remove(e, r, r->compiled, r->event_mask, mqr_rule_source_count(r->compiled),
                 MQR_EVENT_COUNT);
    table_unlink(e, r);
    rule_free(e, r);
    return MQR_OK;
}

size_t mqr_engine_rule_count(const mqr_engine_t *e) { return e ? e->nrules : 0; }

const char *mqr_engine_rule_info(const mqr_engine_t *e, const char *id, uint32_t *out_enabled)
{
    if (!e || !id)
        return NULL;
    const mqr__erule_t *r = mqr__engine_rule_find(e, id, strlen(id));
    if (!r)
        return NULL;
    if (out_enabled)
        *out_enabled = r->enabled;
    return r->desc;
}

/* ---- emitting -------------------------------------------------------------------------------- */

static void collect_one(void *ud, void *item)
{
    mqr_engine_t *e = ud;
    mqr__emit_ctx_t *cx = &e->ctx[e->depth];
    mqr__erule_t *r = item;
    if (!r->enabled || r->stamp == e->stamp)
        return;
    r->stamp = e->stamp;
    if (cx->nhits < cx->cap_hits)
        cx->hits[cx->nhits++] = r;
}

/* Make room in the hit vector for every rule; MQR_OK or MQR_ENOMEM. */
static int hits_reserve(mqr_engine_t *e, mqr__emit_ctx_t *cx)
{
    cx->nhits = 0;
    if (cx->cap_hits >= e->nrules)
        return MQR_OK;
    size_t cap = e->nrules * 2;
    mqr__erule_t **h = mqr__alloc(&e->alloc, cap * sizeof *h);
    if (!h)
        return MQR_ENOMEM;
    mqr__free(&e->alloc, cx->hits, cx->cap_hits * sizeof *cx->hits);
    cx->hits = h;
    cx->cap_hits = cap;
    return MQR_OK;
}

/* Sort hits by creation order: insertion sort, the vector is short. */
static void hits_sort(mqr__emit_ctx_t *cx)
{
    for (size_t i = 1; i < cx->nhits; i++) {
        mqr__erule_t *r = cx->hits[i];
        size_t j = i;
        while (j > 0 && cx->hits[j - 1]->seq > r->seq) {
            cx->hits[j] = cx->hits[j - 1];
            j--;
        }
        cx->hits[j] = r;
    }
}

/* The emit level to use next: MQR_OK, MQR_ELIMIT or MQR_ENOMEM. */
static int level_enter(mqr_engine_t *e, mqr_diag_t *diag, mqr__emit_ctx_t **out)
{
    if (e->depth >= MQR_ENGINE_MAX_DEPTH)
        return mqr__diag_set(diag, MQR_ELIMIT, "emit: nested deeper than %u levels",
                             MQR_ENGINE_MAX_DEPTH);
    mqr__emit_ctx_t *cx = &e->ctx[e->depth];
    /* the cause named for this emit is taken now, whatever happens next */
    cx->cause = cx->next_cause;
    cx->cause_len = cx->next_cause ? cx->next_cause_len : 0;
    cx->next_cause = NULL;
    cx->next_cause_len = 0;
    cx->running = NULL;
    if (mqr__engine_level_ready(e, e->depth) != MQR_OK || hits_reserve(e, cx) != MQR_OK)
        return mqr__diag_set(diag, MQR_ENOMEM, "emit: out of memory");
    e->stamp++;
    *out = cx;
    cx->now = 0;
    return MQR_OK;
}

/* ---- the cause chain (loop protection) ---------------------------------------------------- */

/* Whether the chain c[0..len) ("id\0id\0...") names id[0..id_len). */
static int chain_has(const char *c, size_t len, const char *id, size_t id_len)
{
    size_t i = 0;
    while (i < len) {
        const char *end = memchr(c + i, '\0', len - i);
        size_t n = end ? (size_t)(end - (c + i)) : len - i;
        if (n == id_len && memcmp(c + i, id, id_len) == 0)
            return 1;
        i += n + 1;
    }
    return 0;
}

int mqr__engine_caused_by(const mqr_engine_t *e, const mqr__emit_ctx_t *cx, const mqr__erule_t *r)
{
    size_t level = (size_t)(cx - e->ctx);
    for (size_t i = 0; i <= level; i++) {
        const mqr__emit_ctx_t *c = &e->ctx[i];
        if (i < level && c->running == r)
            return 1;
        if (c->cause && chain_has(c->cause, c->cause_len, r->id, r->id_len))
            return 1;
    }
    return 0;
}

/* Append id[0..n) and a NUL to the chain being built in out[0..*len), unless
 * it is there already. */
static void chain_add(char *out, size_t *len, const char *id, size_t n)
{
    if (chain_has(out, *len, id, n))
        return;
    memcpy(out + *len, id, n);
    out[*len + n] = '\0';
    *len += n + 1;
}

int mqr__engine_cause_chain(const mqr_engine_t *e, const mqr__emit_ctx_t *cx, mqr_arena_t *ar,
                            const char **out, size_t *out_len)
{
    size_t level = (size_t)(cx - e->ctx), cap = 0;
    for (size_t i = 0; i <= level; i++) {
        const mqr__emit_ctx_t *c = &e->ctx[i];
        cap += c->cause_len + (c->running ? c->running->id_len + 1 : 0);
    }
    char *buf = mqr_arena_alloc(ar, cap ? cap : 1);
    if (!buf)
        return MQR_ENOMEM;
    size_t len = 0;
    for (size_t i = 0; i <= level; i++) {
        const mqr__emit_ctx_t *c = &e->ctx[i];
        for (size_t k = 0; k < c->cause_len;) {
            const char *end = memchr(c->cause + k, '\0', c->cause_len - k);
            size_t n = end ? (size_t)(end - (c->cause + k)) : c->cause_len - k;
            if (n > 0)
                chain_add(buf, &len, c->cause + k, n);
            k += n + 1;
        }
        if (c->running)
            chain_add(buf, &len, c->running->id, c->running->id_len);
    }
    *out = buf;
    *out_len = len;
    return MQR_OK;
}

int mqr_engine_cause_set(mqr_engine_t *e, const char *cause, size_t cause_len)
{
    if (!e || (!cause && cause_len))
        return MQR_EINVAL;
    if (e->depth >= MQR_ENGINE_MAX_DEPTH)
        return MQR_ELIMIT;
    e->ctx[e->depth].next_cause = cause_len ? cause : NULL;
    e->ctx[e->depth].next_cause_len = cause_len;
    return MQR_OK;
}

/* An emit refused before it took its level: it still takes the cause named
 * for it (mqr_engine_cause_set applies to the next emit, whatever it
 * returns). Returns rc. */
static int emit_refused(mqr_engine_t *e, int rc)
{
    if (e && e->depth < MQR_ENGINE_MAX_DEPTH) {
        e->ctx[e->depth].next_cause = NULL;
        e->ctx[e->depth].next_cause_len = 0;
    }
    return rc;
}

/* Append a member to obj, created with room for it. No duplicate check: the
 * engine's own keys are distinct from those already there. */
static void col_add(mqr_value_t *obj, const char *key, uint32_t key_len, const mqr_value_t *v)
{
    mqr_member_t *m = &obj->u.members[obj->len++];
    m->key = key;
    m->key_len = key_len;
    m->reserved_ = 0;
    m->value = *v;
}

static void count_failure(mqr__erule_t *r, int no_result)
{
    r->m.failed++;
    if (no_result)
        r->m.failed_no_result++;
    else
        r->m.failed_exception++;
}

/* Evaluate rule r over cols and run its actions. cols->u.members[md] is the
 * `metadata` column, set here to {"rule_id": id}. */
static void run_rule(mqr_engine_t *e, mqr__emit_ctx_t *cx, mqr__erule_t *r, mqr_value_t *cols,
                     uint32_t md)
{
    r->m.matched++;
    mqr_value_t meta, rid;
    mqr_value_set_string(&rid, r->id, r->id_len);
    if (mqr_value_object_new(cx->arena, 1, &meta) != MQR_OK) {
        count_failure(r, 0);
        return;
    }
    col_add(&meta, "rule_id", 7, &rid);
    cols->u.members[md].value = meta;
    mqr_value_t out;
    int rc = mqr_rule_eval(r->compiled, cx->scratch, cols, &out, &cx->diag);
    if (rc != MQR_OK) {
        count_failure(r, rc == MQR_NO_MATCH);
        if (rc < 0)
            mqr__engine_error(e, r, NULL, rc, &cx->diag, "rule '%s': %s", r->id,
                              cx->diag.message[0] ? cx->diag.message : mqr_strerror(rc));
        return;
    }
    r->m.passed++;
    cx->running = r;
    for (mqr__action_t *a = r->actions; a; a = a->next) {
        if (a->fallback_only)
            continue; /* runs only when an action naming it fails (engine_fallback.c) */
        if (out.type == MQR_VAL_ARRAY && mqr_rule_is_foreach(r->compiled)) {
            for (uint32_t i = 0; i < out.len; i++)
                mqr__engine_action_run(e, cx, a, &out.u.items[i]);
        } else {
            mqr__engine_action_run(e, cx, a, &out);
        }
    }
}

/* Append `timestamp` and `node` when cols lacks them, and the `metadata`
 * slot, whose index goes to *md. cols has room for three more members. One
 * pass over the members finds all three keys (they differ in length, so the
 * length decides which one a member can be). */
static void columns_finish(mqr_engine_t *e, mqr__emit_ctx_t *cx, mqr_value_t *cols, uint32_t *md)
{
    uint32_t n = cols->len, has_ts = 0, has_node = 0, meta = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) {
        const mqr_member_t *m = &cols->u.members[i];
        if (m->key_len == 9)
            has_ts |= memcmp(m->key, "timestamp", 9) == 0;
        else if (m->key_len == 4)
            has_node |= memcmp(m->key, "node", 4) == 0;
        else if (m->key_len == 8 && meta == UINT32_MAX && memcmp(m->key, "metadata", 8) == 0)
            meta = i;
    }
    mqr_value_t v;
    if (!has_ts) {
        cx->now = mqr__engine_now(e);
        mqr_value_set_int(&v, cx->now);
        col_add(cols, "timestamp", 9, &v);
    }
    if (!has_node) {
        mqr_value_set_string(&v, e->node_copy, e->node_len);
        v.flags = MQR_VALF_ATOM;
        col_add(cols, "node", 4, &v);
    }
    if (meta != UINT32_MAX) {
        *md = meta;
        return;
    }
    mqr_value_set_undefined(&v);
    *md = cols->len;
    col_add(cols, "metadata", 8, &v);
}

/* Copy `in` (an object) into the arena as *cols and finish it. */
static int columns_build(mqr_engine_t *e, mqr__emit_ctx_t *cx, const mqr_value_t *in,
                         mqr_value_t *cols, uint32_t *md)
{
    if (mqr_value_object_new(cx->arena, (size_t)in->len + 3u, cols) != MQR_OK)
        return MQR_ENOMEM;
    if (in->len)
        memcpy(cols->u.members, in->u.members, in->len * sizeof *in->u.members);
    cols->len = in->len;
    columns_finish(e, cx, cols, md);
    return MQR_OK;
}

/* Run the collected hits over `cols` (metadata slot md). The level is
 * entered (depth raised) for the duration so that nested emits use the next
 * level. */
static void run_hits(mqr_engine_t *e, mqr__emit_ctx_t *cx, mqr_value_t *cols, uint32_t md)
{
    hits_sort(cx);
    if (e->depth == 0 && cx->nhits)
        /* samples before these matches, with the clock the columns read if they did */
        mqr__engine_rate_step(e, cx->now ? cx->now : mqr__engine_now_coarse(e));
    cx->columns = cols;
    e->depth++;
    for (size_t i = 0; i < cx->nhits; i++)
        run_rule(e, cx, cx->hits[i], cols, md);
    cx->running = NULL;
    e->depth--;
    if (e->depth == 0)
        mqr__engine_timer_sync(e, 0); /* only when an HTTP or custom action ran */
}

/* The event named or topic-named ev[0..len). */
static const mqr_event_schema_t *event_lookup(const char *ev, size_t len)
{
    const mqr_event_schema_t *s = mqr_event_find(ev, len);
    return s ? s : mqr_event_find_topic(ev, len);
}

/* Collect the rules of event `s` at the current level. */
static int collect_event(mqr_engine_t *e, const mqr_event_schema_t *s, mqr_diag_t *diag,
                         mqr__emit_ctx_t **out_cx)
{
    int rc = level_enter(e, diag, out_cx);
    if (rc != MQR_OK)
        return rc;
    const mqr__rule_vec_t *v = &e->by_event[s->id];
    for (uint32_t i = 0; i < v->n; i++)
        collect_one(e, v->v[i]);
    return MQR_OK;
}

/* ---- listener queries ------------------------------------------------------------------------ */

uint32_t mqr_engine_event_listened(const mqr_engine_t *e, uint32_t event_id)
{
    if (!e || event_id >= MQR_EVENT_COUNT)
        return 0;
    const mqr__rule_vec_t *v = &e->by_event[event_id];
    for (uint32_t i = 0; i < v->n; i++)
        if (v->v[i]->enabled)
            return 1;
    return 0;
}

/* Trie visitor for mqr_engine_topic_listened: ud is a uint32_t flag, set when
 * an enabled rule is met. */
static void listened_one(void *ud, void *item)
{
    const mqr__erule_t *r = item;
    if (r->enabled)
        *(uint32_t *)ud = 1;
}

int mqr_engine_topic_listened(mqr_engine_t *e, const char *topic, size_t topic_len,
                              uint32_t *out_listened)
{
    if (out_listened)
        *out_listened = 0;
    if (!e || !topic || !out_listened)
        return MQR_EINVAL;
    if (e->depth >= MQR_ENGINE_MAX_DEPTH)
        return MQR_ELIMIT;
    return mqr__trie_match(&e->trie, &e->ctx[e->depth].walk, &e->alloc, topic, topic_len,
                           listened_one, out_listened);
}

/* Copy the event object `columns` into level cx's arena (already reset),
 * finish it and run the collected hits over it: the common tail of the
 * event emits. */
static int emit_columns(mqr_engine_t *e, mqr__emit_ctx_t *cx, const mqr_value_t *columns,
                        uint32_t *out_fired, mqr_diag_t *diag)
{
    mqr_value_t cols;
    uint32_t md;
    if (columns_build(e, cx, columns, &cols, &md) != MQR_OK)
        return mqr__diag_set(diag, MQR_ENOMEM, "emit: out of memory");
    cx->republish_by = NULL;
    cx->republish_by_len = 0;
    if (out_fired)
        *out_fired = (uint32_t)cx->nhits;
    run_hits(e, cx, &cols, md);
    return MQR_OK;
}

/* Run the rules of event `s` over the caller's `columns` (checked to be an
 * object by the caller). */
static int emit_schema(mqr_engine_t *e, const mqr_event_schema_t *s, const mqr_value_t *columns,
                       uint32_t *out_fired, mqr_diag_t *diag)
{
    mqr__emit_ctx_t *cx;
    int rc = collect_event(e, s, diag, &cx);
    if (rc != MQR_OK || cx->nhits == 0)
        return rc;
    mqr_arena_reset(cx->arena);
    return emit_columns(e, cx, columns, out_fired, diag);
}

int mqr_engine_emit_event(mqr_engine_t *e, const char *event, size_t event_len,
                          const mqr_value_t *columns, uint32_t *out_fired, mqr_diag_t *diag)
{
    if (out_fired)
        *out_fired = 0;
    if (!e || !columns || columns->type != MQR_VAL_OBJECT)
        return emit_refused(e, mqr__diag_set(diag, MQR_EINVAL, "emit: columns must be an object"));
    if (!event) {
        const mqr_value_t *ev = mqr_value_object_get(columns, "event", 5);
        if (!ev || ev->type != MQR_VAL_STRING)
            return emit_refused(e, mqr__diag_set(diag, MQR_EINVAL,
                                                 "emit: no event name and no 'event' column"));
        event = ev->u.s;
        event_len = ev->len;
    }
    const mqr_event_schema_t *s = event_lookup(event, event_len);
    if (!s || s->id == MQR_EVENT_MESSAGE_PUBLISH)
        return emit_refused(e, mqr__diag_set(diag, MQR_ENOTFOUND, "emit: unknown event '%.*s'",
                             (int)(event_len > 64 ? 64 : event_len), event));
    return emit_schema(e, s, columns, out_fired, diag);
}

int mqr_engine_emit_event_id(mqr_engine_t *e, uint32_t event_id, const mqr_value_t *columns,
                             uint32_t *out_fired, mqr_diag_t *diag)
{
    if (out_fired)
        *out_fired = 0;
    if (!e || !columns || columns->type != MQR_VAL_OBJECT)
        return emit_refused(e, mqr__diag_set(diag, MQR_EINVAL, "emit: columns must be an object"));
    const mqr_event_schema_t *s = mqr_event_at(event_id);
    if (!s || s->id == MQR_EVENT_MESSAGE_PUBLISH)
        return emit_refused(
            e, mqr__diag_set(diag, MQR_ENOTFOUND, "emit: unknown event id %u", event_id));
    return emit_schema(e, s, columns, out_fired, diag);
}

int mqr_engine_emit_connack(mqr_engine_t *e, const mqr_connack_input_t *in, uint32_t *out_fired,
                            mqr_diag_t *diag)
{
    if (out_fired)
        *out_fired = 0;
    if (!e || !in)
        return emit_refused(e, mqr__diag_set(diag, MQR_EINVAL, "emit: NULL argument"));
    mqr__emit_ctx_t *cx;
    int rc = collect_event(e, mqr_event_at(MQR_EVENT_CLIENT_CONNACK), diag, &cx);
    if (rc != MQR_OK || cx->nhits == 0)
        return rc;
    mqr_arena_reset(cx->arena);
    mqr_connack_input_t ci = *in;
    ci.names = e->opts.names;
    ci.node = e->node_copy;
    ci.node_len = (uint32_t)e->node_len;
    if (ci.timestamp_ms == 0)
        ci.timestamp_ms = mqr__engine_now(e);
    mqr_value_t ev;
    rc = mqr_event_connack_build(&ci, cx->arena, &ev, diag);
    if (rc != MQR_OK)
        return rc;
    return emit_columns(e, cx, &ev, out_fired, diag);
}

int mqr_engine_emit_input(mqr_engine_t *e, uint32_t event_id, const mqr_event_input_t *in,
                          uint32_t *out_fired, mqr_diag_t *diag)
{
    if (out_fired)
        *out_fired = 0;
    if (!e || !in)
        return mqr__diag_set(diag, MQR_EINVAL, "emit: NULL argument");
    if (event_id >= MQR_EVENT_COUNT || event_id == MQR_EVENT_CLIENT_CONNACK ||
        event_id == MQR_EVENT_MESSAGE_PUBLISH)
        return mqr__diag_set(diag, MQR_ENOTFOUND,
                             "emit: event id %u is not built from mqr_event_input_t", event_id);
    mqr__emit_ctx_t *cx;
    int rc = collect_event(e, mqr_event_at(event_id), diag, &cx);
    if (rc != MQR_OK || cx->nhits == 0)
        return rc;
    if (!(e->tmpl_ready & (1u << event_id))) {
        mqr__event_tmpl_init(&e->ev_tmpl[event_id], event_id);
        e->tmpl_ready |= 1u << event_id;
    }
    mqr_arena_reset(cx->arena);
    mqr_value_t cols, v;
    rc = mqr__event_build(&e->ev_tmpl[event_id], in, cx->arena, 1,
                          in->timestamp_ms ? in->timestamp_ms : mqr__engine_now(e), e->node_copy,
                          e->node_len, &cols, diag);
    if (rc != MQR_OK)
        return rc;
    /* timestamp and node are in the schema: only the metadata slot remains */
    uint32_t md = cols.len;
    mqr_value_set_undefined(&v);
    col_add(&cols, "metadata", 8, &v);
    cx->republish_by = NULL;
    cx->republish_by_len = 0;
    if (out_fired)
        *out_fired = (uint32_t)cx->nhits;
    run_hits(e, cx, &cols, md);
    return MQR_OK;
}

/* A string value, or undefined for a NULL string. */
static mqr_value_t str_or_undef(const char *s, size_t len)
{
    mqr_value_t v;
    if (s)
        mqr_value_set_string(&v, s, len);
    else
        mqr_value_set_undefined(&v);
    return v;
}

static mqr_value_t int_value(int64_t i)
{
    mqr_value_t v;
    mqr_value_set_int(&v, i);
    return v;
}

/* The message's columns (spec §5) in the order of the message.publish
 * schema, then the engine's; the metadata slot's index goes to *md. */
static int message_columns(mqr_engine_t *e, mqr__emit_ctx_t *cx, const mqr_engine_message_t *m,
                           mqr_value_t *cols, uint32_t *md)
{
    mqr_arena_t *a = cx->arena;
    int64_t now = mqr__engine_now(e);
    cx->now = now;
    const char *id = m->id;
    size_t id_len = m->id_len;
    if (!id) {
        static const char hex[] = "0123456789ABCDEF";
        char *gen = mqr_arena_alloc(a, 32);
        if (!gen)
            return MQR_ENOMEM;
        uint64_t hi = (uint64_t)now, lo = ++e->msg_counter;
        for (int i = 0; i < 16; i++) {
            gen[i] = hex[(hi >> (60 - 4 * i)) & 0xf];
            gen[16 + i] = hex[(lo >> (60 - 4 * i)) & 0xf];
        }
        id = gen;
        id_len = 32;
    }
    mqr_value_t v, flags, props, empty;
    if (mqr_value_object_new(a, 18, cols) != MQR_OK ||
        mqr_value_object_new(a, 2, &flags) != MQR_OK ||
        mqr_value_object_new(a, 0, &empty) != MQR_OK)
        return MQR_ENOMEM;
    if (m->pub_props) {
        props = *m->pub_props;
    } else if (m->props.present) {
        int rc = mqr__event_props(a, &m->props, "message.publish", &props, NULL);
        if (rc != MQR_OK)
            return rc;
    } else {
        if (mqr_value_object_new(a, 1, &props) != MQR_OK)
            return MQR_ENOMEM;
        col_add(&props, "User-Property", 13, &empty);
    }
    mqr_value_set_bool(&v, m->dup != 0);
    col_add(&flags, "dup", 3, &v);
    mqr_value_set_bool(&v, m->retain != 0);
    col_add(&flags, "retain", 6, &v);
    const struct {
        const char *key;
        uint32_t key_len;
        mqr_value_t value;
    } c[] = {
        {"id", 2, str_or_undef(id, id_len)},
        {"clientid", 8, str_or_undef(m->clientid, m->clientid_len)},
        {"username", 8, str_or_undef(m->username, m->username_len)},
        {"payload", 7, str_or_undef(m->payload ? m->payload : "", m->payload_len)},
        {"peerhost", 8, str_or_undef(m->peerhost, m->peerhost_len)},
        {"peername", 8, str_or_undef(m->peername, m->peername_len)},
        {"topic", 5, str_or_undef(m->topic, m->topic_len)},
        {"qos", 3, int_value(m->qos)},
        {"flags", 5, flags},
        {"pub_props", 9, props},
        {"publish_received_at", 19,
         int_value(m->publish_received_at ? m->publish_received_at : now)},
        {"client_attrs", 12, empty},
        {"event", 5, str_or_undef("message.publish", 15)},
        {"timestamp", 9, int_value(now)},
    };
    for (size_t i = 0; i < MQR__ARRAY_LEN(c); i++)
        col_add(cols, c[i].key, c[i].key_len, &c[i].value);
    cols->u.members[12].value.flags = MQR_VALF_ATOM; /* event */
    columns_finish(e, cx, cols, md);
    return MQR_OK;
}

int mqr_engine_emit_message(mqr_engine_t *e, const mqr_engine_message_t *m, uint32_t *out_fired,
                            mqr_diag_t *diag)
{
    if (out_fired)
        *out_fired = 0;
    if (!e || !m || !m->topic)
        return emit_refused(e, mqr__diag_set(diag, MQR_EINVAL, "emit: NULL argument"));
    if (mqr_topic_validate_name(m->topic, m->topic_len, NULL) != MQR_OK)
        return emit_refused(e, mqr__diag_set(diag, MQR_EINVAL, "emit: invalid topic name '%.*s'",
                             (int)(m->topic_len > 64 ? 64 : m->topic_len), m->topic));
    if (m->direct_dispatch)
        return emit_refused(e, MQR_OK);
    mqr__emit_ctx_t *cx;
    int rc = level_enter(e, diag, &cx);
    if (rc != MQR_OK)
        return rc;
    if (m->cause && m->cause_len) {
        cx->cause = m->cause;
        cx->cause_len = m->cause_len;
    }
    if (mqr__trie_match(&e->trie, &cx->walk, &e->alloc, m->topic, m->topic_len, collect_one, e) !=
        MQR_OK)
        return mqr__diag_set(diag, MQR_ENOMEM, "emit: out of memory");
    if (cx->nhits == 0)
        return MQR_OK;
    mqr_arena_reset(cx->arena);
    mqr_value_t cols;
    uint32_t md;
    rc = message_columns(e, cx, m, &cols, &md);
    if (rc == MQR_EINVAL)
        return mqr__diag_set(diag, rc, "emit: message.publish: invalid PUBLISH properties");
    if (rc != MQR_OK)
        return mqr__diag_set(diag, MQR_ENOMEM, "emit: out of memory");
    cx->republish_by = m->republish_by;
    cx->republish_by_len = m->republish_by ? m->republish_by_len : 0;
    if (out_fired)
        *out_fired = (uint32_t)cx->nhits;
    run_hits(e, cx, &cols, md);
    return MQR_OK;
}

/* ---- metrics --------------------------------------------------------------------------------- */

/* Rule `id` for a reading call: MQR_OK with *out, MQR_EINVAL, MQR_ENOTFOUND. */
static int rule_get(const mqr_engine_t *e, const char *id, const void *out,
                    const mqr__erule_t **r)
{
    if (!e || !id || !out)
        return MQR_EINVAL;
    *r = mqr__engine_rule_find(e, id, strlen(id));
    return *r ? MQR_OK : MQR_ENOTFOUND;
}

int mqr_engine_rule_metrics(const mqr_engine_t *e, const char *id, mqr_rule_metrics_t *out)
{
    const mqr__erule_t *r;
    int rc = rule_get(e, id, out, &r);
    if (rc == MQR_OK) {
        *out = r->m;
        mqr__engine_rate_read(e, r, out);
    }
    return rc;
}

int mqr_engine_rule_last_error(const mqr_engine_t *e, const char *id, mqr_engine_error_t *out)
{
    const mqr__erule_t *r;
    int rc = rule_get(e, id, out, &r);
    if (rc == MQR_OK)
        *out = r->last_error;
    return rc;
}

int mqr_engine_action_last_error(const mqr_engine_t *e, uint32_t action_id,
                                 mqr_engine_error_t *out)
{
    if (!e || !out)
        return MQR_EINVAL;
    const mqr__action_t *a = mqr__engine_action_find(e, action_id);
    if (!a)
        return MQR_ENOTFOUND;
    *out = a->last_error;
    return MQR_OK;
}

int mqr_engine_rule_metrics_reset(mqr_engine_t *e, const char *id)
{
    mqr__erule_t *r = NULL;
    int rc = lookup_mutable(e, id, &r);
    if (rc != MQR_OK)
        return rc;
    memset(&r->m, 0, sizeof r->m);
    mqr__engine_rate_reset(r);
    for (mqr__action_t *a = r->actions; a; a = a->next) {
        int32_t kind = a->kind;
        memset(&a->m, 0, sizeof a->m);
        a->m.kind = kind;
    }
    return MQR_OK;
}

mqr__action_t *mqr__engine_action_find(const mqr_engine_t *e, uint32_t id)
{
    for (const mqr__erule_t *r = e->first; r; r = r->next)
        for (mqr__action_t *a = r->actions; a; a = a->next)
            if (a->id == id)
                return a;
    return NULL;
}

int mqr_engine_action_metrics(const mqr_engine_t *e, uint32_t action_id, mqr_action_metrics_t *out)
{
    if (!e || !out)
        return MQR_EINVAL;
    const mqr__action_t *a = mqr__engine_action_find(e, action_id);
    if (!a)
        return MQR_ENOTFOUND;
    mqr__engine_action_metrics(a, out);
    return MQR_OK;
}

static void json_u64(mqr__sbuf_t *b, const char *key, uint64_t v, int first)
{
    mqr__sbuf_printf(b, "%s\"%s\":%llu", first ? "" : ",", key, (unsigned long long)v);
}

/* A rate (2 decimals, as EMQX rounds it) as a JSON number: "0.0", "2.5",
 * "1.25", written without the locale's decimal separator. */
static void json_rate(mqr__sbuf_t *b, const char *key, double v)
{
    uint64_t c = (uint64_t)(v * 100.0 + 0.5);
    uint64_t frac = c % 100;
    if (frac % 10 == 0)
        mqr__sbuf_printf(b, ",\"%s\":%llu.%llu", key, (unsigned long long)(c / 100),
                         (unsigned long long)(frac / 10));
    else
        mqr__sbuf_printf(b, ",\"%s\":%llu.%02llu", key, (unsigned long long)(c / 100),
                         (unsigned long long)frac);
}

static void json_str(mqr__sbuf_t *b, const char *s, size_t len)
{
    mqr_value_t v;
    mqr_value_set_string(&v, s, len);
    mqr__json_write(b, &v, 0);
}

static const char *const kind_names[] = {"", "republish", "http", "callback", "custom"};

/* ,"last_error":{"status":"MQR_EEVAL","message":"...","time":ms,"count":n,
 * "line":l,"column":c} when there was one; nothing otherwise. */
static void json_last_error(mqr__sbuf_t *b, const mqr_engine_error_t *x)
{
    if (x->count == 0)
        return;
    mqr__sbuf_printf(b, ",\"last_error\":{\"status\":\"%s\",\"message\":",
                     mqr_status_name(x->status));
    json_str(b, x->message, strlen(x->message));
    mqr__sbuf_printf(b, ",\"time\":%lld,\"count\":%llu", (long long)x->time_ms,
                     (unsigned long long)x->count);
    if (x->line)
        mqr__sbuf_printf(b, ",\"line\":%u,\"column\":%u", x->line, x->column);
    mqr__sbuf_append(b, "}", 1);
}

int mqr_engine_rule_metrics_json(const mqr_engine_t *e, const char *id, char *buf, size_t cap,
                                 size_t *out_len)
{
    if (!e || !id || !out_len || (!buf && cap))
        return MQR_EINVAL;
    const mqr__erule_t *r = mqr__engine_rule_find(e, id, strlen(id));
    if (!r)
        return MQR_ENOTFOUND;
    mqr__sbuf_t b;
    mqr__sbuf_init_bounded(&b, buf, cap);
    mqr_rule_metrics_t mr = r->m;
    mqr__engine_rate_read(e, r, &mr);
    const mqr_rule_metrics_t *m = &mr;
    mqr__sbuf_append(&b, "{\"id\":", 6);
    json_str(&b, r->id, r->id_len);
    mqr__sbuf_append(&b, ",\"metrics\":{", 12);
    json_u64(&b, "matched", m->matched, 1);
    json_u64(&b, "passed", m->passed, 0);
    json_u64(&b, "failed", m->failed, 0);
    json_u64(&b, "failed.exception", m->failed_exception, 0);
    json_u64(&b, "failed.no_result", m->failed_no_result, 0);
    json_u64(&b, "actions.total", m->actions_total, 0);
    json_u64(&b, "actions.success", m->actions_success, 0);
    json_u64(&b, "actions.failed", m->actions_failed, 0);
    json_u64(&b, "actions.failed.out_of_service", m->actions_failed_out_of_service, 0);
    json_u64(&b, "actions.failed.unknown", m->actions_failed_unknown, 0);
    json_u64(&b, "actions.discarded", m->actions_discarded, 0);
    json_rate(&b, "matched.rate", m->matched_rate);
    json_rate(&b, "matched.rate.max", m->matched_rate_max);
    json_rate(&b, "matched.rate.last5m", m->matched_rate_last5m);
    mqr__sbuf_append(&b, "}", 1);
    json_last_error(&b, &r->last_error);
    mqr__sbuf_append(&b, ",\"actions\":[", 12);
    for (const mqr__action_t *a = r->actions; a; a = a->next) {
        mqr_action_metrics_t am;
        mqr__engine_action_metrics(a, &am);
        mqr__sbuf_printf(&b, "%s{\"id\":%u,\"type\":", a == r->actions ? "" : ",", a->id);
        const char *type = a->kind == MQR_ACTION_CUSTOM ? mqr__engine_custom_type(a)
                                                        : kind_names[a->kind];
        json_str(&b, type, strlen(type));
        mqr__sbuf_append(&b, ",\"metrics\":{", 12);
        json_u64(&b, "matched", am.matched, 1);
        json_u64(&b, "success", am.success, 0);
        json_u64(&b, "failed", am.failed, 0);
        json_u64(&b, "dropped", am.dropped, 0);
        json_u64(&b, "dropped.expired", am.dropped_expired, 0);
        json_u64(&b, "dropped.queue_full", am.dropped_queue_full, 0);
        json_u64(&b, "dropped.other", am.dropped_other, 0);
        json_u64(&b, "queuing", am.queuing, 0);
        json_u64(&b, "inflight", am.inflight, 0);
        json_u64(&b, "retried", am.retried, 0);
        json_u64(&b, "timeouts", am.timeouts, 0);
        json_u64(&b, "refused_recursive", am.refused_recursive, 0);
        json_u64(&b, "headers_refused", am.headers_refused, 0);
        json_u64(&b, "late_reply", am.late_reply, 0);
        json_u64(&b, "queuing_bytes", am.queuing_bytes, 0);
        json_u64(&b, "retried.success", am.retried_success, 0);
        json_u64(&b, "retried.failed", am.retried_failed, 0);
        json_u64(&b, "discarded", am.discarded, 0);
        json_u64(&b, "fallback_triggered", am.fallback_triggered, 0);
        mqr__sbuf_append(&b, "}", 1);
        json_last_error(&b, &a->last_error);
        mqr__sbuf_append(&b, "}", 1);
    }
    mqr__sbuf_append(&b, "]}", 2);
    *out_len = mqr__sbuf_needed(&b);
    if (*out_len >= cap) {
        return *out_len == 0 ? MQR_OK : MQR_EBUFFER;
    }
    buf[*out_len] = '\0';
    return MQR_OK;
}
