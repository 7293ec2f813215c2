/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/sink.h - the types the optional sinks share: SQLite
 * (mqttrule/sink_sqlite.h, libmqttrule_sqlite), PostgreSQL
 * (mqttrule/sink_pgsql.h, libmqttrule_pgsql) and Kafka
 * (mqttrule/sink_kafka.h, libmqttrule_kafka).
 *
 * A sink is an action attached to one rule of an engine. It turns each rule
 * output into one record (a database row, a Kafka message) whose fields come
 * from `${...}` templates: in SQL every placeholder becomes a bound parameter
 * (`?` for SQLite, `$n` for PostgreSQL), never SQL text, so no value can
 * change the statement. Records wait in a bounded queue per sink, are written
 * in batches, retried with exponential backoff while their time to live
 * lasts, and every record ends counted in the action's metrics
 * (mqr_action_metrics_t of mqttrule/engine.h): success, failed (the server
 * refused the record), dropped_queue_full, dropped_expired or dropped_other
 * (the sink was destroyed with the record still queued).
 *
 * This header declares types and constants only: no library implements a
 * function of it, so including it costs nothing.
 */
#ifndef MQTTRULE_SINK_H
#define MQTTRULE_SINK_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants -------------------------------------------------------------- */

/* The defaults that 0 stands for in mqr_sink_queue_config_t. */
#define MQR_SINK_DEFAULT_QUEUE_COUNT 100000u
#define MQR_SINK_DEFAULT_QUEUE_BYTES (64u * 1024u * 1024u)
#define MQR_SINK_DEFAULT_BATCH 500u
#define MQR_SINK_DEFAULT_TTL_MS 45000u
#define MQR_SINK_DEFAULT_BACKOFF_MIN_MS 100u
#define MQR_SINK_DEFAULT_BACKOFF_MAX_MS 10000u

/* Log levels of mqr_sink_log_fn. */
#define MQR_SINK_LOG_ERROR 0
#define MQR_SINK_LOG_WARN 1
#define MQR_SINK_LOG_INFO 2

/* Readiness bits of mqr_sink_fd_t.events and the *_fd_ready functions (the
 * same values as MQR_HTTP_READ and MQR_HTTP_WRITE). */
#define MQR_SINK_READ 1u
#define MQR_SINK_WRITE 2u

/* ---- types ------------------------------------------------------------------ */

/* A message for the host's log: `msg` is NUL-terminated and borrowed for the
 * call. Called from inside the sink's calls (create, process, fd_ready),
 * never from another thread. */
typedef void (*mqr_sink_log_fn)(void *ud, int32_t level, const char *msg);

/* The queue, batching, retry and time-to-live of a sink; 0 in any field
 * stands for the MQR_SINK_DEFAULT_* value. ttl_ms UINT32_MAX: records never
 * expire. */
typedef struct mqr_sink_queue_config {
    uint32_t max_queue_count;  /* records waiting, over which new ones are dropped */
    uint32_t max_queue_bytes;  /* bytes of parameters waiting, likewise */
    uint32_t batch_size;       /* records per transaction / pipeline */
    uint32_t ttl_ms;           /* a record not written within this is dropped (expired) */
    uint32_t backoff_min_ms;   /* first wait after a failed connection or batch */
    uint32_t backoff_max_ms;   /* the wait doubles up to this */
} mqr_sink_queue_config_t;

/* A descriptor a sink waits on, for the host's loop. */
typedef struct mqr_sink_fd {
    int32_t fd;
    uint32_t events; /* MQR_SINK_READ | MQR_SINK_WRITE */
} mqr_sink_fd_t;

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_SINK_H */
