/* SPDX-License-Identifier: MIT */
/*
 * topic_trie.c - the engine's index of MQTT topic filters (spec §6.9).
 *
 * Every filter is a path of levels from the root; the node at its end holds
 * the filter's entries. A node's children are found through one hash table
 * for the whole trie, keyed by (parent index, level text): adding the
 * 10,000th child of a node costs what adding the second does, and matching a
 * topic costs a few hash probes per level whatever the number of filters.
 * '+' and '#' children are also cached on their parent, since every match
 * looks for them at every level.
 *
 * Matching walks the topic's levels breadth first with two frontier arrays
 * (owned by the caller, so a warm match allocates nothing): at each level a
 * node passes on to its exact child and its '+' child, and its '#' child
 * matches at once. After the last level the frontier's own entries and their
 * '#' children match ("a/#" matches "a"). A topic starting with '$' is not
 * matched by a wildcard at the first level.
 *
 * Removal prunes the nodes left without entries or children, so a trie that
 * grew and shrank keeps no dead paths. Hash deletion shifts entries back
 * (linear probing), so there are no tombstones.
 */
#include <string.h>

#include "mqttrule/packet.h"
#include "mqttrule/topic.h"
#include "topic_trie.h"

#define ROOT 1u

/* FNV-1a over the parent index and the level text. */
static uint32_t seg_hash(uint32_t parent, const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 4; i++) {
        h ^= (parent >> (8 * i)) & 0xffu;
        h *= 16777619u;
    }
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

int mqr__trie_init(mqr__trie_t *t, const mqr_allocator_t *alloc)
{
    memset(t, 0, sizeof *t);
    t->alloc = alloc;
    t->cap_nodes = 16;
    t->nodes = mqr__calloc(alloc, t->cap_nodes, sizeof *t->nodes);
    t->table_cap = 16;
    t->table = mqr__calloc(alloc, t->table_cap, sizeof *t->table);
    if (!t->nodes || !t->table) {
        mqr__free(alloc, t->nodes, t->cap_nodes * sizeof *t->nodes);
        mqr__free(alloc, t->table, t->table_cap * sizeof *t->table);
        t->nodes = NULL;
        t->table = NULL;
        return MQR_ENOMEM;
    }
    t->nnodes = 2; /* 0: none, 1: root */
    t->live = 1;
    return MQR_OK;
}

void mqr__trie_free(mqr__trie_t *t)
{
    if (!t->nodes)
        return;
    for (uint32_t i = 1; i < t->nnodes; i++) {
        mqr__trie_node_t *n = &t->nodes[i];
        mqr__free(t->alloc, n->seg, n->seg_len + 1);
        mqr__free(t->alloc, n->items, n->cap_items * sizeof *n->items);
    }
    mqr__free(t->alloc, t->nodes, t->cap_nodes * sizeof *t->nodes);
    mqr__free(t->alloc, t->table, t->table_cap * sizeof *t->table);
    memset(t, 0, sizeof *t);
}

/* The child of `parent` named s[0..len), or 0. */
static uint32_t child_find(const mqr__trie_t *t, uint32_t parent, const char *s, size_t len)
{
    uint32_t mask = t->table_cap - 1;
    for (uint32_t i = seg_hash(parent, s, len) & mask;; i = (i + 1) & mask) {
        uint32_t idx = t->table[i];
        if (idx == 0)
            return 0;
        const mqr__trie_node_t *n = &t->nodes[idx];
        if (n->parent == parent && n->seg_len == len && memcmp(n->seg, s, len) == 0)
            return idx;
    }
}

static void table_put(uint32_t *table, uint32_t cap, const mqr__trie_node_t *nodes, uint32_t idx)
{
    const mqr__trie_node_t *n = &nodes[idx];
    uint32_t mask = cap - 1;
    uint32_t i = seg_hash(n->parent, n->seg, n->seg_len) & mask;
    while (table[i])
        i = (i + 1) & mask;
    table[i] = idx;
}

