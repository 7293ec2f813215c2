/* SPDX-License-Identifier: MIT */
/*
 * test_value.c - the arena, value builders and readers, comparison and
 * equality, number parsing and formatting, the string builder, the JSON
 * writer and text rendering (lib/value.c, lib/sbuf.c).
 */
#include <criterion/criterion.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttrule.h"
#include "value_int.h"
#include "value_test_alloc.h"

static mqr_arena_t *new_arena(counting_t *c, size_t block)
{
    static mqr_allocator_t a; /* tests run one per process */
    a.fn = counting_alloc;
    a.ud = c;
    mqr_arena_t *arena = NULL;
    cr_assert_eq(mqr_arena_create(&a, block, &arena), MQR_OK);
    return arena;
}

/* Renders v as JSON into a heap string (test helper; caller frees). It
 * renders twice, into an empty heap builder (every append grows it: the
 * slow paths) and into a roomy fixed buffer (the fast paths), and requires
 * the same bytes. */
static char *json_of(const mqr_value_t *v, uint32_t flags)
{
    mqr__sbuf_t b, f;
    static char room[1 << 16];
    mqr__sbuf_init_heap(&b, NULL);
    mqr__json_write(&b, v, flags);
    cr_assert_eq(mqr__sbuf_status(&b), MQR_OK);
    mqr__sbuf_init_fixed(&f, room, sizeof room);
    mqr__json_write(&f, v, flags);
    cr_assert_eq(mqr__sbuf_status(&f), MQR_OK);
    cr_assert(f.len == b.len && memcmp(f.p, b.p, b.len) == 0, "fast and slow paths differ");
    mqr__sbuf_free(&f);
    char *s = malloc(b.len + 1);
    memcpy(s, b.p, b.len);
    s[b.len] = '\0';
    mqr__sbuf_free(&b);
    return s;
}

static char *text_of(const mqr_value_t *v)
{
    mqr__sbuf_t b;
    mqr__sbuf_init_heap(&b, NULL);
    mqr__value_to_text(&b, v);
    cr_assert_eq(mqr__sbuf_status(&b), MQR_OK);
    char *s = malloc(b.len + 1);
    if (b.len)
        memcpy(s, b.p, b.len);
    s[b.len] = '\0';
    mqr__sbuf_free(&b);
    return s;
}

#define ASSERT_JSON(v, flags, expected)                                \
    do {                                                               \
        char *s_ = json_of((v), (flags));                              \
        cr_assert_str_eq(s_, (expected));                              \
        free(s_);                                                      \
    } while (0)

#define ASSERT_TEXT(v, expected)                                       \
    do {                                                               \
        char *s_ = text_of(v);                                         \
        cr_assert_str_eq(s_, (expected));                              \
        free(s_);                                                      \
    } while (0)

static mqr_value_t vint(int64_t i)
{
    mqr_value_t v;
    mqr_value_set_int(&v, i);
    return v;
}

static mqr_value_t vdbl(double d)
{
    mqr_value_t v;
    mqr_value_set_double(&v, d);
    return v;
}

static mqr_value_t vstr(const char *s)
{
    mqr_value_t v;
    mqr_value_set_string(&v, s, strlen(s));
    return v;
}

static mqr_value_t vatom(const char *s)
{
    mqr_value_t v = vstr(s);
    v.flags = MQR_VALF_ATOM;
    return v;
}

/* ---- arena -------------------------------------------------------------------- */

Test(value, arena_create_rejects_null_out)
{
    cr_assert_eq(mqr_arena_create(NULL, 0, NULL), MQR_EINVAL);
    cr_assert_null(mqr_arena_alloc(NULL, 8));
    cr_assert_eq(mqr_arena_used(NULL), 0);
    mqr_arena_reset(NULL);
    mqr_arena_destroy(NULL);
}

Test(value, arena_alignment_and_used)
{
    counting_t c = {0};
    mqr_arena_t *a = new_arena(&c, 256);
    size_t total = 0;
    for (size_t n = 1; n < 100; n += 7) {
        void *p = mqr_arena_alloc(a, n);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % _Alignof(max_align_t), 0);
        memset(p, 0xAB, n);
        total += n;
    }
    cr_assert_eq(mqr_arena_used(a), total);
    void *big = mqr_arena_alloc(a, 10000); /* larger than a block: its own block */
    cr_assert_not_null(big);
    memset(big, 1, 10000);
    mqr_arena_destroy(a);
    cr_assert_eq(c.live, 0);
}

Test(value, arena_warm_reset_does_not_allocate)
{
    counting_t c = {0};
    mqr_arena_t *a = new_arena(&c, 128);
    for (int round = 0; round < 6; round++) {
        size_t before = c.calls;
        for (int i = 0; i < 200; i++)
            cr_assert_not_null(mqr_arena_alloc(a, 24));
        if (round >= 4)
            cr_assert_eq(c.calls, before, "round %d allocated %zu times", round, c.calls - before);
        mqr_arena_reset(a);
        cr_assert_eq(mqr_arena_used(a), 0);
    }
    mqr_arena_destroy(a);
    cr_assert_eq(c.live, 0);
}

Test(value, arena_realloc_grows_last_allocation_in_place)
{
    mqr_arena_t *a;
    cr_assert_eq(mqr_arena_create(NULL, 1024, &a), MQR_OK);
    char *p = mqr__arena_realloc(a, NULL, 0, 10);
    memcpy(p, "0123456789", 10);
    char *q = mqr__arena_realloc(a, p, 10, 100);
    cr_assert_eq(p, q);
    cr_assert_eq(mqr_arena_used(a), 100);
    char *other = mqr_arena_alloc(a, 8);
    cr_assert_not_null(other);
    char *r = mqr__arena_realloc(a, q, 100, 200); /* no longer the last: copied */
    cr_assert_neq(r, q);
    cr_assert_eq(memcmp(r, "0123456789", 10), 0);
    char *s = mqr__arena_realloc(a, r, 200, 5000); /* beyond the block: copied */
    cr_assert_eq(memcmp(s, "0123456789", 10), 0);
    cr_assert_eq(mqr__arena_realloc(a, s, 5000, 10), s); /* shrink in place */
    char *m = mqr__arena_memdup(a, "abc", 3);
    cr_assert_eq(memcmp(m, "abc", 3), 0);
    cr_assert_null(mqr__arena_realloc(NULL, NULL, 0, 8));
    mqr_arena_destroy(a);
}

Test(value, arena_huge_requests_fail_cleanly)
{
    mqr_arena_t *a;
    cr_assert_eq(mqr_arena_create(NULL, SIZE_MAX, &a), MQR_OK);
    cr_assert_null(mqr_arena_alloc(a, 1));
    mqr_arena_destroy(a);
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    cr_assert_null(mqr_arena_alloc(a, SIZE_MAX));
    cr_assert_null(mqr_arena_alloc(a, SIZE_MAX - 8));
    cr_assert_not_null(mqr_arena_alloc(a, 1));
    mqr_value_t v;
    cr_assert_eq(mqr_value_array_new(a, ((size_t)1 << 31) + 1, &v), MQR_EINVAL);
    mqr_arena_destroy(a);
}

Test(value, arena_failed_allocation_leaves_it_usable)
{
    counting_t c = {0};
    mqr_arena_t *a = new_arena(&c, 64);
    cr_assert_not_null(mqr_arena_alloc(a, 16));
    c.fail_at = c.calls + 1;
    cr_assert_null(mqr_arena_alloc(a, 4096));
    cr_assert_not_null(mqr_arena_alloc(a, 16)); /* still fits the first block */
    cr_assert_not_null(mqr_arena_alloc(a, 4096));
    mqr_arena_destroy(a);
    cr_assert_eq(c.live, 0);
}

