/* SPDX-License-Identifier: MIT */
/*
 * value.c - the value builders and readers, comparison and equality
 * (spec §6.7), and parsing numbers from strings (§6.7 rule 3). Values live
 * in arenas (arena.c).
 *
 * Arrays and objects built here keep their capacity in the value's
 * `reserved_` field as log2(capacity) + 1; 0 means "capacity equals len"
 * (a value built by hand), so the first push onto such a value copies it.
 * Capacities are powers of two and double when full.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "value_int.h"

/* ---- scalar setters ------------------------------------------------------------- */

static void value_init(mqr_value_t *v, uint8_t type)
{
    memset(v, 0, sizeof *v);
    v->type = type;
}

void mqr_value_set_undefined(mqr_value_t *v) { value_init(v, MQR_VAL_UNDEFINED); }

void mqr_value_set_null(mqr_value_t *v) { value_init(v, MQR_VAL_NULL); }

void mqr_value_set_bool(mqr_value_t *v, int b)
{
    value_init(v, MQR_VAL_BOOL);
    v->u.b = b != 0;
}

void mqr_value_set_int(mqr_value_t *v, int64_t i)
{
    value_init(v, MQR_VAL_INT);
    v->u.i = i;
}

void mqr_value_set_double(mqr_value_t *v, double d)
{
    value_init(v, MQR_VAL_DOUBLE);
    v->u.d = d;
}

void mqr_value_set_string(mqr_value_t *v, const char *s, size_t len)
{
    value_init(v, MQR_VAL_STRING);
    v->len = (uint32_t)len;
    v->u.s = len ? s : "";
}

/* ---- arrays and objects ----------------------------------------------------------- */

/* Capacity of an array or object built here (see the file comment). */
static size_t container_cap(const mqr_value_t *v)
{
    return v->reserved_ ? (size_t)1 << (v->reserved_ - 1) : v->len;
}

/* Smallest power of two >= n (n >= 1), and its log2 + 1 for `reserved_`. */
static size_t pow2_ceil(size_t n, uint16_t *out_tag)
{
    size_t c = 1;
    uint16_t tag = 1;
    while (c < n) {
        c <<= 1;
        tag++;
    }
    *out_tag = tag;
    return c;
}

int mqr_value_string_copy(mqr_arena_t *arena, const char *s, size_t len, mqr_value_t *out)
{
    if (!arena || !out || len > UINT32_MAX || (!s && len))
        return MQR_EINVAL;
    char *p = mqr__arena_memdup(arena, s, len);
    if (!p)
        return MQR_ENOMEM;
    mqr_value_set_string(out, p, len);
    return MQR_OK;
}

/* Make *out an empty array or object with room for `capacity` elements of
 * `elem` bytes; capacity 0 allocates nothing. */
static int container_new(mqr_arena_t *arena, size_t capacity, size_t elem, uint8_t type,
                         mqr_value_t *out)
{
    if (!arena || !out || capacity > ((size_t)1 << 31))
        return MQR_EINVAL;
    void *mem = NULL;
    uint16_t tag = 0;
    if (capacity) {
        size_t cap = pow2_ceil(capacity, &tag);
        mem = mqr_arena_alloc(arena, cap * elem);
        if (!mem)
            return MQR_ENOMEM;
    }
    value_init(out, type);
    out->reserved_ = tag;
    if (type == MQR_VAL_ARRAY)
        out->u.items = mem;
    else
        out->u.members = mem;
    return MQR_OK;
}

/* Make room for one more element in *v (array or object); the elements may
 * move. MQR_OK, MQR_ENOMEM or MQR_ELIMIT (v unchanged on error). */
static int container_reserve_one(mqr_arena_t *arena, mqr_value_t *v, size_t elem, void **data)
{
    size_t cap = container_cap(v);
    if (v->len < cap)
        return MQR_OK;
    if (v->len >= ((size_t)1 << 31))
        return MQR_ELIMIT;
    uint16_t tag;
    size_t ncap = pow2_ceil(v->len < 2 ? 4 : (size_t)v->len * 2, &tag);
    void *p = mqr__arena_realloc(arena, *data, (size_t)v->len * elem, ncap * elem);
    if (!p)
        return MQR_ENOMEM;
    *data = p;
    v->reserved_ = tag;
    return MQR_OK;
}

