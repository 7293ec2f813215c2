/* SPDX-License-Identifier: MIT */
/*
 * sink_core.h - what the SQLite, PostgreSQL and Kafka sinks share, compiled
 * into each sink library with hidden visibility (never part of the API).
 *
 * 1. Templates: SQL whose `${...}` placeholders become bound parameters,
 *    and the encoding of one rule output as typed parameters in a byte
 *    string (what a custom action's render produces, mqttrule/action.h).
 * 2. The sink's side of a custom action (mqttrule/action.h): attaching to
 *    a rule, the engine's calls for this action, and a log that does not
 *    flood.
 *
 * Everything here uses the public mqttrule API only (mqttrule.h).
 */
#ifndef MQR_SINK_CORE_H
#define MQR_SINK_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <mqttrule.h>
#include <mqttrule/action.h>
#include <mqttrule/sink.h>

#if defined(__GNUC__)
#  define SINK_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#  define SINK_PRINTF(f, a)
#endif

/* ---- parameters ------------------------------------------------------------- */

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

/* Compiled field templates: field i's value comes from tpl[i]. */
typedef struct sink_fields {
    uint32_t n;
    mqr_template_t **tpl;
    uint8_t *is_id;         /* 1: field i is ${SINK_ID_NAME}, bound by
                               mqr__sink_decode_item, not from the output */
} sink_fields_t;

/* The placeholder that binds a record's stable identifier (the durable
 * queue's "<queue id>-<seq>", else "<sink's random prefix>-m<ticket>") in
 * place of a value of the rule's output, and room for the identifier. */
#define SINK_ID_NAME "idempotency_key"
#define SINK_ID_MAX 64

/* Placeholder styles of mqr__sink_sql_parse. */
#define SINK_SQL_QMARK 0  /* ? (SQLite) */
#define SINK_SQL_DOLLAR 1 /* $1, $2, ... (PostgreSQL) */

int mqr__sink_sql_parse(const char *sql, int style, char **out_text, sink_fields_t *out_fields,
                        mqr_diag_t *diag);
int mqr__sink_fields_compile(const char *const *texts, uint32_t n, sink_fields_t *out,
                             mqr_diag_t *diag);
void mqr__sink_fields_free(sink_fields_t *f);
int mqr__sink_render(const sink_fields_t *f, const mqr_value_t *output, mqr_arena_t *arena,
                     const void **out_data, size_t *out_len, mqr_diag_t *diag);
int mqr__sink_decode(const void *data, size_t len, sink_param_t *out, uint32_t n);
void mqr__sink_param_text(const sink_param_t *p, char buf[32], const char **out_s,
                          size_t *out_len);
void mqr__sink_diag(mqr_diag_t *diag, int code, const char *field, const char *fmt, ...)
    SINK_PRINTF(4, 5);

/* ---- the action's side of the engine ----------------------------------------------- */

/*
 * What a sink keeps to talk to the engine that owns it: its action id and
 * the host's log. The engine (mqttrule/action.h) keeps the queue, batches,
 * retries, TTL and metrics; the sink calls mqr__sink_done / _ready /
 * _wakeup / _watch_fd / _unwatch_fd, which are the engine's calls for this
 * action, and logs through mqr__sink_log / _error (a message repeated
 * within a second is counted rather than logged).
 */
typedef struct sink_ctx {
    mqr_engine_t *engine;
    uint32_t action_id;
    char where[96];                    /* "sqlite FILE", "pgsql HOST:PORT/DB", ... */
    char id_prefix[20];                /* 16 random hex digits: identifiers without a
                                          durable queue */
    mqr_sink_log_fn log;
    void *log_ud;
    char logged[MQR_DIAG_MESSAGE_MAX]; /* the last error logged, */
    uint64_t log_time_ms;              /* when (monotonic), */
    uint64_t suppressed;               /* and how many like it since */
} sink_ctx_t;

void mqr__sink_action_config(mqr_custom_action_config_t *out, const char *type,
                             const mqr_sink_queue_config_t *q);
int mqr__sink_attach(sink_ctx_t *c, mqr_engine_t *engine, const char *rule_id,
                     const mqr_custom_action_config_t *cfg, uint32_t *out_action_id,
                     mqr_diag_t *diag);
void mqr__sink_done(sink_ctx_t *c, uint64_t ticket, int32_t outcome, int32_t status,
                    const char *error_text);
void mqr__sink_ready(sink_ctx_t *c);
void mqr__sink_wakeup(sink_ctx_t *c, int64_t delay_ms);
int mqr__sink_watch_fd(sink_ctx_t *c, int fd, uint32_t events, mqr_engine_fd_fn fn, void *ud);
void mqr__sink_unwatch_fd(sink_ctx_t *c, int fd);
int mqr__sink_decode_item(const sink_ctx_t *c, const sink_fields_t *f,
                          const mqr_action_item_t *it, sink_param_t *out, char idbuf[SINK_ID_MAX]);
void mqr__sink_log(sink_ctx_t *c, int32_t level, const char *fmt, ...) SINK_PRINTF(3, 4);
void mqr__sink_error(sink_ctx_t *c, const char *fmt, ...) SINK_PRINTF(2, 3);

#endif /* MQR_SINK_CORE_H */
