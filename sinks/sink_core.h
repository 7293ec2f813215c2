/* SPDX-License-Identifier: MIT */
/*
 * sink_core.h - what the SQLite, PostgreSQL and Kafka sinks share, compiled
 * into each sink library with hidden visibility (never part of the API):
 * SQL templates whose placeholders become bound parameters, the extraction
 * of a rule output into typed parameters, the bounded record queue with its
 * batches, backoff and time to live, the metrics and the last error.
 *
 * Everything here uses the public mqttrule API only (mqttrule.h).
 */
#ifndef MQR_SINK_CORE_H
#define MQR_SINK_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <mqttrule.h>
#include <mqttrule/sink.h>

/* Parameter types: what a placeholder's value binds as. */
#define SINK_P_NULL 0   /* undefined or null */
#define SINK_P_BOOL 1   /* i is 0 or 1 */
#define SINK_P_INT 2    /* i */
#define SINK_P_DOUBLE 3 /* d */
#define SINK_P_TEXT 4   /* s, len bytes (may hold NUL bytes) */
#define SINK_P_JSON 5   /* s, len bytes of JSON (objects and arrays) */

typedef struct sink_param {
    int32_t type;
    uint32_t len;
    int64_t i;
    double d;
    const char *s;
} sink_param_t;

/* One queued record: its parameters, their bytes stored after them in the
 * same allocation. */
typedef struct sink_rec {
    struct sink_rec *next;
    uint64_t enq_ms;
    uint32_t attempts;
    uint32_t nparams;
    size_t bytes;
    sink_param_t p[];
} sink_rec_t;

/* Compiled field templates: field i's value comes from tpl[i]. */
typedef struct sink_fields {
    uint32_t n;
    mqr_template_t **tpl;
} sink_fields_t;

typedef struct sink_core sink_core_t;

/* What the core asks of a sink that keeps the core's queue (SQLite,
 * PostgreSQL): nothing; the sink pulls batches. A sink that hands records
 * on at once (Kafka) sets on_output and the queue stays empty. */
typedef int (*sink_output_fn)(void *impl, const sink_param_t *params, uint32_t n);

struct sink_core {
    const char *kind;           /* "sqlite", "pgsql", "kafka": for messages */
    mqr_engine_t *engine;
    uint32_t action_id;
    sink_fields_t fields;
    mqr_arena_t *arena;         /* extraction scratch, reset per output */
    sink_param_t *scratch;      /* fields.n parameters */
    sink_rec_t *head, *tail;    /* the queue, oldest first */
    size_t count, bytes;
    mqr_sink_queue_config_t q;  /* defaults resolved */
    uint32_t backoff_ms;        /* the current wait; 0 when healthy */
    uint64_t retry_at;          /* no attempt before this (monotonic ms) */
    mqr_action_metrics_t m;
    uint64_t errors;            /* errors reported with sink_error */
    char last_error[MQR_DIAG_MESSAGE_MAX];
    uint64_t last_error_ms;     /* wall clock, ms since the epoch; 0: none */
    mqr_sink_log_fn log;
    void *log_ud;
    sink_output_fn on_output;   /* NULL: queue the record */
    void *impl;
};

/* ---- templates ------------------------------------------------------------- */

/* Placeholder styles of mqr__sink_sql_parse. */
#define SINK_SQL_QMARK 0  /* ? (SQLite) */
#define SINK_SQL_DOLLAR 1 /* $1, $2, ... (PostgreSQL) */

int mqr__sink_sql_parse(const char *sql, int style, char **out_text, sink_fields_t *out_fields,
                        mqr_diag_t *diag);
int mqr__sink_fields_compile(const char *const *texts, uint32_t n, sink_fields_t *out,
                             mqr_diag_t *diag);
void mqr__sink_fields_free(sink_fields_t *f);
int mqr__sink_param_text(const sink_param_t *p, char *buf, size_t cap, const char **out_s,
                         size_t *out_len);

/* ---- the core -------------------------------------------------------------- */

int mqr__sink_core_init(sink_core_t *c, const char *kind, const mqr_sink_queue_config_t *q,
                        mqr_sink_log_fn log, void *log_ud, mqr_diag_t *diag);
int mqr__sink_core_attach(sink_core_t *c, mqr_engine_t *engine, const char *rule_id,
                          mqr_diag_t *diag);
void mqr__sink_core_destroy(sink_core_t *c);
int mqr__sink_core_extract(sink_core_t *c, const mqr_value_t *output);
sink_rec_t *mqr__sink_core_take(sink_core_t *c, uint64_t now_ms, uint32_t max,
                                uint32_t *out_n);
void mqr__sink_core_requeue(sink_core_t *c, sink_rec_t *batch, uint64_t now_ms);
void mqr__sink_core_done(sink_core_t *c, sink_rec_t *rec, int ok);
void mqr__sink_core_backoff(sink_core_t *c, uint64_t now_ms);
void mqr__sink_core_healthy(sink_core_t *c);
int64_t mqr__sink_core_timeout(const sink_core_t *c, uint64_t now_ms);
void mqr__sink_core_error(sink_core_t *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void mqr__sink_core_log(sink_core_t *c, int32_t level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void mqr__sink_diag(mqr_diag_t *diag, int code, const char *field, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#endif /* MQR_SINK_CORE_H */
