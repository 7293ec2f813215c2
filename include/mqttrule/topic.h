/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/topic.h - the topic index: MQTT topic filters mapped to the
 * caller's items, matched against topic names. It is the trie the engine
 * uses for the FROM topics of its rules, so a host routes its subscriptions
 * with the same code (and the same rules: '+' one level, '#' the rest and
 * the parent level, no wildcard match of a first level starting with '$').
 *
 * Cost: children are found through one hash table keyed by (parent, level),
 * so a match costs a few hash probes per topic level whatever the number of
 * filters; a warm match (one that saw a topic of that depth before)
 * allocates nothing. Removal prunes emptied paths.
 *
 * Lifecycle:
 *   1. mqr_topic_index_create.
 *   2. mqr_topic_index_insert / _remove as subscriptions come and go;
 *      mqr_topic_index_match per published topic.
 *   3. mqr_topic_index_destroy (items are the caller's and are not touched).
 * Threads: an index is used by one thread at a time; different indexes are
 * independent.
 */
#ifndef MQTTRULE_TOPIC_H
#define MQTTRULE_TOPIC_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mqr_topic_index mqr_topic_index_t;

/* Called once per (filter, item) pair whose filter matches: an item held
 * under several matching filters is visited once for each. */
typedef void (*mqr_topic_visit_fn)(void *ud, void *item);

/** Create an empty index whose memory comes from `alloc` (NULL: libc; the
 *  allocator is copied). MQR_OK with *out_index owned by the caller (free
 *  with mqr_topic_index_destroy), MQR_EINVAL (out_index NULL) or MQR_ENOMEM.
 *  Thread-safe. */
MQR_API int mqr_topic_index_create(const mqr_allocator_t *alloc, mqr_topic_index_t **out_index);

/** Free the index (not the items). NULL is ignored. */
MQR_API void mqr_topic_index_destroy(mqr_topic_index_t *index);

/**
 * Hold `item` (the caller's pointer, never dereferenced) under topic filter
 * filter[0..len). The same item under the same filter twice is held twice.
 * Returns MQR_OK; MQR_EINVAL (NULL index or filter); MQR_EFILTER (not a
 * valid topic filter: empty, '#' not last, a wildcard inside a level);
 * MQR_ESTATE (from inside a visit); MQR_ENOMEM (the index is unchanged).
 */
MQR_API int mqr_topic_index_insert(mqr_topic_index_t *index, const char *filter, size_t len,
                                   void *item);

/** Remove one instance of `item` under filter[0..len). MQR_OK, MQR_ENOTFOUND
 *  (not held there), MQR_EINVAL (NULL index or filter), MQR_ESTATE (from
 *  inside a visit). */
MQR_API int mqr_topic_index_remove(mqr_topic_index_t *index, const char *filter, size_t len,
                                   void *item);

/**
 * Call visit(ud, item) for every item whose filter matches topic name
 * topic[0..len) (not validated: a name with wildcards matches literally).
 * The visitor may read the index but not change it or match again.
 * Returns MQR_OK; MQR_EINVAL (NULL index, topic or visit); MQR_ESTATE
 * (called from inside a visit of the same index); MQR_ENOMEM (the walk
 * buffers could not grow; nothing was visited).
 */
MQR_API int mqr_topic_index_match(mqr_topic_index_t *index, const char *topic, size_t len,
                                  mqr_topic_visit_fn visit, void *ud);

/** Items held (insertions not yet removed); 0 for NULL. */
MQR_API size_t mqr_topic_index_count(const mqr_topic_index_t *index);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_TOPIC_H */
