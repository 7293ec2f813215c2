/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/value.h - the dynamic values rules compute with, and the arena
 * they live in.
 *
 * A value is a small tagged struct: undefined (EMQX's "missing"), null (JSON
 * null), bool, int64, double, string (bytes, not NUL-terminated), array, or
 * object (members in insertion order). Strings, arrays and objects point to
 * memory that belongs to somebody else: usually an mqr_arena_t, sometimes the
 * caller's own buffers (a string may borrow the caller's bytes). Values are
 * plain data: copying the struct copies a reference, never the contents.
 *
 * An arena is a bump allocator: many small allocations, one reset. Rule
 * evaluation uses one arena per evaluation and resets it afterwards, so once
 * the arena's blocks have grown to the working size an evaluation makes no
 * heap allocation. An arena is not thread-safe; use one per thread.
 *
 * The struct layout is public so C code can walk results without calls;
 * treat values you did not build as read-only.
 */
#ifndef MQTTRULE_VALUE_H
#define MQTTRULE_VALUE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ---------------------------------------------------------------- */
#define MQR_VAL_UNDEFINED 0u /* missing; renders as "undefined" (D4) */
#define MQR_VAL_NULL 1u      /* JSON null */
#define MQR_VAL_BOOL 2u
#define MQR_VAL_INT 3u
#define MQR_VAL_DOUBLE 4u
#define MQR_VAL_STRING 5u
#define MQR_VAL_ARRAY 6u
#define MQR_VAL_OBJECT 7u

/* Flags on a value. MQR_VALF_ATOM marks a string that EMQX holds as an atom
 * (event names, reason codes, node, ...): it renders and compares with strings
 * as text but is not a string for number coercion (spec §6.7). */
#define MQR_VALF_ATOM 0x01u

typedef struct mqr_value mqr_value_t;
typedef struct mqr_member mqr_member_t;

struct mqr_value {
    uint8_t type;   /* MQR_VAL_* */
    uint8_t flags;  /* MQR_VALF_* */
    uint16_t reserved_; /* arrays/objects built by the builders keep their
                           capacity here; 0 in values built by hand */
    uint32_t len;   /* string: bytes; array: items; object: members */
    union {
        int64_t i;              /* MQR_VAL_INT */
        double d;               /* MQR_VAL_DOUBLE */
        int32_t b;              /* MQR_VAL_BOOL: 0 or 1 */
        const char *s;          /* MQR_VAL_STRING: len bytes, not NUL-terminated */
        mqr_value_t *items;     /* MQR_VAL_ARRAY: len items */
        mqr_member_t *members;  /* MQR_VAL_OBJECT: len members, insertion order */
    } u;
};

struct mqr_member {
    const char *key; /* key_len bytes, not NUL-terminated */
    uint32_t key_len;
    uint32_t reserved_;
    mqr_value_t value;
};

/* ---- arena ------------------------------------------------------------------ */
typedef struct mqr_arena mqr_arena_t;

/**
 * Create an arena whose blocks come from `alloc` (NULL: libc). `block_size` is
 * the size of the first block (0: 4096); larger requests get their own block.
 * Returns MQR_OK, MQR_EINVAL (out_arena NULL) or MQR_ENOMEM.
 */
MQR_API int mqr_arena_create(const mqr_allocator_t *alloc, size_t block_size,
                             mqr_arena_t **out_arena);
/** Free everything allocated from the arena since the last reset, keeping its
 *  largest block for reuse (so a warm arena does not call the allocator).
 *  NULL is ignored. */
MQR_API void mqr_arena_reset(mqr_arena_t *arena);
/** Destroy the arena and everything in it. NULL is ignored. Not thread-safe
 *  with other calls on the same arena (true of every arena function). */
MQR_API void mqr_arena_destroy(mqr_arena_t *arena);
/** `size` bytes aligned for any value (max_align_t), or NULL when out of
 *  memory (the arena stays usable) or when arena is NULL. size 0 gives a
 *  valid pointer to no bytes. The memory is not zeroed. */
MQR_API void *mqr_arena_alloc(mqr_arena_t *arena, size_t size);
/** Bytes handed out since the last reset (for limits and tests). */
MQR_API size_t mqr_arena_used(const mqr_arena_t *arena);

/* ---- setting scalar values (never fail; v must not be NULL) ------------------ */
MQR_API void mqr_value_set_undefined(mqr_value_t *v);
MQR_API void mqr_value_set_null(mqr_value_t *v);
MQR_API void mqr_value_set_bool(mqr_value_t *v, int b);
MQR_API void mqr_value_set_int(mqr_value_t *v, int64_t i);
MQR_API void mqr_value_set_double(mqr_value_t *v, double d);
/** A string that borrows `s` (len bytes, at most UINT32_MAX): the caller
 *  keeps it alive. s may be NULL when len is 0. */
