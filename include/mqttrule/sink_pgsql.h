/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/sink_pgsql.h - the PostgreSQL sink (libmqttrule_pgsql, pkg-config
 * module mqttrule-pgsql, CMake component mqttrule::pgsql): every output of a
 * rule becomes one row, written with a prepared statement whose `${...}`
 * placeholders are the parameters $1..$n (see mqttrule/sink.h).
 *
 * It never blocks: libpq's asynchronous API (PQconnectStartParams and
 * PQconnectPoll, PQsendPrepare, pipeline mode with PQsendQueryPrepared,
 * PQconsumeInput) on pool_size connections (1 by default) whose sockets the
 * host's loop watches through the engine (mqr_engine_watch_fd). A batch of
 * up to queue.batch_size rows is sent as one pipeline segment ending in one
 * Sync, so it runs as one implicit transaction: all rows or none. Each
 * connection carries up to inflight_window batches at once (EMQX's name;
 * 8 by default): a batch is sent behind the ones in flight without waiting
 * for their commits, and their results are read in order. A row is
 * reported written only after its batch's COMMIT (so a durable queue,
 * mqr_engine_action_persist, releases it only then).
 *
 * Outcomes: a row the server refuses for its data (SQLSTATE classes 22 and
 * 23: a wrong type, a constraint) fails alone and the others of its batch,
 * rolled back with it, are sent again at once; a statement the server refuses (no such table, a syntax
 * error: class 42 and the like) fails the batch's rows and is prepared
 * again after a backoff; a lost connection (the server stopped or
 * restarted, class 08 or 57) sends the batch again after reconnecting, so
 * delivery is at least once: a batch committed just before the connection
 * broke may be written twice. Rows wait in the queue meanwhile, within the
 * queue limits and TTL; whatever does not make it is counted dropped.
 * The placeholder ${idempotency_key} binds the record's stable identifier
 * instead of a value of the rule's output: the durable queue's
 * "<queue id>-<seq>" (mqr_action_item_t.id), or without one "<16 hex
 * digits chosen when the sink is added>-m<ticket>", the same over retries;
 * stored in a UNIQUE column with ON CONFLICT DO NOTHING it makes the
 * at-least-once delivery exactly once. Parameters go as text; a text value with a NUL byte, which PostgreSQL
 * cannot store in text, fails its row with a message saying so.
 *
 * Threads: a sink is used by the thread that uses its engine.
 */
#ifndef MQTTRULE_SINK_PGSQL_H
#define MQTTRULE_SINK_PGSQL_H

#include "common.h"
#include "action.h"
#include "engine.h"
#include "sink.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults and limits of mqr_pgsql_sink_config_t.pool_size / inflight_window. */
#define MQR_PGSQL_DEFAULT_POOL_SIZE 1u
#define MQR_PGSQL_MAX_POOL_SIZE 64u
#define MQR_PGSQL_DEFAULT_INFLIGHT_WINDOW 8u
#define MQR_PGSQL_MAX_INFLIGHT_WINDOW 1024u

/* The sink's configuration: call mqr_pgsql_sink_config_init first. Strings
 * are copied. */
typedef struct mqr_pgsql_sink_config {
    const char *server;           /* "host", "host:port" (default port 5432), or a
                                     unix socket directory "/path" or "/path:port";
                                     required */
    const char *database;         /* dbname; required */
    const char *username;         /* NULL: libpq's default (the OS user) */
    const char *password;         /* NULL: none, or password_file */
    const char *password_file;    /* first line is the password; read at create */
    const char *sql;              /* one statement with ${...} placeholders; required */
    mqr_sink_queue_config_t queue;
    uint32_t connect_timeout_ms;  /* a connection attempt; 0: 15000 */
    uint32_t inflight_window;     /* batches in flight per connection (pipelined);
                                     0: MQR_PGSQL_DEFAULT_INFLIGHT_WINDOW; at most
                                     MQR_PGSQL_MAX_INFLIGHT_WINDOW */
    mqr_sink_log_fn log;          /* errors and state changes; NULL: silent */
    void *log_ud;
    /* Appended fields: the offsets of the fields above are unchanged. */
    uint32_t pool_size;           /* connections; 0: MQR_PGSQL_DEFAULT_POOL_SIZE; at
                                     most MQR_PGSQL_MAX_POOL_SIZE */
    uint32_t reserved_;
} mqr_pgsql_sink_config_t;

/** Defaults: everything NULL or 0. NULL is ignored. Thread-safe. */
MQR_API void mqr_pgsql_sink_config_init(mqr_pgsql_sink_config_t *cfg);

/**
 * Compile cfg->sql's placeholders, attach the sink to rule `rule_id` of
 * `engine` as a custom action (type "pgsql"), whose id goes to
 * *out_action_id (may be NULL), and start connecting without waiting: the
 * connection proceeds as the engine reports its socket ready. The engine
 * owns the sink from then on (mqr_engine_action_remove closes it);
 * mqr_engine_action_test is its connector test (a separate, blocking
 * connection that prepares the statement).
 * Returns MQR_OK; MQR_EINVAL (NULL engine, rule_id or cfg, no server,
 * database or sql, a bad port, a placeholder inside a quoted string,
 * pool_size or inflight_window above its limit);
 * MQR_EIO (password_file unreadable); MQR_ENOTFOUND (no such rule);
 * MQR_ESTATE (from an engine callback); MQR_ENOMEM. *diag (may be NULL)
 * says why.
 */
MQR_API int mqr_pgsql_sink_add(mqr_engine_t *engine, const char *rule_id,
                               const mqr_pgsql_sink_config_t *cfg, uint32_t *out_action_id,
                               mqr_diag_t *diag);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_SINK_PGSQL_H */
