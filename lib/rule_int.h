/* SPDX-License-Identifier: MIT */
/*
 * rule_int.h - the rule SQL compiler's internal data: tokens, the compiled
 * program (a flat expression tree), the event-schema seam, and the functions
 * the lexer, parser, compiler and evaluator files share. Not API.
 *
 * A compiled rule is a set of arrays that live in the rule's own arena:
 *   nodes[]   expression nodes; children are referenced by index;
 *   kids[]    child lists of variable-length nodes (calls, lists, IN, CASE);
 *   steps[]   path steps (a.b[1][i]) for reads and for AS targets;
 *   consts[]  constant values (literals, folded results, names as strings);
 *   funcs[]   resolved built-in functions;
 *   fields[]  the SELECT / FOREACH / DO field lists.
 * Nothing in it changes after mqr_rule_compile() returns, so any number of
 * threads may evaluate it at once.
 */
#ifndef MQR_RULE_INT_H
#define MQR_RULE_INT_H

#include "func.h"
#include "mqttrule/event.h"
#include "mqttrule/rule.h"
#include "value_int.h"

#define MQR__RN_NONE UINT32_MAX

/* ---- tokens (rule_lex.c) ------------------------------------------------------ */
/* ORDER TOKEN: mqr__rule_tok_name() has one entry per kind, in this order. */
enum {
    TK_EOF,
    TK_NAME,   /* identifier */
    TK_QNAME,  /* "double quoted" identifier or topic */
    TK_STRING, /* 'single quoted' literal */
    TK_INT,
    TK_FLOAT,
    TK_RANGE, /* [a..b] */
    /* keywords (case-insensitive) */
    TK_SELECT, TK_FROM, TK_WHERE, TK_AS, TK_CASE, TK_WHEN, TK_THEN, TK_ELSE, TK_END,
    TK_FOREACH, TK_DO, TK_INCASE, TK_AND, TK_OR, TK_NOT, TK_IN, TK_IF, TK_ELSIF,
    /* lower-case only */
    TK_DIV, TK_MOD, TK_TRUE, TK_FALSE,
    /* operators */
    TK_EQ, TK_NE, TK_LT, TK_LE, TK_GT, TK_GE, TK_MATCH, TK_TILDE_EQ,
    TK_PLUS, TK_MINUS, TK_STAR, TK_SLASH, TK_LPAREN, TK_RPAREN, TK_LBRACKET,
    TK_RBRACKET, TK_COMMA, TK_DOT,
    TK__COUNT
};

typedef struct mqr__tok {
    uint32_t kind;
    uint32_t off;  /* byte offset of the token */
    uint32_t len;  /* bytes of the token text (with quotes) */
    uint32_t line; /* 1-based */
    uint32_t col;  /* 1-based, in bytes */
    int64_t i;     /* TK_INT value; TK_RANGE low bound */
    int64_t j;     /* TK_RANGE high bound */
    double d;      /* TK_FLOAT value */
} mqr__tok_t;

typedef struct mqr__lex {
    const char *src;
    size_t len;
    size_t pos;
    uint32_t line;
    size_t line_start;
} mqr__lex_t;

void mqr__rule_lex_init(mqr__lex_t *lx, const char *src, size_t len);
/* Next token into *t. MQR_OK, or MQR_ESYNTAX with the message in diag
 * ("line L, column C: ..."). At the end, TK_EOF forever. */
int mqr__rule_lex_next(mqr__lex_t *lx, mqr__tok_t *t, mqr_diag_t *diag);
/* "'SELECT'", "a name", "end of input", ... for messages. */
const char *mqr__rule_tok_name(uint32_t kind);
/* Fill diag with code, line, column, offset and "line L, column C: <fmt>". */
int mqr__rule_error_at(mqr_diag_t *diag, int code, uint32_t line, uint32_t col, uint32_t off,
                       const char *fmt, ...) MQR__PRINTF(6, 7);