MQR_API void mqr_value_set_string(mqr_value_t *v, const char *s, size_t len);

/* ---- building strings, arrays and objects in an arena ---------------------- */
/** Copy `len` bytes into the arena and make *out a string of them.
 *  MQR_OK, MQR_EINVAL (NULL arena/out, or len > UINT32_MAX), MQR_ENOMEM. */
MQR_API int mqr_value_string_copy(mqr_arena_t *arena, const char *s, size_t len,
                                  mqr_value_t *out);
/** Make *out an empty array with room for `capacity` items (rounded up to
 *  a power of two; 0 allocates nothing until the first push).
 *  MQR_OK, MQR_EINVAL (NULL arena/out, capacity > 2^31), MQR_ENOMEM. */
MQR_API int mqr_value_array_new(mqr_arena_t *arena, size_t capacity, mqr_value_t *out);
/** Append a copy of *item to the array *arr (growing it in the arena,
 *  doubling its capacity; an array not made by mqr_value_array_new is
 *  copied on its first push). *item may be one of arr's own items. Like a
 *  Go slice, copies of *arr share its storage: push onto one copy only.
 *  MQR_OK, MQR_EINVAL (NULL argument, arr not an array), MQR_ELIMIT (2^31
 *  items), MQR_ENOMEM (arr unchanged). */
MQR_API int mqr_value_array_push(mqr_arena_t *arena, mqr_value_t *arr, const mqr_value_t *item);
/** Make *out an empty object with room for `capacity` members (as for
 *  arrays). MQR_OK, MQR_EINVAL (NULL arena/out, capacity > 2^31), MQR_ENOMEM. */
MQR_API int mqr_value_object_new(mqr_arena_t *arena, size_t capacity, mqr_value_t *out);
/** Set key to a copy of *val: replaces the value of an existing key in place
 *  (keeping its position), else appends. The key bytes are borrowed, not
 *  copied (copy them into the arena first if they do not outlive the object).
 *  Lookup is linear, as objects are small. Sharing rules as for arrays.
 *  MQR_OK, MQR_EINVAL (NULL argument, obj not an object, key NULL with
 *  key_len > 0), MQR_ELIMIT (2^31 members), MQR_ENOMEM (obj unchanged). */
MQR_API int mqr_value_object_put(mqr_arena_t *arena, mqr_value_t *obj, const char *key,
                                 size_t key_len, const mqr_value_t *val);
/** Append key = copy of *val to obj without looking for key first: for
 *  building an object whose keys the caller knows to be distinct, in O(1)
 *  per member where mqr_value_object_put is linear. Appending a key the
 *  object already has gives it two members of that name (get and put then
 *  see the first). Borrowing, sharing rules and statuses as for
 *  mqr_value_object_put: MQR_OK, MQR_EINVAL (NULL argument, obj not an
 *  object, key NULL with key_len > 0), MQR_ELIMIT (2^31 members),
 *  MQR_ENOMEM (obj unchanged). Not thread-safe on the same arena. */
MQR_API int mqr_value_object_append(mqr_arena_t *arena, mqr_value_t *obj, const char *key,
                                    size_t key_len, const mqr_value_t *val);

/* ---- reading ------------------------------------------------------------------ */
/** The member value for `key`, or NULL if obj is NULL, not an object, or
 *  lacks the key. Reads only; thread-safe. */
MQR_API const mqr_value_t *mqr_value_object_get(const mqr_value_t *obj, const char *key,
                                                size_t key_len);
/** "undefined", "null", "bool", "int", "double", "string", "array", "object";
 *  "unknown" for other numbers. Static storage; thread-safe. */
MQR_API const char *mqr_value_type_name(uint32_t type);
/** Deep equality as SQL's `=` defines it for values of the same kind: numbers
 *  compare numerically (1 = 1.0), strings bytewise, atoms equal strings of the
 *  same text (bool, null and undefined count as the atoms true/false, null,
 *  undefined, so true = 'true'), arrays and objects member-wise with the same
 *  rules (objects ignore order). A number never equals a string here: §6.7's
 *  string-to-number coercion is the evaluator's job. undefined = undefined.
 *  1 or 0; two NULLs are equal, one NULL is not. Reads only; thread-safe. */
MQR_API int mqr_value_equal(const mqr_value_t *a, const mqr_value_t *b);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_VALUE_H */
