/* SPDX-License-Identifier: MIT */
/*
 * retain.c - the retained message store: a topic trie whose nodes are one
 * topic level each, with at most one message per node (the message retained
 * on the topic that ends there), and the two caps max_retained_messages and
 * max_retained_bytes.
 *
 * How it works. Every node is also an entry of one hash table keyed by
 * (parent node, level text), so the child of a node for a given level is
 * found in constant time however many children the node has: storing,
 * replacing or clearing the message of a topic costs one lookup per level of
 * the topic, not a scan of the store. Each node also keeps its children in a
 * list, which the wildcards of a filter walk: '+' visits every child of a
 * node, '#' the whole subtree under it; a plain level is one hash lookup. So
 * matching a filter costs its levels plus the messages (and the nodes above
 * them) it returns. A level beginning with '$' is skipped by a wildcard in
 * the first level (MQTT 4.7.2). Nodes left without message and children are
 * freed at once, so the trie never holds more nodes than the topics stored
 * have levels.
 *
 * Matching only collects (each message with one more reference): delivering
 * runs rules, which may republish retained messages and change the trie.
 */
#include <stdlib.h>
#include <string.h>

#include "mqtt_shared.h"

struct brk_rnode {
    brk_rnode_t *parent;
    brk_rnode_t *hnext;          /* hash chain */
    brk_rnode_t *kids;           /* first child */
    brk_rnode_t *next, *prev;    /* siblings */
    brk_msg_t *msg;              /* retained on the topic ending here; NULL: none */
    uint32_t len;
    char level[];                /* len bytes, not NUL-terminated */
};

/* ---- nodes ---------------------------------------------------------------------------- */

static size_t node_hash(const brk_rnode_t *parent, const char *lvl, size_t len)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)parent;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)lvl[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29));
}

/* The child of `parent` for level lvl[0..len), or NULL. */
static brk_rnode_t *child_find(const brk_retained_t *r, const brk_rnode_t *parent,
                               const char *lvl, size_t len)
{
    if (r->tab_size == 0)
        return NULL;
    brk_rnode_t *n = r->tab[node_hash(parent, lvl, len) & (r->tab_size - 1)];
    for (; n != NULL; n = n->hnext)
        if (n->parent == parent && n->len == len && memcmp(n->level, lvl, len) == 0)
            return n;
    return NULL;
}

/* Double the hash table (or make its first one). 0 or -1. */
static int tab_grow(brk_retained_t *r)
{
    size_t n = r->tab_size ? r->tab_size * 2 : 256;
    brk_rnode_t **t = calloc(n, sizeof *t);
    if (t == NULL)
        return -1;
    for (size_t i = 0; i < r->tab_size; i++) {
        brk_rnode_t *x = r->tab[i];
        while (x != NULL) {
            brk_rnode_t *nx = x->hnext;
            size_t h = node_hash(x->parent, x->level, x->len) & (n - 1);
            x->hnext = t[h];
            t[h] = x;
            x = nx;
        }
    }
    free(r->tab);
    r->tab = t;
    r->tab_size = n;
    return 0;
}

/* A new child of `parent` for level lvl[0..len), in the table and in the
 * parent's list. NULL when out of memory. */
static brk_rnode_t *child_add(brk_retained_t *r, brk_rnode_t *parent, const char *lvl,
                              size_t len)
{
    if (r->nnodes + 1 > r->tab_size && tab_grow(r) != 0)
        return NULL;
    brk_rnode_t *n = calloc(1, sizeof *n + len);
    if (n == NULL)
        return NULL;
    memcpy(n->level, lvl, len);
    n->len = (uint32_t)len;
    n->parent = parent;
    size_t h = node_hash(parent, lvl, len) & (r->tab_size - 1);
    n->hnext = r->tab[h];
    r->tab[h] = n;
    n->next = parent->kids;
    if (parent->kids != NULL)
        parent->kids->prev = n;
    parent->kids = n;
    r->nnodes++;
    return n;
}

