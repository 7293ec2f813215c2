/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/sink_kafka.h - the Kafka sink (libmqttrule_kafka, pkg-config
 * module mqttrule-kafka, CMake component mqttrule::kafka): every output of a
 * rule becomes one Kafka message produced with librdkafka.
 *
 * The topic, key, value and headers are `${...}` templates (mqttrule/
 * template.h): a field that is exactly one placeholder takes that value's
 * bytes (a string as it is, a number in decimal, an object or array as
 * JSON, undefined as no key / an empty value), anything else renders as
 * text. The value defaults to `${.}`, the whole output as JSON. So
 * `key ${clientid}` keys each CONNACK event by its client id, and all events
 * of a client land in one partition, in order.
 *
 * librdkafka runs its own threads and batches by itself (linger.ms,
 * batch.num.messages, compression.type: any property is passed through with
 * mqr_kafka_property_t). Its delivery reports come back on the host's thread:
 * the sink enables the producer's queue event descriptor
 * (rd_kafka_queue_io_event_enable on a pipe) and the host's loop watches it
 * (mqr_kafka_sink_fds / _fd_ready); each report ends its message as success,
 * or failed (an unknown topic, a message too large), or retried (a broker
 * down, a timeout: librdkafka first retries by itself within
 * message.timeout.ms, then the sink queues it again within its TTL).
 *
 * Threads: a sink is used by the thread that uses its engine (librdkafka's
 * own threads aside).
 */
#ifndef MQTTRULE_SINK_KAFKA_H
#define MQTTRULE_SINK_KAFKA_H

#include "common.h"
#include "engine.h"
#include "sink.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mqr_kafka_sink mqr_kafka_sink_t;

/* A header of each message: a name and a value template. */
typedef struct mqr_kafka_header {
    const char *name;
    const char *value;
} mqr_kafka_header_t;

/* A librdkafka configuration property (rd_kafka_conf_set), such as
 * {"linger.ms", "5"} or {"compression.type", "lz4"}. */
typedef struct mqr_kafka_property {
    const char *name;
    const char *value;
} mqr_kafka_property_t;

/* The sink's configuration: call mqr_kafka_sink_config_init first. Strings
 * are copied. */
typedef struct mqr_kafka_sink_config {
    const char *bootstrap_hosts;  /* "host:port[,host:port...]"; required */
    const char *topic;            /* template; required */
    const char *key;              /* template; NULL: no key */
    const char *value;            /* template; NULL: ${.} */
    uint32_t header_count;
    uint32_t property_count;
    const mqr_kafka_header_t *headers;
    const mqr_kafka_property_t *properties; /* applied after the sink's defaults */
    mqr_sink_queue_config_t queue;
    mqr_sink_log_fn log;          /* errors, librdkafka's log; NULL: silent */
    void *log_ud;
} mqr_kafka_sink_config_t;

/** Defaults: everything NULL or 0. NULL is ignored. Thread-safe. */
MQR_API void mqr_kafka_sink_config_init(mqr_kafka_sink_config_t *cfg);

/**
 * Create the producer (its threads start connecting at once) and attach the
 * sink to rule `rule_id` of `engine` as an action.
 * Returns MQR_OK with *out_sink owned by the caller; MQR_EINVAL (NULL
 * argument, no bootstrap_hosts or topic, a property librdkafka refuses:
 * *diag names it and says why); MQR_EIO (the producer could not be made);
 * MQR_ENOTFOUND (no such rule); MQR_ESTATE; MQR_ENOMEM.
 */
MQR_API int mqr_kafka_sink_create(mqr_engine_t *engine, const char *rule_id,
                                  const mqr_kafka_sink_config_t *cfg,
                                  mqr_kafka_sink_t **out_sink, mqr_diag_t *diag);

/** Detach the action, give librdkafka up to 2 s to deliver what it holds
 *  (rd_kafka_flush), count whatever is left dropped (other), destroy the
 *  producer. NULL is ignored. Call it before mqr_engine_destroy. */
MQR_API void mqr_kafka_sink_destroy(mqr_kafka_sink_t *sink);

/** The descriptor to wait on (the delivery-report pipe): fills out[0..cap),
 *  returns how many (1). 0 for NULL. */
MQR_API size_t mqr_kafka_sink_fds(const mqr_kafka_sink_t *sink, mqr_sink_fd_t *out, size_t cap);

/** The descriptor is ready: serve the delivery reports. MQR_OK,
 *  MQR_ENOTFOUND (not ours), MQR_EINVAL. */
MQR_API int mqr_kafka_sink_fd_ready(mqr_kafka_sink_t *sink, int fd, uint32_t events,
                                    uint64_t now_ms);

/** Hand queued messages to the producer, run the TTL and backoff timers.
 *  MQR_OK or MQR_EINVAL. */
MQR_API int mqr_kafka_sink_process(mqr_kafka_sink_t *sink, uint64_t now_ms);

/** Milliseconds until mqr_kafka_sink_process is due: 0 now, -1 none. */
MQR_API int64_t mqr_kafka_sink_timeout(const mqr_kafka_sink_t *sink, uint64_t now_ms);

/** Drive the sink until every message is delivered or ended, or timeout_ms
 *  passed. MQR_OK, MQR_ETIMEOUT, MQR_EINVAL. */
MQR_API int mqr_kafka_sink_flush(mqr_kafka_sink_t *sink, uint32_t timeout_ms);

/** Copy the action's metrics. MQR_OK or MQR_EINVAL. */
MQR_API int mqr_kafka_sink_metrics(const mqr_kafka_sink_t *sink, mqr_action_metrics_t *out);

/** The engine's id of the sink's action (0 for NULL). */
MQR_API uint32_t mqr_kafka_sink_action_id(const mqr_kafka_sink_t *sink);

/** The last error ("" when none; borrowed until the next call) and its
 *  wall-clock time in *out_time_ms (may be NULL). "" for NULL. */
MQR_API const char *mqr_kafka_sink_last_error(const mqr_kafka_sink_t *sink,
                                              uint64_t *out_time_ms);

/** The connector test: ask the cluster for its metadata (blocking, at most
 *  about timeout_ms; 0: 5 s) and, when the topic is constant, whether it
 *  exists. MQR_OK; MQR_ECONNECT (no broker answered) or MQR_ENOTFOUND (no
 *  such topic) with the reason in *diag. */
MQR_API int mqr_kafka_sink_test(mqr_kafka_sink_t *sink, uint32_t timeout_ms, mqr_diag_t *diag);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_SINK_KAFKA_H */