/* ---- the program --------------------------------------------------------------- */
/* ORDER OP: rule_eval.c dispatches on these. */
enum {
    OP_CONST, /* a: const index */
    OP_VAR,   /* a: name const index; b: column hint or NONE; sub: VARF_* */
    OP_PATH,  /* a: base node; b: first step; n: steps */
    OP_RANGE_GET, /* a: base node; b, c: int32 bounds */
    OP_NEG,   /* a */
    OP_ARITH, /* sub: AR_*; a, b */
    OP_CMP,   /* sub: CMP_*; a, b */
    OP_AND,   /* a, b */
    OP_OR,    /* a, b */
    OP_NOT,   /* a */
    OP_IN,    /* sub: 1 for NOT IN; a: subject; b: first kid; n: count */
    OP_CALL,  /* a: funcs index; b: first kid; n: argc; c: regexes index + 1, or 0 */
    OP_LIST,  /* b: first kid; n */
    OP_CASE,  /* sub: CASEF_*; b: first kid; n: kids = [subject] (when then)* [else] */
};

enum { AR_ADD, AR_SUB, AR_MUL, AR_DIV, AR_IDIV, AR_MOD };
enum { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE, CMP_MATCH, CMP_TILDE_EQ };

#define VARF_SELECTED 0x01u /* the name may be a key of the output being built */
#define VARF_PAYLOAD 0x02u  /* the name is `payload` (paths decode it once) */
#define VARF_METADATA 0x04u /* the name is `metadata` (falls back to the rule's) */

#define CASEF_SUBJECT 0x01u
#define CASEF_ELSE 0x02u

typedef struct mqr__rn {
    uint8_t op;
    uint8_t sub;
    uint16_t n;
    uint32_t a;
    uint32_t b;
    uint32_t c;
    uint32_t off; /* byte offset in the SQL, for messages */
} mqr__rn_t;

/* Path steps: a.key (STEP_KEY, v = const index of the key string), a[3]
 * (STEP_INDEX, v = the index; STEP_APPEND for the write target [-0]) and
 * a[expr] (STEP_EXPR, v = node). */
enum { STEP_KEY, STEP_INDEX, STEP_APPEND, STEP_EXPR };
typedef struct mqr__rstep {
    uint32_t kind;
    int32_t v;
} mqr__rstep_t;

/* A field of SELECT, FOREACH or DO. `*` has expr NONE. The target is where
 * the value is written: steps[tstep .. tstep+tn) starting with a STEP_KEY
 * (the top-level key). */
typedef struct mqr__rfield {
    uint32_t expr;
    uint32_t tstep;
    uint32_t tn;
    uint32_t off;
    uint32_t aliased; /* 1 when written with an alias */
    uint32_t nstart;  /* compile time: the first node of its expression */
} mqr__rfield_t;

typedef struct mqr__rsource {
    const char *s; /* NUL-terminated, in the arena */
    uint32_t len;
    int32_t kind; /* MQR_RULE_SRC_* */
} mqr__rsource_t;

struct mqr_rule {
    mqr_allocator_t alloc;
    mqr_arena_t *arena; /* everything below lives here */
    const mqr__rn_t *nodes;
    const uint32_t *kids;
    const mqr__rstep_t *steps;
    const mqr_value_t *consts;
    const mqr__func_t *const *funcs;
    const mqr__rfield_t *fields; /* SELECT or FOREACH fields */
    const mqr__rfield_t *dos;    /* DO fields */
    const mqr__rsource_t *sources;
    uint32_t nfields;
    uint32_t ndos;
    uint32_t nsources;
    uint32_t where;  /* node or NONE */
    uint32_t incase; /* node or NONE */
    uint32_t is_foreach;
    uint32_t where_first; /* WHERE reads no selected key: test it before SELECT */
    uint32_t has_calls;   /* the clock is read only when a function may need it */
    uint32_t has_do;
    uint32_t flat_select; /* SELECT of distinct top-level keys, no '*': built in place */
    const mqr_value_t *keyjson; /* flat_select: per field "{\"key\":" / ",\"key\":" */
    uint32_t item_key;    /* FOREACH: const index of the item name */
    uint32_t flags;       /* MQR_RULE_* */
    int32_t local_offset_s;
    uint64_t max_steps;
    uint64_t max_output;
    uint32_t max_depth;
    uint32_t reserved_;
    uint64_t rng_seed;
    mqr_rule_clock_fn clock;
    void *clock_ud;
    mqr_value_t metadata; /* {"rule_id": id} */
    const char *id;
    /* The programs of the constant regex patterns, one per call site (an
     * OP_CALL node's c is its index + 1, 0 for none), compiled through
     * `alloc` when the rule is compiled, read-only afterwards, freed with
     * the rule. */
    struct mqr__regex **regexes;
    uint32_t nregexes;
};