/* ---- builders ---------------------------------------------------------------- */

Test(value, scalar_setters)
{
    mqr_value_t v;
    memset(&v, 0xFF, sizeof v);
    mqr_value_set_undefined(&v);
    cr_assert_eq(v.type, MQR_VAL_UNDEFINED);
    cr_assert_eq(v.flags, 0);
    mqr_value_set_null(&v);
    cr_assert_eq(v.type, MQR_VAL_NULL);
    mqr_value_set_bool(&v, 7);
    cr_assert_eq(v.type, MQR_VAL_BOOL);
    cr_assert_eq(v.u.b, 1);
    mqr_value_set_int(&v, -5);
    cr_assert_eq(v.u.i, -5);
    mqr_value_set_double(&v, 2.5);
    cr_assert_eq(v.u.d, 2.5);
    mqr_value_set_string(&v, "abc", 2);
    cr_assert_eq(v.type, MQR_VAL_STRING);
    cr_assert_eq(v.len, 2);
    mqr_value_set_string(&v, NULL, 0);
    cr_assert_not_null(v.u.s);
    cr_assert_str_eq(mqr_value_type_name(MQR_VAL_OBJECT), "object");
    cr_assert_str_eq(mqr_value_type_name(MQR_VAL_UNDEFINED), "undefined");
    cr_assert_str_eq(mqr_value_type_name(99), "unknown");
}

