/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/rule.h - EMQX rule SQL: compile once, evaluate many times, free
 * once (SQLite's prepare / step / finalize).
 *
 * mqr_rule_compile() lexes, parses and compiles a statement such as
 *   SELECT clientid, reason_code FROM "$events/client_connack"
 *   WHERE reason_code != 'success'
 * into an immutable mqr_rule_t. Everything that can be checked before data
 * arrives is checked then (decision D8): syntax, unknown functions, functions
 * left out by D9, argument counts, unknown event topics. Errors carry the
 * 1-based line and column, the byte offset and a message in the mqr_diag_t.
 *
 * mqr_rule_eval() runs a compiled rule over one trigger's columns (an object
 * value: the event's fields, or a message's fields) and produces the output:
 * an object for SELECT, an array of objects for FOREACH. Evaluation makes no
 * heap allocation once its mqr_rule_scratch_t is warm: every intermediate
 * value and the output live in the scratch's arena.
 *
 * Threads: a compiled rule is read-only and may be evaluated from several
 * threads at once, each thread with its own scratch. A scratch is used by one
 * thread at a time. The SQL language is described in docs/sql.md.
 */
#ifndef MQTTRULE_RULE_H
#define MQTTRULE_RULE_H

#include "common.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants -------------------------------------------------------------- */
#define MQR_RULE_DEFAULT_MAX_SQL 65536u        /* bytes of SQL text */
#define MQR_RULE_DEFAULT_MAX_DEPTH 64u         /* expression nesting */
#define MQR_RULE_DEFAULT_MAX_STEPS 1000000u    /* evaluation steps per evaluation */
#define MQR_RULE_DEFAULT_MAX_OUTPUT 1048576u   /* bytes of JSON per evaluation */
#define MQR_RULE_MAX_DEPTH_CAP 1024u           /* larger max_depth values are lowered to it */
#define MQR_RULE_MAX_TREE_DEPTH 2048u          /* expression tree depth, operator chains included */

/* mqr_rule_options_t.flags */
#define MQR_RULE_UNDEFINED_AS_NULL 0x01u /* D4: render undefined as JSON null */
#define MQR_RULE_NO_BRIDGE_SOURCES 0x02u /* refuse "$bridges/..." and "$sources/..." in
                                            FROM (MQR_ECOMPILE): a host with no ingress
                                            would never fire them. The engine sets it. */

/* Kinds of FROM entries (mqr_rule_source_kind). */
#define MQR_RULE_SRC_TOPIC 0  /* an MQTT topic filter for PUBLISH messages */
#define MQR_RULE_SRC_EVENT 1  /* "$events/..." (also a filter over event topics) */
#define MQR_RULE_SRC_BRIDGE 2 /* "$bridges/..." or "$sources/..." */

/* ---- types ------------------------------------------------------------------ */
typedef struct mqr_rule mqr_rule_t;
typedef struct mqr_rule_scratch mqr_rule_scratch_t;

/* The evaluation clock: milliseconds since the Unix epoch. `ud` first. */
typedef int64_t (*mqr_rule_clock_fn)(void *ud);

/*
 * Compile options. Initialise with mqr_rule_options_init() and change the
 * fields you need; a zero limit means "the default".
 */