/* Keep the table at most half full. MQR_OK or MQR_ENOMEM (unchanged). */
static int table_reserve(mqr__trie_t *t)
{
    if ((t->table_used + 1) * 2 <= t->table_cap)
        return MQR_OK;
    uint32_t cap = t->table_cap * 2;
    uint32_t *nt = mqr__calloc(t->alloc, cap, sizeof *nt);
    if (!nt)
        return MQR_ENOMEM;
    for (uint32_t i = 0; i < t->table_cap; i++)
        if (t->table[i])
            table_put(nt, cap, t->nodes, t->table[i]);
    mqr__free(t->alloc, t->table, t->table_cap * sizeof *t->table);
    t->table = nt;
    t->table_cap = cap;
    return MQR_OK;
}

/* Delete node idx from the table, shifting later probes back. */
static void table_del(mqr__trie_t *t, uint32_t idx)
{
    uint32_t mask = t->table_cap - 1;
    const mqr__trie_node_t *n = &t->nodes[idx];
    uint32_t i = seg_hash(n->parent, n->seg, n->seg_len) & mask;
    while (t->table[i] != idx)
        i = (i + 1) & mask;
    t->table[i] = 0;
    for (uint32_t j = (i + 1) & mask; t->table[j]; j = (j + 1) & mask) {
        uint32_t k = t->table[j];
        const mqr__trie_node_t *m = &t->nodes[k];
        uint32_t home = seg_hash(m->parent, m->seg, m->seg_len) & mask;
        /* k may move to the hole i when its home is not in (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->table[i] = k;
            t->table[j] = 0;
            i = j;
        }
    }
    t->table_used--;
}

/* Create the child `s` of `parent`; 0 when out of memory. */
static uint32_t child_add(mqr__trie_t *t, uint32_t parent, const char *s, size_t len)
{
    if (table_reserve(t) != MQR_OK)
        return 0;
    char *seg = mqr__strndup(t->alloc, s, len);
    if (!seg)
        return 0;
    uint32_t idx = t->free_head;
    if (idx) {
        t->free_head = t->nodes[idx].next_free;
    } else {
        if (t->nnodes == t->cap_nodes) {
            uint32_t cap = t->cap_nodes * 2;
            mqr__trie_node_t *nn = mqr__realloc(t->alloc, t->nodes, t->cap_nodes * sizeof *nn,
                                                cap * sizeof *nn);
            if (!nn) {
                mqr__free(t->alloc, seg, len + 1);
                return 0;
            }
            memset(nn + t->cap_nodes, 0, (cap - t->cap_nodes) * sizeof *nn);
            t->nodes = nn;
            t->cap_nodes = cap;
        }
        idx = t->nnodes++;
    }
    mqr__trie_node_t *n = &t->nodes[idx];
    memset(n, 0, sizeof *n);
    n->seg = seg;
    n->seg_len = (uint32_t)len;
    n->parent = parent;
    table_put(t->table, t->table_cap, t->nodes, idx);
    t->table_used++;
    t->live++;
    mqr__trie_node_t *p = &t->nodes[parent];
    p->nchildren++;
    if (len == 1 && s[0] == '+')
        p->plus = idx;
    else if (len == 1 && s[0] == '#')
        p->hash = idx;
    return idx;
}

/* Free the nodes from idx upwards that hold nothing, the root excepted. */
static void prune(mqr__trie_t *t, uint32_t idx)
{
    while (idx != ROOT && idx != 0) {
        mqr__trie_node_t *n = &t->nodes[idx];
        if (n->nitems || n->nchildren)
            return;
        uint32_t parent = n->parent;
        table_del(t, idx);
        mqr__trie_node_t *p = &t->nodes[parent];
        p->nchildren--;
        if (p->plus == idx)
            p->plus = 0;
        if (p->hash == idx)
            p->hash = 0;
        mqr__free(t->alloc, n->seg, n->seg_len + 1);
        mqr__free(t->alloc, n->items, n->cap_items * sizeof *n->items);
        memset(n, 0, sizeof *n);
        n->next_free = t->free_head;
        t->free_head = idx;
        t->live--;
        idx = parent;
    }
}

/* The end of the next level of s[0..len) from `pos`. */
static size_t level_end(const char *s, size_t len, size_t pos)
{
    const char *slash = memchr(s + pos, '/', len - pos);
    return slash ? (size_t)(slash - s) : len;
}

int mqr__trie_insert(mqr__trie_t *t, const char *filter, size_t len, void *item)
{
    uint32_t node = ROOT;
    size_t pos = 0;
    for (;;) {
        size_t end = level_end(filter, len, pos);
        uint32_t c = child_find(t, node, filter + pos, end - pos);
        if (!c)
            c = child_add(t, node, filter + pos, end - pos);
        if (!c) {
            prune(t, node);
            return MQR_ENOMEM;
        }
        node = c;
        if (end == len)
            break;
        pos = end + 1;
    }
    mqr__trie_node_t *n = &t->nodes[node];
    if (n->nitems == n->cap_items) {
        uint32_t cap = n->cap_items ? n->cap_items * 2 : 2;
        void **ni = mqr__realloc(t->alloc, n->items, n->cap_items * sizeof *ni, cap * sizeof *ni);
        if (!ni) {
            prune(t, node);
            return MQR_ENOMEM;
        }
        n->items = ni;
        n->cap_items = cap;
    }
    n->items[n->nitems++] = item;
    return MQR_OK;
}

int mqr__trie_remove(mqr__trie_t *t, const char *filter, size_t len, void *item)
{
    uint32_t node = ROOT;
    size_t pos = 0;
    for (;;) {
        size_t end = level_end(filter, len, pos);
        node = child_find(t, node, filter + pos, end - pos);
        if (!node)
            return MQR_ENOTFOUND;
        if (end == len)
            break;
        pos = end + 1;
    }
    mqr__trie_node_t *n = &t->nodes[node];
    for (uint32_t i = 0; i < n->nitems; i++) {
        if (n->items[i] == item) {
            memmove(&n->items[i], &n->items[i + 1], (n->nitems - i - 1) * sizeof *n->items);
            n->nitems--;
            prune(t, node);
            return MQR_OK;
        }
    }
    return MQR_ENOTFOUND;
}

void mqr__trie_walk_free(mqr__trie_walk_t *w, const mqr_allocator_t *alloc)
{
    mqr__free(alloc, w->a, w->cap * sizeof *w->a);
    mqr__free(alloc, w->b, w->cap * sizeof *w->b);
    memset(w, 0, sizeof *w);
}

static void visit_items(const mqr__trie_node_t *n, mqr__trie_visit_fn visit, void *ud)
{
    for (uint32_t i = 0; i < n->nitems; i++)
        visit(ud, n->items[i]);
}

int mqr__trie_match(const mqr__trie_t *t, mqr__trie_walk_t *w, const mqr_allocator_t *alloc,
                    const char *topic, size_t len, mqr__trie_visit_fn visit, void *ud)
{
    /* A frontier never holds more than every live node. */
    if (w->cap < t->live) {
        size_t cap = t->live * 2u;
        uint32_t *a = mqr__alloc(alloc, cap * sizeof *a);
        uint32_t *b = mqr__alloc(alloc, cap * sizeof *b);
        if (!a || !b) {
            mqr__free(alloc, a, cap * sizeof *a);
            mqr__free(alloc, b, cap * sizeof *b);
            return MQR_ENOMEM;
        }
        mqr__trie_walk_free(w, alloc);
        w->a = a;
        w->b = b;
        w->cap = cap;
    }
    const mqr__trie_node_t *nodes = t->nodes;
    uint32_t *cur = w->a, *next = w->b;
    size_t ncur = 1, nnext;
    cur[0] = ROOT;
    int dollar = len > 0 && topic[0] == '$';
    size_t pos = 0;
    for (int first = 1; ncur; first = 0) {
        size_t end = level_end(topic, len, pos);
        nnext = 0;
        for (size_t i = 0; i < ncur; i++) {
            const mqr__trie_node_t *n = &nodes[cur[i]];
            int wild = !(first && dollar);
            if (n->hash && wild)
                visit_items(&nodes[n->hash], visit, ud);
            if (n->nchildren > (uint32_t)(n->hash != 0) + (uint32_t)(n->plus != 0)) {
                uint32_t c = child_find(t, cur[i], topic + pos, end - pos);
                if (c)
                    next[nnext++] = c;
            }
            if (n->plus && wild)
                next[nnext++] = n->plus;
        }
        uint32_t *tmp = cur;
        cur = next;
        next = tmp;
        ncur = nnext;
        if (end == len)
            break;
        pos = end + 1;
    }
    for (size_t i = 0; i < ncur; i++) {
        const mqr__trie_node_t *n = &nodes[cur[i]];
        visit_items(n, visit, ud);
        if (n->hash)
            visit_items(&nodes[n->hash], visit, ud);
    }
    return MQR_OK;
}

/* ---- the public index (mqttrule/topic.h) ----------------------------------------------------------- */

struct mqr_topic_index {
    mqr_allocator_t alloc; /* the trie points here */
    mqr__trie_t trie;
    mqr__trie_walk_t walk;
    size_t count;
    uint32_t matching;     /* inside mqr_topic_index_match */
};

int mqr_topic_index_create(const mqr_allocator_t *alloc, mqr_topic_index_t **out_index)
{
    if (!out_index)
        return MQR_EINVAL;
    *out_index = NULL;
    mqr_allocator_t a = {0};
    if (alloc)
        a = *alloc;
    mqr_topic_index_t *x = mqr__calloc(&a, 1, sizeof *x);
    if (!x)
        return MQR_ENOMEM;
    x->alloc = a;
    if (mqr__trie_init(&x->trie, &x->alloc) != MQR_OK) {
        mqr__free(&a, x, sizeof *x);
        return MQR_ENOMEM;
    }
    *out_index = x;
    return MQR_OK;
}

void mqr_topic_index_destroy(mqr_topic_index_t *x)
{
    if (!x)
        return;
    mqr__trie_free(&x->trie);
    mqr__trie_walk_free(&x->walk, &x->alloc);
    mqr_allocator_t a = x->alloc;
    mqr__free(&a, x, sizeof *x);
}

int mqr_topic_index_insert(mqr_topic_index_t *x, const char *filter, size_t len, void *item)
{
    if (!x || !filter)
        return MQR_EINVAL;
    if (x->matching)
        return MQR_ESTATE;
    if (mqr_topic_validate_filter(filter, len, NULL) != MQR_OK)
        return MQR_EFILTER;
    int rc = mqr__trie_insert(&x->trie, filter, len, item);
    x->count += rc == MQR_OK;
    return rc;
}

int mqr_topic_index_remove(mqr_topic_index_t *x, const char *filter, size_t len, void *item)
{
    if (!x || !filter)
        return MQR_EINVAL;
    if (x->matching)
        return MQR_ESTATE;
    int rc = mqr__trie_remove(&x->trie, filter, len, item);
    x->count -= rc == MQR_OK;
    return rc;
}

int mqr_topic_index_match(mqr_topic_index_t *x, const char *topic, size_t len,
                          mqr_topic_visit_fn visit, void *ud)
{
    if (!x || !topic || !visit)
        return MQR_EINVAL;
    if (x->matching)
        return MQR_ESTATE;
    x->matching = 1;
    int rc = mqr__trie_match(&x->trie, &x->walk, &x->alloc, topic, len, visit, ud);
    x->matching = 0;
    return rc;
}

size_t mqr_topic_index_count(const mqr_topic_index_t *x) { return x ? x->count : 0; }