Test(value, string_copy)
{
    mqr_arena_t *a;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    char src[] = "hello";
    mqr_value_t v;
    cr_assert_eq(mqr_value_string_copy(a, src, 5, &v), MQR_OK);
    src[0] = 'J';
    cr_assert_eq(v.len, 5);
    cr_assert_eq(memcmp(v.u.s, "hello", 5), 0);
    cr_assert_eq(mqr_value_string_copy(NULL, src, 5, &v), MQR_EINVAL);
    cr_assert_eq(mqr_value_string_copy(a, src, 5, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_value_string_copy(a, NULL, 3, &v), MQR_EINVAL);
    cr_assert_eq(mqr_value_string_copy(a, src, (size_t)UINT32_MAX + 1, &v), MQR_EINVAL);
    cr_assert_eq(mqr_value_string_copy(a, NULL, 0, &v), MQR_OK);
    cr_assert_eq(v.len, 0);
    mqr_arena_destroy(a);
}

Test(value, array_push_grows_and_keeps_items)
{
    mqr_arena_t *a;
    cr_assert_eq(mqr_arena_create(NULL, 256, &a), MQR_OK);
    mqr_value_t arr;
    cr_assert_eq(mqr_value_array_new(a, 0, &arr), MQR_OK);
    cr_assert_eq(arr.type, MQR_VAL_ARRAY);
    for (int i = 0; i < 1000; i++) {
        mqr_value_t it = vint(i);
        cr_assert_eq(mqr_value_array_push(a, &arr, &it), MQR_OK);
        if (i % 3 == 0)
            mqr_arena_alloc(a, 5); /* interleave so growth must sometimes copy */
    }
    cr_assert_eq(arr.len, 1000);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(arr.u.items[i].u.i, i);
    /* pushing one of its own items (which may move while growing) */
    for (int i = 0; i < 30; i++)
        cr_assert_eq(mqr_value_array_push(a, &arr, &arr.u.items[0]), MQR_OK);
    cr_assert_eq(arr.u.items[1029].u.i, 0);
    mqr_value_t notarr = vint(1);
    cr_assert_eq(mqr_value_array_push(a, &notarr, &notarr), MQR_EINVAL);
    cr_assert_eq(mqr_value_array_push(NULL, &arr, &notarr), MQR_EINVAL);
    cr_assert_eq(mqr_value_array_new(NULL, 1, &arr), MQR_EINVAL);
    cr_assert_eq(mqr_value_array_new(a, 1, NULL), MQR_EINVAL);
    mqr_arena_destroy(a);
}

Test(value, array_new_capacity_avoids_growth)
{
    mqr_arena_t *a;
    cr_assert_eq(mqr_arena_create(NULL, 4096, &a), MQR_OK);
    mqr_value_t arr;
    cr_assert_eq(mqr_value_array_new(a, 10, &arr), MQR_OK);
    mqr_value_t *items = arr.u.items;
    mqr_arena_alloc(a, 1); /* the array is no longer the last allocation */
    for (int i = 0; i < 10; i++) {
        mqr_value_t it = vint(i);
        cr_assert_eq(mqr_value_array_push(a, &arr, &it), MQR_OK);
    }
    cr_assert_eq(arr.u.items, items);
    mqr_arena_destroy(a);
}

Test(value, push_onto_hand_built_array_copies_it)
{
    mqr_arena_t *a;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    mqr_value_t items[2] = {vint(1), vint(2)};
    mqr_value_t arr = {.type = MQR_VAL_ARRAY, .len = 2, .u.items = items};
    mqr_value_t three = vint(3);
    cr_assert_eq(mqr_value_array_push(a, &arr, &three), MQR_OK);
    cr_assert_neq(arr.u.items, items);
    cr_assert_eq(arr.len, 3);
    cr_assert_eq(arr.u.items[0].u.i, 1);
    cr_assert_eq(arr.u.items[2].u.i, 3);
    cr_assert_eq(items[1].u.i, 2);
    mqr_arena_destroy(a);
}

Test(value, object_put_replaces_in_place_or_appends)
{
    mqr_arena_t *a;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    mqr_value_t obj, one = vint(1), two = vint(2), three = vint(3);
    cr_assert_eq(mqr_value_object_new(a, 2, &obj), MQR_OK);
    cr_assert_eq(mqr_value_object_put(a, &obj, "a", 1, &one), MQR_OK);
    cr_assert_eq(mqr_value_object_put(a, &obj, "b", 1, &two), MQR_OK);
    cr_assert_eq(mqr_value_object_put(a, &obj, "c", 1, &three), MQR_OK);
    cr_assert_eq(mqr_value_object_put(a, &obj, "a", 1, &three), MQR_OK);
    cr_assert_eq(mqr_value_object_put(a, &obj, "", 0, &one), MQR_OK);
    cr_assert_eq(obj.len, 4);
    ASSERT_JSON(&obj, 0, "{\"a\":3,\"b\":2,\"c\":3,\"\":1}");
    cr_assert_eq(mqr_value_object_get(&obj, "b", 1)->u.i, 2);
    cr_assert_eq(mqr_value_object_get(&obj, "", 0)->u.i, 1);
    cr_assert_null(mqr_value_object_get(&obj, "bb", 2));
    cr_assert_null(mqr_value_object_get(&one, "a", 1));
    cr_assert_null(mqr_value_object_get(NULL, "a", 1));
    cr_assert_eq(mqr_value_object_put(a, &one, "a", 1, &one), MQR_EINVAL);
    cr_assert_eq(mqr_value_object_put(a, &obj, NULL, 1, &one), MQR_EINVAL);
    for (int i = 0; i < 300; i++) {
        char *k = mqr_arena_alloc(a, 8);
        int n = snprintf(k, 8, "k%d", i);
        mqr_value_t v = vint(i);
        cr_assert_eq(mqr_value_object_put(a, &obj, k, (size_t)n, &v), MQR_OK);
    }
    cr_assert_eq(obj.len, 304);
    cr_assert_eq(mqr_value_object_get(&obj, "k299", 4)->u.i, 299);
    cr_assert_eq(mqr_value_object_get(&obj, "a", 1)->u.i, 3);
    mqr_arena_destroy(a);
}

Test(value, object_append_adds_without_lookup)
{
    mqr_arena_t *a;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    mqr_value_t obj, one = vint(1), two = vint(2);
    cr_assert_eq(mqr_value_object_new(a, 1, &obj), MQR_OK);
    cr_assert_eq(mqr_value_object_append(a, &obj, "a", 1, &one), MQR_OK);
    cr_assert_eq(mqr_value_object_append(a, &obj, "b", 1, &two), MQR_OK, "grows past capacity");
    cr_assert_eq(mqr_value_object_append(a, &obj, "", 0, &two), MQR_OK);
    cr_assert_eq(mqr_value_object_append(a, &obj, NULL, 0, &one), MQR_OK, "NULL key of 0 bytes");
    cr_assert_eq(obj.len, 4);
    ASSERT_JSON(&obj, 0, "{\"a\":1,\"b\":2,\"\":2,\"\":1}");
    /* a key appended twice: two members, get and put see the first */
    cr_assert_eq(mqr_value_object_append(a, &obj, "a", 1, &two), MQR_OK);
    cr_assert_eq(obj.len, 5);
    cr_assert_eq(mqr_value_object_get(&obj, "a", 1)->u.i, 1);
    cr_assert_eq(mqr_value_object_put(a, &obj, "a", 1, &two), MQR_OK);
    cr_assert_eq(obj.u.members[0].value.u.i, 2);
    cr_assert_eq(obj.u.members[4].value.u.i, 2);
    /* a member's own value may be appended */
    cr_assert_eq(mqr_value_object_append(a, &obj, "c", 1, &obj.u.members[1].value), MQR_OK);
    cr_assert_eq(mqr_value_object_get(&obj, "c", 1)->u.i, 2);
    cr_assert_eq(mqr_value_object_append(NULL, &obj, "a", 1, &one), MQR_EINVAL);
    cr_assert_eq(mqr_value_object_append(a, NULL, "a", 1, &one), MQR_EINVAL);
    cr_assert_eq(mqr_value_object_append(a, &obj, "a", 1, NULL), MQR_EINVAL);
    cr_assert_eq(mqr_value_object_append(a, &one, "a", 1, &one), MQR_EINVAL, "not an object");
    cr_assert_eq(mqr_value_object_append(a, &obj, NULL, 1, &one), MQR_EINVAL);
    cr_assert_eq(mqr_value_object_append(a, &obj, "a", (size_t)UINT32_MAX + 1, &one),
                 MQR_EINVAL);
    cr_assert_eq(obj.len, 6, "a refused append leaves the object unchanged");
    mqr_arena_destroy(a);
}

Test(value, object_append_out_of_memory_leaves_object_unchanged)
{
    counting_t c = {0};
    mqr_arena_t *a = new_arena(&c, 64);
    mqr_value_t obj, one = vint(1);
    cr_assert_eq(mqr_value_object_new(a, 0, &obj), MQR_OK);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(mqr_value_object_append(a, &obj, "k", 1, &one), MQR_OK);
    c.fail_at = c.calls + 1;
    int rc = MQR_OK;
    uint32_t before = 0;
    for (int i = 0; i < 1000 && rc == MQR_OK; i++) {
        before = obj.len;
        rc = mqr_value_object_append(a, &obj, "k", 1, &one);
    }
    cr_assert_eq(rc, MQR_ENOMEM);
    cr_assert_eq(obj.len, before);
    cr_assert_geq(obj.len, 8);
    for (uint32_t i = 0; i < obj.len; i++)
        cr_assert_eq(obj.u.members[i].value.u.i, 1);
    cr_assert_eq(mqr_value_object_append(a, &obj, "k", 1, &one), MQR_OK, "usable afterwards");
    mqr_arena_destroy(a);
}

/* Builds an object with strings, a nested array and a JSON rendering in the
 * arena; every step's status must be OK or ENOMEM. Returns the first error. */
static int build_sample(mqr_arena_t *a, mqr__sbuf_t *out)
{
    mqr_value_t obj, arr, s;
    int rc;
    if ((rc = mqr_value_object_new(a, 0, &obj)) != MQR_OK)
        return rc;
    if ((rc = mqr_value_array_new(a, 0, &arr)) != MQR_OK)
        return rc;
    for (int i = 0; i < 40; i++) {
        mqr_value_t v = vint(i);
        if ((rc = mqr_value_array_push(a, &arr, &v)) != MQR_OK)
            return rc;
    }
    for (int i = 0; i < 40; i++) {
        char key[16];
        int n = snprintf(key, sizeof key, "key%d", i);
        if ((rc = mqr_value_string_copy(a, key, (size_t)n, &s)) != MQR_OK)
            return rc;
        if ((rc = mqr_value_object_put(a, &obj, s.u.s, s.len, i % 2 ? &s : &arr)) != MQR_OK)
            return rc;
    }
    mqr__sbuf_init_arena(out, a);
    mqr__json_write(out, &obj, 0);
    return mqr__sbuf_status(out);
}

Test(value, allocation_failure_injection)
{
    counting_t c = {0};
    mqr_arena_t *a;
    mqr__sbuf_t out;
    /* a clean run first, for the reference output */
    a = new_arena(&c, 128);
    cr_assert_eq(build_sample(a, &out), MQR_OK);
    size_t ref_len = out.len;
    mqr_arena_destroy(a);
    int clean = 0;
    for (size_t n = 1; !clean; n++) {
        c = (counting_t){0};
        c.fail_at = n;
        mqr_allocator_t al = {counting_alloc, &c};
        int rc = mqr_arena_create(&al, 128, &a);
        if (rc != MQR_OK) {
            cr_assert_eq(rc, MQR_ENOMEM);
            cr_assert_eq(c.live, 0);
            continue;
        }
        rc = build_sample(a, &out);
        if (rc == MQR_OK) {
            clean = c.calls < n;
            cr_assert_eq(out.len, ref_len);
        } else {
            cr_assert_eq(rc, MQR_ENOMEM, "fail at %zu gave %d", n, rc);
            /* the arena is still usable */
            c.fail_at = 0;
            cr_assert_not_null(mqr_arena_alloc(a, 32));
            mqr_arena_reset(a);
            cr_assert_eq(build_sample(a, &out), MQR_OK);
            cr_assert_eq(out.len, ref_len);
        }
        mqr_arena_destroy(a);
        cr_assert_eq(c.live, 0, "leak after failing call %zu", n);
        cr_assert_lt(n, 10000);
    }
}

/* ---- string builder ---------------------------------------------------------- */

Test(value, sbuf_heap_grows_and_frees)
{
    counting_t c = {0};
    mqr_allocator_t al = {counting_alloc, &c};
    mqr__sbuf_t b;
    mqr__sbuf_init_heap(&b, &al);
    for (int i = 0; i < 1000; i++)
        mqr__sbuf_append(&b, "abcdefghij", 10);
    mqr__sbuf_putc(&b, '!');
    mqr__sbuf_append(&b, NULL, 0);
    cr_assert_eq(mqr__sbuf_status(&b), MQR_OK);
    cr_assert_eq(b.len, 10001);
    cr_assert_eq(b.p[10000], '!');
    mqr__sbuf_free(&b);
    cr_assert_eq(c.live, 0);
    cr_assert_eq(b.len, 0);
}

Test(value, sbuf_printf_short_and_long)
{
    mqr__sbuf_t b;
    mqr__sbuf_init_heap(&b, NULL);
    mqr__sbuf_printf(&b, "%d-%s", 42, "x");
    char longs[600];
    memset(longs, 'q', sizeof longs - 1);
    longs[599] = '\0';
    mqr__sbuf_printf(&b, "<%s>", longs);
    cr_assert_eq(mqr__sbuf_status(&b), MQR_OK);
    cr_assert_eq(b.len, 4 + 601);
    cr_assert_eq(memcmp(b.p, "42-x<qq", 7), 0);
    cr_assert_eq(b.p[b.len - 1], '>');
    mqr__sbuf_free(&b);
}

Test(value, sbuf_fixed_spills_to_heap)
{
    char buf[8];
    mqr__sbuf_t b;
    mqr__sbuf_init_fixed(&b, buf, sizeof buf);
    mqr__sbuf_append(&b, "1234567", 7);
    cr_assert_eq(b.p, buf);
    mqr__sbuf_append(&b, "89", 2);
    cr_assert_neq(b.p, buf);
    cr_assert_eq(memcmp(b.p, "123456789", 9), 0);
    mqr__sbuf_free(&b);
}

Test(value, sbuf_bounded_counts_what_does_not_fit)
{
    char buf[10];
    mqr__sbuf_t b;
    mqr__sbuf_init_bounded(&b, buf, sizeof buf);
    mqr__sbuf_append(&b, "12345678", 8);
    mqr__sbuf_append(&b, "abc", 3);
    mqr__sbuf_putc(&b, 'z');
    mqr__sbuf_printf(&b, "%0300d", 1);
    cr_assert_eq(mqr__sbuf_status(&b), MQR_EBUFFER);
    cr_assert_eq(b.len, 8);
    cr_assert_eq(mqr__sbuf_needed(&b), 8 + 3 + 1 + 300);
    mqr__sbuf_init_bounded(&b, NULL, 0);
    mqr__sbuf_append(&b, "x", 1);
    cr_assert_eq(mqr__sbuf_needed(&b), 1);
    cr_assert_eq(mqr__sbuf_status(&b), MQR_EBUFFER);
}

Test(value, sbuf_max_is_a_sticky_limit)
{
    mqr__sbuf_t b;
    mqr__sbuf_init_heap(&b, NULL);
    mqr__sbuf_set_max(&b, 5);
    mqr__sbuf_append(&b, "12345", 5);
    cr_assert_eq(mqr__sbuf_status(&b), MQR_OK);
    mqr__sbuf_putc(&b, '6');
    cr_assert_eq(mqr__sbuf_status(&b), MQR_ELIMIT);
    mqr__sbuf_append(&b, "7", 1);
    cr_assert_eq(b.len, 5);
    mqr__sbuf_free(&b);

    char buf[64];
    mqr__sbuf_init_fixed(&b, buf, sizeof buf);
    mqr__sbuf_set_max(&b, 3);
    mqr__sbuf_put(&b, "abcd", 4);
    cr_assert_eq(mqr__sbuf_status(&b), MQR_ELIMIT);
    cr_assert_eq(b.len, 0);
}

Test(value, sbuf_arena_backend)
{
    mqr_arena_t *a;
    cr_assert_eq(mqr_arena_create(NULL, 64, &a), MQR_OK);
    mqr__sbuf_t b;
    mqr__sbuf_init_arena(&b, a);
    for (int i = 0; i < 100; i++)
        mqr__sbuf_append(&b, "0123456789", 10);
    cr_assert_eq(mqr__sbuf_status(&b), MQR_OK);
    cr_assert_eq(b.len, 1000);
    cr_assert_eq(memcmp(b.p + 990, "0123456789", 10), 0);
    mqr__sbuf_free(&b);
    mqr_arena_destroy(a);
}

/* ---- number formatting ------------------------------------------------------ */

static void check_json_double(double d, const char *expected)
{
    char buf[MQR__NUMBUF];
    size_t n = mqr__fmt_double_json(d, buf);
    cr_assert_eq(n, strlen(expected), "%.17g: got %s want %s", d, buf, expected);
    cr_assert_str_eq(buf, expected);
}

Test(value, fmt_int)
{
    char buf[MQR__NUMBUF];
    cr_assert_eq(mqr__fmt_int(0, buf), 1);
    cr_assert_str_eq(buf, "0");
    mqr__fmt_int(-1, buf);
    cr_assert_str_eq(buf, "-1");
    mqr__fmt_int(INT64_MIN, buf);
    cr_assert_str_eq(buf, "-9223372036854775808");
    cr_assert_eq(mqr__fmt_int(INT64_MAX, buf), 19);
    cr_assert_str_eq(buf, "9223372036854775807");
}

Test(value, fmt_double_json_cases)
{
    check_json_double(1.0, "1.0");
    check_json_double(2.0, "2.0");
    check_json_double(-3.0, "-3.0");
    check_json_double(0.0, "0.0");
    check_json_double(-0.0, "-0.0");
    check_json_double(0.1, "0.1");
    check_json_double(0.1 + 0.2, "0.30000000000000004");
    check_json_double(23.5, "23.5");
    check_json_double(123.456, "123.456");
    check_json_double(1e15, "1000000000000000.0");
    check_json_double(1e20, "100000000000000000000.0");
    check_json_double(1e21, "1.0e+21");
    check_json_double(1.5e300, "1.5e+300");
    check_json_double(1e-6, "0.000001");
    check_json_double(1.25e-6, "0.00000125");
    check_json_double(1e-7, "1.0e-7");
    check_json_double(1.5e-7, "1.5e-7");
    check_json_double(5e-324, "5.0e-324");
    check_json_double(DBL_MAX, "1.7976931348623157e+308");
    check_json_double(9007199254740993.0, "9007199254740992.0");
    check_json_double(123456789012345680.0, "123456789012345680.0");
    check_json_double(NAN, "null");
    check_json_double(INFINITY, "null");
    check_json_double(-INFINITY, "null");
}

/* xorshift for reproducible random doubles */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Significant digits in a rendering: mantissa digits without leading or
 * trailing zeros. */
static size_t sig_digits(const char *s)
{
    char dg[64];
    size_t n = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9' && (n || *s != '0'))
            dg[n++] = *s;
    while (n > 1 && dg[n - 1] == '0')
        n--;
    return n ? n : 1;
}

/* The fewest significant digits that read back to d, by brute force. */
static size_t shortest_reference(double d)
{
    char tmp[64];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec, d);
        if (strtod(tmp, NULL) == d)
            return sig_digits(tmp);
    }
    return 17;
}