int mqr_value_array_new(mqr_arena_t *arena, size_t capacity, mqr_value_t *out)
{
    return container_new(arena, capacity, sizeof(mqr_value_t), MQR_VAL_ARRAY, out);
}

int mqr_value_object_new(mqr_arena_t *arena, size_t capacity, mqr_value_t *out)
{
    return container_new(arena, capacity, sizeof(mqr_member_t), MQR_VAL_OBJECT, out);
}

int mqr_value_array_push(mqr_arena_t *arena, mqr_value_t *arr, const mqr_value_t *item)
{
    if (!arena || !arr || !item || arr->type != MQR_VAL_ARRAY)
        return MQR_EINVAL;
    mqr_value_t copy = *item; /* item may point into arr's own storage */
    void *data = arr->u.items;
    int rc = container_reserve_one(arena, arr, sizeof(mqr_value_t), &data);
    if (rc != MQR_OK)
        return rc;
    arr->u.items = data;
    arr->u.items[arr->len++] = copy;
    return MQR_OK;
}

/* The first member of obj named key[0..key_len), or NULL. Linear: objects
 * are small. The length and then the first byte are compared inline before
 * memcmp, since most keys of an event's width (clientid, username, peerhost)
 * share their length, not their first byte. */
static mqr_member_t *find_member(const mqr_value_t *obj, const char *key, size_t key_len)
{
    if (key_len == 0) {
        for (uint32_t i = 0; i < obj->len; i++)
            if (obj->u.members[i].key_len == 0)
                return &obj->u.members[i];
        return NULL;
    }
    const char k0 = key[0];
    for (uint32_t i = 0; i < obj->len; i++) {
        mqr_member_t *m = &obj->u.members[i];
        if (m->key_len == key_len && m->key[0] == k0 &&
            memcmp(m->key + 1, key + 1, key_len - 1) == 0)
            return m;
    }
    return NULL;
}

/* Append key = val to obj (arguments checked by the caller): the common tail
 * of put and append. */
static int member_append(mqr_arena_t *arena, mqr_value_t *obj, const char *key, size_t key_len,
                         const mqr_value_t *val)
{
    mqr_value_t copy = *val; /* val may point into obj's own storage */
    void *data = obj->u.members;
    int rc = container_reserve_one(arena, obj, sizeof(mqr_member_t), &data);
    if (rc != MQR_OK)
        return rc;
    obj->u.members = data;
    mqr_member_t *m = &obj->u.members[obj->len++];
    m->key = key_len ? key : "";
    m->key_len = (uint32_t)key_len;
    m->reserved_ = 0;
    m->value = copy;
    return MQR_OK;
}

/* The argument check shared by put and append. */
static int member_args_ok(const mqr_arena_t *arena, const mqr_value_t *obj, const char *key,
                          size_t key_len, const mqr_value_t *val)
{
    return arena && obj && val && obj->type == MQR_VAL_OBJECT && key_len <= UINT32_MAX &&
           (key || !key_len);
}

int mqr_value_object_put(mqr_arena_t *arena, mqr_value_t *obj, const char *key, size_t key_len,
                         const mqr_value_t *val)
{
    if (!member_args_ok(arena, obj, key, key_len, val))
        return MQR_EINVAL;
    mqr_member_t *m = find_member(obj, key, key_len);
    if (m) {
        m->value = *val;
        return MQR_OK;
    }
    return member_append(arena, obj, key, key_len, val);
}

int mqr_value_object_append(mqr_arena_t *arena, mqr_value_t *obj, const char *key,
                            size_t key_len, const mqr_value_t *val)
{
    if (!member_args_ok(arena, obj, key, key_len, val))
        return MQR_EINVAL;
    return member_append(arena, obj, key, key_len, val);
}

const mqr_value_t *mqr_value_object_get(const mqr_value_t *obj, const char *key, size_t key_len)
{
    if (!obj || obj->type != MQR_VAL_OBJECT || (!key && key_len))
        return NULL;
    const mqr_member_t *m = find_member(obj, key, key_len);
    return m ? &m->value : NULL;
}

const char *mqr_value_type_name(uint32_t type)
{
    static const char *const names[] = {"undefined", "null",   "bool",  "int",
                                        "double",    "string", "array", "object"};
    return type < MQR__ARRAY_LEN(names) ? names[type] : "unknown";
}

/* ---- comparison ------------------------------------------------------------------- */

/* Term-order rank of §6.7 rule 5: number < atom < object < array < string. */
enum { RANK_NUMBER, RANK_ATOM, RANK_OBJECT, RANK_ARRAY, RANK_STRING };