/* Free `n` and its ancestors while they hold neither message nor child. */
static void prune(brk_retained_t *r, brk_rnode_t *n)
{
    while (n != r->root && n->msg == NULL && n->kids == NULL) {
        brk_rnode_t *parent = n->parent;
        brk_rnode_t **pp = &r->tab[node_hash(parent, n->level, n->len) & (r->tab_size - 1)];
        while (*pp != n)
            pp = &(*pp)->hnext;
        *pp = n->hnext;
        if (n->prev != NULL)
            n->prev->next = n->next;
        else
            parent->kids = n->next;
        if (n->next != NULL)
            n->next->prev = n->prev;
        r->nnodes--;
        free(n);
        n = parent;
    }
}

/* The node of topic t[0..len), or NULL. */
static brk_rnode_t *node_find(const brk_retained_t *r, const char *t, size_t len)
{
    brk_rnode_t *n = r->root;
    for (size_t i = 0; n != NULL;) {
        const char *slash = memchr(t + i, '/', len - i);
        size_t e = slash ? (size_t)(slash - t) : len;
        n = child_find(r, n, t + i, e - i);
        if (slash == NULL)
            return n;
        i = e + 1;
    }
    return NULL;
}

/* The node of topic t[0..len), created with its path (and the root) when
 * missing. NULL when out of memory, with no node left behind. */
static brk_rnode_t *node_make(brk_retained_t *r, const char *t, size_t len)
{
    if (r->root == NULL && (r->root = calloc(1, sizeof *r->root)) == NULL)
        return NULL;
    brk_rnode_t *n = r->root;
    for (size_t i = 0;;) {
        const char *slash = memchr(t + i, '/', len - i);
        size_t e = slash ? (size_t)(slash - t) : len;
        brk_rnode_t *k = child_find(r, n, t + i, e - i);
        if (k == NULL && (k = child_add(r, n, t + i, e - i)) == NULL) {
            prune(r, n);
            return NULL;
        }
        n = k;
        if (slash == NULL)
            return n;
        i = e + 1;
    }
}

/* The bytes a retained message counts against max_retained_bytes. */
static size_t msg_bytes(const brk_msg_t *m)
{
    return (size_t)m->topic_len + m->payload_len + m->props_len;
}

/* ---- the store ------------------------------------------------------------------------ */

int brk_retain_fits(const broker_t *b, const char *topic, size_t len, size_t bytes)
{
    const brk_retained_t *r = &b->retained;
    const brk_rnode_t *n = node_find(r, topic, len);
    size_t old = n != NULL && n->msg != NULL ? msg_bytes(n->msg) : 0;
    if (old == 0 && b->cfg.max_retained_messages != 0 &&
        r->count >= b->cfg.max_retained_messages)
        return 0;
    return b->cfg.max_retained_bytes == 0 || r->bytes - old + bytes <= b->cfg.max_retained_bytes;
}

int brk_retain_set(broker_t *b, brk_msg_t *m)
{
    brk_retained_t *r = &b->retained;
    if (m->payload_len == 0) {
        brk_rnode_t *n = node_find(r, m->topic, m->topic_len);
        if (n != NULL && n->msg != NULL) {
            r->bytes -= msg_bytes(n->msg);
            r->count--;
            brk_msg_unref(n->msg);
            n->msg = NULL;
            prune(r, n);
            brk_jr_retain(b, m, 1);
        }
        return 0;
    }
    if (!brk_retain_fits(b, m->topic, m->topic_len, msg_bytes(m)))
        return 1;
    brk_rnode_t *n = node_make(r, m->topic, m->topic_len);
    if (n == NULL)
        return -1;
    if (n->msg != NULL) {
        r->bytes -= msg_bytes(n->msg);
        r->count--;
        brk_msg_unref(n->msg);
    }
    n->msg = m;
    m->refs++;
    r->bytes += msg_bytes(m);
    r->count++;
    brk_jr_retain(b, m, 0);
    return 0;
}