Test(value, fmt_double_json_round_trips)
{
    uint64_t seed = 0x9E3779B97F4A7C15u;
    char buf[MQR__NUMBUF];
    for (int i = 0; i < 50000; i++) {
        uint64_t bits = rng_next(&seed);
        double d;
        if (i % 2) {
            memcpy(&d, &bits, sizeof d);
        } else { /* short decimals, the common case */
            d = (double)(int64_t)(bits % 2000000) / pow(10, (double)(bits >> 60));
        }
        if (!isfinite(d))
            continue;
        size_t n = mqr__fmt_double_json(d, buf);
        double back;
        cr_assert_eq(mqr__strtod(buf, n, &back), MQR_OK, "%s", buf);
        cr_assert(back == d || (d == 0 && back == 0), "%.17g -> %s -> %.17g", d, buf, back);
        cr_assert_eq(strtod(buf, NULL), back, "libc disagrees on %s", buf);
        cr_assert(strchr(buf, '.') != NULL, "%s has no fraction", buf);
        if (i % 8 == 0)
            cr_assert_eq(sig_digits(buf), shortest_reference(d), "%s is not shortest", buf);
    }
}

Test(value, fmt_double_str_cases)
{
    char buf[MQR__NUMBUF];
    struct {
        double d;
        const char *s;
    } cases[] = {
        {2.0, "2.0"},         {0.30000000000000004, "0.3"}, {3.14159265359, "3.1415926536"},
        {-1.5, "-1.5"},       {1e-11, "0.0"},               {0.1, "0.1"},
        {100.25, "100.25"},   {123456789.125, "123456789.125"},
        {1e15, "1000000000000000.0"}, {1e22, "1.0e+22"},
        {NAN, "nan"},         {INFINITY, "inf"},            {-INFINITY, "-inf"},
    };
    for (size_t i = 0; i < MQR__ARRAY_LEN(cases); i++) {
        size_t n = mqr__fmt_double_str(cases[i].d, buf);
        cr_assert_str_eq(buf, cases[i].s);
        cr_assert_eq(n, strlen(cases[i].s));
    }
}