/* ---- event schemas and topics (rule_schema.c) ------------------------------------ */
/* 1 if FROM entry s covers event e: an "$events/..." filter matching one of
 * e's topics, or a topic filter and e is message.publish. */
int mqr__rule_source_covers(const mqr__rsource_t *s, const mqr_event_schema_t *e);
/* 1 if the "$events/..." filter f names at least one known event. */
int mqr__rule_events_known(const char *f, size_t len);
/* 1 if topic name `t` matches MQTT topic filter `f` ('+', '#', no '$' match
 * for a leading wildcard): mqr_topic_match of the packet module. */
int mqr__rule_topic_match(const char *f, size_t flen, const char *t, size_t tlen);
/* 1 if `f` is a valid topic filter. */
int mqr__rule_filter_valid(const char *f, size_t flen);

/* ---- compile state (rule_parse.c, rule_compile.c) ------------------------------------ */
/* The compiler's growable arrays and the parser's position. The arrays grow
 * on the heap and are copied into the rule's arena when compiling ends. */
typedef struct mqr__vec {
    void *p;
    uint32_t n;
    uint32_t cap;
} mqr__vec_t;

enum { V_NODES, V_KIDS, V_STEPS, V_CONSTS, V_FUNCS, V_FIELDS, V_DOS, V_SOURCES, V__COUNT };
/* Element size of each vector, in V_* order (rule_parse.c). */
extern const size_t mqr__rule_vec_esize[V__COUNT];

typedef struct mqr__cst {
    mqr_rule_t *r;
    mqr__lex_t lx;
    mqr__tok_t tok;       /* current token */
    uint32_t prev_kind;   /* kind of the token before it */
    uint32_t prev_end;    /* offset just past it */
    const char *sql;
    mqr_diag_t *diag;
    mqr__vec_t v[V__COUNT];
    uint32_t depth;
    uint32_t max_depth;
    uint32_t where_start; /* the first node of WHERE (nodes are emitted in order) */
    int cond;             /* 1 where a condition may stand (WHERE, INCASE, WHEN) */
} mqr__cst_t;

#define NODES(c) ((mqr__rn_t *)(c)->v[V_NODES].p)
#define CONSTS(c) ((mqr_value_t *)(c)->v[V_CONSTS].p)

/* Parse the whole statement into c (rule_parse.c): MQR_OK or an error with
 * its message, line and column in c->diag. */
int mqr__rule_parse(mqr__cst_t *c);
/* A string constant whose bytes are copied into the rule's arena; its
 * index in *out. MQR_OK or MQR_ENOMEM. */
int mqr__rule_add_string(mqr__cst_t *c, const char *s, size_t len, uint32_t *out);

/* ---- compile-time evaluation (rule_eval.c) ------------------------------------------ */
/* Evaluate node `n` of a rule under construction with no columns, to fold a
 * constant expression. MQR_OK and *out (in the rule's arena), or an error. */
int mqr__rule_fold(const mqr_rule_t *rule, uint32_t n, mqr_value_t *out);

#endif /* MQR_RULE_INT_H */
