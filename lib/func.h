/* SPDX-License-Identifier: MIT */
/*
 * func.h - the interface between the rule evaluator and the built-in SQL
 * functions (spec §7). Not API.
 *
 * The function table is data: one mqr__func_t entry per name, sorted by name
 * so lookup is a binary search. The compiler resolves every call to its entry
 * at compile time (unknown names, D9 "not supported" names and wrong argument
 * counts are compile errors, D8); the evaluator then calls entry->fn with the
 * evaluated arguments.
 *
 * A function gets an mqr__fctx_t that the evaluator owns for the duration of
 * one evaluation: results that need memory (strings, arrays, objects) are
 * built in cx->arena; errors go through mqr__func_error(). A function must
 * not keep pointers into cx after it returns, and must not allocate from the
 * heap: the arena is the only memory (the hot path makes no malloc).
 */
#ifndef MQR_FUNC_H
#define MQR_FUNC_H

#include "value_int.h"

typedef struct mqr__fctx mqr__fctx_t;

struct mqr__fctx {
    mqr_arena_t *arena;     /* results live here until the evaluation ends */
    int64_t now_ms;         /* evaluation time (engine clock, injectable) */
    int32_t local_offset_s; /* UTC offset used for 'local' and now_rfc3339 */
    int32_t in_where;       /* §7.1: context helpers return undefined in WHERE */
    uint64_t *rng;          /* xorshift64* state for random()/uuid_v4(), per evaluation */
    uint32_t json_flags;    /* MQR__JSONF_* for json_encode and friends */
    uint32_t reserved_;
    /* Column lookup for §7.1 helpers (topic(), clientid(), qos(), ...):
     * returns the column's value or NULL when absent. */
    const mqr_value_t *(*lookup)(void *ud, const char *name, size_t len);
    /* The payload JSON-decoded once per evaluation (§6.4), or NULL when the
     * payload is absent or not JSON. */
    const mqr_value_t *(*payload_json)(void *ud);
    void *ud;
    mqr_diag_t *diag;       /* where mqr__func_error writes; may be NULL */
    const char *fname;      /* name of the function being called, for messages */
    /* regex_match / regex_replace / regex_extract with a constant pattern:
     * the program the compiler made of it, owned by the rule and only read
     * here (so the function does not compile the pattern again); NULL for
     * any other call. Set by the evaluator before each call. */
    const struct mqr__regex *regex;
};

/* Returns MQR_OK and sets *out, or an error status (normally via
 * mqr__func_error, which yields MQR_EEVAL). args[0..argc) are the evaluated
 * arguments, argc within the entry's [min_args, max_args]. */
typedef int (*mqr__func_fn)(mqr__fctx_t *cx, const mqr_value_t *args, uint32_t argc,
                            mqr_value_t *out);

#define MQR__FUNC_VARIADIC 255u
#define MQR__FUNC_PURE 0x01u    /* same args, same result, no error: foldable at compile time */
#define MQR__FUNC_CONTEXT 0x02u /* reads columns through cx->lookup / payload_json */

typedef struct mqr__func {
    const char *name;
    uint8_t min_args;
    uint8_t max_args; /* MQR__FUNC_VARIADIC: no upper bound */
    uint8_t flags;    /* MQR__FUNC_* */
    mqr__func_fn fn;
} mqr__func_t;

/* The entry for a function name (case-sensitive, as EMQX), or NULL. */
const mqr__func_t *mqr__func_find(const char *name, size_t len);
/* Check an sprintf format against `nargs` arguments (those after the format)
 * without formatting: the same checks sprintf() makes at run time (a
 * trailing '~', an unsupported directive, too few or too many arguments).
 * MQR_OK, or MQR_EINVAL with the reason in msg (cap bytes). Thread-safe. */
int mqr__func_format_check(const char *f, size_t flen, uint32_t nargs, char *msg, size_t cap);
/* 1 if the name is one of EMQX's functions that decision D9 leaves out
 * (jq, term_encode, schema_*, sparkplug_*, kv_store_*, proc_dict_*, gzip, ...),
 * so the compiler can say "not supported" rather than "unknown". */
int mqr__func_is_unsupported(const char *name, size_t len);
/* The known function name closest to `name` (edit distance ≤ 2), or NULL:
 * for "unknown function 'lenght' (did you mean 'length'?)". */
const char *mqr__func_suggest(const char *name, size_t len);
/* Number of entries and entry i, in name order (for docs and tests). */
size_t mqr__func_count(void);
const mqr__func_t *mqr__func_at(size_t i);

/* Record an evaluation error: "function 'upper': <message>" into cx->diag
 * (code MQR_EEVAL) and return MQR_EEVAL. */
int mqr__func_error(mqr__fctx_t *cx, const char *fmt, ...) MQR__PRINTF(2, 3);

#endif /* MQR_FUNC_H */
