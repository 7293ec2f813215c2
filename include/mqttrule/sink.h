/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/sink.h - the types the optional sinks share: SQLite
 * (mqttrule/sink_sqlite.h, libmqttrule_sqlite), PostgreSQL
 * (mqttrule/sink_pgsql.h, libmqttrule_pgsql) and Kafka
 * (mqttrule/sink_kafka.h, libmqttrule_kafka).
 *
 * A sink is a custom action (mqttrule/action.h) attached to one rule of an
 * engine. It turns each rule output into one record (a database row, a
 * Kafka message) whose fields come from `${...}` templates: in SQL every
 * placeholder becomes a bound parameter (`?` for SQLite, `$n` for
 * PostgreSQL), never SQL text, so no value can change the statement. One
 * placeholder is the sink's, not the output's: ${idempotency_key} is the
 * record's stable identifier (the durable queue's "<queue id>-<seq>",
 * mqr_action_item_t.id; without one "<16 random hex digits>-m<ticket>"),
 * the same over retries, for a UNIQUE column or a Kafka key. The
 * engine keeps the records in the action's bounded queue, hands them to the
 * sink in batches, retries them with exponential backoff while their time to
 * live lasts, and counts every record's end in the action's metrics
 * (mqr_engine_action_metrics: success, failed (refused by the server),
 * dropped.queue_full, dropped.expired, dropped.other (the action was removed
 * with the record unwritten), queuing, inflight, retried) with the last
 * error (mqr_engine_action_last_error). The host's loop drives the sink's
 * descriptors through the engine (mqr_engine_fds / the socket callback,
 * mqr_engine_fd_ready, mqr_engine_timeout, mqr_engine_process), and
 * mqr_engine_action_test is the sink's connector test.
 *
 * Each sink's header declares two functions: NAME_sink_config_init and
 * NAME_sink_add, which attaches the sink to a rule and gives the action id;
 * mqr_engine_action_remove (or removing the rule, or destroying the engine)
 * detaches and frees it.
 *
 * This header declares types and constants only: no library implements a
 * function of it.
 */
#ifndef MQTTRULE_SINK_H
#define MQTTRULE_SINK_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants -------------------------------------------------------------- */

/* Records per batch when mqr_sink_queue_config_t.batch_size is 0. The other
 * zeros stand for the engine's MQR_ACTION_DEFAULT_* (mqttrule/action.h). */
#define MQR_SINK_DEFAULT_BATCH 500u

/* Log levels of mqr_sink_log_fn. */
#define MQR_SINK_LOG_ERROR 0
#define MQR_SINK_LOG_WARN 1
#define MQR_SINK_LOG_INFO 2

/* ---- types ------------------------------------------------------------------ */

/* A message for the host's log: `msg` is NUL-terminated and borrowed for the
 * call. Called on the engine's thread from inside the engine's calls
 * (mqr_engine_process, mqr_engine_fd_ready, ...), never from another. */
typedef void (*mqr_sink_log_fn)(void *ud, int32_t level, const char *msg);

/* The queue, batching, retry and time-to-live of a sink (the fields of
 * mqr_custom_action_config_t it sets); 0 in any field stands for the
 * default. */
typedef struct mqr_sink_queue_config {
    uint32_t max_queue_count;  /* records waiting, over which new ones are dropped */
    uint32_t max_queue_bytes;  /* bytes of parameters waiting, likewise */
    uint32_t batch_size;       /* records per transaction / pipeline */
    uint32_t ttl_ms;           /* a record not written within this is dropped (expired) */
    uint32_t backoff_min_ms;   /* first wait after a failed connection or batch */
    uint32_t backoff_max_ms;   /* the wait doubles up to this */
    uint32_t batch_time_ms;    /* wait this long for a batch to fill; 0: the sink's
                                  default (SQLite 10 ms, so rows are written in the
                                  engine's processing step; the others none) */
    uint32_t reserved_;
} mqr_sink_queue_config_t;

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_SINK_H */
