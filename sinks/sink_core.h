/* SPDX-License-Identifier: MIT */
/*
 * sink_core.h - what the SQLite, PostgreSQL and Kafka sinks share, compiled
 * into each sink library with hidden visibility (never part of the API).
 *
 * 1. Templates: SQL whose `${...}` placeholders become bound parameters,
 *    and the encoding of one rule output as typed parameters in a byte
 *    string (what a custom action's render produces, mqttrule/action.h).
 * 2. The action host: the contract of mqttrule/action.h (render, submit in
 *    batches, done per ticket, ready, wakeup, watched descriptors) run by
 *    the sink library itself, with the bounded queue, retries with backoff,
 *    TTL, attempt timeout and metrics, until the engine's implementation of
 *    mqr_engine_action_add_custom is available. A sink is written against
 *    the mqr__sink_host_* calls below, one for one the engine's
 *    mqr_engine_action_done / _ready / _wakeup / mqr_engine_watch_fd /
 *    _unwatch_fd, so moving onto the engine changes the calls' names only.
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
} sink_fields_t;

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

/* ---- the action host ---------------------------------------------------------- */

typedef struct sink_host sink_host_t;

int mqr__sink_host_add(mqr_engine_t *engine, const char *rule_id,
                       const mqr_custom_action_config_t *cfg, mqr_sink_log_fn log, void *log_ud,
                       sink_host_t **out_host, mqr_diag_t *diag);
void mqr__sink_host_destroy(sink_host_t *h);
int mqr__sink_host_done(sink_host_t *h, uint64_t ticket, int32_t outcome, int32_t status,
                        const char *error_text);
int mqr__sink_host_ready(sink_host_t *h);
int mqr__sink_host_wakeup(sink_host_t *h, int64_t delay_ms);
int mqr__sink_host_watch_fd(sink_host_t *h, int fd, uint32_t events, mqr_engine_fd_fn fn,
                            void *ud);
int mqr__sink_host_unwatch_fd(sink_host_t *h, int fd);
void mqr__sink_host_error(sink_host_t *h, int32_t status, const char *fmt, ...)
    SINK_PRINTF(3, 4);
void mqr__sink_host_log(sink_host_t *h, int32_t level, const char *fmt, ...) SINK_PRINTF(3, 4);

/* The host-facing side, behind each sink's public functions. */
int mqr__sink_host_process(sink_host_t *h, uint64_t now_ms);
int64_t mqr__sink_host_timeout(const sink_host_t *h, uint64_t now_ms);
size_t mqr__sink_host_fds(const sink_host_t *h, mqr_sink_fd_t *out, size_t cap);
int mqr__sink_host_fd_ready(sink_host_t *h, int fd, uint32_t events, uint64_t now_ms);
int mqr__sink_host_flush(sink_host_t *h, uint32_t timeout_ms);
size_t mqr__sink_host_pending(const sink_host_t *h);
void mqr__sink_host_metrics(const sink_host_t *h, mqr_action_metrics_t *out);
const char *mqr__sink_host_last_error(const sink_host_t *h, uint64_t *out_time_ms);
uint32_t mqr__sink_host_action_id(const sink_host_t *h);
int mqr__sink_host_test(sink_host_t *h, uint32_t timeout_ms, mqr_diag_t *diag);

/* The config every sink starts from: its queue settings mapped onto the
 * custom action's fields. */
void mqr__sink_action_config(mqr_custom_action_config_t *out, const char *type,
                             const mqr_sink_queue_config_t *q);

#endif /* MQR_SINK_CORE_H */