/* mqr__sbuf_put_fixed into a heap string (test helper). */
static char *fixed_of(double d, int decimals, int compact)
{
    mqr__sbuf_t b;
    mqr__sbuf_init_heap(&b, NULL);
    mqr__sbuf_put_fixed(&b, d, decimals, compact);
    cr_assert_eq(mqr__sbuf_status(&b), MQR_OK);
    char *s = malloc(b.len + 1);
    memcpy(s, b.p, b.len);
    s[b.len] = '\0';
    mqr__sbuf_free(&b);
    return s;
}

Test(value, sbuf_put_fixed)
{
    struct {
        double d;
        int dec, compact;
        const char *s;
    } cases[] = {
        {20.2, 15, 1, "20.199999999999999"}, {1.5, 2, 0, "1.50"}, {1.5, 2, 1, "1.5"},
        {2.0, 3, 1, "2.0"},   {2.5, 0, 1, "2"},     {-0.125, 2, 0, "-0.12"},
        {3.1415926, 3, 1, "3.142"}, {0.0, 1, 0, "0.0"}, {NAN, 2, 0, "nan"},
        {-INFINITY, 2, 0, "-inf"}, {1e20, -5, 1, "100000000000000000000"},
    };
    for (size_t i = 0; i < MQR__ARRAY_LEN(cases); i++) {
        char *s = fixed_of(cases[i].d, cases[i].dec, cases[i].compact);
        cr_assert_str_eq(s, cases[i].s, "case %zu", i);
        free(s);
    }
    char *big = fixed_of(1e300, 2, 0);
    cr_assert_eq(strlen(big), 301 + 3);
    cr_assert_eq(memcmp(big + 301, ".00", 3), 0);
    free(big);
    char buf[4];
    mqr__sbuf_t b;
    mqr__sbuf_init_bounded(&b, buf, sizeof buf);
    mqr__sbuf_put_fixed(&b, 123.456, 3, 0);
    cr_assert_eq(mqr__sbuf_status(&b), MQR_EBUFFER);
    cr_assert_eq(mqr__sbuf_needed(&b), 7);
    char exact[7];
    mqr__sbuf_init_bounded(&b, exact, sizeof exact);
    mqr__sbuf_put_fixed(&b, 123.450, 3, 1);
    cr_assert_eq(mqr__sbuf_status(&b), MQR_OK);
    cr_assert_eq(b.len, 6);
    mqr__sbuf_put_fixed(&b, 5, 0, 1);
    cr_assert_eq(mqr__sbuf_status(&b), MQR_OK);
    cr_assert_eq(memcmp(exact, "123.455", 7), 0);
    big = fixed_of(-DBL_MAX, 340, 0);
    cr_assert_eq(strlen(big), 1 + 309 + 1 + 340);
    free(big);
}

/* ---- number parsing --------------------------------------------------------- */

Test(value, parse_int_cases)
{
    int64_t v;
    cr_assert_eq(mqr__parse_int("12", 2, &v), MQR_OK);
    cr_assert_eq(v, 12);
    cr_assert_eq(mqr__parse_int("+200", 4, &v), MQR_OK);
    cr_assert_eq(v, 200);
    cr_assert_eq(mqr__parse_int("-007", 4, &v), MQR_OK);
    cr_assert_eq(v, -7);
    cr_assert_eq(mqr__parse_int("9223372036854775807", 19, &v), MQR_OK);
    cr_assert_eq(v, INT64_MAX);
    cr_assert_eq(mqr__parse_int("-9223372036854775808", 20, &v), MQR_OK);
    cr_assert_eq(v, INT64_MIN);
    cr_assert_eq(mqr__parse_int("9223372036854775808", 19, &v), MQR_EOVERFLOW);
    cr_assert_eq(mqr__parse_int("-9223372036854775809", 20, &v), MQR_EOVERFLOW);
    cr_assert_eq(mqr__parse_int("99999999999999999999999", 23, &v), MQR_EOVERFLOW);
    const char *bad[] = {"", "+", "-", " 1", "1 ", "1a", "1.0", "0x10", "--1"};
    for (size_t i = 0; i < MQR__ARRAY_LEN(bad); i++)
        cr_assert_eq(mqr__parse_int(bad[i], strlen(bad[i]), &v), MQR_EINVAL, "%s", bad[i]);
    cr_assert_eq(mqr__parse_int("12", 1, &v), MQR_OK);
    cr_assert_eq(v, 1);
    cr_assert_eq(mqr__parse_int(NULL, 0, &v), MQR_EINVAL);
}

Test(value, parse_double_cases)
{
    double d;
    struct {
        const char *s;
        double d;
    } ok[] = {{"1.5", 1.5},         {"2.0", 2.0},           {"-0.5", -0.5},
              {"+1.5", 1.5},        {"1.0e5", 1e5},         {"1.5E-3", 1.5e-3},
              {"3.1415e2", 314.15}, {"00.25", 0.25},        {"1.0e-400", 0.0},
              {"0.1", 0.1},         {"123456789012345678901234567890.0", 1.2345678901234568e29}};
    for (size_t i = 0; i < MQR__ARRAY_LEN(ok); i++) {
        cr_assert_eq(mqr__parse_double(ok[i].s, strlen(ok[i].s), &d), MQR_OK, "%s", ok[i].s);
        cr_assert_eq(d, ok[i].d, "%s -> %.17g", ok[i].s, d);
    }
    const char *bad[] = {"", "1", "1e5", "1.", ".5", " 1.5", "1.5 ", "1.0e", "1.0e+", "-", "1,5",
                         "nan", "inf", "1.5.2", "+-1.0"};
    for (size_t i = 0; i < MQR__ARRAY_LEN(bad); i++)
        cr_assert_eq(mqr__parse_double(bad[i], strlen(bad[i]), &d), MQR_EINVAL, "%s", bad[i]);
    cr_assert_eq(mqr__parse_double("1.0e400", 7, &d), MQR_EOVERFLOW);
    cr_assert_eq(mqr__parse_double("-1.0e309", 8, &d), MQR_EOVERFLOW);
}