static int rank(const mqr_value_t *v)
{
    switch (v->type) {
    case MQR_VAL_INT:
    case MQR_VAL_DOUBLE: return RANK_NUMBER;
    case MQR_VAL_OBJECT: return RANK_OBJECT;
    case MQR_VAL_ARRAY: return RANK_ARRAY;
    case MQR_VAL_STRING: return (v->flags & MQR_VALF_ATOM) ? RANK_ATOM : RANK_STRING;
    default: return RANK_ATOM; /* undefined, null, bool */
    }
}

/* The name of an atom-like value (bool, null, undefined, atom string). */
static const char *atom_name(const mqr_value_t *v, size_t *len)
{
    const char *s;
    switch (v->type) {
    case MQR_VAL_STRING: *len = v->len; return v->u.s;
    case MQR_VAL_BOOL: s = v->u.b ? "true" : "false"; break;
    case MQR_VAL_NULL: s = "null"; break;
    default: s = "undefined"; break;
    }
    *len = strlen(s);
    return s;
}

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    return an < bn ? -1 : an > bn;
}

/* int64 against double without rounding the integer: doubles outside
 * [-2^63, 2^63) are beyond every int64; inside, the truncated double is an
 * exact int64 and the fraction breaks ties. NaN sorts above every number. */
static int cmp_int_double(int64_t i, double d)
{
    if (isnan(d))
        return -1;
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    int64_t t = (int64_t)d;
    if (i != t)
        return i < t ? -1 : 1;
    double frac = d - (double)t;
    return frac > 0 ? -1 : frac < 0;
}

static int cmp_numbers(const mqr_value_t *a, const mqr_value_t *b)
{
    if (a->type == MQR_VAL_INT && b->type == MQR_VAL_INT)
        return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
    if (a->type == MQR_VAL_INT)
        return cmp_int_double(a->u.i, b->u.d);
    if (b->type == MQR_VAL_INT)
        return -cmp_int_double(b->u.i, a->u.d);
    double x = a->u.d, y = b->u.d;
    if (isnan(x) || isnan(y))
        return isnan(x) - isnan(y);
    return x < y ? -1 : x > y;
}

/* The member of obj with the smallest key strictly greater than `after`
 * (or the smallest key when after is NULL). Objects are small; this keeps
 * comparison free of allocation at O(n^2) key comparisons. */
static const mqr_member_t *next_key(const mqr_value_t *obj, const mqr_member_t *after)
{
    const mqr_member_t *best = NULL;
    for (uint32_t i = 0; i < obj->len; i++) {
        const mqr_member_t *m = &obj->u.members[i];
        if (after && cmp_bytes(m->key, m->key_len, after->key, after->key_len) <= 0)
            continue;
        if (!best || cmp_bytes(m->key, m->key_len, best->key, best->key_len) < 0)
            best = m;
    }
    return best;
}

/* Erlang map order: size, then the keys in ascending order, then the values
 * in key order. */
static int cmp_objects(const mqr_value_t *a, const mqr_value_t *b)
{
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    const mqr_member_t *ma = NULL, *mb = NULL;
    for (uint32_t i = 0; i < a->len; i++) {
        ma = next_key(a, ma);
        mb = next_key(b, mb);
        if (!ma || !mb)
            return (ma != NULL) - (mb != NULL);
        int c = cmp_bytes(ma->key, ma->key_len, mb->key, mb->key_len);
        if (c)
            return c;
    }
    ma = mb = NULL;
    for (uint32_t i = 0; i < a->len; i++) {
        ma = next_key(a, ma);
        mb = next_key(b, mb);
        if (!ma || !mb)
            break;
        int c = mqr__value_compare(&ma->value, &mb->value);
        if (c)
            return c;
    }
    return 0;
}

int mqr__value_compare(const mqr_value_t *a, const mqr_value_t *b)
{
    int ra = rank(a), rb = rank(b);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    switch (ra) {
    case RANK_NUMBER: return cmp_numbers(a, b);
    case RANK_ATOM: {
        size_t an, bn;
        const char *as = atom_name(a, &an), *bs = atom_name(b, &bn);
        return cmp_bytes(as, an, bs, bn);
    }
    case RANK_STRING: return cmp_bytes(a->u.s, a->len, b->u.s, b->len);
    case RANK_ARRAY: {
        uint32_t n = a->len < b->len ? a->len : b->len;
        for (uint32_t i = 0; i < n; i++) {
            int c = mqr__value_compare(&a->u.items[i], &b->u.items[i]);
            if (c)
                return c;
        }
        return a->len < b->len ? -1 : a->len > b->len;
    }
    default: return cmp_objects(a, b);
    }
}