typedef struct mqr_rule_options {
    const char *rule_id;      /* NUL-terminated, copied; NULL means "" (metadata.rule_id) */
    mqr_allocator_t alloc;    /* memory of the compiled rule; fn NULL: libc */
    uint32_t max_sql_len;     /* default MQR_RULE_DEFAULT_MAX_SQL */
    uint32_t max_depth;       /* default MQR_RULE_DEFAULT_MAX_DEPTH, at most MQR_RULE_MAX_DEPTH_CAP */
    uint64_t max_steps;       /* default MQR_RULE_DEFAULT_MAX_STEPS */
    uint64_t max_output;      /* default MQR_RULE_DEFAULT_MAX_OUTPUT: JSON bytes; the
                                 evaluation's working memory is held to 8 x this */
    uint32_t flags;           /* MQR_RULE_* flags */
    int32_t local_offset_s;   /* UTC offset in seconds for the 'local' date functions */
    uint64_t rng_seed;        /* seed of random()/uuid_v4(). 0 (the default): every
                                 scratch seeds itself once from getrandom() (else
                                 the clock, pid and scratch address), so sequences
                                 differ between processes and scratches; non-zero:
                                 every scratch starts from this fixed seed (a
                                 reproducible sequence, for tests) */
    mqr_rule_clock_fn clock;  /* NULL: the system clock (CLOCK_REALTIME) */
    void *clock_ud;
} mqr_rule_options_t;

/* ---- compiling ----------------------------------------------------------------- */

/** Fill *opts with the defaults (all limits default, libc allocator, no
 *  flags, system clock). NULL is ignored. Thread-safe. */
MQR_API void mqr_rule_options_init(mqr_rule_options_t *opts);

/**
 * The process's UTC offset (local time zone, from TZ via localtime_r) at
 * `unix_s` seconds since the epoch, for mqr_rule_options_t.local_offset_s.
 * Returns MQR_OK with *out_offset_s set; MQR_EINVAL when out_offset_s is
 * NULL; MQR_EIO when the local time cannot be computed or the offset is not
 * within -86399..86399 (*out_offset_s untouched). Thread-safe.
 */
MQR_API int mqr_rule_local_offset(int64_t unix_s, int32_t *out_offset_s);

/**
 * Compile `len` bytes of SQL into *out_rule.
 *
 * opts may be NULL (defaults). On success the caller owns *out_rule and frees
 * it with mqr_rule_free(); on failure *out_rule is NULL and diag (if not NULL)
 * holds the code, line, column, byte offset and a message such as
 * "line 1, column 34: unknown function 'lenght' (did you mean 'length'?)".
 *
 * Returns:
 *   MQR_OK        compiled;
 *   MQR_EINVAL    sql or out_rule NULL;
 *   MQR_ESYNTAX   lexical or grammar error (also empty SQL, invalid UTF-8);
 *   MQR_ECOMPILE  unknown or unsupported (D9) function, wrong argument count,
 *                 a function module other than emqx_rule_funcs, unknown event
 *                 topic, an invalid FROM topic filter, a FOREACH whose last
 *                 field is '*';
 *   MQR_ELIMIT    SQL longer than max_sql_len, nesting deeper than max_depth,
 *                 an expression tree deeper than MQR_RULE_MAX_TREE_DEPTH,
 *                 a path of more than 32 steps, a call with more than 255
 *                 arguments, a range literal of more than 1000000 integers;
 *   MQR_ENOMEM    an allocation failed.
 * Thread-safe (no shared state).
 */
MQR_API int mqr_rule_compile(const char *sql, size_t len, const mqr_rule_options_t *opts,
                             mqr_rule_t **out_rule, mqr_diag_t *diag);

/** Free a compiled rule. NULL is ignored. No evaluation may be running on it. */
MQR_API void mqr_rule_free(mqr_rule_t *rule);

/* ---- inspecting ------------------------------------------------------------------ */

/** The rule id given at compile time ("" if none). Borrowed from the rule.
 *  NULL rule: "". */
MQR_API const char *mqr_rule_id(const mqr_rule_t *rule);
/** 1 for a FOREACH statement, 0 for SELECT (or NULL rule). */
MQR_API uint32_t mqr_rule_is_foreach(const mqr_rule_t *rule);
/** Number of FROM entries (0 for NULL). */
MQR_API size_t mqr_rule_source_count(const mqr_rule_t *rule);
/** FROM entry i without its quotes, NUL-terminated, borrowed from the rule;
 *  its length in *out_len when out_len is not NULL. NULL when i is out of range
 *  or rule is NULL. */