Test(value, strtod_long_and_halfway_inputs)
{
    double d;
    /* 2^-1075 = 5^1075 / 10^1075, exactly halfway between 0 and the
     * smallest subnormal: ties to even gives 0; a 1 in the 1200th decimal
     * place tips it to 5e-324. Its 751 significant digits exercise the
     * long path. */
    static char half[1300];
    static unsigned char dig[800];
    size_t nd = 1;
    dig[0] = 1; /* little-endian decimal digits of 5^1075 */
    for (int k = 0; k < 1075; k++) {
        unsigned carry = 0;
        for (size_t j = 0; j < nd; j++) {
            unsigned x = dig[j] * 5u + carry;
            dig[j] = (unsigned char)(x % 10);
            carry = x / 10;
        }
        while (carry) {
            dig[nd++] = (unsigned char)(carry % 10);
            carry /= 10;
        }
    }
    size_t hn = 0;
    half[hn++] = '0';
    half[hn++] = '.';
    for (size_t j = nd; j < 1075; j++)
        half[hn++] = '0';
    for (size_t j = nd; j-- > 0;)
        half[hn++] = (char)('0' + dig[j]);
    cr_assert_eq(mqr__strtod(half, hn, &d), MQR_OK);
    cr_assert_eq(d, 0.0);
    for (size_t j = 1075; j < 1199; j++) /* past 780 digits: the sticky path */
        half[hn++] = '0';
    half[hn++] = '1';
    cr_assert_eq(mqr__strtod(half, hn, &d), MQR_OK);
    cr_assert_eq(d, 5e-324);
    const char *s = "4.9406564584124654e-324";
    cr_assert_eq(mqr__strtod(s, strlen(s), &d), MQR_OK);
    cr_assert_eq(d, 5e-324);
    /* 1 followed by 900 zeros and a trailing 1 in the fraction */
    char big[1200];
    size_t n = 0;
    big[n++] = '1';
    big[n++] = '.';
    for (int i = 0; i < 900; i++)
        big[n++] = '0';
    big[n++] = '1';
    cr_assert_eq(mqr__strtod(big, n, &d), MQR_OK);
    cr_assert_eq(d, 1.0);
    /* 9007199254740993 = 2^53 + 1 is halfway: ties to even (2^53) */
    cr_assert_eq(mqr__strtod("9007199254740993", 16, &d), MQR_OK);
    cr_assert_eq(d, 9007199254740992.0);
    cr_assert_eq(mqr__strtod("9007199254740993.0000000000000000000000000001", 45, &d), MQR_OK);
    cr_assert_eq(d, 9007199254740994.0);
    cr_assert_eq(mqr__strtod("-0.0", 4, &d), MQR_OK);
    cr_assert(d == 0 && signbit(d));
    cr_assert_eq(mqr__strtod("1e99999999999999999999", 22, &d), MQR_EOVERFLOW);
    cr_assert_eq(mqr__strtod("1e-99999999999999999999", 23, &d), MQR_OK);
    cr_assert_eq(d, 0.0);
}

/* ---- JSON writer -------------------------------------------------------------- */

Test(value, json_write_scalars)
{
    mqr_value_t v;
    mqr_value_set_undefined(&v);
    ASSERT_JSON(&v, 0, "\"undefined\"");
    ASSERT_JSON(&v, MQR__JSONF_UNDEFINED_AS_NULL, "null");
    mqr_value_set_null(&v);
    ASSERT_JSON(&v, 0, "null");
    mqr_value_set_bool(&v, 1);
    ASSERT_JSON(&v, 0, "true");
    mqr_value_set_bool(&v, 0);
    ASSERT_JSON(&v, 0, "false");
    v = vint(-42);
    ASSERT_JSON(&v, 0, "-42");
    v = vdbl(1.0);
    ASSERT_JSON(&v, 0, "1.0");
    v = vdbl(NAN);
    ASSERT_JSON(&v, 0, "null");
    v = vatom("success");
    ASSERT_JSON(&v, 0, "\"success\"");
    v.type = 200;
    ASSERT_JSON(&v, 0, "null");
}

Test(value, json_write_string_escapes)
{
    mqr_value_t v = vstr("a/b\"c\\d\n\t\r\b\f\x01\x1f\x7f");
    ASSERT_JSON(&v, 0, "\"a/b\\\"c\\\\d\\n\\t\\r\\b\\f\\u0001\\u001f\x7f\"");
    v = vstr("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80");
    ASSERT_JSON(&v, 0, "\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80\"");
    mqr_value_set_string(&v, "a\0b", 3);
    ASSERT_JSON(&v, 0, "\"a\\u0000b\"");
}

Test(value, json_write_special_byte_at_every_position)
{
    /* the writer checks 8 bytes at a time: put each kind of special byte at
     * every offset of a 40-byte string and compare with the plain rendering */
    struct {
        const char *in;
        const char *out;
    } kinds[] = {{"\"", "\\\""}, {"\\", "\\\\"}, {"\n", "\\n"}, {"\x1f", "\\u001f"},
                 {"\x7f", "\x7f"}, {"\xC3\xA9", "\xC3\xA9"}, {"\xFF", "\xEF\xBF\xBD"},
                 {"\x80", "\xEF\xBF\xBD"}, {" ", " "}, {"!", "!"}, {"#", "#"}, {"[", "["}, {"]", "]"}};
    for (size_t k = 0; k < MQR__ARRAY_LEN(kinds); k++) {
        for (size_t pos = 0; pos < 40; pos++) {
            char in[64], want[80];
            memset(in, 'a', pos);
            strcpy(in + pos, kinds[k].in);
            memset(in + strlen(in), 'b', 39 - pos);
            in[pos + strlen(kinds[k].in) + 39 - pos] = '\0';
            want[0] = '"';
            memset(want + 1, 'a', pos);
            strcpy(want + 1 + pos, kinds[k].out);
            size_t w = strlen(want);
            memset(want + w, 'b', 39 - pos);
            want[w + 39 - pos] = '"';
            want[w + 40 - pos] = '\0';
            mqr_value_t v = vstr(in);
            ASSERT_JSON(&v, 0, want);
        }
    }
}

Test(value, json_write_repairs_invalid_utf8)
{
    struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"\xFF", "\xEF\xBF\xBD"},                    /* never a lead byte */
        {"a\x80\x80z", "a\xEF\xBF\xBDz"},            /* stray continuations: one */
        {"\xC3", "\xEF\xBF\xBD"},                    /* truncated at the end */
        {"\xC3(", "\xEF\xBF\xBD("},                  /* lead then ASCII */
        {"\xC0\x80", "\xEF\xBF\xBD"},                /* overlong NUL */
        {"\xE0\x80\xAF", "\xEF\xBF\xBD"},            /* overlong */
        {"\xED\xA0\x80", "\xEF\xBF\xBD"},            /* surrogate */
        {"\xF4\x90\x80\x80", "\xEF\xBF\xBD"},        /* > U+10FFFF */
        {"\xE2\x82\xE2\x82\xAC", "\xEF\xBF\xBD\xE2\x82\xAC"}, /* truncated then valid */
        {"\xF0\x9F\x98", "\xEF\xBF\xBD"},            /* truncated 4-byte */
        {"\xF5\x80", "\xEF\xBF\xBD"},
    };
    for (size_t i = 0; i < MQR__ARRAY_LEN(cases); i++) {
        mqr_value_t v = vstr(cases[i].in);
        char *s = json_of(&v, 0);
        size_t n = strlen(s);
        cr_assert(n >= 2 && strncmp(s + 1, cases[i].out, n - 2) == 0 &&
                      strlen(cases[i].out) == n - 2,
                  "case %zu: %s", i, s);
        free(s);
    }
}

Test(value, json_write_containers_in_order)
{
    mqr_arena_t *a;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    mqr_value_t obj, arr, inner, empty_arr, empty_obj, u;
    mqr_value_object_new(a, 0, &obj);
    mqr_value_array_new(a, 0, &arr);
    mqr_value_array_new(a, 0, &empty_arr);
    mqr_value_object_new(a, 0, &empty_obj);
    mqr_value_set_undefined(&u);
    mqr_value_t x = vint(1), y = vdbl(2.5), z = vstr("s");
    mqr_value_array_push(a, &arr, &x);
    mqr_value_array_push(a, &arr, &y);
    mqr_value_array_push(a, &arr, &z);
    mqr_value_array_push(a, &arr, &empty_arr);
    mqr_value_object_new(a, 0, &inner);
    mqr_value_object_put(a, &inner, "k", 1, &u);
    mqr_value_object_put(a, &obj, "zeta", 4, &x);
    mqr_value_object_put(a, &obj, "alpha", 5, &arr);
    mqr_value_object_put(a, &obj, "mid\"q", 5, &inner);
    mqr_value_object_put(a, &obj, "e", 1, &empty_obj);
    ASSERT_JSON(&obj, 0,
                "{\"zeta\":1,\"alpha\":[1,2.5,\"s\",[]],\"mid\\\"q\":{\"k\":\"undefined\"},\"e\":{}}");
    ASSERT_JSON(&obj, MQR__JSONF_UNDEFINED_AS_NULL,
                "{\"zeta\":1,\"alpha\":[1,2.5,\"s\",[]],\"mid\\\"q\":{\"k\":null},\"e\":{}}");
    mqr_arena_destroy(a);
}