void brk_retain_remove(broker_t *b, const brk_msg_t *m)
{
    brk_retained_t *r = &b->retained;
    brk_rnode_t *n = node_find(r, m->topic, m->topic_len);
    if (n == NULL || n->msg != m)
        return;
    r->bytes -= msg_bytes(m);
    r->count--;
    brk_jr_retain(b, m, 1);
    brk_msg_unref(n->msg);
    n->msg = NULL;
    prune(r, n);
}

/* ---- matching ------------------------------------------------------------------------- */

typedef struct collect {
    brk_msg_t **v;
    size_t n, cap;
    int oom;
} collect_t;

static void take(collect_t *c, brk_msg_t *m)
{
    if (m == NULL)
        return;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        brk_msg_t **nv = realloc(c->v, nc * sizeof *nv);
        if (nv == NULL) {
            c->oom = 1;
            return;
        }
        c->v = nv;
        c->cap = nc;
    }
    m->refs++;
    c->v[c->n++] = m;
}

/* Every message in the subtree of `top` ('#'), `top`'s own included; at the
 * root the '$' levels are left out. Depth first through the parent links,
 * without a stack. */
static void take_subtree(const brk_retained_t *r, brk_rnode_t *top, collect_t *c)
{
    brk_rnode_t *n = top;
    for (;;) {
        int skip = n->parent == r->root && top == r->root && n->len > 0 && n->level[0] == '$';
        if (!skip)
            take(c, n->msg);
        if (!skip && n->kids != NULL) {
            n = n->kids;
            continue;
        }
        while (n != top && n->next == NULL)
            n = n->parent;
        if (n == top)
            return;
        n = n->next;
    }
}

/* Match the filter levels f[i..len) below node n. */
static void match_from(const brk_retained_t *r, brk_rnode_t *n, const char *f, size_t len,
                       size_t i, collect_t *c)
{
    for (;;) {
        const char *slash = memchr(f + i, '/', len - i);
        size_t e = slash ? (size_t)(slash - f) : len;
        if (e - i == 1 && f[i] == '#') {
            take_subtree(r, n, c);
            return;
        }
        if (e - i == 1 && f[i] == '+') {
            for (brk_rnode_t *k = n->kids; k != NULL; k = k->next) {
                if (n == r->root && k->len > 0 && k->level[0] == '$')
                    continue;
                if (slash == NULL)
                    take(c, k->msg);
                else
                    match_from(r, k, f, len, e + 1, c);
            }
            return;
        }
        n = child_find(r, n, f + i, e - i);
        if (n == NULL)
            return;
        if (slash == NULL) {
            take(c, n->msg);
            return;
        }
        /* "a/#" matches "a" too: the '#' after the last slash */
        i = e + 1;
    }
}

size_t brk_retain_match(broker_t *b, const char *filter, size_t len, brk_msg_t ***out)
{
    collect_t c;
    memset(&c, 0, sizeof c);
    if (b->retained.root != NULL)
        match_from(&b->retained, b->retained.root, filter, len, 0, &c);
    if (c.oom)
        brk_log(b, 0, "retained messages for '%.*s': out of memory, some left out", (int)len,
                filter);
    *out = c.v;
    return c.n;
}

size_t brk_retain_all(broker_t *b, brk_msg_t ***out)
{
    collect_t c;
    memset(&c, 0, sizeof c);
    const brk_retained_t *r = &b->retained;
    for (size_t i = 0; i < r->tab_size; i++)
        for (brk_rnode_t *n = r->tab[i]; n != NULL; n = n->hnext)
            take(&c, n->msg);
    if (c.oom)
        brk_log(b, 0, "retained messages: out of memory listing them, some left out");
    *out = c.v;
    return c.n;
}

void brk_retain_free(broker_t *b)
{
    brk_retained_t *r = &b->retained;
    for (size_t i = 0; i < r->tab_size; i++) {
        brk_rnode_t *n = r->tab[i];
        while (n != NULL) {
            brk_rnode_t *nx = n->hnext;
            brk_msg_unref(n->msg);
            free(n);
            n = nx;
        }
    }
    free(r->tab);
    free(r->root);
    memset(r, 0, sizeof *r);
}
