/* SPDX-License-Identifier: MIT */
/*
 * arena.c - the arena that values, rule outputs and rendered templates are
 * allocated from (mqttrule/value.h).
 *
 * The arena is a list of blocks taken from the allocator hook, newest first;
 * allocation bumps a pointer in the newest block and starts a new block
 * (at least twice the previous one, or the request's size) when it runs out.
 * Reset frees every block but the largest, so an arena that has reached its
 * working size allocates nothing more. The most recent allocation can grow or
 * shrink in place (mqr__arena_realloc), which is what makes arrays, objects
 * and string builders in the arena cheap to grow.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "value_int.h"

/* ---- arena -------------------------------------------------------------------- */

#define ARENA_ALIGN _Alignof(max_align_t)
#define ARENA_DEFAULT_BLOCK 4096u
#define ARENA_MAX_DOUBLING ((size_t)1 << 20) /* blocks stop doubling past 1 MiB */

typedef struct arena_block {
    struct arena_block *next;
    size_t size; /* usable bytes after the header */
} arena_block_t;

/* Header size rounded so the data after it is aligned for any value. */
#define BLOCK_HDR ((sizeof(arena_block_t) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1))

struct mqr_arena {
    mqr_allocator_t alloc;
    size_t block_size;
    arena_block_t *blocks; /* newest first; the bump region is in blocks[0] */
    char *cur;
    char *end;
    char *last; /* start of the most recent allocation, NULL after reset */
    size_t used;
};

static char *block_data(arena_block_t *b) { return (char *)b + BLOCK_HDR; }

int mqr_arena_create(const mqr_allocator_t *alloc, size_t block_size, mqr_arena_t **out_arena)
{
    if (!out_arena)
        return MQR_EINVAL;
    *out_arena = NULL;
    mqr_arena_t *a = mqr__alloc(alloc, sizeof *a);
    if (!a)
        return MQR_ENOMEM;
    memset(a, 0, sizeof *a);
    if (alloc)
        a->alloc = *alloc;
    a->block_size = block_size ? block_size : ARENA_DEFAULT_BLOCK;
    *out_arena = a;
    return MQR_OK;
}

void mqr_arena_destroy(mqr_arena_t *a)
{
    if (!a)
        return;
    arena_block_t *b = a->blocks;
    while (b) {
        arena_block_t *next = b->next;
        mqr__free(&a->alloc, b, BLOCK_HDR + b->size);
        b = next;
    }
    mqr_allocator_t alloc = a->alloc;
    mqr__free(&alloc, a, sizeof *a);
}

void mqr_arena_reset(mqr_arena_t *a)
{
    if (!a || !a->blocks)
        return;
    arena_block_t *keep = a->blocks;
    for (arena_block_t *b = a->blocks->next; b; b = b->next)
        if (b->size > keep->size)
            keep = b;
    arena_block_t *b = a->blocks;
    while (b) {
        arena_block_t *next = b->next;
        if (b != keep)
            mqr__free(&a->alloc, b, BLOCK_HDR + b->size);
        b = next;
    }
    keep->next = NULL;
    a->blocks = keep;
    a->cur = block_data(keep);
    a->end = a->cur + keep->size;
    a->last = NULL;
    a->used = 0;
}

/* Start a new block able to hold `size` bytes at alignment `align`. The block
 * is at least block_size and at least twice the previous block (up to
 * ARENA_MAX_DOUBLING), so the number of blocks grows logarithmically. */
static int arena_grow(mqr_arena_t *a, size_t size, size_t align)
{
    if (size > SIZE_MAX - BLOCK_HDR - align)
        return MQR_ENOMEM;
    size_t want = a->block_size;
    if (a->blocks) {
        size_t twice = a->blocks->size <= ARENA_MAX_DOUBLING / 2 ? a->blocks->size * 2
                                                                 : ARENA_MAX_DOUBLING;
        if (twice > want)
            want = twice;
    }
    if (size + align > want)
        want = size + align;
    if (want > SIZE_MAX - BLOCK_HDR) /* a huge block_size */
        return MQR_ENOMEM;
    arena_block_t *b = mqr__alloc(&a->alloc, BLOCK_HDR + want);
    if (!b)
        return MQR_ENOMEM;
    b->size = want;
    b->next = a->blocks;
    a->blocks = b;
    a->cur = block_data(b);
    a->end = a->cur + want;
    return MQR_OK;
}

/* `size` bytes at alignment `align` (a power of two), or NULL. */
static void *arena_take(mqr_arena_t *a, size_t size, size_t align)
{
    uintptr_t p = ((uintptr_t)a->cur + (align - 1)) & ~(uintptr_t)(align - 1);
    if (!a->cur || p > (uintptr_t)a->end || size > (uintptr_t)a->end - p) {
        if (arena_grow(a, size, align) != MQR_OK)
            return NULL;
        p = ((uintptr_t)a->cur + (align - 1)) & ~(uintptr_t)(align - 1);
    }
    a->cur = (char *)p + size;
    a->last = (char *)p;
    a->used += size;
    return (void *)p;
}

void *mqr_arena_alloc(mqr_arena_t *a, size_t size)
{
    return a ? arena_take(a, size, ARENA_ALIGN) : NULL;
}

size_t mqr_arena_used(const mqr_arena_t *a) { return a ? a->used : 0; }

void *mqr__arena_realloc(mqr_arena_t *a, void *p, size_t old_size, size_t new_size)
{
    if (!a)
        return NULL;
    if (!p)
        return arena_take(a, new_size, ARENA_ALIGN);
    if ((char *)p == a->last && new_size <= (size_t)(a->end - a->last)) {
        a->cur = a->last + new_size;
        a->used = a->used - old_size + new_size;
        return p;
    }
    if (new_size <= old_size)
        return p;
    void *q = arena_take(a, new_size, ARENA_ALIGN);
    if (q)
        memcpy(q, p, old_size);
    return q;
}

char *mqr__arena_memdup(mqr_arena_t *a, const void *p, size_t len)
{
    char *q = a ? arena_take(a, len, 1) : NULL;
    if (q && len)
        memcpy(q, p, len);
    return q;
}