/* A chain of `depth` nested one-element arrays around 0. */
static mqr_value_t nested_arrays(mqr_value_t *store, uint32_t depth)
{
    mqr_value_t v = vint(0);
    for (uint32_t i = 0; i < depth; i++) {
        store[i] = v;
        v = (mqr_value_t){.type = MQR_VAL_ARRAY, .len = 1, .u.items = &store[i]};
    }
    return v;
}

Test(value, json_write_depth_limit)
{
    static mqr_value_t store[MQR__VALUE_MAX_DEPTH + 1];
    mqr__sbuf_t b;
    mqr_value_t v = nested_arrays(store, MQR__VALUE_MAX_DEPTH);
    mqr__sbuf_init_heap(&b, NULL);
    mqr__json_write(&b, &v, 0);
    cr_assert_eq(mqr__sbuf_status(&b), MQR_OK);
    cr_assert_eq(b.len, 2 * MQR__VALUE_MAX_DEPTH + 1);
    mqr__sbuf_free(&b);
    v = nested_arrays(store, MQR__VALUE_MAX_DEPTH + 1);
    mqr__sbuf_init_heap(&b, NULL);
    mqr__json_write(&b, &v, 0);
    cr_assert_eq(mqr__sbuf_status(&b), MQR_ELIMIT);
    mqr__sbuf_free(&b);
}

/* ---- text rendering ----------------------------------------------------------- */

Test(value, text_rendering)
{
    mqr_arena_t *a;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    mqr_value_t v;
    mqr_value_set_undefined(&v);
    ASSERT_TEXT(&v, "undefined");
    mqr_value_set_null(&v);
    ASSERT_TEXT(&v, "null");
    mqr_value_set_bool(&v, 1);
    ASSERT_TEXT(&v, "true");
    v = vint(-12);
    ASSERT_TEXT(&v, "-12");
    v = vdbl(2.0);
    ASSERT_TEXT(&v, "2.0");
    v = vdbl(3.14159265359);
    ASSERT_TEXT(&v, "3.1415926536");
    v = vstr("a\"b\xFF"); /* as is: no escaping, no repair */
    ASSERT_TEXT(&v, "a\"b\xFF");
    v = vatom("not_authorized");
    ASSERT_TEXT(&v, "not_authorized");

    mqr_value_t arr, h = vint(104), i = vint(105), nl = vint('\n'), big = vint(1000), d = vdbl(104);
    mqr_value_array_new(a, 0, &arr);
    ASSERT_TEXT(&arr, ""); /* the empty list is printable, as in EMQX */
    mqr_value_array_push(a, &arr, &h);
    mqr_value_array_push(a, &arr, &i);
    ASSERT_TEXT(&arr, "hi");
    ASSERT_JSON(&arr, 0, "[104,105]"); /* json_encode keeps it an array */
    mqr_value_array_push(a, &arr, &nl);
    ASSERT_TEXT(&arr, "hi\n");
    mqr_value_array_push(a, &arr, &big);
    ASSERT_TEXT(&arr, "[104,105,10,1000]");
    mqr_value_t arr2;
    mqr_value_array_new(a, 0, &arr2);
    mqr_value_array_push(a, &arr2, &d);
    ASSERT_TEXT(&arr2, "[104.0]");
    mqr_value_t obj, u;
    mqr_value_set_undefined(&u);
    mqr_value_object_new(a, 0, &obj);
    mqr_value_object_put(a, &obj, "u", 1, &u);
    mqr_value_object_put(a, &obj, "l", 1, &arr2);
    ASSERT_TEXT(&obj, "{\"u\":\"undefined\",\"l\":[104.0]}");
    mqr_arena_destroy(a);
}

/* ---- comparison and equality ------------------------------------------------------ */

static int sgn(int x) { return (x > 0) - (x < 0); }

Test(value, compare_type_order)
{
    mqr_arena_t *a;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    mqr_value_t num = vint(999999), atom = vatom("zzz"), obj, arr, str = vstr("");
    mqr_value_object_new(a, 0, &obj);
    mqr_value_array_new(a, 0, &arr);
    mqr_value_t order[] = {num, atom, obj, arr, str};
    for (size_t i = 0; i < 5; i++)
        for (size_t j = 0; j < 5; j++)
            cr_assert_eq(sgn(mqr__value_compare(&order[i], &order[j])), (i > j) - (i < j),
                         "%zu vs %zu", i, j);
    /* atoms by name: false < null < true < undefined < zzz */
    mqr_value_t f, n, t, u;
    mqr_value_set_bool(&f, 0);
    mqr_value_set_null(&n);
    mqr_value_set_bool(&t, 1);
    mqr_value_set_undefined(&u);
    mqr_value_t atoms[] = {f, n, t, u, atom};
    for (size_t i = 0; i + 1 < 5; i++)
        cr_assert_lt(mqr__value_compare(&atoms[i], &atoms[i + 1]), 0, "%zu", i);
    mqr_value_t s_true = vatom("true");
    cr_assert_eq(mqr__value_compare(&t, &s_true), 0);
    mqr_arena_destroy(a);
}

Test(value, compare_numbers_exactly)
{
    struct {
        mqr_value_t a, b;
        int want;
    } cases[] = {
        {vint(1), vdbl(1.0), 0},
        {vint(1), vdbl(1.5), -1},
        {vint(2), vdbl(1.5), 1},
        {vint(-2), vdbl(-1.5), -1},
        {vint(-1), vdbl(-1.5), 1},
        {vint(INT64_MAX), vdbl(9223372036854775808.0), -1},
        {vint(INT64_MIN), vdbl(-9223372036854775808.0), 0},
        {vint(INT64_MIN), vdbl(-9223372036854777856.0), 1},
        {vint(9007199254740993), vdbl(9007199254740992.0), 1},
        {vint(9007199254740991), vdbl(9007199254740992.0), -1},
        {vint(0), vdbl(-0.0), 0},
        {vint(0), vdbl(1e300), -1},
        {vdbl(0.5), vdbl(0.25), 1},
        {vint(3), vint(4), -1},
        {vint(0), vdbl(NAN), -1},
    };
    for (size_t i = 0; i < MQR__ARRAY_LEN(cases); i++) {
        cr_assert_eq(sgn(mqr__value_compare(&cases[i].a, &cases[i].b)), cases[i].want, "case %zu", i);
        cr_assert_eq(sgn(mqr__value_compare(&cases[i].b, &cases[i].a)), -cases[i].want, "case %zu", i);
    }
}

