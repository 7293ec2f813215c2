/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/sink_pgsql.h - the PostgreSQL sink (libmqttrule_pgsql, pkg-config
 * module mqttrule-pgsql, CMake component mqttrule::pgsql): every output of a
 * rule becomes one row, written with a prepared statement whose `${...}`
 * placeholders are the parameters $1..$n (see mqttrule/sink.h).
 *
 * It never blocks: libpq's asynchronous API (PQconnectStartParams and
 * PQconnectPoll, PQsendPrepare, pipeline mode with PQsendQueryPrepared,
 * PQconsumeInput) on one connection whose socket the host's loop watches
 * (mqr_pgsql_sink_fds / mqr_pgsql_sink_fd_ready). A batch of up to
 * queue.batch_size rows is sent as one pipeline ending in one Sync, so it
 * runs as one implicit transaction: all rows or none.
 *
 * Outcomes: a row the server refuses for its data (SQLSTATE classes 22 and
 * 23: a wrong type, a constraint) fails alone and the others of its batch
 * are sent again; a statement the server refuses (no such table, a syntax
 * error: class 42 and the like) fails the batch's rows and is prepared
 * again after a backoff; a lost connection (the server stopped or
 * restarted, class 08 or 57) sends the batch again after reconnecting, so
 * delivery is at least once: a batch committed just before the connection
 * broke may be written twice. Rows wait in the queue meanwhile, within the
 * queue limits and TTL; whatever does not make it is counted dropped.
 * Parameters go as text; a text value with a NUL byte, which PostgreSQL
 * cannot store in text, fails its row with a message saying so.
 *
 * Threads: a sink is used by the thread that uses its engine.
 */
#ifndef MQTTRULE_SINK_PGSQL_H
#define MQTTRULE_SINK_PGSQL_H

#include "common.h"
#include "engine.h"
#include "sink.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mqr_pgsql_sink mqr_pgsql_sink_t;

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
    uint32_t reserved_;
    mqr_sink_log_fn log;          /* errors and state changes; NULL: silent */
    void *log_ud;
} mqr_pgsql_sink_config_t;

/** Defaults: everything NULL or 0. NULL is ignored. Thread-safe. */
MQR_API void mqr_pgsql_sink_config_init(mqr_pgsql_sink_config_t *cfg);

/**
 * Compile cfg->sql's placeholders, attach the sink to rule `rule_id` of
 * `engine` as an action and start connecting (without waiting: the
 * connection proceeds in mqr_pgsql_sink_fd_ready / _process).
 * Returns MQR_OK with *out_sink owned by the caller; MQR_EINVAL (NULL
 * argument, no server, database or sql, a bad port, a placeholder inside a
 * quoted string); MQR_EIO (password_file unreadable); MQR_ENOTFOUND (no such
 * rule); MQR_ESTATE (from an engine callback); MQR_ENOMEM. *diag (may be
 * NULL) says why.
 */
MQR_API int mqr_pgsql_sink_create(mqr_engine_t *engine, const char *rule_id,
                                  const mqr_pgsql_sink_config_t *cfg,
                                  mqr_pgsql_sink_t **out_sink, mqr_diag_t *diag);

/** Detach the action, close the connection, drop and count what is queued
 *  or in flight (call mqr_pgsql_sink_flush first to write it). NULL is
 *  ignored. Call it before mqr_engine_destroy, never from a callback. */
MQR_API void mqr_pgsql_sink_destroy(mqr_pgsql_sink_t *sink);

/** The descriptors to wait on: fills out[0..cap) and returns how many there
 *  are (0 or 1). 0 for NULL. */
MQR_API size_t mqr_pgsql_sink_fds(const mqr_pgsql_sink_t *sink, mqr_sink_fd_t *out, size_t cap);

/** A descriptor from mqr_pgsql_sink_fds is ready (MQR_SINK_READ/_WRITE;
 *  report errors and hang-ups as both). MQR_OK, MQR_ENOTFOUND, MQR_EINVAL. */
MQR_API int mqr_pgsql_sink_fd_ready(mqr_pgsql_sink_t *sink, int fd, uint32_t events,
                                    uint64_t now_ms);

/** Run timers (reconnect, backoff, TTL, attempt timeout) and send queued
 *  rows. MQR_OK or MQR_EINVAL. */
MQR_API int mqr_pgsql_sink_process(mqr_pgsql_sink_t *sink, uint64_t now_ms);

/** Milliseconds until mqr_pgsql_sink_process is due: 0 now, -1 none. -1 for
 *  NULL. */
MQR_API int64_t mqr_pgsql_sink_timeout(const mqr_pgsql_sink_t *sink, uint64_t now_ms);

/** Drive the sink (waiting on its socket) until nothing is queued or in
 *  flight, or timeout_ms passed. MQR_OK, MQR_ETIMEOUT, MQR_EINVAL. */
MQR_API int mqr_pgsql_sink_flush(mqr_pgsql_sink_t *sink, uint32_t timeout_ms);

/** Copy the action's metrics. MQR_OK or MQR_EINVAL. */
MQR_API int mqr_pgsql_sink_metrics(const mqr_pgsql_sink_t *sink, mqr_action_metrics_t *out);

/** The engine's id of the sink's action (0 for NULL). */
MQR_API uint32_t mqr_pgsql_sink_action_id(const mqr_pgsql_sink_t *sink);

/** The last error ("" when none; borrowed until the next call on the sink)
 *  and its wall-clock time in *out_time_ms (may be NULL). "" for NULL. */
MQR_API const char *mqr_pgsql_sink_last_error(const mqr_pgsql_sink_t *sink,
                                              uint64_t *out_time_ms);

/** The connector test: connect (blocking, at most about timeout_ms; 0: 5 s)
 *  on a separate connection and prepare the statement; nothing is written.
 *  MQR_OK; MQR_ECONNECT or MQR_EIO with the server's message in *diag. */
MQR_API int mqr_pgsql_sink_test(mqr_pgsql_sink_t *sink, uint32_t timeout_ms, mqr_diag_t *diag);

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_SINK_PGSQL_H */