MQR_API const char *mqr_rule_source(const mqr_rule_t *rule, size_t i, size_t *out_len);
/** MQR_RULE_SRC_* of FROM entry i, or -1 when out of range / NULL rule. */
MQR_API int mqr_rule_source_kind(const mqr_rule_t *rule, size_t i);
/** 1 if a PUBLISH to `topic` triggers the rule (one of its topic-filter FROM
 *  entries matches, MQTT wildcard rules, '$' topics not matched by a leading
 *  wildcard), else 0. Event entries never match a message topic. NULL: 0. */
MQR_API int mqr_rule_matches_topic(const mqr_rule_t *rule, const char *topic, size_t len);
/** 1 if the event named `event` ("client.connack") triggers the rule: one of
 *  its "$events/..." entries, read as a topic filter, matches the event's
 *  legacy or new topic (D5). Also accepts the event's topic itself
 *  ("$events/client/connack"). "$bridges/..." entries match their own name
 *  exactly. NULL: 0. */
MQR_API int mqr_rule_matches_event(const mqr_rule_t *rule, const char *event, size_t len);

/* ---- evaluating ------------------------------------------------------------------- */

/**
 * Create an evaluation scratch: the arena that holds intermediate values and
 * the output. One scratch per thread. Returns MQR_OK, MQR_EINVAL (out NULL) or
 * MQR_ENOMEM. alloc NULL: libc.
 */
MQR_API int mqr_rule_scratch_create(const mqr_allocator_t *alloc, mqr_rule_scratch_t **out);
/** Free a scratch and every output it holds. NULL is ignored. */
MQR_API void mqr_rule_scratch_free(mqr_rule_scratch_t *scratch);

/**
 * Evaluate `rule` over `columns` (an object: the trigger's fields; metadata
 * {"rule_id": id} is added when the columns lack it).
 *
 * *out_value receives an object (SELECT) or an array of objects (FOREACH). It
 * lives in the scratch and may borrow strings from `columns`: it is valid
 * until the next evaluation with the same scratch, mqr_rule_scratch_free(),
 * or until the caller frees the columns, whichever comes first.
 *
 * Returns:
 *   MQR_OK        output ready;
 *   MQR_NO_MATCH  WHERE was false (*out_value undefined), or FOREACH
 *                 produced no element (*out_value an empty array);
 *   MQR_EEVAL     an evaluation exception (bad operand types, a function's
 *                 error, invalid JSON payload with payload.x, overflow (D7));
 *                 diag->message names the operator or function and the values,
 *                 e.g. "operator '+': cannot add 1 and true";
 *   MQR_ELIMIT    max_steps or max_output exceeded;
 *   MQR_EINVAL    an argument is NULL or columns is not an object;
 *   MQR_ENOMEM    the scratch could not grow.
 * The rule may be evaluated by several threads at once with different scratches.
 */
MQR_API int mqr_rule_eval(const mqr_rule_t *rule, mqr_rule_scratch_t *scratch,
                          const mqr_value_t *columns, mqr_value_t *out_value,
                          mqr_diag_t *diag);

/**
 * As mqr_rule_eval(), then render the output as compact JSON (keys in SELECT
 * order, D3; undefined as "undefined" or null per MQR_RULE_UNDEFINED_AS_NULL,
 * D4). *out_json points into the scratch (not NUL-terminated; *out_len bytes),
 * valid until the next evaluation with that scratch. On MQR_NO_MATCH *out_len
 * is 0. Returns the statuses of mqr_rule_eval(), plus MQR_ELIMIT when the JSON
 * exceeds max_output.
 */
MQR_API int mqr_rule_eval_json(const mqr_rule_t *rule, mqr_rule_scratch_t *scratch,
                               const mqr_value_t *columns, const char **out_json,
                               size_t *out_len, mqr_diag_t *diag);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_RULE_H */
