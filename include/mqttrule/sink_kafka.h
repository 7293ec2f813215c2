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
 * through the engine (mqr_engine_watch_fd); each report ends its message as success,
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
#include "action.h"
#include "engine.h"
#include "sink.h"

#ifdef __cplusplus
extern "C" {
#endif

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
 * sink to rule `rule_id` of `engine` as a custom action (type "kafka"),
 * whose id goes to *out_action_id (may be NULL). The engine owns the sink
 * from then on: removing the action purges what librdkafka still holds
 * (drive the engine until mqr_engine_pending is 0 first to deliver it).
 * mqr_engine_action_test is its connector test: the cluster's metadata and,
 * when the topic is constant, whether it exists.
 * Returns MQR_OK; MQR_EINVAL (NULL engine, rule_id or cfg, no
 * bootstrap_hosts or topic, a header without a name, a property librdkafka
 * refuses: *diag names it and says why); MQR_EIO (the producer could not be
 * made); MQR_ENOTFOUND (no such rule); MQR_ESTATE; MQR_ENOMEM.
 */
MQR_API int mqr_kafka_sink_add(mqr_engine_t *engine, const char *rule_id,
                               const mqr_kafka_sink_config_t *cfg, uint32_t *out_action_id,
                               mqr_diag_t *diag);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_SINK_KAFKA_H */
