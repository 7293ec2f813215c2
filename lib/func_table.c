/* SPDX-License-Identifier: MIT */
/*
 * func_table.c - the table of built-in SQL functions and the lookups the rule
 * compiler makes at compile time: find by name (binary search over the table
 * sorted in func_list.h), the D9 "not supported" names and "did you mean"
 * suggestions. (The evaluation-error formatter is in func_util.c.)
 *
 * The table is const data generated from MQR__FUNC_LIST, so lookups are
 * reentrant and need no initialisation.
 */
#include <string.h>

#include "func_util.h"

#define MQR__FUNC_ENTRY(sql, c, mn, mx, fl) {sql, (uint8_t)(mn), (uint8_t)(mx), (uint8_t)(fl), mqr__func_sql_##c},
static const mqr__func_t func_table[] = {MQR__FUNC_LIST(MQR__FUNC_ENTRY)};
#undef MQR__FUNC_ENTRY

/* EMQX functions that decision D9 leaves out, sorted by name (byte order):
 * they need an Erlang runtime, a schema registry, node-local state, or zlib
 * in a build without it. */
static const char *const unsupported_names[] = {
#if !MQR_HAVE_ZLIB
    "gunzip",       "gzip",
#endif
    "jq",           "mongo_date",     "term_decode", "term_encode",
#if !MQR_HAVE_ZLIB
    "unzip",        "zip",            "zip_compress", "zip_uncompress",
#endif
};
/* Whole families left out by D9 (any name with one of these prefixes). */
static const char *const unsupported_prefixes[] = {"kv_store_", "proc_dict_", "schema_",
                                                   "sparkplug_"};

/* Byte-order comparison of a counted name with a NUL-terminated one, as
 * strcmp would order them. */
static int name_cmp(const char *name, size_t len, const char *entry)
{
    size_t elen = strlen(entry);
    int c = memcmp(name, entry, len < elen ? len : elen);
    if (c != 0)
        return c;
    return len < elen ? -1 : (len > elen ? 1 : 0);
}

const mqr__func_t *mqr__func_find(const char *name, size_t len)
{
    if (!name)
        return NULL;
    size_t lo = 0, hi = MQR__ARRAY_LEN(func_table);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(name, len, func_table[mid].name);
        if (c == 0)
            return &func_table[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

int mqr__func_is_unsupported(const char *name, size_t len)
{
    if (!name)
        return 0;
    for (size_t i = 0; i < MQR__ARRAY_LEN(unsupported_names); i++)
        if (name_cmp(name, len, unsupported_names[i]) == 0)
            return 1;
    for (size_t i = 0; i < MQR__ARRAY_LEN(unsupported_prefixes); i++) {
        size_t plen = strlen(unsupported_prefixes[i]);
        if (len > plen && memcmp(name, unsupported_prefixes[i], plen) == 0)
            return 1;
    }
    return 0;
}

#define SUGGEST_MAX 64

/* Optimal-string-alignment distance between a and b (insert, delete,
 * substitute, swap two adjacent bytes), or a value > limit as soon as every
 * entry of a row exceeds limit. Both lengths are below SUGGEST_MAX. */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb, size_t limit)
{
    size_t d[3][SUGGEST_MAX + 1];
    size_t *prev2 = d[0], *prev = d[1], *cur = d[2];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t row_min = cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (prev[j - 1] + cost < v)
                v = prev[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < v)
                v = prev2[j - 2] + 1;
            cur[j] = v;
            if (v < row_min)
                row_min = v;
        }
        if (row_min > limit)
            return limit + 1;
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

const char *mqr__func_suggest(const char *name, size_t len)
{
    if (!name || len == 0 || len >= SUGGEST_MAX)
        return NULL;
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < MQR__ARRAY_LEN(func_table); i++) {
        const char *cand = func_table[i].name;
        size_t clen = strlen(cand);
        if (clen >= SUGGEST_MAX || (clen > len ? clen - len : len - clen) >= best_d)
            continue;
        size_t d = edit_distance(name, len, cand, clen, best_d - 1);
        if (d < best_d) {
            best_d = d;
            best = cand;
        }
    }
    return best;
}

size_t mqr__func_count(void) { return MQR__ARRAY_LEN(func_table); }

const mqr__func_t *mqr__func_at(size_t i)
{
    return i < MQR__ARRAY_LEN(func_table) ? &func_table[i] : NULL;
}