/* Shared body of mqr_value_equal (exact = 0) and mqr__value_exact_equal
 * (exact = 1): arrays element-wise, objects by key regardless of order. */
static int values_equal(const mqr_value_t *a, const mqr_value_t *b, int exact);

static int objects_equal(const mqr_value_t *a, const mqr_value_t *b, int exact)
{
    if (a->len != b->len)
        return 0;
    for (uint32_t i = 0; i < a->len; i++) {
        const mqr_member_t *m = &a->u.members[i];
        const mqr_value_t *o = mqr_value_object_get(b, m->key, m->key_len);
        if (!o || !values_equal(&m->value, o, exact))
            return 0;
    }
    return 1;
}

static int values_equal(const mqr_value_t *a, const mqr_value_t *b, int exact)
{
    if (a->type != b->type) {
        if (exact)
            return 0;
        int ra = rank(a), rb = rank(b);
        if (ra == RANK_NUMBER && rb == RANK_NUMBER)
            return cmp_numbers(a, b) == 0;
        /* atoms equal strings (and other atoms) of the same text */
        if ((ra == RANK_ATOM || ra == RANK_STRING) && (rb == RANK_ATOM || rb == RANK_STRING)) {
            size_t an, bn;
            const char *as = atom_name(a, &an), *bs = atom_name(b, &bn);
            return an == bn && (an == 0 || memcmp(as, bs, an) == 0);
        }
        return 0;
    }
    switch (a->type) {
    case MQR_VAL_UNDEFINED:
    case MQR_VAL_NULL: return 1;
    case MQR_VAL_BOOL: return (a->u.b != 0) == (b->u.b != 0);
    case MQR_VAL_INT: return a->u.i == b->u.i;
    case MQR_VAL_DOUBLE: return a->u.d == b->u.d;
    case MQR_VAL_STRING:
        return a->len == b->len && (a->len == 0 || memcmp(a->u.s, b->u.s, a->len) == 0);
    case MQR_VAL_ARRAY:
        if (a->len != b->len)
            return 0;
        for (uint32_t i = 0; i < a->len; i++)
            if (!values_equal(&a->u.items[i], &b->u.items[i], exact))
                return 0;
        return 1;
    case MQR_VAL_OBJECT: return objects_equal(a, b, exact);
    default: return 0;
    }
}

int mqr_value_equal(const mqr_value_t *a, const mqr_value_t *b)
{
    if (!a || !b)
        return a == b;
    return values_equal(a, b, 0);
}

int mqr__value_exact_equal(const mqr_value_t *a, const mqr_value_t *b)
{
    if (!a || !b)
        return a == b;
    return values_equal(a, b, 1);
}

/* ---- parsing numbers ----------------------------------------------------------------- */

int mqr__parse_int(const char *s, size_t len, int64_t *out)
{
    if (!s || !out)
        return MQR_EINVAL;
    size_t i = 0;
    int neg = 0;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == len)
        return MQR_EINVAL;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    uint64_t acc = 0;
    int overflow = 0;
    for (; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9)
            return MQR_EINVAL;
        if (acc > (limit - d) / 10)
            overflow = 1;
        else
            acc = acc * 10 + d;
    }
    if (overflow)
        return MQR_EOVERFLOW;
    *out = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return MQR_OK;
}

/* Length of §6.7's float syntax at the start of s: [+-] digits '.' digits
 * [(e|E) [+-] digits], leading zeros allowed; 0 when s does not start so. */
static size_t scan_float_syntax(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
    size_t d0 = i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == d0 || i == len || s[i] != '.')
        return 0;
    size_t f0 = ++i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == f0)
        return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t e0 = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == e0)
            return 0;
    }
    return i;
}

int mqr__parse_double(const char *s, size_t len, double *out)
{
    if (!s || !out)
        return MQR_EINVAL;
    if (len == 0 || scan_float_syntax(s, len) != len)
        return MQR_EINVAL;
    double d;
    int rc = mqr__strtod(s, len, &d);
    if (rc != MQR_OK)
        return rc;
    *out = d;
    return MQR_OK;
}
