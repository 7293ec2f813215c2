/* SPDX-License-Identifier: MIT */
/*
 * topic_trie.h - the index of MQTT topic filters (topic_trie.c), used by the
 * engine for the FROM topics of rules and, through mqttrule/topic.h, by
 * hosts for their subscriptions. Not API.
 */
#ifndef MQR_TOPIC_TRIE_H
#define MQR_TOPIC_TRIE_H

#include "internal.h"

/* ---- topic trie ------------------------------------------------------------------ */
/*
 * A trie of topic filters, one node per level. Children are found through one
 * open-addressing hash table keyed by (parent node, level text), so a node
 * with 10,000 children costs the same lookup as one with two. Each node holds
 * the entries (opaque pointers) whose filter ends there. Nodes live in an
 * array and are addressed by index; index 0 is "none", 1 the root. Nodes
 * without entries or children are pruned on removal.
 */
typedef struct mqr__trie_node {
    char *seg;          /* the level's text (heap, seg_len bytes) */
    uint32_t seg_len;
    uint32_t parent;    /* 0 for the root and for free nodes */
    uint32_t plus;      /* the '+' child, or 0 */
    uint32_t hash;      /* the '#' child, or 0 */
    uint32_t nchildren;
    uint32_t nitems;
    uint32_t cap_items;
    uint32_t next_free; /* free list link */
    void **items;
} mqr__trie_node_t;

typedef struct mqr__trie {
    const mqr_allocator_t *alloc;
    mqr__trie_node_t *nodes;
    uint32_t nnodes;    /* used slots, root included */
    uint32_t cap_nodes;
    uint32_t free_head; /* 0: none */
    uint32_t live;      /* nodes in use */
    uint32_t *table;    /* node indices; 0 empty */
    uint32_t table_cap; /* power of two */
    uint32_t table_used;
} mqr__trie_t;

/* The frontier buffers a match walks with; owned by the caller so that a warm
 * match allocates nothing. */
typedef struct mqr__trie_walk {
    uint32_t *a;
    uint32_t *b;
    size_t cap;
} mqr__trie_walk_t;

typedef void (*mqr__trie_visit_fn)(void *ud, void *item);

int mqr__trie_init(mqr__trie_t *t, const mqr_allocator_t *alloc);
void mqr__trie_free(mqr__trie_t *t);
/* Add `item` under `filter` (a valid topic filter). MQR_OK or MQR_ENOMEM (the
 * trie is unchanged). An item added twice is held twice. */
int mqr__trie_insert(mqr__trie_t *t, const char *filter, size_t len, void *item);
/* Remove one instance of `item` under `filter`; MQR_OK or MQR_ENOTFOUND. */
int mqr__trie_remove(mqr__trie_t *t, const char *filter, size_t len, void *item);
/* Call visit for every item whose filter matches `topic` (MQTT rules; '$'
 * topics are not matched by a leading wildcard). An item may be visited more
 * than once when several of its filters match. MQR_OK or MQR_ENOMEM (the
 * walk buffers could not grow; nothing was visited). */
int mqr__trie_match(const mqr__trie_t *t, mqr__trie_walk_t *w, const mqr_allocator_t *alloc,
                    const char *topic, size_t len, mqr__trie_visit_fn visit, void *ud);
void mqr__trie_walk_free(mqr__trie_walk_t *w, const mqr_allocator_t *alloc);

#endif /* MQR_TOPIC_TRIE_H */
