/* SPDX-License-Identifier: MIT */
/*
 * value_test_alloc.h - an allocator for the value and JSON tests that counts
 * live bytes and calls, and can fail its Nth call: for "zero allocations
 * after warm-up", leak checks and allocation-failure injection.
 */
#ifndef MQR_VALUE_TEST_ALLOC_H
#define MQR_VALUE_TEST_ALLOC_H

#include <stdlib.h>

typedef struct {
    size_t live;    /* bytes currently allocated */
    size_t calls;   /* allocations and resizes so far */
    size_t fail_at; /* 1-based call number that fails; 0 = never */
} counting_t;

static inline void *counting_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    counting_t *c = ud;
    if (new_size == 0) {
        if (ptr)
            c->live -= old_size;
        free(ptr);
        return NULL;
    }
    if (++c->calls == c->fail_at)
        return NULL;
    void *p = realloc(ptr, new_size);
    if (p)
        c->live += new_size - (ptr ? old_size : 0);
    return p;
}

#endif /* MQR_VALUE_TEST_ALLOC_H */