Test(value, compare_strings_arrays_objects)
{
    mqr_arena_t *a;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    mqr_value_t s1 = vstr("ab"), s2 = vstr("abc"), s3 = vstr("b");
    cr_assert_lt(mqr__value_compare(&s1, &s2), 0);
    cr_assert_lt(mqr__value_compare(&s2, &s3), 0);
    mqr_value_t hi = vstr("\xC3\xA9"), lo = vstr("z"); /* bytewise */
    cr_assert_gt(mqr__value_compare(&hi, &lo), 0);

    mqr_value_t e, a1, a12, a13, a2, one = vint(1), two = vint(2), three = vint(3);
    mqr_value_array_new(a, 0, &e);
    mqr_value_array_new(a, 0, &a1);
    mqr_value_array_push(a, &a1, &one);
    mqr_value_array_new(a, 0, &a12);
    mqr_value_array_push(a, &a12, &one);
    mqr_value_array_push(a, &a12, &two);
    mqr_value_array_new(a, 0, &a13);
    mqr_value_array_push(a, &a13, &one);
    mqr_value_array_push(a, &a13, &three);
    mqr_value_array_new(a, 0, &a2);
    mqr_value_array_push(a, &a2, &two);
    mqr_value_t arrs[] = {e, a1, a12, a13, a2};
    for (size_t i = 0; i + 1 < 5; i++)
        cr_assert_lt(mqr__value_compare(&arrs[i], &arrs[i + 1]), 0, "%zu", i);

    /* objects: size, then sorted keys, then values in key order */
    mqr_value_t o1, o2, o3, o4;
    mqr_value_object_new(a, 0, &o1);
    mqr_value_object_put(a, &o1, "z", 1, &one);
    mqr_value_object_new(a, 0, &o2);
    mqr_value_object_put(a, &o2, "b", 1, &one);
    mqr_value_object_put(a, &o2, "a", 1, &two);
    mqr_value_object_new(a, 0, &o3);
    mqr_value_object_put(a, &o3, "a", 1, &two);
    mqr_value_object_put(a, &o3, "b", 1, &two);
    mqr_value_object_new(a, 0, &o4);
    mqr_value_object_put(a, &o4, "c", 1, &one);
    mqr_value_object_put(a, &o4, "a", 1, &one);
    cr_assert_lt(mqr__value_compare(&o1, &o2), 0); /* smaller size first */
    cr_assert_lt(mqr__value_compare(&o2, &o3), 0); /* same keys; b: 1 < 2 */
    cr_assert_lt(mqr__value_compare(&o3, &o4), 0); /* keys {a,b} < {a,c} */
    mqr_value_t o2b;
    mqr_value_object_new(a, 0, &o2b);
    mqr_value_object_put(a, &o2b, "a", 1, &two);
    mqr_value_object_put(a, &o2b, "b", 1, &one);
    cr_assert_eq(mqr__value_compare(&o2, &o2b), 0); /* order ignored */
    mqr_arena_destroy(a);
}

Test(value, equal_and_exact_equal)
{
    mqr_arena_t *a;
    cr_assert_eq(mqr_arena_create(NULL, 0, &a), MQR_OK);
    mqr_value_t i1 = vint(1), d1 = vdbl(1.0), s1 = vstr("1"), at = vatom("success"),
                st = vstr("success"), t, ts = vstr("true"), n, ns = vstr("null"), u, u2;
    mqr_value_set_bool(&t, 1);
    mqr_value_set_null(&n);
    mqr_value_set_undefined(&u);
    mqr_value_set_undefined(&u2);
    cr_assert(mqr_value_equal(&i1, &d1));
    cr_assert_not(mqr__value_exact_equal(&i1, &d1));
    cr_assert_not(mqr_value_equal(&i1, &s1));
    cr_assert(mqr_value_equal(&at, &st));
    cr_assert(mqr__value_exact_equal(&at, &st)); /* both strings; the atom flag is ignored */
    cr_assert(mqr_value_equal(&t, &ts));
    cr_assert_not(mqr__value_exact_equal(&t, &ts));
    cr_assert(mqr_value_equal(&n, &ns));
    cr_assert(mqr_value_equal(&u, &u2));
    cr_assert_not(mqr_value_equal(&u, &n));
    cr_assert(mqr_value_equal(NULL, NULL));
    cr_assert_not(mqr_value_equal(&u, NULL));

    mqr_value_t o1, o2, arr1, arr2;
    mqr_value_object_new(a, 0, &o1);
    mqr_value_object_new(a, 0, &o2);
    mqr_value_object_put(a, &o1, "a", 1, &i1);
    mqr_value_object_put(a, &o1, "b", 1, &st);
    mqr_value_object_put(a, &o2, "b", 1, &st);
    mqr_value_object_put(a, &o2, "a", 1, &d1);
    cr_assert(mqr_value_equal(&o1, &o2));
    cr_assert_not(mqr__value_exact_equal(&o1, &o2));
    mqr_value_object_put(a, &o2, "a", 1, &i1);
    cr_assert(mqr__value_exact_equal(&o1, &o2));
    mqr_value_object_put(a, &o2, "c", 1, &i1);
    cr_assert_not(mqr_value_equal(&o1, &o2));
    mqr_value_array_new(a, 0, &arr1);
    mqr_value_array_new(a, 0, &arr2);
    mqr_value_array_push(a, &arr1, &i1);
    mqr_value_array_push(a, &arr2, &d1);
    cr_assert(mqr_value_equal(&arr1, &arr2));
    cr_assert_not(mqr__value_exact_equal(&arr1, &arr2));
    mqr_value_array_push(a, &arr2, &d1);
    cr_assert_not(mqr_value_equal(&arr1, &arr2));
    cr_assert_not(mqr_value_equal(&arr1, &o1));
    mqr_arena_destroy(a);
}

Test(value, formatting_ignores_the_locale)
{
    /* Meaningful only where such locales exist; to run it everywhere:
     *   localedef -i de_DE -f UTF-8 /tmp/loc/de_DE.UTF-8
     *   localedef -i ps_AF -f UTF-8 /tmp/loc/ps_AF.UTF-8   (radix U+066B, 2 bytes)
     *   LOCPATH=/tmp/loc build/tests/unit/test_value */
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "ps_AF.UTF-8"};
    int ran = 0;
    for (size_t i = 0; i < MQR__ARRAY_LEN(names); i++) {
        if (!setlocale(LC_NUMERIC, names[i]))
            continue;
        ran++;
        char buf[MQR__NUMBUF];
        mqr__fmt_double_json(0.1 + 0.2, buf);
        cr_assert_str_eq(buf, "0.30000000000000004", "%s", names[i]);
        mqr__fmt_double_json(1.5e300, buf);
        cr_assert_str_eq(buf, "1.5e+300");
        mqr__fmt_double_json(5e-324, buf);
        cr_assert_str_eq(buf, "5.0e-324");
        mqr__fmt_double_str(-1234.25, buf);
        cr_assert_str_eq(buf, "-1234.25", "%s", names[i]);
        mqr__fmt_double_str(3.14159265359, buf);
        cr_assert_str_eq(buf, "3.1415926536");
        char *f = fixed_of(-20.25, 3, 0);
        cr_assert_str_eq(f, "-20.250", "%s", names[i]);
        free(f);
        double d;
        cr_assert_eq(mqr__parse_double("1.0000000000000000000001", 24, &d), MQR_OK);
        cr_assert_eq(d, 1.0);
        cr_assert_eq(mqr__parse_double("123456789012345678901234.5", 26, &d), MQR_OK);
        cr_assert_eq(d, 123456789012345678901234.5);
    }
    setlocale(LC_NUMERIC, "C");
    if (!ran)
        cr_skip_test("no comma-decimal locale installed");
}

Test(value, strtod_reads_the_whole_input)
{
    double d = 7.0;
    cr_assert_eq(mqr__strtod("1,23", 4, &d), MQR_EINVAL);
    cr_assert_eq(mqr__strtod("1.5x", 4, &d), MQR_EINVAL);
    cr_assert_eq(mqr__strtod("1e", 2, &d), MQR_EINVAL);
    cr_assert_eq(mqr__strtod("1e+", 3, &d), MQR_EINVAL);
    cr_assert_eq(mqr__strtod("", 0, &d), MQR_EINVAL);
    cr_assert_eq(mqr__strtod("-", 1, &d), MQR_EINVAL);
    cr_assert_eq(mqr__strtod(".", 1, &d), MQR_EINVAL);
    cr_assert_eq(d, 7.0);
    cr_assert_eq(mqr__strtod("1.25", 4, &d), MQR_OK);
    cr_assert_eq(d, 1.25);
    cr_assert_eq(mqr__strtod("-1e2", 4, &d), MQR_OK);
    cr_assert_eq(d, -100.0);
    cr_assert_eq(mqr__strtod("1e400", 5, &d), MQR_EOVERFLOW);
}
